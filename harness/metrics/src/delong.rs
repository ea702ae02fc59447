//! AUROC, its exact fraction and Mann–Whitney U, DeLong variance and confidence interval, and
//! the paired DeLong test between two models scored on the same cases.
//!
//! References: DeLong, DeLong & Clarke-Pearson (1988), *Comparing the areas under two or more
//! correlated receiver operating characteristic curves*, Biometrics 44:837–845; the fast
//! rank-based placements of Sun & Xu (2014), IEEE Signal Processing Letters 21:1389–1393;
//! peer: R pROC 1.18 `auc`, `var(method = "delong")`, `ci.auc(method = "delong")`,
//! `roc.test(method = "delong", paired = TRUE)`.

use crate::normal;
use crate::ranks::{Ranked, TieGroup};

/// The Mann–Whitney count behind an AUROC, kept as exact integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AucCounts {
    /// Number of positives, m.
    pub m: u64,
    /// Number of negatives, n.
    pub n: u64,
    /// 2·U = 2·#{pos > neg} + #{pos == neg}: an integer even when U ends in .5.
    pub twice_u: u128,
}

impl AucCounts {
    /// Counts from a tie table in O(D): each positive at a tie group beats every negative below
    /// it and ties with the negatives of its own group.
    pub fn from_groups(groups: &[TieGroup]) -> Self {
        let (mut neg_below, mut twice_u, mut m) = (0u128, 0u128, 0u64);
        for g in groups {
            twice_u += g.pos as u128 * (2 * neg_below + g.neg as u128);
            neg_below += g.neg as u128;
            m += g.pos;
        }
        AucCounts {
            m,
            n: neg_below as u64,
            twice_u,
        }
    }

    /// AUROC = (#{pos > neg} + ½·#{pos == neg}) / (m·n); `None` if a class is absent.
    /// One rounding of a ratio of exact integers.
    pub fn auroc(&self) -> Option<f64> {
        let pairs = self.m as u128 * self.n as u128;
        (pairs > 0).then(|| self.twice_u as f64 / (2 * pairs) as f64)
    }

    /// Mann–Whitney U, the numerator of the AUROC (may end in .5).
    pub fn mann_whitney_u(&self) -> f64 {
        self.twice_u as f64 / 2.0
    }

    /// The AUROC as a reduced fraction "num/den" (num and den integers after doubling half-ties).
    pub fn exact_fraction(&self) -> Option<String> {
        let den = 2 * self.m as u128 * self.n as u128;
        if den == 0 {
            return None;
        }
        let g = gcd(self.twice_u, den);
        Some(format!("{}/{}", self.twice_u / g, den / g))
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// DeLong's estimate for one model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeLong {
    /// θ, the AUROC.
    pub theta: f64,
    /// S10 = Σ(V10ᵢ − θ)²/(m − 1), the variance of the positives' placements.
    pub s10: f64,
    /// S01 = Σ(V01ⱼ − θ)²/(n − 1), the variance of the negatives' placements.
    pub s01: f64,
    /// var(θ) = S10/m + S01/n.
    pub var: f64,
    /// θ ± Φ⁻¹(0.975)·√var, clamped to [0, 1].
    pub ci95: [f64; 2],
}

impl DeLong {
    /// True when the variance is 0 (AUROC 0 or 1): the CI [θ, θ] is degenerate, not certain.
    pub fn is_degenerate(&self) -> bool {
        self.var == 0.0
    }
}

/// Why a DeLong estimate is undefined, or `None` if it is defined.
pub fn delong_undefined_reason(m: u64, n: u64) -> Option<String> {
    if m == 0 || n == 0 {
        Some(crate::one_class_reason(m, n))
    } else if m < 2 || n < 2 {
        Some(format!(
            "DeLong needs >= 2 positives and >= 2 negatives ({m} positives, {n} negatives)"
        ))
    } else {
        None
    }
}

/// Exact integer sums behind the AUROC and its DeLong variance, fed tie groups in ascending
/// score order.
///
/// With a_g = 2·(negatives below) + (negatives tied) = 2n·V10 for the positives of group g, and
/// b_g = 2·(positives above) + (positives tied) = 2m·V01 for its negatives,
/// Σ_pos (V10 − θ)² = (m·Σ pos_g·a_g² − T²) / (m·(2n)²) with T = 2U = Σ pos_g·a_g = Σ neg_g·b_g,
/// and likewise for the negatives. Everything is an integer until one final division, so the
/// variance needs neither θ in advance nor a second pass, and loses nothing to cancellation.
#[derive(Clone, Copy, Debug)]
pub struct DeLongSums {
    m: u64,
    n: u64,
    neg_below: u64,
    pos_below: u64,
    twice_u: u128,
    sum_a2: u128,
    sum_b2: u128,
}

impl DeLongSums {
    /// For a sample of `m` positives and `n` negatives (the totals must be known up front).
    pub fn new(m: u64, n: u64) -> Self {
        DeLongSums {
            m,
            n,
            neg_below: 0,
            pos_below: 0,
            twice_u: 0,
            sum_a2: 0,
            sum_b2: 0,
        }
    }

