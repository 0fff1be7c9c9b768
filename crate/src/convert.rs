//! Plain checkpoint + options + labels → a self-describing model file (config and labels in the
//! safetensors `__metadata__`), optionally stored as f16 and/or with BatchNorm folded into the convs.

use crate::checkpoint::{write_safetensors, Checkpoint, StoreDtype};
use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::layers::BatchNorm;
use crate::model::Model;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvertOptions {
    pub dtype: StoreDtype,
    /// Store `conv.weight`/`conv.bias` with BatchNorm folded in and drop the BatchNorm tensors.
    pub fold_batch_norm: bool,
}

/// A converted file and what was checked on the way.
pub struct Converted {
    pub bytes: Vec<u8>,
    pub model: Model,
}

/// Builds the model from `source` with `config` (so any missing or mis-shaped tensor is reported by
/// name before anything is written) and serialises it self-describing.
pub fn convert(source: &[u8], config: ModelConfig, options: ConvertOptions) -> Result<Converted> {
    let checkpoint = Checkpoint::from_bytes(source)?;
    if config.bn_folded && options.fold_batch_norm {
        return Err(Error::bad_config(
            "the checkpoint's BatchNorm is already folded",
        ));
    }
    // Validates names and shapes against the architecture.
    let model = Model::from_checkpoint(&checkpoint, config)?;
    let mut config = model.config().clone();
    config.bn_folded |= options.fold_batch_norm;
    let fold_eps = options.fold_batch_norm.then_some(config.bn_eps);
    let tensors = tensors_to_store(&checkpoint, fold_eps)?;
    let bytes = write_safetensors(&tensors, options.dtype, config.to_metadata())?;
    // Whatever was written must load on its own, as the architecture it claims to be.
    let model = Model::from_safetensors(&bytes, None)?;
    Ok(Converted { bytes, model })
}

type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// The checkpoint's tensors sorted by name, with every BatchNorm folded into the conv it follows
/// when `fold_eps` is given. In the torchvision layouts a BatchNorm at `P.{i}` normalises the conv at
/// `P.{i-1}` (`X.0`/`X.1` in `Conv2dNormActivation`, `conv.2`/`conv.3` for V2's project conv).
fn tensors_to_store(checkpoint: &Checkpoint, fold_eps: Option<f64>) -> Result<Vec<NamedTensor>> {
    let mut names: Vec<&str> = checkpoint.names().collect();
    names.sort_unstable();
    // Without folding there are no BatchNorms to visit, so no eps is needed.
    let (bn_prefixes, eps): (Vec<&str>, f64) = match fold_eps {
        Some(eps) => (
            names
                .iter()
                .filter_map(|n| n.strip_suffix(".running_var"))
                .collect(),
            eps,
        ),
        None => (Vec::new(), 0.0),
    };
    let mut folded = Vec::new();
    let mut consumed = std::collections::HashSet::new();
    for bn in &bn_prefixes {
        let conv = preceding_module(bn).ok_or_else(|| {
            Error::bad_model(format!("BatchNorm `{bn}` follows no numbered conv"))
        })?;
        let weight_name = format!("{conv}.weight");
        let (shape, mut values) = checkpoint.read(&weight_name)?;
        let params = BatchNorm::read(bn, eps, |suffix| {
            Ok(checkpoint.read(&format!("{bn}.{suffix}"))?.1)
        })?;
        let bias = params.fold_into(&mut values);
        folded.push((weight_name.clone(), shape, values));
        folded.push((format!("{conv}.bias"), vec![bias.len()], bias));
        consumed.insert(weight_name);
        for suffix in ["weight", "bias", "running_mean", "running_var"] {
            consumed.insert(format!("{bn}.{suffix}"));
        }
    }
    for name in names {
        if !consumed.contains(name) {
            let (shape, values) = checkpoint.read(name)?;
            folded.push((name.to_string(), shape, values));
        }
    }
    folded.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(folded)
}

/// `features.3.conv.3` → `features.3.conv.2`
fn preceding_module(prefix: &str) -> Option<String> {
    let (parent, last) = prefix.rsplit_once('.')?;
    let index: usize = last.parse().ok()?;
    Some(format!("{parent}.{}", index.checked_sub(1)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn preceding_module_names() {
        assert_eq!(
            preceding_module("features.3.conv.3").as_deref(),
            Some("features.3.conv.2")
        );
        assert_eq!(
            preceding_module("features.0.1").as_deref(),
            Some("features.0.0")
        );
        assert_eq!(preceding_module("features.0.0"), None);
        assert_eq!(preceding_module("bn"), None);
    }
}
