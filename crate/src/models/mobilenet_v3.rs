//! MobileNetV3 (Howard et al., "Searching for MobileNetV3", 2019): the paper's tables as
//! torchvision builds them, and the same networks in timm's block strings (`_gen_mobilenet_v3`),
//! whose channel rounding, squeeze-excite widths and head differ at widths other than 1.

use super::timm_blocks::Rules;
use crate::arch::TimmModel;
use crate::config::{Architecture, ModelConfig};
use crate::error::Result;
use crate::layers::{make_divisible, Activation, ConvSpec};
use crate::plan::{BlockKind, BlockSpec, DenseSpec, DenseStorage, NetworkSpec, Role, Step};

/// One row of the paper's Tables 1 and 2.
struct Bneck {
    input: usize,
    kernel: usize,
    expanded: usize,
    output: usize,
    squeeze_excite: bool,
    activation: Activation,
    stride: usize,
}

const RE: Activation = Activation::Relu;
const HS: Activation = Activation::Hardswish;

const fn bneck(
    input: usize,
    kernel: usize,
    expanded: usize,
    output: usize,
    squeeze_excite: bool,
    activation: Activation,
    stride: usize,
) -> Bneck {
    Bneck {
        input,
        kernel,
        expanded,
        output,
        squeeze_excite,
        activation,
        stride,
    }
}

/// Table 2 (MobileNetV3-Small): input, kernel, exp size, out, SE, NL, stride.
#[rustfmt::skip]
const SMALL: [Bneck; 11] = [
    bneck(16, 3, 16, 16, true, RE, 2),
    bneck(16, 3, 72, 24, false, RE, 2),
    bneck(24, 3, 88, 24, false, RE, 1),
    bneck(24, 5, 96, 40, true, HS, 2),
    bneck(40, 5, 240, 40, true, HS, 1),
    bneck(40, 5, 240, 40, true, HS, 1),
    bneck(40, 5, 120, 48, true, HS, 1),
    bneck(48, 5, 144, 48, true, HS, 1),
    bneck(48, 5, 288, 96, true, HS, 2),
    bneck(96, 5, 576, 96, true, HS, 1),
    bneck(96, 5, 576, 96, true, HS, 1),
];
const SMALL_LAST_CHANNEL: usize = 1024;

/// Table 1 (MobileNetV3-Large).
#[rustfmt::skip]
const LARGE: [Bneck; 15] = [
    bneck(16, 3, 16, 16, false, RE, 1),
    bneck(16, 3, 64, 24, false, RE, 2),
    bneck(24, 3, 72, 24, false, RE, 1),
    bneck(24, 5, 72, 40, true, RE, 2),
    bneck(40, 5, 120, 40, true, RE, 1),
    bneck(40, 5, 120, 40, true, RE, 1),
    bneck(40, 3, 240, 80, false, HS, 2),
    bneck(80, 3, 200, 80, false, HS, 1),
    bneck(80, 3, 184, 80, false, HS, 1),
    bneck(80, 3, 184, 80, false, HS, 1),
    bneck(80, 3, 480, 112, true, HS, 1),
    bneck(112, 3, 672, 112, true, HS, 1),
    bneck(112, 5, 672, 160, true, HS, 2),
    bneck(160, 5, 960, 160, true, HS, 1),
    bneck(160, 5, 960, 160, true, HS, 1),
];
const LARGE_LAST_CHANNEL: usize = 1280;

/// torchvision's `mobilenet_v3_small` / `_large`: every channel count of the table scaled by the
/// width, squeeze to a quarter of the expansion, and two linear layers after pooling.
pub fn torchvision(config: &ModelConfig) -> NetworkSpec {
    let (table, last_channel): (&[Bneck], usize) = match config.arch {
        Architecture::MobileNetV3Large => (&LARGE, LARGE_LAST_CHANNEL),
        _ => (&SMALL, SMALL_LAST_CHANNEL),
    };
    let channels = |c: usize| make_divisible(c as f64 * config.width, 8);
    let blocks = table
        .iter()
        .map(|row| {
            let (input, expanded, output) = (
                channels(row.input),
                channels(row.expanded),
                channels(row.output),
            );
            let act = row.activation;
            let mut steps = Vec::with_capacity(4);
            if expanded != input {
                steps.push(Step::Conv(
                    Role::Expand,
                    ConvSpec::pointwise(input, expanded, act),
                ));
            }
            let dw = ConvSpec::depthwise(expanded, row.kernel, row.stride, act);
            steps.push(Step::Conv(Role::Depthwise, dw));
            if row.squeeze_excite {
                let squeeze = make_divisible((expanded / 4) as f64, 8);
                steps.push(Step::SqueezeExcite {
                    channels: expanded,
                    squeeze,
                });
            }
            let project = ConvSpec::pointwise(expanded, output, Activation::Identity);
            steps.push(Step::Conv(Role::Project, project));
            BlockSpec::new(BlockKind::InvertedResidual, steps, true)
        })
        .collect();
    let last_in = channels(table[table.len() - 1].output);
    let last_conv = 6 * last_in;
    NetworkSpec {
        stem: ConvSpec::dense(3, channels(table[0].input), 3, 2, HS),
        stages: vec![blocks],
        head_conv: Some(ConvSpec::pointwise(last_in, last_conv, HS)),
        hidden: vec![DenseSpec::linear(last_conv, channels(last_channel), HS)],
    }
}

