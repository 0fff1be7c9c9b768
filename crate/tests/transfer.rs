//! Transfer learning on real data: MobileNetV2 features of the handwritten digits in
//! `../shared/datasets/digits`, drawn and split as its README says, with both heads.
#![cfg(all(not(target_arch = "wasm32"), feature = "train"))]

mod common;

use std::io::Read;
use std::time::Instant;

use mobilenet_wasm::transfer::combine;
use mobilenet_wasm::{Backbone, HeadKind, Learner, Model, Pixels, TrainOptions};

/// One 8×8 digit: 64 ink levels 0–16 and its label.
struct Digit {
    ink: [u8; 64],
    label: usize,
}

fn digits() -> Vec<Digit> {
    // From MOBILENET_SHARED_DIR (or ../shared), as every other reference.
    let gz = pollster::block_on(common::shared("datasets/digits/digits.csv.gz"));
    let mut csv = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut csv)
        .unwrap();
    csv.lines()
        .map(|line| {
            let v: Vec<u8> = line.split(',').map(|x| x.trim().parse().unwrap()).collect();
            assert_eq!(v.len(), 65, "{line}");
            Digit {
                ink: v[..64].try_into().unwrap(),
                label: v[64] as usize,
            }
        })
        .collect()
}

/// Dark ink on white, `1 − v/16`, as RGBA.
fn draw(digit: &Digit) -> Vec<u8> {
    digit
        .ink
        .iter()
        .flat_map(|&v| {
            let level = (255.0 * (1.0 - v as f32 / 16.0)).round() as u8;
            [level, level, level, 255]
        })
        .collect()
}

/// `numpy.random.RandomState(seed).permutation(n)`: MT19937 seeded by `init_genrand`, then numpy's
/// legacy Fisher–Yates with masked rejection sampling.
fn numpy_permutation(seed: u32, n: usize) -> Vec<usize> {
    let mut mt = [0u32; 624];
    mt[0] = seed;
    for i in 1..624 {
        mt[i] = 1_812_433_253u32
            .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
            .wrapping_add(i as u32);
    }
    let mut index = 624;
    let mut next = || {
        if index == 624 {
            for i in 0..624 {
                let y = (mt[i] & 0x8000_0000) | (mt[(i + 1) % 624] & 0x7fff_ffff);
                mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ if y & 1 == 1 { 0x9908_b0df } else { 0 };
            }
            index = 0;
        }
        let mut y = mt[index];
        index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let max = i as u32;
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16] {
            mask |= mask >> shift;
        }
        let j = loop {
            let v = next() & mask;
            if v <= max {
                break v as usize;
            }
        };
        order.swap(i, j);
    }
    order
}

#[test]
fn numpy_permutation_matches_numpy() {
    // numpy 2.x: RandomState(0).permutation(1797)[:5] and [-3:]
    let p = numpy_permutation(0, 1797);
    assert_eq!(p[..5], [1081, 1707, 927, 713, 262]);
    assert_eq!(p[1794..], [1653, 559, 684]);
}

fn accuracy(learner: &Learner, test: &[(Vec<f32>, usize)]) -> f32 {
    let correct = test
        .iter()
        .filter(|(e, label)| {
            let top = learner.classify(e, 1).unwrap();
            top[0].label.as_deref() == Some(&label.to_string())
        })
        .count();
    correct as f32 / test.len() as f32
}

