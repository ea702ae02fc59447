//! The report computed once — figures, summary rows, comparisons, limits — and then written as
//! HTML and Markdown, so the two say the same thing.

use crate::figures;
use crate::format::{num, with_ci};
use crate::input::{Candidate, PerformanceRow, ReportInput, Status};
use crate::plot_data::{
    RocPlotData, candidate_rocs, classwise_reliability, finding_forest_rows, forest_rows,
    latency_plot_data, latency_quantile_data, reliability_data, roc_overlay_data,
    target_overlay_data, throughput_bars,
};
use crate::text::{ComparisonView, Limit, comparison_views, limits, operating_point_row, slug};
use harness_metrics::evaluate::{ModelReport, spec_key};
use harness_metrics::registry::{METRICS, Metric};

/// One figure: the file stem under `figures/`, its title and caption, and its SVG (or why it
/// could not be drawn).
#[derive(Clone, Debug)]
pub struct Figure {
    pub id: String,
    pub title: String,
    pub caption: String,
    pub svg: Result<String, String>,
}

impl Figure {
    pub fn file_name(&self) -> String {
        format!("{}.svg", self.id)
    }
}

/// One candidate's section.
pub struct CandidateView<'a> {
    pub candidate: &'a Candidate,
    /// Anchor id in the HTML.
    pub anchor: String,
    /// ROC, reliability and forest figures (empty for a failed candidate).
    pub figures: Vec<Figure>,
    /// Multi-label: each finding the candidate scores, reported as a binary model is.
    pub findings: Vec<FindingView<'a>>,
}

/// One finding of a multi-label candidate, with what a binary model's section shows: the
/// statistics (AUROC and its CIs, sensitivity at each target specificity, calibration, the
/// operating point), the reliability diagram, the subgroup forest and the fairness tables.
/// Its ROC curve is the finding's overlay of every candidate, under Findings.
pub struct FindingView<'a> {
    pub name: String,
    pub metrics: &'a ModelReport,
    /// The statistics table, as [`crate::tables::statistics_rows`] gives a binary model's.
    pub rows: Vec<(String, String)>,
    pub figures: Vec<Figure>,
}

/// The registry's metrics that the summary table shows after AUROC and the sensitivity, in
/// registry order.
pub fn summary_metrics() -> impl Iterator<Item = &'static Metric> {
    const KEYS: [&str; 3] = ["brier", "ece_10", "calibration_slope"];
    METRICS.iter().filter(|m| KEYS.contains(&m.key))
}

/// One line of the summary table (raw text).
pub struct SummaryRow {
    pub name: String,
    pub status: String,
    pub auroc: String,
    pub sens_at_spec: String,
    /// The values of [`summary_metrics`], in order.
    pub metrics: Vec<String>,
    pub p99_ms: String,
    pub throughput: String,
}

pub struct View<'a> {
    pub input: &'a ReportInput,
    pub candidates: Vec<CandidateView<'a>>,
    pub summary: Vec<SummaryRow>,
    /// Key of the first target specificity ("0.90").
    pub spec_key: Option<String>,
    /// The patient clustering of the CIs, when the cases are clustered: (patients, a sentence
    /// for the methods).
    pub patients: Option<u64>,
    pub comparisons: Vec<ComparisonView>,
    pub holm_applied: bool,
    /// The ROC overlay, when at least two candidates were compared.
    pub comparison_figures: Vec<Figure>,
    /// Multi-label or multi-class: one ROC overlay of the candidates per finding or class.
    pub target_figures: Vec<Figure>,
    /// Latency CDF, latency percentiles and throughput figures (absent without measurements).
    pub performance_figures: Vec<Figure>,
    pub limits: Vec<Limit>,
}

