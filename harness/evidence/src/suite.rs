//! Suite files (`suites/*.toml`): *what* to evaluate, written down once so the
//! same evidence comes out every time, anywhere.
//!
//! A suite names one dataset from the registry, the candidate models (file,
//! sha256, preprocessing, output interpretation, backends), the metrics
//! (primary metric, target specificities, decision threshold, bootstrap count
//! and seed, subgroup columns), the performance measurement (profiles,
//! scenarios, batch sizes, durations) and the acceptance criteria. Parsing is
//! strict: unknown keys are errors, and every error names the file, line,
//! column and key.
//!
//! Paths (`model`) are relative to the project root — the folder of the
//! dataset registry — and may not leave it (`..` and absolute paths are
//! refused): a suite cannot make the harness read arbitrary files.

use crate::gate::{Direction, TaskCriterion};
use harness_backends::{BackendKind, OutputSpec, Preprocess};
use harness_data::registry::{check_relative, line_col};
use harness_measure::Scenario;
use harness_metrics::registry::RankingMetric;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A parsed, validated suite.
#[derive(Debug, Clone, Serialize)]
pub struct Suite {
    /// The file it was read from.
    pub file: PathBuf,
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    /// The registry entry evaluated.
    pub dataset: String,
    pub inference: Inference,
    pub metrics: Metrics,
    pub performance: Performance,
    pub acceptance: Acceptance,
    pub limits: Limits,
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: String,
    version: String,
    description: Option<String>,
    dataset: String,
    #[serde(default)]
    inference: Inference,
    #[serde(default)]
    metrics: Metrics,
    #[serde(default)]
    performance: Performance,
    #[serde(default)]
    acceptance: Acceptance,
    #[serde(default)]
    limits: Limits,
    candidates: Vec<toml::Spanned<Candidate>>,
}

/// How predictions are produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inference {
    /// The backend whose outputs are evaluated. The default, tract, is pure Rust
    /// and gives the same predictions on every machine; the other backends are
    /// cross-checked against it.
    #[serde(default = "default_primary")]
    pub primary_backend: BackendKind,
    /// Cases per inference call.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Largest |difference| between the evaluated engine's probabilities and a secondary
    /// engine's on the agreement sample; beyond it the secondary engine is recorded as failed
    /// (the run exits 3).
    #[serde(default = "default_tolerance")]
    pub agreement_tolerance: f64,
    /// Where the accuracy pass (the evaluated predictions) runs. `gpu` runs it on
    /// ONNX Runtime's CUDA provider (tract has no GPU); where CUDA is absent the run
    /// says why, records it in the manifest and goes on on the CPU.
    #[serde(default)]
    pub device: AccuracyDevice,
    /// Cases the secondary engines are cross-checked on: a seeded random sample of
    /// this many (all cases when there are fewer), so that extra engines do not
    /// multiply the cost of a large run. 0 checks none.
    #[serde(default = "default_agreement_cases")]
    pub agreement_cases: usize,
}

/// The device of the accuracy pass (`[inference] device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccuracyDevice {
    /// The host CPU, on the suite's primary backend (the default).
    #[default]
    Cpu,
    /// An NVIDIA GPU through ONNX Runtime's CUDA execution provider.
    Gpu,
}

impl std::fmt::Display for AccuracyDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        })
    }
}

fn default_agreement_cases() -> usize {
    1000
}

fn default_primary() -> BackendKind {
    BackendKind::Tract
}
fn default_batch() -> usize {
    32
}
fn default_tolerance() -> f64 {
    1e-4
}

impl Default for Inference {
    fn default() -> Self {
        Inference {
            primary_backend: default_primary(),
            batch_size: default_batch(),
            agreement_tolerance: default_tolerance(),
            device: AccuracyDevice::Cpu,
            agreement_cases: default_agreement_cases(),
        }
    }
}

