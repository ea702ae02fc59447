//! The tables and the sentences under them, as raw text, once for both writers: the HTML and the
//! Markdown show the same cells, each written by [`crate::format`] and escaped by the writer.

use crate::format::{
    list_or_none, num, p_value, sci, tolerance, with_ci, with_diff_ci, with_reason,
};
use crate::input::{Candidate, Header, ReportInput, Status};
use crate::text::operating_point_row;
use crate::view::{View, summary_metrics};
use harness_metrics::evaluate::{FairnessReport, ModelReport};
use harness_metrics::multiclass::MulticlassReport;
use harness_metrics::multilabel::MultilabelReport;

/// One table cell: raw text, and whether it is a number (right-aligned in the HTML).
pub struct Cell {
    pub text: String,
    pub numeric: bool,
}

/// A text cell.
pub fn t(s: impl Into<String>) -> Cell {
    Cell {
        text: s.into(),
        numeric: false,
    }
}

/// A number cell.
pub fn n(s: impl Into<String>) -> Cell {
    Cell {
        text: s.into(),
        numeric: true,
    }
}

/// A table with a header row; `class` names it in the HTML.
pub struct Table {
    pub class: &'static str,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

fn headers(h: &[&str]) -> Vec<String> {
    h.iter().map(|s| s.to_string()).collect()
}

/// A candidate's status, with why when it is not ok.
pub fn candidate_status(c: &Candidate) -> String {
    with_reason(
        c.status.as_str(),
        c.reason.as_deref().filter(|_| c.status != Status::Ok),
    )
}

/// The backends a candidate ran on, or "none".
pub fn backends(c: &Candidate) -> String {
    list_or_none(&c.backends)
}

/// The acceptance gate: a verdict sentence and a table of every criterion for every candidate;
/// `None` when no criterion was given. The bool is true when every verdict passed.
pub fn acceptance_section(input: &ReportInput) -> Option<(bool, String, Table)> {
    let rows = &input.acceptance;
    if rows.is_empty() {
        if input.acceptance_criteria.is_empty() {
            return None;
        }
        let sentence = format!(
            "Not passed: no candidate was evaluated, so none met the acceptance criteria ({}).",
            input.acceptance_criteria.join("; ")
        );
        let table = Table {
            class: "acceptance",
            headers: headers(&["Criterion"]),
            rows: input
                .acceptance_criteria
                .iter()
                .map(|c| vec![t(c.clone())])
                .collect(),
        };
        return Some((false, sentence, table));
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.message.as_str())
        .collect();
    let passed = failed.is_empty();
    let sentence = if passed {
        format!(
            "Passed: every evaluated candidate met every acceptance criterion ({} verdicts).",
            rows.len()
        )
    } else {
        format!(
            "FAILED: {} of {} verdicts failed: {}. A failed criterion gives exit status 1.",
            failed.len(),
            rows.len(),
            failed.join("; ")
        )
    };
    let table = Table {
        class: "acceptance",
        headers: headers(&["Candidate", "Criterion", "Value", "Verdict"]),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    t(r.candidate.clone()),
                    t(r.criterion.clone()),
                    r.shown.clone().map_or_else(|| t("none"), n),
                    t(if r.passed { "pass" } else { "FAIL" }),
                ]
            })
            .collect(),
    };
    Some((passed, sentence, table))
}

/// Name, SHA-256, licence, cases, size and whether the data set is synthetic.
pub fn dataset_rows(input: &ReportInput) -> Vec<(String, String)> {
    let d = &input.header.dataset;
    let positives = input.labels.iter().filter(|&&y| y).count();
    let mut rows = vec![
        ("Name".to_string(), d.name.clone()),
        ("SHA-256".into(), d.sha256.clone()),
        ("Licence".into(), d.licence.clone()),
        (
            "Cases".into(),
            if let Some(r) = &input.classes {
                let counts: Vec<String> = r
                    .class_counts
                    .iter()
                    .map(|(c, n)| format!("{c}: {n}"))
                    .collect();
                format!("{} ({})", d.cases, counts.join(", "))
            } else if input.findings.is_some() {
                format!("{} (positives per finding: see Findings)", d.cases)
            } else {
                format!(
                    "{} ({} positives, {} negatives)",
                    d.cases,
                    positives,
                    input.labels.len() - positives
                )
            },
        ),
    ];
    if let Some(b) = d.bytes {
        rows.push(("Size".into(), format!("{b} bytes")));
    }
    rows.push((
        "Synthetic".into(),
        if d.synthetic {
            "YES: generated data".into()
        } else {
            "no".into()
        },
    ));
    rows
}

