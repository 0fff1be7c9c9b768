//! Four f32 lanes: WebAssembly SIMD128 on wasm32, a plain array elsewhere (which native compilers
//! vectorise themselves). Kernels are written once against this type, so the native tests run the
//! same blocked algorithm the browser runs.
//!
//! Loads and stores take a slice and an index and are bounds-checked: a wrong index in a kernel is a
//! panic in tests, never an out-of-bounds read. The exceptions are `unsafe`: `load_ptr` and
//! `load_even_ptr` read through a pointer, for inner loops whose bounds are checked once before the
//! loop (each call site says why it stays inside).
//!
//! [`F32x4::mul_add`] is one fused multiply-add in a wasm build with relaxed SIMD (the package's
//! second module, for browsers that have it), and a multiply then an add everywhere else, rounding
//! exactly as the scalar references do.

/// Whether [`F32x4::mul_add`] may fuse (round once): kernels then agree with their references up
/// to rounding rather than to the last bit.
pub const FUSED_MULTIPLY_ADD: bool =
    cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd"));

/// `+`, `*` and `/` lane by lane, from one expression per operator.
macro_rules! lane_ops {
    ($add:expr, $mul:expr, $div:expr) => {
        impl core::ops::Add for F32x4 {
            type Output = F32x4;
            #[inline(always)]
            fn add(self, o: F32x4) -> F32x4 {
                let f: fn(F32x4, F32x4) -> F32x4 = $add;
                f(self, o)
            }
        }
        impl core::ops::Mul for F32x4 {
            type Output = F32x4;
            #[inline(always)]
            fn mul(self, o: F32x4) -> F32x4 {
                let f: fn(F32x4, F32x4) -> F32x4 = $mul;
                f(self, o)
            }
        }
        impl core::ops::Div for F32x4 {
            type Output = F32x4;
            #[inline(always)]
            fn div(self, o: F32x4) -> F32x4 {
                let f: fn(F32x4, F32x4) -> F32x4 = $div;
                f(self, o)
            }
        }
    };
}
use lane_ops;

