//! Every available backend on the committed tiny ONNX fixtures
//! (`tests/data/make_models.py`): agreement with onnxruntime (Python)
//! reference outputs and with each other, batch-size invariance, and the
//! failure paths (unsupported operator, missing library, corrupt file, NaN).

use std::path::{Path, PathBuf};

use harness_backends::candle_backend::CANDLE_VERSION;
use harness_backends::ort_backend::{OrtBackend, locate_library};
use harness_backends::tract_backend::TRACT_VERSION;
use harness_backends::{
    Availability, Backend, BackendError, BackendKind, Batch, ChannelOrder, Device, Layout,
    LoadOptions, OutputKind, OutputSpec, Preprocess, ResizeFilter, agreement, backend, interpret,
    to_tensor,
};
use harness_data::images::{Image, ImageSource};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// `x[b, 0, i, j] = ((7 b + 3 i + 5 j) mod 17) / 16 * (b + 1) / 7`, as in `make_models.py`.
fn case_pixels(b: usize) -> Vec<f32> {
    let mut px = Vec::with_capacity(256);
    for i in 0..16 {
        for j in 0..16 {
            let v = ((7 * b + 3 * i + 5 * j) % 17) as f64 / 16.0 * (b + 1) as f64 / 7.0;
            px.push(v as f32);
        }
    }
    px
}

fn batch(cases: std::ops::Range<usize>) -> Batch {
    let n = cases.len();
    Batch {
        shape: vec![n, 1, 16, 16],
        data: cases.flat_map(case_pixels).collect(),
    }
}

const PROB: OutputSpec = OutputSpec {
    kind: OutputKind::Probability,
    positive_index: 0,
    columns: Vec::new(),
    name: None,
};

