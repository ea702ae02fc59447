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
//! target specificity, so each quantile is too. Cost: O(B·(N + G·D)) for G targets and D
//! distinct scores.

use crate::bootstrap::{quantile_type7, replicate_draws, replicate_seeds};
use crate::ranks::{Ranked, TieGroup};
use crate::roc::sens_at_spec;
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
    (0..=steps).map(|i| i as f64 / steps.max(1) as f64).collect()
}

/// Pointwise stratified bootstrap band of the sensitivity at each of `specificities` (each in
/// [0, 1]), with `replicates` resamples seeded by `seed` (see the module doc).
///
/// Errors (with a human-readable reason) when a class is absent, `replicates` is 0, or a target
/// is outside [0, 1].
pub fn roc_band(ranked: &Ranked, specificities: &[f64], replicates: usize, seed: u64) -> Result<RocBand, String> {
    if ranked.m == 0 || ranked.n == 0 {
        return Err(crate::one_class_reason(ranked.m, ranked.n));
    }
    if replicates == 0 {
        return Err("the ROC band needs at least one bootstrap replicate".into());
    }
    if let Some(bad) = specificities.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(format!("target specificity {bad} is outside [0, 1]"));
    }
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
                    .map(|(g, (&pos, &neg))| TieGroup { value: g.value, pos, neg })
                    .collect();
                specificities
                    .iter()
                    // Both classes are drawn (m, n > 0) and the target is in [0, 1]: always defined.
                    .map(|&t| sens_at_spec(&resample, t).map_or(0.0, |r| r.interpolated))
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
            column.sort_unstable_by(f64::total_cmp);
            BandPoint {
                specificity: t,
                sensitivity: sens_at_spec(groups, t).map_or(0.0, |r| r.interpolated),
                lower: quantile_type7(&column, 0.025),
                median: quantile_type7(&column, 0.5),
                upper: quantile_type7(&column, 0.975),
            }
        })
        .collect();
    Ok(RocBand { replicates, seed, points })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

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
            let empirical = sens_at_spec(&ranked.groups, p.specificity).unwrap().interpolated;
            assert_eq!(p.sensitivity, empirical);
            assert!(p.lower <= p.median && p.median <= p.upper, "{p:?}");
            assert!(p.lower <= p.sensitivity && p.sensitivity <= p.upper, "{p:?}");
            assert!((0.0..=1.0).contains(&p.lower) && (0.0..=1.0).contains(&p.upper), "{p:?}");
        }
        // At specificity 0 every curve has sensitivity 1.
        assert_eq!((band.points[0].lower, band.points[0].upper), (1.0, 1.0));
        // Sensitivity cannot rise with specificity, in every replicate, hence in every quantile.
        for w in band.points.windows(2) {
            assert!(w[1].lower <= w[0].lower && w[1].median <= w[0].median && w[1].upper <= w[0].upper, "{w:?}");
        }
        // The band has width somewhere in the middle: it is not the curve itself.
        assert!(band.points[50].upper - band.points[50].lower > 0.02, "{:?}", band.points[50]);
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
            if key & 1 == 1 { sorted_pos.push(scores[case as usize]) } else { sorted_neg.push(scores[case as usize]) }
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
            let expected = sens_at_spec(&resample.groups, p.specificity).unwrap().interpolated;
            assert_eq!((p.lower, p.median, p.upper), (expected, expected, expected));
        }
    }

    #[test]
    fn perfect_classifier_collapses_to_one() {
        let labels = [false, false, false, true, true, true, false, true];
        let scores = [0.1, 0.2, 0.3, 0.8, 0.9, 0.7, 0.05, 0.95];
        let ranked = Ranked::new(&labels, &scores);
        let band = roc_band(&ranked, &specificity_grid(10), 200, 1).unwrap();
        for p in &band.points {
            assert_eq!((p.sensitivity, p.lower, p.median, p.upper), (1.0, 1.0, 1.0, 1.0), "{p:?}");
        }
    }

    #[test]
    fn undefined_cases_say_why() {
        let ranked = Ranked::new(&[true, true], &[0.2, 0.4]);
        assert!(roc_band(&ranked, &[0.5], 10, 1).unwrap_err().contains("only one class"));
        let ranked = Ranked::new(&[true, false], &[0.2, 0.4]);
        assert!(roc_band(&ranked, &[0.5], 0, 1).is_err());
        assert!(roc_band(&ranked, &[1.5], 10, 1).unwrap_err().contains("1.5"));
        assert_eq!(specificity_grid(4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    }
}
