//! Patient-level clustering: the Obuchowski (1997) variance of the AUROC and the paired test
//! of two models when several images come from one patient, the cluster bootstrap CI of the
//! AUROC, and the bootstrap CIs of sensitivity at a target specificity (stratified at image
//! level, and resampling clusters).
//!
//! Obuchowski NA (1997), *Nonparametric analysis of clustered ROC curve data*, Biometrics
//! 53:567–578. With I clusters, m_i / n_i positives / negatives in cluster i, M = Σm_i,
//! N = Σn_i, I10 / I01 = clusters with m_i > 0 / n_i > 0, the structural components are
//! DeLong's placements over **all** cases, V10(X_ij) = (1/N)·Σ_negatives ψ and
//! V01(Y_ik) = (1/M)·Σ_positives ψ ([`crate::delong::placements`], from ranks, O(N log N)),
//! summed per cluster: X_i = Σ_j V10(X_ij), Y_i = Σ_k V01(Y_ik). θ is the ordinary pooled AUROC.
//! S10 = I10/((I10−1)M)·Σ_i(X_i − m_iθ)², S01 = I01/((I01−1)N)·Σ_i(Y_i − n_iθ)²,
//! S11 = I/(I−1)·Σ_i(X_i − m_iθ)(Y_i − n_iθ), var = S10/M + S01/N + 2·S11/(MN).
//! For two models on the same cases the covariance pairs A's residuals with B's:
//! cov = S10^{AB}/M + S01^{AB}/N + (S11^{AB} + S11^{BA})/(MN) (S11^{AB}: X-residuals of A with
//! Y-residuals of B). Peer: the Obuchowski group's R `doAUCcluster.R` (which reports |θ_A − θ_B|
//! and takes `sqrt(round(var, 15))`; the harness signs the difference A − B and rounds nothing).
//!
//! With one image per cluster I10 = M, I01 = N, S11 = 0 and S10, S01 are DeLong's (denominators
//! M − 1, N − 1): the variance is DeLong's identically, with no n/(n − 1) factor.
//!
//! Every clustered statistic is undefined (an `Err` with a human-readable reason, `null` with a
//! `reason` in the report) when I ≤ 1, I10 ≤ 1 or I01 ≤ 1 ([`Clusters::undefined_reason`]).
//!
//! The cluster bootstrap (Field & Welsh 2007, "Bootstrapping clustered data", JRSS B
//! 69:369–390; unstratified) draws I clusters with replacement and keeps all their rows; a
//! replicate lacking a class is drawn again from the same generator and counted (`n_redrawn`).
//! Replicate b uses the generator of replicate b of [`crate::bootstrap`] (Xoshiro256++ seeded
//! with the b-th output of a master seeded with the user's seed, Lemire's unbiased bounded
//! integers on 32-bit halves): its I cluster indices are drawn from [0, I), clusters numbered in
//! the order of their codes (empty codes skipped), then, if the resample lacks a class, the next
//! I, and so on. So a seed gives the same resamples on any machine and thread count, the same
//! for every model, and the AUROC and the sensitivity CIs describe the same resamples. With
//! I10, I01 ≥ 2 a draw lacks a class with probability at most 2·e⁻² < 0.28, so redraws end.
//! Each replicate's AUROC is an exact ratio of integer counts (a drawn cluster's rows count as
//! many times as it was drawn), computed from the model's one sort in O(N + I).

use crate::bootstrap::{MAX_REPLICATES, U32Stream, percentile_ci, replicate_seeds};
use crate::delong::{AucCounts, DeLong, delong, placements};
use crate::normal;
use crate::ranks::{Ranked, TieGroup};
use crate::roc_band::{Curve, check_specificities, roc_band};
use crate::spec_key;
use indexmap::IndexMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The clusters (patients) of a set of cases: built once from the labels and each case's
/// cluster code, shared by every model scored on those cases.
#[derive(Clone, Debug)]
pub struct Clusters {
    /// Each case's cluster, numbered 0..I among the non-empty clusters, in code order.
    case_cluster: Vec<u32>,
    labels: Vec<bool>,
    /// m_i and n_i of each non-empty cluster.
    pos: Vec<u64>,
    neg: Vec<u64>,
    counts: ClusterCounts,
    m: u64,
    n: u64,
}