    /// The sums of a whole tie table (ascending score order).
    pub fn from_groups(groups: &[TieGroup]) -> Self {
        let (m, n) = crate::ranks::class_counts(groups);
        let mut sums = DeLongSums::new(m, n);
        for g in groups {
            sums.push(g.pos, g.neg);
        }
        sums
    }

    /// Adds the next tie group (ascending score order) with `pos` positives and `neg` negatives.
    #[inline]
    pub fn push(&mut self, pos: u64, neg: u64) {
        // a, b ≤ 2N < 2^33, so a² is one widening multiply; the counts are < 2^32.
        let a = 2 * self.neg_below + neg;
        let b = 2 * (self.m - self.pos_below - pos) + pos;
        self.twice_u += (pos * a) as u128;
        self.sum_a2 += pos as u128 * (a as u128 * a as u128);
        self.sum_b2 += neg as u128 * (b as u128 * b as u128);
        self.neg_below += neg;
        self.pos_below += pos;
    }

    /// [`DeLongSums::push`] of a group of one case: the common case with continuous scores.
    #[inline]
    pub fn push_one(&mut self, positive: bool) {
        if positive {
            let a = 2 * self.neg_below;
            self.twice_u += a as u128;
            self.sum_a2 += a as u128 * a as u128;
            self.pos_below += 1;
        } else {
            let b = 2 * (self.m - self.pos_below);
            self.sum_b2 += b as u128 * b as u128;
            self.neg_below += 1;
        }
    }

    /// The Mann–Whitney counts (valid once every group has been pushed).
    pub fn counts(&self) -> AucCounts {
        AucCounts {
            m: self.m,
            n: self.n,
            twice_u: self.twice_u,
        }
    }

    /// DeLong's estimate; `None` when m ≤ 1 or n ≤ 1.
    pub fn delong(&self) -> Option<DeLong> {
        let (m, n) = (self.m, self.n);
        if m < 2 || n < 2 {
            return None;
        }
        debug_assert_eq!(
            (self.pos_below, self.neg_below),
            (m, n),
            "every group must be pushed"
        );
        let theta = self.counts().auroc()?;
        let t2 = self.twice_u * self.twice_u;
        // count·Σ w·x² − T² ≥ 0 (Cauchy–Schwarz); exact unless the sample is astronomically large.
        let spread = |count: u64, sum_sq: u128| match (count as u128).checked_mul(sum_sq) {
            Some(v) => (v - t2) as f64,
            None => count as f64 * sum_sq as f64 - t2 as f64,
        };
        let (mf, nf) = (m as f64, n as f64);
        let s10 = spread(m, self.sum_a2) / (mf * (2.0 * nf) * (2.0 * nf) * (mf - 1.0));
        let s01 = spread(n, self.sum_b2) / (nf * (2.0 * mf) * (2.0 * mf) * (nf - 1.0));
        let var = s10 / mf + s01 / nf;
        let half = normal::z975() * var.sqrt();
        Some(DeLong {
            theta,
            s10,
            s01,
            var,
            ci95: [(theta - half).max(0.0), (theta + half).min(1.0)],
        })
    }
}

/// DeLong variance and 95 % CI of the AUROC from a tie table, in O(D): every positive in a tie
/// group has the same placement V10 = (negatives below + ½·negatives tied)/n, and every negative
/// the same V01 = (positives above + ½·positives tied)/m (see [`DeLongSums`]).
/// `None` when m ≤ 1 or n ≤ 1.
pub fn delong(groups: &[TieGroup]) -> Option<DeLong> {
    DeLongSums::from_groups(groups).delong()
}

/// The DeLong placements of every tie group of a tie table, in ascending score order.
///
/// Every positive of a tie group has the same placement V10 = (negatives below + ½·negatives
/// tied)/n, and every negative the same V01 = (positives above + ½·positives tied)/m. This is
/// the one place where those values are computed: [`placements`] spreads them over the cases of
/// a sample, and `pool::paired_site_sums` looks a site's scores up in the pooled table with them.
/// When a class is absent the placements of the other class divide by zero (not finite).
#[derive(Clone, Debug)]
pub struct TiePlacements<'a> {
    groups: std::slice::Iter<'a, TieGroup>,
    m: u64,
    mf: f64,
    nf: f64,
    neg_below: u64,
    pos_below: u64,
}

