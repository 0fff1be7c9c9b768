//! Finding non-finite values: in every tensor a model file holds as it is read (f16 and bf16 are
//! checked after widening: their finite values stay finite; f64 values too large for f32 become
//! infinite and are refused), in input tensors, and in every result before it is returned.

use super::simd::F32x4;

/// Plain-Rust definition: the index of the first NaN or infinity in `values`.
pub fn first_non_finite_reference(values: &[f32]) -> Option<usize> {
    values.iter().position(|v| !v.is_finite())
}

/// Fast version of [`first_non_finite_reference`], scanned 16 values at a time: `x · 0` is NaN
/// exactly for non-finite `x`, so one sum of products tells whether a block has one.
#[inline(never)]
pub fn first_non_finite(values: &[f32]) -> Option<usize> {
    // Four vectors per iteration: the first load runs this in V8's baseline code, which keeps
    // nothing in registers across a loop's iterations.
    const STEP: usize = 16;
    let zero = F32x4::splat(0.0);
    let mut poison = [zero; 4];
    let blocks = values.chunks_exact(STEP);
    let tail = blocks.remainder();
    for block in blocks {
        for (k, p) in poison.iter_mut().enumerate() {
            *p = *p + F32x4::load(block, 4 * k) * zero;
        }
    }
    let mut lanes = [0.0; 4];
    (poison[0] + poison[1] + poison[2] + poison[3]).store(&mut lanes, 0);
    if lanes == [0.0; 4] && tail.iter().all(|v| v.is_finite()) {
        return None;
    }
    values.iter().position(|v| !v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn fast_matches_reference() {
        for len in [0, 1, 15, 16, 17, 64, 100] {
            let clean = test_values(len, 3);
            assert_eq!(first_non_finite(&clean), None, "{len}");
            for at in 0..len {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut values = clean.clone();
                    values[at] = bad;
                    if at + 1 < len {
                        values[len - 1] = f32::NAN; // the first one counts
                    }
                    let expected = first_non_finite_reference(&values);
                    assert_eq!(expected, Some(at));
                    assert_eq!(first_non_finite(&values), expected, "{len} {at} {bad}");
                }
            }
        }
        // The largest finite values stay finite when multiplied by zero.
        assert_eq!(
            first_non_finite(&[f32::MAX, f32::MIN, f32::MIN_POSITIVE, -0.0]),
            None
        );
    }
}
