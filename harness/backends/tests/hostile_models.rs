//! Hostile model files: regression tests for what model-loading fuzzing (`ci/fuzz.sh`, targets
//! `model_tract`, `model_candle`, `model_ort`) exercises. The files are a few hundred bytes each,
//! written by `tests/data/make_hostile_models.py`. Whatever a model file holds, `Backend::load`
//! answers with a loaded model or a `BackendError` that names the file. It never panics, aborts
//! or reads outside the model's folder.

use std::path::{Path, PathBuf};

use harness_backends::tract_backend::TractBackend;
use harness_backends::{Availability, Backend, BackendError, BackendKind, LoadOptions};

const ALL: &[&str] = &[
    "conv_zero_stride.onnx",
    "maxpool_zero_kernel.onnx",
    "constant_of_shape_huge.onnx",
    "constant_of_shape_overflow.onnx",
    "range_huge.onnx",
    "expand_huge.onnx",
    "external_data_absolute.onnx",
    "external_data_parent.onnx",
    "nested_if_30.onnx",
    "output_not_produced.onnx",
    "conv_short_pads.onnx",
    "label_first_output.onnx",
];

fn hostile(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hostile")
        .join(name)
}

fn available_backends() -> Vec<Box<dyn Backend>> {
    BackendKind::ALL
        .into_iter()
        .map(BackendKind::backend)
        .filter(|b| match b.availability() {
            Availability::Available { .. } => true,
            Availability::Unavailable { reason } => {
                eprintln!("SKIPPED {}: unavailable: {reason}", b.name());
                false
            }
        })
        .collect()
}

/// Loads `name` with `b`; on failure checks that the error is a load error naming the file and
/// returns its reason.
fn load(b: &dyn Backend, name: &str) -> Result<(), String> {
    let path = hostile(name);
    match b.load(&path, &LoadOptions::default()) {
        Ok(model) => {
            let _ = model.input().dims_text();
            Ok(())
        }
        Err(e @ BackendError::Load { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "{}: {name}: the error does not name the file: {msg}",
                b.name()
            );
            match e {
                BackendError::Load { reason, .. } => Err(reason),
                _ => unreachable!(),
            }
        }
        Err(e) => panic!("{}: {name}: not a load error: {e:?}", b.name()),
    }
}

/// tract 0.23 panics on these at load: a zero stride reaches a division by zero; the
/// model_tract fuzz target found a graph output that nothing produces (a missing map key) and a
/// Conv whose `pads` are too short for its rank (index out of bounds). Without
/// `catch_engine_panic` in the tract backend the test process would panic here; with it, each
/// is a load error.
#[test]
fn tract_panics_at_load_become_load_errors_naming_the_file() {
    for name in [
        "conv_zero_stride.onnx",
        "output_not_produced.onnx",
        "conv_short_pads.onnx",
    ] {
        let reason = load(&TractBackend, name).expect_err(name);
        assert!(reason.contains("the engine panicked"), "{name}: {reason}");
    }
}

/// A few hundred bytes asking for a constant beyond any memory (ConstantOfShape, Range or
/// Expand of constants): tract would fold it while loading (an allocation assertion), candle
/// would allocate it on the first run and abort the process ("memory allocation of 2^60 bytes
/// failed", which nothing can catch). The backends refuse such graphs at load, naming the node.
#[test]
fn huge_constant_shaped_operators_are_refused_at_load() {
    let backends: Vec<Box<dyn Backend>> =
        vec![BackendKind::Tract.backend(), BackendKind::Candle.backend()];
    for b in &backends {
        for name in [
            "constant_of_shape_huge.onnx",
            "constant_of_shape_overflow.onnx",
            "range_huge.onnx",
            "expand_huge.onnx",
        ] {
            let reason = load(b.as_ref(), name).expect_err(name);
            assert!(
                reason.contains("refused before the engine allocates it"),
                "{}: {name}: {reason}",
                b.name()
            );
        }
    }
}

