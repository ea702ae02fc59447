//! Model loading through the ort backend (ONNX Runtime loaded at run time from
//! `ORT_DYLIB_PATH` or a pip-installed wheel). Without the library every input is a no-op
//! (said once at start), so the target still builds and runs everywhere.
#![no_main]

use std::sync::OnceLock;

use harness_backends::Backend;
use harness_backends::ort_backend::OrtBackend;
use libfuzzer_sys::fuzz_target;

fn backend() -> Option<&'static OrtBackend> {
    static BACKEND: OnceLock<Option<OrtBackend>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let b = OrtBackend::default();
            let availability = b.availability();
            eprintln!("harness-fuzz: ort {availability}");
            availability.is_available().then_some(b)
        })
        .as_ref()
}

fuzz_target!(
    init: {
        harness_fuzz::report_caught_panics();
        if backend().is_none() {
            eprintln!("harness-fuzz: SKIPPED: ONNX Runtime unavailable, model_ort tests nothing");
        }
    },
    |data: &[u8]| {
        if let Some(b) = backend() {
            harness_fuzz::load_model(b, data);
        }
    }
);
