//! The targets whose inputs are small binary records: images, input tensors, and programs of
//! learner operations.

use mobilenet_wasm::{Backbone, Error, HeadKind, Learner, Pixels};

use crate::seeds::Corpus;
use crate::targets::{affordable, answer, finite, probabilities, Context, Outcome};

/// Little-endian fields of a record, zero past its end.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0; N];
        for (k, b) in out.iter_mut().enumerate() {
            *b = self.0.get(at + k).copied().unwrap_or(0);
        }
        out
    }
    fn u8(&self, at: usize) -> u8 {
        self.bytes::<1>(at)[0]
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes(at))
    }
}

/// Largest buffer a record makes (the sizes it claims may be anything).
const MAX_BUFFER: usize = 8 << 20;

/// A buffer length: the exact one for `exact` (`None`: overflowed), or the record's own `claimed`,
/// or off by one, as `mode` says; at most `limit`.
fn length(mode: u8, exact: Option<usize>, claimed: u32, limit: usize) -> usize {
    let len = match (mode % 4, exact) {
        (0, Some(n)) => n,
        (2, Some(n)) => n + 1,
        (3, Some(n)) => n.saturating_sub(1),
        _ => claimed as usize,
    };
    len.min(limit)
}

pub fn pixels_record(func: u8, model: u8, channels: u8, width: u32, height: u32) -> Vec<u8> {
    let mut r = vec![func, model, channels, 0];
    r.extend_from_slice(&width.to_le_bytes());
    r.extend_from_slice(&height.to_le_bytes());
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&[3, 5]);
    r
}

/// `[func, model, channels, length mode, width: u32, height: u32, length: u32, fill, top-k]`:
/// an image of any claimed size, channel count and buffer length, through the image API.
pub fn pixels(ctx: &Context, bytes: &[u8]) -> Outcome {
    let f = Fields(bytes);
    let model = &ctx.models[f.u8(1) as usize % ctx.models.len()].model;
    let (channels, width, height) = (f.u8(2), f.u32(4), f.u32(8));
    let exact = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(channels as usize));
    let len = length(f.u8(3), exact, f.u32(12), MAX_BUFFER);
    let fill = f.u8(16) as usize;
    let pattern: Vec<u8> = (0..251).map(|i| (i * fill % 251) as u8).collect();
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        data.extend_from_slice(&pattern[..(len - data.len()).min(pattern.len())]);
    }
    let image = Pixels {
        data: &data,
        width,
        height,
        channels,
    };
    let result = match f.u8(0) % 5 {
        0 => model
            .classify(&image, f.u8(17) as usize)
            .map(|p| probabilities(&p)),
        1 => model.logits(&image).map(|l| answer(model, &l)),
        2 => model.embed(&image).map(|e| finite(&e, "embedding")),
        k => model
            .embed_augmented(&image, k == 4)
            .map(|all| finite(&all.concat(), "embedding")),
    };
    result.unwrap_or_else(Outcome::Err)
}

pub fn tensor_record(func: u8, model: u8, kind: u8, special: f32, shape: [u64; 4]) -> Vec<u8> {
    let mut r = vec![func, model, 0, kind];
    r.extend_from_slice(&special.to_bits().to_le_bytes());
    for d in shape {
        r.extend_from_slice(&d.to_le_bytes());
    }
    r.extend_from_slice(&0u32.to_le_bytes());
    r
}

/// Largest input tensor a record makes, in values.
const MAX_VALUES: usize = 1 << 20;

/// `[func, model, length mode, values kind, special: f32, n, c, h, w: u64, length: u32]`: NCHW
/// inputs of any shape and values (a pattern, all one special value, or a pattern with it in
/// one place), through the tensor API and `multiply_adds`.
pub fn tensor(ctx: &Context, bytes: &[u8]) -> Outcome {
    let f = Fields(bytes);
    let model = &ctx.models[f.u8(1) as usize % ctx.models.len()].model;
    let special = f32::from_bits(f.u32(4));
    let shape = [8, 16, 24, 32].map(|at| f.u64(at) as usize);
    let [n, c, h, w] = shape;
    if f.u8(0) % 3 == 2 {
        // Sizes the network takes and that are costly are slow by design: not run.
        let takes = (16..=4096).contains(&h) && (16..=4096).contains(&w);
        if takes && !affordable(model, 1, h, w) {
            return Outcome::Ok("ok (too costly to run)");
        }
        return match model.multiply_adds(h, w) {
            Ok(_) => Outcome::Ok("ok"),
            Err(e) => e.into(),
        };
    }
    let exact = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let len = length(f.u8(2), exact, f.u32(40), MAX_VALUES);
    let mut values: Vec<f32> = (0..len)
        .map(|i| (i * 37 % 1000) as f32 / 500.0 - 1.0)
        .collect();
    match f.u8(3) % 3 {
        0 => {}
        1 => values.fill(special),
        _ => {
            if let Some(v) = values.get_mut(f.u32(40) as usize % len.max(1)) {
                *v = special;
            }
        }
    }
    let takes = exact == Some(len)
        && n >= 1
        && c == 3
        && (16..=4096).contains(&h)
        && (16..=4096).contains(&w);
    if takes && !affordable(model, n, h, w) {
        return Outcome::Ok("ok (too costly to run)");
    }
    let result = match f.u8(0) % 3 {
        0 => model
            .logits_nchw(&values, shape)
            .map(|rows| finite(&rows.concat(), "logit")),
        _ => model
            .embed_nchw(&values, shape)
            .map(|rows| finite(&rows.concat(), "embedding")),
    };
    // Which input: one holding NaN or infinity, or finite values of some size.
    match result {
        Ok(Outcome::NonFinite(what)) => {
            Outcome::NonFinite(format!("{what}, for {}", input_kind(&values)))
        }
        other => other.unwrap_or_else(Outcome::Err),
    }
}

