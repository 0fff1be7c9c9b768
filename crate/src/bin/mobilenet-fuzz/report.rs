//! Counting outcomes and failures, saving reproducers, and the progress and final reports.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::guard;
use crate::mutate::op;
use crate::targets::Outcome;

/// Reproducers saved per kind of failure and message (digits aside): the rest are only counted.
const SAVED_PER_SIGNATURE: u32 = 3;

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The panic hook's: keeps the message of a panic during an execution for [`take_panic`]; one
/// elsewhere (the fuzzer's own) is printed.
pub fn set_panic(message: String) {
    if !guard::running() {
        eprintln!("mobilenet-fuzz: {message}");
    }
    PANIC.with(|p| *p.borrow_mut() = Some(message));
}

pub fn take_panic() -> String {
    PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| "(no message)".into())
}

/// A failure of one input: its kind (`panic`, `slow`, …) and what happened.
pub struct Finding {
    kind: &'static str,
    what: String,
}

impl Finding {
    pub fn new(kind: &'static str, what: &str) -> Self {
        Finding {
            kind,
            what: what.to_string(),
        }
    }
}

/// One target's counts.
#[derive(Default)]
pub struct Stats {
    pub executions: u64,
    /// Time in the target's turns.
    pub wall: Duration,
    outcomes: BTreeMap<String, u64>,
    slowest: Duration,
    slowest_outcome: String,
    /// Failures by kind.
    failures: BTreeMap<&'static str, u64>,
    /// Saved reproducers: kind, path, what happened.
    saved: Vec<(&'static str, PathBuf, String)>,
    saves: HashMap<String, u32>,
}

/// Digits and names (in backquotes) left out, so that messages differing only in sizes, indices
/// and names are one signature (names also come out of hash maps in any order).
pub fn normalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(200));
    let mut quoted = false;
    for c in message.chars().take(200) {
        if c == '`' {
            quoted = !quoted;
            out.push(c);
        } else if quoted {
            continue;
        } else if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The outcome table's row.
pub fn outcome_key(outcome: &Result<Outcome, String>) -> String {
    match outcome {
        Ok(Outcome::Ok(what)) => what.to_string(),
        Ok(Outcome::Err(e)) => e.code().to_string(),
        Ok(Outcome::NonFinite(_)) => "NON-FINITE ANSWER".into(),
        Ok(Outcome::RoundTrip(_)) => "ROUND-TRIP REFUSED".into(),
        Err(_) => "PANIC".into(),
    }
}

/// The outcome in words, for a replay.
pub fn describe(outcome: &Result<Outcome, String>) -> String {
    match outcome {
        Ok(Outcome::Ok(what)) => what.to_string(),
        Ok(Outcome::Err(e)) => format!("{} ({e})", e.code()),
        Ok(Outcome::NonFinite(what)) => format!("NON-FINITE ANSWER ({what})"),
        Ok(Outcome::RoundTrip(what)) => format!("ROUND-TRIP REFUSED ({what})"),
        Err(panic) => format!("PANIC ({})", panic.replace('\n', " ")),
    }
}

pub fn mutation_names(ops: u32) -> String {
    let names: Vec<&str> = (0..op::NAMES.len())
        .filter(|k| ops & (1 << k) != 0)
        .map(|k| op::NAMES[k])
        .collect();
    names.join(", ")
}

impl Stats {
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        outcome: &Result<Outcome, String>,
        elapsed: Duration,
        findings: &[Finding],
        input: &[u8],
        target: &str,
        ops: u32,
        out: &Path,
    ) {
        self.executions += 1;
        let key = outcome_key(outcome);
        if elapsed > self.slowest {
            self.slowest = elapsed;
            self.slowest_outcome = key.clone();
        }
        *self.outcomes.entry(key).or_default() += 1;
        for finding in findings {
            *self.failures.entry(finding.kind).or_default() += 1;
            // A panic's location is its signature (its message alone may be any overflow).
            let (at, what) = match finding.what.split_once('\n') {
                Some((at, what)) if finding.kind == "panic" => (at, what),
                _ => ("", finding.what.as_str()),
            };
            let signature = format!("{} {at} {}", finding.kind, normalise(what));
            let saves = self.saves.entry(signature).or_default();
            if *saves >= SAVED_PER_SIGNATURE {
                continue;
            }
            *saves += 1;
            let note = format!(
                "{}\noutcome: {}\ntime: {:.3} s ({})\ninput: {} bytes, made by: {}",
                finding.what,
                describe(outcome),
                elapsed.as_secs_f64(),
                guard::clock(),
                input.len(),
                mutation_names(ops)
            );
            match guard::save(out, target, finding.kind, input, &note) {
                // The same input made again is the same file.
                Ok(path) if self.saved.iter().any(|(_, p, _)| *p == path) => {}
                Ok(path) => {
                    let what = finding.what.replace('\n', " ");
                    self.saved.push((finding.kind, path, what))
                }
                Err(e) => eprintln!("mobilenet-fuzz: could not save a reproducer: {e}"),
            }
        }
    }

    fn failures(&self) -> u64 {
        self.failures.values().sum()
    }

    fn count(&self, kind: &str) -> u64 {
        self.failures.get(kind).copied().unwrap_or(0)
    }

    fn rate(&self) -> f64 {
        self.executions as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// One line: executions and rate per target, failures so far.
pub fn progress<'a>(elapsed: Duration, stats: impl Iterator<Item = (&'a str, &'a Stats)>) {
    let mut failures = 0;
    let parts: Vec<String> = stats
        .map(|(name, s)| {
            failures += s.failures();
            format!("{name} {} ({:.0}/s)", s.executions, s.rate())
        })
        .collect();
    println!(
        "[{:>5.0} s] {} | failures: {failures}",
        elapsed.as_secs_f64(),
        parts.join(", ")
    );
}

/// The final report; returns the number of failing inputs.
pub fn summary<'a>(
    elapsed: Duration,
    stats: impl Iterator<Item = (&'a str, &'a Stats)> + Clone,
) -> u64 {
    println!();
    println!(
        "{:<9} {:>11} {:>8} {:>9} {:>5} {:>7} {:>11} {:>6}",
        "target", "executions", "exec/s", "slowest", ">1 s", "panics", "non-finite", "other"
    );
    let (mut executions, mut failures) = (0, 0);
    for (name, s) in stats.clone() {
        let other = s.failures() - s.count("slow") - s.count("panic") - s.count("non-finite");
        println!(
            "{:<9} {:>11} {:>8.0} {:>7.3} s {:>5} {:>7} {:>11} {:>6}",
            name,
            s.executions,
            s.rate(),
            s.slowest.as_secs_f64(),
            s.count("slow"),
            s.count("panic"),
            s.count("non-finite"),
            other
        );
        executions += s.executions;
        failures += s.failures();
    }
    println!(
        "total: {executions} executions in {:.1} min ({:.0}/s), {failures} failing",
        elapsed.as_secs_f64() / 60.0,
        executions as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    println!("(times: {} per execution)", guard::clock());
    println!("\noutcomes (error code or ok: count), slowest input's outcome in brackets:");
    for (name, s) in stats.clone() {
        let mut rows: Vec<(&String, &u64)> = s.outcomes.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let rows: Vec<String> = rows.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        println!("  {name:<9} {} [{}]", rows.join(", "), s.slowest_outcome);
    }
    let saved: Vec<_> = stats.flat_map(|(_, s)| s.saved.iter()).collect();
    if !saved.is_empty() {
        println!("\nreproducers (at most {SAVED_PER_SIGNATURE} per kind and message):");
        for (kind, path, what) in saved {
            let what: String = what.chars().take(160).collect();
            println!("  {kind:<15} {}  {what}", path.display());
        }
    }
    failures
}
