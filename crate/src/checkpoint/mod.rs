//! Reading and writing safetensors checkpoints.
//!
//! A [`Checkpoint`] parses the header and leaves the tensors where the file is (a byte slice, or in
//! the browser the caller's JS buffer). Model builders read them through [`Weights`], a path in the
//! PyTorch `state_dict` names, each tensor copied once, straight into the `Vec<f32>` its layer keeps:
//! in the browser every megabyte a first load touches costs about a millisecond, so the file is not
//! first copied whole into WebAssembly memory and values are not copied again through candle tensors.
//! The names read are recorded, so that a checkpoint with tensors the architecture never asked for,
//! a sure sign of the wrong architecture, is refused instead of silently half-used.

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::rc::Rc;

use safetensors::tensor::Dtype;

use crate::error::{Error, Result};
use crate::kernels::finite::first_non_finite;

pub mod header;
pub mod int8;
mod write;

pub use write::{write_safetensors, StoreDtype};

/// Buffers PyTorch keeps in a `state_dict` that inference never reads.
const IGNORED_SUFFIXES: [&str; 1] = ["num_batches_tracked"];

/// Where a checkpoint's bytes are.
pub trait ByteSource {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the `out.len()` bytes at `start` (in range: callers check) into `out`.
    fn read_into(&self, start: usize, out: &mut [MaybeUninit<u8>]);

    /// The `len` bytes at `start`.
    fn read_vec(&self, start: usize, len: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(len);
        self.read_into(start, &mut bytes.spare_capacity_mut()[..len]);
        // SAFETY: `read_into` initialised the first `len` bytes.
        unsafe { bytes.set_len(len) };
        bytes
    }
}

impl ByteSource for &[u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn read_into(&self, start: usize, out: &mut [MaybeUninit<u8>]) {
        let source = &self[start..start + out.len()];
        // SAFETY: `out` has room for `source.len()` bytes, and a shared and a unique borrow never
        // overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(source.as_ptr(), out.as_mut_ptr().cast(), source.len())
        }
    }
}

/// A parsed safetensors file; its tensors stay in the source until read.
pub struct Checkpoint<'a> {
    source: Box<dyn ByteSource + 'a>,
    /// Sorted by name.
    tensors: Vec<StoredTensor>,
    metadata: HashMap<String, String>,
}

struct StoredTensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    /// Offset of the first byte in the source.
    start: usize,
    bytes: usize,
}

/// safetensors' bound on the header (100 MB), against a corrupt length allocating gigabytes.
const MAX_HEADER_BYTES: usize = 100_000_000;

/// Values checked for non-finite ones per call.
const SCAN_CHUNK: usize = 1 << 14;

/// Bytes before a safetensors header: its length as a little-endian u64.
const HEADER_LENGTH_BYTES: usize = 8;

/// Bytes looked at to name a file of another format.
const SNIFF_BYTES: usize = 16;

/// What a file that is not safetensors looks like, from its first bytes, where that is clear.
/// A safetensors file starts with its header's length (a little-endian u64, so its high bytes are
/// zero for any real header) and then `{`.
fn other_format(start: &[u8]) -> Option<&'static str> {
    let text = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
    let first = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| text[i]);
    if start.starts_with(b"PK\x03\x04") {
        return Some("a ZIP archive (a PyTorch .pt/.pth file? convert it to safetensors)");
    }
    if start.get(4..8) == Some(b"TFL3") {
        return Some("a TensorFlow Lite model");
    }
    if start.len() >= HEADER_LENGTH_BYTES
        && start[..HEADER_LENGTH_BYTES]
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        return Some(match first {
            Some(b'<') => "an HTML or XML page (an error page, or the wrong URL?)",
            Some(b'{' | b'[') => "JSON text (a config.json rather than the model?)",
            _ => "text, not a binary model file",
        });
    }
    None
}

