//! timm's checkpoints in the Hugging Face Hub's layout (`config.json` + `model.safetensors`):
//! every conv block kind of V1, V2, V3 and V4 gives timm's logits, from timm's own input tensors
//! and from the photos preprocessed by our code as timm's eval transform does it (bicubic resize
//! to `floor(size / crop_pct)`, center crop, the config's mean and std).

mod common;

use common::*;
use mobilenet_wasm::preprocess::Pixels;

async fn check_npy_inputs() {
    for name in timm_models() {
        let model = load_timm(name).await;
        assert_npy_logits(
            name,
            &model,
            timm_npy_references(name).await,
            timm_tolerance,
        )
        .await;
    }
}
shared_test!(npy_every_timm_checkpoint, check_npy_inputs());

/// Preprocessing bit for bit (the input tensor's sha256) and logits within the tolerance, for
/// every photo whose decoded pixels are PIL's: all natively; in the browser the PNGs (browsers
/// decode JPEGs with their own rounding), whose JPEGs are held to the input's sum instead.
async fn check_photos() {
    for name in timm_models() {
        let model = load_timm(name).await;
        let reference = shared_json(&format!("reference/timm/{name}.json")).await;
        let images = reference["images"].as_array().unwrap();
        assert_eq!(images.len(), 8, "the references cover the 8 photos");
        for entry in images {
            let image = entry["file"].as_str().unwrap();
            let (rgba, w, h) = decode_rgba(image, &shared(&format!("images/{image}")).await).await;
            let pixels = Pixels::rgba(&rgba, w, h);
            let input = model.preprocess().run(&pixels).unwrap();
            let identical =
                sha256_f32le(&input) == entry["input"]["sha256_f32le"].as_str().unwrap();
            let expected: Vec<f32> = entry["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let logits = model.logits(&pixels).unwrap();
            let diff = max_abs_diff(&logits, &expected);
            println!("{name} {image}: bit-identical input {identical}, max |Δlogit| {diff:.2e}");
            if cfg!(not(target_arch = "wasm32")) || image.ends_with(".png") {
                assert!(
                    identical,
                    "{name} {image}: input differs from timm's transform"
                );
                let tol = timm_tolerance(&expected);
                assert!(diff <= tol, "{name} {image}: max |Δlogit| {diff} > {tol}");
            } else {
                let sum: f64 = input.iter().map(|&v| v as f64).sum();
                let scale: f64 = input.iter().map(|v| v.abs() as f64).sum();
                let off = (sum - entry["input"]["sum"].as_f64().unwrap()).abs();
                assert!(off < 1e-3 * scale, "{name} {image}: input sum off by {off}");
            }
        }
    }
}
shared_test!(photos_every_timm_checkpoint, check_photos());