/// How the cases fall into clusters (the counts of the `clustered` block). Codes without any
/// case are not clusters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterCounts {
    /// I: clusters with at least one case.
    pub n_clusters: u64,
    /// I10: clusters with at least one positive.
    pub n_clusters_with_pos: u64,
    /// I01: clusters with at least one negative.
    pub n_clusters_with_neg: u64,
    /// Fewest cases in a cluster (0 when there are no cases).
    pub cluster_size_min: u64,
    /// Most cases in a cluster (0 when there are no cases).
    pub cluster_size_max: u64,
}

impl Clusters {
    /// `codes[case] < n_clusters` is the cluster (patient) of each case.
    ///
    /// # Panics
    /// If `codes` and `labels` differ in length, a code is not below `n_clusters`, or there are
    /// more than `u32::MAX` cases.
    pub fn new(labels: &[bool], codes: &[u32], n_clusters: usize) -> Self {
        assert_eq!(
            labels.len(),
            codes.len(),
            "cluster codes and labels must have the same length"
        );
        assert!(labels.len() <= u32::MAX as usize, "too many cases");
        let mut per_code = vec![(0u64, 0u64); n_clusters];
        for (&y, &c) in labels.iter().zip(codes) {
            assert!(
                (c as usize) < n_clusters,
                "cluster code {c} is not below the cluster count {n_clusters}"
            );
            let e = &mut per_code[c as usize];
            if y { e.0 += 1 } else { e.1 += 1 }
        }
        let mut dense = vec![u32::MAX; n_clusters];
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for (d, &(p, q)) in dense.iter_mut().zip(&per_code) {
            if p + q > 0 {
                *d = pos.len() as u32;
                pos.push(p);
                neg.push(q);
            }
        }
        let sizes = || pos.iter().zip(&neg).map(|(p, q)| p + q);
        let counts = ClusterCounts {
            n_clusters: pos.len() as u64,
            n_clusters_with_pos: pos.iter().filter(|&&p| p > 0).count() as u64,
            n_clusters_with_neg: neg.iter().filter(|&&q| q > 0).count() as u64,
            cluster_size_min: sizes().min().unwrap_or(0),
            cluster_size_max: sizes().max().unwrap_or(0),
        };
        Clusters {
            case_cluster: codes.iter().map(|&c| dense[c as usize]).collect(),
            labels: labels.to_vec(),
            m: pos.iter().sum(),
            n: neg.iter().sum(),
            pos,
            neg,
            counts,
        }
    }

    /// I, I10, I01 and the cluster sizes.
    pub fn counts(&self) -> ClusterCounts {
        self.counts
    }

    /// I, the number of non-empty clusters.
    pub fn n_clusters(&self) -> usize {
        self.pos.len()
    }

    /// Why the clustered statistics are undefined (a class is absent, I ≤ 1, I10 ≤ 1 or
    /// I01 ≤ 1), or `None` if they are defined.
    pub fn undefined_reason(&self) -> Option<String> {
        let c = &self.counts;
        if self.m == 0 || self.n == 0 {
            Some(crate::one_class_reason(self.m, self.n))
        } else if c.n_clusters <= 1 {
            Some(format!(
                "clustered AUROC statistics need >= 2 clusters ({} cluster)",
                c.n_clusters
            ))
        } else if c.n_clusters_with_pos <= 1 || c.n_clusters_with_neg <= 1 {
            Some(format!(
                "clustered AUROC statistics need >= 2 clusters with positives and >= 2 with negatives ({} with positives, {} with negatives, of {} clusters)",
                c.n_clusters_with_pos, c.n_clusters_with_neg, c.n_clusters
            ))
        } else {
            None
        }
    }

