//! Global average pooling and the per-channel ops built on it.

use candle_core::{CpuStorage, Layout, Shape};

use super::activation::Activation;
use super::storage_f32;

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

impl candle_core::CustomOp1 for GlobalAvgPool {
    fn name(&self) -> &'static str {
        "global-avg-pool"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = storage_f32(storage, layout)?;
        let (n, c, h, w) = layout.shape().dims4()?;
        Ok((CpuStorage::F32(plane_means(x, h * w)), Shape::from((n, c))))
    }
}

/// `y[n,c,:,:] = act(x[n,c,:,:] + bias[c])`: the bias and activation after a convolution done by a
/// plain matrix product, in one pass.
pub struct BiasActivation<'a> {
    pub bias: &'a [f32],
    pub activation: Activation,
}

impl candle_core::CustomOp1 for BiasActivation<'_> {
    fn name(&self) -> &'static str {
        "bias-activation"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = storage_f32(storage, layout)?;
        let dims = layout.shape().dims();
        if dims.len() < 2 || dims[1] != self.bias.len() {
            candle_core::bail!(
                "bias-activation: shape {dims:?} for {} biases",
                self.bias.len()
            );
        }
        let plane: usize = dims[2..].iter().product();
        let mut out = x.to_vec();
        for (i, chunk) in out.chunks_exact_mut(plane).enumerate() {
            self.activation
                .apply_with_bias(chunk, self.bias[i % self.bias.len()]);
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// Squeeze-and-excite: `x · hardsigmoid(fc2(relu(fc1(mean(x)))))` per channel, with the two small
/// fully connected layers (1×1 convs with bias in PyTorch) done in plain loops.
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
        let squeezed: Vec<f32> = dense(&self.fc1_weight, &self.fc1_bias, pooled)
            .into_iter()
            .map(|v| Activation::Relu.apply(v))
            .collect();
        dense(&self.fc2_weight, &self.fc2_bias, &squeezed)
            .into_iter()
            .map(|v| Activation::Hardsigmoid.apply(v))
            .collect()
    }
}

/// `W·x + b` for a row-major `W` of `b.len()` rows.
fn dense(weight: &[f32], bias: &[f32], x: &[f32]) -> Vec<f32> {
    weight
        .chunks_exact(x.len())
        .zip(bias)
        .map(|(row, b)| row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>() + b)
        .collect()
}

impl candle_core::CustomOp1 for SqueezeExciteOp {
    fn name(&self) -> &'static str {
        "squeeze-excite"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = storage_f32(storage, layout)?;
        let (_, c, h, w) = layout.shape().dims4()?;
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
        Ok((CpuStorage::F32(out), layout.shape().clone()))
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

    #[test]
    fn dense_is_matrix_vector_product() {
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(dense(&w, &[0.5, -0.5], &[1.0, 0.0, -1.0]), [-1.5, -2.5]);
    }
}
