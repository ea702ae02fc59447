//! summary.md: the content of report.html as Markdown tables and sentences, with links to the
//! figures' SVG files under `figures/`.

use crate::format::{escape_markdown as esc, with_reason};
use crate::input::Status;
use crate::tables::{
    Table, agreement_note, agreement_table, backends, candidates_table, comparisons_table,
    dataset_rows, fairness_sentence, fairness_table, machine_rows, performance_table,
    statistics_rows, summary_table,
};
use crate::text::comparisons_intro;
use crate::view::View;
use crate::view::{Figure, methods_items};
use harness_metrics::evaluate::ModelReport;
use std::fmt::Write;

fn row<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    let _ = writeln!(
        out,
        "| {} |",
        cells.map(esc).collect::<Vec<_>>().join(" | ")
    );
}

fn table(out: &mut String, table: &Table) {
    row(out, table.headers.iter().map(String::as_str));
    let _ = writeln!(out, "|{}", "---|".repeat(table.headers.len()));
    for r in &table.rows {
        row(out, r.iter().map(|c| c.text.as_str()));
    }
    out.push('\n');
}

/// Key/value rows as a two-column table with these headers.
fn kv(out: &mut String, headers: [&str; 2], rows: &[(String, String)]) {
    row(out, headers.into_iter());
    out.push_str("|---|---|\n");
    for (k, v) in rows {
        row(out, [k.as_str(), v.as_str()].into_iter());
    }
    out.push('\n');
}

/// A single model's statistics table, figures and fairness tables (a binary candidate, or one
/// finding of a multi-label one), the fairness headings at `heading` ("###").
fn model_body(
    out: &mut String,
    rows: &[(String, String)],
    figures: &[Figure],
    m: &ModelReport,
    heading: &str,
) {
    kv(out, ["Statistic", "Value"], rows);
    for f in figures {
        figure(out, f);
    }
    for (column, f) in &m.fairness {
        let _ = writeln!(out, "{heading} Fairness by {}\n", esc(column));
        table(out, &fairness_table(f));
        let _ = writeln!(out, "{}\n", esc(&fairness_sentence(column, f)));
    }
}

fn figure(out: &mut String, f: &Figure) {
    match &f.svg {
        // File names are slugs (ASCII letters, digits, '-'): safe in a link as they are.
        Ok(_) => {
            let _ = writeln!(
                out,
                "![{}](figures/{})\n\n*{}.* {}\n",
                esc(&f.title),
                f.file_name(),
                esc(&f.title),
                esc(&f.caption)
            );
        }
        Err(why) => {
            let _ = writeln!(out, "*{}: not drawn: {}*\n", esc(&f.title), esc(why));
        }
    }
}

