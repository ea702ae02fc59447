//! The evaluation CSV reader (`harness_data::parse_eval_csv`, behind `harness eval` and the
//! scores-csv datasets): arbitrary bytes, read with the columns of the shared metric fixtures
//! and again with a minimal label + score request.
#![no_main]

use std::path::Path;

use harness_data::{EvalSpec, parse_eval_csv};
use harness_fuzz::{check_data_error, check_eval_table};
use libfuzzer_sys::fuzz_target;

fn read(data: &[u8], spec: &EvalSpec) {
    let path = Path::new("fuzz.csv");
    match parse_eval_csv(data, path, spec) {
        Ok(table) => check_eval_table(&table, path, spec),
        Err(e) => check_data_error(&e, path),
    }
}

fuzz_target!(|data: &[u8]| {
    let scores = ["score".to_string(), "score_b".to_string()];
    let groups = [
        "sex".to_string(),
        "age_band".to_string(),
        "site".to_string(),
    ];
    read(
        data,
        &EvalSpec {
            label: "label",
            scores: &scores,
            groups: &groups,
        },
    );
    read(
        data,
        &EvalSpec {
            label: "label",
            scores: &scores[..1],
            groups: &[],
        },
    );
});
