//! What a model is: architecture, width, padding, BN eps, input geometry, classes. The same struct is
//! written to and read from a self-describing safetensors file's `__metadata__`.

use std::collections::HashMap;
use std::str::FromStr;

pub use crate::arch::Architecture;
use crate::error::{Error, Result};
pub use crate::kernels::resample::Interpolation;

/// How convolutions pad their input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingMode {
    /// PyTorch: `k / 2` on every side.
    Torch,
    /// TensorFlow "SAME": total padding from the input size, the odd pixel at the bottom/right. Needed by
    /// weights trained in TF (the stride-2 layers come out asymmetric).
    TfSame,
}

impl PaddingMode {
    pub fn name(self) -> &'static str {
        match self {
            PaddingMode::Torch => "torch",
            PaddingMode::TfSame => "tf",
        }
    }
}

impl FromStr for PaddingMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "torch" => Ok(PaddingMode::Torch),
            "tf" | "tf_same" => Ok(PaddingMode::TfSame),
            _ => Err(Error::bad_config(format!(
                "padding `{s}` (expected `torch` or `tf`)"
            ))),
        }
    }
}

/// The activation of the MobileNetV1 layers: TF-slim's released weights use ReLU6, the paper ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Activation {
    Relu6,
    Relu,
}

impl V1Activation {
    pub fn name(self) -> &'static str {
        match self {
            V1Activation::Relu6 => "relu6",
            V1Activation::Relu => "relu",
        }
    }
}

impl FromStr for V1Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "relu6" => Ok(V1Activation::Relu6),
            "relu" => Ok(V1Activation::Relu),
            _ => Err(Error::bad_config(format!(
                "activation `{s}` (expected `relu6` or `relu`)"
            ))),
        }
    }
}

impl Interpolation {
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Bilinear => "bilinear",
            Interpolation::Bicubic => "bicubic",
        }
    }
}

impl FromStr for Interpolation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bilinear" => Ok(Interpolation::Bilinear),
            "bicubic" => Ok(Interpolation::Bicubic),
            _ => Err(Error::bad_config(format!(
                "interpolation `{s}` (expected `bilinear` or `bicubic`)"
            ))),
        }
    }
}

/// What the 1×1 convolutions compute in: float32, or int8 ([`crate::kernels::quantized`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    Float32,
    Int8,
}

impl Compute {
    pub fn name(self) -> &'static str {
        match self {
            Compute::Float32 => "float32",
            Compute::Int8 => "int8",
        }
    }
}

impl FromStr for Compute {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "float32" => Ok(Compute::Float32),
            "int8" => Ok(Compute::Int8),
            _ => Err(Error::bad_config(format!(
                "compute `{s}` (expected `float32` or `int8`)"
            ))),
        }
    }
}

pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Largest network input side accepted.
const MAX_INPUT_SIZE: u32 = 2048;

/// Largest width multiplier accepted; beyond it nobody has trained a MobileNet and layer sizes explode.
const MAX_WIDTH: f64 = 4.0;
/// Accepted normalisation constants (ImageNet's are about 0.45 and 0.225; CLIP's, 0.26).
const NORMALIZE_MEAN: std::ops::RangeInclusive<f32> = -1e3..=1e3;
const NORMALIZE_STD: std::ops::RangeInclusive<f32> = 1e-3..=1e3;

/// Everything needed to build and feed a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub arch: Architecture,
    pub width: f64,
    pub padding: PaddingMode,
    /// Only read by MobileNetV1.
    pub v1_activation: V1Activation,
    pub bn_eps: f64,
    /// The checkpoint stores conv weights with BatchNorm already folded in and a conv `bias`.
    pub bn_folded: bool,
    /// Side of the square crop the network sees.
    pub input_size: u32,
    /// The shorter image side is resized to this before the center crop.
    pub resize_size: u32,
    /// The resize's filter (torchvision's presets: bilinear; most timm models: bicubic).
    pub interpolation: Interpolation,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// `None`: read from the classifier's weight.
    pub num_classes: Option<usize>,
    pub labels: Option<Vec<String>>,
}

