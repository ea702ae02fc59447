//! Seeded stratified bootstrap confidence interval of the AUROC.
//!
//! Definition (pROC 1.18 `ci.auc(method = "bootstrap", boot.stratified = TRUE)`; Carpenter &
//! Bithell 2000 for the percentile interval): each replicate resamples the m positives and the n
//! negatives separately, with replacement, and recomputes the AUROC; the CI is the type-7
//! quantiles (R's default) at 0.025 and 0.975 of the B replicate AUROCs.
//!
//! Reproducibility, bit for bit, on any machine and any thread count:
//! * Replicate b (0-based) draws from its own Xoshiro256++ generator (Blackman & Vigna 2021),
//!   seeded through `SeedableRng::seed_from_u64` (SplitMix64 expansion) with the b-th output of a
//!   master Xoshiro256++ seeded the same way with the user's seed.
//! * It draws m indices uniformly from [0, m) (the positives, in ascending score order, ties
//!   in case order), then n from [0, n) (the negatives, likewise), with Lemire's (2019)
//!   unbiased multiply-and-reject method on 32-bit uniforms, two per `next_u64` (low half first).
//! * Each replicate's AUROC is an exact integer ratio (see below), so no summation order matters.
//!
//! Speed: a replicate does not sort, and its draws are shared by every model evaluated on the
//! same cases ([`bootstrap_aurocs`]). All models see the same m positives and n negatives, and
//! replicate b of each is defined by the same generator, so its draws are the same positions
//! (in each model's own score order): they are made once and counted per position (P_j, N_j, a
//! byte each, in cache), and the counts summed into running totals. Then, per model, one
//! sequential pass over its occupied negative buckets, reading the totals at run boundaries:
//! with S_k the resampled positives at or above the k-th distinct positive value u_k,
//! 2·U = Σ over occupied negative buckets of (S_⌊b/2⌋ + S_⌈b/2⌉) × (negatives drawn there),
//! where bucket b = 2k holds negatives strictly between u_{k−1} and u_k and b = 2k + 1 those
//! tied with u_k (a tie counts one half). Exact integers throughout.

use crate::ranks::TieGroup;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rayon::prelude::*;

/// Bootstrap summary of the AUROC.
#[derive(Clone, Debug, PartialEq)]
pub struct BootstrapCi {
    /// Number of replicates B.
    pub replicates: usize,
    pub seed: u64,
    /// Type-7 quantiles at 0.025 and 0.975.
    pub ci95: [f64; 2],
    /// Type-7 quantile at 0.5.
    pub median: f64,
}

/// 32-bit uniforms from Xoshiro256++: each 64-bit output supplies two, low half first. Index
/// draws need at most 32 bits (cases are counted in u32), so this halves the generator's cost.
pub(crate) struct U32Stream {
    rng: Xoshiro256PlusPlus,
    high: Option<u32>,
}

impl U32Stream {
    pub(crate) fn new(seed: u64) -> Self {
        U32Stream {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            high: None,
        }
    }

    #[inline]
    fn next(&mut self) -> u32 {
        match self.high.take() {
            Some(h) => h,
            None => {
                let x = self.rng.next_u64();
                self.high = Some((x >> 32) as u32);
                x as u32
            }
        }
    }

    /// Uniform integer in [0, bound) by Lemire's nearly divisionless method (Lemire 2019, "Fast
    /// random integer generation in an interval", ACM TOMACS 29:3). `bound` must be > 0.
    #[inline]
    pub(crate) fn below(&mut self, bound: u32) -> u32 {
        let mut prod = self.next() as u64 * bound as u64;
        if (prod as u32) < bound {
            let threshold = bound.wrapping_neg() % bound;
            while (prod as u32) < threshold {
                prod = self.next() as u64 * bound as u64;
            }
        }
        (prod >> 32) as u32
    }
}

/// The most bootstrap replicates any command or suite accepts (`harness eval --bootstrap`,
/// a suite's `[metrics] bootstrap`): beyond this the Monte-Carlo error of a 95 % interval's
/// end points is far below the third decimal, and the run time is not.
pub const MAX_REPLICATES: usize = 100_000;

/// The seed of each replicate's generator for the user's `seed` (see the module doc).
pub fn replicate_seeds(seed: u64, replicates: usize) -> Vec<u64> {
    let mut master = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..replicates).map(|_| master.next_u64()).collect()
}

/// A model's cases in ascending score order, as runs: what the replicates need of it.
pub struct Runs {
    /// Position (among the positives, ascending) where each distinct positive value u_k starts,
    /// then m: K + 1 entries.
    pos_start: Vec<u32>,
    /// Bucket (2k or 2k + 1) of each occupied negative bucket, ascending.
    neg_bucket: Vec<u32>,
    /// Position (among the negatives) where each occupied bucket ends.
    neg_end: Vec<u32>,
    m: u32,
    n: u32,
}

