//! Models shaped as exporters write them (`ci/gen_realistic_models.py`, committed under
//! `models/realistic/`): a ResNet-style network with a named dynamic batch and PyTorch's
//! Shape → Gather → Concat → Reshape flatten, a DenseNet-style one with an unnamed dynamic
//! batch and edge/constant Pads, a model fixed to batch 1, one whose only operator candle lacks
//! is GlobalAveragePool, and one that declares an integer label before its probabilities. Each
//! engine is checked against ONNX Runtime's outputs for a fixed input (the `.expected.json`
//! beside each model).

use harness_backends::{Backend, BackendError, BackendKind, Batch, LoadOptions};
use std::path::{Path, PathBuf};

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/realistic")
        .join(format!("{name}.onnx"))
}

struct Expected {
    input: Batch,
    output_shape: Vec<usize>,
    output: Vec<f32>,
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(model(name).with_extension("expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dims = |k: &str| {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect::<Vec<_>>()
    };
    let shape = dims("input_shape");
    let mut data = Vec::with_capacity(shape.iter().product());
    for b in 0..shape[0] {
        for c in 0..shape[1] {
            for i in 0..shape[2] {
                for j in 0..shape[3] {
                    data.push((((7 * b + 11 * c + 3 * i + 5 * j) % 17) as f64 / 16.0) as f32);
                }
            }
        }
    }
    Expected {
        input: Batch { shape, data },
        output_shape: dims("output_shape"),
        output: v["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect(),
    }
}

fn engines() -> Vec<Box<dyn Backend>> {
    BackendKind::ALL
        .iter()
        .map(|k| k.backend())
        .filter(|b| b.availability().is_available())
        .collect()
}

fn check_against_onnxruntime(backend: &dyn Backend, name: &str, tolerance: f32) {
    check_output_against_onnxruntime(backend, name, None, tolerance);
}

/// [`check_against_onnxruntime`] for the scores output named `output` (a suite's `output.name`).
fn check_output_against_onnxruntime(
    backend: &dyn Backend,
    name: &str,
    output: Option<&str>,
    tolerance: f32,
) {
    let options = LoadOptions {
        threads: 2,
        output: output.map(str::to_string),
        ..LoadOptions::default()
    };
    check_loaded_against_onnxruntime(backend, name, &options, tolerance);
}

/// [`check_against_onnxruntime`], loading with `options`.
fn check_loaded_against_onnxruntime(
    backend: &dyn Backend,
    name: &str,
    options: &LoadOptions,
    tolerance: f32,
) {
    let e = expected(name);
    let mut m = backend
        .load(&model(name), options)
        .unwrap_or_else(|err| panic!("{} {name}: {err}", backend.name()));
    let out = m
        .run(&e.input)
        .unwrap_or_else(|err| panic!("{} {name}: {err}", backend.name()));
    assert_eq!(out.shape, e.output_shape, "{} {name}", backend.name());
    for (k, (a, b)) in out.data.iter().zip(&e.output).enumerate() {
        assert!(
            (a - b).abs() <= tolerance,
            "{} {name} value {k}: {a} vs onnxruntime {b}",
            backend.name()
        );
    }
}

#[test]
fn exporter_shaped_models_with_dynamic_batches_run_on_tract_and_ort() {
    for backend in engines().iter().filter(|b| b.name() != "candle") {
        for name in ["resnet-style", "densenet-style"] {
            check_against_onnxruntime(backend.as_ref(), name, 1e-4);
        }
    }
}

#[test]
fn dynamic_batch_models_declare_an_open_batch_and_accept_any_batch_size() {
    for backend in engines().iter().filter(|b| b.name() != "candle") {
        for name in ["resnet-style", "densenet-style"] {
            let mut m = backend.load(&model(name), &LoadOptions::default()).unwrap();
            assert_eq!(
                m.input().dims[0],
                None,
                "{} {name}: batch is dynamic",
                backend.name()
            );
            assert_eq!(m.input().fixed_batch(), None);
            let e = expected(name);
            // The first case alone gives the first case's output.
            let per = e.input.data.len() / e.input.shape[0];
            let mut shape = e.input.shape.clone();
            shape[0] = 1;
            let one = m
                .run(&Batch {
                    shape,
                    data: e.input.data[..per].to_vec(),
                })
                .unwrap();
            let k = e.output.len() / e.output_shape[0];
            for (a, b) in one.data.iter().zip(&e.output[..k]) {
                assert!(
                    (a - b).abs() <= 1e-4,
                    "{} {name}: {a} vs {b}",
                    backend.name()
                );
            }
        }
    }
}

#[test]
fn a_model_fixed_to_batch_one_says_so_and_refuses_other_batches() {
    for backend in engines() {
        check_against_onnxruntime(backend.as_ref(), "fixed-batch1", 1e-5);
        let mut m = backend
            .load(&model("fixed-batch1"), &LoadOptions::default())
            .unwrap();
        assert_eq!(m.input().fixed_batch(), Some(1), "{}", backend.name());
        let two = Batch {
            shape: vec![2, 1, 64, 64],
            data: vec![0.5; 2 * 64 * 64],
        };
        assert!(
            matches!(m.run(&two), Err(BackendError::Run { .. })),
            "{}",
            backend.name()
        );
    }
}

#[test]
fn candle_runs_global_average_pool_through_the_exact_reduce_mean_rewrite() {
    let candle = BackendKind::Candle.backend();
    check_against_onnxruntime(candle.as_ref(), "gap-rewrite", 1e-5);
    let tract = BackendKind::Tract.backend();
    let e = expected("gap-rewrite");
    let a = candle
        .load(&model("gap-rewrite"), &LoadOptions::default())
        .unwrap()
        .run(&e.input)
        .unwrap();
    let b = tract
        .load(&model("gap-rewrite"), &LoadOptions::default())
        .unwrap()
        .run(&e.input)
        .unwrap();
    for (x, y) in a.data.iter().zip(&b.data) {
        assert!((x - y).abs() <= 1e-6, "candle {x} vs tract {y}");
    }
}

#[test]
fn candle_names_what_it_cannot_run_at_load() {
    let candle = BackendKind::Candle.backend();
    let err = candle
        .load(&model("resnet-style"), &LoadOptions::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("MaxPool (with non-zero pads)"), "{err}");
    assert!(
        !err.contains("GlobalAveragePool"),
        "rewritten, not refused: {err}"
    );
    let err = candle
        .load(&model("densenet-style"), &LoadOptions::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("Pad (mode 'edge')") && err.contains("Pad (mode 'constant')"),
        "{err}"
    );
}

#[test]
fn loading_from_bytes_uses_exactly_those_bytes() {
    let tract = BackendKind::Tract.backend();
    let path = model("fixed-batch1");
    let bytes = std::fs::read(&path).unwrap();
    let e = expected("fixed-batch1");
    // The same file name with other bytes (the gap-rewrite model) gives the other model's output.
    let other = std::fs::read(model("gap-rewrite")).unwrap();
    let a = tract
        .load_bytes(&path, &bytes, &LoadOptions::default())
        .unwrap()
        .run(&e.input)
        .unwrap();
    let b = tract
        .load_bytes(&path, &other, &LoadOptions::default())
        .unwrap()
        .run(&e.input)
        .unwrap();
    assert!((a.data[0] - e.output[0]).abs() <= 1e-5);
    assert!(
        (a.data[0] - b.data[0]).abs() > 1e-3,
        "{} vs {}",
        a.data[0],
        b.data[0]
    );
}

/// A model exported with its predicted label first and its probabilities second (as
/// scikit-learn's exporter and some vendors order them): refused at load as it stands, and
/// read through its `probabilities` output when the suite names it, on every engine.
#[test]
fn a_label_first_export_runs_through_its_named_probabilities_output() {
    for backend in engines() {
        let err = backend
            .load(&model("label-first"), &LoadOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{}: scored the label output", backend.name()))
            .to_string();
        assert!(
            err.contains("first output 'label' is int64") && err.contains("'probabilities'"),
            "{}: {err}",
            backend.name()
        );
        check_output_against_onnxruntime(
            backend.as_ref(),
            "label-first",
            Some("probabilities"),
            1e-5,
        );
    }
}

/// A model whose input declares every dimension symbolic takes a case's shape from its caller
/// (a suite's preprocess, bench's --input-shape), and every engine then gives ONNX Runtime's
/// output. Without it, tract, which prepares the whole graph at load, says which dimension
/// nothing gave. A case that a model's fixed dimensions refuse fails at load on every engine,
/// naming both shapes, before any image is decoded.
#[test]
fn a_fully_dynamic_input_takes_a_case_shape_from_the_caller() {
    let case = LoadOptions {
        threads: 2,
        input_shape: Some(vec![1, 64, 64]),
        ..LoadOptions::default()
    };
    for backend in engines() {
        check_loaded_against_onnxruntime(backend.as_ref(), "dynamic-all", &case, 1e-5);
        let m = backend.load(&model("dynamic-all"), &case).unwrap();
        assert_eq!(m.input().dims, [None; 4], "{}", backend.name());
        let err = backend
            .load(
                &model("fixed-batch1"),
                &LoadOptions {
                    input_shape: Some(vec![1, 32, 32]),
                    ..LoadOptions::default()
                },
            )
            .err()
            .expect("refused at load")
            .to_string();
        assert!(
            err.contains("cannot load")
                && err.contains(
                    "expects shape [1, 1, 64, 64], the batches would be [?, 1, 32, 32] (a suite"
                ),
            "{}: {err}",
            backend.name()
        );
    }
    let err = BackendKind::Tract
        .backend()
        .load(&model("dynamic-all"), &LoadOptions::default())
        .err()
        .expect("tract needs the shape")
        .to_string();
    assert!(
        err.contains("[?, ?, ?, ?]: dimension 1 is dynamic and nothing gives it"),
        "{err}"
    );
}
