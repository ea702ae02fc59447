//! Multi-class evaluation (`multiclass.rs`) against the reference values of
//! `shared/fixtures/tasks` (scikit-learn 1.9, R pROC 1.18, numpy and R bootstraps) at the
//! tolerances of `shared/spec/tasks.md`, with the JSON field names that
//! `shared/tools/check_tasks.py` reads; and the validation errors, the absent-class and
//! one-class handling, argmax ties, the paired comparison's sign and seeds.

use harness_metrics::multiclass::{
    MulticlassError, MulticlassInput, MulticlassOptions, MulticlassReport, NO_CASES_REASON,
    evaluate_multiclass,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

const CASE: &str = "multiclass_k4_absent_class_n60";
const DET: f64 = 1e-12;
const BOOT: f64 = 0.01;
const CMP_Z: f64 = 0.3;

/// `shared/fixtures/tasks`, next to the checkout; `None` (and a message) when it is absent.
fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/tasks");
    if dir.join("cases").join(format!("{CASE}.csv")).is_file()
        && dir.join("expected").join(format!("{CASE}.json")).is_file()
    {
        Some(dir)
    } else {
        println!(
            "skipped: multi-class fixtures not found at {}",
            dir.display()
        );
        None
    }
}

/// The fixture's cases: class indices and, per model ("a", "b"), one column per class.
struct Cases {
    classes: Vec<String>,
    labels: Vec<u32>,
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
}

impl Cases {
    fn input(&self) -> MulticlassInput<'_> {
        MulticlassInput {
            classes: &self.classes,
            labels: &self.labels,
            models: vec![
                ("a", self.a.iter().map(Vec::as_slice).collect()),
                ("b", self.b.iter().map(Vec::as_slice).collect()),
            ],
            groupings: Vec::new(),
            cluster: None,
        }
    }
}

fn read_expected(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("expected").join(format!("{CASE}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read_cases(dir: &Path, classes: &[String]) -> Cases {
    let text = std::fs::read_to_string(dir.join("cases").join(format!("{CASE}.csv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name} missing"))
    };
    let label = col("label");
    let a_cols: Vec<usize> = classes.iter().map(|c| col(&format!("a_{c}"))).collect();
    let b_cols: Vec<usize> = classes.iter().map(|c| col(&format!("b_{c}"))).collect();
    let mut cases = Cases {
        classes: classes.to_vec(),
        labels: Vec::new(),
        a: vec![Vec::new(); classes.len()],
        b: vec![Vec::new(); classes.len()],
    };
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let y = classes
            .iter()
            .position(|c| c == f[label])
            .unwrap_or_else(|| panic!("label {} names no class", f[label]));
        cases.labels.push(y as u32);
        for (k, (&ca, &cb)) in a_cols.iter().zip(&b_cols).enumerate() {
            cases.a[k].push(f[ca].parse().unwrap());
            cases.b[k].push(f[cb].parse().unwrap());
        }
    }
    cases
}

/// The fixture, its reference values, and the report as JSON (B = 2000, seed 1, as
/// check_tasks.py runs it).
fn fixture_report() -> Option<(Cases, Value, MulticlassReport, Value)> {
    let dir = fixtures()?;
    let exp = read_expected(&dir);
    let classes: Vec<String> = exp["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let cases = read_cases(&dir, &classes);
    let opts = MulticlassOptions {
        bootstrap: 2000,
        seed: 1,
    };
    let report = evaluate_multiclass(&cases.input(), &opts).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    Some((cases, exp, report, json))
}

/// Compares a harness value with a reference: numbers within `tol`, nulls both null, arrays
/// elementwise; collects failures in `bad`.
fn cmp(bad: &mut Vec<String>, name: &str, got: &Value, want: &Value, tol: f64) {
    let ok = match (got, want) {
        (Value::Null, Value::Null) => true,
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                false
            } else {
                for (i, (g, w)) in g.iter().zip(w).enumerate() {
                    cmp(bad, &format!("{name}[{i}]"), g, w, tol);
                }
                true
            }
        }
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            g.is_finite() && (g - w).abs() <= tol
        }
        (g, w) => g == w,
    };
    if !ok {
        bad.push(format!("{name}: got {got} want {want} (tol {tol})"));
    }
}