    fn defined(&self) -> Result<(), String> {
        self.undefined_reason().map_or(Ok(()), Err)
    }

    fn check_model(&self, ranked: &Ranked) {
        assert!(
            ranked.order.len() == self.labels.len() && (ranked.m, ranked.n) == (self.m, self.n),
            "the model must be scored on the clusters' cases"
        );
    }
}

/// The Obuchowski estimate for one model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Obuchowski {
    /// θ, the ordinary pooled AUROC.
    pub theta: f64,
    /// S10 = I10/((I10−1)M)·Σ_i(X_i − m_iθ)².
    pub s10: f64,
    /// S01 = I01/((I01−1)N)·Σ_i(Y_i − n_iθ)².
    pub s01: f64,
    /// S11 = I/(I−1)·Σ_i(X_i − m_iθ)(Y_i − n_iθ) (may be negative).
    pub s11: f64,
    /// var(θ) = S10/M + S01/N + 2·S11/(MN) (non-negative; a rounding residue below 0 is 0).
    pub var: f64,
    /// θ ± Φ⁻¹(0.975)·√var, clamped to [0, 1].
    pub ci95: [f64; 2],
    /// DeLong's variance of the same AUROC, ignoring the clusters.
    pub var_delong: f64,
    /// var / var_delong; `None` when the DeLong variance is 0 (AUROC 0 or 1).
    pub design_effect: Option<f64>,
}

/// One model's Obuchowski estimate and its per-cluster residuals (what the paired test needs).
#[derive(Clone, Debug)]
pub struct ClusteredModel {
    pub obuchowski: Obuchowski,
    /// X_i − m_iθ = Σ_j (V10(X_ij) − θ), per cluster.
    x_resid: Vec<f64>,
    /// Y_i − n_iθ = Σ_k (V01(Y_ik) − θ), per cluster.
    y_resid: Vec<f64>,
}

/// The Obuchowski variance components of models A and B (A = B gives the variance).
struct Components {
    s10: f64,
    s01: f64,
    s11_ab: f64,
    s11_ba: f64,
}

impl Components {
    fn new(c: &Clusters, a: &ClusteredModel, b: &ClusteredModel) -> Self {
        let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(x, y)| x * y).sum::<f64>();
        let i = c.counts.n_clusters as f64;
        let i10 = c.counts.n_clusters_with_pos as f64;
        let i01 = c.counts.n_clusters_with_neg as f64;
        let (mf, nf) = (c.m as f64, c.n as f64);
        Components {
            s10: i10 / ((i10 - 1.0) * mf) * dot(&a.x_resid, &b.x_resid),
            s01: i01 / ((i01 - 1.0) * nf) * dot(&a.y_resid, &b.y_resid),
            s11_ab: i / (i - 1.0) * dot(&a.x_resid, &b.y_resid),
            s11_ba: i / (i - 1.0) * dot(&b.x_resid, &a.y_resid),
        }
    }

    /// S10/M + S01/N + (S11^{AB} + S11^{BA})/(MN).
    fn cov(&self, c: &Clusters) -> f64 {
        let (mf, nf) = (c.m as f64, c.n as f64);
        self.s10 / mf + self.s01 / nf + (self.s11_ab + self.s11_ba) / (mf * nf)
    }
}

impl ClusteredModel {
    /// The Obuchowski estimate of the model whose sort is `ranked` (scored on the clusters'
    /// cases). `Err` with the reason when I ≤ 1, I10 ≤ 1 or I01 ≤ 1.
    ///
    /// # Panics
    /// If `ranked` is not a model of the clusters' cases.
    pub fn new(clusters: &Clusters, ranked: &Ranked) -> Result<Self, String> {
        clusters.defined()?;
        clusters.check_model(ranked);
        // Defined: M, N ≥ I10, I01 ≥ 2.
        let dl = delong(&ranked.groups).ok_or("DeLong placements undefined")?;
        Self::from_placements(clusters, &dl, &placements(ranked))
    }

