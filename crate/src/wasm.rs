//! The JavaScript surface, kept thin: bytes and pixels in, plain JS values out. Every failure is a
//! JS `Error` with a stable `code` property (see [`Error::code`]); nothing panics across the
//! boundary for bad input.

use js_sys::{Array, Float32Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::model::Model;
use crate::preprocess::Pixels;

fn js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    let _ = Reflect::set(&js, &"code".into(), &err.code().into());
    js.into()
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
    /// Loads a self-describing safetensors model file.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<WasmModel, JsValue> {
        let model = Model::from_safetensors(bytes, None).map_err(js_error)?;
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
