//! Transfer learning on frozen features: your own classes on top of a backbone's embedding.
//!
//! A [`Learner`] collects labelled embeddings and classifies new ones with one of two heads:
//! - cosine k-nearest neighbours: nothing to train, an example counts as soon as it is added;
//! - a softmax linear layer trained with candle's autograd and `candle-nn`'s AdamW on mini-batches.
//!
//! Training needs candle's autograd, which links most of candle's CPU kernels (a wasm several times
//! the size of inference's), so [`LinearTrainer`] is behind the `train` feature: the npm package
//! builds it as a second module that is fetched only when a linear head is trained, on the
//! examples [`Learner::training_data`] hands out.
//!
//! A learner is saved as a small safetensors file (its examples, the trained weights and, in the
//! metadata, the labels and the backbone it was made for). The same tensors and metadata appended to
//! a model file make one self-describing classifier of the custom classes ([`combine`]).

use std::collections::HashMap;

#[cfg(feature = "train")]
use candle_core::{DType, Device, Tensor, Var, D};
#[cfg(feature = "train")]
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{write_safetensors, StoreDtype};
use crate::config::{LoadOptions, ModelConfig};
use crate::error::{Error, Result};
use crate::model::{top_k, Model, Prediction};
use crate::preprocess::Pixels;

/// Metadata key holding the head's description (JSON) in head files and combined model files.
pub const HEAD_KEY: &str = "mobilenet_wasm.head";
/// Prefix of the head's tensors, so that they never collide with a backbone's.
pub const HEAD_PREFIX: &str = "head.";
const EXAMPLES: &str = "head.examples";
const CLASSES: &str = "head.classes";
const WEIGHT: &str = "head.weight";
const BIAS: &str = "head.bias";
const HEAD_VERSION: u32 = 1;

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
}

/// Mini-batch training settings of the linear head.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f64,
    pub batch_size: usize,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Seeds the shuffling of examples, so that a training run can be reproduced exactly.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 30,
            learning_rate: 0.01,
            batch_size: 32,
            weight_decay: 1e-4,
            seed: 0,
        }
    }
}

impl TrainOptions {
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::bad_config(format!("{name} must be > 0, got {v}")))
            }
        };
        positive("epochs", self.epochs as f64)?;
        positive("learningRate", self.learning_rate)?;
        positive("batchSize", self.batch_size as f64)?;
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::bad_config(format!(
                "weightDecay must be >= 0, got {}",
                self.weight_decay
            )));
        }
        Ok(())
    }
}

/// Mean loss and accuracy over the training examples during one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    pub loss: f32,
    pub accuracy: f32,
}

/// Trained softmax layer: `logits = weight · x̂ + bias`, `x̂` the embedding scaled as
/// [`linear_input_scale`] says.
#[derive(Debug, Clone, PartialEq)]
struct LinearHead {
    /// `[classes, dim]`, row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// Collects labelled embeddings, trains and runs a head.
pub struct Learner {
    kind: HeadKind,
    backbone: Backbone,
    labels: Vec<String>,
    /// Unit-length embeddings, `[examples, dim]` row-major. Both heads read them normalised.
    examples: Vec<f32>,
    classes: Vec<u32>,
    linear: Option<LinearHead>,
    /// Changes whenever the set of classes does: weights trained on an older set are refused.
    revision: u32,
}

/// What a linear head is trained on: the examples, as the learner stores them (unit length).
pub struct TrainingData<'a> {
    pub examples: &'a [f32],
    pub classes: &'a [u32],
    pub num_classes: usize,
    pub dim: usize,
    /// The learner's class-set revision, for [`Learner::set_linear`].
    pub revision: u32,
}

impl Learner {
    pub fn new(kind: HeadKind, backbone: Backbone) -> Self {
        Learner {
            kind,
            backbone,
            labels: Vec::new(),
            examples: Vec::new(),
            classes: Vec::new(),
            linear: None,
            revision: 0,
        }
    }

    pub fn kind(&self) -> HeadKind {
        self.kind
    }