/// What an input tensor holds, for a non-finite answer's report.
fn input_kind(values: &[f32]) -> String {
    if values.iter().any(|v| v.is_nan()) {
        "an input holding NaN".into()
    } else if values.iter().any(|v| v.is_infinite()) {
        "an input holding infinity".into()
    } else {
        let largest = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        format!("a finite input (largest |x| {largest:.0e})")
    }
}

/// The learner target's operations: `[code, a, b, c]`, `c` picking the label.
pub mod learn {
    /// `add(embedding(a, b), label)`
    pub const ADD: u8 = 0;
    /// `remove_label(label)`
    pub const REMOVE: u8 = 1;
    /// `classify(embedding(a, b), k = c)`
    pub const CLASSIFY: u8 = 2;
    /// `set_kind(kind(a))`
    pub const SET_KIND: u8 = 3;
    /// `set_linear` with values of pattern `a` (one class too many if `b % 4 == 3`), for the
    /// current revision if `c` is even
    pub const SET_LINEAR: u8 = 4;
    /// `to_bytes(a is odd)`, then `from_bytes`
    pub const SAVE_LOAD: u8 = 5;
    /// `training_data()`
    pub const TRAINING_DATA: u8 = 6;
    /// `counts()`, `len()`, `is_trained()`
    pub const COUNTS: u8 = 7;
}

pub fn learner_record(dim: u8, kind: u8, ops: &[[u8; 4]]) -> Vec<u8> {
    [&[dim, kind][..], ops.concat().as_slice()].concat()
}

const LEARNER_LABELS: [&str; 7] = ["a", "b", "c", " ", "", "\u{e9}t\u{e9}", "a\u{0}"];

/// An embedding of `dim` values (or one more or less, by `variant`), finite or holding a special.
fn embedding(dim: usize, pattern: u8, variant: u8) -> Vec<f32> {
    let len = match variant % 8 {
        6 => dim + 1,
        7 => dim.saturating_sub(1),
        _ => dim,
    };
    let special = match pattern {
        0..=199 => None,
        200..=209 => Some(f32::NAN),
        210..=219 => Some(f32::INFINITY),
        220..=229 => Some(1e38),
        230..=239 => Some(1e-45),
        _ => Some(0.0),
    };
    (0..len)
        .map(|i| special.unwrap_or(((i * 7 + pattern as usize) % 13) as f32 / 6.0 - 1.0))
        .collect()
}

/// `[dim, kind]` then 4-byte operations `[code, a, b, c]` (see [`learn`]) on a learner of a
/// backbone of `dim` (0 included). The outcome is the last operation's; a non-finite answer or a
/// refused round trip ends the program.
pub fn learner(_: &Context, bytes: &[u8]) -> Outcome {
    let f = Fields(bytes);
    let backbone = Backbone {
        arch: "mobilenet_v2".into(),
        width: 1.0,
        input_size: 224,
        dim: f.u8(0) as usize % 48,
    };
    let mut learner = Learner::new(head_kind(f.u8(1)), backbone);
    let mut last = Outcome::Ok("ok");
    for op in bytes.get(2..).unwrap_or(&[]).chunks(4).take(64) {
        last = operate(&mut learner, Fields(op).bytes(0)).unwrap_or_else(Outcome::Err);
        if matches!(last, Outcome::NonFinite(_) | Outcome::RoundTrip(_)) {
            break;
        }
    }
    last
}

/// kNN with `k` the low bits, or linear with the high bit.
fn head_kind(b: u8) -> HeadKind {
    match b & 0x80 {
        0 => HeadKind::Knn {
            k: (b & 0x7F) as usize,
        },
        _ => HeadKind::Linear,
    }
}

