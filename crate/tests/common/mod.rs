//! Test support shared by the native and in-browser runs: the reference data in `../shared`, read
//! from disk natively and over HTTP in the browser, the test matrix, and the tolerance.
#![allow(dead_code)]

use mobilenet_wasm::{LoadOptions, Model};
use serde_json::Value;

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
// The threaded module runs where it may wait on its pool of workers: in a worker.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// Defines a test that runs natively (`cargo test`) and in the browser (`wasm-bindgen-test-runner`, scripts/test.sh).
#[macro_export]
macro_rules! shared_test {
    ($name:ident, $body:expr) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        fn $name() {
            pollster::block_on($body)
        }

        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn $name() {
            $crate::common::thread_pool().await;
            $body.await
        }
    };
}

/// Threads the threaded module's tests run on.
pub const TEST_THREADS: usize = 2;

/// Starts the threaded module's pool of workers before the first test (the other builds have
/// none): a test of that module then splits its kernels over [`TEST_THREADS`] threads.
#[cfg(target_arch = "wasm32")]
pub async fn thread_pool() {
    #[cfg(target_feature = "atomics")]
    {
        thread_local!(static STARTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        if !STARTED.replace(true) {
            let start = mobilenet_wasm::wasm::init_thread_pool(TEST_THREADS);
            wasm_bindgen_futures::JsFuture::from(start).await.unwrap();
        }
        assert_eq!(mobilenet_wasm::kernels::parallel::threads(), TEST_THREADS);
    }
}

/// A file under `../shared` (relative path, e.g. `weights/imagenet_classes.txt`).
#[cfg(not(target_arch = "wasm32"))]
pub async fn shared(path: &str) -> Vec<u8> {
    let root = std::env::var("MOBILENET_SHARED_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared").to_string());
    let full = format!("{root}/{path}");
    std::fs::read(&full)
        .unwrap_or_else(|e| panic!("reading {full}: {e} (set MOBILENET_SHARED_DIR)"))
}

/// A file under `../shared`, fetched from the test server (`MOBILENET_SHARED_URL` at build time).
#[cfg(target_arch = "wasm32")]
pub async fn shared(path: &str) -> Vec<u8> {
    use wasm_bindgen::JsCast;
    let base = option_env!("MOBILENET_SHARED_URL").unwrap_or("http://127.0.0.1:8765");
    let url = format!("{base}/{path}");
    let global: web_sys::Window = js_sys::global().unchecked_into();
    let response = wasm_bindgen_futures::JsFuture::from(global.fetch_with_str(&url))
        .await
        .unwrap_or_else(|e| panic!("fetching {url}: {e:?}"));
    let response: web_sys::Response = response.unchecked_into();
    assert!(response.ok(), "fetching {url}: HTTP {}", response.status());
    let buffer = wasm_bindgen_futures::JsFuture::from(response.array_buffer().unwrap())
        .await
        .unwrap();
    js_sys::Uint8Array::new(&buffer).to_vec()
}

pub async fn shared_json(path: &str) -> Value {
    serde_json::from_slice(&shared(path).await).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub async fn imagenet_labels() -> Vec<String> {
    String::from_utf8(shared("weights/imagenet_classes.txt").await)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

mod manifest;
pub use manifest::*;

pub fn case(name: &str) -> &'static Case {
    manifest()
        .plain
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} is not in tests/models.json"))
}

pub async fn load_model(case: &Case) -> Model {
    let bytes = shared(&case.weights).await;
    Model::from_safetensors(&bytes, Some(case.config()))
        .unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

/// The timm checkpoints in `../shared/reference/timm`, each a folder in the Hub's layout
/// (`config.json`, `model.safetensors`) beside timm's outputs (`<name>.json`).
pub fn timm_models() -> impl Iterator<Item = &'static str> {
    manifest().timm.iter().map(|t| t.name.as_str())
}