/// The machine's key/value lines and the profiles of the run.
pub fn machine_rows(h: &Header) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = h
        .machine
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    rows.push(("Profiles".into(), list_or_none(&h.profiles)));
    rows
}

/// One row per candidate: name, model file, its SHA-256, backends and status.
/// A federated evaluation's sites: the sentence that introduces them and their table (site,
/// cases, positives, the SHA-256 of the summary pooled, what left the site); `None` otherwise.
pub fn sites_section(input: &ReportInput) -> Option<(String, Table)> {
    if input.sites.is_empty() {
        return None;
    }
    let cases: u64 = input.sites.iter().map(|s| s.cases).sum();
    let paired = input.sites.iter().any(|s| s.paired.is_some());
    let mut intro = format!(
        "These results were pooled by the coordinator from the count tables of {} site(s), {cases} cases in all: per model and subgroup level, how many positive and negative cases had each score. No image, case id or per-case metadata left any site; every figure below equals that of one evaluation on all the sites' cases together (exact pooling, see Methods). The tables are not anonymous by construction: without a declared score grid they list every distinct score, close to one per case. Each site's summary says in its own words what it reveals",
        input.sites.len()
    );
    intro.push_str(if paired {
        "; for the paired tests each site also answered the coordinator's round-2 request (the pooled score tables) with sums over its own cases, which say what they reveal in the last column:"
    } else {
        ":"
    });
    let mut head = vec![
        "Site",
        "Cases",
        "Positives",
        "Summary SHA-256",
        "What left the site",
    ];
    if paired {
        head.push("Round 2 (paired tests): what left the site");
    }
    let table = Table {
        class: "sites",
        headers: headers(&head),
        rows: input
            .sites
            .iter()
            .map(|s| {
                let mut row = vec![
                    t(s.name.clone()),
                    n(s.cases.to_string()),
                    s.positives.map_or_else(
                        || {
                            t(if input.classes.is_some() {
                                "per class"
                            } else {
                                "per finding"
                            })
                        },
                        |p| n(p.to_string()),
                    ),
                    t(s.summary_sha256.clone()),
                    t(s.disclosure.clone()),
                ];
                if paired {
                    row.push(t(s.paired.as_ref().map_or_else(
                        || "nothing (no answer pooled)".to_string(),
                        |a| format!("{} (sums SHA-256 {})", a.disclosure, a.sha256),
                    )));
                }
                row
            })
            .collect(),
    };
    Some((intro, table))
}

pub fn candidates_table(input: &ReportInput) -> Table {
    Table {
        class: "candidates",
        headers: headers(&[
            "Candidate",
            "Model file",
            "Model SHA-256",
            "Backend(s)",
            "Status",
        ]),
        rows: input
            .candidates
            .iter()
            .map(|c| {
                vec![
                    t(c.name.clone()),
                    t(c.model_file.clone()),
                    t(c.model_sha256.clone()),
                    t(c.backends.join(", ")),
                    t(candidate_status(c)),
                ]
            })
            .collect(),
    }
}

/// A multi-label task, per candidate: the macro and micro AUROCs over its findings and the
/// findings left out of them.
pub fn findings_summary_table(r: &MultilabelReport) -> Table {
    Table {
        class: "findings-summary",
        headers: headers(&[
            "Candidate",
            "Macro AUROC",
            "Micro AUROC",
            "Findings in the macro AUROC",
            "Left out (one class)",
            "Not scored by the model",
        ]),
        rows: r
            .models
            .iter()
            .map(|(name, s)| {
                let scored = r.findings_order.len() - s.findings_not_scored.len();
                vec![
                    t(name.clone()),
                    n(num(s.auroc_macro, 3)),
                    n(num(s.auroc_micro, 3)),
                    n(format!(
                        "{} of {}",
                        scored - s.n_findings_excluded,
                        r.findings_order.len()
                    )),
                    t(list_or_none(&s.findings_excluded)),
                    t(list_or_none(&s.findings_not_scored)),
                ]
            })
            .collect(),
    }
}

