//! The fuzzer's findings, once fixed, stay fixed: every `tests/fuzz/<target>/*.bin` (a reproducer
//! `npm run fuzz` saved to `target/fuzz/<target>/`) is replayed through its target by the fuzzer
//! itself and must neither panic, answer NaN or infinity, refuse its own round trip, ask for a huge
//! allocation, nor run over 1 s (of CPU time: the other tests running meanwhile do not count).
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::Command;

fn reproducers() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut found = Vec::new();
    for target in std::fs::read_dir(&root).expect("crate/tests/fuzz") {
        let target = target.expect("a folder entry").path();
        if !target.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&target).expect("a target's folder") {
            let file = file.expect("a file").path();
            if file.extension().is_some_and(|e| e == "bin") {
                found.push(file);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn fixed_findings_stay_fixed() {
    let inputs = reproducers();
    if inputs.is_empty() {
        return;
    }
    let run = Command::new(env!("CARGO_BIN_EXE_mobilenet-fuzz"))
        .arg("--replay")
        .args(&inputs)
        .output()
        .expect("the fuzzer runs");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(report.lines().count(), inputs.len(), "{report}");
}
