//! The human-readable summary `harness eval` and `harness run` print: one row per model, the
//! paired comparisons, and the weakest subgroup per grouping column; for findings (multi-label),
//! one row per finding and each model's aggregates.

use harness_metrics::evaluate::{EvalReport, spec_key};
use harness_metrics::multiclass::MulticlassReport;
use harness_metrics::multilabel::MultilabelReport;
use harness_metrics::registry::{METRICS, Metric};

/// The metrics shown after AUROC and the sensitivities, by registry key (in registry order).
const COLUMNS: [&str; 5] = [
    "average_precision",
    "brier",
    "ece_10",
    "calibration_slope",
    "calibration_intercept",
];
use harness_report::format::{num, p_value_precise as p_value, with_ci_marked as with_ci};
use std::path::Path;
use tabled::builder::Builder;
use tabled::settings::Style;

pub fn table(rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::default();
    for r in rows {
        b.push_record(r);
    }
    b.build().with(Style::rounded()).to_string()
}

/// A multi-label evaluation as text: each finding's cases and every model's AUROC with its 95 %
/// CI (patient-clustered where the cases are clustered, marked as such), then each model's macro
/// and micro AUROC with the findings they leave out.
pub fn findings(r: &MultilabelReport, data: &Path) -> String {
    let clustered = r
        .findings
        .values()
        .flat_map(|f| f.models.values())
        .any(|m| m.clustered.is_some());
    let ci = if clustered {
        "patient-clustered"
    } else {
        "DeLong"
    };
    let mut rows = vec![
        ["finding".to_string(), "positives".to_string()]
            .into_iter()
            .chain(r.models.keys().map(|m| format!("AUROC {m} [95% CI, {ci}]")))
            .collect::<Vec<_>>(),
    ];
    for (name, f) in &r.findings {
        let mut row = vec![name.clone(), format!("{} of {}", f.positives, f.n)];
        row.extend(r.models.keys().map(|m| {
            f.models.get(m).map_or_else(
                || "not scored".to_string(),
                |m| {
                    let interval = m.auroc_ci95_reported();
                    with_ci(m.discrimination.auroc, interval)
                },
            )
        }));
        rows.push(row);
    }
    let mut text = format!(
        "{}: {} cases, {} findings\n{}\n",
        data.display(),
        r.n,
        r.findings.len(),
        table(rows)
    );
    for (m, s) in &r.models {
        let mut left_out = Vec::new();
        if !s.findings_excluded.is_empty() {
            left_out.push(format!("one class: {}", s.findings_excluded.join(", ")));
        }
        if !s.findings_not_scored.is_empty() {
            left_out.push(format!("not scored: {}", s.findings_not_scored.join(", ")));
        }
        text.push_str(&format!(
            "model {m}: macro AUROC {} over {} finding(s){}; micro AUROC {}\n",
            num(s.auroc_macro, 3),
            r.findings.len() - s.n_findings_excluded - s.findings_not_scored.len(),
            if left_out.is_empty() {
                String::new()
            } else {
                format!(" (left out, {})", left_out.join("; "))
            },
            num(s.auroc_micro, 3),
        ));
    }
    text
}

