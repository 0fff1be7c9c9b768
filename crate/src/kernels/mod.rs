//! Hot loops. Each blocked SIMD kernel has a plain-Rust reference and a test holding the fast
//! version to it; the per-plane ops of `pool` (global average pool, squeeze-excite) are plain loops
//! over [`pool::plane_means`] (tested against an f64 sum) and `matvec` (held to its reference):
//! they have no faster second version to check.

pub mod activation;
pub mod dense;
pub mod depthwise;
pub mod finite;
pub mod matvec;
pub mod parallel;
pub mod pointwise;
pub mod pool;
pub mod quantized;
pub mod resample;
pub mod residual;
pub mod simd;

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, Layout, Shape, Tensor};

use activation::Activation;

/// Output length of a convolution along one axis: `size` input values, `before`/`after` zeros of
/// padding, a `kernel`-wide window moved by `stride`. The padded size must be at least `kernel`.
pub fn conv_output_size(
    size: usize,
    before: usize,
    after: usize,
    kernel: usize,
    stride: usize,
) -> usize {
    (size + before + after - kernel) / stride + 1
}

/// A kernel's output of `len` values, not zeroed first (calloc's memset took ~3 % of V2's time).
///
/// # Safety
/// `write` must write every one of the `len` values.
pub(crate) unsafe fn written_vec(
    len: usize,
    write: impl FnOnce(&mut [MaybeUninit<f32>]),
) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    write(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: the caller's promise: `write` initialised all `len` values.
    unsafe { out.set_len(len) };
    out
}

/// Deterministic values in [-1, 1) for the kernel tests.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 20001) as f32 / 10000.0 - 1.0
        })
        .collect()
}

/// `(images, cin, cout, plane)` of the matrix-product kernels' tests: partial tiles of output
/// channels, single pixels, and several pixel chunks, the last ending in a 4-pixel vector and 3
/// single pixels (196 pixels end in a vector, 49 in a single pixel).
#[cfg(test)]
pub(crate) const PRODUCT_SHAPES: [(usize, usize, usize, usize); 7] = [
    (1, 3, 5, 7),
    (2, 16, 24, 49),
    (1, 96, 40, 196),
    (1, 1, 1, 1),
    (1, 7, 6, 12),
    (2, 5, 9, 3),
    (1, 96, 8, 1003),
];

/// Holds a fast kernel's output to its reference's: to the last bit where both sum in the same
/// order with the same roundings, up to rounding where [`simd::FUSED_MULTIPLY_ADD`] rounds once.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_matches_reference(fast: &[f32], reference: &[f32], what: &str) {
    if !simd::FUSED_MULTIPLY_ADD {
        assert_eq!(fast, reference, "{what}");
        return;
    }
    assert_eq!(fast.len(), reference.len(), "{what}");
    for (i, (a, e)) in fast.iter().zip(reference).enumerate() {
        assert!(
            (a - e).abs() <= 1e-5 * (1.0 + e.abs()),
            "{what} at {i}: {a} vs {e}"
        );
    }
}

/// A kernel on one contiguous f32 tensor. [`apply`] runs it as a candle op, so the checks every
/// kernel needs (an f32 tensor, contiguous) and candle's op plumbing are written once, and each
/// kernel says only what its own shapes must be.
pub(crate) trait TensorKernel {
    /// The op's name in candle's errors.
    const NAME: &'static str;

    /// The output values and their shape for the input `x` of shape `shape`.
    fn run(&self, x: &[f32], shape: &Shape) -> candle_core::Result<(Vec<f32>, Shape)>;

    /// The kernel applied to `x` (no backward pass: inference only).
    fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor>
    where
        Self: Sized,
    {
        x.apply_op1_no_bwd(&CandleOp(self))
    }
}

/// What a convolution layer hands its kernel: weights as that kernel reads them (float32, or for
/// a 1×1 conv computing in int8, `int8`), one bias per output channel, the window, and the zero
/// padding for this input's size.
#[derive(Debug, Clone, Copy)]
pub struct ConvArgs<'a> {
    pub weights: &'a [f32],
    pub int8: Option<&'a quantized::Int8Weights>,
    pub bias: &'a [f32],
    pub kernel: usize,
    pub stride: usize,
    /// (top, bottom, left, right)
    pub pads: (usize, usize, usize, usize),
    pub activation: Activation,
}

/// A [`TensorKernel`] as candle's custom op.
struct CandleOp<'k, K>(&'k K);

impl<K: TensorKernel> candle_core::CustomOp1 for CandleOp<'_, K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (values, shape) = self.0.run(storage_f32(storage, layout)?, layout.shape())?;
        Ok((CpuStorage::F32(values), shape))
    }
}

/// The f32 elements of a contiguous CPU tensor.
pub(crate) fn storage_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("expected an f32 tensor");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("expected a contiguous tensor"),
    }
}
