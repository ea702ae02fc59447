//! ONNX Runtime through the `ort` crate (2.0.0-rc.15, `load-dynamic`): the
//! shared library is loaded at run time, never downloaded or linked.
//!
//! The library is, in order: the path given to [`OrtBackend::with_library`];
//! `ORT_DYLIB_PATH` (the full path of the versioned
//! `libonnxruntime.so.1.NN.N`; a directory is refused); otherwise the
//! `onnxruntime/capi/libonnxruntime.so.1.*` of a pip-installed `onnxruntime`
//! in the usual Python site-packages (see [`locate_library`]). No shell or
//! Python process is started.
//!
//! One library and one ONNX Runtime environment per process (an ONNX Runtime
//! rule): the first successful load wins and a later request for a different
//! library reports [`Availability::Unavailable`].
//!
//! Sessions: intra-op threads = [`LoadOptions::threads`] (ONNX Runtime counts
//! the calling thread), inter-op threads = 1, graph optimisation level 3
//! (`ORT_ENABLE_LAYOUT`). Device `cuda` registers the CUDA execution
//! provider, failing the load if it cannot; a library without that provider
//! (the CPU-only `onnxruntime` wheel) gives `unavailable`. Inputs are passed
//! to ONNX Runtime as a view of the [`Batch`]'s buffer, without a copy.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use ort::environment::Environment;
use ort::ep::ExecutionProvider;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef};

use crate::{
    Availability, Backend, BackendError, Batch, Device, LoadOptions, LoadedModel, RawOutput,
    TensorInfo, check_batch, run_error,
};

/// The `ort` crate version this crate is built against.
pub const ORT_CRATE_VERSION: &str = "2.0.0-rc.15";

const NAME: &str = "ort";
const LIB_PREFIX: &str = "libonnxruntime.so.";

/// The ONNX Runtime engine.
#[derive(Debug, Clone, Default)]
pub struct OrtBackend {
    library: Option<PathBuf>,
}

impl OrtBackend {
    /// A backend that uses exactly this library file (bypassing
    /// `ORT_DYLIB_PATH` and the search).
    #[must_use]
    pub fn with_library(path: impl Into<PathBuf>) -> Self {
        Self {
            library: Some(path.into()),
        }
    }

    fn runtime(&self) -> Result<&'static Runtime, String> {
        let library = locate_library(self.library.as_deref())?;
        runtime(&library)
    }
}

struct Runtime {
    library: PathBuf,
    version: String,
    env: Environment,
}

/// The one environment of this process, once a library has loaded.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// The library `ort` has loaded, set as soon as the load succeeds (even if
/// creating the environment then fails): `ort` cannot load a second one.
static LOADED: OnceLock<PathBuf> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

fn runtime(library: &Path) -> Result<&'static Runtime, String> {
    let _guard = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(loaded) = LOADED.get()
        && !same_file(loaded, library)
    {
        return Err(format!(
            "ONNX Runtime is already loaded from {} in this process; {} cannot be loaded as well",
            loaded.display(),
            library.display()
        ));
    }
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let builder = ort::init_from(library).map_err(|e| e.to_string())?;
    let _ = LOADED.set(library.to_path_buf());
    let env = builder
        .with_name("harness")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))?;
    let version = library
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(LIB_PREFIX))
        .map_or_else(
            || format!("unknown version ({})", ort::info()),
            str::to_string,
        );
    Ok(RUNTIME.get_or_init(|| Runtime {
        library: library.to_path_buf(),
        version,
        env,
    }))
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Finds the ONNX Runtime shared library: `explicit` if given, else
/// `ORT_DYLIB_PATH`, else the newest `onnxruntime/capi/libonnxruntime.so.1.*`
/// in the first of these site-packages groups that has one:
/// a `.venv` in the current directory or an ancestor, `$VIRTUAL_ENV`,
/// `~/.local/lib/python3*/site-packages`,
/// `~/.pyenv/versions/*/lib/python3*/site-packages`,
/// `/usr/local/lib/python3*/{dist,site}-packages`, `/usr/lib/python3/dist-packages`.
///
/// # Errors
///
/// A reason naming what was tried: a missing file, a directory given where a
/// file is needed, or no library in any searched directory.
pub fn locate_library(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return check_library_file(path, "the configured ONNX Runtime library");
    }
    if let Some(env) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        return check_library_file(Path::new(&env), "ORT_DYLIB_PATH");
    }
    let mut searched = Vec::new();
    for group in site_packages_groups() {
        let mut found: Vec<(Vec<u64>, PathBuf)> = Vec::new();
        for site in group {
            let capi = site.join("onnxruntime").join("capi");
            searched.push(site);
            for entry in read_dir_names(&capi) {
                if let Some(version) = entry
                    .strip_prefix(LIB_PREFIX)
                    .filter(|v| v.starts_with("1."))
                {
                    let key = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
                    found.push((key, capi.join(&entry)));
                }
            }
        }
        if let Some((_, path)) = found.into_iter().max_by(|a, b| a.0.cmp(&b.0)) {
            return Ok(path);
        }
    }
    let searched: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "no ONNX Runtime library found: set ORT_DYLIB_PATH to the full path of libonnxruntime.so.1.NN.N \
         or `pip install onnxruntime`; searched onnxruntime/capi/ under [{}]",
        searched.join(", ")
    ))
}