/// A Monte-Carlo CI: each end within `tol` of the same end of at least one reference.
fn mc(bad: &mut Vec<String>, name: &str, got: &Value, refs: &[[f64; 2]], tol: f64) {
    let Some(g) = got
        .as_array()
        .filter(|g| g.len() == 2 && g.iter().all(Value::is_f64))
    else {
        bad.push(format!("{name}: got {got}, want [lo, hi]"));
        return;
    };
    for i in 0..2 {
        let v = g[i].as_f64().unwrap();
        let d = refs
            .iter()
            .map(|r| (v - r[i]).abs())
            .fold(f64::INFINITY, f64::min);
        if d > tol {
            bad.push(format!("{name}[{i}]: got {v} want {refs:?} (tol {tol})"));
        }
    }
}

fn pair(v: &Value) -> [f64; 2] {
    [v[0].as_f64().unwrap(), v[1].as_f64().unwrap()]
}

/// Every deterministic field against the reference at 1e-12 (confusion counts, bins' `n` and
/// the integer counts exactly), under the names check_tasks.py reads.
#[test]
fn deterministic_fields_match_the_reference() {
    let Some((_, exp, _, got)) = fixture_report() else {
        return;
    };
    let mut bad = Vec::new();
    cmp(&mut bad, "task", &got["task"], &exp["task"], 0.0);
    cmp(&mut bad, "n", &got["n"], &exp["n"], 0.0);
    cmp(&mut bad, "classes", &got["classes"], &exp["classes"], 0.0);
    cmp(
        &mut bad,
        "class_counts",
        &got["class_counts"],
        &exp["class_counts"],
        0.0,
    );
    let classes: Vec<&str> = exp["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for m in ["a", "b"] {
        let (e, g) = (&exp["models"][m], &got["models"][m]);
        assert!(g.is_object(), "models.{m} missing");
        for &c in &classes {
            let (eo, go) = (&e["ovr"][c], &g["ovr"][c]);
            let name = format!("models.{m}.ovr.{c}");
            if eo["auroc"].is_null() {
                for f in ["auroc", "auroc_ci95_delong", "auroc_var_delong"] {
                    assert!(go[f].is_null(), "{name}.{f} must be null, got {}", go[f]);
                }
                let reason = go["auroc_reason"].as_str().unwrap_or_default();
                assert_eq!(reason, NO_CASES_REASON, "{name}.auroc_reason");
            } else {
                for f in ["auroc", "auroc_ci95_delong", "auroc_var_delong"] {
                    cmp(&mut bad, &format!("{name}.{f}"), &go[f], &eo[f], DET);
                }
                assert!(go.get("auroc_reason").is_none(), "{name}: reason not null");
            }
            cmp(
                &mut bad,
                &format!("{name}.n_pos"),
                &go["n_pos"],
                &eo["n_pos"],
                0.0,
            );
        }
        for f in [
            "auroc_macro",
            "auroc_weighted",
            "accuracy",
            "balanced_accuracy",
            "brier",
            "log_loss",
            "top_label_ece_10",
            "top_label_ece_15",
            "classwise_ece_10",
            "classwise_ece_15",
        ] {
            cmp(&mut bad, &format!("models.{m}.{f}"), &g[f], &e[f], DET);
        }
        let name = format!("models.{m}.auroc_hand_till");
        cmp(
            &mut bad,
            &name,
            &g["auroc_hand_till"],
            &e["hand_till_M"],
            DET,
        );
        // = sklearn ovo-macro and pROC multiclass.roc, which the reference also records.
        cmp(
            &mut bad,
            &name,
            &g["auroc_hand_till"],
            &e["sklearn_ovo_macro"]["value"],
            DET,
        );
        cmp(
            &mut bad,
            &format!("models.{m}.hand_till_classes_used"),
            &g["hand_till_classes_used"],
            &e["hand_till_levels_used"],
            0.0,
        );
        for f in [
            "n_classes_excluded",
            "hand_till_n_pairs",
            "n_argmax_ties",
            "log_loss_n_clipped",
        ] {
            cmp(&mut bad, &format!("models.{m}.{f}"), &g[f], &e[f], 0.0);
        }
        cmp(
            &mut bad,
            &format!("models.{m}.confusion_matrix.classes"),
            &g["confusion_matrix"]["classes"],
            &e["confusion_matrix"]["rows_true_cols_pred"],
            0.0,
        );
        cmp(
            &mut bad,
            &format!("models.{m}.confusion_matrix.counts"),
            &g["confusion_matrix"]["counts"],
            &e["confusion_matrix"]["counts"],
            0.0,
        );
        for &c in &classes {
            for f in [
                "sensitivity_at_argmax",
                "specificity_at_argmax",
                "classwise_ece_10_per_class",
                "classwise_ece_15_per_class",
            ] {
                cmp(
                    &mut bad,
                    &format!("models.{m}.{f}.{c}"),
                    &g[f][c],
                    &e[f][c],
                    DET,
                );
            }
        }
        for bins in ["top_label_ece_10_bins", "top_label_ece_15_bins"] {
            let (eb, gb) = (e[bins].as_array().unwrap(), g[bins].as_array().unwrap());
            assert_eq!(gb.len(), eb.len(), "models.{m}.{bins}");
            for (i, (x, y)) in gb.iter().zip(eb).enumerate() {
                for f in ["bin", "lo", "hi", "n", "mean_label", "mean_score"] {
                    let tol = if f == "bin" || f == "n" { 0.0 } else { DET };
                    cmp(
                        &mut bad,
                        &format!("models.{m}.{bins}[{i}].{f}"),
                        &x[f],
                        &y[f],
                        tol,
                    );
                }
            }
        }
    }
    let comp = &got["comparisons_macro"][0];
    cmp(
        &mut bad,
        "comparisons_macro.a",
        &comp["a"],
        &"a".into(),
        0.0,
    );
    cmp(
        &mut bad,
        "comparisons_macro.b",
        &comp["b"],
        &"b".into(),
        0.0,
    );
    cmp(
        &mut bad,
        "macro_a",
        &comp["macro_a"],
        &exp["models"]["a"]["auroc_macro"],
        DET,
    );
    cmp(
        &mut bad,
        "macro_b",
        &comp["macro_b"],
        &exp["models"]["b"]["auroc_macro"],
        DET,
    );
    cmp(
        &mut bad,
        "diff",
        &comp["diff"],
        &exp["paired_macro_diff"],
        DET,
    );
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The class-stratified macro bootstrap and the paired comparison: CIs within 0.01 of the R or
/// numpy reference, z within 0.3, z = diff/sd_boot and p = 2Φ(−|z|) exactly, n and seed.
#[test]
fn bootstrap_matches_the_references_within_monte_carlo_error() {
    let Some((_, exp, _, got)) = fixture_report() else {
        return;
    };
    let refs = [&exp["bootstrap_R"], &exp["bootstrap_numpy"]];
    let mut bad = Vec::new();
    for m in ["a", "b"] {
        let bo = &got["models"][m]["auroc_macro_bootstrap"];
        let key = format!("macro_{m}_ci95");
        let want: Vec<[f64; 2]> = refs.iter().map(|r| pair(&r[&key])).collect();
        mc(
            &mut bad,
            &format!("models.{m}.auroc_macro_bootstrap.ci95"),
            &bo["ci95"],
            &want,
            BOOT,
        );
        assert_eq!(bo["n"], 2000);
        assert_eq!(bo["seed"], 1);
        let (med, ci) = (bo["median"].as_f64().unwrap(), pair(&bo["ci95"]));
        assert!(ci[0] <= med && med <= ci[1], "median {med} outside {ci:?}");
        println!(
            "model {m}: macro CI {ci:?} (R {:?}, numpy {:?})",
            want[0], want[1]
        );
    }
    let c = &got["comparisons_macro"][0];
    let want: Vec<[f64; 2]> = refs.iter().map(|r| pair(&r["diff_ci95"])).collect();
    mc(
        &mut bad,
        "comparisons_macro.ci95_diff",
        &c["ci95_diff"],
        &want,
        BOOT,
    );
    let (z, p, d, sd) = (
        c["z"].as_f64().unwrap(),
        c["p"].as_f64().unwrap(),
        c["diff"].as_f64().unwrap(),
        c["sd_boot"].as_f64().unwrap(),
    );
    let zs: Vec<f64> = refs.iter().map(|r| r["z"].as_f64().unwrap()).collect();
    assert!(
        zs.iter().any(|w| (z - w).abs() <= CMP_Z),
        "z {z} vs references {zs:?}"
    );
    assert!(sd > 0.0);
    assert!(
        (z - d / sd).abs() <= 1e-12 * z.abs(),
        "z {z} != diff/sd {}",
        d / sd
    );
    let p_want = libm::erfc(z.abs() / std::f64::consts::SQRT_2);
    assert!((p - p_want).abs() <= 1e-9 * p_want, "p {p} vs {p_want}");
    assert_eq!(c["n"], 2000);
    assert_eq!(c["seed"], 1);
    println!(
        "paired: diff {d}, ci {:?}, sd {sd}, z {z}, p {p} (references z {zs:?})",
        pair(&c["ci95_diff"])
    );
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Class d has no cases: null one-vs-rest AUROC with the reason, excluded and counted in the
/// macro/weighted means, dropped from Hand–Till and balanced accuracy, but its probabilities
/// still count in the classwise ECE and its specificity is defined; a warning says so.
#[test]
fn absent_class_is_excluded_and_counted() {
    let Some((_, _, report, _)) = fixture_report() else {
        return;
    };
    assert_eq!(report.class_counts["d"], 0);
    for (name, m) in &report.models {
        let d = &m.ovr["d"];
        assert_eq!(d.n_pos, 0);
        assert_eq!(d.discrimination.auroc, None);
        assert_eq!(
            d.discrimination.auroc_reason.as_deref(),
            Some(NO_CASES_REASON)
        );
        assert_eq!(d.discrimination.auroc_ci95_delong, None);
        assert_eq!(d.discrimination.auroc_var_delong, None);
        assert!(d.discrimination.auroc_ci95_delong_reason.is_some());
        assert_eq!(m.n_classes_excluded, 1, "{name}");
        assert_eq!(m.classes_excluded, ["d"]);
        assert_eq!(m.hand_till_n_pairs, 3);
        let defined: Vec<f64> = ["a", "b", "c"]
            .iter()
            .map(|c| m.ovr[*c].discrimination.auroc.unwrap())
            .collect();
        let mean = defined.iter().sum::<f64>() / 3.0;
        assert!((m.auroc_macro.unwrap() - mean).abs() < 1e-15);
        assert_eq!(m.sensitivity_at_argmax["d"], None);
        assert_eq!(m.sensitivity_at_argmax_reason["d"], NO_CASES_REASON);
        assert!(m.specificity_at_argmax["d"].is_some());
        assert!(m.classwise_ece_10_per_class["d"] > 0.0);
        assert_eq!(m.confusion_matrix.counts[3], [0, 0, 0, 0]);
    }
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("class 'd'") && w.contains(NO_CASES_REASON)),
        "{:?}",
        report.warnings
    );
}

