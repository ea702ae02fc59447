//! Pointwise confidence band of the ROC curve: the sensitivity at a grid of specificities, with a
//! stratified bootstrap percentile interval at each.
//!
//! Definition (R pROC 1.18 `ci.se(roc, specificities, boot.n, boot.stratified = TRUE)`; Robin et
//! al. 2011, BMC Bioinformatics 12:77; percentile interval: Carpenter & Bithell 2000, Stat Med
//! 19:1141–1164): each replicate resamples the m positives and the n negatives separately, with
//! replacement, rebuilds the empirical ROC curve and reads the sensitivity at every target
//! specificity with `coords(x = sp, input = "specificity", ret = "sensitivity")`
//! ([`crate::roc::sens_at_spec`], interpolated); the band at each target is the type-7 quantiles
//! at 0.025, 0.5 and 0.975 of the B replicate sensitivities.
//!
//! Replicate b is drawn from its own generator, seeded by [`replicate_seeds`] (the seeds of the
//! AUROC bootstrap of [`crate::bootstrap`]), so the band is reproducible bit for bit for a seed,
//! on any machine and thread count. Like the AUROC bootstrap, it agrees with pROC only within
//! Monte-Carlo error (R's generator cannot be matched).
//!
//! The band is pointwise (each specificity's interval covers 95 % on its own), not a
//! simultaneous band for the whole curve. Every replicate's sensitivity is non-increasing in the
//! target specificity, so each quantile is too.
//!
//! # Reading a resample without drawing it
//!
//! The sensitivity of a curve at target t reads two adjacent points of it (see [`Curve`]): c,
//! the first with specificity ≥ t, and c − 1. With the cases of each class in ascending score
//! order, point k of a resample is fixed by how many of its draws land on the first cases of
//! each class up to the end of tie group k. In a stratified resample those numbers are a
//! multinomial process: the draws among the first x of the n negatives are Binomial(n, x/n),
//! and given the numbers at two boundaries a < x < b, the number at x is the number at a plus
//! Binomial(number at b − number at a, (x − a)/(b − a)) (a binomial bridge). So a replicate
//! binary-searches point c over the tie groups, drawing the negatives' numbers only at the
//! boundaries it visits, then draws the positives' numbers at the two boundaries c − 1 and c
//! ([`crate::binomial`]). The sensitivity it computes is exactly [`sens_at_spec`] of the whole
//! resample (tested against resamples drawn case by case); only the resample's law is sampled,
//! not its cases.
//!
//! Cost: O(B·G·log D) binomial variates for G targets and D distinct scores, whatever the
//! number of cases (drawing every case would be O(B·N): 2·10⁹ draws for 2,000 replicates of a
//! million cases).

use crate::binomial::BinomialStream;
use crate::bootstrap::{percentile_ci, replicate_seeds};
use crate::ranks::TieGroup;
use crate::roc::{SensAtSpec, sens_at_spec};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The band at one target specificity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BandPoint {
    /// Target specificity.
    pub specificity: f64,
    /// Sensitivity of the empirical curve at it ([`sens_at_spec`], interpolated).
    pub sensitivity: f64,
    /// Type-7 quantile at 0.025 of the replicate sensitivities.
    pub lower: f64,
    /// Type-7 quantile at 0.5.
    pub median: f64,
    /// Type-7 quantile at 0.975.
    pub upper: f64,
}

/// Pointwise 95 % bootstrap band of sensitivity over target specificities (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocBand {
    /// Number of replicates B.
    pub replicates: usize,
    pub seed: u64,
    /// One point per target, in the order given.
    pub points: Vec<BandPoint>,
}

/// The grid 0, 1/steps, 2/steps, …, 1 (pROC's default for `ci.se` is `seq(0, 1, 0.1)`, steps = 10).
/// `steps = 0` gives the single target 0.
pub fn specificity_grid(steps: usize) -> Vec<f64> {
    (0..=steps)
        .map(|i| i as f64 / steps.max(1) as f64)
        .collect()
}