impl<'a> Checkpoint<'a> {
    /// Parses a safetensors file in memory.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::from_source(Box::new(bytes))
    }

    /// Parses the header of the safetensors file in `source`. Every failure (empty, truncated,
    /// corrupt header, bad offsets, unsupported dtype) is a [`Error::BadModel`] that says what is
    /// wrong; non-finite values are found as tensors are read.
    pub fn from_source(source: Box<dyn ByteSource + 'a>) -> Result<Self> {
        if source.is_empty() {
            return Err(Error::bad_model("the file is empty"));
        }
        let not_safetensors = |why: &dyn std::fmt::Display| {
            Error::bad_model(format!("not a safetensors file or truncated ({why})"))
        };
        if source.len() < HEADER_LENGTH_BYTES {
            return Err(not_safetensors(&"shorter than the 8-byte header length"));
        }
        let length = source.read_vec(0, HEADER_LENGTH_BYTES);
        // A file that is something else (an HTML error page, a .pt archive) is named as such: its
        // first bytes read as a length would only give a baffling number.
        let start = source.read_vec(0, source.len().min(SNIFF_BYTES));
        if let Some(kind) = other_format(&start) {
            return Err(Error::bad_model(format!(
                "not a safetensors file: it looks like {kind}"
            )));
        }
        let header_len = u64::from_le_bytes(length.try_into().expect("8 bytes"));
        let header_len = usize::try_from(header_len)
            .ok()
            .filter(|&n| n <= MAX_HEADER_BYTES)
            .ok_or_else(|| not_safetensors(&format!("header length {header_len} is too large")))?;
        let data_start = HEADER_LENGTH_BYTES + header_len;
        if data_start > source.len() {
            return Err(not_safetensors(&format!(
                "header length {header_len} runs past the end of the file"
            )));
        }
        let header = source.read_vec(HEADER_LENGTH_BYTES, header_len);
        let header = std::str::from_utf8(&header)
            .map_err(|e| not_safetensors(&format!("header is not UTF-8: {e}")))?;
        let header = header::parse(header).map_err(|e| not_safetensors(&e))?;
        if data_start.checked_add(header.data_len) != Some(source.len()) {
            return Err(not_safetensors(&format!(
                "the header describes {} bytes of data, the file holds {}",
                header.data_len,
                source.len() - data_start
            )));
        }
        if header.tensors.is_empty() {
            return Err(Error::bad_model("the file holds no tensors"));
        }
        let mut tensors = Vec::with_capacity(header.tensors.len());
        for entry in header.tensors {
            let name = entry.name;
            if IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                continue;
            }
            if !matches!(
                entry.dtype,
                Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64 | Dtype::I8
            ) {
                return Err(Error::bad_model(format!(
                    "tensor `{name}` has dtype {:?}; only F32, F16, BF16, F64 and I8 (with \
                     scales) are supported",
                    entry.dtype
                )));
            }
            let (start, end) = entry.offsets;
            tensors.push(StoredTensor {
                name,
                dtype: entry.dtype,
                shape: entry.shape,
                start: data_start + start,
                bytes: end - start,
            });
        }
        tensors.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let metadata = header.metadata;
        let checkpoint = Checkpoint {
            source,
            tensors,
            metadata,
        };
        checkpoint.check_int8_scales()?;
        Ok(checkpoint)
    }

    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// Every int8 tensor has its scales beside it: an f32 per row of its first dimension.
    fn check_int8_scales(&self) -> Result<()> {
        for tensor in self.tensors.iter().filter(|t| t.dtype == Dtype::I8) {
            let name = &tensor.name;
            let scales = int8::scale_name(name);
            let fits = self
                .index(&scales)
                .map(|i| &self.tensors[i])
                .is_some_and(|s| {
                    s.dtype == Dtype::F32 && tensor.shape.first().is_some_and(|&r| s.shape == [r])
                });
            if !fits {
                return Err(Error::bad_model(format!(
                    "int8 tensor `{name}` needs its scales as `{scales}`: f32, one per row of \
                     its first dimension ({:?})",
                    tensor.shape.first()
                )));
            }
        }
        Ok(())
    }

    /// Whether any tensor is stored as int8.
    pub fn has_int8(&self) -> bool {
        self.names().any(|n| self.dtype(n) == Some(Dtype::I8))
    }

    /// Whether `name` is the scales of an int8 tensor: part of it, not a parameter of its own.
    pub fn is_int8_scales(&self, name: &str) -> bool {
        name.strip_suffix(int8::SCALE_SUFFIX)
            .is_some_and(|base| self.dtype(base) == Some(Dtype::I8))
    }

    /// The shape and values (as f32) of the tensor `name`, read from the source on each call.
    pub fn read(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (_, stored) = self.stored(name)?;
        Ok((stored.shape.clone(), self.values(name, stored)?))
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.tensors
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
    }

    /// The tensor `name` and its index.
    fn stored(&self, name: &str) -> Result<(usize, &StoredTensor)> {
        self.index(name)
            .map(|i| (i, &self.tensors[i]))
            .ok_or_else(|| Error::MissingTensor {
                name: name.to_string(),
            })
    }

    /// The values of `stored` widened to f32, refused if any is not finite. Little-endian f32 data
    /// is copied straight into the result; other dtypes go through their bytes.
    fn values(&self, name: &str, stored: &StoredTensor) -> Result<Vec<f32>> {
        let values = match stored.dtype {
            Dtype::F32 if cfg!(target_endian = "little") => {
                let count = stored.bytes / 4;
                let mut values = Vec::<f32>::with_capacity(count);
                let spare = &mut values.spare_capacity_mut()[..count];
                // SAFETY: the same memory seen as bytes: `MaybeUninit<u8>` has no alignment or
                // validity requirement.
                let bytes = unsafe {
                    std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast(), stored.bytes)
                };
                self.source.read_into(stored.start, bytes);
                // SAFETY: every byte of the first `count` values was written, and every bit
                // pattern is an f32.
                unsafe { values.set_len(count) };
                values
            }
            Dtype::I8 => {
                let (_, scales) = self.read(&int8::scale_name(name))?;
                let q = self.source.read_vec(stored.start, stored.bytes);
                int8::dequantize(name, &q, &scales)?
            }
            dtype => to_f32(dtype, &self.source.read_vec(stored.start, stored.bytes)),
        };
        // Scanned a chunk per call: a first load runs this before V8 has optimised it, and only a
        // new call switches to the optimised code V8 compiles meanwhile.
        let non_finite = values
            .chunks(SCAN_CHUNK)
            .enumerate()
            .find_map(|(k, chunk)| first_non_finite(chunk).map(|i| k * SCAN_CHUNK + i));
        match non_finite {
            None => Ok(values),
            Some(pos) => Err(Error::bad_model(format!(
                "tensor `{name}` holds a non-finite value at index {pos}"
            ))),
        }
    }

    /// How many values the tensor `name` holds, without reading them.
    pub fn elem_count(&self, name: &str) -> Option<usize> {
        self.index(name)
            .map(|i| self.tensors[i].shape.iter().product())
    }

    /// How the tensor `name` is stored.
    pub fn dtype(&self, name: &str) -> Option<Dtype> {
        self.index(name).map(|i| self.tensors[i].dtype)
    }

    /// The tensor `name` exactly as stored: dtype, shape and bytes (to copy it into another file).
    pub fn raw(&self, name: &str) -> Result<(Dtype, Vec<usize>, Vec<u8>)> {
        let (_, stored) = self.stored(name)?;
        let bytes = self.source.read_vec(stored.start, stored.bytes);
        Ok((stored.dtype, stored.shape.clone(), bytes))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|t| t.name.as_str())
    }

    /// Removes and returns the tensors whose names start with `prefix`, as shapes and values.
    #[allow(clippy::type_complexity)]
    pub fn take_prefixed(
        &mut self,
        prefix: &str,
    ) -> Result<HashMap<String, (Vec<usize>, Vec<f32>)>> {
        let taken = self
            .names()
            .filter(|n| n.starts_with(prefix))
            .map(|name| Ok((name.to_string(), self.read(name)?)))
            .collect::<Result<_>>()?;
        self.tensors.retain(|t| !t.name.starts_with(prefix));
        Ok(taken)
    }

    /// The root of the module tree and the record of the names read through it.
    pub fn weights(&self) -> (Weights<'_>, Usage) {
        let usage = Usage(Rc::new(RefCell::new(vec![false; self.tensors.len()])));
        let root = Weights {
            checkpoint: self,
            prefix: String::new(),
            used: usage.0.clone(),
        };
        (root, usage)
    }
}

