//! The numbers behind every figure, computed in plain functions so they can be tested without
//! looking at pixels.

use crate::format::with_ci;
use crate::input::{PerformanceRow, ReportInput, ReportOptions, Status};
use harness_metrics::Ranked;
use harness_metrics::evaluate::ModelReport;
use harness_metrics::multilabel::MultilabelReport;
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

/// The scores ranked against the labels, or why no ROC curve exists: the scores do not match
/// the labels or are not probabilities, or a class is absent.
fn ranked(labels: &[bool], scores: &[f64]) -> Result<Ranked, String> {
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
    Ok(ranked)
}

/// pROC's empirical curve ([`roc_curve`]) as (1 − specificity, sensitivity), from (1, 1) to
/// (0, 0), thinned to plot resolution.
fn roc_points(ranked: &Ranked) -> Vec<(f64, f64)> {
    let curve: Vec<(f64, f64)> = roc_curve(&ranked.groups)
        .iter()
        .map(|p| (1.0 - p.specificity, p.sensitivity))
        .collect();
    thin_curve(&curve)
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
    let ranked = ranked(labels, scores)?;
    let band = roc_band(
        &ranked.groups,
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
        curve: roc_points(&ranked),
        band,
        band_replicates: opts.roc_band_replicates,
        operating_point: operating_point(labels, scores, threshold),
    })
}

/// At most this many series (lines, marker kinds) share one panel of a figure: more cannot be
/// told apart by colour.
pub const MAX_SERIES_PER_PANEL: usize = 6;

/// One candidate's curve in the ROC overlay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RocOverlayCurve {
    pub name: String,
    /// "AUROC 0.871 [0.842, 0.900]" (DeLong 95 % CI).
    pub auroc: String,
    /// As [`RocPlotData::curve`].
    pub curve: Vec<(f64, f64)>,
    pub operating_point: Option<OperatingPoint>,
}

/// Each candidate's [`roc_plot_data`] (`None` for a candidate that was not evaluated), the
/// candidates side by side on the cores: each sorts its scores and draws its bootstrap band,
/// which at a million cases is most of the report's time. Each is seeded on its own, so the
/// result does not depend on the threads.
pub fn candidate_rocs(input: &ReportInput) -> Vec<Option<Result<RocPlotData, String>>> {
    use rayon::prelude::*;
    let threshold = input.evaluation.options.threshold;
    input
        .candidates
        .par_iter()
        .map(|c| {
            c.metrics.as_ref()?;
            Some(roc_plot_data(
                &input.labels,
                &c.scores,
                threshold,
                &input.options,
            ))
        })
        .collect()
}

/// The ROC curve of every evaluated candidate that has one, in the report's order, for one
/// overlay, from the candidates' [`candidate_rocs`]; a candidate whose scores give no curve is
/// left out (its own section says why).
pub fn roc_overlay_data(
    input: &ReportInput,
    rocs: &[Option<Result<RocPlotData, String>>],
) -> Vec<RocOverlayCurve> {
    input
        .candidates
        .iter()
        .zip(rocs)
        .filter_map(|(c, roc)| {
            let m = c.metrics.as_ref()?;
            let Some(Ok(roc)) = roc else {
                return None;
            };
            Some(RocOverlayCurve {
                name: c.name.clone(),
                auroc: format!(
                    "AUROC {}",
                    with_ci(m.discrimination.auroc, m.auroc_ci95_reported())
                ),
                curve: roc.curve.clone(),
                operating_point: roc.operating_point,
            })
        })
        .collect()
}