/// Pointwise stratified bootstrap band of the sensitivity at each of `specificities` (each in
/// [0, 1]), with `replicates` resamples seeded by `seed` (see the module doc), from a model's
/// tie table (ascending, distinct scores).
///
/// Errors (with a human-readable reason) when a class is absent, `replicates` is 0, or a target
/// is outside [0, 1].
pub fn roc_band(
    groups: &[TieGroup],
    specificities: &[f64],
    replicates: usize,
    seed: u64,
) -> Result<RocBand, String> {
    let (m, n) = crate::ranks::class_counts(groups);
    if m == 0 || n == 0 {
        return Err(crate::one_class_reason(m, n));
    }
    if replicates == 0 {
        return Err("the ROC band needs at least one bootstrap replicate".into());
    }
    check_specificities(specificities)?;
    let boundaries = Boundaries::new(groups);
    let seeds = replicate_seeds(seed, replicates);
    // per_replicate[b][k]: replicate b's sensitivity at target k.
    let per_replicate: Vec<Vec<f64>> = seeds
        .par_iter()
        .map_init(
            || Bridged::new(m, n, 0),
            |resample, &s| {
                resample.reset(s);
                specificities
                    .iter()
                    .map(|&t| boundaries.sensitivity(t, resample))
                    .collect()
            },
        )
        .collect();
    let curve = Curve::new(groups);
    let mut column = vec![0.0f64; replicates];
    let points = specificities
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            for (c, r) in column.iter_mut().zip(&per_replicate) {
                *c = r[k];
            }
            let ([lower, upper], median) = percentile_ci(&mut column);
            BandPoint {
                specificity: t,
                sensitivity: curve.sens_at_spec(t).map_or(0.0, |r| r.interpolated),
                lower,
                median,
                upper,
            }
        })
        .collect();
    Ok(RocBand {
        replicates,
        seed,
        points,
    })
}

/// How many draws of one resample land on the first x cases of each class, the cases of a class
/// taken in ascending score order.
trait Drawn {
    fn positives(&mut self, x: u64) -> u64;
    fn negatives(&mut self, x: u64) -> u64;
}

/// One class's numbers known so far: (x, draws on the first x cases), ascending in x, starting
/// with (0, 0) and ending with (total, total).
struct Known(Vec<(u64, u64)>);

impl Known {
    fn reset(&mut self, total: u64) {
        self.0.clear();
        self.0.extend([(0, 0), (total, total)]);
    }

    /// The number at `x` (≤ total): known, or drawn from the bridge between its neighbours.
    fn at(&mut self, x: u64, stream: &mut BinomialStream) -> u64 {
        match self.0.binary_search_by_key(&x, |&(b, _)| b) {
            Ok(i) => self.0[i].1,
            Err(i) => {
                let ((a, ra), (b, rb)) = (self.0[i - 1], self.0[i]);
                let r = ra + stream.sample_fraction(rb - ra, x - a, b - a);
                self.0.insert(i, (x, r));
                r
            }
        }
    }
}

/// A stratified resample drawn lazily, boundary by boundary (see the module doc).
struct Bridged {
    stream: BinomialStream,
    m: u64,
    n: u64,
    pos: Known,
    neg: Known,
}

impl Bridged {
    fn new(m: u64, n: u64, seed: u64) -> Self {
        let mut b = Bridged {
            stream: BinomialStream::new(seed),
            m,
            n,
            pos: Known(Vec::new()),
            neg: Known(Vec::new()),
        };
        b.reset(seed);
        b
    }

    /// A new resample from `seed`.
    fn reset(&mut self, seed: u64) {
        self.stream = BinomialStream::new(seed);
        self.pos.reset(self.m);
        self.neg.reset(self.n);
    }
}

impl Drawn for Bridged {
    fn positives(&mut self, x: u64) -> u64 {
        self.pos.at(x, &mut self.stream)
    }
    fn negatives(&mut self, x: u64) -> u64 {
        self.neg.at(x, &mut self.stream)
    }
}

/// The class boundaries of a tie table: how many positives and negatives the first k groups
/// hold (k = 0..=D).
struct Boundaries {
    pos: Vec<u64>,
    neg: Vec<u64>,
}

impl Boundaries {
    fn new(groups: &[TieGroup]) -> Self {
        let (mut pos, mut neg) = (vec![0u64], vec![0u64]);
        let (mut p, mut q) = (0u64, 0u64);
        for g in groups {
            p += g.pos;
            q += g.neg;
            pos.push(p);
            neg.push(q);
        }
        Boundaries { pos, neg }
    }

