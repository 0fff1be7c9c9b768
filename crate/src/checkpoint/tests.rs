//! The checkpoint reader's and writer's tests.

use safetensors::tensor::TensorView;

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn sample() -> Vec<u8> {
    write_safetensors(
        &[
            ("a.weight".into(), vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
            ("a.bias".into(), vec![2], vec![0.5, -0.5]),
        ],
        StoreDtype::F16,
        HashMap::from([("k".to_string(), "v".to_string())]),
    )
    .unwrap()
}

#[test]
fn round_trip_f16() {
    let bytes = sample();
    let ck = Checkpoint::from_bytes(&bytes).unwrap();
    assert_eq!(ck.metadata()["k"], "v");
    assert_eq!(
        ck.read("a.weight").unwrap(),
        (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])
    );
}

#[test]
fn empty_truncated_and_garbage_files_are_bad_models() {
    let good = sample();
    for bad in [
        Vec::new(),
        good[..good.len() - 3].to_vec(),
        good[..5].to_vec(),
        b"definitely not a safetensors file".to_vec(),
        u64::MAX.to_le_bytes().to_vec(),
    ] {
        let err = Checkpoint::from_bytes(&bad).err().unwrap();
        assert_eq!(err.code(), "BAD_MODEL", "{err}");
    }
}

#[test]
fn non_finite_values_are_rejected_at_their_index() {
    // Inside the 4-lane scan and in the tail after it, in f32 and in f16.
    for (len, at, bad) in [
        (2, 1, f32::NAN),
        (13, 5, f32::INFINITY),
        (13, 12, f32::NEG_INFINITY),
        (64, 0, f32::NAN),
    ] {
        let mut values: Vec<f32> = (0..len).map(|i| i as f32 - 3.5).collect();
        values[at] = bad;
        for dtype in [StoreDtype::F32, StoreDtype::F16] {
            let bytes = write_safetensors(
                &[("w".into(), vec![len], values.clone())],
                dtype,
                HashMap::new(),
            )
            .unwrap();
            let ck = Checkpoint::from_bytes(&bytes).unwrap();
            let err = ck.read("w").unwrap_err();
            assert_eq!(err.code(), "BAD_MODEL");
            let expected = format!("tensor `w` holds a non-finite value at index {at}");
            assert!(err.to_string().contains(&expected), "{dtype:?}: {err}");
        }
    }
    let finite: Vec<f32> = (0..13).map(|i| i as f32 * 1e30).collect();
    let bytes = write_safetensors(
        &[("w".into(), vec![13], finite.clone())],
        StoreDtype::F32,
        HashMap::new(),
    )
    .unwrap();
    let ck = Checkpoint::from_bytes(&bytes).unwrap();
    assert_eq!(ck.read("w").unwrap(), (vec![13], finite));
}

#[test]
fn non_finite_bf16_values_are_rejected_at_their_index() {
    // bf16 is an f32's upper half; the file is made by hand (the writer stores f32 or f16).
    let bf16 = |values: &[f32]| -> Vec<u8> {
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        let view = TensorView::new(Dtype::BF16, vec![values.len()], &bytes).unwrap();
        safetensors::tensor::serialize([("w", view)], None).unwrap()
    };
    let finite = [1.5, -2.0, 2.0f32.powi(127), 0.0, -0.25];
    let ck_bytes = bf16(&finite);
    let ck = Checkpoint::from_bytes(&ck_bytes).unwrap();
    assert_eq!(ck.read("w").unwrap().1, finite);
    for (at, bad) in [(0, f32::NAN), (3, f32::INFINITY), (4, f32::NEG_INFINITY)] {
        let mut values = finite;
        values[at] = bad;
        let bytes = bf16(&values);
        let err = Checkpoint::from_bytes(&bytes)
            .unwrap()
            .read("w")
            .unwrap_err();
        let expected = format!("tensor `w` holds a non-finite value at index {at}");
        assert!(err.to_string().contains(&expected), "{err}");
    }
}

#[test]
fn weights_report_missing_and_misshaped_tensors_by_name() {
    let bytes = sample();
    let ck = Checkpoint::from_bytes(&bytes).unwrap();
    let (root, usage) = ck.weights();
    let err = root.pp("a").get(&[3, 2], "weight").unwrap_err();
    assert_eq!(
        err,
        Error::TensorShape {
            name: "a.weight".into(),
            expected: vec![3, 2],
            actual: vec![2, 2]
        }
    );
    let err = root.pp("b").get(&[2], "bias").unwrap_err();
    assert_eq!(
        err,
        Error::MissingTensor {
            name: "b.bias".into()
        }
    );
    assert_eq!(
        usage.ensure_all_used(&ck).unwrap_err().code(),
        "UNUSED_TENSORS"
    );
    assert_eq!(root.pp("a").get(&[2], "bias").unwrap(), [0.5, -0.5]);
    usage.ensure_all_used(&ck).unwrap_err();
    assert_eq!(root.pp("a").shape("weight").unwrap(), [2, 2]);
    root.pp("a").get(&[2, 2], "weight").unwrap();
    usage.ensure_all_used(&ck).unwrap();
}

/// An int8 file reads back as the dequantized weights; its scales are part of the weight (read
/// with it, not parameters of their own), and an int8 tensor without fitting scales is refused.
#[test]
fn int8_weights_read_back_dequantized() {
    let weight: Vec<f32> = (0..12).map(|i| (i as f32 - 5.5) / 4.0).collect();
    let tensors = [
        ("conv.weight".to_string(), vec![3, 4], weight.clone()),
        ("conv.bias".to_string(), vec![3], vec![0.5, -0.5, 0.25]),
    ];
    let bytes = write_safetensors(&tensors, StoreDtype::Int8, HashMap::new()).unwrap();
    let checkpoint = Checkpoint::from_bytes(&bytes).unwrap();
    assert_eq!(checkpoint.dtype("conv.weight"), Some(Dtype::I8));
    assert_eq!(checkpoint.dtype("conv.bias"), Some(Dtype::F32));
    assert!(checkpoint.is_int8_scales("conv.weight_scale"));
    assert!(!checkpoint.is_int8_scales("conv.bias"));
    let (q, scales) = int8::quantize(&weight, 3);
    let bytes_q: Vec<u8> = q.iter().map(|&v| v as u8).collect();
    let expected = int8::dequantize("conv.weight", &bytes_q, &scales).unwrap();
    let (root, usage) = checkpoint.weights();
    assert_eq!(root.pp("conv").get(&[3, 4], "weight").unwrap(), expected);
    root.pp("conv").get(&[3], "bias").unwrap();
    usage.ensure_all_used(&checkpoint).unwrap();

    let q_only = {
        let view = TensorView::new(Dtype::I8, vec![3, 4], &bytes_q).unwrap();
        safetensors::tensor::serialize([("conv.weight".to_string(), view)], None).unwrap()
    };
    let err = Checkpoint::from_bytes(&q_only).err().unwrap();
    assert_eq!(err.code(), "BAD_MODEL");
    assert!(err.to_string().contains("conv.weight_scale"), "{err}");
}
