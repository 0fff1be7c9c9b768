//! The head file format: a small safetensors file of `head.*` tensors (the examples, the linear
//! weights) with the labels, kind and backbone as JSON under one metadata key. The same tensors and
//! metadata appended to a model file make a combined classifier (transfer learning's `combine`).

use std::collections::{HashMap, HashSet};

use safetensors::tensor::Dtype;
use serde::{Deserialize, Serialize};

use super::{Backbone, Head, HeadKind, LinearHead};
use crate::checkpoint::{write_safetensors, Checkpoint, StoreDtype};
use crate::error::{Error, Result};

/// Metadata key holding the head's description (JSON) in head files and combined model files.
pub const HEAD_KEY: &str = "mobilenet_wasm.head";
/// Prefix of the head's tensors, so that they never collide with a backbone's.
pub const HEAD_PREFIX: &str = "head.";
const EXAMPLES: &str = "head.examples";
const CLASSES: &str = "head.classes";
const WEIGHT: &str = "head.weight";
const BIAS: &str = "head.bias";
const HEAD_VERSION: u32 = 1;
/// Most classes a head may have (ImageNet-21k has 21,843): a file's label list is checked for
/// repeats in one pass, but past this it is surely not a head anyone trained.
pub const MAX_LABELS: usize = 100_000;

#[derive(Serialize, Deserialize)]
struct HeadDescription {
    version: u32,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    k: Option<usize>,
    labels: Vec<String>,
    backbone: Backbone,
}

/// Named tensors as `(name, shape, values)`.
pub(crate) type HeadTensors = Vec<(String, Vec<usize>, Vec<f32>)>;

impl Head {
    /// The head as a safetensors file: labels, kind and backbone in the metadata, the examples
    /// (unless `with_examples` is false) and the trained linear weights as tensors.
    pub fn to_bytes(&self, with_examples: bool) -> Result<Vec<u8>> {
        let (tensors, metadata) = self.tensors(with_examples)?;
        write_safetensors(&tensors, StoreDtype::F32, metadata)
    }

    /// The tensors and metadata of [`Self::to_bytes`].
    pub(crate) fn tensors(
        &self,
        with_examples: bool,
    ) -> Result<(HeadTensors, HashMap<String, String>)> {
        if self.labels.is_empty() {
            return Err(Error::NoExamples("there is nothing to save yet".into()));
        }
        self.kind.check()?;
        let linear = self.linear.as_ref().filter(|_| self.is_trained());
        match self.kind {
            // What reading it back would refuse: no examples and no weights.
            HeadKind::Linear if linear.is_none() && self.classes.is_empty() => {
                return Err(Error::NoExamples(
                    "the linear head has neither examples nor trained weights: add examples".into(),
                ))
            }
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

    /// Reads a head file written by [`Self::to_bytes`] for a model whose backbone is `backbone`,
    /// with the reader model files go through.
    pub fn from_bytes(bytes: &[u8], backbone: &Backbone) -> Result<Self> {
        let as_head = |e: Error| match e {
            Error::BadModel(why) => Error::BadHead(why),
            other => other,
        };
        let mut checkpoint = Checkpoint::from_bytes(bytes).map_err(as_head)?;
        if let Some(name) = checkpoint
            .names()
            .find(|&n| checkpoint.dtype(n) != Some(Dtype::F32))
        {
            return Err(Error::BadHead(format!(
                "tensor `{name}` is {:?}, expected F32",
                checkpoint.dtype(name).expect("a listed tensor")
            )));
        }
        let tensors = checkpoint.take_prefixed("").map_err(as_head)?;
        let head = Self::from_parts(checkpoint.metadata(), tensors)?.ok_or_else(|| {
            Error::BadHead(format!(
                "the file holds no head (it has no `{HEAD_KEY}` metadata)"
            ))
        })?;
        backbone.ensure_same(&head.backbone)?;
        Ok(head)
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
        if labels.len() > MAX_LABELS {
            return Err(Error::BadHead(format!(
                "{} labels: a head has at most {MAX_LABELS}",
                labels.len()
            )));
        }
        let mut seen = HashSet::with_capacity(labels.len());
        if let Some(label) = labels
            .iter()
            .find(|l| l.trim().is_empty() || !seen.insert(l.as_str()))
        {
            return Err(Error::BadHead(format!(
                "label `{label}` is empty or repeated"
            )));
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
        Ok(Some(Head {
            kind,
            backbone: d.backbone,
            labels,
            examples,
            classes,
            linear,
        }))
    }
}
