//! Self-describing model files: converted files load with no side information and compute what the
//! source checkpoint computes.

mod common;

use common::*;
use mobilenet_wasm::checkpoint::StoreDtype;
use mobilenet_wasm::convert::{convert, ConvertOptions};
use mobilenet_wasm::{Model, Pixels};

const F32: ConvertOptions = ConvertOptions {
    dtype: StoreDtype::F32,
    fold_batch_norm: false,
};

/// Logits of `model` on the exact chelsea input.
async fn chelsea_logits(model: &Model) -> Vec<f32> {
    let (input, shape) = parse_npy(&shared("reference/input_chelsea.npy").await);
    model
        .logits_nchw(&input, shape.try_into().unwrap())
        .unwrap()
        .remove(0)
}

async fn check_round_trips(name: &str) {
    let case = case(name);
    let source = shared(&case.weights).await;
    let mut config = case.config();
    config.labels = Some(imagenet_labels().await);
    let direct = Model::from_safetensors(&source, Some(config.clone())).unwrap();
    let expected = chelsea_logits(&direct).await;

    // f32, BatchNorm kept: the same tensors, so the same numbers to the bit.
    let plain = convert(&source, config.clone(), F32).unwrap();
    let loaded = Model::from_safetensors(&plain.bytes, None).unwrap();
    assert_eq!(loaded.config(), direct.config());
    assert_eq!(chelsea_logits(&loaded).await, expected);
    let top = loaded.top_k(&expected, 1);
    let labels = imagenet_labels().await;
    assert_eq!(top[0].label.as_ref(), Some(&labels[top[0].index]));
    if case.trained {
        assert_eq!(top[0].label.as_deref(), Some("Egyptian cat"));
    }

    // f32 with BatchNorm folded at conversion: same model up to float rounding.
    let folded = convert(
        &source,
        config.clone(),
        ConvertOptions {
            dtype: StoreDtype::F32,
            fold_batch_norm: true,
        },
    )
    .unwrap();
    let loaded = Model::from_safetensors(&folded.bytes, None).unwrap();
    assert!(loaded.config().bn_folded);
    let logits = chelsea_logits(&loaded).await;
    assert!(max_abs_diff(&logits, &expected) <= tolerance(&expected));
    assert!(folded.bytes.len() < plain.bytes.len());

    // f16 + folded: half the size, same top-5.
    let small = convert(
        &source,
        config,
        ConvertOptions {
            dtype: StoreDtype::F16,
            fold_batch_norm: true,
        },
    )
    .unwrap();
    assert!(small.bytes.len() * 2 < plain.bytes.len() + 4096);
    let logits = chelsea_logits(&Model::from_safetensors(&small.bytes, None).unwrap()).await;
    println!(
        "{name}: f32 {} B, folded {} B, f16 folded {} B (max |Δlogit| {:.2e})",
        plain.bytes.len(),
        folded.bytes.len(),
        small.bytes.len(),
        max_abs_diff(&logits, &expected)
    );
    assert_eq!(top_indices(&logits, 5), top_indices(&expected, 5));
}

shared_test!(
    round_trip_mobilenetv3_small_100,
    check_round_trips("mobilenetv3_small_100")
);
shared_test!(
    round_trip_mobilenetv2_100,
    check_round_trips("mobilenetv2_100")
);
shared_test!(
    round_trip_mobilenetv1_075,
    check_round_trips("mobilenetv1_075")
);
shared_test!(
    round_trip_tv_mobilenet_v3_large,
    check_round_trips("tv_mobilenet_v3_large")
);

/// A timm folder converted: its config.json's description travels in the file's metadata, and
/// BatchNorm folds into the convs timm's names pair it with (`conv_head` + `norm_head` too).
async fn check_timm_round_trips(name: &str) {
    let direct = load_timm(name).await;
    let expected = chelsea_logits(&direct).await;
    let source = shared(&format!("reference/timm/{name}/model.safetensors")).await;
    let config = direct.config().clone();

    let plain = convert(&source, config.clone(), F32).unwrap();
    let loaded = Model::from_safetensors(&plain.bytes, None).unwrap();
    assert_eq!(loaded.config(), direct.config());
    assert_eq!(chelsea_logits(&loaded).await, expected);

    for dtype in [StoreDtype::F32, StoreDtype::F16] {
        let options = ConvertOptions {
            dtype,
            fold_batch_norm: true,
        };
        let folded = convert(&source, config.clone(), options).unwrap();
        let loaded = Model::from_safetensors(&folded.bytes, None).unwrap();
        assert!(loaded.config().bn_folded);
        assert_eq!(loaded.config().interpolation, config.interpolation);
        let logits = chelsea_logits(&loaded).await;
        let diff = max_abs_diff(&logits, &expected);
        println!(
            "{name} {dtype:?} folded: {} B, max |Δlogit| {diff:.2e}",
            folded.bytes.len()
        );
        match dtype {
            StoreDtype::F32 => assert!(diff <= timm_tolerance(&expected), "{name}: {diff}"),
            _ => assert_eq!(top_indices(&logits, 5), top_indices(&expected, 5)),
        }
    }
}