    /// Switches the head, keeping the examples: a linear head then needs training (again).
    pub fn set_kind(&mut self, kind: HeadKind) {
        if kind != self.kind {
            self.kind = kind;
            self.linear = None;
        }
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

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Whether the linear head has weights for every current class.
    pub fn is_trained(&self) -> bool {
        match self.kind {
            HeadKind::Knn { .. } => !self.classes.is_empty(),
            HeadKind::Linear => self
                .linear
                .as_ref()
                .is_some_and(|l| l.bias.len() == self.labels.len()),
        }
    }

    /// Adds one labelled embedding. A new label becomes a new class.
    pub fn add(&mut self, embedding: &[f32], label: &str) -> Result<()> {
        let unit = self.unit(embedding)?;
        check_label(label)?;
        let class = match self.labels.iter().position(|l| l == label) {
            Some(c) => c,
            None => {
                self.labels.push(label.to_string());
                self.revision = self.revision.wrapping_add(1);
                self.labels.len() - 1
            }
        };
        self.examples.extend_from_slice(&unit);
        self.classes.push(class as u32);
        Ok(())
    }

    /// Drops every example of `label` and the class itself; the linear head must then be retrained.
    pub fn remove_label(&mut self, label: &str) -> Result<()> {
        let class = self
            .labels
            .iter()
            .position(|l| l == label)
            .ok_or_else(|| Error::BadLabel(format!("no class is labelled `{label}`")))?
            as u32;
        let dim = self.backbone.dim;
        let mut kept = Vec::with_capacity(self.examples.len());
        let mut classes = Vec::with_capacity(self.classes.len());
        for (row, &c) in self.examples.chunks_exact(dim).zip(&self.classes) {
            if c != class {
                kept.extend_from_slice(row);
                classes.push(if c > class { c - 1 } else { c });
            }
        }
        self.examples = kept;
        self.classes = classes;
        self.labels.remove(class as usize);
        self.linear = None;
        self.revision = self.revision.wrapping_add(1);
        Ok(())
    }

    /// The examples to train the linear head on: the head must be linear, with two classes or more
    /// and examples of each (a head loaded without its examples is retrained on new ones).
    pub fn training_data(&self) -> Result<TrainingData<'_>> {
        if self.kind != HeadKind::Linear {
            return Err(Error::bad_config(
                "only the linear head is trained (kNN uses its examples directly)",
            ));
        }
        self.ensure_classes()?;
        if let Some(empty) = self.counts().iter().position(|&n| n == 0) {
            return Err(Error::NoExamples(format!(
                "class `{}` has no examples to train on",
                self.labels[empty]
            )));
        }
        Ok(TrainingData {
            examples: &self.examples,
            classes: &self.classes,
            num_classes: self.labels.len(),
            dim: self.backbone.dim,
            revision: self.revision,
        })
    }

    /// Installs weights (`[classes, dim]` and `[classes]`) trained on the [`TrainingData`] of
    /// `revision`. If classes were added or removed since, they no longer fit: refused.
    pub fn set_linear(&mut self, weight: Vec<f32>, bias: Vec<f32>, revision: u32) -> Result<()> {
        if self.kind != HeadKind::Linear {
            return Err(Error::bad_config("only a linear head has weights"));
        }
        if revision != self.revision {
            return Err(Error::bad_config(
                "classes were added or removed during training: train again",
            ));
        }
        let (classes, dim) = (bias.len(), self.backbone.dim);
        if classes != self.labels.len() || weight.len() != classes * dim {
            return Err(Error::bad_config(format!(
                "weights of {} values and a bias of {classes} do not fit {} classes of {dim} features",
                weight.len(),
                self.labels.len()
            )));
        }
        if weight.iter().chain(&bias).any(|v| !v.is_finite()) {
            return Err(Error::bad_config("the weights hold a non-finite value"));
        }
        self.linear = Some(LinearHead { weight, bias });
        Ok(())
    }

