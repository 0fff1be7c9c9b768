//! A seeded mutation fuzzer (stable Rust, no instrumentation) for everything the library reads:
//! model files, head files, combined files, config metadata, pixel and tensor inputs, and learner
//! operations. Seeds are tiny self-made models of every architecture, made in memory at start.
//!
//! ```text
//! npm run fuzz -- 30          # scripts/fuzz.sh: 30 minutes over all targets
//! mobilenet-fuzz --minutes M [--seed S] [--target model,head,…] [--out DIR]
//! mobilenet-fuzz --replay FILE… [--target T]   # run saved inputs (target: from FILE's folder)
//! ```
//!
//! Targets take turns (2 s each) until the time is up. An input that panics, answers NaN or
//! infinity, round-trips to a refusal, asks for over 4 GiB or runs over 1 s (of CPU time, on
//! Linux: a busy machine does not make an input slow) is a failure: saved to
//! `target/fuzz/<target>/<kind>-<hash>.bin` with a `.txt` beside it (at most 3 per kind and
//! message), and the run exits 1. An input whose outcome (code and message, digits aside) is new
//! joins the target's corpus, so later mutations start from it.

mod guard;
mod json;
mod mutate;
mod records;
mod report;
mod rng;
mod seeds;
mod targets;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mutate::{mutate, op};
use report::{Finding, Stats};
use rng::Rng;
use targets::{Context, Outcome, Target, TARGETS};

const USAGE: &str =
    "usage: mobilenet-fuzz [--minutes M] [--seed S] [--target T[,T…]] [--out DIR] [--slow SECONDS]
       mobilenet-fuzz --replay FILE… [--target T] [--slow SECONDS]
       mobilenet-fuzz --write-seeds DIR
targets: model, head, combined, config, pixels, tensor, learner (default: all)";

/// Each target's turn.
const TURN: Duration = Duration::from_secs(2);
const PROGRESS_EVERY: Duration = Duration::from_secs(30);
/// Inputs kept per target, seeds included.
const CORPUS_MAX: usize = 1000;
/// Larger inputs are run but not kept.
const KEEP_MAX_BYTES: usize = 16 << 20;

