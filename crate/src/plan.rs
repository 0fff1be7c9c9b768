//! A network as its layers with every channel count resolved, before any weight is read: what the
//! architecture files make of their tables, what [`crate::names`] places in each checkpoint
//! layout, and what [`crate::models::build`] loads.

use crate::layers::{Activation, ConvSpec};

/// The job of a conv in its block, in timm's words (its checkpoints name convs by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The conv of a plain conv block (timm's `cn`, torchvision's last conv).
    Conv,
    /// Widens to the block's hidden channels: a 1×1 conv, or FusedIB's k×k conv.
    Expand,
    /// The depthwise conv (in a UIB, the one between expansion and projection).
    Depthwise,
    /// A depthwise conv on the block's input, before anything else (UIB, sandglass).
    DepthwiseStart,
    /// A depthwise conv on the block's output (sandglass).
    DepthwiseEnd,
    /// The sandglass block's linear 1×1 conv down to its bottleneck.
    Reduce,
    /// The linear 1×1 conv to the block's output channels.
    Project,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Conv(Role, ConvSpec),
    /// Squeeze-and-excite of `channels` through `squeeze`: ReLU, then a hard-sigmoid gate.
    SqueezeExcite {
        channels: usize,
        squeeze: usize,
    },
}

/// The kinds of block, which checkpoints lay out differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// One conv + BatchNorm + activation.
    Conv,
    /// Depthwise then pointwise (MobileNetV1; a V2/V3 block without expansion).
    DepthwiseSeparable,
    /// MobileNetV2's inverted residual (with V3's squeeze-excite).
    InvertedResidual,
    /// FusedIB: a k×k expansion conv, then a linear projection.
    EdgeResidual,
    /// MobileNetV4's universal inverted bottleneck: optional depthwise convs around an expansion.
    UniversalInverted,
    /// MobileNeXt's sandglass.
    Sandglass,
}

/// A block: its steps in order, plus its input when `residual`.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSpec {
    pub kind: BlockKind,
    pub steps: Vec<Step>,
    pub residual: bool,
}

impl BlockSpec {
    /// A conv on its own.
    pub fn conv(spec: ConvSpec) -> Self {
        BlockSpec {
            kind: BlockKind::Conv,
            steps: vec![Step::Conv(Role::Conv, spec)],
            residual: false,
        }
    }

    /// `kind` with `steps`, adding the input when the block keeps stride and channels (unless
    /// `skip` is false).
    pub fn new(kind: BlockKind, steps: Vec<Step>, skip: bool) -> Self {
        let convs = || {
            steps.iter().filter_map(|s| match s {
                Step::Conv(_, spec) => Some(spec),
                Step::SqueezeExcite { .. } => None,
            })
        };
        let keeps_shape = convs().all(|c| c.stride == 1)
            && convs().next().map(|c| c.in_channels) == convs().next_back().map(|c| c.out_channels);
        BlockSpec {
            kind,
            residual: skip && keeps_shape,
            steps,
        }
    }

    pub fn out_channels(&self) -> usize {
        self.steps
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::Conv(_, spec) => Some(spec.out_channels),
                Step::SqueezeExcite { .. } => None,
            })
            .unwrap_or(0)
    }
}

/// How a fully connected layer after the pool is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseStorage {
    /// `weight [out, in]` and `bias`.
    Linear,
    /// A 1×1 conv on the pooled features, `weight [out, in, 1, 1]`, with a `bias` (timm's V3
    /// `conv_head`) or followed by a BatchNorm (timm's V4 `conv_head` + `norm_head`).
    Conv1x1 { batch_norm: bool },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseSpec {
    pub input: usize,
    pub output: usize,
    pub activation: Activation,
    pub storage: DenseStorage,
}

impl DenseSpec {
    pub fn linear(input: usize, output: usize, activation: Activation) -> Self {
        DenseSpec {
            input,
            output,
            activation,
            storage: DenseStorage::Linear,
        }
    }
}

/// A whole network: stem, stages of blocks, a conv before pooling, fully connected layers after
/// it, then the classifier: a linear layer to however many classes the checkpoint has.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    pub stem: ConvSpec,
    pub stages: Vec<Vec<BlockSpec>>,
    /// A 1×1 conv + BatchNorm + activation after the blocks, before pooling.
    pub head_conv: Option<ConvSpec>,
    /// After pooling, before the classifier.
    pub hidden: Vec<DenseSpec>,
}

impl NetworkSpec {
    /// This network with a 1×1 conv + BatchNorm + activation after its blocks, before pooling.
    pub fn with_head_conv(mut self, output: usize, activation: Activation) -> Self {
        self.head_conv = Some(ConvSpec::pointwise(self.features(), output, activation));
        self
    }

    /// This network with one more fully connected layer after pooling, on what comes before it.
    pub fn then_dense(
        mut self,
        output: usize,
        activation: Activation,
        storage: DenseStorage,
    ) -> Self {
        let input = self.hidden.last().map_or(self.features(), |d| d.output);
        self.hidden.push(DenseSpec {
            input,
            output,
            activation,
            storage,
        });
        self
    }

    /// Channels out of the blocks (and head conv): the pooled features' length.
    pub fn features(&self) -> usize {
        match (&self.head_conv, self.stages.iter().flatten().last()) {
            (Some(head), _) => head.out_channels,
            (None, Some(block)) => block.out_channels(),
            (None, None) => self.stem.out_channels,
        }
    }
}
