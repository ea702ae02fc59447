//! `harness run SUITE`: from model files to a verifiable evidence bundle.
//!
//! The work is `harness_pipeline::run_suite` (plan → infer → evaluate →
//! measure → render → seal); this module turns arguments into its options,
//! draws its progress, prints the summary and the gate, and chooses the exit
//! status.

use anyhow::Result;
use clap::Args;
use harness_evidence::gate::{Criterion, Direction, GateResult};
use harness_evidence::manifest::ToolInfo;
use harness_pipeline::{RunOptions, run_suite};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(
    about = "Run a suite: inference on every backend, metrics, performance, evidence bundle and report",
    long_about = "Run a declarative suite (suites/*.toml) end to end and write a tamper-evident evidence bundle.\n\n\
        Steps: validate the suite; verify the dataset's hash against datasets.toml; index the reference \
        cases; stream them (each image read, hashed and decoded once, with memory bounded whatever the \
        number of cases) through each candidate model on each of its backends: the primary backend's \
        probabilities (or, with [inference] device = \"gpu\", ONNX Runtime's on CUDA) are evaluated, \
        the others are cross-checked on a seeded sample of [inference] agreement_cases cases (default \
        1000); compute every metric of `harness eval`; \
        measure speed on the suite's hardware profiles and LoadGen scenarios; write predictions.csv, \
        metrics.json, performance.json, agreement.json, report.html, summary.md, figures/*.svg and, last, \
        manifest.json with the sha256 of everything. Check a bundle later with `harness verify DIR`.\n\n\
        Exit status: 0 all candidates ran and every acceptance criterion passed; 1 an acceptance \
        criterion (suite [acceptance], --fail-under, --fail-over) failed; 2 invalid suite, registry, \
        dataset or options (or a dataset file that changed during the run); 3 the bundle was written \
        but a candidate or backend failed. When a criterion fails and a candidate failed too, the \
        status is 1. A suite asking for device = \"gpu\" where CUDA is absent is not a failure: the \
        run says why, records it and evaluates on the CPU.",
    after_help = "Examples:\n  \
        harness run suites/example.toml\n  \
        harness run suites/example.toml --out results/mine --fail-under auroc=0.85 --fail-over ece_10=0.05\n  \
        harness run suites/example.toml --no-perf          # accuracy evidence only"
)]
pub struct RunArgs {
    /// The suite file.
    #[arg(value_name = "SUITE.toml")]
    suite: PathBuf,
    /// Bundle folder (default: a new results/<suite>/<UTC timestamp>/ under the project root, with
    /// -2, -3, … appended when another run started in the same second).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Dataset registry (default: the nearest datasets.toml above the suite).
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,
    /// Folder that dataset paths are relative to (default: $HARNESS_DATA_ROOT, else the registry's folder).
    #[arg(long, value_name = "DIR")]
    data_root: Option<PathBuf>,
    /// Fail (exit 1) when METRIC is below VALUE for any candidate, e.g. auroc=0.85. Repeatable.
    #[arg(long = "fail-under", value_name = "METRIC=VALUE")]
    fail_under: Vec<String>,
    /// Fail (exit 1) when METRIC is above VALUE for any candidate, e.g. ece_10=0.05. Repeatable.
    #[arg(long = "fail-over", value_name = "METRIC=VALUE")]
    fail_over: Vec<String>,
    /// Skip performance measurement (accuracy evidence only).
    #[arg(long)]
    no_perf: bool,
    /// Short performance runs (64 queries, 0.5 s per scenario) instead of the suite's settings.
    #[arg(long)]
    quick: bool,
    /// Sign manifest.json with this ed25519 secret key (hex of the 32-byte seed; see `harness keygen`).
    #[arg(long, value_name = "KEY")]
    sign_key: Option<PathBuf>,
}

/// Criteria from the command line.
pub fn cli_criteria(under: &[String], over: &[String]) -> Result<Vec<Criterion>> {
    let mut out = Vec::new();
    for (args, dir, flag) in [
        (under, Direction::Under, "--fail-under"),
        (over, Direction::Over, "--fail-over"),
    ] {
        for a in args {
            let c = Criterion::parse(a, dir).map_err(|e| anyhow::anyhow!("{flag} {e}"))?;
            if let Some(w) = c.direction_warning() {
                eprintln!("warning: {w}");
            }
            out.push(c);
        }
    }
    Ok(out)
}

/// Prints gate results; true when all passed.
pub fn report_gate(results: &[GateResult]) -> bool {
    for r in results {
        if r.passed {
            eprintln!("gate: pass  {}", r.message);
        } else {
            eprintln!("gate: FAIL  {}", r.message);
        }
    }
    results.iter().all(|r| r.passed)
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let options = RunOptions {
        suite: args.suite,
        out: args.out,
        registry: args.registry,
        data_root: args
            .data_root
            .or_else(|| std::env::var_os("HARNESS_DATA_ROOT").map(PathBuf::from)),
        extra_criteria: cli_criteria(&args.fail_under, &args.fail_over)?,
        no_perf: args.no_perf,
        quick: args.quick,
        sign_key: args.sign_key,
        threads: None,
        tool: Some(ToolInfo {
            name: "harness".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            git_commit: Some(env!("HARNESS_GIT_COMMIT").to_string()).filter(|s| !s.is_empty()),
        }),
    };
    let bars = crate::progress::Bars::default();
    let outcome = run_suite(&options, &bars)?;
    drop(bars);
    let out_dir = &outcome.out_dir;

    // What a person reads.
    if let Some(r) = &outcome.eval {
        print!(
            "{}",
            crate::summary::render(r, &out_dir.join("predictions.csv"))
        );
    }
    for r in &outcome.candidates {
        for b in &r.backends {
            if let Some(reason) = b.outcome.reason() {
                eprintln!(
                    "{} on {}: {} — {reason}",
                    r.name,
                    b.backend,
                    b.outcome.status()
                );
            }
        }
    }
    println!(
        "evidence bundle: {} (check it with `harness verify {}`)",
        out_dir.display(),
        out_dir.display()
    );
    println!("report: {}", out_dir.join("report.html").display());

    report_gate(&outcome.gate);
    Ok(if !outcome.gate_passed() {
        ExitCode::from(1)
    } else if outcome.any_failed() {
        eprintln!(
            "error: a candidate or backend failed; see the manifest and the report's limits section"
        );
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