impl ModelConfig {
    /// The reference implementation's defaults for `arch`; a timm architecture brings its width
    /// and, for `tf_` ports, TF "SAME" padding.
    pub fn new(arch: Architecture) -> Self {
        let timm = arch.timm();
        ModelConfig {
            arch,
            width: timm.map_or(1.0, |m| m.width),
            padding: match timm {
                Some(m) if m.tf => PaddingMode::TfSame,
                _ => PaddingMode::Torch,
            },
            v1_activation: V1Activation::Relu6,
            bn_eps: arch.default_bn_eps(),
            bn_folded: false,
            input_size: 224,
            resize_size: 256,
            interpolation: Interpolation::Bilinear,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
            num_classes: None,
            labels: None,
        }
    }

    pub fn with_width(mut self, width: f64) -> Self {
        self.width = width;
        self
    }

    pub fn with_padding(mut self, padding: PaddingMode) -> Self {
        self.padding = padding;
        self
    }

    pub fn with_v1_activation(mut self, activation: V1Activation) -> Self {
        self.v1_activation = activation;
        self
    }

    pub fn with_labels(mut self, labels: Vec<String>) -> Self {
        self.labels = Some(labels);
        self
    }

    /// Sets the crop size and scales the resize size as torchvision's presets do (256 for 224).
    pub fn with_input_size(mut self, input_size: u32) -> Self {
        self.input_size = input_size;
        self.resize_size = (input_size as f64 * 256.0 / 224.0).round() as u32;
        self
    }

    /// Sets the resize size as timm does from a crop fraction: `floor(input_size / crop_pct)`.
    pub fn with_crop_pct(mut self, crop_pct: f64) -> Result<Self> {
        if !(crop_pct.is_finite() && crop_pct > 0.0 && crop_pct <= 1.0) {
            return Err(Error::bad_config(format!(
                "crop_pct {crop_pct} (expected 0 < crop_pct <= 1)"
            )));
        }
        let resize = (self.input_size as f64 / crop_pct).floor();
        // Past this, the resize alone would be gigapixels.
        if resize > 4.0 * MAX_INPUT_SIZE as f64 {
            return Err(Error::bad_config(format!(
                "crop_pct {crop_pct} resizes to {resize} pixels"
            )));
        }
        self.resize_size = resize as u32;
        Ok(self)
    }

    pub fn validate(&self) -> Result<()> {
        if let Some(model) = self.arch.timm() {
            if self.width != model.width {
                return Err(Error::bad_config(format!(
                    "{} has width {}, not {}: timm names each width (choose the architecture of \
                     that width)",
                    model.name, model.width, self.width
                )));
            }
        }
        if !(self.width.is_finite() && self.width > 0.0 && self.width <= MAX_WIDTH) {
            return Err(Error::bad_config(format!(
                "width multiplier {} (expected 0 < width <= {MAX_WIDTH})",
                self.width
            )));
        }
        if !(self.bn_eps.is_finite() && self.bn_eps > 0.0) {
            return Err(Error::bad_config(format!("bn_eps {}", self.bn_eps)));
        }
        if !(16..=MAX_INPUT_SIZE).contains(&self.input_size) || self.resize_size < self.input_size {
            return Err(Error::bad_config(format!(
                "input_size {} / resize_size {} (need 16 <= input <= {MAX_INPUT_SIZE} and resize >= input)",
                self.input_size, self.resize_size
            )));
        }
        // Pixels are scaled to [0, 1] before `(x - mean) / std`: constants far outside these
        // ranges (a subnormal std, say) would only overflow the network into NaN.
        if self.std.iter().any(|s| !NORMALIZE_STD.contains(s))
            || self.mean.iter().any(|m| !NORMALIZE_MEAN.contains(m))
        {
            return Err(Error::bad_config(format!(
                "mean {:?} / std {:?}: each mean must be within {NORMALIZE_MEAN:?} and each std \
                 within {NORMALIZE_STD:?}",
                self.mean, self.std
            )));
        }
        if let (Some(labels), Some(n)) = (&self.labels, self.num_classes) {
            if labels.len() != n {
                return Err(Error::bad_config(format!(
                    "{} labels for {n} classes",
                    labels.len()
                )));
            }
        }
        Ok(())
    }
}

