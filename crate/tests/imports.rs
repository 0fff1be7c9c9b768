//! Imports run one way: no cycle between the files of `crate/src` through their `use crate::…`
//! lines (e.g. predictions → head → model → transfer → wasm), so each layer reads without the
//! ones built on it.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, as its module path (`kernels::pool`, `wasm` for `wasm/mod.rs`).
fn modules(dir: &Path, prefix: &str, out: &mut BTreeMap<String, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            modules(&path, &format!("{prefix}{stem}::"), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = match stem.as_str() {
                "mod" => prefix.trim_end_matches("::").to_string(),
                _ => format!("{prefix}{stem}"),
            };
            out.insert(name, path);
        }
    }
}

/// The modules a file's `use crate::…` lines name, each taken as the longest known module path
/// (`use crate::kernels::pool::plane_means` → `kernels::pool`; `use crate::head::{self, X}` →
/// `head`).
fn imports(source: &str, known: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // Each `use crate::` statement, from a line that starts one up to its `;`.
    let mut statements = Vec::new();
    let mut at = 0;
    for line in source.split_inclusive('\n') {
        let code = line.trim_start();
        let code = (code.strip_prefix("pub(crate) "))
            .or(code.strip_prefix("pub "))
            .unwrap_or(code);
        if let Some(rest) = code.strip_prefix("use crate::") {
            let start = at + line.len() - rest.len();
            let end = start + source[start..].find(';').unwrap();
            statements.push(&source[start..end]);
        }
        at += line.len();
    }
    for rest in statements {
        let (base, group) = match rest.split_once('{') {
            Some((base, group)) => (base, group.trim_end_matches('}')),
            None => (rest, ""),
        };
        let mut paths: Vec<String> = group
            .split(',')
            .map(|item| format!("{base}{}", item.trim()))
            .collect();
        paths.push(base.trim_end_matches("::").to_string());
        for path in paths {
            let path = path.replace(char::is_whitespace, "");
            let mut parts: Vec<&str> = path.split("::").collect();
            while !parts.is_empty() {
                let candidate = parts.join("::");
                if known.contains_key(&candidate) {
                    out.insert(candidate);
                    break;
                }
                parts.pop();
            }
        }
    }
    out
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut known = BTreeMap::new();
    modules(root, "", &mut known);
    known.remove("lib");
    let graph: BTreeMap<String, BTreeSet<String>> = known
        .iter()
        .filter(|(name, _)| !name.starts_with("bin::"))
        .map(|(name, path)| {
            let source = std::fs::read_to_string(path).unwrap();
            let mut uses = imports(&source, &known);
            uses.remove(name);
            (name.clone(), uses)
        })
        .collect();
    assert!(graph["model"].contains("head"), "the reader sees imports");
    // Depth-first search for a back edge.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(at) = path.iter().position(|n| *n == node) {
            panic!("import cycle: {} -> {node}", path[at..].join(" -> "));
        }
        if !done.insert(node) {
            return;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
}

/// No file of `crate/src` grows past what one reads in a sitting.
#[test]
fn source_files_stay_short() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut known = BTreeMap::new();
    modules(root, "", &mut known);
    for (name, path) in known {
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 600, "{name}: {lines} lines");
    }
}
