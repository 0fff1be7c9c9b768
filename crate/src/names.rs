//! Where each layer of a [`NetworkSpec`] keeps its tensors in the checkpoints of each layout:
//! torchvision's numbered `nn.Sequential`s (and TF-slim's flat V1, and the official MobileNeXt
//! code, both numbered the same way), and timm's named modules. The architecture files never
//! see a tensor name; this is the one place that knows them.

use crate::arch::Architecture;
use crate::error::{Error, Result};
use crate::layers::Activation;
use crate::plan::{BlockKind, BlockSpec, DenseSpec, DenseStorage, NetworkSpec, Role, Step};

/// A conv and the BatchNorm after it (absent from files with BatchNorm folded in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvNames {
    pub conv: String,
    pub bn: String,
}

/// The modules of one step of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepNames {
    Conv(ConvNames),
    SqueezeExcite { reduce: String, expand: String },
}

/// A fully connected layer after the pool, and the BatchNorm after it where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseNames {
    pub module: String,
    pub bn: Option<String>,
}

/// The module trees of the reference implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// TF-slim's MobileNetV1 as a flat `features.{i}` list, one conv + BN + activation each.
    FlatV1,
    /// torchvision's MobileNetV2: `features.{i}.conv.{j}`, the projection's conv and BN unnested.
    TorchvisionV2,
    /// torchvision's MobileNetV3: `features.{i}.block.{j}`.
    TorchvisionV3,
    /// The official MobileNeXt: `features.{i}.conv.{j}`, the activations numbered too.
    MobileNeXt,
    /// timm: `conv_stem`, `blocks.{stage}.{block}.conv_dw`, `conv_head`, `classifier`, …
    Timm,
}

impl Layout {
    pub fn of(arch: Architecture) -> Layout {
        match arch {
            Architecture::MobileNetV1 => Layout::FlatV1,
            Architecture::MobileNetV2 => Layout::TorchvisionV2,
            Architecture::MobileNetV3Small | Architecture::MobileNetV3Large => {
                Layout::TorchvisionV3
            }
            Architecture::MobileNeXt => Layout::MobileNeXt,
            Architecture::Timm(_) => Layout::Timm,
        }
    }
}

/// Names the layers of a network in order (stem, blocks, head conv), as the numbered layouts
/// count their modules.
pub struct Namer {
    layout: Layout,
    /// The next `features.{i}` of the numbered layouts.
    next: usize,
}

/// `{parent}.{child}`
fn path(parent: &str, child: impl std::fmt::Display) -> String {
    format!("{parent}.{child}")
}

/// A torchvision `Conv2dNormActivation` (or a flat V1 layer): `.0` the conv, `.1` its BatchNorm.
fn numbered_pair(module: &str) -> ConvNames {
    ConvNames {
        conv: path(module, 0),
        bn: path(module, 1),
    }
}

/// timm's modules: a conv named `conv` beside a BatchNorm named `bn`.
fn named_pair(block: &str, conv: &str, bn: &str) -> ConvNames {
    ConvNames {
        conv: path(block, conv),
        bn: path(block, bn),
    }
}

impl Namer {
    pub fn new(layout: Layout) -> Self {
        Namer { layout, next: 0 }
    }

    /// The next `features.{i}` of a numbered layout.
    fn feature(&mut self) -> String {
        self.next += 1;
        format!("features.{}", self.next - 1)
    }

    pub fn stem(&mut self) -> ConvNames {
        self.outside_blocks("conv_stem", "bn1")
    }

    /// A conv before or after the blocks: named in timm's layout, the next module in the others.
    fn outside_blocks(&mut self, conv: &str, bn: &str) -> ConvNames {
        match self.layout {
            Layout::Timm => ConvNames {
                conv: conv.into(),
                bn: bn.into(),
            },
            _ => numbered_pair(&self.feature()),
        }
    }

    /// The modules of each step of `block`, the `index`-th of stage `stage`.
    pub fn block(
        &mut self,
        stage: usize,
        index: usize,
        block: &BlockSpec,
    ) -> Result<Vec<StepNames>> {
        let layout = self.layout;
        let unsupported = || {
            Error::Internal(format!(
                "{layout:?} has no {:?} block (stage {stage}, block {index})",
                block.kind
            ))
        };
        if self.layout == Layout::Timm {
            let prefix = format!("blocks.{stage}.{index}");
            return block
                .steps
                .iter()
                .map(|step| timm_step(&prefix, block.kind, step).ok_or_else(unsupported))
                .collect();
        }
        if block.kind == BlockKind::Conv {
            return Ok(vec![StepNames::Conv(numbered_pair(&self.feature()))]);
        }
        if self.layout == Layout::FlatV1 {
            // Every conv is a layer of its own.
            return block
                .steps
                .iter()
                .map(|step| match step {
                    Step::Conv(..) => Ok(StepNames::Conv(numbered_pair(&self.feature()))),
                    Step::SqueezeExcite { .. } => Err(unsupported()),
                })
                .collect();
        }
        let (sequence, allowed) = match self.layout {
            Layout::TorchvisionV2 => (
                "conv",
                &[BlockKind::DepthwiseSeparable, BlockKind::InvertedResidual][..],
            ),
            Layout::TorchvisionV3 => (
                "block",
                &[BlockKind::DepthwiseSeparable, BlockKind::InvertedResidual][..],
            ),
            _ => ("conv", &[BlockKind::Sandglass][..]),
        };
        if !allowed.contains(&block.kind) {
            return Err(unsupported());
        }
        let module = path(&self.feature(), sequence);
        let last = block.steps.len() - 1;
        let mut at = 0;
        let mut names = Vec::with_capacity(block.steps.len());
        for (k, step) in block.steps.iter().enumerate() {
            let here = path(&module, at);
            // A bare conv then its BatchNorm, numbered one after the other.
            let bare = || {
                StepNames::Conv(ConvNames {
                    conv: path(&module, at),
                    bn: path(&module, at + 1),
                })
            };
            let (step_names, modules) = match (self.layout, step) {
                (_, Step::SqueezeExcite { .. }) => (
                    StepNames::SqueezeExcite {
                        reduce: path(&here, "fc1"),
                        expand: path(&here, "fc2"),
                    },
                    1,
                ),
                // torchvision's V2 projects with a bare conv and BatchNorm.
                (Layout::TorchvisionV2, Step::Conv(..)) if k == last => (bare(), 2),
                // The official MobileNeXt numbers conv, BatchNorm and, where there is one, ReLU6.
                (Layout::MobileNeXt, Step::Conv(_, spec)) => {
                    let linear = spec.activation == Activation::Identity;
                    (bare(), if linear { 2 } else { 3 })
                }
                (_, Step::Conv(..)) => (StepNames::Conv(numbered_pair(&here)), 1),
            };
            names.push(step_names);
            at += modules;
        }
        Ok(names)
    }

