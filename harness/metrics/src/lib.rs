//! Pure statistics for evaluating classifiers' scores against labels: binary (the core,
//! below), multi-class ([`multiclass`]), multi-label ([`multilabel`]), patient-clustered
//! ([`cluster`]) and pooled from sites' count tables ([`pool`], [`pool_findings`],
//! [`pool_classes`]).
//!
//! This crate is the product's arithmetic: AUROC (with its exact fraction and Mann–Whitney U),
//! DeLong variances, confidence intervals and the paired DeLong test, sensitivity at a target
//! specificity, average precision, a seeded stratified bootstrap, Brier score, log loss, expected
//! calibration error, the converged logistic recalibration fit, subgroup AUROCs and fairness
//! disparities. Every definition follows `shared/spec/metrics.md` and cites its peer (R pROC,
//! R rms, scikit-learn, fairlearn, netcal) in its doc comment.
//!
//! It does no I/O and knows nothing about files, models or reports: callers hand it labels and
//! scores that are already validated (finite scores in `[0, 1]`), and get plain numbers, or
//! `None` with a human-readable reason where a statistic is undefined. Every computation is
//! O(N log N) or better: one sort per score column ([`ranks::Ranked`]) feeds everything else.
//! [`evaluate::evaluate`] assembles all of it into the serialisable `harness eval` schema, and
//! [`pool::pool`] gives the same report from sites' count tables without sharing any case
//! (federated evaluation).

pub mod binomial;
pub mod bootstrap;
pub mod calibration;
pub mod cluster;
pub mod delong;
pub mod evaluate;
pub mod groups;
pub mod multiclass;
pub mod multilabel;
pub mod multiple;
pub mod normal;
pub mod pool;
pub mod pool_classes;
pub mod pool_findings;
pub mod ranks;
pub mod registry;
pub mod roc;
pub mod roc_band;
mod vecmath;

pub use evaluate::{
    Comparison, EvalError, EvalInput, EvalOptions, EvalReport, FairnessReport, Grouping,
    ModelReport, evaluate, spec_key,
};
pub use pool::{
    CountTable, MIN_LEVEL_CASES, ModelTables, PairSums, PairedRequest, PairedSiteSums, PoolError,
    REQUEST_FORMAT, RequestModel, SITE_FORMAT, SUMS_FORMAT, SiteSummary, check_level_sizes,
    paired_request, paired_site_sums, pool, pool_paired, pool_paired_json, request_digest,
    round_to_grid, summarize,
};
pub use ranks::{Ranked, TieGroup};

/// Formats a count-based "only one class" reason the same way everywhere.
pub fn one_class_reason(positives: u64, negatives: u64) -> String {
    format!("only one class present: {positives} positives, {negatives} negatives")
}
