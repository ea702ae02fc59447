//! The numbers behind every figure, computed in plain functions so they can be tested without
//! looking at pixels.

use crate::input::{PerformanceRow, ReportOptions, Status};
use harness_metrics::Ranked;
use harness_metrics::evaluate::ModelReport;
use harness_metrics::roc::roc_curve;
use harness_metrics::roc_band::{roc_band, specificity_grid};
use serde::Serialize;

/// The operating point of a model at a decision threshold: predicted positive iff
/// score ≥ threshold (the fairness convention of `shared/spec/metrics.md`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub threshold: f64,
    pub sensitivity: f64,
    pub specificity: f64,
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

/// Sensitivity and specificity at `threshold`; `None` when a class is absent or the lengths
/// differ.
pub fn operating_point(labels: &[bool], scores: &[f64], threshold: f64) -> Option<OperatingPoint> {
    if labels.len() != scores.len() {
        return None;
    }
    let (mut tp, mut fp, mut tn, mut fn_) = (0u64, 0u64, 0u64, 0u64);
    for (&y, &s) in labels.iter().zip(scores) {
        match (y, s >= threshold) {
            (true, true) => tp += 1,
            (true, false) => fn_ += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
        }
    }
    if tp + fn_ == 0 || tn + fp == 0 {
        return None;
    }
    Some(OperatingPoint {
        threshold,
        sensitivity: tp as f64 / (tp + fn_) as f64,
        specificity: tn as f64 / (tn + fp) as f64,
        tp,
        fp,
        tn,
        fn_,
    })
}

/// The band at one false-positive rate, in plot coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BandSegment {
    /// 1 − specificity.
    pub fpr: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Everything the ROC figure draws.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RocPlotData {
    /// (1 − specificity, sensitivity), from (1, 1) to (0, 0), thinned to plot resolution.
    pub curve: Vec<(f64, f64)>,
    /// Pointwise 95 % stratified bootstrap band, ascending in FPR; `Err` says why it is missing.
    pub band: Result<Vec<BandSegment>, String>,
    pub band_replicates: usize,
    pub operating_point: Option<OperatingPoint>,
}

/// Points closer than this (in both coordinates) to the last kept point are dropped: 1/1000 of
/// the axis is below the resolution of a 500-pixel figure.
pub const CURVE_RESOLUTION: f64 = 1e-3;

/// Drops curve points within [`CURVE_RESOLUTION`] of the previous kept point (Chebyshev
/// distance), keeping the first and the last: a million-case curve stays a few kB of SVG and
/// moves by less than a pixel.
pub fn thin_curve(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, &p) in points.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(&q) => {
                i + 1 == points.len()
                    || (p.0 - q.0).abs().max((p.1 - q.1).abs()) >= CURVE_RESOLUTION
            }
        };
        if keep {
            out.push(p);
        }
    }
    out
}

/// The ROC curve (pROC's empirical curve, [`roc_curve`]), its pointwise bootstrap band
/// ([`roc_band`], pROC `ci.se`) and the operating point at `threshold`.
///
/// Errors when the scores do not match the labels or are not probabilities, or when a class is
/// absent (no curve exists).
pub fn roc_plot_data(
    labels: &[bool],
    scores: &[f64],
    threshold: f64,
    opts: &ReportOptions,
) -> Result<RocPlotData, String> {
    if labels.len() != scores.len() {
        return Err(format!(
            "{} scores for {} labels",
            scores.len(),
            labels.len()
        ));
    }
    if let Some((i, s)) = scores
        .iter()
        .enumerate()
        .find(|(_, s)| !(0.0..=1.0).contains(*s))
    {
        return Err(format!(
            "score of case {i} is {s}, not a probability in [0, 1]"
        ));
    }
    let ranked = Ranked::new(labels, scores);
    if ranked.m == 0 || ranked.n == 0 {
        return Err(harness_metrics::one_class_reason(ranked.m, ranked.n));
    }
    let curve: Vec<(f64, f64)> = roc_curve(&ranked.groups)
        .iter()
        .map(|p| (1.0 - p.specificity, p.sensitivity))
        .collect();
    let band = roc_band(
        &ranked,
        &specificity_grid(opts.roc_band_steps),
        opts.roc_band_replicates,
        opts.roc_band_seed,
    )
    .map(|b| {
        let mut seg: Vec<BandSegment> = b
            .points
            .iter()
            .map(|p| BandSegment {
                fpr: 1.0 - p.specificity,
                lower: p.lower,
                upper: p.upper,
            })
            .collect();
        seg.reverse();
        seg
    });
    Ok(RocPlotData {
        curve: thin_curve(&curve),
        band,
        band_replicates: opts.roc_band_replicates,
        operating_point: operating_point(labels, scores, threshold),
    })
}