fn expected_probs() -> Vec<f64> {
    let text = std::fs::read_to_string(data("tiny-cnn.expected.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["prob"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// tract and candle always; ort when its library is found (otherwise the
/// reason must say why, and the test says it skipped ort).
fn available_backends() -> Vec<Box<dyn Backend>> {
    let mut out: Vec<Box<dyn Backend>> = Vec::new();
    for kind in BackendKind::ALL {
        let b = kind.backend();
        match b.availability() {
            Availability::Available { version } => {
                eprintln!("{kind}: {version}");
                out.push(b);
            }
            Availability::Unavailable { reason } => {
                assert_ne!(kind, BackendKind::Tract, "tract is always available");
                assert_ne!(kind, BackendKind::Candle, "candle is always available");
                assert!(
                    !reason.trim().is_empty(),
                    "{kind}: an unavailable backend must say why"
                );
                eprintln!("SKIPPED {kind}: unavailable: {reason}");
            }
        }
    }
    out
}

fn run_probs(b: &dyn Backend, model: &Path, batch: &Batch, threads: usize) -> Vec<f64> {
    let opts = LoadOptions {
        threads,
        device: Device::Cpu,
        ..LoadOptions::default()
    };
    let mut m = b
        .load(model, &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", b.name()));
    let raw = m.run(batch).unwrap_or_else(|e| panic!("{}: {e}", b.name()));
    assert_eq!(raw.shape, vec![batch.len(), 1], "{}", b.name());
    interpret(&PROB, &raw).unwrap()
}

#[test]
fn each_backend_matches_onnxruntime_python_and_the_others() {
    let want = expected_probs();
    assert_eq!(want.len(), 7);
    let mut outputs = Vec::new();
    for b in available_backends() {
        let got = run_probs(b.as_ref(), &data("tiny-cnn.onnx"), &batch(0..7), 1);
        for (case, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5,
                "{} case {case}: {g} vs onnxruntime {w}",
                b.name()
            );
        }
        outputs.push((b.name().to_string(), got));
    }
    assert!(outputs.len() >= 2);
    let agree = agreement(&outputs, 0.5).unwrap();
    for pair in &agree.pairs {
        assert!(pair.max_abs_diff <= 1e-4, "{pair:?}");
        assert_eq!(pair.decision_disagreements, 0, "{pair:?}");
        assert_eq!(pair.n, 7);
    }
}

#[test]
fn batch_sizes_1_and_7_give_the_same_per_case_outputs() {
    for b in available_backends() {
        let opts = LoadOptions::default();
        let mut m = b.load(&data("tiny-cnn.onnx"), &opts).unwrap();
        let whole = interpret(&PROB, &m.run(&batch(0..7)).unwrap()).unwrap();
        let singles: Vec<f64> = (0..7)
            .map(|i| interpret(&PROB, &m.run(&batch(i..i + 1)).unwrap()).unwrap()[0])
            .collect();
        // Again at size 7, after size 1 (a cached plan must not go stale).
        let again = interpret(&PROB, &m.run(&batch(0..7)).unwrap()).unwrap();
        for i in 0..7 {
            assert!(
                (whole[i] - singles[i]).abs() <= 1e-6,
                "{} case {i}: {} vs {}",
                b.name(),
                whole[i],
                singles[i]
            );
        }
        assert_eq!(whole, again, "{}: repeated runs differ", b.name());
    }
}

#[test]
fn more_threads_give_the_same_outputs() {
    for b in available_backends() {
        let one = run_probs(b.as_ref(), &data("tiny-cnn.onnx"), &batch(0..7), 1);
        let two = run_probs(b.as_ref(), &data("tiny-cnn.onnx"), &batch(0..7), 2);
        for (x, y) in one.iter().zip(&two) {
            assert!((x - y).abs() <= 1e-6, "{}: {x} vs {y}", b.name());
        }
    }
}

#[test]
fn input_is_discovered_from_the_model() {
    for b in available_backends() {
        let m = b
            .load(&data("tiny-cnn.onnx"), &LoadOptions::default())
            .unwrap();
        assert_eq!(m.input().name, "image", "{}", b.name());
        assert_eq!(
            m.input().dims,
            vec![None, Some(1), Some(16), Some(16)],
            "{}",
            b.name()
        );
    }
}

#[test]
fn wrong_input_shape_is_a_run_error_naming_both_shapes() {
    for b in available_backends() {
        let mut m = b
            .load(&data("tiny-cnn.onnx"), &LoadOptions::default())
            .unwrap();
        let bad = Batch {
            shape: vec![1, 3, 16, 16],
            data: vec![0.0; 3 * 256],
        };
        let err = m.run(&bad).unwrap_err();
        assert!(matches!(err, BackendError::Run { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("[?, 1, 16, 16]") && msg.contains("[1, 3, 16, 16]"),
            "{msg}"
        );
        let ragged = Batch {
            shape: vec![2, 1, 16, 16],
            data: vec![0.0; 256],
        };
        assert!(
            m.run(&ragged)
                .unwrap_err()
                .to_string()
                .contains("256 values")
        );
    }
}

#[test]
fn preprocessed_images_give_the_same_outputs_as_the_raw_batch() {
    let images: Vec<Image> = (0..7)
        .map(|b| Image::new(16, 16, 1, case_pixels(b), ImageSource::Npy).unwrap())
        .collect();
    let p = Preprocess {
        size: [16, 16],
        channels: 1,
        channel_order: ChannelOrder::Gray,
        scale: 1.0,
        mean: vec![],
        std: vec![],
        layout: Layout::Nchw,
        window: None,
        resize: ResizeFilter::Bilinear,
        exif_orientation: harness_backends::ExifOrientation::Ignore,
    };
    let from_images = to_tensor(&p, &images).unwrap();
    assert_eq!(from_images, batch(0..7));
    let want = expected_probs();
    let got = run_probs(
        &harness_backends::tract_backend::TractBackend,
        &data("tiny-cnn.onnx"),
        &from_images,
        1,
    );
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5);
    }
}

#[test]
fn unsupported_operator_fails_on_candle_at_load_with_the_op_named() {
    // Edge padding has no exact rewrite into candle's operators: refused at load, named.
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/realistic/densenet-style.onnx");
    let candle = backend("candle").unwrap();
    let err = candle
        .load(&model, &LoadOptions::default())
        .err()
        .expect("candle must refuse");
    assert!(matches!(err, BackendError::Load { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("candle-onnx does not support operator(s): ")
            && msg.contains("Pad (mode 'edge')"),
        "{msg}"
    );
    assert!(msg.contains("densenet-style.onnx"), "{msg}");
}

#[test]
fn global_average_pool_is_rewritten_for_candle_and_every_engine_agrees() {
    let model = data("global-avg-pool.onnx");
    let mut outputs = Vec::new();
    for b in available_backends() {
        outputs.push((
            b.name().to_string(),
            run_probs(b.as_ref(), &model, &batch(0..3), 1),
        ));
    }
    assert!(outputs.iter().any(|(n, _)| n == "candle"));
    for pair in agreement(&outputs, 0.5).unwrap().pairs {
        assert!(pair.max_abs_diff <= 1e-5, "{pair:?}");
    }
}

#[test]
fn nan_output_is_rejected_by_interpret() {
    for b in available_backends() {
        let mut m = b
            .load(&data("nan-output.onnx"), &LoadOptions::default())
            .unwrap();
        let raw = m.run(&batch(0..2)).unwrap();
        assert!(
            raw.data.iter().all(|v| v.is_nan()),
            "{}: {:?}",
            b.name(),
            raw.data
        );
        let err = interpret(&PROB, &raw).unwrap_err();
        assert!(
            matches!(&err, BackendError::OutputCase { row: 0, message } if message.contains("not finite")),
            "{err:?}"
        );
    }
}

#[test]
fn corrupt_or_missing_model_files_are_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(
        &garbage,
        b"\x08\x07this is not a protobuf model at all \xff\xfe\x00\x01",
    )
    .unwrap();
    let good = std::fs::read(data("tiny-cnn.onnx")).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.onnx");
    for b in available_backends() {
        for path in [&garbage, &truncated, &empty, &missing] {
            match b.load(path, &LoadOptions::default()) {
                Ok(_) => panic!("{}: {} loaded", b.name(), path.display()),
                Err(e) => {
                    assert!(
                        matches!(e, BackendError::Load { .. }),
                        "{}: {e:?}",
                        b.name()
                    );
                    let name = path.file_name().unwrap().to_str().unwrap();
                    assert!(e.to_string().contains(name), "{e}");
                }
            }
        }
    }
}

#[test]
fn missing_ort_library_is_unavailable_not_a_crash() {
    let bogus = Path::new("/nonexistent/harness/libonnxruntime.so.1.99.0");
    let ort = OrtBackend::with_library(bogus);
    match ort.availability() {
        Availability::Unavailable { reason } => {
            assert!(
                reason.contains("/nonexistent/harness/libonnxruntime.so.1.99.0"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(ort.version().starts_with("unavailable: "));
    let err = ort
        .load(&data("tiny-cnn.onnx"), &LoadOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(err, BackendError::Unavailable { backend: "ort", .. }),
        "{err:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let reason = locate_library(Some(dir.path())).unwrap_err();
    assert!(
        reason.contains("is a directory") && reason.contains("libonnxruntime.so.1.NN.N"),
        "{reason}"
    );

    // A file that is not a shared library (or, if ONNX Runtime is already
    // loaded by another test, a second library) is unavailable too.
    let not_a_lib = dir.path().join("libonnxruntime.so.1.99.0");
    std::fs::write(&not_a_lib, b"not an ELF file").unwrap();
    match OrtBackend::with_library(&not_a_lib).availability() {
        Availability::Unavailable { reason } => {
            assert!(reason.contains("libonnxruntime.so.1.99.0"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cpu_only_engines_refuse_cuda_and_ort_reports_its_cuda_state() {
    let cuda = LoadOptions {
        threads: 1,
        device: Device::Cuda,
        ..LoadOptions::default()
    };
    for name in ["tract", "candle"] {
        let err = backend(name)
            .unwrap()
            .load(&data("tiny-cnn.onnx"), &cuda)
            .err()
            .unwrap();
        assert!(matches!(err, BackendError::Unavailable { .. }), "{err:?}");
        assert!(err.to_string().contains("cuda"), "{err}");
    }
    let ort = OrtBackend::default();
    if ort.availability().is_available() {
        match ort.load(&data("tiny-cnn.onnx"), &cuda) {
            // A CUDA-enabled onnxruntime on a GPU machine.
            Ok(mut m) => {
                let got = interpret(&PROB, &m.run(&batch(0..7)).unwrap()).unwrap();
                for (g, w) in got.iter().zip(expected_probs()) {
                    assert!((g - w).abs() <= 1e-4);
                }
            }
            Err(BackendError::Unavailable { reason, .. }) => {
                assert!(!reason.is_empty());
                eprintln!("ort cuda: unavailable: {reason}");
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn registry_names() {
    for kind in BackendKind::ALL {
        let b = backend(kind.name()).unwrap();
        assert_eq!(b.name(), kind.name());
        assert_eq!(kind.name().parse::<BackendKind>().unwrap(), kind);
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            format!("\"{}\"", kind.name())
        );
        assert_eq!(kind.to_string(), kind.name());
    }
    let err = backend("onnxruntime").err().unwrap().to_string();
    assert!(
        err.contains("onnxruntime") && err.contains("tract, ort, candle"),
        "{err}"
    );
    let a = serde_json::to_value(Availability::Unavailable { reason: "x".into() }).unwrap();
    assert_eq!(a["status"], "unavailable");
    assert_eq!(
        Availability::Unavailable {
            reason: "no lib".into()
        }
        .to_string(),
        "unavailable: no lib"
    );
}

/// The version strings reported by tract and candle are the ones in Cargo.lock.
#[test]
fn reported_engine_versions_match_cargo_lock() {
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock"))
            .unwrap();
    for (name, version) in [
        ("tract-onnx", TRACT_VERSION),
        ("candle-onnx", CANDLE_VERSION),
        ("ort", "2.0.0-rc.15"),
    ] {
        let entry = format!("name = \"{name}\"\nversion = \"{version}\"");
        assert!(lock.contains(&entry), "Cargo.lock has no {name} {version}");
    }
    assert!(backend("tract").unwrap().version().contains(TRACT_VERSION));
    assert!(
        backend("candle")
            .unwrap()
            .version()
            .contains(CANDLE_VERSION)
    );
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// The shared test model `models/test/tiny-cnn.onnx` on the top-left 16x16
/// crop of the first four synthetic-lesion PNGs, `x = p / 255`: every backend
/// reproduces the onnxruntime 1.31.1 outputs listed in `models/test/README.md`.
#[test]
fn shared_test_model_on_real_pngs_matches_its_readme() {
    let want = [
        0.565834641456604,
        0.5565266609191895,
        0.5639922022819519,
        0.5680270195007324,
    ];
    let limits = harness_data::images::ReadLimits::default();
    let crops: Vec<Image> = (1..=4)
        .map(|k| {
            let png = repo(&format!("data/synthetic-lesions/images/c000{k}.png"));
            let img = harness_data::images::read_image(&png, &limits).unwrap();
            assert_eq!((img.width, img.channels), (64, 1));
            let px: Vec<f32> = (0..16)
                .flat_map(|y| img.pixels[y * 64..y * 64 + 16].to_vec())
                .collect();
            Image::new(16, 16, 1, px, ImageSource::Png).unwrap()
        })
        .collect();
    let p = Preprocess {
        size: [16, 16],
        channels: 1,
        channel_order: ChannelOrder::Gray,
        scale: 1.0 / 255.0,
        mean: vec![],
        std: vec![],
        layout: Layout::Nchw,
        window: None,
        resize: ResizeFilter::Bilinear,
        exif_orientation: harness_backends::ExifOrientation::Ignore,
    };
    let batch = to_tensor(&p, &crops).unwrap();
    for b in available_backends() {
        let got = run_probs(b.as_ref(), &repo("models/test/tiny-cnn.onnx"), &batch, 1);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-5, "{}: {g} vs {w}", b.name());
        }
        let mut m = b
            .load(
                &repo("models/test/nan-output.onnx"),
                &LoadOptions::default(),
            )
            .unwrap();
        assert!(
            interpret(&PROB, &m.run(&batch).unwrap()).is_err(),
            "{}",
            b.name()
        );
    }
}

/// The three vendor models (`models/vendor-*.onnx`, output kinds probability,
/// logit and softmax, layouts NCHW and NHWC as in `models/preprocessing.json`)
/// agree across backends on eight full 64x64 images.
#[test]
fn vendor_models_agree_across_backends() {
    let limits = harness_data::images::ReadLimits::default();
    let images: Vec<Image> = (1..=8)
        .map(|k| {
            harness_data::images::read_image(
                &repo(&format!("data/synthetic-lesions/images/c000{k}.png")),
                &limits,
            )
            .unwrap()
        })
        .collect();
    let vendors = [
        (
            "vendor-a",
            Layout::Nchw,
            0.5,
            0.25,
            OutputKind::Probability,
            0,
        ),
        ("vendor-b", Layout::Nchw, 0.0, 1.0, OutputKind::Logit, 0),
        ("vendor-c", Layout::Nhwc, 0.45, 0.2, OutputKind::Softmax, 1),
    ];
    for (name, layout, mean, std, kind, positive_index) in vendors {
        let p = Preprocess {
            size: [64, 64],
            channels: 1,
            channel_order: ChannelOrder::Gray,
            scale: 1.0 / 255.0,
            mean: vec![mean],
            std: vec![std],
            layout,
            window: None,
            resize: ResizeFilter::Bilinear,
            exif_orientation: harness_backends::ExifOrientation::Ignore,
        };
        let batch = to_tensor(&p, &images).unwrap();
        let spec = OutputSpec {
            kind,
            positive_index,
            columns: Vec::new(),
            name: None,
        };
        let mut outputs = Vec::new();
        for b in available_backends() {
            let model = repo(&format!("models/{name}.onnx"));
            let mut m = match b.load(&model, &LoadOptions::default()) {
                Ok(m) => m,
                Err(e) => panic!("{name} on {}: {e}", b.name()),
            };
            let probs = interpret(&spec, &m.run(&batch).unwrap()).unwrap();
            assert_eq!(probs.len(), 8);
            outputs.push((b.name().to_string(), probs));
        }
        for pair in agreement(&outputs, 0.5).unwrap().pairs {
            assert!(pair.max_abs_diff <= 1e-4, "{name}: {pair:?}");
        }
    }
}
