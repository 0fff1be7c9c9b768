//! The architectures. Each file holds one family's tables, as the paper prints them (or as timm's
//! block strings write them), and turns them into a [`NetworkSpec`]; [`build`] reads its weights
//! from a checkpoint through the names [`crate::names`] gives each layer.

pub mod mobilenet_v1;
pub mod mobilenet_v2;
pub mod mobilenet_v3;
pub mod mobilenet_v4;
pub mod mobilenext;
pub mod timm_blocks;

use candle_core::{Module, Tensor};

use crate::arch::{Architecture, TimmFamily};
use crate::checkpoint::Weights;
use crate::config::{Compute, ModelConfig};
use crate::error::{Error, Result};
use crate::layers::{
    global_avg_pool, Activation, Block, BuildContext, ConvBnAct, Layer, Linear, SqueezeExcite,
};
use crate::names::{Layout, Namer, StepNames};
use crate::plan::{DenseStorage, NetworkSpec, Step};

/// A loaded layer of the feature extractor.
pub type FeatureLayer = Box<dyn Module + Send + Sync>;

/// A MobileNet: a feature extractor, global average pooling, then fully connected layers.
pub struct Network {
    pub features: Vec<FeatureLayer>,
    pub classifier: Vec<Linear>,
}

impl Network {
    /// NCHW images → pooled features `[N, C]` (the embedding).
    pub fn embed(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for layer in &self.features {
            h = layer.forward(&h)?;
        }
        global_avg_pool(&h)
    }

    /// NCHW images → logits `[N, classes]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.classify_embedding(&self.embed(x)?)
    }

    /// Pooled features `[N, C]` → logits.
    pub fn classify_embedding(&self, e: &Tensor) -> candle_core::Result<Tensor> {
        self.classifier
            .iter()
            .try_fold(e.clone(), |h, l| l.forward(&h))
    }

    /// Length of the pooled features [`Self::embed`] returns.
    pub fn embedding_size(&self) -> usize {
        self.classifier.first().map_or(0, Linear::in_features)
    }

    pub fn num_classes(&self) -> usize {
        self.classifier.last().map_or(0, Linear::out_features)
    }
}

/// The layers `config` describes, channels resolved.
pub fn spec(config: &ModelConfig) -> Result<NetworkSpec> {
    match config.arch {
        Architecture::MobileNetV3Small | Architecture::MobileNetV3Large => {
            Ok(mobilenet_v3::torchvision(config))
        }
        Architecture::MobileNetV2 => Ok(mobilenet_v2::torchvision(config)),
        Architecture::MobileNetV1 => Ok(mobilenet_v1::tf_slim(config)),
        Architecture::MobileNeXt => Ok(mobilenext::official(config)),
        Architecture::Timm(model) => match model.family {
            TimmFamily::MobileNetV1 { head_conv } => mobilenet_v1::timm(model, head_conv),
            TimmFamily::MobileNetV2 { fix_stem_head } => mobilenet_v2::timm(model, fix_stem_head),
            TimmFamily::MobileNetV3 { large, minimal } => mobilenet_v3::timm(model, large, minimal),
            TimmFamily::MobileNetV4Conv(size) => mobilenet_v4::timm(model, size),
        },
    }
}

/// A conv right after a ReLU6 conv knows its inputs lie in `[0, 6]`: in int8, it quantizes them
/// on that range without measuring it (as TFLite's quantized MobileNets do).
fn bound_int8_inputs(layers: &mut [Layer]) {
    for i in 1..layers.len() {
        if let [Layer::Conv(before), Layer::Conv(conv)] = &mut layers[i - 1..=i] {
            if before.spec().activation == Activation::Relu6 {
                conv.bound_int8_inputs(6.0);
            }
        }
    }
}

/// Builds the network `config` describes from the tensors under `root`.
pub fn build(config: &ModelConfig, root: Weights, compute: Compute) -> Result<Network> {
    config.validate()?;
    let ctx = BuildContext {
        padding: config.padding,
        bn_eps: config.bn_eps,
        bn_folded: config.bn_folded,
        compute,
    };
    let spec = spec(config)?;
    let mut names = Namer::new(Layout::of(config.arch));
    let conv = |names: crate::names::ConvNames, spec| {
        ConvBnAct::load(root.pp(names.conv), root.pp(names.bn), spec, &ctx)
    };

    let mut features: Vec<FeatureLayer> = vec![Box::new(conv(names.stem(), spec.stem)?)];
    for (s, stage) in spec.stages.iter().enumerate() {
        for (b, block) in stage.iter().enumerate() {
            let mut layers = block
                .steps
                .iter()
                .zip(names.block(s, b, block)?)
                .map(|(step, step_names)| match (step, step_names) {
                    (Step::Conv(_, spec), StepNames::Conv(n)) => Ok(Layer::Conv(conv(n, *spec)?)),
                    (
                        Step::SqueezeExcite { channels, squeeze },
                        StepNames::SqueezeExcite { reduce, expand },
                    ) => Ok(Layer::SqueezeExcite(SqueezeExcite::load(
                        root.pp(reduce),
                        root.pp(expand),
                        *channels,
                        *squeeze,
                    )?)),
                    _ => Err(Error::Internal(format!("block {s}.{b}: names out of step"))),
                })
                .collect::<Result<Vec<_>>>()?;
            bound_int8_inputs(&mut layers);
            features.push(match (layers.len(), block.residual) {
                // A lone conv runs as itself.
                (1, false) => match layers.into_iter().next() {
                    Some(Layer::Conv(conv)) => Box::new(conv),
                    Some(Layer::SqueezeExcite(se)) => Box::new(se),
                    None => unreachable!("one layer"),
                },
                _ => Box::new(Block {
                    layers,
                    residual: block.residual,
                }),
            });
        }
    }
    if let Some(head) = spec.head_conv {
        features.push(Box::new(conv(names.head_conv(), head)?));
    }

    let mut classifier = Vec::with_capacity(spec.hidden.len() + 1);
    for (i, dense) in spec.hidden.iter().enumerate() {
        let n = names.hidden(i, dense)?;
        let (module, io) = (root.pp(&n.module), (dense.input, dense.output));
        classifier.push(match dense.storage {
            DenseStorage::Linear => Linear::load(module, io.0, io.1, dense.activation)?,
            DenseStorage::Conv1x1 { .. } => {
                let bn = n.bn.map(|bn| root.pp(bn));
                Linear::load_conv1x1(module, bn, io, dense.activation, &ctx)?
            }
        });
    }
    let head = root.pp(names.classifier());
    let input = spec.hidden.last().map_or(spec.features(), |d| d.output);
    let classes = num_classes(config, &head)?;
    classifier.push(Linear::load(head, input, classes, Activation::Identity)?);
    Ok(Network {
        features,
        classifier,
    })
}

/// The class count: the configured one, or the row count of the final classifier weight.
fn num_classes(config: &ModelConfig, final_linear: &Weights) -> Result<usize> {
    let n = match config.num_classes {
        Some(n) => n,
        None => match final_linear.shape("weight")? {
            [rows, _] => *rows,
            dims => {
                return Err(Error::TensorShape {
                    name: format!("{}.weight", final_linear.prefix()),
                    expected: vec![0, 0],
                    actual: dims.to_vec(),
                })
            }
        },
    };
    if n == 0 {
        return Err(Error::bad_config("the classifier has no classes"));
    }
    Ok(n)
}