impl Runs {
    /// From a model's tie table (ascending, distinct scores). Its cases are enumerated in
    /// ascending score order (ties in case order), as the draws number them.
    ///
    /// # Panics
    /// If the table counts more than `u32::MAX` cases.
    pub fn new(groups: &[TieGroup]) -> Self {
        let (m, n) = crate::ranks::class_counts(groups);
        assert!(m + n <= u32::MAX as u64, "too many cases");
        let (mut pos_start, mut neg_bucket, mut neg_end) =
            (Vec::new(), Vec::new(), Vec::<u32>::new());
        let (mut positives, mut negatives) = (0u32, 0u32);
        for g in groups {
            let (pos, neg) = (g.pos as u32, g.neg as u32);
            let k = pos_start.len() as u32;
            if neg > 0 {
                negatives += neg;
                let bucket = if pos > 0 { 2 * k + 1 } else { 2 * k };
                if neg_bucket.last() == Some(&bucket) {
                    *neg_end.last_mut().expect("an end per bucket") = negatives;
                } else {
                    neg_bucket.push(bucket);
                    neg_end.push(negatives);
                }
            }
            if pos > 0 {
                pos_start.push(positives);
                positives += pos;
            }
        }
        pos_start.push(positives);
        Runs {
            pos_start,
            neg_bucket,
            neg_end,
            m: m as u32,
            n: n as u32,
        }
    }

    /// Twice the Mann–Whitney U of a resample, from the running totals of its draws:
    /// `pos_prefix[j]` = draws of the positives before position j (m + 1 entries), and
    /// `neg_prefix` likewise for the negatives.
    fn twice_u(&self, pos_prefix: &[u32], neg_prefix: &[u32]) -> u64 {
        let m = u64::from(self.m);
        // Resampled positives with value index >= k.
        let above = |k: usize| m - u64::from(pos_prefix[self.pos_start[k] as usize]);
        let (mut twice_u, mut before) = (0u64, 0u64);
        for (&bucket, &end) in self.neg_bucket.iter().zip(&self.neg_end) {
            let through = u64::from(neg_prefix[end as usize]);
            let b = bucket as usize;
            // 2·above + tied = S(⌈b/2⌉) + S(⌊b/2⌋) (equal halves for a bucket between values).
            twice_u += (above(b / 2) + above(b.div_ceil(2))) * (through - before);
            before = through;
        }
        twice_u
    }
}

/// Scratch of one thread's replicates.
#[derive(Default)]
struct Scratch {
    pos_draws: Vec<u8>,
    neg_draws: Vec<u8>,
    pos_wide: Vec<u32>,
    neg_wide: Vec<u32>,
    pos_prefix: Vec<u32>,
    neg_prefix: Vec<u32>,
}

/// `prefix[j]` = Σ counts[..j], for j = 0..=len.
fn prefix_sums<C: Counter>(counts: &[C], prefix: &mut Vec<u32>) {
    // Sized first and written through a slice: pushing would reload the vector's pointer and
    // store its length at every element (it may alias `counts` as far as the compiler knows).
    prefix.clear();
    prefix.resize(counts.len() + 1, 0);
    let mut total = 0u32;
    for (p, &c) in prefix[1..].iter_mut().zip(counts) {
        // Totals are at most m or n, which fit u32.
        total += c.into() as u32;
        *p = total;
    }
}

/// A draw counter: one byte per position keeps the counters of 200,000 cases in cache; a
/// position drawn 256 times or more (never seen in practice, but possible) wraps it, which
/// the count check in [`Scratch::count`] catches, and the replicate is counted again in u32.
trait Counter: Copy + Default + Into<u64> {
    fn increment(&mut self);
}

impl Counter for u8 {
    #[inline]
    fn increment(&mut self) {
        *self = self.wrapping_add(1);
    }
}

impl Counter for u32 {
    #[inline]
    fn increment(&mut self) {
        *self += 1;
    }
}

/// Counts the draws of replicate `seed` per position: m positives, then n negatives.
fn count_draws<C: Counter>(m: u32, n: u32, seed: u64, pos: &mut Vec<C>, neg: &mut Vec<C>) {
    let mut rng = U32Stream::new(seed);
    pos.clear();
    pos.resize(m as usize, C::default());
    for _ in 0..m {
        pos[rng.below(m) as usize].increment();
    }
    neg.clear();
    neg.resize(n as usize, C::default());
    for _ in 0..n {
        neg[rng.below(n) as usize].increment();
    }
}

/// Whether byte counters of `draws` draws hold their true counts: each wrap loses 256 from
/// their total.
fn no_counter_wrapped(counts: &[u8], draws: u32) -> bool {
    counts.iter().map(|&c| u64::from(c)).sum::<u64>() == u64::from(draws)
}

