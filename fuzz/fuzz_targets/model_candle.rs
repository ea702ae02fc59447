//! Model loading through the candle backend (`Backend::load`, as `harness run` calls it):
//! arbitrary bytes written to a scratch `.onnx` file.
#![no_main]

use harness_backends::candle_backend::CandleBackend;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: harness_fuzz::report_caught_panics(),
    |data: &[u8]| harness_fuzz::load_model(&CandleBackend, data)
);
