//! The learner's unit tests: heads on two clusters in 4-d.

use std::collections::HashMap;

use super::*;
use crate::checkpoint::{write_safetensors, StoreDtype};

fn backbone(dim: usize) -> Backbone {
    Backbone {
        arch: "mobilenet_v2".into(),
        width: 1.0,
        input_size: 224,
        dim,
    }
}

/// Two well separated clusters in 4-d.
fn clusters(kind: HeadKind) -> Learner {
    let mut learner = Learner::new(kind, backbone(4));
    for i in 0..10 {
        let t = i as f32 * 0.01;
        learner.add(&[1.0, t, 0.0, 0.1], "a").unwrap();
        learner.add(&[0.0, 0.1, 1.0, t], "b").unwrap();
    }
    learner
}

#[test]
fn knn_votes_for_the_nearest_class() {
    let learner = clusters(HeadKind::Knn { k: 3 });
    let top = learner.classify(&[0.9, 0.0, 0.1, 0.0], 2).unwrap();
    assert_eq!(top[0].label.as_deref(), Some("a"));
    assert_eq!(top[0].probability, 1.0);
    assert_eq!(top[1].probability, 0.0);
    let top = learner.classify(&[0.1, 0.0, 2.0, 0.0], 1).unwrap();
    assert_eq!(top[0].label.as_deref(), Some("b"));
}

#[test]
#[cfg(feature = "train")]
fn linear_head_learns_and_is_reproducible() {
    let mut a = clusters(HeadKind::Linear);
    let mut b = clusters(HeadKind::Linear);
    let mut seen = Vec::new();
    let options = TrainOptions {
        epochs: 20,
        batch_size: 4,
        learning_rate: 0.1,
        ..Default::default()
    };
    let last = a.train(options.clone(), |s| seen.push(*s)).unwrap();
    b.train(options, |_| {}).unwrap();
    assert_eq!(seen.len(), 20);
    assert!(seen[19].loss < seen[0].loss, "{seen:?}");
    assert_eq!(last.accuracy, 1.0);
    assert_eq!(a.head.linear, b.head.linear);
    let top = a.classify(&[0.0, 0.0, 1.0, 0.0], 1).unwrap();
    assert_eq!(top[0].label.as_deref(), Some("b"));
    assert!(top[0].probability > 0.9);
}

#[test]
#[cfg(feature = "train")]
fn bad_use_is_a_typed_error() {
    fn code<T>(r: Result<T>) -> &'static str {
        r.map(|_| ()).unwrap_err().code()
    }
    let mut learner = Learner::new(HeadKind::Linear, backbone(4));
    assert_eq!(code(learner.logits(&[1.0; 4])), "NO_EXAMPLES");
    assert_eq!(code(learner.add(&[1.0; 3], "a")), "HEAD_MISMATCH");
    assert_eq!(code(learner.add(&[f32::NAN; 4], "a")), "BAD_INPUT");
    assert_eq!(code(learner.add(&[1.0; 4], " ")), "BAD_LABEL");
    learner.add(&[1.0; 4], "a").unwrap();
    assert_eq!(code(learner.training_data()), "TOO_FEW_CLASSES");
    learner.add(&[1.0, 0.0, 0.0, 0.0], "b").unwrap();
    assert_eq!(code(learner.logits(&[1.0; 4])), "NOT_TRAINED");
    let revision = learner.training_data().unwrap().revision;
    assert_eq!(
        code(learner.set_linear(vec![0.0; 12], vec![0.0; 3], revision)),
        "BAD_CONFIG"
    );
    assert_eq!(
        code(learner.set_linear(vec![f32::NAN; 8], vec![0.0; 2], revision)),
        "BAD_CONFIG"
    );
    learner
        .set_linear(vec![0.0; 8], vec![0.0; 2], revision)
        .unwrap();
    // Weights trained before the classes changed do not fit them.
    learner.add(&[0.0, 0.0, 1.0, 0.0], "c").unwrap();
    assert_eq!(
        code(learner.set_linear(vec![0.0; 8], vec![0.0; 2], revision)),
        "BAD_CONFIG"
    );
    learner.remove_label("c").unwrap();
    assert_eq!(
        code(learner.set_linear(vec![0.0; 8], vec![0.0; 2], revision)),
        "BAD_CONFIG"
    );
    let knn = clusters(HeadKind::Knn { k: 1 });
    assert_eq!(code(knn.training_data()), "BAD_CONFIG");
    let data = learner.training_data().unwrap();
    let bad = TrainOptions {
        learning_rate: -1.0,
        ..Default::default()
    };
    assert_eq!(code(LinearTrainer::new(&data, bad)), "BAD_CONFIG");
    let mut trainer = LinearTrainer::new(
        &data,
        TrainOptions {
            epochs: 1,
            ..Default::default()
        },
    )
    .unwrap();
    trainer.epoch().unwrap();
    assert_eq!(code(trainer.epoch()), "BAD_CONFIG");
}