impl Scratch {
    /// Replicate `seed`'s twice-U for each model.
    fn twice_u(&mut self, models: &[&Runs], seed: u64) -> Vec<u64> {
        let (m, n) = (models[0].m, models[0].n);
        count_draws(m, n, seed, &mut self.pos_draws, &mut self.neg_draws);
        if no_counter_wrapped(&self.pos_draws, m) && no_counter_wrapped(&self.neg_draws, n) {
            prefix_sums(&self.pos_draws, &mut self.pos_prefix);
            prefix_sums(&self.neg_draws, &mut self.neg_prefix);
        } else {
            count_draws(m, n, seed, &mut self.pos_wide, &mut self.neg_wide);
            prefix_sums(&self.pos_wide, &mut self.pos_prefix);
            prefix_sums(&self.neg_wide, &mut self.neg_prefix);
        }
        models
            .iter()
            .map(|r| r.twice_u(&self.pos_prefix, &self.neg_prefix))
            .collect()
    }
}

/// The first `count` integers uniform in `[0, bound)` that the generator of replicate seed
/// `replicate_seed` draws (Lemire's method on 32-bit halves, as every bootstrap here draws): for
/// cross-checking a bootstrap that draws its own units (patients) against a direct computation.
pub fn bounded_draws(replicate_seed: u64, bound: u32, count: usize) -> Vec<u32> {
    let mut rng = U32Stream::new(replicate_seed);
    (0..count).map(|_| rng.below(bound)).collect()
}

/// The positions (in ascending score order) of the positives and negatives that replicate with
/// generator seed `replicate_seed` draws: the resample that [`replicate_aurocs`] scores without
/// materialising it. For cross-checking the counting algorithm against a direct computation.
pub fn replicate_draws(groups: &[TieGroup], replicate_seed: u64) -> (Vec<u32>, Vec<u32>) {
    let (m, n) = crate::ranks::class_counts(groups);
    let (m, n) = (m as u32, n as u32);
    if m == 0 || n == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut rng = U32Stream::new(replicate_seed);
    let pos = (0..m).map(|_| rng.below(m)).collect();
    let neg = (0..n).map(|_| rng.below(n)).collect();
    (pos, neg)
}

/// The 95 % percentile interval and the median of bootstrap replicates (type-7 quantiles at
/// 0.025, 0.975 and 0.5), sorting `values` in place: `([lower, upper], median)`. `values` must
/// not be empty.
pub fn percentile_ci(values: &mut [f64]) -> ([f64; 2], f64) {
    values.sort_unstable_by(f64::total_cmp);
    (
        [quantile_type7(values, 0.025), quantile_type7(values, 0.975)],
        quantile_type7(values, 0.5),
    )
}