/// The ROC curves of one finding (or one class against the rest), one per candidate that
/// scores it, labelled with the AUROC and 95 % CI of the evaluation (`auroc_of(candidate)`,
/// already formatted); `threshold` places each candidate's operating point (`None` for a
/// multi-class task, whose decision is the argmax).
pub fn target_overlay_data(
    t: &crate::input::TargetCurves,
    threshold: Option<f64>,
    auroc_of: impl Fn(&str) -> Option<String>,
) -> Vec<RocOverlayCurve> {
    t.scores
        .iter()
        .filter_map(|(name, scores)| {
            let ranked = ranked(&t.labels, scores).ok()?;
            Some(RocOverlayCurve {
                name: name.clone(),
                auroc: format!("AUROC {}", auroc_of(name)?),
                curve: roc_points(&ranked),
                operating_point: threshold.and_then(|th| operating_point(&t.labels, scores, th)),
            })
        })
        .collect()
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
        .calibration
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
        counts: m
            .calibration
            .ece_10_bins
            .iter()
            .map(|b| (b.lo, b.hi, b.n))
            .collect(),
        ece_10: m.calibration.ece_10,
        slope: m.calibration.calibration_slope,
        intercept: m.calibration.calibration_intercept,
        calibration_reason: m.calibration.calibration_reason.clone(),
    }
}

/// A multi-class candidate's classwise reliability: for each class (its one-vs-rest curve of
/// `curves`), the ECE-10 bins ([`harness_metrics::calibration::ece`]) of the candidate's
/// probability of that class against membership of the class; `ece_10` gives the class's
/// ECE-10 as the evaluation reported it. Classes the candidate has no scores for are left out.
pub fn classwise_reliability(
    curves: &[crate::input::TargetCurves],
    candidate: &str,
    ece_10: impl Fn(&str) -> Option<f64>,
) -> Vec<crate::figures::ClassReliability> {
    curves
        .iter()
        .filter_map(|t| {
            let (_, scores) = t.scores.iter().find(|(c, _)| c == candidate)?;
            let (_, bins) = harness_metrics::calibration::ece(&t.labels, scores, 10)?;
            Some(crate::figures::ClassReliability {
                class: t.name.clone(),
                points: bins
                    .iter()
                    .filter_map(|b| Some((b.mean_score?, b.mean_label?, b.n)))
                    .collect(),
                ece_10: ece_10(&t.name),
            })
        })
        .collect()
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
    /// "column = level (n = N, P pos.)", or "level (n = N, P pos.)" without a column.
    pub fn label(&self) -> String {
        if self.column.is_empty() {
            format!("{} (n = {}, {} pos.)", self.level, self.n, self.positives)
        } else {
            format!(
                "{} = {} (n = {}, {} pos.)",
                self.column, self.level, self.n, self.positives
            )
        }
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
                // Patient-clustered where the cases are clustered, as the overall CI.
                ci95: match &s.clustered {
                    Some(c) => c.auroc_ci95_obuchowski,
                    None => s.ci95,
                },
                note: s.reason.clone(),
            })
        })
        .collect()
}

/// One row per finding a model scores (multi-label task), in finding order: its AUROC and
/// 95 % CI, patient-clustered (Obuchowski) where the cases are clustered, else DeLong's.
pub fn finding_forest_rows(report: &MultilabelReport, model: &str) -> Vec<ForestRow> {
    report
        .findings
        .iter()
        .filter_map(|(name, f)| {
            let m = f.models.get(model)?;
            Some(ForestRow {
                column: String::new(),
                level: name.clone(),
                n: f.n,
                positives: f.positives,
                auroc: m.discrimination.auroc,
                ci95: m.auroc_ci95_reported(),
                note: m.discrimination.auroc_reason.clone(),
            })
        })
        .collect()
}

/// "1 thread", "4 threads".
fn threads_label(threads: u32) -> String {
    format!("{threads} thread{}", if threads == 1 { "" } else { "s" })
}

/// A short label of a performance row: "candidate · backend · profile · scenario · batch N ·
/// T threads".
pub fn performance_label(r: &PerformanceRow) -> String {
    if r.candidate.is_empty() {
        configuration_label(r)
    } else {
        format!("{} · {}", r.candidate, configuration_label(r))
    }
}

/// A performance row without its candidate: "backend · profile · scenario · batch N · T
/// threads".
pub fn configuration_label(r: &PerformanceRow) -> String {
    format!(
        "{} · {} · {} · batch {} · {}",
        r.backend,
        r.profile,
        r.scenario,
        r.batch_size,
        threads_label(r.threads)
    )
}

