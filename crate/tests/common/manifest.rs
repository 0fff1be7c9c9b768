//! `tests/models.json`, the one list of checkpoints the tests, the benchmarks and the demo share,
//! read for Rust: by the tests (`common`) and by `mobilenet-bench` (which includes this file).

use mobilenet_wasm::{LoadOptions, ModelConfig};

/// The checkpoints of `tests/models.json`, the one list the tests, benchmarks and demo share.
#[derive(serde::Deserialize)]
pub struct Manifest {
    pub plain: Vec<Case>,
    pub timm: Vec<TimmCase>,
}

/// A PyTorch-layout checkpoint in `../shared` and how to build it.
#[derive(serde::Deserialize)]
pub struct Case {
    pub name: String,
    pub weights: String,
    /// Reference JSON with `images` (and, for synthetic files, `npy_inputs`).
    pub reference: String,
    /// Real ImageNet weights (the others are random, with reference outputs).
    #[serde(default)]
    pub trained: bool,
    pub options: CaseOptions,
    /// Timed by the benchmarks.
    #[serde(default)]
    pub bench: bool,
    /// The demo's model file of it, if it ships one.
    pub demo: Option<DemoFile>,
}

/// The package's load options for a plain checkpoint (their names in JavaScript).
#[derive(serde::Deserialize)]
pub struct CaseOptions {
    pub arch: String,
    pub width: Option<f64>,
    pub padding: Option<String>,
    pub activation: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct DemoFile {
    /// Stored as float16 (else float32).
    pub f16: bool,
}

/// A folder of `reference/timm`, in the Hub's layout.
#[derive(serde::Deserialize)]
pub struct TimmCase {
    pub name: String,
    /// Timed by the benchmarks.
    #[serde(default)]
    pub bench: bool,
}

pub fn manifest() -> &'static Manifest {
    static MANIFEST: std::sync::OnceLock<Manifest> = std::sync::OnceLock::new();
    MANIFEST.get_or_init(|| {
        serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/models.json"
        )))
        .expect("tests/models.json")
    })
}

impl Case {
    pub fn config(&self) -> ModelConfig {
        let (options, name) = (&self.options, &self.name);
        let load = LoadOptions {
            arch: Some(parsed(name, &options.arch)),
            width: options.width,
            padding: options.padding.as_deref().map(|p| parsed(name, p)),
            v1_activation: options.activation.as_deref().map(|a| parsed(name, a)),
            ..LoadOptions::default()
        };
        load.resolve(None)
            .unwrap_or_else(|e| panic!("{name}: options: {e}"))
    }
}

/// An option's value, parsed as the package parses it.
fn parsed<T: std::str::FromStr>(case: &str, value: &str) -> T
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .unwrap_or_else(|e| panic!("{case}: option `{value}`: {e}"))
}
