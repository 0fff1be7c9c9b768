//! What a classifier answers: the most probable classes of its scores.

/// One class of a top-K answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub index: usize,
    pub probability: f32,
    pub label: Option<String>,
}

/// Softmax (in f64, stable) and the `k` most probable entries, labelled where `labels` has them.
pub fn top_k(logits: &[f32], k: usize, labels: Option<&[String]>) -> Vec<Prediction> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exp: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| exp[b].total_cmp(&exp[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .map(|index| Prediction {
            index,
            probability: (exp[index] / total) as f32,
            label: labels.and_then(|l| l.get(index).cloned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn top_k_is_sorted_softmax() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let p = top_k(&[1.0, 3.0, 2.0], 2, Some(&labels));
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].index, p[1].index), (1, 2));
        assert_eq!(p[0].label.as_deref(), Some("b"));
        let z = 1f64.exp() + 3f64.exp() + 2f64.exp();
        assert!((p[0].probability as f64 - 3f64.exp() / z).abs() < 1e-7);
        assert_eq!(top_k(&[0.0; 3], 10, None).len(), 3);
    }
}
