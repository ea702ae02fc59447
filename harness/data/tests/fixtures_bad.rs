//! The project-shared malformed fixtures (copied from the shared fixture set),
//! checked against `harness/testdata/bad/EXPECTED.md`.

use std::path::PathBuf;

use harness_data::{CellLocation, DataError, EvalSpec, EvalTable, read_eval_csv};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/bad")
        .join(name)
}

fn read(name: &str) -> Result<EvalTable, DataError> {
    let scores = vec!["score".to_string(), "score_b".to_string()];
    let groups = vec![
        "sex".to_string(),
        "age_band".to_string(),
        "site".to_string(),
    ];
    let spec = EvalSpec {
        label: "label",
        scores: &scores,
        groups: &groups,
    };
    read_eval_csv(&fixture(name), &spec)
}

fn message(name: &str) -> (DataError, String) {
    let err = read(name).expect_err("fixture must be rejected");
    let msg = err.to_string();
    assert!(msg.contains(name), "message does not name the file: {msg}");
    (err, msg)
}

#[test]
fn label_2_names_line_column_and_value() {
    let (err, msg) = message("label_2.csv");
    assert!(
        matches!(
            err,
            DataError::InvalidLabel {
                location: CellLocation {
                    line: 5,
                    column_number: 2,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("label_2.csv:5:"), "{msg}");
    assert!(msg.contains("column 'label' (column 2)"), "{msg}");
    assert!(msg.contains("'2'"), "{msg}");
    assert!(msg.contains("labels must be 0 or 1"), "{msg}");
    assert!(msg.contains("(case_id 4)"), "{msg}");
}

#[test]
fn score_nan_is_not_finite() {
    let (err, msg) = message("score_nan.csv");
    assert!(
        matches!(
            err,
            DataError::ScoreNotFinite {
                location: CellLocation {
                    line: 4,
                    column_number: 3,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("score_nan.csv:4:"), "{msg}");
    assert!(msg.contains("column 'score' (column 3)"), "{msg}");
    assert!(msg.contains("'nan'"), "{msg}");
    assert!(msg.contains("not a finite number"), "{msg}");
    assert!(msg.contains("(case_id 3)"), "{msg}");
}

#[test]
fn score_out_of_range_is_not_clipped() {
    let (err, msg) = message("score_out_of_range.csv");
    assert!(
        matches!(
            err,
            DataError::ScoreOutOfRange {
                location: CellLocation { line: 6, .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.contains("score_out_of_range.csv:6:"), "{msg}");
    assert!(msg.contains("column 'score' (column 3)"), "{msg}");
    assert!(msg.contains("'1.7'"), "{msg}");
    assert!(msg.contains("outside [0, 1]"), "{msg}");
    assert!(msg.contains("(case_id 5)"), "{msg}");
}

#[test]
fn missing_column_names_it_and_lists_header() {
    let (err, msg) = message("missing_column.csv");
    assert!(
        matches!(&err, DataError::MissingColumn { column, .. } if column == "score"),
        "{err:?}"
    );
    assert!(msg.contains("column 'score' is not in the header"), "{msg}");
    assert!(
        msg.contains("'case_id', 'label', 'score_b', 'sex', 'age_band', 'site'"),
        "{msg}"
    );
    assert!(!msg.contains("did you mean"), "{msg}");
}

#[test]
fn empty_file_says_empty() {
    let (err, msg) = message("empty.csv");
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    assert!(msg.contains("file is empty"), "{msg}");
    assert!(msg.contains("expected a header row"), "{msg}");
}

#[test]
fn header_only_says_no_data_rows() {
    let (err, msg) = message("header_only.csv");
    assert!(
        matches!(err, DataError::NoDataRows { header_line: 1, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("no data rows after the header (line 1)"),
        "{msg}"
    );
}

#[test]
fn single_class_reads_fine() {
    let table = read("single_class.csv").expect("well-formed file");
    assert_eq!(table.n_rows(), 4);
    assert_eq!(table.labels, vec![false; 4]);
    assert_eq!(
        table.scores,
        vec![vec![0.1, 0.2, 0.3, 0.4], vec![0.1, 0.2, 0.3, 0.4]]
    );
    assert_eq!(table.groups[0].levels, vec!["F"]);
    assert_eq!(table.groups[0].codes, vec![0; 4]);
}

#[test]
fn expected_md_lists_every_fixture_tested_here() {
    let expected = std::fs::read_to_string(fixture("EXPECTED.md")).unwrap();
    for name in [
        "label_2.csv",
        "score_nan.csv",
        "score_out_of_range.csv",
        "missing_column.csv",
        "empty.csv",
        "header_only.csv",
        "single_class.csv",
    ] {
        assert!(
            expected.contains(&format!("`{name}`")),
            "{name} not in EXPECTED.md"
        );
    }
}

#[test]
fn unreadable_file_names_path_and_os_error() {
    let err = read("does_not_exist.csv").expect_err("missing file");
    let msg = err.to_string();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    assert!(
        msg.contains("does_not_exist.csv: cannot read file: "),
        "{msg}"
    );
    assert!(msg.contains("os error"), "{msg}");
}

/// A file whose lines end in a lone CR (Excel for Mac's "CSV (Macintosh)") reads as the LF
/// file does, and its errors name the real line (they all said line 1), on the fast path and
/// through the quoted-field reader alike.
#[test]
fn cr_only_line_endings_read_and_count_lines() {
    let dir = tempfile::tempdir().unwrap();
    let spec_scores = vec!["score".to_string()];
    let spec = EvalSpec {
        label: "label",
        scores: &spec_scores,
        groups: &[],
    };
    for quote in ["", "\""] {
        let good = dir.path().join(format!("good{}.csv", quote.len()));
        std::fs::write(
            &good,
            format!("case_id,label,score\r{quote}a{quote},0,0.1\rb,1,0.9\rc,1,0.7\r"),
        )
        .unwrap();
        let t = read_eval_csv(&good, &spec).unwrap();
        assert_eq!(t.labels, vec![false, true, true]);
        let bad = dir.path().join(format!("bad{}.csv", quote.len()));
        std::fs::write(
            &bad,
            format!("case_id,label,score\r{quote}a{quote},0,0.1\rb,1,0.9\rc,1,abc\r"),
        )
        .unwrap();
        let msg = read_eval_csv(&bad, &spec).unwrap_err().to_string();
        assert!(msg.contains(&format!("bad{}.csv:4:", quote.len())), "{msg}");
    }
}
