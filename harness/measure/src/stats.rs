//! Latency statistics with MLPerf LoadGen's conventions: percentiles, the early-stopping
//! percentile estimate, summaries and plot-ready CDFs.
//!
//! Latencies are integer nanoseconds (LoadGen's `QuerySampleLatency`), sorted ascending before
//! any of these functions is called; reported figures are converted to milliseconds.
//!
//! The definitions follow `loadgen/results.cc` (`PerformanceSummary::ProcessLatencies`,
//! `PerformanceSummary::EarlyStopping`) and `loadgen/early_stopping.cc` in
//! [mlcommons/inference](https://github.com/mlcommons/inference), read at the time of writing;
//! this is an independent implementation of the same arithmetic, not a port of the code.

use serde::{Deserialize, Serialize};
use statrs::function::factorial::ln_binomial;

/// Confidence of LoadGen's early-stopping test (`confidence = 0.99` in
/// `PerformanceSummary::EarlyStopping`).
pub const EARLY_STOPPING_CONFIDENCE: f64 = 0.99;

/// Tolerance `d` of LoadGen's early-stopping test (`tolerance = 0.0`): the per-query success
/// probability tested is `p − d`.
pub const EARLY_STOPPING_TOLERANCE: f64 = 0.0;

/// Index of the `p` percentile in a sorted array of `n` latencies, as LoadGen computes it:
/// `sample_latencies[sample_count * percentile]`, i.e. `floor(n · p)` in double precision
/// (`loadgen/results.cc`, `ProcessLatencies`). LoadGen asserts `p < 1`; here the index is
/// clamped to `n − 1` so that `p = 1` gives the maximum. `None` when `n = 0` or `p` is not in
/// `[0, 1]`.
pub fn percentile_index(n: usize, p: f64) -> Option<usize> {
    if n == 0 || !(0.0..=1.0).contains(&p) {
        return None;
    }
    // `as usize` truncates toward zero, like the implicit double → size_t conversion in C++.
    Some(((n as f64 * p) as usize).min(n - 1))
}

/// The `p` percentile of ascending-sorted latencies by LoadGen's rule ([`percentile_index`]).
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    percentile_index(sorted.len(), p).map(|i| sorted[i])
}

/// `P(X ≤ t)` for `X ~ Binomial(h + t, 1 − (p − d))`: the chance of seeing at most `t`
/// over-latency queries among `h + t` when each query is over latency with probability
/// `1 − (p − d)`. LoadGen's `odds(h, t, p, d)` (`loadgen/early_stopping.cc`), which it evaluates as
/// the regularised incomplete beta `I_{p−d}(h, t + 1)`.
///
/// Computed exactly in log space: the largest term of the shorter tail is `exp(ln C(N, k) +
/// k ln q + (N − k) ln s)` (with `ln C` from `statrs`' log-factorials), and the remaining
/// terms of that tail follow from the ratio recurrence until they stop contributing. Cost is
/// `O(number of significant terms)`, about `O(√N)` near the decision boundary. For the
/// arguments the early-stopping search uses, the relative error is dominated by `ln Γ` at
/// `N` (around `1e-15 · N`), negligible next to the 0.01 threshold it is compared against.
///
/// Returns `None` when `s = p − d` is not strictly inside `(0, 1)`.
pub fn odds(h: u64, t: u64, p: f64, d: f64) -> Option<f64> {
    let s = p - d; // probability that one query passes
    if !(s > 0.0 && s < 1.0) {
        return None;
    }
    if h == 0 {
        return Some(1.0); // t failures out of t trials: certain.
    }
    let q = 1.0 - s; // probability that one query fails (is over latency)
    let n = h + t;
    let (ln_s, ln_q) = (s.ln(), q.ln());
    let ln_term = |k: u64| ln_binomial(n, k) + k as f64 * ln_q + (n - k) as f64 * ln_s;
    if (t as f64) < n as f64 * q {
        // t lies below the mean, so terms shrink as k falls from t: sum the lower tail.
        let mut rel = 1.0_f64; // term(k) / term(t)
        let mut sum = 1.0_f64;
        let mut k = t;
        while k > 0 {
            rel *= k as f64 / (n - k + 1) as f64 * (s / q);
            sum += rel;
            if rel < sum * 1e-18 {
                break;
            }
            k -= 1;
        }
        Some((ln_term(t) + sum.ln()).exp().min(1.0))
    } else {
        // t at or above the mean: the upper tail P(X ≥ t + 1) is the short one.
        if t >= n {
            return Some(1.0);
        }
        let first = t + 1;
        let mut rel = 1.0_f64;
        let mut sum = 1.0_f64;
        let mut k = first;
        while k < n {
            rel *= (n - k) as f64 / (k + 1) as f64 * (q / s);
            sum += rel;
            if rel < sum * 1e-18 {
                break;
            }
            k += 1;
        }
        Some((1.0 - (ln_term(first) + sum.ln()).exp()).clamp(0.0, 1.0))
    }
}