#[cfg(target_arch = "wasm32")]
mod imp {
    use core::arch::wasm32::*;
    use std::mem::MaybeUninit;

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    impl F32x4 {
        #[inline(always)]
        pub fn splat(v: f32) -> Self {
            F32x4(f32x4_splat(v))
        }
        #[inline(always)]
        pub fn load(s: &[f32], i: usize) -> Self {
            let s = &s[i..i + 4];
            // SAFETY: `s` has exactly 4 elements; v128_load allows unaligned addresses.
            F32x4(unsafe { v128_load(s.as_ptr() as *const v128) })
        }
        /// Lanes `s[i], s[i+2], s[i+4], s[i+6]` (reads `s[i..i+8]`).
        #[inline(always)]
        pub fn load_even(s: &[f32], i: usize) -> Self {
            let lo = Self::load(s, i).0;
            let hi = Self::load(s, i + 4).0;
            F32x4(i32x4_shuffle::<0, 2, 4, 6>(lo, hi))
        }
        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn load_ptr(p: *const f32) -> Self {
            F32x4(v128_load(p as *const v128))
        }
        /// # Safety
        /// `p..p+8` must be readable.
        #[inline(always)]
        pub unsafe fn load_even_ptr(p: *const f32) -> Self {
            let lo = v128_load(p as *const v128);
            let hi = v128_load(p.add(4) as *const v128);
            F32x4(i32x4_shuffle::<0, 2, 4, 6>(lo, hi))
        }
        #[inline(always)]
        pub fn store(self, s: &mut [f32], i: usize) {
            let s = &mut s[i..i + 4];
            // SAFETY: as in `load`.
            unsafe { v128_store(s.as_mut_ptr() as *mut v128, self.0) }
        }
        /// `store` into memory not yet initialised.
        #[inline(always)]
        pub fn store_uninit(self, s: &mut [MaybeUninit<f32>], i: usize) {
            let s = &mut s[i..i + 4];
            // SAFETY: as in `load`.
            unsafe { v128_store(s.as_mut_ptr() as *mut v128, self.0) }
        }
        /// `max(self, o)`; NaN handling as `pmax` (inputs are finite here).
        #[inline(always)]
        pub fn max(self, o: Self) -> Self {
            F32x4(f32x4_pmax(self.0, o.0))
        }
        #[inline(always)]
        pub fn min(self, o: Self) -> Self {
            F32x4(f32x4_pmin(self.0, o.0))
        }
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            let mut a = [0.0; 4];
            self.store(&mut a, 0);
            a
        }
        /// Four channels' lanes (4 pixels each, each in (-1, 256)) as 16 bytes by pixel,
        /// `out[4·p + c] = lanes[c][p]`, each truncated as `as u8` does.
        #[inline(always)]
        pub fn store_bytes_by_pixel(lanes: [Self; 4], out: &mut [u8]) {
            // Relaxed SIMD's truncation is one instruction on x86, where the saturating one
            // takes several; they agree on every lane below 2^31, and callers' lanes lie in
            // (-1, 256).
            #[cfg(target_feature = "relaxed-simd")]
            let [a, b, c, d] = lanes.map(|l| i32x4_relaxed_trunc_f32x4(l.0));
            #[cfg(not(target_feature = "relaxed-simd"))]
            let [a, b, c, d] = lanes.map(|l| i32x4_trunc_sat_f32x4(l.0));
            let bytes = u8x16_narrow_i16x8(i16x8_narrow_i32x4(a, b), i16x8_narrow_i32x4(c, d));
            let by_pixel =
                i8x16_shuffle::<0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15>(bytes, bytes);
            let out = &mut out[..16];
            // SAFETY: 16 bytes in bounds; v128_store allows unaligned addresses.
            unsafe { v128_store(out.as_mut_ptr() as *mut v128, by_pixel) }
        }
        /// `self + a · b`, fused where relaxed SIMD is enabled (x86 engines with FMA, and ARM, fuse it).
        #[inline(always)]
        pub fn mul_add(self, a: Self, b: Self) -> Self {
            #[cfg(target_feature = "relaxed-simd")]
            {
                F32x4(f32x4_relaxed_madd(a.0, b.0, self.0))
            }
            #[cfg(not(target_feature = "relaxed-simd"))]
            {
                self + a * b
            }
        }
    }

    super::lane_ops!(
        |a, b| F32x4(f32x4_add(a.0, b.0)),
        |a, b| F32x4(f32x4_mul(a.0, b.0)),
        |a, b| { F32x4(f32x4_div(a.0, b.0)) }
    );

    /// Four i32 lanes, each summing products of 4 bytes.
    #[derive(Clone, Copy)]
    pub struct I32x4(v128);

    impl I32x4 {
        #[inline(always)]
        pub fn zero() -> Self {
            I32x4(i32x4_splat(0))
        }
        /// 16 bytes from `p`: lane `k` holds `p[4k..4k + 4]`.
        ///
        /// # Safety
        /// `p..p+16` must be readable.
        #[inline(always)]
        pub unsafe fn load_bytes_ptr(p: *const u8) -> Self {
            I32x4(v128_load(p as *const v128))
        }
        /// The 4 bytes `p[0..4]` in every lane.
        ///
        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn splat_bytes_ptr(p: *const i8) -> Self {
            I32x4(v128_load32_splat(p as *const u32))
        }
        /// `self + Σ w·x` over each lane's 4 bytes: `w` signed, `x` in `0..=127` (where relaxed
        /// SIMD's dot is deterministic).
        #[inline(always)]
        pub fn dot_add(self, w: Self, x: Self) -> Self {
            #[cfg(target_feature = "relaxed-simd")]
            {
                I32x4(i32x4_relaxed_dot_i8x16_i7x16_add(w.0, x.0, self.0))
            }
            #[cfg(not(target_feature = "relaxed-simd"))]
            {
                // Pairs of products by i32x4.dot_i16x8_s on bytes widened to 16 bits, then each
                // lane's two pairs added.
                let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(w.0), u16x8_extend_low_u8x16(x.0));
                let hi =
                    i32x4_dot_i16x8(i16x8_extend_high_i8x16(w.0), u16x8_extend_high_u8x16(x.0));
                let even = i32x4_shuffle::<0, 2, 4, 6>(lo, hi);
                let odd = i32x4_shuffle::<1, 3, 5, 7>(lo, hi);
                I32x4(i32x4_add(self.0, i32x4_add(even, odd)))
            }
        }
        /// Each lane converted to the nearest f32.
        #[inline(always)]
        pub fn to_f32(self) -> F32x4 {
            F32x4(f32x4_convert_i32x4(self.0))
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::mem::MaybeUninit;
    #[derive(Clone, Copy)]
    pub struct F32x4([f32; 4]);

    impl F32x4 {
        #[inline(always)]
        pub fn splat(v: f32) -> Self {
            F32x4([v; 4])
        }
        #[inline(always)]
        pub fn load(s: &[f32], i: usize) -> Self {
            F32x4(s[i..i + 4].try_into().unwrap())
        }
        /// Lanes `s[i], s[i+2], s[i+4], s[i+6]` (requires `s[i..i+8]`, as the wasm version reads it).
        #[inline(always)]
        pub fn load_even(s: &[f32], i: usize) -> Self {
            let s = &s[i..i + 8];
            F32x4([s[0], s[2], s[4], s[6]])
        }
        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn load_ptr(p: *const f32) -> Self {
            F32x4(core::ptr::read_unaligned(p as *const [f32; 4]))
        }
        /// # Safety
        /// `p..p+8` must be readable.
        #[inline(always)]
        pub unsafe fn load_even_ptr(p: *const f32) -> Self {
            let v = core::ptr::read_unaligned(p as *const [f32; 8]);
            F32x4([v[0], v[2], v[4], v[6]])
        }
        #[inline(always)]
        pub fn store(self, s: &mut [f32], i: usize) {
            s[i..i + 4].copy_from_slice(&self.0);
        }
        /// `store` into memory not yet initialised.
        #[inline(always)]
        pub fn store_uninit(self, s: &mut [MaybeUninit<f32>], i: usize) {
            for (d, v) in s[i..i + 4].iter_mut().zip(self.0) {
                d.write(v);
            }
        }
        #[inline(always)]
        fn zip(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
            F32x4(std::array::from_fn(|k| f(self.0[k], o.0[k])))
        }
        #[inline(always)]
        pub fn max(self, o: Self) -> Self {
            self.zip(o, |a, b| if a < b { b } else { a })
        }
        #[inline(always)]
        pub fn min(self, o: Self) -> Self {
            self.zip(o, |a, b| if b < a { b } else { a })
        }
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            self.0
        }
        /// Four channels' lanes (4 pixels each, each in (-1, 256)) as 16 bytes by pixel,
        /// `out[4·p + c] = lanes[c][p]`, each truncated as `as u8` does.
        #[inline(always)]
        pub fn store_bytes_by_pixel(lanes: [Self; 4], out: &mut [u8]) {
            for (c, lane) in lanes.iter().enumerate() {
                for (p, &v) in lane.0.iter().enumerate() {
                    out[4 * p + c] = v as u8;
                }
            }
        }
        /// `self + a · b`, rounded twice like the scalar references.
        #[inline(always)]
        pub fn mul_add(self, a: Self, b: Self) -> Self {
            self + a * b
        }
    }

    super::lane_ops!(
        |a, b| a.zip(b, |x, y| x + y),
        |a, b| a.zip(b, |x, y| x * y),
        |a, b| { a.zip(b, |x, y| x / y) }
    );

    /// Four i32 lanes, each summing products of 4 bytes: the wasm type's lanes, bytes as there.
    #[derive(Clone, Copy)]
    pub struct I32x4([[u8; 4]; 4]);

    impl I32x4 {
        pub fn zero() -> Self {
            I32x4([[0; 4]; 4])
        }
        /// 16 bytes from `p`: lane `k` holds `p[4k..4k + 4]`.
        ///
        /// # Safety
        /// `p..p+16` must be readable.
        pub unsafe fn load_bytes_ptr(p: *const u8) -> Self {
            I32x4(core::ptr::read_unaligned(p as *const [[u8; 4]; 4]))
        }
        /// The 4 bytes `p[0..4]` in every lane.
        ///
        /// # Safety
        /// `p..p+4` must be readable.
        pub unsafe fn splat_bytes_ptr(p: *const i8) -> Self {
            I32x4([core::ptr::read_unaligned(p as *const [u8; 4]); 4])
        }
        fn lane(&self, k: usize) -> i32 {
            i32::from_le_bytes(self.0[k])
        }
        /// `self + Σ w·x` over each lane's 4 bytes: `w` signed, `x` in `0..=127`.
        pub fn dot_add(self, w: Self, x: Self) -> Self {
            I32x4(std::array::from_fn(|k| {
                let products = (0..4).map(|b| w.0[k][b] as i8 as i32 * x.0[k][b] as i32);
                (self.lane(k) + products.sum::<i32>()).to_le_bytes()
            }))
        }
        /// Each lane converted to the nearest f32.
        pub fn to_f32(self) -> F32x4 {
            F32x4(std::array::from_fn(|k| self.lane(k) as f32))
        }
    }
}

pub use imp::{F32x4, I32x4};