    /// A resample's interpolated sensitivity at `target` (in [0, 1]; both classes present):
    /// exactly [`sens_at_spec`] of the resample's tie table.
    fn sensitivity(&self, target: f64, resample: &mut impl Drawn) -> f64 {
        let d = self.neg.len() - 1;
        let (m, n) = (self.pos[d], self.neg[d]);
        let nf = n as f64;
        // c = the first point k >= 1 of the resample's curve, taken over the original groups
        // (a group drawn zero times repeats the point before it, which changes nothing below),
        // whose specificity reaches the target (the same division as sens_at_spec); point D has
        // specificity 1.
        let c =
            1 + self.neg[1..].partition_point(|&x| (resample.negatives(x) as f64 / nf) < target);
        let (tn_before, tn_at) = (
            resample.negatives(self.neg[c - 1]),
            resample.negatives(self.neg[c]),
        );
        let (fn_before, fn_at) = (
            resample.positives(self.pos[c - 1]),
            resample.positives(self.pos[c]),
        );
        // Points c − 1 and c are all sens_at_spec reads: the groups before c merge into one,
        // those after c into another (see `Curve`).
        let table = [
            TieGroup {
                value: 0.0,
                pos: fn_before,
                neg: tn_before,
            },
            TieGroup {
                value: 1.0,
                pos: fn_at - fn_before,
                neg: tn_at - tn_before,
            },
            TieGroup {
                value: 2.0,
                pos: m - fn_at,
                neg: n - tn_at,
            },
        ];
        sens_at_spec(&table, target).map_or(0.0, |r| r.interpolated)
    }
}

/// A tie table with the cumulative counts at each ROC point, to answer [`sens_at_spec`] for any
/// target in O(log D) instead of O(D).
///
/// `sens_at_spec(target)` reads only two points of the curve: c, the first point with
/// specificity ≥ target, and c − 1 (point k follows the first k tie groups). Merging the groups
/// before group c − 1 into one, and the groups after it into one, keeps the class totals and
/// both points (their counts are cumulative sums, unchanged by the merge), and drops only points
/// that `sens_at_spec` would have walked past (specificity < target) or never reached. So
/// `sens_at_spec` on that table of at most three groups returns exactly what it returns on the
/// whole table; the values of the merged groups are kept ascending but are never read.
pub struct Curve<'a> {
    groups: &'a [TieGroup],
    /// tn[k], positives[k]: negatives and positives in the first k groups (k = 0..=D).
    tn: Vec<u64>,
    pos: Vec<u64>,
}

impl<'a> Curve<'a> {
    pub fn new(groups: &'a [TieGroup]) -> Self {
        let mut tn = Vec::with_capacity(groups.len() + 1);
        let mut pos = Vec::with_capacity(groups.len() + 1);
        let (mut t, mut p) = (0u64, 0u64);
        tn.push(0);
        pos.push(0);
        for g in groups {
            t += g.neg;
            p += g.pos;
            tn.push(t);
            pos.push(p);
        }
        Curve { groups, tn, pos }
    }

    /// Exactly `sens_at_spec(groups, target)`, in O(log D).
    pub fn sens_at_spec(&self, target: f64) -> Option<SensAtSpec> {
        let d = self.groups.len();
        let (m, n) = (self.pos[d], self.tn[d]);
        if m == 0 || n == 0 || !(0.0..=1.0).contains(&target) {
            return sens_at_spec(self.groups, target);
        }
        let nf = n as f64;
        // c = first point k >= 1 with tn[k]/n >= target (the same division as sens_at_spec); it
        // exists because point D has specificity 1.
        let c = 1 + self.tn[1..].partition_point(|&t| (t as f64 / nf) < target);
        let mut table = [TieGroup {
            value: 0.0,
            pos: 0,
            neg: 0,
        }; 3];
        let mut len = 0;
        if c >= 2 {
            table[len] = TieGroup {
                value: self.groups[c - 2].value,
                pos: self.pos[c - 1],
                neg: self.tn[c - 1],
            };
            len += 1;
        }
        table[len] = self.groups[c - 1];
        len += 1;
        if c < d {
            table[len] = TieGroup {
                value: self.groups[d - 1].value,
                pos: m - self.pos[c],
                neg: n - self.tn[c],
            };
            len += 1;
        }
        sens_at_spec(&table[..len], target)
    }
}

