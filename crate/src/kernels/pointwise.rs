//! 1×1 convolution of NCHW tensors: per image, `out[co][p] = act(bias[co] + Σ w[co][ci]·x[ci][p])`,
//! a `[cout × cin]·[cin × plane]` matrix product done by the `gemm` crate straight into the output
//! buffer (one thread), then bias and activation applied in place: no broadcast, copy or second
//! tensor as with candle's matmul followed by a separate op.

use candle_core::{CpuStorage, Layout, Shape};

use super::activation::Activation;
use super::storage_f32;

/// Plain-Rust definition, summing over input channels in order.
pub fn pointwise_reference(
    x: &[f32],
    weights: &[f32],
    bias: &[f32],
    cin: usize,
    plane: usize,
    act: Activation,
) -> Vec<f32> {
    let cout = bias.len();
    let images = x.len() / (cin * plane);
    let mut out = vec![0.0; images * cout * plane];
    for n in 0..images {
        for co in 0..cout {
            for p in 0..plane {
                let mut acc = 0.0f32;
                for ci in 0..cin {
                    acc += weights[co * cin + ci] * x[(n * cin + ci) * plane + p];
                }
                out[(n * cout + co) * plane + p] = act.apply(acc + bias[co]);
            }
        }
    }
    out
}

/// Fast version of [`pointwise_reference`]; `out` holds `images × cout × plane` values.
pub fn pointwise(
    x: &[f32],
    weights: &[f32],
    bias: &[f32],
    cin: usize,
    plane: usize,
    act: Activation,
    out: &mut [f32],
) {
    let cout = bias.len();
    assert_eq!(weights.len(), cout * cin);
    assert_eq!(x.len() / (cin * plane) * cout * plane, out.len());
    assert_eq!(x.len() % (cin * plane), 0);
    for (image, result) in x
        .chunks_exact(cin * plane)
        .zip(out.chunks_exact_mut(cout * plane))
    {
        // SAFETY: the three matrices are exactly the sizes asserted above, row-major with the
        // strides given (row stride first: rs = row length, cs = 1).
        unsafe {
            gemm::gemm(
                cout,
                plane,
                cin,
                result.as_mut_ptr(),
                1,
                plane as isize,
                false,
                weights.as_ptr(),
                1,
                cin as isize,
                image.as_ptr(),
                1,
                plane as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for (row, &b) in result.chunks_exact_mut(plane).zip(bias) {
            act.apply_with_bias(row, b);
        }
    }
}

/// A 1×1 convolution layer as a candle op: weights `[cout, cin]`, bias `[cout]`, NCHW in and out.
pub struct PointwiseConv<'a> {
    pub weights: &'a [f32],
    pub bias: &'a [f32],
    pub activation: Activation,
}

impl candle_core::CustomOp1 for PointwiseConv<'_> {
    fn name(&self) -> &'static str {
        "pointwise-conv"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = storage_f32(storage, layout)?;
        let (n, cin, h, w) = layout.shape().dims4()?;
        let cout = self.bias.len();
        if self.weights.len() != cout * cin {
            candle_core::bail!(
                "pointwise: {cin} input channels for {} weights",
                self.weights.len()
            );
        }
        let mut out = vec![0.0f32; n * cout * h * w];
        pointwise(
            x,
            self.weights,
            self.bias,
            cin,
            h * w,
            self.activation,
            &mut out,
        );
        Ok((CpuStorage::F32(out), Shape::from((n, cout, h, w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn fast_matches_reference() {
        for (images, cin, cout, plane) in [
            (1, 3, 5, 7),
            (2, 16, 24, 49),
            (1, 96, 40, 196),
            (1, 1, 1, 1),
        ] {
            let x = test_values(images * cin * plane, 1);
            let w = test_values(cout * cin, 2);
            let b = test_values(cout, 3);
            for act in [
                Activation::Identity,
                Activation::Relu6,
                Activation::Hardswish,
            ] {
                let expected = pointwise_reference(&x, &w, &b, cin, plane, act);
                let mut out = vec![f32::NAN; expected.len()];
                pointwise(&x, &w, &b, cin, plane, act, &mut out);
                for (a, e) in out.iter().zip(&expected) {
                    // The product sums in another order: equal up to float rounding.
                    assert!(
                        (a - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "{cin}x{cout}x{plane} {act:?}: {a} vs {e}"
                    );
                }
            }
        }
    }
}