/// What a caller may say about a checkpoint when loading it. A self-describing file needs none of
/// it; a plain checkpoint needs at least `arch`. Given fields override the file's metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    pub arch: Option<Architecture>,
    pub width: Option<f64>,
    pub padding: Option<PaddingMode>,
    pub v1_activation: Option<V1Activation>,
    pub input_size: Option<u32>,
    /// timm's crop fraction: the shorter side is resized to `floor(input_size / crop_pct)`.
    pub crop_pct: Option<f64>,
    pub interpolation: Option<Interpolation>,
    pub labels: Option<Vec<String>>,
    /// The model's description when it comes from beside the file (a timm `config.json`): it
    /// takes the place of the file's own metadata.
    pub described: Option<ModelConfig>,
    /// What the 1×1 convolutions compute in; by default int8 for a file of int8 weights where
    /// the int8 kernels are the faster ([`crate::kernels::quantized::INT8_PAYS`]), else float32.
    pub compute: Option<Compute>,
}

impl LoadOptions {
    /// Nothing but the description: `config` in place of a file's metadata (`None`: the file's own).
    pub fn described(config: Option<ModelConfig>) -> Self {
        LoadOptions {
            described: config,
            ..Default::default()
        }
    }

    /// What a file computes in, `int8_file` if its weights are stored as int8.
    pub fn compute_for(&self, int8_file: bool) -> Compute {
        self.compute
            .unwrap_or(match int8_file && crate::kernels::quantized::INT8_PAYS {
                true => Compute::Int8,
                false => Compute::Float32,
            })
    }

