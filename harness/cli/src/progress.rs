//! The terminal face of a run: an [`Observer`] that draws indicatif progress
//! bars on stderr (hidden automatically when stderr is not a terminal) and
//! prints warnings and information lines.

use harness_pipeline::{Observer, Stage};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::time::Duration;

/// Progress bars for `harness run` and `harness bench`.
#[derive(Default)]
pub struct Bars {
    /// The spinner of the current stage or the case bar of inference.
    current: Mutex<Option<ProgressBar>>,
    /// The bar of the current performance measurement.
    measurement: Mutex<Option<ProgressBar>>,
}

const TICKS: u64 = 1000;

impl Bars {
    fn replace(slot: &Mutex<Option<ProgressBar>>, bar: Option<ProgressBar>) {
        let mut slot = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = slot.take() {
            old.finish_and_clear();
        }
        *slot = bar;
    }

    fn with(slot: &Mutex<Option<ProgressBar>>, f: impl FnOnce(&ProgressBar)) {
        let slot = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bar) = slot.as_ref() {
            f(bar);
        }
    }

    /// Prints above any bar.
    fn line(&self, text: &str) {
        let slot = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match slot.as_ref() {
            Some(bar) => bar.suspend(|| errln!("{text}")),
            None => errln!("{text}"),
        }
    }
}

impl Observer for Bars {
    fn stage_started(&self, stage: Stage, what: &str) {
        if matches!(stage, Stage::Measure | Stage::Infer) {
            // These draw their own bars.
            return;
        }
        let bar = ProgressBar::new_spinner();
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self::replace(&self.current, Some(bar));
    }

    fn stage_finished(&self, _stage: Stage) {
        Self::replace(&self.current, None);
    }

    fn inference_started(&self, cases: u64, models: usize) {
        let bar = ProgressBar::new(cases);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} cases, {per_sec} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(format!("inference ({models} models)"));
        Self::replace(&self.current, Some(bar));
    }

    fn cases_done(&self, n: u64) {
        Self::with(&self.current, |b| b.inc(n));
    }

    fn measurement_started(&self, label: &str) {
        let bar = ProgressBar::new(TICKS);
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(label.to_string());
        Self::replace(&self.measurement, Some(bar));
    }

    fn measurement_progress(&self, fraction: f64, status: &str) {
        Self::with(&self.measurement, |b| {
            b.set_position((fraction.clamp(0.0, 1.0) * TICKS as f64) as u64);
            b.set_message(status.to_string());
        });
    }

    fn measurement_finished(&self) {
        Self::replace(&self.measurement, None);
    }

    fn warning(&self, message: &str) {
        self.line(&format!("warning: {message}"));
    }

    fn info(&self, message: &str) {
        self.line(message);
    }
}
