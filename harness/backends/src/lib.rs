//! Inference backends (tract, ONNX Runtime, candle) behind one trait, with
//! preprocessing declared as data and cross-backend agreement.
//!
//! - [`Preprocess`] and [`OutputSpec`] describe, as serde data, how images
//!   become an input tensor ([`to_tensor`]) and how the model's raw output
//!   becomes one probability per case ([`interpret`]). Every backend shares them.
//! - [`Backend`] loads an ONNX file into a [`LoadedModel`] that runs a
//!   [`Batch`]. [`backend`] / [`BackendKind`] pick an engine by name;
//!   [`Backend::availability`] reports a missing engine as
//!   `unavailable: <reason>` instead of failing.
//! - [`agreement`] compares the per-case outputs of several backends.
//!
//! Engines: [`tract_backend`] (pure Rust, always available),
//! [`ort_backend`] (ONNX Runtime loaded at run time from the Python wheel's
//! shared library) and [`candle_backend`] (pure Rust; a subset of ONNX
//! operators, checked at load).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod agreement;
mod graph_check;
pub use graph_check::MAX_CONSTANT_ELEMENTS;
pub mod candle_backend;
pub mod ort_backend;
mod output;
mod preprocess;
mod rewrite;
pub mod tract_backend;

pub use agreement::{Agreement, PairAgreement, agreement};
pub use output::{OutputKind, OutputSpec, interpret};
pub use preprocess::{ChannelOrder, ExifOrientation, Layout, Preprocess, ResizeFilter, to_tensor};

/// A batch of model input: a dense `f32` tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Dimensions, e.g. `[N, C, H, W]`.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

impl Batch {
    /// Number of cases (the first dimension; 0 for a scalar).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// True when the batch has no cases.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The scores output of a model run ([`LoadOptions::output`]), converted to `f32`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOutput {
    /// Dimensions as reported by the engine, e.g. `[N, 1]`.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

/// Name and dimensions of a model's input, as declared in the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// The graph input name.
    pub name: String,
    /// Dimensions; `None` for a symbolic/dynamic dimension such as the batch.
    pub dims: Vec<Option<usize>>,
}

impl TensorInfo {
    /// The largest batch the model accepts: `Some(n)` when the first
    /// dimension is fixed to `n` (many exporters write a batch of 1), `None`
    /// when it is dynamic.
    #[must_use]
    pub fn fixed_batch(&self) -> Option<usize> {
        self.dims.first().copied().flatten()
    }

    /// Checks a batch shape against the declared dimensions.
    ///
    /// # Errors
    ///
    /// A message naming both shapes if the rank or a fixed dimension differs.
    pub fn check(&self, shape: &[usize]) -> Result<(), String> {
        // A model that declares no shape takes what it is given (its engine checks).
        let fits = self.dims.is_empty()
            || self.dims.len() == shape.len()
                && self
                    .dims
                    .iter()
                    .zip(shape)
                    .all(|(d, &s)| d.is_none_or(|d| d == s));
        if fits {
            Ok(())
        } else {
            Err(format!(
                "input '{}' expects shape {}, the batch has {shape:?}",
                self.name,
                self.dims_text()
            ))
        }
    }

