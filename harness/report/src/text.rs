//! Words and numbers of the report: number formats, escaping, the plain-language sentence of
//! each comparison, and the "Limits of this evidence" generated from the data. Everything here
//! returns raw text; the HTML and Markdown writers escape it.

use crate::input::{Candidate, ReportInput, Status};
use harness_metrics::evaluate::Comparison;
use harness_metrics::multiple::holm;

/// Significance level of the comparisons.
pub const ALPHA: f64 = 0.05;

/// A finite number with `digits` decimals, or "n/a". A negative value that rounds to zero is
/// written without its sign ("0.000", not "-0.000").
pub fn num(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(v) if v.is_finite() => fixed(v, digits),
        _ => "n/a".to_string(),
    }
}

fn fixed(v: f64, digits: usize) -> String {
    let s = format!("{v:.digits$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
        _ => s,
    }
}

/// The statistics-table row of a candidate's operating point at the evaluation threshold:
/// (label, value), or `None` when it is undefined (one class).
pub fn operating_point_row(input: &ReportInput, c: &Candidate) -> Option<(String, String)> {
    let th = input.evaluation.options.threshold;
    let op = crate::plot_data::operating_point(&input.labels, &c.scores, th)?;
    Some((
        format!("Operating point at threshold {th}"),
        format!(
            "sensitivity {:.3} ({} of {} positives), specificity {:.3} ({} of {} negatives)",
            op.sensitivity,
            op.tp,
            op.tp + op.fn_,
            op.specificity,
            op.tn,
            op.tn + op.fp
        ),
    ))
}

/// A p-value: "< 0.001" below 0.001, else three decimals; "n/a" when undefined.
pub fn p_value(p: Option<f64>) -> String {
    match p {
        Some(v) if v.is_finite() && v < 0.001 => "< 0.001".to_string(),
        other => num(other, 3),
    }
}

/// "= 0.004" or "< 0.001", for a sentence.
fn p_clause(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_string()
    } else {
        format!("= {p:.3}")
    }
}