/// The smallest number of passing queries `h` such that, having also seen `t` failing ones,
/// `odds(h, t, p, d) < 1 − confidence`: LoadGen's `MinPassingQueriesFinder` /
/// `find_min_passing` (`loadgen/early_stopping.cc`). LoadGen's binary search accepts `h` when the
/// probability is strictly below `1 − confidence` (its comment says `≤`; the code uses `<`, and
/// the code is followed here).
///
/// The search brackets `h` by doubling from the neighbourhood of `t·s/q` (where `t` is the
/// expected number of failures) and then bisects: `O(log h)` evaluations of [`odds`], so the
/// early-stopping estimate stays fast for millions of queries. `None` for invalid arguments
/// (`p − d` or `confidence` outside `(0, 1)`).
pub fn find_min_passing(t: u64, p: f64, tolerance: f64, confidence: f64) -> Option<u64> {
    let s = p - tolerance;
    if !(s > 0.0 && s < 1.0 && confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let alpha = 1.0 - confidence;
    let passes = |h: u64| -> Option<bool> { Some(h > 0 && odds(h, t, p, tolerance)? < alpha) };
    let q = 1.0 - s;
    let mut lo = 0_u64; // odds(0, ·) = 1, never passing
    let mut hi = ((t as f64 * s / q).ceil() as u64).max(1);
    while !passes(hi)? {
        lo = hi;
        hi = hi.checked_mul(2)?;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if passes(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// Minimum number of queries before LoadGen can produce an early-stopping estimate of the `p`
/// percentile: `find_min_passing(1, p) + 1` (`h_min + 1` in `PerformanceSummary::EarlyStopping`).
/// 64 for `p = 0.90`, 662 for `p = 0.99` (the MultiStream `min_query_count` in `mlperf.conf`).
pub fn early_stopping_min_queries(p: f64) -> Option<u64> {
    Some(find_min_passing(1, p, EARLY_STOPPING_TOLERANCE, EARLY_STOPPING_CONFIDENCE)? + 1)
}

/// The number `t` such that the early-stopping estimate of the `p` percentile over `n`
/// queries is the `t`-th largest latency (sorted index `n − t`, leaving `t − 1` queries above
/// it, which LoadGen reports as "would discard t − 1 highest latency queries").
///
/// LoadGen walks `i = 2, 3, …` and stops at the first `i` with `n < find_min_passing(i) + i`,
/// taking `t = i − 1`. Because `t + find_min_passing(t)` increases with `t`, that is the largest
/// `t ≥ 1` with `t + find_min_passing(t) ≤ n`, found here by doubling and bisection. `None` when
/// `n` is below [`early_stopping_min_queries`] (or `p` is invalid).
pub fn early_stopping_rank(n: u64, p: f64) -> Option<u64> {
    let fmp = |t: u64| find_min_passing(t, p, EARLY_STOPPING_TOLERANCE, EARLY_STOPPING_CONFIDENCE);
    let fits = |t: u64| -> Option<bool> { Some(t.checked_add(fmp(t)?)? <= n) };
    if !fits(1)? {
        return None;
    }
    let mut lo = 1_u64; // fits
    let mut hi = 2_u64;
    while fits(hi)? {
        lo = hi;
        hi = hi.checked_mul(2)?;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

/// LoadGen's early-stopping result for one latency percentile, as reported in the JSON.
///
/// * single-stream: `satisfied` means at least [`early_stopping_min_queries`] queries ran, so an
///   estimate exists (LoadGen: "Early stopping satisfied"); `estimate_ms` is the latency of the
///   [`early_stopping_rank`]-th largest query, an upper confidence bound (confidence 0.99) on
///   the true percentile.
/// * server: `satisfied` is LoadGen's Server rule: with `t` queries over the latency bound,
///   `queries ≥ find_min_passing(t, p) + t`, i.e. the run shows with 99 % confidence that the
///   `p` percentile is within the bound. `estimate_ms` is computed as for single-stream
///   (LoadGen computes the same conservative 99th-percentile estimate in SingleStream runs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// The percentile estimated, as a fraction (0.90 for single-stream, 0.99 for server).
    pub percentile: f64,
    /// Early-stopping estimate of the percentile; `null` when too few queries ran.
    pub estimate_ms: Option<f64>,
    /// Queries needed before an estimate exists (`find_min_passing(1, p) + 1`).
    pub min_queries: u64,
    /// Measured queries.
    pub queries: u64,
    /// See the type's documentation: whether LoadGen's early-stopping condition holds.
    pub satisfied: bool,
    /// Why `estimate_ms` is null, or why `satisfied` is false.
    pub estimate_reason: Option<String>,
    /// Confidence level of the test (0.99, fixed by LoadGen).
    pub confidence: f64,
    /// Highest-latency queries left above the estimate (`t − 1`).
    pub discarded_queries: Option<u64>,
    /// Server only: the latency bound the overlatency count refers to.
    pub latency_bound_ms: Option<f64>,
    /// Server only: queries whose latency exceeded the bound (LoadGen's
    /// `overlatency_query_count`, strictly greater than the bound).
    pub overlatency_queries: Option<u64>,
    /// Server only: queries the run needed for the claim, `find_min_passing(t) + t`.
    pub required_queries: Option<u64>,
}

/// Converts integer nanoseconds to milliseconds.
pub fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn estimate(sorted: &[u64], p: f64) -> (Option<f64>, Option<u64>, Option<String>) {
    let n = sorted.len() as u64;
    match early_stopping_rank(n, p) {
        Some(t) => (Some(ns_to_ms(sorted[(n - t) as usize])), Some(t - 1), None),
        None => {
            let need = early_stopping_min_queries(p).unwrap_or(0);
            (
                None,
                None,
                Some(format!(
                    "only {n} queries were measured; LoadGen early stopping needs at least {need} \
                     for a {:.0}th-percentile estimate",
                    p * 100.0
                )),
            )
        }
    }
}

/// Single-stream early stopping over ascending-sorted latencies (LoadGen
/// `PerformanceSummary::EarlyStopping`, `TestScenario::SingleStream`). `None` only if `p` is not
/// strictly inside `(0, 1)`.
pub fn single_stream_early_stopping(sorted: &[u64], p: f64) -> Option<EarlyStopping> {
    let min_queries = early_stopping_min_queries(p)?;
    let (estimate_ms, discarded, reason) = estimate(sorted, p);
    Some(EarlyStopping {
        percentile: p,
        satisfied: estimate_ms.is_some(),
        estimate_ms,
        min_queries,
        queries: sorted.len() as u64,
        estimate_reason: reason,
        confidence: EARLY_STOPPING_CONFIDENCE,
        discarded_queries: discarded,
        latency_bound_ms: None,
        overlatency_queries: None,
        required_queries: None,
    })
}

/// Server early stopping over ascending-sorted latencies (LoadGen
/// `PerformanceSummary::EarlyStopping`, `TestScenario::Server`): `t` = queries with latency
/// strictly above `bound_ns`, satisfied when `queries ≥ find_min_passing(t, p) + t`. `None` only
/// if `p` is not strictly inside `(0, 1)`.
pub fn server_early_stopping(sorted: &[u64], p: f64, bound_ns: u64) -> Option<EarlyStopping> {
    let min_queries = early_stopping_min_queries(p)?;
    let n = sorted.len() as u64;
    let over = (sorted.len() - sorted.partition_point(|&x| x <= bound_ns)) as u64;
    let required = find_min_passing(over, p, EARLY_STOPPING_TOLERANCE, EARLY_STOPPING_CONFIDENCE)?
        .saturating_add(over);
    let satisfied = n >= required;
    let (estimate_ms, discarded, mut reason) = estimate(sorted, p);
    if !satisfied {
        reason = Some(format!(
            "{over} of {n} queries exceeded {} ms; LoadGen early stopping needs at least \
             {required} queries (the extra ones all within the bound) to claim the {:.0}th \
             percentile is within it",
            ns_to_ms(bound_ns),
            p * 100.0
        ));
    }
    Some(EarlyStopping {
        percentile: p,
        estimate_ms,
        min_queries,
        queries: n,
        satisfied,
        estimate_reason: reason,
        confidence: EARLY_STOPPING_CONFIDENCE,
        discarded_queries: discarded,
        latency_bound_ms: Some(ns_to_ms(bound_ns)),
        overlatency_queries: Some(over),
        required_queries: Some(required),
    })
}

/// Latency summary in milliseconds; percentiles by LoadGen's rule ([`percentile`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// Arithmetic mean (LoadGen's `sample_latency_mean`, here without its integer division).
    pub mean: f64,
    pub min: f64,
}

/// Summarises ascending-sorted latencies; `None` when there are none.
pub fn summarize(sorted: &[u64]) -> Option<LatencySummary> {
    let (&min, &max) = (sorted.first()?, sorted.last()?);
    let at = |p: f64| percentile(sorted, p).map(ns_to_ms);
    let sum: u128 = sorted.iter().map(|&x| u128::from(x)).sum();
    Some(LatencySummary {
        p50: at(0.50)?,
        p90: at(0.90)?,
        p95: at(0.95)?,
        p99: at(0.99)?,
        max: ns_to_ms(max),
        mean: sum as f64 / sorted.len() as f64 / 1e6,
        min: ns_to_ms(min),
    })
}

/// Empirical CDF of ascending-sorted latencies for plots: `[latency_ms, fraction ≤ latency]`
/// pairs, at most 101, ending at `[max, 1.0]`. With more than 101 latencies the points are
/// taken at 101 evenly spaced ranks; each fraction counts ties, so it is the exact empirical CDF
/// at that latency. Empty input gives an empty vector.
pub fn latency_cdf(sorted: &[u64]) -> Vec<[f64; 2]> {
    const POINTS: usize = 101;
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let ranks: Vec<usize> = if n <= POINTS {
        (0..n).collect()
    } else {
        (0..POINTS)
            .map(|k| (k * (n - 1) + (POINTS - 1) / 2) / (POINTS - 1))
            .collect()
    };
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(ranks.len());
    let mut last_value = None;
    for r in ranks {
        let v = sorted[r];
        if last_value == Some(v) {
            continue;
        }
        last_value = Some(v);
        let at_most = sorted.partition_point(|&x| x <= v);
        out.push([ns_to_ms(v), at_most as f64 / n as f64]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_index_follows_loadgen_floor_rule() {
        // n = 1: every percentile is the only element.
        assert_eq!(percentile_index(1, 0.5), Some(0));
        assert_eq!(percentile_index(1, 0.99), Some(0));
        // n = 2: floor(2 · 0.5) = 1 (the upper element), floor(2 · 0.4) = 0.
        assert_eq!(percentile_index(2, 0.5), Some(1));
        assert_eq!(percentile_index(2, 0.4), Some(0));
        // n = 10: floor(10 · 0.9) = 9, floor(10 · 0.5) = 5, floor(10 · 0.99) = 9.
        assert_eq!(percentile_index(10, 0.9), Some(9));
        assert_eq!(percentile_index(10, 0.5), Some(5));
        assert_eq!(percentile_index(10, 0.99), Some(9));
        // n = 100: floor(100 · 0.95) = 95, floor(100 · 0.99) = 99.
        assert_eq!(percentile_index(100, 0.95), Some(95));
        assert_eq!(percentile_index(100, 0.99), Some(99));
        // p = 1 is clamped to the maximum; invalid inputs give None.
        assert_eq!(percentile_index(100, 1.0), Some(99));
        assert_eq!(percentile_index(0, 0.5), None);
        assert_eq!(percentile_index(5, 1.5), None);
        assert_eq!(percentile_index(5, f64::NAN), None);
    }

    #[test]
    fn percentile_values_with_ties() {
        let v = [5_u64, 5, 5, 7, 7, 9, 9, 9, 9, 20];
        // index 5 → 9; index 9 → 20; index 0 → 5.
        assert_eq!(percentile(&v, 0.5), Some(9));
        assert_eq!(percentile(&v, 0.9), Some(20));
        assert_eq!(percentile(&v, 0.0), Some(5));
        assert_eq!(percentile(&v, 0.3), Some(7)); // floor(3.0) = 3 → 7
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 0.5), Some(51));
        assert_eq!(percentile(&hundred, 0.99), Some(100));
        assert_eq!(percentile(&[42], 0.9), Some(42));
        assert_eq!(percentile(&[1, 2], 0.5), Some(2));
        assert_eq!(percentile(&[], 0.5), None);
    }

    /// Direct summation of the binomial CDF, for comparison on small arguments.
    fn direct_cdf(n: u64, t: u64, fail: f64) -> f64 {
        (0..=t.min(n))
            .map(|k| {
                statrs::function::factorial::binomial(n, k)
                    * fail.powi(k as i32)
                    * (1.0 - fail).powi((n - k) as i32)
            })
            .sum()
    }

    #[test]
    fn odds_matches_direct_binomial_sum() {
        for &(h, t, p) in &[
            (63, 1, 0.9),
            (62, 1, 0.9),
            (10, 3, 0.9),
            (5, 5, 0.5),
            (1, 0, 0.9),
            (3, 40, 0.99),
            (200, 7, 0.97),
        ] {
            let ours = odds(h, t, p, 0.0).unwrap();
            let direct = direct_cdf(h + t, t, 1.0 - p);
            assert!(
                (ours - direct).abs() <= 1e-12 * direct.max(1e-300),
                "h={h} t={t} p={p}: {ours} vs {direct}"
            );
        }
        // Hand computation: P(X ≤ 1 | Bin(64, 0.1)) = 0.9^63 · (0.9 + 64 · 0.1)
        //   = 0.9^63 · 7.3 ≈ 0.0013100 · 7.3 ≈ 0.009563 < 0.01;
        // P(X ≤ 1 | Bin(63, 0.1)) = 0.9^62 · 7.2 ≈ 0.0014556 · 7.2 ≈ 0.010480 ≥ 0.01.
        assert!((odds(63, 1, 0.9, 0.0).unwrap() - 0.009563).abs() < 1e-5);
        assert!((odds(62, 1, 0.9, 0.0).unwrap() - 0.010480).abs() < 1e-5);
        assert_eq!(odds(0, 3, 0.9, 0.0), Some(1.0));
        assert_eq!(odds(3, 3, 1.0, 0.0), None);
    }

    #[test]
    fn odds_agrees_with_statrs_beta_on_moderate_sizes() {
        // LoadGen's identity: P(X ≤ t) = I_p(h, t + 1).
        for &(h, t, p) in &[(700, 60, 0.9), (2000, 15, 0.99), (150, 140, 0.5)] {
            let ours = odds(h, t, p, 0.0).unwrap();
            let beta = statrs::function::beta::beta_reg(h as f64, t as f64 + 1.0, p);
            assert!((ours - beta).abs() < 1e-9, "h={h} t={t}: {ours} vs {beta}");
        }
    }

    #[test]
    fn min_passing_matches_exact_rational_values() {
        // Values from an exact rational-arithmetic evaluation of the same definition
        // (Python `fractions`, p = 9/10): t = 0..7.
        let expected = [44, 63, 79, 94, 109, 122, 136, 149];
        for (t, &h) in expected.iter().enumerate() {
            assert_eq!(
                find_min_passing(t as u64, 0.9, 0.0, 0.99),
                Some(h),
                "t = {t}"
            );
        }
        // t = 0 has the closed form ceil(ln 0.01 / ln 0.9) = ceil(43.7) = 44 (LoadGen's seed y1).
        assert_eq!(early_stopping_min_queries(0.90), Some(64));
        assert_eq!(early_stopping_min_queries(0.99), Some(662));
        assert_eq!(find_min_passing(1, 1.0, 0.0, 0.99), None);
        assert_eq!(find_min_passing(1, 0.9, 0.0, 1.0), None);
    }

    #[test]
    fn early_stopping_rank_matches_exact_walk() {
        // From the exact rational walk of LoadGen's loop (p = 0.9).
        assert_eq!(early_stopping_rank(63, 0.9), None);
        for &(n, t) in &[
            (64, 1),
            (65, 1),
            (100, 3),
            (128, 5),
            (200, 10),
            (500, 34),
            (1000, 78),
            (1024, 80),
        ] {
            assert_eq!(early_stopping_rank(n, 0.9), Some(t), "n = {n}");
        }
        // Larger sizes from a plain Python walk (full lgamma sums, `t` increased one by one).
        assert_eq!(early_stopping_rank(5000, 0.9), Some(450));
        assert_eq!(early_stopping_rank(661, 0.99), None);
        for &(n, t) in &[(662, 1), (1000, 2), (2000, 9), (20_000, 167)] {
            assert_eq!(early_stopping_rank(n, 0.99), Some(t), "n = {n}");
        }
    }

    #[test]
    fn early_stopping_is_fast_and_consistent_for_a_million_queries() {
        let n = 1_000_000;
        let t = early_stopping_rank(n, 0.9).unwrap();
        let fmp = |t| find_min_passing(t, 0.9, 0.0, 0.99).unwrap();
        assert!(t + fmp(t) <= n && t + 1 + fmp(t + 1) > n);
        // About 10 % of queries lie above the 90th percentile; the 99 %-confidence bound keeps
        // a little fewer.
        assert!(t < 100_000 && t > 98_000, "t = {t}");
    }

    #[test]
    fn single_stream_estimate_on_known_arrays() {
        let ms = |k: u64| k * 1_000_000;
        // n = 63 < 64: no estimate.
        let v63: Vec<u64> = (1..=63).map(ms).collect();
        let e = single_stream_early_stopping(&v63, 0.9).unwrap();
        assert!(!e.satisfied && e.estimate_ms.is_none() && e.estimate_reason.is_some());
        assert_eq!((e.min_queries, e.queries), (64, 63));
        // n = 64: t = 1, the estimate is the maximum (64 ms), nothing discarded.
        let v64: Vec<u64> = (1..=64).map(ms).collect();
        let e = single_stream_early_stopping(&v64, 0.9).unwrap();
        assert!(e.satisfied);
        assert_eq!((e.estimate_ms, e.discarded_queries), (Some(64.0), Some(0)));
        // n = 200 with latencies 1..=200 ms: t = 10, estimate = sorted[190] = 191 ms, while the
        // plain p90 is sorted[180] = 181 ms.
        let v200: Vec<u64> = (1..=200).map(ms).collect();
        let e = single_stream_early_stopping(&v200, 0.9).unwrap();
        assert_eq!((e.estimate_ms, e.discarded_queries), (Some(191.0), Some(9)));
        assert_eq!(percentile(&v200, 0.9), Some(ms(181)));
    }

    #[test]
    fn server_early_stopping_counts_overlatency_strictly() {
        let ms = |k: u64| k * 1_000_000;
        // 700 queries all at 5 ms, bound 10 ms: t = 0, h = ceil(ln 0.01 / ln 0.99) = 459 ≤ 700.
        let v = vec![ms(5); 700];
        let e = server_early_stopping(&v, 0.99, ms(10)).unwrap();
        assert_eq!(
            (e.overlatency_queries, e.required_queries),
            (Some(0), Some(459))
        );
        assert!(e.satisfied);
        assert_eq!(e.estimate_ms, Some(5.0)); // 700 ≥ 662 gives an estimate too
        // A latency exactly at the bound is not over it (LoadGen counts latency > bound).
        let mut v = vec![ms(5); 400];
        v.push(ms(10));
        let e = server_early_stopping(&v, 0.99, ms(10)).unwrap();
        assert_eq!(e.overlatency_queries, Some(0));
        assert!(!e.satisfied); // 401 < 459
        // One query over the bound: need 661 + 1 = 662 queries.
        let mut v = vec![ms(5); 700];
        v.push(ms(11));
        let e = server_early_stopping(&v, 0.99, ms(10)).unwrap();
        assert_eq!(
            (e.overlatency_queries, e.required_queries),
            (Some(1), Some(662))
        );
        assert!(e.satisfied);
    }

    #[test]
    fn summary_and_cdf() {
        let v: Vec<u64> = (1..=10).map(|k| k * 1_000_000).collect();
        let s = summarize(&v).unwrap();
        assert_eq!(
            (s.p50, s.p90, s.p99, s.max, s.min),
            (6.0, 10.0, 10.0, 10.0, 1.0)
        );
        assert!((s.mean - 5.5).abs() < 1e-12);
        assert!(summarize(&[]).is_none());

        let cdf = latency_cdf(&[1_000_000, 1_000_000, 2_000_000, 4_000_000]);
        assert_eq!(cdf, vec![[1.0, 0.5], [2.0, 0.75], [4.0, 1.0]]);
        let big: Vec<u64> = (0..10_000).map(|k| k / 3).collect();
        let cdf = latency_cdf(&big);
        assert!(cdf.len() <= 101 && cdf.len() > 90);
        assert_eq!(*cdf.last().unwrap(), [ns_to_ms(3333), 1.0]);
        assert!(
            cdf.windows(2)
                .all(|w| w[0][0] < w[1][0] && w[0][1] < w[1][1])
        );
        assert!(latency_cdf(&[]).is_empty());
    }
}