/// Refuses a target specificity outside [0, 1].
pub(crate) fn check_specificities(targets: &[f64]) -> Result<(), String> {
    match targets.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        Some(bad) => Err(format!("target specificity {bad} is outside [0, 1]")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::replicate_draws;
    use crate::ranks::Ranked;
    use rand_xoshiro::Xoshiro256PlusPlus;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};

    /// Labels and scores of a moderately good classifier with ties (scores on a 0.01 grid).
    fn data(n: usize, seed: u64) -> (Vec<bool>, Vec<f64>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut labels = Vec::new();
        let mut scores = Vec::new();
        for _ in 0..n {
            let y = rng.next_u64() % 3 == 0;
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let s = if y { 0.3 + 0.7 * u } else { 0.7 * u };
            labels.push(y);
            scores.push((s * 100.0).round() / 100.0);
        }
        (labels, scores)
    }

    #[test]
    fn band_contains_the_empirical_curve_and_is_monotone() {
        let (labels, scores) = data(400, 7);
        let ranked = Ranked::new(&labels, &scores);
        let grid = specificity_grid(100);
        let band = roc_band(&ranked.groups, &grid, 500, 42).unwrap();
        assert_eq!(band.points.len(), 101);
        for p in &band.points {
            let empirical = sens_at_spec(&ranked.groups, p.specificity)
                .unwrap()
                .interpolated;
            assert_eq!(p.sensitivity, empirical);
            assert!(p.lower <= p.median && p.median <= p.upper, "{p:?}");
            assert!(
                p.lower <= p.sensitivity && p.sensitivity <= p.upper,
                "{p:?}"
            );
            assert!(
                (0.0..=1.0).contains(&p.lower) && (0.0..=1.0).contains(&p.upper),
                "{p:?}"
            );
        }
        // At specificity 0 every curve has sensitivity 1.
        assert_eq!((band.points[0].lower, band.points[0].upper), (1.0, 1.0));
        // Sensitivity cannot rise with specificity, in every replicate, hence in every quantile.
        for w in band.points.windows(2) {
            assert!(
                w[1].lower <= w[0].lower && w[1].median <= w[0].median && w[1].upper <= w[0].upper,
                "{w:?}"
            );
        }
        // The band has width somewhere in the middle: it is not the curve itself.
        assert!(
            band.points[50].upper - band.points[50].lower > 0.02,
            "{:?}",
            band.points[50]
        );
    }

    #[test]
    fn identical_for_a_seed_and_different_for_another() {
        let (labels, scores) = data(200, 3);
        let ranked = Ranked::new(&labels, &scores);
        let grid = specificity_grid(20);
        let a = roc_band(&ranked.groups, &grid, 300, 11).unwrap();
        let b = roc_band(&ranked.groups, &grid, 300, 11).unwrap();
        let c = roc_band(&ranked.groups, &grid, 300, 12).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.points, c.points);
    }

    /// A resample drawn case by case (the AUROC bootstrap's draws for `seed`): the draws, as
    /// indices into each class in ascending score order, sorted.
    struct Explicit {
        pos: Vec<u32>,
        neg: Vec<u32>,
    }

    impl Explicit {
        fn new(ranked: &Ranked, seed: u64) -> Self {
            let (mut pos, mut neg) = replicate_draws(&ranked.groups, seed);
            pos.sort_unstable();
            neg.sort_unstable();
            Explicit { pos, neg }
        }

        /// The resample's tie table, from the original groups' values.
        fn table(&self, groups: &[TieGroup]) -> Vec<TieGroup> {
            let b = Boundaries::new(groups);
            let mut e = Explicit {
                pos: self.pos.clone(),
                neg: self.neg.clone(),
            };
            (0..groups.len())
                .map(|k| TieGroup {
                    value: groups[k].value,
                    pos: e.positives(b.pos[k + 1]) - e.positives(b.pos[k]),
                    neg: e.negatives(b.neg[k + 1]) - e.negatives(b.neg[k]),
                })
                .filter(|g| g.pos + g.neg > 0)
                .collect()
        }
    }

    impl Drawn for Explicit {
        fn positives(&mut self, x: u64) -> u64 {
            self.pos.partition_point(|&j| (j as u64) < x) as u64
        }
        fn negatives(&mut self, x: u64) -> u64 {
            self.neg.partition_point(|&j| (j as u64) < x) as u64
        }
    }

    #[test]
    fn reads_a_resample_exactly_as_sens_at_spec() {
        // The point search and the three-group table give sens_at_spec of the whole resample,
        // whatever the resample: checked on resamples drawn case by case, with ties.
        for seed in 0..60u64 {
            let (labels, scores) = data(6 + seed as usize * 5, seed);
            let ranked = Ranked::new(&labels, &scores);
            if ranked.m == 0 || ranked.n == 0 {
                continue;
            }
            let b = Boundaries::new(&ranked.groups);
            let mut resample = Explicit::new(&ranked, seed * 7919 + 1);
            let table = resample.table(&ranked.groups);
            let n = ranked.n;
            let targets = specificity_grid(200)
                .into_iter()
                .chain((0..=n).map(|k| k as f64 / n as f64));
            for t in targets {
                assert_eq!(
                    b.sensitivity(t, &mut resample),
                    sens_at_spec(&table, t).unwrap().interpolated,
                    "seed {seed}, target {t}"
                );
            }
        }
    }

    #[test]
    fn band_has_the_law_of_case_by_case_resamples() {
        // The band of lazily drawn resamples against the band of 4,000 resamples drawn case by
        // case (same law, other draws): within Monte-Carlo error at every target.
        let (labels, scores) = data(400, 17);
        let ranked = Ranked::new(&labels, &scores);
        let grid = specificity_grid(20);
        let replicates = 4000;
        let band = roc_band(&ranked.groups, &grid, replicates, 5).unwrap();
        let per_replicate: Vec<Vec<f64>> = replicate_seeds(6, replicates)
            .into_iter()
            .map(|s| {
                let table = Explicit::new(&ranked, s).table(&ranked.groups);
                grid.iter()
                    .map(|&t| sens_at_spec(&table, t).unwrap().interpolated)
                    .collect()
            })
            .collect();
        let mut widest = 0.0f64;
        for (k, p) in band.points.iter().enumerate() {
            let mut column: Vec<f64> = per_replicate.iter().map(|r| r[k]).collect();
            let ([lower, upper], median) = percentile_ci(&mut column);
            for (a, b) in [(p.lower, lower), (p.median, median), (p.upper, upper)] {
                assert!(
                    (a - b).abs() <= 0.03,
                    "target {}: {p:?} vs {lower} {median} {upper}",
                    p.specificity
                );
            }
            widest = widest.max(upper - lower);
        }
        // Not trivially equal: the band is wide somewhere.
        assert!(widest > 0.1, "{widest}");
    }

    #[test]
    fn curve_answers_exactly_as_sens_at_spec() {
        for seed in 0..40 {
            let (labels, scores) = data(5 + seed as usize * 7, seed);
            let ranked = Ranked::new(&labels, &scores);
            let curve = Curve::new(&ranked.groups);
            let n = ranked.n.max(1);
            // A fine grid, every specificity the curve reaches exactly, and out-of-range targets.
            let targets = specificity_grid(200)
                .into_iter()
                .chain((0..=n).map(|k| k as f64 / n as f64))
                .chain([-0.1, 1.1, f64::NAN]);
            for t in targets {
                assert_eq!(
                    curve.sens_at_spec(t),
                    sens_at_spec(&ranked.groups, t),
                    "seed {seed}, target {t}"
                );
            }
        }
        // One class: undefined either way.
        let ranked = Ranked::new(&[true, true], &[0.1, 0.2]);
        assert_eq!(Curve::new(&ranked.groups).sens_at_spec(0.5), None);
    }

    #[test]
    fn perfect_classifier_collapses_to_one() {
        let labels = [false, false, false, true, true, true, false, true];
        let scores = [0.1, 0.2, 0.3, 0.8, 0.9, 0.7, 0.05, 0.95];
        let ranked = Ranked::new(&labels, &scores);
        let band = roc_band(&ranked.groups, &specificity_grid(10), 200, 1).unwrap();
        for p in &band.points {
            assert_eq!(
                (p.sensitivity, p.lower, p.median, p.upper),
                (1.0, 1.0, 1.0, 1.0),
                "{p:?}"
            );
        }
    }

    #[test]
    fn undefined_cases_say_why() {
        let ranked = Ranked::new(&[true, true], &[0.2, 0.4]);
        assert!(
            roc_band(&ranked.groups, &[0.5], 10, 1)
                .unwrap_err()
                .contains("only one class")
        );
        let ranked = Ranked::new(&[true, false], &[0.2, 0.4]);
        assert!(roc_band(&ranked.groups, &[0.5], 0, 1).is_err());
        assert!(
            roc_band(&ranked.groups, &[1.5], 10, 1)
                .unwrap_err()
                .contains("1.5")
        );
        assert_eq!(specificity_grid(4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    }
}
