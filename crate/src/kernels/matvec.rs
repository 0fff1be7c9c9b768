//! Matrix × vector with bias and activation: the classifier's fully connected layers and the
//! squeeze-excite gates, one image at a time. Each output is a dot product of a contiguous weight
//! row with the input, 16 lanes at a time: the rows are read once, in order (the classifier's are
//! megabytes, so that read is the cost), with no transposed copy or generic GEMM set-up.

use candle_core::Shape;

use super::activation::{with_activation, Activation, ActivationKernel};
use super::parallel::for_each_rows;
use super::simd::F32x4;
use super::TensorKernel;

/// Plain-Rust definition: `out[o] = act(bias[o] + Σ_i weight[o][i] · x[i])`, summed in order.
pub fn matvec_reference(weight: &[f32], bias: &[f32], x: &[f32], act: Activation) -> Vec<f32> {
    let rows = (0..bias.len()).map(|o| &weight[o * x.len()..][..x.len()]);
    rows.zip(bias)
        .map(|(row, b)| act.apply(row.iter().zip(x).fold(0.0f32, |s, (w, v)| s + w * v) + b))
        .collect()
}

/// Fast version of [`matvec_reference`]: `weight` is `[bias.len(), x.len()]` row-major, `out`
/// holds `bias.len()` values. Sums in another order (four 4-lane partial sums, then the tail), so
/// it agrees with the reference up to rounding.
pub fn matvec(weight: &[f32], bias: &[f32], x: &[f32], act: Activation, out: &mut [f32]) {
    let inputs = x.len();
    assert_eq!(weight.len(), bias.len() * inputs);
    assert_eq!(out.len(), bias.len());
    let body = inputs / 16 * 16;
    with_activation!(act, A => {
        for (index, (o, &b)) in out.iter_mut().zip(bias).enumerate() {
            let row = &weight[index * inputs..][..inputs];
            let mut acc = [F32x4::splat(0.0); 4];
            for i in (0..body).step_by(16) {
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = a.mul_add(F32x4::load(row, i + 4 * k), F32x4::load(x, i + 4 * k));
                }
            }
            let mut lanes = [0.0f32; 4];
            ((acc[0] + acc[1]) + (acc[2] + acc[3])).store(&mut lanes, 0);
            let mut sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
            for i in body..inputs {
                sum += row[i] * x[i];
            }
            *o = A::scalar(sum + b);
        }
    });
}

/// A fully connected layer as a candle op: `[N, in]` → `[N, out]`, weight `[out, in]` row-major.
pub struct LinearOp<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
    pub activation: Activation,
}

impl TensorKernel for LinearOp<'_> {
    const NAME: &'static str = "linear";

    fn run(&self, x: &[f32], shape: &Shape) -> candle_core::Result<(Vec<f32>, Shape)> {
        let (n, inputs) = shape.dims2()?;
        let outputs = self.bias.len();
        if self.weight.len() != outputs * inputs {
            candle_core::bail!("linear: {inputs} inputs for {} weights", self.weight.len());
        }
        let mut out = vec![0.0f32; n * outputs];
        for (row, result) in x.chunks_exact(inputs).zip(out.chunks_exact_mut(outputs)) {
            // Threads take runs of outputs (the classifier's rows are megabytes of weights).
            for_each_rows(result, 1, inputs, |first, outs| {
                let weight = &self.weight[first * inputs..][..outs.len() * inputs];
                let bias = &self.bias[first..][..outs.len()];
                matvec(weight, bias, row, self.activation, outs);
            });
        }
        Ok((out, Shape::from((n, outputs))))
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
        for (outputs, inputs) in [(3, 1), (5, 16), (7, 37), (10, 1280), (2, 0)] {
            let w = test_values(outputs * inputs, 4);
            let b = test_values(outputs, 5);
            let x = test_values(inputs, 6);
            for act in [
                Activation::Identity,
                Activation::Relu,
                Activation::Hardswish,
            ] {
                let expected = matvec_reference(&w, &b, &x, act);
                let mut out = vec![f32::NAN; outputs];
                matvec(&w, &b, &x, act, &mut out);
                for (a, e) in out.iter().zip(&expected) {
                    // Another summation order: equal up to rounding over `inputs` terms.
                    assert!(
                        (a - e).abs() <= 1e-6 * (1.0 + inputs as f32),
                        "{outputs}x{inputs} {act:?}: {a} vs {e}"
                    );
                }
            }
        }
        assert_eq!(
            matvec_reference(
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                &[0.5, -0.5],
                &[1.0, 0.0, -1.0],
                Activation::Identity
            ),
            [-1.5, -2.5]
        );
    }
}
