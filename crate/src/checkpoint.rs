//! Reading and writing safetensors checkpoints.
//!
//! A [`Checkpoint`] holds every tensor as f32 (f16/bf16/f64 files are widened on load) and hands the
//! model builders a candle `VarBuilder` whose paths are the PyTorch `state_dict` names. The backend
//! records which tensors were read so that a checkpoint with tensors the architecture never asked
//! for, a sure sign of the wrong architecture, is refused instead of silently half-used.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result, TENSOR_TAG};
use crate::kernels::simd::F32x4;

/// Buffers PyTorch keeps in a `state_dict` that inference never reads.
const IGNORED_SUFFIXES: [&str; 1] = ["num_batches_tracked"];

/// A parsed safetensors file whose tensors stay as bytes in the caller's buffer until a builder
/// reads them: a load then holds the file and the model's own weights, not a third f32 copy of
/// everything. (In the browser every megabyte a load touches first costs about a millisecond.)
pub struct Checkpoint<'a> {
    tensors: HashMap<String, StoredTensor<'a>>,
    metadata: HashMap<String, String>,
}

struct StoredTensor<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: &'a [u8],
}

impl StoredTensor<'_> {
    fn to_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_vec(
            to_f32(self.dtype, self.data),
            self.shape.as_slice(),
            &Device::Cpu,
        )?)
    }
}

impl<'a> Checkpoint<'a> {
    /// Parses a safetensors file. Every failure (empty, truncated, corrupt header, bad offsets,
    /// unsupported dtype, non-finite values) is a [`Error::BadModel`] that says what is wrong.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::bad_model("the file is empty"));
        }
        let not_safetensors =
            |e| Error::bad_model(format!("not a safetensors file or truncated ({e})"));
        let (header_len, header) = SafeTensors::read_metadata(bytes).map_err(not_safetensors)?;
        // `read_metadata` checked that the offsets tile exactly the bytes after the header.
        let data = &bytes[HEADER_LENGTH_BYTES + header_len..];
        let infos = header.tensors();
        if infos.is_empty() {
            return Err(Error::bad_model("the file holds no tensors"));
        }
        let mut tensors = HashMap::with_capacity(infos.len());
        for (name, info) in infos {
            if IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                continue;
            }
            let (start, end) = info.data_offsets;
            let tensor = StoredTensor {
                dtype: info.dtype,
                shape: info.shape.clone(),
                data: &data[start..end],
            };
            if !matches!(
                tensor.dtype,
                Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64
            ) {
                return Err(Error::bad_model(format!(
                    "tensor `{name}` has dtype {:?}; only F32, F16, BF16 and F64 are supported",
                    tensor.dtype
                )));
            }
            if let Some(pos) = first_non_finite(tensor.dtype, tensor.data) {
                return Err(Error::bad_model(format!(
                    "tensor `{name}` holds a non-finite value at index {pos}"
                )));
            }
            tensors.insert(name, tensor);
        }
        let metadata = header.metadata().clone().unwrap_or_default();
        Ok(Checkpoint { tensors, metadata })
    }

    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The tensor `name` as f32, converted from the file's bytes on each call.
    pub fn tensor(&self, name: &str) -> Option<Tensor> {
        self.tensors
            .get(name)
            .map(|t| t.to_tensor().expect("dtype and size checked when parsed"))
    }

    /// How many values the tensor `name` holds, without reading them.
    pub fn elem_count(&self, name: &str) -> Option<usize> {
        self.tensors.get(name).map(|t| t.shape.iter().product())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Removes and returns the tensors whose names start with `prefix`, as shapes and values.
    #[allow(clippy::type_complexity)]
    pub fn take_prefixed(
        &mut self,
        prefix: &str,
    ) -> Result<HashMap<String, (Vec<usize>, Vec<f32>)>> {
        let names: Vec<String> = self
            .tensors
            .keys()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect();
        names
            .into_iter()
            .map(|name| {
                let t = self.tensors.remove(&name).expect("listed above");
                Ok((name, (t.shape, to_f32(t.dtype, t.data))))
            })
            .collect()
    }

    /// A `VarBuilder` over this checkpoint and the record of the names it handed out.
    pub fn var_builder(&self) -> (VarBuilder<'_>, Usage) {
        let usage = Usage::default();
        let backend = Backend {
            checkpoint: self,
            used: usage.0.clone(),
        };
        let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, Device::Cpu);
        (vb, usage)
    }
}

/// The names a model builder read from a checkpoint.
#[derive(Clone, Default)]
pub struct Usage(Arc<Mutex<HashSet<String>>>);