fn classes(k: usize) -> Vec<String> {
    (0..k).map(|c| format!("c{c}")).collect()
}

/// Runs one model given as rows.
fn run_rows(
    classes: &[String],
    labels: &[u32],
    rows: &[Vec<f64>],
    opts: &MulticlassOptions,
) -> Result<MulticlassReport, MulticlassError> {
    let columns: Vec<Vec<f64>> = (0..classes.len())
        .map(|k| rows.iter().map(|r| r[k]).collect())
        .collect();
    evaluate_multiclass(
        &MulticlassInput {
            classes,
            labels,
            models: vec![("m", columns.iter().map(Vec::as_slice).collect())],
            groupings: Vec::new(),
            cluster: None,
        },
        opts,
    )
}

/// A report reads back from the JSON it is written as (what `compare` and `leaderboard` read
/// from a bundle's metrics.json), whether or not a class's argmax figures are null.
#[test]
fn a_report_reads_back_from_its_json() {
    let cls = classes(3);
    let rows = vec![
        vec![0.7, 0.2, 0.1],
        vec![0.2, 0.6, 0.2],
        vec![0.1, 0.2, 0.7],
        vec![0.5, 0.3, 0.2],
    ];
    for labels in [[0u32, 1, 2, 0], [0, 0, 1, 1]] {
        let r = run_rows(&cls, &labels, &rows, &MulticlassOptions::default()).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        let back: MulticlassReport =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("labels {labels:?}: {e}"));
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
}