/// "backend · profile · T threads": what a colour stands for in the performance figures.
fn engine_label(r: &PerformanceRow) -> String {
    format!(
        "{} · {} · {}",
        r.backend,
        r.profile,
        threads_label(r.threads)
    )
}

/// The engine labels ([`engine_label`]) of the ok rows in order of first appearance: colour
/// k is engine k in every performance figure (latency panels, throughput bars).
pub fn engine_keys(rows: &[PerformanceRow]) -> Vec<String> {
    let mut keys = Vec::new();
    for r in rows.iter().filter(|r| r.status == Status::Ok) {
        index_of(&mut keys, engine_label(r));
    }
    keys
}

/// Latencies of rows whose spread exceeds this ratio are drawn on a logarithmic axis.
const LOG_AXIS_SPAN: f64 = 20.0;

/// A time axis in milliseconds: linear from 0, or logarithmic between two 1-2-5 values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MsAxis {
    pub log: bool,
    /// The ends of the axis in ms (0 on a linear axis).
    pub min_ms: f64,
    pub max_ms: f64,
}

/// The 1-2-5 values (1, 2, 5, 10, 20, …) of the decades from 10^lo to 10^hi.
fn one_two_five(lo: i32, hi: i32) -> impl Iterator<Item = f64> {
    (lo..=hi).flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
}

impl MsAxis {
    /// The axis of these latencies (non-finite and negative values ignored): logarithmic when
    /// the largest is more than 20× the smallest positive one, else linear from 0; `None`
    /// without a value.
    pub fn fit(ms: impl IntoIterator<Item = f64>) -> Option<MsAxis> {
        let (mut lo, mut hi, mut any) = (f64::INFINITY, 0.0f64, false);
        for x in ms.into_iter().filter(|x| x.is_finite() && *x >= 0.0) {
            any = true;
            hi = hi.max(x);
            if x > 0.0 {
                lo = lo.min(x);
            }
        }
        if !any {
            return None;
        }
        if lo.is_finite() && hi / lo > LOG_AXIS_SPAN {
            let (e0, e1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
            let min_ms = one_two_five(e0, e1)
                .filter(|&v| v <= lo * (1.0 + 1e-9))
                .last()
                .unwrap_or(lo);
            let max_ms = one_two_five(e0, e1)
                .find(|&v| v >= hi * (1.0 - 1e-9))
                .unwrap_or(hi);
            Some(MsAxis {
                log: true,
                min_ms,
                max_ms,
            })
        } else {
            Some(MsAxis {
                log: false,
                min_ms: 0.0,
                max_ms: if hi > 0.0 { hi * 1.05 } else { 1.0 },
            })
        }
    }

    /// Whether a latency can be placed on the axis (a log axis has no 0).
    pub fn shows(&self, ms: f64) -> bool {
        ms.is_finite() && ms >= 0.0 && (!self.log || ms > 0.0)
    }

    /// The drawing coordinate of a latency: log10(ms) or ms.
    pub fn x(&self, ms: f64) -> f64 {
        if self.log { ms.log10() } else { ms }
    }

    /// The axis range in drawing coordinates.
    pub fn range(&self) -> std::ops::Range<f64> {
        self.x(self.min_ms)..self.x(self.max_ms)
    }

    /// The labelled ticks of a log axis in ms: every 1-2-5 value within it, or only the powers
    /// of ten (and the ends) when that would be more than eight labels. Empty for a linear
    /// axis, which plotters labels itself.
    pub fn log_ticks(&self) -> Vec<f64> {
        if !self.log {
            return Vec::new();
        }
        let (e0, e1) = (
            self.min_ms.log10().floor() as i32,
            self.max_ms.log10().ceil() as i32,
        );
        let inside = |v: &f64| *v >= self.min_ms * (1.0 - 1e-9) && *v <= self.max_ms * (1.0 + 1e-9);
        let all: Vec<f64> = one_two_five(e0, e1).filter(inside).collect();
        if all.len() <= 8 {
            return all;
        }
        let decade = |v: f64| (v.log10() - v.log10().round()).abs() < 1e-9;
        let first = all[0];
        let last = all[all.len() - 1];
        all.into_iter()
            .filter(|&v| v == first || v == last || decade(v))
            .collect()
    }

    /// Where a latency lies along the axis, from 0 (start) to 1 (end).
    fn fraction(&self, ms: f64) -> f64 {
        let r = self.range();
        (self.x(ms) - r.start) / (r.end - r.start).max(f64::MIN_POSITIVE)
    }
}

/// One line of the latency CDF figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CdfSeries {
    /// The whole configuration ([`performance_label`]).
    pub label: String,
    /// Index into [`LatencyPlotData::keys`]: its colour, the same in every panel.
    pub key: usize,
    /// Index into [`LatencyPlotData::panels`].
    pub panel: usize,
    /// (ms, fraction), ascending in ms, finite, within the panel's axis, thinned to plot
    /// resolution.
    pub points: Vec<(f64, f64)>,
}

