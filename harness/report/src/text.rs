//! Words of the report: the plain-language sentence of each comparison, the operating-point
//! row, file-name slugs, and the "Limits of this evidence" generated from the data (numbers are
//! written by [`crate::format`]). Everything here returns raw text; the HTML and Markdown
//! writers escape it.

use crate::format::{ci_bound, fixed, p_clause, reason_suffix, sci, tolerance};
use crate::input::{Candidate, ReportInput, ReportOptions, Status};
use harness_metrics::evaluate::{Comparison, ModelReport};

// The number formats moved to `crate::format`; these stay reachable here for the view.
pub use crate::format::{num, with_ci};

/// Significance level of the comparisons.
pub const ALPHA: f64 = 0.05;

/// The statistics-table row of a model's operating point at the evaluation threshold `th`
/// over `labels` and its `scores` (a candidate's, or its scores for one finding): (label,
/// value), or `None` when it is undefined (one class).
pub fn operating_point_row(labels: &[bool], scores: &[f64], th: f64) -> Option<(String, String)> {
    let op = crate::plot_data::operating_point(labels, scores, th)?;
    Some((
        format!("Operating point at threshold {th}"),
        format!(
            "sensitivity {} ({} of {} positives), specificity {} ({} of {} negatives)",
            fixed(op.sensitivity, 3),
            op.tp,
            op.tp + op.fn_,
            fixed(op.specificity, 3),
            op.tn,
            op.tn + op.fp
        ),
    ))
}

/// A file-name-safe slug of a name: ASCII letters and digits, other runs as one '-'.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(40).collect();
    if out.is_empty() {
        "candidate".to_string()
    } else {
        out.trim_end_matches('-').to_string()
    }
}

/// A comparison with its Holm-adjusted p-value (when several comparisons are made).
#[derive(Clone, Debug)]
pub struct ComparisonView {
    /// The finding compared on (multi-label task), else `None`.
    pub finding: Option<String>,
    pub comparison: Comparison,
    /// Holm-adjusted p (Holm 1979) over all comparisons with a p-value; `None` when not applied
    /// or undefined.
    pub p_holm: Option<f64>,
    pub sentence: String,
}

/// The comparisons with Holm's adjustment applied when more than two candidates were compared
/// (more than one comparison), each with its plain-language sentence.
pub fn comparison_views(comparisons: &[Comparison]) -> (Vec<ComparisonView>, bool) {
    let adjusted = Comparison::holm_reported(comparisons);
    let apply = adjusted.is_some();
    let adjusted = adjusted.unwrap_or_else(|| vec![None; comparisons.len()]);
    let comparisons: Vec<Comparison> = comparisons.iter().map(Comparison::as_reported).collect();
    let views = comparisons
        .iter()
        .zip(adjusted)
        .map(|(c, p_holm)| ComparisonView {
            sentence: comparison_sentence(c, p_holm, apply),
            finding: None,
            comparison: c.clone(),
            p_holm,
        })
        .collect();
    (views, apply)
}

/// The sentences above the comparisons table: which test, on what, and how p is adjusted.
pub fn comparisons_intro(views: &[ComparisonView], holm_applied: bool) -> String {
    let by_finding = views.iter().any(|v| v.finding.is_some());
    let clustered = views.iter().any(|v| v.comparison.clustered.is_some());
    let mut s = format!(
        "Every pair of evaluated candidates{}, on the same cases, with the paired DeLong test (DeLong et al. 1988; pROC roc.test){}.",
        if by_finding {
            ", finding by finding (each finding that both score)"
        } else {
            ""
        },
        if clustered {
            ", in its patient-clustered form (Obuchowski 1997) since the cases are clustered by patient"
        } else {
            ""
        }
    );
    if holm_applied {
        s.push_str(if by_finding {
            " The p-values are adjusted for multiple comparisons by Holm's method (Holm 1979) over every finding's comparisons together, and significance is judged on the adjusted p; the confidence intervals are not adjusted."
        } else {
            " With more than two candidates the p-values are adjusted for multiple comparisons by Holm's method (Holm 1979), and significance is judged on the adjusted p; the confidence intervals are not adjusted."
        });
    }
    s
}

