//! Subgroup discrimination and fairness at a decision threshold.
//!
//! Subgroup AUROCs with DeLong CIs per level of a grouping column (as pROC on each subset), and
//! the group-fairness disparities of fairlearn 0.15 (`MetricFrame`, `demographic_parity_difference`,
//! `equalized_odds_difference`; Hardt, Price & Srebro 2016 for equalized odds).

use crate::delong::{DeLong, DeLongSums, delong_undefined_reason};
use crate::ranks::{CaseKeys, Ranked, TieGroup};

/// Discrimination within one level of a grouping column.
#[derive(Clone, Debug, PartialEq)]
pub struct SubgroupAuc {
    pub n: u64,
    pub positives: u64,
    pub negatives: u64,
    /// `None` when the level has one class.
    pub auroc: Option<f64>,
    /// `None` when the level has fewer than 2 positives or 2 negatives.
    pub delong: Option<DeLong>,
    /// Why `auroc` or `delong` is missing.
    pub reason: Option<String>,
}

impl SubgroupAuc {
    fn from_sums(sums: &DeLongSums) -> Self {
        let counts = sums.counts();
        let (m, n) = (counts.m, counts.n);
        SubgroupAuc {
            n: m + n,
            positives: m,
            negatives: n,
            auroc: counts.auroc(),
            delong: sums.delong(),
            reason: delong_undefined_reason(m, n),
        }
    }
}

/// Subgroup AUROC and DeLong CI from a level's own tie table.
pub fn subgroup_auc(groups: &[TieGroup]) -> SubgroupAuc {
    SubgroupAuc::from_sums(&DeLongSums::from_groups(groups))
}

/// AUROC and DeLong CI of every level of every grouping (`out[grouping][level]`) in one walk of
/// the model's sorted cases (ranked with [`Ranked::with_keys`]): no per-level sort and no per-level tie table, each level's tie
/// groups being streamed into its [`DeLongSums`] as they close.
pub fn subgroup_aucs(ranked: &Ranked, keys: &CaseKeys) -> Vec<Vec<SubgroupAuc>> {
    /// A level's sums and its open tie group: index of the global group, positives, negatives.
    struct Level {
        sums: DeLongSums,
        group: usize,
        pos: u64,
        neg: u64,
    }
    let mut levels: Vec<Vec<Level>> = keys
        .classes()
        .iter()
        .map(|g| {
            g.iter()
                .map(|&(m, n)| Level {
                    sums: DeLongSums::new(m, n),
                    group: usize::MAX,
                    pos: 0,
                    neg: 0,
                })
                .collect()
        })
        .collect();
    let mut start = 0usize;
    for (gi, g) in ranked.groups.iter().enumerate() {
        let end = start + (g.pos + g.neg) as usize;
        if end == start + 1 {
            // A score held by one case (most of them when scores are continuous): it is a tie
            // group of its own in every level, so it is pushed at once.
            let (key, case) = (ranked.keys[start], ranked.order[start]);
            for (k, grouping) in levels.iter_mut().enumerate() {
                let l = &mut grouping[keys.code(k, key, case) as usize];
                if l.group != usize::MAX {
                    l.sums.push(l.pos, l.neg);
                    l.group = usize::MAX;
                }
                l.sums.push_one(key & 1 == 1);
            }
            start = end;
            continue;
        }
        for (&key, &case) in ranked.keys[start..end]
            .iter()
            .zip(&ranked.order[start..end])
        {
            let positive = key & 1 == 1;
            for (k, grouping) in levels.iter_mut().enumerate() {
                let l = &mut grouping[keys.code(k, key, case) as usize];
                if l.group != gi {
                    if l.group != usize::MAX {
                        l.sums.push(l.pos, l.neg);
                    }
                    (l.group, l.pos, l.neg) = (gi, 0, 0);
                }
                if positive { l.pos += 1 } else { l.neg += 1 }
            }
        }
        start = end;
    }
    levels
        .into_iter()
        .map(|grouping| {
            grouping
                .into_iter()
                .map(|mut l| {
                    if l.group != usize::MAX {
                        l.sums.push(l.pos, l.neg);
                    }
                    SubgroupAuc::from_sums(&l.sums)
                })
                .collect()
        })
        .collect()
}

/// Confusion counts of one level at a threshold; predicted positive iff score ≥ threshold.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct LevelCounts {
    pub n: u64,
    pub positives: u64,
    pub predicted_positive: u64,
    pub tp: u64,
    pub fp: u64,
}

impl LevelCounts {
    pub fn negatives(&self) -> u64 {
        self.n - self.positives
    }
    /// Selection rate = predicted positives / n (`None` for an empty level).
    pub fn selection_rate(&self) -> Option<f64> {
        (self.n > 0).then(|| self.predicted_positive as f64 / self.n as f64)
    }
    /// True positive rate tp / positives; `None` when the level has no positives.
    pub fn tpr(&self) -> Option<f64> {
        (self.positives > 0).then(|| self.tp as f64 / self.positives as f64)
    }
    /// False positive rate fp / negatives; `None` when the level has no negatives.
    pub fn fpr(&self) -> Option<f64> {
        (self.negatives() > 0).then(|| self.fp as f64 / self.negatives() as f64)
    }
}

