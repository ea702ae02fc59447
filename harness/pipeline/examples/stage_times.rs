//! The two floors of a run's wall time, measured with the pipeline's own code, for
//! `ci/bench_pipeline.py`: decode-only (every case read, hashed and decoded, in parallel on
//! the same threads a run uses, nothing else) and raw-engine (each candidate's evaluated
//! engine on pre-decoded, preprocessed tensors, as many batches as the run makes).
//!
//!     cargo run --release -p harness-pipeline --example stage_times -- SUITE.toml [REGISTRY]
//!
//! Prints one JSON object: cases, decode_s, prepare_s (decode and preprocess for every
//! candidate), hash_s (the registry's whole-dataset check), engine_s (per candidate) and
//! engine_total_s.

use harness_alloc::{HugeLarge, Policy};
use harness_backends::{LoadOptions, to_tensor};
use harness_pipeline::{RunOptions, Silent, plan};
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

/// `harness run`'s allocator and policy: engines and decoders allocate here as they do there.
#[global_allocator]
static GLOBAL: HugeLarge = HugeLarge;

fn main() {
    assert!(harness_alloc::configure(Policy::Streaming));
    let mut args = std::env::args().skip(1);
    let suite = PathBuf::from(
        args.next()
            .expect("usage: stage_times SUITE.toml [REGISTRY]"),
    );
    let registry = args.next().map(PathBuf::from);
    let options = RunOptions {
        suite,
        registry,
        no_perf: true,
        ..RunOptions::default()
    };
    let planned = plan(&options, &Silent).unwrap_or_else(|e| panic!("{e}"));
    let cases = &planned.cases;
    let n = cases.len();

    let t = Instant::now();
    let pixels: u64 = (0..n)
        .into_par_iter()
        .map(|i| {
            cases
                .decode(i)
                .map(|d| d.image.pixels.len() as u64)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .sum();
    let decode_s = t.elapsed().as_secs_f64();

    // Decode and preprocess for every candidate (what the run's producer does), for the record.
    let t = Instant::now();
    let groups: Vec<_> = planned
        .suite
        .candidates
        .iter()
        .map(|c| c.preprocess.clone())
        .collect();
    (0..n).into_par_iter().for_each(|i| {
        let img = cases.decode(i).unwrap().image;
        for p in &groups {
            std::hint::black_box(to_tensor(p, std::slice::from_ref(&img)).unwrap());
        }
    });
    let prepare_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let status = planned.registry.check(&planned.dataset);
    assert!(status.is_verified(), "{status}");
    let hash_s = t.elapsed().as_secs_f64();

    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let batch_size = planned.suite.inference.batch_size;
    let mut engine_s = serde_json::Map::new();
    let mut total = 0.0;
    let sample: Vec<_> = (0..n.min(batch_size))
        .map(|i| cases.decode(i).unwrap().image)
        .collect();
    for c in &planned.suite.candidates {
        let backend = planned.suite.inference.primary_backend.backend();
        let mut model = backend
            .load(
                &planned.project_root.join(&c.model),
                &LoadOptions {
                    threads,
                    ..LoadOptions::default()
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let batch = match model.input().fixed_batch() {
            Some(1) => to_tensor(&c.preprocess, &sample[..1]).unwrap(),
            _ => to_tensor(&c.preprocess, &sample).unwrap(),
        };
        let per_call = batch.len();
        model.run(&batch).unwrap_or_else(|e| panic!("{e}"));
        let t = Instant::now();
        for _ in 0..n.div_ceil(per_call) {
            model.run(&batch).unwrap_or_else(|e| panic!("{e}"));
        }
        let s = t.elapsed().as_secs_f64();
        total += s;
        engine_s.insert(c.name.clone(), s.into());
    }
    let out = serde_json::json!({
        "cases": n,
        "pixels": pixels,
        "threads": threads,
        "decode_s": decode_s,
        "prepare_s": prepare_s,
        "hash_s": hash_s,
        "engine_s": engine_s,
        "engine_total_s": total,
    });
    println!("{out}");
}
