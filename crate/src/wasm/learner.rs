//! The learner and trainer surface: custom classes on a model's embedding (see
//! [`crate::transfer`]), and the trainer module's linear-head training.

use js_sys::{Array, Float32Array, Object};
use wasm_bindgen::prelude::*;

use super::{js_error, predictions_to_js, set, WasmModel, WasmPixelReader};
#[cfg(feature = "train")]
use super::{option_number, options_object};
#[cfg(feature = "train")]
use crate::error::Error;
use crate::head::{self, HeadKind};
use crate::transfer::Learner;
#[cfg(feature = "train")]
use crate::transfer::{EpochStats, LinearTrainer, TrainOptions, TrainingData};

/// Reads `{ epochs, learningRate, batchSize, weightDecay, seed }` (all optional).
#[cfg(feature = "train")]
fn train_options(options: &JsValue) -> Result<TrainOptions, Error> {
    let mut out = TrainOptions::default();
    let Some(options) = options_object(options)? else {
        return Ok(out);
    };
    let number = |key: &str| option_number(options, key);
    let whole = |key: &str, v: f64| -> Result<usize, Error> {
        if v.fract() == 0.0 && (0.0..=1e9).contains(&v) {
            Ok(v as usize)
        } else {
            Err(Error::BadConfig(format!(
                "options.{key} must be a whole number, got {v}"
            )))
        }
    };
    if let Some(v) = number("epochs")? {
        out.epochs = whole("epochs", v)?;
    }
    if let Some(v) = number("batchSize")? {
        out.batch_size = whole("batchSize", v)?;
    }
    if let Some(v) = number("seed")? {
        out.seed = whole("seed", v)? as u64;
    }
    if let Some(v) = number("learningRate")? {
        out.learning_rate = v;
    }
    if let Some(v) = number("weightDecay")? {
        out.weight_decay = v;
    }
    Ok(out)
}

#[cfg(feature = "train")]
fn stats_to_js(stats: EpochStats) -> JsValue {
    let o = Object::new();
    set(&o, "epoch", stats.epoch as u32);
    set(&o, "epochs", stats.epochs as u32);
    set(&o, "loss", stats.loss);
    set(&o, "accuracy", stats.accuracy);
    o.into()
}

/// Custom classes on a model's embedding (see [`crate::transfer`]). Methods that need the
/// backbone take the model: the learner holds no reference to it.
#[wasm_bindgen(js_name = Learner)]
pub struct WasmLearner {
    pub(super) learner: Learner,
}