impl View<'_> {
    /// Every figure, in the order they appear: candidates, comparisons, performance.
    pub fn figures(&self) -> impl Iterator<Item = &Figure> {
        self.candidates
            .iter()
            .flat_map(|c| {
                c.figures
                    .iter()
                    .chain(c.findings.iter().flat_map(|f| f.figures.iter()))
            })
            .chain(self.target_figures.iter())
            .chain(self.comparison_figures.iter())
            .chain(self.performance_figures.iter())
    }

    /// Number of figures that were drawn (each is one inline `<svg>` in the HTML).
    pub fn drawn_figures(&self) -> usize {
        self.figures().filter(|f| f.svg.is_ok()).count()
    }
}

/// Performance rows of a candidate: those naming it, or all unnamed rows when there is a single
/// candidate.
pub fn rows_of<'a>(input: &'a ReportInput, c: &Candidate) -> Vec<&'a PerformanceRow> {
    let single = input.candidates.len() == 1;
    input
        .performance
        .iter()
        .filter(|r| r.candidate == c.name || (single && r.candidate.is_empty()))
        .collect()
}

/// The p99 latency shown in the summary: from the first ok single-stream row (LoadGen's latency
/// scenario) when there is one, else the first ok row with latencies; with its row's label.
pub fn summary_latency(rows: &[&PerformanceRow]) -> Option<(f64, String)> {
    let ok = || {
        rows.iter()
            .filter(|r| r.status == Status::Ok)
            .filter_map(|r| r.latency_ms.map(|l| (l.p99, *r)))
    };
    ok().find(|(_, r)| {
        r.scenario
            .to_ascii_lowercase()
            .replace(['-', '_', ' '], "")
            .contains("singlestream")
    })
    .or_else(|| ok().next())
    .filter(|(p99, _)| p99.is_finite())
    .map(|(p99, r)| (p99, format!("{}, {}, {}", r.backend, r.profile, r.scenario)))
}

/// The highest throughput of the ok rows, with its row's label.
pub fn summary_throughput(rows: &[&PerformanceRow]) -> Option<(f64, String)> {
    rows.iter()
        .filter(|r| r.status == Status::Ok)
        .filter_map(|r| {
            r.throughput_per_s
                .filter(|t| t.is_finite())
                .map(|t| (t, *r))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(t, r)| (t, format!("{}, {}, {}", r.backend, r.profile, r.scenario)))
}

/// The reliability diagram of one model (a candidate, or a candidate's finding).
fn reliability_figure(id: String, name: &str, m: &ModelReport) -> Figure {
    let rel = reliability_data(m);
    Figure {
        id,
        title: format!("Reliability diagram of {name}"),
        caption: format!(
            "Mean predicted probability against observed frequency in each of the 10 equal-width bins; bars: cases per bin. {}.{}",
            figures::caption_line(&rel),
            rel.calibration_reason
                .as_ref()
                .map(|r| format!(" Calibration fit: {r}."))
                .unwrap_or_default()
        ),
        svg: if rel.points.is_empty() {
            Err("no case to bin".to_string())
        } else {
            figures::reliability_svg(name, &rel)
        },
    }
}

/// The subgroup AUROC forest of one model; `None` without subgroups.
fn forest_figure(id: String, name: &str, m: &ModelReport) -> Option<Figure> {
    let rows = forest_rows(m);
    if rows.is_empty() {
        return None;
    }
    Some(Figure {
        id,
        title: format!("Subgroup AUROCs of {name}"),
        caption: format!(
            "Subgroup AUROC with {} 95% CI per level of each grouping column; the dashed line is the overall AUROC. Levels with one class have no AUROC (n/a).",
            auroc_ci_kind(m.clustered.is_some())
        ),
        svg: figures::forest_svg(
            name,
            "Subgroup AUROC (95% CI)",
            &rows,
            m.discrimination.auroc,
            "overall AUROC",
        ),
    })
}

/// Multi-label: each finding `c` scores, with its statistics and figures (none otherwise).
fn finding_views<'a>(input: &'a ReportInput, c: &Candidate, stem: &str) -> Vec<FindingView<'a>> {
    let Some(report) = &input.findings else {
        return Vec::new();
    };
    let threshold = input.evaluation.options.threshold;
    report
        .findings
        .iter()
        .enumerate()
        .filter_map(|(k, (finding, f))| {
            let m = f.models.get(&c.name)?;
            let name = format!("{}, {finding}", c.name);
            let fstem = format!("{stem}-{}-{}", k + 1, slug(finding));
            // The finding's labels and this candidate's scores for it, as the overlay draws them.
            let op = input
                .target_curves
                .iter()
                .find(|t| t.name == *finding)
                .and_then(|t| {
                    let (_, scores) = t.scores.iter().find(|(n, _)| *n == c.name)?;
                    operating_point_row(&t.labels, scores, threshold)
                });
            let mut figures = vec![reliability_figure(format!("reliability-{fstem}"), &name, m)];
            figures.extend(forest_figure(format!("forest-{fstem}"), &name, m));
            Some(FindingView {
                name: finding.clone(),
                metrics: m,
                rows: crate::tables::model_statistics_rows(m, op),
                figures,
            })
        })
        .collect()
}

