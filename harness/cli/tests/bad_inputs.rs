//! Every malformed input of `harness/testdata/bad` (a copy of `shared/fixtures/bad`, see its
//! EXPECTED.md) through the binary: exit status 2, a message naming file, line, column and
//! value, and never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bad(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/bad")
        .join(name)
}

fn eval(csv: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["eval", "--data"])
        .arg(csv)
        .args([
            "--label", "label", "--score", "score", "--score", "score_b", "--group", "site",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn rejected(name: &str, needles: &[&str]) {
    let out = eval(&bad(name), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{name}: expected exit 2, stderr: {err}"
    );
    assert!(!err.contains("panicked"), "{name}: panicked: {err}");
    assert!(
        err.contains(name),
        "{name}: message does not name the file: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{name}: message lacks {n:?}: {err}");
    }
}

#[test]
fn label_2_names_line_column_and_value() {
    rejected("label_2.csv", &[":5", "'label'", "'2'"]);
}

#[test]
fn score_nan_names_line_column_and_value() {
    rejected("score_nan.csv", &[":4", "'score'", "'nan'"]);
}

#[test]
fn score_out_of_range_is_not_clipped() {
    rejected(
        "score_out_of_range.csv",
        &[":6", "'score'", "'1.7'", "outside [0, 1]"],
    );
}

#[test]
fn missing_column_is_named() {
    rejected("missing_column.csv", &["'score'"]);
}

#[test]
fn empty_file_says_empty() {
    rejected("empty.csv", &["empty"]);
}

#[test]
fn header_only_says_no_data_rows() {
    rejected("header_only.csv", &["no data rows"]);
}

#[test]
fn single_class_is_accepted_with_nulls_and_reasons() {
    let out = eval(&bad("single_class.csv"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert!(
        err.contains("only one class present: 0 positives, 4 negatives"),
        "{err}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("n/a"), "{table}");
}

#[test]
fn bad_options_are_refused_with_exit_2() {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/metrics/cases/tiny_n12.csv");
    for (opt, val) in [
        ("--threshold", "1.5"),
        ("--target-specificity", "-0.1"),
        ("--bootstrap", "-3"),
        // The same limit as a suite's [metrics] bootstrap (it was 1,000,000 here).
        ("--bootstrap", "100001"),
    ] {
        let out = eval(&csv, &[opt, val]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{opt} {val}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `--json` naming the data file itself (through another spelling of its path) is refused
/// before anything is written: the data is left as it was.
#[test]
fn results_never_overwrite_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/metrics/cases/tiny_n12.csv");
    let csv = tmp.path().join("cases.csv");
    std::fs::copy(&src, &csv).unwrap();
    let before = std::fs::read(&csv).unwrap();
    let same = tmp.path().join(".").join("cases.csv");
    let out = eval(&csv, &["--json", same.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the --data file itself"), "{err}");
    assert_eq!(std::fs::read(&csv).unwrap(), before);
}

#[test]
fn a_missing_file_is_named() {
    let out = eval(Path::new("/nonexistent/cases.csv"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("/nonexistent/cases.csv"), "{err}");
    // The operating system's reason once, not once per link of the error chain.
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

/// `--site` outside a federated round would be ignored: refused instead.
#[test]
fn a_site_name_needs_a_federated_round() {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/metrics/cases/tiny_n12.csv");
    let out = eval(&csv, &["--site", "A"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--aggregates-only"), "{err}");
}

/// A predictions file concatenated twice would count every case twice (and narrow every CI):
/// refused, naming the id and both lines.
#[test]
fn a_file_concatenated_twice_is_refused() {
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/metrics/cases/tiny_n12.csv");
    let text = std::fs::read_to_string(&tiny).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let twice = dir.path().join("twice.csv");
    let body: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&twice, format!("{text}{body}")).unwrap();
    let out = eval(&twice, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let rows = text.lines().count();
    assert!(
        err.contains(&format!(":{}: case id '", rows + 1)) && err.contains("is already on line 2"),
        "{err}"
    );
}

/// Paths that are no bundle, and a registry with no dataset, are said to be so.
#[test]
fn verify_of_no_folder_and_an_empty_registry_say_so() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["verify", "/nonexistent/bundle"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/bundle does not exist"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("datasets.toml");
    std::fs::write(&empty, "").unwrap();
    let out = run(&["datasets", "--registry", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no dataset is registered"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A dataset that is there but cannot be checked (a symbolic link inside its folder) fails
    // the listing, as a mismatched one does; a missing one is listed, not failed.
    let data = dir.path().join("lesions");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("labels.csv"), "case_id,image,label\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", data.join("link.png")).unwrap();
    let entry = |name: &str, path: &str| {
        format!(
            "[datasets.{name}]\ntitle = \"t\"\nformat = \"image-folder\"\npath = \"{path}\"\nlabels = \"labels.csv\"\n\
             id_column = \"case_id\"\nimage_column = \"image\"\nlabel = \"label\"\npositive_class = \"1\"\nlabel_meaning = \"1\"\n\
             sha256 = \"{}\"\nsynthetic = true\nlicence = \"x\"\nprovenance = \"x\"\n",
            "0".repeat(64)
        )
    };
    std::fs::write(&empty, entry("gone", "absent")).unwrap();
    let out = run(&["datasets", "--registry", empty.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&empty, entry("linked", "lesions")).unwrap();
    let out = run(&["datasets", "--registry", empty.to_str().unwrap()]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{listing}");
    assert!(listing.contains("unreadable"), "{listing}");
}
