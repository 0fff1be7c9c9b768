//! Depthwise convolution (one k×k filter per channel) with bias and activation fused.
//!
//! candle's grouped `conv2d` runs one convolution per group, which for depthwise layers means one per
//! channel at ~0.3 GFLOP/s. Here each channel plane is copied once into a zero-bordered scratch plane
//! (so the inner loops never test bounds and asymmetric TF padding costs nothing extra), then four
//! outputs at a time accumulate all k×k taps in registers.

use candle_core::Shape;

use super::activation::{with_activation, Activation, ActivationKernel};
use super::parallel::{for_each_rows, threads};
use super::simd::F32x4;
use super::{conv_output_size, ConvArgs, TensorKernel};

/// Shape of one depthwise convolution over an NCHW tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthwiseGeometry {
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub kernel: usize,
    pub stride: usize,
    /// Zero rows above / below and columns left / right of the input.
    pub pad_top: usize,
    pub pad_bottom: usize,
    pub pad_left: usize,
    pub pad_right: usize,
}

impl DepthwiseGeometry {
    pub fn out_h(&self) -> usize {
        conv_output_size(
            self.in_h,
            self.pad_top,
            self.pad_bottom,
            self.kernel,
            self.stride,
        )
    }

    pub fn out_w(&self) -> usize {
        conv_output_size(
            self.in_w,
            self.pad_left,
            self.pad_right,
            self.kernel,
            self.stride,
        )
    }

    fn padded_w(&self) -> usize {
        self.in_w + self.pad_left + self.pad_right
    }

    fn padded_h(&self) -> usize {
        self.in_h + self.pad_top + self.pad_bottom
    }
}

/// Plain-Rust definition: `out[c,y,x] = act(bias[c] + Σ w[c,i,j] · in[c, y·s+i−top, x·s+j−left])`,
/// taps summed in row-major order from zero, as the fast kernel does.
pub fn depthwise_reference(
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    g: &DepthwiseGeometry,
    act: Activation,
) -> Vec<f32> {
    let (oh, ow, k) = (g.out_h(), g.out_w(), g.kernel);
    let batch = input.len() / (g.channels * g.in_h * g.in_w);
    let mut out = vec![0.0; batch * g.channels * oh * ow];
    for n in 0..batch {
        for c in 0..g.channels {
            let plane = &input[(n * g.channels + c) * g.in_h * g.in_w..][..g.in_h * g.in_w];
            let w = &weights[c * k * k..][..k * k];
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0.0f32;
                    for i in 0..k {
                        for j in 0..k {
                            let iy = (oy * g.stride + i) as isize - g.pad_top as isize;
                            let ix = (ox * g.stride + j) as isize - g.pad_left as isize;
                            if iy >= 0
                                && ix >= 0
                                && (iy as usize) < g.in_h
                                && (ix as usize) < g.in_w
                            {
                                acc += w[i * k + j] * plane[iy as usize * g.in_w + ix as usize];
                            }
                        }
                    }
                    out[((n * g.channels + c) * oh + oy) * ow + ox] = act.apply(acc + bias[c]);
                }
            }
        }
    }
    out
}

/// Largest kernel side the fast path keeps its taps for on the stack.
const MAX_KERNEL: usize = 7;

/// Fast depthwise convolution of an NCHW batch. `scratch` is reused between calls.
pub fn depthwise(
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    g: &DepthwiseGeometry,
    act: Activation,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    assert!(g.kernel <= MAX_KERNEL && (g.stride == 1 || g.stride == 2));
    let plane_in = g.in_h * g.in_w;
    let plane_out = g.out_h() * g.out_w();
    assert_eq!(input.len() / plane_in * plane_out, out.len());
    if threads() <= 1 {
        return planes_from(input, weights, bias, g, act, out, 0, scratch);
    }
    // Threads take runs of whole output planes, each with a scratch plane of its own.
    let work = plane_out * g.kernel * g.kernel;
    for_each_rows(out, plane_out, work, |first, planes| {
        let input = &input[first * plane_in..][..planes.len() / plane_out * plane_in];
        planes_from(input, weights, bias, g, act, planes, first, &mut Vec::new());
    });
}

