//! Streaming inference: every case is read and decoded **once**, preprocessed
//! for each distinct preprocessing the candidates declare, and fed to every
//! candidate on every engine, in case order.
//!
//! ```text
//!   producer thread                         consumer (calling thread)
//!   chunk k: cases decoded in parallel  ──▶ chunk k-1: batches run on each
//!   (rayon), hashed, preprocessed,          candidate's engines; primary on
//!   full images dropped                     all cases, secondaries on the
//!          bounded channel (1 chunk)        agreement sample
//! ```
//!
//! Memory is bounded by the chunk size, not by the number of cases: at most
//! three chunks of preprocessed tensors exist (one being decoded, one queued,
//! one being run) plus the full-size images the decode threads hold at once,
//! plus the models. Chunks are whole multiples of the batch size, so batches
//! have the same composition whatever the thread timing, and predictions come
//! out in case order.
//!
//! Models are read once: the bytes hashed against the suite's pin are the
//! bytes every engine loads. A model whose batch dimension is fixed (many
//! exporters write 1) is run at that batch size without user action.

use crate::cases::CaseIndex;
use crate::observer::Observer;
use crate::{ModelBytes, PipelineError};
use harness_backends::{
    Availability, BackendError, BackendKind, Batch, Device, ExifOrientation, LoadOptions,
    LoadedModel, OutputKind, OutputSpec, Preprocess, interpret, to_tensor,
};
use harness_data::BoundedReadError;
use harness_data::images::Orientation;
use harness_evidence::manifest::{
    BackendRecord, CandidateRecord, InputFile, Outcome, TurnedImages,
};
use harness_evidence::suite::{AccuracyDevice, Candidate};
use rayon::prelude::*;
use std::path::Path;
use std::sync::mpsc;

/// Cases kept per preprocessing for performance measurement (real inputs, not noise).
pub const PERF_SAMPLES: usize = 64;

/// How the accuracy pass runs.
#[derive(Debug, Clone)]
pub struct InferConfig {
    /// The suite's primary backend (the evaluated engine on the CPU).
    pub primary: BackendKind,
    /// Where the evaluated predictions are computed.
    pub device: AccuracyDevice,
    /// Cases per inference call.
    pub batch_size: usize,
    /// Intra-op threads per engine call.
    pub threads: usize,
    /// Secondary engines run on a seeded sample of this many cases.
    pub agreement_cases: usize,
    /// Seed of that sample.
    pub seed: u64,
    /// The agreement sample as case indices, when the caller draws it (a shard: the full
    /// run's sample restricted to its cases); `None` draws `agreement_cases` of the cases.
    pub sample: Option<Vec<usize>>,
    /// Largest model file accepted, in bytes.
    pub max_model_bytes: u64,
    /// `limits.max_model_mib`, for the message.
    pub max_model_mib: u64,
    /// What the pass records (the candidates' warnings, the manifest) names no case: a
    /// federated site's run, whose bundle holds no case id or per-case row.
    pub names_no_case: bool,
}

/// What the accuracy pass produced for one candidate.
#[derive(Debug)]
pub struct CandidateOutcome {
    /// Status, reason and each engine's status, as the manifest records them.
    pub record: CandidateRecord,
    /// The evaluated engine's probabilities, case by case: one per case for a binary task, else
    /// one per evaluated output column (`candidate.output.width()`, row-major); `None` when the
    /// candidate failed.
    pub probabilities: Option<Vec<f64>>,
    /// (engine, probabilities on the agreement sample, laid out as `probabilities`): the
    /// evaluated engine first, then every secondary engine that ran on the whole sample.
    pub sampled: Vec<(String, Vec<f64>)>,
    /// The model as loaded (for performance measurement); `None` if it could not be read.
    pub model: Option<ModelBytes>,
    /// Up to [`PERF_SAMPLES`] preprocessed cases, as one batch.
    pub perf_samples: Option<Batch>,
}

/// The engine and device that produced the evaluated predictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluatedEngine {
    pub kind: BackendKind,
    pub device: Device,
    /// Why the requested device was not used, when it was not.
    pub fallback_reason: Option<String>,
}

/// The accuracy pass of a whole suite.
#[derive(Debug)]
pub struct InferenceOutcome {
    pub candidates: Vec<CandidateOutcome>,
    /// Sorted case indices the secondary engines ran on.
    pub sample: Vec<usize>,
    /// The evaluated engine (the first successful candidate's; all share the same choice).
    pub engine: EvaluatedEngine,
    /// The bit depth every image shares (checked as they are decoded), where the format says.
    pub sample_bits: Option<u8>,
    /// The images whose files say they are to be turned for display, when any do.
    pub turned: Option<TurnedImages>,
}

