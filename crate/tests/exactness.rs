//! Logits equal PyTorch's on the exact reference input tensors, for every checkpoint.

mod common;

use common::*;

async fn check_exact(name: &str) {
    let case = case(name);
    let model = load_model(case).await;
    assert_npy_logits(name, &model, npy_references(case).await, tolerance).await;
}

shared_test!(exact_mobilenetv2_100, check_exact("mobilenetv2_100"));
shared_test!(
    exact_mobilenetv3_small_100,
    check_exact("mobilenetv3_small_100")
);
shared_test!(exact_mobilenetv1_075, check_exact("mobilenetv1_075"));
shared_test!(
    exact_tv_mobilenet_v3_small,
    check_exact("tv_mobilenet_v3_small")
);
shared_test!(
    exact_tv_mobilenet_v3_small_075,
    check_exact("tv_mobilenet_v3_small_075")
);
shared_test!(
    exact_tv_mobilenet_v3_large,
    check_exact("tv_mobilenet_v3_large")
);
shared_test!(exact_tv_mobilenet_v2, check_exact("tv_mobilenet_v2"));
shared_test!(
    exact_tv_mobilenet_v2_050,
    check_exact("tv_mobilenet_v2_050")
);
shared_test!(exact_mobilenetv1_100, check_exact("mobilenetv1_100"));
shared_test!(exact_mobilenext_100, check_exact("mobilenext_100"));

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