struct Args {
    minutes: f64,
    /// Over this, an execution is a slow input (`--slow SECONDS`, default 1).
    slow: Duration,
    seed: u64,
    targets: Vec<usize>,
    out: PathBuf,
    replay: Vec<PathBuf>,
    /// Where to write the seeds (`--write-seeds DIR`), to look at or replay.
    write_seeds: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        minutes: 1.0,
        slow: Duration::from_secs(1),
        seed: 1,
        targets: Vec::new(),
        out: Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .join("target/fuzz"),
        replay: Vec::new(),
        write_seeds: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--minutes" => {
                args.minutes = value()?.parse().map_err(|e| format!("--minutes: {e}"))?
            }
            "--slow" => {
                let seconds: f64 = value()?.parse().map_err(|e| format!("--slow: {e}"))?;
                args.slow =
                    Duration::try_from_secs_f64(seconds).map_err(|e| format!("--slow: {e}"))?;
            }
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--out" => args.out = value()?.into(),
            "--target" => {
                for name in value()?.split(',') {
                    let i = TARGETS.iter().position(|t| t.name == name);
                    args.targets
                        .push(i.ok_or(format!("unknown target `{name}`"))?);
                }
            }
            "--replay" => args.replay.push(value()?.into()),
            "--write-seeds" => args.write_seeds = Some(value()?.into()),
            "-h" | "--help" => return Err(String::new()),
            file if !file.starts_with('-') && !args.replay.is_empty() => {
                args.replay.push(file.into())
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !(args.minutes.is_finite() && args.minutes >= 0.0) {
        return Err("--minutes must be a number >= 0".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            eprintln!("{why}{}{USAGE}", if why.is_empty() { "" } else { "\n" });
            return ExitCode::from(2);
        }
    };
    // One thread: executions are timed, and the machine is shared.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let started = Instant::now();
    let (ctx, corpora) = match seeds::context() {
        Ok(made) => made,
        Err(e) => {
            eprintln!("mobilenet-fuzz: making the seeds failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let made = started.elapsed().as_secs_f64();
    // Panics of the library are caught and counted, their messages kept for the report.
    std::panic::set_hook(Box::new(|info| report::set_panic(info.to_string())));
    guard::watchdog();
    if !args.replay.is_empty() {
        return replay(&ctx, &args);
    }
    if let Some(dir) = &args.write_seeds {
        let names = TARGETS.iter().map(|t| t.name);
        return match seeds::write(dir, names.zip(&corpora)) {
            Ok(()) => {
                println!("seeds written to {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("writing the seeds to {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    let chosen = if args.targets.is_empty() {
        (0..TARGETS.len()).collect()
    } else {
        args.targets.clone()
    };
    println!(
        "mobilenet-fuzz: seed {}, {} min over {} target(s); {} seed models made in {made:.1} s; reproducers in {}",
        args.seed,
        args.minutes,
        chosen.len(),
        ctx.models.len(),
        args.out.display()
    );
    let mut fuzzers: Vec<Fuzzer> = chosen
        .iter()
        .map(|&i| {
            Fuzzer::new(
                &TARGETS[i],
                corpora[i].clone(),
                args.seed.wrapping_mul(31).wrapping_add(i as u64),
            )
        })
        .collect();
    let begin = Instant::now();
    let budget = Duration::from_secs_f64(args.minutes * 60.0);
    let mut next_progress = PROGRESS_EVERY;
    while begin.elapsed() < budget {
        for fuzzer in &mut fuzzers {
            let turn = Instant::now();
            let turn_end = (begin.elapsed() + TURN).min(budget);
            while begin.elapsed() < turn_end {
                fuzzer.step(&ctx, &args);
            }
            fuzzer.stats.wall += turn.elapsed();
        }
        if begin.elapsed() >= next_progress {
            report::progress(
                begin.elapsed(),
                fuzzers.iter().map(|f| (f.target.name, &f.stats)),
            );
            next_progress += PROGRESS_EVERY;
        }
    }
    let failures = report::summary(
        begin.elapsed(),
        fuzzers.iter().map(|f| (f.target.name, &f.stats)),
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One target's fuzzing state.
struct Fuzzer {
    target: &'static Target,
    rng: Rng,
    corpus: Vec<Vec<u8>>,
    seeds: usize,
    /// Outcome signatures seen: an input with a new one joins the corpus.
    seen: HashSet<String>,
    /// Mutations retired for this run (they made a slow input).
    retired: u32,
    stats: Stats,
}

impl Fuzzer {
    fn new(target: &'static Target, corpus: Vec<Vec<u8>>, seed: u64) -> Self {
        Fuzzer {
            target,
            rng: Rng::new(seed),
            seeds: corpus.len(),
            corpus,
            seen: HashSet::new(),
            retired: 0,
            stats: Stats::default(),
        }
    }

    fn step(&mut self, ctx: &Context, args: &Args) {
        let out = &args.out;
        // A seed half the time (they are whole, valid files), else any input kept.
        let pick = |rng: &mut Rng, n: usize| {
            if rng.chance(0.5) {
                rng.below(self.seeds)
            } else {
                rng.below(n)
            }
        };
        let (a, b) = (
            pick(&mut self.rng, self.corpus.len()),
            pick(&mut self.rng, self.corpus.len()),
        );
        let (input, ops) = mutate(
            &mut self.rng,
            &self.corpus[a],
            &self.corpus[b],
            self.target.layout,
            self.retired,
        );
        let (outcome, elapsed, huge) = execute(ctx, self.target, &input, out);
        let mut findings = Vec::new();
        let signature = match &outcome {
            Ok(Outcome::Ok(what)) => what.to_string(),
            Ok(Outcome::Err(e)) => format!("{} {e}", e.code()),
            Ok(Outcome::NonFinite(what)) => {
                findings.push(Finding::new("non-finite", what));
                String::new()
            }
            Ok(Outcome::RoundTrip(what)) => {
                findings.push(Finding::new("round-trip", what));
                String::new()
            }
            Err(panic) => {
                findings.push(Finding::new("panic", panic));
                String::new()
            }
        };
        if let Some(bytes) = huge {
            findings.push(Finding::new(
                "huge-allocation",
                &format!("asked for {bytes} bytes"),
            ));
        }
        if elapsed > args.slow {
            let what = format!(
                "{:.2} s ({})",
                elapsed.as_secs_f64(),
                report::outcome_key(&outcome)
            );
            findings.push(Finding::new("slow", &what));
            let retire = ops & op::BULK & !self.retired;
            if retire != 0 {
                self.retired |= retire;
                let name = self.target.name;
                let ops = report::mutation_names(retire);
                println!(
                    "{name}: a slow input made by {ops}; that mutation is retired for this run"
                );
            }
        }
        self.stats.record(
            &outcome,
            elapsed,
            &findings,
            &input,
            self.target.name,
            ops,
            out,
        );
        let signature = report::normalise(&signature);
        if findings.is_empty()
            && input.len() <= KEEP_MAX_BYTES
            && self.seen.len() < 100_000
            && self.seen.insert(signature)
        {
            if self.corpus.len() < CORPUS_MAX {
                self.corpus.push(input);
            } else {
                let at = self.seeds + self.rng.below(CORPUS_MAX - self.seeds);
                self.corpus[at] = input;
            }
        }
    }
}

/// Runs `input` on `target`: its outcome (or the panic's message), time, and huge allocation.
/// The time is the thread's CPU time where there is one (Linux), so that a machine busy with
/// other work does not make inputs slow; else wall time.
fn execute(
    ctx: &Context,
    target: &'static Target,
    input: &[u8],
    out: &Path,
) -> (Result<Outcome, String>, Duration, Option<usize>) {
    guard::begin(out, target.name, input);
    let (start, cpu) = (Instant::now(), guard::thread_time());
    let result = catch_unwind(AssertUnwindSafe(|| (target.run)(ctx, input)));
    let elapsed = match (cpu, guard::thread_time()) {
        (Some(before), Some(after)) => after.saturating_sub(before),
        _ => start.elapsed(),
    };
    let huge = guard::end();
    (result.map_err(|_| report::take_panic()), elapsed, huge)
}

/// Runs saved inputs once each; fails if any still fails.
fn replay(ctx: &Context, args: &Args) -> ExitCode {
    let mut failed = 0;
    for path in &args.replay {
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        let from_folder = absolute
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        let target = match args.targets.first() {
            Some(&i) => &TARGETS[i],
            None => match TARGETS.iter().find(|t| Some(t.name) == from_folder) {
                Some(t) => t,
                None => {
                    eprintln!("{}: say its target with --target", path.display());
                    return ExitCode::from(2);
                }
            },
        };
        let input = match std::fs::read(path) {
            Ok(input) => input,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let scratch = std::env::temp_dir().join("mobilenet-fuzz-replay");
        let (outcome, elapsed, huge) = execute(ctx, target, &input, &scratch);
        let bad = !matches!(outcome, Ok(Outcome::Ok(_) | Outcome::Err(_)))
            || elapsed > args.slow
            || huge.is_some();
        failed += bad as usize;
        let huge = huge.map_or(String::new(), |n| format!(", asked for {n} bytes"));
        println!(
            "{} [{}]: {} in {:.3} s{huge}{}",
            path.display(),
            target.name,
            report::describe(&outcome),
            elapsed.as_secs_f64(),
            if bad { "  FAILS" } else { "" }
        );
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
