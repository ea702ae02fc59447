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
//! Replicate b draws exactly the resample of replicate b of [`crate::bootstrap`] (same seeded
//! generators, [`replicate_seeds`] and [`replicate_draws`]), so the band and the bootstrap CI of
//! the AUROC describe the same resamples and are reproducible bit for bit for a seed, on any
//! machine and thread count. Like the AUROC bootstrap, it agrees with pROC only within
//! Monte-Carlo error (R's generator cannot be matched).
//!
//! The band is pointwise (each specificity's interval covers 95 % on its own), not a
//! simultaneous band for the whole curve. Every replicate's sensitivity is non-increasing in the
//! target specificity, so each quantile is too.
//!
//! Cost: O(B·(N + G·log D)) for G targets and D distinct scores. `sens_at_spec` walks the curve
//! from its start, which would make each target O(D); instead each target is read from a table
//! of at most three groups that has the same two ROC points around the target ([`Curve`]), so
//! the result is `sens_at_spec`'s own, bit for bit.

use crate::bootstrap::{percentile_ci, replicate_draws, replicate_seeds};
use crate::ranks::{Ranked, TieGroup};
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
/// [0, 1]), with `replicates` resamples seeded by `seed` (see the module doc).
///
/// Errors (with a human-readable reason) when a class is absent, `replicates` is 0, or a target
/// is outside [0, 1].
pub fn roc_band(
    ranked: &Ranked,
    specificities: &[f64],
    replicates: usize,
    seed: u64,
) -> Result<RocBand, String> {
    if ranked.m == 0 || ranked.n == 0 {
        return Err(crate::one_class_reason(ranked.m, ranked.n));
    }
    if replicates == 0 {
        return Err("the ROC band needs at least one bootstrap replicate".into());
    }
    check_specificities(specificities)?;
    // The tie group of each positive and each negative, in ascending score order: the order in
    // which `replicate_draws` numbers them.
    let mut pos_group = Vec::with_capacity(ranked.m as usize);
    let mut neg_group = Vec::with_capacity(ranked.n as usize);
    for (g, t) in ranked.groups.iter().enumerate() {
        pos_group.extend(std::iter::repeat_n(g as u32, t.pos as usize));
        neg_group.extend(std::iter::repeat_n(g as u32, t.neg as usize));
    }
    let groups = &ranked.groups;
    let seeds = replicate_seeds(seed, replicates);
    // per_replicate[b][k]: replicate b's sensitivity at target k.
    let per_replicate: Vec<Vec<f64>> = seeds
        .par_iter()
        .map_init(
            || (vec![0u64; groups.len()], vec![0u64; groups.len()]),
            |(pos_count, neg_count), &s| {
                pos_count.fill(0);
                neg_count.fill(0);
                let (pos, neg) = replicate_draws(ranked, s);
                for j in pos {
                    pos_count[pos_group[j as usize] as usize] += 1;
                }
                for j in neg {
                    neg_count[neg_group[j as usize] as usize] += 1;
                }
                // The resample's tie table: the original values that were drawn at least once.
                let resample: Vec<TieGroup> = groups
                    .iter()
                    .zip(pos_count.iter().zip(neg_count.iter()))
                    .filter(|(_, (p, n))| **p + **n > 0)
                    .map(|(g, (&pos, &neg))| TieGroup {
                        value: g.value,
                        pos,
                        neg,
                    })
                    .collect();
                let curve = Curve::new(&resample);
                // Both classes are drawn (m, n > 0) and the targets are in [0, 1]: always defined.
                specificities
                    .iter()
                    .map(|&t| curve.sens_at_spec(t).map_or(0.0, |r| r.interpolated))
                    .collect()
            },
        )
        .collect();
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
                sensitivity: sens_at_spec(groups, t).map_or(0.0, |r| r.interpolated),
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
        let band = roc_band(&ranked, &grid, 500, 42).unwrap();
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
        let a = roc_band(&ranked, &grid, 300, 11).unwrap();
        let b = roc_band(&ranked, &grid, 300, 11).unwrap();
        let c = roc_band(&ranked, &grid, 300, 12).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.points, c.points);
    }

    #[test]
    fn replicates_are_the_auroc_bootstrap_resamples() {
        // With one replicate, the band's quantiles are that replicate's curve: check it against
        // the curve rebuilt from the very draws of the AUROC bootstrap.
        let (labels, scores) = data(150, 5);
        let ranked = Ranked::new(&labels, &scores);
        let grid = specificity_grid(10);
        let band = roc_band(&ranked, &grid, 1, 99).unwrap();
        let seed = replicate_seeds(99, 1)[0];
        let (pos, neg) = replicate_draws(&ranked, seed);
        let mut sorted_pos: Vec<f64> = Vec::new();
        let mut sorted_neg: Vec<f64> = Vec::new();
        for (&case, &key) in ranked.order.iter().zip(&ranked.keys) {
            if key & 1 == 1 {
                sorted_pos.push(scores[case as usize])
            } else {
                sorted_neg.push(scores[case as usize])
            }
        }
        let mut l = Vec::new();
        let mut s = Vec::new();
        for j in pos {
            l.push(true);
            s.push(sorted_pos[j as usize]);
        }
        for j in neg {
            l.push(false);
            s.push(sorted_neg[j as usize]);
        }
        let resample = Ranked::new(&l, &s);
        for p in &band.points {
            let expected = sens_at_spec(&resample.groups, p.specificity)
                .unwrap()
                .interpolated;
            assert_eq!((p.lower, p.median, p.upper), (expected, expected, expected));
        }
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
        let band = roc_band(&ranked, &specificity_grid(10), 200, 1).unwrap();
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
            roc_band(&ranked, &[0.5], 10, 1)
                .unwrap_err()
                .contains("only one class")
        );
        let ranked = Ranked::new(&[true, false], &[0.2, 0.4]);
        assert!(roc_band(&ranked, &[0.5], 0, 1).is_err());
        assert!(
            roc_band(&ranked, &[1.5], 10, 1)
                .unwrap_err()
                .contains("1.5")
        );
        assert_eq!(specificity_grid(4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    }
}