/// The seeded agreement sample: `k` of `n` case indices, sorted, by Knuth's
/// selection sampling (TAOCP vol. 2, 3.4.2, Algorithm S) driven by
/// Xoshiro256++; all indices when `k ≥ n`.
#[must_use]
pub fn agreement_sample(n: usize, k: usize, seed: u64) -> Vec<usize> {
    use rand_xoshiro::Xoshiro256PlusPlus;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};
    if k >= n {
        return (0..n).collect();
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xa9_5e1e_c7ed);
    let mut out = Vec::with_capacity(k);
    for i in 0..n {
        let remaining = (n - i) as u64;
        let needed = (k - out.len()) as u64;
        // Uniform in [0, remaining): select i with probability needed / remaining.
        let u = ((u128::from(rng.next_u64()) * u128::from(remaining)) >> 64) as u64;
        if u < needed {
            out.push(i);
            if out.len() == k {
                break;
            }
        }
    }
    out
}

/// One loaded engine of a candidate.
struct Engine {
    kind: BackendKind,
    model: Box<dyn LoadedModel>,
    /// Cases per call: the model's fixed batch, else the suite's batch size.
    batch: usize,
    /// Pad a short final batch to `batch` (fixed-batch models).
    pad: bool,
    primary: bool,
    /// Index into the candidate record's `backends`.
    record: usize,
    probabilities: Vec<f64>,
    failed: bool,
    /// Every raw output row so far is already a probability distribution (non-negative,
    /// summing to 1): a model that ends in a softmax, for which `kind = "softmax"` would apply
    /// a second one.
    rows_are_distributions: bool,
}

/// Whether each row of a raw `[N, K]` output is non-negative and sums to 1 (within float
/// rounding): probabilities already.
fn rows_are_distributions(raw: &harness_backends::RawOutput) -> bool {
    let k = match raw.shape.as_slice() {
        &[_, k] if k > 1 => k,
        _ => return false,
    };
    raw.data.chunks_exact(k).all(|row| {
        row.iter().all(|&v| v >= -1e-6)
            && (row.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() < 1e-4
    })
}

/// A candidate during the pass.
struct Active<'a> {
    candidate: &'a Candidate,
    record: CandidateRecord,
    model: Option<ModelBytes>,
    engines: Vec<Engine>,
    /// Index of its preprocessing among the distinct ones.
    group: usize,
    evaluated: Option<EvaluatedEngine>,
}

impl Active<'_> {
    fn fail(&mut self, reason: String, observer: &dyn Observer) {
        observer.warning(&format!("candidate {}: FAILED: {reason}", self.record.name));
        self.record.outcome = Outcome::failed(reason);
        self.engines.clear();
    }

    /// True once the candidate has failed (its record says so).
    fn failed(&self) -> bool {
        self.record.outcome.is_failed()
    }
}

/// The preprocessed tensors of one case, one per distinct preprocessing
/// (an error text where that preprocessing cannot be applied to the image).
struct Prepared {
    tensors: Vec<Result<Vec<f32>, String>>,
    /// The decoded image's bits per sample, where the format has a fixed depth.
    sample_bits: Option<u8>,
    /// How the file says the image is to be turned for display (EXIF).
    orientation: Orientation,
}

/// The images whose files say they are to be turned for display (an EXIF Orientation tag):
/// how many, and the first (case index and how).
#[derive(Default)]
struct Turned {
    count: usize,
    first: Option<(usize, Orientation)>,
}

impl Turned {
    /// As the manifest records it, when any image is to be turned (without naming the first
    /// case or its row with `names_no_case`).
    fn record(&self, cases: &CaseIndex, names_no_case: bool) -> Option<TurnedImages> {
        let (first, how) = self.first?;
        Some(TurnedImages {
            count: self.count as u64,
            first_case: (!names_no_case).then(|| cases.case_ids[first].clone()),
            first_row: (!names_no_case).then_some(first as u64),
            first_exif: how.to_exif(),
        })
    }
}

/// Cases decoded per chunk at batch size `batch`: enough for every decode thread and two
/// batches, in whole batches.
fn chunk_len(batch: usize) -> usize {
    let want = (8 * rayon::current_num_threads()).max(2 * batch);
    want.div_ceil(batch) * batch
}

/// The least memory a run's preprocessed tensors take at once, whatever the number of threads
/// or cases: three chunks (one being decoded, one queued, one being run) of two batches, with
/// one float32 tensor per case and distinct preprocessing (more threads make larger chunks;
/// a dataset smaller than a chunk, smaller ones). The engines' own memory comes on top.
#[must_use]
pub fn tensor_memory(candidates: &[Candidate], batch_size: usize) -> u64 {
    let mut distinct: Vec<&Preprocess> = Vec::new();
    for c in candidates {
        if !distinct.contains(&&c.preprocess) {
            distinct.push(&c.preprocess);
        }
    }
    let per_case: u64 = distinct
        .iter()
        .map(|p| {
            p.case_shape()
                .iter()
                .fold(4u64, |bytes, &d| bytes.saturating_mul(d as u64))
        })
        .fold(0u64, u64::saturating_add);
    per_case.saturating_mul(6 * batch_size.max(1) as u64)
}