    /// As [`ClusteredModel::new`], from the model's DeLong estimate and its per-case placements
    /// ([`crate::delong::placements`], in case order) when the caller has them already.
    ///
    /// # Panics
    /// If `placements` is not one value per case.
    pub fn from_placements(
        clusters: &Clusters,
        delong: &DeLong,
        placements: &[f64],
    ) -> Result<Self, String> {
        clusters.defined()?;
        assert_eq!(
            placements.len(),
            clusters.labels.len(),
            "one placement per case"
        );
        let theta = delong.theta;
        let i = clusters.n_clusters();
        let (mut x_resid, mut y_resid) = (vec![0.0; i], vec![0.0; i]);
        for ((&c, &y), &v) in clusters
            .case_cluster
            .iter()
            .zip(&clusters.labels)
            .zip(placements)
        {
            let r = if y { &mut x_resid } else { &mut y_resid };
            r[c as usize] += v - theta;
        }
        let mut model = ClusteredModel {
            obuchowski: Obuchowski {
                theta,
                s10: 0.0,
                s01: 0.0,
                s11: 0.0,
                var: 0.0,
                ci95: [theta, theta],
                var_delong: delong.var,
                design_effect: None,
            },
            x_resid,
            y_resid,
        };
        let s = Components::new(clusters, &model, &model);
        // The variance is a non-negative quadratic form (the S10 and S01 factors are at least
        // S11's), so only rounding can take it below 0.
        let var = s.cov(clusters).max(0.0);
        let half = normal::z975() * var.sqrt();
        model.obuchowski = Obuchowski {
            theta,
            s10: s.s10,
            s01: s.s01,
            s11: s.s11_ab,
            var,
            ci95: [(theta - half).max(0.0), (theta + half).min(1.0)],
            var_delong: delong.var,
            design_effect: (delong.var > 0.0).then(|| var / delong.var),
        };
        Ok(model)
    }
}

/// The Obuchowski estimate from labels, scores and each case's cluster code
/// (`codes[case] < n_clusters`): one sort, then [`ClusteredModel::new`].
pub fn obuchowski_auroc(
    labels: &[bool],
    scores: &[f64],
    codes: &[u32],
    n_clusters: usize,
) -> Result<ClusteredModel, String> {
    ClusteredModel::new(
        &Clusters::new(labels, codes, n_clusters),
        &Ranked::new(labels, scores),
    )
}

/// The paired clustered comparison of two models on the same cases (H0: θ_A = θ_B).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairedObuchowski {
    pub auc_a: f64,
    pub auc_b: f64,
    /// auc_a − auc_b (signed, unlike `doAUCcluster.R`'s |θ_A − θ_B|).
    pub diff: f64,
    pub var_a: f64,
    pub var_b: f64,
    /// S10^{AB}/M + S01^{AB}/N + (S11^{AB} + S11^{BA})/(MN).
    pub cov_ab: f64,
    /// var_a + var_b − 2·cov_ab (a rounding residue below 0 is 0).
    pub var_diff: f64,
    /// √var_diff.
    pub se: f64,
    /// diff/se; 0 when se = 0 and diff = 0; `None` when se = 0 and diff ≠ 0.
    pub z: Option<f64>,
    /// 2·Φ(−|z|); 1 when se = 0 and diff = 0; `None` when z is.
    pub p: Option<f64>,
    /// diff ± Φ⁻¹(0.975)·se (not clamped).
    pub ci95: [f64; 2],
}