/// One non-empty bin of the reliability diagram.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ReliabilityPoint {
    pub bin: usize,
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
    /// Mean predicted probability in the bin (x).
    pub mean_score: f64,
    /// Observed frequency of positives in the bin (y).
    pub mean_label: f64,
}

/// Everything the reliability diagram draws.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReliabilityData {
    /// Non-empty ECE-10 bins, ascending.
    pub points: Vec<ReliabilityPoint>,
    /// Count of every bin (empty ones too), for the strip under the diagram: (lo, hi, n).
    pub counts: Vec<(f64, f64, usize)>,
    pub ece_10: Option<f64>,
    pub slope: Option<f64>,
    pub intercept: Option<f64>,
    /// Why slope and intercept are missing (e.g. separation: the MLE does not exist).
    pub calibration_reason: Option<String>,
}

/// The ECE-10 bins of `shared/spec/metrics.md` (Naeini et al. 2015; Guo et al. 2017) with the
/// logistic recalibration slope and intercept (Van Calster et al. 2016), from the model report.
pub fn reliability_data(m: &ModelReport) -> ReliabilityData {
    let points = m
        .ece_10_bins
        .iter()
        .filter_map(|b| match (b.mean_score, b.mean_label) {
            (Some(s), Some(l)) if b.n > 0 && s.is_finite() && l.is_finite() => {
                Some(ReliabilityPoint {
                    bin: b.bin,
                    lo: b.lo,
                    hi: b.hi,
                    n: b.n,
                    mean_score: s,
                    mean_label: l,
                })
            }
            _ => None,
        })
        .collect();
    ReliabilityData {
        points,
        counts: m.ece_10_bins.iter().map(|b| (b.lo, b.hi, b.n)).collect(),
        ece_10: m.ece_10,
        slope: m.calibration_slope,
        intercept: m.calibration_intercept,
        calibration_reason: m.calibration_reason.clone(),
    }
}

/// One row of the forest plot: a level of a grouping column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForestRow {
    pub column: String,
    pub level: String,
    pub n: u64,
    pub positives: u64,
    pub auroc: Option<f64>,
    /// DeLong 95 % CI.
    pub ci95: Option<[f64; 2]>,
    /// Why the AUROC or its CI is missing.
    pub note: Option<String>,
}

impl ForestRow {
    /// "column = level (n = N, P pos.)".
    pub fn label(&self) -> String {
        format!(
            "{} = {} (n = {}, {} pos.)",
            self.column, self.level, self.n, self.positives
        )
    }
}

/// One row per level of each grouping column, in the report's order (columns as evaluated,
/// levels sorted), with the subgroup AUROC and DeLong CI of `shared/spec/metrics.md`.
pub fn forest_rows(m: &ModelReport) -> Vec<ForestRow> {
    m.subgroups
        .iter()
        .flat_map(|(column, levels)| {
            levels.iter().map(move |(level, s)| ForestRow {
                column: column.clone(),
                level: level.clone(),
                n: s.n,
                positives: s.positives,
                auroc: s.auroc,
                ci95: s.ci95,
                note: s.reason.clone(),
            })
        })
        .collect()
}

/// A short label of a performance row: "candidate · backend · profile · scenario · batch N ·
/// T threads".
pub fn performance_label(r: &PerformanceRow) -> String {
    let mut parts = Vec::new();
    if !r.candidate.is_empty() {
        parts.push(r.candidate.clone());
    }
    parts.push(r.backend.clone());
    parts.push(r.profile.clone());
    parts.push(r.scenario.clone());
    parts.push(format!("batch {}", r.batch_size));
    parts.push(format!(
        "{} thread{}",
        r.threads,
        if r.threads == 1 { "" } else { "s" }
    ));
    parts.join(" · ")
}

/// One line of the latency CDF figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CdfSeries {
    pub label: String,
    /// (ms, fraction), ascending in ms, finite, ms > 0 when the axis is logarithmic.
    pub points: Vec<(f64, f64)>,
}

