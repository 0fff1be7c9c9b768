//! Element-wise activations, in the exact form PyTorch computes them.

use super::simd::F32x4;

/// `with_activation!(act, A => expr)` evaluates `expr` with the type `A` bound to the
/// [`ActivationKernel`] of the runtime value `act`.
macro_rules! with_activation {
    ($act:expr, $k:ident => $body:expr) => {{
        use $crate::kernels::activation::{kinds, Activation};
        match $act {
            Activation::Identity => {
                type $k = kinds::Identity;
                $body
            }
            Activation::Relu => {
                type $k = kinds::Relu;
                $body
            }
            Activation::Relu6 => {
                type $k = kinds::Relu6;
                $body
            }
            Activation::Hardswish => {
                type $k = kinds::Hardswish;
                $body
            }
            Activation::Hardsigmoid => {
                type $k = kinds::Hardsigmoid;
                $body
            }
        }
    }};
}
pub(crate) use with_activation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    Relu6,
    /// `x * relu6(x + 3) / 6`
    Hardswish,
    /// `relu6(x + 3) / 6`
    Hardsigmoid,
}

impl Activation {
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::Hardswish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Activation::Hardsigmoid => (x + 3.0).clamp(0.0, 6.0) / 6.0,
        }
    }

    /// Applies the activation in place.
    pub fn apply_slice(self, xs: &mut [f32]) {
        with_activation!(self, A => map_slice::<A>(xs, 0.0))
    }

    /// `xs[i] = act(xs[i] + bias)` in place.
    pub fn apply_with_bias(self, xs: &mut [f32], bias: f32) {
        with_activation!(self, A => map_slice::<A>(xs, bias))
    }
}

fn map_slice<A: ActivationKernel>(xs: &mut [f32], bias: f32) {
    let (scalar_bias, bias) = (bias, F32x4::splat(bias));
    let body = xs.len() / 4 * 4;
    for i in (0..body).step_by(4) {
        A::vector(F32x4::load(xs, i) + bias).store(xs, i);
    }
    for x in &mut xs[body..] {
        *x = A::scalar(*x + scalar_bias);
    }
}

/// An activation as a type, so kernels are monomorphised per activation instead of branching per
/// element. Use through [`with_activation!`].
pub(crate) trait ActivationKernel {
    fn scalar(x: f32) -> f32;
    fn vector(x: F32x4) -> F32x4;
}

pub(crate) mod kinds {
    use super::{ActivationKernel, F32x4};

    pub struct Identity;
    pub struct Relu;
    pub struct Relu6;
    pub struct Hardswish;
    pub struct Hardsigmoid;

    #[inline(always)]
    fn relu6_shifted(x: F32x4, shift: f32) -> F32x4 {
        (x + F32x4::splat(shift))
            .max(F32x4::splat(0.0))
            .min(F32x4::splat(6.0))
    }

    impl ActivationKernel for Identity {
        #[inline(always)]
        fn scalar(x: f32) -> f32 {
            x
        }
        #[inline(always)]
        fn vector(x: F32x4) -> F32x4 {
            x
        }
    }
    impl ActivationKernel for Relu {
        #[inline(always)]
        fn scalar(x: f32) -> f32 {
            x.max(0.0)
        }
        #[inline(always)]
        fn vector(x: F32x4) -> F32x4 {
            x.max(F32x4::splat(0.0))
        }
    }
    impl ActivationKernel for Relu6 {
        #[inline(always)]
        fn scalar(x: f32) -> f32 {
            x.clamp(0.0, 6.0)
        }
        #[inline(always)]
        fn vector(x: F32x4) -> F32x4 {
            relu6_shifted(x, 0.0)
        }
    }
    impl ActivationKernel for Hardswish {
        #[inline(always)]
        fn scalar(x: f32) -> f32 {
            x * (x + 3.0).clamp(0.0, 6.0) / 6.0
        }
        #[inline(always)]
        fn vector(x: F32x4) -> F32x4 {
            x * relu6_shifted(x, 3.0) / F32x4::splat(6.0)
        }
    }
    impl ActivationKernel for Hardsigmoid {
        #[inline(always)]
        fn scalar(x: f32) -> f32 {
            (x + 3.0).clamp(0.0, 6.0) / 6.0
        }
        #[inline(always)]
        fn vector(x: F32x4) -> F32x4 {
            relu6_shifted(x, 3.0) / F32x4::splat(6.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const ALL: [Activation; 5] = [
        Activation::Identity,
        Activation::Relu,
        Activation::Relu6,
        Activation::Hardswish,
        Activation::Hardsigmoid,
    ];

    #[test]
    fn vector_path_equals_scalar_definition() {
        let xs: Vec<f32> = (0..103).map(|i| (i as f32 - 51.0) * 0.17).collect();
        for act in ALL {
            let mut fast = xs.clone();
            act.apply_with_bias(&mut fast, 0.25);
            for (x, y) in xs.iter().zip(&fast) {
                assert_eq!(*y, act.apply(x + 0.25), "{act:?} at {x}");
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(Activation::Hardswish.apply(-3.0), 0.0);
        assert_eq!(Activation::Hardswish.apply(3.0), 3.0);
        assert_eq!(Activation::Hardswish.apply(1.0), 1.0 * 4.0 / 6.0);
        assert_eq!(Activation::Hardsigmoid.apply(0.0), 0.5);
        assert_eq!(Activation::Relu6.apply(7.5), 6.0);
        assert_eq!(Activation::Relu.apply(-1.0), 0.0);
    }
}
