//! Calibration: Brier score, log loss, expected calibration error with its bin table, the
//! logistic recalibration fit (calibration intercept and slope) and calibration-in-the-large.

use crate::ranks::TieGroup;
use crate::vecmath::{avx2_dispatch, exp_nonpositive, ln_1p_unit, ln_positive};

/// Brier score = mean((score − label)²) (Brier 1950; scikit-learn `brier_score_loss`).
/// `None` for no cases.
pub fn brier(labels: &[bool], scores: &[f64]) -> Option<f64> {
    if scores.is_empty() {
        return None;
    }
    let sum: f64 = labels
        .iter()
        .zip(scores)
        .map(|(&y, &s)| (s - y as u8 as f64).powi(2))
        .sum();
    Some(sum / scores.len() as f64)
}

/// The clipping constant of scikit-learn 1.9 `log_loss`: ε = 2⁻⁵² (`np.finfo(float64).eps`).
pub const LOG_LOSS_EPS: f64 = f64::EPSILON;

/// Log loss with how many scores were clipped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogLoss {
    pub value: f64,
    /// Number of scores outside [ε, 1 − ε] that were clipped to it.
    pub n_clipped: usize,
}

/// Log loss = −mean(y·ln p + (1 − y)·ln(1 − p)), p clipped to [ε, 1 − ε] with ε = 2⁻⁵²
/// (scikit-learn 1.9 `log_loss`). `None` for no cases.
pub fn log_loss(labels: &[bool], scores: &[f64]) -> Option<LogLoss> {
    if scores.is_empty() {
        return None;
    }
    let (lo, hi) = (LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
    let mut n_clipped = 0;
    let mut sum = 0.0;
    for (&y, &s) in labels.iter().zip(scores) {
        if s < lo || s > hi {
            n_clipped += 1;
        }
        let p = s.clamp(lo, hi);
        sum -= if y { p.ln() } else { (1.0 - p).ln() };
    }
    Some(LogLoss {
        value: sum / scores.len() as f64,
        n_clipped,
    })
}

/// One bin of the ECE table (serialised as is in the `ece_*_bins` arrays of the report).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EceBin {
    pub bin: usize,
    /// Lower edge b/B (inclusive).
    pub lo: f64,
    /// Upper edge (b + 1)/B (exclusive, except the last bin which is closed at 1).
    pub hi: f64,
    pub n: usize,
    /// Mean label in the bin; `None` when the bin is empty.
    pub mean_label: Option<f64>,
    /// Mean score in the bin; `None` when the bin is empty.
    pub mean_score: Option<f64>,
}

/// Expected calibration error with equal-width bins (Naeini, Cooper & Hauskrecht 2015; Guo et al.
/// 2017): ECE = Σ_b (n_b/N)·|mean(label in b) − mean(score in b)|, empty bins contributing 0.
///
/// Bin b covers [b/B, (b + 1)/B), the last closed at 1, via bin(s) = min(⌊s·B⌋, B − 1), which is
/// exact. netcal 1.4 (and anything using `np.linspace(0, 1, B + 1)` edges) puts scores of exactly
/// 0.3, 0.6 or 0.7 one bin lower because those edges round up; the harness does not copy that.
/// `None` for no cases or zero bins.
pub fn ece(labels: &[bool], scores: &[f64], bins: usize) -> Option<(f64, Vec<EceBin>)> {
    if scores.is_empty() || bins == 0 {
        return None;
    }
    let b = bins as f64;
    let mut n = vec![0usize; bins];
    let mut sum_label = vec![0.0f64; bins];
    let mut sum_score = vec![0.0f64; bins];
    for (&y, &s) in labels.iter().zip(scores) {
        let k = ((s * b).floor() as usize).min(bins - 1);
        n[k] += 1;
        sum_label[k] += y as u8 as f64;
        sum_score[k] += s;
    }
    Some(ece_table(&n, &sum_label, &sum_score, scores.len() as f64))
}