/// Obuchowski's paired test of two models scored on the same cases, as DeLong's paired test
/// (same zero-variance convention) with the clustered variances and covariance.
///
/// # Panics
/// If the two models were not built on clusters of the same size.
pub fn paired_obuchowski(
    clusters: &Clusters,
    a: &ClusteredModel,
    b: &ClusteredModel,
) -> Result<PairedObuchowski, String> {
    clusters.defined()?;
    assert!(
        a.x_resid.len() == clusters.n_clusters() && b.x_resid.len() == clusters.n_clusters(),
        "both models must be built on these clusters"
    );
    let cov_ab = Components::new(clusters, a, b).cov(clusters);
    let (var_a, var_b) = (a.obuchowski.var, b.obuchowski.var);
    let var_diff = (var_a + var_b - 2.0 * cov_ab).max(0.0);
    let se = var_diff.sqrt();
    let (auc_a, auc_b) = (a.obuchowski.theta, b.obuchowski.theta);
    let diff = auc_a - auc_b;
    let (z, p, ci95) = normal::wald(diff, se);
    Ok(PairedObuchowski {
        auc_a,
        auc_b,
        diff,
        var_a,
        var_b,
        cov_ab,
        var_diff,
        se,
        z,
        p,
        ci95,
    })
}

/// Cluster bootstrap summary of an AUROC (`clustered.bootstrap`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterBootstrap {
    /// Replicates B (each with both classes).
    pub n: usize,
    pub seed: u64,
    /// Type-7 quantiles at 0.025 and 0.975 of the replicate AUROCs.
    pub ci95: [f64; 2],
    /// Type-7 quantile at 0.5.
    pub median: f64,
    /// Draws discarded because they lacked a class (and drawn again), over all replicates.
    pub n_redrawn: u64,
}

/// The replicate AUROCs of a cluster bootstrap, all models on the same resamples.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterReplicates {
    /// `aurocs[model][b]`, in replicate order.
    pub aurocs: Vec<Vec<f64>>,
    /// Draws discarded because they lacked a class, over all replicates.
    pub n_redrawn: u64,
}

/// Draws replicate `seed`'s clusters into `weights` (times each cluster was drawn), drawing
/// again while the resample lacks a class; returns the number of discarded draws.
fn draw_clusters(clusters: &Clusters, seed: u64, weights: &mut [u32]) -> u64 {
    let mut rng = U32Stream::new(seed);
    let i = clusters.n_clusters() as u32;
    let mut redrawn = 0;
    loop {
        weights.fill(0);
        let (mut pos, mut neg) = (0u64, 0u64);
        for _ in 0..i {
            let c = rng.below(i) as usize;
            weights[c] += 1;
            pos += clusters.pos[c];
            neg += clusters.neg[c];
        }
        if pos > 0 && neg > 0 {
            return redrawn;
        }
        redrawn += 1;
    }
}

/// The tie table of a resample: each case of the model's sort counts `weights[its cluster]`
/// times; values drawn zero times are left out (as in [`crate::roc_band`]).
fn resampled_groups(
    ranked: &Ranked,
    sorted_cluster: &[u32],
    weights: &[u32],
    out: &mut Vec<TieGroup>,
) {
    out.clear();
    let mut start = 0;
    for g in &ranked.groups {
        let end = start + (g.pos + g.neg) as usize;
        let (mut pos, mut neg) = (0u64, 0u64);
        for (&c, &key) in sorted_cluster[start..end]
            .iter()
            .zip(&ranked.keys[start..end])
        {
            let w = u64::from(weights[c as usize]);
            if key & 1 == 1 { pos += w } else { neg += w }
        }
        if pos + neg > 0 {
            out.push(TieGroup {
                value: g.value,
                pos,
                neg,
            });
        }
        start = end;
    }
}

fn check_replicates(replicates: usize) -> Result<(), String> {
    if replicates == 0 {
        Err("the bootstrap needs at least one replicate".into())
    } else if replicates > MAX_REPLICATES {
        Err(format!(
            "{replicates} bootstrap replicates: at most {MAX_REPLICATES}"
        ))
    } else {
        Ok(())
    }
}

