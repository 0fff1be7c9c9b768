//! Native single-thread forward-pass timings for every checkpoint in `../shared`.
//!
//! `npm run bench:native` (or `RAYON_NUM_THREADS=1 cargo run --release --bin mobilenet-bench`).
//! Reads `MOBILENET_SHARED_DIR` (default `../shared` next to the repository).
//! `--multiply-adds` prints each model's multiply-adds at 224×224 as JSON (for `npm run bench`).

use std::time::Instant;

use mobilenet_wasm::{Model, ModelConfig, Pixels};

// Fields the benchmarks do not read (references, demo files) are the tests'.
#[allow(dead_code)]
#[path = "../../tests/common/manifest.rs"]
mod manifest;

const WARMUP: usize = 5;
const RUNS: usize = 30;

/// The benchmarks' checkpoints of `tests/models.json`: `(name, file under ../shared, config)`,
/// timm folders described by their config.json as a Hub download is.
fn models(shared: &str) -> Vec<(&'static str, String, ModelConfig)> {
    let manifest = manifest::manifest();
    let plain = manifest.plain.iter().filter(|c| c.bench);
    let plain = plain.map(|c| (c.name.as_str(), c.weights.clone(), c.config()));
    let timm = manifest.timm.iter().filter(|t| t.bench).filter_map(|t| {
        let name = t.name.as_str();
        let json =
            std::fs::read_to_string(format!("{shared}/reference/timm/{name}/config.json")).ok()?;
        let config = mobilenet_wasm::hub::parse_config(&json).expect(name);
        let weights = format!("reference/timm/{name}/model.safetensors");
        Some((name, weights, config))
    });
    plain.chain(timm).collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Single thread, as in the browser; must be set before candle starts its thread pool.
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let shared = std::env::var("MOBILENET_SHARED_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared").to_string());
    let load = |path: &str, config: ModelConfig| -> Option<(Model, f64)> {
        let bytes = std::fs::read(format!("{shared}/{path}")).ok()?;
        let start = Instant::now();
        let model = Model::from_safetensors(&bytes, Some(config)).expect(path);
        Some((model, start.elapsed().as_secs_f64() * 1e3))
    };
    if std::env::args().any(|a| a == "--multiply-adds") {
        let counts: Vec<String> = models(&shared)
            .into_iter()
            .filter_map(|(name, path, config)| {
                let (model, _) = load(&path, config)?;
                Some(format!(
                    "\"{name}\": {}",
                    model.multiply_adds(224, 224).unwrap()
                ))
            })
            .collect();
        println!("{{{}}}", counts.join(", "));
        return;
    }
    println!(
        "native, RAYON_NUM_THREADS={}, 224x224, {WARMUP} warm-up + {RUNS} runs (random-weight models: timing only)",
        std::env::var("RAYON_NUM_THREADS").unwrap()
    );
    println!(
        "{:<24} {:>10} {:>9} {:>10} {:>8} {:>8} {:>9}",
        "model", "params", "load ms", "median ms", "p90 ms", "min ms", "GFLOP/s"
    );
    let input = vec![0.1f32; 3 * 224 * 224];
    for (name, path, config) in models(&shared) {
        let Some((model, load_ms)) = load(&path, config) else {
            println!("{name:<24} skipped: cannot read {path}");
            continue;
        };
        let flops = 2.0 * model.multiply_adds(224, 224).expect(name) as f64;
        let mut times = Vec::with_capacity(RUNS);
        for i in 0..WARMUP + RUNS {
            let start = Instant::now();
            let logits = model.logits_nchw(&input, [1, 3, 224, 224]).expect(name);
            std::hint::black_box(logits);
            if i >= WARMUP {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = percentile(&times, 0.5);
        println!(
            "{name:<24} {:>10} {load_ms:>9.1} {median:>10.2} {:>8.2} {:>8.2} {:>9.1}",
            model.parameters(),
            percentile(&times, 0.9),
            times[0],
            flops / median / 1e6
        );
    }

    // Preprocessing a webcam-sized RGBA frame.
    let frame: Vec<u8> = (0..640 * 480 * 4).map(|i| (i % 251) as u8).collect();
    let pre = mobilenet_wasm::preprocess::Preprocess {
        resize_size: 256,
        crop_size: 224,
        interpolation: mobilenet_wasm::config::Interpolation::Bilinear,
        mean: mobilenet_wasm::config::IMAGENET_MEAN,
        std: mobilenet_wasm::config::IMAGENET_STD,
    };
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(pre.run(&Pixels::rgba(&frame, 640, 480)).unwrap());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "preprocess 640x480 RGBA -> 224  median {:.2} ms",
        percentile(&times, 0.5)
    );
}