fn check_library_file(path: &Path, what: &str) -> Result<PathBuf, String> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err(format!(
            "{what} {} is a directory; give the full path of the versioned library file, e.g. .../onnxruntime/capi/libonnxruntime.so.1.NN.N",
            path.display()
        )),
        Err(e) => Err(format!("{what} {}: {e}", path.display())),
    }
}

fn read_dir_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// `dir/<name starting with prefix>` for every such entry, sorted.
fn children(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    read_dir_names(dir)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .map(|n| dir.join(n))
        .collect()
}

/// `root/lib/python3*/<leaf>` for each leaf.
fn python_libs(root: &Path, leaves: &[&str]) -> Vec<PathBuf> {
    children(&root.join("lib"), "python3")
        .into_iter()
        .flat_map(|p| leaves.iter().map(move |leaf| p.join(leaf)))
        .collect()
}

fn site_packages_groups() -> Vec<Vec<PathBuf>> {
    let mut groups = Vec::new();
    if let Ok(cwd) = std::env::current_dir()
        && let Some(venv) = cwd
            .ancestors()
            .map(|d| d.join(".venv"))
            .find(|v| v.is_dir())
    {
        groups.push(python_libs(&venv, &["site-packages"]));
    }
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        groups.push(python_libs(Path::new(&venv), &["site-packages"]));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        let home = PathBuf::from(home);
        groups.push(python_libs(&home.join(".local"), &["site-packages"]));
        groups.push(
            children(&home.join(".pyenv").join("versions"), "")
                .iter()
                .flat_map(|v| python_libs(v, &["site-packages"]))
                .collect(),
        );
    }
    groups.push(python_libs(
        Path::new("/usr/local"),
        &["dist-packages", "site-packages"],
    ));
    groups.push(vec![PathBuf::from("/usr/lib/python3/dist-packages")]);
    groups
}