/// One panel of the latency CDF figure: one candidate in one scenario at one batch size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CdfPanel {
    /// "vendor-a · single-stream · batch 1", with "(part 1 of 2)" when the configurations did
    /// not fit in one panel.
    pub title: String,
    /// Place in the grid: a row per candidate, a column per scenario and batch size (and part).
    pub row: usize,
    pub column: usize,
    /// The time axis, shared by every panel of the same scenario and batch size.
    pub axis: MsAxis,
}

/// The latency CDFs as small multiples: at most [`MAX_SERIES_PER_PANEL`] lines per panel, each
/// configuration (backend · profile · threads) in the same colour in every panel.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyPlotData {
    pub series: Vec<CdfSeries>,
    pub panels: Vec<CdfPanel>,
    /// "backend · profile · T threads" of each colour ([`engine_keys`]); the legend shows
    /// those that have a line.
    pub keys: Vec<String>,
    pub rows: usize,
    pub columns: usize,
    /// True when any panel's time axis is logarithmic (latencies spanning more than 20×).
    pub log_x: bool,
}

/// Index of `item` in `list`, appended when new.
fn index_of<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

/// Latency CDFs of the ok rows that have one, as small multiples; `None` when there is none.
/// Non-finite or negative points are dropped (they cannot come from a clock).
///
/// A panel holds one candidate's rows of one scenario and batch size — the configurations
/// that differ by engine, profile and threads — split into parts of at most
/// [`MAX_SERIES_PER_PANEL`]. Panels of the same scenario and batch size share their time axis.
pub fn latency_plot_data(rows: &[PerformanceRow]) -> Option<LatencyPlotData> {
    struct Line<'a> {
        row: &'a PerformanceRow,
        points: Vec<(f64, f64)>,
    }
    let lines: Vec<Line> = rows
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
            Line { row: r, points }
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    // Rows: candidates; settings: scenario and batch size; keys: the colours.
    let keys = engine_keys(rows);
    let (mut candidates, mut settings) = (Vec::new(), Vec::new());
    // (candidate, setting) → its lines, in input order.
    let mut groups: Vec<((usize, usize), Vec<usize>)> = Vec::new();
    let mut key_of = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let r = l.row;
        let c = index_of(&mut candidates, r.candidate.as_str());
        let s = index_of(&mut settings, (r.scenario.as_str(), r.batch_size));
        let key = engine_label(r);
        key_of.push(keys.iter().position(|k| *k == key).unwrap_or(0));
        match groups.iter_mut().find(|g| g.0 == (c, s)) {
            Some(g) => g.1.push(i),
            None => groups.push(((c, s), vec![i])),
        }
    }
    let axes: Vec<MsAxis> = (0..settings.len())
        .map(|s| {
            let ms = lines
                .iter()
                .filter(|l| settings[s] == (l.row.scenario.as_str(), l.row.batch_size))
                .flat_map(|l| l.points.iter().map(|p| p.0));
            MsAxis::fit(ms).expect("every setting has a point")
        })
        .collect();
    // Columns: each setting, and as many parts as its largest group needs.
    let parts_of = |s: usize| {
        groups
            .iter()
            .filter(|g| g.0.1 == s)
            .map(|g| g.1.len().div_ceil(MAX_SERIES_PER_PANEL))
            .max()
            .unwrap_or(1)
    };
    let first_column: Vec<usize> = (0..settings.len())
        .scan(0, |next, s| {
            let first = *next;
            *next += parts_of(s);
            Some(first)
        })
        .collect();
    let columns = (0..settings.len()).map(parts_of).sum();
    let mut panels = Vec::new();
    let mut series = Vec::new();
    for ((c, s), members) in &groups {
        let chunks: Vec<&[usize]> = members.chunks(MAX_SERIES_PER_PANEL).collect();
        for (part, chunk) in chunks.iter().enumerate() {
            let (scenario, batch) = settings[*s];
            let mut title = format!("{scenario} · batch {batch}");
            if !candidates[*c].is_empty() {
                title = format!("{} · {title}", candidates[*c]);
            }
            if chunks.len() > 1 {
                title.push_str(&format!(" (part {} of {})", part + 1, chunks.len()));
            }
            let axis = axes[*s];
            let panel = panels.len();
            panels.push(CdfPanel {
                title,
                row: *c,
                column: first_column[*s] + part,
                axis,
            });
            for &i in *chunk {
                // A CDF of 100 000 queries would be 100 000 SVG points: thin it at plot
                // resolution, in the coordinates it is drawn in.
                let points: Vec<(f64, f64)> = lines[i]
                    .points
                    .iter()
                    .copied()
                    .filter(|p| axis.shows(p.0))
                    .collect();
                let scaled: Vec<(f64, f64)> = points
                    .iter()
                    .map(|&(ms, f)| (axis.fraction(ms), f))
                    .collect();
                let kept = thin_curve(&scaled);
                let mut k = 0;
                let points = points
                    .into_iter()
                    .zip(scaled)
                    .filter(|(_, q)| {
                        let keep = k < kept.len() && kept[k] == *q;
                        if keep {
                            k += 1;
                        }
                        keep
                    })
                    .map(|(p, _)| p)
                    .collect();
                series.push(CdfSeries {
                    label: performance_label(lines[i].row),
                    key: key_of[i],
                    panel,
                    points,
                });
            }
        }
    }
    Some(LatencyPlotData {
        series,
        panels,
        keys,
        rows: candidates.len(),
        columns,
        log_x: axes.iter().any(|a| a.log),
    })
}