/// `stat` of every model's resample, per replicate (`[b][model]`), and the discarded draws.
fn cluster_replicates<T: Send>(
    clusters: &Clusters,
    models: &[&Ranked],
    replicates: usize,
    seed: u64,
    stat: impl Fn(&[TieGroup]) -> T + Sync,
) -> Result<(Vec<Vec<T>>, u64), String> {
    clusters.defined()?;
    check_replicates(replicates)?;
    for r in models {
        clusters.check_model(r);
    }
    // Each model's cases in its score order, as clusters: read sequentially per replicate.
    let sorted: Vec<Vec<u32>> = models
        .iter()
        .map(|r| {
            r.order
                .iter()
                .map(|&case| clusters.case_cluster[case as usize])
                .collect()
        })
        .collect();
    let per_replicate: Vec<(Vec<T>, u64)> = replicate_seeds(seed, replicates)
        .par_iter()
        .map_init(
            || (vec![0u32; clusters.n_clusters()], Vec::new()),
            |(weights, table), &s| {
                let redrawn = draw_clusters(clusters, s, weights);
                let stats = models
                    .iter()
                    .zip(&sorted)
                    .map(|(r, sc)| {
                        resampled_groups(r, sc, weights, table);
                        stat(table)
                    })
                    .collect();
                (stats, redrawn)
            },
        )
        .collect();
    let n_redrawn = per_replicate.iter().map(|r| r.1).sum();
    Ok((per_replicate.into_iter().map(|r| r.0).collect(), n_redrawn))
}

/// The B replicate AUROCs of each model under the cluster bootstrap (see the module doc), all
/// models on the same resamples. `Err` with the reason when the clustered statistics are
/// undefined, B = 0 or B > [`MAX_REPLICATES`].
///
/// # Panics
/// If a model is not scored on the clusters' cases.
pub fn cluster_replicate_aurocs(
    clusters: &Clusters,
    models: &[&Ranked],
    replicates: usize,
    seed: u64,
) -> Result<ClusterReplicates, String> {
    let (per_replicate, n_redrawn) =
        cluster_replicates(clusters, models, replicates, seed, |table| {
            // Both classes are present in every kept replicate.
            AucCounts::from_groups(table).auroc().unwrap_or(0.0)
        })?;
    Ok(ClusterReplicates {
        aurocs: (0..models.len())
            .map(|k| per_replicate.iter().map(|r| r[k]).collect())
            .collect(),
        n_redrawn,
    })
}

/// Cluster bootstrap CI of each model's AUROC (see [`cluster_replicate_aurocs`]).
pub fn cluster_bootstrap_aurocs(
    clusters: &Clusters,
    models: &[&Ranked],
    replicates: usize,
    seed: u64,
) -> Result<Vec<ClusterBootstrap>, String> {
    let reps = cluster_replicate_aurocs(clusters, models, replicates, seed)?;
    Ok(reps
        .aurocs
        .into_iter()
        .map(|mut aucs| {
            let (ci95, median) = percentile_ci(&mut aucs);
            ClusterBootstrap {
                n: aucs.len(),
                seed,
                ci95,
                median,
                n_redrawn: reps.n_redrawn,
            }
        })
        .collect())
}

/// Cluster bootstrap CI of one model's AUROC.
pub fn cluster_bootstrap_auroc(
    clusters: &Clusters,
    ranked: &Ranked,
    replicates: usize,
    seed: u64,
) -> Result<ClusterBootstrap, String> {
    Ok(cluster_bootstrap_aurocs(clusters, &[ranked], replicates, seed)?.remove(0))
}

/// `sens_at_spec_ci {n, seed, median}`: the replicates and the median sensitivity per target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensCiInfo {
    pub n: usize,
    pub seed: u64,
    /// Type-7 median of the replicate sensitivities at the first target specificity (`null`
    /// without targets).
    pub median: Option<f64>,
    /// The same at every target, keyed by target ("0.90").
    pub median_by_target: IndexMap<String, f64>,
}