pub fn build(input: &ReportInput) -> View<'_> {
    let threshold = input.evaluation.options.threshold;
    let spec = input
        .evaluation
        .options
        .target_specificities
        .first()
        .map(|&t| spec_key(t));
    let mut candidates = Vec::new();
    let mut summary = Vec::new();
    let rocs = candidate_rocs(input);
    for (i, c) in input.candidates.iter().enumerate() {
        let stem = format!("{}-{}", i + 1, slug(&c.name));
        let mut figs = Vec::new();
        if let Some(m) = &c.metrics {
            // The CI the report states elsewhere: patient-clustered where the cases are.
            let auroc_label = format!(
                "ROC curve, AUROC {}",
                with_ci(m.discrimination.auroc, m.auroc_ci95_reported())
            );
            let roc = match &rocs[i] {
                Some(roc) => roc.as_ref().map_err(String::clone),
                None => Err("not evaluated".to_string()),
            };
            let band_note = match &roc {
                Ok(d) => match &d.band {
                    Ok(_) => format!(
                        "The shaded band is the pointwise 95% stratified bootstrap interval of sensitivity at each specificity (B = {}, seed {}; pROC ci.se).",
                        input.options.roc_band_replicates, input.options.roc_band_seed
                    ),
                    Err(e) => format!("No bootstrap band: {e}."),
                },
                Err(_) => String::new(),
            };
            figs.push(Figure {
                id: format!("roc-{stem}"),
                title: format!("ROC curve of {}", c.name),
                caption: format!(
                    "Empirical ROC curve; AUROC with {} in the legend. {band_note} The marker is the operating point at threshold {threshold} (score ≥ threshold is positive).",
                    legend_ci(m.clustered.is_some())
                ),
                svg: roc.and_then(|d| figures::roc_svg(&c.name, d, &auroc_label)),
            });
            figs.push(reliability_figure(
                format!("reliability-{stem}"),
                &c.name,
                m,
            ));
            figs.extend(forest_figure(format!("forest-{stem}"), &c.name, m));
        }
        let macro_auroc = input.findings.as_ref().and_then(|r| {
            let s = r.models.get(&c.name)?;
            let rows = finding_forest_rows(r, &c.name);
            let clustered = r
                .findings
                .values()
                .filter_map(|f| f.models.get(&c.name))
                .any(|m| m.clustered.is_some());
            figs.push(Figure {
                id: format!("findings-{stem}"),
                title: format!("AUROC per finding of {}", c.name),
                caption: format!(
                    "AUROC with {} 95% CI for each finding the model scores; the dashed line is its macro AUROC (the mean over the findings with both classes). Findings with one class have no AUROC (n/a).",
                    auroc_ci_kind(clustered)
                ),
                svg: figures::forest_svg(
                    &c.name,
                    "AUROC per finding (95% CI)",
                    &rows,
                    s.auroc_macro,
                    "macro AUROC",
                ),
            });
            Some(s.auroc_macro)
        });
        let macro_auroc = macro_auroc.or_else(|| {
            let r = input.classes.as_ref()?;
            let m = r.models.get(&c.name)?;
            figs.push(Figure {
                id: format!("confusion-{stem}"),
                title: format!("Confusion matrix of {}", c.name),
                caption: "Cases by true class (rows) and argmax prediction (columns, the first class in class order on ties); shading is the share of the row, so the diagonal shows each class's sensitivity at argmax.".to_string(),
                svg: figures::confusion_svg(&c.name, &m.confusion_matrix.classes, &m.confusion_matrix.counts),
            });
            let classes = classwise_reliability(&input.target_curves, &c.name, |class| {
                m.classwise_ece_10_per_class.get(class).copied()
            });
            if !classes.is_empty() {
                figs.push(Figure {
                    id: format!("reliability-classwise-{stem}"),
                    title: format!("Classwise reliability of {}", c.name),
                    caption: format!(
                        "For each class, the mean predicted probability of that class against how often the case belongs to it, in each non-empty ECE-10 bin (marker area ∝ cases); on the diagonal a class's probabilities are calibrated. Classwise ECE-10 (mean over classes) = {}.",
                        num(Some(m.classwise_ece_10), 3)
                    ),
                    svg: figures::classwise_reliability_svg(&c.name, &classes),
                });
            }
            Some(m.auroc_macro)
        });
        let perf = rows_of(input, c);
        let lat = summary_latency(&perf);
        let thr = summary_throughput(&perf);
        let status = match &c.reason {
            Some(r) if c.status != Status::Ok => format!("{}: {r}", c.status.as_str()),
            _ => c.status.as_str().to_string(),
        };
        let m = c.metrics.as_ref();
        summary.push(SummaryRow {
            name: c.name.clone(),
            status,
            // Where cases are clustered by patient, the patient-clustered CI replaces DeLong's.
            auroc: match macro_auroc {
                Some(a) => num(a, 3),
                None => m.map_or("n/a".into(), |m| {
                    let ci = m.auroc_ci95_reported();
                    with_ci(m.discrimination.auroc, ci)
                }),
            },
            sens_at_spec: m
                .and_then(|m| {
                    spec.as_ref()
                        .and_then(|k| m.operating_points.sens_at_spec.get(k).copied().flatten())
                })
                .map_or("n/a".into(), |v| num(Some(v), 3)),
            metrics: summary_metrics()
                .map(|metric| num(m.and_then(|m| metric.value(m)), metric.digits))
                .collect(),
            p99_ms: lat.map_or("n/a".into(), |(v, _)| num(Some(v), 2)),
            throughput: thr.map_or("n/a".into(), |(v, _)| num(Some(v), 1)),
        });
        let findings = finding_views(input, c, &stem);
        candidates.push(CandidateView {
            candidate: c,
            anchor: format!("candidate-{stem}"),
            figures: figs,
            findings,
        });
    }
    // A multi-label task compares the candidates finding by finding; Holm's adjustment then
    // runs over every finding's comparisons together.
    let (comparisons, holm_applied) = match &input.findings {
        None => comparison_views(&input.evaluation.comparisons),
        Some(r) => {
            let tagged: Vec<(&String, &harness_metrics::evaluate::Comparison)> = r
                .findings
                .iter()
                .flat_map(|(f, fr)| fr.comparisons.iter().map(move |c| (f, c)))
                .collect();
            let plain: Vec<_> = tagged.iter().map(|(_, c)| (*c).clone()).collect();
            let (mut views, holm) = comparison_views(&plain);
            for (v, (f, _)) in views.iter_mut().zip(&tagged) {
                v.sentence = format!("{f}: {}", v.sentence);
                v.finding = Some((*f).clone());
            }
            (views, holm)
        }
    };
    let mut performance_figures = Vec::new();
    if let Some(d) = latency_plot_data(&input.performance) {
        performance_figures.push(Figure {
            id: "latency-cdf".into(),
            title: "Latency distribution".into(),
            caption: format!(
                "Empirical CDF of per-query latency, one panel per candidate and scenario (batch size), one line per engine × profile{}.",
                if d.log_x { " (log-scaled time axis)" } else { "" }
            ),
            svg: figures::latency_svg(&d),
        });
    }
    performance_figures.extend(latency_quantiles(input));
    let bars = throughput_bars(&input.performance);
    if !bars.is_empty() {
        performance_figures.push(Figure {
            id: "throughput".into(),
            title: "Throughput".into(),
            caption: "Queries per second of each measured backend × profile × scenario.".into(),
            svg: figures::throughput_svg(&bars),
        });
    }
    let comparison_figures = if comparisons.is_empty() {
        Vec::new()
    } else {
        roc_overlay(input, &rocs).into_iter().collect()
    };
    View {
        input,
        candidates,
        summary,
        spec_key: spec,
        patients: input
            .candidates
            .iter()
            .filter_map(|c| c.metrics.as_ref()?.clustered.as_ref())
            .map(|c| c.counts.n_clusters)
            .next(),
        comparisons,
        holm_applied,
        comparison_figures,
        target_figures: target_figures(input),
        performance_figures,
        limits: limits(input),
    }
}

