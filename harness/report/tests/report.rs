//! The whole report of a synthetic evaluation (seeded data, `harness_metrics::evaluate`):
//! figures, self-containment, sentences, Holm, limits, escaping, and the files written.

mod common;

use common::{FAILED_NAME, MARKUP_NAME, synthetic_input};
use harness_metrics::multiple::holm;
use harness_report::{ReportError, ReportInput, render, write_report};

const N: usize = 600;
/// Small band for speed; the demo uses pROC's 2000.
const B: usize = 300;

/// Checks that every opened tag is closed in order (void HTML elements and `<…/>` excepted) and
/// returns the tag names seen. Enough to catch a truncated or interleaved SVG/HTML.
fn balanced(doc: &str) -> Result<Vec<String>, String> {
    const VOID: [&str; 4] = ["meta", "br", "hr", "img"];
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>').ok_or("unterminated tag")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .ok_or_else(|| format!("</{name}> closes nothing"))?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if name.is_empty() {
            return Err(format!("bad tag <{tag}>"));
        }
        seen.push(name.clone());
        if !tag.ends_with('/') && !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    if stack.is_empty() {
        Ok(seen)
    } else {
        Err(format!("unclosed: {stack:?}"))
    }
}

fn figure_count_meta(html: &str) -> usize {
    let key = "<meta name=\"figure-count\" content=\"";
    let start = html.find(key).expect("figure-count meta") + key.len();
    html[start..].split('"').next().unwrap().parse().unwrap()
}

/// The text of the "Limits of this evidence" section.
fn limits_section(html: &str) -> &str {
    let start = html.find("id=\"limits\"").expect("limits section");
    let end = html[start..].find("id=\"methods\"").unwrap() + start;
    &html[start..end]
}

#[test]
fn every_figure_is_inline_and_nothing_is_fetched() {
    let input = synthetic_input(3, N, B);
    let html = render(&input).html;
    // 3 evaluated candidates × (ROC, reliability, forest) + ROC overlay + latency CDF, latency
    // percentiles and throughput.
    assert_eq!(html.matches("<svg").count(), 13);
    assert_eq!(figure_count_meta(&html), 13);
    assert_eq!(html.matches("</svg>").count(), 13);
    for f in [
        "roc-1-vendor-a",
        "reliability-2-vendor-b",
        "forest-3-vendor-c-b-beta-b",
        "roc-overlay",
        "latency-cdf",
        "latency-quantiles",
        "throughput",
    ] {
        assert!(html.contains(&format!("id=\"fig-{f}\"")), "{f}");
    }
    assert!(!html.to_ascii_lowercase().contains("<script"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "a URL in the page"
    );
    assert!(!html.contains("src=") && !html.contains("@import") && !html.contains("url("));
    assert!(html.contains("default-src 'none'"));
    for text in [&html, &render(&input).markdown] {
        assert!(
            !text.contains("NaN") && !text.contains("inf "),
            "NaN or inf in the output"
        );
    }
    balanced(&html).unwrap();
}

#[test]
fn figures_are_well_formed_svg_without_nan() {
    let input = synthetic_input(3, N, B);
    let figures = render(&input).figures;
    assert_eq!(figures.len(), 13);
    for f in &figures {
        let svg = f.svg.as_ref().unwrap_or_else(|e| panic!("{}: {e}", f.id));
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{}",
            f.id
        );
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{}", f.id);
        let tags = balanced(svg).unwrap_or_else(|e| panic!("{}: {e}", f.id));
        assert!(tags.iter().any(|t| t == "text"), "{}: no text", f.id);
    }
    // The ROC figure has its band (a filled polygon), its curve and the operating point.
    let roc = figures[0].svg.as_ref().unwrap();
    assert!(roc.contains("<polygon") && roc.contains("<polyline") && roc.contains("<circle"));
    assert!(roc.contains("pointwise 95% bootstrap band (B = 300)"));
    assert!(roc.contains("sens 0.") && roc.contains("spec 0."));
    // Forest: the one-class level is shown as n/a with its reason.
    let forest = figures[2].svg.as_ref().unwrap();
    assert!(
        forest.contains("site = E (n = 8, 0 pos.)")
            && forest.contains("n/a: only one class present"),
        "{forest}"
    );
}

