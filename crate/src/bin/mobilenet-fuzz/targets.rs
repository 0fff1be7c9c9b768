//! The targets: each takes one input (bytes) through the public API and says what came of it: ok,
//! a typed error, or a non-finite answer (a silent wrong answer, counted as a failure).

use mobilenet_wasm::hub::parse_config;
use mobilenet_wasm::{Backbone, Compute, Error, HeadKind, Learner, LoadOptions, Model, Pixels};

use crate::mutate::Layout;
use crate::records;
use crate::seeds::{FileParts, SeedModel};

pub enum Outcome {
    /// Answered (or refused as the API documents): `"ok"`, or why the input was not run further.
    Ok(&'static str),
    Err(Error),
    /// A probability, logit or embedding that is NaN or infinite, with what it was.
    NonFinite(String),
    /// A file the library wrote from what it had just read, that it then refused.
    RoundTrip(String),
}

impl From<Error> for Outcome {
    fn from(e: Error) -> Self {
        Outcome::Err(e)
    }
}

/// What the targets share: the seed models, and what the inputs are checked against.
pub struct Context {
    pub models: Vec<SeedModel>,
    /// Each seed model's file without its metadata (the config target's).
    pub parts: Vec<FileParts>,
    /// The backbone the head target's files are read for.
    pub backbone: Backbone,
    /// The timm seed models (indices into `models`), whose plain checkpoints config.json describes.
    pub timm: Vec<usize>,
}

/// A target: one input in, its outcome out.
type Run = fn(&Context, &[u8]) -> Outcome;

pub struct Target {
    pub name: &'static str,
    pub layout: Layout,
    pub run: Run,
}

const fn target(name: &'static str, layout: Layout, run: Run) -> Target {
    Target { name, layout, run }
}

pub const TARGETS: [Target; 7] = [
    target("model", Layout::Safetensors, model_file),
    target("head", Layout::Safetensors, head_file),
    target("combined", Layout::Safetensors, model_file),
    target("config", Layout::Json, config),
    target("pixels", Layout::Record, records::pixels),
    target("tensor", Layout::Record, records::tensor),
    target("learner", Layout::Record, records::learner),
];

/// Forward passes are run up to this cost (parameters × 32×32 tiles of input): a large input
/// on a large network is slow by design, not by a bug. (MobileNetV1 at 32 px is about 3.2e6.)
const COST_BUDGET: f64 = 3.3e7;

pub fn affordable(model: &Model, images: usize, height: usize, width: usize) -> bool {
    let tiles = images as f64 * height as f64 * width as f64 / 1024.0;
    model.parameters() as f64 * tiles <= COST_BUDGET
}

/// The card every loaded model classifies.
const CARD: (u32, u32) = (40, 30);

/// A model file (self-describing, maybe with a head): loaded, then one classification; every
/// other input with its 1×1 convs in int8 (natively the default is float32).
fn model_file(_: &Context, bytes: &[u8]) -> Outcome {
    let compute = [Compute::Float32, Compute::Int8][bytes.len() % 2];
    let options = LoadOptions {
        compute: Some(compute),
        ..Default::default()
    };
    match Model::load(bytes, &options) {
        Ok(model) => classify(&model),
        Err(e) => e.into(),
    }
}

fn classify(model: &Model) -> Outcome {
    let side = model.config().input_size as usize;
    if !affordable(model, 1, side, side) {
        return Outcome::Ok("ok (loaded; too costly to classify)");
    }
    let card = crate::seeds::image(CARD.0, CARD.1, 7);
    match model.logits(&Pixels::rgba(&card, CARD.0, CARD.1)) {
        Ok(logits) => answer(model, &logits),
        Err(e) => e.into(),
    }
}

/// Logits must be finite (a kNN head's may be -inf: no votes), and so the probabilities.
pub fn answer(model: &Model, logits: &[f32]) -> Outcome {
    let knn = matches!(model.head().map(|h| h.kind()), Some(HeadKind::Knn { .. }));
    if let Some(l) = logits
        .iter()
        .find(|l| !(l.is_finite() || knn && **l == f32::NEG_INFINITY))
    {
        return Outcome::NonFinite(format!("logit {l}"));
    }
    probabilities(&model.top_k(logits, 5))
}

pub fn probabilities(predictions: &[mobilenet_wasm::Prediction]) -> Outcome {
    match predictions.iter().find(|p| !p.probability.is_finite()) {
        Some(p) => Outcome::NonFinite(format!(
            "probability {} of class {}",
            p.probability, p.index
        )),
        None => Outcome::Ok("ok"),
    }
}

pub fn finite(values: &[f32], what: &str) -> Outcome {
    match values.iter().find(|v| !v.is_finite()) {
        Some(v) => Outcome::NonFinite(format!("{what} value {v}")),
        None => Outcome::Ok("ok"),
    }
}

/// A head file read for the context's backbone, then a classification, then saved and read back.
fn head_file(ctx: &Context, bytes: &[u8]) -> Outcome {
    let learner = match Learner::from_bytes(bytes, &ctx.backbone) {
        Ok(learner) => learner,
        Err(e) => return e.into(),
    };
    let embedding: Vec<f32> = (0..ctx.backbone.dim)
        .map(|i| (i * 7 % 5) as f32 - 2.0)
        .collect();
    let outcome = match learner.classify(&embedding, 5) {
        Ok(predictions) => probabilities(&predictions),
        Err(e) => e.into(),
    };
    if !matches!(outcome, Outcome::Ok(_)) {
        return outcome;
    }
    match learner
        .to_bytes(true)
        .map(|b| Learner::from_bytes(&b, &ctx.backbone))
    {
        Ok(Err(e)) => Outcome::RoundTrip(format!("saved with its examples, then: {e}")),
        _ => outcome,
    }
}

/// Selector byte, then text. Below 0x80: the JSON of a seed model's `__metadata__` (which seed:
/// the selector), put in its file in place of its own; from 0x80: a timm `config.json` describing
/// a timm seed's plain checkpoint.
fn config(ctx: &Context, bytes: &[u8]) -> Outcome {
    let (&selector, text) = bytes.split_first().unwrap_or((&0, &[]));
    if selector < 0x80 {
        let parts = &ctx.parts[selector as usize % ctx.parts.len()];
        let mut header = b"{\"__metadata__\":".to_vec();
        header.extend_from_slice(text);
        header.push(b',');
        header.extend_from_slice(parts.entries.as_bytes());
        header.push(b'}');
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(&header);
        file.extend_from_slice(&parts.data);
        return model_file(ctx, &file);
    }
    let seed = &ctx.models[ctx.timm[(selector - 0x80) as usize % ctx.timm.len()]];
    let described = match parse_config(&String::from_utf8_lossy(text)) {
        Ok(config) => config,
        Err(e) => return e.into(),
    };
    match Model::from_safetensors(&seed.plain, Some(described)) {
        Ok(model) => classify(&model),
        Err(e) => e.into(),
    }
}