    /// Trains the linear head from scratch for `options.epochs`, reporting each epoch.
    #[cfg(feature = "train")]
    pub fn train(
        &mut self,
        options: TrainOptions,
        mut on_epoch: impl FnMut(&EpochStats),
    ) -> Result<EpochStats> {
        let data = self.training_data()?;
        let revision = data.revision;
        let mut trainer = LinearTrainer::new(&data, options)?;
        loop {
            let stats = trainer.epoch()?;
            self.set_linear(trainer.weight()?, trainer.bias()?, revision)?;
            on_epoch(&stats);
            if stats.epoch == stats.epochs {
                return Ok(stats);
            }
        }
    }

    /// Scores of each class for one embedding: the linear head's logits, or for kNN the log of each
    /// class's share of the `k` votes (so that a softmax gives back the vote shares).
    pub fn logits(&self, embedding: &[f32]) -> Result<Vec<f32>> {
        let unit = self.unit(embedding)?;
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

    fn ensure_classes(&self) -> Result<()> {
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
    fn unit(&self, embedding: &[f32]) -> Result<Vec<f32>> {
        let dim = self.backbone.dim;
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

    // ------------------------------------------------------------------ files

    /// The learner as a safetensors file: labels, kind and backbone in the metadata, the examples
    /// (unless `with_examples` is false) and the trained linear weights as tensors.
    pub fn to_bytes(&self, with_examples: bool) -> Result<Vec<u8>> {
        let (tensors, metadata) = self.tensors(with_examples)?;
        write_safetensors(&tensors, StoreDtype::F32, metadata)
    }

    #[allow(clippy::type_complexity)]
    fn tensors(
        &self,
        with_examples: bool,
    ) -> Result<(Vec<(String, Vec<usize>, Vec<f32>)>, HashMap<String, String>)> {
        if self.labels.is_empty() {
            return Err(Error::NoExamples("there is nothing to save yet".into()));
        }
        let linear = self.linear.as_ref().filter(|_| self.is_trained());
        match self.kind {
            HeadKind::Linear if linear.is_none() && !with_examples => {
                return Err(Error::NotTrained(
                    "train the linear head before exporting it without its examples".into(),
                ))
            }
            HeadKind::Knn { .. } if !with_examples => {
                return Err(Error::bad_config(
                    "a kNN head is its examples: export it with them",
                ))
            }
            HeadKind::Knn { .. } if self.classes.is_empty() => {
                return Err(Error::NoExamples("the kNN head has no examples".into()))
            }
            _ => {}
        }
        let dim = self.backbone.dim;
        let mut tensors = Vec::new();
        if with_examples {
            let n = self.classes.len();
            tensors.push((EXAMPLES.to_string(), vec![n, dim], self.examples.clone()));
            let classes = self.classes.iter().map(|&c| c as f32).collect();
            tensors.push((CLASSES.to_string(), vec![n], classes));
        }
        if let Some(head) = linear {
            let c = head.bias.len();
            tensors.push((WEIGHT.to_string(), vec![c, dim], head.weight.clone()));
            tensors.push((BIAS.to_string(), vec![c], head.bias.clone()));
        }
        let description = HeadDescription {
            version: HEAD_VERSION,
            kind: self.kind.name().to_string(),
            k: match self.kind {
                HeadKind::Knn { k } => Some(k),
                HeadKind::Linear => None,
            },
            labels: self.labels.clone(),
            backbone: self.backbone.clone(),
        };
        let metadata = HashMap::from([(
            HEAD_KEY.to_string(),
            serde_json::to_string(&description).map_err(|e| Error::Internal(e.to_string()))?,
        )]);
        Ok((tensors, metadata))
    }

    /// Reads a head file written by [`Self::to_bytes`] for a model whose backbone is `backbone`.
    pub fn from_bytes(bytes: &[u8], backbone: &Backbone) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::BadHead("the file is empty".into()));
        }
        let not_head = |e| Error::BadHead(format!("not a safetensors file or truncated ({e})"));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(not_head)?;
        let st = SafeTensors::deserialize(bytes).map_err(not_head)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let mut tensors = HashMap::new();
        for (name, view) in st.iter() {
            tensors.insert(name.to_string(), f32_tensor(name, &view)?);
        }
        let learner = Self::from_parts(&metadata, tensors)?.ok_or_else(|| {
            Error::BadHead(
                "the file holds no head (it has no `mobilenet_wasm.head` metadata)".into(),
            )
        })?;
        backbone.ensure_same(&learner.backbone)?;
        Ok(learner)
    }