/// A multi-class evaluation as text: one row per model (macro, weighted and Hand–Till AUROC,
/// accuracy, balanced accuracy, Brier, log loss, top-label ECE), the subgroup levels, then the
/// paired bootstrap comparisons of the macro AUROCs (patient-clustered where the cases are).
pub fn classes(report: &MulticlassReport, data: &Path) -> String {
    let mut rows = vec![
        [
            "model",
            "macro AUROC [95% CI]",
            "weighted AUROC",
            "Hand-Till AUROC",
            "accuracy",
            "balanced accuracy",
            "Brier",
            "log loss",
            "top-label ECE-10",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (name, m) in &report.models {
        rows.push(vec![
            name.clone(),
            with_ci(m.auroc_macro, m.auroc_macro_ci95_reported()),
            harness_report::format::num(m.auroc_weighted, 3),
            harness_report::format::num(m.auroc_hand_till, 3),
            harness_report::format::num(Some(m.accuracy), 3),
            harness_report::format::num(Some(m.balanced_accuracy), 3),
            harness_report::format::num(Some(m.brier), 4),
            harness_report::format::num(Some(m.log_loss), 4),
            harness_report::format::num(Some(m.top_label_ece_10), 4),
        ]);
    }
    let mut text = format!(
        "{}: {} cases, {} classes ({})\n{}\n",
        data.display(),
        report.n,
        report.classes.len(),
        report
            .class_counts
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        table(rows)
    );
    if let Some(column) = &report.cluster {
        text.push_str(&format!(
            "CIs and comparisons are patient-clustered (column '{column}'): Obuchowski per class, cluster bootstrap for the macro AUROC\n"
        ));
    }
    let mut levels = vec![
        [
            "model",
            "subgroup",
            "level",
            "cases",
            "macro AUROC [95% CI]",
            "accuracy",
            "balanced accuracy",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (name, m) in &report.models {
        for (column, per_level) in &m.subgroups {
            for (level, s) in per_level {
                levels.push(vec![
                    name.clone(),
                    column.clone(),
                    level.clone(),
                    s.n.to_string(),
                    with_ci(s.auroc_macro, s.auroc_macro_ci95.flatten()),
                    harness_report::format::num(Some(s.accuracy), 3),
                    harness_report::format::num(Some(s.balanced_accuracy), 3),
                ]);
            }
        }
    }
    if levels.len() > 1 {
        text.push_str(&table(levels));
        text.push('\n');
    }
    for c in &report.comparisons_macro {
        let clustered = c.clustered.is_some();
        let c = c.reported();
        text.push_str(&format!(
            "macro AUROC {} − {}: {} [{}], paired {}bootstrap p {}\n",
            c.a,
            c.b,
            harness_report::format::num(c.diff, 3),
            c.ci95_diff.map_or_else(
                || "CI n/a".to_string(),
                |[lo, hi]| format!(
                    "{}, {}",
                    harness_report::format::fixed(lo, 3),
                    harness_report::format::fixed(hi, 3)
                )
            ),
            if clustered { "cluster " } else { "" },
            c.p.map_or_else(|| "n/a".to_string(), harness_report::format::p_clause),
        ));
        if let (None, Some(reason)) = (c.p, &c.reason) {
            text.push_str(&format!("  ({reason})\n"));
        }
    }
    text
}

/// The paired tests of a multi-label evaluation, finding by finding: each pair of models on
/// each finding both score, with the patient-clustered test where the cases are clustered, and
/// Holm's adjustment over all of them (R `p.adjust(method = "holm")`).
pub fn finding_comparisons(r: &MultilabelReport) -> String {
    let tests: Vec<(&String, &harness_metrics::evaluate::Comparison)> = r
        .findings
        .iter()
        .flat_map(|(f, fr)| fr.comparisons.iter().map(move |c| (f, c)))
        .collect();
    if tests.is_empty() {
        return String::new();
    }
    // Patient-clustered (Obuchowski) where the cases are clustered, else DeLong.
    let reported = |c: &harness_metrics::evaluate::Comparison| match &c.clustered {
        Some(cl) => (cl.p, cl.ci95_diff),
        None => (c.p, c.ci95_diff),
    };
    let adjusted = harness_metrics::multiple::holm(
        &tests.iter().map(|(_, c)| reported(c).0).collect::<Vec<_>>(),
    );
    let mut rows = vec![
        [
            "finding",
            "A",
            "B",
            "AUROC A − B [95% CI]",
            "p",
            "Holm-adjusted p",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for ((f, c), holm) in tests.iter().zip(adjusted) {
        let (p, ci) = reported(c);
        rows.push(vec![
            (*f).clone(),
            c.a.clone(),
            c.b.clone(),
            with_ci(c.auc_diff, ci),
            p_value(p),
            p_value(holm),
        ]);
    }
    format!(
        "paired tests per finding ({}; Holm over all {} tests):\n{}\n",
        if tests.iter().any(|(_, c)| c.clustered.is_some()) {
            "patient-clustered"
        } else {
            "DeLong"
        },
        tests.len(),
        table(rows)
    )
}

/// Renders the summary as text.
pub fn render(r: &EvalReport, data: &Path) -> String {
    let mut out = String::new();
    let prevalence = r
        .prevalence
        .map_or_else(|| "n/a".into(), |p| format!("{:.1}%", 100.0 * p));
    out.push_str(&format!(
        "{}: {} cases, {} positive ({prevalence}), {} negative\n",
        data.display(),
        r.n,
        r.positives,
        r.negatives
    ));

    let specs: Vec<String> = r
        .options
        .target_specificities
        .iter()
        .map(|&t| spec_key(t))
        .collect();
    let boot = r.options.bootstrap > 0;
    // Where the cases are clustered by patient, the CIs and tests shown are the clustered ones.
    let patients = r
        .models
        .values()
        .find_map(|m| m.clustered.as_ref())
        .map(|c| c.counts.n_clusters);
    if let Some(p) = patients {
        out.push_str(&format!(
            "{} images from {p} patients: CIs and paired tests are patient-clustered (Obuchowski 1997); the image-level ones are in the JSON\n",
            r.n
        ));
    }
    let mut header = vec![
        "model".to_string(),
        if patients.is_some() {
            "AUROC [95% CI, patient-clustered]".to_string()
        } else {
            "AUROC [95% CI, DeLong]".to_string()
        },
    ];
    if patients.is_some() {
        header.push("design effect".to_string());
    }
    if boot {
        header.push(format!(
            "bootstrap CI (B={}{})",
            r.options.bootstrap,
            if patients.is_some() {
                ", patients resampled"
            } else {
                ""
            }
        ));
    }
    header.extend(specs.iter().map(|s| format!("sens @ spec {s}")));
    let columns: Vec<&Metric> = METRICS
        .iter()
        .filter(|m| COLUMNS.contains(&m.key))
        .collect();
    header.extend(columns.iter().map(|m| m.label.to_string()));
    let mut rows = vec![header];
    for (name, m) in &r.models {
        let mut row = vec![
            name.clone(),
            with_ci(m.discrimination.auroc, m.auroc_ci95_reported()),
        ];
        if patients.is_some() {
            row.push(num(m.clustered.as_ref().and_then(|c| c.design_effect), 2));
        }
        if boot {
            row.push(match m.auroc_bootstrap_ci95_reported() {
                Some([lo, hi]) => format!("[{lo:.3}, {hi:.3}]"),
                None => "n/a".into(),
            });
        }
        row.extend(
            specs
                .iter()
                .map(|s| num(m.operating_points.sens_at_spec.get(s).copied().flatten(), 3)),
        );
        row.extend(columns.iter().map(|c| match c.value(m) {
            None if c.key == "calibration_slope" && !m.calibration.calibration_mle_exists => {
                "n/a (see warnings)".into()
            }
            v => num(v, c.digits),
        }));
        rows.push(row);
    }
    out.push_str(&table(rows));
    out.push('\n');

    if !r.comparisons.is_empty() {
        let mut rows = vec![
            [
                if patients.is_some() {
                    "comparison (paired, patient-clustered)"
                } else {
                    "comparison (paired DeLong)"
                },
                "AUROC difference [95% CI]",
                "z",
                "p",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for c in &r.comparisons {
            let (ci, z, p) = match &c.clustered {
                Some(cl) => (cl.ci95_diff, cl.z, cl.p),
                None => (c.ci95_diff, c.z, c.p),
            };
            rows.push(vec![
                format!("{} - {}", c.a, c.b),
                match (c.auc_diff, ci) {
                    (Some(d), Some([lo, hi])) => format!("{d:+.3} [{lo:+.3}, {hi:+.3}]"),
                    _ => "n/a".into(),
                },
                num(z, 3),
                p_value(p),
            ]);
        }
        out.push_str(&table(rows));
        out.push('\n');
    }

    let has_groups = r.models.values().any(|m| !m.subgroups.is_empty());
    if has_groups {
        let mut rows = vec![
            [
                "model",
                "grouping",
                "weakest subgroup",
                "n (pos/neg)",
                "AUROC [95% CI]",
                "AUROC gap",
                "eq. odds diff",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for (name, m) in &r.models {
            for (col, levels) in &m.subgroups {
                let f = &m.fairness[col];
                let worst = levels
                    .iter()
                    .filter_map(|(l, s)| s.auroc.map(|a| (l, s, a)))
                    .min_by(|a, b| a.2.total_cmp(&b.2));
                let (level, counts, auc) = match worst {
                    Some((l, s, _)) => (
                        l.clone(),
                        format!("{} ({}/{})", s.n, s.positives, s.negatives),
                        with_ci(
                            s.auroc,
                            match &s.clustered {
                                Some(c) => c.auroc_ci95_obuchowski,
                                None => s.ci95,
                            },
                        ),
                    ),
                    None => ("none with both classes".into(), String::new(), "n/a".into()),
                };
                rows.push(vec![
                    name.clone(),
                    col.clone(),
                    level,
                    counts,
                    auc,
                    num(f.auroc_gap, 3),
                    num(f.equalized_odds_difference, 3),
                ]);
            }
        }
        out.push_str(&table(rows));
        out.push('\n');
    }
    if !r.warnings.is_empty() {
        out.push_str(&format!(
            "{} warning(s) printed on stderr.\n",
            r.warnings.len()
        ));
    }
    out
}