#[test]
#[cfg(feature = "train")]
fn round_trip_keeps_predictions_and_checks_the_backbone() {
    for kind in [HeadKind::Knn { k: 3 }, HeadKind::Linear] {
        let mut learner = clusters(kind);
        if kind == HeadKind::Linear {
            learner.train(TrainOptions::default(), |_| {}).unwrap();
        }
        let bytes = learner.to_bytes(true).unwrap();
        let back = Learner::from_bytes(&bytes, &backbone(4)).unwrap();
        assert_eq!(back.labels(), learner.labels());
        assert_eq!(back.kind(), kind);
        for probe in [[0.5, 0.1, 0.4, 0.0], [0.2, 0.3, 0.6, 0.1]] {
            assert_eq!(
                back.logits(&probe).unwrap(),
                learner.logits(&probe).unwrap()
            );
        }
        let other = Backbone {
            arch: "mobilenet_v3_small".into(),
            ..backbone(4)
        };
        let err = Learner::from_bytes(&bytes, &other).map(|_| ()).unwrap_err();
        assert_eq!(err.code(), "HEAD_MISMATCH");
    }
}

#[test]
fn corrupt_head_files_are_refused() {
    let learner = clusters(HeadKind::Knn { k: 1 });
    let bytes = learner.to_bytes(true).unwrap();
    let code = |b: &[u8]| {
        Learner::from_bytes(b, &backbone(4))
            .map(|_| ())
            .unwrap_err()
            .code()
    };
    assert_eq!(code(&[]), "BAD_HEAD");
    assert_eq!(code(&bytes[..bytes.len() - 3]), "BAD_HEAD");
    // An example whose class has no label.
    let (mut tensors, metadata) = learner.tensors(true).unwrap();
    tensors[1].2[0] = 7.0;
    let orphan = write_safetensors(&tensors, StoreDtype::F32, metadata.clone()).unwrap();
    assert_eq!(code(&orphan), "BAD_HEAD");
    // A model file is not a head.
    let (tensors, _) = learner.tensors(true).unwrap();
    let plain = write_safetensors(&tensors, StoreDtype::F32, HashMap::new()).unwrap();
    assert_eq!(code(&plain), "BAD_HEAD");
}

#[test]
#[cfg(feature = "train")]
fn a_head_saved_without_examples() {
    let mut linear = clusters(HeadKind::Linear);
    linear.train(TrainOptions::default(), |_| {}).unwrap();
    let bytes = linear.to_bytes(false).unwrap();
    let mut back = Learner::from_bytes(&bytes, &backbone(4)).unwrap();
    assert!(back.is_trained() && back.is_empty());
    let probe = [0.9, 0.0, 0.1, 0.0];
    assert_eq!(back.logits(&probe).unwrap(), linear.logits(&probe).unwrap());
    // As kNN it has nothing to vote with; retraining needs examples of every class.
    back.set_kind(HeadKind::Knn { k: 3 });
    assert!(!back.is_trained());
    assert_eq!(back.logits(&probe).unwrap_err().code(), "NO_EXAMPLES");
    back.set_kind(HeadKind::Linear);
    back.add(&probe, "a").unwrap();
    assert_eq!(
        back.training_data().map(|_| ()).unwrap_err().code(),
        "NO_EXAMPLES"
    );
    // kNN heads are their examples.
    let knn = clusters(HeadKind::Knn { k: 3 });
    assert_eq!(knn.to_bytes(false).unwrap_err().code(), "BAD_CONFIG");
}

#[test]
#[cfg(feature = "train")]
fn switching_heads_keeps_the_examples() {
    let mut learner = clusters(HeadKind::Linear);
    learner.train(TrainOptions::default(), |_| {}).unwrap();
    learner.set_kind(HeadKind::Knn { k: 1 });
    assert_eq!(learner.len(), 20);
    let top = learner.classify(&[1.0, 0.0, 0.0, 0.0], 1).unwrap();
    assert_eq!(top[0].label.as_deref(), Some("a"));
    learner.set_kind(HeadKind::Linear);
    assert_eq!(learner.logits(&[1.0; 4]).unwrap_err().code(), "NOT_TRAINED");
}

#[test]
fn removing_a_class_renumbers_the_rest() {
    let mut learner = clusters(HeadKind::Knn { k: 1 });
    learner.add(&[0.0, 1.0, 0.0, 0.0], "c").unwrap();
    learner.remove_label("a").unwrap();
    assert_eq!(learner.labels(), ["b", "c"]);
    assert_eq!(learner.counts(), [10, 1]);
    let top = learner.classify(&[0.0, 1.0, 0.0, 0.0], 1).unwrap();
    assert_eq!(top[0].label.as_deref(), Some("c"));
    assert_eq!(learner.remove_label("a").unwrap_err().code(), "BAD_LABEL");
}
