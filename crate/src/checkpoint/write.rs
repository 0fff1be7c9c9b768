//! Writing safetensors files: f32 tensors stored as f32, f16, or int8 weights with per-channel
//! scales (see [`super::int8`]).

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};

use super::int8;
use crate::error::{Error, Result};

/// How tensors are stored when writing a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDtype {
    F32,
    F16,
    /// Convolution and fully connected weights as int8 with an f32 scale per output channel
    /// (about a quarter of the size); every other tensor as f32.
    Int8,
}

/// Serialises named f32 tensors (name, shape, values) into a safetensors file with `metadata`.
pub fn write_safetensors(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    dtype: StoreDtype,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let mut stored: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    let f32_bytes = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (name, shape, values) in tensors {
        match dtype {
            StoreDtype::F32 => {
                stored.push((name.clone(), Dtype::F32, shape.clone(), f32_bytes(values)))
            }
            StoreDtype::F16 => {
                let bytes = values
                    .iter()
                    .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                    .collect();
                stored.push((name.clone(), Dtype::F16, shape.clone(), bytes));
            }
            StoreDtype::Int8 if int8::quantizes(name, shape) => {
                let (q, scales) = int8::quantize(values, shape[0]);
                let bytes = q.iter().map(|&v| v as u8).collect();
                stored.push((name.clone(), Dtype::I8, shape.clone(), bytes));
                let scales_bytes = f32_bytes(&scales);
                stored.push((
                    int8::scale_name(name),
                    Dtype::F32,
                    vec![shape[0]],
                    scales_bytes,
                ));
            }
            StoreDtype::Int8 => {
                stored.push((name.clone(), Dtype::F32, shape.clone(), f32_bytes(values)))
            }
        }
    }
    let views = stored
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| Error::Internal(format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| Error::Internal(format!("serialising safetensors: {e}")))
}