    /// The config for a file whose metadata describes `described` (`None` for a plain checkpoint).
    pub fn resolve(&self, described: Option<ModelConfig>) -> Result<ModelConfig> {
        let described = self.described.clone().or(described);
        let mut config = match (self.arch, described) {
            (Some(arch), Some(d)) if d.arch == arch => d,
            (Some(arch), _) => ModelConfig::new(arch),
            (None, Some(d)) => d,
            (None, None) => {
                return Err(Error::UnknownArchitecture {
                    name: "(none given: a plain checkpoint needs its architecture)".into(),
                    known: crate::arch::name_list(),
                })
            }
        };
        if let Some(width) = self.width {
            config.width = width;
        }
        if let Some(padding) = self.padding {
            config.padding = padding;
        }
        if let Some(activation) = self.v1_activation {
            config.v1_activation = activation;
        }
        if let Some(size) = self.input_size {
            config = config.with_input_size(size);
        }
        if let Some(crop_pct) = self.crop_pct {
            config = config.with_crop_pct(crop_pct)?;
        }
        if let Some(interpolation) = self.interpolation {
            config.interpolation = interpolation;
        }
        if let Some(labels) = &self.labels {
            config.labels = Some(labels.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

/// Keys of the `__metadata__` of a self-describing model file.
pub mod meta_keys {
    pub const FORMAT: &str = "mobilenet_wasm.format";
    pub const ARCH: &str = "arch";
    pub const WIDTH: &str = "width";
    pub const PADDING: &str = "padding";
    pub const ACTIVATION: &str = "activation";
    pub const BN_EPS: &str = "bn_eps";
    pub const BN_FOLDED: &str = "bn_folded";
    pub const INPUT_SIZE: &str = "input_size";
    pub const RESIZE_SIZE: &str = "resize_size";
    pub const INTERPOLATION: &str = "interpolation";
    pub const MEAN: &str = "mean";
    pub const STD: &str = "std";
    pub const NUM_CLASSES: &str = "num_classes";
    pub const LABELS: &str = "labels";
}

/// Versions of the metadata layout: "1" describes torchvision-layout models resized bilinearly;
/// "2" adds timm architectures and `interpolation`. [`ModelConfig::to_metadata`] writes the
/// oldest version that describes the model, so that older readers refuse only what they would
/// get wrong.
pub const FORMAT_VERSIONS: [&str; 2] = ["1", "2"];

impl ModelConfig {
    /// The metadata that makes a safetensors file self-describing. Values are strings (safetensors
    /// allows nothing else); lists are JSON.
    pub fn to_metadata(&self) -> HashMap<String, String> {
        use meta_keys::*;
        let mut m = HashMap::new();
        let needs_v2 = self.arch.timm().is_some() || self.interpolation != Interpolation::Bilinear;
        m.insert(FORMAT.into(), FORMAT_VERSIONS[needs_v2 as usize].into());
        m.insert(ARCH.into(), self.arch.name().into());
        m.insert(WIDTH.into(), self.width.to_string());
        m.insert(PADDING.into(), self.padding.name().into());
        m.insert(ACTIVATION.into(), self.v1_activation.name().into());
        m.insert(BN_EPS.into(), self.bn_eps.to_string());
        m.insert(BN_FOLDED.into(), self.bn_folded.to_string());
        m.insert(INPUT_SIZE.into(), self.input_size.to_string());
        m.insert(RESIZE_SIZE.into(), self.resize_size.to_string());
        if needs_v2 {
            m.insert(INTERPOLATION.into(), self.interpolation.name().into());
        }
        m.insert(MEAN.into(), serde_json::to_string(&self.mean).unwrap());
        m.insert(STD.into(), serde_json::to_string(&self.std).unwrap());
        if let Some(n) = self.num_classes {
            m.insert(NUM_CLASSES.into(), n.to_string());
        }
        if let Some(labels) = &self.labels {
            m.insert(LABELS.into(), serde_json::to_string(labels).unwrap());
        }
        m
    }

    /// Reads a config from a self-describing file's metadata; `Ok(None)` for a plain checkpoint.
    pub fn from_metadata(meta: &HashMap<String, String>) -> Result<Option<Self>> {
        use meta_keys::*;
        if !meta.contains_key(FORMAT) {
            return Ok(None);
        }
        if !FORMAT_VERSIONS.contains(&meta[FORMAT].as_str()) {
            return Err(Error::bad_model(format!(
                "model file format version {} is not supported (this build reads {})",
                meta[FORMAT],
                FORMAT_VERSIONS.join(" and ")
            )));
        }
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| Error::bad_model(format!("metadata key `{key}` is missing")))
        };
        let parse = |key: &str, what: &str| -> Result<f64> {
            get(key)?
                .parse::<f64>()
                .map_err(|_| Error::bad_model(format!("metadata `{key}` is not {what}")))
        };
        let json3 = |key: &str| -> Result<[f32; 3]> {
            serde_json::from_str(get(key)?).map_err(|_| {
                Error::bad_model(format!("metadata `{key}` is not a list of 3 numbers"))
            })
        };
        let int = |key: &str| -> Result<u32> {
            get(key)?
                .parse::<u32>()
                .map_err(|_| Error::bad_model(format!("metadata `{key}` is not an integer")))
        };
        let arch: Architecture = get(ARCH)?.parse()?;
        let mut config = ModelConfig::new(arch);
        config.width = parse(WIDTH, "a number")?;
        config.padding = get(PADDING)?.parse()?;
        if let Some(act) = meta.get(ACTIVATION) {
            config.v1_activation = act.parse()?;
        }
        config.bn_eps = parse(BN_EPS, "a number")?;
        config.bn_folded = match get(BN_FOLDED)?.as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(Error::bad_model(format!(
                    "metadata `bn_folded` is `{other}`"
                )))
            }
        };
        config.input_size = int(INPUT_SIZE)?;
        config.resize_size = int(RESIZE_SIZE)?;
        if let Some(interpolation) = meta.get(INTERPOLATION) {
            config.interpolation = interpolation.parse()?;
        }
        config.mean = json3(MEAN)?;
        config.std = json3(STD)?;
        if meta.contains_key(NUM_CLASSES) {
            config.num_classes = Some(int(NUM_CLASSES)? as usize);
        }
        if let Some(labels) = meta.get(LABELS) {
            config.labels = Some(serde_json::from_str(labels).map_err(|_| {
                Error::bad_model("metadata `labels` is not a JSON list of strings")
            })?);
        }
        config.validate()?;
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn metadata_round_trip() {
        let config = ModelConfig::new(Architecture::MobileNetV1)
            .with_width(0.75)
            .with_padding(PaddingMode::TfSame)
            .with_v1_activation(V1Activation::Relu)
            .with_input_size(160)
            .with_labels(vec!["a".into(), "b \"quoted\"".into()]);
        let back = ModelConfig::from_metadata(&config.to_metadata())
            .unwrap()
            .unwrap();
        assert_eq!(back, config);
        assert_eq!(back.resize_size, 183);
        assert_eq!(config.to_metadata()[meta_keys::FORMAT], "1");
    }

    #[test]
    fn timm_models_and_bicubic_need_format_2() {
        let arch: Architecture = "mobilenetv3_small_075".parse().unwrap();
        let mut config = ModelConfig::new(arch).with_crop_pct(0.95).unwrap();
        config.interpolation = Interpolation::Bicubic;
        assert_eq!((config.width, config.resize_size), (0.75, 235));
        let meta = config.to_metadata();
        assert_eq!(meta[meta_keys::FORMAT], "2");
        assert_eq!(meta[meta_keys::INTERPOLATION], "bicubic");
        assert_eq!(ModelConfig::from_metadata(&meta).unwrap().unwrap(), config);
        let mut bicubic = ModelConfig::new(Architecture::MobileNetV2);
        bicubic.interpolation = Interpolation::Bicubic;
        assert_eq!(bicubic.to_metadata()[meta_keys::FORMAT], "2");
        let mut future = meta;
        future.insert(meta_keys::FORMAT.into(), "3".into());
        let err = ModelConfig::from_metadata(&future).unwrap_err();
        assert!(err.to_string().contains("version 3"), "{err}");
    }

    #[test]
    fn a_timm_architecture_fixes_its_width_and_tf_ports_their_padding() {
        let arch: Architecture = "mobilenetv3_small_075".parse().unwrap();
        let err = ModelConfig::new(arch)
            .with_width(0.5)
            .validate()
            .unwrap_err();
        assert_eq!(err.code(), "BAD_CONFIG");
        let tf: Architecture = "tf_mobilenetv3_small_100".parse().unwrap();
        let config = ModelConfig::new(tf);
        assert_eq!((config.padding, config.bn_eps), (PaddingMode::TfSame, 1e-3));
        for bad in [0.0, 1.5, f64::NAN] {
            assert_eq!(
                ModelConfig::new(tf).with_crop_pct(bad).unwrap_err().code(),
                "BAD_CONFIG"
            );
        }
    }

    #[test]
    fn load_options_override_metadata() {
        let described = ModelConfig::new(Architecture::MobileNetV1)
            .with_width(0.75)
            .with_padding(PaddingMode::TfSame);
        let relabel = LoadOptions {
            labels: Some(vec!["x".into()]),
            ..Default::default()
        };
        let config = relabel.resolve(Some(described.clone())).unwrap();
        assert_eq!(config.width, 0.75);
        assert_eq!(config.labels, Some(vec!["x".to_string()]));
        let other_arch = LoadOptions {
            arch: Some(Architecture::MobileNetV2),
            ..Default::default()
        };
        let config = other_arch.resolve(Some(described)).unwrap();
        assert_eq!(
            (config.arch, config.width),
            (Architecture::MobileNetV2, 1.0)
        );
        let err = LoadOptions::default().resolve(None).unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_ARCH");
        let bad = LoadOptions {
            arch: Some(Architecture::MobileNetV2),
            width: Some(0.0),
            ..Default::default()
        };
        assert_eq!(bad.resolve(None).unwrap_err().code(), "BAD_CONFIG");
    }

    #[test]
    fn plain_metadata_is_not_a_config() {
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        assert_eq!(ModelConfig::from_metadata(&meta).unwrap(), None);
    }

    #[test]
    fn bad_values_are_rejected() {
        let mut meta = ModelConfig::new(Architecture::MobileNetV2).to_metadata();
        meta.insert(meta_keys::ARCH.into(), "resnet50".into());
        assert_eq!(
            ModelConfig::from_metadata(&meta).unwrap_err().code(),
            "UNKNOWN_ARCH"
        );
        let mut meta = ModelConfig::new(Architecture::MobileNetV2).to_metadata();
        meta.insert(meta_keys::WIDTH.into(), "-1".into());
        assert_eq!(
            ModelConfig::from_metadata(&meta).unwrap_err().code(),
            "BAD_CONFIG"
        );
        let mut meta = ModelConfig::new(Architecture::MobileNetV2).to_metadata();
        meta.remove(meta_keys::PADDING);
        assert_eq!(
            ModelConfig::from_metadata(&meta).unwrap_err().code(),
            "BAD_MODEL"
        );
    }
}