/// timm's `mobilenetv3_small_*` (the paper's Table 2 as block strings).
const TIMM_SMALL: &[&[&str]] = &[
    &["ds_r1_k3_s2_e1_c16_se0.25_nre"],
    &["ir_r1_k3_s2_e4.5_c24_nre", "ir_r1_k3_s1_e3.67_c24_nre"],
    &["ir_r1_k5_s2_e4_c40_se0.25", "ir_r2_k5_s1_e6_c40_se0.25"],
    &["ir_r2_k5_s1_e3_c48_se0.25"],
    &["ir_r3_k5_s2_e6_c96_se0.25"],
    &["cn_r1_k1_s1_c576"],
];

/// timm's `mobilenetv3_large_*` (Table 1).
const TIMM_LARGE: &[&[&str]] = &[
    &["ds_r1_k3_s1_e1_c16_nre"],
    &["ir_r1_k3_s2_e4_c24_nre", "ir_r1_k3_s1_e3_c24_nre"],
    &["ir_r3_k5_s2_e3_c40_se0.25_nre"],
    &[
        "ir_r1_k3_s2_e6_c80",
        "ir_r1_k3_s1_e2.5_c80",
        "ir_r2_k3_s1_e2.3_c80",
    ],
    &["ir_r2_k3_s1_e6_c112_se0.25"],
    &["ir_r3_k5_s2_e6_c160_se0.25"],
    &["cn_r1_k1_s1_c960"],
];

/// The "minimalistic" models (ReLU, 3×3 kernels, no squeeze-excite), as the TF release has them.
const TIMM_SMALL_MINIMAL: &[&[&str]] = &[
    &["ds_r1_k3_s2_e1_c16"],
    &["ir_r1_k3_s2_e4.5_c24", "ir_r1_k3_s1_e3.67_c24"],
    &["ir_r1_k3_s2_e4_c40", "ir_r2_k3_s1_e6_c40"],
    &["ir_r2_k3_s1_e3_c48"],
    &["ir_r3_k3_s2_e6_c96"],
    &["cn_r1_k1_s1_c576"],
];

const TIMM_LARGE_MINIMAL: &[&[&str]] = &[
    &["ds_r1_k3_s1_e1_c16"],
    &["ir_r1_k3_s2_e4_c24", "ir_r1_k3_s1_e3_c24"],
    &["ir_r3_k3_s2_e3_c40"],
    &[
        "ir_r1_k3_s2_e6_c80",
        "ir_r1_k3_s1_e2.5_c80",
        "ir_r2_k3_s1_e2.3_c80",
    ],
    &["ir_r2_k3_s1_e6_c112"],
    &["ir_r3_k3_s2_e6_c160"],
    &["cn_r1_k1_s1_c960"],
];

/// timm's MobileNetV3: stem of 16 (unscaled below width 0.75), the blocks, then after pooling
/// a 1×1 conv with bias to 1024 (Small) or 1280 (Large) features, whatever the width.
pub fn timm(model: &TimmModel, large: bool, minimal: bool) -> Result<NetworkSpec> {
    let (table, features) = match (large, minimal) {
        (false, false) => (TIMM_SMALL, SMALL_LAST_CHANNEL),
        (false, true) => (TIMM_SMALL_MINIMAL, SMALL_LAST_CHANNEL),
        (true, false) => (TIMM_LARGE, LARGE_LAST_CHANNEL),
        (true, true) => (TIMM_LARGE_MINIMAL, LARGE_LAST_CHANNEL),
    };
    let activation = if minimal { RE } else { HS };
    let rules = Rules {
        width: model.width,
        depth: model.depth,
        fix_first_last: false,
        activation,
    };
    let stem = if model.width < 0.75 {
        16
    } else {
        rules.channels(16)
    };
    let network = NetworkSpec {
        stem: ConvSpec::dense(3, stem, 3, 2, activation),
        stages: rules.stages(table, stem)?,
        head_conv: None,
        hidden: Vec::new(),
    };
    let conv_head = DenseStorage::Conv1x1 { batch_norm: false };
    Ok(network.then_dense(features, activation, conv_head))
}