/// A row summing to 1 + 1e-5 and a probability of 1.2 are refused with the model, the 0-based
/// case and the values; a row within 1e-6 of 1 is accepted as is.
#[test]
fn invalid_rows_are_refused_not_renormalised() {
    let cls = classes(3);
    let labels = [0u32, 1, 2, 0];
    let good = vec![
        vec![0.7, 0.2, 0.1],
        vec![0.2, 0.5, 0.3],
        vec![0.1, 0.1, 0.8],
        vec![0.5, 0.25, 0.25],
    ];
    let opts = MulticlassOptions::default();
    assert!(run_rows(&cls, &labels, &good, &opts).is_ok());

    let mut off = good.clone();
    off[2] = vec![0.1, 0.1, 0.80001];
    let e = run_rows(&cls, &labels, &off, &opts).unwrap_err();
    assert!(
        matches!(&e, MulticlassError::RowSum { model, case: 2, row, .. } if model == "m" && row == &off[2]),
        "{e:?}"
    );
    let msg = e.to_string();
    for part in ["model 'm'", "case 2", "0.80001", "never renormalised"] {
        assert!(msg.contains(part), "{msg}");
    }

    let mut high = good.clone();
    high[1] = vec![1.2, -0.1, -0.1];
    let e = run_rows(&cls, &labels, &high, &opts).unwrap_err();
    assert_eq!(
        e,
        MulticlassError::Probability {
            model: "m".into(),
            case: 1,
            class: "c0".into(),
            value: 1.2
        }
    );
    assert_eq!(
        e.to_string(),
        "model 'm', case 1 (0-based): probability of class 'c0' is 1.2, not in [0, 1]"
    );

    let mut nan = good.clone();
    nan[3] = vec![f64::NAN, 0.5, 0.5];
    let e = run_rows(&cls, &labels, &nan, &opts).unwrap_err();
    assert!(
        matches!(e, MulticlassError::Probability { case: 3, .. }),
        "{e:?}"
    );

    // Within tolerance: accepted, and used as given (the Brier sum sees the 5e-7 excess).
    let mut near = good.clone();
    near[0] = vec![0.7, 0.2, 0.1000005];
    let r = run_rows(&cls, &labels, &near, &opts).unwrap();
    let r0 = run_rows(&cls, &labels, &good, &opts).unwrap();
    assert!(r.models["m"].brier > r0.models["m"].brier);
}

