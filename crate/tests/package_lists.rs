//! Lists the npm package writes out by hand, held to the crate's: the architecture names and the
//! error codes of the TypeScript declarations, and the Hub models `Classifier.models` offers (each a timm
//! architecture the crate builds, tested through the folder of its architecture in ../shared).
#![cfg(not(target_arch = "wasm32"))]

use mobilenet_wasm::Architecture;

fn package_file(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../pkg-template/");
    std::fs::read_to_string(format!("{path}{name}")).unwrap()
}

/// The string literals of `export type Architecture = | "…" | …;`.
fn declared_architectures() -> Vec<String> {
    let typings = package_file("index.d.ts");
    let start = typings
        .find("export type Architecture =")
        .expect("an Architecture type");
    let end = start + typings[start..].find(';').unwrap();
    typings[start..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn typings_name_every_architecture() {
    let crate_names: Vec<String> = Architecture::names().map(str::to_string).collect();
    assert_eq!(declared_architectures(), crate_names);
}

/// Codes only the JavaScript layer throws (downloads, the worker, disposal, module start-up).
const JS_ONLY_CODES: [&str; 6] = [
    "BAD_SOURCE",
    "FETCH",
    "INTEGRITY",
    "DISPOSED",
    "WASM_INIT",
    "WORKER",
];

#[test]
fn typings_name_every_error_code() {
    let typings = package_file("index.d.ts");
    let start = typings
        .find("export type ErrorCode =")
        .expect("an ErrorCode type");
    let end = start + typings[start..].find(';').unwrap();
    let mut declared: Vec<&str> = typings[start..end]
        .lines()
        .filter_map(|line| line.trim().strip_prefix("| \"")?.split('"').next())
        .collect();
    let mut codes: Vec<&str> = mobilenet_wasm::Error::CODES.to_vec();
    codes.extend(JS_ONLY_CODES);
    declared.sort_unstable();
    codes.sort_unstable();
    assert_eq!(declared, codes);
}

#[test]
fn every_offered_hub_model_is_a_timm_architecture_we_test() {
    let models = package_file("models.js");
    let ids: Vec<&str> = models
        .split("id: ")
        .skip(1)
        .filter_map(|s| s.strip_prefix('"').and_then(|s| s.split('"').next()))
        .collect();
    // DEFAULT_MODEL's entry names it by the constant.
    let default = models.split("DEFAULT_MODEL = \"").nth(1).unwrap();
    let default = default.split('"').next().unwrap();
    let ids: Vec<&str> = std::iter::once(default).chain(ids).collect();
    assert_eq!(ids.len(), 6, "{ids:?}");
    let shared = std::env::var("MOBILENET_SHARED_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared").to_string());
    for id in ids {
        let arch = id.strip_prefix("timm/").unwrap().split('.').next().unwrap();
        let parsed: Architecture = arch.parse().unwrap();
        assert!(parsed.timm().is_some(), "{id}");
        let folder = format!("{shared}/reference/timm/{arch}/config.json");
        assert!(std::path::Path::new(&folder).exists(), "{id}: no {folder}");
    }
}
