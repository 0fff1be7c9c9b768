//! 1×1 convolution of NCHW tensors: per image, `out[co][p] = act(bias[co] + Σ w[co][ci]·x[ci][p])`,
//! a `[cout × cin]·[cin × plane]` matrix product straight into the output buffer, bias and
//! activation applied as each tile is stored: no broadcast, copy or second tensor as with candle's
//! matmul followed by a separate op.
//!
//! In WebAssembly, layers use [`pointwise_tiled`], register tiles of 3 output channels × 12 pixels
//! over weights packed at load, faster in Chromium than [`pointwise`] (the `gemm` crate's generic
//! kernel, which native builds keep). The tile's shape was measured (relaxed SIMD, V2): 3 × 12
//! beats 4 × 8 by 5 % once binaryen folds constant offsets into its loads (see `crate/Cargo.toml`);
//! 2 × 16, 2 × 20, 3 × 16, 4 × 12, 5 × 8 and 6 × 8 are slower (9–100 %: V8 has 16 vector
//! registers). Broadcasting weights by lane shuffles instead of splats is slower too.

use std::mem::MaybeUninit;

use candle_core::Shape;

use super::activation::{with_activation, Activation, ActivationKernel};
use super::parallel::for_each_rows;
use super::quantized::pointwise_int8;
use super::simd::F32x4;
use super::{written_vec, ConvArgs, TensorKernel};

/// Output channels per register tile of [`pointwise_tiled`].
pub const TILE_ROWS: usize = 3;
/// 4-lane vectors of pixels per register tile of [`pointwise_tiled`]: with [`TILE_ROWS`], 9
/// accumulators, 3 input vectors and a weight splat in V8's 16 registers.
const TILE_VECTORS: usize = 3;
const TILE_PIXELS: usize = 4 * TILE_VECTORS;

/// Whether layers pack their weights for [`pointwise_tiled`]: in WebAssembly. Natively the `gemm`
/// crate's AVX/FMA kernels are faster (V2 14.5 ms against 25 ms with the tiled kernel's portable
/// lanes), so [`pointwise`] stays.
pub const PACKED: bool = cfg!(target_arch = "wasm32");

/// Weights `[cout, cin]` regrouped for [`pointwise_tiled`]: blocks of [`TILE_ROWS`] output
/// channels, each `[cin][TILE_ROWS]`, so a tile reads its weights for one input channel from
/// consecutive memory. The last block is padded with zeros.
pub fn pack_weights(weights: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    assert_eq!(weights.len(), cout * cin);
    let block_len = TILE_ROWS * cin;
    if block_len == 0 {
        return Vec::new();
    }
    // SAFETY: `pack_block` writes every value of each block.
    unsafe {
        written_vec(cout.div_ceil(TILE_ROWS) * block_len, |packed| {
            for (rows, block) in weights
                .chunks(block_len)
                .zip(packed.chunks_exact_mut(block_len))
            {
                pack_block(rows, block);
            }
        })
    }
}

/// Up to [`TILE_ROWS`] rows of weights interleaved into `block`, missing rows as zeros. A call
/// per block: a first load runs this before V8 has optimised it, and only a new call switches to
/// the optimised code.
#[inline(never)]
fn pack_block(rows: &[f32], block: &mut [MaybeUninit<f32>]) {
    let cin = block.len() / TILE_ROWS;
    for row in 0..TILE_ROWS {
        let slots = block.chunks_exact_mut(TILE_ROWS);
        match rows.get(row * cin..(row + 1) * cin) {
            Some(weights) => slots.zip(weights).for_each(|(slot, &w)| {
                slot[row].write(w);
            }),
            None => slots.for_each(|slot| {
                slot[row].write(0.0);
            }),
        }
    }
}

/// [`pointwise_reference`] by register tiles of [`TILE_ROWS`] output channels × `TILE_PIXELS`
/// pixels, summing input channels in order, with bias and activation applied as each tile is
/// stored. `packed` comes from [`pack_weights`]. (Copying each chunk of the input into a panel of
/// contiguous tile-wide columns first, as BLAS packs its operands, measured slower.)
pub fn pointwise_tiled(
    x: &[f32],
    packed: &[f32],
    bias: &[f32],
    cin: usize,
    plane: usize,
    act: Activation,
    out: &mut [f32],
) {
    // SAFETY: the same memory; the kernel stores only initialised values into it.
    let out = unsafe { &mut *(out as *mut [f32] as *mut [MaybeUninit<f32>]) };
    pointwise_tiled_into(x, packed, bias, cin, plane, act, out)
}