#[test]
fn comparisons_read_in_plain_language_with_holm() {
    let input = synthetic_input(3, N, B);
    let cmp = &input.evaluation.comparisons;
    assert_eq!(cmp.len(), 3);
    // The data were built so that a vs b differ clearly and a vs c do not.
    let p = |a: &str, b: &str| {
        cmp.iter()
            .find(|c| c.a == a && c.b.starts_with(b))
            .unwrap()
            .p
            .unwrap()
    };
    assert!(p("vendor-a", "vendor-b") < 1e-4);
    assert!(p("vendor-a", "vendor-c") > 0.2);
    let html = render(&input).html;
    assert!(html.contains("<th>Holm-adjusted p</th>"));
    assert!(html.contains(
        "vendor-a&#39;s AUROC is higher than vendor-b&#39;s by 0.162 (95% CI 0.132 to 0.192); the difference is statistically significant at the 5 % level (Holm-adjusted p &lt; 0.001)."
    ));
    let not_sig =
        "the difference is not statistically significant at the 5 % level (Holm-adjusted p = ";
    let i = html.find(not_sig).expect("a non-significant pair");
    assert!(
        html[..i]
            .rfind("<li>")
            .map(|s| html[s..i].contains("vendor-c &lt;b&gt;beta&lt;/b&gt;"))
            .unwrap()
    );
    assert!(html[i..].split("</li>").next().unwrap().ends_with(
        "this does not show that they perform alike: a larger study may still find a difference."
    ));
    // The adjusted p-values shown are Holm's of the raw ones.
    let raw: Vec<Option<f64>> = cmp.iter().map(|c| c.p).collect();
    let adjusted = holm(&raw);
    let ac = adjusted[1].unwrap();
    // a vs c has the largest p: its multiplier is 1, and the other two are far smaller.
    assert_eq!(
        ac,
        raw[1]
            .unwrap()
            .max(2.0 * raw[2].unwrap())
            .max(3.0 * raw[0].unwrap())
    );
    let b_vs_c = adjusted[2].unwrap();
    assert!(b_vs_c > raw[2].unwrap() && b_vs_c < 0.001, "{b_vs_c}");
    assert!(
        html.contains(&format!("(Holm-adjusted p = {ac:.3})")),
        "{ac}"
    );
    let md = render(&input).markdown;
    assert!(md.contains("| Holm-adjusted p |"));
    assert!(md.contains(&format!(
        "(Holm-adjusted p = {ac:.3}); this does not show that they perform alike: a larger study may still find a difference."
    )));
}

#[test]
fn two_candidates_get_no_holm_adjustment() {
    let input = synthetic_input(2, N, B);
    assert_eq!(input.evaluation.comparisons.len(), 1);
    let html = render(&input).html;
    assert!(!html.contains("Holm-adjusted p"));
    assert!(html.contains("is statistically significant at the 5 % level (p &lt; 0.001)."));
    assert_eq!(html.matches("<svg").count(), 2 * 3 + 4);
}

#[test]
fn limits_come_from_the_data() {
    let input = synthetic_input(3, N, B);
    let html = render(&input).html;
    let limits = limits_section(&html);
    for expected in [
        "The data set synthetic-cxr is synthetic",
        &format!("Candidate {FAILED_NAME} failed: candle: unsupported operator NonMaxSuppression."),
        "Subgroup site = D is small: 20 cases, 3 positives",
        "Subgroup site = E has only one class (0 positives, 8 negatives)",
        "vendor-a: subgroup site = D has AUROC 1.000 with a degenerate DeLong CI",
        "Backends ort-cpu and tract disagree on vendor-b: max |score difference| = 2.4e-3 (tolerance 1e-4), 2 of 600 decisions differ",
        "vendor-a · ort-cuda · gpu · offline · batch 32 · 1 thread was unavailable: no CUDA device on this machine.",
        "Profile gpu-fp16 was requested but not measured: no GPU on this machine.",
        "Warnings from the evaluation",
    ] {
        assert!(
            limits.contains(expected),
            "missing limit: {expected}\n{limits}"
        );
    }
    // vendor-a's backends agree: not a limit.
    assert!(!limits.contains("disagree on vendor-a"));
    // Subgroups large enough are not listed.
    assert!(!limits.contains("site = A"));
    assert!(html.contains("<div class=\"banner\" role=\"alert\">SYNTHETIC DATA"));
    let md = render(&input).markdown;
    assert!(md.contains("**SYNTHETIC DATA.**") && md.contains("Subgroup site = D is small"));
}

#[test]
fn user_strings_are_escaped() {
    let input = synthetic_input(3, N, B);
    let html = render(&input).html;
    assert!(!html.contains(MARKUP_NAME), "raw markup from a model name");
    assert!(html.contains("vendor-c &lt;b&gt;beta&lt;/b&gt;"));
    // In the figures too (plotters escapes SVG text).
    let roc = &render(&input).figures[6];
    assert!(
        roc.svg
            .as_ref()
            .unwrap()
            .contains("ROC curve: vendor-c &lt;b&gt;beta&lt;/b&gt;")
    );
    let md = render(&input).markdown;
    assert!(!md.contains(MARKUP_NAME) && md.contains("vendor-c &lt;b&gt;beta&lt;/b&gt;"));
}