/// The statistics to compute (see `shared/spec/metrics.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The metric that ranks candidates (leaderboards, the report's summary); recorded in the
    /// manifest.
    #[serde(default)]
    pub primary: RankingMetric,
    #[serde(default = "default_specs")]
    pub target_specificities: Vec<f64>,
    /// Decision threshold: predicted positive iff probability ≥ threshold.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Stratified bootstrap replicates for the AUROC CI (0 = none, at most 100000). The
    /// report's ROC band, a figure only, resamples this many times raised to at least 200
    /// and capped at 2000.
    #[serde(default)]
    pub bootstrap: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Bootstrap replicates for the CI of the sensitivity at each target specificity (0 = not
    /// computed; 2000 is usual): `harness eval --sens-ci-boot`. Binary and multi-label tasks;
    /// cluster-resampled where the dataset declares a patient column.
    #[serde(default)]
    pub sens_ci_bootstrap: usize,
    /// Subgroup columns; by default the dataset's registered subgroups.
    pub subgroups: Option<Vec<String>>,
}

impl Metrics {
    /// The options the statistics take from these settings.
    #[must_use]
    pub fn options(&self) -> harness_metrics::EvalOptions {
        harness_metrics::EvalOptions {
            threshold: self.threshold,
            target_specificities: self.target_specificities.clone(),
            bootstrap: self.bootstrap,
            seed: self.seed,
            sens_ci_bootstrap: self.sens_ci_bootstrap,
        }
    }
}

/// A suite without `[metrics]` takes every key's default, as with `[metrics]` alone.
impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            primary: RankingMetric::default(),
            target_specificities: default_specs(),
            threshold: default_threshold(),
            bootstrap: 0,
            seed: default_seed(),
            sens_ci_bootstrap: 0,
            subgroups: None,
        }
    }
}

fn default_specs() -> Vec<f64> {
    vec![0.90]
}
fn default_threshold() -> f64 {
    0.5
}
fn default_seed() -> u64 {
    1
}

/// Performance measurement (MLPerf LoadGen scenarios on named profiles).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Performance {
    /// Hardware profiles (`cpu-1thread`, `cpu-all`, `gpu`, `cpu-<N>threads`).
    #[serde(default = "default_profiles")]
    pub profiles: Vec<String>,
    #[serde(default = "default_scenarios")]
    pub scenarios: Vec<Scenario>,
    /// Offline batch sizes.
    #[serde(default = "default_batches")]
    pub batch_sizes: Vec<usize>,
    /// Backends to measure; by default each candidate's backends.
    pub backends: Option<Vec<BackendKind>>,
    /// LoadGen minimum duration per scenario, in seconds.
    pub min_duration_s: Option<f64>,
    /// LoadGen minimum query count (samples, for Offline).
    pub min_queries: Option<u64>,
    /// Safety cap per scenario, in seconds.
    pub max_duration_s: Option<f64>,
    /// Server scenario arrival rate.
    pub target_qps: Option<f64>,
    /// Server scenario p99 latency bound.
    pub latency_bound_ms: Option<f64>,
    /// Skip measurement altogether (accuracy-only suites).
    #[serde(default)]
    pub skip: bool,
}

fn default_profiles() -> Vec<String> {
    vec!["cpu-1thread".into(), "cpu-all".into()]
}
fn default_scenarios() -> Vec<Scenario> {
    vec![Scenario::SingleStream, Scenario::Offline]
}
fn default_batches() -> Vec<usize> {
    vec![1, 32]
}

impl Default for Performance {
    fn default() -> Self {
        Performance {
            profiles: default_profiles(),
            scenarios: default_scenarios(),
            batch_sizes: default_batches(),
            backends: None,
            min_duration_s: None,
            min_queries: None,
            max_duration_s: None,
            target_qps: None,
            latency_bound_ms: None,
            skip: false,
        }
    }
}