/// [`brier`], [`log_loss`] and [`ece`] (with 10 and 15 bins) from the tie table of the scores
/// ([`crate::Ranked`]) instead of the rows: each distinct score's logarithms and bin are
/// computed once for all its cases. Same definitions; the sums are taken per distinct score in
/// ascending order, so results can differ from the row-order sums in the last bits only.
pub struct FromGroups {
    pub brier: Option<f64>,
    pub log_loss: Option<LogLoss>,
    pub ece_10: Option<(f64, Vec<EceBin>)>,
    pub ece_15: Option<(f64, Vec<EceBin>)>,
}

/// See [`FromGroups`].
pub fn from_groups(groups: &[TieGroup]) -> FromGroups {
    let total: u64 = groups.iter().map(|g| g.pos + g.neg).sum();
    if total == 0 {
        return FromGroups {
            brier: None,
            log_loss: None,
            ece_10: None,
            ece_15: None,
        };
    }
    let (lo, hi) = (LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
    let (mut sq, mut ll, mut n_clipped) = (0.0, 0.0, 0usize);
    let mut bins10 = BinSums::new(10);
    let mut bins15 = BinSums::new(15);
    // The logarithms of the clipped probabilities first, a block at a time in vectorised
    // passes (on the stack: no per-model arrays).
    let (mut ln_p, mut ln_q) = ([0.0f64; 256], [0.0f64; 256]);
    for block in groups.chunks(256) {
        for ((g, p), q) in block.iter().zip(&mut ln_p).zip(&mut ln_q) {
            *p = g.value.clamp(lo, hi);
            *q = 1.0 - *p;
        }
        ln_in_place(&mut ln_p[..block.len()]);
        ln_in_place(&mut ln_q[..block.len()]);
        for (g, (ln_p, ln_q)) in block.iter().zip(ln_p.iter().zip(&ln_q)) {
            let (s, pos, neg) = (g.value, g.pos as f64, g.neg as f64);
            sq += pos * (s - 1.0) * (s - 1.0) + neg * s * s;
            if s < lo || s > hi {
                n_clipped += (g.pos + g.neg) as usize;
            }
            if g.pos > 0 {
                ll -= pos * ln_p;
            }
            if g.neg > 0 {
                ll -= neg * ln_q;
            }
            bins10.add(g);
            bins15.add(g);
        }
    }
    let n = total as f64;
    FromGroups {
        brier: Some(sq / n),
        log_loss: Some(LogLoss {
            value: ll / n,
            n_clipped,
        }),
        ece_10: Some(bins10.finish(n)),
        ece_15: Some(bins15.finish(n)),
    }
}

/// Per-bin sums of [`ece`] accumulated from tie groups.
struct BinSums {
    n: Vec<usize>,
    sum_label: Vec<f64>,
    sum_score: Vec<f64>,
}

impl BinSums {
    fn new(bins: usize) -> Self {
        BinSums {
            n: vec![0; bins],
            sum_label: vec![0.0; bins],
            sum_score: vec![0.0; bins],
        }
    }

    fn add(&mut self, g: &TieGroup) {
        let bins = self.n.len();
        let k = ((g.value * bins as f64).floor() as usize).min(bins - 1);
        self.n[k] += (g.pos + g.neg) as usize;
        self.sum_label[k] += g.pos as f64;
        self.sum_score[k] += g.value * (g.pos + g.neg) as f64;
    }

    fn finish(self, total: f64) -> (f64, Vec<EceBin>) {
        ece_table(&self.n, &self.sum_label, &self.sum_score, total)
    }
}

/// ECE and its bin table from per-bin counts and sums (shared by [`ece`] and [`from_groups`]).
fn ece_table(n: &[usize], sum_label: &[f64], sum_score: &[f64], total: f64) -> (f64, Vec<EceBin>) {
    let b = n.len() as f64;
    let mut value = 0.0;
    let table = (0..n.len())
        .map(|k| {
            let (mean_label, mean_score) = if n[k] > 0 {
                let nk = n[k] as f64;
                let (ml, ms) = (sum_label[k] / nk, sum_score[k] / nk);
                value += nk / total * (ml - ms).abs();
                (Some(ml), Some(ms))
            } else {
                (None, None)
            };
            EceBin {
                bin: k,
                lo: k as f64 / b,
                hi: (k + 1) as f64 / b,
                n: n[k],
                mean_label,
                mean_score,
            }
        })
        .collect();
    (value, table)
}

/// The converged logistic recalibration fit logit P(y = 1) = a + b·logit(score).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recalibration {
    /// Calibration intercept a (0 when perfectly calibrated).
    pub intercept: f64,
    /// Calibration slope b (1 when perfectly calibrated; < 1 means over-confident scores).
    pub slope: f64,
    /// Newton iterations used.
    pub iterations: usize,
}