/// The latency CDF figure: one series per measured row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyPlotData {
    pub series: Vec<CdfSeries>,
    /// True when latencies span more than 20× (e.g. GPU and CPU on one chart): the x axis is
    /// then log10(ms).
    pub log_x: bool,
    /// Range of ms over all series.
    pub min_ms: f64,
    pub max_ms: f64,
}

/// Latency CDFs of the ok rows that have one; `None` when there is none. Non-finite or
/// negative points are dropped (they cannot come from a clock).
pub fn latency_plot_data(rows: &[PerformanceRow]) -> Option<LatencyPlotData> {
    let mut series: Vec<CdfSeries> = rows
        .iter()
        .filter(|r| r.status == Status::Ok)
        .map(|r| {
            let mut points: Vec<(f64, f64)> = r
                .latency_cdf
                .iter()
                .filter(|p| {
                    p[0].is_finite()
                        && p[1].is_finite()
                        && p[0] >= 0.0
                        && (0.0..=1.0).contains(&p[1])
                })
                .map(|p| (p[0], p[1]))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
            CdfSeries {
                label: performance_label(r),
                points,
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return None;
    }
    let all = || series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let max_ms = all().fold(0.0f64, f64::max);
    let min_positive = all().filter(|&x| x > 0.0).fold(f64::INFINITY, f64::min);
    let log_x = min_positive.is_finite() && max_ms / min_positive > 20.0;
    if log_x {
        for s in &mut series {
            s.points.retain(|p| p.0 > 0.0);
        }
    }
    let min_ms = if log_x { min_positive } else { 0.0 };
    let max_ms = if max_ms > 0.0 { max_ms } else { 1.0 };
    // A CDF of 100 000 queries would be 100 000 SVG points: thin it at plot resolution, in the
    // coordinates it is drawn in.
    let x = |ms: f64| {
        if log_x {
            (ms / min_ms).ln() / (max_ms / min_ms).ln().max(f64::MIN_POSITIVE)
        } else {
            ms / max_ms
        }
    };
    for s in &mut series {
        let scaled: Vec<(f64, f64)> = s.points.iter().map(|&(ms, f)| (x(ms), f)).collect();
        let kept = thin_curve(&scaled);
        let mut k = 0;
        s.points.retain(|&(ms, f)| {
            let keep = k < kept.len() && kept[k] == (x(ms), f);
            if keep {
                k += 1;
            }
            keep
        });
    }
    Some(LatencyPlotData {
        series,
        log_x,
        min_ms,
        max_ms,
    })
}

/// One bar of the throughput chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThroughputBar {
    pub label: String,
    pub per_s: f64,
}

/// Throughput of the ok rows that measured one (finite, ≥ 0), in input order.
pub fn throughput_bars(rows: &[PerformanceRow]) -> Vec<ThroughputBar> {
    rows.iter()
        .filter(|r| r.status == Status::Ok)
        .filter_map(|r| {
            r.throughput_per_s
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(|t| ThroughputBar {
                    label: performance_label(r),
                    per_s: t,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::LatencyMs;
    use harness_metrics::evaluate::{EvalInput, EvalOptions, Grouping, evaluate};

    fn model(labels: &[bool], scores: &[f64], levels: &[String], codes: &[u32]) -> ModelReport {
        let input = EvalInput {
            labels,
            models: vec![("m", scores)],
            groupings: vec![Grouping {
                name: "site",
                levels,
                codes,
            }],
        };
        evaluate(&input, &EvalOptions::default()).models["m"].clone()
    }

    #[test]
    fn operating_point_counts_score_at_threshold_as_positive() {
        let labels = [true, true, true, false, false, false, false];
        let scores = [0.9, 0.5, 0.2, 0.5, 0.4, 0.1, 0.7];
        let op = operating_point(&labels, &scores, 0.5).unwrap();
        assert_eq!((op.tp, op.fn_, op.fp, op.tn), (2, 1, 2, 2));
        assert_eq!((op.sensitivity, op.specificity), (2.0 / 3.0, 0.5));
        assert!(operating_point(&[true, true], &[0.1, 0.2], 0.5).is_none());
        assert!(operating_point(&[true, false], &[0.1], 0.5).is_none());
    }

    #[test]
    fn thin_curve_keeps_ends_and_drops_only_close_points() {
        let pts: Vec<(f64, f64)> = (0..=10_000)
            .map(|i| (1.0 - i as f64 / 10_000.0, 1.0 - i as f64 / 10_000.0))
            .collect();
        let thin = thin_curve(&pts);
        assert_eq!(thin.first(), pts.first());
        assert_eq!(thin.last(), pts.last());
        assert!(thin.len() < 1_100 && thin.len() > 900, "{}", thin.len());
        for w in thin.windows(2).take(thin.len() - 2) {
            let gap = (w[0].0 - w[1].0).abs().max((w[0].1 - w[1].1).abs());
            assert!(
                (CURVE_RESOLUTION - 1e-12..2.0 * CURVE_RESOLUTION).contains(&gap),
                "{gap}"
            );
        }
        // A short curve is left as it is.
        let short = vec![(1.0, 1.0), (0.5, 0.9), (0.0, 0.0)];
        assert_eq!(thin_curve(&short), short);
    }

    #[test]
    fn roc_plot_data_curve_band_and_point() {
        let labels: Vec<bool> = (0..60).map(|i| i % 3 == 0).collect();
        let scores: Vec<f64> = (0..60)
            .map(|i| {
                if i % 3 == 0 {
                    0.3 + (i % 7) as f64 / 10.0
                } else {
                    (i % 9) as f64 / 10.0
                }
            })
            .collect();
        let opts = ReportOptions {
            roc_band_replicates: 200,
            roc_band_steps: 20,
            ..ReportOptions::default()
        };
        let d = roc_plot_data(&labels, &scores, 0.5, &opts).unwrap();
        assert_eq!(d.curve.first(), Some(&(1.0, 1.0)));
        assert_eq!(d.curve.last(), Some(&(0.0, 0.0)));
        // The curve never goes back: FPR and sensitivity fall together along increasing threshold.
        for w in d.curve.windows(2) {
            assert!(w[1].0 <= w[0].0 && w[1].1 <= w[0].1, "{w:?}");
        }
        let band = d.band.as_ref().unwrap();
        assert_eq!(band.len(), 21);
        assert_eq!((band[0].fpr, band[20].fpr), (0.0, 1.0));
        assert_eq!((band[20].lower, band[20].upper), (1.0, 1.0));
        for s in band {
            assert!(
                s.lower <= s.upper
                    && (0.0..=1.0).contains(&s.lower)
                    && (0.0..=1.0).contains(&s.upper),
                "{s:?}"
            );
        }
        assert_eq!(d.operating_point, operating_point(&labels, &scores, 0.5));
    }

    #[test]
    fn roc_plot_data_refuses_bad_input() {
        let opts = ReportOptions::default();
        assert!(
            roc_plot_data(&[true, false], &[0.5], 0.5, &opts)
                .unwrap_err()
                .contains("1 scores for 2 labels")
        );
        assert!(
            roc_plot_data(&[true, false], &[0.5, f64::NAN], 0.5, &opts)
                .unwrap_err()
                .contains("case 1")
        );
        assert!(
            roc_plot_data(&[true, false], &[0.5, 1.5], 0.5, &opts)
                .unwrap_err()
                .contains("1.5")
        );
        assert!(
            roc_plot_data(&[true, true], &[0.5, 0.6], 0.5, &opts)
                .unwrap_err()
                .contains("only one class")
        );
    }

    #[test]
    fn reliability_points_are_the_non_empty_bins() {
        let labels = [true, false, true, true, false, false];
        let scores = [0.05, 0.08, 0.55, 0.95, 0.91, 0.58];
        let codes = [0u32; 6];
        let m = model(&labels, &scores, &["all".to_string()], &codes);
        let d = reliability_data(&m);
        let bins: Vec<usize> = d.points.iter().map(|p| p.bin).collect();
        assert_eq!(bins, vec![0, 5, 9]);
        let p0 = d.points[0];
        assert_eq!(p0.n, 2);
        assert!(
            (p0.mean_score - 0.065).abs() < 1e-12 && p0.mean_label == 0.5,
            "{p0:?}"
        );
        let p9 = d.points[2];
        assert!(
            (p9.mean_score - 0.93).abs() < 1e-12 && p9.mean_label == 0.5,
            "{p9:?}"
        );
        assert_eq!(d.counts.len(), 10);
        assert_eq!(d.counts.iter().map(|c| c.2).sum::<usize>(), 6);
        assert_eq!(d.ece_10, m.ece_10);
    }

    #[test]
    fn forest_rows_one_per_level_with_one_class_levels_explained() {
        let labels = [true, false, true, false, false, false, true, false];
        let scores = [0.9, 0.2, 0.7, 0.4, 0.3, 0.6, 0.8, 0.1];
        let levels = vec!["A".to_string(), "B".to_string()];
        let codes = [0, 0, 0, 0, 1, 1, 0, 1];
        let m = model(&labels, &scores, &levels, &codes);
        let rows = forest_rows(&m);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].label(), "site = A (n = 5, 3 pos.)");
        assert_eq!(rows[0].auroc, Some(1.0));
        assert_eq!(rows[1].auroc, None);
        assert!(
            rows[1].note.as_deref().unwrap().contains("only one class"),
            "{:?}",
            rows[1]
        );
    }

    fn perf(
        backend: &str,
        status: Status,
        cdf: Vec<[f64; 2]>,
        tput: Option<f64>,
    ) -> PerformanceRow {
        PerformanceRow {
            candidate: "m".into(),
            backend: backend.into(),
            profile: "cpu".into(),
            scenario: "single-stream".into(),
            batch_size: 1,
            threads: 2,
            throughput_per_s: tput,
            latency_ms: Some(LatencyMs {
                p50: 1.0,
                p90: 1.0,
                p95: 1.0,
                p99: 1.0,
                max: 1.0,
            }),
            latency_cdf: cdf,
            status,
            reason: None,
        }
    }

    #[test]
    fn latency_and_throughput_data_skip_failed_and_non_finite() {
        let rows = vec![
            perf(
                "a",
                Status::Ok,
                vec![[2.0, 0.5], [1.0, 0.25], [f64::NAN, 0.7], [3.0, 1.0]],
                Some(100.0),
            ),
            perf("b", Status::Failed, vec![[5.0, 1.0]], Some(50.0)),
            perf("c", Status::Ok, vec![[4.0, 1.0]], Some(f64::INFINITY)),
        ];
        let d = latency_plot_data(&rows).unwrap();
        assert_eq!(d.series.len(), 2);
        assert_eq!(
            d.series[0].points,
            vec![(1.0, 0.25), (2.0, 0.5), (3.0, 1.0)]
        );
        assert_eq!(
            d.series[0].label,
            "m · a · cpu · single-stream · batch 1 · 2 threads"
        );
        assert!(!d.log_x);
        assert_eq!((d.min_ms, d.max_ms), (0.0, 4.0));
        let bars = throughput_bars(&rows);
        assert_eq!(
            bars,
            vec![ThroughputBar {
                label: performance_label(&rows[0]),
                per_s: 100.0
            }]
        );
        // A GPU at 0.1 ms next to a CPU at 30 ms: log axis.
        let wide = vec![
            perf("gpu", Status::Ok, vec![[0.1, 1.0]], None),
            perf("cpu", Status::Ok, vec![[30.0, 1.0]], None),
        ];
        let d = latency_plot_data(&wide).unwrap();
        assert!(d.log_x);
        assert_eq!((d.min_ms, d.max_ms), (0.1, 30.0));
        assert!(latency_plot_data(&rows[1..2]).is_none());
    }

    #[test]
    fn long_latency_cdfs_are_thinned_to_plot_resolution() {
        let n = 100_000;
        let cdf: Vec<[f64; 2]> = (1..=n)
            .map(|i| [5.0 + 10.0 * i as f64 / n as f64, i as f64 / n as f64])
            .collect();
        let d = latency_plot_data(&[perf("a", Status::Ok, cdf.clone(), None)]).unwrap();
        let pts = &d.series[0].points;
        assert!(pts.len() < 1_100 && pts.len() > 500, "{}", pts.len());
        assert_eq!(pts.first(), Some(&(cdf[0][0], cdf[0][1])));
        assert_eq!(pts.last(), Some(&(15.0, 1.0)));
        // Every kept point is a point of the CDF.
        assert!(pts.iter().all(|p| {
            cdf.binary_search_by(|c| c[0].total_cmp(&p.0))
                .is_ok_and(|i| cdf[i][1] == p.1)
        }));
    }
}