    /// One case's dimensions (those after the batch): the declared ones, with what `given`
    /// (the suite's preprocessing, bench's `--input-shape`) says where the model leaves a
    /// dimension open, such as an export with dynamic height and width. A model that declares
    /// no shape takes `given` whole.
    ///
    /// # Errors
    ///
    /// A message naming both shapes when `given` differs from a dimension the model fixes
    /// (or in rank), or naming the dimension that neither gives.
    pub fn case_shape(&self, given: Option<&[usize]>) -> Result<Vec<usize>, String> {
        let declared = self.dims.get(1..).unwrap_or_default();
        let Some(given) = given else {
            if self.dims.is_empty() {
                return Err(format!(
                    "input '{}' declares no shape and nothing gives one (a suite's preprocess, bench's --input-shape)",
                    self.name
                ));
            }
            return declared
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    d.ok_or_else(|| {
                        format!(
                            "input '{}' has shape {}: dimension {} is dynamic and nothing gives it (a suite's preprocess, bench's --input-shape)",
                            self.name,
                            self.dims_text(),
                            i + 1
                        )
                    })
                })
                .collect();
        };
        if self.dims.is_empty() {
            return Ok(given.to_vec());
        }
        let fits = declared.len() == given.len()
            && declared
                .iter()
                .zip(given)
                .all(|(d, &g)| d.is_none_or(|d| d == g));
        if fits {
            return Ok(given.to_vec());
        }
        let batch = format!(
            "[?, {}]",
            given
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        // The same dimensions in another order: channels first against channels last.
        let mut sorted_declared: Vec<Option<usize>> = declared.to_vec();
        let mut sorted_given: Vec<Option<usize>> = given.iter().copied().map(Some).collect();
        sorted_declared.sort_unstable();
        sorted_given.sort_unstable();
        let hint = if sorted_declared == sorted_given {
            "the same dimensions in another order: the layout differs (a suite's preprocess layout, nchw or nhwc)"
        } else {
            "a suite's preprocess size, channels and layout, or bench's --input-shape, give the batches"
        };
        Err(format!(
            "input '{}' expects shape {}, the batches would be {batch} ({hint})",
            self.name,
            self.dims_text()
        ))
    }

    /// The dimensions as text, `?` for dynamic ones: `[?, 1, 16, 16]`.
    #[must_use]
    pub fn dims_text(&self) -> String {
        let parts: Vec<String> = self
            .dims
            .iter()
            .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

pub use harness_types::Device;

/// How to load a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Threads for one inference call (at least 1). What this controls
    /// differs per engine; see each backend module.
    pub threads: usize,
    /// Where to run.
    pub device: Device,
    /// The engine shares the CPU with other work running at the same time (a run's
    /// streaming decoder): idle engine threads sleep instead of spinning. Measurements
    /// leave it off, as a dedicated serving process would.
    #[serde(default)]
    pub shared_cpu: bool,
    /// The output that holds the scores, by name (a suite candidate's `output.name`); `None`:
    /// the model's first output. Every engine reads this one output, and refuses at load a
    /// name the model lacks or an output that holds no scores (an integer label, a sequence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// One case's input dimensions as the caller will feed them (after the batch; a suite's
    /// `preprocess`, bench's `--input-shape`): checked against the model's input at load, and
    /// giving the dimensions the model leaves open (dynamic height and width) to an engine
    /// that prepares the whole graph at load (tract). `None`: the model's declared shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<usize>>,
}

impl Default for LoadOptions {
    /// One thread on the CPU, not shared.
    fn default() -> Self {
        Self {
            threads: 1,
            device: Device::Cpu,
            shared_cpu: false,
            output: None,
            input_shape: None,
        }
    }
}

/// Whether an engine can be used in this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Availability {
    /// Usable; `version` names the engine build, e.g. `onnxruntime 1.31.1`.
    Available { version: String },
    /// Not usable here, and why.
    Unavailable { reason: String },
}

