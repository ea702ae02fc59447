//! The main job as a library: a suite run from model files to a sealed
//! evidence bundle.
//!
//! [`run_suite`] runs the stages in order; each is a public function callable
//! and testable on its own, so a scheduler's shard, a test or another program
//! can drive part of a run:
//!
//! 1. [`plan`]: read the suite (once; its bytes are the copy in the bundle),
//!    the registry and the signing key; verify the dataset against its pin
//!    (a wrong dataset is refused before any work); build the [`CaseIndex`]
//!    (ids, labels, groups, file locations — no pixels); create the bundle.
//! 2. [`infer()`]: stream the cases through every candidate on every engine
//!    with bounded memory (see [`infer`](mod@infer)); each image is read,
//!    hashed and decoded once per run, each model read and hashed once from
//!    the bytes the engines load.
//! 3. [`evaluate`]: predictions.csv, metrics.json (through the reader
//!    `verify` uses) and agreement.json.
//! 4. [`measure`]: LoadGen scenarios on the suite's profiles, on real
//!    preprocessed cases.
//! 5. [`render`]: report.html, summary.md, figures.
//! 6. [`seal`]: suite copy and manifest, written last, optionally signed.
//!
//! Progress and warnings go to an [`Observer`]; nothing here prints, parses
//! arguments or draws progress bars.

pub mod across;
pub mod cases;
pub mod coordinator;
pub mod infer;
pub mod merge;
pub mod observer;
pub mod perf;
mod planning;
pub mod pooled;
pub mod recheck;
pub mod render;
mod site;

pub use planning::plan;
use planning::{read_signer, shard_positions};
use site::write_site_summary;
pub use site::{RequestKind, SITE_FILE, SUMS_FILE, SiteRequest};

pub use cases::{
    CaseImages, CaseIndex, DatasetCheck, DecodedCase, Targets, load_index, load_index_cached,
};
pub use infer::{
    CandidateOutcome, EvaluatedEngine, InferConfig, InferenceOutcome, agreement_sample,
};
pub use observer::{Observer, Silent, Stage};
pub use perf::{PerfOverrides, PerfPlan, Samples, measure_model};

use harness_backends::agreement;
use harness_data::images::ImageError;
use harness_data::registry::{Dataset, DatasetStatus, DatasetTask, Registry, RegistryError};
use harness_evidence::bundle::{BundleError, BundleWriter, FolderLock};
use harness_evidence::evaluation::EvaluateError;
use harness_evidence::gate::{Acceptance, Gate, GateResult, Requested, TaskCriterion};
use harness_evidence::manifest::{
    self, CandidateRecord, DatasetRecord, InferenceRecord, InputFile, Manifest, Outcome, ToolInfo,
};
use harness_evidence::manifest::{AGREEMENT, METRICS, PERFORMANCE, PREDICTIONS};
use harness_evidence::predictions::{label_column, score_column};
use harness_evidence::shard::{SHARD_FILE, SHARD_FORMAT, Shard, ShardFile};
use harness_evidence::suite::{Suite, SuiteError};
use harness_evidence::{
    ClassColumns, EvalSettings, FindingColumns, Metrics, Predictions, evaluate_predictions,
    evaluate_table, now_rfc3339,
};
use harness_measure::{BenchReport, Machine};
use std::path::{Path, PathBuf};

/// The bundle's copy of the suite file.
pub const SUITE_COPY: &str = "suite.toml";

/// A model file's bytes as read once, with their sha256: what the engines load is what was hashed.
#[derive(Debug, Clone)]
pub struct ModelBytes {
    /// Where it was read from (names it in messages; locates external data).
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Lower-case hex sha256 of `bytes`.
    pub sha256: String,
}

