//! The wasm-bindgen surface, in the browser: JS errors with a stable `code`, and a failed call
//! leaves the instance usable.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use js_sys::Reflect;
use mobilenet_wasm::checkpoint::StoreDtype;
use mobilenet_wasm::convert::{convert, ConvertOptions};
use mobilenet_wasm::wasm::WasmModel;
use wasm_bindgen::{JsCast, JsValue};

fn code(err: &JsValue) -> String {
    assert!(
        err.is_instance_of::<js_sys::Error>(),
        "not an Error: {err:?}"
    );
    Reflect::get(err, &"code".into())
        .unwrap()
        .as_string()
        .unwrap()
}

async fn model_bytes() -> Vec<u8> {
    let case = case("mobilenetv3_small_100");
    let mut config = case.config();
    config.labels = Some(imagenet_labels().await);
    let options = ConvertOptions {
        dtype: StoreDtype::F32,
        fold_batch_norm: false,
    };
    convert(&shared(&case.weights).await, config, options)
        .unwrap()
        .bytes
}

/// Bytes as JavaScript passes them: a `Uint8Array`, which the model reads tensor by tensor.
fn js_bytes(bytes: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(bytes).into()
}

async fn check_boundary() {
    let bytes = model_bytes().await;
    let err = WasmModel::new(js_bytes(&bytes[..100]), JsValue::UNDEFINED)
        .err()
        .unwrap();
    assert_eq!(code(&err), "BAD_MODEL");
    // Anything but a Uint8Array is refused, not read.
    for not_bytes in [
        JsValue::from_str("model.safetensors"),
        js_sys::Array::of1(&1.into()).into(),
        js_sys::ArrayBuffer::new(8).into(),
        JsValue::NULL,
    ] {
        let err = WasmModel::new(not_bytes, JsValue::UNDEFINED).err().unwrap();
        assert_eq!(code(&err), "BAD_MODEL");
    }

    // A plain checkpoint needs its architecture, given as an options object.
    let plain = shared("weights/mobilenetv2_100.safetensors").await;
    let err = WasmModel::new(js_bytes(&plain), JsValue::UNDEFINED)
        .err()
        .unwrap();
    assert_eq!(code(&err), "UNKNOWN_ARCH");
    let options = js_sys::Object::new();
    Reflect::set(&options, &"arch".into(), &"mobilenet_v2".into()).unwrap();
    Reflect::set(&options, &"width".into(), &"wide".into()).unwrap();
    let err = WasmModel::new(js_bytes(&plain), options.clone().into())
        .err()
        .unwrap();
    assert_eq!(code(&err), "BAD_CONFIG");
    Reflect::set(&options, &"width".into(), &1.0.into()).unwrap();
    let v2 = WasmModel::new(js_bytes(&plain), options.into()).unwrap();
    assert_eq!(Reflect::get(&v2.info(), &"labels".into()).unwrap(), false);

    let model = WasmModel::new(js_bytes(&bytes), JsValue::NULL).unwrap();
    let info = model.info();
    assert_eq!(
        Reflect::get(&info, &"arch".into()).unwrap(),
        "mobilenet_v3_small"
    );
    assert_eq!(Reflect::get(&info, &"numClasses".into()).unwrap(), 1000);

    let (rgba, w, h) = decode_rgba("chelsea.png", &shared("images/chelsea.png").await).await;
    let err = model.classify_rgba(&rgba[..100], w, h, 5).err().unwrap();
    assert_eq!(code(&err), "BAD_IMAGE");
    let err = model.logits_rgba(&rgba, 0, h).err().unwrap();
    assert_eq!(code(&err), "BAD_IMAGE");

    // The instance still works after the failures.
    let top = model.classify_rgba(&rgba, w, h, 5).unwrap();
    assert_eq!(top.length(), 5);
    let first = top.get(0);
    assert_eq!(Reflect::get(&first, &"index".into()).unwrap(), 285);
    assert_eq!(
        Reflect::get(&first, &"label".into()).unwrap(),
        "Egyptian cat"
    );
    assert_eq!(model.logits_rgba(&rgba, w, h).unwrap().length(), 1000);
    assert_eq!(model.embed_rgba(&rgba, w, h).unwrap().length(), 576);
}
shared_test!(wasm_surface_errors_and_recovery, check_boundary());