/// The plain-language reading of a paired DeLong comparison, e.g. "vendor-a's AUROC is higher
/// than vendor-b's by 0.031 (95% CI 0.012 to 0.050); the difference is statistically
/// significant at the 5 % level (Holm-adjusted p = 0.004)." Significance is judged on the
/// Holm-adjusted p when `holm_applied`, else on the raw p.
pub fn comparison_sentence(c: &Comparison, p_holm: Option<f64>, holm_applied: bool) -> String {
    let (Some(d), Some([lo, hi])) = (c.auc_diff.filter(|d| d.is_finite()), c.ci95_diff) else {
        let why = c
            .reason
            .as_deref()
            .unwrap_or("the paired DeLong test is undefined");
        return format!("{} and {} could not be compared: {why}.", c.a, c.b);
    };
    // Say it from the side of the higher AUROC; the CI turns with it.
    let (first, second, d, lo, hi) = if d < 0.0 {
        (&c.b, &c.a, -d, -hi, -lo)
    } else {
        (&c.a, &c.b, d, lo, hi)
    };
    let head = if d == 0.0 {
        format!(
            "{first} and {second} have the same AUROC (difference 0.000, 95% CI {} to {})",
            ci_bound(lo),
            ci_bound(hi)
        )
    } else {
        format!(
            "{first}'s AUROC is higher than {second}'s by {} (95% CI {} to {})",
            fixed(d, 3),
            ci_bound(lo),
            ci_bound(hi)
        )
    };
    let (p, label) = if holm_applied {
        (p_holm, "Holm-adjusted p")
    } else {
        (c.p, "p")
    };
    match p.filter(|p| p.is_finite()) {
        Some(p) if p < ALPHA => {
            format!(
                "{head}; the difference is statistically significant at the 5 % level ({label} {}).",
                p_clause(p)
            )
        }
        Some(p) => format!(
            "{head}; the difference is not statistically significant at the 5 % level ({label} {}); this does not show that they perform alike: a larger study may still find a difference.",
            p_clause(p)
        ),
        None => {
            let why = c
                .reason
                .as_deref()
                .unwrap_or("the test statistic is undefined");
            format!("{head}; no p-value: {why}.")
        }
    }
}

/// One entry of "Limits of this evidence".
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    /// Short category: "data", "candidate", "subgroup", "statistics", "backends", "performance".
    pub kind: &'static str,
    pub text: String,
}

fn limit(kind: &'static str, text: String) -> Limit {
    Limit { kind, text }
}

/// The limits of a model's subgroups that depend on their sizes alone (one class, few cases),
/// each prefixed with `finding` ("Finding effusion: "; empty for a binary evaluation).
fn subgroup_size_limits(
    finding: &str,
    m: &ModelReport,
    opts: &ReportOptions,
    out: &mut Vec<Limit>,
) {
    for (column, levels) in &m.subgroups {
        for (level, s) in levels {
            if s.positives == 0 || s.negatives == 0 {
                out.push(limit(
                    "subgroup",
                    format!(
                        "{finding}Subgroup {column} = {level} has only one class ({} positives, {} negatives): it has no AUROC, and its TPR or FPR is undefined.",
                        s.positives, s.negatives
                    ),
                ));
            } else if s.n < opts.small_subgroup_cases || s.positives < opts.small_subgroup_positives
            {
                out.push(limit(
                    "subgroup",
                    format!(
                        "{finding}Subgroup {column} = {level} is small: {} cases, {} positives (fewer than {} cases or {} positives), so its AUROC, CI and fairness rates are imprecise.",
                        s.n, s.positives, opts.small_subgroup_cases, opts.small_subgroup_positives
                    ),
                ));
            }
        }
    }
}

/// The limits of one model's statistics (a candidate, or "candidate, finding"): degenerate
/// DeLong CIs, overall and by subgroup, and a calibration fit that does not exist.
fn model_limits(name: &str, m: &ModelReport, out: &mut Vec<Limit>) {
    if m.discrimination.auroc_ci95_delong_degenerate {
        out.push(limit(
            "statistics",
            format!(
                "{name}: the AUROC is {} on these cases, so its DeLong variance is 0 and the CI is a single point; that is not certainty.",
                num(m.discrimination.auroc, 3)
            ),
        ));
    }
    for (column, levels) in &m.subgroups {
        for (level, s) in levels {
            if s.var_delong == Some(0.0) {
                out.push(limit(
                    "statistics",
                    format!(
                        "{name}: subgroup {column} = {level} has AUROC {} with a degenerate DeLong CI (variance 0).",
                        num(s.auroc, 3)
                    ),
                ));
            }
        }
    }
    if !m.calibration.calibration_mle_exists && m.discrimination.auroc.is_some() {
        let why = m
            .calibration
            .calibration_reason
            .as_deref()
            .unwrap_or("the maximum-likelihood fit failed");
        out.push(limit(
            "statistics",
            format!("{name}: calibration slope and intercept are not reported: {why}."),
        ));
    }
}

