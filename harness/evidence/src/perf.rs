//! Measuring one model on one backend over hardware profiles and LoadGen
//! scenarios: the glue between `harness-backends` (which runs a model) and
//! `harness-measure` (which times it). Used by `harness bench` and by
//! `harness run`. Inputs are prepared before timing: real preprocessed cases
//! where a suite has them, otherwise a seeded pseudo-random tensor of the
//! model's declared input shape.

use harness_backends::{Backend, Batch, LoadOptions};
use harness_measure::{RunLabels, Scenario, ScenarioResult, Settings, measure};
use harness_measure::profile::Profile;
use indicatif::ProgressBar;
use std::path::Path;

/// What to measure.
#[derive(Clone, Debug)]
pub struct PerfPlan {
    pub profiles: Vec<Profile>,
    pub scenarios: Vec<Scenario>,
    /// Offline batch sizes (single-stream and server always use 1).
    pub batch_sizes: Vec<usize>,
    pub settings: Settings,
}

/// Source of input samples: a batch of one or more real cases (`[n, ...]`).
#[derive(Clone, Debug)]
pub struct Samples(pub Batch);

impl Samples {
    /// A batch of `size` cases, cycling through the samples.
    pub fn batch(&self, size: usize) -> Batch {
        let n = self.0.shape.first().copied().unwrap_or(1).max(1);
        let per = self.0.data.len() / n;
        let mut data = Vec::with_capacity(per * size);
        for i in 0..size {
            let j = i % n;
            data.extend_from_slice(&self.0.data[j * per..(j + 1) * per]);
        }
        let mut shape = self.0.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = size;
        }
        Batch { shape, data }
    }

    /// One pseudo-random case of `shape` (the batch dimension set to 1), values
    /// uniform in [0, 1), from a fixed seed (SplitMix64; Steele et al. 2014).
    pub fn synthetic(shape: &[usize], seed: u64) -> Samples {
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
        Samples(Batch { shape, data })
    }
}

/// Callback creating a progress bar for one measurement (given its label).
pub type ProgressFactory<'a> = &'a dyn Fn(&str) -> Option<ProgressBar>;

/// Measures `model` on `backend` for every profile × scenario × batch size of
/// `plan`. A profile the backend cannot serve (GPU without CUDA, a failed load)
/// gives one `unavailable`/`failed` row and the rest goes on.
pub fn measure_model(
    backend: &dyn Backend,
    model: &Path,
    model_label: &str,
    model_sha256: &str,
    samples: &Samples,
    plan: &PerfPlan,
    progress: ProgressFactory,
) -> Vec<ScenarioResult> {
    let mut out = Vec::new();
    let version = match backend.availability() {
        harness_backends::Availability::Available { version } => version,
        harness_backends::Availability::Unavailable { reason } => {
            for p in &plan.profiles {
                out.push(labelled(ScenarioResult::unavailable(backend.name(), &p.name, &reason), model_label, model_sha256, None));
            }
            return out;
        }
    };
    for p in &plan.profiles {
        let mut loaded = match backend.load(model, &LoadOptions { threads: p.threads.max(1), device: p.device }) {
            Ok(m) => m,
            Err(e) => {
                let r = match e {
                    harness_backends::BackendError::Unavailable { reason, .. } => {
                        ScenarioResult::unavailable(backend.name(), &p.name, &reason)
                    }
                    other => ScenarioResult::failed(backend.name(), &p.name, &other.to_string()),
                };
                out.push(labelled(r, model_label, model_sha256, Some(&version)));
                continue;
            }
        };
        let mut labels = RunLabels::new(backend.name(), p);
        labels.model = Some(model_label.to_string());
        labels.model_sha256 = Some(model_sha256.to_string());
        labels.backend_version = Some(version.clone());
        for &scenario in &plan.scenarios {
            let sizes: Vec<usize> = match scenario {
                Scenario::Offline => plan.batch_sizes.clone(),
                _ => vec![1],
            };
            for bs in sizes {
                let batch = samples.batch(bs);
                let mut workload = |_: usize| loaded.run(&batch).map(|_| ()).map_err(|e| e.to_string());
                let label = format!("{model_label} {} {} {} b{bs}", backend.name(), p.name, scenario.name());
                let bar = progress(&label);
                let r = measure(&mut workload, scenario, bs, &plan.settings, bar.as_ref());
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
                out.push(r.labelled(&labels));
            }
        }
    }
    out
}

fn labelled(mut r: ScenarioResult, model: &str, sha: &str, version: Option<&str>) -> ScenarioResult {
    r.model = Some(model.to_string());
    r.model_sha256 = Some(sha.to_string());
    r.backend_version = version.map(str::to_string);
    r
}
