//! Progress and events of a run, reported to an [`Observer`] (criterion.rs's
//! `Report` trait is the model): every method has a no-op default, so an
//! implementation overrides only what it shows. The CLI draws progress bars
//! from it; a test records the calls; a scheduler's shard can log them.

use std::fmt;

/// The stages of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Suite, registry, dataset hash check, case index.
    Plan,
    /// Streaming decode → preprocess → inference on every candidate and engine.
    Infer,
    /// Statistics of the evaluated predictions.
    Evaluate,
    /// Latency and throughput on the suite's profiles.
    Measure,
    /// report.html, summary.md and the figures.
    Render,
    /// The manifest, written last.
    Seal,
}

impl Stage {
    /// All stages in the order a run passes them.
    pub const ALL: [Stage; 6] = [
        Stage::Plan,
        Stage::Infer,
        Stage::Evaluate,
        Stage::Measure,
        Stage::Render,
        Stage::Seal,
    ];

    /// A short lower-case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Stage::Plan => "plan",
            Stage::Infer => "infer",
            Stage::Evaluate => "evaluate",
            Stage::Measure => "measure",
            Stage::Render => "render",
            Stage::Seal => "seal",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Receives a run's progress. Called from the thread that runs the stage.
pub trait Observer: Sync {
    /// A stage begins; `what` says what it works on, e.g. "verifying dataset x".
    fn stage_started(&self, _stage: Stage, _what: &str) {}
    /// A stage ended (successfully or not).
    fn stage_finished(&self, _stage: Stage) {}
    /// Inference will pass `cases` cases through `models` loaded models.
    fn inference_started(&self, _cases: u64, _models: usize) {}
    /// `n` more cases passed through every model.
    fn cases_done(&self, _n: u64) {}
    /// A performance measurement (model × engine × profile × scenario × batch) begins.
    fn measurement_started(&self, _label: &str) {}
    /// Fraction done (0–1) of the current measurement, with a short status.
    fn measurement_progress(&self, _fraction: f64, _status: &str) {}
    /// The current measurement ended.
    fn measurement_finished(&self) {}
    /// Something the user should know that does not stop the run.
    fn warning(&self, _message: &str) {}
    /// Plain information (dataset verified, bundle location, …).
    fn info(&self, _message: &str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Adapts an [`Observer`] to `harness-measure`'s progress callback.
pub(crate) struct MeasureProgress<'a>(pub &'a dyn Observer);

impl harness_measure::run::Progress for MeasureProgress<'_> {
    fn update(&self, fraction: f64, status: &str) {
        self.0.measurement_progress(fraction, status);
    }
}

/// Tells `observer` what becomes of an earlier finished bundle in the folder `bundle` writes
/// to: kept until this one is finished (information), or cleared as it starts (a warning).
pub(crate) fn earlier_bundle(
    bundle: &harness_evidence::bundle::BundleWriter,
    observer: &dyn Observer,
) {
    match bundle.earlier_bundle_note() {
        Some((note, true)) => observer.warning(&note),
        Some((note, false)) => observer.info(&note),
        None => {}
    }
}
