//! The CI gate through the binary (issue 6): `--fail-under` / `--fail-over` on `harness eval`
//! and `harness run` exit 1 naming each failed criterion, exit 0 when every criterion is met,
//! and exit 2 on a criterion that cannot be parsed or that the evaluation cannot give. A failed gate keeps the evidence: the
//! bundle is complete and verifies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// AUROC 3/4 exactly (one of four positive–negative pairs is misordered); Brier 0.158125.
fn cases(dir: &Path) -> String {
    let path = dir.join("cases.csv");
    std::fs::write(&path, "label,score\n0,0.1\n0,0.4\n1,0.35\n1,0.8\n").unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn eval_gate_fails_names_the_criterion_and_passes_when_met() {
    let dir = tempfile::tempdir().unwrap();
    let data = cases(dir.path());
    let base = [
        "eval", "--data", &data, "--label", "label", "--score", "score",
    ];

    let miss = harness(
        &[
            &base[..],
            &["--fail-under", "auroc=0.8", "--fail-over", "brier=0.5"],
        ]
        .concat(),
    );
    assert_eq!(miss.status.code(), Some(1), "{}", text(&miss.stderr));
    let err = text(&miss.stderr);
    assert!(
        err.contains("FAIL") && err.contains("auroc = 0.7500 is below 0.8"),
        "{err}"
    );
    assert!(
        err.contains("pass") && err.contains("brier = 0.1581 is at most 0.5"),
        "{err}"
    );

    let over = harness(&[&base[..], &["--fail-over", "brier=0.1"]].concat());
    assert_eq!(over.status.code(), Some(1), "{}", text(&over.stderr));
    assert!(
        text(&over.stderr).contains("brier = 0.1581"),
        "{}",
        text(&over.stderr)
    );

    let met = harness(
        &[
            &base[..],
            &["--fail-under", "auroc=0.75", "--fail-over", "brier=0.2"],
        ]
        .concat(),
    );
    assert_eq!(met.status.code(), Some(0), "{}", text(&met.stderr));

    let bad = harness(&[&base[..], &["--fail-under", "auroc"]].concat());
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    let unknown = harness(&[&base[..], &["--fail-under", "accuracy=0.9"]].concat());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown.stderr).contains("unknown metric 'accuracy'"),
        "{}",
        text(&unknown.stderr)
    );
    // A criterion this evaluation cannot give is a mistake in the command (exit 2), not a
    // failed gate (exit 1), whatever the data: a typo must not read as a model that failed.
    for (flag, criterion, needle) in [
        (
            "--fail-over",
            "equalized_odds_difference.sex=0.1",
            "'sex' is not a grouping column",
        ),
        (
            "--fail-under",
            "sens_at_spec_0.80=0.5",
            "0.80 is not among the target",
        ),
        (
            "--fail-under",
            "sens_at_spec_ci_lower_0.90=0.5",
            "sensitivity bootstrap",
        ),
        (
            "--fail-under",
            "auroc_ci_lower_clustered=0.5",
            "patient (cluster) column",
        ),
    ] {
        let out = harness(&[&base[..], &[flag, criterion]].concat());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{criterion}: {err}");
        assert!(err.contains(needle), "{criterion}: {err}");
    }
    let given = harness(
        &[
            &base[..],
            &[
                "--target-specificity",
                "0.8",
                "--fail-under",
                "sens_at_spec_0.80=0",
            ],
        ]
        .concat(),
    );
    assert_eq!(given.status.code(), Some(0), "{}", text(&given.stderr));
}

#[test]
fn run_gate_fails_per_candidate_and_keeps_a_verifiable_bundle() {
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("gated");
    let suite = root().join("harness/cli/tests/e2e/e2e.toml");
    let registry = root().join("datasets.toml");
    let run = harness(&[
        "run",
        suite.to_str().unwrap(),
        "--registry",
        registry.to_str().unwrap(),
        "--no-perf",
        "--out",
        bundle.to_str().unwrap(),
        // vendor-a has AUROC 0.90, vendor-b 0.86 and vendor-c 0.82 on the shipped set.
        "--fail-under",
        "auroc=0.88",
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let err = text(&run.stderr);
    for vendor in ["vendor-b", "vendor-c"] {
        assert!(
            err.lines()
                .any(|l| l.contains("FAIL") && l.contains(vendor) && l.contains("auroc")),
            "{vendor}: {err}"
        );
    }
    assert!(
        err.lines()
            .any(|l| l.contains("pass") && l.contains("vendor-a") && l.contains("auroc")),
        "{err}"
    );

    let verify = harness(&[
        "verify",
        bundle.to_str().unwrap(),
        "--project-root",
        root().to_str().unwrap(),
    ]);
    assert!(
        verify.status.success(),
        "a failed gate must keep the evidence: {}",
        text(&verify.stderr)
    );
    assert!(bundle.join("report.html").is_file() && bundle.join("summary.md").is_file());
    // `verify` looks for the data where `run` did: $HARNESS_DATA_ROOT too, not only
    // --data-root (an empty root holds no dataset, so the cases are not checked there).
    let cases_check = |data_root: Option<&Path>| -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
        cmd.args([
            "verify",
            bundle.to_str().unwrap(),
            "--json",
            "--project-root",
        ])
        .arg(root());
        match data_root {
            Some(d) => cmd.env("HARNESS_DATA_ROOT", d),
            None => cmd.env_remove("HARNESS_DATA_ROOT"),
        };
        let out = cmd.output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["item"] == "cases vs dataset");
        found.map(|f| f["status"].to_string()).unwrap_or_default()
    };
    assert_eq!(cases_check(None), "\"ok\"");
    // A reader that stops early (`harness verify DIR | head -1`) is not a crash: the
    // verification's own exit status stands (it was 101, a panic, on the closed pipe).
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["verify", bundle.to_str().unwrap(), "--project-root"])
        .arg(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let closed = child.wait_with_output().unwrap();
    assert_eq!(closed.status.code(), Some(0), "{}", text(&closed.stderr));
    // Output that cannot be written (a full disk behind `>`) is not a success: exit 2, said.
    let full = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["verify", bundle.to_str().unwrap(), "--json"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(full.status.code(), Some(2), "{}", text(&full.stderr));
    assert!(
        text(&full.stderr).contains("writing to standard output failed"),
        "{}",
        text(&full.stderr)
    );
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(cases_check(Some(empty.path())), "\"not checked\"");
}
