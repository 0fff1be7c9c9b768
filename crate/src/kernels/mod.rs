//! Hot loops, each with a plain-Rust reference and a test holding the fast version to it.

pub mod activation;
pub mod dense;
pub mod depthwise;
pub mod pointwise;
pub mod pool;
pub mod resample;
pub mod simd;

use candle_core::{CpuStorage, Layout};

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
