//! MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018):
//! the paper's table as torchvision builds it, and as timm's block strings write it
//! (`_gen_mobilenet_v2`, which adds depth multipliers).

use super::timm_blocks::Rules;
use crate::arch::TimmModel;
use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::{make_divisible, Activation, ConvSpec};
use crate::plan::{BlockKind, BlockSpec, NetworkSpec, Role, Step};

/// Table 2 of the paper: expansion factor t, output channels c, repeats n, first stride s.
const BOTTLENECKS: [[usize; 4]; 7] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
];
const STEM_CHANNELS: usize = 32;
const LAST_CHANNEL: usize = 1280;
const ACT: Activation = Activation::Relu6;

/// torchvision's `mobilenet_v2`.
pub fn torchvision(config: &ModelConfig) -> NetworkSpec {
    let width = config.width;
    let stem = make_divisible(STEM_CHANNELS as f64 * width, 8);
    let mut input = stem;
    let mut blocks = Vec::new();
    for [t, c, n, s] in BOTTLENECKS {
        let output = make_divisible(c as f64 * width, 8);
        for repeat in 0..n {
            let stride = if repeat == 0 { s } else { 1 };
            let hidden = input * t;
            let mut steps = Vec::with_capacity(3);
            // With t = 1 there is no expand conv.
            if t != 1 {
                let expand = ConvSpec::pointwise(input, hidden, ACT);
                steps.push(Step::Conv(Role::Expand, expand));
            }
            let dw = ConvSpec::depthwise(hidden, 3, stride, ACT);
            steps.push(Step::Conv(Role::Depthwise, dw));
            let project = ConvSpec::pointwise(hidden, output, Activation::Identity);
            steps.push(Step::Conv(Role::Project, project));
            blocks.push(BlockSpec::new(BlockKind::InvertedResidual, steps, true));
            input = output;
        }
    }
    // The last conv never narrows below 1280, whatever the width.
    let last = make_divisible(LAST_CHANNEL as f64 * width.max(1.0), 8);
    NetworkSpec {
        stem: ConvSpec::dense(3, stem, 3, 2, ACT),
        stages: vec![blocks],
        head_conv: Some(ConvSpec::pointwise(input, last, ACT)),
        hidden: Vec::new(),
    }
}

/// timm's `mobilenetv2_*`: the same table as block strings.
const TIMM: &[&[&str]] = &[
    &["ds_r1_k3_s1_c16"],
    &["ir_r2_k3_s2_e6_c24"],
    &["ir_r3_k3_s2_e6_c32"],
    &["ir_r4_k3_s2_e6_c64"],
    &["ir_r3_k3_s1_e6_c96"],
    &["ir_r3_k3_s2_e6_c160"],
    &["ir_r1_k3_s1_e6_c320"],
];

/// timm's MobileNetV2; `fix_stem_head` (the deeper `110d`/`120d`) keeps the stem, the head conv
/// and the first and last stages as at width 1.
pub fn timm(model: &TimmModel, fix_stem_head: bool) -> Result<NetworkSpec> {
    let rules = Rules {
        width: model.width,
        depth: model.depth,
        fix_first_last: fix_stem_head,
        activation: ACT,
    };
    let (stem, head) = match fix_stem_head {
        true => (STEM_CHANNELS, LAST_CHANNEL),
        false => (
            rules.channels(STEM_CHANNELS),
            rules.channels(LAST_CHANNEL).max(LAST_CHANNEL),
        ),
    };
    let network = NetworkSpec {
        stem: ConvSpec::dense(3, stem, 3, 2, ACT),
        stages: rules.stages(TIMM, stem)?,
        head_conv: None,
        hidden: Vec::new(),
    };
    Ok(network.with_head_conv(head, ACT))
}
