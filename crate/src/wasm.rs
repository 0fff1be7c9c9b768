//! The JavaScript surface, kept thin: bytes and pixels in, plain JS values out. Every failure is a
//! JS `Error` with a stable `code` property (see [`Error::code`]); nothing panics across the
//! boundary for bad input.

use js_sys::{Array, Float32Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::config::LoadOptions;
use crate::error::Error;
use crate::model::Model;
use crate::preprocess::Pixels;

fn js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    let _ = Reflect::set(&js, &"code".into(), &err.code().into());
    js.into()
}

/// Reads the JS options object; `undefined`/`null` fields are absent.
fn load_options(options: &JsValue) -> Result<LoadOptions, Error> {
    if options.is_undefined() || options.is_null() {
        return Ok(LoadOptions::default());
    }
    if !options.is_object() {
        return Err(Error::BadConfig("options must be an object".into()));
    }
    let field = |key: &str| {
        Reflect::get(options, &key.into())
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    };
    let string = |key: &str| -> Result<Option<String>, Error> {
        field(key)
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| Error::BadConfig(format!("options.{key} must be a string")))
            })
            .transpose()
    };
    let number = |key: &str| -> Result<Option<f64>, Error> {
        field(key)
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| Error::BadConfig(format!("options.{key} must be a number")))
            })
            .transpose()
    };
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
        labels,
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
    /// labels }`, all optional) describes a plain checkpoint or overrides a self-describing one.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], options: JsValue) -> Result<WasmModel, JsValue> {
        let options = load_options(&options).map_err(js_error)?;
        let model = Model::load(bytes, &options).map_err(js_error)?;
        Ok(WasmModel { model })
    }

    /// `{ arch, width, inputSize, numClasses, parameters, labels }`
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> JsValue {
        let config = self.model.config();
        let info = Object::new();
        set(&info, "arch", config.arch.name());
        set(&info, "width", config.width);
        set(&info, "inputSize", config.input_size);
        set(&info, "numClasses", self.model.num_classes() as u32);
        set(&info, "parameters", self.model.parameters() as f64);
        set(&info, "labels", config.labels.is_some());
        info.into()
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
        Ok(predictions
            .into_iter()
            .map(|p| {
                let o = Object::new();
                set(&o, "index", p.index as u32);
                set(&o, "label", p.label.map_or(JsValue::NULL, JsValue::from));
                set(&o, "probability", p.probability);
                JsValue::from(o)
            })
            .collect())
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
