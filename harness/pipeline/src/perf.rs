//! Measuring one model on one engine over hardware profiles and LoadGen
//! scenarios: the glue between `harness-backends` (which runs a model) and
//! `harness-measure` (which times it). Used by `harness bench` and by the
//! run's measure stage. Inputs are prepared before timing: real preprocessed
//! cases where a suite has them, otherwise a seeded pseudo-random tensor of
//! the input shape **the measured engine** declares (or one the user gives).

use crate::ModelBytes;
use crate::observer::{MeasureProgress, Observer};
use harness_backends::{Availability, Backend, BackendError, Batch, LoadOptions, TensorInfo};
use harness_measure::profile::Profile;
use harness_measure::{RunLabels, Scenario, ScenarioResult, Settings, measure};

/// What to measure.
#[derive(Clone, Debug)]
pub struct PerfPlan {
    pub profiles: Vec<Profile>,
    pub scenarios: Vec<Scenario>,
    /// Offline batch sizes (single-stream and server always use 1).
    pub batch_sizes: Vec<usize>,
    pub settings: Settings,
}

/// Where measured inputs come from.
#[derive(Clone, Debug)]
pub enum Samples {
    /// Real preprocessed cases (`[n, ...]`), cycled.
    Cases(Batch),
    /// Seeded pseudo-random values in [0, 1) of a given shape (batch first), or of the
    /// input shape the measured engine reads from the model when `shape` is `None`.
    Synthetic {
        shape: Option<Vec<usize>>,
        seed: u64,
    },
}

impl Samples {
    /// One case's worth of input for a loaded model.
    ///
    /// # Errors
    ///
    /// A message when the model's input has a dynamic dimension other than the batch
    /// and no shape was given.
    pub fn resolve(&self, input: &TensorInfo) -> Result<Batch, String> {
        match self {
            Samples::Cases(b) => Ok(b.clone()),
            Samples::Synthetic {
                shape: Some(shape),
                seed,
            } => Ok(synthetic(shape, *seed)),
            Samples::Synthetic { shape: None, seed } => {
                let dims: Vec<usize> = std::iter::once(1).chain(input.case_shape(None)?).collect();
                Ok(synthetic(&dims, *seed))
            }
        }
    }

    /// One case's shape (after the batch) where the samples fix it, for the engine to check
    /// and to fill the dimensions the model leaves open ([`LoadOptions::input_shape`]).
    #[must_use]
    pub fn case_shape(&self) -> Option<Vec<usize>> {
        match self {
            Samples::Cases(b) => b.shape.get(1..).map(<[usize]>::to_vec),
            Samples::Synthetic { shape, .. } => shape
                .as_ref()
                .and_then(|s| s.get(1..))
                .map(<[usize]>::to_vec),
        }
    }
}

/// A batch of `size` cases, cycling through the cases of `samples`.
#[must_use]
pub fn cycle(samples: &Batch, size: usize) -> Batch {
    let n = samples.shape.first().copied().unwrap_or(1).max(1);
    let per = samples.data.len() / n;
    let mut data = Vec::with_capacity(per * size);
    for i in 0..size {
        let j = i % n;
        data.extend_from_slice(&samples.data[j * per..(j + 1) * per]);
    }
    let mut shape = samples.shape.clone();
    if let Some(first) = shape.first_mut() {
        *first = size;
    }
    Batch { shape, data }
}

/// One pseudo-random case of `shape` (the batch dimension set to 1), values
/// uniform in [0, 1), from a fixed seed (SplitMix64; Steele et al. 2014).
#[must_use]
pub fn synthetic(shape: &[usize], seed: u64) -> Batch {
    let mut shape = shape.to_vec();
    if let Some(first) = shape.first_mut() {
        *first = 1;
    }
    let len: usize = shape.iter().product();
    let mut s = seed;
    let data = (0..len)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    Batch { shape, data }
}

/// Measures `model` (computing its scores `output`: by name, or the first) on `backend` for
/// every profile × scenario × batch size of `plan`. A profile the backend cannot serve (GPU without CUDA, a failed load,
/// an input shape it cannot tell) gives one `unavailable`/`failed` row and the
/// rest goes on. A model whose batch is fixed is measured offline at that batch.
pub fn measure_model(
    backend: &dyn Backend,
    model: &ModelBytes,
    output: Option<&str>,
    model_label: &str,
    samples: &Samples,
    plan: &PerfPlan,
    observer: &dyn Observer,
) -> Vec<ScenarioResult> {
    let mut out = Vec::new();
    let version = match backend.availability() {
        Availability::Available { version } => version,
        Availability::Unavailable { reason } => {
            for p in &plan.profiles {
                out.push(labelled(
                    ScenarioResult::unavailable(backend.name(), &p.name, &reason),
                    model_label,
                    &model.sha256,
                    None,
                ));
            }
            return out;
        }
    };
    for p in &plan.profiles {
        let options = LoadOptions {
            threads: p.threads.max(1),
            device: p.device,
            shared_cpu: false,
            output: output.map(str::to_string),
            input_shape: samples.case_shape(),
        };
        let mut loaded = match backend.load_bytes(&model.path, &model.bytes, &options) {
            Ok(m) => m,
            Err(e) => {
                let r = match e {
                    BackendError::Unavailable { reason, .. } => {
                        ScenarioResult::unavailable(backend.name(), &p.name, &reason)
                    }
                    other => ScenarioResult::failed(backend.name(), &p.name, &other.to_string()),
                };
                out.push(labelled(r, model_label, &model.sha256, Some(&version)));
                continue;
            }
        };
        let base = match samples.resolve(loaded.input()) {
            Ok(b) => b,
            Err(reason) => {
                out.push(labelled(
                    ScenarioResult::failed(backend.name(), &p.name, &reason),
                    model_label,
                    &model.sha256,
                    Some(&version),
                ));
                continue;
            }
        };
        let fixed = loaded.input().fixed_batch();
        let mut labels = RunLabels::new(backend.name(), p);
        labels.model = Some(model_label.to_string());
        labels.model_sha256 = Some(model.sha256.clone());
        labels.backend_version = Some(version.clone());
        for &scenario in &plan.scenarios {
            let mut sizes: Vec<usize> = match scenario {
                Scenario::Offline => plan
                    .batch_sizes
                    .iter()
                    .map(|&b| fixed.unwrap_or(b))
                    .collect(),
                _ => vec![1],
            };
            sizes.dedup();
            for bs in sizes {
                let batch = cycle(&base, bs);
                let mut workload =
                    |_: usize| loaded.run(&batch).map(|_| ()).map_err(|e| e.to_string());
                let label = format!(
                    "{model_label} {} {} {} b{bs}",
                    backend.name(),
                    p.name,
                    scenario.name()
                );
                observer.measurement_started(&label);
                let progress = MeasureProgress(observer);
                let r = measure(&mut workload, scenario, bs, &plan.settings, Some(&progress));
                observer.measurement_finished();
                out.push(r.labelled(&labels));
            }
        }
    }
    out
}