/// One ROC overlay per finding (multi-label) or class against the rest (multi-class), each
/// curve labelled with the evaluation's AUROC and CI for it.
fn target_figures(input: &ReportInput) -> Vec<Figure> {
    input
        .target_curves
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (curves, what, ci) = if let Some(r) = &input.findings {
                let curves = target_overlay_data(t, Some(input.evaluation.options.threshold), |c| {
                    let m = r.findings.get(&t.name)?.models.get(c)?;
                    let ci = m.auroc_ci95_reported();
Some(with_ci(m.discrimination.auroc, ci))
                });
                let clustered = r
                    .findings
                    .get(&t.name)
                    .is_some_and(|f| f.models.values().any(|m| m.clustered.is_some()));
                (
                    curves,
                    "finding",
                    auroc_ci_kind(clustered),
                )
            } else {
                let curves = target_overlay_data(t, None, |c| {
                    let o = input.classes.as_ref()?.models.get(c)?.ovr.get(&t.name)?;
                    Some(with_ci(o.discrimination.auroc, o.auroc_ci95_reported()))
                });
                let clustered = input.classes.as_ref().is_some_and(|r| r.cluster.is_some());
                (
                    curves,
                    "class",
                    auroc_ci_kind(clustered),
                )
            };
            let title = if what == "class" {
                format!("ROC curves, class {} against the rest", t.name)
            } else {
                format!("ROC curves, finding {}", t.name)
            };
            Figure {
                id: format!("roc-{what}-{}-{}", i + 1, slug(&t.name)),
                title: title.clone(),
                caption: format!(
                    "Empirical ROC curve of every candidate that scores this {what}; AUROC with {ci} 95% CI in the legend.{}",
                    if what == "finding" {
                        format!(
                            " The markers are the operating points at threshold {} (score ≥ threshold is positive).",
                            input.evaluation.options.threshold
                        )
                    } else {
                        String::new()
                    }
                ),
                svg: if curves.is_empty() {
                    Err(format!("no candidate has a curve for this {what} (one class only)"))
                } else {
                    figures::roc_overlay_svg(&title, &curves)
                },
            }
        })
        .collect()
}