/// Image-level (stratified) bootstrap CI of sensitivity at each target specificity: `ci95`
/// is `sens_at_spec_ci95`, `info` is `sens_at_spec_ci`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensAtSpecCi {
    /// Type-7 quantiles at 0.025 and 0.975, keyed by target ("0.90").
    pub ci95: IndexMap<String, [f64; 2]>,
    pub info: SensCiInfo,
}

/// `sens_at_spec_ci_clustered {"0.90": [lo, hi], n, seed, median, n_redrawn}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusteredSensCi {
    /// Type-7 quantiles at 0.025 and 0.975, keyed by target ("0.90"), inline in the object.
    #[serde(flatten)]
    pub ci95: IndexMap<String, [f64; 2]>,
    pub n: usize,
    pub seed: u64,
    /// Type-7 median of the replicate sensitivities at the first target specificity, as in
    /// [`SensCiInfo`].
    pub median: Option<f64>,
    /// The same at every target, keyed by target ("0.90").
    pub median_by_target: IndexMap<String, f64>,
    /// Draws discarded because they lacked a class, over all replicates.
    pub n_redrawn: u64,
}

/// Stratified bootstrap CI of the interpolated sensitivity at each target specificity (pROC
/// `ci.coords(x = t, input = "specificity", ret = "sensitivity", boot.stratified = TRUE)`):
/// the band of [`crate::roc_band::roc_band`] at those targets, so the same resamples as the
/// AUROC bootstrap of [`crate::bootstrap`] for the seed, from a model's tie table (ascending,
/// distinct scores). `Err` with the reason when a class is absent, B = 0, B >
/// [`MAX_REPLICATES`] or a target is outside [0, 1].
pub fn sens_at_spec_ci(
    groups: &[TieGroup],
    targets: &[f64],
    replicates: usize,
    seed: u64,
) -> Result<SensAtSpecCi, String> {
    check_replicates(replicates)?;
    let band = roc_band(groups, targets, replicates, seed)?;
    Ok(SensAtSpecCi {
        ci95: band
            .points
            .iter()
            .map(|p| (spec_key(p.specificity), [p.lower, p.upper]))
            .collect(),
        info: SensCiInfo {
            n: band.replicates,
            seed,
            median: band.points.first().map(|p| p.median),
            median_by_target: band
                .points
                .iter()
                .map(|p| (spec_key(p.specificity), p.median))
                .collect(),
        },
    })
}

/// Cluster bootstrap CI of the interpolated sensitivity at each target specificity: the
/// resamples of [`cluster_replicate_aurocs`] for the seed, on each the sensitivity of
/// [`crate::roc::sens_at_spec`], type-7 quantiles. `Err` with the reason when the clustered
/// statistics are undefined, B = 0, B > [`MAX_REPLICATES`] or a target is outside [0, 1].
///
/// # Panics
/// If the model is not scored on the clusters' cases.
pub fn sens_at_spec_ci_clustered(
    clusters: &Clusters,
    ranked: &Ranked,
    targets: &[f64],
    replicates: usize,
    seed: u64,
) -> Result<ClusteredSensCi, String> {
    check_specificities(targets)?;
    let (per_replicate, n_redrawn) =
        cluster_replicates(clusters, &[ranked], replicates, seed, |table| {
            let curve = Curve::new(table);
            // Both classes are drawn and the targets are in [0, 1]: always defined.
            targets
                .iter()
                .map(|&t| curve.sens_at_spec(t).map_or(0.0, |r| r.interpolated))
                .collect::<Vec<f64>>()
        })?;
    let (mut ci95, mut median) = (IndexMap::new(), IndexMap::new());
    let mut column = vec![0.0f64; replicates];
    for (k, &t) in targets.iter().enumerate() {
        for (c, r) in column.iter_mut().zip(&per_replicate) {
            *c = r[0][k];
        }
        let (ci, mid) = percentile_ci(&mut column);
        ci95.insert(spec_key(t), ci);
        median.insert(spec_key(t), mid);
    }
    Ok(ClusteredSensCi {
        ci95,
        n: replicates,
        seed,
        median: median.values().next().copied(),
        median_by_target: median,
        n_redrawn,
    })
}

