//! `harness eval` against the reference values of R pROC, rms, scikit-learn, fairlearn and netcal
//! (`harness/testdata/metrics`, a copy of `shared/fixtures/metrics`), field by field at the
//! tolerances of `shared/spec/metrics.md`. Runs the binary as a user would.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

fn run_eval(csv: &Path, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let status = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["eval", "--data"])
        .arg(csv)
        .args(["--label", "label", "--score", "score", "--score", "score_b"])
        .args(["--group", "sex", "--group", "age_band", "--group", "site"])
        .args(extra)
        .arg("--json")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "harness eval failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

/// Collects mismatches instead of stopping at the first, so one run shows them all.
struct Checker {
    case: String,
    bad: Vec<String>,
}

impl Checker {
    fn num(&mut self, what: &str, got: &Value, want: &Value, tol: f64) {
        let ok = match (got, want) {
            (Value::Null, Value::Null) => true,
            (Value::Number(g), Value::Number(w)) => {
                (g.as_f64().unwrap() - w.as_f64().unwrap()).abs() <= tol
            }
            (Value::Array(g), Value::Array(w)) => {
                g.len() == w.len()
                    && g.iter()
                        .zip(w)
                        .all(|(g, w)| (g.as_f64().unwrap() - w.as_f64().unwrap()).abs() <= tol)
            }
            _ => false,
        };
        if !ok {
            self.bad.push(format!(
                "{}: {what}: got {got} want {want} (tol {tol:e})",
                self.case
            ));
        }
    }
    fn rel(&mut self, what: &str, got: &Value, want: &Value, tol: f64) {
        let (g, w) = (got.as_f64().unwrap_or(f64::NAN), want.as_f64().unwrap());
        let close = (g - w).abs() <= tol * g.abs().max(w.abs());
        if !close {
            self.bad.push(format!(
                "{}: {what}: got {got} want {want} (rel tol {tol:e})",
                self.case
            ));
        }
    }
    fn same(&mut self, what: &str, got: &Value, want: &Value) {
        if got != want {
            self.bad
                .push(format!("{}: {what}: got {got} want {want}", self.case));
        }
    }
}