/// One tie group's score and the placements of its positives and negatives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupPlacement {
    /// The tied score.
    pub value: f64,
    /// V10 of each positive with this score.
    pub v10: f64,
    /// V01 of each negative with this score.
    pub v01: f64,
}

impl<'a> TiePlacements<'a> {
    /// The placements of the groups of `groups` (ascending score order), against the classes of
    /// the whole table.
    pub fn new(groups: &'a [TieGroup]) -> Self {
        let (m, n) = crate::ranks::class_counts(groups);
        Self::with_counts(groups, m, n)
    }

    /// As [`TiePlacements::new`] with the class counts of `groups` already known.
    fn with_counts(groups: &'a [TieGroup], m: u64, n: u64) -> Self {
        TiePlacements {
            groups: groups.iter(),
            m,
            mf: m as f64,
            nf: n as f64,
            neg_below: 0,
            pos_below: 0,
        }
    }
}

impl Iterator for TiePlacements<'_> {
    type Item = GroupPlacement;

    #[inline]
    fn next(&mut self) -> Option<GroupPlacement> {
        let g = self.groups.next()?;
        let v10 = (self.neg_below as f64 + 0.5 * g.neg as f64) / self.nf;
        let v01 = ((self.m - self.pos_below - g.pos) as f64 + 0.5 * g.pos as f64) / self.mf;
        self.neg_below += g.neg;
        self.pos_below += g.pos;
        Some(GroupPlacement {
            value: g.value,
            v10,
            v01,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.groups.size_hint()
    }
}

/// Per-case DeLong placements of one model: `v[case]` is V10 for a positive case and V01 for a
/// negative case. Computed from the sorted order in O(N) (Sun & Xu 2014), never pairwise; the
/// values of each tie group come from [`TiePlacements`].
pub fn placements(ranked: &Ranked) -> Vec<f64> {
    let mut v = vec![0.0; ranked.order.len()];
    let mut start = 0usize;
    for (g, p) in ranked.groups.iter().zip(TiePlacements::with_counts(
        &ranked.groups,
        ranked.m,
        ranked.n,
    )) {
        let len = (g.pos + g.neg) as usize;
        // The label is bit 0 of the sorted key: read sequentially, not gathered by case.
        for (&case, &key) in ranked.order[start..start + len]
            .iter()
            .zip(&ranked.keys[start..start + len])
        {
            v[case as usize] = if key & 1 == 1 { p.v10 } else { p.v01 };
        }
        start += len;
    }
    v
}

/// Result of the paired DeLong test of H0: AUROC_A = AUROC_B on the same cases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairedDeLong {
    /// θ_A, the AUROC of model A.
    pub auc_a: f64,
    /// θ_B, the AUROC of model B.
    pub auc_b: f64,
    /// auc_a − auc_b.
    pub diff: f64,
    /// σ = √(S_AA + S_BB − 2·S_AB), the standard error of the difference.
    pub se: f64,
    /// Z = diff/σ; `None` when σ = 0 and diff ≠ 0 (the normal approximation is undefined).
    pub z: Option<f64>,
    /// Two-sided p = 2·Φ(−|Z|); 1 when σ = 0 and diff = 0.
    pub p: Option<f64>,
    /// diff ± Φ⁻¹(0.975)·σ (not clamped: a difference lies in [−1, 1]).
    pub ci95: [f64; 2],
}

