//! `harness run SUITE`: from model files to a verifiable evidence bundle.
//!
//! The work is `harness_pipeline::run_suite` (plan → infer → evaluate →
//! measure → render → seal); this module turns arguments into its options,
//! draws its progress, prints the summary and the gate, and chooses the exit
//! status.

use anyhow::Result;
use clap::Args;
use harness_evidence::Metrics;
use harness_evidence::gate::GateResult;
use harness_evidence::manifest::PREDICTIONS;
use harness_evidence::manifest::ToolInfo;
use harness_evidence::shard::Shard;
use harness_pipeline::merge::MergeOptions;
use harness_pipeline::{RunOptions, RunOutcome, run_suite};
use std::path::PathBuf;

use crate::options::GateArgs;
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
        harness run suites/example.toml --no-perf          # accuracy evidence only\n  \
        harness run suites/example.toml --shard 2/3 --out results/parts/part-2   # one shard of three\n  \
        sbatch --array=1-3 --wrap 'harness run suites/example.toml --shard auto --out results/parts/part-$SLURM_ARRAY_TASK_ID'\n  \
        harness merge results/parts/part-* --out results/merged\n  \
        harness run suites/example.toml --site hospital-a --aggregates-only --out results/site-a   # federated: only count tables leave"
)]
pub struct RunArgs {
    /// The suite file.
    #[arg(value_name = "SUITE.toml")]
    suite: PathBuf,
    /// Bundle folder (default: a new results/<suite>/<UTC timestamp>/ under the project root, with
    /// -2, -3, … appended when another run started in the same second). An existing folder must
    /// be empty or hold an earlier bundle; other files are refused. An earlier finished bundle
    /// is replaced only once this run has finished (a run that fails leaves it as it was); an
    /// interrupted one is cleared. A folder inside the pinned dataset's is refused.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Dataset registry (default: the nearest datasets.toml above the suite).
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,
    /// Folder that dataset paths are relative to (default: $HARNESS_DATA_ROOT, else the registry's folder).
    #[arg(long, value_name = "DIR")]
    data_root: Option<PathBuf>,
    // The gate, beside the suite's [acceptance]. Not with --shard or --site, whose runs compute
    // no metrics: they are refused there, naming `harness merge` or `harness pool`.
    #[command(flatten)]
    gate: GateArgs,
    /// Read and hash every file of the dataset for the check before the run. By default a file
    /// whose size, times and inode are unchanged since a run hashed it is not read for the check
    /// (its hash is kept in .harness-cache/ beside datasets.toml; the folder digest is still
    /// compared with the pin, and every file is hashed again as it is decoded).
    #[arg(long)]
    full_check: bool,
    /// Skip performance measurement (accuracy evidence only).
    #[arg(long)]
    no_perf: bool,
    /// Short performance runs (64 queries, 0.5 s per scenario) instead of the suite's settings.
    #[arg(long)]
    quick: bool,
    /// Sign manifest.json with this ed25519 secret key (hex of the 32-byte seed; see `harness
    /// keygen`). A .pub file, or a key that is not the secret of the .pub beside it, is refused.
    #[arg(long, value_name = "KEY")]
    sign_key: Option<PathBuf>,
    /// Evaluate only shard I of N (1-based) and write a partial bundle (predictions, agreement,
    /// performance; no metrics) for `harness merge` (any task: binary, multi-label,
    /// multi-class). Cases are dealt round-robin by patient when the dataset declares a patient
    /// column (a patient is never split), else case by case.
    /// `auto` reads a Slurm job array (I = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1,
    /// N = SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job (I = JOB_COMPLETION_INDEX + 1,
    /// N = HARNESS_SHARD_COUNT) and records where it came from. A shard applies no gate (the
    /// suite's [acceptance] and --fail-under/--fail-over are applied by `harness merge`).
    #[arg(long, value_name = "I/N|auto", conflicts_with = "site")]
    shard: Option<String>,
    /// Run as site NAME of a federated evaluation (with --aggregates-only): the bundle holds
    /// site.json — per candidate and subgroup level, how many positives and negatives had each
    /// distinct score (per finding for a multi-label dataset; per class, the cases of each true
    /// class at each probability, for a multi-class one) — instead of predictions, metrics and a
    /// report, so that no case-level data leaves the hospital. The coordinator pools the sites'
    /// site.json with `harness pool`, which applies the suite's [metrics] and [acceptance]: a
    /// site applies no gate (--fail-under/--fail-over are refused here; give them to the pool).
    #[arg(long, value_name = "NAME", requires = "aggregates_only")]
    site: Option<String>,
    /// With --site: write only aggregates (see --site).
    #[arg(long = "aggregates-only", requires = "site")]
    aggregates_only: bool,
    /// With --site: refuse a subgroup level of fewer than N cases in the site's summary (a
    /// level that small shows its cases' scores and labels nearly case by case). Lower it only
    /// where publishing such levels is agreed.
    #[arg(
        long = "min-level-cases",
        value_name = "N",
        default_value_t = harness_metrics::MIN_LEVEL_CASES,
        requires = "site"
    )]
    min_level_cases: u64,
    /// With --site: round every score to D decimals (0-15) before counting it, so that the
    /// summary reveals only the rounded scores (without it, each distinct score a model gave
    /// is listed, though not which case had it). The pooled results are then exact for the
    /// rounded scores. Every site of one pooling must use the same D (as `harness eval
    /// --score-decimals`); binary and multi-label datasets.
    #[arg(
        long = "score-decimals",
        value_name = "D",
        requires = "site",
        conflicts_with = "paired_request"
    )]
    score_decimals: Option<u32>,
    /// With --site: answer the coordinator's round-2 request (`harness pool --request-out`) with
    /// this site's sums for the exact paired DeLong tests (paired-sums.json in the bundle)
    /// instead of the count tables. The run infers again: the same models on the same data give
    /// the same scores as round 1.
    #[arg(
        long = "paired-request",
        value_name = "REQUEST.json",
        requires = "site"
    )]
    paired_request: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(
    about = "Merge the partial bundles of a sharded run into one bundle (as one unsharded run would write it)",
    long_about = "Merge the partial bundles of `harness run SUITE --shard I/N` (I = 1 … N) into one evidence bundle.\n\n\
        Each part is verified (a changed file refuses the merge) and checked against the others: the \
        same suite, dataset, models, tool, settings, shard count and evaluated engine; every shard \
        1 … N exactly once; their cases cover the run exactly once. predictions.csv keeps the original \
        case order and is byte-identical to an unsharded run's, and so is metrics.json, computed from \
        it by the same code; `harness verify` accepts the result. The agreement figures are pooled; \
        performance stays per machine: each shard's performance.json and manifest.json are kept under \
        shards/part-I/ (pinned by sha256 in the merged manifest) and the report lists each shard's \
        measurements.\n\n\
        Exit status: 0 merged and every acceptance criterion passed; 1 a criterion failed; 2 missing, \
        overlapping, inconsistent or changed shards (named), or invalid options; 3 merged but a \
        backend failed in some shard.",
    after_help = "Examples:\n  \
        harness merge results/parts/part-1 results/parts/part-2 results/parts/part-3 --out results/merged\n  \
        harness merge results/parts/part-* --out results/merged --fail-under auroc=0.85 && harness verify results/merged"
)]
pub struct MergeArgs {
    /// The partial bundles (one per shard, any order).
    #[arg(value_name = "PART_DIR", required = true)]
    parts: Vec<PathBuf>,
    /// The merged bundle's folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    // The gate, beside the suite's [acceptance], applied to the merged results.
    #[command(flatten)]
    gate: GateArgs,
    /// Sign the merged manifest.json with this ed25519 secret key.
    #[arg(long, value_name = "KEY")]
    sign_key: Option<PathBuf>,
    /// An ed25519 public key (hex) the parts were signed with (repeatable): each part's
    /// signature is checked against them before it is merged. Signed parts are refused without.
    #[arg(long = "public-key", value_name = "FILE")]
    public_keys: Vec<PathBuf>,
}

