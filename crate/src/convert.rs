//! Plain checkpoint + options + labels → a self-describing model file (config and labels in the
//! safetensors `__metadata__`), optionally stored as f16 and/or with BatchNorm folded into the convs.

use crate::checkpoint::{write_safetensors, Checkpoint, StoreDtype};
use crate::config::{Compute, ModelConfig};
use crate::error::{Error, Result};
use crate::layers::BatchNorm;
use crate::model::Model;
use crate::models;
use crate::names::{conv_norm_pairs, ConvNames, Layout};

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
    let model = Model::build(&checkpoint, config, Compute::Float32)?;
    let mut config = model.config().clone();
    let pairs = match options.fold_batch_norm {
        true => conv_norm_pairs(&models::spec(&config)?, Layout::of(config.arch))?,
        false => Vec::new(),
    };
    config.bn_folded |= options.fold_batch_norm;
    let fold = options
        .fold_batch_norm
        .then_some((&pairs[..], config.bn_eps));
    let tensors = tensors_to_store(&checkpoint, fold)?;
    let bytes = write_safetensors(&tensors, options.dtype, config.to_metadata())?;
    // Whatever was written must load on its own, as the architecture it claims to be.
    let model = Model::from_safetensors(&bytes, None)?;
    Ok(Converted { bytes, model })
}

type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// The checkpoint's tensors sorted by name, with every BatchNorm folded into the conv before it
/// when `fold` gives the pairs (as the layout names them) and the eps.
fn tensors_to_store(
    checkpoint: &Checkpoint,
    fold: Option<(&[ConvNames], f64)>,
) -> Result<Vec<NamedTensor>> {
    let mut stored = Vec::new();
    let mut consumed = std::collections::HashSet::new();
    if let Some((pairs, eps)) = fold {
        for ConvNames { conv, bn } in pairs {
            let weight_name = format!("{conv}.weight");
            let (shape, mut values) = checkpoint.read(&weight_name)?;
            let params = BatchNorm::read(bn, eps, |suffix| {
                Ok(checkpoint.read(&format!("{bn}.{suffix}"))?.1)
            })?;
            let bias = params.fold_into(&mut values)?;
            stored.push((weight_name.clone(), shape, values));
            stored.push((format!("{conv}.bias"), vec![bias.len()], bias));
            consumed.insert(weight_name);
            for suffix in ["weight", "bias", "running_mean", "running_var"] {
                consumed.insert(format!("{bn}.{suffix}"));
            }
        }
    }
    for name in checkpoint.names() {
        if !consumed.contains(name) {
            let (shape, values) = checkpoint.read(name)?;
            stored.push((name.to_string(), shape, values));
        }
    }
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(stored)
}
