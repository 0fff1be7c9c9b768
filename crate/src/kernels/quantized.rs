//! 1×1 convolution in int8 (issue 17's quantized inference): the layer's weights quantized per
//! output channel at load (symmetric, `w ≈ sw[co]·q[co][ci]`, `-128 ≤ q ≤ 127`, on the grid int8
//! originals were dequantized from where the weights lie on one), each input quantized
//! per image as the layer runs ("dynamic" quantization: `x ≈ sx·(u − zero)`, `0 ≤ u ≤ 127`), an
//! exact integer product, then `out = act(sw·sx·(Σ q·u − zero·Σ q) + bias)` in f32 as each tile
//! is stored. No calibration images are needed, and everything but the 1×1 convs stays float32.
//!
//! Inputs are 7-bit (`0..=127`) because relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add` is
//! deterministic only for a second operand below 128: one instruction then sums 16 products into
//! 4 lanes, where float32 takes 4 fused multiply-adds. Post-ReLU inputs (zero = 0) keep all 7 bits,
//! as uint8 with zero point 0 would. Both sums are integers, so every build (relaxed SIMD, SIMD128,
//! native) computes the same value to the bit, and the kernel equals its reference exactly.
//!
//! Layouts: inputs by groups of [`GROUP`] channels, each `[plane4][GROUP]` bytes (a pixel's 4
//! channels adjacent, the plane padded to whole vectors); weights by blocks of [`INT8_ROWS`]
//! output channels, each `[groups][INT8_ROWS][GROUP]`. Padding channels have zero weights.

use std::mem::MaybeUninit;

use super::activation::{with_activation, Activation, ActivationKernel};
use super::parallel::for_each_rows;
use super::simd::{F32x4, I32x4};
use crate::checkpoint::int8::{level, row_scale};

/// Input channels summed by one dot product lane.
pub const GROUP: usize = 4;
/// Output channels per register tile.
pub const INT8_ROWS: usize = 3;
/// 4-pixel vectors per register tile: 9 accumulators, 3 inputs and a weight splat in 16 registers.
const INT8_VECTORS: usize = 3;
/// The largest quantized input value (7 bits).
const INPUT_MAX: f32 = 127.0;

/// Whether the int8 kernels beat the float32 ones in this build, so that int8 model files run them
/// unless told otherwise: in every wasm module (`npm run bench` in Chromium: V2 0.54× float32's
/// time with relaxed SIMD's dot, 14.4 against 18.4 ms with SIMD128's), not natively, where the
/// portable lanes are scalar.
pub const INT8_PAYS: bool = cfg!(target_arch = "wasm32");

/// A 1×1 conv's weights `[cout, cin]` as int8, with what the store needs per output channel.
#[derive(Debug, Clone)]
pub struct Int8Weights {
    /// By blocks of [`INT8_ROWS`] output channels, zero-padded (see the module's layouts).
    packed: Vec<i8>,
    /// `sw[co]`: the row's [`row_scale`].
    scales: Vec<f32>,
    /// `Σ q[co][ci]`, to take the input's zero point out of the product.
    sums: Vec<i32>,
    cin: usize,
    /// `Some(max)` where the layer's inputs are known to lie in `[0, max]` (a ReLU6 before it):
    /// that range is used as is, with no pass over the input to measure it.
    input_max: Option<f32>,
}

impl Int8Weights {
    /// `weights` `[cout, cin]` quantized per output channel, as int8 files store them ([`level`]
    /// of [`row_scale`]): an int8 file's weights, dequantized at load, come back to the bit.
    pub fn quantize(weights: &[f32], cout: usize, cin: usize) -> Self {
        assert_eq!(weights.len(), cout * cin);
        let groups = cin.div_ceil(GROUP);
        let block_len = groups * INT8_ROWS * GROUP;
        let mut packed = vec![0i8; cout.div_ceil(INT8_ROWS) * block_len];
        let (mut scales, mut sums) = (Vec::with_capacity(cout), Vec::with_capacity(cout));
        for (co, row) in weights.chunks_exact(cin.max(1)).take(cout).enumerate() {
            let scale = row_scale(row);
            let (block, r) = (co / INT8_ROWS, co % INT8_ROWS);
            let mut sum = 0;
            for (ci, &w) in row.iter().enumerate() {
                let q = level(w, scale);
                let (g, k) = (ci / GROUP, ci % GROUP);
                packed[block * block_len + (g * INT8_ROWS + r) * GROUP + k] = q;
                sum += q as i32;
            }
            scales.push(scale);
            sums.push(sum);
        }
        scales.resize(cout, 0.0);
        sums.resize(cout, 0);
        Int8Weights {
            packed,
            scales,
            sums,
            cin,
            input_max: None,
        }
    }

