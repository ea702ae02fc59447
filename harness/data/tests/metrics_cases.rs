//! The metric fixture cases (copied from the shared fixture set) read back
//! with the right row counts and values.

use std::path::PathBuf;

use harness_data::{EvalSpec, EvalTable, read_eval_csv};

fn read(name: &str) -> EvalTable {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/metrics/cases")
        .join(name);
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
    read_eval_csv(&path, &spec).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn tiny_n12_values() {
    let t = read("tiny_n12.csv");
    assert_eq!(t.n_rows(), 12);
    assert!(t.path.ends_with("tiny_n12.csv"));
    let labels: Vec<u8> = t.labels.iter().map(|&b| u8::from(b)).collect();
    assert_eq!(labels, [1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0]);
    assert_eq!(t.labels.iter().filter(|&&b| b).count(), 5);
    assert_eq!(t.score_names, ["score", "score_b"]);
    assert_eq!(
        t.scores[0],
        [
            0.9, 0.55, 0.8, 0.5, 0.7, 0.4, 0.6, 0.35, 0.2, 0.35, 0.1, 0.05
        ]
    );
    assert_eq!(
        t.scores[1],
        [
            0.7, 0.8, 0.6, 0.3, 0.65, 0.5, 0.45, 0.2, 0.25, 0.4, 0.3, 0.1
        ]
    );

    let names: Vec<&str> = t.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["sex", "age_band", "site"]);
    assert_eq!(t.groups[0].levels, ["F", "M"]);
    assert_eq!(t.groups[0].codes, [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1]);
    assert_eq!(t.groups[1].levels, ["18-39", "40-64", "65+"]);
    assert_eq!(t.groups[1].codes, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    assert_eq!(t.groups[2].levels, ["A", "B", "C"]);
    assert_eq!(t.groups[2].codes, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
}

#[test]
fn balanced_n500_shape() {
    let t = read("balanced_n500.csv");
    assert_eq!(t.n_rows(), 500);
    assert_eq!(t.scores.len(), 2);
    assert!(t.scores.iter().all(|s| s.len() == 500));
    assert_eq!(t.labels.iter().filter(|&&b| b).count(), 250);
    assert_eq!(
        (t.labels[0], t.scores[0][0], t.scores[1][0]),
        (false, 0.073197, 0.178765)
    );
    assert_eq!((t.labels[1], t.scores[0][1]), (true, 0.96273));
    assert_eq!(t.groups[0].levels, ["F", "M"]);
    assert_eq!(t.groups[1].levels, ["18-39", "40-64", "65+"]);
    assert_eq!(t.groups[2].levels, ["A", "B", "C"]);
    assert!(t.groups.iter().all(|g| g.codes.len() == 500));
}
