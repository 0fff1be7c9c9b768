//! The JavaScript surface, kept thin: bytes and pixels in, plain JS values out. Every failure is a
//! JS `Error` with a stable `code` property (see [`Error::code`]); nothing panics across the
//! boundary for bad input.

use std::mem::MaybeUninit;

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::checkpoint::{ByteSource, Checkpoint};
use crate::config::LoadOptions;
use crate::error::Error;
use crate::head::{self, HeadKind};
use crate::hub;
use crate::model::Model;
use crate::preprocess::Pixels;
use crate::transfer::{self, Learner};
#[cfg(feature = "train")]
use crate::transfer::{EpochStats, LinearTrainer, TrainOptions, TrainingData};

fn js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    let _ = Reflect::set(&js, &"code".into(), &err.code().into());
    js.into()
}

/// A model file in a JavaScript buffer. A load copies each tensor from it as it is read, so the
/// file is never copied whole into WebAssembly memory: a first load touches (and pays the first-use
/// cost of) the memory of the model's weights only, not also that of a copy of the file.
struct JsBytes(Uint8Array);

impl ByteSource for JsBytes {
    fn len(&self) -> usize {
        self.0.length() as usize
    }

    fn read_into(&self, start: usize, out: &mut [MaybeUninit<u8>]) {
        let end = start + out.len();
        assert!(end <= self.len(), "bytes {start}..{end} past the buffer");
        // SAFETY: the sub-array is exactly `out.len()` bytes, all written into `out`.
        unsafe {
            self.0
                .subarray(start as u32, end as u32)
                .raw_copy_to_ptr(out.as_mut_ptr().cast())
        }
    }
}

/// A JS options object: `undefined`/`null` (no options, `Ok(None)`) or an object.
fn options_object(options: &JsValue) -> Result<Option<&JsValue>, Error> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(Error::BadConfig("options must be an object".into()));
    }
    Ok(Some(options))
}

/// A field of an options object; `undefined`/`null` fields are absent.
fn option_field(options: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(options, &key.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn option_number(options: &JsValue, key: &str) -> Result<Option<f64>, Error> {
    option_field(options, key)
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| Error::BadConfig(format!("options.{key} must be a number")))
        })
        .transpose()
}