/// A multi-label task, per finding: cases with the finding, and each candidate's AUROC with its
/// 95 % CI (patient-clustered where the cases are clustered).
pub fn findings_table(r: &MultilabelReport) -> Table {
    let clustered = r
        .findings
        .values()
        .flat_map(|f| f.models.values())
        .any(|m| m.clustered.is_some());
    let mut h = vec!["Finding".to_string(), "Cases with it".to_string()];
    h.extend(r.models.keys().map(|m| {
        format!(
            "{m}: AUROC [95% CI, {}]",
            if clustered {
                "patient-clustered"
            } else {
                "DeLong"
            }
        )
    }));
    Table {
        class: "findings",
        headers: h,
        rows: r
            .findings
            .iter()
            .map(|(name, f)| {
                let mut row = vec![t(name.clone()), n(format!("{} of {}", f.positives, f.n))];
                row.extend(r.models.keys().map(|m| {
                    n(f.models.get(m).map_or_else(
                        || "not scored".to_string(),
                        |m| {
                            let ci = m.auroc_ci95_reported();
                            with_ci(m.discrimination.auroc, ci)
                        },
                    ))
                }));
                row
            })
            .collect(),
    }
}

/// A multi-label task's Findings or a multi-class task's Classes section: its anchor, title,
/// the sentence on method, its tables and, for classes, the paired comparisons of the macro
/// AUROCs (the ROC overlays are the view's `target_figures`).
pub struct TaskSection {
    pub id: &'static str,
    pub title: &'static str,
    pub intro: String,
    pub tables: Vec<Table>,
    pub comparisons: Option<(String, Table)>,
}

/// The task section of a multi-label or multi-class report, `None` for a binary one.
pub fn task_section(v: &View) -> Option<TaskSection> {
    if let Some(r) = &v.input.findings {
        return Some(TaskSection {
            id: "findings",
            title: "Findings",
            intro: "Each finding is evaluated as its own binary task on the same cases, with the whole binary contract (DeLong CIs, calibration, subgroups); the macro AUROC is the mean over the findings that have both classes (scikit-learn average='macro' on them), the micro AUROC pools every (label, score) cell of the findings a model scores (average='micro').".into(),
            tables: vec![findings_summary_table(r), findings_table(r)],
            comparisons: None,
        });
    }
    let r = v.input.classes.as_ref()?;
    let boot = macro_bootstrapped(r);
    let intro = match &r.cluster {
        None => format!(
            "Each class is scored one-vs-rest with its DeLong CI; the macro AUROC is the mean over the classes with cases (scikit-learn multi_class='ovr', average='macro'){}; Hand–Till is the mean pairwise AUROC (average='ovo'). Rows are never renormalised: a row whose probabilities do not sum to 1 within 1e-6 is refused.",
            if boot {
                ", with a class-stratified bootstrap CI"
            } else {
                " (no bootstrap CI: none was asked for, or the results are pooled from count tables)"
            }
        ),
        Some(column) => format!(
            "Several images may come from one patient (column '{column}'), so the CIs shown are patient-clustered: each class is scored one-vs-rest with its Obuchowski (1997) CI, and the macro AUROC (the mean over the classes with cases, scikit-learn multi_class='ovr', average='macro') {}; the image-level CIs are in metrics.json. Hand–Till is the mean pairwise AUROC (average='ovo'). Rows are never renormalised: a row whose probabilities do not sum to 1 within 1e-6 is refused.",
            if boot {
                "has a cluster-bootstrap CI (patients drawn with replacement, all their images kept)"
            } else {
                "has no CI here (its CI is a cluster bootstrap, and none was asked for: [metrics] bootstrap)"
            }
        ),
    };
    let mut tables = vec![classes_summary_table(r), classes_table(r)];
    if r.models.values().any(|m| !m.subgroups.is_empty()) {
        tables.push(classes_subgroups_table(r));
        tables.push(classes_gaps_table(r));
    }
    Some(TaskSection {
        id: "classes",
        title: "Classes",
        intro,
        tables,
        comparisons: (!r.comparisons_macro.is_empty()).then(|| {
            (
                if r.cluster.is_some() {
                    "Multi-class candidates are compared on their macro AUROCs with a paired cluster bootstrap (the same resampled patients for both; pROC roc.test's bootstrap convention).".to_string()
                } else {
                    "Multi-class candidates are compared on their macro AUROCs with a paired, class-stratified bootstrap (the same resampled cases for both; pROC roc.test's bootstrap convention).".to_string()
                },
                macro_comparisons_table(r),
            )
        }),
    })
}