    /// The head stored in a file's metadata and `head.*` tensors; `Ok(None)` when there is none.
    /// Tensors under other names are refused (a head file holds nothing else).
    pub fn from_parts(
        metadata: &HashMap<String, String>,
        mut tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> Result<Option<Self>> {
        let Some(json) = metadata.get(HEAD_KEY) else {
            return Ok(None);
        };
        let d: HeadDescription = serde_json::from_str(json)
            .map_err(|e| Error::BadHead(format!("its description is not valid: {e}")))?;
        if d.version != HEAD_VERSION {
            return Err(Error::BadHead(format!(
                "head format version {} is not supported (this build reads {HEAD_VERSION})",
                d.version
            )));
        }
        let kind = HeadKind::parse(&d.kind, d.k.unwrap_or(1))
            .map_err(|e| Error::BadHead(e.to_string()))?;
        let labels = d.labels;
        for (i, label) in labels.iter().enumerate() {
            if label.trim().is_empty() || labels[..i].contains(label) {
                return Err(Error::BadHead(format!(
                    "label `{label}` is empty or repeated"
                )));
            }
        }
        let dim = d.backbone.dim;
        if dim == 0 {
            return Err(Error::BadHead(
                "the backbone's embedding has no values".into(),
            ));
        }
        let n = tensors
            .get(CLASSES)
            .map_or(0, |(shape, _)| shape.iter().product());
        let mut take = |name: &str, shape: &[usize]| -> Result<Option<Vec<f32>>> {
            match tensors.remove(name) {
                None => Ok(None),
                Some((actual, _)) if actual != shape => Err(Error::BadHead(format!(
                    "tensor `{name}` has shape {actual:?}, expected {shape:?}"
                ))),
                Some((_, values)) => Ok(Some(values)),
            }
        };
        let examples = take(EXAMPLES, &[n, dim])?;
        let classes = take(CLASSES, &[n])?;
        let (examples, classes) = match (examples, classes) {
            (Some(e), Some(c)) => (e, c),
            (None, None) => (Vec::new(), Vec::new()),
            _ => {
                return Err(Error::BadHead(format!(
                    "`{EXAMPLES}` and `{CLASSES}` go together"
                )))
            }
        };
        let classes = classes
            .into_iter()
            .map(|c| {
                if c.fract() == 0.0 && c >= 0.0 && (c as usize) < labels.len() {
                    Ok(c as u32)
                } else {
                    Err(Error::BadHead(format!(
                        "an example's class {c} has no label (there are {} labels)",
                        labels.len()
                    )))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let c = labels.len();
        let linear = match (take(WEIGHT, &[c, dim])?, take(BIAS, &[c])?) {
            (Some(weight), Some(bias)) => Some(LinearHead { weight, bias }),
            (None, None) => None,
            _ => {
                return Err(Error::BadHead(format!(
                    "`{WEIGHT}` and `{BIAS}` go together"
                )))
            }
        };
        if let Some(name) = tensors.keys().next() {
            return Err(Error::BadHead(format!("unexpected tensor `{name}`")));
        }
        let usable = match kind {
            HeadKind::Knn { .. } => !classes.is_empty(),
            HeadKind::Linear => linear.is_some() || !classes.is_empty(),
        };
        if !usable {
            return Err(Error::BadHead(
                "the head has neither examples nor weights".into(),
            ));
        }
        let mut learner = Learner::new(kind, d.backbone);
        learner.labels = labels;
        learner.examples = examples;
        learner.classes = classes;
        learner.linear = linear;
        Ok(Some(learner))
    }
}

/// A model file with a head appended: `model_file` (the safetensors file `backbone` was loaded
/// from) keeps its tensors byte for byte, gains the head's `head.*` tensors and metadata, and
/// `backbone`'s config in the metadata (so a plain checkpoint becomes self-describing). The result
/// is checked to load and to embed exactly as `backbone` does: a different file is refused.
pub fn combine(model_file: &[u8], backbone: &Model, head: &Learner) -> Result<Vec<u8>> {
    backbone.backbone().ensure_same(head.backbone())?;
    head.ensure_classes()?;
    if !head.is_trained() {
        return Err(Error::NotTrained(
            "the head cannot classify yet: train it (or add examples) first".into(),
        ));
    }
    let combined = append_head(model_file, backbone.config(), head)?;
    let not_the_backbone = |why: String| {
        Error::HeadMismatch(format!(
            "the model file is not the one this classifier was loaded from ({why})"
        ))
    };
    let reloaded = Model::load(&combined, &LoadOptions::default())
        .map_err(|e| not_the_backbone(e.to_string()))?;
    let side = backbone.config().input_size;
    let probe: Vec<u8> = (0..side * side * 4).map(|i| (i * 37 % 251) as u8).collect();
    let pixels = Pixels::rgba(&probe, side, side);
    if reloaded.embed(&pixels)? != backbone.embed(&pixels)? {
        return Err(not_the_backbone("it computes other features".into()));
    }
    Ok(combined)
}

fn append_head(model: &[u8], config: &ModelConfig, head: &Learner) -> Result<Vec<u8>> {
    let st = SafeTensors::deserialize(model)
        .map_err(|e| Error::bad_model(format!("not a safetensors file or truncated ({e})")))?;
    let (head_tensors, head_metadata) = head.tensors(true)?;
    let head_bytes: Vec<(String, Vec<usize>, Vec<u8>)> = head_tensors
        .into_iter()
        .map(|(name, shape, values)| {
            (
                name,
                shape,
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let mut views: Vec<(String, TensorView)> = Vec::new();
    for (name, view) in st.tensors() {
        if name.starts_with(HEAD_PREFIX) {
            continue; // a previous head: replaced
        }
        let copy = TensorView::new(view.dtype(), view.shape().to_vec(), view.data())
            .map_err(|e| Error::Internal(format!("tensor `{name}`: {e}")))?;
        views.push((name, copy));
    }
    for (name, shape, data) in &head_bytes {
        let view = TensorView::new(Dtype::F32, shape.clone(), data)
            .map_err(|e| Error::Internal(format!("tensor `{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    let mut metadata = config.to_metadata();
    metadata.extend(head_metadata);
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| Error::Internal(format!("serialising safetensors: {e}")))
}

#[derive(Serialize, Deserialize)]
struct HeadDescription {
    version: u32,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    k: Option<usize>,
    labels: Vec<String>,
    backbone: Backbone,
}

/// A label names a class: a non-empty string, not only blanks.
pub fn check_label(label: &str) -> Result<()> {
    if label.trim().is_empty() {
        return Err(Error::BadLabel("a label must be a non-empty string".into()));
    }
    Ok(())
}

fn f32_tensor(name: &str, view: &TensorView) -> Result<(Vec<usize>, Vec<f32>)> {
    if view.dtype() != Dtype::F32 {
        return Err(Error::BadHead(format!(
            "tensor `{name}` is {:?}, expected F32",
            view.dtype()
        )));
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::BadHead(format!(
            "tensor `{name}` holds a non-finite value"
        )));
    }
    Ok((view.shape().to_vec(), values))
}

/// The linear head reads `√dim · x/‖x‖`: features of about unit size whatever the backbone, so that
/// one learning rate suits them all (unscaled unit vectors train several times slower).
pub fn linear_input_scale(dim: usize) -> f32 {
    (dim as f32).sqrt()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Softmax regression trained by mini-batch AdamW on cross-entropy, with candle's autograd.
#[cfg(feature = "train")]
pub struct LinearTrainer {
    weight: Var,
    bias: Var,
    optimizer: AdamW,
    inputs: Tensor,
    targets: Tensor,
    order: Vec<u32>,
    rng: SplitMix64,
    options: TrainOptions,
    epoch: usize,
}

#[cfg(feature = "train")]
impl LinearTrainer {
    /// Checks the data (it may come from another module) and the options.
    pub fn new(data: &TrainingData, options: TrainOptions) -> Result<Self> {
        options.validate()?;
        let device = Device::Cpu;
        let (n, dim, classes) = (data.classes.len(), data.dim, data.num_classes);
        if n == 0 || dim == 0 || data.examples.len() != n * dim {
            return Err(Error::NoExamples(format!(
                "{} values for {n} examples of {dim} features",
                data.examples.len()
            )));
        }
        if classes < 2 || data.classes.iter().any(|&c| c as usize >= classes) {
            return Err(Error::TooFewClasses(format!(
                "training needs two classes or more, and every example in one ({classes} given)"
            )));
        }
        if data.examples.iter().any(|v| !v.is_finite()) {
            return Err(Error::BadInput(
                "an example holds a non-finite value".into(),
            ));
        }
        let inputs = (Tensor::from_slice(data.examples, (n, dim), &device)?
            * linear_input_scale(dim) as f64)?;
        let targets = Tensor::from_slice(data.classes, n, &device)?;
        // Softmax regression is convex: starting from zero makes every run from the same examples
        // and seed identical.
        let weight = Var::zeros((classes, dim), DType::F32, &device)?;
        let bias = Var::zeros(classes, DType::F32, &device)?;
        let params = ParamsAdamW {
            lr: options.learning_rate,
            weight_decay: options.weight_decay,
            ..Default::default()
        };
        let optimizer = AdamW::new(vec![weight.clone(), bias.clone()], params)?;
        Ok(LinearTrainer {
            weight,
            bias,
            optimizer,
            inputs,
            targets,
            order: (0..n as u32).collect(),
            rng: SplitMix64(options.seed),
            options,
            epoch: 0,
        })
    }

    /// Runs the next epoch; past the last one, it is an error.
    pub fn epoch(&mut self) -> Result<EpochStats> {
        if self.epoch == self.options.epochs {
            return Err(Error::bad_config("the training run is over"));
        }
        self.rng.shuffle(&mut self.order);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for batch in self.order.chunks(self.options.batch_size) {
            let index = Tensor::from_slice(batch, batch.len(), &Device::Cpu)?;
            let x = self.inputs.index_select(&index, 0)?;
            let y = self.targets.index_select(&index, 0)?;
            let logits = x
                .matmul(&self.weight.as_tensor().t()?)?
                .broadcast_add(self.bias.as_tensor())?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            self.optimizer.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * batch.len() as f64;
            let predicted = logits.argmax(D::Minus1)?;
            correct += predicted
                .eq(&y)?
                .to_dtype(DType::U32)?
                .sum_all()?
                .to_scalar::<u32>()? as usize;
        }
        self.epoch += 1;
        let n = self.order.len();
        Ok(EpochStats {
            epoch: self.epoch,
            epochs: self.options.epochs,
            loss: (loss_sum / n as f64) as f32,
            accuracy: correct as f32 / n as f32,
        })
    }

    /// `[classes, dim]`, row-major.
    pub fn weight(&self) -> Result<Vec<f32>> {
        Ok(self.weight.as_tensor().flatten_all()?.to_vec1()?)
    }

    pub fn bias(&self) -> Result<Vec<f32>> {
        Ok(self.bias.as_tensor().to_vec1()?)
    }
}

/// A small, fixed pseudo-random generator (SplitMix64): the shuffles depend only on the seed, on
/// every platform and version.
#[cfg(feature = "train")]
struct SplitMix64(u64);

#[cfg(feature = "train")]
impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(a.linear, b.linear);
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
}
