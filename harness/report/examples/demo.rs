//! Writes the report of the synthetic test evaluation (three candidates, one failed) to a
//! folder, for looking at it and for `ci/browser_test.sh`:
//!
//! ```text
//! cargo run --release -p harness-report --example demo [OUT_DIR]   # default target/report-test
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/report-test")
        });
    let input = common::synthetic_input(3, 600, 2000);
    match harness_report::write_report(&input, &dir) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