/// Whether a multi-class report's macro AUROCs have bootstrap CIs (a bootstrap was asked for).
fn macro_bootstrapped(r: &MulticlassReport) -> bool {
    r.models
        .values()
        .any(|m| m.auroc_macro_bootstrap.is_some() || m.auroc_macro_bootstrap_clustered.is_some())
}

/// The header of a multi-class report's macro AUROC column: with the kind of bootstrap behind
/// its CIs, where there is one.
fn macro_header(r: &MulticlassReport) -> String {
    match (macro_bootstrapped(r), &r.cluster) {
        (false, _) => "Macro AUROC (no bootstrap CI)".into(),
        (true, Some(_)) => "Macro AUROC [95% CI, patient-clustered bootstrap]".into(),
        (true, None) => "Macro AUROC [95% CI, bootstrap]".into(),
    }
}

/// A multi-class task with subgroup columns, per candidate and level: the level's cases, its
/// macro AUROC with the bootstrap CI on its cases, accuracy and balanced accuracy.
pub fn classes_subgroups_table(r: &MulticlassReport) -> Table {
    let mut rows = Vec::new();
    for (name, m) in &r.models {
        for (column, levels) in &m.subgroups {
            for (level, s) in levels {
                rows.push(vec![
                    t(name.clone()),
                    t(column.clone()),
                    t(level.clone()),
                    n(s.n.to_string()),
                    n(with_ci(s.auroc_macro, s.auroc_macro_ci95.flatten())),
                    n(num(Some(s.accuracy), 3)),
                    n(num(Some(s.balanced_accuracy), 3)),
                    t(if s.n_classes_excluded > 0 {
                        format!(
                            "{} class(es) without cases or with every case",
                            s.n_classes_excluded
                        )
                    } else {
                        String::new()
                    }),
                ]);
            }
        }
    }
    Table {
        class: "classes-subgroups",
        headers: vec![
            "Candidate".into(),
            "Subgroup".into(),
            "Level".into(),
            "Cases".into(),
            macro_header(r),
            "Accuracy".into(),
            "Balanced accuracy".into(),
            "Left out of the macro AUROC".into(),
        ],
        rows,
    }
}

/// A multi-class task with subgroup columns: per candidate and column, how far apart its
/// levels are (highest − lowest level, naming both).
pub fn classes_gaps_table(r: &MulticlassReport) -> Table {
    let gap =
        |value: Option<f64>, max: &Option<String>, min: &Option<String>| match (value, max, min) {
            (Some(v), Some(hi), Some(lo)) => format!("{} ({hi} − {lo})", num(Some(v), 3)),
            _ => "n/a".to_string(),
        };
    let mut rows = Vec::new();
    for (name, m) in &r.models {
        for (column, g) in &m.gaps {
            rows.push(vec![
                t(name.clone()),
                t(column.clone()),
                n(gap(
                    g.auroc_macro_gap,
                    &g.auroc_macro_gap_max_group,
                    &g.auroc_macro_gap_min_group,
                )),
                n(gap(
                    g.accuracy_gap,
                    &g.accuracy_gap_max_group,
                    &g.accuracy_gap_min_group,
                )),
                n(gap(
                    g.balanced_accuracy_gap,
                    &g.balanced_accuracy_gap_max_group,
                    &g.balanced_accuracy_gap_min_group,
                )),
            ]);
        }
    }
    Table {
        class: "classes-gaps",
        headers: headers(&[
            "Candidate",
            "Subgroup",
            "Macro AUROC gap (highest − lowest level)",
            "Accuracy gap",
            "Balanced accuracy gap",
        ]),
        rows,
    }
}

/// A multi-class task, per candidate: the AUROC aggregates (macro with its stratified bootstrap
/// CI), accuracy, balanced accuracy, Brier, log loss and top-label ECE.
pub fn classes_summary_table(r: &MulticlassReport) -> Table {
    let macro_header = macro_header(r);
    Table {
        class: "classes-summary",
        headers: headers(&[
            "Candidate",
            &macro_header,
            "Weighted AUROC",
            "Hand–Till AUROC",
            "Accuracy",
            "Balanced accuracy",
            "Brier",
            "Log loss",
            "Top-label ECE-10",
            "Classes left out (no cases)",
        ]),
        rows: r
            .models
            .iter()
            .map(|(name, m)| {
                vec![
                    t(name.clone()),
                    n(with_ci(m.auroc_macro, m.auroc_macro_ci95_reported())),
                    n(num(m.auroc_weighted, 3)),
                    n(num(m.auroc_hand_till, 3)),
                    n(num(Some(m.accuracy), 3)),
                    n(num(Some(m.balanced_accuracy), 3)),
                    n(num(Some(m.brier), 4)),
                    n(num(Some(m.log_loss), 4)),
                    n(num(Some(m.top_label_ece_10), 4)),
                    t(list_or_none(&m.classes_excluded)),
                ]
            })
            .collect(),
    }
}