#[test]
fn digits_transfer_learning_on_mobilenet_v2_features() {
    let model: Model = pollster::block_on(common::load_model(common::case("mobilenetv2_100")));
    let digits = digits();
    assert_eq!(digits.len(), 1797);
    let started = Instant::now();
    let embedded: Vec<(Vec<f32>, usize)> = numpy_permutation(0, digits.len())
        .into_iter()
        .map(|i| {
            let rgba = draw(&digits[i]);
            (
                model.embed(&Pixels::rgba(&rgba, 8, 8)).unwrap(),
                digits[i].label,
            )
        })
        .collect();
    println!(
        "embedded 1797 digits in {:.1} s",
        started.elapsed().as_secs_f32()
    );
    let (train, test) = embedded.split_at(1000);
    let backbone = Backbone::new(model.config(), model.embedding_size());

    let mut linear = Learner::new(HeadKind::Linear, backbone.clone());
    let mut knn = Learner::new(HeadKind::Knn { k: 3 }, backbone.clone());
    for (e, label) in train {
        linear.add(e, &label.to_string()).unwrap();
        knn.add(e, &label.to_string()).unwrap();
    }
    let started = Instant::now();
    let last = linear.train(TrainOptions::default(), |_| {}).unwrap();
    let seconds = started.elapsed().as_secs_f32();
    let (linear_accuracy, knn_accuracy) = (accuracy(&linear, test), accuracy(&knn, test));

    // Ten examples per class: the first ten of each digit in the training split.
    let mut few = Learner::new(HeadKind::Linear, backbone);
    for digit in 0..10 {
        for (e, label) in train.iter().filter(|(_, l)| *l == digit).take(10) {
            few.add(e, &label.to_string()).unwrap();
        }
    }
    few.train(TrainOptions::default(), |_| {}).unwrap();
    let few_accuracy = accuracy(&few, test);
    println!(
        "digits, MobileNetV2 features: linear {:.1} % (trained in {seconds:.2} s, last epoch loss \
         {:.3}), kNN k=3 {:.1} %, linear on 10 per class {:.1} %",
        linear_accuracy * 100.0,
        last.loss,
        knn_accuracy * 100.0,
        few_accuracy * 100.0
    );
    assert!(linear_accuracy >= 0.94, "linear {linear_accuracy}");
    // int8 weights (dequantized at load) leave the linear head within a point of float32's.
    let int8 = {
        use mobilenet_wasm::checkpoint::StoreDtype;
        use mobilenet_wasm::convert::{convert, ConvertOptions};
        let case = common::case("mobilenetv2_100");
        let source = pollster::block_on(common::shared(&case.weights));
        let options = ConvertOptions {
            dtype: StoreDtype::Int8,
            fold_batch_norm: true,
        };
        convert(&source, case.config(), options).unwrap().model
    };
    let int8_accuracy = digits_linear_accuracy(&int8);
    println!(
        "digits, linear head on int8 weights: {:.1} %",
        int8_accuracy * 100.0
    );
    assert!(
        (linear_accuracy - int8_accuracy).abs() <= 0.01,
        "int8 {int8_accuracy}"
    );
    assert!(knn_accuracy >= 0.93, "kNN {knn_accuracy}");
    assert!(few_accuracy >= 0.80, "10 per class {few_accuracy}");

    // The head saved, read back, and inside one model file: the same answers everywhere.
    let head_file = linear.to_bytes(false).unwrap();
    let back = Learner::from_bytes(&head_file, &model.backbone()).unwrap();
    let weights = pollster::block_on(common::shared("weights/mobilenetv2_100.safetensors"));
    let combined = combine(&weights, &model, &linear).unwrap();
    let custom = Model::from_safetensors(&combined, None).unwrap();
    assert_eq!(custom.num_classes(), 10);
    // A config given for the combined file describes the backbone; the head still comes with it.
    let described = Model::from_safetensors(&combined, Some(model.config().clone())).unwrap();
    assert_eq!(described.num_classes(), 10);
    for digit in &digits[..20] {
        let rgba = draw(digit);
        let pixels = Pixels::rgba(&rgba, 8, 8);
        let embedding = model.embed(&pixels).unwrap();
        let expected = linear.classify(&embedding, 3).unwrap();
        assert_eq!(back.classify(&embedding, 3).unwrap(), expected);
        assert_eq!(custom.classify(&pixels, 3).unwrap(), expected);
        assert_eq!(described.classify(&pixels, 3).unwrap(), expected);
    }

    // A head made on V2 features does not fit V3-Small's.
    let small = pollster::block_on(common::load_model(common::case("mobilenetv3_small_100")));
    let err = Learner::from_bytes(&head_file, &small.backbone())
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.code(), "HEAD_MISMATCH");
    let err = combine(&weights, &small, &linear).map(|_| ()).unwrap_err();
    assert_eq!(err.code(), "HEAD_MISMATCH");
    // Another file than the classifier's own: V3-Small's bytes, or V2 with other weights.
    let small_weights =
        pollster::block_on(common::shared("weights/mobilenetv3_small_100.safetensors"));
    let synthetic_v2 = pollster::block_on(common::shared(
        "reference/synthetic/tv_mobilenet_v2.safetensors",
    ));
    for other in [small_weights, synthetic_v2] {
        let err = combine(&other, &model, &linear).map(|_| ()).unwrap_err();
        assert_eq!(err.code(), "HEAD_MISMATCH", "{err}");
    }
}

/// The linear head's accuracy on the digits with `model`'s features, as the test above splits and
/// trains it (for int8 weights there).
fn digits_linear_accuracy(model: &Model) -> f32 {
    let digits = digits();
    let embedded: Vec<(Vec<f32>, usize)> = numpy_permutation(0, digits.len())
        .into_iter()
        .map(|i| {
            let rgba = draw(&digits[i]);
            let embedding = model.embed(&Pixels::rgba(&rgba, 8, 8)).unwrap();
            (embedding, digits[i].label)
        })
        .collect();
    let (train, test) = embedded.split_at(1000);
    let mut linear = Learner::new(HeadKind::Linear, model.backbone());
    for (e, label) in train {
        linear.add(e, &label.to_string()).unwrap();
    }
    linear.train(TrainOptions::default(), |_| {}).unwrap();
    accuracy(&linear, test)
}