    /// The 1×1 conv after the blocks, before pooling.
    pub fn head_conv(&mut self) -> ConvNames {
        self.outside_blocks("conv_head", "bn2")
    }

    /// The `index`-th layer after pooling, before the classifier.
    pub fn hidden(&self, index: usize, spec: &DenseSpec) -> Result<DenseNames> {
        match (self.layout, spec.storage) {
            (Layout::TorchvisionV3, DenseStorage::Linear) if index == 0 => Ok(DenseNames {
                module: "classifier.0".into(),
                bn: None,
            }),
            (Layout::Timm, DenseStorage::Conv1x1 { batch_norm }) if index == 0 => Ok(DenseNames {
                module: "conv_head".into(),
                bn: batch_norm.then(|| "norm_head".into()),
            }),
            _ => Err(Error::Internal(format!(
                "{:?} has no {:?} layer {index} after pooling",
                self.layout, spec.storage
            ))),
        }
    }

    /// The final classifier.
    pub fn classifier(&self) -> String {
        match self.layout {
            Layout::FlatV1 | Layout::Timm => "classifier".into(),
            // `Sequential(Linear, Hardswish, Dropout, Linear)`
            Layout::TorchvisionV3 => "classifier.3".into(),
            // `Sequential(Dropout, Linear)`
            Layout::TorchvisionV2 | Layout::MobileNeXt => "classifier.1".into(),
        }
    }
}

/// A step of a timm block: its blocks name their convs and BatchNorms by role.
fn timm_step(block: &str, kind: BlockKind, step: &Step) -> Option<StepNames> {
    use BlockKind as K;
    use Role as R;
    let role = match step {
        Step::SqueezeExcite { .. } => {
            return Some(StepNames::SqueezeExcite {
                reduce: path(block, "se.conv_reduce"),
                expand: path(block, "se.conv_expand"),
            })
        }
        Step::Conv(role, _) => *role,
    };
    let (conv, bn) = match (kind, role) {
        (K::Conv, R::Conv) => ("conv", "bn1"),
        (K::DepthwiseSeparable, R::Depthwise) => ("conv_dw", "bn1"),
        (K::DepthwiseSeparable, R::Project) => ("conv_pw", "bn2"),
        (K::InvertedResidual, R::Expand) => ("conv_pw", "bn1"),
        (K::InvertedResidual, R::Depthwise) => ("conv_dw", "bn2"),
        (K::InvertedResidual, R::Project) => ("conv_pwl", "bn3"),
        (K::EdgeResidual, R::Expand) => ("conv_exp", "bn1"),
        (K::EdgeResidual, R::Project) => ("conv_pwl", "bn2"),
        // `ConvNormAct` modules: `.conv` and `.bn`.
        (K::UniversalInverted, role) => {
            let module = match role {
                R::DepthwiseStart => "dw_start",
                R::Expand => "pw_exp",
                R::Depthwise => "dw_mid",
                R::Project => "pw_proj",
                R::DepthwiseEnd => "dw_end",
                _ => return None,
            };
            let module = path(block, module);
            return Some(StepNames::Conv(named_pair(&module, "conv", "bn")));
        }
        _ => return None,
    };
    Some(StepNames::Conv(named_pair(block, conv, bn)))
}

/// Every conv of `spec` with the BatchNorm after it, as `layout` names them: the pairs a
/// converter folds.
pub fn conv_norm_pairs(spec: &NetworkSpec, layout: Layout) -> Result<Vec<ConvNames>> {
    let mut names = Namer::new(layout);
    let mut pairs = vec![names.stem()];
    for (s, stage) in spec.stages.iter().enumerate() {
        for (b, block) in stage.iter().enumerate() {
            pairs.extend(
                names
                    .block(s, b, block)?
                    .into_iter()
                    .filter_map(|n| match n {
                        StepNames::Conv(conv) => Some(conv),
                        StepNames::SqueezeExcite { .. } => None,
                    }),
            );
        }
    }
    if spec.head_conv.is_some() {
        pairs.push(names.head_conv());
    }
    for (i, dense) in spec.hidden.iter().enumerate() {
        let n = names.hidden(i, dense)?;
        if let Some(bn) = n.bn {
            pairs.push(ConvNames { conv: n.module, bn });
        }
    }
    Ok(pairs)
}