/// A timm folder's model, described by its `config.json` as a Hub download is.
pub async fn load_timm(name: &str) -> Model {
    let json = shared(&format!("reference/timm/{name}/config.json")).await;
    let config = mobilenet_wasm::hub::parse_config(std::str::from_utf8(&json).unwrap())
        .unwrap_or_else(|e| panic!("{name}/config.json: {e}"));
    let options = LoadOptions {
        described: Some(config),
        ..LoadOptions::default()
    };
    let bytes = shared(&format!("reference/timm/{name}/model.safetensors")).await;
    Model::load(&bytes, &options).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// timm's logits for the `.npy` inputs (paths in its JSON are relative to `reference/synthetic`).
pub async fn timm_npy_references(name: &str) -> Vec<NpyReference> {
    let reference = shared_json(&format!("reference/timm/{name}.json")).await;
    reference["npy_inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| NpyReference {
            npy: normalize_path(&format!(
                "reference/synthetic/{}",
                e["file"].as_str().unwrap()
            )),
            logits: floats(&e["logits"]),
            top5: top5(e),
        })
        .collect()
}

/// Holds `model`'s logits on each `.npy` input to its reference: max |Δlogit| within `tolerance`
/// of the reference, and the same top-5.
pub async fn assert_npy_logits(
    name: &str,
    model: &Model,
    references: Vec<NpyReference>,
    tolerance: fn(&[f32]) -> f32,
) {
    for reference in references {
        let (input, shape) = parse_npy(&shared(&reference.npy).await);
        let shape: [usize; 4] = shape.try_into().unwrap();
        let logits = model.logits_nchw(&input, shape).unwrap().remove(0);
        let (diff, tol) = (
            max_abs_diff(&logits, &reference.logits),
            tolerance(&reference.logits),
        );
        println!(
            "{name} {}: max |Δ| = {diff:.2e} (tolerance {tol:.2e})",
            reference.npy
        );
        assert!(
            diff <= tol,
            "{name} on {}: max |Δlogit| {diff} > {tol}",
            reference.npy
        );
        assert_eq!(
            top_indices(&logits, 5),
            reference.top5,
            "{name} on {}: top-5 differs",
            reference.npy
        );
    }
}

/// The timm issue's tolerance: max |Δlogit| ≤ 1e-4 · max(1, max |ref|).
pub fn timm_tolerance(reference: &[f32]) -> f32 {
    1e-4 * reference.iter().fold(1.0f32, |m, v| m.max(v.abs()))
}

/// One input tensor with its expected logits and top-5.
pub struct NpyReference {
    /// Path under `../shared`.
    pub npy: String,
    pub logits: Vec<f32>,
    pub top5: Vec<usize>,
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn top5(entry: &Value) -> Vec<usize> {
    entry["top5"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["index"].as_u64().unwrap() as usize)
        .collect()
}

/// Every `.npy` input with PyTorch's logits for `case`: the two exact image tensors, the 160×192 and
/// the odd 129×132 random inputs.
pub async fn npy_references(case: &Case) -> Vec<NpyReference> {
    let entry = |npy: String, e: &Value| NpyReference {
        npy,
        logits: floats(&e["logits"]),
        top5: top5(e),
    };
    if case.trained {
        let reference = shared_json(&case.reference).await;
        let mut out: Vec<NpyReference> = ["chelsea", "coffee"]
            .iter()
            .map(|image| {
                let e = reference["images"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["file"].as_str().unwrap().starts_with(image))
                    .unwrap();
                entry(format!("reference/input_{image}.npy"), e)
            })
            .collect();
        let extra = shared_json("reference/synthetic/real_weights_npy_inputs.json").await;
        let model = extra["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == case.name)
            .unwrap();
        for e in model["npy_inputs"].as_array().unwrap() {
            let file = e["file"].as_str().unwrap();
            out.push(entry(format!("reference/synthetic/{file}"), e));
        }
        out
    } else {
        let reference = shared_json(&case.reference).await;
        reference["npy_inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let file = e["file"].as_str().unwrap();
                entry(normalize_path(&format!("reference/synthetic/{file}")), e)
            })
            .collect()
    }
}

/// `a/b/../c` → `a/c`
fn normalize_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Expected top-1 and logits of each of the 8 images for `case`.
pub async fn image_references(case: &Case) -> Vec<(String, usize, Vec<f32>)> {
    let reference = shared_json(&case.reference).await;
    reference["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                top5(e)[0],
                floats(&e["logits"]),
            )
        })
        .collect()
}

