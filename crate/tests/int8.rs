//! int8 model files (`mobilenet-convert --int8`): convolution and fully connected weights stored as
//! int8 with a scale per output channel, run either dequantized at load into the float32 kernels
//! or with their 1×1 convs in int8 (`Compute::Int8`). A quarter of the size; the trained models
//! keep float32's top-1 on the photos in both modes, except where float32's own top two are within
//! 1 % of each other.

mod common;

use common::*;
use mobilenet_wasm::checkpoint::{write_safetensors, Checkpoint, StoreDtype};
use mobilenet_wasm::convert::{convert, ConvertOptions};
use mobilenet_wasm::{Compute, LoadOptions, Model};

fn options(dtype: StoreDtype) -> ConvertOptions {
    ConvertOptions {
        dtype,
        fold_batch_norm: true,
    }
}

/// The two ways an int8 file runs: dequantized at load into the float32 kernels, or with its 1×1
/// convolutions in int8.
#[cfg(not(target_arch = "wasm32"))]
fn int8_modes(bytes: &[u8], weights_only: Model) -> [(&'static str, Model); 2] {
    let options = LoadOptions {
        compute: Some(Compute::Int8),
        ..Default::default()
    };
    let int8 = Model::load(bytes, &options).unwrap();
    assert_eq!(int8.compute(), Compute::Int8);
    [("weights only", weights_only), ("int8 1x1 convs", int8)]
}

/// Every trained model as an int8 file: at most 30 % of its float32 file; on each photo, in both
/// modes, the top-1 of its float32 file unless that one's top two are within 1 % (a near tie,
/// named). The weights were dequantized from int8 and uint8 originals: quantized again on their own
/// grids (`row_scale`), they lose almost nothing (on `max / 127` scales V1-0.75 missed
/// grace_hopper.jpg and rocket.jpg).
#[cfg(not(target_arch = "wasm32"))]
async fn check_int8_files() {
    for case in manifest().plain.iter().filter(|c| c.trained) {
        let source = shared(&case.weights).await;
        let mut config = case.config();
        config.labels = Some(imagenet_labels().await);
        let float = convert(&source, config.clone(), options(StoreDtype::F32)).unwrap();
        let int8 = convert(&source, config, options(StoreDtype::Int8)).unwrap();
        let ratio = int8.bytes.len() as f64 / float.bytes.len() as f64;
        println!(
            "{}: int8 {} B, f32 {} B ({:.1} %)",
            case.name,
            int8.bytes.len(),
            float.bytes.len(),
            100.0 * ratio
        );
        assert!(ratio <= 0.30, "{}: {ratio}", case.name);
        for (mode, model) in int8_modes(&int8.bytes, int8.model) {
            check_top1(case, mode, &float.model, &model).await;
        }
    }
}

/// `model`'s top-1 on the photos against `float`'s, as [`check_int8_files`] says.
#[cfg(not(target_arch = "wasm32"))]
async fn check_top1(case: &Case, mode: &str, float: &Model, model: &Model) {
    let (mut agree, mut ties) = (0, Vec::new());
    for (image, _, _) in image_references(case).await {
        let (rgba, w, h) = decode_rgba(&image, &shared(&format!("images/{image}")).await).await;
        let pixels = mobilenet_wasm::Pixels::rgba(&rgba, w, h);
        let expected = float.classify(&pixels, 2).unwrap();
        let got = model.classify(&pixels, 1).unwrap();
        if got[0].index == expected[0].index {
            agree += 1;
        } else if expected[0].probability - expected[1].probability < 0.01 {
            ties.push(image);
        } else {
            panic!(
                "{} ({mode}) on {image}: int8 top-1 {} ({:?}), float32 {:?}",
                case.name, got[0].index, got[0].label, expected
            );
        }
    }
    println!(
            "{} ({mode}): int8 top-1 = float32 top-1 on {agree} of 8 photos; near ties that differ: {ties:?}",
            case.name
        );
}
// Natively: there the photos decode as PIL decodes them (the near ties and misses are PyTorch's).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn int8_files_are_small_and_keep_the_top1() {
    pollster::block_on(check_int8_files())
}

/// Dequantized at load (`compute: float32`), an int8 file computes exactly what the float32 file
/// of its dequantized weights computes: the kernels are the float32 ones. By default it computes
/// its 1×1 convs in int8 in wasm, where that is the faster, and in float32 natively.
async fn check_dequantized_at_load() {
    let case = case("mobilenetv3_small_100");
    let source = shared(&case.weights).await;
    let int8 = convert(&source, case.config(), options(StoreDtype::Int8)).unwrap();
    let default = match cfg!(target_arch = "wasm32") {
        true => Compute::Int8,
        false => Compute::Float32,
    };
    assert_eq!(int8.model.compute(), default);
    let options = LoadOptions {
        compute: Some(Compute::Float32),
        ..Default::default()
    };
    let weights_only = Model::load(&int8.bytes, &options).unwrap();
    let checkpoint = Checkpoint::from_bytes(&int8.bytes).unwrap();
    let dequantized: Vec<_> = checkpoint
        .names()
        .filter(|n| !checkpoint.is_int8_scales(n))
        .map(|n| {
            let (shape, values) = checkpoint.read(n).unwrap();
            (n.to_string(), shape, values)
        })
        .collect();
    let metadata = checkpoint.metadata().clone();
    let float = write_safetensors(&dequantized, StoreDtype::F32, metadata).unwrap();
    let float = Model::from_safetensors(&float, None).unwrap();
    assert_eq!(weights_only.parameters(), float.parameters());
    let input: Vec<f32> = (0..3 * 224 * 224)
        .map(|i| ((i * 31 % 97) as f32 - 48.0) / 24.0)
        .collect();
    let logits = |m: &Model| m.logits_nchw(&input, [1, 3, 224, 224]).unwrap();
    assert_eq!(logits(&weights_only), logits(&float));
}
shared_test!(int8_is_dequantized_at_load, check_dequantized_at_load());