/// Why a run stopped. Candidate and engine failures are not errors: they are
/// recorded in the bundle and the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Invalid options or limits.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The dataset is not the registered one (or cannot be read).
    #[error(
        "dataset '{dataset}': {status}; refusing to evaluate on data that differs from the registry"
    )]
    DatasetRefused {
        dataset: String,
        status: Box<DatasetStatus>,
    },
    /// A file of the dataset changed after it was verified.
    #[error(
        "{file}: changed after the dataset was verified (sha256 {actual}, verified as {expected}); the run is stopped so that the evidence certifies the bytes evaluated"
    )]
    DataChanged {
        file: PathBuf,
        expected: String,
        actual: String,
    },
    /// The labels file (or archive labels) cannot be used.
    #[error("{file}: {message}")]
    Labels { file: PathBuf, message: String },
    /// A field of the labels file.
    #[error("{file}:{line}: column '{column}' has '{value}': {message}")]
    LabelField {
        file: PathBuf,
        line: u64,
        column: String,
        value: String,
        message: String,
    },
    /// A case's image that cannot be read or decoded (the run stops: a case left out would
    /// change the evaluated set without a word).
    #[error("case '{case}': {source}")]
    Image {
        case: String,
        #[source]
        source: ImageError,
    },
    /// Images of two bit depths in one dataset: a preprocessing `scale` multiplies raw values
    /// (0-255, or 0-65535), so no one scale suits both.
    #[error(
        "case '{case}' is a {bits}-bit image, but case '{first}' is {first_bits}-bit: a preprocessing scale multiplies raw values (0-255 or 0-65535), so no one scale suits both; convert the dataset's images to one bit depth"
    )]
    MixedBitDepth {
        first: String,
        first_bits: u8,
        case: String,
        bits: u8,
    },
    /// A dataset file that cannot be read or decoded outside any one case's image (an archive,
    /// the DICOM headers read for the index).
    #[error(transparent)]
    DataFile(#[from] ImageError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The signing key.
    #[error("{0}")]
    Key(String),
    /// The metrics of the predictions just written.
    #[error("{0}")]
    Metrics(String),
    /// A report could not be written.
    #[error(transparent)]
    Report(#[from] harness_report::ReportError),
}

/// What `harness run` (or any caller) asks of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The suite file.
    pub suite: PathBuf,
    /// Bundle folder (default: a new `results/<suite>/<UTC timestamp>[-n]/` under the project root).
    pub out: Option<PathBuf>,
    /// Dataset registry (default: the nearest `datasets.toml` above the suite).
    pub registry: Option<PathBuf>,
    /// Folder that dataset paths are relative to (default: the registry's folder).
    pub data_root: Option<PathBuf>,
    /// Criteria besides the suite's `[acceptance]` (checked against the dataset's task).
    pub extra_criteria: Vec<TaskCriterion>,
    /// Remember the hashes of the dataset's files in `.harness-cache/` beside the registry and
    /// take them from there for files whose stamps (size, times, inode) are unchanged, instead
    /// of reading every file twice per run (see [`harness_data::registry::HashCache`]). The
    /// folder digest is still compared with the pin, and every file is still hashed as it is
    /// decoded. Off (`false`, the default): every file is read for the check.
    pub remember_hashes: bool,
    /// Skip performance measurement.
    pub no_perf: bool,
    /// Short performance runs instead of the suite's settings.
    pub quick: bool,
    /// Sign the manifest with this ed25519 secret key file.
    pub sign_key: Option<PathBuf>,
    /// Intra-op threads per engine for the accuracy pass (default: every logical CPU).
    pub threads: Option<usize>,
    /// The program recorded in the manifest (default: `harness`, this library's version,
    /// commit unknown); the binary passes its own version and commit.
    pub tool: Option<ToolInfo>,
    /// Run only this shard's cases and write a partial bundle (predictions, no metrics) for
    /// [`merge`] to combine.
    pub shard: Option<Shard>,
    /// Run as this site of a federated evaluation: the bundle holds the site's count tables
    /// (`site.json`, for `harness pool`) instead of predictions, metrics and a report.
    pub site: Option<String>,
    /// With `site`: answer this round-2 request of the coordinator (`harness pool
    /// --request-out`) instead, with the site's paired sums (`paired-sums.json`).
    pub paired_request: Option<SiteRequest>,
    /// With `site`: the fewest cases a subgroup level may hold in the summary (`None`:
    /// [`harness_metrics::MIN_LEVEL_CASES`]; see [`harness_metrics::check_level_sizes`]).
    pub min_level_cases: Option<u64>,
    /// With `site`: round every score to this many decimals before counting it
    /// ([`harness_metrics::pool::round_to_grid`]; binary and multi-label datasets): the summary
    /// then reveals only the rounded scores. Every site of one pooling must use the same grid.
    pub score_decimals: Option<u32>,
}

/// A shard's part of the run: which cases of the full index it holds.
#[derive(Debug, Clone)]
pub struct ShardPlan {
    pub shard: Shard,
    /// What the partition dealt out: `patient column '<col>'` or `cases`.
    pub unit: String,
    /// Cases and positive cases of the full index.
    pub total_cases: usize,
    pub total_positives: usize,
    /// This shard's cases: their positions in the full index, ascending.
    pub positions: Vec<usize>,
}

