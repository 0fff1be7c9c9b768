//! Full (dense) k×k convolution, as the stem uses: im2col with explicit (asymmetric) zero padding,
//! then the fused matrix product of [`super::pointwise`] (in wasm its SIMD128 tiles, over weights
//! packed at load like a 1×1 conv's with `cin·k·k` inputs).

use candle_core::Shape;

use super::pointwise::{fused_product, weights_len};
use super::{conv_output_size, written_vec, ConvArgs, TensorKernel};

/// Patches of one image `[cin, h, w]`: row `(ci·k + i)·k + j` holds, for every output position,
/// the input at that tap (zero outside the image).
#[allow(clippy::too_many_arguments)]
pub fn im2col(
    image: &[f32],
    (cin, h, w): (usize, usize, usize),
    kernel: usize,
    stride: usize,
    (top, left): (usize, usize),
    (out_h, out_w): (usize, usize),
    cols: &mut Vec<f32>,
) {
    cols.clear();
    cols.resize(cin * kernel * kernel * out_h * out_w, 0.0);
    let mut rows = cols.chunks_exact_mut(out_h * out_w);
    for c in 0..cin {
        let plane = &image[c * h * w..][..h * w];
        for i in 0..kernel {
            for j in 0..kernel {
                let row = rows.next().unwrap_or_default();
                // The output columns whose input column `ox·stride + j − left` is in the image.
                let first = left.saturating_sub(j).div_ceil(stride);
                let end = (w + left).saturating_sub(j).div_ceil(stride).min(out_w);
                if first >= end {
                    continue;
                }
                for oy in 0..out_h {
                    let Some(y) = (oy * stride + i).checked_sub(top).filter(|&y| y < h) else {
                        continue;
                    };
                    let src = &plane[y * w + first * stride + j - left..];
                    let dst = &mut row[oy * out_w + first..oy * out_w + end];
                    for (d, s) in dst.iter_mut().zip(src.iter().step_by(stride)) {
                        *d = *s;
                    }
                }
            }
        }
    }
}

/// A dense convolution: weights `[cout, cin·k·k]` from [`super::pointwise::prepare_weights`],
/// bias `[cout]`.
pub struct DenseConv<'a>(pub ConvArgs<'a>);

impl TensorKernel for DenseConv<'_> {
    const NAME: &'static str = "dense-conv";

    fn run(&self, x: &[f32], shape: &Shape) -> candle_core::Result<(Vec<f32>, Shape)> {
        let args = &self.0;
        let (n, cin, h, w) = shape.dims4()?;
        let (k, s) = (args.kernel, args.stride);
        let cout = args.bias.len();
        let (top, bottom, left, right) = args.pads;
        if args.weights.len() != weights_len(cout, cin * k * k)
            || h + top + bottom < k
            || w + left + right < k
        {
            candle_core::bail!("dense conv: input {cin}x{h}x{w} does not fit the weights");
        }
        let out_h = conv_output_size(h, top, bottom, k, s);
        let out_w = conv_output_size(w, left, right, k, s);
        let mut cols = Vec::new();
        let write = |out: &mut [std::mem::MaybeUninit<f32>]| {
            for (image, result) in x
                .chunks_exact(cin * h * w)
                .zip(out.chunks_exact_mut(cout * out_h * out_w))
            {
                im2col(
                    image,
                    (cin, h, w),
                    k,
                    s,
                    (top, left),
                    (out_h, out_w),
                    &mut cols,
                );
                let taps = cin * k * k;
                fused_product(
                    &cols,
                    args.weights,
                    args.bias,
                    taps,
                    out_h * out_w,
                    args.activation,
                    result,
                );
            }
        };
        // SAFETY: `fused_product` writes every value of each image's output, and the images
        // cover `out` (`x` holds exactly `n` of them: its layout's shape).
        let out = unsafe { written_vec(n * cout * out_h * out_w, write) };
        Ok((out, Shape::from((n, cout, out_h, out_w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::activation::Activation;
    use crate::kernels::pointwise::prepare_weights;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Against candle's own conv2d (after explicit padding), which it replaces.
    #[test]
    fn matches_candle_conv2d() {
        use candle_core::{Device, Tensor};
        for (h, w, k, s, pads) in [
            (9, 12, 3, 2, (0, 1, 0, 1)),
            (8, 7, 3, 2, (1, 1, 1, 1)),
            (6, 6, 3, 1, (1, 1, 1, 1)),
        ] {
            let (cin, cout) = (3, 5);
            let input: Vec<f32> = (0..2 * cin * h * w)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let weights: Vec<f32> = (0..cout * cin * k * k)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                .collect();
            let bias = vec![0.0; cout];
            let prepared = prepare_weights(weights.clone(), cout, cin * k * k);
            let x = Tensor::from_slice(&input, (2, cin, h, w), &Device::Cpu).unwrap();
            let op = DenseConv(ConvArgs {
                weights: &prepared,
                int8: None,
                bias: &bias,
                kernel: k,
                stride: s,
                pads,
                activation: Activation::Identity,
            });
            let ours = op.apply(&x).unwrap();
            let kernel = Tensor::from_slice(&weights, (cout, cin, k, k), &Device::Cpu).unwrap();
            let theirs = x
                .pad_with_zeros(2, pads.0, pads.1)
                .unwrap()
                .pad_with_zeros(3, pads.2, pads.3)
                .unwrap()
                .conv2d(&kernel, 0, s, 1, 1)
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            let (a, b) = (
                ours.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                theirs.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                    "{h}x{w} k{k} s{s} {pads:?}: {x} vs {y}"
                );
            }
        }
    }
}