/// "0.871 [0.842, 0.900]", or the AUROC alone when the CI is missing.
pub fn with_ci(x: Option<f64>, ci: Option<[f64; 2]>) -> String {
    match (x.filter(|v| v.is_finite()), ci) {
        (Some(v), Some([a, b])) if a.is_finite() && b.is_finite() => {
            format!("{} [{}, {}]", fixed(v, 3), fixed(a, 3), fixed(b, 3))
        }
        (Some(v), _) => fixed(v, 3),
        (None, _) => "n/a".to_string(),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for Markdown (CommonMark/GFM): HTML-significant characters become entities,
/// Markdown punctuation is backslash-escaped (so a table cell stays one cell), line breaks
/// become spaces.
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
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
    pub comparison: Comparison,
    /// Holm-adjusted p (Holm 1979) over all comparisons with a p-value; `None` when not applied
    /// or undefined.
    pub p_holm: Option<f64>,
    pub sentence: String,
}

/// The comparisons with Holm's adjustment applied when more than two candidates were compared
/// (more than one comparison), each with its plain-language sentence.
pub fn comparison_views(comparisons: &[Comparison]) -> (Vec<ComparisonView>, bool) {
    let apply = comparisons.len() > 1;
    let adjusted = if apply {
        holm(&comparisons.iter().map(|c| c.p).collect::<Vec<_>>())
    } else {
        vec![None; comparisons.len()]
    };
    let views = comparisons
        .iter()
        .zip(adjusted)
        .map(|(c, p_holm)| ComparisonView {
            sentence: comparison_sentence(c, p_holm, apply),
            comparison: c.clone(),
            p_holm,
        })
        .collect();
    (views, apply)
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
            fixed(lo, 3),
            fixed(hi, 3)
        )
    } else {
        format!(
            "{first}'s AUROC is higher than {second}'s by {} (95% CI {} to {})",
            fixed(d, 3),
            fixed(lo, 3),
            fixed(hi, 3)
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
            "{head}; the difference is not statistically significant at the 5 % level ({label} {}); the data cannot tell them apart.",
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
    for c in input
        .candidates
        .iter()
        .filter(|c| c.status != Status::Ok || c.metrics.is_none())
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
    // Subgroup sizes depend only on the labels, which all candidates share: read them once.
    if let Some(m) = input.candidates.iter().find_map(|c| c.metrics.as_ref()) {
        for (column, levels) in &m.subgroups {
            for (level, s) in levels {
                if s.positives == 0 || s.negatives == 0 {
                    out.push(limit(
                        "subgroup",
                        format!(
                            "Subgroup {column} = {level} has only one class ({} positives, {} negatives): it has no AUROC, and its TPR or FPR is undefined.",
                            s.positives, s.negatives
                        ),
                    ));
                } else if s.n < opts.small_subgroup_cases
                    || s.positives < opts.small_subgroup_positives
                {
                    out.push(limit(
                        "subgroup",
                        format!(
                            "Subgroup {column} = {level} is small: {} cases, {} positives (fewer than {} cases or {} positives), so its AUROC, CI and fairness rates are imprecise.",
                            s.n, s.positives, opts.small_subgroup_cases, opts.small_subgroup_positives
                        ),
                    ));
                }
            }
        }
    }
    for c in &input.candidates {
        let Some(m) = &c.metrics else { continue };
        if m.auroc_ci95_delong_degenerate {
            out.push(limit(
                "statistics",
                format!(
                    "{}: the AUROC is {} on these cases, so its DeLong variance is 0 and the CI is a single point; that is not certainty.",
                    c.name,
                    num(m.auroc, 3)
                ),
            ));
        }
        for (column, levels) in &m.subgroups {
            for (level, s) in levels {
                if s.var_delong == Some(0.0) {
                    out.push(limit(
                        "statistics",
                        format!(
                            "{}: subgroup {column} = {level} has AUROC {} with a degenerate DeLong CI (variance 0).",
                            c.name,
                            num(s.auroc, 3)
                        ),
                    ));
                }
            }
        }
        if !m.calibration_mle_exists && m.auroc.is_some() {
            let why = m
                .calibration_reason
                .as_deref()
                .unwrap_or("the maximum-likelihood fit failed");
            out.push(limit(
                "statistics",
                format!(
                    "{}: calibration slope and intercept are not reported: {why}.",
                    c.name
                ),
            ));
        }
    }
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
                    "Backends {} and {} disagree{who}: max |score difference| = {} (tolerance {:e}), {} of {} decisions differ at the threshold.",
                    a.a,
                    a.b,
                    sci(a.max_abs_diff),
                    opts.agreement_tolerance,
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
        let why = p
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
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

/// A difference in scientific notation ("3.2e-5"), or "n/a" when not finite.
pub fn sci(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1e}")
    } else {
        "n/a".to_string()
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
            "beta's AUROC is higher than alpha's by 0.010 (95% CI -0.010 to 0.030); the difference is not statistically significant at the 5 % level (p = 0.410); the data cannot tell them apart."
        );
        // Significance follows the adjusted p, not the raw one.
        let s = comparison_sentence(&cmp(0.02, [0.001, 0.039], Some(0.04)), Some(0.08), true);
        assert!(
            s.contains("not statistically significant") && s.contains("Holm-adjusted p = 0.080"),
            "{s}"
        );
        let s = comparison_sentence(&cmp(0.2, [0.1, 0.3], Some(1e-9)), None, false);
        assert!(s.ends_with("(p < 0.001)."), "{s}");
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
    fn numbers_and_escaping() {
        assert_eq!(num(Some(-0.0004), 3), "0.000");
        assert_eq!(num(Some(-0.0006), 3), "-0.001");
        assert_eq!(num(Some(f64::NAN), 3), "n/a");
        assert_eq!(num(None, 3), "n/a");
        assert_eq!(
            with_ci(Some(0.8712), Some([0.84, 0.9])),
            "0.871 [0.840, 0.900]"
        );
        assert_eq!(with_ci(Some(0.8712), None), "0.871");
        assert_eq!(p_value(Some(0.0004)), "< 0.001");
        assert_eq!(
            html_escape(r#"<b>"x" & 'y'</b>"#),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(
            md_escape("a|b <i>*c*</i>\nd"),
            r"a\|b &lt;i&gt;\*c\*&lt;/i&gt; d"
        );
        assert_eq!(slug("Vendor C <b>beta</b>"), "vendor-c-b-beta-b");
        assert_eq!(slug("<>"), "candidate");
        assert_eq!(sci(2.4e-3), "2.4e-3");
    }
}
