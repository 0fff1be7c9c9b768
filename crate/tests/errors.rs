//! Bad input gets a typed error naming the problem, never a panic.

mod common;

use common::*;
use mobilenet_wasm::{Architecture, Error, Model, ModelConfig, Pixels};

fn load_err(bytes: &[u8], config: Option<ModelConfig>) -> Error {
    match Model::from_safetensors(bytes, config) {
        Ok(_) => panic!("loading should have failed"),
        Err(e) => e,
    }
}

async fn check_corrupt_files() {
    let good = shared("weights/mobilenetv3_small_100.safetensors").await;
    let config = || Some(case("mobilenetv3_small_100").config());
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("4 bytes", good[..4].to_vec()),
        ("header only", good[..4096].to_vec()),
        ("truncated by one byte", good[..good.len() - 1].to_vec()),
        ("text", b"<html>404 Not Found</html>".to_vec()),
        // A header length of 2^63: must be refused before any allocation.
        ("gigantic header length", {
            let mut b = (1u64 << 63).to_le_bytes().to_vec();
            b.extend_from_slice(b"{}");
            b
        }),
    ] {
        let err = load_err(&bytes, config());
        assert_eq!(err.code(), "BAD_MODEL", "{what}: {err}");
    }
    // Corrupting header bytes anywhere gives a model (if the JSON survives) or an error saying what
    // no longer holds, never a panic: the file is broken, or a tensor's name or shape changed.
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for i in (8..8 + header_len).step_by(97) {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        if let Err(e) = Model::from_safetensors(&bad, config()) {
            let expected = [
                "BAD_MODEL",
                "MISSING_TENSOR",
                "TENSOR_SHAPE",
                "UNUSED_TENSORS",
            ];
            assert!(expected.contains(&e.code()), "byte {i}: {} {e}", e.code());
        }
    }
}
shared_test!(corrupt_files_are_bad_models, check_corrupt_files());

async fn check_wrong_architecture() {
    let v2 = shared("weights/mobilenetv2_100.safetensors").await;
    // V2 weights as V3-Small: the stem is 32 wide, V3 wants 16.
    let err = load_err(&v2, Some(ModelConfig::new(Architecture::MobileNetV3Small)));
    assert_eq!(
        err,
        Error::TensorShape {
            name: "features.0.0.weight".into(),
            expected: vec![16, 3, 3, 3],
            actual: vec![32, 3, 3, 3],
        }
    );
    // Right architecture, wrong width: the stem's shape is wrong, by name and shapes.
    let err = load_err(
        &v2,
        Some(ModelConfig::new(Architecture::MobileNetV2).with_width(0.5)),
    );
    assert_eq!(
        err,
        Error::TensorShape {
            name: "features.0.0.weight".into(),
            expected: vec![16, 3, 3, 3],
            actual: vec![32, 3, 3, 3],
        }
    );
    assert!(err.to_string().contains("features.0.0.weight"));
    // V3-Small weights as V3-Large: block 1 of Large has no SE, so its project conv is
    // `block.1`, which Small does not have.
    let small = shared("weights/mobilenetv3_small_100.safetensors").await;
    let err = load_err(
        &small,
        Some(ModelConfig::new(Architecture::MobileNetV3Large)),
    );
    assert_eq!(
        err,
        Error::MissingTensor {
            name: "features.1.block.1.0.weight".into()
        }
    );
    assert!(err.to_string().contains("features.1.block.1.0.weight"));
    // V1 1.0 weights read as V1 0.75.
    let v1 = shared("reference/synthetic/mobilenetv1_100.safetensors").await;
    let err = load_err(
        &v1,
        Some(ModelConfig::new(Architecture::MobileNetV1).with_width(0.75)),
    );
    assert_eq!(err.code(), "TENSOR_SHAPE", "{err}");
}
shared_test!(
    wrong_architecture_names_the_tensor,
    check_wrong_architecture()
);

async fn check_missing_and_extra_tensors() {
    use mobilenet_wasm::checkpoint::{write_safetensors, Checkpoint, StoreDtype};
    let bytes = shared("weights/mobilenetv1_075.safetensors").await;
    let checkpoint = Checkpoint::from_bytes(&bytes).unwrap();
    let tensors = |skip: &str, extra: bool| {
        let mut t: Vec<(String, Vec<usize>, Vec<f32>)> = checkpoint
            .names()
            .filter(|n| *n != skip)
            .map(|n| {
                let (shape, values) = checkpoint.read(n).unwrap();
                (n.to_string(), shape, values)
            })
            .collect();
        if extra {
            t.push(("head.extra.weight".into(), vec![2], vec![0.0, 1.0]));
        }
        write_safetensors(&t, StoreDtype::F32, Default::default()).unwrap()
    };
    let config = || Some(case("mobilenetv1_075").config());
    let err = load_err(&tensors("features.7.1.running_var", false), config());
    assert_eq!(
        err,
        Error::MissingTensor {
            name: "features.7.1.running_var".into()
        }
    );
    let err = load_err(&tensors("", true), config());
    assert_eq!(
        err,
        Error::UnusedTensors {
            count: 1,
            example: "head.extra.weight".into()
        }
    );
}
shared_test!(
    missing_and_unused_tensors,
    check_missing_and_extra_tensors()
);

