//! MobileNetV1 (Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
//! Applications", 2017): Table 1 with TF-slim's channel rule, and timm's block strings
//! (`_gen_mobilenet_v1`), which round channels to multiples of 8.

use super::timm_blocks::Rules;
use crate::arch::TimmModel;
use crate::config::{ModelConfig, V1Activation};
use crate::error::Result;
use crate::layers::{Activation, ConvSpec};
use crate::plan::{BlockKind, BlockSpec, NetworkSpec, Role, Step};

/// Table 1 of the paper after the stem: each row is a depthwise 3×3 conv with this stride followed
/// by a pointwise conv to this many channels.
const SEPARABLE: [(usize, usize); 13] = [
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (2, 1024),
    (1, 1024),
];
const STEM_CHANNELS: usize = 32;
/// TF-slim's `min_depth`: no layer is thinner than this, whatever the width multiplier.
const MIN_DEPTH: usize = 8;

/// TF-slim's MobileNetV1: no layer thinner than 8 channels, the paper's ReLU or the released
/// weights' ReLU6.
pub fn tf_slim(config: &ModelConfig) -> NetworkSpec {
    let depth = |c: usize| ((c as f64 * config.width) as usize).max(MIN_DEPTH);
    let act = match config.v1_activation {
        V1Activation::Relu6 => Activation::Relu6,
        V1Activation::Relu => Activation::Relu,
    };
    let stem = depth(STEM_CHANNELS);
    let mut input = stem;
    let blocks = SEPARABLE
        .into_iter()
        .map(|(stride, channels)| {
            let output = depth(channels);
            let steps = vec![
                Step::Conv(Role::Depthwise, ConvSpec::depthwise(input, 3, stride, act)),
                Step::Conv(Role::Project, ConvSpec::pointwise(input, output, act)),
            ];
            input = output;
            BlockSpec::new(BlockKind::DepthwiseSeparable, steps, false)
        })
        .collect();
    NetworkSpec {
        stem: ConvSpec::dense(3, stem, 3, 2, act),
        stages: vec![blocks],
        head_conv: None,
        hidden: Vec::new(),
    }
}

/// timm's `mobilenetv1_*`: Table 1 as block strings, by stage.
const TIMM: &[&[&str]] = &[
    &["dsa_r1_k3_s1_c64"],
    &["dsa_r2_k3_s2_c128"],
    &["dsa_r2_k3_s2_c256"],
    &["dsa_r6_k3_s2_c512"],
    &["dsa_r2_k3_s2_c1024"],
];
const HEAD_CONV_CHANNELS: usize = 1024;

/// timm's MobileNetV1 (ReLU6); `head_conv` (`mobilenetv1_100h`) adds a 1×1 conv of at least
/// 1024 channels before pooling.
pub fn timm(model: &TimmModel, head_conv: bool) -> Result<NetworkSpec> {
    let rules = Rules {
        width: model.width,
        depth: model.depth,
        fix_first_last: false,
        activation: Activation::Relu6,
    };
    let stem = rules.channels(STEM_CHANNELS);
    let network = NetworkSpec {
        stem: ConvSpec::dense(3, stem, 3, 2, Activation::Relu6),
        stages: rules.stages(TIMM, stem)?,
        head_conv: None,
        hidden: Vec::new(),
    };
    Ok(match head_conv {
        true => {
            let head = rules.channels(HEAD_CONV_CHANNELS).max(HEAD_CONV_CHANNELS);
            network.with_head_conv(head, Activation::Relu6)
        }
        false => network,
    })
}