/// Acceptance criteria: the run fails (non-zero exit) when a candidate misses one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// `metric = minimum`, e.g. `auroc = 0.85`.
    #[serde(default)]
    pub fail_under: indexmap::IndexMap<String, f64>,
    /// `metric = maximum`, e.g. `ece_10 = 0.05`.
    #[serde(default)]
    pub fail_over: indexmap::IndexMap<String, f64>,
}

impl Acceptance {
    /// The criteria as written, each key a binary metric or a multi-label key
    /// ([`crate::gate::check_key_shape`]): the run checks them against its dataset's task
    /// ([`crate::gate::Gate::for_task`]).
    pub fn criteria(&self) -> Result<Vec<TaskCriterion>, String> {
        let mut out = Vec::new();
        for (list, direction) in [
            (&self.fail_under, Direction::Under),
            (&self.fail_over, Direction::Over),
        ] {
            for (k, &limit) in list {
                crate::gate::check_key_shape(k)?;
                if !limit.is_finite() {
                    return Err(format!(
                        "limit for '{k}' must be a finite number, not {limit}"
                    ));
                }
                out.push(TaskCriterion {
                    key: k.clone(),
                    direction,
                    limit,
                });
            }
        }
        Ok(out)
    }
}

/// Limits on what a suite may make the harness read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest model file, in MiB.
    #[serde(default = "default_model_mib")]
    pub max_model_mib: u64,
    /// Most cases in the dataset.
    #[serde(default = "default_cases")]
    pub max_cases: usize,
    /// Largest image side, in pixels.
    #[serde(default = "default_side")]
    pub max_image_side: u32,
}

fn default_model_mib() -> u64 {
    2048
}
fn default_cases() -> usize {
    1_000_000
}
fn default_side() -> u32 {
    16_384
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_model_mib: default_model_mib(),
            max_cases: default_cases(),
            max_image_side: default_side(),
        }
    }
}

/// One candidate model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// Its name in every output (a column of `predictions.csv`): letters,
    /// digits, `-`, `_`, `.`.
    pub name: String,
    /// Vendor or origin, for the report.
    pub vendor: Option<String>,
    /// The ONNX file, relative to the project root.
    pub model: String,
    /// Its pinned sha256.
    pub sha256: String,
    /// Backends to run it on (cross-checked); the primary backend is always included.
    #[serde(default = "default_backends")]
    pub backends: Vec<BackendKind>,
    pub preprocess: Preprocess,
    pub output: OutputSpec,
    /// 1-based line where the candidate is declared.
    #[serde(skip)]
    pub line: usize,
}

fn default_backends() -> Vec<BackendKind> {
    vec![BackendKind::Tract]
}