impl Usage {
    /// Fails when the checkpoint holds tensors the builder never read.
    pub fn ensure_all_used(&self, checkpoint: &Checkpoint) -> Result<()> {
        let used = self
            .0
            .lock()
            .map_err(|_| Error::Internal("poisoned".into()))?;
        let mut unused: Vec<&str> = checkpoint.names().filter(|n| !used.contains(*n)).collect();
        unused.sort_unstable();
        match unused.first() {
            None => Ok(()),
            Some(first) => Err(Error::UnusedTensors {
                count: unused.len(),
                example: first.to_string(),
            }),
        }
    }
}

struct Backend<'c, 'a> {
    checkpoint: &'c Checkpoint<'a>,
    used: Arc<Mutex<HashSet<String>>>,
}

impl Backend<'_, '_> {
    /// The tensor `name`, which counts as read from now on.
    fn stored(&self, name: &str) -> candle_core::Result<&StoredTensor<'_>> {
        let stored = self.checkpoint.tensors.get(name).ok_or_else(|| {
            candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            }
        })?;
        if let Ok(mut used) = self.used.lock() {
            used.insert(name.to_string());
        }
        Ok(stored)
    }

    fn fetch(&self, name: &str) -> candle_core::Result<Tensor> {
        self.stored(name)?
            .to_tensor()
            .map_err(candle_core::Error::wrap)
    }
}

impl SimpleBackend for Backend<'_, '_> {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _init: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        // The shape is checked before the values are converted.
        let stored = self.stored(name)?;
        if stored.shape.as_slice() != shape.dims() {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("{TENSOR_TAG}{name}"),
                expected: shape,
                got: Shape::from(stored.shape.clone()),
            });
        }
        stored
            .to_tensor()
            .map_err(candle_core::Error::wrap)?
            .to_dtype(dtype)?
            .to_device(dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.fetch(name)?.to_dtype(dtype)?.to_device(dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.checkpoint.tensors.contains_key(name)
    }
}

/// Bytes before a safetensors header: its length as a little-endian u64.
const HEADER_LENGTH_BYTES: usize = 8;

/// Index of the first NaN or infinity among the values `data` stores as `dtype`. Loading runs once,
/// before the browser has optimised the code, so nothing is widened here: f32 (the common case) is
/// scanned 4 lanes at a time in place (`x · 0` is NaN exactly for non-finite `x`), f16 and bf16 by
/// their exponent bits (their finite values stay finite as f32). Only f64, whose finite values may
/// overflow f32, is converted first.
fn first_non_finite(dtype: Dtype, data: &[u8]) -> Option<usize> {
    let exponent_all_ones = |mask: u16| {
        data.chunks_exact(2)
            .position(|b| u16::from_le_bytes([b[0], b[1]]) & mask == mask)
    };
    match dtype {
        Dtype::F16 => return exponent_all_ones(0x7c00),
        Dtype::BF16 => return exponent_all_ones(0x7f80),
        Dtype::F32 => {}
        _ => return to_f32(dtype, data).iter().position(|v| !v.is_finite()),
    }
    let zero = F32x4::splat(0.0);
    let mut poison = zero;
    let whole = data.len() / 16 * 16;
    for i in (0..whole).step_by(16) {
        poison = poison + F32x4::from_le_bytes(data, i) * zero;
    }
    let mut lanes = [0.0; 4];
    poison.store(&mut lanes, 0);
    let values = || {
        data.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if lanes == [0.0; 4] && values().skip(whole / 4).all(f32::is_finite) {
        return None;
    }
    values().position(|v| !v.is_finite())
}

/// The values `data` stores as `dtype` (one of the four checked when parsing), widened to f32.
fn to_f32(dtype: Dtype, data: &[u8]) -> Vec<f32> {
    match dtype {
        // Little-endian f32 bytes are the values already: one bulk copy, not a loop.
        Dtype::F32 if cfg!(target_endian = "little") => {
            let count = data.len() / 4;
            let mut values = Vec::<f32>::with_capacity(count);
            // SAFETY: the destination has room for `count` f32s (`4 · count` bytes, all copied
            // before `set_len`), the regions do not overlap, and every bit pattern is an f32.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    data.as_ptr(),
                    values.as_mut_ptr() as *mut u8,
                    count * 4,
                );
                values.set_len(count);
            }
            values
        }
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        other => unreachable!("dtype {other:?} is refused when parsing"),
    }
}

/// How tensors are stored when writing a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDtype {
    F32,
    F16,
}

