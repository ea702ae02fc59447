//! The self-contained report.html: inline CSS and inline SVG, no script, nothing fetched from
//! anywhere (a Content-Security-Policy of `default-src 'none'` says so to the browser too).

use crate::format::{escape_html as esc, fixed, with_reason};
use crate::input::ReportInput;
use crate::input::Status;
use crate::tables::{
    self, Table, agreement_note, agreement_table, backends, candidates_table, comparisons_table,
    dataset_rows, fairness_sentence, fairness_table, machine_rows, performance_table,
    statistics_rows, summary_table,
};
use crate::text::comparisons_intro;
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

fn table(out: &mut String, table: &Table) {
    let _ = write!(out, "<table class=\"{}\"><thead><tr>", table.class);
    for h in &table.headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in &table.rows {
        out.push_str("<tr>");
        for cell in r {
            // Cells are raw text; numbers are right-aligned.
            let _ = write!(
                out,
                "<td{}>{}</td>",
                if cell.numeric { " class=\"num\"" } else { "" },
                esc(&cell.text)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn kv(out: &mut String, rows: &[(String, String)]) {
    out.push_str("<table class=\"kv\"><tbody>\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    out.push_str("</tbody></table>\n");
}

fn header(out: &mut String, input: &ReportInput) {
    let h = &input.header;
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
    kv(out, &dataset_rows(input));
    out.push_str("<h3>Candidates</h3>\n");
    table(out, &candidates_table(input));
    out.push_str("<h3>Machine and profiles</h3>\n");
    kv(out, &machine_rows(h));
}

/// The acceptance gate's verdicts, first after the header: what a committee or a CI reader
/// looks for first.
fn acceptance(out: &mut String, v: &View) {
    let Some((passed, sentence, t)) = tables::acceptance_section(v.input) else {
        return;
    };
    let _ = writeln!(
        out,
        "<h2 id=\"acceptance\">Acceptance criteria</h2>\n<p class=\"{}\">{}</p>",
        if passed { "ok" } else { "bad" },
        esc(&sentence)
    );
    table(out, &t);
}

/// A federated evaluation's sites and what left each.
fn sites(out: &mut String, v: &View) {
    let Some((intro, t)) = tables::sites_section(v.input) else {
        return;
    };
    let _ = writeln!(
        out,
        "<h2 id=\"sites\">Sites and what left them</h2>\n<p>{}</p>",
        esc(&intro)
    );
    table(out, &t);
}

fn summary(out: &mut String, v: &View) {
    out.push_str("<h2 id=\"summary\">Summary</h2>\n");
    table(out, &summary_table(v));
    out.push_str("<p>p99 latency: single-stream measurement where there is one; throughput: the highest measured. Details under Performance.</p>\n");
}

/// A multi-label task's Findings or a multi-class task's Classes section.
fn task_section(out: &mut String, v: &View) {
    let Some(section) = tables::task_section(v) else {
        return;
    };
    let _ = writeln!(
        out,
        "<h2 id=\"{}\">{}</h2>\n<p>{}</p>",
        section.id,
        esc(section.title),
        esc(&section.intro)
    );
    for t in &section.tables {
        table(out, t);
    }
    for f in &v.target_figures {
        figure(out, f);
    }
    if let Some((intro, t)) = &section.comparisons {
        let _ = writeln!(out, "<p>{}</p>", esc(intro));
        table(out, t);
    }
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
            esc(&backends(c))
        );
        let Some(m) = &c.metrics else {
            if (v.input.findings.is_some() || v.input.classes.is_some()) && c.status == Status::Ok {
                out.push_str(if v.input.classes.is_some() {
                    "<p>Class by class: see <a href=\"#classes\">Classes</a>.</p>\n"
                } else {
                    "<p>Each finding the model scores is reported below as a single model is; the findings' ROC curves are under <a href=\"#findings\">Findings</a>, their paired tests under <a href=\"#comparisons\">Comparisons</a>.</p>\n"
                });
                for f in &cv.figures {
                    figure(out, f);
                }
                for fv in &cv.findings {
                    let _ = writeln!(out, "<h3>Finding: {}</h3>", esc(&fv.name));
                    model_body(out, &fv.rows, &fv.figures, fv.metrics, "h4");
                }
                out.push_str("</section>\n");
                continue;
            }
            let _ = writeln!(
                out,
                "<p class=\"bad\">Status: {}. No metrics.</p>\n</section>",
                esc(&with_reason(c.status.as_str(), c.reason.as_deref()))
            );
            continue;
        };
        model_body(out, &statistics_rows(input, c, m), &cv.figures, m, "h3");
        out.push_str("</section>\n");
    }
}

/// A single model's statistics table, figures and fairness tables (a binary candidate, or one
/// finding of a multi-label one), the fairness headings as `heading` elements ("h3").
fn model_body(
    out: &mut String,
    rows: &[(String, String)],
    figures: &[Figure],
    m: &ModelReport,
    heading: &str,
) {
    kv(out, rows);
    for f in figures {
        figure(out, f);
    }
    for (column, f) in &m.fairness {
        let _ = writeln!(out, "<{heading}>Fairness by {}</{heading}>", esc(column));
        table(out, &fairness_table(f));
        let _ = writeln!(out, "<p>{}</p>", esc(&fairness_sentence(column, f)));
    }
}

fn comparisons(out: &mut String, v: &View) {
    out.push_str("<h2 id=\"comparisons\">Comparisons</h2>\n");
    if v.input.classes.is_some() {
        out.push_str(
            "<p>The macro AUROCs are compared under <a href=\"#classes\">Classes</a>.</p>\n",
        );
        return;
    }
    if v.comparisons.is_empty() {
        out.push_str("<p>Fewer than two candidates were evaluated: nothing to compare.</p>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p>{}</p>",
        esc(&comparisons_intro(&v.comparisons, v.holm_applied))
    );
    table(out, &comparisons_table(v));
    out.push_str("<ul class=\"sentences\">\n");
    for cv in &v.comparisons {
        let _ = writeln!(out, "<li>{}</li>", esc(&cv.sentence));
    }
    out.push_str("</ul>\n");
    for f in &v.comparison_figures {
        figure(out, f);
    }
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
    table(out, &agreement_table(input));
    let _ = writeln!(out, "<p>{}</p>", esc(&agreement_note(input)));
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
        table(out, &performance_table(input));
        for c in &input.candidates {
            let rows = rows_of(input, c);
            if let (Some((p99, lr)), Some((tp, tr))) =
                (summary_latency(&rows), summary_throughput(&rows))
            {
                let _ = writeln!(
                    out,
                    "<p>{}: summary p99 latency {} ms ({}); throughput {}/s ({}).</p>",
                    esc(&c.name),
                    fixed(p99, 2),
                    esc(&lr),
                    fixed(tp, 1),
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
                "<li>{}</li>",
                esc(&with_reason(&p.profile, p.reason.as_deref()))
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
    out.push_str("<nav><h3>Contents</h3><ul>\n");
    if !input.acceptance.is_empty() || !input.acceptance_criteria.is_empty() {
        out.push_str("<li><a href=\"#acceptance\">Acceptance criteria</a></li>\n");
    }
    if !input.sites.is_empty() {
        out.push_str("<li><a href=\"#sites\">Sites and what left them</a></li>\n");
    }
    out.push_str("<li><a href=\"#summary\">Summary</a></li>\n");
    if input.findings.is_some() {
        out.push_str("<li><a href=\"#findings\">Findings</a></li>\n");
    }
    if input.classes.is_some() {
        out.push_str("<li><a href=\"#classes\">Classes</a></li>\n");
    }
    for cv in &v.candidates {
        let _ = writeln!(
            out,
            "<li><a href=\"#{}\">Candidate: {}</a></li>",
            esc(&cv.anchor),
            esc(&cv.candidate.name)
        );
    }
    out.push_str("<li><a href=\"#comparisons\">Comparisons</a></li>\n<li><a href=\"#agreement\">Cross-backend agreement</a></li>\n<li><a href=\"#performance\">Performance</a></li>\n<li><a href=\"#limits\">Limits of this evidence</a></li>\n<li><a href=\"#methods\">Methods</a></li>\n</ul></nav>\n");
    acceptance(&mut out, v);
    sites(&mut out, v);
    summary(&mut out, v);
    task_section(&mut out, v);
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
