//! Hostile files and inputs, as a fuzzer or an attacker makes them: each is a typed error that
//! says what is wrong, never a panic (which aborts the wasm instance), a NaN answer, or a load
//! that takes seconds before it is refused.

mod common;

use std::collections::HashMap;

use common::*;
use mobilenet_wasm::checkpoint::{write_safetensors, Checkpoint, StoreDtype};
use mobilenet_wasm::convert::{convert, ConvertOptions};
use mobilenet_wasm::head::MAX_LABELS;
use mobilenet_wasm::{Backbone, HeadKind, Learner, Model, Pixels};

const F32: ConvertOptions = ConvertOptions {
    dtype: StoreDtype::F32,
    fold_batch_norm: false,
};

/// Named tensors as `(name, shape, values)`.
type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// The tensors and metadata of a safetensors file.
fn parts(bytes: &[u8]) -> (Tensors, HashMap<String, String>) {
    let checkpoint = Checkpoint::from_bytes(bytes).unwrap();
    let tensors = checkpoint
        .names()
        .map(|n| {
            let (shape, values) = checkpoint.read(n).unwrap();
            (n.to_string(), shape, values)
        })
        .collect();
    (tensors, checkpoint.metadata().clone())
}

fn rewritten(
    bytes: &[u8],
    edit: impl FnOnce(&mut Tensors, &mut HashMap<String, String>),
) -> Vec<u8> {
    let (mut tensors, mut metadata) = parts(bytes);
    edit(&mut tensors, &mut metadata);
    write_safetensors(&tensors, StoreDtype::F32, metadata).unwrap()
}

fn load_code(bytes: &[u8]) -> &'static str {
    match Model::from_safetensors(bytes, None) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// V3-Small as a self-describing file (the network with squeeze-excite and hard-swish).
async fn self_describing() -> Vec<u8> {
    let case = case("mobilenetv3_small_100");
    convert(&shared(&case.weights).await, case.config(), F32)
        .unwrap()
        .bytes
}

/// Normalisation constants that would overflow the network (a subnormal std, a mean of 1e38)
/// are refused at load; weights that fold into infinities too; and where finite weights still
/// overflow at run time the answer is a NON_FINITE error, never NaN probabilities.
async fn check_non_finite_configs_and_results() {
    let good = self_describing().await;
    for (key, value) in [
        ("std", "[1e-45, 0.224, 0.225]"),
        ("std", "[0.0, 0.224, 0.225]"),
        ("mean", "[1e38, 0.456, 0.406]"),
        ("mean", "[0.485, -1e30, 0.406]"),
    ] {
        let bad = rewritten(&good, |_, m| {
            m.insert(key.into(), value.into());
        });
        assert_eq!(load_code(&bad), "BAD_CONFIG", "{key} {value}");
    }
    // A BatchNorm scale γ/√(var + ε) of ~1e40 folded into its conv's weights.
    let bad = rewritten(&good, |tensors, _| {
        for (name, _, values) in tensors.iter_mut() {
            match name.as_str() {
                "features.0.1.weight" => values[0] = 3e38,
                "features.0.1.running_var" => values[0] = 1e-3,
                "features.0.0.weight" => values.iter_mut().for_each(|v| *v = 1.0),
                _ => {}
            }
        }
    });
    let err = Model::from_safetensors(&bad, None).err().unwrap();
    assert_eq!(err.code(), "BAD_MODEL", "{err}");
    assert!(err.to_string().contains("features.0.1"), "{err}");
    // Finite weights that overflow only when multiplied through the network.
    let folded = {
        let case = case("mobilenetv3_small_100");
        let options = ConvertOptions {
            fold_batch_norm: true,
            ..F32
        };
        convert(&shared(&case.weights).await, case.config(), options)
            .unwrap()
            .bytes
    };
    let huge = rewritten(&folded, |tensors, _| {
        for (name, _, values) in tensors.iter_mut() {
            if name.ends_with(".weight") {
                values.iter_mut().for_each(|v| *v = v.signum() * 3e37);
            }
        }
    });
    let model = Model::from_safetensors(&huge, None).unwrap();
    let rgba: Vec<u8> = (0..64 * 48 * 4).map(|i| (i % 251) as u8).collect();
    let pixels = Pixels::rgba(&rgba, 64, 48);
    for err in [
        model.classify(&pixels, 5).err(),
        model.logits(&pixels).err(),
        model.embed(&pixels).err(),
    ] {
        assert_eq!(err.map(|e| e.code()), Some("NON_FINITE"));
    }
}
shared_test!(
    non_finite_configs_and_results_are_errors,
    check_non_finite_configs_and_results()
);