/// This program as the manifest records it (the commit from the build, when built in git).
pub(crate) fn tool() -> ToolInfo {
    ToolInfo {
        name: "harness".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit: Some(env!("HARNESS_GIT_COMMIT").to_string()).filter(|s| !s.is_empty()),
    }
}

/// Prints gate results; true when all passed.
pub fn report_gate(results: &[GateResult]) -> bool {
    for r in results {
        if r.passed {
            errln!("gate: pass  {}", r.message);
        } else {
            errln!("gate: FAIL  {}", r.message);
        }
    }
    results.iter().all(|r| r.passed)
}

/// Prints the gate's verdicts; exit status 1 when one failed.
pub fn gate_exit(results: &[GateResult]) -> ExitCode {
    if report_gate(results) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let options = RunOptions {
        suite: args.suite,
        out: args.out,
        registry: args.registry,
        data_root: crate::data_root(args.data_root.as_deref()),
        extra_criteria: args.gate.unchecked()?,
        remember_hashes: !args.full_check,
        no_perf: args.no_perf,
        quick: args.quick,
        sign_key: args.sign_key,
        threads: None,
        tool: Some(tool()),
        shard: args
            .shard
            .as_deref()
            .map(|s| Shard::parse(s, |k| std::env::var(k).ok()))
            .transpose()
            .map_err(anyhow::Error::msg)?,
        site: args.site,
        min_level_cases: Some(args.min_level_cases),
        score_decimals: args.score_decimals,
        paired_request: match &args.paired_request {
            Some(p) => {
                let bytes = std::fs::read(p)
                    .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", p.display()))?;
                Some(
                    harness_pipeline::SiteRequest::from_json(&bytes)
                        .map_err(|e| anyhow::anyhow!("{}: not valid: {e}", p.display()))?,
                )
            }
            None => None,
        },
    };
    let bars = crate::progress::Bars::default();
    let outcome = run_suite(&options, &bars)?;
    drop(bars);
    if let Some(shard) = &options.shard {
        let dir = outcome.out_dir.display();
        outln!(
            "partial bundle ({shard}): {dir}\nmerge every shard with `harness merge PART_DIR... --out DIR`"
        );
        return Ok(exit_status(&outcome));
    }
    if let Some(site) = &options.site {
        let dir = outcome.out_dir.display();
        let file = if options.paired_request.is_some() {
            harness_pipeline::SUMS_FILE
        } else {
            harness_pipeline::SITE_FILE
        };
        outln!(
            "site bundle ({site}, aggregates only): {dir}\nsend the whole folder to the coordinator, who pools the sites' folders with `harness pool` (the bundle carries {file} with its manifest: the suite's settings and gate, the model and dataset pins and any signature; {file} alone pools unverified, with none of them)"
        );
        return Ok(exit_status(&outcome));
    }
    Ok(finish(&outcome))
}