/// Structural errors: too few classes, a label naming no class, short columns, a missing
/// column, duplicate names, no cases, too many replicates.
#[test]
fn inconsistent_input_is_an_error() {
    let opts = MulticlassOptions::default();
    let rows = vec![vec![0.5, 0.5], vec![0.5, 0.5]];
    let e = run_rows(&classes(2), &[0, 1], &rows, &opts).unwrap_err();
    assert_eq!(e, MulticlassError::TooFewClasses { classes: 2 });
    assert!(e.to_string().contains("at least 3 classes"), "{e}");

    let cls = classes(3);
    let rows = vec![vec![0.6, 0.2, 0.2]; 3];
    let e = run_rows(&cls, &[0, 3, 1], &rows, &opts).unwrap_err();
    assert_eq!(
        e,
        MulticlassError::Label {
            case: 1,
            label: 3,
            classes: 3
        }
    );
    assert!(e.to_string().contains("case 1 (0-based) has class index 3"));

    let (c0, c1, short) = ([0.6, 0.2, 0.2], [0.2, 0.6, 0.2], [0.2, 0.2]);
    let run =
        |models: Vec<(&'static str, Vec<&[f64]>)>, classes: &[String], o: &MulticlassOptions| {
            evaluate_multiclass(
                &MulticlassInput {
                    classes,
                    labels: &[0, 1, 2],
                    models,
                    groupings: Vec::new(),
                    cluster: None,
                },
                o,
            )
        };
    let e = run(vec![("m", vec![&c0[..], &c1[..], &short[..]])], &cls, &opts).unwrap_err();
    assert!(
        e.to_string()
            .contains("model 'm': the probability column of class 'c2' has 2 values for 3 labels"),
        "{e}"
    );
    let e = run(vec![("m", vec![&c0[..], &c1[..]])], &cls, &opts).unwrap_err();
    assert!(matches!(
        e,
        MulticlassError::ColumnCount {
            columns: 2,
            classes: 3,
            ..
        }
    ));
    let dup = vec!["x".to_string(), "y".to_string(), "x".to_string()];
    let e = run(vec![("m", vec![&c0[..], &c1[..], &c1[..]])], &dup, &opts).unwrap_err();
    assert_eq!(e, MulticlassError::DuplicateClass { class: "x".into() });
    let c2 = [0.2, 0.2, 0.6];
    let cols = vec![&c0[..], &c1[..], &c2[..]];
    let e = run(vec![("m", cols.clone()), ("m", cols.clone())], &cls, &opts).unwrap_err();
    assert_eq!(e, MulticlassError::DuplicateModel { model: "m".into() });
    let too_many = MulticlassOptions {
        bootstrap: harness_metrics::bootstrap::MAX_REPLICATES + 1,
        seed: 1,
    };
    let e = run(
        vec![("m", vec![&c0[..], &c1[..], &[0.2, 0.2, 0.6][..]])],
        &cls,
        &too_many,
    )
    .unwrap_err();
    assert!(
        matches!(e, MulticlassError::TooManyReplicates { .. }),
        "{e}"
    );
    let e = run_rows(&cls, &[], &[], &opts).unwrap_err();
    assert_eq!(e, MulticlassError::NoCases);
}