/// A multi-class task, per class: its cases, and each candidate's one-vs-rest AUROC with its
/// DeLong 95 % CI and its sensitivity at the argmax decision.
pub fn classes_table(r: &MulticlassReport) -> Table {
    let mut h = vec!["Class".to_string(), "Cases".to_string()];
    let kind = if r.cluster.is_some() {
        "patient-clustered"
    } else {
        "DeLong"
    };
    for m in r.models.keys() {
        h.push(format!("{m}: one-vs-rest AUROC [95% CI, {kind}]"));
        h.push(format!("{m}: sensitivity at argmax"));
    }
    Table {
        class: "classes",
        headers: h,
        rows: r
            .classes
            .iter()
            .map(|class| {
                let mut row = vec![
                    t(class.clone()),
                    n(r.class_counts.get(class).copied().unwrap_or(0).to_string()),
                ];
                for m in r.models.values() {
                    let ovr = m.ovr.get(class);
                    row.push(n(ovr.map_or_else(
                        || "n/a".to_string(),
                        |o| with_ci(o.discrimination.auroc, o.auroc_ci95_reported()),
                    )));
                    row.push(n(num(
                        m.sensitivity_at_argmax.get(class).copied().flatten(),
                        3,
                    )));
                }
                row
            })
            .collect(),
    }
}

/// Multi-class: each pair of candidates' macro AUROCs with the paired stratified bootstrap.
pub fn macro_comparisons_table(r: &MulticlassReport) -> Table {
    Table {
        class: "comparisons",
        headers: headers(&[
            "A",
            "B",
            "Macro AUROC A",
            "Macro AUROC B",
            if r.cluster.is_some() {
                "Difference A − B [95% CI, paired cluster bootstrap]"
            } else {
                "Difference A − B [95% CI, paired bootstrap]"
            },
            "Z",
            "p",
        ]),
        rows: r
            .comparisons_macro
            .iter()
            .map(|c| {
                let c = c.reported();
                vec![
                    t(c.a.clone()),
                    t(c.b.clone()),
                    n(num(c.macro_a, 3)),
                    n(num(c.macro_b, 3)),
                    n(with_diff_ci(c.diff, c.ci95_diff)),
                    n(num(c.z, 2)),
                    n(p_value(c.p)),
                ]
            })
            .collect(),
    }
}

/// The summary: one row per candidate. A multi-label or multi-class task shows its macro AUROC
/// only: the binary columns have no single value per candidate (its own section has them).
pub fn summary_table(v: &View) -> Table {
    let binary = v.input.findings.is_none() && v.input.classes.is_none();
    let spec = v.spec_key.clone().unwrap_or_else(|| "n/a".into());
    let sens_header = format!("Sensitivity at specificity {spec}");
    let auroc_header = if v.input.classes.is_some() {
        "Macro AUROC (one-vs-rest)"
    } else if v.input.findings.is_some() {
        "Macro AUROC over its findings"
    } else if v.patients.is_some() {
        "AUROC [95% CI, patient-clustered]"
    } else {
        "AUROC [95% CI, DeLong]"
    };
    let mut h = vec!["Candidate", "Status", auroc_header];
    if binary {
        h.push(sens_header.as_str());
        h.extend(summary_metrics().map(|m| m.label));
    }
    h.extend(["p99 latency (ms)", "Throughput (/s)"]);
    Table {
        class: "summary",
        headers: headers(&h),
        rows: v
            .summary
            .iter()
            .map(|s| {
                let mut row = vec![t(s.name.clone()), t(s.status.clone()), n(s.auroc.clone())];
                if binary {
                    row.push(n(s.sens_at_spec.clone()));
                    row.extend(s.metrics.iter().cloned().map(n));
                }
                row.extend([n(s.p99_ms.clone()), n(s.throughput.clone())]);
                row
            })
            .collect(),
    }
}

