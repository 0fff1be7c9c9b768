//! The residual connection of inverted-residual and sandglass blocks: the block's output `h`
//! becomes `h + x`, in place. candle's `Tensor::add` would allocate a third tensor, and as the only
//! binary op inference used it linked candle's binary kernels for every dtype (~60 kB of wasm).

use candle_core::{CpuStorage, InplaceOp2, Layout};

use super::storage_f32;

/// `h[i] += x[i]`. The plain loop is the kernel: the compiler vectorises it to f32x4 adds, which
/// round exactly as the scalar ones.
pub fn add_into(h: &mut [f32], x: &[f32]) {
    assert_eq!(h.len(), x.len(), "residual operands differ in length");
    for (a, &b) in h.iter_mut().zip(x) {
        *a += b;
    }
}

/// [`add_into`] as a candle in-place op on two contiguous f32 tensors of one shape:
/// `h.inplace_op2(&x, &ResidualAdd)`.
pub struct ResidualAdd;

impl InplaceOp2 for ResidualAdd {
    fn name(&self) -> &'static str {
        "residual-add"
    }

    fn cpu_fwd(
        &self,
        h: &mut CpuStorage,
        h_layout: &Layout,
        x: &CpuStorage,
        x_layout: &Layout,
    ) -> candle_core::Result<()> {
        if h_layout.shape() != x_layout.shape() {
            candle_core::bail!(
                "residual of shape {:?} added to {:?}",
                x_layout.shape(),
                h_layout.shape()
            );
        }
        let x = storage_f32(x, x_layout)?;
        let (CpuStorage::F32(h), Some((start, end))) = (h, h_layout.contiguous_offsets()) else {
            candle_core::bail!("the residual's target must be a contiguous f32 tensor");
        };
        add_into(&mut h[start..end], x);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values;
    use candle_core::{Device, Tensor};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn adds_in_place_as_candle_adds() {
        // Lengths with and without a tail after the 4-lane vectors.
        for len in [1, 4, 7, 24 * 28 * 28 + 3] {
            let (h, x) = (test_values(len, 1), test_values(len, 2));
            let h = Tensor::from_vec(h, (1, len), &Device::Cpu).unwrap();
            let x = Tensor::from_vec(x, (1, len), &Device::Cpu).unwrap();
            let expected = (&h + &x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            h.inplace_op2(&x, &ResidualAdd).unwrap();
            assert_eq!(
                h.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                expected,
                "{len}"
            );
        }
    }

    #[test]
    fn refuses_operands_of_other_shapes() {
        let h = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let x = Tensor::zeros((3, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(h.inplace_op2(&x, &ResidualAdd).is_err());
    }
}