impl Backend for OrtBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn availability(&self) -> Availability {
        match self.runtime() {
            Ok(rt) => Availability::Available {
                version: format!(
                    "onnxruntime {} (ort {ORT_CRATE_VERSION}, {})",
                    rt.version,
                    rt.library.display()
                ),
            },
            Err(reason) => Availability::Unavailable { reason },
        }
    }

    fn load_bytes(
        &self,
        model_path: &Path,
        bytes: &[u8],
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, BackendError> {
        let rt = self.runtime().map_err(|reason| BackendError::Unavailable {
            backend: NAME,
            reason,
        })?;
        let load_err = |reason: String| BackendError::Load {
            backend: NAME,
            path: model_path.to_path_buf(),
            reason,
        };
        // The same refusal as the other engines', before ONNX Runtime builds a session.
        if let Ok(proto) = crate::catch_engine_panic(|| crate::graph_check::decode_model(bytes))
            && let Some(graph) = &proto.graph
        {
            crate::graph_check::scores_output(graph, options.output.as_deref())
                .map_err(load_err)?;
        }
        let mut builder = Session::builder(&rt.env)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                b.with_intra_threads(options.threads.max(1))
                    .map_err(|e| e.to_string())
            })
            .and_then(|b| b.with_inter_threads(1).map_err(|e| e.to_string()))
            .and_then(|b| {
                // Spinning intra-op threads take the cores a concurrent decoder needs.
                b.with_intra_op_spinning(!options.shared_cpu)
                    .map_err(|e| e.to_string())
            })
            .and_then(|b| {
                b.with_optimization_level(GraphOptimizationLevel::Level3)
                    .map_err(|e| e.to_string())
            })
            .map_err(load_err)?;
        if options.device == Device::Cuda {
            match ort::ep::CUDA::is_available() {
                Ok(true) => {}
                Ok(false) => {
                    return Err(BackendError::Unavailable {
                        backend: NAME,
                        reason: format!(
                            "the ONNX Runtime library {} has no CUDA execution provider (install onnxruntime-gpu)",
                            rt.library.display()
                        ),
                    });
                }
                Err(e) => {
                    return Err(BackendError::Unavailable {
                        backend: NAME,
                        reason: e.to_string(),
                    });
                }
            }
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| BackendError::Unavailable {
                    backend: NAME,
                    reason: format!("cannot start the CUDA execution provider: {e}"),
                })?;
        }
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|e| load_err(e.to_string()))?;
        let input = match session.inputs() {
            [one] => one,
            many => {
                return Err(load_err(format!(
                    "the model has {} inputs; exactly 1 is supported",
                    many.len()
                )));
            }
        };
        if input.dtype().tensor_type() != Some(TensorElementType::Float32) {
            return Err(load_err(format!(
                "input '{}' has type {:?}; only float32 tensors are supported",
                input.name(),
                input.dtype()
            )));
        }
        let dims = input
            .dtype()
            .tensor_shape()
            .map(|s| s.iter().map(|&d| usize::try_from(d).ok()).collect())
            .unwrap_or_default();
        let input = TensorInfo {
            name: input.name().to_string(),
            dims,
        };
        if let Some(given) = &options.input_shape {
            input.case_shape(Some(given)).map_err(load_err)?;
        }
        let output = match &options.output {
            None => session.outputs().first(),
            Some(name) => session.outputs().iter().find(|o| o.name() == name),
        };
        let output = match (output, &options.output) {
            (Some(o), _) => TensorInfo {
                name: o.name().to_string(),
                // ONNX Runtime writes -1 for a symbolic dimension.
                dims: o
                    .dtype()
                    .tensor_shape()
                    .map(|s| s.iter().map(|&d| usize::try_from(d).ok()).collect())
                    .unwrap_or_default(),
            },
            (None, None) => return Err(load_err("the model has no outputs".into())),
            (None, Some(name)) => {
                return Err(load_err(format!(
                    "the output named '{name}' (a suite's output.name, bench's --output) is not an output of the model; its outputs are {}",
                    session
                        .outputs()
                        .iter()
                        .map(|o| format!("'{}'", o.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        };
        Ok(Box::new(OrtModel {
            path: model_path.to_path_buf(),
            session,
            input,
            output,
        }))
    }
}

struct OrtModel {
    path: PathBuf,
    session: Session,
    input: TensorInfo,
    /// The scores output, as declared.
    output: TensorInfo,
}

impl LoadedModel for OrtModel {
    fn input(&self) -> &TensorInfo {
        &self.input
    }

    fn output(&self) -> &TensorInfo {
        &self.output
    }

    fn run(&mut self, batch: &Batch) -> Result<RawOutput, BackendError> {
        let run_err = run_error(NAME, &self.path);
        check_batch(batch, &self.input).map_err(&run_err)?;
        // A view of the batch's own buffer: no copy on the way in.
        let tensor = TensorRef::from_array_view((batch.shape.as_slice(), batch.data.as_slice()))
            .map_err(|e| run_err(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(|e| run_err(e.to_string()))?;
        let Some(scores) = outputs.get(&self.output.name) else {
            return Err(run_err(format!(
                "the model produced no output '{}'",
                self.output.name
            )));
        };
        let (shape, data) = scores.try_extract_tensor::<f32>().map_err(|e| {
            run_err(format!(
                "output '{}' is not a float32 tensor: {e}",
                self.output.name
            ))
        })?;
        let shape = shape
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        Ok(RawOutput {
            shape,
            data: data.to_vec(),
        })
    }
}
