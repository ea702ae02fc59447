//! tract (`tract-onnx` 0.23): a pure-Rust ONNX engine, always available.
//!
//! The model is parsed and type-checked at load (so unsupported operators
//! fail there). For each distinct input shape seen at run time the model is
//! re-typed with that concrete shape, optimised (`into_optimized`) and turned
//! into a runnable plan, which is cached: the first batch of a new size pays
//! for optimisation, later ones do not.
//!
//! Threads: tract evaluates the graph on the calling thread; with
//! `threads > 1` its matrix-multiplication kernels (which carry convolutions
//! and dense layers) are split over a private rayon pool of that many threads
//! (`tract-linalg`'s `multithread-mm` executor). Other operators stay
//! single-threaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use crate::{
    Availability, Backend, BackendError, Batch, LoadOptions, LoadedModel, RawOutput, TensorInfo,
    catch_engine_panic, check_batch, run_error,
};

/// The `tract-onnx` version this crate is built against (checked against
/// `Cargo.lock` by a test).
pub const TRACT_VERSION: &str = "0.23.9";

const NAME: &str = "tract";

/// The tract engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct TractBackend;

impl Backend for TractBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn availability(&self) -> Availability {
        Availability::Available {
            version: format!("tract-onnx {TRACT_VERSION}"),
        }
    }

    fn load_bytes(
        &self,
        model_path: &Path,
        bytes: &[u8],
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, BackendError> {
        crate::cpu_only(NAME, options, "tract runs on the CPU")?;
        let load_err = |reason: String| BackendError::Load {
            backend: NAME,
            path: model_path.to_path_buf(),
            reason,
        };
        // tract folds constants while loading: refuse absurd ones before it allocates them.
        // (A file the ONNX decoder cannot read is left to tract, which names the problem.)
        let mut scores = None;
        if let Ok(proto) = catch_engine_panic(|| crate::graph_check::decode_model(bytes))
            && let Some(graph) = &proto.graph
        {
            crate::graph_check::check_graph(graph).map_err(load_err)?;
            scores = Some(
                crate::graph_check::scores_output(graph, options.output.as_deref())
                    .map_err(load_err)?,
            );
        }
        let model_dir = model_path
            .parent()
            .and_then(Path::to_str)
            .map(str::to_string);
        let output = options.output.clone();
        let given = options.input_shape.clone();
        let (model, input) = catch_engine_panic(|| {
            let onnx = tract_onnx::onnx();
            let proto = onnx
                .proto_model_for_read(&mut &bytes[..])
                .map_err(|e| format!("{e:#}"))?;
            let parsed = onnx
                .parse(&proto, model_dir.as_deref())
                .map_err(|e| format!("{e:#}"))?;
            if !parsed.unresolved_inputs.is_empty() {
                return Err(format!(
                    "could not resolve inputs at top level: {:?}",
                    parsed.unresolved_inputs
                ));
            }
            let mut model = parsed.model;
            // Only the scores output is computed (tract's outputs follow the graph's order).
            match (&scores, &output) {
                (Some((index, _)), _) if *index > 0 => {
                    let outlet = *model.outputs.get(*index).ok_or_else(|| {
                        format!("tract read fewer outputs than the model's {}", index + 1)
                    })?;
                    model
                        .select_output_outlets(&[outlet])
                        .map_err(|e| format!("{e:#}"))?;
                }
                (None, Some(name)) => model
                    .select_outputs_by_name([name])
                    .map_err(|e| format!("output '{name}': {e:#}"))?,
                _ => {}
            }
            if model.inputs.len() != 1 {
                return Err(format!(
                    "the model has {} inputs; exactly 1 is supported",
                    model.inputs.len()
                ));
            }
            if model.outputs.is_empty() {
                return Err("the model has no outputs".into());
            }
            let input = declared_input(&model)?;
            // A case the model cannot take fails here, naming both shapes.
            let case = given
                .as_deref()
                .map(|g| input.case_shape(Some(g)))
                .transpose()?;
            // Type the whole graph once so that unsupported operators fail here, not at run
            // time: with the declared input where that types, else (exporters' dynamic batch
            // feeding a Shape → Gather → Concat → Reshape flatten; dynamic height and width)
            // with the batch pinned to 1 and the case's shape, as every run pins them to the
            // batch actually fed.
            if let Err(declared) = model.clone().into_typed() {
                let from = if case.is_some() {
                    "a case's shape, from a suite's preprocess or bench's --input-shape"
                } else {
                    "as declared"
                };
                let case = match case {
                    Some(case) => case,
                    None => input
                        .case_shape(None)
                        .map_err(|open| format!("{declared:#} ({open})"))?,
                };
                let pinned: Vec<usize> = std::iter::once(1).chain(case).collect();
                model
                    .clone()
                    .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), &pinned))
                    .and_then(|m| m.into_typed())
                    .map_err(|e| {
                        format!(
                            "the model cannot take input of shape {pinned:?} ({from}, with a batch of 1): {e:#}"
                        )
                    })?;
            }
            Ok((model, input))
        })
        .map_err(load_err)?;
        let executor = if options.threads > 1 {
            let pool = crate::thread_pool(options.threads).map_err(load_err)?;
            Some(tract_linalg::multithread::Executor::MultiThread(pool))
        } else {
            None
        };
        // A file the ONNX decoder could not read declares nothing here (tract read it).
        let output = scores.map_or_else(
            || TensorInfo {
                name: options.output.clone().unwrap_or_default(),
                dims: Vec::new(),
            },
            |(_, output)| output,
        );
        Ok(Box::new(TractModel {
            path: model_path.to_path_buf(),
            model,
            input,
            output,
            plans: HashMap::new(),
            run_options: RunOptions {
                executor,
                ..RunOptions::default()
            },
        }))
    }
}