    /// The layer's inputs lie in `[0, max]` (it follows a ReLU6): quantized on that range.
    pub fn bound_inputs(&mut self, max: f32) {
        self.input_max = Some(max);
    }

    pub fn cout(&self) -> usize {
        self.scales.len()
    }

    pub fn cin(&self) -> usize {
        self.cin
    }

    /// `q[co][ci]`.
    fn get(&self, co: usize, ci: usize) -> i8 {
        let block_len = self.cin.div_ceil(GROUP) * INT8_ROWS * GROUP;
        let (g, k) = (ci / GROUP, ci % GROUP);
        self.packed[co / INT8_ROWS * block_len + (g * INT8_ROWS + co % INT8_ROWS) * GROUP + k]
    }

    /// Per output channel, `(sw·sx, bias − sw·sx·zero·Σq)`: the store's `out = acc·a + b`.
    fn store_terms(&self, bias: &[f32], input: &QuantizedInput) -> Vec<(f32, f32)> {
        self.scales
            .iter()
            .zip(&self.sums)
            .zip(bias)
            .map(|((&sw, &sum), &b)| {
                let a = sw * input.scale;
                (a, b - a * (input.zero * sum) as f32)
            })
            .collect()
    }
}

/// One image's input quantized: `x ≈ scale·(u − zero)`, `u` in `0..=127`, laid out by groups of
/// [`GROUP`] channels (see the module).
pub struct QuantizedInput {
    values: Vec<u8>,
    scale: f32,
    zero: i32,
    /// The plane rounded up to whole 4-pixel vectors.
    plane4: usize,
}

/// The scale and zero point that map `[min(lo, 0), max(hi, 0)]` onto `0..=127`: zero exactly
/// representable, and all 7 bits for non-negative inputs.
fn input_range(lo: f32, hi: f32) -> (f32, i32) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if hi - lo <= 0.0 || !(hi - lo).is_finite() {
        return (1.0, 0);
    }
    let scale = (hi - lo) / INPUT_MAX;
    (scale, (-lo / scale).round_ties_even() as i32)
}

/// `x / scale + zero` rounded half up, as the vector path computes it: `offset` is `zero + 0.5`,
/// and truncation rounds. No lower clamp is needed (`x ≥ lo` keeps the sum above 0 but for
/// rounding, and a sum in (-1, 0) truncates to 0 as well); the upper one keeps a sum the scale's
/// and zero point's rounding pushed to 128 within the 7 bits the relaxed dot needs.
fn quantize_value(x: f32, inverse: f32, offset: f32) -> u8 {
    (x * inverse + offset).min(INPUT_MAX) as u8
}

/// Quantizes one image `x` (`cin × plane`, NCHW) for [`pointwise_int8`], on the range `[0, max]`
/// given, else on the one measured.
///
/// The bytes go into `values`, a buffer of an earlier call (or a new one), not cleared first: the
/// bytes written are every pixel's of every channel, and the others (padding pixels, whose lanes are
/// never stored, and padding channels, whose weights are zeros) keep earlier quantized values, so
/// every byte stays in `0..=127`.
pub fn quantize_input(
    x: &[f32],
    cin: usize,
    plane: usize,
    max: Option<f32>,
    mut values: Vec<u8>,
) -> QuantizedInput {
    assert_eq!(x.len(), cin * plane);
    let (lo, hi) = max.map_or_else(|| min_max(x), |max| (0.0, max));
    let (scale, zero) = input_range(lo, hi);
    let plane4 = plane.div_ceil(4) * 4;
    let (inverse, offset) = (1.0 / scale, zero as f32 + 0.5);
    values.resize(cin.div_ceil(GROUP) * plane4 * GROUP, 0);
    // Threads take runs of whole groups (quantizing is cheap: a split pays on large planes only).
    let group_len = plane4 * GROUP;
    for_each_rows(&mut values, group_len, group_len, |first, groups| {
        for (g, group) in (first..).zip(groups.chunks_exact_mut(group_len)) {
            let channels = g * GROUP..cin.min(g * GROUP + GROUP);
            if channels.len() == GROUP {
                quantize_group(x, plane, g * GROUP, inverse, offset, group);
            }
            // A last, partial group (or the plane's last 0–3 pixels): one value at a time.
            let done = if channels.len() == GROUP {
                plane / 4 * 4
            } else {
                0
            };
            for c in channels.clone() {
                for p in done..plane {
                    group[p * GROUP + c - channels.start] =
                        quantize_value(x[c * plane + p], inverse, offset);
                }
            }
        }
    });
    QuantizedInput {
        values,
        scale,
        zero,
        plane4,
    }
}

