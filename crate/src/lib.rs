//! Exact MobileNet image classification on candle, for native code and WebAssembly (SIMD128).
//!
//! ```no_run
//! use mobilenet_wasm::{Model, Pixels};
//! let bytes = std::fs::read("mobilenetv3_small_100.mnw.safetensors").unwrap();
//! let model = Model::from_safetensors(&bytes, None).unwrap();
//! let rgba = vec![0u8; 640 * 480 * 4];
//! let top5 = model.classify(&Pixels::rgba(&rgba, 640, 480), 5).unwrap();
//! ```

pub mod arch;
pub mod checkpoint;
pub mod config;
pub mod convert;
pub mod error;
pub mod head;
pub mod hub;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod models;
pub mod names;
pub mod plan;
pub mod prediction;
pub mod preprocess;
pub mod transfer;
pub mod wasm;

pub use config::{
    Architecture, Compute, Interpolation, LoadOptions, ModelConfig, PaddingMode, V1Activation,
};
pub use error::{Error, Result};
pub use head::{Backbone, Head, HeadKind};
pub use model::Model;
pub use prediction::Prediction;
pub use preprocess::{Augmentation, Pixels};
#[cfg(feature = "train")]
pub use transfer::LinearTrainer;
pub use transfer::{EpochStats, Learner, TrainOptions};

#[cfg(all(test, target_arch = "wasm32", not(target_feature = "atomics")))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
// The threaded module may wait on other threads only in a worker.
#[cfg(all(test, target_arch = "wasm32", target_feature = "atomics"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);
