//! What a report is made from: plain, serialisable structs that the evidence layer fills.
//!
//! Statistics come from `harness_metrics` as they are (the per-model [`ModelReport`] and the
//! paired [`Comparison`]s of an [`EvalReport`]); the report only computes what is drawn (ROC
//! band, operating point) and the Holm adjustment across comparisons.

use harness_metrics::evaluate::{Comparison, EvalOptions, EvalReport, ModelReport};
use harness_metrics::multiclass::MulticlassReport;
use harness_metrics::multilabel::MultilabelReport;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Everything one report shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportInput {
    pub header: Header,
    /// Candidates in the order they are presented.
    pub candidates: Vec<Candidate>,
    /// Ground truth of the evaluation set, in the case order of every candidate's `scores`.
    pub labels: Vec<bool>,
    pub evaluation: Evaluation,
    /// Cross-backend agreement of each candidate's scores.
    #[serde(default)]
    pub agreement: Vec<AgreementRow>,
    /// Performance measurements, one row per backend × profile × scenario × batch × threads.
    #[serde(default)]
    pub performance: Vec<PerformanceRow>,
    /// Profiles that the suite asked for but that were not measured.
    #[serde(default)]
    pub profiles_not_measured: Vec<NotMeasured>,
    #[serde(default)]
    pub options: ReportOptions,
    /// A multi-label task's statistics, finding by finding (the candidates then have no binary
    /// `metrics` and no per-case `scores`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<MultilabelReport>,
    /// A multi-class task's statistics (the candidates then have no binary `metrics` and no
    /// per-case `scores`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<MulticlassReport>,
    /// Multi-label: each finding's labels and the scores of every candidate that scores it;
    /// multi-class: each class against the rest. Drawn as one ROC overlay per finding or class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_curves: Vec<TargetCurves>,
    /// A federated evaluation (`harness pool --report`): each site and what it sent. The
    /// candidates' `scores` then hold each model's pooled positives, then its pooled negatives,
    /// each in ascending score order (no case is paired across candidates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<SiteInfo>,
    /// The acceptance gate's verdicts (the suite's `[acceptance]` and command-line limits),
    /// one per criterion and candidate; empty when no criterion was given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance: Vec<AcceptanceRow>,
    /// The acceptance criteria as given ("auroc ≥ 0.85"), verdicts or not: where no candidate
    /// was evaluated there is no verdict, and the report says the gate was not passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance_criteria: Vec<String>,
}

/// One acceptance criterion's verdict for one candidate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AcceptanceRow {
    pub candidate: String,
    /// The criterion as it reads: "auroc ≥ 0.85" (`--fail-under`), "ece_10 ≤ 0.05"
    /// (`--fail-over`).
    pub criterion: String,
    /// The candidate's value; `None` when the evaluation gives none (the criterion fails).
    pub value: Option<f64>,
    /// The value as the verdict shows it (four decimals, unless they would read as the other
    /// verdict).
    #[serde(default)]
    pub shown: Option<String>,
    pub passed: bool,
    /// The verdict as a sentence, e.g. "vendor-c: auroc = 0.8218 is below 0.85".
    pub message: String,
}

/// One site of a federated evaluation, as its summary describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteInfo {
    pub name: String,
    pub cases: u64,
    /// Its positive cases; `None` for a multi-label evaluation (positives are per finding).
    pub positives: Option<u64>,
    /// Hex SHA-256 of the summary file the coordinator pooled.
    pub summary_sha256: String,
    /// What the summary reveals, in the site's own file's words.
    pub disclosure: String,
    /// The site's answer to the round-2 request (the paired tests), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<SiteAnswer>,
    /// Whether the site's data are synthetic, as its bundle's manifest says; `None` for a bare
    /// summary, which does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<bool>,
}

/// What a site sent in round 2 of a federated evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteAnswer {
    /// Hex SHA-256 of the sums file the coordinator pooled.
    pub sha256: String,
    /// What the sums reveal, in the site's own file's words.
    pub disclosure: String,
}

/// One finding's (or one class's, against the rest) labels and candidate scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetCurves {
    pub name: String,
    pub labels: Vec<bool>,
    /// (candidate, one score per case).
    pub scores: Vec<(String, Vec<f64>)>,
}