async fn check_configuration_errors() {
    let bytes = shared("weights/mobilenetv2_100.safetensors").await;
    // A plain checkpoint without an architecture.
    assert_eq!(load_err(&bytes, None).code(), "UNKNOWN_ARCH");
    assert_eq!(
        "resnet50".parse::<Architecture>().unwrap_err(),
        Error::UnknownArchitecture {
            name: "resnet50".into(),
            known: mobilenet_wasm::arch::name_list(),
        }
    );
    // Labels that do not fit the classifier.
    let config = ModelConfig::new(Architecture::MobileNetV2).with_labels(vec!["cat".into()]);
    let err = load_err(&bytes, Some(config));
    assert_eq!(err.code(), "BAD_CONFIG");
    assert!(err.to_string().contains("1 labels"), "{err}");
    for width in [0.0, -1.0, f64::NAN, 100.0] {
        let config = ModelConfig::new(Architecture::MobileNetV2).with_width(width);
        assert_eq!(load_err(&bytes, Some(config)).code(), "BAD_CONFIG");
    }
}
shared_test!(configuration_errors, check_configuration_errors());

async fn check_bad_images() {
    let model = load_model(case("mobilenetv3_small_100")).await;
    let pixels = vec![0u8; 64 * 48 * 4];
    for (w, h, len) in [
        (0, 48, 0),
        (64, 0, 0),
        (64, 48, pixels.len() - 1),
        (48, 64, pixels.len() - 4),
        (u32::MAX, u32::MAX, pixels.len()),
        (1 << 20, 1, pixels.len()),
    ] {
        let err = model
            .classify(&Pixels::rgba(&pixels[..len], w, h), 5)
            .unwrap_err();
        assert_eq!(err.code(), "BAD_IMAGE", "{w}x{h} with {len} bytes: {err}");
    }
    // The instance is unaffected by the failures.
    let ok = model.classify(&Pixels::rgba(&pixels, 64, 48), 3).unwrap();
    assert_eq!(ok.len(), 3);
    // RGB input works as well as RGBA, and gives the same answer.
    let rgb: Vec<u8> = (0..64 * 48 * 3).map(|i| (i * 13 % 256) as u8).collect();
    let rgba: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[0], p[1], p[2], 7]).collect();
    assert_eq!(
        model.logits(&Pixels::rgb(&rgb, 64, 48)).unwrap(),
        model.logits(&Pixels::rgba(&rgba, 64, 48)).unwrap()
    );
}
shared_test!(bad_images_are_typed_errors, check_bad_images());

async fn check_bad_tensors_and_small_inputs() {
    for name in [
        "mobilenetv3_small_100",
        "tv_mobilenet_v3_large",
        "mobilenetv2_100",
        "mobilenetv1_075",
    ] {
        let model = load_model(case(name)).await;
        for shape in [
            [1, 3, 15, 224],
            [1, 1, 224, 224],
            [0, 3, 224, 224],
            [1, 3, 5000, 16],
        ] {
            let n: usize = shape.iter().product();
            let err = model.logits_nchw(&vec![0.0; n], shape).unwrap_err();
            assert_eq!(err.code(), "BAD_INPUT", "{name} {shape:?}");
        }
        let err = model.logits_nchw(&[0.0; 10], [1, 3, 16, 16]).unwrap_err();
        assert_eq!(err.code(), "BAD_INPUT");
        // The smallest and some awkward sizes run through every layer.
        for (h, w) in [(16, 16), (17, 23), (31, 16)] {
            let input = vec![0.5; 3 * h * w];
            let logits = model.logits_nchw(&input, [1, 3, h, w]).unwrap().remove(0);
            assert_eq!(logits.len(), 1000);
            assert!(logits.iter().all(|v| v.is_finite()), "{name} at {h}x{w}");
        }
    }
}
shared_test!(
    bad_tensors_and_small_inputs,
    check_bad_tensors_and_small_inputs()
);