/// Everything decided before inference.
#[derive(Debug)]
pub struct Plan {
    pub suite: Suite,
    /// The suite file's bytes as read (parsed, hashed and copied into the bundle).
    pub suite_bytes: Vec<u8>,
    pub suite_path: PathBuf,
    /// The suite's `[acceptance]` and the caller's criteria, checked against the task.
    pub criteria: Gate,
    /// The same criteria as given, by where they came from (the manifest records them).
    pub requested: Requested,
    pub registry: Registry,
    pub dataset: Dataset,
    /// How the dataset's pin was checked: verified (the plan exists only then), over how
    /// many files, how many of their hashes taken from the hash cache.
    pub dataset_check: DatasetCheck,
    pub project_root: PathBuf,
    pub subgroups: Vec<String>,
    /// The dataset's patient (cluster) column, when it declares one: its values are a column
    /// of `predictions.csv` and the statistics add patient-clustered CIs.
    pub cluster: Option<String>,
    /// The cases this run evaluates (a shard's only, when sharded).
    pub cases: CaseIndex,
    /// Set when the run is one shard of a larger one.
    pub shard: Option<ShardPlan>,
    /// Set when the run is a site of a federated evaluation (aggregates only).
    pub site: Option<String>,
    /// The coordinator's round-2 request a site run answers, when it does.
    pub paired_request: Option<SiteRequest>,
    /// The fewest cases a subgroup level may hold in a site summary.
    pub min_level_cases: u64,
    /// The score grid of a site summary (decimals), when one was asked for.
    pub score_decimals: Option<u32>,
    pub out_dir: PathBuf,
    /// The lock on `out_dir`, taken before the dataset's check where the folder existed
    /// (`--out` into an earlier bundle): the bundle's writer keeps it.
    pub out_lock: Option<FolderLock>,
    pub started_at: String,
    pub signer: Option<ed25519_dalek::SigningKey>,
    pub tool: ToolInfo,
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub out_dir: PathBuf,
    /// The statistics (absent when no candidate produced predictions).
    pub eval: Option<Metrics>,
    /// Every acceptance criterion's result.
    pub gate: Vec<GateResult>,
    /// Each candidate as the manifest records it.
    pub candidates: Vec<CandidateRecord>,
}

impl RunOutcome {
    /// True when every criterion passed (no criteria pass trivially; criteria without metrics fail).
    #[must_use]
    pub fn gate_passed(&self) -> bool {
        match &self.eval {
            Some(_) => self.gate.iter().all(|r| r.passed),
            None => self.gate.is_empty(),
        }
    }

    /// True when a candidate or one of its engines failed.
    #[must_use]
    pub fn any_failed(&self) -> bool {
        self.candidates
            .iter()
            .any(|r| !r.outcome.is_ok() || r.backends.iter().any(|b| b.outcome.is_failed()))
    }
}

/// Where a run remembers dataset file hashes ([`RunOptions::remember_hashes`]), beside the
/// registry.
pub const HASH_CACHE_DIR: &str = ".harness-cache";