/// Who ran what on which data, where and when.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Header {
    pub suite: Suite,
    pub dataset: DatasetInfo,
    pub tool: ToolInfo,
    /// Date (and time) of the run, as the caller wants it shown (e.g. RFC 3339).
    pub date: String,
    /// Machine description as ordered key/value pairs (CPU, memory, GPU, OS, …).
    #[serde(default)]
    pub machine: IndexMap<String, String>,
    /// Profiles of the run (e.g. "cpu-1thread", "gpu").
    #[serde(default)]
    pub profiles: Vec<String>,
    /// How the evaluated predictions were produced and cross-checked.
    #[serde(default)]
    pub inference: Option<InferenceInfo>,
}

/// The accuracy pass: which engine produced the evaluated predictions, where, and how many
/// cases the other engines were cross-checked on.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct InferenceInfo {
    /// Engine name, e.g. "tract".
    pub engine: String,
    /// "cpu" or "cuda".
    pub device: harness_types::Device,
    /// Why the requested device (the GPU) was not used, when it was not.
    pub fallback_reason: Option<String>,
    /// Cases the other engines were run on.
    pub agreement_cases: u64,
    /// All cases of the reference set.
    pub total_cases: u64,
    /// Seed of the agreement sample (when it is a sample).
    pub agreement_seed: u64,
}

impl InferenceInfo {
    /// One plain sentence on where the evaluated predictions come from and what was cross-checked.
    #[must_use]
    pub fn sentence(&self) -> String {
        let mut s = format!(
            "The evaluated predictions were computed by {} on the {}",
            self.engine,
            if self.device == harness_types::Device::Cuda {
                "GPU (CUDA)"
            } else {
                "CPU"
            }
        );
        if let Some(r) = &self.fallback_reason {
            s.push_str(&format!(
                " because the GPU pass the suite asked for was not possible ({r})"
            ));
        }
        s.push_str(". ");
        if self.agreement_cases == 0 {
            s.push_str("No case was cross-checked on another engine.");
        } else if self.agreement_cases >= self.total_cases {
            s.push_str(&format!(
                "The other engines were cross-checked on all {} cases.",
                self.total_cases
            ));
        } else {
            s.push_str(&format!(
                "The other engines were cross-checked on {} of the {} cases, drawn at random without replacement (selection sampling, seed {}); the agreement figures describe that sample.",
                self.agreement_cases, self.total_cases, self.agreement_seed
            ));
        }
        s
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Suite {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    /// Hex SHA-256 of the data set (file or folder hash, as the data layer defines it).
    pub sha256: String,
    pub licence: String,
    /// Number of cases.
    pub cases: u64,
    /// Size on disk in bytes, when known.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// True for generated data: the report then carries a banner and a limit.
    pub synthetic: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ToolInfo {
    pub version: String,
    pub git_commit: String,
}

/// Outcome of a candidate, a backend or a measurement.
pub use harness_types::Status;

/// One model under evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    /// Its name; also its model (score column) name in the [`EvalReport`].
    pub name: String,
    pub model_file: String,
    /// Hex SHA-256 of the model file.
    pub model_sha256: String,
    /// Backends it ran on (the first one produced the evaluated scores).
    #[serde(default)]
    pub backends: Vec<String>,
    pub status: Status,
    /// Why it is not ok.
    #[serde(default)]
    pub reason: Option<String>,
    /// Its statistics; `None` when it failed.
    #[serde(default)]
    pub metrics: Option<ModelReport>,
    /// Its score for each case, in the order of [`ReportInput::labels`]; empty when it failed.
    #[serde(default)]
    pub scores: Vec<f64>,
    /// What the run noticed about its outputs that its figures depend on (listed as limits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Evaluation-wide results of `harness_metrics::evaluate`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Evaluation {
    /// Decision threshold (suite operating point), target specificities, bootstrap settings.
    pub options: EvalOptions,
    /// Paired DeLong comparisons of every pair of evaluated candidates.
    #[serde(default)]
    pub comparisons: Vec<Comparison>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// How closely two backends' scores of one candidate agree.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgreementRow {
    /// The candidate whose scores are compared (may be empty when there is one).
    #[serde(default)]
    pub candidate: String,
    pub a: String,
    pub b: String,
    /// max over cases of |score_a − score_b|.
    pub max_abs_diff: f64,
    /// Cases whose decision at the threshold differs between the backends.
    pub decision_disagreements: u64,
    /// Cases compared.
    pub n: u64,
}

/// Latency percentiles of one measurement, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// One performance measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PerformanceRow {
    /// The candidate measured (may be empty when there is one).
    #[serde(default)]
    pub candidate: String,
    pub backend: String,
    pub profile: String,
    pub scenario: String,
    pub batch_size: u32,
    pub threads: u32,
    #[serde(default)]
    pub throughput_per_s: Option<f64>,
    #[serde(default)]
    pub latency_ms: Option<LatencyMs>,
    /// Empirical CDF of latency: `[ms, fraction of queries ≤ ms]`, ascending.
    #[serde(default)]
    pub latency_cdf: Vec<[f64; 2]>,
    /// MLPerf LoadGen's early-stopping estimate of the tail percentile, where the run has one.
    #[serde(default)]
    pub early_stopping: Option<EarlyStoppingMs>,
    pub status: Status,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The early-stopping estimate of a tail percentile (0.90 single-stream, 0.99 server).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingMs {
    pub percentile: f64,
    pub estimate_ms: f64,
}

/// A profile that was requested but not measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NotMeasured {
    pub profile: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Settings of the report itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportOptions {
    /// Bootstrap replicates of the ROC band (pROC's default `boot.n` is 2000).
    pub roc_band_replicates: usize,
    pub roc_band_seed: u64,
    /// The band is drawn at specificities 0, 1/steps, …, 1.
    pub roc_band_steps: usize,
    /// Backends disagree when their scores differ by more than this anywhere.
    pub agreement_tolerance: f64,
    /// Subgroups with fewer cases than this are listed as a limit.
    pub small_subgroup_cases: u64,
    /// Subgroups with fewer positives than this are listed as a limit.
    pub small_subgroup_positives: u64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            roc_band_replicates: 2000,
            roc_band_seed: 1,
            roc_band_steps: 100,
            agreement_tolerance: 1e-4,
            small_subgroup_cases: 30,
            small_subgroup_positives: 10,
        }
    }
}