/// [`pointwise_tiled`] into memory not yet initialised, every value of which it writes.
fn pointwise_tiled_into(
    x: &[f32],
    packed: &[f32],
    bias: &[f32],
    cin: usize,
    plane: usize,
    act: Activation,
    out: &mut [MaybeUninit<f32>],
) {
    let cout = bias.len();
    let blocks = cout.div_ceil(TILE_ROWS);
    assert_eq!(packed.len(), blocks * cin * TILE_ROWS);
    assert_images(x, out.len(), cin, cout, plane);
    // Pixels per pass over every block: a multiple of the tile width whose `cin` input rows stay
    // in L2 while each block of output channels reads them (early layers' planes are megabytes).
    let chunk = (CHUNK_BYTES / (4 * cin)).max(TILE_PIXELS) / TILE_PIXELS * TILE_PIXELS;
    with_activation!(act, A => {
        for (image, result) in x
            .chunks_exact(cin * plane)
            .zip(out.chunks_exact_mut(cout * plane))
        {
            // Threads take runs of whole blocks of output channels.
            let block_len = TILE_ROWS * plane;
            for_each_rows(result, block_len, block_len * cin, |first_block, rows| {
                let run = first_block..first_block + rows.len().div_ceil(block_len);
                for start in (0..plane).step_by(chunk) {
                    let pixels = start..plane.min(start + chunk);
                    for block in run.clone() {
                        let weights = &packed[block * cin * TILE_ROWS..][..cin * TILE_ROWS];
                        let first = block * TILE_ROWS;
                        let bias = &bias[first..cout.min(first + TILE_ROWS)];
                        let local = (block - run.start) * TILE_ROWS;
                        tile_rows::<A>(image, weights, bias, plane, pixels.clone(), rows, local);
                    }
                }
            });
        }
    })
}

/// Input bytes [`pointwise_tiled`] works on at a time.
const CHUNK_BYTES: usize = 256 * 1024;

/// One block of output channels over the pixels `pixels` of a plane of `plane`: whole tiles, then
/// one vector of pixels at a time, and only the last 0–3 pixels one at a time; each of the
/// block's rows × `pixels` is written.
#[inline(always)]
fn tile_rows<A: ActivationKernel>(
    image: &[f32],
    weights: &[f32],
    bias: &[f32],
    plane: usize,
    pixels: std::ops::Range<usize>,
    out: &mut [MaybeUninit<f32>],
    first_row: usize,
) {
    let cin = weights.len() / TILE_ROWS;
    let rows = bias.len();
    assert!(pixels.end <= plane && image.len() >= cin * plane);
    let mut p = pixels.start;
    while p + TILE_PIXELS <= pixels.end {
        tile::<A, TILE_VECTORS>(image, weights, bias, plane, p, out, first_row);
        p += TILE_PIXELS;
    }
    while p + 4 <= pixels.end {
        tile::<A, 1>(image, weights, bias, plane, p, out, first_row);
        p += 4;
    }
    for p in p..pixels.end {
        for r in 0..rows {
            let mut acc = 0.0f32;
            for ci in 0..cin {
                acc += weights[ci * TILE_ROWS + r] * image[ci * plane + p];
            }
            out[(first_row + r) * plane + p].write(A::scalar(acc + bias[r]));
        }
    }
}

/// The register tile of [`TILE_ROWS`] output channels × `VECTORS` 4-pixel vectors from pixel `p`,
/// summing input channels in order; bias and activation applied as it is stored. The caller
/// guarantees `p + 4 · VECTORS <= plane` and that `image` holds `cin × plane` values.
#[inline(always)]
fn tile<A: ActivationKernel, const VECTORS: usize>(
    image: &[f32],
    weights: &[f32],
    bias: &[f32],
    plane: usize,
    p: usize,
    out: &mut [MaybeUninit<f32>],
    first_row: usize,
) {
    let cin = weights.len() / TILE_ROWS;
    let mut acc = [[F32x4::splat(0.0); VECTORS]; TILE_ROWS];
    for ci in 0..cin {
        // SAFETY: `ci < cin` and `p + 4 · VECTORS <= plane`, so the reads lie inside `image`;
        // `weights` holds `cin × TILE_ROWS`.
        let (x, w) = unsafe {
            let row = image.as_ptr().add(ci * plane + p);
            (
                std::array::from_fn::<_, VECTORS, _>(|v| F32x4::load_ptr(row.add(4 * v))),
                weights.as_ptr().add(ci * TILE_ROWS),
            )
        };
        for (r, a) in acc.iter_mut().enumerate() {
            // SAFETY: `r < TILE_ROWS`. A scalar load + splat per row beats one vector load and
            // lane shuffles in V8.
            let wr = F32x4::splat(unsafe { *w.add(r) });
            for (a, x) in a.iter_mut().zip(&x) {
                *a = a.mul_add(wr, *x);
            }
        }
    }
    // Padding rows of the last block are computed but not stored.
    for (r, (a, &b)) in acc.iter().zip(bias).enumerate() {
        let at = (first_row + r) * plane + p;
        let b = F32x4::splat(b);
        for (v, a) in a.iter().enumerate() {
            A::vector(*a + b).store_uninit(out, at + 4 * v);
        }
    }
}

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

