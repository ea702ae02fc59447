//! `harness run SUITE`: from model files to a verifiable evidence bundle.
//!
//! Order of work: validate the suite and registry, verify the dataset's hash,
//! load the reference cases, run every candidate on every requested backend
//! (the primary backend's probabilities are the ones evaluated; the others are
//! cross-checked), compute the metrics, measure performance, then write the
//! bundle (predictions, metrics, performance, agreement, report) and its
//! manifest last. A candidate that fails is recorded as failed with its reason;
//! the others go on.

use anyhow::{Context, Result, bail};
use clap::Args;
use harness_backends::{Availability, BackendKind, Device, LoadOptions, agreement, to_tensor};
use harness_data::images::ReadLimits;
use harness_data::registry::{Registry, file_sha256};
use harness_evidence::bundle::BundleWriter;
use harness_evidence::dataset::{ReferenceSet, load_reference};
use harness_evidence::gate::{self, Criterion, Direction, GateResult};
use harness_evidence::manifest::{self, BackendRecord, CandidateRecord, DatasetRecord, InputFile, Manifest, ToolInfo};
use harness_evidence::perf::{PerfPlan, Samples, measure_model};
use harness_evidence::suite::{Suite, find_registry};
use harness_evidence::{EvalSettings, Predictions, evaluate_table, metrics_json, now_rfc3339};
use harness_measure::{BenchReport, Machine, Settings};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
#[command(
    about = "Run a suite: inference on every backend, metrics, performance, evidence bundle and report",
    long_about = "Run a declarative suite (suites/*.toml) end to end and write a tamper-evident evidence bundle.\n\n\
        Steps: validate the suite; verify the dataset's hash against datasets.toml; load the reference \
        cases; run each candidate model on each of its backends (the primary backend's probabilities are \
        evaluated, the others are cross-checked case by case); compute every metric of `harness eval`; \
        measure speed on the suite's hardware profiles and LoadGen scenarios; write predictions.csv, \
        metrics.json, performance.json, agreement.json, report.html, summary.md, figures/*.svg and, last, \
        manifest.json with the sha256 of everything. Check a bundle later with `harness verify DIR`.\n\n\
        Exit status: 0 all candidates ran and every acceptance criterion passed; 1 an acceptance \
        criterion (suite [acceptance], --fail-under, --fail-over) failed; 2 invalid suite, registry, \
        dataset or options; 3 the bundle was written but a candidate or backend failed.",
    after_help = "Examples:\n  \
        harness run suites/example.toml\n  \
        harness run suites/example.toml --out results/mine --fail-under auroc=0.85 --fail-over ece_10=0.05\n  \
        harness run suites/example.toml --no-perf          # accuracy evidence only"
)]
pub struct RunArgs {
    /// The suite file.
    #[arg(value_name = "SUITE.toml")]
    suite: PathBuf,
    /// Bundle folder (default: results/<suite>/<UTC timestamp>/ under the project root).
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
    for (args, dir, flag) in [(under, Direction::Under, "--fail-under"), (over, Direction::Over, "--fail-over")] {
        for a in args {
            out.push(Criterion::parse(a, dir).map_err(|e| anyhow::anyhow!("{flag} {e}"))?);
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

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn bar(len: u64, msg: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} cases ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

/// One candidate's outcome.
struct CandidateRun {
    record: CandidateRecord,
    /// (backend, probabilities) for each backend that produced them; primary first.
    outputs: Vec<(String, Vec<f64>)>,
    model_path: PathBuf,
}

/// The bundle's copy of the suite file.
pub const SUITE_COPY: &str = "suite.toml";

fn rel_to(root: &Path, p: &Path) -> String {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    abs.strip_prefix(&root).unwrap_or(&abs).to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/")
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let started_at = now_rfc3339();
    let suite = Suite::load(&args.suite)?;
    let mut criteria = suite.acceptance.criteria().map_err(|e| anyhow::anyhow!("{}: {e}", args.suite.display()))?;
    criteria.extend(cli_criteria(&args.fail_under, &args.fail_over)?);

    let registry_file = match &args.registry {
        Some(r) => r.clone(),
        None => find_registry(&args.suite)
            .with_context(|| format!("{}: no datasets.toml in its folder or above; pass --registry", args.suite.display()))?,
    };
    let project_root = registry_file.parent().map(Path::to_path_buf).unwrap_or_default();
    let data_root = args.data_root.clone().or_else(|| std::env::var_os("HARNESS_DATA_ROOT").map(PathBuf::from));
    let registry = Registry::load(&registry_file, data_root.as_deref())?;
    let dataset = registry.get(&suite.dataset)?;
    let status = {
        let sp = spinner(&format!("verifying dataset {}", dataset.name));
        let s = registry.check(dataset);
        sp.finish_and_clear();
        s
    };
    if !status.is_verified() {
        bail!("dataset '{}': {status}; refusing to evaluate on data that differs from the registry", dataset.name);
    }
    eprintln!("dataset {}: {} ({})", dataset.name, status, dataset.entry.pin());
    if dataset.entry.synthetic {
        eprintln!("note: dataset '{}' is SYNTHETIC (no patient data); its figures say nothing about clinical performance", dataset.name);
    }

    let subgroups = suite.metrics.subgroups.clone().unwrap_or_else(|| dataset.entry.subgroups.clone());
    let limits = ReadLimits {
        max_width: suite.limits.max_image_side,
        max_height: suite.limits.max_image_side,
        ..ReadLimits::default()
    };
    let cases = {
        let sp = spinner(&format!("loading {} cases", dataset.name));
        let c = load_reference(&registry, dataset, &subgroups, &limits, suite.limits.max_cases);
        sp.finish_and_clear();
        c?
    };
    if cases.labels.iter().all(|&l| l) || cases.labels.iter().all(|&l| !l) {
        eprintln!("warning: the reference set has only one class; AUROC and most statistics will be undefined");
    }
    eprintln!("loaded {} cases ({} positive)", cases.len(), cases.positives());

    let out_dir = match &args.out {
        Some(d) => d.clone(),
        None => {
            let stamp: String = started_at.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            project_root.join("results").join(&suite.name).join(stamp)
        }
    };
    let mut bundle = BundleWriter::create(&out_dir)?;
    eprintln!("writing evidence bundle to {}", out_dir.display());

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let primary = suite.inference.primary_backend;
    let mut runs = Vec::new();
    for c in &suite.candidates {
        runs.push(run_candidate(&suite, c, &project_root, primary, threads, &cases));
    }

    // Predictions of candidates whose primary backend succeeded.
    let ok: Vec<&CandidateRun> = runs.iter().filter(|r| r.record.status == "ok").collect();
    let predictions = Predictions {
        case_ids: cases.case_ids.clone(),
        labels: cases.labels.clone(),
        groups: cases.groups.clone(),
        candidates: ok.iter().map(|r| (r.record.name.clone(), r.outputs[0].1.clone())).collect(),
    };
    let settings = EvalSettings {
        label: harness_evidence::predictions::LABEL.to_string(),
        scores: predictions.candidates.iter().map(|(n, _)| n.clone()).collect(),
        groups: subgroups.clone(),
        threshold: suite.metrics.threshold,
        target_specificities: suite.metrics.target_specificities.clone(),
        bootstrap: suite.metrics.bootstrap,
        seed: suite.metrics.seed,
    };
    let pred_bytes = predictions.to_csv();
    bundle.write("predictions.csv", &pred_bytes)?;
    let report = if settings.scores.is_empty() {
        None
    } else {
        let sp = spinner("computing metrics");
        // Evaluate the bytes just written, through the reader `verify` uses.
        let spec = harness_data::EvalSpec { label: &settings.label, scores: &settings.scores, groups: &settings.groups };
        let table = harness_data::parse_eval_csv(&pred_bytes, &out_dir.join("predictions.csv"), &spec)?;
        let r = evaluate_table(&table, &settings.options());
        sp.finish_and_clear();
        bundle.write("metrics.json", &metrics_json(&r))?;
        Some(r)
    };

    // Cross-backend agreement, per candidate.
    let mut agreements = Vec::new();
    for r in &runs {
        if r.outputs.len() >= 2 {
            match agreement(&r.outputs, suite.metrics.threshold) {
                Ok(a) => agreements.push(serde_json::json!({"candidate": r.record.name, "threshold": a.threshold, "pairs": a.pairs})),
                Err(e) => eprintln!("warning: {}: agreement not computed: {e}", r.record.name),
            }
        }
    }
    let mut agreement_json = serde_json::to_vec_pretty(&serde_json::json!({
        "tolerance": suite.inference.agreement_tolerance,
        "candidates": agreements,
    }))?;
    agreement_json.push(b'\n');
    bundle.write("agreement.json", &agreement_json)?;

    // Performance.
    let machine = Machine::capture();
    let mut perf_settings = if args.quick { Settings::quick() } else { Settings::default() };
    let p = &suite.performance;
    if !args.quick {
        if let Some(s) = p.min_duration_s {
            perf_settings.min_duration = Duration::from_secs_f64(s);
        }
        if let Some(q) = p.min_queries {
            perf_settings.min_query_count = q;
        }
        if let Some(s) = p.max_duration_s {
            perf_settings.max_duration = Duration::from_secs_f64(s);
        }
    }
    if let Some(q) = p.target_qps {
        perf_settings.target_qps = q;
    }
    if let Some(b) = p.latency_bound_ms {
        perf_settings.latency_bound = Duration::from_secs_f64(b / 1000.0);
    }
    let mut bench = BenchReport::new(machine.clone(), perf_settings.clone());
    let mut not_measured = Vec::new();
    if p.skip || args.no_perf {
        not_measured.extend(p.profiles.iter().map(|n| (n.clone(), "performance measurement skipped".to_string())));
    } else {
        let plan = PerfPlan {
            profiles: p.profiles.iter().map(|n| harness_measure::profile(n)).collect::<Result<_, _>>()?,
            scenarios: p.scenarios.clone(),
            batch_sizes: p.batch_sizes.clone(),
            settings: perf_settings,
        };
        for r in &ok {
            let c = suite.candidates.iter().find(|c| c.name == r.record.name).context("candidate")?;
            let n = cases.len().min(64);
            let samples = match to_tensor(&c.preprocess, &cases.images[..n]) {
                Ok(b) => Samples(b),
                Err(e) => {
                    eprintln!("warning: {}: performance not measured: {e}", c.name);
                    continue;
                }
            };
            let backends = p.backends.clone().unwrap_or_else(|| backends_of(c, primary));
            for kind in backends {
                let backend = kind.backend();
                let progress = |label: &str| {
                    let pb = ProgressBar::new(1000);
                    pb.set_style(
                        ProgressStyle::with_template("{msg:40} [{bar:30}] {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    pb.set_message(label.to_string());
                    Some(pb)
                };
                bench.results.extend(measure_model(
                    backend.as_ref(),
                    &r.model_path,
                    &c.name,
                    &c.sha256,
                    &samples,
                    &plan,
                    &progress,
                ));
            }
        }
    }
    let mut perf_json = serde_json::to_vec_pretty(&bench)?;
    perf_json.push(b'\n');
    bundle.write("performance.json", &perf_json)?;

    // Report.
    let tool = ToolInfo {
        name: "harness".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit: Some(env!("HARNESS_GIT_COMMIT").to_string()).filter(|s| !s.is_empty()),
    };
    let dataset_record = DatasetRecord {
        name: dataset.name.clone(),
        title: dataset.entry.title.clone(),
        format: dataset.entry.format.to_string(),
        path: rel_to(&project_root, &registry.location(dataset)),
        digest: dataset.entry.pin().to_string(),
        cases: cases.len() as u64,
        positives: cases.positives() as u64,
        synthetic: dataset.entry.synthetic,
        licence: dataset.entry.licence.clone(),
        provenance: dataset.entry.provenance.clone(),
        citation: dataset.entry.citation.clone(),
    };
    let input = crate::report_input::build(crate::report_input::Parts {
        suite: &suite,
        dataset: &dataset_record,
        tool: &tool,
        date: &started_at,
        machine: &machine,
        labels: &cases.labels,
        candidates: &runs.iter().map(|r| (&r.record, r.outputs.first().map(|o| &o.1))).collect::<Vec<_>>(),
        eval: report.as_ref(),
        agreements: &agreements,
        bench: &bench,
        not_measured: &not_measured,
    });
    bundle.write("report.html", harness_report::render_html(&input).as_bytes())?;
    bundle.write("summary.md", harness_report::render_markdown(&input).as_bytes())?;
    for fig in harness_report::render_figures(&input) {
        if let Ok(svg) = &fig.svg {
            bundle.write(&format!("figures/{}", fig.file_name()), svg.as_bytes())?;
        }
    }

    // A copy of the suite travels with the evidence: the bundle alone says what was run, even
    // when the suite file lives outside the project root (verify checks the copy's hash).
    let suite_bytes = std::fs::read(&args.suite).with_context(|| format!("{}: cannot read", args.suite.display()))?;
    let suite_sha = harness_data::registry::sha256_hex(&suite_bytes);
    bundle.write(SUITE_COPY, &suite_bytes)?;
    let manifest = Manifest {
        format: manifest::FORMAT.into(),
        complete: true,
        tool,
        suite: InputFile {
            path: rel_to(&project_root, &args.suite),
            sha256: suite_sha,
            name: Some(suite.name.clone()),
            version: Some(suite.version.clone()),
        },
        dataset: dataset_record,
        candidates: runs.iter().map(|r| r.record.clone()).collect(),
        evaluation: settings,
        primary_backend: primary.name().into(),
        machine: serde_json::to_value(&machine)?,
        started_at,
        finished_at: now_rfc3339(),
        files: Default::default(),
    };
    let signer = match &args.sign_key {
        Some(k) => Some(harness_evidence::signing::read_signing_key(k)?),
        None => None,
    };
    bundle.finish(manifest, signer.as_ref())?;

    // What a person reads.
    if let Some(r) = &report {
        print!("{}", crate::summary::render(r, &out_dir.join("predictions.csv")));
    }
    for r in &runs {
        for b in &r.record.backends {
            if b.status != "ok" {
                eprintln!("{} on {}: {} — {}", r.record.name, b.backend, b.status, b.reason.as_deref().unwrap_or(""));
            }
        }
    }
    println!("evidence bundle: {} (check it with `harness verify {}`)", out_dir.display(), out_dir.display());
    println!("report: {}", out_dir.join("report.html").display());

    let gate_ok = match &report {
        Some(r) => report_gate(&gate::check(r, &criteria)),
        None => criteria.is_empty(),
    };
    let failed = runs.iter().any(|r| r.record.status != "ok" || r.record.backends.iter().any(|b| b.status == "failed"));
    Ok(if !gate_ok {
        ExitCode::from(1)
    } else if failed {
        eprintln!("error: a candidate or backend failed; see the manifest and the report's limits section");
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// The candidate's backends with the primary first, each once.
fn backends_of(c: &harness_evidence::suite::Candidate, primary: BackendKind) -> Vec<BackendKind> {
    let mut v = vec![primary];
    v.extend(c.backends.iter().copied().filter(|&k| k != primary));
    v
}

fn run_candidate(
    suite: &Suite,
    c: &harness_evidence::suite::Candidate,
    root: &Path,
    primary: BackendKind,
    threads: usize,
    cases: &ReferenceSet,
) -> CandidateRun {
    let model_path = root.join(&c.model);
    let mut record = CandidateRecord {
        name: c.name.clone(),
        model: InputFile { path: c.model.clone(), sha256: c.sha256.clone(), name: None, version: None },
        backends: Vec::new(),
        status: "ok".into(),
        reason: None,
    };
    let fail = |mut record: CandidateRecord, reason: String| {
        eprintln!("candidate {}: FAILED: {reason}", record.name);
        record.status = "failed".into();
        record.reason = Some(reason);
        CandidateRun { record, outputs: Vec::new(), model_path: model_path.clone() }
    };
    match std::fs::metadata(&model_path) {
        Ok(m) if m.len() > suite.limits.max_model_bytes() => {
            return fail(record, format!("{}: {} MiB exceeds limits.max_model_mib = {}", c.model, m.len() >> 20, suite.limits.max_model_mib));
        }
        Ok(_) => {}
        Err(e) => return fail(record, format!("{}: {e}", model_path.display())),
    }
    match file_sha256(&model_path) {
        Ok(h) if h.eq_ignore_ascii_case(&c.sha256) => {}
        Ok(h) => {
            // The manifest records the file that is there (so the bundle stays a consistent,
            // verifiable record of the refusal); the reason keeps the suite's pin.
            record.model.sha256 = h.clone();
            return fail(record, format!("{}: sha256 {h} differs from the suite's {}; not evaluated", c.model, c.sha256));
        }
        Err(e) => return fail(record, format!("{}: {e}", model_path.display())),
    }
    let mut outputs = Vec::new();
    for kind in backends_of(c, primary) {
        let backend = kind.backend();
        let version = match backend.availability() {
            Availability::Available { version } => version,
            Availability::Unavailable { reason } => {
                record.backends.push(BackendRecord { backend: kind.name().into(), version: None, status: "unavailable".into(), reason: Some(reason.clone()) });
                if kind == primary {
                    return fail(record, format!("primary backend {kind} unavailable: {reason}"));
                }
                continue;
            }
        };
        let pb = bar(cases.len() as u64, &format!("{} on {kind}", c.name));
        let res = harness_evidence::inference::predict(
            backend.as_ref(),
            &model_path,
            &LoadOptions { threads, device: Device::Cpu },
            &c.preprocess,
            &c.output,
            &cases.images,
            suite.inference.batch_size,
            &|n| pb.inc(n),
        );
        pb.finish_and_clear();
        match res {
            Ok(p) => {
                record.backends.push(BackendRecord { backend: kind.name().into(), version: Some(version), status: "ok".into(), reason: None });
                outputs.push((kind.name().to_string(), p));
            }
            Err(e) => {
                record.backends.push(BackendRecord { backend: kind.name().into(), version: Some(version), status: "failed".into(), reason: Some(e.clone()) });
                if kind == primary {
                    let mut r = fail(record, format!("primary backend {kind}: {e}"));
                    r.outputs.clear();
                    return r;
                }
                eprintln!("candidate {} on {kind}: failed: {e}", c.name);
            }
        }
    }
    CandidateRun { record, outputs, model_path }
}