shared_test!(
    timm_round_trip_mobilenetv3_small_100,
    check_timm_round_trips("mobilenetv3_small_100")
);
shared_test!(
    timm_round_trip_mobilenetv1_100,
    check_timm_round_trips("mobilenetv1_100")
);
shared_test!(
    timm_round_trip_mobilenetv2_050,
    check_timm_round_trips("mobilenetv2_050")
);
shared_test!(
    timm_round_trip_mobilenetv4_conv_medium,
    check_timm_round_trips("mobilenetv4_conv_medium")
);

/// The demo's model files (scripts/build.sh, from tests/models.json): BatchNorm folded, f16 where
/// that keeps PyTorch's top-1 on every photo. f16 flips V1-0.75 on horse.png (a 0.1757 / 0.1744
/// near-tie in PyTorch), so that one ships as f32.
async fn check_demo_files_keep_top1() {
    for case in &manifest().plain {
        let Some(demo) = &case.demo else { continue };
        let dtype = if demo.f16 {
            StoreDtype::F16
        } else {
            StoreDtype::F32
        };
        let source = shared(&case.weights).await;
        let options = ConvertOptions {
            dtype,
            fold_batch_norm: true,
        };
        let small = convert(&source, case.config(), options).unwrap();
        let model = Model::from_safetensors(&small.bytes, None).unwrap();
        for (image, expected, _) in image_references(case).await {
            let (rgba, w, h) = decode_rgba(&image, &shared(&format!("images/{image}")).await).await;
            let top = model.classify(&Pixels::rgba(&rgba, w, h), 1).unwrap();
            assert_eq!(top[0].index, expected, "{} {dtype:?} on {image}", case.name);
        }
    }
}
shared_test!(demo_files_keep_top1, check_demo_files_keep_top1());

async fn check_conversion_errors() {
    let v2 = shared("weights/mobilenetv2_100.safetensors").await;
    let err = convert(&v2, case("mobilenetv1_075").config(), F32)
        .err()
        .unwrap();
    assert_eq!(err.code(), "TENSOR_SHAPE");
    assert!(err.to_string().contains("features.0.0.weight"), "{err}");
    let mut config = case("mobilenetv2_100").config();
    config.labels = Some(vec!["only one".into()]);
    assert_eq!(
        convert(&v2, config, F32).err().unwrap().code(),
        "BAD_CONFIG"
    );
}
shared_test!(
    conversion_errors_name_the_problem,
    check_conversion_errors()
);

/// The command-line tool, as a user runs it.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn command_line_converter() {
    use std::process::Command;
    let shared_dir = std::env::var("MOBILENET_SHARED_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared").to_string());
    let out = std::env::temp_dir().join(format!("mnw-cli-{}.safetensors", std::process::id()));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mobilenet-convert"))
            .args(args)
            .output()
            .unwrap()
    };
    let input = format!("{shared_dir}/weights/mobilenetv1_075.safetensors");
    let labels = format!("{shared_dir}/weights/imagenet_classes.txt");
    let ok = run(&[
        "--arch",
        "mobilenet_v1",
        "--width",
        "0.75",
        "--padding",
        "tf",
        "--labels",
        &labels,
        "--f16",
        &input,
        out.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("1000 classes with labels"), "{stdout}");
    let model = Model::from_safetensors(&std::fs::read(&out).unwrap(), None).unwrap();
    assert_eq!(model.config().width, 0.75);
    assert_eq!(model.labels().unwrap()[285], "Egyptian cat");
    std::fs::remove_file(&out).ok();

    let bad = run(&["--arch", "mobilenet_v2", &input, out.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("TENSOR_SHAPE") && stderr.contains("features.0.0.weight"),
        "{stderr}"
    );
    assert!(!out.exists());

    let usage = run(&["--arch", "resnet", "a", "b"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("unknown architecture"));

    // A timm folder as the Hub holds it: config.json says what it is.
    let folder = format!("{shared_dir}/reference/timm/mobilenetv4_conv_small");
    let ok = run(&[
        "--labels",
        &labels,
        "--f16",
        "--fold-bn",
        &folder,
        out.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let model = Model::from_safetensors(&std::fs::read(&out).unwrap(), None).unwrap();
    let config = model.config();
    assert_eq!(config.arch.name(), "mobilenetv4_conv_small");
    assert_eq!(
        (config.resize_size, config.interpolation.name()),
        (256, "bicubic")
    );
    assert!(config.bn_folded);
    assert_eq!(model.labels().unwrap()[285], "Egyptian cat");
    std::fs::remove_file(&out).ok();

    let twice = run(&["--arch", "mobilenet_v2", &folder, out.to_str().unwrap()]);
    assert_eq!(twice.status.code(), Some(2));
    let not_a_model = run(&[&format!("{shared_dir}/images"), out.to_str().unwrap()]);
    assert_eq!(not_a_model.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_a_model.stderr).contains("config.json"));
    assert!(!out.exists());
}