fn labelled(
    mut r: ScenarioResult,
    model: &str,
    sha: &str,
    version: Option<&str>,
) -> ScenarioResult {
    r.model = Some(model.to_string());
    r.model_sha256 = Some(sha.to_string());
    r.backend_version = version.map(str::to_string);
    r
}

/// Overrides of the LoadGen settings, from a suite's `[performance]` or `bench`'s flags:
/// the one place both are merged into [`Settings`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerfOverrides {
    pub min_duration_s: Option<f64>,
    pub min_queries: Option<u64>,
    pub max_duration_s: Option<f64>,
    pub target_qps: Option<f64>,
    pub latency_bound_ms: Option<f64>,
}

impl PerfOverrides {
    /// The suite's values. Under `quick` the durations and query counts are
    /// the short CI ones (the suite's are for full runs); rates and bounds still apply.
    #[must_use]
    pub fn from_suite(p: &harness_evidence::suite::Performance, quick: bool) -> PerfOverrides {
        PerfOverrides {
            min_duration_s: p.min_duration_s.filter(|_| !quick),
            min_queries: p.min_queries.filter(|_| !quick),
            max_duration_s: p.max_duration_s.filter(|_| !quick),
            target_qps: p.target_qps,
            latency_bound_ms: p.latency_bound_ms,
        }
    }

    /// `Settings::quick()` or `Settings::default()` with these overrides applied.
    ///
    /// # Errors
    ///
    /// A message naming a value that is not a valid duration, rate or bound.
    pub fn settings(&self, quick: bool) -> Result<Settings, String> {
        let mut s = if quick {
            Settings::quick()
        } else {
            Settings::default()
        };
        // 1e300 as written, not as 301 digits.
        let shown = |v: f64| {
            if v.is_finite() && v.abs() >= 1e9 {
                format!("{v:e}")
            } else {
                format!("{v}")
            }
        };
        let seconds = |name: &str, v: f64| {
            // (`try_`: a number of seconds too large for a Duration is an error, not a panic.)
            match std::time::Duration::try_from_secs_f64(v) {
                Ok(d) if v.is_finite() => Ok(d),
                _ => Err(format!(
                    "{name} {} must be a number of seconds ≥ 0",
                    shown(v)
                )),
            }
        };
        if let Some(v) = self.min_duration_s {
            s.min_duration = seconds("min_duration", v)?;
        }
        if let Some(q) = self.min_queries {
            s.min_query_count = q;
        }
        if let Some(v) = self.max_duration_s {
            s.max_duration = seconds("max_duration", v)?;
        }
        if let Some(q) = self.target_qps {
            s.target_qps = q;
        }
        if let Some(b) = self.latency_bound_ms {
            s.latency_bound = std::time::Duration::try_from_secs_f64(b / 1000.0)
                .ok()
                .filter(|d| b.is_finite() && !d.is_zero() && b > 0.0)
                .ok_or_else(|| format!("latency bound {} ms must be positive", shown(b)))?;
        }
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::PerfOverrides;

    /// Durations and bounds a user types: accepted when they are times, refused with the
    /// value named otherwise — negative, not a number, or too large for a duration (which
    /// panicked) alike.
    #[test]
    fn overrides_accept_times_and_refuse_the_rest_without_panicking() {
        let with = |min: f64, bound: f64| {
            PerfOverrides {
                min_duration_s: Some(min),
                latency_bound_ms: Some(bound),
                ..PerfOverrides::default()
            }
            .settings(true)
        };
        let s = with(2.5, 50.0).unwrap();
        assert_eq!(s.min_duration.as_secs_f64(), 2.5);
        assert_eq!(s.latency_bound.as_secs_f64(), 0.05);
        for (min, bound) in [
            (-1.0, 50.0),
            (f64::NAN, 50.0),
            (1e300, 50.0),
            (f64::INFINITY, 50.0),
            (1.0, -5.0),
            (1.0, 0.0),
            (1.0, 1e300),
            (1.0, f64::NAN),
        ] {
            let e = with(min, bound).unwrap_err();
            assert!(e.contains("must be"), "{min} {bound}: {e}");
        }
    }
}
