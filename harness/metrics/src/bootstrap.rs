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
//! Speed: a replicate does not sort. Positives are coded by the rank k of their distinct score
//! value u_k, negatives by bucket 2k (strictly between u_{k−1} and u_k) or 2k + 1 (equal to u_k).
//! After counting the positive draws per value (P_k), each negative draw adds to 2·U twice the
//! resampled positives above its bucket plus those tied with it, in exact integers. Cases are enumerated in ascending score order (stable),
//! so the codes are non-decreasing in the drawn index and a draw's code is found from a small
//! block table with one popcount ([`MonotoneCodes`]) instead of a lookup in an N-sized array:
//! the replicate's working set stays in cache.

use crate::ranks::Ranked;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
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
struct U32Stream {
    rng: Xoshiro256PlusPlus,
    high: Option<u32>,
}

impl U32Stream {
    fn new(seed: u64) -> Self {
        U32Stream { rng: Xoshiro256PlusPlus::seed_from_u64(seed), high: None }
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
    fn below(&mut self, bound: u32) -> u32 {
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

/// The seed of each replicate's generator for the user's `seed` (see the module doc).
pub fn replicate_seeds(seed: u64, replicates: usize) -> Vec<u64> {
    let mut master = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..replicates).map(|_| master.next_u64()).collect()
}

/// A non-decreasing sequence of codes that rise by 0 or 1 at each step, stored as one
/// (bit mask, base) pair per 64 indices: code(j) = base[j/64] + popcount(rises at or before j
/// in its block). 12 bytes per 64 entries instead of 256.
struct MonotoneCodes {
    blocks: Vec<(u64, u32)>,
}

impl MonotoneCodes {
    /// From codes `c` with c[0] = 0 and c[j] − c[j−1] ∈ {0, 1}.
    fn new(codes: impl IntoIterator<Item = u32>) -> Self {
        let mut blocks: Vec<(u64, u32)> = Vec::new();
        let mut prev = 0u32;
        for (j, c) in codes.into_iter().enumerate() {
            debug_assert!(c == prev || c == prev + 1 || j == 0);
            if j % 64 == 0 {
                blocks.push((0, c));
            } else if c != prev {
                blocks.last_mut().expect("a block was pushed at j % 64 == 0").0 |= 1 << (j % 64);
            }
            prev = c;
        }
        MonotoneCodes { blocks }
    }

    #[inline]
    fn get(&self, j: u32) -> usize {
        let (mask, base) = self.blocks[(j / 64) as usize];
        // Keep the rises at positions 0..=j of the block (bit 0 is never set).
        let up_to_j = mask << (63 - j % 64);
        base as usize + up_to_j.count_ones() as usize
    }
}

/// The codes of a model's cases for fast replicates (see the module doc).
struct Codes {
    /// Positives in ascending score order → rank k of their distinct value.
    pos: MonotoneCodes,
    /// Negatives in ascending score order → index of their distinct occupied bucket.
    neg: MonotoneCodes,
    /// Bucket (2k or 2k + 1) of each occupied negative bucket.
    neg_bucket: Vec<u32>,
    /// Number K of distinct positive values.
    k: usize,
}

fn codes(ranked: &Ranked) -> Codes {
    let (mut pos, mut neg, mut neg_bucket) = (Vec::new(), Vec::new(), Vec::new());
    let mut k = 0u32;
    for g in &ranked.groups {
        if g.neg > 0 {
            let bucket = if g.pos > 0 { 2 * k + 1 } else { 2 * k };
            if neg_bucket.last() != Some(&bucket) {
                neg_bucket.push(bucket);
            }
            let code = neg_bucket.len() as u32 - 1;
            neg.extend(std::iter::repeat_n(code, g.neg as usize));
        }
        if g.pos > 0 {
            pos.extend(std::iter::repeat_n(k, g.pos as usize));
            k += 1;
        }
    }
    Codes { pos: MonotoneCodes::new(pos), neg: MonotoneCodes::new(neg), neg_bucket, k: k as usize }
}

/// The positions (in ascending score order) of the positives and negatives that replicate with
/// generator seed `replicate_seed` draws: the resample that [`replicate_aurocs`] scores without
/// materialising it. For cross-checking the counting algorithm against a direct computation.
pub fn replicate_draws(ranked: &Ranked, replicate_seed: u64) -> (Vec<u32>, Vec<u32>) {
    let (m, n) = (ranked.m as u32, ranked.n as u32);
    if m == 0 || n == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut rng = U32Stream::new(replicate_seed);
    let pos = (0..m).map(|_| rng.below(m)).collect();
    let neg = (0..n).map(|_| rng.below(n)).collect();
    (pos, neg)
}

/// Type-7 quantile (R's default, Hyndman & Fan 1996) of sorted data at probability `p`.
pub fn quantile_type7(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The B replicate AUROCs, in replicate order. Empty when a class is absent or B = 0.
/// Replicates run in parallel (rayon); the result does not depend on the thread count.
pub fn replicate_aurocs(ranked: &Ranked, replicates: usize, seed: u64) -> Vec<f64> {
    if ranked.m == 0 || ranked.n == 0 || replicates == 0 {
        return Vec::new();
    }
    let codes = codes(ranked);
    // Ranked::new admits at most u32::MAX cases.
    let (m, n) = (ranked.m as u32, ranked.n as u32);
    let denominator = (2 * m as u128 * n as u128) as f64;
    let seeds = replicate_seeds(seed, replicates);
    // Credits are at most 2m: in u16 when that fits (m ≤ 32767), which halves the table the
    // hot loop reads at random (it then stays closer to L1); the sums are the same integers.
    let narrow = 2 * m as u64 <= u16::MAX as u64;
    let buckets = codes.neg_bucket.len();
    seeds
        .par_iter()
        .map_init(
            || {
                let (c16, c32) = if narrow { (vec![0u16; buckets], Vec::new()) } else { (Vec::new(), vec![0u32; buckets]) };
                (vec![0u32; codes.k], c16, c32)
            },
            |(pos_count, c16, c32), &s| {
                let twice_u = if narrow {
                    replicate(&codes, m, n, s, pos_count, c16)
                } else {
                    replicate(&codes, m, n, s, pos_count, c32)
                };
                twice_u as f64 / denominator
            },
        )
        .collect()
}

/// A credit value of the replicate loop (see [`replicate_aurocs`]).
trait Credit: Copy + Into<u64> {
    /// `v` ≤ 2m, which the caller made sure fits.
    fn from_u32(v: u32) -> Self;
}

impl Credit for u16 {
    fn from_u32(v: u32) -> Self {
        v as u16
    }
}

impl Credit for u32 {
    fn from_u32(v: u32) -> Self {
        v
    }
}

/// 2·U of one replicate with generator seed `seed` (see the module doc).
fn replicate<C: Credit>(codes: &Codes, m: u32, n: u32, seed: u64, pos_count: &mut [u32], credit: &mut [C]) -> u64 {
    pos_count.fill(0);
    let mut rng = U32Stream::new(seed);
    for _ in 0..m {
        pos_count[codes.pos.get(rng.below(m))] += 1;
    }
    // credit[c]: what one negative in occupied bucket c adds to 2·U, i.e. twice the resampled
    // positives above it plus those tied with it. Reading it per negative draw (instead of
    // counting draws per bucket) keeps the hot loop free of stores.
    let mut above = 0u32;
    let mut k = codes.k;
    for (c, &bucket) in codes.neg_bucket.iter().enumerate().rev() {
        let bucket = bucket as usize;
        // Bring `above` to the positives with value index >= ceil(bucket / 2) ...
        while k > bucket.div_ceil(2) {
            k -= 1;
            above += pos_count[k];
        }
        // ... plus, for a tied bucket 2k + 1, half weight for the positives at u_k.
        credit[c] = C::from_u32(if bucket % 2 == 1 { 2 * above + pos_count[bucket / 2] } else { 2 * above });
    }
    // 2·U <= 2·m·n <= 2^63 for N < 2^32 cases: u64 cannot overflow.
    let mut twice_u = 0u64;
    for _ in 0..n {
        twice_u += credit[codes.neg.get(rng.below(n))].into();
    }
    twice_u
}

/// Stratified bootstrap CI of the AUROC (see the module doc). `None` when a class is absent or
/// B = 0.
pub fn bootstrap_auroc(ranked: &Ranked, replicates: usize, seed: u64) -> Option<BootstrapCi> {
    let mut aucs = replicate_aurocs(ranked, replicates, seed);
    if aucs.is_empty() {
        return None;
    }
    aucs.sort_unstable_by(f64::total_cmp);
    Some(BootstrapCi {
        replicates,
        seed,
        ci95: [quantile_type7(&aucs, 0.025), quantile_type7(&aucs, 0.975)],
        median: quantile_type7(&aucs, 0.5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With more than 32,767 positives the credits need 32 bits: the wide path must give the
    /// replicate AUROC of the very resample `replicate_draws` describes, computed directly.
    #[test]
    fn wide_credits_give_the_resample_auroc() {
        let (m, n) = (40_000usize, 900usize);
        let labels: Vec<bool> = (0..m + n).map(|i| i < m).collect();
        let scores: Vec<f64> = (0..m + n).map(|i| ((i * 7919) % 1000) as f64 / 1000.0).collect();
        let ranked = Ranked::new(&labels, &scores);
        let values = |positive: bool| -> Vec<f64> {
            ranked.groups.iter().flat_map(|g| std::iter::repeat_n(g.value, if positive { g.pos } else { g.neg } as usize)).collect()
        };
        let (pos_vals, neg_vals) = (values(true), values(false));
        let aucs = replicate_aurocs(&ranked, 3, 11);
        for (seed, auc) in replicate_seeds(11, 3).into_iter().zip(aucs) {
            let (pos, neg) = replicate_draws(&ranked, seed);
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
}
