//! Property tests: the fast O(N log N) statistics against naive O(m·n) definitions on random
//! small data with many ties, and invariants that must hold for any data.

use harness_metrics::Ranked;
use harness_metrics::bootstrap::{
    bootstrap_auroc, replicate_aurocs, replicate_draws, replicate_seeds,
};
use harness_metrics::calibration::{brier, ece, from_groups, log_loss, recalibration};
use harness_metrics::delong::{AucCounts, delong, paired_delong, placements};
use harness_metrics::groups::{level_counts, level_counts_sorted, subgroup_auc, subgroup_aucs};
use harness_metrics::ranks::CaseKeys;
use harness_metrics::roc::{average_precision, sens_at_spec};
use proptest::prelude::*;

/// ψ(x, y) of the Mann–Whitney kernel.
fn psi(x: f64, y: f64) -> f64 {
    if x > y {
        1.0
    } else if x == y {
        0.5
    } else {
        0.0
    }
}

fn split(labels: &[bool], scores: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let pos = labels
        .iter()
        .zip(scores)
        .filter(|(y, _)| **y)
        .map(|(_, s)| *s)
        .collect();
    let neg = labels
        .iter()
        .zip(scores)
        .filter(|(y, _)| !**y)
        .map(|(_, s)| *s)
        .collect();
    (pos, neg)
}

fn naive_auc(pos: &[f64], neg: &[f64]) -> f64 {
    let sum: f64 = pos
        .iter()
        .map(|&x| neg.iter().map(|&y| psi(x, y)).sum::<f64>())
        .sum();
    sum / (pos.len() * neg.len()) as f64
}

/// Naive placements in case order, straight from DeLong's definition.
fn naive_placements(labels: &[bool], scores: &[f64]) -> Vec<f64> {
    let (pos, neg) = split(labels, scores);
    labels
        .iter()
        .zip(scores)
        .map(|(&y, &s)| {
            if y {
                neg.iter().map(|&v| psi(s, v)).sum::<f64>() / neg.len() as f64
            } else {
                pos.iter().map(|&x| psi(x, s)).sum::<f64>() / pos.len() as f64
            }
        })
        .collect()
}