/// The early-stopping estimate of a tail percentile (MLPerf LoadGen).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EarlyStoppingMark {
    /// The percentile estimated, as a fraction (0.90 single-stream, 0.99 server).
    pub percentile: f64,
    pub ms: f64,
}

/// One row of the latency dot plot: a measured configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuantileRow {
    pub candidate: String,
    /// [`configuration_label`].
    pub label: String,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    /// From the row's early-stopping estimate, where it has a finite one.
    pub early_stopping: Option<EarlyStoppingMark>,
}

/// The latency dot plot: p50, p90 and p99 of every measured configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuantilePlotData {
    /// Grouped by candidate (in order of first appearance), else in input order.
    pub rows: Vec<QuantileRow>,
    pub axis: MsAxis,
}

/// p50, p90 and p99 of the ok rows whose three are finite and non-negative (positive on a log
/// axis); `None` when there is none.
pub fn latency_quantile_data(rows: &[PerformanceRow]) -> Option<QuantilePlotData> {
    let mut out: Vec<QuantileRow> = rows
        .iter()
        .filter(|r| r.status == Status::Ok)
        .filter_map(|r| {
            let l = r.latency_ms?;
            [l.p50, l.p90, l.p99]
                .iter()
                .all(|x| x.is_finite() && *x >= 0.0)
                .then(|| QuantileRow {
                    candidate: r.candidate.clone(),
                    label: configuration_label(r),
                    p50: l.p50,
                    p90: l.p90,
                    p99: l.p99,
                    early_stopping: r
                        .early_stopping
                        .filter(|e| e.estimate_ms.is_finite() && e.estimate_ms >= 0.0)
                        .map(|e| EarlyStoppingMark {
                            percentile: e.percentile,
                            ms: e.estimate_ms,
                        }),
                })
        })
        .collect();
    let axis = MsAxis::fit(out.iter().flat_map(|r| {
        [r.p50, r.p90, r.p99]
            .into_iter()
            .chain(r.early_stopping.map(|e| e.ms))
    }))?;
    out.retain(|r| [r.p50, r.p90, r.p99].iter().all(|&x| axis.shows(x)));
    let mut order: Vec<&str> = Vec::new();
    for r in &out {
        index_of(&mut order, r.candidate.as_str());
    }
    let rank: Vec<usize> = out
        .iter()
        .map(|r| order.iter().position(|c| *c == r.candidate).unwrap_or(0))
        .collect();
    let mut ranked: Vec<(usize, QuantileRow)> = rank.into_iter().zip(out).collect();
    ranked.sort_by_key(|(k, _)| *k);
    let rows: Vec<QuantileRow> = ranked.into_iter().map(|(_, r)| r).collect();
    (!rows.is_empty()).then_some(QuantilePlotData { rows, axis })
}

