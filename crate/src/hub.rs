//! A timm model repository on the Hugging Face Hub, `timm/<architecture>.<tag>`: its
//! `config.json` describes the network (`architecture`, `num_classes`, `label_names`) and its
//! eval transform (`pretrained_cfg`: input size, interpolation, crop fraction, mean, std); its
//! `model.safetensors` holds the weights under timm's names.

use serde_json::Value;

use crate::config::{Architecture, Interpolation, ModelConfig};
use crate::error::{Error, Result};

/// timm's default crop fraction (`DEFAULT_CROP_PCT`).
const DEFAULT_CROP_PCT: f64 = 0.875;

/// The model `config.json` (the file's text) describes.
pub fn parse_config(json: &str) -> Result<ModelConfig> {
    let root: Value = serde_json::from_str(json)
        .map_err(|e| Error::bad_config(format!("config.json is not JSON: {e}")))?;
    let field = |path: &str| -> Option<&Value> {
        path.split('.')
            .try_fold(&root, |v, key| v.get(key))
            .filter(|v| !v.is_null())
    };
    let bad = |path: &str, what: &str| Error::bad_config(format!("config.json: `{path}` {what}"));
    let string = |path: &str| -> Result<Option<&str>> {
        field(path)
            .map(|v| v.as_str().ok_or_else(|| bad(path, "must be a string")))
            .transpose()
    };
    let whole = |path: &str| -> Result<Option<u64>> {
        field(path)
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| bad(path, "must be a whole number"))
            })
            .transpose()
    };
    let numbers = |path: &str| -> Result<Option<Vec<f64>>> {
        field(path)
            .map(|v| {
                v.as_array()
                    .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| bad(path, "must be a list of numbers"))
            })
            .transpose()
    };

    let name = string("architecture")?.ok_or_else(|| bad("architecture", "is missing"))?;
    let arch: Architecture = name.parse()?;
    if arch.timm().is_none() {
        return Err(bad(
            "architecture",
            &format!("`{name}` is not a timm model"),
        ));
    }
    let mut config = ModelConfig::new(arch);

    for path in ["model_args.in_chans", "pretrained_cfg.input_size.0"] {
        if let Some(channels) = field(path) {
            if channels.as_u64() != Some(3) {
                return Err(bad(
                    path,
                    &format!("is {channels}: only RGB (3 channels) is supported"),
                ));
            }
        }
    }
    for path in ["global_pool", "model_args.global_pool"] {
        match string(path)? {
            None | Some("avg") => {}
            Some(pool) => {
                return Err(bad(
                    path,
                    &format!("is `{pool}`: only average pooling (`avg`) is supported"),
                ))
            }
        }
    }
    if let Some(size) = numbers("pretrained_cfg.input_size")? {
        let side = match size[..] {
            [3.0, h, w] if h == w && h.fract() == 0.0 && h > 0.0 => h,
            _ => {
                return Err(bad(
                    "pretrained_cfg.input_size",
                    &format!("is {size:?}: only square RGB inputs [3, N, N] are supported"),
                ))
            }
        };
        config.input_size = side.min(u32::MAX as f64) as u32;
    }
    match string("pretrained_cfg.crop_mode")? {
        None | Some("center") => {}
        Some(mode) => {
            return Err(bad(
                "pretrained_cfg.crop_mode",
                &format!("is `{mode}`: only `center` is supported"),
            ))
        }
    }
    let crop_pct = match field("pretrained_cfg.crop_pct") {
        None => DEFAULT_CROP_PCT,
        Some(v) => v
            .as_f64()
            .ok_or_else(|| bad("pretrained_cfg.crop_pct", "must be a number"))?,
    };
    config = config
        .with_crop_pct(crop_pct)
        .map_err(|e| bad("pretrained_cfg.crop_pct", &e.to_string()))?;
    if let Some(interpolation) = string("pretrained_cfg.interpolation")? {
        config.interpolation = interpolation.parse::<Interpolation>().map_err(|_| {
            bad(
                "pretrained_cfg.interpolation",
                &format!("is `{interpolation}`: only `bicubic` and `bilinear` are supported"),
            )
        })?;
    }
    for (path, out) in [
        ("pretrained_cfg.mean", &mut config.mean),
        ("pretrained_cfg.std", &mut config.std),
    ] {
        if let Some(values) = numbers(path)? {
            let values: [f64; 3] = values
                .try_into()
                .map_err(|v: Vec<f64>| bad(path, &format!("has {} values, not 3", v.len())))?;
            *out = values.map(|v| v as f32);
        }
    }
    if let Some(n) = whole("num_classes")? {
        config.num_classes = Some(n as usize);
    }
    if let Some(labels) = field("label_names") {
        let labels = labels
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|l| l.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| bad("label_names", "must be a list of strings"))?;
        config.labels = Some(labels);
    }
    config.validate().map_err(|e| match e {
        Error::BadConfig(why) => Error::bad_config(format!("config.json: {why}")),
        other => other,
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PaddingMode;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const V4_SMALL: &str = r#"{
      "architecture": "mobilenetv4_conv_small", "num_classes": 1000, "num_features": 960,
      "global_pool": "avg",
      "model_args": {"in_chans": 3, "num_classes": 1000, "global_pool": "avg"},
      "pretrained_cfg": {
        "tag": "e2400_r224_in1k", "input_size": [3, 224, 224], "test_input_size": [3, 256, 256],
        "interpolation": "bicubic", "crop_pct": 0.95, "crop_mode": "center",
        "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "num_classes": 1000
      }
    }"#;

    #[test]
    fn a_hub_config_describes_network_and_transform() {
        let config = parse_config(V4_SMALL).unwrap();
        assert_eq!(config.arch.name(), "mobilenetv4_conv_small");
        assert_eq!((config.input_size, config.resize_size), (224, 235));
        assert_eq!(config.interpolation, Interpolation::Bicubic);
        assert_eq!((config.mean, config.std), ([0.5; 3], [0.25; 3]));
        assert_eq!(config.num_classes, Some(1000));
        assert_eq!((config.padding, config.bn_eps), (PaddingMode::Torch, 1e-5));
        assert_eq!(config.labels, None);
    }

    #[test]
    fn label_names_are_the_labels() {
        let json = V4_SMALL.replace(
            r#""num_classes": 1000, "num_features""#,
            r#""num_classes": 2, "label_names": ["cat", "dog"], "num_features""#,
        );
        let config = parse_config(&json).unwrap();
        assert_eq!(config.labels, Some(vec!["cat".into(), "dog".into()]));
    }

    #[test]
    fn configs_we_cannot_honour_name_the_field() {
        for (from, to, code, needle) in [
            (
                "\"mobilenetv4_conv_small\"",
                "\"mobilenetv4_hybrid_medium\"",
                "UNKNOWN_ARCH",
                "attention",
            ),
            (
                "\"mobilenetv4_conv_small\"",
                "\"mobilenet_v2\"",
                "BAD_CONFIG",
                "architecture",
            ),
            (
                "\"mobilenetv4_conv_small\"",
                "\"resnet50\"",
                "UNKNOWN_ARCH",
                "resnet50",
            ),
            (
                "\"bicubic\"",
                "\"lanczos\"",
                "BAD_CONFIG",
                "pretrained_cfg.interpolation",
            ),
            (
                "\"center\"",
                "\"squash\"",
                "BAD_CONFIG",
                "pretrained_cfg.crop_mode",
            ),
            (
                "[3, 224, 224]",
                "[3, 224, 192]",
                "BAD_CONFIG",
                "pretrained_cfg.input_size",
            ),
            ("[3, 224, 224]", "[1, 224, 224]", "BAD_CONFIG", "RGB"),
            ("0.95", "1.5", "BAD_CONFIG", "pretrained_cfg.crop_pct"),
            ("0.95", "\"big\"", "BAD_CONFIG", "pretrained_cfg.crop_pct"),
            (
                "[0.5, 0.5, 0.5]",
                "[0.5, 0.5]",
                "BAD_CONFIG",
                "pretrained_cfg.mean",
            ),
            ("[0.25, 0.25, 0.25]", "[0.25, 0, 0.25]", "BAD_CONFIG", "std"),
            (
                "\"global_pool\": \"avg\"",
                "\"global_pool\": \"max\"",
                "BAD_CONFIG",
                "global_pool",
            ),
            (
                "\"in_chans\": 3",
                "\"in_chans\": 1",
                "BAD_CONFIG",
                "model_args.in_chans",
            ),
            (
                "\"num_classes\": 1000, \"num_features\"",
                "\"num_classes\": -1, \"num_features\"",
                "BAD_CONFIG",
                "num_classes",
            ),
        ] {
            let json = V4_SMALL.replacen(from, to, 1);
            assert_ne!(json, V4_SMALL, "{from}");
            let err = parse_config(&json).unwrap_err();
            assert_eq!(err.code(), code, "{to}: {err}");
            assert!(err.to_string().contains(needle), "{to}: {err}");
        }
        assert_eq!(parse_config("<html>").unwrap_err().code(), "BAD_CONFIG");
        let missing = parse_config("{}").unwrap_err();
        assert!(missing.to_string().contains("architecture"), "{missing}");
    }
}