/// Smallest and largest value of `x` (0 and 0 when empty).
fn min_max(x: &[f32]) -> (f32, f32) {
    let body = x.len() / 4 * 4;
    let (mut lo, mut hi) = (F32x4::splat(0.0), F32x4::splat(0.0));
    for i in (0..body).step_by(4) {
        let v = F32x4::load(x, i);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let (mut lo_s, mut hi_s) = (0.0f32, 0.0f32);
    for v in lo.to_array().into_iter().chain(x[body..].iter().copied()) {
        lo_s = lo_s.min(v);
    }
    for v in hi.to_array().into_iter().chain(x[body..].iter().copied()) {
        hi_s = hi_s.max(v);
    }
    (lo_s, hi_s)
}

/// Channels `first..first + 4` of the plane's whole 4-pixel vectors into `group`, as
/// [`quantize_value`] computes each (`store_bytes_by_pixel` truncates).
fn quantize_group(
    x: &[f32],
    plane: usize,
    first: usize,
    inverse: f32,
    offset: f32,
    group: &mut [u8],
) {
    let (inverse, offset, max) = (
        F32x4::splat(inverse),
        F32x4::splat(offset),
        F32x4::splat(INPUT_MAX),
    );
    for p in (0..plane / 4 * 4).step_by(4) {
        let lanes: [F32x4; GROUP] = std::array::from_fn(|k| {
            (F32x4::load(x, (first + k) * plane + p) * inverse + offset).min(max)
        });
        F32x4::store_bytes_by_pixel(lanes, &mut group[p * GROUP..p * GROUP + 16]);
    }
}

thread_local! {
    /// The last quantized input's buffer, for the next: no allocation or zeroing per layer.
    static INPUT_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// `out = act(W·x + bias)` for whole images `x` (`cin × plane` each), `W` in int8.
pub fn pointwise_int8(
    x: &[f32],
    weights: &Int8Weights,
    bias: &[f32],
    plane: usize,
    act: Activation,
    out: &mut [MaybeUninit<f32>],
) {
    let (cin, cout) = (weights.cin, weights.cout());
    assert_eq!(bias.len(), cout);
    assert_eq!(x.len() % (cin * plane).max(1), 0);
    assert_eq!(x.len() / (cin * plane).max(1) * cout * plane, out.len());
    let groups = cin.div_ceil(GROUP);
    let block_len = groups * INT8_ROWS * GROUP;
    with_activation!(act, A => {
        for (image, result) in x.chunks_exact(cin * plane).zip(out.chunks_exact_mut(cout * plane)) {
            let buffer = INPUT_BUFFER.take();
            let input = quantize_input(image, cin, plane, weights.input_max, buffer);
            let terms = weights.store_terms(bias, &input);
            let rows_len = INT8_ROWS * plane;
            for_each_rows(result, rows_len, rows_len * cin, |first_block, rows| {
                for (b, rows) in rows.chunks_mut(rows_len).enumerate() {
                    let block = first_block + b;
                    let packed = &weights.packed[block * block_len..][..block_len];
                    let terms = &terms[block * INT8_ROWS..cout.min(block * INT8_ROWS + INT8_ROWS)];
                    block_rows::<A>(&input, packed, terms, plane, rows);
                }
            });
            INPUT_BUFFER.set(input.values);
        }
    })
}

/// One block of output channels over the whole plane: tiles of [`INT8_VECTORS`] vectors, then
/// single vectors; the plane's last 1–3 pixels come from a vector whose other lanes are padding.
#[inline(always)]
fn block_rows<A: ActivationKernel>(
    input: &QuantizedInput,
    packed: &[i8],
    terms: &[(f32, f32)],
    plane: usize,
    out: &mut [MaybeUninit<f32>],
) {
    let mut p = 0;
    while p + 4 * INT8_VECTORS <= plane {
        tile::<A, INT8_VECTORS>(input, packed, terms, plane, p, out);
        p += 4 * INT8_VECTORS;
    }
    while p < plane {
        tile::<A, 1>(input, packed, terms, plane, p, out);
        p += 4;
    }
}

/// The register tile of [`INT8_ROWS`] output channels × `VECTORS` 4-pixel vectors from pixel
/// `p` (`p + 4·VECTORS ≤ plane4`); lanes past `plane` are not stored.
#[inline(always)]
fn tile<A: ActivationKernel, const VECTORS: usize>(
    input: &QuantizedInput,
    packed: &[i8],
    terms: &[(f32, f32)],
    plane: usize,
    p: usize,
    out: &mut [MaybeUninit<f32>],
) {
    let groups = packed.len() / (INT8_ROWS * GROUP);
    let stride = input.plane4 * GROUP;
    // The loop's reads, checked once: the last group's vectors end inside the input, and the
    // weights hold `groups` groups of INT8_ROWS rows.
    assert!(p + 4 * VECTORS <= input.plane4 && packed.len() == groups * INT8_ROWS * GROUP);
    assert!(groups == 0 || (groups - 1) * stride + (p + 4 * VECTORS) * GROUP <= input.values.len());
    let mut acc = [[I32x4::zero(); VECTORS]; INT8_ROWS];
    for g in 0..groups {
        // SAFETY: within the bounds asserted above (`g < groups`, `r < INT8_ROWS`).
        let (x, w) = unsafe {
            let row = input.values.as_ptr().add(g * stride + p * GROUP);
            (
                std::array::from_fn::<_, VECTORS, _>(|v| I32x4::load_bytes_ptr(row.add(16 * v))),
                packed.as_ptr().add(g * INT8_ROWS * GROUP),
            )
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let w = unsafe { I32x4::splat_bytes_ptr(w.add(r * GROUP)) };
            for (a, x) in acc.iter_mut().zip(&x) {
                *a = a.dot_add(w, *x);
            }
        }
    }
    for (r, (acc, &(a, b))) in acc.iter().zip(terms).enumerate() {
        let (av, bv) = (F32x4::splat(a), F32x4::splat(b));
        for (v, acc) in acc.iter().enumerate() {
            let at = p + 4 * v;
            let y = A::vector(acc.to_f32() * av + bv);
            if at + 4 <= plane {
                y.store_uninit(out, r * plane + at);
            } else {
                for (k, y) in y.to_array().into_iter().enumerate().take(plane - at) {
                    out[r * plane + at + k].write(y);
                }
            }
        }
    }
}

/// Plain-Rust definition: the same quantization, an i32 sum over input channels, the same store.
pub fn pointwise_int8_reference(
    x: &[f32],
    weights: &Int8Weights,
    bias: &[f32],
    plane: usize,
    act: Activation,
) -> Vec<f32> {
    let (cin, cout) = (weights.cin, weights.cout());
    let mut out = Vec::with_capacity(x.len() / (cin * plane) * cout * plane);
    for image in x.chunks_exact(cin * plane) {
        let (lo, hi) = weights.input_max.map_or_else(
            || {
                image
                    .iter()
                    .fold((0.0f32, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)))
            },
            |max| (0.0, max),
        );
        let (scale, zero) = input_range(lo, hi);
        let input = QuantizedInput {
            values: Vec::new(),
            scale,
            zero,
            plane4: 0,
        };
        let terms = weights.store_terms(bias, &input);
        for (co, &(a, b)) in terms.iter().enumerate() {
            for p in 0..plane {
                let acc: i32 = (0..cin)
                    .map(|ci| {
                        let u =
                            quantize_value(image[ci * plane + p], 1.0 / scale, zero as f32 + 0.5);
                        weights.get(co, ci) as i32 * u as i32
                    })
                    .sum();
                out.push(act.apply(acc as f32 * a + b));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{test_values, written_vec, PRODUCT_SHAPES};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The kernel equals its reference to the bit (integer sums, the same float store), over
    /// shapes with partial channel groups, partial blocks and plane tails, signed and
    /// non-negative inputs, and several images.
    #[test]
    fn int8_matches_reference_exactly() {
        // The last shape: enough to quantize on several threads where there are threads.
        for (images, cin, cout, plane) in PRODUCT_SHAPES.into_iter().chain([(1, 64, 8, 5000)]) {
            let w = test_values(cout * cin, 2);
            let b = test_values(cout, 3);
            let mut bounded = Int8Weights::quantize(&w, cout, cin);
            bounded.bound_inputs(6.0);
            for (non_negative, weights) in [
                (false, Int8Weights::quantize(&w, cout, cin)),
                (true, Int8Weights::quantize(&w, cout, cin)),
                (true, bounded),
            ] {
                let mut x = test_values(images * cin * plane, 1);
                if non_negative {
                    x.iter_mut().for_each(|v| *v = v.max(0.0) * 6.0);
                }
                for act in [
                    Activation::Identity,
                    Activation::Relu6,
                    Activation::Hardswish,
                ] {
                    let expected = pointwise_int8_reference(&x, &weights, &b, plane, act);
                    let out = unsafe {
                        written_vec(expected.len(), |out| {
                            pointwise_int8(&x, &weights, &b, plane, act, out)
                        })
                    };
                    assert_eq!(out, expected, "{images}x{cin}x{cout}x{plane} {act:?}");
                }
            }
        }
    }

    /// The int8 product stays within its quantization error of the float32 one: each input off
    /// by at most half a step, each weight by half of its own.
    #[test]
    fn int8_is_close_to_float32() {
        let (cin, cout, plane) = (64, 16, 50);
        let x = test_values(cin * plane, 7);
        let w = test_values(cout * cin, 8);
        let b = test_values(cout, 9);
        let weights = Int8Weights::quantize(&w, cout, cin);
        let exact = super::super::pointwise::pointwise_reference(
            &x,
            &w,
            &b,
            cin,
            plane,
            Activation::Identity,
        );
        let int8 = pointwise_int8_reference(&x, &weights, &b, plane, Activation::Identity);
        let input_step = 2.0 / 127.0;
        for (co, (e, q)) in exact.chunks(plane).zip(int8.chunks(plane)).enumerate() {
            let w_step = weights.scales[co];
            let bound = cin as f32 * (input_step / 2.0 + w_step / 2.0 + input_step * w_step / 4.0);
            for (e, q) in e.iter().zip(q) {
                assert!(
                    (e - q).abs() <= bound,
                    "channel {co}: {q} vs {e} (bound {bound})"
                );
            }
        }
    }

    #[test]
    fn quantization_maps_the_range_onto_seven_bits() {
        // Non-negative: zero point 0, the maximum at 127.
        assert_eq!(input_range(0.5, 6.0), (6.0 / 127.0, 0));
        // Signed: zero exactly representable.
        let (scale, zero) = input_range(-1.0, 3.0);
        assert_eq!((scale, zero), (4.0 / 127.0, 32));
        let offset = zero as f32 + 0.5;
        assert_eq!(quantize_value(-1.0, 1.0 / scale, offset), 0);
        assert_eq!(quantize_value(0.0, 1.0 / scale, offset), 32);
        assert_eq!(quantize_value(3.0, 1.0 / scale, offset), 127);
        // Half up; past 127 (the scale's rounding) clamped.
        assert_eq!(quantize_value(2.5, 1.0, 0.5), 3);
        assert_eq!(quantize_value(127.7, 1.0, 0.5), 127);
        // All zeros, or nothing: a harmless scale.
        assert_eq!(input_range(0.0, 0.0), (1.0, 0));
        // Layout: a pixel's 4 channels adjacent.
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect(); // 4 channels × 2 pixels
        let q = quantize_input(&x, 4, 2, None, Vec::new());
        let s = 127.0 / 7.0;
        let expect = |v: f32| (v * s + 0.5) as u8;
        assert_eq!(q.values[..4], [0.0, 2.0, 4.0, 6.0].map(expect));
        assert_eq!(q.values[4..8], [1.0, 3.0, 5.0, 7.0].map(expect));
    }
}