/// Type-7 quantile (R's default, Hyndman & Fan 1996) of sorted data at probability `p`.
pub fn quantile_type7(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The B replicate AUROCs of each model, in replicate order (`result[model][b]`); all models
/// must have the same positives and negatives (one label vector). Empty when a class is absent
/// or B = 0. Replicates run in parallel (rayon); the result does not depend on the thread count.
pub fn replicate_aurocs_of(models: &[&Runs], replicates: usize, seed: u64) -> Vec<Vec<f64>> {
    let Some(first) = models.first() else {
        return Vec::new();
    };
    let (m, n) = (first.m, first.n);
    assert!(
        models.iter().all(|r| (r.m, r.n) == (m, n)),
        "the models must share their labels"
    );
    if m == 0 || n == 0 || replicates == 0 {
        return models.iter().map(|_| Vec::new()).collect();
    }
    let denominator = (2 * m as u128 * n as u128) as f64;
    let per_replicate: Vec<Vec<f64>> = replicate_seeds(seed, replicates)
        .par_iter()
        .map_init(Scratch::default, |scratch, &s| {
            scratch
                .twice_u(models, s)
                .into_iter()
                .map(|u| u as f64 / denominator)
                .collect()
        })
        .collect();
    (0..models.len())
        .map(|k| per_replicate.iter().map(|aucs| aucs[k]).collect())
        .collect()
}

/// The B replicate AUROCs of one model, in replicate order (see [`replicate_aurocs_of`]).
pub fn replicate_aurocs(groups: &[TieGroup], replicates: usize, seed: u64) -> Vec<f64> {
    replicate_aurocs_of(&[&Runs::new(groups)], replicates, seed)
        .pop()
        .unwrap_or_default()
}

/// The CI and median from the replicate AUROCs; `None` if there are none.
fn summary(mut aucs: Vec<f64>, seed: u64) -> Option<BootstrapCi> {
    if aucs.is_empty() {
        return None;
    }
    let (ci95, median) = percentile_ci(&mut aucs);
    Some(BootstrapCi {
        replicates: aucs.len(),
        seed,
        ci95,
        median,
    })
}

/// Stratified percentile bootstrap CI of each model's AUROC, all models on the same draws (see
/// the module doc); `None` for all when a class is absent.
pub fn bootstrap_aurocs(
    models: &[&Runs],
    replicates: usize,
    seed: u64,
) -> Vec<Option<BootstrapCi>> {
    replicate_aurocs_of(models, replicates, seed)
        .into_iter()
        .map(|aucs| summary(aucs, seed))
        .collect()
}

/// Stratified percentile bootstrap CI of one model's AUROC; `None` when a class is absent.
pub fn bootstrap_auroc(groups: &[TieGroup], replicates: usize, seed: u64) -> Option<BootstrapCi> {
    summary(replicate_aurocs(groups, replicates, seed), seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::Ranked;

    /// With many positives and few negatives (the properties test the usual shape): each
    /// replicate AUROC is that of the very resample `replicate_draws` describes, computed
    /// directly.
    #[test]
    fn many_positives_give_the_resample_auroc() {
        let (m, n) = (40_000usize, 900usize);
        let labels: Vec<bool> = (0..m + n).map(|i| i < m).collect();
        let scores: Vec<f64> = (0..m + n)
            .map(|i| ((i * 7919) % 1000) as f64 / 1000.0)
            .collect();
        let ranked = Ranked::new(&labels, &scores);
        let values = |positive: bool| -> Vec<f64> {
            ranked
                .groups
                .iter()
                .flat_map(|g| {
                    std::iter::repeat_n(g.value, if positive { g.pos } else { g.neg } as usize)
                })
                .collect()
        };
        let (pos_vals, neg_vals) = (values(true), values(false));
        let aucs = replicate_aurocs(&ranked.groups, 3, 11);
        for (seed, auc) in replicate_seeds(11, 3).into_iter().zip(aucs) {
            let (pos, neg) = replicate_draws(&ranked.groups, seed);
            let mut drawn: Vec<f64> = pos.iter().map(|&j| pos_vals[j as usize]).collect();
            drawn.sort_by(f64::total_cmp);
            let twice_u: u64 = neg
                .iter()
                .map(|&j| {
                    let v = neg_vals[j as usize];
                    let below_or_eq = drawn.partition_point(|&p| p <= v);
                    let below = drawn.partition_point(|&p| p < v);
                    (2 * (drawn.len() - below_or_eq) + (below_or_eq - below)) as u64
                })
                .sum();
            assert_eq!(auc, twice_u as f64 / (2.0 * m as f64 * n as f64));
        }
    }

    /// Models bootstrapped together get exactly what each gets alone.
    #[test]
    fn shared_draws_give_each_model_its_own_bootstrap() {
        let n = 3000;
        let labels: Vec<bool> = (0..n).map(|i| (i * 37) % 10 < 3).collect();
        let a: Vec<f64> = (0..n).map(|i| ((i * 7919) % 101) as f64 / 100.0).collect();
        let b: Vec<f64> = (0..n)
            .map(|i| {
                if labels[i] {
                    0.6
                } else {
                    ((i * 13) % 7) as f64 / 10.0
                }
            })
            .collect();
        let (ra, rb) = (Ranked::new(&labels, &a), Ranked::new(&labels, &b));
        let joint = bootstrap_aurocs(&[&Runs::new(&ra.groups), &Runs::new(&rb.groups)], 250, 5);
        assert_eq!(
            joint,
            vec![
                bootstrap_auroc(&ra.groups, 250, 5),
                bootstrap_auroc(&rb.groups, 250, 5)
            ]
        );
        assert!(joint[0] != joint[1]);
    }

    /// A byte counter that wrapped is caught by the total, and the u32 counts agree with the
    /// byte counts otherwise.
    #[test]
    fn wrapped_byte_counters_are_detected() {
        let (m, n) = (300u32, 5000u32);
        let (mut p8, mut n8, mut p32, mut n32) = (
            Vec::<u8>::new(),
            Vec::<u8>::new(),
            Vec::<u32>::new(),
            Vec::<u32>::new(),
        );
        count_draws(m, n, 42, &mut p8, &mut n8);
        count_draws(m, n, 42, &mut p32, &mut n32);
        assert!(no_counter_wrapped(&p8, m) && no_counter_wrapped(&n8, n));
        assert!(p8.iter().zip(&p32).all(|(&a, &b)| u32::from(a) == b));
        assert!(n8.iter().zip(&n32).all(|(&a, &b)| u32::from(a) == b));
        // 256 draws of one position wrap its byte to 0.
        let mut wrapped = vec![0u8; 300];
        for _ in 0..256 {
            wrapped[7].increment();
        }
        wrapped[8] = 44;
        assert!(!no_counter_wrapped(&wrapped, 300));
    }
}