/// Per-level confusion counts at `threshold` in one O(N) pass.
pub fn level_counts(
    labels: &[bool],
    scores: &[f64],
    codes: &[u32],
    levels: usize,
    threshold: f64,
) -> Vec<LevelCounts> {
    let mut out = vec![LevelCounts::default(); levels];
    for ((&y, &s), &c) in labels.iter().zip(scores).zip(codes) {
        let lc = &mut out[c as usize];
        let pred = s >= threshold;
        lc.n += 1;
        lc.positives += y as u64;
        lc.predicted_positive += pred as u64;
        lc.tp += (pred && y) as u64;
        lc.fp += (pred && !y) as u64;
    }
    out
}

/// [`level_counts`] of every grouping (`out[grouping][level]`) from the model's sorted cases
/// ([`Ranked::with_keys`]): the cases predicted positive (score ≥ threshold) are a suffix of
/// the sorted order, and the level sizes and class counts are known from [`CaseKeys`], so only
/// that suffix is read — once for all groupings, through a histogram of the packed keys when
/// they are narrow.
pub fn level_counts_sorted(
    ranked: &Ranked,
    keys: &CaseKeys,
    threshold: f64,
) -> Vec<Vec<LevelCounts>> {
    let below = ranked.groups.partition_point(|g| g.value < threshold);
    let first = ranked.groups[..below]
        .iter()
        .map(|g| (g.pos + g.neg) as usize)
        .sum::<usize>();
    let mut out: Vec<Vec<LevelCounts>> = keys
        .classes()
        .iter()
        .map(|g| {
            g.iter()
                .map(|&(m, n)| LevelCounts {
                    n: m + n,
                    positives: m,
                    ..LevelCounts::default()
                })
                .collect()
        })
        .collect();
    let mut tally = |k: usize, code: u32, positive: bool, count: u64| {
        let lc = &mut out[k][code as usize];
        lc.predicted_positive += count;
        if positive {
            lc.tp += count
        } else {
            lc.fp += count
        }
    };
    let suffix = &ranked.keys[first..];
    match keys.packed_bits().filter(|&bits| bits <= 16) {
        Some(bits) => {
            let mut histogram = vec![0u64; 1 << bits];
            for &key in suffix {
                histogram[key as usize] += 1;
            }
            for (key, &count) in histogram.iter().enumerate().filter(|(_, c)| **c > 0) {
                for k in 0..keys.classes().len() {
                    // Packed keys never consult the case index.
                    tally(k, keys.code(k, key as u32, 0), key & 1 == 1, count);
                }
            }
        }
        None => {
            for (&key, &case) in suffix.iter().zip(&ranked.order[first..]) {
                for k in 0..keys.classes().len() {
                    tally(k, keys.code(k, key, case), key & 1 == 1, 1);
                }
            }
        }
    }
    out
}

/// max − min of the defined values, with the indices of the (first) max and min.
pub fn range_of(values: impl IntoIterator<Item = Option<f64>>) -> Option<(f64, usize, usize)> {
    let mut best: Option<(f64, usize, f64, usize)> = None; // (max, argmax, min, argmin)
    for (i, v) in values.into_iter().enumerate() {
        let Some(v) = v else { continue };
        best = Some(match best {
            None => (v, i, v, i),
            Some((mx, imx, mn, imn)) => {
                let (mx, imx) = if v > mx { (v, i) } else { (mx, imx) };
                let (mn, imn) = if v < mn { (v, i) } else { (mn, imn) };
                (mx, imx, mn, imn)
            }
        });
    }
    best.map(|(mx, imx, mn, imn)| (mx - mn, imx, imn))
}

/// Fairness disparities across the levels of one grouping column.
#[derive(Clone, Debug, PartialEq)]
pub struct Disparities {
    /// max − min selection rate (fairlearn `demographic_parity_difference`).
    pub demographic_parity_difference: Option<f64>,
    /// max(range of TPR, range of FPR) over the levels where each rate is defined (the honest
    /// version: a level without positives has no TPR rather than a TPR of 0).
    pub equalized_odds_difference: Option<f64>,
    /// fairlearn 0.15 `equalized_odds_difference`: 0/0 rates become 0.0, which inflates the
    /// disparity when a level has no positives (or no negatives). Shown for comparability.
    pub equalized_odds_difference_fairlearn: Option<f64>,
}

/// Demographic parity and equalized odds differences from per-level counts.
pub fn disparities(levels: &[LevelCounts]) -> Disparities {
    let dpd = range_of(levels.iter().map(LevelCounts::selection_rate)).map(|r| r.0);
    let eod = |tpr: Vec<Option<f64>>, fpr: Vec<Option<f64>>| match (range_of(tpr), range_of(fpr)) {
        (Some(a), Some(b)) => Some(a.0.max(b.0)),
        (Some(a), None) => Some(a.0),
        (None, Some(b)) => Some(b.0),
        (None, None) => None,
    };
    let honest = eod(
        levels.iter().map(LevelCounts::tpr).collect(),
        levels.iter().map(LevelCounts::fpr).collect(),
    );
    let zero_filled = eod(
        levels
            .iter()
            .map(|l| (l.n > 0).then(|| l.tpr().unwrap_or(0.0)))
            .collect(),
        levels
            .iter()
            .map(|l| (l.n > 0).then(|| l.fpr().unwrap_or(0.0)))
            .collect(),
    );
    Disparities {
        demographic_parity_difference: dpd,
        equalized_odds_difference: honest,
        equalized_odds_difference_fairlearn: zero_filled,
    }
}