/// Reads the JS load options object.
fn load_options(options: &JsValue) -> Result<LoadOptions, Error> {
    let Some(options) = options_object(options)? else {
        return Ok(LoadOptions::default());
    };
    let field = |key: &str| option_field(options, key);
    let string = |key: &str| -> Result<Option<String>, Error> {
        field(key)
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| Error::BadConfig(format!("options.{key} must be a string")))
            })
            .transpose()
    };
    let number = |key: &str| option_number(options, key);
    let labels = match field("labels") {
        None => None,
        Some(v) if Array::is_array(&v) => Some(
            Array::from(&v)
                .iter()
                .map(|l| {
                    l.as_string().ok_or_else(|| {
                        Error::BadConfig("options.labels must be an array of strings".into())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(Error::BadConfig(
                "options.labels must be an array of strings".into(),
            ))
        }
    };
    let input_size = match number("inputSize")? {
        Some(n) if n.fract() == 0.0 && (1.0..=65535.0).contains(&n) => Some(n as u32),
        Some(n) => return Err(Error::BadConfig(format!("options.inputSize {n}"))),
        None => None,
    };
    Ok(LoadOptions {
        arch: string("arch")?.map(|a| a.parse()).transpose()?,
        width: number("width")?,
        padding: string("padding")?.map(|p| p.parse()).transpose()?,
        v1_activation: string("activation")?.map(|a| a.parse()).transpose()?,
        input_size,
        crop_pct: number("cropPct")?,
        interpolation: string("interpolation")?.map(|i| i.parse()).transpose()?,
        labels,
        described: string("timmConfig")?
            .map(|json| hub::parse_config(&json))
            .transpose()?,
    })
}

fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &key.into(), &value.into());
}

/// A loaded model.
#[wasm_bindgen(js_name = MobileNet)]
pub struct WasmModel {
    model: Model,
}

#[wasm_bindgen(js_class = MobileNet)]
impl WasmModel {
    /// Loads a safetensors model file. `options` (`{ arch, width, padding, activation, inputSize,
    /// cropPct, interpolation, labels }`, all optional) describes a plain checkpoint or overrides
    /// a self-describing one; `timmConfig`, the text of a timm `config.json`, describes a
    /// checkpoint in timm's layout in place of the file's metadata.
    ///
    /// The bytes stay in JavaScript: each tensor is copied from them straight into the buffer the
    /// model keeps (see [`JsBytes`]).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] bytes: JsValue,
        options: JsValue,
    ) -> Result<WasmModel, JsValue> {
        let options = load_options(&options).map_err(js_error)?;
        let bytes = bytes
            .dyn_into::<Uint8Array>()
            .map_err(|_| js_error(Error::bad_model("the model's bytes must be a Uint8Array")))?;
        let checkpoint = Checkpoint::from_source(Box::new(JsBytes(bytes))).map_err(js_error)?;
        let model = Model::load_checkpoint(checkpoint, &options).map_err(js_error)?;
        Ok(WasmModel { model })
    }

    /// `{ arch, width, inputSize, interpolation, numClasses, parameters, labels, embeddingSize,
    /// customHead }`
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> JsValue {
        let config = self.model.config();
        let info = Object::new();
        set(&info, "arch", config.arch.name());
        set(&info, "width", config.width);
        set(&info, "inputSize", config.input_size);
        set(&info, "interpolation", config.interpolation.name());
        set(&info, "numClasses", self.model.num_classes() as u32);
        set(&info, "parameters", self.model.parameters() as f64);
        set(&info, "labels", self.model.labels().is_some());
        set(&info, "embeddingSize", self.model.embedding_size() as u32);
        set(&info, "customHead", self.model.head().is_some());
        info.into()
    }

    /// This model's file `model_bytes` with `learner`'s head appended: one file that loads as a
    /// classifier of the learner's classes.
    #[wasm_bindgen(js_name = withHead)]
    pub fn with_head(&self, model_bytes: &[u8], learner: &WasmLearner) -> Result<Vec<u8>, JsValue> {
        transfer::combine(model_bytes, &self.model, &learner.learner).map_err(js_error)
    }

    /// Top-K of RGBA pixels: `[{ index, label, probability }]`, most probable first.
    #[wasm_bindgen(js_name = classifyRgba)]
    pub fn classify_rgba(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        top_k: u32,
    ) -> Result<Array, JsValue> {
        let predictions = self
            .model
            .classify(&Pixels::rgba(rgba, width, height), top_k as usize)
            .map_err(js_error)?;
        Ok(predictions_to_js(predictions))
    }

    /// Raw logits of RGBA pixels.
    #[wasm_bindgen(js_name = logitsRgba)]
    pub fn logits_rgba(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Float32Array, JsValue> {
        self.floats(Model::logits, &Pixels::rgba(rgba, width, height))
    }

    /// Logits of an already preprocessed NCHW float tensor `[1, 3, height, width]`.
    #[wasm_bindgen(js_name = logitsNchw)]
    pub fn logits_nchw(
        &self,
        input: &[f32],
        height: u32,
        width: u32,
    ) -> Result<Float32Array, JsValue> {
        let shape = [1, 3, height as usize, width as usize];
        let mut rows = self.model.logits_nchw(input, shape).map_err(js_error)?;
        Ok(Float32Array::from(&rows.remove(0)[..]))
    }

    /// Pooled features (the embedding before the classifier) of RGBA pixels.
    #[wasm_bindgen(js_name = embedRgba)]
    pub fn embed_rgba(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Float32Array, JsValue> {
        self.floats(Model::embed, &Pixels::rgba(rgba, width, height))
    }
}

fn predictions_to_js(predictions: Vec<crate::Prediction>) -> Array {
    predictions
        .into_iter()
        .map(|p| {
            let o = Object::new();
            set(&o, "index", p.index as u32);
            set(&o, "label", p.label.map_or(JsValue::NULL, JsValue::from));
            set(&o, "probability", p.probability);
            JsValue::from(o)
        })
        .collect()
}

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
    learner: Learner,
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

    /// Embeds RGBA pixels with `model` (and, with `augment`, a flipped and a cropped copy) and adds
    /// them under `label`. Returns how many examples were added.
    #[wasm_bindgen(js_name = addRgba)]
    pub fn add_rgba(
        &mut self,
        model: &WasmModel,
        rgba: &[u8],
        width: u32,
        height: u32,
        label: &str,
        augment: bool,
    ) -> Result<u32, JsValue> {
        // All or nothing: check the label before embedding anything.
        head::check_label(label).map_err(js_error)?;
        let embeddings = model
            .model
            .embed_augmented(&Pixels::rgba(rgba, width, height), augment)
            .map_err(js_error)?;
        for e in &embeddings {
            self.learner.add(e, label).map_err(js_error)?;
        }
        Ok(embeddings.len() as u32)
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

    #[wasm_bindgen(js_name = classifyRgba)]
    pub fn classify_rgba(
        &self,
        model: &WasmModel,
        rgba: &[u8],
        width: u32,
        height: u32,
        top_k: u32,
    ) -> Result<Array, JsValue> {
        let embedding = model
            .model
            .embed(&Pixels::rgba(rgba, width, height))
            .map_err(js_error)?;
        self.classify_embedding(&embedding, top_k)
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

impl WasmModel {
    fn floats(
        &self,
        compute: fn(&Model, &Pixels) -> crate::Result<Vec<f32>>,
        pixels: &Pixels,
    ) -> Result<Float32Array, JsValue> {
        let values = compute(&self.model, pixels).map_err(js_error)?;
        Ok(Float32Array::from(&values[..]))
    }
}