/// Serialises named f32 tensors (name, shape, values) into a safetensors file with `metadata`.
pub fn write_safetensors(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    dtype: StoreDtype,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, values)| match dtype {
            StoreDtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            StoreDtype::F16 => values
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
        })
        .collect();
    let st_dtype = match dtype {
        StoreDtype::F32 => Dtype::F32,
        StoreDtype::F16 => Dtype::F16,
    };
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            TensorView::new(st_dtype, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| Error::Internal(format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| Error::Internal(format!("serialising safetensors: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn sample() -> Vec<u8> {
        write_safetensors(
            &[
                ("a.weight".into(), vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
                ("a.bias".into(), vec![2], vec![0.5, -0.5]),
            ],
            StoreDtype::F16,
            HashMap::from([("k".to_string(), "v".to_string())]),
        )
        .unwrap()
    }

    #[test]
    fn round_trip_f16() {
        let bytes = sample();
        let ck = Checkpoint::from_bytes(&bytes).unwrap();
        assert_eq!(ck.metadata()["k"], "v");
        let w = ck.tensor("a.weight").unwrap();
        assert_eq!(w.dims(), &[2, 2]);
        assert_eq!(
            w.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [1.0, 2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn empty_truncated_and_garbage_files_are_bad_models() {
        let good = sample();
        for bad in [
            Vec::new(),
            good[..good.len() - 3].to_vec(),
            good[..5].to_vec(),
            b"definitely not a safetensors file".to_vec(),
            u64::MAX.to_le_bytes().to_vec(),
        ] {
            let err = Checkpoint::from_bytes(&bad).err().unwrap();
            assert_eq!(err.code(), "BAD_MODEL", "{err}");
        }
    }

    #[test]
    fn non_finite_values_are_rejected_at_their_index() {
        // Inside the 4-lane scan and in the tail after it, in f32 and in f16.
        for (len, at, bad) in [
            (2, 1, f32::NAN),
            (13, 5, f32::INFINITY),
            (13, 12, f32::NEG_INFINITY),
            (64, 0, f32::NAN),
        ] {
            let mut values: Vec<f32> = (0..len).map(|i| i as f32 - 3.5).collect();
            values[at] = bad;
            for dtype in [StoreDtype::F32, StoreDtype::F16] {
                let bytes = write_safetensors(
                    &[("w".into(), vec![len], values.clone())],
                    dtype,
                    HashMap::new(),
                )
                .unwrap();
                let err = Checkpoint::from_bytes(&bytes).err().unwrap();
                assert_eq!(err.code(), "BAD_MODEL");
                let expected = format!("tensor `w` holds a non-finite value at index {at}");
                assert!(err.to_string().contains(&expected), "{dtype:?}: {err}");
            }
        }
        let finite: Vec<f32> = (0..13).map(|i| i as f32 * 1e30).collect();
        let bytes = write_safetensors(
            &[("w".into(), vec![13], finite.clone())],
            StoreDtype::F32,
            HashMap::new(),
        )
        .unwrap();
        let ck = Checkpoint::from_bytes(&bytes).unwrap();
        assert_eq!(ck.tensor("w").unwrap().to_vec1::<f32>().unwrap(), finite);
    }

    #[test]
    fn non_finite_bf16_values_are_rejected_at_their_index() {
        // bf16 is an f32's upper half; the file is made by hand (the writer stores f32 or f16).
        let bf16 = |values: &[f32]| -> Vec<u8> {
            let bytes: Vec<u8> = values
                .iter()
                .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
                .collect();
            let view = TensorView::new(Dtype::BF16, vec![values.len()], &bytes).unwrap();
            safetensors::tensor::serialize([("w", view)], None).unwrap()
        };
        let finite = [1.5, -2.0, 2.0f32.powi(127), 0.0, -0.25];
        let ck_bytes = bf16(&finite);
        let ck = Checkpoint::from_bytes(&ck_bytes).unwrap();
        assert_eq!(ck.tensor("w").unwrap().to_vec1::<f32>().unwrap(), finite);
        for (at, bad) in [(0, f32::NAN), (3, f32::INFINITY), (4, f32::NEG_INFINITY)] {
            let mut values = finite;
            values[at] = bad;
            let err = Checkpoint::from_bytes(&bf16(&values)).err().unwrap();
            let expected = format!("tensor `w` holds a non-finite value at index {at}");
            assert!(err.to_string().contains(&expected), "{err}");
        }
    }

    #[test]
    fn var_builder_reports_missing_and_misshaped_tensors_by_name() {
        let bytes = sample();
        let ck = Checkpoint::from_bytes(&bytes).unwrap();
        let (vb, usage) = ck.var_builder();
        let err = Error::from(vb.pp("a").get((3, 2), "weight").unwrap_err());
        assert_eq!(
            err,
            Error::TensorShape {
                name: "a.weight".into(),
                expected: vec![3, 2],
                actual: vec![2, 2]
            }
        );
        let err = Error::from(vb.pp("b").get(2, "bias").unwrap_err());
        assert_eq!(
            err,
            Error::MissingTensor {
                name: "b.bias".into()
            }
        );
        assert_eq!(
            usage.ensure_all_used(&ck).unwrap_err().code(),
            "UNUSED_TENSORS"
        );
        vb.pp("a").get(2, "bias").unwrap();
        usage.ensure_all_used(&ck).unwrap();
    }
}