/// The whole report as Markdown.
pub fn markdown(v: &View) -> String {
    let input = v.input;
    let h = &input.header;
    let d = &h.dataset;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} {}: evaluation report\n",
        esc(&h.suite.name),
        esc(&h.suite.version)
    );
    if d.synthetic {
        out.push_str("> **SYNTHETIC DATA.** The data set is generated. These results show that the tooling works; they say nothing about clinical performance.\n\n");
    }
    let _ = writeln!(
        out,
        "Generated on {} by harness {} (commit `{}`).\n",
        esc(&h.date),
        esc(&h.tool.version),
        esc(&h.tool.git_commit)
    );
    out.push_str("## Data set\n\n");
    kv(&mut out, ["Field", "Value"], &dataset_rows(input));
    out.push_str("## Candidates\n\n");
    table(&mut out, &candidates_table(input));
    out.push_str("## Machine and profiles\n\n");
    kv(&mut out, ["Key", "Value"], &machine_rows(h));

    if let Some((passed, sentence, t)) = crate::tables::acceptance_section(input) {
        let sentence = esc(&sentence);
        let _ = writeln!(
            out,
            "## Acceptance criteria\n\n{}\n",
            if passed {
                sentence
            } else {
                format!("**{sentence}**")
            }
        );
        table(&mut out, &t);
    }
    if let Some((intro, t)) = crate::tables::sites_section(input) {
        let _ = writeln!(out, "## Sites and what left them\n\n{}\n", esc(&intro));
        table(&mut out, &t);
    }
    out.push_str("## Summary\n\n");
    table(&mut out, &summary_table(v));
    if let Some(section) = crate::tables::task_section(v) {
        let _ = writeln!(out, "## {}\n\n{}\n", section.title, esc(&section.intro));
        for t in &section.tables {
            table(&mut out, t);
        }
        for f in &v.target_figures {
            figure(&mut out, f);
        }
        if let Some((intro, t)) = &section.comparisons {
            let _ = writeln!(out, "{}\n", esc(intro));
            table(&mut out, t);
        }
    }

    for cv in &v.candidates {
        let c = cv.candidate;
        let _ = writeln!(out, "## Candidate: {}\n", esc(&c.name));
        let _ = writeln!(
            out,
            "Model file `{}`, SHA-256 `{}`; backend(s): {}.\n",
            c.model_file.replace('`', "'"),
            c.model_sha256.replace('`', "'"),
            esc(&backends(c))
        );
        let Some(m) = &c.metrics else {
            if (input.findings.is_some() || input.classes.is_some()) && c.status == Status::Ok {
                out.push_str(if input.classes.is_some() {
                    "Class by class: see Classes.\n\n"
                } else {
                    "Each finding the model scores is reported below as a single model is; the findings' ROC curves are under Findings, their paired tests under Comparisons.\n\n"
                });
                for f in &cv.figures {
                    figure(&mut out, f);
                }
                for fv in &cv.findings {
                    let _ = writeln!(out, "### Finding: {}\n", esc(&fv.name));
                    model_body(&mut out, &fv.rows, &fv.figures, fv.metrics, "####");
                }
                continue;
            }
            let _ = writeln!(
                out,
                "**Status: {}.** No metrics.\n",
                esc(&with_reason(c.status.as_str(), c.reason.as_deref()))
            );
            continue;
        };
        model_body(
            &mut out,
            &statistics_rows(input, c, m),
            &cv.figures,
            m,
            "###",
        );
    }

    out.push_str("## Comparisons\n\n");
    if input.classes.is_some() {
        out.push_str("The macro AUROCs are compared under Classes.\n\n");
    } else if v.comparisons.is_empty() {
        out.push_str("Fewer than two candidates were evaluated: nothing to compare.\n\n");
    } else {
        out.push_str(&esc(&comparisons_intro(&v.comparisons, v.holm_applied)));
        out.push_str("\n\n");
        table(&mut out, &comparisons_table(v));
        for cv in &v.comparisons {
            let _ = writeln!(out, "- {}", esc(&cv.sentence));
        }
        out.push('\n');
        for f in &v.comparison_figures {
            figure(&mut out, f);
        }
    }

    out.push_str("## Cross-backend agreement\n\n");
    if let Some(info) = &input.header.inference {
        let _ = writeln!(out, "{}\n", esc(&info.sentence()));
    }
    if input.agreement.is_empty() {
        out.push_str("No candidate ran on more than one backend: no agreement was measured.\n\n");
    } else {
        table(&mut out, &agreement_table(input));
        let _ = writeln!(out, "{}\n", esc(&agreement_note(input)));
    }

    out.push_str("## Performance\n\n");
    if input.performance.is_empty() {
        out.push_str("No performance measurement was made.\n\n");
    } else {
        for f in &v.performance_figures {
            figure(&mut out, f);
        }
        table(&mut out, &performance_table(input));
    }
    if !input.profiles_not_measured.is_empty() {
        out.push_str("### Profiles requested but not measured\n\n");
        for p in &input.profiles_not_measured {
            let _ = writeln!(
                out,
                "- {}",
                esc(&with_reason(&p.profile, p.reason.as_deref()))
            );
        }
        out.push('\n');
    }

    out.push_str("## Limits of this evidence\n\n");
    if v.limits.is_empty() {
        out.push_str("No limit was detected in the data beyond those of the methods themselves (see Methods).\n\n");
    } else {
        for l in &v.limits {
            let _ = writeln!(out, "- **{}**: {}", l.kind, esc(&l.text));
        }
        out.push('\n');
    }
    let w = &input.evaluation.warnings;
    if !w.is_empty() {
        let _ = writeln!(out, "### Warnings from the evaluation ({})\n", w.len());
        for s in w {
            let _ = writeln!(out, "- {}", esc(s));
        }
        out.push('\n');
    }
    out.push_str("## Methods\n\n");
    for i in methods_items(v) {
        let _ = writeln!(out, "- {}", esc(&i));
    }
    out
}