/// `harness merge PART... --out DIR`.
pub fn merge(args: MergeArgs) -> Result<ExitCode> {
    let options = MergeOptions {
        parts: args.parts,
        out: args.out,
        extra_criteria: args.gate.unchecked()?,
        sign_key: args.sign_key,
        public_keys: args
            .public_keys
            .iter()
            .map(|p| harness_evidence::signing::read_verifying_key(p))
            .collect::<Result<_, _>>()?,
        tool: Some(tool()),
    };
    let bars = crate::progress::Bars::default();
    let outcome = harness_pipeline::merge::merge(&options, &bars)?;
    drop(bars);
    Ok(finish(&outcome))
}

/// Prints what a person reads after a run or a merge and chooses the exit status.
fn finish(outcome: &RunOutcome) -> ExitCode {
    let out_dir = &outcome.out_dir;

    // What a person reads: the evaluation's warnings (kept in metrics.json), then its tables.
    for w in outcome.eval.iter().flat_map(Metrics::warnings) {
        errln!("warning: {w}");
    }
    let predictions = out_dir.join(PREDICTIONS);
    match &outcome.eval {
        Some(Metrics::Binary(r)) => out!("{}", crate::summary::render(r, &predictions)),
        Some(Metrics::Multilabel(r)) => out!(
            "{}{}",
            crate::summary::findings(r, &predictions),
            crate::summary::finding_comparisons(r)
        ),
        Some(Metrics::Multiclass(r)) => out!("{}", crate::summary::classes(r, &predictions)),
        None => {}
    }
    for r in &outcome.candidates {
        for b in &r.backends {
            if let Some(reason) = b.outcome.reason() {
                errln!(
                    "{} on {}: {} — {reason}",
                    r.name,
                    b.backend,
                    b.outcome.status()
                );
            }
        }
    }
    outln!(
        "evidence bundle: {} (check it with `harness verify {}`)",
        out_dir.display(),
        out_dir.display()
    );
    outln!("report: {}", out_dir.join("report.html").display());

    report_gate(&outcome.gate);
    exit_status(outcome)
}

fn exit_status(outcome: &RunOutcome) -> ExitCode {
    if !outcome.gate_passed() {
        ExitCode::from(1)
    } else if outcome.any_failed() {
        errln!(
            "error: a candidate or backend failed; see the manifest and the report's limits section"
        );
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
