//! The `harness bench` JSON schema ([`BenchReport`], [`ScenarioResult`]); the CLI draws its
//! table.
//!
//! Every float in the schema is finite: a figure that cannot be computed is `null` with a
//! `*_reason` (or the result's `reason`) saying why.

use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::profile::Profile;
use crate::settings::{Scenario, Settings};
use crate::stats::{EarlyStopping, LatencySummary};

/// Outcome of one scenario run: `ok` (measured to the end, possibly cut by `max_duration`;
/// see `max_duration_reached`), `failed` (the engine failed part-way; figures cover the queries
/// measured before the failure) or `unavailable` (not run: the backend or device is not here).
pub use harness_types::Status;

/// Server-scenario figures (LoadGen's Server result).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerSummary {
    /// Requested mean arrival rate.
    pub target_qps: f64,
    /// LoadGen's "completed samples per second": `(n − 1) / time of the last completion`;
    /// `null` with fewer than two queries.
    pub achieved_qps: Option<f64>,
    pub latency_bound_ms: f64,
    /// The run's verdict, as LoadGen judges a Server run's latency: the plain percentile is
    /// within the bound (`PerfConstraintsMet`) **and** early stopping is satisfied.
    pub meets_bound: bool,
    /// LoadGen's "scheduled samples per second": `(n − 1) / last scheduled arrival`.
    pub scheduled_qps: Option<f64>,
    /// Percentile the bound applies to (0.99).
    pub percentile: f64,
    /// That percentile of the latencies by LoadGen's index rule.
    pub percentile_ms: Option<f64>,
    pub percentile_within_bound: bool,
    pub early_stopping_met: bool,
}

/// One (model, backend, profile, scenario, batch size) measurement.
///
/// The first eighteen fields are the fixed schema other tools read; the rest are additions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub model: Option<String>,
    pub model_sha256: Option<String>,
    pub backend: String,
    pub backend_version: Option<String>,
    pub profile: String,
    pub scenario: Option<Scenario>,
    pub batch_size: Option<usize>,
    pub threads: Option<usize>,
    /// Measured queries (batches in Offline), warm-up excluded.
    pub queries: u64,
    /// Measured samples (`queries × batch_size`).
    pub samples: u64,
    /// From the start of the measured phase to the last completion.
    pub duration_s: f64,
    /// `samples / duration_s`.
    pub throughput_per_s: Option<f64>,
    /// Per-query latency (per batch in Offline; from scheduled arrival in Server).
    pub latency_ms: Option<LatencySummary>,
    /// Single-stream and server only.
    pub early_stopping: Option<EarlyStopping>,
    /// Server only.
    pub server: Option<ServerSummary>,
    /// `[latency_ms, fraction ≤ latency]`, at most 101 points.
    pub latency_cdf: Vec<[f64; 2]>,
    pub status: Status,
    /// Why the run failed or was unavailable, or a note on an `ok` run (e.g. cut short).
    pub reason: Option<String>,
    pub throughput_reason: Option<String>,
    pub latency_reason: Option<String>,
    pub warmup_queries: u64,
    /// LoadGen's minimum-duration check (Server: last scheduled arrival ≥ `min_duration`).
    pub min_duration_met: bool,
    /// Minimum query count met (samples in Offline).
    pub min_queries_met: bool,
    pub max_duration_reached: bool,
}

/// What identifies a run, filled in by the caller after [`crate::measure`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunLabels {
    pub model: Option<String>,
    pub model_sha256: Option<String>,
    pub backend: String,
    pub backend_version: Option<String>,
    pub profile: String,
    pub threads: Option<usize>,
}

impl RunLabels {
    /// Labels for `backend` under `profile` (name and thread count taken from it).
    pub fn new(backend: impl Into<String>, profile: &Profile) -> Self {
        RunLabels {
            backend: backend.into(),
            profile: profile.name.clone(),
            threads: Some(profile.threads),
            ..RunLabels::default()
        }
    }
}

impl ScenarioResult {
    /// A result with no measurements yet (used by the scenario runner).
    pub(crate) fn empty(scenario: Scenario, batch_size: usize) -> Self {
        ScenarioResult {
            model: None,
            model_sha256: None,
            backend: String::new(),
            backend_version: None,
            profile: String::new(),
            scenario: Some(scenario),
            batch_size: Some(batch_size),
            threads: None,
            queries: 0,
            samples: 0,
            duration_s: 0.0,
            throughput_per_s: None,
            latency_ms: None,
            early_stopping: None,
            server: None,
            latency_cdf: Vec::new(),
            status: Status::Ok,
            reason: None,
            throughput_reason: None,
            latency_reason: None,
            warmup_queries: 0,
            min_duration_met: false,
            min_queries_met: false,
            max_duration_reached: false,
        }
    }

    fn not_measured(status: Status, backend: &str, profile: &str, reason: &str) -> Self {
        let mut r = ScenarioResult::empty(Scenario::SingleStream, 0);
        r.scenario = None;
        r.batch_size = None;
        r.backend = backend.to_string();
        r.profile = profile.to_string();
        r.status = status;
        r.reason = Some(reason.to_string());
        r.throughput_reason = Some("not measured".into());
        r.latency_reason = Some("not measured".into());
        r
    }

    /// A result for a backend/profile that cannot run here (missing library, no GPU, …).
    /// Set `scenario`/`batch_size`/`model` afterwards if they are known.
    pub fn unavailable(backend: &str, profile: &str, reason: &str) -> Self {
        Self::not_measured(Status::Unavailable, backend, profile, reason)
    }

    /// A result for a run that failed before measuring anything (e.g. the model did not load).
    pub fn failed(backend: &str, profile: &str, reason: &str) -> Self {
        Self::not_measured(Status::Failed, backend, profile, reason)
    }

    /// Fills in the identifying fields; `threads` is kept when the labels have none.
    pub fn labelled(mut self, labels: &RunLabels) -> Self {
        self.model = labels.model.clone();
        self.model_sha256 = labels.model_sha256.clone();
        self.backend = labels.backend.clone();
        self.backend_version = labels.backend_version.clone();
        self.profile = labels.profile.clone();
        self.threads = labels.threads.or(self.threads);
        self
    }
}

/// The whole `harness bench` output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub tool_version: String,
    pub machine: Machine,
    pub settings: Settings,
    pub results: Vec<ScenarioResult>,
}

impl BenchReport {
    /// An empty report stamped with this crate's version (callers may overwrite `tool_version`
    /// with the binary's).
    pub fn new(machine: Machine, settings: Settings) -> Self {
        BenchReport {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            machine,
            settings,
            results: Vec::new(),
        }
    }
}