/// Argmax ties go to the first class in order and are counted; a hand-checked tiny case for
/// the confusion matrix, sensitivities, specificities and balanced accuracy.
#[test]
fn argmax_ties_take_the_first_class_and_are_counted() {
    let cls = classes(3);
    let labels = [0u32, 1, 1, 2, 2];
    let rows = vec![
        vec![0.4, 0.4, 0.2], // tie 0/1 -> 0 (correct)
        vec![0.4, 0.4, 0.2], // tie 0/1 -> 0 (wrong)
        vec![0.1, 0.3, 0.6], // -> 2 (wrong)
        vec![0.2, 0.4, 0.4], // tie 1/2 -> 1 (wrong)
        vec![0.0, 0.0, 1.0], // -> 2 (correct)
    ];
    let r = run_rows(&cls, &labels, &rows, &MulticlassOptions::default()).unwrap();
    let m = &r.models["m"];
    assert_eq!(m.n_argmax_ties, 3);
    assert_eq!(
        m.confusion_matrix.counts,
        vec![vec![1, 0, 0], vec![1, 0, 1], vec![0, 1, 1]]
    );
    assert_eq!(m.accuracy, 2.0 / 5.0);
    assert_eq!(m.sensitivity_at_argmax["c0"], Some(1.0));
    assert_eq!(m.sensitivity_at_argmax["c1"], Some(0.0));
    assert_eq!(m.sensitivity_at_argmax["c2"], Some(0.5));
    // c0: 4 negatives, 1 of them predicted c0.
    assert_eq!(m.specificity_at_argmax["c0"], Some(0.75));
    assert_eq!(m.balanced_accuracy, 0.5);
    // True-class probabilities 0.4, 0.4, 0.3, 0.4, 1.0: the 1.0 is clipped.
    assert_eq!(m.log_loss_n_clipped, 1);
    let want = -(3.0 * 0.4f64.ln() + 0.3f64.ln() + (1.0 - f64::EPSILON).ln()) / 5.0;
    assert!((m.log_loss - want).abs() < 1e-15);
    // Top-label confidences 0.4, 0.4, 0.6, 0.4, 1.0.
    assert_eq!(m.top_label_ece_10_bins[4].n, 3);
    assert_eq!(m.top_label_ece_10_bins[9].n, 1);
    assert!(r.warnings.iter().any(|w| w.contains("3 case(s)")));
}