/// Which AUROC CIs a figure shows: patient-clustered where the cases are, else DeLong's.
fn auroc_ci_kind(clustered: bool) -> &'static str {
    if clustered {
        "patient-clustered (Obuchowski)"
    } else {
        "DeLong"
    }
}

/// Which 95 % CI a ROC legend shows: the one the report states everywhere else.
fn legend_ci(clustered: bool) -> &'static str {
    if clustered {
        "its patient-clustered 95% CI (Obuchowski; the image-level DeLong CI is too narrow when patients have several images)"
    } else {
        "DeLong 95% CI"
    }
}

/// The ROC overlay of the candidates that have a curve (two or more, with comparisons).
fn roc_overlay(
    input: &ReportInput,
    rocs: &[Option<Result<RocPlotData, String>>],
) -> Option<Figure> {
    let curves = roc_overlay_data(input, rocs);
    if curves.len() < 2 {
        return None;
    }
    Some(Figure {
        id: "roc-overlay".into(),
        title: "ROC curves of all candidates".into(),
        caption: format!(
            "Empirical ROC curves of the evaluated candidates on the same {} cases, one colour per candidate; AUROC with {} in the legend. Dots: each candidate's operating point at threshold {} (score ≥ threshold is positive). The bootstrap bands are in each candidate's section.",
            input.labels.len(),
            legend_ci(
                input
                    .candidates
                    .iter()
                    .any(|c| c.metrics.as_ref().is_some_and(|m| m.clustered.is_some()))
            ),
            input.evaluation.options.threshold
        ),
        svg: figures::roc_overlay_svg("ROC curves of the candidates", &curves),
    })
}

