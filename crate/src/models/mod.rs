//! The architectures. Each file holds one family's table, as the paper prints it, and a builder that
//! turns the table into layers read from a checkpoint.

pub mod mobilenet_v1;
pub mod mobilenet_v2;
pub mod mobilenet_v3;
pub mod mobilenext;

use candle_core::{Module, Tensor};

use crate::checkpoint::Weights;
use crate::config::{Architecture, ModelConfig};
use crate::error::{Error, Result};
use crate::layers::{global_avg_pool, BuildContext, ConvBnAct, ConvSpec, Linear};

/// A MobileNet: a feature extractor, global average pooling, then fully connected layers.
pub struct Network {
    pub features: Vec<Box<dyn Module + Send + Sync>>,
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

/// Builds the network `config` describes from the tensors under `root`.
pub fn build(config: &ModelConfig, root: Weights) -> Result<Network> {
    config.validate()?;
    let ctx = BuildContext {
        padding: config.padding,
        bn_eps: config.bn_eps,
        bn_folded: config.bn_folded,
    };
    match config.arch {
        Architecture::MobileNetV3Small | Architecture::MobileNetV3Large => {
            mobilenet_v3::build(config, &ctx, root)
        }
        Architecture::MobileNetV2 => mobilenet_v2::build(config, &ctx, root),
        Architecture::MobileNetV1 => mobilenet_v1::build(config, &ctx, root),
        Architecture::MobileNeXt => mobilenext::build(config, &ctx, root),
    }
}

/// A conv followed by its BatchNorm as torchvision's `Conv2dNormActivation` (and the flat V1 layout)
/// names them: `{module}.0` is the conv, `{module}.1` the BatchNorm.
fn conv_bn(module: &Weights, spec: ConvSpec, ctx: &BuildContext) -> Result<ConvBnAct> {
    ConvBnAct::load(module.pp(0), module.pp(1), spec, ctx)
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
