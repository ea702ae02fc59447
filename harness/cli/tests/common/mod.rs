//! Helpers shared by the binary's integration tests (each test file includes this module and
//! uses what it needs).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root (the folder of `datasets.toml`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The `harness` binary under test.
pub fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

/// `harness verify DIR --project-root ROOT`.
pub fn verify(dir: &Path) -> Output {
    harness()
        .arg("verify")
        .arg(dir)
        .arg("--project-root")
        .arg(root())
        .output()
        .unwrap()
}

/// AUROC as the Mann–Whitney count over every (positive, negative) pair, ties counting ½: the
/// O(m·n) definition the fast statistics are checked against; `None` without both classes.
pub fn mann_whitney(labels: &[bool], scores: &[f64]) -> Option<f64> {
    let (mut pairs, mut wins) = (0.0, 0.0);
    for (i, &yi) in labels.iter().enumerate() {
        for (j, &yj) in labels.iter().enumerate() {
            if yi && !yj {
                pairs += 1.0;
                wins += match scores[i].total_cmp(&scores[j]) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
            }
        }
    }
    (pairs > 0.0).then(|| wins / pairs)
}