/// Outcome of the recalibration fit: the estimate, or why the MLE does not exist / is undefined.
#[derive(Clone, Debug, PartialEq)]
pub struct RecalibrationFit {
    /// Rows used: those with 0 < score < 1.
    pub n_used: u64,
    /// Whether the maximum-likelihood estimate exists (false under separation or one class).
    pub mle_exists: bool,
    pub fit: Result<Recalibration, String>,
    /// Calibration-in-the-large: intercept with the slope fixed at 1 (offset = logit(score)).
    pub in_the_large: Result<f64, String>,
}

/// The distinct logit(score) values of the rows with 0 < score < 1, ascending, with their class
/// counts: the likelihood depends on the data only through these, so the fit runs over distinct
/// scores rather than rows. Stored as float columns padded with empty points (no cases) to a
/// whole number of [`LANES`] — the layout the passes vectorise over.
struct Points {
    x: Vec<f64>,
    pos: Vec<f64>,
    total: Vec<f64>,
}

/// Lanes of the passes. Each lane keeps its own sums, added in a fixed order at the end, so the
/// results are the same bits whatever vector width the loop compiles to.
const LANES: usize = 4;

impl Points {
    fn with_capacity(n: usize) -> Self {
        let n = n.next_multiple_of(LANES);
        Points {
            x: Vec::with_capacity(n),
            pos: Vec::with_capacity(n),
            total: Vec::with_capacity(n),
        }
    }

    /// From the tie groups of the scores strictly between 0 and 1 (at most `n` of them): their
    /// logits and class counts.
    fn from_used<'a>(used: impl Iterator<Item = &'a TieGroup>, n: usize) -> Self {
        let mut points = Points::with_capacity(n);
        for g in used {
            points.x.push(g.value);
            points.pos.push(g.pos as f64);
            points.total.push((g.pos + g.neg) as f64);
        }
        logits(&mut points.x);
        points.pad();
        points
    }

    /// Number of points, padding included.
    fn len(&self) -> usize {
        self.x.len()
    }

    fn pad(&mut self) {
        while !self.x.len().is_multiple_of(LANES) {
            self.x.push(0.0);
            self.pos.push(0.0);
            self.total.push(0.0);
        }
    }

    /// Consecutive points pooled into about `bins` points at their count-weighted mean logit,
    /// with summed class counts.
    fn pooled(&self, bins: usize) -> Points {
        let per = self.len().div_ceil(bins);
        let mut pooled = Points::with_capacity(bins);
        for ((x, pos), total) in self
            .x
            .chunks(per)
            .zip(self.pos.chunks(per))
            .zip(self.total.chunks(per))
        {
            let total_sum: f64 = total.iter().sum();
            if total_sum > 0.0 {
                pooled
                    .x
                    .push(x.iter().zip(total).map(|(x, t)| x * t).sum::<f64>() / total_sum);
                pooled.pos.push(pos.iter().sum());
                pooled.total.push(total_sum);
            }
        }
        pooled.pad();
        pooled
    }
}

avx2_dispatch! {
    /// Replaces each value v > 0 by ln v.
    fn ln_in_place(values: &mut [f64]) -> () {
        for v in values {
            *v = ln_positive(*v);
        }
    }
}

avx2_dispatch! {
    /// Replaces each value v ∈ (0, 1) by logit(v) = ln(v / (1 − v)).
    fn logits(values: &mut [f64]) -> () {
        for v in values {
            *v = ln_positive(*v / (1.0 - *v));
        }
    }
}

/// (σ(η), 1 − σ(η), e^−|η|), the probabilities to full relative precision (no 1 − p
/// cancellation).
#[inline(always)]
fn probabilities(eta: f64) -> (f64, f64, f64) {
    let e = exp_nonpositive(-eta.abs());
    let big = 1.0 / (1.0 + e);
    let small = e * big;
    if eta >= 0.0 {
        (big, small, e)
    } else {
        (small, big, e)
    }
}