/// The candidate's backends with the primary first, each once.
#[must_use]
pub fn backends_of(c: &Candidate, primary: BackendKind) -> Vec<BackendKind> {
    let mut v = vec![primary];
    v.extend(c.backends.iter().copied().filter(|&k| k != primary));
    v
}

/// Runs every candidate over every case.
///
/// # Errors
///
/// A [`PipelineError`] for a case that cannot be read or decoded, or whose
/// bytes changed since the dataset was verified; a candidate's own failure
/// (model, engine, output) is recorded in its outcome instead.
pub fn infer(
    cases: &CaseIndex,
    candidates: &[Candidate],
    root: &Path,
    config: &InferConfig,
    observer: &dyn Observer,
) -> Result<InferenceOutcome, PipelineError> {
    let mut groups: Vec<Preprocess> = Vec::new();
    let mut active: Vec<Active> = candidates
        .iter()
        .map(|c| {
            let group = groups
                .iter()
                .position(|p| *p == c.preprocess)
                .unwrap_or_else(|| {
                    groups.push(c.preprocess.clone());
                    groups.len() - 1
                });
            prepare_candidate(c, root, config, group, observer)
        })
        .collect();
    let n = cases.len();
    let any_secondary = active.iter().any(|a| a.engines.iter().any(|e| !e.primary));
    let sample = if any_secondary {
        config
            .sample
            .clone()
            .unwrap_or_else(|| agreement_sample(n, config.agreement_cases, config.seed))
    } else {
        Vec::new()
    };
    let mut in_sample = vec![false; n];
    for &i in &sample {
        in_sample[i] = true;
    }
    let models: usize = active.iter().map(|a| a.engines.len()).sum();
    observer.inference_started(n as u64, models);

    let batch = config.batch_size.max(1);
    let chunk_len = chunk_len(batch);
    let mut perf: Vec<Vec<Vec<f32>>> = vec![Vec::new(); groups.len()];
    let needed: Vec<bool> = (0..groups.len())
        .map(|g| active.iter().any(|a| a.group == g && !a.failed()))
        .collect();

    let mut turned = Turned::default();
    let sample_bits = std::thread::scope(|scope| -> Result<Option<u8>, PipelineError> {
        let (tx, rx) = mpsc::sync_channel::<Result<(usize, Vec<Prepared>), PipelineError>>(1);
        let groups = &groups;
        let needed = &needed;
        // A GPU run that fell back to the CPU has its engines there too.
        let engines_on_cpu = active
            .iter()
            .filter_map(|a| a.evaluated.as_ref())
            .any(|e| e.device == Device::Cpu);
        let pool = decode_pool(engines_on_cpu);
        scope.spawn(move || {
            for start in (0..n).step_by(chunk_len) {
                let end = (start + chunk_len).min(n);
                let decode = || {
                    (start..end)
                        .into_par_iter()
                        .map(|i| prepare_case(cases, i, groups, needed))
                        .collect()
                };
                let chunk: Result<Vec<Prepared>, PipelineError> = match &pool {
                    Some(pool) => pool.install(decode),
                    None => decode(),
                };
                let failed = chunk.is_err();
                if tx.send(chunk.map(|c| (start, c))).is_err() || failed {
                    return;
                }
            }
        });
        // The first case's bit depth, and that case: every image must share it.
        let mut depth: Option<(u8, usize)> = None;
        for received in rx {
            let (start, chunk) = received?;
            for (k, bits) in chunk
                .iter()
                .enumerate()
                .filter_map(|(k, p)| Some((k, p.sample_bits?)))
            {
                match depth {
                    None => depth = Some((bits, start + k)),
                    Some((first_bits, first)) if first_bits != bits => {
                        return Err(PipelineError::MixedBitDepth {
                            first: cases.case_ids[first].clone(),
                            first_bits,
                            case: cases.case_ids[start + k].clone(),
                            bits,
                        });
                    }
                    Some(_) => {}
                }
            }
            for (k, p) in chunk.iter().enumerate() {
                if p.orientation != Orientation::NoTransforms {
                    turned.count += 1;
                    turned.first.get_or_insert((start + k, p.orientation));
                }
            }
            for (g, kept) in perf.iter_mut().enumerate() {
                let ok = chunk.iter().filter_map(|p| p.tensors[g].as_ref().ok());
                kept.extend(ok.take(PERF_SAMPLES - kept.len()).cloned());
            }
            for a in active.iter_mut().filter(|a| !a.failed()) {
                run_chunk(
                    a,
                    cases,
                    start,
                    &chunk,
                    &in_sample,
                    config.names_no_case,
                    observer,
                );
            }
            observer.cases_done(chunk.len() as u64);
        }
        Ok(depth.map(|(bits, _)| bits))
    })?;
    let turned = turned.record(cases, config.names_no_case);

    for a in active.iter_mut().filter(|a| !a.failed()) {
        if a.candidate.preprocess.exif_orientation == ExifOrientation::Ignore
            && let Some(warning) = turned.as_ref().map(|t| t.warning(cases.len()))
        {
            observer.warning(&format!("candidate {}: {warning}", a.record.name));
            a.record.warnings.push(warning);
        }
        if a.candidate.output.kind == OutputKind::Softmax
            && a.engines
                .iter()
                .any(|e| e.primary && e.rows_are_distributions && !e.probabilities.is_empty())
        {
            let warning = "every output row is already non-negative and sums to 1, as a model ending in a softmax gives, and output.kind = \"softmax\" applies another (the probabilities are squeezed toward 1/K: rankings are kept, calibration is not): declare kind = \"probability\" if the model outputs probabilities";
            observer.warning(&format!("candidate {}: {warning}", a.record.name));
            a.record.warnings.push(warning.to_string());
        }
    }
    let mut engine = None;
    let outcomes = active
        .into_iter()
        .map(|a| {
            if engine.is_none() && !a.failed() {
                engine.clone_from(&a.evaluated);
            }
            let perf_samples = (!a.failed())
                .then(|| stack(&perf[a.group], &groups[a.group]))
                .flatten();
            finish(a, &sample, perf_samples)
        })
        .collect();
    let engine = engine.unwrap_or(EvaluatedEngine {
        kind: if config.device == AccuracyDevice::Gpu {
            BackendKind::Ort
        } else {
            config.primary
        },
        device: if config.device == AccuracyDevice::Gpu {
            Device::Cuda
        } else {
            Device::Cpu
        },
        fallback_reason: None,
    });
    Ok(InferenceOutcome {
        candidates: outcomes,
        sample,
        engine,
        sample_bits,
        turned,
    })
}

