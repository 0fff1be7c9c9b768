//! Which networks exist: the torchvision-layout families (any width) and the MobileNets timm
//! registers by name (`mobilenetv3_small_075`, `mobilenetv4_conv_medium`), each with the generator
//! timm calls and its arguments, as `timm/models/mobilenetv3.py` and `efficientnet.py` register them.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    MobileNetV3Small,
    MobileNetV3Large,
    MobileNetV2,
    MobileNetV1,
    MobileNeXt,
    /// A network as timm builds and names it; its width and depth are part of the name.
    Timm(&'static TimmModel),
}

/// One `@register_model` of timm: the generator and the arguments it is called with.
#[derive(Debug)]
pub struct TimmModel {
    pub name: &'static str,
    pub family: TimmFamily,
    /// timm's `channel_multiplier`.
    pub width: f64,
    /// timm's `depth_multiplier`: block repeats per stage are scaled by it (rounded up).
    pub depth: f64,
    /// A `tf_` port of TensorFlow weights: TF "SAME" padding and BatchNorm eps 1e-3.
    pub tf: bool,
}

impl PartialEq for TimmModel {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TimmModel {}

/// timm's generators for the conv-only MobileNets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimmFamily {
    /// `_gen_mobilenet_v1`; `head_conv` adds a 1×1 conv + BN + ReLU6 before pooling (`…_100h`).
    MobileNetV1 { head_conv: bool },
    /// `_gen_mobilenet_v2`; `fix_stem_head` keeps the stem, head and first and last stages unscaled.
    MobileNetV2 { fix_stem_head: bool },
    /// `_gen_mobilenet_v3`; `minimal`: ReLU, 3×3 kernels and no squeeze-excite throughout.
    MobileNetV3 { large: bool, minimal: bool },
    /// `_gen_mobilenet_v4` for the conv-only variants.
    MobileNetV4Conv(V4Size),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V4Size {
    Small,
    Medium,
    Large,
}

const fn timm(name: &'static str, family: TimmFamily, width: f64, depth: f64) -> TimmModel {
    TimmModel {
        name,
        family,
        width,
        depth,
        tf: false,
    }
}

const fn tf(name: &'static str, family: TimmFamily, width: f64) -> TimmModel {
    TimmModel {
        name,
        family,
        width,
        depth: 1.0,
        tf: true,
    }
}

const V1: TimmFamily = TimmFamily::MobileNetV1 { head_conv: false };
const V1_HEAD_CONV: TimmFamily = TimmFamily::MobileNetV1 { head_conv: true };
const V2: TimmFamily = TimmFamily::MobileNetV2 {
    fix_stem_head: false,
};
const V2_FIXED: TimmFamily = TimmFamily::MobileNetV2 {
    fix_stem_head: true,
};
const V3_SMALL: TimmFamily = TimmFamily::MobileNetV3 {
    large: false,
    minimal: false,
};
const V3_LARGE: TimmFamily = TimmFamily::MobileNetV3 {
    large: true,
    minimal: false,
};
const V3_SMALL_MINIMAL: TimmFamily = TimmFamily::MobileNetV3 {
    large: false,
    minimal: true,
};
const V3_LARGE_MINIMAL: TimmFamily = TimmFamily::MobileNetV3 {
    large: true,
    minimal: true,
};
const V4_SMALL: TimmFamily = TimmFamily::MobileNetV4Conv(V4Size::Small);
const V4_MEDIUM: TimmFamily = TimmFamily::MobileNetV4Conv(V4Size::Medium);
const V4_LARGE: TimmFamily = TimmFamily::MobileNetV4Conv(V4Size::Large);

/// Every conv-only MobileNet timm registers, with the arguments its `@register_model` passes.
#[rustfmt::skip]
pub const TIMM_MODELS: [TimmModel; 27] = [
    timm("mobilenetv1_100", V1, 1.0, 1.0),
    timm("mobilenetv1_100h", V1_HEAD_CONV, 1.0, 1.0),
    timm("mobilenetv1_125", V1, 1.25, 1.0),
    timm("mobilenetv2_035", V2, 0.35, 1.0),
    timm("mobilenetv2_050", V2, 0.5, 1.0),
    timm("mobilenetv2_075", V2, 0.75, 1.0),
    timm("mobilenetv2_100", V2, 1.0, 1.0),
    timm("mobilenetv2_140", V2, 1.4, 1.0),
    timm("mobilenetv2_110d", V2_FIXED, 1.1, 1.2),
    timm("mobilenetv2_120d", V2_FIXED, 1.2, 1.4),
    timm("mobilenetv3_large_075", V3_LARGE, 0.75, 1.0),
    timm("mobilenetv3_large_100", V3_LARGE, 1.0, 1.0),
    timm("mobilenetv3_large_150d", V3_LARGE, 1.5, 1.2),
    timm("mobilenetv3_small_050", V3_SMALL, 0.5, 1.0),
    timm("mobilenetv3_small_075", V3_SMALL, 0.75, 1.0),
    timm("mobilenetv3_small_100", V3_SMALL, 1.0, 1.0),
    tf("tf_mobilenetv3_large_075", V3_LARGE, 0.75),
    tf("tf_mobilenetv3_large_100", V3_LARGE, 1.0),
    tf("tf_mobilenetv3_large_minimal_100", V3_LARGE_MINIMAL, 1.0),
    tf("tf_mobilenetv3_small_075", V3_SMALL, 0.75),
    tf("tf_mobilenetv3_small_100", V3_SMALL, 1.0),
    tf("tf_mobilenetv3_small_minimal_100", V3_SMALL_MINIMAL, 1.0),
    timm("mobilenetv4_conv_small_035", V4_SMALL, 0.35, 1.0),
    timm("mobilenetv4_conv_small_050", V4_SMALL, 0.5, 1.0),
    timm("mobilenetv4_conv_small", V4_SMALL, 1.0, 1.0),
    timm("mobilenetv4_conv_medium", V4_MEDIUM, 1.0, 1.0),
    timm("mobilenetv4_conv_large", V4_LARGE, 1.0, 1.0),
];

/// timm names of MobileNet relatives we do not build, and why: refused by name rather than
/// mistaken for a network they are not.
const NOT_IMPLEMENTED: [(&str, &str); 5] = [
    (
        "mobilenetv4_hybrid",
        "MobileNetV4 hybrid models (multi-query attention blocks) are not implemented",
    ),
    (
        "mobilenetv4_conv_aa",
        "MobileNetV4 with anti-aliased (average-pooled) downsampling is not implemented",
    ),
    (
        "mobilenetv4_conv_blur",
        "MobileNetV4 with blur-pooled downsampling is not implemented",
    ),
    (
        "mobilenetv3_rw",
        "timm's own MobileNetV3 variant (mobilenetv3_rw) is not implemented",
    ),
    (
        "lcnet",
        "PP-LCNet is not implemented, only the MobileNet families",
    ),
];

impl Architecture {
    /// The torchvision-layout families, which take any width.
    pub const TORCHVISION: [Architecture; 5] = [
        Architecture::MobileNetV3Small,
        Architecture::MobileNetV3Large,
        Architecture::MobileNetV2,
        Architecture::MobileNetV1,
        Architecture::MobileNeXt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Architecture::MobileNetV3Small => "mobilenet_v3_small",
            Architecture::MobileNetV3Large => "mobilenet_v3_large",
            Architecture::MobileNetV2 => "mobilenet_v2",
            Architecture::MobileNetV1 => "mobilenet_v1",
            Architecture::MobileNeXt => "mobilenext",
            Architecture::Timm(model) => model.name,
        }
    }

