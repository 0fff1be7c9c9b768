//! A head appended to a model file: one self-describing classifier of the custom classes.

use safetensors::tensor::{Dtype, TensorView};

use crate::checkpoint::Checkpoint;
use crate::config::{LoadOptions, ModelConfig};
use crate::error::{Error, Result};
use crate::head::{Head, HEAD_PREFIX};
use crate::model::Model;
use crate::preprocess::Pixels;

/// A model file with a head appended: `model_file` (the safetensors file `backbone` was loaded
/// from) keeps its tensors byte for byte, gains the head's `head.*` tensors and metadata, and
/// `backbone`'s config in the metadata (so a plain checkpoint becomes self-describing). The result
/// is checked to load and to embed exactly as `backbone` does: a different file is refused.
pub fn combine(model_file: &[u8], backbone: &Model, head: &Head) -> Result<Vec<u8>> {
    backbone.backbone().ensure_same(head.backbone())?;
    head.ensure_classes()?;
    if !head.is_trained() {
        return Err(Error::NotTrained(
            "the head cannot classify yet: train it (or add examples) first".into(),
        ));
    }
    let combined = append_head(model_file, backbone.config(), head)?;
    let not_the_backbone = |why: String| {
        Error::HeadMismatch(format!(
            "the model file is not the one this classifier was loaded from ({why})"
        ))
    };
    let reloaded = Model::load(&combined, &LoadOptions::default())
        .map_err(|e| not_the_backbone(e.to_string()))?;
    let side = backbone.config().input_size;
    let probe: Vec<u8> = (0..side * side * 4).map(|i| (i * 37 % 251) as u8).collect();
    let pixels = Pixels::rgba(&probe, side, side);
    if reloaded.embed(&pixels)? != backbone.embed(&pixels)? {
        return Err(not_the_backbone("it computes other features".into()));
    }
    Ok(combined)
}

fn append_head(model: &[u8], config: &ModelConfig, head: &Head) -> Result<Vec<u8>> {
    let checkpoint = Checkpoint::from_bytes(model)?;
    let (head_tensors, head_metadata) = head.tensors(true)?;
    let mut stored: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for name in checkpoint.names() {
        if name.starts_with(HEAD_PREFIX) {
            continue; // a previous head: replaced
        }
        let (dtype, shape, bytes) = checkpoint.raw(name)?;
        stored.push((name.to_string(), dtype, shape, bytes));
    }
    for (name, shape, values) in head_tensors {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        stored.push((name, Dtype::F32, shape, bytes));
    }
    let views = stored
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(*dtype, shape.clone(), bytes)
                .map_err(|e| Error::Internal(format!("tensor `{name}`: {e}")))?;
            Ok((name.as_str(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut metadata = config.to_metadata();
    metadata.extend(head_metadata);
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| Error::Internal(format!("serialising safetensors: {e}")))
}