fn check_case(name: &str) -> Vec<String> {
    let data = testdata().join("metrics");
    let exp: Value =
        serde_json::from_slice(&std::fs::read(data.join(format!("expected/{name}.json"))).unwrap())
            .unwrap();
    let got = run_eval(
        &data.join(format!("cases/{name}.csv")),
        &["--bootstrap", "2000", "--seed", "1"],
    );
    let mut c = Checker {
        case: name.to_string(),
        bad: Vec::new(),
    };
    let a = &got["models"]["score"];
    let b = &got["models"]["score_b"];
    for k in ["n", "positives", "negatives"] {
        c.same(k, &got[k], &exp[k]);
    }
    c.num("prevalence", &got["prevalence"], &exp["prevalence"], 1e-15);
    c.num("auroc", &a["auroc"], &exp["auroc"], 1e-12);
    c.same(
        "auroc_exact_fraction",
        &a["auroc_exact_fraction"],
        &exp["auroc_exact_fraction"],
    );
    c.num(
        "mann_whitney_u",
        &a["mann_whitney_u"],
        &exp["mann_whitney_u"],
        1e-9,
    );
    c.num(
        "auroc_ci95_delong",
        &a["auroc_ci95_delong"],
        &exp["auroc_ci95_delong"],
        1e-12,
    );
    c.num(
        "auroc_var_delong",
        &a["auroc_var_delong"],
        &exp["auroc_var_delong"],
        1e-12,
    );
    c.num(
        "model_b.auroc",
        &b["auroc"],
        &exp["model_b"]["auroc"],
        1e-12,
    );
    c.same(
        "model_b.auroc_exact_fraction",
        &b["auroc_exact_fraction"],
        &exp["model_b"]["auroc_exact_fraction"],
    );
    c.num(
        "model_b.ci95",
        &b["auroc_ci95_delong"],
        &exp["model_b"]["auroc_ci95_delong"],
        1e-12,
    );
    c.num(
        "model_b.var",
        &b["auroc_var_delong"],
        &exp["model_b"]["auroc_var_delong"],
        1e-12,
    );

    let cmp = &got["comparisons"][0];
    let pd = &exp["paired_delong"];
    c.same("comparison a", &cmp["a"], &Value::from("score"));
    c.same("comparison b", &cmp["b"], &Value::from("score_b"));
    c.num("paired.auc_diff", &cmp["auc_diff"], &pd["auc_diff"], 1e-12);
    c.num("paired.z", &cmp["z"], &pd["z"], 1e-9);
    c.rel("paired.p", &cmp["p"], &pd["p"], 1e-10);
    c.num(
        "paired.ci95_diff",
        &cmp["ci95_diff"],
        &pd["ci95_diff"],
        1e-12,
    );

    c.num(
        "sens_at_spec 0.90",
        &a["sens_at_spec"]["0.90"],
        &exp["sens_at_spec_0.90"],
        1e-12,
    );
    c.num(
        "sens_at_spec_step 0.90",
        &a["sens_at_spec_step"]["0.90"],
        &exp["sens_at_spec_0.90_detail"]["step_conservative"],
        1e-12,
    );
    for k in ["brier", "log_loss", "average_precision", "ece_10", "ece_15"] {
        c.num(k, &a[k], &exp[k], 1e-12);
    }
    c.same(
        "log_loss_n_clipped",
        &a["log_loss_n_clipped"],
        &exp["log_loss_clamped_scores"]["n_clamped"],
    );
    for bins in ["ece_10_bins", "ece_15_bins"] {
        let (g, w) = (a[bins].as_array().unwrap(), exp[bins].as_array().unwrap());
        c.same(
            &format!("{bins} count"),
            &Value::from(g.len()),
            &Value::from(w.len()),
        );
        for (gb, wb) in g.iter().zip(w) {
            let k = wb["bin"].clone();
            c.same(&format!("{bins}[{k}].n"), &gb["n"], &wb["n"]);
            for f in ["lo", "hi", "mean_label", "mean_score"] {
                c.num(&format!("{bins}[{k}].{f}"), &gb[f], &wb[f], 1e-12);
            }
        }
    }
    let cc = &exp["calibration_converged"];
    c.same(
        "calibration_mle_exists",
        &a["calibration_mle_exists"],
        &exp["calibration_mle_exists"],
    );
    c.same(
        "calibration_n_used",
        &a["calibration_n_used"],
        &cc["n_used"],
    );
    if exp["calibration_mle_exists"] == Value::Bool(true) {
        c.num(
            "calibration_intercept",
            &a["calibration_intercept"],
            &cc["intercept_glm"],
            1e-9,
        );
        c.num(
            "calibration_slope",
            &a["calibration_slope"],
            &cc["slope_glm"],
            1e-9,
        );
    } else {
        c.same(
            "calibration_intercept",
            &a["calibration_intercept"],
            &Value::Null,
        );
        c.same("calibration_slope", &a["calibration_slope"], &Value::Null);
    }
    c.num(
        "calibration_in_the_large",
        &a["calibration_in_the_large"],
        &exp["calibration_in_the_large"],
        1e-9,
    );
    if exp["n"].as_u64().unwrap() >= 500 {
        c.num(
            "bootstrap.ci95",
            &a["bootstrap"]["ci95"],
            &exp["bootstrap_ci95_approx"],
            0.01,
        );
        c.num(
            "bootstrap.median",
            &a["bootstrap"]["median"],
            &exp["bootstrap_median_approx"],
            0.01,
        );
    }
    for (col, levels) in exp["subgroups"].as_object().unwrap() {
        let got_levels = a["subgroups"][col].as_object().unwrap();
        c.same(
            &format!("subgroups {col} levels"),
            &Value::from(got_levels.len()),
            &Value::from(levels.as_object().unwrap().len()),
        );
        for (lvl, e) in levels.as_object().unwrap() {
            let g = &a["subgroups"][col][lvl];
            for k in ["n", "positives", "negatives"] {
                c.same(&format!("sub {col}={lvl} {k}"), &g[k], &e[k]);
            }
            for k in ["auroc", "ci95", "var_delong"] {
                c.num(&format!("sub {col}={lvl} {k}"), &g[k], &e[k], 1e-12);
            }
        }
    }
    for col in ["sex", "age_band", "site"] {
        let (e, g) = (&exp["fairness"][col], &a["fairness"][col]);
        c.num(
            &format!("fair {col} threshold"),
            &g["threshold"],
            &exp["fairness"]["threshold"],
            0.0,
        );
        c.num(
            &format!("fair {col} dpd"),
            &g["demographic_parity_difference"],
            &e["demographic_parity_difference"],
            1e-12,
        );
        c.num(
            &format!("fair {col} eod"),
            &g["equalized_odds_difference"],
            &e["equalized_odds_difference_defined_groups_only"],
            1e-12,
        );
        c.num(
            &format!("fair {col} eod_fairlearn"),
            &g["equalized_odds_difference_fairlearn"],
            &e["equalized_odds_difference"],
            1e-12,
        );
        c.num(
            &format!("fair {col} auroc_gap"),
            &g["auroc_gap"],
            &e["auroc_gap"],
            1e-12,
        );
        c.same(
            &format!("fair {col} gap max"),
            &g["auroc_gap_max_group"],
            &e["auroc_gap_max_group"],
        );
        c.same(
            &format!("fair {col} gap min"),
            &g["auroc_gap_min_group"],
            &e["auroc_gap_min_group"],
        );
        c.same(
            &format!("fair {col} gap used"),
            &g["auroc_gap_groups_used"],
            &e["auroc_gap_groups_used"],
        );
        for (lvl, pg) in e["per_group"].as_object().unwrap() {
            let gg = &g["per_group"][lvl];
            for k in ["n", "positives", "predicted_positive", "tp", "fp"] {
                c.same(&format!("fair {col}={lvl} {k}"), &gg[k], &pg[k]);
            }
            c.num(
                &format!("fair {col}={lvl} selection_rate"),
                &gg["selection_rate"],
                &pg["selection_rate"],
                1e-12,
            );
            c.num(
                &format!("fair {col}={lvl} tpr"),
                &gg["tpr"],
                &pg["tpr_defined"],
                1e-12,
            );
            c.num(
                &format!("fair {col}={lvl} fpr"),
                &gg["fpr"],
                &pg["fpr_defined"],
                1e-12,
            );
        }
    }
    c.bad
}