/// Concatenates per-case tensors (preprocessed by `p`) into one batch; `None` when there are none.
fn stack(tensors: &[Vec<f32>], p: &Preprocess) -> Option<Batch> {
    if tensors.is_empty() {
        return None;
    }
    let mut shape = vec![tensors.len()];
    shape.extend(p.case_shape());
    Some(Batch {
        shape,
        data: tensors.concat(),
    })
}

fn prepare_case(
    cases: &CaseIndex,
    i: usize,
    groups: &[Preprocess],
    needed: &[bool],
) -> Result<Prepared, PipelineError> {
    let decoded = cases.decode(i)?;
    let image = std::slice::from_ref(&decoded.image);
    let tensors = groups
        .iter()
        .zip(needed)
        .map(|(p, &needed)| {
            if !needed {
                return Err("not needed".to_string());
            }
            to_tensor(p, image)
                .map(|b| b.data)
                .map_err(|e| e.to_string())
        })
        .collect();
    Ok(Prepared {
        tensors,
        sample_bits: decoded.image.sample_bits,
        orientation: decoded.image.orientation,
    })
}

/// Reads the model once, checks its size and hash, and loads it on every engine.
fn prepare_candidate<'a>(
    c: &'a Candidate,
    root: &Path,
    config: &InferConfig,
    group: usize,
    observer: &dyn Observer,
) -> Active<'a> {
    let mut a = Active {
        candidate: c,
        record: CandidateRecord {
            name: c.name.clone(),
            model: InputFile {
                path: c.model.clone(),
                sha256: c.sha256.clone(),
                name: None,
                version: None,
            },
            backends: Vec::new(),
            outcome: Outcome::Ok,
            warnings: Vec::new(),
        },
        model: None,
        engines: Vec::new(),
        group,
        evaluated: None,
    };
    let path = root.join(&c.model);
    let model = match ModelBytes::read(&path, config.max_model_bytes) {
        Ok(m) => m,
        Err(BoundedReadError::TooLarge { bytes, .. }) => {
            a.fail(
                format!(
                    "{}: {} MiB exceeds limits.max_model_mib = {}",
                    c.model,
                    bytes >> 20,
                    config.max_model_mib
                ),
                observer,
            );
            return a;
        }
        Err(BoundedReadError::Io(e)) => {
            a.fail(format!("{}: {e}", path.display()), observer);
            return a;
        }
    };
    if !model.sha256.eq_ignore_ascii_case(&c.sha256) {
        // The manifest records the file that is there (so the bundle stays a consistent,
        // verifiable record of the refusal); the reason keeps the suite's pin.
        a.record.model.sha256 = model.sha256.clone();
        let reason = format!(
            "{}: sha256 {} differs from the suite's {}; not evaluated",
            c.model, model.sha256, c.sha256
        );
        a.fail(reason, observer);
        return a;
    }

    // The evaluated engine: on "gpu", ONNX Runtime's CUDA provider, else the suite's primary.
    let mut evaluated = EvaluatedEngine {
        kind: config.primary,
        device: Device::Cpu,
        fallback_reason: None,
    };
    let mut gpu_engine = None;
    if config.device == AccuracyDevice::Gpu {
        match load_engine(BackendKind::Ort, &model, c, Device::Cuda, config.threads) {
            Ok((m, version)) => {
                evaluated = EvaluatedEngine {
                    kind: BackendKind::Ort,
                    device: Device::Cuda,
                    fallback_reason: None,
                };
                gpu_engine = Some((m, version));
            }
            Err(EngineLoad::Unavailable(reason)) => {
                observer.warning(&format!(
                    "candidate {}: the GPU accuracy pass is not possible here ({reason}); running it on the CPU with {}",
                    c.name, config.primary
                ));
                evaluated.fallback_reason = Some(reason);
            }
            Err(EngineLoad::Failed { reason, .. }) => {
                a.record.backends.push(BackendRecord {
                    backend: "ort".into(),
                    version: None,
                    outcome: Outcome::failed(reason.clone()),
                });
                a.fail(format!("primary backend ort (cuda): {reason}"), observer);
                return a;
            }
        }
    }
    let mut kinds = backends_of(c, evaluated.kind);
    if gpu_engine.is_some() {
        // The CPU primary is still cross-checked against the GPU predictions.
        if !kinds.contains(&config.primary) {
            kinds.push(config.primary);
        }
    }
    for kind in kinds {
        let primary = kind == evaluated.kind;
        // The evaluated engine on the GPU was loaded above; every other engine runs on the CPU.
        let loaded = match gpu_engine.take_if(|_| primary) {
            Some(engine) => Ok(engine),
            None => load_engine(kind, &model, c, Device::Cpu, config.threads),
        };
        let record = a.record.backends.len();
        match loaded {
            Ok((m, version)) => {
                a.record.backends.push(BackendRecord {
                    backend: kind.name().into(),
                    version: Some(version),
                    outcome: Outcome::Ok,
                });
                let (batch, pad) = match m.input().fixed_batch() {
                    Some(b) if b >= 1 => (b, true),
                    _ => (config.batch_size.max(1), false),
                };
                a.engines.push(Engine {
                    kind,
                    model: m,
                    batch,
                    pad,
                    primary,
                    record,
                    probabilities: Vec::new(),
                    failed: false,
                    rows_are_distributions: true,
                });
            }
            Err(EngineLoad::Unavailable(reason)) => {
                a.record.backends.push(BackendRecord {
                    backend: kind.name().into(),
                    version: None,
                    outcome: Outcome::unavailable(reason.clone()),
                });
                if primary {
                    a.fail(
                        format!("primary backend {kind} unavailable: {reason}"),
                        observer,
                    );
                    return a;
                }
            }
            Err(EngineLoad::Failed { reason, version }) => {
                a.record.backends.push(BackendRecord {
                    backend: kind.name().into(),
                    version: Some(version),
                    outcome: Outcome::failed(reason.clone()),
                });
                if primary {
                    a.fail(format!("primary backend {kind}: {reason}"), observer);
                    return a;
                }
                observer.warning(&format!("candidate {} on {kind}: failed: {reason}", c.name));
            }
        }
    }
    a.model = Some(model);
    a.evaluated = Some(evaluated);
    a
}