fn naive_delong_var(labels: &[bool], scores: &[f64]) -> f64 {
    let (pos, neg) = split(labels, scores);
    let theta = naive_auc(&pos, &neg);
    let v = naive_placements(labels, scores);
    let (m, n) = (pos.len() as f64, neg.len() as f64);
    let s10: f64 = labels
        .iter()
        .zip(&v)
        .filter(|(y, _)| **y)
        .map(|(_, p)| (p - theta).powi(2))
        .sum::<f64>()
        / (m - 1.0);
    let s01: f64 = labels
        .iter()
        .zip(&v)
        .filter(|(y, _)| !**y)
        .map(|(_, p)| (p - theta).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    s10 / m + s01 / n
}

/// Labels with both classes at least twice, and scores from a small grid (many ties), exact in
/// binary so that 1 − s is exact too.
fn data() -> impl Strategy<Value = (Vec<bool>, Vec<f64>, Vec<f64>)> {
    (4usize..60).prop_flat_map(|n| {
        (
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(0u32..=16, n),
            proptest::collection::vec(0u32..=16, n),
        )
            .prop_filter("both classes twice", |(l, _, _)| {
                l.iter().filter(|&&y| y).count() >= 2 && l.iter().filter(|&&y| !y).count() >= 2
            })
            .prop_map(|(l, a, b)| {
                (
                    l,
                    a.into_iter().map(|k| k as f64 / 16.0).collect(),
                    b.into_iter().map(|k| k as f64 / 16.0).collect(),
                )
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn auroc_matches_naive_pairwise_definition((labels, scores, _) in data()) {
        let r = Ranked::new(&labels, &scores);
        let (pos, neg) = split(&labels, &scores);
        let c = AucCounts::from_groups(&r.groups);
        prop_assert!((c.auroc().unwrap() - naive_auc(&pos, &neg)).abs() < 1e-14);
        // U and the exact fraction agree with the AUROC.
        let (num, den) = c.exact_fraction().unwrap().split_once('/').map(|(a, b)| (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap())).unwrap();
        prop_assert!((num / den - c.auroc().unwrap()).abs() < 1e-15);
        prop_assert!((c.mann_whitney_u() / (pos.len() * neg.len()) as f64 - c.auroc().unwrap()).abs() < 1e-15);
    }

    #[test]
    fn placements_and_delong_variance_match_naive((labels, scores, _) in data()) {
        let r = Ranked::new(&labels, &scores);
        let fast = placements(&r);
        let slow = naive_placements(&labels, &scores);
        for (f, s) in fast.iter().zip(&slow) {
            prop_assert!((f - s).abs() < 1e-14, "{f} vs {s}");
        }
        let d = delong(&r.groups).unwrap();
        prop_assert!((d.var - naive_delong_var(&labels, &scores)).abs() < 1e-14);
        prop_assert!(d.ci95[0] >= 0.0 && d.ci95[1] <= 1.0 && d.ci95[0] <= d.theta && d.theta <= d.ci95[1]);
    }

    #[test]
    fn paired_test_matches_naive_covariance((labels, a, b) in data()) {
        let (ra, rb) = (Ranked::new(&labels, &a), Ranked::new(&labels, &b));
        let (pa, pb) = (placements(&ra), placements(&rb));
        let (ta, tb) = (AucCounts::from_groups(&ra.groups).auroc().unwrap(), AucCounts::from_groups(&rb.groups).auroc().unwrap());
        let t = paired_delong(&labels, ta, &pa, tb, &pb).unwrap();
        // Naive: covariance matrices of the placements from the definition.
        let (na, nb) = (naive_placements(&labels, &a), naive_placements(&labels, &b));
        let cov = |cls: bool, x: &[f64], mx: f64, y: &[f64], my: f64| {
            let v: Vec<(f64, f64)> = labels.iter().zip(x.iter().zip(y)).filter(|(l, _)| **l == cls).map(|(_, (p, q))| (*p, *q)).collect();
            v.iter().map(|(p, q)| (p - mx) * (q - my)).sum::<f64>() / (v.len() as f64 - 1.0) / v.len() as f64
        };
        let s = |x: &[f64], mx: f64, y: &[f64], my: f64| cov(true, x, mx, y, my) + cov(false, x, mx, y, my);
        let var = s(&na, ta, &na, ta) + s(&nb, tb, &nb, tb) - 2.0 * s(&na, ta, &nb, tb);
        prop_assert!((t.se - var.max(0.0).sqrt()).abs() < 1e-12);
        if t.se > 0.0 {
            let z = (ta - tb) / var.sqrt();
            prop_assert!((t.z.unwrap() - z).abs() < 1e-9);
            prop_assert!(t.p.unwrap() >= 0.0 && t.p.unwrap() <= 1.0);
        }
        // Antisymmetry: swapping the models negates Z and the difference, keeps p.
        let u = paired_delong(&labels, tb, &pb, ta, &pa).unwrap();
        prop_assert_eq!(u.p, t.p);
        prop_assert!((u.diff + t.diff).abs() < 1e-15);
    }

    #[test]
    fn auroc_of_one_minus_score_is_one_minus_auroc((labels, scores, _) in data()) {
        let flipped: Vec<f64> = scores.iter().map(|s| 1.0 - s).collect();
        let a = AucCounts::from_groups(&Ranked::new(&labels, &scores).groups);
        let b = AucCounts::from_groups(&Ranked::new(&labels, &flipped).groups);
        // Exact in integers: 2U' = 2mn − 2U.
        prop_assert_eq!(a.twice_u + b.twice_u, 2 * a.m as u128 * a.n as u128);
        prop_assert!((a.auroc().unwrap() + b.auroc().unwrap() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn sens_at_spec_matches_brute_force_curve((labels, scores, _) in data(), target in 0.0f64..=1.0) {
        let r = Ranked::new(&labels, &scores);
        let (pos, neg) = split(&labels, &scores);
        // Brute force: thresholds -inf, midpoints, +inf; positive iff score > threshold.
        let mut distinct = scores.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let mut th = vec![f64::NEG_INFINITY];
        th.extend(distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0));
        th.push(f64::INFINITY);
        let pts: Vec<(f64, f64)> = th.iter().map(|&t| {
            let sp = neg.iter().filter(|&&v| v <= t).count() as f64 / neg.len() as f64;
            let se = pos.iter().filter(|&&v| v > t).count() as f64 / pos.len() as f64;
            (sp, se)
        }).collect();
        let got = sens_at_spec(&r.groups, target).unwrap();
        let step = pts.iter().filter(|p| p.0 >= target).map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        prop_assert_eq!(got.step, step);
        let want = match pts.iter().position(|p| p.0 == target) {
            Some(i) => pts[i].1,
            None => {
                let j = pts.iter().position(|p| p.0 > target).unwrap();
                let prop = (target - pts[j].0) / (pts[j - 1].0 - pts[j].0);
                pts[j].1 + prop * (pts[j - 1].1 - pts[j].1)
            }
        };
        prop_assert!((got.interpolated - want).abs() < 1e-15);
        prop_assert!(got.interpolated >= got.step - 1e-15, "interpolated {} < step {}", got.interpolated, got.step);
    }

    #[test]
    fn average_precision_matches_threshold_sweep((labels, scores, _) in data()) {
        let r = Ranked::new(&labels, &scores);
        let (pos, neg) = split(&labels, &scores);
        let mut distinct = scores.clone();
        distinct.sort_by(|a, b| b.total_cmp(a));
        distinct.dedup();
        let (mut ap, mut prev) = (0.0, 0.0);
        for t in distinct {
            let tp = pos.iter().filter(|&&v| v >= t).count() as f64;
            let fp = neg.iter().filter(|&&v| v >= t).count() as f64;
            let rec = tp / pos.len() as f64;
            if tp > 0.0 {
                ap += (rec - prev) * tp / (tp + fp);
            }
            prev = rec;
        }
        prop_assert!((average_precision(&r.groups).unwrap() - ap).abs() < 1e-14);
    }

    #[test]
    fn brier_log_loss_and_ece_from_tie_groups_equal_the_row_sums((labels, scores, _) in data()) {
        let f = from_groups(&Ranked::new(&labels, &scores).groups);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
        prop_assert!(close(f.brier.unwrap(), brier(&labels, &scores).unwrap()));
        let (lg, lr) = (f.log_loss.unwrap(), log_loss(&labels, &scores).unwrap());
        prop_assert!(close(lg.value, lr.value), "{} vs {}", lg.value, lr.value);
        prop_assert_eq!(lg.n_clipped, lr.n_clipped);
        for (got, bins) in [(f.ece_10.unwrap(), 10), (f.ece_15.unwrap(), 15)] {
            let want = ece(&labels, &scores, bins).unwrap();
            prop_assert!(close(got.0, want.0));
            for (g, w) in got.1.iter().zip(&want.1) {
                prop_assert_eq!((g.bin, g.n, g.lo, g.hi), (w.bin, w.n, w.lo, w.hi));
                prop_assert!(close(g.mean_label.unwrap_or(0.0), w.mean_label.unwrap_or(0.0)));
                prop_assert!(close(g.mean_score.unwrap_or(0.0), w.mean_score.unwrap_or(0.0)));
            }
        }
    }

    #[test]
    fn level_counts_from_sorted_suffix_equal_direct_count((labels, scores, codes) in data(), t in 0u32..=17, wide in any::<bool>()) {
        let threshold = t as f64 / 16.0;
        let a: Vec<u32> = codes.iter().map(|c| (c * 16.0) as u32 % 3).collect();
        let b: Vec<u32> = codes.iter().map(|c| 1 - (c * 16.0) as u32 % 2).collect();
        // `wide`: seven more 17-level groupings overflow the 32-bit packed key (unpacked path).
        let extra: Vec<Vec<u32>> = (0..if wide { 7 } else { 0 })
            .map(|k| scores.iter().map(|s| ((s * 16.0) as u32 + k) % 17).collect())
            .collect();
        let mut groupings: Vec<(&[u32], usize)> = vec![(&a, 3), (&b, 2)];
        groupings.extend(extra.iter().map(|e| (e.as_slice(), 17)));
        let keys = CaseKeys::new(&labels, &groupings);
        prop_assert_eq!(keys.packed_bits().is_none(), wide);
        let r = Ranked::with_keys(&scores, &keys);
        let got = level_counts_sorted(&r, &keys, threshold);
        prop_assert_eq!(got.len(), groupings.len());
        for (&(codes, levels), got) in groupings.iter().zip(&got) {
            prop_assert_eq!(got, &level_counts(&labels, &scores, codes, levels, threshold));
        }
    }

    #[test]
    fn streamed_subgroup_aucs_equal_sorting_each_level((labels, scores, codes) in data()) {
        let codes: Vec<u32> = codes.iter().map(|c| (c * 16.0) as u32 % 3).collect();
        let other: Vec<u32> = codes.iter().map(|c| 1 - c % 2).collect();
        let keys = CaseKeys::new(&labels, &[(&codes, 3), (&other, 2)]);
        let r = Ranked::with_keys(&scores, &keys);
        prop_assert_eq!(&r.groups, &Ranked::new(&labels, &scores).groups);
        let all = subgroup_aucs(&r, &keys);
        prop_assert_eq!(all.len(), 2);
        for (grouping, subs) in [&codes, &other].into_iter().zip(&all) {
            for (level, got) in subs.iter().enumerate() {
                let idx: Vec<usize> = (0..labels.len()).filter(|&i| grouping[i] as usize == level).collect();
                let l: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
                let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
                let want = subgroup_auc(&Ranked::new(&l, &s).groups);
                prop_assert_eq!(got, &want);
                if let (Some(a), true) = (got.auroc, l.iter().any(|&y| y) && l.iter().any(|&y| !y)) {
                    let (pos, neg) = split(&l, &s);
                    prop_assert!((a - naive_auc(&pos, &neg)).abs() < 1e-14);
                }
                if let Some(d) = got.delong {
                    prop_assert!((d.var - naive_delong_var(&l, &s)).abs() < 1e-14);
                }
            }
        }
    }

    #[test]
    fn bootstrap_replicates_equal_a_direct_computation_on_the_drawn_resample((labels, scores, _) in data(), seed in any::<u64>()) {
        let r = Ranked::new(&labels, &scores);
        let sorted_pos: Vec<f64> = r.order.iter().filter(|&&c| labels[c as usize]).map(|&c| scores[c as usize]).collect();
        let sorted_neg: Vec<f64> = r.order.iter().filter(|&&c| !labels[c as usize]).map(|&c| scores[c as usize]).collect();
        let fast = replicate_aurocs(&r.groups, 5, seed);
        for (b, s) in replicate_seeds(seed, 5).into_iter().enumerate() {
            let (pi, ni) = replicate_draws(&r.groups, s);
            let pos: Vec<f64> = pi.iter().map(|&i| sorted_pos[i as usize]).collect();
            let neg: Vec<f64> = ni.iter().map(|&i| sorted_neg[i as usize]).collect();
            prop_assert!((fast[b] - naive_auc(&pos, &neg)).abs() < 1e-14, "replicate {b}");
        }
    }

    #[test]
    fn ece_bins_partition_the_scores_with_exact_edges((labels, scores, _) in data(), bins in 1usize..20) {
        let (value, table) = ece(&labels, &scores, bins).unwrap();
        prop_assert_eq!(table.iter().map(|b| b.n).sum::<usize>(), scores.len());
        let mut naive = 0.0;
        for b in &table {
            let inside: Vec<usize> = (0..scores.len()).filter(|&i| {
                let s = scores[i];
                // s in [b/B, (b+1)/B), the last bin closed; compared in exact integers via s·B.
                let x = s * bins as f64;
                (x >= b.bin as f64 && x < (b.bin + 1) as f64) || (b.bin == bins - 1 && s == 1.0)
            }).collect();
            prop_assert_eq!(inside.len(), b.n);
            if b.n > 0 {
                let ml = inside.iter().filter(|&&i| labels[i]).count() as f64 / b.n as f64;
                let ms = inside.iter().map(|&i| scores[i]).sum::<f64>() / b.n as f64;
                naive += b.n as f64 / scores.len() as f64 * (ml - ms).abs();
            }
        }
        prop_assert!((value - naive).abs() < 1e-14);
    }
}

#[test]
fn bootstrap_is_bit_identical_for_a_seed_and_any_thread_count() {
    let labels: Vec<bool> = (0..400).map(|i| i % 3 == 0).collect();
    let scores: Vec<f64> = (0..400)
        .map(|i| ((i * 37 % 101) as f64 / 100.0 + if i % 3 == 0 { 0.2 } else { 0.0 }).min(1.0))
        .collect();
    let r = Ranked::new(&labels, &scores);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| bootstrap_auroc(&r.groups, 300, 9));
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(|| bootstrap_auroc(&r.groups, 300, 9));
    let again = bootstrap_auroc(&r.groups, 300, 9);
    assert_eq!(one, two);
    assert_eq!(one, again);
    let other = bootstrap_auroc(&r.groups, 300, 10);
    assert_ne!(one, other);
    let b = one.unwrap();
    assert!(b.ci95[0] <= b.median && b.median <= b.ci95[1]);
}

/// Data drawn from a known logistic recalibration model.
fn logistic_sample(n: usize, a: f64, b: f64) -> (Vec<bool>, Vec<f64>) {
    // A deterministic low-discrepancy sequence keeps the test reproducible without an RNG.
    let mut labels = Vec::new();
    let mut scores = Vec::new();
    for i in 0..n {
        let s = ((i as f64 + 0.5) / n as f64 * 0.98 + 0.01).clamp(0.01, 0.99);
        let x = (s / (1.0 - s)).ln();
        let p = 1.0 / (1.0 + (-(a + b * x)).exp());
        let u = ((i as f64) * 0.618_033_988_749_895).fract();
        labels.push(u < p);
        scores.push(s);
    }
    (labels, scores)
}

#[test]
fn recalibration_solves_the_score_equations() {
    for &(a, b) in &[(0.0, 1.0), (0.5, 0.6), (-1.0, 2.0)] {
        let (labels, scores) = logistic_sample(3000, a, b);
        let fit = recalibration(&Ranked::new(&labels, &scores).groups);
        let f = fit.fit.clone().unwrap();
        assert!(fit.mle_exists);
        // Gradient of the log-likelihood at the estimate is zero (to rounding).
        let (mut g0, mut g1) = (0.0, 0.0);
        for (&y, &s) in labels.iter().zip(&scores) {
            let x = (s / (1.0 - s)).ln();
            let p = 1.0 / (1.0 + (-(f.intercept + f.slope * x)).exp());
            g0 += y as u8 as f64 - p;
            g1 += (y as u8 as f64 - p) * x;
        }
        assert!(
            g0.abs() < 1e-8 && g1.abs() < 1e-8,
            "gradient ({g0}, {g1}) at {f:?}"
        );
        // The estimate is near the generating model.
        assert!(
            (f.intercept - a).abs() < 0.3 && (f.slope - b).abs() < 0.3,
            "{f:?} vs ({a}, {b})"
        );
        // Calibration-in-the-large solves its own score equation.
        let citl = fit.in_the_large.unwrap();
        let g: f64 = labels
            .iter()
            .zip(&scores)
            .map(|(&y, &s)| y as u8 as f64 - 1.0 / (1.0 + (-(citl + (s / (1.0 - s)).ln())).exp()))
            .sum();
        assert!(g.abs() < 1e-8, "CITL gradient {g}");
    }
}

#[test]
fn recalibration_reports_separation_instead_of_a_huge_slope() {
    let labels = [false, false, false, true, true, true];
    let scores = [0.1, 0.2, 0.4, 0.4, 0.7, 0.9]; // quasi-complete: tie at the boundary
    let fit = recalibration(&Ranked::new(&labels, &scores).groups);
    assert!(!fit.mle_exists);
    assert!(fit.fit.unwrap_err().contains("separated"));
    assert!(
        fit.in_the_large.is_ok(),
        "calibration-in-the-large exists with both classes"
    );
    // Scores of exactly 0 or 1 are excluded from the fit and counted.
    let labels = [false, true, false, true, true, false];
    let scores = [0.0, 1.0, 0.3, 0.6, 0.2, 0.5];
    let fit = recalibration(&Ranked::new(&labels, &scores).groups);
    assert_eq!(fit.n_used, 4);
    assert!(fit.mle_exists);
}

#[test]
fn subgroups_are_the_same_when_level_codes_do_not_fit_in_the_sort_key() {
    let labels: Vec<bool> = (0..500).map(|i| i % 4 == 0 || i % 7 == 0).collect();
    let scores: Vec<f64> = (0..500).map(|i| ((i * 53 % 97) as f64) / 96.0).collect();
    let a: Vec<u32> = (0..500).map(|i| (i % 5) as u32).collect();
    let b: Vec<u32> = (0..500).map(|i| (i % 3) as u32).collect();
    let small = CaseKeys::new(&labels, &[(&a, 5), (&b, 3)]);
    // 2 × 20 bits of codes + the label bit do not fit in 32 bits: the unpacked path.
    let big = CaseKeys::new(&labels, &[(&a, 1 << 20), (&b, 1 << 20)]);
    let packed = subgroup_aucs(&Ranked::with_keys(&scores, &small), &small);
    let unpacked = subgroup_aucs(&Ranked::with_keys(&scores, &big), &big);
    assert_eq!(&packed[0][..], &unpacked[0][..5]);
    assert_eq!(&packed[1][..], &unpacked[1][..3]);
    assert!(
        unpacked[0][5..]
            .iter()
            .all(|s| s.n == 0 && s.auroc.is_none())
    );
    assert!(packed[0].iter().all(|s| s.auroc.is_some()));
}

proptest! {
    /// With every image its own patient (singleton clusters, numbered in any order), the
    /// patient-clustered (Obuchowski 1997) variance is DeLong's, S11 is 0, the design effect is
    /// 1, and the clustered paired test is the paired DeLong test.
    #[test]
    fn singleton_clusters_give_delong_exactly((labels, a, b) in data(), shift in 0u32..1000) {
        use harness_metrics::cluster::{ClusteredModel, Clusters, paired_obuchowski};
        let n = labels.len();
        // Cluster ids: a permutation of 0..n, spread out by `shift` unused codes.
        let codes: Vec<u32> = (0..n as u32).map(|i| (i * 7919 + shift) % n as u32 * 2).collect();
        let clusters = Clusters::new(&labels, &codes, 2 * n);
        let (ra, rb) = (Ranked::new(&labels, &a), Ranked::new(&labels, &b));
        let (da, db) = (delong(&ra.groups).unwrap(), delong(&rb.groups).unwrap());
        let (ma, mb) = (
            ClusteredModel::new(&clusters, &ra).unwrap(),
            ClusteredModel::new(&clusters, &rb).unwrap(),
        );
        let o = &ma.obuchowski;
        prop_assert_eq!(o.s11, 0.0);
        prop_assert!((o.var - da.var).abs() <= 1e-14 * da.var.max(1e-300).max(1.0));
        prop_assert!((o.design_effect.unwrap_or(1.0) - 1.0).abs() <= 1e-9 || da.var == 0.0);
        let (pa, pb) = (placements(&ra), placements(&rb));
        let dl = paired_delong(&labels, da.theta, &pa, db.theta, &pb).unwrap();
        let t = paired_obuchowski(&clusters, &ma, &mb).unwrap();
        prop_assert!((t.var_diff - dl.se * dl.se).abs() <= 1e-14);
    }
}