/// A model whose first output is an integer predicted label (its probabilities second, as
/// scikit-learn's ONNX exports order them) is refused at load by every engine, naming the
/// output and how to name the scores output: tract and candle used to cast the labels to float
/// and score them as probabilities.
#[test]
fn an_integer_first_output_is_refused_at_load_by_every_engine() {
    for b in available_backends() {
        let reason = load(b.as_ref(), "label_first_output.onnx").expect_err(b.name());
        assert!(
            reason.contains("first output 'label' is int64, not scores")
                && reason.contains("name = ")
                && reason.contains("'label', 'probabilities'"),
            "{}: {reason}",
            b.name()
        );
    }
}

/// The same model loads where its scores output is named (a suite's `output.name`), and every
/// engine returns that output: the softmax of the input, not the predicted labels. A name the
/// model lacks is refused at load, naming the outputs it has.
#[test]
fn a_named_scores_output_is_the_one_every_engine_returns() {
    use harness_backends::Batch;
    let named = |name: &str| LoadOptions {
        output: Some(name.into()),
        ..LoadOptions::default()
    };
    let x = [0.5f32, -1.0, 2.0, 0.0, 3.0, 1.0, -2.0, 0.25];
    let softmax: Vec<f32> = x
        .chunks(4)
        .flat_map(|row| {
            let e: Vec<f32> = row.iter().map(|v| v.exp()).collect();
            let sum: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / sum)
        })
        .collect();
    let path = hostile("label_first_output.onnx");
    for b in available_backends() {
        let mut model = b
            .load(&path, &named("probabilities"))
            .unwrap_or_else(|e| panic!("{}: {e}", b.name()));
        let out = model
            .run(&Batch {
                shape: vec![2, 4],
                data: x.to_vec(),
            })
            .unwrap_or_else(|e| panic!("{}: {e}", b.name()));
        assert_eq!(out.shape, [2, 4], "{}", b.name());
        for (got, want) in out.data.iter().zip(&softmax) {
            assert!((got - want).abs() < 1e-6, "{}: {:?}", b.name(), out.data);
        }
        let err = b
            .load(&path, &named("scores"))
            .err()
            .unwrap_or_else(|| panic!("{}: loaded an output the model lacks", b.name()))
            .to_string();
        assert!(
            err.contains("output named 'scores' (a suite's output.name, bench's --output) is not an output of the model; its outputs are 'label', 'probabilities'"),
            "{}: {err}",
            b.name()
        );
        let err = b
            .load(&path, &named("label"))
            .err()
            .unwrap_or_else(|| panic!("{}: loaded the label output", b.name()))
            .to_string();
        assert!(
            err.contains("output 'label' is int64") && err.contains("'label', 'probabilities'"),
            "{}: {err}",
            b.name()
        );
    }
}

/// External data outside the model's folder (an absolute path, or `..`) is never read. tract
/// and ONNX Runtime refuse these models at load. candle-onnx has no external-data support at
/// all: it loads the graph and would fail at run on the empty initializer, so it is not checked.
#[test]
fn external_data_outside_the_model_folder_is_refused() {
    for b in available_backends()
        .into_iter()
        .filter(|b| b.name() != "candle")
    {
        for name in ["external_data_absolute.onnx", "external_data_parent.onnx"] {
            let reason = load(b.as_ref(), name).expect_err(name);
            eprintln!("{}: {name}: {reason}", b.name());
        }
    }
}

/// Every hostile file through every available backend: a model or a load error naming the file.
#[test]
fn every_backend_answers_every_hostile_model_without_panicking() {
    for b in available_backends() {
        for name in ALL {
            match load(b.as_ref(), name) {
                Ok(()) => eprintln!("{}: {name}: loaded", b.name()),
                Err(reason) => eprintln!("{}: {name}: load error: {reason}", b.name()),
            }
        }
    }
}