/// One bar of the throughput chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThroughputBar {
    pub label: String,
    pub per_s: f64,
    /// Its colour: the engine's index in [`engine_keys`], as in the latency figures.
    pub key: usize,
}

/// Throughput of the ok rows that measured one (finite, ≥ 0), in input order.
pub fn throughput_bars(rows: &[PerformanceRow]) -> Vec<ThroughputBar> {
    let keys = engine_keys(rows);
    rows.iter()
        .filter(|r| r.status == Status::Ok)
        .filter_map(|r| {
            let key = engine_label(r);
            r.throughput_per_s
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(|t| ThroughputBar {
                    label: performance_label(r),
                    per_s: t,
                    key: keys.iter().position(|k| *k == key).unwrap_or(0),
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
            cluster: None,
        };
        evaluate(&input, &EvalOptions::default()).unwrap().models["m"].clone()
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
        assert_eq!(d.ece_10, m.calibration.ece_10);
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
            early_stopping: None,
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
        assert_eq!(
            d.panels[0].axis,
            MsAxis {
                log: false,
                min_ms: 0.0,
                max_ms: 4.0 * 1.05
            }
        );
        let bars = throughput_bars(&rows);
        assert_eq!(
            bars,
            vec![ThroughputBar {
                label: performance_label(&rows[0]),
                per_s: 100.0,
                key: 0
            }]
        );
        // A GPU at 0.1 ms next to a CPU at 30 ms: log axis.
        let wide = vec![
            perf("gpu", Status::Ok, vec![[0.1, 1.0]], None),
            perf("cpu", Status::Ok, vec![[30.0, 1.0]], None),
        ];
        let d = latency_plot_data(&wide).unwrap();
        assert!(d.log_x);
        assert_eq!(
            d.panels[0].axis,
            MsAxis {
                log: true,
                min_ms: 0.1,
                max_ms: 50.0
            }
        );
        assert!(latency_plot_data(&rows[1..2]).is_none());
    }

    /// A row of the example suite's shape: candidate × engine × profile × scenario × batch.
    fn config(c: &str, backend: &str, profile: &str, scenario: &str, batch: u32) -> PerformanceRow {
        let b = batch as f64;
        let mut r = perf(backend, Status::Ok, vec![[b, 0.5], [2.0 * b, 1.0]], None);
        r.candidate = c.into();
        r.profile = profile.into();
        r.threads = if profile == "cpu-1thread" { 1 } else { 4 };
        r.scenario = scenario.into();
        r.batch_size = batch;
        if let Some(l) = &mut r.latency_ms {
            l.p50 = batch as f64;
            l.p90 = 1.5 * batch as f64;
            l.p99 = 2.0 * batch as f64;
        }
        r
    }

    fn example_rows(backends: &[&str]) -> Vec<PerformanceRow> {
        let mut rows = Vec::new();
        for c in ["vendor-a", "vendor-b", "vendor-c"] {
            for b in backends {
                for p in ["cpu-1thread", "cpu-all"] {
                    for (s, batch) in [("single-stream", 1), ("offline", 1), ("offline", 32)] {
                        rows.push(config(c, b, p, s, batch));
                    }
                }
            }
        }
        rows
    }

    #[test]
    fn latency_cdfs_are_small_multiples_with_one_colour_per_configuration() {
        let rows = example_rows(&["tract", "ort", "candle"]);
        assert_eq!(rows.len(), 54);
        let d = latency_plot_data(&rows).unwrap();
        // A row per candidate, a column per scenario and batch size.
        assert_eq!((d.rows, d.columns, d.panels.len()), (3, 3, 9));
        assert_eq!(d.series.len(), 54);
        assert_eq!(d.panels[0].title, "vendor-a · single-stream · batch 1");
        assert_eq!(d.panels[2].title, "vendor-a · offline · batch 32");
        assert_eq!((d.panels[4].row, d.panels[4].column), (1, 1));
        assert_eq!(d.keys.len(), 6);
        assert_eq!(d.keys[0], "tract · cpu-1thread · 1 thread");
        assert_eq!(d.keys[1], "tract · cpu-all · 4 threads");
        for p in 0..d.panels.len() {
            let keys: Vec<usize> = d
                .series
                .iter()
                .filter(|s| s.panel == p)
                .map(|s| s.key)
                .collect();
            // The same six configurations, in the same colours, in every panel.
            assert_eq!(keys, vec![0, 1, 2, 3, 4, 5], "panel {p}");
        }
        for s in &d.series {
            assert!(
                d.keys[s.key]
                    .split(" · ")
                    .all(|part| s.label.contains(part)),
                "{s:?}"
            );
        }

        // The throughput bars take the same colours.
        let mut with_throughput = rows.clone();
        for r in &mut with_throughput {
            r.throughput_per_s = Some(10.0);
        }
        let bars = throughput_bars(&with_throughput);
        assert_eq!(bars.len(), d.series.len());
        for b in &bars {
            let s = d.series.iter().find(|s| s.label == b.label).unwrap();
            assert_eq!(b.key, s.key, "{}", b.label);
        }

        // Four engines: eight configurations per panel, split in two parts of at most six.
        let d = latency_plot_data(&example_rows(&["tract", "ort", "candle", "tensorrt"])).unwrap();
        assert_eq!((d.rows, d.columns, d.panels.len()), (3, 6, 18));
        for p in 0..d.panels.len() {
            let n = d.series.iter().filter(|s| s.panel == p).count();
            assert!(n <= MAX_SERIES_PER_PANEL, "panel {p}: {n}");
        }
        assert_eq!(
            d.panels[1].title,
            "vendor-a · single-stream · batch 1 (part 2 of 2)"
        );
        assert_eq!((d.panels[1].row, d.panels[1].column), (0, 1));
        // Panels of one column (one scenario and batch size) share their axis; vendor-a's
        // panels are the first row.
        assert!(d.panels.iter().all(|p| p.axis == d.panels[p.column].axis));
        assert_ne!(d.panels[0].axis, d.panels[4].axis);
    }

    #[test]
    fn time_axes_are_log_beyond_twenty_fold_with_one_two_five_ticks() {
        let lin = MsAxis::fit([1.0, 3.0, 19.0]).unwrap();
        assert_eq!((lin.log, lin.min_ms), (false, 0.0));
        assert!(lin.log_ticks().is_empty());
        let log = MsAxis::fit([0.8, f64::NAN, -1.0, 0.0, 30.0]).unwrap();
        assert_eq!((log.log, log.min_ms, log.max_ms), (true, 0.5, 50.0));
        assert_eq!(log.log_ticks(), vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]);
        assert!(!log.shows(0.0) && log.shows(0.6));
        let wide = MsAxis::fit([0.02, 900.0]).unwrap();
        assert_eq!((wide.min_ms, wide.max_ms), (0.02, 1000.0));
        assert_eq!(wide.log_ticks(), vec![0.02, 0.1, 1.0, 10.0, 100.0, 1000.0]);
        assert!(MsAxis::fit([f64::NAN]).is_none());
    }

    #[test]
    fn latency_quantiles_one_row_per_configuration_grouped_by_candidate() {
        let mut rows = vec![
            config("vendor-a", "tract", "cpu-1thread", "single-stream", 1),
            config("vendor-b", "tract", "cpu-1thread", "single-stream", 1),
            config("vendor-a", "ort", "cpu-1thread", "offline", 32),
            config("vendor-b", "ort", "cpu-1thread", "offline", 32),
        ];
        rows.push(perf("x", Status::Failed, Vec::new(), None));
        let mut nan = config("vendor-a", "candle", "cpu-all", "offline", 1);
        nan.latency_ms.as_mut().unwrap().p99 = f64::NAN;
        rows.push(nan);
        let d = latency_quantile_data(&rows).unwrap();
        let got: Vec<(&str, &str)> = d
            .rows
            .iter()
            .map(|r| (r.candidate.as_str(), r.label.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "vendor-a",
                    "tract · cpu-1thread · single-stream · batch 1 · 1 thread"
                ),
                (
                    "vendor-a",
                    "ort · cpu-1thread · offline · batch 32 · 1 thread"
                ),
                (
                    "vendor-b",
                    "tract · cpu-1thread · single-stream · batch 1 · 1 thread"
                ),
                (
                    "vendor-b",
                    "ort · cpu-1thread · offline · batch 32 · 1 thread"
                ),
            ]
        );
        assert_eq!(
            (d.rows[1].p50, d.rows[1].p90, d.rows[1].p99),
            (32.0, 48.0, 64.0)
        );
        assert!(d.rows.iter().all(|r| r.early_stopping.is_none()));
        // 1 ms to 64 ms: a log axis.
        assert!(d.axis.log);
        assert!(latency_quantile_data(&rows[4..5]).is_none());
    }

    #[test]
    fn roc_overlay_has_every_evaluated_candidate_with_a_curve() {
        let labels = [true, true, false, false, true, false];
        let levels = vec!["all".to_string()];
        let codes = [0u32; 6];
        let candidate = |name: &str, scores: Vec<f64>| crate::input::Candidate {
            name: name.into(),
            model_file: String::new(),
            model_sha256: String::new(),
            backends: Vec::new(),
            status: Status::Ok,
            reason: None,
            metrics: Some(model(&labels, &scores, &levels, &codes)),
            scores,
            warnings: Vec::new(),
        };
        let good = candidate("good", vec![0.9, 0.8, 0.1, 0.3, 0.7, 0.2]);
        let mut short = good.clone();
        short.name = "short".into();
        short.scores.pop();
        let mut failed = good.clone();
        failed.name = "failed".into();
        failed.metrics = None;
        failed.scores.clear();
        let input = ReportInput {
            header: Default::default(),
            candidates: vec![
                good,
                short,
                failed,
                candidate("weak", vec![0.4, 0.6, 0.5, 0.3, 0.2, 0.7]),
            ],
            labels: labels.to_vec(),
            evaluation: Default::default(),
            agreement: Vec::new(),
            performance: Vec::new(),
            profiles_not_measured: Vec::new(),
            options: ReportOptions::default(),
            findings: None,
            classes: None,
            target_curves: Vec::new(),
            sites: Vec::new(),
            acceptance: Vec::new(),
            acceptance_criteria: Vec::new(),
        };
        let curves = roc_overlay_data(&input, &candidate_rocs(&input));
        let names: Vec<&str> = curves.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["good", "weak"]);
        assert_eq!(curves[0].auroc, "AUROC 1.000 [1.000, 1.000]");
        assert_eq!(curves[0].curve.first(), Some(&(1.0, 1.0)));
        assert_eq!(curves[0].curve.last(), Some(&(0.0, 0.0)));
        assert!(curves[1].operating_point.is_some());
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
