//! The suite reader (`harness_evidence::suite::Suite::parse`, `suites/*.toml`), then the
//! acceptance criteria it validated.
#![no_main]

use std::path::Path;

use harness_evidence::suite::{Suite, SuiteError};
use harness_fuzz::{check_contained, check_line_col};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Suite::parse(text, Path::new("suite.toml")) {
        Ok(suite) => {
            let criteria = suite
                .acceptance
                .criteria()
                .expect("criteria were validated at parse");
            assert_eq!(
                criteria.len(),
                suite.acceptance.fail_under.len() + suite.acceptance.fail_over.len()
            );
            assert!(!suite.candidates.is_empty());
            for (i, c) in suite.candidates.iter().enumerate() {
                check_contained(&c.model);
                check_line_col(text, c.line, 1);
                assert!(
                    suite.candidates[..i].iter().all(|o| o.name != c.name),
                    "duplicate candidate accepted"
                );
                assert!(!c.backends.is_empty());
            }
            // `harness run` compares a model's size in bytes with this limit.
            assert!(
                suite.limits.max_model_mib.checked_mul(1 << 20).is_some(),
                "limits.max_model_mib = {} overflows when turned into bytes",
                suite.limits.max_model_mib
            );
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("suite.toml"),
                "error does not name the file: {msg}"
            );
            if let SuiteError::Invalid { line, column, .. } = e {
                check_line_col(text, line, column);
            }
        }
    }
});