/// The input as declared: name, float32 check and dimensions (`None` where symbolic or unknown).
fn declared_input(model: &InferenceModel) -> Result<TensorInfo, String> {
    let outlet = model.inputs[0];
    let fact = model.outlet_fact(outlet).map_err(|e| format!("{e:#}"))?;
    if let Some(dt) = fact.datum_type.concretize()
        && dt != f32::datum_type()
    {
        return Err(format!(
            "input type is {dt:?}; only float32 inputs are supported"
        ));
    }
    let dims = fact
        .shape
        .dims()
        .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
        .collect();
    let name = model.node(outlet.node).name.clone();
    Ok(TensorInfo { name, dims })
}

type Plan = Arc<TypedRunnableModel>;

struct TractModel {
    path: PathBuf,
    model: InferenceModel,
    input: TensorInfo,
    /// The scores output, as declared.
    output: TensorInfo,
    /// One optimised plan per concrete input shape.
    plans: HashMap<Vec<usize>, Plan>,
    run_options: RunOptions,
}

impl TractModel {
    fn plan(&mut self, shape: &[usize]) -> Result<Plan, String> {
        if let Some(plan) = self.plans.get(shape) {
            return Ok(plan.clone());
        }
        let model = self.model.clone();
        let options = self.run_options.clone();
        let plan = catch_engine_panic(|| {
            let fact = InferenceFact::dt_shape(f32::datum_type(), shape);
            model
                .with_input_fact(0, fact)
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable_with_options(&options))
                .map_err(|e| format!("cannot prepare the model for input shape {shape:?}: {e:#}"))
        })?;
        self.plans.insert(shape.to_vec(), plan.clone());
        Ok(plan)
    }
}

impl LoadedModel for TractModel {
    fn input(&self) -> &TensorInfo {
        &self.input
    }

    fn output(&self) -> &TensorInfo {
        &self.output
    }

    fn run(&mut self, batch: &Batch) -> Result<RawOutput, BackendError> {
        let path = self.path.clone();
        let run_err = run_error(NAME, &path);
        check_batch(batch, &self.input).map_err(&run_err)?;
        let plan = self.plan(&batch.shape).map_err(&run_err)?;
        catch_engine_panic(|| {
            let tensor =
                Tensor::from_shape(&batch.shape, &batch.data).map_err(|e| format!("{e:#}"))?;
            let outputs = plan
                .run(tvec![tensor.into()])
                .map_err(|e| format!("{e:#}"))?;
            let first = outputs.first().ok_or("the model produced no output")?;
            let first = first
                .cast_to::<f32>()
                .map_err(|e| format!("output is not numeric: {e:#}"))?;
            let view = first
                .to_plain_array_view::<f32>()
                .map_err(|e| format!("{e:#}"))?;
            Ok(RawOutput {
                shape: view.shape().to_vec(),
                data: view.iter().copied().collect(),
            })
        })
        .map_err(run_err)
    }
}