/// `x` is whole images of `cin × plane` values and the output (`out_len` values) as many of
/// `cout × plane`.
fn assert_images(x: &[f32], out_len: usize, cin: usize, cout: usize, plane: usize) {
    assert_eq!(x.len() % (cin * plane), 0);
    assert_eq!(x.len() / (cin * plane) * cout * plane, out_len);
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
    assert_images(x, out.len(), cin, cout, plane);
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

/// How many values a layer's `[cout, cin]` weights take as the kernels read them: packed by
/// [`pack_weights`] when [`PACKED`].
pub fn weights_len(cout: usize, cin: usize) -> usize {
    if PACKED {
        cout.div_ceil(TILE_ROWS) * cin * TILE_ROWS
    } else {
        cout * cin
    }
}

/// The layer's weights `[cout, cin]` as [`fused_product`] reads them.
pub fn prepare_weights(weights: Vec<f32>, cout: usize, cin: usize) -> Vec<f32> {
    if PACKED {
        pack_weights(&weights, cout, cin)
    } else {
        weights
    }
}

/// `out = act(W·x + b)` per image with the build's kernel, writing every value of `out`:
/// [`pointwise_tiled`] over weights from [`prepare_weights`] when [`PACKED`], else [`pointwise`].
pub fn fused_product(
    x: &[f32],
    weights: &[f32],
    bias: &[f32],
    cin: usize,
    plane: usize,
    act: Activation,
    out: &mut [MaybeUninit<f32>],
) {
    if PACKED {
        pointwise_tiled_into(x, weights, bias, cin, plane, act, out)
    } else {
        out.fill(MaybeUninit::new(0.0));
        // SAFETY: every value was just initialised.
        let out = unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) };
        pointwise(x, weights, bias, cin, plane, act, out)
    }
}

/// A 1×1 convolution layer: weights `[cout, cin]` from [`prepare_weights`] (or int8), bias
/// `[cout]`, NCHW in and out; stride 1, no padding.
pub struct PointwiseConv<'a>(pub ConvArgs<'a>);

impl TensorKernel for PointwiseConv<'_> {
    const NAME: &'static str = "pointwise-conv";

    fn run(&self, x: &[f32], shape: &Shape) -> candle_core::Result<(Vec<f32>, Shape)> {
        let args = &self.0;
        let (n, cin, h, w) = shape.dims4()?;
        if (args.kernel, args.stride, args.pads) != (1, 1, (0, 0, 0, 0)) {
            candle_core::bail!("pointwise: a 1x1 window, stride 1, no padding");
        }
        let cout = args.bias.len();
        let fits = match args.int8 {
            Some(int8) => (int8.cin(), int8.cout()) == (cin, cout),
            None => args.weights.len() == weights_len(cout, cin),
        };
        if !fits {
            candle_core::bail!("pointwise: {cin} input channels do not fit the weights");
        }
        let (weights, bias, act) = (args.weights, args.bias, args.activation);
        // SAFETY: both products write every value of their output.
        let out = unsafe {
            written_vec(n * cout * h * w, |out| match args.int8 {
                Some(int8) => pointwise_int8(x, int8, bias, h * w, act, out),
                None => fused_product(x, weights, bias, cin, h * w, act, out),
            })
        };
        Ok((out, Shape::from((n, cout, h, w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{assert_matches_reference, test_values, PRODUCT_SHAPES};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn packing_interleaves_rows_and_pads_with_zeros() {
        // 4 output channels × 2 inputs, `w[co][ci] = 10·co + ci`, in blocks of TILE_ROWS = 3.
        let w = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0];
        let expected = [
            0.0, 10.0, 20.0, 1.0, 11.0, 21.0, 30.0, 0.0, 0.0, 31.0, 0.0, 0.0,
        ];
        assert_eq!(pack_weights(&w, 4, 2), expected);
        assert!(pack_weights(&[], 0, 5).is_empty());
    }

    #[test]
    fn fast_matches_reference() {
        for (images, cin, cout, plane) in PRODUCT_SHAPES {
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
                let mut tiled = vec![f32::NAN; expected.len()];
                let packed = pack_weights(&w, cout, cin);
                pointwise_tiled(&x, &packed, &b, cin, plane, act, &mut tiled);
                // Same order of summation as the reference: equal to the last bit, unless fused.
                assert_matches_reference(
                    &tiled,
                    &expected,
                    &format!("{cin}x{cout}x{plane} {act:?}"),
                );
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