/// Whether the model, given one blank case (zeros, batch 1 or its fixed batch), gives an
/// output of the shape the candidate's `output` reads.
fn gives_fitting_output(model: &mut dyn LoadedModel, candidate: &Candidate) -> bool {
    let batch = model.input().fixed_batch().unwrap_or(1).max(1);
    let shape: Vec<usize> = std::iter::once(batch)
        .chain(candidate.preprocess.case_shape())
        .collect();
    let blank = Batch {
        data: vec![0.0; shape.iter().product()],
        shape,
    };
    model
        .run(&blank)
        .is_ok_and(|raw| candidate.output.check_shape(&raw).is_ok())
}

/// How much lower than the engines the decode threads are scheduled by default (Linux nice
/// increment); `HARNESS_DECODE_NICE` sets another (0: the engines' priority).
#[cfg(target_os = "linux")]
const DECODE_NICENESS: i32 = 10;

/// The decode threads: as many as the global pool's. When the engines run on the CPU they are
/// scheduled below the engines' threads (Linux: each thread's nice value raised by
/// [`DECODE_NICENESS`], or by `HARNESS_DECODE_NICE`). An engine's parallel section waits,
/// spinning, for all its threads; a decoder that preempts one of them stalls the others.
/// Scheduled below, decoders take the cores the engines leave idle (between calls, or while
/// they wait for the next chunk) and the engines are not interrupted: on two cores shared by
/// both, a run spent ~6 % less CPU time. The decoders then also yield to other work on the
/// machine, which a shared machine's users may prefer or not (`HARNESS_DECODE_NICE=0`). `None`
/// (the global pool is used) where the pool cannot be made.
fn decode_pool(engines_on_cpu: bool) -> Option<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .thread_name(|i| format!("harness-decode-{i}"))
        .start_handler(move |_| {
            if engines_on_cpu {
                lower_priority();
            }
        })
        .build()
        .ok()
}

