//! End to end from the photos in `../shared/images`: decode, preprocess with our code, classify.

mod common;

use common::*;
use mobilenet_wasm::preprocess::Pixels;

/// Our resize/crop/normalize reproduces torchvision+PIL's input tensor bit for bit, for every image
/// whose decoded pixels are PIL's (all of them natively; PNGs in the browser, whose JPEG decoding
/// and color handling are its own).
async fn check_preprocessing() {
    let model = load_model(case("mobilenetv2_100")).await;
    let reference = shared_json("reference/mobilenetv2_100.json").await;
    for entry in reference["images"].as_array().unwrap() {
        let image = entry["file"].as_str().unwrap();
        let (rgba, w, h) = decode_rgba(image, &shared(&format!("images/{image}")).await).await;
        let ours = model.preprocess().run(&Pixels::rgba(&rgba, w, h)).unwrap();
        let expected = &entry["input"];
        let sum: f64 = ours.iter().map(|&v| v as f64).sum();
        let identical = sha256_f32le(&ours) == expected["sha256_f32le"].as_str().unwrap();
        println!(
            "{image}: bit-identical input {identical}, sum {sum:.4} vs {}",
            expected["sum"]
        );
        if cfg!(not(target_arch = "wasm32")) || image.ends_with(".png") {
            assert!(
                identical,
                "{image}: preprocessed input differs from torchvision's"
            );
        } else {
            // Browser JPEG decoding may round chroma differently: stay within 0.1 % of the sum of
            // |values| (about 150 on these images).
            let scale: f64 = ours.iter().map(|v| v.abs() as f64).sum();
            let diff = (sum - expected["sum"].as_f64().unwrap()).abs();
            assert!(diff < 1e-3 * scale, "{image}: input sum off by {diff}");
        }
    }
    // The two exact tensors shipped as .npy agree too.
    for stem in ["chelsea", "coffee"] {
        let (theirs, _) = parse_npy(&shared(&format!("reference/input_{stem}.npy")).await);
        let (rgba, w, h) = decode_rgba("x.png", &shared(&format!("images/{stem}.png")).await).await;
        let ours = model.preprocess().run(&Pixels::rgba(&rgba, w, h)).unwrap();
        assert_eq!(ours, theirs, "{stem}");
    }
}

shared_test!(preprocessing_matches_torchvision, check_preprocessing());

/// Every image gets PyTorch's top-1 from our whole pipeline, for every real model.
async fn check_top1() {
    for case in manifest().plain.iter().filter(|c| c.trained) {
        check_top1_of(case).await;
    }
}
shared_test!(top1_every_trained_checkpoint, check_top1());

async fn check_top1_of(case: &Case) {
    let name = &case.name;
    let mut config = case.config();
    config.labels = Some(imagenet_labels().await);
    let model = mobilenet_wasm::Model::from_safetensors(&shared(&case.weights).await, Some(config))
        .unwrap();
    let references = image_references(case).await;
    assert_eq!(references.len(), 8, "the references cover the 8 photos");
    for (image, expected, ref_logits) in &references {
        let (rgba, w, h) = decode_rgba(image, &shared(&format!("images/{image}")).await).await;
        let pixels = Pixels::rgba(&rgba, w, h);
        let top = model.classify(&pixels, 5).unwrap();
        let logits = model.logits(&pixels).unwrap();
        println!(
            "{name} {image}: top-1 {} {:?} p={:.3} (reference {expected}), max |Δlogit| {:.2e}",
            top[0].index,
            top[0].label.as_deref().unwrap_or(""),
            top[0].probability,
            max_abs_diff(&logits, ref_logits)
        );
        assert_eq!(top[0].index, *expected, "{name} on {image}");
        assert!(top[0].label.is_some());
        // Where the decoded pixels are PIL's, the whole pipeline meets the exactness tolerance.
        if cfg!(not(target_arch = "wasm32")) || image.ends_with(".png") {
            let diff = max_abs_diff(&logits, ref_logits);
            assert!(
                diff <= tolerance(ref_logits),
                "{name} on {image}: |Δlogit| {diff}"
            );
        }
    }
}