/// The sums behind the paired DeLong covariance of two models on the same cases: the numbers of
/// positives and negatives, and the centred cross-products of the placements of models A and B
/// (DeLong et al. 1988). They add up over disjoint sets of cases ([`std::ops::Add`]), which is
/// what lets sites pool the paired test exactly (`crate::pool`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PairedSums {
    /// Number of positives, m.
    pub m: u64,
    /// Number of negatives, n.
    pub n: u64,
    /// Over the positives: [Σ(V10_A − θ_A)², Σ(V10_B − θ_B)², Σ(V10_A − θ_A)(V10_B − θ_B)].
    pub s10: [f64; 3],
    /// Over the negatives: [Σ(V01_A − θ_A)², Σ(V01_B − θ_B)², Σ(V01_A − θ_A)(V01_B − θ_B)].
    pub s01: [f64; 3],
}

impl PairedSums {
    /// Adds one case: `positive` its label, `da` = V_A − θ_A and `db` = V_B − θ_B its centred
    /// placements (V10 for a positive, V01 for a negative).
    #[inline]
    pub fn push(&mut self, positive: bool, da: f64, db: f64) {
        let acc = if positive {
            self.m += 1;
            &mut self.s10
        } else {
            self.n += 1;
            &mut self.s01
        };
        acc[0] += da * da;
        acc[1] += db * db;
        acc[2] += da * db;
    }

    /// The paired DeLong test from the sums of all the cases, θ_A = `auc_a` and θ_B = `auc_b`
    /// being the AUROCs they were centred on. The 2×2 covariances use denominators m − 1 and
    /// n − 1, S = S10/m + S01/n. `None` when m ≤ 1 or n ≤ 1.
    pub fn finish(&self, auc_a: f64, auc_b: f64) -> Option<PairedDeLong> {
        let (m, n, s10, s01) = (self.m, self.n, self.s10, self.s01);
        if m < 2 || n < 2 {
            return None;
        }
        let (mf, nf) = (m as f64, n as f64);
        let s = |k: usize| s10[k] / (mf - 1.0) / mf + s01[k] / (nf - 1.0) / nf;
        let var = s(0) + s(1) - 2.0 * s(2);
        // Rounding can leave a tiny negative variance when the two models are identical.
        let se = var.max(0.0).sqrt();
        let diff = auc_a - auc_b;
        let (z, p, ci95) = normal::wald(diff, se);
        Some(PairedDeLong {
            auc_a,
            auc_b,
            diff,
            se,
            z,
            p,
            ci95,
        })
    }
}

impl std::ops::AddAssign for PairedSums {
    /// Pools the sums of two disjoint sets of cases (centred on the same θ_A, θ_B).
    fn add_assign(&mut self, other: PairedSums) {
        self.m += other.m;
        self.n += other.n;
        for k in 0..3 {
            self.s10[k] += other.s10[k];
            self.s01[k] += other.s01[k];
        }
    }
}

impl std::ops::Add for PairedSums {
    type Output = PairedSums;

    /// Pools the sums of two disjoint sets of cases (centred on the same θ_A, θ_B).
    fn add(mut self, other: PairedSums) -> PairedSums {
        self += other;
        self
    }
}

/// Paired DeLong test (DeLong et al. 1988, eq. for the covariance of correlated AUROCs; pROC
/// `roc.test(paired = TRUE, method = "delong")`). `labels` and both placement vectors are in
/// case order: the cases are accumulated into [`PairedSums`] and [`PairedSums::finish`]ed.
/// Returns `None` when m ≤ 1 or n ≤ 1.
pub fn paired_delong(
    labels: &[bool],
    auc_a: f64,
    va: &[f64],
    auc_b: f64,
    vb: &[f64],
) -> Option<PairedDeLong> {
    let mut sums = PairedSums::default();
    for ((&y, &a), &b) in labels.iter().zip(va).zip(vb) {
        sums.push(y, a - auc_a, b - auc_b);
    }
    sums.finish(auc_a, auc_b)
}
