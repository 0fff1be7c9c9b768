//! Lists the npm package writes out by hand, held to the crate's: the architecture names of the
//! TypeScript declarations, and the Hub models `Classifier.models` offers (each a timm
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
