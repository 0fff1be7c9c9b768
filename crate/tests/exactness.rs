//! Logits equal PyTorch's on the exact reference input tensors, for every checkpoint.

mod common;

use common::*;

async fn check_exact(name: &str) {
    let case = case(name);
    let model = load_model(case).await;
    for reference in npy_references(case).await {
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