/// A non-finite input value is BAD_INPUT, with or without a custom head (one rule), and shapes
/// whose element count overflows are refused before anything is multiplied or allocated.
async fn check_input_tensors() {
    let model = load_model(case("mobilenetv2_100")).await;
    let mut learner = Learner::new(HeadKind::Knn { k: 1 }, model.backbone());
    let side = 16;
    let input: Vec<f32> = (0..3 * side * side).map(|i| (i % 7) as f32 / 7.0).collect();
    let rgba = vec![90u8; 40 * 40 * 4];
    for label in ["a", "b"] {
        learner
            .add(&model.embed(&Pixels::rgba(&rgba, 40, 40)).unwrap(), label)
            .unwrap();
    }
    let with_head = {
        let bytes = shared(&case("mobilenetv2_100").weights).await;
        let combined = mobilenet_wasm::transfer::combine(&bytes, &model, &learner).unwrap();
        Model::from_safetensors(&combined, None).unwrap()
    };
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut poisoned = input.clone();
        poisoned[5] = bad;
        for (what, model) in [("plain", &model), ("custom head", &with_head)] {
            let shape = [1, 3, side, side];
            let err = model.logits_nchw(&poisoned, shape).unwrap_err();
            assert_eq!(err.code(), "BAD_INPUT", "{what} {bad}: {err}");
            let err = model.embed_nchw(&poisoned, shape).unwrap_err();
            assert_eq!(err.code(), "BAD_INPUT", "{what} {bad}: {err}");
        }
    }
    let huge = 1usize << 32;
    for shape in [
        [1, 3, huge, huge],
        [huge, 3, huge, 16],
        [usize::MAX, 3, 16, 16],
    ] {
        let err = model.logits_nchw(&input, shape).unwrap_err();
        assert_eq!(err.code(), "BAD_INPUT", "{shape:?}");
    }
    assert_eq!(
        model.multiply_adds(huge, huge).unwrap_err().code(),
        "BAD_INPUT"
    );
    assert_eq!(model.multiply_adds(8, 8).unwrap_err().code(), "BAD_INPUT");
}
shared_test!(bad_input_tensors_are_typed_errors, check_input_tensors());

/// Labels are checked in one pass and capped; tensors per file are capped before they are
/// sorted and checked.
async fn check_caps() {
    let model = load_model(case("mobilenetv3_small_100")).await;
    let backbone = model.backbone();
    let mut learner = Learner::new(HeadKind::Knn { k: 1 }, backbone.clone());
    let embedding = vec![1.0; backbone.dim];
    learner.add(&embedding, "a").unwrap();
    learner.add(&embedding, "b").unwrap();
    let file = learner.to_bytes(true).unwrap();
    let with_labels = |count: usize| {
        rewritten(&file, |_, m| {
            let key = mobilenet_wasm::head::HEAD_KEY;
            let mut description: serde_json::Value = serde_json::from_str(&m[key]).unwrap();
            description["labels"] = (0..count).map(|i| format!("class {i}")).collect();
            m.insert(key.into(), description.to_string());
        })
    };
    // The most labels a head may have load (the examples' classes are 0 and 1).
    let most = Learner::from_bytes(&with_labels(MAX_LABELS), &backbone).unwrap();
    assert_eq!(most.labels().len(), MAX_LABELS);
    let err = Learner::from_bytes(&with_labels(MAX_LABELS + 1), &backbone)
        .err()
        .unwrap();
    assert_eq!(err.code(), "BAD_HEAD");
    assert!(err.to_string().contains(&MAX_LABELS.to_string()), "{err}");
    // A repeat far down the list is found.
    let repeated = rewritten(&file, |_, m| {
        let key = mobilenet_wasm::head::HEAD_KEY;
        let mut description: serde_json::Value = serde_json::from_str(&m[key]).unwrap();
        let mut labels: Vec<String> = (0..50_000).map(|i| format!("class {i}")).collect();
        labels.push("class 7".into());
        description["labels"] = labels.into();
        m.insert(key.into(), description.to_string());
    });
    let err = Learner::from_bytes(&repeated, &backbone).err().unwrap();
    assert!(
        err.to_string().contains("`class 7` is empty or repeated"),
        "{err}"
    );

    let max = mobilenet_wasm::checkpoint::header::MAX_TENSORS;
    let many = |count: usize| {
        let tensors: Vec<_> = (0..count)
            .map(|i| (format!("t{i}"), vec![0], Vec::new()))
            .collect();
        write_safetensors(&tensors, StoreDtype::F32, HashMap::new()).unwrap()
    };
    assert!(Checkpoint::from_bytes(&many(max)).is_ok());
    let err = Learner::from_bytes(&many(max + 1), &backbone)
        .err()
        .unwrap();
    assert_eq!(err.code(), "BAD_HEAD");
    assert!(
        err.to_string()
            .contains(&format!("more than {max} tensors")),
        "{err}"
    );
    assert_eq!(load_code(&many(max + 1)), "BAD_MODEL");
}
shared_test!(labels_and_tensors_are_capped, check_caps());

/// A learner on a backbone with an empty embedding refuses examples instead of panicking.
async fn check_empty_backbone() {
    let backbone = Backbone {
        arch: "mobilenet_v2".into(),
        width: 1.0,
        input_size: 224,
        dim: 0,
    };
    let mut learner = Learner::new(HeadKind::Linear, backbone);
    assert_eq!(learner.add(&[], "a").unwrap_err().code(), "HEAD_MISMATCH");
    assert_eq!(
        learner.classify(&[], 1).unwrap_err().code(),
        "HEAD_MISMATCH"
    );
    assert_eq!(learner.remove_label("a").unwrap_err().code(), "BAD_LABEL");
}
shared_test!(empty_backbone_is_refused, check_empty_backbone());

/// Files of another format are named as such rather than as a baffling header length.
async fn check_other_formats() {
    for (bytes, expected) in [
        (
            &b"<!DOCTYPE html>\n<html><head><title>404</title>"[..],
            "HTML",
        ),
        (b"  <html>", "HTML"),
        (b"{\"architecture\": \"mobilenetv3_small_100\"}", "JSON"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "ZIP"),
        (b"\x1c\x00\x00\x00TFL3\x00\x00\x00\x00", "TensorFlow Lite"),
        (b"hello world, not a model", "text"),
    ] {
        let err = Model::from_safetensors(bytes, None).err().unwrap();
        assert_eq!(err.code(), "BAD_MODEL");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
}
shared_test!(other_formats_are_named, check_other_formats());
