//! summary.md: the content of report.html as Markdown tables and sentences, with links to the
//! figures' SVG files under `figures/`.

use crate::html::{fairness_rows, fairness_sentence, metric_rows};
use crate::input::Status;
use crate::text::{md_escape as esc, num, operating_point_row, p_value, sci, with_ci};
use crate::view::{Figure, View, methods_items};
use std::fmt::Write;

fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(
        out,
        "| {} |",
        headers
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
    for r in rows {
        let _ = writeln!(
            out,
            "| {} |",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    out.push('\n');
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
    let positives = input.labels.iter().filter(|&&y| y).count();
    let mut rows = vec![
        vec!["Name".to_string(), d.name.clone()],
        vec!["SHA-256".into(), d.sha256.clone()],
        vec!["Licence".into(), d.licence.clone()],
        vec![
            "Cases".into(),
            format!(
                "{} ({} positives, {} negatives)",
                d.cases,
                positives,
                input.labels.len() - positives
            ),
        ],
    ];
    if let Some(b) = d.bytes {
        rows.push(vec!["Size".into(), format!("{b} bytes")]);
    }
    rows.push(vec![
        "Synthetic".into(),
        if d.synthetic {
            "YES: generated data".into()
        } else {
            "no".into()
        },
    ]);
    table(&mut out, &["Field", "Value"], &rows);
    out.push_str("## Candidates\n\n");
    let rows: Vec<Vec<String>> = input
        .candidates
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.model_file.clone(),
                c.model_sha256.clone(),
                c.backends.join(", "),
                match &c.reason {
                    Some(r) if c.status != Status::Ok => format!("{}: {r}", c.status.as_str()),
                    _ => c.status.as_str().to_string(),
                },
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "Candidate",
            "Model file",
            "Model SHA-256",
            "Backend(s)",
            "Status",
        ],
        &rows,
    );
    out.push_str("## Machine and profiles\n\n");
    let mut rows: Vec<Vec<String>> = h
        .machine
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    rows.push(vec![
        "Profiles".into(),
        if h.profiles.is_empty() {
            "none".into()
        } else {
            h.profiles.join(", ")
        },
    ]);
    table(&mut out, &["Key", "Value"], &rows);

    out.push_str("## Summary\n\n");
    let sens_header = format!(
        "Sensitivity at specificity {}",
        v.spec_key.clone().unwrap_or_else(|| "n/a".into())
    );
    let rows: Vec<Vec<String>> = v
        .summary
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.status.clone(),
                s.auroc.clone(),
                s.sens_at_spec.clone(),
                s.brier.clone(),
                s.ece_10.clone(),
                s.slope.clone(),
                s.p99_ms.clone(),
                s.throughput.clone(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "Candidate",
            "Status",
            "AUROC [95% CI, DeLong]",
            &sens_header,
            "Brier",
            "ECE-10",
            "Calibration slope",
            "p99 latency (ms)",
            "Throughput (/s)",
        ],
        &rows,
    );

    for cv in &v.candidates {
        let c = cv.candidate;
        let _ = writeln!(out, "## Candidate: {}\n", esc(&c.name));
        let _ = writeln!(
            out,
            "Model file `{}`, SHA-256 `{}`; backend(s): {}.\n",
            c.model_file.replace('`', "'"),
            c.model_sha256.replace('`', "'"),
            esc(&if c.backends.is_empty() {
                "none".to_string()
            } else {
                c.backends.join(", ")
            })
        );
        let Some(m) = &c.metrics else {
            let _ = writeln!(
                out,
                "**Status: {}{}.** No metrics.\n",
                esc(c.status.as_str()),
                esc(&c
                    .reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default())
            );
            continue;
        };
        let mut rows: Vec<Vec<String>> = metric_rows(m)
            .into_iter()
            .map(|(k, v)| vec![k, v])
            .collect();
        if let Some((k, v)) = operating_point_row(input, c) {
            rows.push(vec![k, v]);
        }
        table(&mut out, &["Statistic", "Value"], &rows);
        for f in &cv.figures {
            figure(&mut out, f);
        }
        for (column, f) in &m.fairness {
            let _ = writeln!(out, "### Fairness by {}\n", esc(column));
            let rows: Vec<Vec<String>> = fairness_rows(f)
                .into_iter()
                .map(|r| r.into_iter().map(|c| c.0).collect())
                .collect();
            table(
                &mut out,
                &["Level", "n", "Positives", "Selection rate", "TPR", "FPR"],
                &rows,
            );
            let _ = writeln!(out, "{}\n", esc(&fairness_sentence(column, f)));
        }
    }

    out.push_str("## Comparisons\n\n");
    if v.comparisons.is_empty() {
        out.push_str("Fewer than two candidates were evaluated: nothing to compare.\n\n");
    } else {
        out.push_str("Every pair of evaluated candidates, on the same cases, with the paired DeLong test (DeLong et al. 1988; pROC `roc.test`).");
        if v.holm_applied {
            out.push_str(" With more than two candidates the p-values are adjusted by Holm's method (Holm 1979), and significance is judged on the adjusted p; the confidence intervals are not adjusted.");
        }
        out.push_str("\n\n");
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
        let rows: Vec<Vec<String>> = v
            .comparisons
            .iter()
            .map(|cv| {
                let c = &cv.comparison;
                let mut r = vec![
                    c.a.clone(),
                    c.b.clone(),
                    num(c.auc_a, 3),
                    num(c.auc_b, 3),
                    with_ci(c.auc_diff, c.ci95_diff),
                    num(c.z, 2),
                    p_value(c.p),
                ];
                if v.holm_applied {
                    r.push(p_value(cv.p_holm));
                }
                r
            })
            .collect();
        table(&mut out, &headers, &rows);
        for cv in &v.comparisons {
            let _ = writeln!(out, "- {}", esc(&cv.sentence));
        }
        out.push('\n');
    }

    out.push_str("## Cross-backend agreement\n\n");
    if let Some(info) = &input.header.inference {
        let _ = writeln!(out, "{}\n", esc(&info.sentence()));
    }
    if input.agreement.is_empty() {
        out.push_str("No candidate ran on more than one backend: no agreement was measured.\n\n");
    } else {
        let tol = input.options.agreement_tolerance;
        let rows: Vec<Vec<String>> = input
            .agreement
            .iter()
            .map(|a| {
                let agree = a.max_abs_diff <= tol && a.decision_disagreements == 0;
                vec![
                    a.candidate.clone(),
                    a.a.clone(),
                    a.b.clone(),
                    a.n.to_string(),
                    sci(a.max_abs_diff),
                    a.decision_disagreements.to_string(),
                    if agree {
                        "agree".into()
                    } else {
                        "DISAGREE".into()
                    },
                ]
            })
            .collect();
        table(
            &mut out,
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
            "Backends agree when no score differs by more than {tol:e} and no decision at the threshold flips.\n"
        );
    }

    out.push_str("## Performance\n\n");
    if input.performance.is_empty() {
        out.push_str("No performance measurement was made.\n\n");
    } else {
        for f in &v.performance_figures {
            figure(&mut out, f);
        }
        let rows: Vec<Vec<String>> = input
            .performance
            .iter()
            .map(|r| {
                let l = r.latency_ms;
                vec![
                    r.candidate.clone(),
                    r.backend.clone(),
                    r.profile.clone(),
                    r.scenario.clone(),
                    r.batch_size.to_string(),
                    r.threads.to_string(),
                    num(r.throughput_per_s, 1),
                    num(l.map(|l| l.p50), 2),
                    num(l.map(|l| l.p90), 2),
                    num(l.map(|l| l.p95), 2),
                    num(l.map(|l| l.p99), 2),
                    num(l.map(|l| l.max), 2),
                    match &r.reason {
                        Some(why) => format!("{}: {why}", r.status.as_str()),
                        None => r.status.as_str().to_string(),
                    },
                ]
            })
            .collect();
        table(
            &mut out,
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
    }
    if !input.profiles_not_measured.is_empty() {
        out.push_str("### Profiles requested but not measured\n\n");
        for p in &input.profiles_not_measured {
            let _ = writeln!(
                out,
                "- {}{}",
                esc(&p.profile),
                esc(&p
                    .reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default())
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
