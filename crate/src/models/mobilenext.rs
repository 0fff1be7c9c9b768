//! MobileNeXt (Zhou et al., "Rethinking Bottleneck Structure for Efficient Mobile Network Design",
//! ECCV 2020), as the official `mnext.py` (github.com/zhoudaquan/rethinking_bottleneck_design)
//! builds it: which depthwise convs a block has, and where its stride goes, follow that code's
//! branches (on the reduction ratio, the channel change and the stage's shape), not the paper's
//! drawing.

use crate::config::ModelConfig;
use crate::layers::{make_divisible, Activation, ConvSpec};
use crate::plan::{BlockKind, BlockSpec, NetworkSpec, Role, Step};

/// The official configuration: reduction ratio t, output channels c, blocks n, first stride s.
const STAGES: [[usize; 4]; 8] = [
    [2, 96, 1, 2],
    [6, 144, 1, 1],
    [6, 192, 3, 2],
    [6, 288, 3, 2],
    [6, 384, 4, 1],
    [6, 576, 4, 2],
    [6, 960, 3, 1],
    [6, 1280, 1, 1],
];
const STEM_CHANNELS: usize = 32;
const ACT: Activation = Activation::Relu6;
const LINEAR: Activation = Activation::Identity;

pub fn official(config: &ModelConfig) -> NetworkSpec {
    let channels = |c: usize| make_divisible(c as f64 * config.width, 8);
    let stem = channels(STEM_CHANNELS);
    let mut input = stem;
    let mut blocks = Vec::new();
    for [t, c, n, s] in STAGES {
        let output = channels(c);
        for repeat in 0..n {
            let stride = if repeat == 0 { s } else { 1 };
            let keep_3x3 = repeat == 0 && n == 1 && s == 1;
            blocks.push(sandglass(input, output, t, stride, keep_3x3));
            input = output;
        }
    }
    NetworkSpec {
        stem: ConvSpec::dense(3, stem, 3, 2, ACT),
        stages: vec![blocks],
        head_conv: None,
        hidden: Vec::new(),
    }
}

/// One `SGBlock`: which convs exist follows the official code's branches, in its order.
fn sandglass(input: usize, output: usize, t: usize, stride: usize, keep_3x3: bool) -> BlockSpec {
    let mut hidden = input / t;
    if (hidden as f64) < output as f64 / 6.0 {
        hidden = make_divisible((output as f64 / 6.0).ceil(), 16);
    }
    let (depthwise_in, depthwise_out_stride, identity) = if t == 2 {
        (true, Some(stride), false)
    } else if input != output && !keep_3x3 {
        (false, (stride == 2).then_some(2), false)
    } else {
        (true, Some(1), !keep_3x3)
    };
    let mut steps = Vec::with_capacity(4);
    if depthwise_in {
        let dw = ConvSpec::depthwise(input, 3, 1, ACT);
        steps.push(Step::Conv(Role::DepthwiseStart, dw));
    }
    let reduce = ConvSpec::pointwise(input, hidden, LINEAR);
    steps.push(Step::Conv(Role::Reduce, reduce));
    steps.push(Step::Conv(
        Role::Expand,
        ConvSpec::pointwise(hidden, output, ACT),
    ));
    if let Some(s) = depthwise_out_stride {
        let dw = ConvSpec::depthwise(output, 3, s, LINEAR);
        steps.push(Step::Conv(Role::DepthwiseEnd, dw));
    }
    BlockSpec::new(BlockKind::Sandglass, steps, identity)
}
