//! The linear head's trainer (the `train` feature): softmax regression by mini-batch AdamW on
//! cross-entropy, with candle's autograd and `candle-nn`'s optimiser.

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};

use super::{EpochStats, Learner, TrainOptions, TrainingData};
use crate::error::{Error, Result};
use crate::head::linear_input_scale;

impl Learner {
    /// Trains the linear head from scratch for `options.epochs`, reporting each epoch.
    pub fn train(
        &mut self,
        options: TrainOptions,
        mut on_epoch: impl FnMut(&EpochStats),
    ) -> Result<EpochStats> {
        let data = self.training_data()?;
        let revision = data.revision;
        let mut trainer = LinearTrainer::new(&data, options)?;
        loop {
            let stats = trainer.epoch()?;
            self.set_linear(trainer.weight()?, trainer.bias()?, revision)?;
            on_epoch(&stats);
            if stats.epoch == stats.epochs {
                return Ok(stats);
            }
        }
    }
}

/// Softmax regression trained by mini-batch AdamW on cross-entropy, with candle's autograd.
pub struct LinearTrainer {
    weight: Var,
    bias: Var,
    optimizer: AdamW,
    inputs: Tensor,
    targets: Tensor,
    order: Vec<u32>,
    rng: SplitMix64,
    options: TrainOptions,
    epoch: usize,
}

impl LinearTrainer {
    /// Checks the data (it may come from another module) and the options.
    pub fn new(data: &TrainingData, options: TrainOptions) -> Result<Self> {
        options.validate()?;
        let device = Device::Cpu;
        let (n, dim, classes) = (data.classes.len(), data.dim, data.num_classes);
        if n == 0 || dim == 0 || data.examples.len() != n * dim {
            return Err(Error::NoExamples(format!(
                "{} values for {n} examples of {dim} features",
                data.examples.len()
            )));
        }
        if classes < 2 || data.classes.iter().any(|&c| c as usize >= classes) {
            return Err(Error::TooFewClasses(format!(
                "training needs two classes or more, and every example in one ({classes} given)"
            )));
        }
        if data.examples.iter().any(|v| !v.is_finite()) {
            return Err(Error::BadInput(
                "an example holds a non-finite value".into(),
            ));
        }
        let inputs = (Tensor::from_slice(data.examples, (n, dim), &device)?
            * linear_input_scale(dim) as f64)?;
        let targets = Tensor::from_slice(data.classes, n, &device)?;
        // Softmax regression is convex: starting from zero makes every run from the same examples
        // and seed identical.
        let weight = Var::zeros((classes, dim), DType::F32, &device)?;
        let bias = Var::zeros(classes, DType::F32, &device)?;
        let params = ParamsAdamW {
            lr: options.learning_rate,
            weight_decay: options.weight_decay,
            ..Default::default()
        };
        let optimizer = AdamW::new(vec![weight.clone(), bias.clone()], params)?;
        Ok(LinearTrainer {
            weight,
            bias,
            optimizer,
            inputs,
            targets,
            order: (0..n as u32).collect(),
            rng: SplitMix64(options.seed),
            options,
            epoch: 0,
        })
    }

    /// Runs the next epoch; past the last one, it is an error.
    pub fn epoch(&mut self) -> Result<EpochStats> {
        if self.epoch == self.options.epochs {
            return Err(Error::bad_config("the training run is over"));
        }
        self.rng.shuffle(&mut self.order);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for batch in self.order.chunks(self.options.batch_size) {
            let index = Tensor::from_slice(batch, batch.len(), &Device::Cpu)?;
            let x = self.inputs.index_select(&index, 0)?;
            let y = self.targets.index_select(&index, 0)?;
            let logits = x
                .matmul(&self.weight.as_tensor().t()?)?
                .broadcast_add(self.bias.as_tensor())?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            self.optimizer.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * batch.len() as f64;
            let predicted = logits.argmax(D::Minus1)?;
            correct += predicted
                .eq(&y)?
                .to_dtype(DType::U32)?
                .sum_all()?
                .to_scalar::<u32>()? as usize;
        }
        self.epoch += 1;
        let n = self.order.len();
        Ok(EpochStats {
            epoch: self.epoch,
            epochs: self.options.epochs,
            loss: (loss_sum / n as f64) as f32,
            accuracy: correct as f32 / n as f32,
        })
    }

    /// `[classes, dim]`, row-major.
    pub fn weight(&self) -> Result<Vec<f32>> {
        Ok(self.weight.as_tensor().flatten_all()?.to_vec1()?)
    }

    pub fn bias(&self) -> Result<Vec<f32>> {
        Ok(self.bias.as_tensor().to_vec1()?)
    }
}

/// A small, fixed pseudo-random generator (SplitMix64): the shuffles depend only on the seed, on
/// every platform and version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}