#[test]
fn input_round_trips_through_json() {
    let input = synthetic_input(3, 200, 50);
    let json = serde_json::to_string(&input).unwrap();
    let back: ReportInput = serde_json::from_str(&json).unwrap();
    assert_eq!(render(&back).html, render(&input).html);
}

#[test]
fn write_report_writes_every_file_atomically() {
    let input = synthetic_input(3, 300, 100);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle/report");
    let paths = write_report(&input, &out).unwrap();
    assert_eq!(paths.len(), 13 + 2);
    assert_eq!(paths.last().unwrap(), &out.join("report.html"));
    assert!(paths.contains(&out.join("summary.md")));
    for p in &paths {
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{}", p.display());
    }
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for p in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
    {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(
            md.contains(&format!("](figures/{name})")),
            "summary.md does not link {name}"
        );
        let svg = std::fs::read_to_string(p).unwrap();
        assert!(
            svg.contains("xmlns=\"http://www.w3.org/2000/svg\""),
            "a standalone SVG needs its namespace"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".report-"))
        .collect();
    assert!(leftovers.is_empty());
    // Written again over itself: same files.
    assert_eq!(write_report(&input, &out).unwrap(), paths);
}

#[test]
fn mismatched_scores_are_an_error_naming_the_candidate() {
    let mut input = synthetic_input(2, 100, 20);
    input.candidates[1].scores.pop();
    let dir = tempfile::tempdir().unwrap();
    match write_report(&input, dir.path()) {
        Err(ReportError::Invalid(msg)) => assert!(
            msg.contains("vendor-b") && msg.contains("99 scores for 100 labels"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    // Rendering does not panic: the ROC figure says why it is missing.
    let html = render(&input).html;
    assert!(html.contains("not drawn: 99 scores for 100 labels"));
    assert_eq!(html.matches("<svg").count(), figure_count_meta(&html));
}

#[test]
fn separation_and_degenerate_cis_are_limits() {
    let mut input = synthetic_input(2, 200, 20);
    let m = input.candidates[1].metrics.as_mut().unwrap();
    m.calibration.calibration_mle_exists = false;
    m.calibration.calibration_slope = None;
    m.calibration.calibration_intercept = None;
    m.calibration.calibration_reason = Some("the classes are separated by the score".into());
    m.discrimination.auroc_ci95_delong_degenerate = true;
    let html = render(&input).html;
    let limits = limits_section(&html);
    assert!(limits.contains("vendor-b: calibration slope and intercept are not reported: the classes are separated by the score."), "{limits}");
    assert!(
        limits.contains("vendor-b: the AUROC is")
            && limits.contains("the CI is a single point; that is not certainty."),
        "{limits}"
    );
    assert!(!limits.contains("vendor-a: calibration slope"));
    assert!(
        !limits.contains("normal approximation"),
        "enough cases: {limits}"
    );
    // The reliability caption and the metric table say n/a with the reason, never a number.
    assert!(html.contains(
        "Calibration slope (ideal 1)</th><td>n/a: the classes are separated by the score</td>"
    ));
}

/// The equalized odds difference is given once; fairlearn's figure beside it only where it
/// differs (a group with an undefined rate, which fairlearn counts as 0).
#[test]
fn fairlearn_equalized_odds_is_shown_where_it_differs() {
    let mut input = synthetic_input(1, 200, 20);
    let m = input.candidates[0].metrics.as_mut().unwrap();
    let (column, f) = m.fairness.first_mut().map(|(c, f)| (c.clone(), f)).unwrap();
    f.equalized_odds_difference = Some(0.25);
    f.equalized_odds_difference_fairlearn = Some(0.25);
    let sentence = |input: &ReportInput| {
        let md = render(input).markdown;
        md.lines()
            .find(|l| l.starts_with(&format!("By {column} at threshold")))
            .unwrap()
            .to_string()
    };
    let line = sentence(&input);
    assert!(
        line.contains("equalized odds difference 0.250, AUROC gap"),
        "{line}"
    );
    let m = input.candidates[0].metrics.as_mut().unwrap();
    m.fairness[&column].equalized_odds_difference_fairlearn = Some(0.5);
    let line = sentence(&input);
    assert!(
        line.contains("equalized odds difference 0.250 (fairlearn's convention, which counts an undefined rate as 0: 0.500), AUROC gap"),
        "{line}"
    );
}

/// A binary evaluation with fewer than 10 cases of a class says its DeLong figures rest on an
/// approximation that is unreliable at that size.
#[test]
fn few_cases_of_a_class_are_a_limit() {
    let mut input = synthetic_input(1, 200, 20);
    let positives: Vec<usize> = (0..input.labels.len())
        .filter(|&i| input.labels[i])
        .collect();
    for &i in &positives[6..] {
        input.labels[i] = false;
    }
    let negatives = input.labels.len() - 6;
    let html = render(&input).html;
    let limits = limits_section(&html);
    assert!(
        limits.contains(&format!(
            "The evaluation has 6 positive and {negatives} negative cases. With fewer than 10 cases in a class, the DeLong CIs"
        )),
        "{limits}"
    );
}

/// Each candidate's statistics table ends with its operating point at the threshold, counted
/// from the labels and scores, in the same words in the HTML and the Markdown.
#[test]
fn operating_point_rows_count_the_confusion_matrix() {
    let input = synthetic_input(3, N, B);
    let th = input.evaluation.options.threshold;
    let (html, md) = (render(&input).html, render(&input).markdown);
    let evaluated: Vec<_> = input
        .candidates
        .iter()
        .filter(|c| c.metrics.is_some())
        .collect();
    assert_eq!(evaluated.len(), 3);
    for c in evaluated {
        let (mut tp, mut pos, mut tn, mut neg) = (0, 0, 0, 0);
        for (&y, &s) in input.labels.iter().zip(&c.scores) {
            if y {
                pos += 1;
                tp += usize::from(s >= th);
            } else {
                neg += 1;
                tn += usize::from(s < th);
            }
        }
        let text = format!("({tp} of {pos} positives)");
        assert!(
            html.contains(&text) && md.contains(&text),
            "{}: {text}",
            c.name
        );
        let text = format!("({tn} of {neg} negatives)");
        assert!(
            html.contains(&text) && md.contains(&text),
            "{}: {text}",
            c.name
        );
    }
    assert_eq!(
        html.matches(&format!("Operating point at threshold {th}"))
            .count(),
        3
    );
    assert_eq!(
        md.matches(&format!("Operating point at threshold {th}"))
            .count(),
        3
    );
}

/// The comparison section shows all candidates' ROC curves in one panel, each with its AUROC in
/// the legend; the latency figures are small multiples and a dot plot of the percentiles.
#[test]
fn comparison_and_latency_figures_for_a_committee() {
    let input = synthetic_input(3, N, B);
    let (html, md) = (render(&input).html, render(&input).markdown);
    let section = |text: &str, from: &str, to: &str| {
        let start = text.find(from).unwrap();
        text[start..start + text[start..].find(to).unwrap()].to_string()
    };
    let comparisons = section(&html, "id=\"comparisons\"", "id=\"agreement\"");
    assert!(comparisons.contains("<figure id=\"fig-roc-overlay\""));
    let md_comparisons = section(&md, "## Comparisons", "## Cross-backend agreement");
    assert!(md_comparisons.contains("](figures/roc-overlay.svg)"));
    let figures = render(&input).figures;
    let svg = |id: &str| {
        figures
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no figure {id}"))
            .svg
            .clone()
            .unwrap()
    };
    let overlay = svg("roc-overlay");
    for c in input.candidates.iter().filter(|c| c.metrics.is_some()) {
        let m = c.metrics.as_ref().unwrap();
        let legend = format!(
            "{}: AUROC {}",
            harness_report::format::escape_html(&c.name),
            harness_report::format::with_ci(
                m.discrimination.auroc,
                m.discrimination.auroc_ci95_delong
            )
        );
        assert!(overlay.contains(&legend), "{legend}");
    }
    // Three curves in the first three Okabe–Ito colours (curve and legend swatch each).
    for colour in ["#0072B2", "#E69F00", "#009E73"] {
        assert_eq!(
            overlay.matches(&format!("stroke=\"{colour}\"")).count(),
            2,
            "{colour}"
        );
    }

    // One panel per candidate (one scenario and batch size here), its two engines in the same
    // two colours in every panel, named once in the shared legend.
    let cdf = svg("latency-cdf");
    for c in ["vendor-a", "vendor-b", "vendor-c &lt;b&gt;beta&lt;/b&gt;"] {
        assert!(
            cdf.contains(&format!("{c} · single-stream · batch 1")),
            "{c}"
        );
    }
    for key in [
        "ort-cpu · cpu-4threads · 4 threads",
        "tract · cpu-4threads · 4 threads",
    ] {
        assert_eq!(cdf.matches(key).count(), 1, "{key}");
    }
    let dots = svg("latency-quantiles");
    assert!(dots.contains("p50 (median)") && dots.contains("p99"));
    assert_eq!(
        dots.matches("tract · cpu-4threads · single-stream · batch 1 · 4 threads")
            .count(),
        3
    );
    assert!(html.contains("<figure id=\"fig-latency-quantiles\""));
    assert!(md.contains("](figures/latency-quantiles.svg)"));

    // One candidate: nothing to compare, no overlay.
    let one = synthetic_input(1, N, B);
    let html = render(&one).html;
    assert!(!html.contains("roc-overlay"));
    assert_eq!(html.matches("<svg").count(), figure_count_meta(&html));
}