impl Availability {
    /// True for [`Availability::Available`].
    #[must_use]
    pub fn is_available(&self) -> bool {
        matches!(self, Self::Available { .. })
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Available { version } => write!(f, "available: {version}"),
            Self::Unavailable { reason } => write!(f, "unavailable: {reason}"),
        }
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The engine (or the requested device) cannot be used in this process.
    #[error("{backend} unavailable: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    /// The model file could not be read, parsed or prepared.
    #[error("{backend}: cannot load {path}: {reason}")]
    Load {
        backend: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// Inference failed (including a batch whose shape the model does not accept).
    #[error("{backend}: inference failed for {path}: {reason}")]
    Run {
        backend: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// A [`Preprocess`] declaration or an image it cannot be applied to.
    #[error("preprocessing: {0}")]
    Preprocess(String),
    /// Raw model output that cannot be turned into probabilities.
    #[error("model output: {0}")]
    Output(String),
    /// One case's output that cannot be a probability (`row` counts from 0 in the batch).
    #[error("model output: case {row} of the batch: {message}")]
    OutputCase { row: usize, message: String },
    /// Inputs to [`agreement`] that cannot be compared.
    #[error("agreement: {0}")]
    Agreement(String),
    /// A backend name that is not one of `tract`, `ort`, `candle`.
    #[error("unknown backend '{0}'; expected one of: tract, ort, candle")]
    UnknownBackend(String),
}

/// An inference engine.
pub trait Backend: Send + Sync {
    /// The registry name: `tract`, `ort` or `candle`.
    fn name(&self) -> &'static str;

    /// The engine and its version, e.g. `tract-onnx 0.23.9`, or why it is unavailable.
    fn version(&self) -> String {
        match self.availability() {
            Availability::Available { version } => version,
            Availability::Unavailable { reason } => format!("unavailable: {reason}"),
        }
    }

    /// Whether the engine can be used in this process. Never panics.
    fn availability(&self) -> Availability;

    /// Loads an ONNX model from its file.
    ///
    /// # Errors
    ///
    /// [`BackendError::Unavailable`] for a missing engine or device,
    /// [`BackendError::Load`] for a file the engine cannot read or run.
    fn load(
        &self,
        model_path: &Path,
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, BackendError> {
        let bytes = std::fs::read(model_path).map_err(|e| BackendError::Load {
            backend: self.name(),
            path: model_path.to_path_buf(),
            reason: format!("cannot read: {e}"),
        })?;
        self.load_bytes(model_path, &bytes, options)
    }

    /// Loads an ONNX model from `bytes`, the content of the file at
    /// `model_path` (which names the model in messages and locates external
    /// data). The engine uses exactly these bytes, so a caller that hashed
    /// them knows what ran.
    ///
    /// # Errors
    ///
    /// As [`Backend::load`].
    fn load_bytes(
        &self,
        model_path: &Path,
        bytes: &[u8],
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, BackendError>;
}

/// A model ready to run. Runs may be repeated with batches of any size the
/// model accepts; the engine's per-shape preparation is cached.
pub trait LoadedModel: Send {
    /// The model's (single) input as declared in the file.
    fn input(&self) -> &TensorInfo;

    /// The scores output ([`LoadOptions::output`]) as declared in the file: its dimensions
    /// empty where the file gives no shape. [`OutputSpec::check_declared`] checks a suite's
    /// `output` against it before any case runs.
    fn output(&self) -> &TensorInfo;

    /// Runs one batch and returns the model's scores output ([`LoadOptions::output`]).
    ///
    /// # Errors
    ///
    /// [`BackendError::Run`] if the batch does not fit the input or the engine fails.
    fn run(&mut self, batch: &Batch) -> Result<RawOutput, BackendError>;
}

/// The engines this crate knows, by their command-line and JSON names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// tract-onnx: pure Rust, always available.
    Tract,
    /// ONNX Runtime through the `ort` crate, loaded at run time.
    Ort,
    /// candle-onnx: pure Rust, a subset of operators.
    Candle,
}

impl BackendKind {
    /// All kinds, in a fixed order.
    pub const ALL: [BackendKind; 3] = [Self::Tract, Self::Ort, Self::Candle];

    /// The registry name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Tract => "tract",
            Self::Ort => "ort",
            Self::Candle => "candle",
        }
    }

    /// A backend of this kind with default settings (for `ort`: the library
    /// found by [`ort_backend::locate_library`]).
    #[must_use]
    pub fn backend(self) -> Box<dyn Backend> {
        match self {
            Self::Tract => Box::new(tract_backend::TractBackend),
            Self::Ort => Box::new(ort_backend::OrtBackend::default()),
            Self::Candle => Box::new(candle_backend::CandleBackend),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| BackendError::UnknownBackend(s.to_string()))
    }
}

/// The backend registered under `name` (`tract`, `ort` or `candle`).
///
/// # Errors
///
/// [`BackendError::UnknownBackend`] for any other name.
pub fn backend(name: &str) -> Result<Box<dyn Backend>, BackendError> {
    name.parse::<BackendKind>().map(BackendKind::backend)
}

/// Refuses any device but the CPU for the pure-Rust engines, saying why.
pub(crate) fn cpu_only(
    backend: &'static str,
    options: &LoadOptions,
    why: &str,
) -> Result<(), BackendError> {
    if options.device == Device::Cpu {
        return Ok(());
    }
    Err(BackendError::Unavailable {
        backend,
        reason: format!("device {} is not supported; {why}", options.device),
    })
}

/// Runs `f`, turning a panic inside a pure-Rust engine (which can happen on
/// malformed models) into an error message instead of unwinding into the caller.
pub(crate) fn catch_engine_panic<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_string());
            Err(format!("the engine panicked: {msg}"))
        }
    }
}