/// Lowers the calling thread's scheduling priority by [`DECODE_NICENESS`] or
/// `HARNESS_DECODE_NICE` (Linux, where the nice value is per thread); elsewhere, or when
/// refused, the thread keeps its priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let by = std::env::var("HARNESS_DECODE_NICE")
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok())
            .map_or(DECODE_NICENESS, |n| n.clamp(0, 19));
        let tid = thread_id();
        // SAFETY: getpriority and setpriority take and return plain integers; a failure only
        // leaves the thread at its priority.
        unsafe {
            let nice = (libc::getpriority(libc::PRIO_PROCESS, tid) + by).min(19);
            libc::setpriority(libc::PRIO_PROCESS, tid, nice);
        }
    }
}

/// The calling thread's id (Linux), which the priority calls take to mean that thread alone.
#[cfg(target_os = "linux")]
fn thread_id() -> libc::id_t {
    // SAFETY: gettid takes no argument and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::id_t }
}

/// The calling thread's nice value (Linux).
#[cfg(all(test, target_os = "linux"))]
fn thread_nice() -> i32 {
    // SAFETY: getpriority takes and returns plain integers.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, thread_id()) }
}

enum EngineLoad {
    /// The engine or device cannot be used here, and why.
    Unavailable(String),
    /// The engine (of this version) is here but refused the model.
    Failed { reason: String, version: String },
}

/// Loads the model on one engine, giving it the preprocessed case's shape (checked against the
/// model's input; the dimensions an export leaves dynamic), and checks the suite's `output`
/// against the scores output the file declares: a wrong size, channel count, layout,
/// `positive_index` or `columns` fails here, not after the first batch's images are decoded.
fn load_engine(
    kind: BackendKind,
    model: &ModelBytes,
    candidate: &Candidate,
    device: Device,
    threads: usize,
) -> Result<(Box<dyn LoadedModel>, String), EngineLoad> {
    let output = &candidate.output;
    let backend = kind.backend();
    let version = match backend.availability() {
        Availability::Available { version } => version,
        Availability::Unavailable { reason } => return Err(EngineLoad::Unavailable(reason)),
    };
    // The decoder runs beside the engines: their idle threads must not spin.
    match backend.load_bytes(
        &model.path,
        &model.bytes,
        &LoadOptions {
            threads,
            device,
            shared_cpu: true,
            output: output.name.clone(),
            input_shape: Some(candidate.preprocess.case_shape()),
        },
    ) {
        Ok(mut m) => match output.check_declared(m.output()) {
            Ok(()) => Ok((m, version)),
            // A file can declare its output wrongly: what the model gives for one blank case
            // decides.
            Err(_) if gives_fitting_output(m.as_mut(), candidate) => Ok((m, version)),
            Err(reason) => Err(EngineLoad::Failed {
                reason: format!(
                    "the output = {{ ... }} of the candidate at line {} of the suite does not fit the model: {reason}",
                    candidate.line
                ),
                version,
            }),
        },
        Err(BackendError::Unavailable { reason, .. }) => Err(EngineLoad::Unavailable(reason)),
        Err(e) => Err(EngineLoad::Failed {
            reason: e.to_string(),
            version,
        }),
    }
}