/// The limits particular to a multi-label or multi-class evaluation: findings with one class
/// and classes without cases (left out of the macro AUROCs), findings a candidate does not
/// score (its aggregates cover fewer findings than another's), findings with few positives,
/// whether the CIs are patient-clustered, and what a multi-class evaluation does not compute.
fn task_limits(input: &ReportInput) -> Vec<Limit> {
    let opts = &input.options;
    let mut out = Vec::new();
    if let Some(r) = &input.findings {
        for (name, f) in &r.findings {
            if f.positives == 0 || f.negatives == 0 {
                out.push(limit(
                    "data",
                    format!(
                        "Finding {name} has only one class ({} positive, {} negative cases): it has no AUROC and is left out of every macro AUROC.",
                        f.positives, f.negatives
                    ),
                ));
            } else if f.positives < opts.small_subgroup_positives {
                out.push(limit(
                    "data",
                    format!(
                        "Finding {name} has {} positive cases (fewer than {}): its AUROC and CI are imprecise.",
                        f.positives, opts.small_subgroup_positives
                    ),
                ));
            }
        }
        // Each finding's subgroups (shared by the candidates that score it) and each scored
        // finding's statistics, as a binary model's.
        for (name, f) in &r.findings {
            if let Some(m) = f.models.values().next() {
                subgroup_size_limits(&format!("Finding {name}: "), m, opts, &mut out);
            }
            for (model, m) in &f.models {
                model_limits(&format!("{model}, {name}"), m, &mut out);
            }
        }
        for (model, s) in &r.models {
            if !s.findings_not_scored.is_empty() {
                out.push(limit(
                    "candidate",
                    format!(
                        "{model} does not score {}: its macro and micro AUROCs are over the {} finding(s) it scores, so they are not comparable one to one with a candidate's over more findings; compare finding by finding.",
                        s.findings_not_scored.join(", "),
                        r.findings_order.len() - s.findings_not_scored.len()
                    ),
                ));
            }
        }
        let clusters = r
            .findings
            .values()
            .flat_map(|f| f.models.values())
            .find_map(|m| m.clustered.as_ref());
        if let Some(c) = clusters {
            out.push(limit(
                "statistics",
                format!(
                    "The {} images come from {} patients: the Findings tables' CIs and the paired tests are patient-clustered (Obuchowski 1997); each finding's section also lists image-level CIs, marked as such, which are too narrow where one patient's images are correlated.",
                    r.n, c.counts.n_clusters
                ),
            ));
        }
    }
    if let Some(r) = &input.classes {
        let absent: Vec<&String> = r
            .class_counts
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(c, _)| c)
            .collect();
        if !absent.is_empty() {
            out.push(limit(
                "data",
                format!(
                    "Class(es) without cases: {}: no one-vs-rest AUROC, left out of the macro and weighted AUROCs; their sensitivity at argmax is undefined.",
                    absent.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let patients = r
            .models
            .values()
            .flat_map(|m| m.ovr.values())
            .find_map(|o| o.clustered.as_ref())
            .map(|c| c.counts.n_clusters);
        // Pooled results: the sites limit already says the patient column stayed at each site.
        if patients.is_some() || input.sites.is_empty() {
            out.push(limit(
            "statistics",
            match patients {
                Some(p) => format!(
                    "The {} images come from {p} patients: the CIs and paired comparisons shown are patient-clustered (Obuchowski 1997 one-vs-rest, cluster bootstrap for the macro AUROC); image-level ones, also in metrics.json, would be too narrow.",
                    r.n
                ),
                None => "No patient column is declared: the CIs assume every image is an independent case. If a patient may contribute several images, declare the column (cluster in datasets.toml, --cluster for eval) for patient-clustered CIs.".to_string(),
            },
        ));
        }
    }
    out
}

/// The limits of the evidence, generated from the data: synthetic data, failed candidates,
/// small and one-class subgroups, degenerate CIs, separation (no calibration MLE), undefined
/// comparisons, disagreeing backends, unavailable or failed measurements, and profiles not
/// measured. The evaluation's own warnings are listed separately by the writers.
pub fn limits(input: &ReportInput) -> Vec<Limit> {
    let opts = &input.options;
    let mut out = Vec::new();
    let d = &input.header.dataset;
    if d.synthetic {
        out.push(limit(
            "data",
            format!(
                "The data set {} is synthetic (generated): these results show that the tooling works, not how the models would perform on patients.",
                d.name
            ),
        ));
    }
    if !input.sites.is_empty() {
        out.push(limit(
            "data",
            format!(
                "Pooled from the count tables of {} site(s): the coordinator saw no image and no case, so nothing here was cross-checked between inference engines or measured for speed, and patient-clustered statistics are not pooled (the patient column stays at each site). The ROC curves are drawn from each model's pooled scores by class, which pair no case across models.",
                input.sites.len()
            ),
        ));
    }
    // A multi-label or multi-class candidate's statistics are in the task's report.
    let has_task_metrics = |name: &str| {
        input
            .findings
            .as_ref()
            .is_some_and(|r| r.models.contains_key(name))
            || input
                .classes
                .as_ref()
                .is_some_and(|r| r.models.contains_key(name))
    };
    for c in input
        .candidates
        .iter()
        .filter(|c| c.status != Status::Ok || (c.metrics.is_none() && !has_task_metrics(&c.name)))
    {
        let why = c.reason.as_deref().unwrap_or("no reason was recorded");
        out.push(limit(
            "candidate",
            format!(
                "Candidate {} {}: {why}. It has no metrics and is in no comparison.",
                c.name,
                status_verb(c)
            ),
        ));
    }
    for c in &input.candidates {
        for w in &c.warnings {
            out.push(limit("candidate", format!("Candidate {}: {w}.", c.name)));
        }
    }
    // A binary evaluation on few cases of a class: DeLong's variance is a large-sample result.
    if input.findings.is_none() && input.classes.is_none() {
        let positives = input.labels.iter().filter(|&&l| l).count() as u64;
        let negatives = input.labels.len() as u64 - positives;
        let few = opts.small_subgroup_positives;
        if positives > 0 && negatives > 0 && positives.min(negatives) < few {
            out.push(limit(
                "statistics",
                format!(
                    "The evaluation has {positives} positive and {negatives} negative cases. With fewer than {few} cases in a class, the DeLong CIs and paired tests rest on a normal approximation that is unreliable at this size (a bootstrap CI, where shown, does not), and every figure here is imprecise."
                ),
            ));
        }
    }
    // Subgroup sizes depend only on the labels, which all candidates share: read them once.
    if let Some(m) = input.candidates.iter().find_map(|c| c.metrics.as_ref()) {
        subgroup_size_limits("", m, opts, &mut out);
    }
    for c in &input.candidates {
        if let Some(m) = &c.metrics {
            model_limits(&c.name, m, &mut out);
        }
    }
    out.extend(task_limits(input));
    for cmp in &input.evaluation.comparisons {
        if let Some(r) = &cmp.reason {
            out.push(limit(
                "statistics",
                format!("Comparison {} vs {}: {r}.", cmp.a, cmp.b),
            ));
        }
    }
    for a in &input.agreement {
        // A NaN difference is a disagreement too.
        let too_far = a.max_abs_diff.is_nan() || a.max_abs_diff > opts.agreement_tolerance;
        if too_far || a.decision_disagreements > 0 {
            let who = if a.candidate.is_empty() {
                String::new()
            } else {
                format!(" on {}", a.candidate)
            };
            out.push(limit(
                "backends",
                format!(
                    "Backends {} and {} disagree{who}: max |score difference| = {} (tolerance {}), {} of {} decisions differ at the threshold.",
                    a.a,
                    a.b,
                    sci(a.max_abs_diff),
                    tolerance(opts.agreement_tolerance),
                    a.decision_disagreements,
                    a.n
                ),
            ));
        }
    }
    for r in input.performance.iter().filter(|r| r.status != Status::Ok) {
        let why = r.reason.as_deref().unwrap_or("no reason was recorded");
        out.push(limit(
            "performance",
            format!(
                "{} was {}: {why}.",
                crate::plot_data::performance_label(r),
                r.status.as_str()
            ),
        ));
    }
    for p in &input.profiles_not_measured {
        let why = reason_suffix(p.reason.as_deref());
        out.push(limit(
            "performance",
            format!("Profile {} was requested but not measured{why}.", p.profile),
        ));
    }
    out
}

fn status_verb(c: &Candidate) -> &'static str {
    match c.status {
        Status::Ok => "has no evaluation",
        Status::Failed => "failed",
        Status::Unavailable => "was unavailable",
        Status::Skipped => "was skipped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(diff: f64, ci: [f64; 2], p: Option<f64>) -> Comparison {
        Comparison {
            a: "alpha".into(),
            b: "beta".into(),
            auc_a: Some(0.8),
            auc_b: Some(0.8 - diff),
            auc_diff: Some(diff),
            se_diff: Some(0.01),
            z: Some(diff / 0.01),
            p,
            ci95_diff: Some(ci),
            method: "paired DeLong".into(),
            reason: None,
            clustered: None,
        }
    }

    #[test]
    fn sentences_say_who_is_higher_and_whether_it_is_significant() {
        let s = comparison_sentence(&cmp(0.031, [0.012, 0.050], Some(0.0012)), Some(0.004), true);
        assert_eq!(
            s,
            "alpha's AUROC is higher than beta's by 0.031 (95% CI 0.012 to 0.050); the difference is statistically significant at the 5 % level (Holm-adjusted p = 0.004)."
        );
        // Negative difference: told from beta's side, CI mirrored; raw p without Holm.
        let s = comparison_sentence(&cmp(-0.01, [-0.03, 0.01], Some(0.41)), None, false);
        assert_eq!(
            s,
            "beta's AUROC is higher than alpha's by 0.010 (95% CI -0.010 to 0.030); the difference is not statistically significant at the 5 % level (p = 0.410); this does not show that they perform alike: a larger study may still find a difference."
        );
        // Significance follows the adjusted p, not the raw one.
        let s = comparison_sentence(&cmp(0.02, [0.001, 0.039], Some(0.04)), Some(0.08), true);
        assert!(
            s.contains("not statistically significant") && s.contains("Holm-adjusted p = 0.080"),
            "{s}"
        );
        let s = comparison_sentence(&cmp(0.2, [0.1, 0.3], Some(1e-9)), None, false);
        assert!(s.ends_with("(p < 0.001)."), "{s}");
        // A bound that three decimals would round to zero keeps its side of 0.
        let s = comparison_sentence(&cmp(0.034, [-0.000479, 0.069], Some(0.052)), None, false);
        assert!(s.contains("(95% CI -0.00048 to 0.069)"), "{s}");
        assert_eq!(ci_bound(0.0), "0.000");
        assert_eq!(ci_bound(0.0004), "0.00040");
        let mut undefined = cmp(0.0, [0.0, 0.0], None);
        undefined.auc_diff = None;
        undefined.ci95_diff = None;
        undefined.reason = Some("only one class present".into());
        assert_eq!(
            comparison_sentence(&undefined, None, false),
            "alpha and beta could not be compared: only one class present."
        );
    }

    #[test]
    fn holm_is_applied_only_to_more_than_one_comparison() {
        let one = [cmp(0.02, [0.0, 0.04], Some(0.03))];
        let (v, applied) = comparison_views(&one);
        assert!(!applied && v[0].p_holm.is_none());
        let three = [
            cmp(0.02, [0.0, 0.04], Some(0.03)),
            cmp(0.02, [0.0, 0.04], Some(0.01)),
            cmp(0.02, [0.0, 0.04], Some(0.2)),
        ];
        let (v, applied) = comparison_views(&three);
        assert!(applied);
        // Sorted 0.01×3 = 0.03, 0.03×2 = 0.06, 0.2×1 = 0.2.
        let adj: Vec<f64> = v.iter().map(|c| c.p_holm.unwrap()).collect();
        for (a, e) in adj.iter().zip([0.06, 0.03, 0.2]) {
            assert!((a - e).abs() < 1e-15, "{adj:?}");
        }
        assert!(
            v[0].sentence.contains("not statistically significant")
                && v[1].sentence.contains("is statistically significant")
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Vendor C <b>beta</b>"), "vendor-c-b-beta-b");
        assert_eq!(slug("<>"), "candidate");
    }
}
