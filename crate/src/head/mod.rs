//! A custom classifier on a backbone's embedding, as it runs: your own classes instead of the
//! network's. Building and training one is transfer learning's job (the `transfer` module); this module only reads and
//! applies it, so that a model file carrying a head needs nothing of the training code.
//!
//! Two kinds:
//! - cosine k-nearest neighbours: the head is its examples;
//! - softmax regression on the length-normalised embedding (weights trained by the learner).

mod file;

use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::prediction::{top_k, Prediction};

pub use file::{HEAD_KEY, HEAD_PREFIX, MAX_LABELS};

/// What a head was trained on: embeddings of one backbone configuration are meaningless to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backbone {
    pub arch: String,
    pub width: f64,
    #[serde(rename = "inputSize")]
    pub input_size: u32,
    /// Length of the embedding.
    pub dim: usize,
}

impl Backbone {
    pub fn new(config: &ModelConfig, dim: usize) -> Self {
        Backbone {
            arch: config.arch.name().to_string(),
            width: config.width,
            input_size: config.input_size,
            dim,
        }
    }

    pub fn ensure_same(&self, other: &Backbone) -> Result<()> {
        if self != other {
            return Err(Error::HeadMismatch(format!(
                "the head was made for {} (width {}, {}px, {}-d embedding); this model is {} \
                 (width {}, {}px, {}-d embedding)",
                other.arch,
                other.width,
                other.input_size,
                other.dim,
                self.arch,
                self.width,
                self.input_size,
                self.dim
            )));
        }
        Ok(())
    }
}

/// Which head classifies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeadKind {
    /// Cosine k-nearest neighbours, majority vote.
    Knn { k: usize },
    /// Softmax regression on the length-normalised embedding.
    Linear,
}