/// Runs one chunk of cases (starting at case `start`) through a candidate's engines.
fn run_chunk(
    a: &mut Active,
    cases: &CaseIndex,
    start: usize,
    chunk: &[Prepared],
    in_sample: &[bool],
    names_no_case: bool,
    observer: &dyn Observer,
) {
    let g = a.group;
    if let Some((k, e)) = chunk
        .iter()
        .enumerate()
        .find_map(|(k, p)| p.tensors[g].as_ref().err().map(|e| (k, e.clone())))
    {
        let i = start + k;
        let case = case_at(cases, i, names_no_case, observer);
        a.fail(format!("{case}: {e}"), observer);
        return;
    }
    let shape = a.candidate.preprocess.case_shape();
    let output = &a.candidate.output;
    let mut primary_failure = None;
    for e in a.engines.iter_mut().filter(|e| !e.failed) {
        let picked: Vec<usize> = (0..chunk.len())
            .filter(|&k| e.primary || in_sample[start + k])
            .collect();
        for part in picked.chunks(e.batch) {
            if let Err(failure) = run_batch(e, output, &shape, chunk, g, part, start) {
                let reason = match failure {
                    BatchError::Case(i, message) => format!(
                        "{}: model output: {message}",
                        case_at(cases, i, names_no_case, observer)
                    ),
                    BatchError::Rows(first, last, message) => format!(
                        "{}: {message}",
                        recorded(
                            format!("cases {first}..{last}"),
                            "a batch of cases",
                            names_no_case,
                            observer
                        )
                    ),
                    BatchError::Batch(reason) => reason,
                };
                e.failed = true;
                if e.primary {
                    primary_failure = Some(format!("primary backend {}: {reason}", e.kind));
                } else {
                    observer.warning(&format!(
                        "candidate {} on {}: failed: {reason}",
                        a.record.name, e.kind
                    ));
                    a.record.backends[e.record].outcome = Outcome::failed(reason);
                }
                break;
            }
        }
    }
    if let Some(reason) = primary_failure {
        let record = a.engines.iter().find(|e| e.primary).map(|e| e.record);
        if let Some(r) = record {
            a.record.backends[r].outcome = Outcome::failed(reason.clone());
        }
        a.fail(reason, observer);
    }
}

/// How a failure recorded in the manifest names case `i`: by its id and row, except in a run
/// whose records name no case (a federated site's), where the terminal alone is told which.
fn case_at(cases: &CaseIndex, i: usize, names_no_case: bool, observer: &dyn Observer) -> String {
    let named = format!(
        "case {} (#{i})",
        cases.case_ids.get(i).map_or("?", String::as_str)
    );
    recorded(named, "a case", names_no_case, observer)
}

/// `named` (which cases a failure is at), or `hidden` in a run whose records name no case,
/// the terminal then told `named`.
fn recorded(named: String, hidden: &str, names_no_case: bool, observer: &dyn Observer) -> String {
    if names_no_case {
        observer.info(&format!(
            "the failure below is at {named} (not recorded: a site's bundle names no case)"
        ));
        hidden.to_string()
    } else {
        named
    }
}

/// Why a batch failed: one case's output (the case's position in the run), or the batch.
enum BatchError {
    Case(usize, String),
    /// The output of the cases at rows `first..last` of the run.
    Rows(usize, usize, String),
    Batch(String),
}

fn run_batch(
    e: &mut Engine,
    output: &OutputSpec,
    shape: &[usize],
    chunk: &[Prepared],
    g: usize,
    part: &[usize],
    start: usize,
) -> Result<(), BatchError> {
    // A short batch is padded with copies of its last case: a fixed-batch model needs it,
    // and the evaluated engine then always runs one batch shape, so that a case's probability
    // does not depend on how many cases share its batch (engines pick kernels by shape): a
    // sharded run gives the unsharded run's predictions bit for bit.
    let size = if e.pad || e.primary {
        e.batch
    } else {
        part.len()
    };
    let mut data = Vec::with_capacity(size * shape.iter().product::<usize>());
    for slot in 0..size {
        let k = part[slot.min(part.len() - 1)];
        let tensor = chunk[k].tensors[g].as_ref();
        data.extend_from_slice(tensor.map_err(|e| BatchError::Batch(e.clone()))?);
    }
    let mut batch_shape = vec![size];
    batch_shape.extend_from_slice(shape);
    let batch = Batch {
        shape: batch_shape,
        data,
    };
    let (first, last) = (start + part[0], start + part[part.len() - 1] + 1);
    let raw = e
        .model
        .run(&batch)
        .map_err(|err| BatchError::Batch(err.to_string()))?;
    if output.kind == OutputKind::Softmax && e.rows_are_distributions {
        e.rows_are_distributions = rows_are_distributions(&raw);
    }
    let mut p = interpret(output, &raw).map_err(|err| match err {
        // The case itself (a padding row repeats the batch's last case).
        BackendError::OutputCase { row, message } => {
            BatchError::Case(start + part[row.min(part.len() - 1)], message)
        }
        err => BatchError::Rows(first, last, err.to_string()),
    })?;
    let width = output.width();
    if p.len() != size * width {
        return Err(BatchError::Batch(format!(
            "the model returned {} probabilities for a batch of {size} cases × {width}",
            p.len()
        )));
    }
    p.truncate(part.len() * width);
    e.probabilities.extend(p);
    Ok(())
}