/// A module of the checkpoint's tree (`features.3.block.0`), as candle's `VarBuilder` positions
/// model builders, reading tensors as the `Vec<f32>` a layer keeps.
#[derive(Clone)]
pub struct Weights<'c> {
    checkpoint: &'c Checkpoint<'c>,
    prefix: String,
    /// Whether each tensor of the checkpoint was read.
    used: Rc<RefCell<Vec<bool>>>,
}

impl Weights<'_> {
    /// The sub-module `name`.
    pub fn pp(&self, name: impl std::fmt::Display) -> Self {
        let prefix = match self.prefix.as_str() {
            "" => name.to_string(),
            parent => format!("{parent}.{name}"),
        };
        Weights {
            prefix,
            ..self.clone()
        }
    }

    /// This module's path.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn path(&self, name: &str) -> String {
        self.pp(name).prefix
    }

    /// The values of this module's tensor `name`, which must have `shape`; it counts as read.
    pub fn get(&self, shape: &[usize], name: &str) -> Result<Vec<f32>> {
        let path = self.path(name);
        let (index, stored) = self.checkpoint.stored(&path)?;
        if stored.shape != shape {
            return Err(Error::TensorShape {
                name: path,
                expected: shape.to_vec(),
                actual: stored.shape.clone(),
            });
        }
        let values = self.checkpoint.values(&path, stored)?;
        let mut used = self.used.borrow_mut();
        used[index] = true;
        // An int8 tensor's scales were read with it.
        if stored.dtype == Dtype::I8 {
            if let Some(scales) = self.checkpoint.index(&int8::scale_name(&path)) {
                used[scales] = true;
            }
        }
        Ok(values)
    }

    /// The shape of this module's tensor `name`, without reading it.
    pub fn shape(&self, name: &str) -> Result<&[usize]> {
        Ok(&self.checkpoint.stored(&self.path(name))?.1.shape)
    }
}

/// Which tensors of a checkpoint a model builder read.
#[derive(Clone)]
pub struct Usage(Rc<RefCell<Vec<bool>>>);

impl Usage {
    /// Fails when the checkpoint holds tensors the builder never read.
    pub fn ensure_all_used(&self, checkpoint: &Checkpoint) -> Result<()> {
        let used = self.0.borrow();
        // In name order, as the checkpoint keeps them.
        let unused: Vec<&str> = checkpoint
            .names()
            .zip(used.iter())
            .filter_map(|(name, &read)| (!read).then_some(name))
            .collect();
        match unused.first() {
            None => Ok(()),
            Some(first) => Err(Error::UnusedTensors {
                count: unused.len(),
                example: first.to_string(),
            }),
        }
    }
}

/// The values `data` stores as `dtype` (one of the four checked when parsing), widened to f32.
fn to_f32(dtype: Dtype, data: &[u8]) -> Vec<f32> {
    match dtype {
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

#[cfg(test)]
mod tests;
