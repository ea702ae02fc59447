//! Model loading through the tract backend (`Backend::load`, as `harness run` calls it):
//! arbitrary bytes written to a scratch `.onnx` file.
#![no_main]

use harness_backends::tract_backend::TractBackend;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: harness_fuzz::report_caught_panics(),
    |data: &[u8]| harness_fuzz::load_model(&TractBackend, data)
);