/// Hand & Till against a direct O(N²) double loop, with ties inside and across classes.
#[test]
fn hand_till_matches_the_pairwise_definition() {
    let cls = classes(4);
    let labels: Vec<u32> = (0..40u32).map(|i| (i * 7 + i / 3) % 4).collect();
    let rows: Vec<Vec<f64>> = (0..40u32)
        .map(|i| {
            let raw = [
                ((i * 13) % 5) as f64 + 1.0,
                ((i * 7) % 3) as f64 + 1.0,
                ((i * 11) % 4) as f64 + 1.0,
                (labels[i as usize] + 1) as f64,
            ];
            let s: f64 = raw.iter().sum();
            raw.iter().map(|v| v / s).collect()
        })
        .collect();
    let r = run_rows(&cls, &labels, &rows, &MulticlassOptions::default()).unwrap();
    let a = |i: usize, j: usize| {
        let (mut num, mut den) = (0.0, 0.0);
        for (x, &yx) in rows.iter().zip(&labels) {
            for (y, &yy) in rows.iter().zip(&labels) {
                if yx as usize == i && yy as usize == j {
                    den += 1.0;
                    num += if x[i] > y[i] {
                        1.0
                    } else if x[i] == y[i] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        num / den
    };
    let mut sum = 0.0;
    for i in 0..4 {
        for j in i + 1..4 {
            sum += (a(i, j) + a(j, i)) / 2.0;
        }
    }
    let m = &r.models["m"];
    assert_eq!(m.hand_till_n_pairs, 6);
    assert!((m.auroc_hand_till.unwrap() - sum / 6.0).abs() < 1e-14);
}

/// Every case of one class: every one-vs-rest AUROC, both means and Hand–Till are null with a
/// reason, the bootstrap is null with a reason, and nothing is NaN.
#[test]
fn one_class_gives_nulls_with_reasons_never_nan() {
    let cls = classes(3);
    let labels = [1u32; 4];
    let rows = vec![vec![0.2, 0.7, 0.1]; 4];
    let opts = MulticlassOptions {
        bootstrap: 50,
        seed: 3,
    };
    let r = run_rows(&cls, &labels, &rows, &opts).unwrap();
    let m = &r.models["m"];
    for (c, o) in &m.ovr {
        assert_eq!(o.discrimination.auroc, None, "{c}");
        assert!(o.discrimination.auroc_reason.is_some(), "{c}");
    }
    assert!(
        m.ovr["c1"]
            .discrimination
            .auroc_reason
            .as_ref()
            .unwrap()
            .contains("all 4 cases")
    );
    assert_eq!(m.n_classes_excluded, 3);
    assert_eq!((m.auroc_macro, m.auroc_weighted), (None, None));
    assert!(m.auroc_macro_reason.is_some() && m.auroc_weighted_reason.is_some());
    assert_eq!(m.auroc_hand_till, None);
    assert!(m.auroc_hand_till_reason.is_some());
    assert!(matches!(m.auroc_macro_bootstrap, Some(None)));
    assert!(m.auroc_macro_bootstrap_reason.is_some());
    assert_eq!(m.specificity_at_argmax["c1"], None);
    assert!(m.specificity_at_argmax_reason.contains_key("c1"));
    assert_eq!(m.accuracy, 1.0);
    let text = serde_json::to_string(&r).unwrap();
    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    // serde_json writes a NaN f64 as null: check the numbers themselves.
    let finite = [
        m.brier,
        m.log_loss,
        m.balanced_accuracy,
        m.top_label_ece_10,
        m.top_label_ece_15,
        m.classwise_ece_10,
        m.classwise_ece_15,
    ];
    assert!(finite.iter().all(|v| v.is_finite()), "{finite:?}");
}

/// The paired comparison is antisymmetric on swapped models, a model against itself gives
/// diff 0, z 0, p 1; and the same seed reproduces the bootstrap bit for bit.
#[test]
fn paired_comparison_sign_self_and_seed() {
    let Some((cases, _, report, _)) = fixture_report() else {
        return;
    };
    let input = cases.input();
    let opts = MulticlassOptions {
        bootstrap: 300,
        seed: 7,
    };
    let ab = evaluate_multiclass(&input, &opts).unwrap();
    let again = evaluate_multiclass(&input, &opts).unwrap();
    assert_eq!(
        serde_json::to_string(&ab).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    let swapped = MulticlassInput {
        classes: input.classes,
        labels: input.labels,
        models: vec![input.models[1].clone(), input.models[0].clone()],
        groupings: Vec::new(),
        cluster: None,
    };
    let ba = evaluate_multiclass(&swapped, &opts).unwrap();
    let (x, y) = (&ab.comparisons_macro[0], &ba.comparisons_macro[0]);
    assert_eq!((y.a.as_str(), y.b.as_str()), ("b", "a"));
    assert_eq!(x.diff.unwrap(), -y.diff.unwrap());
    assert_eq!(x.z.unwrap(), -y.z.unwrap());
    assert_eq!(x.p, y.p);
    let (cx, cy) = (x.ci95_diff.unwrap(), y.ci95_diff.unwrap());
    assert!((cx[0] + cy[1]).abs() < 1e-15 && (cx[1] + cy[0]).abs() < 1e-15);
    // Replicates of each model do not depend on which other models are evaluated.
    assert_eq!(
        serde_json::to_value(&ab.models["a"].auroc_macro_bootstrap).unwrap(),
        serde_json::to_value(&ba.models["a"].auroc_macro_bootstrap).unwrap()
    );
    // Another seed gives another (close) interval.
    let b2000 = report.models["a"]
        .auroc_macro_bootstrap
        .clone()
        .unwrap()
        .unwrap();
    let b300 = ab.models["a"]
        .auroc_macro_bootstrap
        .clone()
        .unwrap()
        .unwrap();
    assert_ne!(b2000.ci95, b300.ci95);
    assert!((b2000.ci95[0] - b300.ci95[0]).abs() < 0.05);

    let same = MulticlassInput {
        classes: input.classes,
        labels: input.labels,
        models: vec![input.models[0].clone(), ("a2", input.models[0].1.clone())],
        groupings: Vec::new(),
        cluster: None,
    };
    let s = evaluate_multiclass(&same, &opts).unwrap();
    let c = &s.comparisons_macro[0];
    assert_eq!(
        (c.diff, c.sd_boot, c.z, c.p),
        (Some(0.0), Some(0.0), Some(0.0), Some(1.0))
    );
    assert_eq!(c.ci95_diff, Some([0.0, 0.0]));

    // No bootstrap: the comparison keeps the point difference and says why the rest is null.
    let none = evaluate_multiclass(&input, &MulticlassOptions::default()).unwrap();
    let c = &none.comparisons_macro[0];
    assert!(c.diff.is_some() && c.z.is_none() && c.reason.is_some());
    assert!(none.models["a"].auroc_macro_bootstrap.is_none());
}