impl ReportOptions {
    /// The ROC bands of an evaluation with `opts`: its seed, and its bootstrap replicates held
    /// to 200 … 2000 (a band needs some; beyond 2000 it no longer changes visibly).
    #[must_use]
    pub fn for_evaluation(opts: &EvalOptions) -> Self {
        ReportOptions {
            roc_band_replicates: opts.bootstrap.clamp(200, 2000),
            roc_band_seed: opts.seed,
            ..ReportOptions::default()
        }
    }
}

impl ReportInput {
    /// Fills the evaluation (options, comparisons, warnings) from `report`, and each candidate's
    /// metrics from the model of the same name.
    pub fn attach_eval(&mut self, report: &EvalReport) {
        self.evaluation = Evaluation {
            options: report.options.clone(),
            comparisons: report.comparisons.clone(),
            warnings: report.warnings.clone(),
        };
        for c in &mut self.candidates {
            if let Some(m) = report.models.get(&c.name) {
                c.metrics = Some(m.clone());
            }
        }
    }

    /// Fills the evaluation options and warnings from a multi-label report and keeps it for the
    /// findings section.
    pub fn attach_findings(&mut self, report: &MultilabelReport) {
        self.evaluation = Evaluation {
            options: report.options.clone(),
            comparisons: Vec::new(),
            warnings: report.warnings.clone(),
        };
        self.findings = Some(report.clone());
    }

    /// Fills the evaluation's bootstrap settings and warnings from a multi-class report and
    /// keeps it for the classes section.
    pub fn attach_classes(&mut self, report: &MulticlassReport) {
        self.evaluation = Evaluation {
            options: EvalOptions {
                bootstrap: report.options.bootstrap,
                seed: report.options.seed,
                ..EvalOptions::default()
            },
            comparisons: Vec::new(),
            warnings: report.warnings.clone(),
        };
        self.classes = Some(report.clone());
    }

    /// Checks what the figures need: every candidate with metrics has one finite score in
    /// [0, 1] per label. Errors name the candidate, the case index and the value.
    pub fn validate(&self) -> Result<(), String> {
        for c in self.candidates.iter().filter(|c| c.metrics.is_some()) {
            if c.scores.len() != self.labels.len() {
                return Err(format!(
                    "candidate {:?}: {} scores for {} labels (one score per case is needed)",
                    c.name,
                    c.scores.len(),
                    self.labels.len()
                ));
            }
            if let Some((i, s)) = c
                .scores
                .iter()
                .enumerate()
                .find(|(_, s)| !(0.0..=1.0).contains(*s))
            {
                return Err(format!(
                    "candidate {:?}: score of case {i} is {s}, not a probability in [0, 1]",
                    c.name
                ));
            }
        }
        Ok(())
    }
}