/// A suite that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Suite {
    /// Reads and validates a suite file.
    pub fn load(file: &Path) -> Result<Suite, SuiteError> {
        let text = std::fs::read_to_string(file).map_err(|source| SuiteError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        Suite::parse(&text, file)
    }

    /// Parses suite text (`file` is used in messages).
    pub fn parse(text: &str, file: &Path) -> Result<Suite, SuiteError> {
        let invalid = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            SuiteError::Invalid {
                file: file.to_path_buf(),
                line,
                column,
                message,
            }
        };
        // Where a top-level key or table is declared, for semantic errors.
        let key_offset = |key: &str| -> usize {
            let mut offset = 0;
            for l in text.split_inclusive('\n') {
                let t = l.trim_start();
                if t.starts_with(&format!("[{key}]"))
                    || t.starts_with(&format!("{key} "))
                    || t.starts_with(&format!("{key}="))
                {
                    return offset + (l.len() - t.len());
                }
                offset += l.len();
            }
            0
        };
        let raw: SuiteFile = toml::from_str(text).map_err(|e| {
            invalid(
                e.span().map_or(0, |s| s.start),
                e.message().trim_end().to_string(),
            )
        })?;

        let mut candidates = Vec::with_capacity(raw.candidates.len());
        for spanned in raw.candidates {
            let start = spanned.span().start;
            let mut c = spanned.into_inner();
            c.line = line_col(text, start).0;
            validate_candidate(&c)
                .map_err(|m| invalid(start, format!("candidate '{}': {m}", c.name)))?;
            if candidates.iter().any(|o: &Candidate| o.name == c.name) {
                return Err(invalid(
                    start,
                    format!("candidate '{}' is declared twice", c.name),
                ));
            }
            candidates.push(c);
        }
        if candidates.is_empty() {
            return Err(invalid(
                key_offset("candidates"),
                "a suite needs at least one [[candidates]] entry".into(),
            ));
        }
        if raw.name.is_empty()
            || !raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                key_offset("name"),
                format!(
                    "name '{}' must be letters, digits, '-', '_' or '.' (it names a results folder)",
                    raw.name
                ),
            ));
        }
        validate_metrics(&raw.metrics)
            .map_err(|m| invalid(key_offset("metrics"), format!("[metrics] {m}")))?;
        validate_performance(&raw.performance)
            .map_err(|m| invalid(key_offset("performance"), format!("[performance] {m}")))?;
        raw.acceptance
            .criteria()
            .map_err(|m| invalid(key_offset("acceptance"), format!("[acceptance] {m}")))?;
        if raw.inference.batch_size == 0 || raw.inference.batch_size > 4096 {
            return Err(invalid(
                key_offset("inference"),
                format!(
                    "[inference] batch_size {} must be between 1 and 4096",
                    raw.inference.batch_size
                ),
            ));
        }
        if !(raw.inference.agreement_tolerance >= 0.0
            && raw.inference.agreement_tolerance.is_finite())
        {
            return Err(invalid(
                key_offset("inference"),
                "[inference] agreement_tolerance must be a finite number ≥ 0".into(),
            ));
        }
        validate_limits(&raw.limits)
            .map_err(|m| invalid(key_offset("limits"), format!("[limits] {m}")))?;
        Ok(Suite {
            file: file.to_path_buf(),
            name: raw.name,
            version: raw.version,
            description: raw.description,
            dataset: raw.dataset,
            inference: raw.inference,
            metrics: raw.metrics,
            performance: raw.performance,
            acceptance: raw.acceptance,
            limits: raw.limits,
            candidates,
        })
    }
}

fn validate_candidate(c: &Candidate) -> Result<(), String> {
    if c.name.is_empty()
        || !c
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        return Err("name must be non-empty letters, digits, '-', '_' or '.'".into());
    }
    if matches!(c.name.as_str(), "case_id" | "label") {
        return Err("name clashes with a predictions.csv column".into());
    }
    check_relative(&c.model).map_err(|m| format!("model '{}': {m}", c.model))?;
    if c.sha256.len() != 64 || !c.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "sha256 '{}' must be 64 hexadecimal digits",
            c.sha256
        ));
    }
    if c.backends.is_empty() {
        return Err("backends must list at least one of tract, ort, candle".into());
    }
    c.preprocess.validate().map_err(|e| e.to_string())?;
    // The model's input is built per image in memory (a typo of 22400 for 224 would ask for
    // gigabytes per case). Not `[limits] max_image_side`, which bounds the source images (a
    // suite may cap those at 64 pixels and still feed a 224-pixel model).
    if let Some(side) = c.preprocess.size.iter().find(|&&s| s > MAX_INPUT_SIDE) {
        return Err(format!(
            "preprocess size {:?}: a side of {side} pixels is larger than {MAX_INPUT_SIDE}, the largest model input the harness builds",
            c.preprocess.size
        ));
    }
    Ok(())
}

/// The largest side of a model input (`preprocess.size`), in pixels.
pub const MAX_INPUT_SIDE: u32 = 16384;

