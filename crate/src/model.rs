//! The public model: a network plus what it needs to be fed and read (config, labels).

use candle_core::{Device, Tensor};

use crate::checkpoint::Checkpoint;
use crate::config::{Architecture, Compute, LoadOptions, ModelConfig};
use crate::error::{Error, Result};
use crate::head::{Backbone, Head, HEAD_KEY, HEAD_PREFIX};
use crate::kernels::finite::first_non_finite;
use crate::kernels::parallel::in_pool;
use crate::models::{self, Network};
use crate::prediction::{top_k, Prediction};
use crate::preprocess::{Augmentation, ImageReader, Pixels, Preprocess};

pub struct Model {
    config: ModelConfig,
    network: Network,
    compute: Compute,
    parameters: usize,
    /// Custom classes on the embedding, from a file with a head appended (transfer learning's
    /// `combine`); they replace the network's own classifier for `classify` and `logits`.
    head: Option<Head>,
}

impl Model {
    /// Loads a safetensors file. A self-describing file carries its config in its metadata; a plain
    /// checkpoint needs `config`. When both exist, `config` wins (e.g. to relabel).
    pub fn from_safetensors(bytes: &[u8], config: Option<ModelConfig>) -> Result<Self> {
        Self::load(bytes, &LoadOptions::described(config))
    }

    /// Loads a safetensors file with `options` filling in or overriding its metadata.
    pub fn load(bytes: &[u8], options: &LoadOptions) -> Result<Self> {
        Self::load_checkpoint(Checkpoint::from_bytes(bytes)?, options)
    }

    /// [`Self::load`] from a parsed file, e.g. one whose bytes stay in a JavaScript buffer.
    pub fn load_checkpoint(mut checkpoint: Checkpoint, options: &LoadOptions) -> Result<Self> {
        // A description given with the file replaces its metadata, which is then not even read.
        let own = match options.described {
            Some(_) => None,
            None => ModelConfig::from_metadata(checkpoint.metadata())?,
        };
        let config = options.resolve(own)?;
        // A head's tensors are its own only where the metadata describes a head; otherwise they
        // are tensors the network does not use.
        let head = match checkpoint.metadata().contains_key(HEAD_KEY) {
            true => {
                let head_tensors = checkpoint.take_prefixed(HEAD_PREFIX)?;
                Head::from_parts(checkpoint.metadata(), head_tensors)?
            }
            false => None,
        };
        let compute = options.compute_for(checkpoint.has_int8());
        let mut model = Self::build(&checkpoint, config, compute)?;
        if let Some(head) = head {
            model.backbone().ensure_same(head.backbone())?;
            model.head = Some(head);
        }
        Ok(model)
    }

    /// [`Self::from_safetensors`] from a parsed file: `config` in place of its metadata.
    pub fn from_checkpoint(checkpoint: Checkpoint, config: ModelConfig) -> Result<Self> {
        Self::load_checkpoint(checkpoint, &LoadOptions::described(Some(config)))
    }

