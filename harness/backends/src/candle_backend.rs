//! candle (`candle-onnx` 0.11, CPU): a pure-Rust interpreter for a subset of
//! ONNX operators. `simple_eval` walks the graph node by node on every run
//! (no graph optimisation), so it serves as an independent cross-check more
//! than as a fast engine.
//!
//! At load the graph's operator types (including those inside `If`
//! branches) are compared with [`SUPPORTED_OPS`], so an unsupported model
//! fails at load with `candle-onnx does not support operator(s): …`.
//!
//! Threads: candle's CPU kernels parallelise with rayon; each run executes
//! inside a private rayon pool of [`LoadOptions::threads`] threads.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_onnx::onnx::{self, type_proto};

use crate::{
    Availability, Backend, BackendError, Batch, LoadOptions, LoadedModel, RawOutput, TensorInfo,
    catch_engine_panic, check_batch, run_error,
};

/// The `candle-onnx` version this crate is built against (checked against
/// `Cargo.lock` by a test).
pub const CANDLE_VERSION: &str = "0.11.1";

/// Operator types `candle_onnx::simple_eval` handles: the match arms of
/// `candle-onnx` 0.11.1 `src/eval.rs` (default ONNX domain only).
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Cos",
    "CumSum",
    "Div",
    "Dropout",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "GatherElements",
    "Gelu",
    "Gemm",
    "Greater",
    "GreaterOrEqual",
    "HardSwish",
    "Identity",
    "If",
    "LSTM",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "OneHot",
    "Or",
    "PRelu",
    "Pad",
    "Pow",
    "RNN",
    "Range",
    "ReduceL2",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "ScatterND",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Tile",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Where",
    "Xor",
];

const NAME: &str = "candle";

/// The candle engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct CandleBackend;

impl Backend for CandleBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn availability(&self) -> Availability {
        Availability::Available {
            version: format!("candle-onnx {CANDLE_VERSION} (cpu)"),
        }
    }

    fn load_bytes(
        &self,
        model_path: &Path,
        bytes: &[u8],
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, BackendError> {
        crate::cpu_only(NAME, options, "this build of candle runs on the CPU")?;
        let load_err = |reason: String| BackendError::Load {
            backend: NAME,
            path: model_path.to_path_buf(),
            reason,
        };
        let mut model =
            catch_engine_panic(|| crate::graph_check::decode_model(bytes)).map_err(load_err)?;
        if let Some(graph) = model.graph.as_mut() {
            crate::rewrite::rewrite_for_candle(graph);
        }
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| load_err("the file has no graph".into()))?;
        crate::graph_check::check_graph(graph).map_err(load_err)?;
        let (_, output) = crate::graph_check::scores_output(graph, options.output.as_deref())
            .map_err(load_err)?;
        let mut unsupported = BTreeSet::new();
        collect_unsupported(graph, &mut unsupported);
        crate::rewrite::unsupported_usage(graph, &mut unsupported);
        if !unsupported.is_empty() {
            let ops: Vec<String> = unsupported.into_iter().collect();
            return Err(load_err(format!(
                "candle-onnx does not support operator(s): {}",
                ops.join(", ")
            )));
        }
        let initializers: BTreeSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<&onnx::ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(load_err(format!(
                "the model has {} inputs; exactly 1 is supported",
                inputs.len()
            )));
        };
        let input = input_info(input).map_err(load_err)?;
        if let Some(given) = &options.input_shape {
            input.case_shape(Some(given)).map_err(load_err)?;
        }
        let pool = crate::thread_pool(options.threads).map_err(load_err)?;
        Ok(Box::new(CandleModel {
            path: model_path.to_path_buf(),
            model,
            input,
            output,
            pool,
        }))
    }
}

/// Adds every operator of `graph` (and of its subgraphs) that candle lacks.
fn collect_unsupported(graph: &onnx::GraphProto, out: &mut BTreeSet<String>) {
    for node in &graph.node {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if !default_domain {
            out.insert(format!("{}:{}", node.domain, node.op_type));
        } else if !SUPPORTED_OPS.contains(&node.op_type.as_str()) {
            out.insert(node.op_type.clone());
        }
        for attr in &node.attribute {
            for g in attr.g.iter().chain(&attr.graphs) {
                collect_unsupported(g, out);
            }
        }
    }
}

fn input_info(input: &onnx::ValueInfoProto) -> Result<TensorInfo, String> {
    let tensor = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        _ => return Err(format!("input '{}' is not a tensor", input.name)),
    };
    if tensor.elem_type != onnx::tensor_proto::DataType::Float as i32 {
        return Err(format!(
            "input '{}' has element type {}; only float32 is supported",
            input.name, tensor.elem_type
        ));
    }
    Ok(TensorInfo {
        name: input.name.clone(),
        dims: crate::graph_check::declared_dims(tensor),
    })
}

struct CandleModel {
    path: PathBuf,
    model: onnx::ModelProto,
    input: TensorInfo,
    /// The scores output, as declared.
    output: TensorInfo,
    pool: Arc<rayon::ThreadPool>,
}

impl LoadedModel for CandleModel {
    fn input(&self) -> &TensorInfo {
        &self.input
    }

    fn output(&self) -> &TensorInfo {
        &self.output
    }

    fn run(&mut self, batch: &Batch) -> Result<RawOutput, BackendError> {
        let run_err = run_error(NAME, &self.path);
        check_batch(batch, &self.input).map_err(&run_err)?;
        let result = self.pool.install(|| {
            catch_engine_panic(|| {
                let tensor = Tensor::from_slice(&batch.data, batch.shape.as_slice(), &Device::Cpu)
                    .map_err(|e| e.to_string())?;
                let inputs = HashMap::from([(self.input.name.clone(), tensor)]);
                let mut outputs =
                    candle_onnx::simple_eval(&self.model, inputs).map_err(|e| e.to_string())?;
                let out = outputs
                    .remove(&self.output.name)
                    .ok_or_else(|| format!("output '{}' was not produced", self.output.name))?;
                let shape = out.dims().to_vec();
                let data = out
                    .to_dtype(DType::F32)
                    .and_then(|t| t.flatten_all())
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(|e| e.to_string())?;
                Ok(RawOutput { shape, data })
            })
        });
        result.map_err(run_err)
    }
}