/// Runs a suite end to end: every stage in order, the manifest last.
///
/// # Errors
///
/// A [`PipelineError`] for invalid input (suite, registry, dataset, labels,
/// images) or an unwritable bundle. The bundle then keeps its `INCOMPLETE`
/// marker and whatever was written.
pub fn run_suite(
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<RunOutcome, PipelineError> {
    let mut plan = plan(options, observer)?;
    let mut bundle = BundleWriter::create_locked(&plan.out_dir, plan.out_lock.take())?;
    observer.info(&format!(
        "writing evidence bundle to {}",
        plan.out_dir.display()
    ));
    crate::observer::earlier_bundle(&bundle, observer);

    observer.stage_started(
        Stage::Infer,
        &format!(
            "{} cases × {} candidates",
            plan.cases.len(),
            plan.suite.candidates.len()
        ),
    );
    let inference = infer(&plan, options, observer);
    observer.stage_finished(Stage::Infer);
    let mut inference = inference?;

    if plan.shard.is_some() || plan.site.is_some() {
        return run_shard_rest(&plan, inference, bundle, options, observer);
    }

    observer.stage_started(Stage::Evaluate, "computing metrics");
    let evaluated = evaluate(&plan, &mut inference, &mut bundle, observer);
    observer.stage_finished(Stage::Evaluate);
    let evaluated = evaluated?;

    // The verdicts go into the report and the manifest, not only into the exit status.
    let gate = evaluated
        .report
        .as_ref()
        .map(|r| plan.criteria.check(r))
        .unwrap_or_default();

    observer.stage_started(Stage::Measure, "measuring performance");
    let measured = measure(&plan, &inference, options, observer);
    observer.stage_finished(Stage::Measure);
    let measured = measured?;
    bundle.write(PERFORMANCE, &pretty(&measured.bench))?;

    observer.stage_started(Stage::Render, "writing the report");
    let rendered = render(&plan, &inference, &evaluated, &measured, &gate, &mut bundle);
    observer.stage_finished(Stage::Render);
    rendered?;

    observer.stage_started(Stage::Seal, "sealing the manifest");
    let sealed = seal(&plan, &inference, &evaluated, &measured, &gate, bundle);
    observer.stage_finished(Stage::Seal);
    sealed?;

    Ok(RunOutcome {
        out_dir: plan.out_dir.clone(),
        eval: evaluated.report,
        gate,
        candidates: inference.candidates.into_iter().map(|c| c.record).collect(),
    })
}

/// A shard's (or a federated site's) remaining stages: its predictions and agreement sample,
/// `shard.json` (or the site's count tables `site.json` instead of predictions), its own
/// performance measurement and the manifest; no metrics or report (`merge` or `pool` computes
/// them).
fn run_shard_rest(
    plan: &Plan,
    mut inference: InferenceOutcome,
    mut bundle: BundleWriter,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<RunOutcome, PipelineError> {
    observer.stage_started(Stage::Evaluate, "writing the shard's predictions");
    let evaluated = evaluate(plan, &mut inference, &mut bundle, observer);
    observer.stage_finished(Stage::Evaluate);
    let evaluated = evaluated?;
    observer.stage_started(Stage::Measure, "measuring performance");
    let measured = measure(plan, &inference, options, observer);
    observer.stage_finished(Stage::Measure);
    let measured = measured?;
    bundle.write(PERFORMANCE, &pretty(&measured.bench))?;
    observer.stage_started(Stage::Seal, "sealing the manifest");
    let sealed = seal(plan, &inference, &evaluated, &measured, &[], bundle);
    observer.stage_finished(Stage::Seal);
    sealed?;
    Ok(RunOutcome {
        out_dir: plan.out_dir.clone(),
        eval: None,
        gate: Vec::new(),
        candidates: inference.candidates.into_iter().map(|c| c.record).collect(),
    })
}

/// The infer stage: every candidate on every engine over every case.
///
/// # Errors
///
/// As [`infer::infer`].
pub fn infer(
    plan: &Plan,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<InferenceOutcome, PipelineError> {
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let config = InferConfig {
        primary: plan.suite.inference.primary_backend,
        device: plan.suite.inference.device,
        batch_size: plan.suite.inference.batch_size,
        threads,
        agreement_cases: plan.suite.inference.agreement_cases,
        seed: plan.suite.metrics.seed,
        sample: plan.shard.as_ref().map(|s| {
            // The full run's sample, restricted to this shard's cases: merged shards were
            // cross-checked on exactly the cases one unsharded run would have been.
            let full = agreement_sample(
                s.total_cases,
                plan.suite.inference.agreement_cases,
                plan.suite.metrics.seed,
            );
            s.positions
                .iter()
                .enumerate()
                .filter(|(_, p)| full.binary_search(p).is_ok())
                .map(|(local, _)| local)
                .collect()
        }),
        max_model_bytes: plan.suite.limits.max_model_bytes(),
        max_model_mib: plan.suite.limits.max_model_mib,
        names_no_case: plan.site.is_some(),
    };
    infer::infer(
        &plan.cases,
        &plan.suite.candidates,
        &plan.project_root,
        &config,
        observer,
    )
}

/// `predictions.csv`'s columns and the settings that evaluate it: one label column and one
/// column per candidate for a binary dataset; a label column per finding and a column per
/// finding each candidate scores for a multi-label one.
fn predictions_and_settings(
    plan: &Plan,
    inference: &InferenceOutcome,
) -> (Predictions, EvalSettings) {
    let cases = &plan.cases;
    let suite = &plan.suite;
    let mut candidates = Vec::new();
    let mut findings = Vec::new();
    let mut classes = None;
    match &cases.targets {
        Targets::Binary(_) => {
            for c in &inference.candidates {
                if let Some(p) = &c.probabilities {
                    candidates.push((c.record.name.clone(), p.clone()));
                }
            }
        }
        Targets::Multilabel {
            findings: names, ..
        } => {
            findings = names
                .iter()
                .map(|f| FindingColumns {
                    name: f.clone(),
                    label: label_column(f),
                    scores: Default::default(),
                })
                .collect();
            for (c, spec) in inference.candidates.iter().zip(&suite.candidates) {
                let Some(p) = &c.probabilities else { continue };
                let width = spec.output.width();
                for (k, name) in spec.output.names().enumerate() {
                    let column = score_column(&c.record.name, name);
                    candidates.push((
                        column.clone(),
                        p.iter().skip(k).step_by(width).copied().collect(),
                    ));
                    if let Some(f) = findings.iter_mut().find(|f| f.name == name) {
                        f.scores.insert(c.record.name.clone(), column);
                    }
                }
            }
            // The file lists candidates in suite order, each with its findings in output order.
        }
        Targets::Multiclass { classes: names, .. } => {
            let mut models = indexmap::IndexMap::new();
            for (c, spec) in inference.candidates.iter().zip(&suite.candidates) {
                let Some(p) = &c.probabilities else { continue };
                let width = spec.output.width();
                let order: Vec<&str> = spec.output.names().collect();
                // In the dataset's class order, whatever the model's column order.
                let mut columns = Vec::with_capacity(names.len());
                for class in names {
                    let k = order.iter().position(|n| n == class).unwrap_or_default();
                    let column = score_column(&c.record.name, class);
                    candidates.push((
                        column.clone(),
                        p.iter().skip(k).step_by(width).copied().collect(),
                    ));
                    columns.push(column);
                }
                models.insert(c.record.name.clone(), columns);
            }
            classes = Some(ClassColumns {
                classes: names.clone(),
                label: harness_evidence::predictions::LABEL.to_string(),
                models,
            });
        }
    }
    let settings = EvalSettings {
        label: harness_evidence::predictions::LABEL.to_string(),
        scores: match &cases.targets {
            Targets::Binary(_) => candidates.iter().map(|(n, _)| n.clone()).collect(),
            Targets::Multilabel { .. } | Targets::Multiclass { .. } => inference
                .candidates
                .iter()
                .filter(|c| c.probabilities.is_some())
                .map(|c| c.record.name.clone())
                .collect(),
        },
        groups: plan.subgroups.clone(),
        cluster: plan.cluster.clone(),
        threshold: suite.metrics.threshold,
        target_specificities: suite.metrics.target_specificities.clone(),
        bootstrap: suite.metrics.bootstrap,
        seed: suite.metrics.seed,
        sens_ci_bootstrap: suite.metrics.sens_ci_bootstrap,
        task: match &cases.targets {
            Targets::Binary(_) => DatasetTask::Binary,
            Targets::Multilabel { .. } => DatasetTask::Multilabel,
            Targets::Multiclass { .. } => DatasetTask::Multiclass,
        },
        findings,
        classes,
    };
    let predictions = Predictions {
        case_ids: cases.case_ids.clone(),
        labels: cases.targets.columns(),
        groups: cases.groups.clone(),
        candidates,
    };
    (predictions, settings)
}

/// What the evaluate stage wrote.
#[derive(Debug)]
pub struct Evaluated {
    pub settings: EvalSettings,
    pub report: Option<Metrics>,
    /// `{candidate, threshold, pairs}` per candidate that ran on two or more engines.
    pub agreements: Vec<serde_json::Value>,
    /// Per finding or class (not for a binary task): the labels and candidate scores the
    /// report's ROC overlays draw, read back from `predictions.csv`.
    pub target_curves: Vec<harness_report::TargetCurves>,
}

/// The evaluate stage: predictions.csv, metrics.json (computed from the bytes just written,
/// through the reader `verify` uses) and agreement.json.
///
/// `[inference] agreement_tolerance` decides the outcome: a secondary engine whose
/// probabilities differ from the evaluated engine's by more than it on any sampled case is
/// recorded as failed (with the difference as the reason), so the run exits 3. Decisions that
/// flip at the threshold within the tolerance are reported, not failed.
///
/// # Errors
///
/// A bundle write failure, or predictions the reader refuses.
pub fn evaluate(
    plan: &Plan,
    inference: &mut InferenceOutcome,
    bundle: &mut BundleWriter,
    observer: &dyn Observer,
) -> Result<Evaluated, PipelineError> {
    let cases = &plan.cases;
    let suite = &plan.suite;
    let (predictions, settings) = predictions_and_settings(plan, inference);
    let pred_bytes = predictions.to_csv();
    drop(predictions);
    if let Some(site) = &plan.site {
        // A site of a federated evaluation: only its count tables leave it.
        write_site_summary(site, &pred_bytes, plan, &settings, bundle)?;
    } else {
        bundle.write(PREDICTIONS, &pred_bytes)?;
    }
    if let Some(s) = &plan.shard {
        let file = ShardFile {
            format: SHARD_FORMAT.into(),
            shard: s.shard.clone(),
            unit: s.unit.clone(),
            total_cases: s.total_cases as u64,
            positions: s.positions.iter().map(|&p| p as u64).collect(),
            sample_bits: inference.sample_bits,
        };
        bundle.write(SHARD_FILE, &pretty(&file))?;
    }
    let (report, target_curves) =
        if settings.scores.is_empty() || plan.shard.is_some() || plan.site.is_some() {
            (None, Vec::new())
        } else {
            let path = plan.out_dir.join(PREDICTIONS);
            let failed = |e: EvaluateError| PipelineError::Metrics(e.to_string());
            let metrics = evaluate_predictions(&pred_bytes, &path, &settings).map_err(failed)?;
            bundle.write(METRICS, &metrics.to_json())?;
            let curves = render::target_curves(&pred_bytes, &path, &settings).map_err(failed)?;
            (Some(metrics), curves)
        };

    let mut agreements = Vec::new();
    let tolerance = suite.inference.agreement_tolerance;
    for c in &mut inference.candidates {
        if c.sampled.len() < 2 {
            continue;
        }
        let a = match agreement(&c.sampled, suite.metrics.threshold) {
            Ok(a) => a,
            Err(e) => {
                observer.warning(&format!("{}: agreement not computed: {e}", c.record.name));
                continue;
            }
        };
        let evaluated = &c.sampled[0].0;
        for pair in a.pairs.iter().filter(|p| &p.a == evaluated) {
            // NaN compares false: a NaN difference is a disagreement too.
            if pair.max_abs_diff.is_nan() || pair.max_abs_diff > tolerance {
                let reason = format!(
                    "disagrees with {} on the agreement sample: max |Δp| = {:e} exceeds agreement_tolerance {tolerance:e}",
                    pair.a, pair.max_abs_diff
                );
                observer.warning(&format!(
                    "candidate {} on {}: {reason}",
                    c.record.name, pair.b
                ));
                if let Some(r) = c
                    .record
                    .backends
                    .iter_mut()
                    .find(|r| r.backend == pair.b && r.outcome.is_ok())
                {
                    r.outcome = Outcome::failed(reason);
                }
            }
        }
        agreements.push(serde_json::json!({"candidate": c.record.name, "threshold": a.threshold, "pairs": a.pairs}));
    }
    let sample = &inference.sample;
    let agreement_json = pretty(&serde_json::json!({
        "tolerance": suite.inference.agreement_tolerance,
        "cases_checked": sample.len(),
        "cases_total": cases.len(),
        "sampling": sampling_text(sample.len(), cases.len(), suite.metrics.seed),
        "candidates": agreements,
    }));
    bundle.write(AGREEMENT, &agreement_json)?;
    Ok(Evaluated {
        settings,
        report,
        agreements,
        target_curves,
    })
}

/// `predictions.csv` (its bytes, as written) read as the statistics take it, through the reader
/// `verify` uses.
fn parse_predictions(
    pred_bytes: &[u8],
    path: &Path,
    settings: &EvalSettings,
) -> Result<harness_data::EvalTable, PipelineError> {
    let columns = settings.columns();
    let spec = harness_data::EvalSpec {
        label: &settings.label,
        scores: &settings.scores,
        groups: &columns,
    };
    harness_data::parse_eval_csv(pred_bytes, path, &spec)
        .map_err(|e| PipelineError::Metrics(e.to_string()))
}

/// The binary statistics of `predictions.csv` (its bytes, as written) with the run's settings,
/// through the reader `verify` uses; also the parsed table (a merge draws its report from it).
fn metrics_of(
    pred_bytes: &[u8],
    path: &Path,
    settings: &EvalSettings,
) -> Result<(harness_metrics::EvalReport, harness_data::EvalTable), PipelineError> {
    let table = parse_predictions(pred_bytes, path, settings)?;
    let r = evaluate_table(&table, settings.cluster.as_deref(), &settings.options())
        .map_err(|e| PipelineError::Metrics(e.to_string()))?;
    Ok((r, table))
}

fn sampling_text(checked: usize, total: usize, seed: u64) -> String {
    if checked == 0 {
        "none: no candidate ran on a second engine".into()
    } else if checked >= total {
        "all cases".into()
    } else {
        format!(
            "{checked} of {total} cases by selection sampling (Knuth's Algorithm S, Xoshiro256++ seeded from {seed})"
        )
    }
}

fn pretty<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain data structs (no maps with non-string keys) cannot fail.
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// What the measure stage produced.
#[derive(Debug)]
pub struct Measured {
    pub machine: Machine,
    pub bench: BenchReport,
    /// (profile, reason) requested but not measured.
    pub not_measured: Vec<(String, String)>,
}

/// The measure stage: each successful candidate on its engines (or the suite's
/// `[performance] backends`) over the suite's profiles and scenarios, on up to
/// 64 real preprocessed cases.
///
/// # Errors
///
/// [`PipelineError::Input`] for an unknown profile or invalid settings.
pub fn measure(
    plan: &Plan,
    inference: &InferenceOutcome,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<Measured, PipelineError> {
    let machine = Machine::capture();
    let p = &plan.suite.performance;
    let settings = PerfOverrides::from_suite(p, options.quick)
        .settings(options.quick)
        .map_err(|e| {
            PipelineError::Input(format!("{}: [performance] {e}", plan.suite_path.display()))
        })?;
    let mut bench = BenchReport::new(machine.clone(), settings.clone());
    let mut not_measured = Vec::new();
    if p.skip || options.no_perf {
        not_measured.extend(
            p.profiles
                .iter()
                .map(|n| (n.clone(), "performance measurement skipped".to_string())),
        );
        return Ok(Measured {
            machine,
            bench,
            not_measured,
        });
    }
    let plan_perf = PerfPlan {
        profiles: p
            .profiles
            .iter()
            .map(|n| harness_measure::profile(n))
            .collect::<Result<_, _>>()
            .map_err(|e| PipelineError::Input(e.to_string()))?,
        scenarios: p.scenarios.clone(),
        batch_sizes: p.batch_sizes.clone(),
        settings,
    };
    for warning in plan_perf
        .profiles
        .iter()
        .filter_map(harness_measure::profile::Profile::oversubscription)
    {
        observer.warning(&warning);
    }
    for c in &inference.candidates {
        let (Some(_), Some(model)) = (&c.probabilities, &c.model) else {
            continue;
        };
        let Some(candidate) = plan
            .suite
            .candidates
            .iter()
            .find(|s| s.name == c.record.name)
        else {
            continue;
        };
        let Some(samples) = &c.perf_samples else {
            observer.warning(&format!(
                "{}: performance not measured: no preprocessed case",
                candidate.name
            ));
            continue;
        };
        let samples = Samples::Cases(samples.clone());
        let backends = p
            .backends
            .clone()
            .unwrap_or_else(|| infer::backends_of(candidate, plan.suite.inference.primary_backend));
        for kind in backends {
            let backend = kind.backend();
            bench.results.extend(measure_model(
                backend.as_ref(),
                model,
                candidate.output.name.as_deref(),
                &candidate.name,
                &samples,
                &plan_perf,
                observer,
            ));
        }
    }
    for w in unmeasured(&bench.results) {
        observer.warning(&w);
    }
    Ok(Measured {
        machine,
        bench,
        not_measured,
    })
}

/// One sentence per (candidate, engine, profile, status, reason) that was not measured, with
/// how many measurements it covers: performance.json and the report list them, and a run
/// that measured nothing must not look like one that measured everything.
fn unmeasured(results: &[harness_measure::ScenarioResult]) -> Vec<String> {
    let mut groups: indexmap::IndexMap<(String, &str, &str, &str, &str), usize> =
        indexmap::IndexMap::new();
    for r in results
        .iter()
        .filter(|r| r.status != harness_measure::Status::Ok)
    {
        let key = (
            r.model.clone().unwrap_or_default(),
            r.backend.as_str(),
            r.profile.as_str(),
            r.status.as_str(),
            r.reason.as_deref().unwrap_or("no reason given"),
        );
        *groups.entry(key).or_default() += 1;
    }
    groups
        .into_iter()
        .map(|((model, backend, profile, status, reason), n)| {
            format!(
                "performance of {model} on {backend}, profile {profile}: {status} ({n} measurement{}): {reason}",
                if n == 1 { "" } else { "s" }
            )
        })
        .collect()
}

fn default_tool() -> ToolInfo {
    ToolInfo {
        name: "harness".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit: None,
    }
}

fn rel_to(root: &Path, p: &Path) -> String {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    abs.strip_prefix(&root)
        .unwrap_or(&abs)
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "/")
}

fn dataset_record(plan: &Plan) -> DatasetRecord {
    let d = &plan.dataset;
    // The dataset as a whole, also in a shard's manifest (its own cases are in `shard.json`).
    let (cases, positives) = match &plan.shard {
        Some(s) => (s.total_cases, s.total_positives),
        None => (plan.cases.len(), plan.cases.positives()),
    };
    DatasetRecord {
        name: d.name.clone(),
        title: d.entry.title.clone(),
        format: d.entry.format.to_string(),
        path: rel_to(&plan.project_root, &plan.registry.location(d)),
        digest: d.entry.pin().to_string(),
        cases: cases as u64,
        positives: positives as u64,
        synthetic: d.entry.synthetic,
        licence: d.entry.licence.clone(),
        provenance: d.entry.provenance.clone(),
        citation: d.entry.citation.clone(),
        reading_sha256: Some(d.entry.reading_sha256()),
        check: Some(manifest::PinCheck {
            files: plan.dataset_check.files as u64,
            hashes_from_cache: plan.dataset_check.reused as u64,
        }),
    }
}

fn inference_info(plan: &Plan, inference: &InferenceOutcome) -> harness_report::InferenceInfo {
    harness_report::InferenceInfo {
        engine: inference.engine.kind.name().into(),
        device: inference.engine.device,
        fallback_reason: inference.engine.fallback_reason.clone(),
        agreement_cases: inference.sample.len() as u64,
        total_cases: plan.cases.len() as u64,
        agreement_seed: plan.suite.metrics.seed,
    }
}

/// The render stage: report.html, summary.md and the SVG figures.
///
/// # Errors
///
/// A bundle write failure.
pub fn render(
    plan: &Plan,
    inference: &InferenceOutcome,
    evaluated: &Evaluated,
    measured: &Measured,
    gate: &[GateResult],
    bundle: &mut BundleWriter,
) -> Result<(), PipelineError> {
    // Per-case curves are drawn for a binary task; a multi-label one is shown finding by finding.
    let binary = plan.cases.binary_labels();
    let candidates: Vec<(&CandidateRecord, Option<&Vec<f64>>)> = inference
        .candidates
        .iter()
        .map(|c| {
            (
                &c.record,
                c.probabilities.as_ref().filter(|_| binary.is_some()),
            )
        })
        .collect();
    let input = render::build(render::Parts {
        suite: &plan.suite,
        dataset: &dataset_record(plan),
        tool: &plan.tool,
        date: &plan.started_at,
        machine: &measured.machine,
        labels: binary.unwrap_or_default(),
        candidates: &candidates,
        eval: evaluated.report.as_ref().and_then(Metrics::binary),
        findings: evaluated.report.as_ref().and_then(Metrics::multilabel),
        classes: evaluated.report.as_ref().and_then(Metrics::multiclass),
        target_curves: evaluated.target_curves.clone(),
        agreements: &evaluated.agreements,
        bench: &measured.bench,
        not_measured: &measured.not_measured,
        inference: Some(inference_info(plan, inference)),
        criteria: &plan.requested,
        gate,
    });
    // Computed once: every ROC band is a bootstrap.
    let report = harness_report::render(&input);
    bundle.write("report.html", report.html.as_bytes())?;
    bundle.write("summary.md", report.markdown.as_bytes())?;
    for fig in &report.figures {
        if let Ok(svg) = &fig.svg {
            bundle.write(&format!("figures/{}", fig.file_name()), svg.as_bytes())?;
        }
    }
    Ok(())
}

/// The seal stage: the suite's copy (its bytes as read at planning) and the
/// manifest with the sha256 of every file and the `gate`'s verdicts, written last and
/// optionally signed.
///
/// # Errors
///
/// A bundle write failure.
pub fn seal(
    plan: &Plan,
    inference: &InferenceOutcome,
    evaluated: &Evaluated,
    measured: &Measured,
    gate: &[GateResult],
    mut bundle: BundleWriter,
) -> Result<(), PipelineError> {
    let suite_sha = harness_data::registry::sha256_hex(&plan.suite_bytes);
    bundle.write(SUITE_COPY, &plan.suite_bytes)?;
    let suite = &plan.suite;
    let engine = &inference.engine;
    let manifest = Manifest {
        format: manifest::FORMAT.into(),
        complete: true,
        tool: plan.tool.clone(),
        suite: InputFile {
            path: rel_to(&plan.project_root, &plan.suite_path),
            sha256: suite_sha,
            name: Some(suite.name.clone()),
            version: Some(suite.version.clone()),
        },
        dataset: dataset_record(plan),
        candidates: inference
            .candidates
            .iter()
            .map(|c| c.record.clone())
            .collect(),
        evaluation: evaluated.settings.clone(),
        primary_metric: Some(suite.metrics.primary),
        primary_backend: engine.kind.name().into(),
        inference: Some(InferenceRecord {
            engine: engine.kind.name().into(),
            device: engine.device,
            requested_device: suite.inference.device.to_string(),
            fallback_reason: engine.fallback_reason.clone(),
            batch_size: suite.inference.batch_size,
            agreement_cases: inference.sample.len() as u64,
            agreement_sampling: sampling_text(
                inference.sample.len(),
                plan.cases.len(),
                suite.metrics.seed,
            ),
            turned_images: inference.turned.clone(),
        }),
        machine: serde_json::to_value(&measured.machine).unwrap_or(serde_json::Value::Null),
        shard: plan.shard.as_ref().map(|s| s.shard.clone()),
        shards: Vec::new(),
        site: plan.site.clone(),
        acceptance: if plan.shard.is_some() || plan.site.is_some() {
            None
        } else {
            Acceptance::record(&plan.requested, gate)
        },
        started_at: plan.started_at.clone(),
        finished_at: now_rfc3339(),
        files: Default::default(),
    };
    bundle.finish(manifest, plan.signer.as_ref())?;
    Ok(())
}