/// [`depthwise`] of the planes of `input`, the first of them plane `first` of the batch.
#[allow(clippy::too_many_arguments)]
fn planes_from(
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    g: &DepthwiseGeometry,
    act: Activation,
    out: &mut [f32],
    first: usize,
    scratch: &mut Vec<f32>,
) {
    let plane_in = g.in_h * g.in_w;
    let plane_out = g.out_h() * g.out_w();
    let (pw, ph) = (g.padded_w(), g.padded_h());
    // Borders stay zero across channels: only the interior is rewritten. The tail lets a stride-2
    // load of 8 lanes at the end of the last row stay inside the buffer.
    scratch.clear();
    scratch.resize(ph * pw + 8, 0.0);
    for (plane_index, (src, dst)) in input
        .chunks_exact(plane_in)
        .zip(out.chunks_exact_mut(plane_out))
        .enumerate()
    {
        let c = (first + plane_index) % g.channels;
        for y in 0..g.in_h {
            let row = (y + g.pad_top) * pw + g.pad_left;
            scratch[row..row + g.in_w].copy_from_slice(&src[y * g.in_w..][..g.in_w]);
        }
        let w = &weights[c * g.kernel * g.kernel..][..g.kernel * g.kernel];
        // 3×3 and 5×5 (every MobileNet's) get the taps as constants, so loops unroll and taps stay
        // in registers; other sizes share one instance.
        with_activation!(act, A => match (g.stride, g.kernel) {
            (1, 3) => plane::<A, 1, 3>(scratch, pw, w, bias[c], g, dst),
            (1, 5) => plane::<A, 1, 5>(scratch, pw, w, bias[c], g, dst),
            (1, _) => plane::<A, 1, 0>(scratch, pw, w, bias[c], g, dst),
            (_, 3) => plane::<A, 2, 3>(scratch, pw, w, bias[c], g, dst),
            (_, 5) => plane::<A, 2, 5>(scratch, pw, w, bias[c], g, dst),
            _ => plane::<A, 2, 0>(scratch, pw, w, bias[c], g, dst),
        });
    }
}

/// One output plane, four outputs at a time: stride `S`, kernel side `K` (0: `g.kernel`, at run
/// time). A row's last group may stick out past its end: it is computed whole (its extra lanes
/// read finite values of the next row or the scratch tail) and only its valid lanes are stored.
/// (Doing rows in pairs, each input row loaded once for both, measured no faster.)
#[inline(always)]
fn plane<A: ActivationKernel, const S: usize, const K: usize>(
    padded: &[f32],
    pw: usize,
    w: &[f32],
    bias: f32,
    g: &DepthwiseGeometry,
    out: &mut [f32],
) {
    let k = if K > 0 { K } else { g.kernel };
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut taps = [F32x4::splat(0.0); MAX_KERNEL * MAX_KERNEL];
    for (t, &v) in taps.iter_mut().zip(w) {
        *t = F32x4::splat(v);
    }
    let bias4 = F32x4::splat(bias);
    let groups = ow.div_ceil(4);
    // The furthest element the loop reads (a stride-2 load spans 8 lanes), checked once here so
    // that the loop's loads need no checks of their own.
    let last = (oh - 1) * S * pw + (k - 1) * pw + (groups - 1) * 4 * S + (k - 1) + 4 * S;
    assert!(last <= padded.len(), "depthwise: padded plane too small");
    let base_ptr = padded.as_ptr();
    for oy in 0..oh {
        let top = oy * S * pw;
        let out_row = &mut out[oy * ow..][..ow];
        for ox in (0..ow).step_by(4) {
            let mut acc = F32x4::splat(0.0);
            for i in 0..k {
                let base = top + i * pw + ox * S;
                for j in 0..k {
                    // SAFETY: base + j + 4·S <= `last`, asserted above.
                    let x = unsafe {
                        let p = base_ptr.add(base + j);
                        if S == 1 {
                            F32x4::load_ptr(p)
                        } else {
                            F32x4::load_even_ptr(p)
                        }
                    };
                    acc = acc.mul_add(taps[i * k + j], x);
                }
            }
            let result = A::vector(acc + bias4);
            if ox + 4 <= ow {
                result.store(out_row, ox);
            } else {
                let mut lanes = [0.0; 4];
                result.store(&mut lanes, 0);
                out_row[ox..].copy_from_slice(&lanes[..ow - ox]);
            }
        }
    }
}

/// One depthwise layer: weights `[C, 1, k, k]` flattened, bias `[C]`, NCHW in and out. Built per
/// call because the padding (TF "SAME") depends on the input size.
pub struct DepthwiseConv<'a>(pub ConvArgs<'a>);