/// The statistics of one model: AUROC and its CIs, sensitivity at each target specificity,
/// calibration, and the operating point at the threshold (when defined).
pub fn statistics_rows(
    input: &ReportInput,
    c: &Candidate,
    m: &ModelReport,
) -> Vec<(String, String)> {
    let th = input.evaluation.options.threshold;
    model_statistics_rows(m, operating_point_row(&input.labels, &c.scores, th))
}

/// [`statistics_rows`] of any binary model (a candidate, or one finding of a multi-label
/// candidate), given its operating-point row.
pub fn model_statistics_rows(
    m: &ModelReport,
    operating_point: Option<(String, String)>,
) -> Vec<(String, String)> {
    let mut rows = metric_rows(m);
    rows.extend(operating_point);
    rows
}

fn metric_rows(m: &ModelReport) -> Vec<(String, String)> {
    // Where several images come from one patient the image-level CIs are too narrow: named
    // as such, beside the patient-clustered ones.
    let image_level = if m.clustered.is_some() {
        " (image-level)"
    } else {
        ""
    };
    let mut rows = vec![
        (
            "AUROC".to_string(),
            format!(
                "{}{}",
                num(m.discrimination.auroc, 4),
                m.discrimination
                    .auroc_exact_fraction
                    .as_ref()
                    .map(|f| format!(" (= {f})"))
                    .unwrap_or_default()
            ),
        ),
        (
            format!("DeLong 95% CI{image_level}"),
            match m.discrimination.auroc_ci95_delong {
                Some([a, b]) => format!(
                    "[{}, {}]{}",
                    num(Some(a), 4),
                    num(Some(b), 4),
                    if m.discrimination.auroc_ci95_delong_degenerate {
                        " (degenerate: variance 0)"
                    } else {
                        ""
                    }
                ),
                None => format!(
                    "n/a: {}",
                    m.discrimination
                        .auroc_ci95_delong_reason
                        .as_deref()
                        .unwrap_or("undefined")
                ),
            },
        ),
    ];
    let ci = |ci: [f64; 2]| format!("[{}, {}]", num(Some(ci[0]), 4), num(Some(ci[1]), 4));
    let na = |why: &Option<String>| format!("n/a: {}", why.as_deref().unwrap_or("undefined"));
    // A bootstrap CI with its replicates and seed: cases resampled within each class, or
    // patients resampled whole.
    let stratified = |bounds: [f64; 2], n: usize, seed: u64| {
        format!("{} (B = {n}, seed {seed}, stratified)", ci(bounds))
    };
    let by_patient = |bounds: [f64; 2], n: usize, seed: u64| {
        format!(
            "{} (B = {n}, seed {seed}, patients drawn with replacement)",
            ci(bounds)
        )
    };
    match &m.discrimination.bootstrap {
        Some(Some(b)) => rows.push((
            format!("Bootstrap 95% CI{image_level}"),
            stratified(b.ci95, b.n, b.seed),
        )),
        Some(None) => rows.push((
            format!("Bootstrap 95% CI{image_level}"),
            na(&m.discrimination.bootstrap_reason),
        )),
        None => {}
    }
    if let Some(c) = &m.clustered {
        rows.push((
            "Patient-clustered 95% CI (Obuchowski 1997)".into(),
            match c.auroc_ci95_obuchowski {
                Some(v) => format!(
                    "{} ({} patients; design effect {})",
                    ci(v),
                    c.counts.n_clusters,
                    num(c.design_effect, 2)
                ),
                None => na(&c.reason),
            },
        ));
        match &c.bootstrap {
            Some(Some(b)) => rows.push((
                "Cluster bootstrap 95% CI".into(),
                by_patient(b.ci95, b.n, b.seed),
            )),
            Some(None) => rows.push(("Cluster bootstrap 95% CI".into(), na(&c.bootstrap_reason))),
            None => {}
        }
    }
    for (k, v) in &m.operating_points.sens_at_spec {
        let step = m
            .operating_points
            .sens_at_spec_step
            .get(k)
            .copied()
            .flatten();
        rows.push((
            format!("Sensitivity at specificity {k}"),
            format!("{} (conservative step value {})", num(*v, 4), num(step, 4)),
        ));
        // Its bootstrap CIs, when the suite asks for them (`sens_ci_bootstrap`), as the
        // AUROC's are given.
        let points = &m.operating_points;
        let image = format!("Sensitivity at specificity {k}: bootstrap 95% CI{image_level}");
        match (&points.sens_at_spec_ci95, &points.sens_at_spec_ci) {
            (Some(cis), Some(info)) => rows.extend(
                cis.get(k)
                    .map(|&bounds| (image, stratified(bounds, info.n, info.seed))),
            ),
            _ if points.sens_at_spec_ci_reason.is_some() => {
                rows.push((image, na(&points.sens_at_spec_ci_reason)));
            }
            _ => {}
        }
        let clustered = format!("Sensitivity at specificity {k}: cluster bootstrap 95% CI");
        match &points.sens_at_spec_ci_clustered {
            Some(c) => rows.extend(
                c.ci95
                    .get(k)
                    .map(|&bounds| (clustered, by_patient(bounds, c.n, c.seed))),
            ),
            None if points.sens_at_spec_ci_clustered_reason.is_some() => {
                rows.push((clustered, na(&points.sens_at_spec_ci_clustered_reason)));
            }
            None => {}
        }
    }
    rows.push((
        "Average precision".into(),
        num(m.operating_points.average_precision, 4),
    ));
    rows.push(("Brier score".into(), num(m.calibration.brier, 4)));
    rows.push((
        "Log loss".into(),
        format!(
            "{}{}",
            num(m.calibration.log_loss, 4),
            if m.calibration.log_loss_n_clipped > 0 {
                format!(" ({} scores clipped)", m.calibration.log_loss_n_clipped)
            } else {
                String::new()
            }
        ),
    ));
    rows.push((
        "ECE-10 / ECE-15".into(),
        format!(
            "{} / {}",
            num(m.calibration.ece_10, 4),
            num(m.calibration.ece_15, 4)
        ),
    ));
    // A calibration figure, or n/a with the reason the fit gave.
    let or_reason = |x: Option<f64>, why: &Option<String>| match x {
        Some(_) => num(x, 3),
        None => format!("n/a: {}", why.as_deref().unwrap_or("undefined")),
    };
    rows.push((
        "Calibration slope (ideal 1)".into(),
        or_reason(
            m.calibration.calibration_slope,
            &m.calibration.calibration_reason,
        ),
    ));
    rows.push((
        "Calibration intercept (ideal 0)".into(),
        or_reason(
            m.calibration.calibration_intercept,
            &m.calibration.calibration_reason,
        ),
    ));
    rows.push((
        "Calibration-in-the-large".into(),
        or_reason(
            m.calibration.calibration_in_the_large,
            &m.calibration.calibration_in_the_large_reason,
        ),
    ));
    rows.push((
        "Rows used by the calibration fit".into(),
        format!(
            "{} (scores strictly between 0 and 1)",
            m.calibration.calibration_n_used
        ),
    ));
    rows
}

