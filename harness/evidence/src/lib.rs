//! Suites, the evaluation of a bundle's predictions, gates and the tamper-evident evidence
//! bundle.
//!
//! A bundle is a folder: `predictions.csv` (per case, per candidate),
//! `metrics.json` (the `harness eval` schema), `performance.json` (the
//! `harness bench` schema), `agreement.json`, the report files, and
//! `manifest.json` with the sha256 of all of them plus the hashes of the suite,
//! models and dataset they came from. [`bundle`] writes one crash-safely,
//! [`verify`] checks one, [`suite`] reads the declarative suite files. [`evaluation`] is the one
//! path from predictions to statistics (every task), [`gate`] judges acceptance criteria,
//! [`shard`] describes a sharded run's parts and [`signing`] signs and checks manifests. The
//! dataset registry and its pins live in `harness_data::registry`.

pub mod bundle;
pub mod evaluation;
pub mod gate;
pub mod manifest;
pub mod predictions;
pub mod shard;
pub mod signing;
pub mod suite;
pub mod verify;

pub use bundle::{BundleError, BundleWriter};
pub use evaluation::{
    ClassColumns, EvalSettings, EvaluateError, FindingColumns, Metrics, evaluate_csv,
    evaluate_predictions, evaluate_table, metrics_json,
};
pub use harness_data::{write_atomic, write_private};
pub use manifest::Manifest;
pub use predictions::Predictions;
pub use shard::{Shard, ShardFile, ShardSource};
pub use suite::Suite;
pub use verify::{Verification, VerifiedBundle, VerifyOptions, check_input, verify};

/// The current time as RFC 3339 UTC, to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
