//! Global average pooling and the per-channel ops built on it.

use candle_core::Shape;

use super::activation::Activation;
use super::matvec::matvec;
use super::TensorKernel;

/// Mean of each plane. Accumulates in f64: a float32 running sum over a 56×56 plane of near-constant
/// values errs by ~1e-5 relative, which squeeze-excite layers amplify past the tolerance against
/// PyTorch (whose cascade summation is this accurate).
pub fn plane_means(x: &[f32], plane: usize) -> Vec<f32> {
    x.chunks_exact(plane)
        .map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / plane as f64) as f32)
        .collect()
}

/// `[N, C, H, W]` → `[N, C]` mean over each plane.
pub struct GlobalAvgPool;

impl TensorKernel for GlobalAvgPool {
    const NAME: &'static str = "global-avg-pool";

    fn run(&self, x: &[f32], shape: &Shape) -> candle_core::Result<(Vec<f32>, Shape)> {
        let (n, c, h, w) = shape.dims4()?;
        Ok((plane_means(x, h * w), Shape::from((n, c))))
    }
}

/// Squeeze-and-excite: `x · hardsigmoid(fc2(relu(fc1(mean(x)))))` per channel, with the two small
/// fully connected layers (1×1 convs with bias in PyTorch) done by [`matvec`].
pub struct SqueezeExciteOp {
    /// `[squeeze, C]`
    pub fc1_weight: Vec<f32>,
    pub fc1_bias: Vec<f32>,
    /// `[C, squeeze]`
    pub fc2_weight: Vec<f32>,
    pub fc2_bias: Vec<f32>,
}

impl SqueezeExciteOp {
    /// The per-channel gate for one image's pooled features.
    pub fn gate(&self, pooled: &[f32]) -> Vec<f32> {
        let mut squeezed = vec![0.0; self.fc1_bias.len()];
        let (fc1, b1) = (&self.fc1_weight, &self.fc1_bias);
        matvec(fc1, b1, pooled, Activation::Relu, &mut squeezed);
        let mut gate = vec![0.0; self.fc2_bias.len()];
        let (fc2, b2) = (&self.fc2_weight, &self.fc2_bias);
        matvec(fc2, b2, &squeezed, Activation::Hardsigmoid, &mut gate);
        gate
    }
}

impl TensorKernel for SqueezeExciteOp {
    const NAME: &'static str = "squeeze-excite";

    fn run(&self, x: &[f32], shape: &Shape) -> candle_core::Result<(Vec<f32>, Shape)> {
        let (_, c, h, w) = shape.dims4()?;
        if c != self.fc2_bias.len() {
            candle_core::bail!(
                "squeeze-excite: {c} channels, expected {}",
                self.fc2_bias.len()
            );
        }
        let plane = h * w;
        let mut out = x.to_vec();
        for image in out.chunks_exact_mut(c * plane) {
            let gate = self.gate(&plane_means(image, plane));
            for (p, g) in image.chunks_exact_mut(plane).zip(gate) {
                p.iter_mut().for_each(|v| *v *= g);
            }
        }
        Ok((out, shape.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn means_are_exact_where_f32_summation_drifts() {
        // 3136 copies of 0.1 + tiny noise: a sequential f32 sum loses ~1e-5 relative here.
        let plane: Vec<f32> = (0..3136).map(|i| 0.1 + (i % 7) as f32 * 1e-7).collect();
        let exact = plane.iter().map(|&v| v as f64).sum::<f64>() / 3136.0;
        let got = plane_means(&plane, 3136)[0] as f64;
        assert!((got - exact).abs() <= exact * 1e-7, "{got} vs {exact}");
    }
}