fn validate_metrics(m: &Metrics) -> Result<(), String> {
    let subgroups = m.subgroups.as_deref().unwrap_or_default();
    for (i, g) in subgroups.iter().enumerate() {
        if subgroups[..i].contains(g) {
            return Err(format!("subgroups names '{g}' twice"));
        }
        // predictions.csv's own columns (multi-label: label:<finding>).
        if harness_data::is_predictions_column(g) {
            return Err(format!(
                "subgroups names '{g}', a column predictions.csv holds already: a subgroup is a column of the dataset's labels file that groups the cases (sex, site, …)"
            ));
        }
    }
    if !(0.0..=1.0).contains(&m.threshold) {
        return Err(format!("threshold {} is outside [0, 1]", m.threshold));
    }
    if let Some(t) = m
        .target_specificities
        .iter()
        .find(|t| !(0.0..=1.0).contains(*t))
    {
        return Err(format!("target_specificities has {t}, outside [0, 1]"));
    }
    let max = harness_metrics::bootstrap::MAX_REPLICATES;
    if m.bootstrap > max {
        return Err(format!("bootstrap {} is larger than {max}", m.bootstrap));
    }
    if m.sens_ci_bootstrap > max {
        return Err(format!(
            "sens_ci_bootstrap {} is larger than {max}",
            m.sens_ci_bootstrap
        ));
    }
    Ok(())
}

fn validate_performance(p: &Performance) -> Result<(), String> {
    for name in &p.profiles {
        harness_measure::profile(name).map_err(|e| e.to_string())?;
    }
    if let Some(b) = p.batch_sizes.iter().find(|&&b| b == 0 || b > 4096) {
        return Err(format!(
            "batch_sizes has {b}; each must be between 1 and 4096"
        ));
    }
    for (k, v) in [
        ("min_duration_s", p.min_duration_s),
        ("max_duration_s", p.max_duration_s),
        ("target_qps", p.target_qps),
        ("latency_bound_ms", p.latency_bound_ms),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v > 0.0)
        {
            return Err(format!("{k} = {v} must be a positive number"));
        }
    }
    if let (Some(min), Some(max)) = (p.min_duration_s, p.max_duration_s)
        && min > max
    {
        return Err(format!(
            "min_duration_s = {min} is longer than max_duration_s = {max}"
        ));
    }
    // An empty list would measure nothing while the report said it measured (use `skip = true`).
    if !p.skip {
        for (key, empty) in [
            ("profiles", p.profiles.is_empty()),
            ("scenarios", p.scenarios.is_empty()),
            (
                "batch_sizes",
                p.batch_sizes.is_empty() && p.scenarios.contains(&Scenario::Offline),
            ),
            ("backends", p.backends.as_ref().is_some_and(Vec::is_empty)),
        ] {
            if empty {
                return Err(format!(
                    "{key} is empty: list at least one, or set skip = true to measure nothing"
                ));
            }
        }
    }
    Ok(())
}

/// The largest `limits.max_model_mib`: the limit in bytes (`MiB × 2^20`) must fit in a `u64`.
pub const MAX_MODEL_MIB: u64 = u64::MAX >> 20;

fn validate_limits(l: &Limits) -> Result<(), String> {
    for (key, zero) in [
        ("max_cases", l.max_cases == 0),
        ("max_image_side", l.max_image_side == 0),
        ("max_model_mib", l.max_model_mib == 0),
    ] {
        if zero {
            return Err(format!(
                "{key} = 0 would refuse every dataset, image or model: it must be at least 1"
            ));
        }
    }
    if l.max_model_mib > MAX_MODEL_MIB {
        return Err(format!(
            "max_model_mib {} is larger than {MAX_MODEL_MIB} (the limit in bytes must fit in 64 bits)",
            l.max_model_mib
        ));
    }
    Ok(())
}

impl Limits {
    /// `max_model_mib` in bytes.
    #[must_use]
    pub fn max_model_bytes(&self) -> u64 {
        self.max_model_mib.saturating_mul(1 << 20)
    }
}

