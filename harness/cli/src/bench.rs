//! `harness bench`: LoadGen-style performance of one model on chosen backends,
//! profiles and scenarios, for developers and CI.

use anyhow::{Context, Result, bail};
use clap::Args;
use harness_backends::BackendKind;
use harness_measure::profile::Profile;
use harness_measure::{BenchReport, Machine, Scenario};
use harness_pipeline::{PerfOverrides, PerfPlan, Samples, measure_model};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(
    about = "Measure a model's latency and throughput (MLPerf LoadGen scenarios) on backends and hardware profiles",
    long_about = "Measure one ONNX model's speed, following MLPerf Inference LoadGen rules.\n\n\
        single-stream: one query at a time; latency p50/p90/p95/p99/max and the LoadGen early-stopping \
        estimate of the 90th percentile (at least 64 queries are needed for it). offline: batches back \
        to back, throughput at each --batch-size. server: Poisson arrivals at --target-qps (seeded), \
        p99 latency against --latency-bound-ms. Warm-up queries are excluded; each scenario runs until \
        both --min-duration and --min-queries are met (LoadGen defaults: 1024 queries; here 10 s).\n\n\
        Profiles: cpu-1thread, cpu-all (every logical CPU), cpu-<N>threads, gpu (ONNX Runtime's CUDA \
        provider). A backend or profile that is not available here is reported as unavailable with the \
        reason; the rest goes on. Inputs are seeded pseudo-random tensors of the input shape each measured \
        engine reads from the model (the batch set by the scenario; a model whose batch is fixed is measured \
        offline at that batch), or of --input-shape.\n\n\
        Exit status: 0 all measured; 3 something failed or was unavailable; 2 invalid options.",
    after_help = "Examples:\n  harness bench --model models/vendor-a.onnx\n  \
        harness bench --model m.onnx --backend tract --backend ort --profile cpu-1thread --scenario offline --batch-size 1 --batch-size 32 --json perf.json\n  \
        harness bench --model m.onnx --quick      # 64 queries, 0.5 s per scenario (CI smoke)"
)]
pub struct BenchArgs {
    /// The ONNX model.
    #[arg(long, value_name = "M.onnx")]
    model: PathBuf,
    /// Backends to measure: tract, ort, candle (default: tract and ort). Repeatable.
    #[arg(long = "backend", value_name = "NAME", value_parser = crate::parse_backend)]
    backends: Vec<BackendKind>,
    /// Hardware profiles (default: cpu-1thread, cpu-all). Repeatable.
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// Scenarios: single-stream, offline, server (default: single-stream, offline). Repeatable.
    #[arg(long = "scenario", value_name = "NAME", value_parser = crate::parse_scenario)]
    scenarios: Vec<Scenario>,
    /// Offline batch sizes (default: 1 and 32). Repeatable.
    #[arg(long = "batch-size", value_name = "N")]
    batch_sizes: Vec<usize>,
    /// Input shape when the model's is not fully declared, e.g. 1,3,224,224 (batch first).
    #[arg(long, value_name = "DIMS", value_delimiter = ',')]
    input_shape: Vec<usize>,
    /// The model output that holds the scores, by name (as a suite's `output.name`), for a
    /// model whose first output is not its scores (a predicted label first). Default: the
    /// first output.
    #[arg(long, value_name = "NAME")]
    output: Option<String>,
    /// Minimum measured duration per scenario, in seconds.
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    min_duration: Option<f64>,
    /// Minimum measured queries (samples, for offline) per scenario.
    #[arg(long, value_name = "N")]
    min_queries: Option<u64>,
    /// Server scenario: arrival rate (queries per second).
    #[arg(long, value_name = "QPS", allow_negative_numbers = true)]
    target_qps: Option<f64>,
    /// Server scenario: p99 latency bound in milliseconds.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    latency_bound_ms: Option<f64>,
    /// Short runs for CI smoke tests (64 queries, 0.5 s).
    #[arg(long)]
    quick: bool,
    /// Write the results as JSON.
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    // Read once: the bytes hashed are the bytes every engine loads.
    let model = harness_pipeline::ModelBytes::read(&args.model, u64::MAX).map_err(|e| match e {
        harness_data::BoundedReadError::Io(e) => {
            anyhow::anyhow!("{}: cannot read: {e}", args.model.display())
        }
        harness_data::BoundedReadError::TooLarge { bytes, .. } => {
            anyhow::anyhow!("{}: {bytes} bytes is too large", args.model.display())
        }
    })?;
    let backends = if args.backends.is_empty() {
        vec![BackendKind::Tract, BackendKind::Ort]
    } else {
        args.backends.clone()
    };
    let profiles = if args.profiles.is_empty() {
        vec!["cpu-1thread".to_string(), "cpu-all".to_string()]
    } else {
        args.profiles.clone()
    };
    let overrides = PerfOverrides {
        min_duration_s: args.min_duration,
        min_queries: args.min_queries,
        max_duration_s: None,
        target_qps: args.target_qps,
        latency_bound_ms: args.latency_bound_ms,
    };
    let settings = overrides
        .settings(args.quick)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = PerfPlan {
        profiles: profiles
            .iter()
            .map(|p| harness_measure::profile(p))
            .collect::<Result<_, _>>()?,
        scenarios: if args.scenarios.is_empty() {
            vec![Scenario::SingleStream, Scenario::Offline]
        } else {
            args.scenarios.clone()
        },
        batch_sizes: if args.batch_sizes.is_empty() {
            vec![1, 32]
        } else {
            args.batch_sizes.clone()
        },
        settings: settings.clone(),
    };
    if let Some(b) = plan.batch_sizes.iter().find(|&&b| b == 0 || b > 4096) {
        bail!("--batch-size {b} must be between 1 and 4096");
    }
    for warning in plan.profiles.iter().filter_map(Profile::oversubscription) {
        errln!("warning: {warning}");
    }
    // The input shape: given, or as each measured engine reads it from the model.
    let samples = Samples::Synthetic {
        shape: (!args.input_shape.is_empty()).then(|| args.input_shape.clone()),
        seed: 0x5eed,
    };
    let label = args.model.display().to_string();

    let mut report = BenchReport::new(Machine::capture(), settings);
    let bars = crate::progress::Bars::default();
    for kind in backends {
        let backend = kind.backend();
        report.results.extend(measure_model(
            backend.as_ref(),
            &model,
            args.output.as_deref(),
            &label,
            &samples,
            &plan,
            &bars,
        ));
    }
    if let Some(path) = &args.json {
        let mut bytes = serde_json::to_vec_pretty(&report)?;
        bytes.push(b'\n');
        harness_evidence::write_atomic(path, &bytes)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    outln!("{}", crate::bench_table::bench_table(&report));
    let all_ok = report
        .results
        .iter()
        .all(|r| r.status == harness_measure::Status::Ok);
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