/// Fairness of one grouping column: level, n, positives, selection rate, TPR, FPR.
pub fn fairness_table(f: &FairnessReport) -> Table {
    Table {
        class: "fairness",
        headers: headers(&["Level", "n", "Positives", "Selection rate", "TPR", "FPR"]),
        rows: f
            .per_group
            .iter()
            .map(|(level, g)| {
                vec![
                    t(level.clone()),
                    n(g.n.to_string()),
                    n(g.positives.to_string()),
                    n(num(g.selection_rate, 3)),
                    n(num(g.tpr, 3)),
                    n(num(g.fpr, 3)),
                ]
            })
            .collect(),
    }
}

/// The disparity sentence under a fairness table.
pub fn fairness_sentence(column: &str, f: &FairnessReport) -> String {
    let gap = match (&f.auroc_gap, &f.auroc_gap_max_group, &f.auroc_gap_min_group) {
        (Some(g), Some(hi), Some(lo)) => {
            format!("AUROC gap {} (highest {hi}, lowest {lo})", num(Some(*g), 3))
        }
        _ => format!(
            "AUROC gap n/a{}",
            crate::format::reason_suffix(f.auroc_gap_reason.as_deref())
        ),
    };
    let (eod, fairlearn) = (
        num(f.equalized_odds_difference, 3),
        num(f.equalized_odds_difference_fairlearn, 3),
    );
    // fairlearn's figure differs only where a group's rate is undefined.
    let eod = if eod == fairlearn {
        eod
    } else {
        format!("{eod} (fairlearn's convention, which counts an undefined rate as 0: {fairlearn})")
    };
    format!(
        "By {column} at threshold {}: demographic parity difference {}, equalized odds difference {eod}, {gap}.",
        f.threshold,
        num(f.demographic_parity_difference, 3),
    )
}