impl TensorKernel for DepthwiseConv<'_> {
    const NAME: &'static str = "depthwise-conv";

    fn run(&self, x: &[f32], shape: &Shape) -> candle_core::Result<(Vec<f32>, Shape)> {
        let args = &self.0;
        let (n, c, h, w) = shape.dims4()?;
        if c * args.kernel * args.kernel != args.weights.len() || c != args.bias.len() {
            candle_core::bail!("depthwise: {c} channels for {} weights", args.weights.len());
        }
        let (pad_top, pad_bottom, pad_left, pad_right) = args.pads;
        let g = DepthwiseGeometry {
            channels: c,
            in_h: h,
            in_w: w,
            kernel: args.kernel,
            stride: args.stride,
            pad_top,
            pad_bottom,
            pad_left,
            pad_right,
        };
        if g.padded_h() < args.kernel || g.padded_w() < args.kernel {
            candle_core::bail!(
                "depthwise: input {h}x{w} smaller than kernel {}",
                args.kernel
            );
        }
        let mut out = vec![0.0f32; n * c * g.out_h() * g.out_w()];
        let mut scratch = Vec::new();
        depthwise(
            x,
            args.weights,
            args.bias,
            &g,
            args.activation,
            &mut out,
            &mut scratch,
        );
        Ok((out, Shape::from((n, c, g.out_h(), g.out_w()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{assert_matches_reference, test_values};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn geometry(
        channels: usize,
        kernel: usize,
        stride: usize,
        h: usize,
        w: usize,
        pads: (usize, usize, usize, usize),
    ) -> DepthwiseGeometry {
        DepthwiseGeometry {
            channels,
            in_h: h,
            in_w: w,
            kernel,
            stride,
            pad_top: pads.0,
            pad_bottom: pads.1,
            pad_left: pads.2,
            pad_right: pads.3,
        }
    }

    #[test]
    fn fast_matches_reference_on_awkward_shapes() {
        let mut scratch = Vec::new();
        for (k, s, h, w, pads) in [
            (3, 1, 7, 9, (1, 1, 1, 1)),
            (3, 2, 8, 8, (0, 1, 0, 1)),
            (3, 2, 9, 13, (1, 1, 1, 1)),
            (5, 1, 6, 11, (2, 2, 2, 2)),
            (5, 2, 10, 17, (1, 2, 2, 2)),
            (5, 2, 5, 5, (2, 2, 2, 2)),
            (3, 1, 1, 1, (1, 1, 1, 1)),
            // Sizes without an instance of their own.
            (7, 2, 11, 13, (3, 3, 3, 3)),
            (1, 1, 5, 6, (0, 0, 0, 0)),
        ] {
            let c = 3;
            let g = geometry(c, k, s, h, w, pads);
            let input = test_values(2 * c * h * w, 1);
            let weights = test_values(c * k * k, 2);
            let bias = test_values(c, 3);
            for act in [
                Activation::Identity,
                Activation::Relu6,
                Activation::Hardswish,
            ] {
                let expected = depthwise_reference(&input, &weights, &bias, &g, act);
                let mut out = vec![f32::NAN; expected.len()];
                depthwise(&input, &weights, &bias, &g, act, &mut out, &mut scratch);
                assert_matches_reference(&out, &expected, &format!("{g:?} {act:?}"));
            }
        }
    }

    /// The kernel against candle's own grouped convolution (`groups = channels`), which is what it
    /// replaces; the zero padding is applied explicitly since candle pads symmetrically only.
    #[test]
    fn matches_candle_grouped_conv() {
        use candle_core::{Device, Tensor};
        let mut scratch = Vec::new();
        for (k, s, h, w, pads) in [
            (3, 1, 12, 10, (1, 1, 1, 1)),
            (3, 2, 12, 10, (0, 1, 0, 1)),
            (5, 2, 11, 14, (2, 2, 1, 2)),
            (5, 1, 9, 9, (2, 2, 2, 2)),
        ] {
            let c = 6;
            let g = geometry(c, k, s, h, w, pads);
            let input = test_values(c * h * w, 7);
            let weights = test_values(c * k * k, 8);
            let bias = vec![0.0; c];
            let mut ours = vec![0.0; c * g.out_h() * g.out_w()];
            depthwise(
                &input,
                &weights,
                &bias,
                &g,
                Activation::Identity,
                &mut ours,
                &mut scratch,
            );
            let x = Tensor::from_slice(&input, (1, c, h, w), &Device::Cpu).unwrap();
            let kernel = Tensor::from_slice(&weights, (c, 1, k, k), &Device::Cpu).unwrap();
            let candle = x
                .pad_with_zeros(2, pads.0, pads.1)
                .unwrap()
                .pad_with_zeros(3, pads.2, pads.3)
                .unwrap()
                .conv2d(&kernel, 0, s, 1, c)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(candle.len(), ours.len(), "{g:?}");
            for (a, b) in ours.iter().zip(&candle) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{g:?}: {a} vs {b}");
            }
        }
    }
}