fn operate(learner: &mut Learner, [code, a, b, c]: [u8; 4]) -> Result<Outcome, Error> {
    let dim = learner.backbone().dim;
    let label = LEARNER_LABELS[c as usize % LEARNER_LABELS.len()];
    let done = |_| Outcome::Ok("ok");
    match code % 8 {
        learn::ADD => learner.add(&embedding(dim, a, b), label).map(done),
        learn::REMOVE => learner.remove_label(label).map(done),
        learn::CLASSIFY => {
            let predictions = learner.classify(&embedding(dim, a, b), c as usize)?;
            Ok(probabilities(&predictions))
        }
        learn::SET_KIND => {
            learner.set_kind(head_kind(a));
            Ok(Outcome::Ok("ok"))
        }
        learn::SET_LINEAR => {
            let classes = learner.labels().len() + (b % 4 == 3) as usize;
            let revision = match learner.training_data() {
                Ok(data) if c & 1 == 0 => data.revision,
                _ => c as u32,
            };
            let weight = embedding(classes * dim, a, b);
            let bias = embedding(classes, a, 0);
            learner.set_linear(weight, bias, revision).map(done)
        }
        learn::SAVE_LOAD => {
            let saved = learner.to_bytes(a & 1 == 1)?;
            match Learner::from_bytes(&saved, learner.backbone()) {
                Ok(back) => {
                    *learner = back;
                    Ok(Outcome::Ok("ok"))
                }
                Err(e) => Ok(Outcome::RoundTrip(format!("saved, then: {e}"))),
            }
        }
        learn::TRAINING_DATA => learner.training_data().map(|_| Outcome::Ok("ok")),
        _ => {
            let _ = (learner.counts(), learner.len(), learner.is_trained());
            Ok(Outcome::Ok("ok"))
        }
    }
}

/// The record targets' seeds, for `models` seed models: a valid image and input for each, images of
/// odd sizes, inputs holding NaN, infinities, 1e38 or a subnormal, of odd or overflowing shapes,
/// and learner programs of both kinds.
pub fn seeds(models: u8) -> (Corpus, Corpus, Corpus) {
    let mut pixels = Vec::new();
    let mut tensor = Vec::new();
    for m in 0..models {
        pixels.push(pixels_record(m % 5, m, 4, 40, 30));
        tensor.push(tensor_record(m % 2, m, 0, 0.0, [1, 3, 32, 32]));
    }
    pixels.extend([
        pixels_record(0, 0, 3, 1, 64),
        pixels_record(2, 1, 4, 300, 1),
        pixels_record(0, 2, 4, 0, 0),
        pixels_record(1, 3, 4, 65535, 65535),
        pixels_record(4, 4, 2, 8, 8),
    ]);
    tensor.extend([
        tensor_record(0, 0, 1, f32::NAN, [1, 3, 16, 16]),
        tensor_record(1, 1, 2, f32::INFINITY, [2, 3, 20, 17]),
        tensor_record(0, 2, 2, 1e38, [1, 3, 64, 16]),
        tensor_record(0, 3, 2, f32::from_bits(1), [1, 3, 16, 40]),
        tensor_record(2, 4, 0, 0.0, [1, 3, 32, 32]),
        tensor_record(0, 5, 0, 0.0, [0, 3, 0, 32]),
        tensor_record(1, 6, 1, f32::NEG_INFINITY, [1, 3, 1 << 32, 1 << 32]),
        tensor_record(2, 7, 0, 0.0, [1, 3, 1 << 32, 1 << 32]),
    ]);
    use learn::*;
    let knn = learner_record(
        4,
        3,
        &[
            [ADD, 0, 0, 0],
            [ADD, 1, 0, 1],
            [CLASSIFY, 9, 0, 2],
            [SAVE_LOAD, 1, 0, 0],
            [REMOVE, 0, 0, 1],
            [COUNTS, 0, 0, 0],
        ],
    );
    let linear = learner_record(
        16,
        0x80,
        &[
            [ADD, 1, 0, 0],
            [ADD, 2, 0, 1],
            [SET_LINEAR, 5, 0, 0],
            [CLASSIFY, 3, 0, 3],
            [SAVE_LOAD, 0, 0, 0],
            [TRAINING_DATA, 0, 0, 0],
        ],
    );
    let switch = learner_record(
        1,
        1,
        &[
            [ADD, 0, 0, 0],
            [ADD, 4, 0, 1],
            [SET_KIND, 0x80, 0, 0],
            [SET_LINEAR, 7, 0, 0],
            [CLASSIFY, 2, 0, 1],
        ],
    );
    (pixels, tensor, vec![knn, linear, switch])
}