/// The candidate's outcome once every chunk has passed.
fn finish(a: Active, sample: &[usize], perf_samples: Option<Batch>) -> CandidateOutcome {
    let failed = a.failed();
    let width = a.candidate.output.width();
    let Active {
        record,
        model,
        engines,
        ..
    } = a;
    if failed {
        return CandidateOutcome {
            record,
            probabilities: None,
            sampled: Vec::new(),
            model,
            perf_samples: None,
        };
    }
    let mut probabilities = None;
    let mut sampled = Vec::new();
    for e in engines {
        if e.primary {
            sampled.insert(
                0,
                (
                    e.kind.name().to_string(),
                    sample
                        .iter()
                        .flat_map(|&i| &e.probabilities[i * width..(i + 1) * width])
                        .copied()
                        .collect(),
                ),
            );
            probabilities = Some(e.probabilities);
        } else if !e.failed {
            sampled.push((e.kind.name().to_string(), e.probabilities));
        }
    }
    if sampled.len() < 2 || sample.is_empty() {
        sampled.clear();
    }
    CandidateOutcome {
        record,
        probabilities,
        sampled,
        model,
        perf_samples,
    }
}

impl ModelBytes {
    /// Reads a model file once (refusing one over `max_bytes` before reading it) and hashes it.
    ///
    /// # Errors
    ///
    /// [`BoundedReadError`]: unreadable, or larger than `max_bytes`.
    pub fn read(path: &Path, max_bytes: u64) -> Result<ModelBytes, BoundedReadError> {
        let bytes = harness_data::read_at_most(path, max_bytes)?;
        let sha256 = harness_data::registry::sha256_hex(&bytes);
        Ok(ModelBytes {
            path: path.to_path_buf(),
            bytes,
            sha256,
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod priority_tests {
    use super::*;

    #[test]
    fn decode_threads_are_scheduled_below_the_calling_thread() {
        let own = thread_nice();
        let pool = decode_pool(true).expect("the decode pool is made");
        assert_eq!(pool.current_num_threads(), rayon::current_num_threads());
        let theirs = pool.broadcast(|_| thread_nice());
        assert!(
            theirs.iter().all(|&n| n == (own + DECODE_NICENESS).min(19)),
            "{theirs:?} from {own}"
        );
        // The calling thread, and the global pool the engines' callers and the metrics use,
        // keep their priority.
        assert_eq!(thread_nice(), own);
        assert!(
            rayon::broadcast(|_| thread_nice())
                .iter()
                .all(|&n| n == own)
        );
        // Engines on a GPU: the decoders keep their priority too.
        let gpu = decode_pool(false).expect("the decode pool is made");
        assert!(gpu.broadcast(|_| thread_nice()).iter().all(|&n| n == own));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backends::{RawOutput, TensorInfo};
    use harness_evidence::suite::Suite;

    /// A model that declares its scores `[?, 1]` and gives `columns` per case.
    struct Misdeclared {
        input: TensorInfo,
        output: TensorInfo,
        columns: usize,
    }

    impl LoadedModel for Misdeclared {
        fn input(&self) -> &TensorInfo {
            &self.input
        }

        fn output(&self) -> &TensorInfo {
            &self.output
        }

        fn run(&mut self, batch: &Batch) -> Result<RawOutput, BackendError> {
            let n = batch.len();
            Ok(RawOutput {
                shape: vec![n, self.columns],
                data: vec![0.5; n * self.columns],
            })
        }
    }

    /// The file's declaration is checked first, and where it refuses the suite's output, what
    /// the model gives for a blank case decides: a model declaring `[?, 1]` that gives two
    /// columns runs with `positive_index = 1`; one that gives one column is refused.
    #[test]
    fn a_misdeclared_output_is_judged_by_what_the_model_gives() {
        let suite = Suite::parse(
            "name = \"t\"\nversion = \"1\"\ndataset = \"d\"\n[[candidates]]\nname = \"m\"\nmodel = \"m.onnx\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\npreprocess = { size = [8, 8], channels = 1, channel_order = \"gray\", layout = \"nchw\" }\noutput = { kind = \"probability\", positive_index = 1 }\n",
            Path::new("suite.toml"),
        )
        .unwrap();
        let candidate = &suite.candidates[0];
        let model = |columns| Misdeclared {
            input: TensorInfo {
                name: "image".into(),
                dims: vec![None, Some(1), Some(8), Some(8)],
            },
            output: TensorInfo {
                name: "scores".into(),
                dims: vec![None, Some(1)],
            },
            columns,
        };
        let mut two = model(2);
        assert!(candidate.output.check_declared(two.output()).is_err());
        assert!(gives_fitting_output(&mut two, candidate));
        assert!(!gives_fitting_output(&mut model(1), candidate));
    }
}