impl HeadKind {
    pub fn parse(name: &str, k: usize) -> Result<Self> {
        match name {
            "knn" if k >= 1 => Ok(HeadKind::Knn { k }),
            "knn" => Err(Error::bad_config(format!("k must be at least 1, got {k}"))),
            "linear" => Ok(HeadKind::Linear),
            other => Err(Error::bad_config(format!(
                "unknown head `{other}` (expected \"knn\" or \"linear\")"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HeadKind::Knn { .. } => "knn",
            HeadKind::Linear => "linear",
        }
    }

    /// What [`Self::parse`] accepts: a kind made by hand (`Knn { k: 0 }`) could neither classify
    /// nor be read back from its file.
    pub fn check(self) -> Result<Self> {
        Self::parse(
            self.name(),
            match self {
                HeadKind::Knn { k } => k,
                HeadKind::Linear => 1,
            },
        )
    }
}

/// Trained softmax layer: `logits = weight · x̂ + bias`, `x̂` the embedding scaled as
/// [`linear_input_scale`] says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinearHead {
    /// `[classes, dim]`, row-major.
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

/// Classes on an embedding: labels, the examples (unit length) and, for the linear kind, weights.
#[derive(Debug, Clone)]
pub struct Head {
    pub(crate) kind: HeadKind,
    pub(crate) backbone: Backbone,
    pub(crate) labels: Vec<String>,
    /// Unit-length embeddings, `[examples, dim]` row-major. Both kinds read them normalised.
    pub(crate) examples: Vec<f32>,
    pub(crate) classes: Vec<u32>,
    pub(crate) linear: Option<LinearHead>,
}

impl Head {
    /// A head of `kind` with no classes yet.
    pub fn new(kind: HeadKind, backbone: Backbone) -> Self {
        Head {
            kind,
            backbone,
            labels: Vec::new(),
            examples: Vec::new(),
            classes: Vec::new(),
            linear: None,
        }
    }

    pub fn kind(&self) -> HeadKind {
        self.kind
    }

    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    /// The classes in the order of their first example (the order of a linear head's outputs).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Examples per label, in [`Self::labels`] order.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.labels.len()];
        for &c in &self.classes {
            counts[c as usize] += 1;
        }
        counts
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Whether the head can classify: kNN with examples, linear with weights for every class.
    pub fn is_trained(&self) -> bool {
        match self.kind {
            HeadKind::Knn { .. } => !self.classes.is_empty(),
            HeadKind::Linear => self
                .linear
                .as_ref()
                .is_some_and(|l| l.bias.len() == self.labels.len()),
        }
    }

    /// Scores of each class for one embedding: the linear head's logits, or for kNN the log of each
    /// class's share of the `k` votes (so that a softmax gives back the vote shares).
    ///
    /// A result that overflows float32 (weights far out of range) is [`Error::NonFinite`].
    pub fn logits(&self, embedding: &[f32]) -> Result<Vec<f32>> {
        let logits = self.scores(embedding)?;
        // kNN's classes without a vote score -inf, which the softmax makes 0; nothing else may
        // be infinite, and nothing NaN.
        let knn = matches!(self.kind, HeadKind::Knn { .. });
        if logits
            .iter()
            .any(|v| v.is_nan() || (v.is_infinite() && !(knn && *v < 0.0)))
        {
            return Err(Error::NonFinite(
                "the head's scores overflowed float32: its weights are out of range".into(),
            ));
        }
        Ok(logits)
    }

    fn scores(&self, embedding: &[f32]) -> Result<Vec<f32>> {
        let unit = self.unit(embedding)?;
        self.kind.check()?;
        self.ensure_classes()?;
        if matches!(self.kind, HeadKind::Knn { .. }) && self.classes.is_empty() {
            return Err(Error::NoExamples(
                "the kNN head has no examples (it was saved without them): add some".into(),
            ));
        }
        match self.kind {
            HeadKind::Knn { k } => Ok(self.knn_logits(&unit, k)),
            HeadKind::Linear => {
                let head = self.linear.as_ref().filter(|_| self.is_trained());
                let head = head.ok_or_else(|| {
                    Error::NotTrained(
                        "the linear head has not been trained on the current classes".into(),
                    )
                })?;
                let scale = linear_input_scale(self.backbone.dim);
                Ok(head
                    .weight
                    .chunks_exact(self.backbone.dim)
                    .zip(&head.bias)
                    .map(|(row, b)| dot(row, &unit) * scale + b)
                    .collect())
            }
        }
    }

    /// The `k` most probable classes of one embedding.
    pub fn classify(&self, embedding: &[f32], k: usize) -> Result<Vec<Prediction>> {
        Ok(top_k(&self.logits(embedding)?, k, Some(&self.labels)))
    }

    fn knn_logits(&self, unit: &[f32], k: usize) -> Vec<f32> {
        let mut neighbours: Vec<(f32, u32)> = self
            .examples
            .chunks_exact(self.backbone.dim)
            .map(|row| dot(row, unit))
            .zip(self.classes.iter().copied())
            .collect();
        let k = k.min(neighbours.len());
        if k == 0 {
            return vec![0.0; self.labels.len()]; // no examples: callers check before
        }
        neighbours.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let mut votes = vec![0.0f32; self.labels.len()];
        let mut similarity = vec![0.0f32; self.labels.len()];
        for &(s, c) in &neighbours[..k] {
            votes[c as usize] += 1.0;
            similarity[c as usize] += s;
        }
        // A tie of votes goes to the class whose neighbours are closer in sum: a tiny nudge that
        // changes no probability that matters and keeps the answer deterministic.
        votes
            .iter()
            .zip(&similarity)
            .map(|(&v, &s)| {
                if v == 0.0 {
                    f32::NEG_INFINITY
                } else {
                    (v / k as f32).ln() + s * 1e-6
                }
            })
            .collect()
    }

    /// Two classes or more: one class is no classifier.
    pub(crate) fn ensure_classes(&self) -> Result<()> {
        match self.labels.len() {
            0 => Err(Error::NoExamples(
                "add examples of at least two classes".into(),
            )),
            1 => Err(Error::TooFewClasses(format!(
                "only one class (`{}`) has examples: add examples of another class",
                self.labels[0]
            ))),
            _ => Ok(()),
        }
    }

    /// The embedding scaled to unit length, after checking its size and values.
    pub(crate) fn unit(&self, embedding: &[f32]) -> Result<Vec<f32>> {
        let dim = self.backbone.dim;
        if dim == 0 {
            return Err(Error::HeadMismatch(
                "the backbone's embedding has no values".into(),
            ));
        }
        if embedding.len() != dim {
            return Err(Error::HeadMismatch(format!(
                "an embedding of {} values given to a head of {dim}",
                embedding.len()
            )));
        }
        if embedding.iter().any(|v| !v.is_finite()) {
            return Err(Error::BadInput(
                "the embedding holds a non-finite value".into(),
            ));
        }
        let norm = dot(embedding, embedding).sqrt();
        // An all-zero embedding has no direction; it stays zero and votes for nothing in particular.
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        Ok(embedding.iter().map(|v| v * scale).collect())
    }
}

/// A label names a class: a non-empty string, not only blanks.
pub fn check_label(label: &str) -> Result<()> {
    if label.trim().is_empty() {
        return Err(Error::BadLabel("a label must be a non-empty string".into()));
    }
    Ok(())
}

/// The linear head reads `√dim · x/‖x‖`: features of about unit size whatever the backbone, so that
/// one learning rate suits them all (unscaled unit vectors train several times slower).
pub fn linear_input_scale(dim: usize) -> f32 {
    (dim as f32).sqrt()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