/// A little-endian float32 C-order `.npy`: (values, shape).
pub fn parse_npy(bytes: &[u8]) -> (Vec<f32>, Vec<usize>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not an npy file");
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let dims = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = dims
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let values = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect::<Vec<_>>();
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (values, shape)
}

/// The tolerance: max |Δlogit| ≤ 1e-3 and ≤ 1e-4 · max(1, max |ref|).
pub fn tolerance(reference: &[f32]) -> f32 {
    let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    (1e-4 * scale).min(1e-3)
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn top_indices(logits: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order.truncate(k);
    order
}

/// Decodes an image file to RGBA8 as PIL's `convert("RGB")` sees it (gray replicated to 3 channels,
/// alpha kept to be ignored, not composited). JPEGs go through libjpeg-turbo's decoder (mozjpeg), as
/// in PIL, so the decoded pixels and hence the network input are bit-identical to the references.
#[cfg(not(target_arch = "wasm32"))]
pub async fn decode_rgba(file: &str, bytes: &[u8]) -> (Vec<u8>, u32, u32) {
    if file.ends_with(".jpg") {
        let decompress = mozjpeg::Decompress::new_mem(bytes).unwrap();
        let mut image = decompress.rgba().unwrap();
        let (w, h) = (image.width() as u32, image.height() as u32);
        let pixels: Vec<[u8; 4]> = image.read_scanlines().unwrap();
        image.finish().unwrap();
        return (pixels.concat(), w, h);
    }
    decode_with_image_crate(bytes)
}

/// In the browser JPEGs are decoded by the browser (libjpeg-turbo in Chrome and Firefox), PNGs by
/// the `image` crate.
#[cfg(target_arch = "wasm32")]
pub async fn decode_rgba(file: &str, bytes: &[u8]) -> (Vec<u8>, u32, u32) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    if !file.ends_with(".jpg") {
        return decode_with_image_crate(bytes);
    }
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("image/jpeg");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).unwrap();
    let bitmap_options = web_sys::ImageBitmapOptions::new();
    bitmap_options.set_color_space_conversion(web_sys::ColorSpaceConversion::None);
    bitmap_options.set_premultiply_alpha(web_sys::PremultiplyAlpha::None);
    let window: web_sys::Window = js_sys::global().unchecked_into();
    let promise = window
        .create_image_bitmap_with_blob_and_image_bitmap_options(&blob, &bitmap_options)
        .unwrap();
    let bitmap: web_sys::ImageBitmap = JsFuture::from(promise).await.unwrap().unchecked_into();
    let (w, h) = (bitmap.width(), bitmap.height());
    let canvas = web_sys::OffscreenCanvas::new(w, h).unwrap();
    let context: web_sys::OffscreenCanvasRenderingContext2d =
        canvas.get_context("2d").unwrap().unwrap().unchecked_into();
    context
        .draw_image_with_image_bitmap(&bitmap, 0.0, 0.0)
        .unwrap();
    let data = context
        .get_image_data(0.0, 0.0, w as f64, h as f64)
        .unwrap();
    (data.data().0, w, h)
}

fn decode_with_image_crate(bytes: &[u8]) -> (Vec<u8>, u32, u32) {
    let img = image::load_from_memory(bytes).unwrap();
    let (w, h) = (img.width(), img.height());
    (img.to_rgba8().into_raw(), w, h)
}

/// sha256 of float32 values as little-endian bytes (the references' `sha256_f32le`).
pub fn sha256_f32le(values: &[f32]) -> String {
    use sha2::Digest;
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    format!("{:x}", sha2::Sha256::digest(&bytes))
}