#[test]
fn tiny_n12_matches_reference_tools() {
    let bad = check_case("tiny_n12");
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn balanced_n500_matches_reference_tools() {
    let bad = check_case("balanced_n500");
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn same_seed_gives_byte_identical_json_and_other_seed_differs() {
    let csv = testdata().join("metrics/cases/balanced_n500.csv");
    let one = run_eval(&csv, &["--bootstrap", "500", "--seed", "42"]);
    let two = run_eval(&csv, &["--bootstrap", "500", "--seed", "42"]);
    assert_eq!(
        serde_json::to_string(&one).unwrap(),
        serde_json::to_string(&two).unwrap()
    );
    let other = run_eval(&csv, &["--bootstrap", "500", "--seed", "43"]);
    assert_ne!(
        one["models"]["score"]["bootstrap"]["ci95"],
        other["models"]["score"]["bootstrap"]["ci95"]
    );
}

#[test]
fn json_has_no_nan_or_infinity_and_every_null_in_models_has_a_reason_on_one_class_data() {
    let csv = testdata().join("bad/single_class.csv");
    let got = run_eval(&csv, &[]);
    let text = serde_json::to_string(&got).unwrap();
    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    let m = &got["models"]["score"];
    assert_eq!(m["auroc"], Value::Null);
    assert_eq!(
        m["auroc_reason"],
        Value::from("only one class present: 0 positives, 4 negatives")
    );
    assert_eq!(m["auroc_ci95_delong"], Value::Null);
    assert!(
        m["auroc_ci95_delong_reason"]
            .as_str()
            .unwrap()
            .contains("only one class")
    );
    assert_eq!(m["sens_at_spec"]["0.90"], Value::Null);
    assert!(m["sens_at_spec_reason"].is_string());
    assert_eq!(m["average_precision"], Value::Null);
    assert!(m["average_precision_reason"].is_string());
    assert_eq!(m["calibration_mle_exists"], Value::Bool(false));
    assert!(
        m["calibration_reason"]
            .as_str()
            .unwrap()
            .contains("only one class")
    );
    // Still computable without both classes:
    assert!((m["brier"].as_f64().unwrap() - (0.01 + 0.04 + 0.09 + 0.16) / 4.0).abs() < 1e-15);
    assert!(m["log_loss"].as_f64().is_some());
    assert!(m["ece_10"].as_f64().is_some());
    let cmp = &got["comparisons"][0];
    assert_eq!(cmp["p"], Value::Null);
    assert!(cmp["reason"].as_str().unwrap().contains("only one class"));
    assert!(
        got["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("only one class"))
    );
}
