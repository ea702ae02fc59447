//! The self-contained report.html: inline CSS and inline SVG, no script, nothing fetched from
//! anywhere (a Content-Security-Policy of `default-src 'none'` says so to the browser too).

use crate::input::{ReportInput, Status};
use crate::text::{html_escape as esc, num, operating_point_row, p_value, sci, with_ci};
use crate::view::{Figure, View, methods_items, rows_of, summary_latency, summary_throughput};
use harness_metrics::evaluate::ModelReport;
use std::fmt::Write;

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;color:#1b1b1b;background:#fff;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:0 24px 48px}
h1{font-size:1.7em;margin:24px 0 4px}h2{font-size:1.35em;margin-top:36px;border-bottom:2px solid #0072b2;padding-bottom:4px}h3{font-size:1.1em;margin-top:24px}
.banner{background:#b00020;color:#fff;font-weight:700;font-size:1.35em;text-align:center;padding:14px;letter-spacing:.04em}
.banner small{display:block;font-weight:400;font-size:.7em;letter-spacing:0}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.92em}
th,td{border:1px solid #c8c8c8;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef3f8}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.kv th{width:230px}
code,.hash{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:.88em;word-break:break-all}
figure{margin:12px 0 20px;display:inline-block;vertical-align:top;max-width:100%}
figure svg{max-width:100%;height:auto;border:1px solid #e2e2e2}
figcaption{font-size:.85em;color:#444;max-width:560px}
.missing{border:1px dashed #999;padding:12px;color:#555;max-width:520px}
.sig{font-weight:600}.ok{color:#00734d}.bad{color:#b00020;font-weight:600}
.limits li{margin-bottom:4px}.kind{display:inline-block;min-width:92px;font-size:.8em;text-transform:uppercase;color:#555}
nav ul{columns:2;font-size:.92em}
footer{font-size:.8em;color:#555;margin-top:40px}
@media print{figure{break-inside:avoid}h2{break-after:avoid}}
"#;

/// Inline SVG: plotters writes a standalone file with an `xmlns` attribute, which HTML does not
/// need (and which would be the only URL in the page).
fn inline_svg(svg: &str) -> String {
    svg.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1)
}

fn figure(out: &mut String, f: &Figure) {
    match &f.svg {
        Ok(svg) => {
            let _ = writeln!(
                out,
                "<figure id=\"fig-{}\" aria-label=\"{}\">\n{}<figcaption><strong>{}.</strong> {}</figcaption></figure>",
                esc(&f.id),
                esc(&f.title),
                inline_svg(svg),
                esc(&f.title),
                esc(&f.caption)
            );
        }
        Err(why) => {
            let _ = writeln!(
                out,
                "<div class=\"missing\"><strong>{}</strong>: not drawn: {}</div>",
                esc(&f.title),
                esc(why)
            );
        }
    }
}

fn table(out: &mut String, class: &str, headers: &[&str], rows: &[Vec<(String, bool)>]) {
    let _ = write!(out, "<table class=\"{class}\"><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for (cell, numeric) in r {
            // Cells are raw text; numbers are right-aligned.
            let _ = write!(
                out,
                "<td{}>{}</td>",
                if *numeric { " class=\"num\"" } else { "" },
                esc(cell)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn t(s: impl Into<String>) -> (String, bool) {
    (s.into(), false)
}
fn n(s: impl Into<String>) -> (String, bool) {
    (s.into(), true)
}

fn kv(out: &mut String, rows: &[(&str, String)]) {
    out.push_str("<table class=\"kv\"><tbody>\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    out.push_str("</tbody></table>\n");
}

fn header(out: &mut String, input: &ReportInput) {
    let h = &input.header;
    let d = &h.dataset;
    let _ = writeln!(
        out,
        "<h1>{} {}: evaluation report</h1>",
        esc(&h.suite.name),
        esc(&h.suite.version)
    );
    let _ = writeln!(
        out,
        "<p>Generated on {} by harness {} (commit <code>{}</code>).</p>",
        esc(&h.date),
        esc(&h.tool.version),
        esc(&h.tool.git_commit)
    );
    out.push_str("<h3>Data set</h3>\n");
    let mut rows = vec![
        ("Name", d.name.clone()),
        ("SHA-256", d.sha256.clone()),
        ("Licence", d.licence.clone()),
        (
            "Cases",
            format!(
                "{} ({} positives, {} negatives)",
                d.cases,
                input.labels.iter().filter(|&&y| y).count(),
                input.labels.iter().filter(|&&y| !y).count()
            ),
        ),
    ];
    if let Some(b) = d.bytes {
        rows.push(("Size", format!("{b} bytes")));
    }
    rows.push((
        "Synthetic",
        if d.synthetic {
            "YES: generated data".into()
        } else {
            "no".into()
        },
    ));
    kv(out, &rows);
    out.push_str("<h3>Candidates</h3>\n");
    let rows: Vec<Vec<(String, bool)>> = input
        .candidates
        .iter()
        .map(|c| {
            vec![
                t(c.name.clone()),
                t(c.model_file.clone()),
                t(c.model_sha256.clone()),
                t(c.backends.join(", ")),
                t(match &c.reason {
                    Some(r) if c.status != Status::Ok => format!("{}: {r}", c.status.as_str()),
                    _ => c.status.as_str().to_string(),
                }),
            ]
        })
        .collect();
    table(
        out,
        "candidates",
        &[
            "Candidate",
            "Model file",
            "Model SHA-256",
            "Backend(s)",
            "Status",
        ],
        &rows,
    );
    out.push_str("<h3>Machine and profiles</h3>\n");
    let mut rows: Vec<(&str, String)> = h
        .machine
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    rows.push((
        "Profiles",
        if h.profiles.is_empty() {
            "none".into()
        } else {
            h.profiles.join(", ")
        },
    ));
    kv(out, &rows);
}

fn summary(out: &mut String, v: &View) {
    out.push_str("<h2 id=\"summary\">Summary</h2>\n");
    let spec = v.spec_key.clone().unwrap_or_else(|| "n/a".into());
    let sens_header = format!("Sensitivity at specificity {spec}");
    let headers = [
        "Candidate",
        "Status",
        "AUROC [95% CI, DeLong]",
        sens_header.as_str(),
        "Brier",
        "ECE-10",
        "Calibration slope",
        "p99 latency (ms)",
        "Throughput (/s)",
    ];
    let rows: Vec<Vec<(String, bool)>> = v
        .summary
        .iter()
        .map(|s| {
            vec![
                t(s.name.clone()),
                t(s.status.clone()),
                n(s.auroc.clone()),
                n(s.sens_at_spec.clone()),
                n(s.brier.clone()),
                n(s.ece_10.clone()),
                n(s.slope.clone()),
                n(s.p99_ms.clone()),
                n(s.throughput.clone()),
            ]
        })
        .collect();
    table(out, "summary", &headers, &rows);
    out.push_str("<p>p99 latency: single-stream measurement where there is one; throughput: the highest measured. Details under Performance.</p>\n");
}

/// The metric rows of one model, shared with the Markdown writer.
pub(crate) fn metric_rows(m: &ModelReport) -> Vec<(String, String)> {
    let mut rows = vec![
        (
            "AUROC".to_string(),
            format!(
                "{}{}",
                num(m.auroc, 4),
                m.auroc_exact_fraction
                    .as_ref()
                    .map(|f| format!(" (= {f})"))
                    .unwrap_or_default()
            ),
        ),
        (
            "DeLong 95% CI".into(),
            match m.auroc_ci95_delong {
                Some([a, b]) => format!(
                    "[{a:.4}, {b:.4}]{}",
                    if m.auroc_ci95_delong_degenerate {
                        " (degenerate: variance 0)"
                    } else {
                        ""
                    }
                ),
                None => format!(
                    "n/a: {}",
                    m.auroc_ci95_delong_reason.as_deref().unwrap_or("undefined")
                ),
            },
        ),
    ];
    match &m.bootstrap {
        Some(Some(b)) => rows.push((
            "Bootstrap 95% CI".into(),
            format!(
                "[{:.4}, {:.4}] (B = {}, seed {}, stratified)",
                b.ci95[0], b.ci95[1], b.n, b.seed
            ),
        )),
        Some(None) => rows.push((
            "Bootstrap 95% CI".into(),
            format!(
                "n/a: {}",
                m.bootstrap_reason.as_deref().unwrap_or("undefined")
            ),
        )),
        None => {}
    }
    for (k, v) in &m.sens_at_spec {
        let step = m.sens_at_spec_step.get(k).copied().flatten();
        rows.push((
            format!("Sensitivity at specificity {k}"),
            format!("{} (conservative step value {})", num(*v, 4), num(step, 4)),
        ));
    }
    rows.push(("Average precision".into(), num(m.average_precision, 4)));
    rows.push(("Brier score".into(), num(m.brier, 4)));
    rows.push((
        "Log loss".into(),
        format!(
            "{}{}",
            num(m.log_loss, 4),
            if m.log_loss_n_clipped > 0 {
                format!(" ({} scores clipped)", m.log_loss_n_clipped)
            } else {
                String::new()
            }
        ),
    ));
    rows.push((
        "ECE-10 / ECE-15".into(),
        format!("{} / {}", num(m.ece_10, 4), num(m.ece_15, 4)),
    ));
    let cal = |x: Option<f64>| match x {
        Some(_) => num(x, 3),
        None => format!(
            "n/a: {}",
            m.calibration_reason.as_deref().unwrap_or("undefined")
        ),
    };
    rows.push((
        "Calibration slope (ideal 1)".into(),
        cal(m.calibration_slope),
    ));
    rows.push((
        "Calibration intercept (ideal 0)".into(),
        cal(m.calibration_intercept),
    ));
    rows.push((
        "Calibration-in-the-large".into(),
        match m.calibration_in_the_large {
            Some(x) => num(Some(x), 3),
            None => format!(
                "n/a: {}",
                m.calibration_in_the_large_reason
                    .as_deref()
                    .unwrap_or("undefined")
            ),
        },
    ));
    rows.push((
        "Rows used by the calibration fit".into(),
        format!("{} (scores strictly between 0 and 1)", m.calibration_n_used),
    ));
    rows
}

/// Fairness rows of one grouping column: level, n, positives, selection rate, TPR, FPR.
pub(crate) fn fairness_rows(
    f: &harness_metrics::evaluate::FairnessReport,
) -> Vec<Vec<(String, bool)>> {
    f.per_group
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
        .collect()
}

/// The disparity sentence under a fairness table.
pub(crate) fn fairness_sentence(
    column: &str,
    f: &harness_metrics::evaluate::FairnessReport,
) -> String {
    let gap = match (&f.auroc_gap, &f.auroc_gap_max_group, &f.auroc_gap_min_group) {
        (Some(g), Some(hi), Some(lo)) => format!("AUROC gap {g:.3} (highest {hi}, lowest {lo})"),
        _ => format!(
            "AUROC gap n/a{}",
            f.auroc_gap_reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    };
    format!(
        "By {column} at threshold {}: demographic parity difference {}, equalized odds difference {} (fairlearn's convention, which counts an undefined rate as 0: {}), {gap}.",
        f.threshold,
        num(f.demographic_parity_difference, 3),
        num(f.equalized_odds_difference, 3),
        num(f.equalized_odds_difference_fairlearn, 3),
    )
}

fn candidate_sections(out: &mut String, v: &View) {
    let input = v.input;
    for cv in &v.candidates {
        let c = cv.candidate;
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2>Candidate: {}</h2>",
            esc(&cv.anchor),
            esc(&c.name)
        );
        let _ = writeln!(
            out,
            "<p>Model file <code>{}</code>, SHA-256 <span class=\"hash\">{}</span>; backend(s): {}.</p>",
            esc(&c.model_file),
            esc(&c.model_sha256),
            esc(&if c.backends.is_empty() {
                "none".to_string()
            } else {
                c.backends.join(", ")
            })
        );
        let Some(m) = &c.metrics else {
            let _ = writeln!(
                out,
                "<p class=\"bad\">Status: {}{}. No metrics.</p>\n</section>",
                esc(c.status.as_str()),
                esc(&c
                    .reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default())
            );
            continue;
        };
        let rows: Vec<(String, String)> = metric_rows(m);
        out.push_str("<table class=\"kv\"><tbody>\n");
        for (k, val) in &rows {
            let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(val));
        }
        if let Some((k, val)) = operating_point_row(input, c) {
            let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&val));
        }
        out.push_str("</tbody></table>\n");
        for f in &cv.figures {
            figure(out, f);
        }
        for (column, f) in &m.fairness {
            let _ = writeln!(out, "<h3>Fairness by {}</h3>", esc(column));
            table(
                out,
                "fairness",
                &["Level", "n", "Positives", "Selection rate", "TPR", "FPR"],
                &fairness_rows(f),
            );
            let _ = writeln!(out, "<p>{}</p>", esc(&fairness_sentence(column, f)));
        }
        out.push_str("</section>\n");
    }
}

fn comparisons(out: &mut String, v: &View) {
    out.push_str("<h2 id=\"comparisons\">Comparisons</h2>\n");
    if v.comparisons.is_empty() {
        out.push_str("<p>Fewer than two candidates were evaluated: nothing to compare.</p>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p>Every pair of evaluated candidates, on the same cases, with the paired DeLong test (DeLong et al. 1988; pROC <code>roc.test</code>).{}</p>",
        if v.holm_applied {
            " With more than two candidates the p-values are adjusted for multiple comparisons by Holm's method (Holm 1979), and significance is judged on the adjusted p; the confidence intervals are not adjusted."
        } else {
            ""
        }
    );
    let mut headers = vec![
        "A",
        "B",
        "AUROC A",
        "AUROC B",
        "Difference A − B [95% CI]",
        "Z",
        "p",
    ];
    if v.holm_applied {
        headers.push("Holm-adjusted p");
    }
    let rows: Vec<Vec<(String, bool)>> = v
        .comparisons
        .iter()
        .map(|cv| {
            let c = &cv.comparison;
            let mut r = vec![
                t(c.a.clone()),
                t(c.b.clone()),
                n(num(c.auc_a, 3)),
                n(num(c.auc_b, 3)),
                n(with_ci(c.auc_diff, c.ci95_diff)),
                n(num(c.z, 2)),
                n(p_value(c.p)),
            ];
            if v.holm_applied {
                r.push(n(p_value(cv.p_holm)));
            }
            r
        })
        .collect();
    table(out, "comparisons", &headers, &rows);
    out.push_str("<ul class=\"sentences\">\n");
    for cv in &v.comparisons {
        let _ = writeln!(out, "<li>{}</li>", esc(&cv.sentence));
    }
    out.push_str("</ul>\n");
}

fn agreement(out: &mut String, v: &View) {
    let input = v.input;
    out.push_str("<h2 id=\"agreement\">Cross-backend agreement</h2>\n");
    if let Some(info) = &input.header.inference {
        let _ = writeln!(out, "<p>{}</p>", esc(&info.sentence()));
    }
    if input.agreement.is_empty() {
        out.push_str(
            "<p>No candidate ran on more than one backend: no agreement was measured.</p>\n",
        );
        return;
    }
    let tol = input.options.agreement_tolerance;
    let rows: Vec<Vec<(String, bool)>> = input
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
                t(if agree {
                    "agree".to_string()
                } else {
                    "DISAGREE".to_string()
                }),
            ]
        })
        .collect();
    table(
        out,
        "agreement",
        &[
            "Candidate",
            "Backend A",
            "Backend B",
            "Cases",
            "Max |score difference|",
            "Decisions that differ",
            "Verdict",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "<p>Backends agree when no score differs by more than {tol:e} and no decision at the threshold flips.</p>"
    );
}

fn performance(out: &mut String, v: &View) {
    let input = v.input;
    out.push_str("<h2 id=\"performance\">Performance</h2>\n");
    if input.performance.is_empty() {
        out.push_str("<p>No performance measurement was made.</p>\n");
    } else {
        for f in &v.performance_figures {
            figure(out, f);
        }
        let rows: Vec<Vec<(String, bool)>> = input
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
                    t(match &r.reason {
                        Some(why) => format!("{}: {why}", r.status.as_str()),
                        None => r.status.as_str().to_string(),
                    }),
                ]
            })
            .collect();
        table(
            out,
            "performance",
            &[
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
            ],
            &rows,
        );
        for c in &input.candidates {
            let rows = rows_of(input, c);
            if let (Some((p99, lr)), Some((tp, tr))) =
                (summary_latency(&rows), summary_throughput(&rows))
            {
                let _ = writeln!(
                    out,
                    "<p>{}: summary p99 latency {:.2} ms ({}); throughput {:.1}/s ({}).</p>",
                    esc(&c.name),
                    p99,
                    esc(&lr),
                    tp,
                    esc(&tr)
                );
            }
        }
    }
    if !input.profiles_not_measured.is_empty() {
        out.push_str("<h3>Profiles requested but not measured</h3>\n<ul>\n");
        for p in &input.profiles_not_measured {
            let _ = writeln!(
                out,
                "<li>{}{}</li>",
                esc(&p.profile),
                esc(&p
                    .reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default())
            );
        }
        out.push_str("</ul>\n");
    }
}

fn limits(out: &mut String, v: &View) {
    out.push_str("<h2 id=\"limits\">Limits of this evidence</h2>\n");
    if v.limits.is_empty() {
        out.push_str("<p>No limit was detected in the data beyond those of the methods themselves (see Methods).</p>\n");
    } else {
        out.push_str("<ul class=\"limits\">\n");
        for l in &v.limits {
            let _ = writeln!(
                out,
                "<li><span class=\"kind\">{}</span> {}</li>",
                esc(l.kind),
                esc(&l.text)
            );
        }
        out.push_str("</ul>\n");
    }
    let w = &v.input.evaluation.warnings;
    if !w.is_empty() {
        let _ = writeln!(
            out,
            "<h3>Warnings from the evaluation ({})</h3>\n<ul class=\"warnings\">",
            w.len()
        );
        for s in w {
            let _ = writeln!(out, "<li>{}</li>", esc(s));
        }
        out.push_str("</ul>\n");
    }
}

fn methods(out: &mut String, v: &View) {
    out.push_str("<h2 id=\"methods\">Methods</h2>\n<ul>\n");
    for i in methods_items(v) {
        let _ = writeln!(out, "<li>{}</li>", esc(&i));
    }
    out.push_str("</ul>\n");
}

/// The whole report as one self-contained HTML page.
pub fn html(v: &View) -> String {
    let input = v.input;
    let h = &input.header;
    let mut out = String::with_capacity(1 << 20);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n<meta name=\"figure-count\" content=\"{}\">\n<meta name=\"generator\" content=\"harness {}\">\n<title>{} {}: evaluation report</title>\n<style>{}</style>\n</head>\n<body>",
        v.drawn_figures(),
        esc(&h.tool.version),
        esc(&h.suite.name),
        esc(&h.suite.version),
        CSS
    );
    if h.dataset.synthetic {
        out.push_str("<div class=\"banner\" role=\"alert\">SYNTHETIC DATA<small>The data set is generated. These results show that the tooling works; they say nothing about clinical performance.</small></div>\n");
    }
    out.push_str("<main>\n");
    header(&mut out, input);
    out.push_str("<nav><h3>Contents</h3><ul>\n<li><a href=\"#summary\">Summary</a></li>\n");
    for cv in &v.candidates {
        let _ = writeln!(
            out,
            "<li><a href=\"#{}\">Candidate: {}</a></li>",
            esc(&cv.anchor),
            esc(&cv.candidate.name)
        );
    }
    out.push_str("<li><a href=\"#comparisons\">Comparisons</a></li>\n<li><a href=\"#agreement\">Cross-backend agreement</a></li>\n<li><a href=\"#performance\">Performance</a></li>\n<li><a href=\"#limits\">Limits of this evidence</a></li>\n<li><a href=\"#methods\">Methods</a></li>\n</ul></nav>\n");
    summary(&mut out, v);
    candidate_sections(&mut out, v);
    comparisons(&mut out, v);
    agreement(&mut out, v);
    performance(&mut out, v);
    limits(&mut out, v);
    methods(&mut out, v);
    let _ = writeln!(
        out,
        "<footer>Report of {} {} on {} ({}), harness {} (commit {}), {}.</footer>\n</main>\n</body>\n</html>",
        esc(&h.suite.name),
        esc(&h.suite.version),
        esc(&h.dataset.name),
        esc(&h.dataset.sha256),
        esc(&h.tool.version),
        esc(&h.tool.git_commit),
        esc(&h.date)
    );
    out
}
