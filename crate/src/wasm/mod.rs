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
use crate::hub;
use crate::model::Model;
use crate::preprocess::{ImageReader, Pixels};
use crate::transfer;

mod learner;

/// Bytes of WebAssembly memory, which wasm never gives back (diagnostics: it must stay flat while
/// classifying). Asked of the module, as the threaded build's memory is imported, not exported.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

/// `initThreadPool(n)`: starts the `n` Web Workers the threaded module's kernels split their work
/// over (that build only). Call once, from a worker: a page's main thread may not wait on others.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

pub use learner::WasmLearner;
#[cfg(feature = "train")]
pub use learner::WasmTrainer;

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
        compute: string("compute")?.map(|c| c.parse()).transpose()?,
        labels,
        described: string("timmConfig")?
            .map(|json| hub::parse_config(&json))
            .transpose()?,
    })
}

fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &key.into(), &value.into());
}

/// An image being read a strip of rows at a time (made by `MobileNet.pixelReader`): the page
/// reads only `rowsNeeded` from its canvas or buffer, in strips, so that wasm memory stays small
/// whatever the image's size. One view of the image, or with `augment` three (the image, mirrored,
/// zoomed in), all fed the same rows.
#[wasm_bindgen(js_name = PixelReader)]
pub struct WasmPixelReader {
    readers: Vec<ImageReader>,
}

#[wasm_bindgen(js_class = PixelReader)]
impl WasmPixelReader {
    /// `[first, end)`: the rows of the image to give, in order.
    #[wasm_bindgen(getter, js_name = rowsNeeded)]
    pub fn rows_needed(&self) -> Vec<u32> {
        let ranges = self.readers.iter().map(ImageReader::rows_needed);
        let first = ranges.clone().map(|r| r.start).min().unwrap_or(0);
        vec![first, ranges.map(|r| r.end).max().unwrap_or(0)]
    }

    /// Whole RGBA rows of the image, the first of them row `first`.
    #[wasm_bindgen(js_name = pushRows)]
    pub fn push_rows(&mut self, first: u32, rgba: &[u8]) -> Result<(), JsValue> {
        for reader in &mut self.readers {
            reader.push_rows(first, rgba).map_err(js_error)?;
        }
        Ok(())
    }
}

impl WasmPixelReader {
    /// The reader of a plain (not augmented) read.
    fn single(self) -> Result<ImageReader, JsValue> {
        match <[ImageReader; 1]>::try_from(self.readers) {
            Ok([reader]) => Ok(reader),
            Err(_) => Err(js_error(Error::bad_config(
                "an augmented reader is for learner.addPixels only",
            ))),
        }
    }
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
    /// customHead, threads, compute }`
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
        set(&info, "threads", crate::kernels::parallel::threads() as u32);
        set(&info, "compute", self.model.compute().name());
        info.into()
    }

    /// This model's file `model_bytes` with `learner`'s head appended: one file that loads as a
    /// classifier of the learner's classes.
    #[wasm_bindgen(js_name = withHead)]
    pub fn with_head(&self, model_bytes: &[u8], learner: &WasmLearner) -> Result<Vec<u8>, JsValue> {
        transfer::combine(model_bytes, &self.model, &learner.learner).map_err(js_error)
    }

    /// A reader of a `width × height` RGBA image for this model; with `augment`, of the mirrored
    /// and zoomed-in views too (for `Learner.addPixels`).
    #[wasm_bindgen(js_name = pixelReader)]
    pub fn pixel_reader(
        &self,
        width: u32,
        height: u32,
        augment: bool,
    ) -> Result<WasmPixelReader, JsValue> {
        let readers = self
            .model
            .example_readers(width, height, 4, augment)
            .map_err(js_error)?;
        Ok(WasmPixelReader { readers })
    }

    /// Top-K of an image read by `reader`: `[{ index, label, probability }]`.
    #[wasm_bindgen(js_name = classifyPixels)]
    pub fn classify_pixels(&self, reader: WasmPixelReader, top_k: u32) -> Result<Array, JsValue> {
        let predictions = self
            .model
            .classify_of(reader.single()?, top_k as usize)
            .map_err(js_error)?;
        Ok(predictions_to_js(predictions))
    }

    /// Raw logits of an image read by `reader`.
    #[wasm_bindgen(js_name = logitsPixels)]
    pub fn logits_pixels(&self, reader: WasmPixelReader) -> Result<Float32Array, JsValue> {
        let logits = self.model.logits_of(reader.single()?).map_err(js_error)?;
        Ok(Float32Array::from(&logits[..]))
    }

    /// The embedding of an image read by `reader`.
    #[wasm_bindgen(js_name = embedPixels)]
    pub fn embed_pixels(&self, reader: WasmPixelReader) -> Result<Float32Array, JsValue> {
        let embedding = self.model.embed_of(reader.single()?).map_err(js_error)?;
        Ok(Float32Array::from(&embedding[..]))
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