/// The dot plot of p50, p90 and p99 latency per configuration.
fn latency_quantiles(input: &ReportInput) -> Option<Figure> {
    let d = latency_quantile_data(&input.performance)?;
    let es = d.rows.iter().any(|r| r.early_stopping.is_some());
    Some(Figure {
        id: "latency-quantiles".into(),
        title: "Latency percentiles".into(),
        caption: format!(
            "Median (p50), p90 and p99 of per-query latency of each measured configuration, one row each, grouped by candidate{}.{}",
            if d.axis.log {
                " (log-scaled time axis)"
            } else {
                ""
            },
            if es {
                " Open diamonds: MLPerf LoadGen's early-stopping estimate of the tail percentile (p90 single-stream, p99 server) at 99% confidence."
            } else {
                ""
            }
        ),
        svg: figures::latency_quantiles_svg(&d),
    })
}

/// The "Methods" paragraph: what each number is, with its reference.
pub fn methods_items(v: &View) -> Vec<String> {
    let o = &v.input.evaluation.options;
    let mut items = vec![
        "AUROC as the Mann–Whitney statistic; its 95% CI and the paired comparisons by DeLong's method (DeLong, DeLong & Clarke-Pearson 1988), as R pROC.".to_string(),
        format!(
            "Sensitivity at specificity as pROC coords (linear interpolation between ROC points), with the conservative step value; decision threshold {} (score ≥ threshold is positive).",
            o.threshold
        ),
        format!(
            "ROC band: pointwise 95% stratified percentile bootstrap of sensitivity at specificities 0 to 1 (pROC ci.se; Carpenter & Bithell 2000), B = {}, seed {}.",
            v.input.options.roc_band_replicates, v.input.options.roc_band_seed
        ),
        "Calibration: Brier score, log loss, ECE with 10 and 15 equal-width bins (Naeini et al. 2015), and the converged logistic recalibration slope and intercept (Van Calster et al. 2016).".to_string(),
        "Fairness at the threshold: selection rate, TPR and FPR per group; demographic parity and equalized odds differences (Hardt, Price & Srebro 2016), as fairlearn.".to_string(),
        "Multiple comparisons: Holm's step-down adjustment (Holm 1979) when more than two candidates are compared.".to_string(),
    ];
    if let Some(n) = v.patients {
        items.push(format!(
            "Patients: the cases come from {n} patients (the dataset's patient column), some with several images; the AUROC CIs of the summary and the paired comparisons are patient-clustered (Obuchowski 1997), wider than DeLong's image-level ones where images of one patient are correlated. metrics.json holds both."
        ));
    }
    items
}