/// Checks the batch's data length against its shape.
pub(crate) fn check_batch(batch: &Batch, input: &TensorInfo) -> Result<(), String> {
    let expected = batch
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if expected != Some(batch.data.len()) {
        return Err(format!(
            "batch shape {:?} does not match its {} values",
            batch.shape,
            batch.data.len()
        ));
    }
    input.check(&batch.shape)
}

/// The error of a failed `LoadedModel::run`: [`BackendError::Run`] naming the backend and file.
pub(crate) fn run_error<'p>(
    backend: &'static str,
    path: &'p Path,
) -> impl Fn(String) -> BackendError + 'p {
    move |reason| BackendError::Run {
        backend,
        path: path.to_path_buf(),
        reason,
    }
}

/// Builds an `n`-thread rayon pool for an engine that parallelises with rayon.
pub(crate) fn thread_pool(threads: usize) -> Result<std::sync::Arc<rayon::ThreadPool>, String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("harness-infer-{i}"))
        .build()
        .map(std::sync::Arc::new)
        .map_err(|e| format!("cannot start {threads} inference threads: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(dims: &[Option<usize>]) -> TensorInfo {
        TensorInfo {
            name: "image".into(),
            dims: dims.to_vec(),
        }
    }

    /// A case's shape fills what the model leaves open and must match what it fixes; the same
    /// dimensions in another order say the layout differs; a model that declares no shape takes
    /// the case as given, and with nothing given names the open dimension.
    #[test]
    fn case_shapes_fill_open_dimensions_and_name_mismatches() {
        let open = input(&[None, None, None, None]);
        assert_eq!(open.case_shape(Some(&[3, 224, 224])), Ok(vec![3, 224, 224]));
        let e = open.case_shape(None).unwrap_err();
        assert!(
            e.contains("dimension 1 is dynamic and nothing gives it"),
            "{e}"
        );
        let grey = input(&[None, Some(1), Some(64), Some(64)]);
        assert_eq!(grey.case_shape(None), Ok(vec![1, 64, 64]));
        let e = grey.case_shape(Some(&[64, 64, 1])).unwrap_err();
        assert!(
            e.contains("expects shape [?, 1, 64, 64], the batches would be [?, 64, 64, 1]")
                && e.contains("the layout differs"),
            "{e}"
        );
        let e = grey.case_shape(Some(&[1, 32, 32])).unwrap_err();
        assert!(e.contains("preprocess size, channels and layout"), "{e}");
        // Rank 3 (grey without a channel axis) against a rank-4 batch.
        let e = input(&[None, Some(64), Some(64)])
            .case_shape(Some(&[1, 64, 64]))
            .unwrap_err();
        assert!(e.contains("the batches would be [?, 1, 64, 64]"), "{e}");
        let undeclared = input(&[]);
        assert_eq!(undeclared.case_shape(Some(&[1, 8, 8])), Ok(vec![1, 8, 8]));
        assert!(
            undeclared
                .case_shape(None)
                .unwrap_err()
                .contains("declares no shape")
        );
        assert!(undeclared.check(&[2, 1, 8, 8]).is_ok());
        assert!(grey.check(&[2, 1, 64, 64]).is_ok() && grey.check(&[2, 1, 32, 32]).is_err());
    }
}