    /// The timm model, for architectures timm builds.
    pub fn timm(self) -> Option<&'static TimmModel> {
        match self {
            Architecture::Timm(model) => Some(model),
            _ => None,
        }
    }

    /// The BatchNorm eps of the reference implementations (torchvision V2: 1e-5, V3: 1e-3; TF-slim V1:
    /// 1e-3; the official MobileNeXt code: PyTorch's default 1e-5; timm: 1e-5, its `tf_` ports 1e-3).
    pub fn default_bn_eps(self) -> f64 {
        match self {
            Architecture::MobileNetV2 | Architecture::MobileNeXt => 1e-5,
            Architecture::MobileNetV3Small
            | Architecture::MobileNetV3Large
            | Architecture::MobileNetV1 => 1e-3,
            Architecture::Timm(model) if model.tf => 1e-3,
            Architecture::Timm(_) => 1e-5,
        }
    }

    /// Every name [`FromStr`] accepts, for messages.
    pub fn names() -> impl Iterator<Item = &'static str> {
        let torchvision = Architecture::TORCHVISION
            .into_iter()
            .map(Architecture::name);
        torchvision.chain(TIMM_MODELS.iter().map(|m| m.name))
    }
}

/// Every architecture name, comma-separated (error messages).
pub fn name_list() -> String {
    Architecture::names().collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if let Some(arch) = Architecture::TORCHVISION
            .into_iter()
            .find(|a| a.name() == s)
        {
            return Ok(arch);
        }
        if let Some(model) = TIMM_MODELS.iter().find(|m| m.name == s) {
            return Ok(Architecture::Timm(model));
        }
        match NOT_IMPLEMENTED
            .iter()
            .find(|(prefix, _)| s.starts_with(prefix))
        {
            Some(&(_, reason)) => Err(Error::UnsupportedArchitecture {
                name: s.to_string(),
                reason,
            }),
            None => Err(Error::UnknownArchitecture {
                name: s.to_string(),
                known: name_list(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn every_name_parses_back() {
        for name in Architecture::names() {
            assert_eq!(name.parse::<Architecture>().unwrap().name(), name);
        }
        assert_eq!(Architecture::names().count(), 5 + TIMM_MODELS.len());
    }

    #[test]
    fn relatives_we_do_not_build_are_refused_by_name() {
        for name in [
            "mobilenetv4_hybrid_medium",
            "lcnet_100",
            "resnet50",
            "mobilenetv4_conv_aa_large",
        ] {
            let err = name.parse::<Architecture>().unwrap_err();
            assert_eq!(err.code(), "UNKNOWN_ARCH");
            assert!(err.to_string().contains(name), "{err}");
        }
        let hybrid = "mobilenetv4_hybrid_large"
            .parse::<Architecture>()
            .unwrap_err();
        assert!(hybrid.to_string().contains("attention"), "{hybrid}");
    }
}