/// Every paired comparison, with the Holm-adjusted p when it was applied.
pub fn comparisons_table(v: &View) -> Table {
    let by_finding = v.comparisons.iter().any(|c| c.finding.is_some());
    let mut h = if by_finding {
        headers(&["Finding"])
    } else {
        Vec::new()
    };
    h.extend(headers(&[
        "A",
        "B",
        "AUROC A",
        "AUROC B",
        "Difference A − B [95% CI]",
        "Z",
        "p",
    ]));
    if v.holm_applied {
        h.push("Holm-adjusted p".into());
    }
    Table {
        class: "comparisons",
        headers: h,
        rows: v
            .comparisons
            .iter()
            .map(|cv| {
                let c = &cv.comparison;
                let mut r: Vec<Cell> = cv.finding.iter().map(|f| t(f.clone())).collect();
                r.extend([
                    t(c.a.clone()),
                    t(c.b.clone()),
                    n(num(c.auc_a, 3)),
                    n(num(c.auc_b, 3)),
                    n(with_diff_ci(c.auc_diff, c.ci95_diff)),
                    n(num(c.z, 2)),
                    n(p_value(c.p)),
                ]);
                if v.holm_applied {
                    r.push(n(p_value(cv.p_holm)));
                }
                r
            })
            .collect(),
    }
}

/// Cross-backend agreement, one row per pair of backends of a candidate, with the verdict.
pub fn agreement_table(input: &ReportInput) -> Table {
    let tol = input.options.agreement_tolerance;
    Table {
        class: "agreement",
        headers: headers(&[
            "Candidate",
            "Backend A",
            "Backend B",
            // A multi-label or multi-class candidate has a probability per finding or class
            // of each case: this counts the probabilities compared, not the cases.
            if input.findings.is_some() || input.classes.is_some() {
                "Probabilities compared"
            } else {
                "Cases"
            },
            "Max |score difference|",
            "Decisions that differ",
            "Verdict",
        ]),
        rows: input
            .agreement
            .iter()
            .map(|a| {
                let agree = a.max_abs_diff <= tol && a.decision_disagreements == 0;
                vec![
                    t(a.candidate.clone()),
                    t(a.a.clone()),
                    t(a.b.clone()),
                    n(a.n.to_string()),
                    n(sci(a.max_abs_diff)),
                    n(a.decision_disagreements.to_string()),
                    t(if agree { "agree" } else { "DISAGREE" }),
                ]
            })
            .collect(),
    }
}

/// What "agree" means, under the agreement table.
pub fn agreement_note(input: &ReportInput) -> String {
    format!(
        "Backends agree when no score differs by more than {} and no decision at the threshold flips.",
        tolerance(input.options.agreement_tolerance)
    )
}

/// Every performance measurement: configuration, throughput, latency percentiles, status.
pub fn performance_table(input: &ReportInput) -> Table {
    Table {
        class: "performance",
        headers: headers(&[
            "Candidate",
            "Backend",
            "Profile",
            "Scenario",
            "Batch",
            "Threads",
            "Throughput (/s)",
            "p50 (ms)",
            "p90 (ms)",
            "p95 (ms)",
            "p99 (ms)",
            "max (ms)",
            "Status",
        ]),
        rows: input
            .performance
            .iter()
            .map(|r| {
                let l = r.latency_ms;
                vec![
                    t(r.candidate.clone()),
                    t(r.backend.clone()),
                    t(r.profile.clone()),
                    t(r.scenario.clone()),
                    n(r.batch_size.to_string()),
                    n(r.threads.to_string()),
                    n(num(r.throughput_per_s, 1)),
                    n(num(l.map(|l| l.p50), 2)),
                    n(num(l.map(|l| l.p90), 2)),
                    n(num(l.map(|l| l.p95), 2)),
                    n(num(l.map(|l| l.p99), 2)),
                    n(num(l.map(|l| l.max), 2)),
                    t(with_reason(r.status.as_str(), r.reason.as_deref())),
                ]
            })
            .collect(),
    }
}
