//! Logits equal PyTorch's on the exact reference input tensors, for every checkpoint.

mod common;

use common::*;

/// Every plain checkpoint of tests/models.json, on every `.npy` input.
async fn check_exact() {
    for case in &manifest().plain {
        let model = load_model(case).await;
        assert_npy_logits(&case.name, &model, npy_references(case).await, tolerance).await;
    }
}
shared_test!(exact_every_checkpoint, check_exact());

/// The multiply-add count (behind the benchmark's GFLOP/s) agrees with torchvision's published
/// figures at 224×224; the squeeze-excite layers are not counted, hence the V3 margins.
async fn check_multiply_adds() {
    for (name, published) in [
        ("tv_mobilenet_v2", 0.301e9),
        ("tv_mobilenet_v3_large", 0.217e9),
        ("tv_mobilenet_v3_small", 0.057e9),
    ] {
        let macs = load_model(case(name))
            .await
            .multiply_adds(224, 224)
            .unwrap() as f64;
        println!(
            "{name}: {:.4} G multiply-adds (torchvision: {:.3} G)",
            macs / 1e9,
            published / 1e9
        );
        assert!((macs / published - 1.0).abs() < 0.03, "{name}: {macs}");
    }
}
shared_test!(multiply_adds_match_torchvision, check_multiply_adds());

/// Kernels split their work over threads by output rows only, so a pool of any size gives the
/// one-thread logits to the bit (natively here; the threaded wasm module is held to the relaxed
/// one the same way by the page tests).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn threads_give_the_one_thread_logits() {
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    };
    let (one, three) = (pool(1), pool(3));
    let input: Vec<f32> = (0..3 * 224 * 224)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect();
    for case in &manifest().plain {
        let model = pollster::block_on(load_model(case));
        let logits = |pool: &rayon::ThreadPool| {
            pool.install(|| model.logits_nchw(&input, [1, 3, 224, 224]).unwrap())
        };
        assert_eq!(logits(&one), logits(&three), "{}", case.name);
    }
}