/// Adds the lanes of `acc` in a fixed order.
#[inline(always)]
fn lane_sum(acc: [f64; LANES]) -> f64 {
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Points per block of the passes: the per-point map fills block-sized buffers (a loop without
/// a carried dependency, which the compiler vectorises), then the sums are taken over them.
const BLOCK: usize = 256;

avx2_dispatch! {
    /// Log-likelihood, score vector and information matrix of η = a + b·x at (a, b), in one
    /// pass.
    ///
    /// The log-likelihood uses ln σ(η) = −|η|·[η < 0] − ln(1 + e^−|η|) (and the mirror image for
    /// 1 − σ), so each point costs one exponential and one logarithm of a number in [1, 2], both
    /// branch-free; summed per lane it is exact to about √N·2⁻⁵³ relative, far inside the 1e-9
    /// tolerance of the step acceptance. It is never reported.
    fn pass(c: &Points, a: f64, b: f64) -> (f64, [f64; 2], [f64; 3]) {
        let mut acc = [[0.0f64; LANES]; 6];
        let (mut ll, mut r, mut w) = ([0.0; BLOCK], [0.0; BLOCK], [0.0; BLOCK]);
        for ((x, pos), total) in c.x.chunks(BLOCK).zip(c.pos.chunks(BLOCK)).zip(c.total.chunks(BLOCK)) {
            let outputs = ll.iter_mut().zip(r.iter_mut()).zip(w.iter_mut());
            for (((&x, &pos), &total), ((ll, r), w)) in x.iter().zip(pos).zip(total).zip(outputs) {
                let eta = a + b * x;
                let (p, q, e) = probabilities(eta);
                let minority = if eta >= 0.0 { total - pos } else { pos };
                *ll = minority * eta.abs() + total * ln_1p_unit(e);
                *r = pos - total * p;
                *w = total * p * q;
            }
            let lanes = x.chunks_exact(LANES).zip(ll.chunks_exact(LANES)).zip(r.chunks_exact(LANES).zip(w.chunks_exact(LANES)));
            for ((x, ll), (r, w)) in lanes {
                for l in 0..LANES {
                    acc[0][l] -= ll[l];
                    acc[1][l] += r[l];
                    acc[2][l] += r[l] * x[l];
                    acc[3][l] += w[l];
                    acc[4][l] += w[l] * x[l];
                    acc[5][l] += w[l] * x[l] * x[l];
                }
            }
        }
        let [ll, g0, g1, h00, h01, h11] = acc.map(lane_sum);
        (ll, [g0, g1], [h00, h01, h11])
    }
}

avx2_dispatch! {
    /// Score and information of the intercept a in η = a + x (slope fixed at 1), in one pass.
    fn pass_offset(c: &Points, a: f64) -> (f64, f64) {
        let (mut g, mut h) = ([0.0f64; LANES], [0.0f64; LANES]);
        let (mut r, mut w) = ([0.0; BLOCK], [0.0; BLOCK]);
        for ((x, pos), total) in c.x.chunks(BLOCK).zip(c.pos.chunks(BLOCK)).zip(c.total.chunks(BLOCK)) {
            for ((((&x, &pos), &total), r), w) in x.iter().zip(pos).zip(total).zip(r.iter_mut()).zip(w.iter_mut()) {
                let (p, q, _) = probabilities(a + x);
                *r = pos - total * p;
                *w = total * p * q;
            }
            for (r, w) in r[..x.len()].chunks_exact(LANES).zip(w.chunks_exact(LANES)) {
                for l in 0..LANES {
                    g[l] += r[l];
                    h[l] += w[l];
                }
            }
        }
        (lane_sum(g), lane_sum(h))
    }
}

/// Newton steps below this (relative) end the iteration: Newton–Raphson converges
/// quadratically near the optimum, so the error after such a step is of order 1e-18 — far
/// inside the 1e-12 the spec asks of "iterated to convergence".
const STEP_TOL: f64 = 1e-9;

/// Newton–Raphson with step-halving on the full (a, b) model, iterated to convergence (see
/// [`STEP_TOL`]) — unlike R rms `val.prob`, which stops when the deviance changes by ≤ 0.025
/// and can be off by 1e-4 on small data.
fn newton(points: &Points, start: (f64, f64)) -> Result<Recalibration, String> {
    let (mut a, mut b) = start;
    let (mut ll, mut g, mut h) = pass(points, a, b);
    for iteration in 1..=100 {
        let det = h[0] * h[2] - h[1] * h[1];
        if !(det > 0.0 && det.is_finite()) {
            return Err(
                "the information matrix is singular (scores carry no information about the labels)"
                    .into(),
            );
        }
        let mut da = (h[2] * g[0] - h[1] * g[1]) / det;
        let mut db = (h[0] * g[1] - h[1] * g[0]) / det;
        if da.abs() <= STEP_TOL * a.abs().max(1.0) && db.abs() <= STEP_TOL * b.abs().max(1.0) {
            // Quadratic convergence: after this step the error is of order its square.
            return Ok(Recalibration {
                intercept: a + da,
                slope: b + db,
                iterations: iteration,
            });
        }
        let mut halvings = 0;
        loop {
            let (ll_new, g_new, h_new) = pass(points, a + da, b + db);
            // Accept any step that does not lower the log-likelihood beyond rounding noise.
            if ll_new >= ll - 1e-9 * ll.abs().max(1.0) || halvings >= 60 {
                a += da;
                b += db;
                (ll, g, h) = (ll_new, g_new, h_new);
                break;
            }
            da /= 2.0;
            db /= 2.0;
            halvings += 1;
        }
    }
    Err("the Newton iteration did not converge in 100 steps".into())
}

/// Calibration-in-the-large: the MLE of a in logit P(y = 1) = a + logit(score) (R
/// `glm(y ~ 1, offset = logit(score), family = binomial)`), by 1-D Newton to convergence.
fn in_the_large(points: &Points, start: f64) -> Result<f64, String> {
    let mut a = start;
    for _ in 0..200 {
        let (g, h) = pass_offset(points, a);
        if h.is_nan() || h <= 0.0 {
            return Err("the information is zero".into());
        }
        // The log-likelihood is concave in a with a unique maximum when both classes are
        // present; damp very long steps so that far starts cannot overshoot.
        let step = (g / h).clamp(-5.0, 5.0);
        a += step;
        if step.abs() <= STEP_TOL * a.abs().max(1.0) {
            return Ok(a); // converged: the remaining error is of order step²
        }
    }
    Err("the Newton iteration did not converge in 200 steps".into())
}

/// Above this many distinct scores the fits start from the solution of a pooled problem.
const WARM_START_ABOVE: usize = 16384;
/// Number of pooled points of that problem.
const WARM_START_BINS: usize = 4096;

/// Logistic recalibration (Cox 1958; Van Calster et al. 2016, J Clin Epidemiol 74:167–176,
/// "weak calibration"; R rms `val.prob` reports the same two numbers) on rows with
/// 0 < score < 1, iterated to convergence. Takes the tie table of the scores
/// ([`crate::Ranked`]): the likelihood depends only on the class counts at each distinct score.
///
/// If the classes are (quasi-)completely separated by logit(score) — every positive's score ≥
/// every negative's or the reverse — the MLE does not exist (Albert & Anderson 1984) and the
/// slope would run off to infinity: reported as `mle_exists = false` with a reason, never as a
/// huge number. Calibration-in-the-large is still defined then (both classes present).
pub fn recalibration(groups: &[TieGroup]) -> RecalibrationFit {
    let used = || groups.iter().filter(|g| g.value > 0.0 && g.value < 1.0);
    let (m, n) = used().fold((0u64, 0u64), |(m, n), g| (m + g.pos, n + g.neg));
    let n_used = m + n;
    let fail = |reason: String| RecalibrationFit {
        n_used,
        mle_exists: false,
        fit: Err(reason.clone()),
        in_the_large: Err(reason),
    };
    if n_used == 0 {
        return fail("no rows with 0 < score < 1 to fit".to_string());
    }
    if m == 0 || n == 0 {
        return fail(format!(
            "{} among the {n_used} rows with 0 < score < 1",
            crate::one_class_reason(m, n)
        ));
    }
    // Scores ascend along the tie table, and logit is increasing.
    let min1 = used().find(|g| g.pos > 0).map(|g| g.value);
    let max1 = used().rev().find(|g| g.pos > 0).map(|g| g.value);
    let min0 = used().find(|g| g.neg > 0).map(|g| g.value);
    let max0 = used().rev().find(|g| g.neg > 0).map(|g| g.value);
    let distinct = used().count();
    let points = Points::from_used(used(), distinct);
    // Large inputs: solve a binned version first (consecutive points pooled at their mean logit)
    // and start the exact fits there. The estimate is the same converged MLE; it only takes
    // about half the passes over the data.
    let (start, start_citl) = if distinct > WARM_START_ABOVE {
        let coarse = points.pooled(WARM_START_BINS);
        let ab = newton(&coarse, (0.0, 1.0)).map_or((0.0, 1.0), |r| (r.intercept, r.slope));
        (ab, in_the_large(&coarse, 0.0).unwrap_or(0.0))
    } else {
        ((0.0, 1.0), 0.0) // perfect calibration: the natural start
    };
    let in_the_large = in_the_large(&points, start_citl);
    let fit = if distinct == 1 {
        Err("all scores are equal: the slope is not identifiable".to_string())
    } else if max0 <= min1 || max1 <= min0 {
        let (hi, lo) = if max0 <= min1 {
            ("positive", "negative")
        } else {
            ("negative", "positive")
        };
        Err(format!(
            "the classes are separated by the score (every {hi} score >= every {lo} score): the maximum-likelihood estimate does not exist"
        ))
    } else {
        newton(&points, start)
    };
    RecalibrationFit {
        n_used,
        mle_exists: fit.is_ok(),
        fit,
        in_the_large,
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    /// The vectorised pass agrees with the textbook sums (with std exp and ln) on points that
    /// include η far out on both sides, empty padding and counts above one.
    #[test]
    fn pass_matches_the_textbook_sums() {
        let points: Vec<(f64, u64, u64)> = (0..1001)
            .map(|i| {
                (
                    -40.0 + 0.08 * i as f64,
                    (i % 3) as u64,
                    (i % 5 == 0) as u64 + (i % 2) as u64,
                )
            })
            .collect();
        let mut cols = Points::with_capacity(points.len());
        for &(x, pos, neg) in &points {
            cols.x.push(x);
            cols.pos.push(pos as f64);
            cols.total.push((pos + neg) as f64);
        }
        cols.pad();
        for &(a, b) in &[(0.0, 1.0), (-0.7, 2.5), (3.0, -20.0), (0.2, 0.0)] {
            let (ll, g, h) = pass(&cols, a, b);
            let (mut ll0, mut g0, mut h0) = (0.0, [0.0; 2], [0.0; 3]);
            for &(x, pos, neg) in &points {
                let eta: f64 = a + b * x;
                let (p, q) = (1.0 / (1.0 + (-eta).exp()), 1.0 / (1.0 + eta.exp()));
                let (pos, neg) = (pos as f64, neg as f64);
                // ln σ(η) = −softplus(−η), ln(1 − σ(η)) = −softplus(η).
                let softplus = |t: f64| t.max(0.0) + (-t.abs()).exp().ln_1p();
                ll0 -= pos * softplus(-eta) + neg * softplus(eta);
                let r = pos - (pos + neg) * p;
                let w = (pos + neg) * p * q;
                g0[0] += r;
                g0[1] += r * x;
                h0[0] += w;
                h0[1] += w * x;
                h0[2] += w * x * x;
            }
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs().max(1.0);
            assert!(close(ll, ll0), "ll {ll} vs {ll0} at ({a}, {b})");
            assert!(close(g[0], g0[0]) && close(g[1], g0[1]), "{g:?} vs {g0:?}");
            assert!(
                h.iter().zip(&h0).all(|(&x, &y)| close(x, y)),
                "{h:?} vs {h0:?}"
            );
            let (go, ho) = pass_offset(&cols, a);
            let (_, gb, hb) = pass(&cols, a, 1.0);
            assert!(close(go, gb[0]) && close(ho, hb[0]));
        }
    }
}