#[wasm_bindgen(js_class = Learner)]
impl WasmLearner {
    /// An empty learner for `model`'s embedding; `head` is `"knn"` or `"linear"`.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &WasmModel, head: &str, k: u32) -> Result<WasmLearner, JsValue> {
        let kind = HeadKind::parse(head, k as usize).map_err(js_error)?;
        Ok(WasmLearner {
            learner: Learner::new(kind, model.model.backbone()),
        })
    }

    /// A learner saved by `toBytes`, checked against `model`'s backbone.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(model: &WasmModel, bytes: &[u8]) -> Result<WasmLearner, JsValue> {
        let learner = Learner::from_bytes(bytes, &model.model.backbone()).map_err(js_error)?;
        Ok(WasmLearner { learner })
    }

    /// `{ head, k, labels, counts, examples, trained }`
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        let l = &self.learner;
        let o = Object::new();
        set(&o, "head", l.kind().name());
        if let HeadKind::Knn { k } = l.kind() {
            set(&o, "k", k as u32);
        }
        let labels: Array = l
            .labels()
            .iter()
            .map(|s| JsValue::from(s.as_str()))
            .collect();
        set(&o, "labels", labels);
        let counts: Array = l
            .counts()
            .into_iter()
            .map(|c| JsValue::from(c as u32))
            .collect();
        set(&o, "counts", counts);
        set(&o, "examples", l.len() as u32);
        set(&o, "trained", l.labels().len() >= 2 && l.is_trained());
        o.into()
    }

    /// Switches to another head (`"knn"` or `"linear"`), keeping the examples.
    #[wasm_bindgen(js_name = setHead)]
    pub fn set_head(&mut self, head: &str, k: u32) -> Result<(), JsValue> {
        let kind = HeadKind::parse(head, k as usize).map_err(js_error)?;
        self.learner.set_kind(kind);
        Ok(())
    }

    /// Adds one embedding under `label`.
    #[wasm_bindgen(js_name = addEmbedding)]
    pub fn add_embedding(&mut self, embedding: &[f32], label: &str) -> Result<(), JsValue> {
        self.learner.add(embedding, label).map_err(js_error)
    }

    /// Embeds the views `reader` read with `model` and adds them under `label`. Returns how many
    /// examples were added.
    #[wasm_bindgen(js_name = addPixels)]
    pub fn add_pixels(
        &mut self,
        model: &WasmModel,
        reader: WasmPixelReader,
        label: &str,
    ) -> Result<u32, JsValue> {
        // All or nothing: check the label before embedding anything.
        head::check_label(label).map_err(js_error)?;
        let embeddings = (reader.readers.into_iter())
            .map(|r| model.model.embed_of(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(js_error)?;
        for e in &embeddings {
            self.learner.add(e, label).map_err(js_error)?;
        }
        Ok(embeddings.len() as u32)
    }

    /// Top-K of this learner's classes for an image `reader` read for `model`.
    #[wasm_bindgen(js_name = classifyPixels)]
    pub fn classify_pixels(
        &self,
        model: &WasmModel,
        reader: WasmPixelReader,
        top_k: u32,
    ) -> Result<Array, JsValue> {
        let embedding = model.model.embed_of(reader.single()?).map_err(js_error)?;
        self.classify_embedding(&embedding, top_k)
    }

    #[wasm_bindgen(js_name = removeLabel)]
    pub fn remove_label(&mut self, label: &str) -> Result<(), JsValue> {
        self.learner.remove_label(label).map_err(js_error)
    }

    /// `{ examples: Float32Array, classes: Uint32Array, numClasses, dim, revision }` for a
    /// `Trainer`.
    #[wasm_bindgen(js_name = trainingData)]
    pub fn training_data(&self) -> Result<JsValue, JsValue> {
        let data = self.learner.training_data().map_err(js_error)?;
        let o = Object::new();
        set(&o, "examples", Float32Array::from(data.examples));
        set(&o, "classes", js_sys::Uint32Array::from(data.classes));
        set(&o, "numClasses", data.num_classes as u32);
        set(&o, "dim", data.dim as u32);
        set(&o, "revision", data.revision);
        Ok(o.into())
    }

    /// Installs weights `[classes, dim]` and bias `[classes]` trained on the `trainingData()` of
    /// `revision`.
    #[wasm_bindgen(js_name = setLinear)]
    pub fn set_linear(
        &mut self,
        weight: Vec<f32>,
        bias: Vec<f32>,
        revision: u32,
    ) -> Result<(), JsValue> {
        self.learner
            .set_linear(weight, bias, revision)
            .map_err(js_error)
    }

    #[wasm_bindgen(js_name = classifyEmbedding)]
    pub fn classify_embedding(&self, embedding: &[f32], top_k: u32) -> Result<Array, JsValue> {
        let predictions = self
            .learner
            .classify(embedding, top_k as usize)
            .map_err(js_error)?;
        Ok(predictions_to_js(predictions))
    }

    /// The learner as a safetensors file (with its examples unless `withExamples` is false).
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self, with_examples: bool) -> Result<Vec<u8>, JsValue> {
        self.learner.to_bytes(with_examples).map_err(js_error)
    }
}

/// Trains a linear head on a learner's `trainingData()`: one `epoch()` at a time, then
/// `weight()`/`bias()` for the learner's `setLinear`. Built only with the `train` feature.
#[cfg(feature = "train")]
#[wasm_bindgen(js_name = Trainer)]
pub struct WasmTrainer {
    trainer: LinearTrainer,
}

#[cfg(feature = "train")]
#[wasm_bindgen(js_class = Trainer)]
impl WasmTrainer {
    #[wasm_bindgen(constructor)]
    pub fn new(
        examples: &[f32],
        classes: &[u32],
        num_classes: u32,
        dim: u32,
        options: JsValue,
    ) -> Result<WasmTrainer, JsValue> {
        let options = train_options(&options).map_err(js_error)?;
        let data = TrainingData {
            examples,
            classes,
            num_classes: num_classes as usize,
            dim: dim as usize,
            revision: 0, // the learner checks it when the weights come back (setLinear)
        };
        let trainer = LinearTrainer::new(&data, options).map_err(js_error)?;
        Ok(WasmTrainer { trainer })
    }

    /// One epoch: `{ epoch, epochs, loss, accuracy }`.
    pub fn epoch(&mut self) -> Result<JsValue, JsValue> {
        self.trainer.epoch().map(stats_to_js).map_err(js_error)
    }

    pub fn weight(&self) -> Result<Float32Array, JsValue> {
        let w = self.trainer.weight().map_err(js_error)?;
        Ok(Float32Array::from(&w[..]))
    }

    pub fn bias(&self) -> Result<Float32Array, JsValue> {
        let b = self.trainer.bias().map_err(js_error)?;
        Ok(Float32Array::from(&b[..]))
    }
}
