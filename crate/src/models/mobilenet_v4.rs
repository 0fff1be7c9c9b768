//! MobileNetV4 (Qin et al., "MobileNetV4: Universal Models for the Mobile Ecosystem", ECCV 2024),
//! the conv-only models (the paper's Tables 11–13: MNv4-Conv-S, -M, -L) as timm builds them
//! (`_gen_mobilenet_v4`), stage by stage in timm's block strings.
//!
//! The paper's universal inverted bottleneck (UIB) is `uir_…_a{start}_k{middle}`: an optional
//! depthwise conv before the 1×1 expansion (`a`), an optional one after it (`k`), then the linear
//! 1×1 projection. The four instances the paper names:
//! - ExtraDW: both (`uir_r1_a5_k5_…`);
//! - IB, the inverted bottleneck: only the middle one (`a0_k3`);
//! - ConvNeXt-like: only the first (`a3_k0`);
//! - FFN: neither (`a0_k0`).
//!
//! Besides UIBs: FusedIB (`er`: a k×k expansion conv, then the projection) and plain conv blocks
//! (`cn`). After pooling, a 1×1 conv to 1280 features with BatchNorm and ReLU (`conv_head`,
//! `norm_head`), then the classifier.

use super::timm_blocks::Rules;
use crate::arch::{TimmModel, V4Size};
use crate::error::Result;
use crate::layers::{Activation, ConvSpec};
use crate::plan::{DenseStorage, NetworkSpec};

/// MNv4-Conv-S.
#[rustfmt::skip]
const SMALL: &[&[&str]] = &[
    // 112×112 in
    &["cn_r1_k3_s2_e1_c32", "cn_r1_k1_s1_e1_c32"],
    // 56×56
    &["cn_r1_k3_s2_e1_c96", "cn_r1_k1_s1_e1_c64"],
    // 28×28: ExtraDW, 4 IB, ConvNeXt
    &["uir_r1_a5_k5_s2_e3_c96", "uir_r4_a0_k3_s1_e2_c96", "uir_r1_a3_k0_s1_e4_c96"],
    // 14×14: 2 ExtraDW, 4 IB
    &[
        "uir_r1_a3_k3_s2_e6_c128", "uir_r1_a5_k5_s1_e4_c128", "uir_r1_a0_k5_s1_e4_c128",
        "uir_r1_a0_k5_s1_e3_c128", "uir_r2_a0_k3_s1_e4_c128",
    ],
    // 7×7
    &["cn_r1_k1_s1_c960"],
];

/// MNv4-Conv-M.
#[rustfmt::skip]
const MEDIUM: &[&[&str]] = &[
    // 112×112 in: FusedIB
    &["er_r1_k3_s2_e4_c48"],
    // 56×56: 2 ExtraDW
    &["uir_r1_a3_k5_s2_e4_c80", "uir_r1_a3_k3_s1_e2_c80"],
    // 28×28: 5 ExtraDW, ConvNeXt, FFN, ConvNeXt
    &[
        "uir_r1_a3_k5_s2_e6_c160", "uir_r2_a3_k3_s1_e4_c160", "uir_r1_a3_k5_s1_e4_c160",
        "uir_r1_a3_k3_s1_e4_c160", "uir_r1_a3_k0_s1_e4_c160", "uir_r1_a0_k0_s1_e2_c160",
        "uir_r1_a3_k0_s1_e4_c160",
    ],
    // 14×14: 4 ExtraDW, FFN, ConvNeXt, 2 ExtraDW, 2 FFN, ConvNeXt
    &[
        "uir_r1_a5_k5_s2_e6_c256", "uir_r1_a5_k5_s1_e4_c256", "uir_r2_a3_k5_s1_e4_c256",
        "uir_r1_a0_k0_s1_e4_c256", "uir_r1_a3_k0_s1_e4_c256", "uir_r1_a3_k5_s1_e2_c256",
        "uir_r1_a5_k5_s1_e4_c256", "uir_r2_a0_k0_s1_e4_c256", "uir_r1_a5_k0_s1_e2_c256",
    ],
    // 7×7
    &["cn_r1_k1_s1_c960"],
];

/// MNv4-Conv-L.
#[rustfmt::skip]
const LARGE: &[&[&str]] = &[
    // 112×112 in: FusedIB
    &["er_r1_k3_s2_e4_c48"],
    // 56×56: 2 ExtraDW
    &["uir_r1_a3_k5_s2_e4_c96", "uir_r1_a3_k3_s1_e4_c96"],
    // 28×28: 10 ExtraDW, ConvNeXt
    &[
        "uir_r1_a3_k5_s2_e4_c192", "uir_r3_a3_k3_s1_e4_c192", "uir_r1_a3_k5_s1_e4_c192",
        "uir_r5_a5_k3_s1_e4_c192", "uir_r1_a3_k0_s1_e4_c192",
    ],
    // 14×14: ExtraDW and ConvNeXt blocks
    &[
        "uir_r4_a5_k5_s2_e4_c512", "uir_r1_a5_k0_s1_e4_c512", "uir_r1_a5_k3_s1_e4_c512",
        "uir_r2_a5_k0_s1_e4_c512", "uir_r1_a5_k3_s1_e4_c512", "uir_r1_a5_k5_s1_e4_c512",
        "uir_r3_a5_k0_s1_e4_c512",
    ],
    // 7×7
    &["cn_r1_k1_s1_c960"],
];

/// Features of the 1×1 conv after pooling, whatever the width.
const HEAD_FEATURES: usize = 1280;
const ACT: Activation = Activation::Relu;

pub fn timm(model: &TimmModel, size: V4Size) -> Result<NetworkSpec> {
    let (table, stem) = match size {
        V4Size::Small => (SMALL, 32),
        V4Size::Medium => (MEDIUM, 32),
        V4Size::Large => (LARGE, 24),
    };
    let rules = Rules {
        width: model.width,
        depth: model.depth,
        fix_first_last: false,
        activation: ACT,
    };
    // Narrower models keep the stem.
    let stem = if model.width < 1.0 {
        stem
    } else {
        rules.channels(stem)
    };
    let network = NetworkSpec {
        stem: ConvSpec::dense(3, stem, 3, 2, ACT),
        stages: rules.stages(table, stem)?,
        head_conv: None,
        hidden: Vec::new(),
    };
    // `conv_head` + `norm_head`
    let conv_head = DenseStorage::Conv1x1 { batch_norm: true };
    Ok(network.then_dense(HEAD_FEATURES, ACT, conv_head))
}