    /// The network `config` describes, from the checkpoint's tensors, every one of which it must
    /// use (a head's are taken out before).
    pub(crate) fn build(
        checkpoint: &Checkpoint,
        config: ModelConfig,
        compute: Compute,
    ) -> Result<Self> {
        let (root, usage) = checkpoint.weights();
        let network = models::build(&config, root, compute)?;
        usage.ensure_all_used(checkpoint)?;
        let mut config = config;
        let classes = network.num_classes();
        if let Some(labels) = &config.labels {
            if labels.len() != classes {
                return Err(Error::bad_config(format!(
                    "{} labels given for a classifier of {classes} classes",
                    labels.len()
                )));
            }
        }
        config.num_classes = Some(classes);
        // As PyTorch counts parameters: BatchNorm running statistics are buffers, not parameters.
        let parameters = checkpoint
            .names()
            .filter(|n| !n.ends_with(".running_mean") && !n.ends_with(".running_var"))
            .filter(|n| !checkpoint.is_int8_scales(n))
            .filter_map(|n| checkpoint.elem_count(n))
            .sum();
        Ok(Model {
            config,
            network,
            compute,
            parameters,
            head: None,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// What the 1×1 convolutions compute in.
    pub fn compute(&self) -> Compute {
        self.compute
    }

    pub fn arch(&self) -> Architecture {
        self.config.arch
    }

    /// Classes of [`Self::classify`]: the custom head's when the file has one.
    pub fn num_classes(&self) -> usize {
        match &self.head {
            Some(head) => head.labels().len(),
            None => self.network.num_classes(),
        }
    }

    /// Length of the embedding ([`Self::embed`]).
    pub fn embedding_size(&self) -> usize {
        self.network.embedding_size()
    }

    /// What a transfer-learning head on this model's embedding was made for.
    pub fn backbone(&self) -> Backbone {
        Backbone::new(&self.config, self.embedding_size())
    }

    /// The custom head the model file carried, if any.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// Trainable values of the checkpoint the model was built from, as PyTorch counts them.
    pub fn parameters(&self) -> usize {
        self.parameters
    }

    pub fn labels(&self) -> Option<&[String]> {
        match &self.head {
            Some(head) => Some(head.labels()),
            None => self.config.labels.as_deref(),
        }
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    pub fn preprocess(&self) -> Preprocess {
        Preprocess {
            resize_size: self.config.resize_size,
            crop_size: self.config.input_size,
            interpolation: self.config.interpolation,
            mean: self.config.mean,
            std: self.config.std,
        }
    }

    /// Logits for a preprocessed NCHW float tensor of any spatial size (N ≥ 1). Returns one row per
    /// image.
    ///
    /// One rule for every model, with or without a custom head: a non-finite input value is
    /// [`Error::BadInput`], and a non-finite result (extreme weights or preprocessing constants
    /// overflowing float32) is [`Error::NonFinite`], never an answer.
    pub fn logits_nchw(&self, input: &[f32], shape: [usize; 4]) -> Result<Vec<Vec<f32>>> {
        let x = self.input_tensor(input, shape)?;
        match &self.head {
            Some(head) => finite_rows(in_pool(|| self.network.embed(&x))?, "embedding")?
                .iter()
                .map(|e| head.logits(e))
                .collect(),
            None => finite_rows(in_pool(|| self.network.forward(&x))?, "logits"),
        }
    }

    /// Pooled features (the embedding before the classifier) for a preprocessed NCHW tensor; the
    /// same rule for non-finite values as [`Self::logits_nchw`].
    pub fn embed_nchw(&self, input: &[f32], shape: [usize; 4]) -> Result<Vec<Vec<f32>>> {
        let x = self.input_tensor(input, shape)?;
        finite_rows(in_pool(|| self.network.embed(&x))?, "embedding")
    }

    /// Multiply-adds of one forward pass at `height × width` (convolutions and linear layers).
    pub fn multiply_adds(&self, height: usize, width: usize) -> Result<u64> {
        check_input_size(height, width)?;
        let zeros = vec![0.0; 3 * height * width];
        let (logits, count) = crate::layers::counting_multiply_adds(|| {
            self.logits_nchw(&zeros, [1, 3, height, width])
        });
        logits?;
        Ok(count)
    }

    pub fn logits(&self, pixels: &Pixels) -> Result<Vec<f32>> {
        self.logits_of(self.read(pixels)?)
    }

    pub fn embed(&self, pixels: &Pixels) -> Result<Vec<f32>> {
        self.embed_of(self.read(pixels)?)
    }

    /// The embedding of `pixels` and, with `augment`, of each [`Augmentation`] of them.
    pub fn embed_augmented(&self, pixels: &Pixels, augment: bool) -> Result<Vec<Vec<f32>>> {
        pixels.validate()?;
        let (w, h, ch) = (pixels.width, pixels.height, pixels.channels);
        let mut readers = self.example_readers(w, h, ch, augment)?;
        for reader in &mut readers {
            reader.push_rows(0, pixels.data)?;
        }
        readers.into_iter().map(|r| self.embed_of(r)).collect()
    }

    /// The `top_k` most probable classes, most probable first.
    pub fn classify(&self, pixels: &Pixels, top_k: usize) -> Result<Vec<Prediction>> {
        self.classify_of(self.read(pixels)?, top_k)
    }

    /// A reader of a `width × height` image (`channels` 4 for RGBA, 3 for RGB) into this model's
    /// input, fed the image's rows in strips: whatever the image's size, it holds a few rows of it
    /// (see [`ImageReader`]). Then [`Self::classify_of`], [`Self::logits_of`], [`Self::embed_of`].
    pub fn reader(&self, width: u32, height: u32, channels: u8) -> Result<ImageReader> {
        self.preprocess().reader(width, height, channels)
    }

    /// Readers of an example a learner is taught from, all fed the same rows: the image and, with
    /// `augment`, each [`Augmentation`] of it.
    pub fn example_readers(
        &self,
        width: u32,
        height: u32,
        channels: u8,
        augment: bool,
    ) -> Result<Vec<ImageReader>> {
        let preprocess = self.preprocess();
        let mut readers = vec![preprocess.reader(width, height, channels)?];
        if augment {
            for augmentation in Augmentation::ALL {
                let view = augmentation.view(width, height);
                readers.push(preprocess.reader_of_view(width, height, channels, view)?);
            }
        }
        Ok(readers)
    }

    pub fn logits_of(&self, reader: ImageReader) -> Result<Vec<f32>> {
        let (input, shape) = self.input_of(reader)?;
        Ok(self.logits_nchw(&input, shape)?.remove(0))
    }

    pub fn embed_of(&self, reader: ImageReader) -> Result<Vec<f32>> {
        let (input, shape) = self.input_of(reader)?;
        Ok(self.embed_nchw(&input, shape)?.remove(0))
    }

    pub fn classify_of(&self, reader: ImageReader, top_k: usize) -> Result<Vec<Prediction>> {
        Ok(self.top_k(&self.logits_of(reader)?, top_k))
    }

    /// Softmax over `logits`, then the `k` largest, labelled when the model has labels.
    pub fn top_k(&self, logits: &[f32], k: usize) -> Vec<Prediction> {
        top_k(logits, k, self.labels())
    }

    /// A reader fed all of `pixels`.
    fn read(&self, pixels: &Pixels) -> Result<ImageReader> {
        pixels.validate()?;
        let mut reader = self.reader(pixels.width, pixels.height, pixels.channels)?;
        reader.push_rows(0, pixels.data)?;
        Ok(reader)
    }

    fn input_of(&self, reader: ImageReader) -> Result<(Vec<f32>, [usize; 4])> {
        let input = reader.finish()?;
        let side = self.config.input_size as usize;
        Ok((input, [1, 3, side, side]))
    }

    fn input_tensor(&self, input: &[f32], shape: [usize; 4]) -> Result<Tensor> {
        let [n, c, h, w] = shape;
        if n == 0 || c != 3 || h == 0 || w == 0 {
            return Err(Error::BadInput(format!(
                "shape {shape:?}: expected [N>=1, 3, H, W]"
            )));
        }
        check_input_size(h, w)?;
        if n.checked_mul(c * h * w) != Some(input.len()) {
            return Err(Error::BadInput(format!(
                "{} values for shape {shape:?}",
                input.len()
            )));
        }
        if let Some(at) = first_non_finite(input) {
            return Err(Error::BadInput(format!(
                "the input holds a non-finite value ({}) at index {at}",
                input[at]
            )));
        }
        Ok(Tensor::from_slice(input, (n, c, h, w), &Device::Cpu)?)
    }
}

/// Input sides the network takes: below 16 pixels the stride-2 layers leave nothing to convolve.
fn check_input_size(height: usize, width: usize) -> Result<()> {
    const SIDES: std::ops::RangeInclusive<usize> = 16..=4096;
    if !SIDES.contains(&height) || !SIDES.contains(&width) {
        return Err(Error::BadInput(format!(
            "{height}x{width} input: supported sizes are 16 to 4096 per side"
        )));
    }
    Ok(())
}

/// The rows of `t`, refused if any value is not finite.
fn finite_rows(t: Tensor, what: &str) -> Result<Vec<Vec<f32>>> {
    let rows = t.to_vec2::<f32>()?;
    if rows.iter().any(|row| first_non_finite(row).is_some()) {
        return Err(Error::NonFinite(format!(
            "the {what} overflowed float32: the model's weights or preprocessing constants are \
             out of range"
        )));
    }
    Ok(rows)
}
