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

/// Buffers PyTorch keeps in a `state_dict` that inference never reads.
const IGNORED_SUFFIXES: [&str; 1] = ["num_batches_tracked"];

pub struct Checkpoint {
    tensors: HashMap<String, Tensor>,
    metadata: HashMap<String, String>,
}

impl Checkpoint {
    /// Parses a safetensors file. Every failure (empty, truncated, corrupt header, bad offsets,
    /// unsupported dtype, non-finite values) is a [`Error::BadModel`] that says what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::bad_model("the file is empty"));
        }
        let not_safetensors =
            |e| Error::bad_model(format!("not a safetensors file or truncated ({e})"));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(not_safetensors)?;
        let st = SafeTensors::deserialize(bytes).map_err(not_safetensors)?;
        if st.is_empty() {
            return Err(Error::bad_model("the file holds no tensors"));
        }
        let mut tensors = HashMap::with_capacity(st.len());
        for (name, view) in st.iter() {
            if IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                continue;
            }
            let values = to_f32(name, &view)?;
            if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
                return Err(Error::bad_model(format!(
                    "tensor `{name}` holds a non-finite value at index {pos}"
                )));
            }
            let tensor = Tensor::from_vec(values, view.shape(), &Device::Cpu)?;
            tensors.insert(name.to_string(), tensor);
        }
        let metadata = header.metadata().clone().unwrap_or_default();
        Ok(Checkpoint { tensors, metadata })
    }

    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
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
                let values = t.flatten_all()?.to_vec1::<f32>()?;
                Ok((name, (t.dims().to_vec(), values)))
            })
            .collect()
    }

    /// A `VarBuilder` over this checkpoint and the record of the names it handed out.
    pub fn var_builder(&self) -> (VarBuilder<'static>, Usage) {
        let usage = Usage::default();
        let backend = Backend {
            tensors: self.tensors.clone(),
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

struct Backend {
    tensors: HashMap<String, Tensor>,
    used: Arc<Mutex<HashSet<String>>>,
}

impl Backend {
    fn fetch(&self, name: &str) -> candle_core::Result<Tensor> {
        let tensor =
            self.tensors
                .get(name)
                .ok_or_else(|| candle_core::Error::CannotFindTensor {
                    path: name.to_string(),
                })?;
        if let Ok(mut used) = self.used.lock() {
            used.insert(name.to_string());
        }
        Ok(tensor.clone())
    }
}

impl SimpleBackend for Backend {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _init: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let tensor = self.fetch(name)?;
        if tensor.shape() != &shape {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("{TENSOR_TAG}{name}"),
                expected: shape,
                got: tensor.shape().clone(),
            });
        }
        tensor.to_dtype(dtype)?.to_device(dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.fetch(name)?.to_dtype(dtype)?.to_device(dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

fn to_f32(name: &str, view: &TensorView<'_>) -> Result<Vec<f32>> {
    let data = view.data();
    let values = match view.dtype() {
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
        other => {
            return Err(Error::bad_model(format!(
                "tensor `{name}` has dtype {other:?}; only F32, F16, BF16 and F64 are supported"
            )))
        }
    };
    Ok(values)
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
        let ck = Checkpoint::from_bytes(&sample()).unwrap();
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
    fn non_finite_values_are_rejected() {
        let bytes = write_safetensors(
            &[("w".into(), vec![2], vec![1.0, f32::NAN])],
            StoreDtype::F32,
            HashMap::new(),
        )
        .unwrap();
        let err = Checkpoint::from_bytes(&bytes).err().unwrap();
        assert!(err.to_string().contains("`w`"), "{err}");
    }

    #[test]
    fn var_builder_reports_missing_and_misshaped_tensors_by_name() {
        let ck = Checkpoint::from_bytes(&sample()).unwrap();
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
