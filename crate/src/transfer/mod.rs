//! Transfer learning on frozen features: your own classes on top of a backbone's embedding.
//!
//! A [`Learner`] edits a [`Head`] (examples added and removed, a kind switched, weights installed)
//! and hands out what its linear kind is trained on. Training needs candle's autograd, which links
//! most of candle's CPU kernels (a wasm several times the size of inference's), so the trainer
//! (`train.rs`) is behind the `train` feature: the npm package builds it as a second module that is
//! fetched only when a linear head is trained, on the examples [`Learner::training_data`] hands
//! out. [`combine`] appends a head to a model file.

mod combine;
#[cfg(feature = "train")]
mod train;

use std::ops::Deref;

pub use combine::combine;
#[cfg(feature = "train")]
pub use train::LinearTrainer;

use crate::error::{Error, Result};
use crate::head::{check_label, Backbone, Head, HeadKind, LinearHead, MAX_LABELS};

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

/// What a linear head is trained on: the examples, as the head stores them (unit length).
pub struct TrainingData<'a> {
    pub examples: &'a [f32],
    pub classes: &'a [u32],
    pub num_classes: usize,
    pub dim: usize,
    /// The learner's class-set revision, for [`Learner::set_linear`].
    pub revision: u32,
}

/// Collects labelled embeddings into a head, and installs its trained weights. It reads as its
/// head (`Deref`): classifying, saving and the counts are [`Head`]'s.
pub struct Learner {
    head: Head,
    /// Changes whenever the set of classes does: weights trained on an older set are refused.
    revision: u32,
}

impl Deref for Learner {
    type Target = Head;

    fn deref(&self) -> &Head {
        &self.head
    }
}

impl From<Head> for Learner {
    fn from(head: Head) -> Self {
        Learner { head, revision: 0 }
    }
}

impl Learner {
    pub fn new(kind: HeadKind, backbone: Backbone) -> Self {
        Head::new(kind, backbone).into()
    }

    /// Reads a head file ([`Head::to_bytes`]) made for `backbone`, to classify with or to go on.
    pub fn from_bytes(bytes: &[u8], backbone: &Backbone) -> Result<Self> {
        Ok(Head::from_bytes(bytes, backbone)?.into())
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Switches the head, keeping the examples: a linear head then needs training (again).
    pub fn set_kind(&mut self, kind: HeadKind) {
        if kind != self.head.kind {
            self.head.kind = kind;
            self.head.linear = None;
        }
    }

    /// Adds one labelled embedding. A new label becomes a new class.
    pub fn add(&mut self, embedding: &[f32], label: &str) -> Result<()> {
        let unit = self.head.unit(embedding)?;
        check_label(label)?;
        let head = &mut self.head;
        let class = match head.labels.iter().position(|l| l == label) {
            Some(c) => c,
            None if head.labels.len() == MAX_LABELS => {
                return Err(Error::BadLabel(format!(
                    "a head has at most {MAX_LABELS} classes"
                )))
            }
            None => {
                head.labels.push(label.to_string());
                self.revision = self.revision.wrapping_add(1);
                head.labels.len() - 1
            }
        };
        head.examples.extend_from_slice(&unit);
        head.classes.push(class as u32);
        Ok(())
    }

    /// Drops every example of `label` and the class itself; the linear head must then be retrained.
    pub fn remove_label(&mut self, label: &str) -> Result<()> {
        let head = &mut self.head;
        let class = head
            .labels
            .iter()
            .position(|l| l == label)
            .ok_or_else(|| Error::BadLabel(format!("no class is labelled `{label}`")))?
            as u32;
        let dim = head.backbone.dim;
        let mut kept = Vec::with_capacity(head.examples.len());
        let mut classes = Vec::with_capacity(head.classes.len());
        for (row, &c) in head.examples.chunks_exact(dim).zip(&head.classes) {
            if c != class {
                kept.extend_from_slice(row);
                classes.push(if c > class { c - 1 } else { c });
            }
        }
        head.examples = kept;
        head.classes = classes;
        head.labels.remove(class as usize);
        head.linear = None;
        self.revision = self.revision.wrapping_add(1);
        Ok(())
    }

    /// The examples to train the linear head on: the head must be linear, with two classes or more
    /// and examples of each (a head loaded without its examples is retrained on new ones).
    pub fn training_data(&self) -> Result<TrainingData<'_>> {
        let head = &self.head;
        if head.kind != HeadKind::Linear {
            return Err(Error::bad_config(
                "only the linear head is trained (kNN uses its examples directly)",
            ));
        }
        head.ensure_classes()?;
        if let Some(empty) = head.counts().iter().position(|&n| n == 0) {
            return Err(Error::NoExamples(format!(
                "class `{}` has no examples to train on",
                head.labels[empty]
            )));
        }
        Ok(TrainingData {
            examples: &head.examples,
            classes: &head.classes,
            num_classes: head.labels.len(),
            dim: head.backbone.dim,
            revision: self.revision,
        })
    }

    /// Installs weights (`[classes, dim]` and `[classes]`) trained on the [`TrainingData`] of
    /// `revision`. If classes were added or removed since, they no longer fit: refused.
    pub fn set_linear(&mut self, weight: Vec<f32>, bias: Vec<f32>, revision: u32) -> Result<()> {
        let head = &mut self.head;
        if head.kind != HeadKind::Linear {
            return Err(Error::bad_config("only a linear head has weights"));
        }
        if revision != self.revision {
            return Err(Error::bad_config(
                "classes were added or removed during training: train again",
            ));
        }
        let (classes, dim) = (bias.len(), head.backbone.dim);
        if classes != head.labels.len() || weight.len() != classes * dim {
            return Err(Error::bad_config(format!(
                "weights of {} values and a bias of {classes} do not fit {} classes of {dim} features",
                weight.len(),
                head.labels.len()
            )));
        }
        if weight.iter().chain(&bias).any(|v| !v.is_finite()) {
            return Err(Error::bad_config("the weights hold a non-finite value"));
        }
        head.linear = Some(LinearHead { weight, bias });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