/// The `clustered` block of a model (`models.<col>.clustered`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusteredReport {
    #[serde(flatten)]
    pub counts: ClusterCounts,
    pub auroc_var_obuchowski: Option<f64>,
    pub auroc_ci95_obuchowski: Option<[f64; 2]>,
    pub design_effect: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design_effect_reason: Option<String>,
    pub s10: Option<f64>,
    pub s01: Option<f64>,
    pub s11: Option<f64>,
    /// Absent when no bootstrap was asked for; `null` (with `bootstrap_reason`) when undefined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Option<ClusterBootstrap>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_reason: Option<String>,
    /// Why the Obuchowski statistics are null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ClusteredReport {
    /// The block from a model's estimate ([`ClusteredModel::new`]) and, when one was asked
    /// for, its cluster bootstrap ([`cluster_bootstrap_aurocs`]).
    pub fn new(
        clusters: &Clusters,
        model: &Result<ClusteredModel, String>,
        bootstrap: Option<Result<ClusterBootstrap, String>>,
    ) -> Self {
        let o = model.as_ref().ok().map(|m| m.obuchowski);
        ClusteredReport {
            counts: clusters.counts(),
            auroc_var_obuchowski: o.map(|o| o.var),
            auroc_ci95_obuchowski: o.map(|o| o.ci95),
            design_effect: o.and_then(|o| o.design_effect),
            design_effect_reason: o.filter(|o| o.design_effect.is_none()).map(|o| {
                format!(
                    "AUROC is {} so both variances are 0 and their ratio is undefined",
                    o.theta
                )
            }),
            s10: o.map(|o| o.s10),
            s01: o.map(|o| o.s01),
            s11: o.map(|o| o.s11),
            bootstrap_reason: bootstrap.as_ref().and_then(|b| b.as_ref().err().cloned()),
            bootstrap: bootstrap.map(Result::ok),
            reason: model.as_ref().err().cloned(),
        }
    }
}

/// The `clustered` block of a comparison (`comparisons[].clustered`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusteredComparisonReport {
    pub var_a: Option<f64>,
    pub var_b: Option<f64>,
    pub cov_ab: Option<f64>,
    /// var_a + var_b − 2·cov_ab.
    pub var_diff: Option<f64>,
    /// (θ_A − θ_B)/√var_diff.
    pub z: Option<f64>,
    pub p: Option<f64>,
    pub ci95_diff: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ClusteredComparisonReport {
    /// The block for models A and B ([`ClusteredModel::new`] of each).
    pub fn new(
        clusters: &Clusters,
        a: &Result<ClusteredModel, String>,
        b: &Result<ClusteredModel, String>,
    ) -> Self {
        let test = match (a, b) {
            (Ok(a), Ok(b)) => paired_obuchowski(clusters, a, b),
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        };
        let reason = match &test {
            Err(e) => Some(e.clone()),
            Ok(t) if t.z.is_none() => Some(format!(
                "the clustered paired difference has zero variance while the AUROCs differ by {}: z and p are undefined",
                t.diff
            )),
            Ok(_) => None,
        };
        let t = test.ok();
        ClusteredComparisonReport {
            var_a: t.map(|t| t.var_a),
            var_b: t.map(|t| t.var_b),
            cov_ab: t.map(|t| t.cov_ab),
            var_diff: t.map(|t| t.var_diff),
            z: t.and_then(|t| t.z),
            p: t.and_then(|t| t.p),
            ci95_diff: t.map(|t| t.ci95),
            reason,
        }
    }
}