/// Finds the project root for a suite: the nearest folder, from the suite's own
/// upwards, that holds a `datasets.toml`.
pub fn find_registry(suite_file: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(suite_file).ok()?;
    let mut dir = abs.parent();
    while let Some(d) = dir {
        let candidate = d.join("datasets.toml");
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"name = "t"
version = "1"
dataset = "synthetic-lesions"

[metrics]
target_specificities = [0.9]
bootstrap = 100

[performance]
profiles = ["cpu-1thread"]
scenarios = ["single-stream"]

[acceptance]
fail_under = { auroc = 0.8 }

[[candidates]]
name = "a"
model = "models/a.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
backends = ["tract", "ort"]
preprocess = { size = [64, 64], channels = 1, channel_order = "gray", scale = 0.5 }
output = { kind = "probability", positive_index = 0 }
"#;

    fn err(text: &str) -> String {
        Suite::parse(text, Path::new("s.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_a_good_suite_with_defaults() {
        let s = Suite::parse(GOOD, Path::new("s.toml")).unwrap();
        assert_eq!(s.candidates.len(), 1);
        assert_eq!(s.candidates[0].line, 16);
        assert_eq!(s.inference.primary_backend, BackendKind::Tract);
        assert_eq!(s.metrics.threshold, 0.5);
        assert_eq!(s.acceptance.criteria().unwrap().len(), 1);
    }

    /// `[metrics]` may be left out, as every other optional section: each key's default.
    #[test]
    fn a_suite_without_metrics_takes_the_defaults() {
        let text = GOOD.replace(
            "[metrics]\ntarget_specificities = [0.9]\nbootstrap = 100\n",
            "",
        );
        assert!(
            !text.contains("[metrics]"),
            "the test must remove the section"
        );
        let s = Suite::parse(&text, Path::new("s.toml")).unwrap();
        assert_eq!(s.metrics.target_specificities, vec![0.90]);
        assert_eq!((s.metrics.bootstrap, s.metrics.seed), (0, 1));
    }

    /// A model input side beyond 16384 pixels (a typo of 22400 for 224 would ask
    /// for gigabytes per case), and a limit of 0, are refused when the suite is read.
    #[test]
    fn an_oversized_model_input_and_zero_limits_are_refused() {
        let e = err(&GOOD.replace("size = [64, 64]", "size = [64, 22400]"));
        assert!(
            e.contains("a side of 22400 pixels is larger than 16384, the largest model input"),
            "{e}"
        );
        for key in ["max_cases", "max_image_side"] {
            let e = err(&format!("{GOOD}\n[limits]\n{key} = 0\n"));
            assert!(
                e.contains(&format!("{key} = 0")) && e.contains("at least 1"),
                "{e}"
            );
        }
        // A small source-image limit does not bound the model's input.
        let small = format!("{GOOD}\n[limits]\nmax_image_side = 28\n");
        assert!(Suite::parse(&small, Path::new("s.toml")).is_ok());
        let e = err(&GOOD.replace("scenarios = [\"single-stream\"]", "scenarios = []"));
        assert!(e.contains("scenarios is empty"), "{e}");
        let e = err(&GOOD.replace(
            "scenarios = [\"single-stream\"]",
            "scenarios = [\"single-stream\"]\nmin_duration_s = 20\nmax_duration_s = 5",
        ));
        assert!(e.contains("longer than max_duration_s"), "{e}");
    }

    #[test]
    fn unknown_keys_point_at_line_and_key() {
        let e = err(&GOOD.replace("bootstrap = 100", "bootstrap = 100\nboostrap = 5"));
        assert!(
            e.starts_with("s.toml:8:1:") && e.contains("boostrap"),
            "{e}"
        );
        let e = err(&GOOD.replace("scale = 0.5", "scale = 0.5, colour = 1"));
        assert!(e.starts_with("s.toml:21:") && e.contains("colour"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_place() {
        let e = err(&GOOD.replace("models/a.onnx", "../../etc/passwd"));
        assert!(e.starts_with("s.toml:16:") && e.contains("'..'"), "{e}");
        let e = err(&GOOD.replace("models/a.onnx", "/etc/passwd"));
        assert!(e.contains("absolute"), "{e}");
        let e = err(&GOOD.replace("\"cpu-1thread\"", "\"cpu-lots\""));
        assert!(e.starts_with("s.toml:9:") && e.contains("cpu-lots"), "{e}");
        let e = err(&GOOD.replace("auroc = 0.8", "aurok = 0.8"));
        assert!(e.contains("aurok"), "{e}");
        let e = err(&GOOD.replace("\"ort\"", "\"onnx\""));
        assert!(e.contains("onnx"), "{e}");
        let e = err(&GOOD.replace("bootstrap = 100", "bootstrap = 100001"));
        assert!(e.contains("bootstrap 100001 is larger than 100000"), "{e}");
        let e = err(&GOOD.replace("name = \"a\"", "name = \"a,b\""));
        assert!(e.contains("candidate 'a,b'"), "{e}");
        let e = err(&format!(
            "{GOOD}\n{}",
            &GOOD[GOOD.find("[[candidates]]").unwrap()..]
        ));
        assert!(e.contains("declared twice"), "{e}");
        let e = err(&GOOD.replace("channels = 1", "channels = 2"));
        assert!(e.contains("channels"), "{e}");
        let e = err("name = \"t\"\nversion = 1\n");
        assert!(e.starts_with("s.toml:2:"), "{e}");
        // Subgroups named twice, or named as predictions.csv's own columns, at [metrics].
        let with =
            |g: &str| GOOD.replace("[metrics]\n", &format!("[metrics]\nsubgroups = [{g}]\n"));
        let e = err(&with("\"site\", \"site\""));
        assert!(
            e.starts_with("s.toml:5:") && e.contains("subgroups names 'site' twice"),
            "{e}"
        );
        for g in ["case_id", "label"] {
            let e = err(&with(&format!("\"{g}\"")));
            assert!(e.contains("a column predictions.csv holds already"), "{e}");
        }
    }

    #[test]
    fn the_primary_metric_comes_from_the_registry() {
        let s = Suite::parse(GOOD, Path::new("s.toml")).unwrap();
        assert_eq!(s.metrics.primary.key, "auroc");
        let with =
            |m: &str| GOOD.replace("[metrics]\n", &format!("[metrics]\nprimary = \"{m}\"\n"));
        let s = Suite::parse(&with("ece_10"), Path::new("s.toml")).unwrap();
        assert_eq!(s.metrics.primary.key, "ece_10");
        // A metric that has no "better" direction cannot rank, and the place is named.
        let e = err(&with("calibration_slope"));
        assert!(
            e.starts_with("s.toml:6:") && e.contains("'calibration_slope' cannot rank candidates"),
            "{e}"
        );
        let e = err(&with("aurok"));
        assert!(
            e.contains("'aurok'") && e.contains("auroc, average_precision"),
            "{e}"
        );
    }

    #[test]
    fn a_model_size_limit_that_overflows_in_bytes_is_refused() {
        // Seen while writing the suite_toml fuzz target (which now asserts this invariant):
        // `max_model_mib << 20` wrapped, so a huge limit silently became a tiny (or zero) one in
        // `harness run`.
        let with = |mib: u64| format!("{GOOD}\n[limits]\nmax_model_mib = {mib}\n");
        let text = with(1 << 44);
        let e = Suite::parse(&text, Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.toml:24:1:") && e.contains("max_model_mib 17592186044416"),
            "{e}"
        );
        let s = Suite::parse(&with(MAX_MODEL_MIB), Path::new("s.toml")).unwrap();
        assert_eq!(s.limits.max_model_bytes(), MAX_MODEL_MIB << 20);
        let s = Suite::parse(GOOD, Path::new("s.toml")).unwrap();
        assert_eq!(s.limits.max_model_bytes(), 2048 << 20);
    }
}
