//! Assembles every statistic of the crate into the report of `harness eval`, whose field names
//! are the contract of `shared/spec/metrics.md` ("Required output").
//!
//! Undefined values are `None` (JSON `null`) with a human-readable `*_reason` beside them, never
//! NaN and never a substituted number. Models are evaluated in parallel; the report does not
//! depend on the thread count or the machine.

use crate::bootstrap::{BootstrapCi, Runs, bootstrap_aurocs};
use crate::calibration::{EceBin, LOG_LOSS_EPS, from_groups, recalibration};
use crate::cluster::{
    ClusteredComparisonReport, ClusteredModel, ClusteredReport, ClusteredSensCi, Clusters,
    SensCiInfo, cluster_bootstrap_aurocs, sens_at_spec_ci, sens_at_spec_ci_clustered,
};
use crate::delong::{
    DeLong, DeLongSums, PairedDeLong, delong_undefined_reason, paired_delong, placements,
};
use crate::groups::{
    LevelCounts, SubgroupAuc, disparities, level_counts_sorted, range_of, subgroup_auc,
    subgroup_aucs,
};
use crate::ranks::{CaseKeys, Ranked, TieGroup, class_counts};
use crate::roc::{average_precision, sens_at_spec};
use indexmap::IndexMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One grouping column: level names and each case's level index.
#[derive(Clone, Copy, Debug)]
pub struct Grouping<'a> {
    pub name: &'a str,
    pub levels: &'a [String],
    /// `codes[case]` indexes `levels`.
    pub codes: &'a [u32],
}

/// Validated input: labels, one score vector per model (all the same length), grouping columns.
#[derive(Clone, Debug)]
pub struct EvalInput<'a> {
    pub labels: &'a [bool],
    pub models: Vec<(&'a str, &'a [f64])>,
    pub groupings: Vec<Grouping<'a>>,
    /// The patient (cluster) column, when cases are clustered: adds the Obuchowski variance,
    /// the cluster bootstrap and the clustered paired tests next to the image-level ones.
    pub cluster: Option<Grouping<'a>>,
}

/// Options of an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Decision threshold for fairness: predicted positive iff score ≥ threshold.
    pub threshold: f64,
    /// Target specificities for sensitivity at specificity.
    pub target_specificities: Vec<f64>,
    /// Bootstrap replicates; 0 for none.
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Bootstrap replicates for the CI of sensitivity at each target specificity; 0 for none
    /// (then the CI fields and this option are left out of the JSON).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sens_ci_bootstrap: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            threshold: 0.5,
            target_specificities: vec![0.90],
            bootstrap: 0,
            seed: 1,
            sens_ci_bootstrap: 0,
        }
    }
}

/// Key of a target specificity: the shortest round-trip decimal with at least two decimals
/// ("0.90", "0.95", "0.975").
pub fn spec_key(target: f64) -> String {
    let mut s = format!("{target}");
    match s.find('.') {
        None => s.push_str(".00"),
        Some(dot) => {
            for _ in s.len() - dot - 1..2 {
                s.push('0');
            }
        }
    }
    s
}

/// The whole report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    pub n: u64,
    pub positives: u64,
    pub negatives: u64,
    /// positives / n; `None` for no cases.
    pub prevalence: Option<f64>,
    pub options: EvalOptions,
    pub models: IndexMap<String, ModelReport>,
    pub comparisons: Vec<Comparison>,
    pub warnings: Vec<String>,
}

/// Every statistic of one model (one score column), by family. The families are flattened
/// into one JSON object whose field names and order are the contract of `metrics.md`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelReport {
    #[serde(flatten)]
    pub discrimination: Discrimination,
    #[serde(flatten)]
    pub operating_points: OperatingPoints,
    #[serde(flatten)]
    pub calibration: Calibration,
    /// AUROC with its DeLong CI per level of each grouping column.
    pub subgroups: IndexMap<String, IndexMap<String, SubgroupReport>>,
    /// Disparities at the decision threshold per grouping column.
    pub fairness: IndexMap<String, FairnessReport>,
    /// Patient-clustered AUROC statistics, when a cluster column was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered: Option<ClusteredReport>,
}

impl ModelReport {
    /// Records the AUROC bootstrap's result (`None` when the cases of `m` positives and `n`
    /// negatives have one class), and returns what model `name`'s CI calls for a warning of: a
    /// class of a single case, which every replicate draws alike (the CI then shows the other
    /// class's variability alone), or a CI of one point.
    fn set_bootstrap(
        &mut self,
        name: &str,
        ci: Option<BootstrapCi>,
        m: u64,
        n: u64,
    ) -> Option<String> {
        let d = &mut self.discrimination;
        d.bootstrap_reason = ci.is_none().then(|| crate::one_class_reason(m, n));
        let interval = ci.as_ref().map(|c| c.ci95);
        d.bootstrap = Some(ci.map(BootstrapReport::from));
        let ci95 = interval?;
        if m < 2 && n < 2 {
            Some(format!(
                "{name}: the bootstrap CI rests on one positive and one negative case: every replicate draws the same pair, so the CI is that pair's AUROC, not an interval"
            ))
        } else if m < 2 || n < 2 {
            Some(format!(
                "{name}: the bootstrap CI rests on {m} positive and {n} negative case(s): a class of one case is drawn alike in every replicate, so the CI shows only the other class's variability"
            ))
        } else if ci95[0] == ci95[1] {
            Some(format!(
                "{name}: the bootstrap CI [{0}, {0}] is a single point (every replicate gave the same AUROC): degenerate, not certain",
                ci95[0]
            ))
        } else {
            None
        }
    }

    /// The AUROC's 95 % CI as reports show it: patient-clustered (Obuchowski) where the cases are
    /// clustered by patient, else DeLong's image-level one.
    #[must_use]
    pub fn auroc_ci95_reported(&self) -> Option<[f64; 2]> {
        match &self.clustered {
            Some(c) => c.auroc_ci95_obuchowski,
            None => self.discrimination.auroc_ci95_delong,
        }
    }

    /// The AUROC's bootstrap 95 % CI as reports show it: the cluster bootstrap (patients drawn
    /// with replacement) where the cases are clustered by patient, else the stratified one;
    /// `None` without a bootstrap or where it is undefined.
    #[must_use]
    pub fn auroc_bootstrap_ci95_reported(&self) -> Option<[f64; 2]> {
        match &self.clustered {
            Some(c) => c.bootstrap.as_ref()?.as_ref().map(|b| b.ci95),
            None => self
                .discrimination
                .bootstrap
                .as_ref()?
                .as_ref()
                .map(|b| b.ci95),
        }
    }
}

/// How well the scores rank positives above negatives: AUROC with its exact fraction, the
/// Mann–Whitney U, DeLong's variance and CI, and the bootstrap CI when one was asked for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Discrimination {
    pub auroc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_reason: Option<String>,
    pub auroc_exact_fraction: Option<String>,
    pub mann_whitney_u: Option<f64>,
    pub auroc_ci95_delong: Option<[f64; 2]>,
    pub auroc_var_delong: Option<f64>,
    /// True when the DeLong variance is 0 (AUROC 0 or 1): the CI is a point, not certainty.
    pub auroc_ci95_delong_degenerate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_ci95_delong_reason: Option<String>,
    /// Absent when no bootstrap was requested; `null` (with a reason) when it is undefined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Option<BootstrapReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_reason: Option<String>,
}

/// The ROC curve at chosen points: sensitivity at each target specificity (interpolated and
/// step), and average precision (the area under the precision–recall steps).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OperatingPoints {
    pub sens_at_spec: IndexMap<String, Option<f64>>,
    pub sens_at_spec_step: IndexMap<String, Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sens_at_spec_reason: Option<String>,
    pub average_precision: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_precision_reason: Option<String>,
    /// Stratified bootstrap 95 % CI of each sensitivity, when asked for (`sens_ci_bootstrap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sens_at_spec_ci95: Option<IndexMap<String, [f64; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sens_at_spec_ci: Option<SensCiInfo>,
    /// Why the CI is missing although it was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sens_at_spec_ci_reason: Option<String>,
    /// The same with clusters resampled, when a cluster column was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sens_at_spec_ci_clustered: Option<ClusteredSensCi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sens_at_spec_ci_clustered_reason: Option<String>,
}

/// Whether the probabilities mean what they say: Brier score, log loss, ECE with 10 and 15
/// bins, and the logistic recalibration fit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Calibration {
    pub brier: Option<f64>,
    pub log_loss: Option<f64>,
    pub log_loss_n_clipped: usize,
    pub log_loss_eps: f64,
    pub ece_10: Option<f64>,
    pub ece_15: Option<f64>,
    pub ece_10_bins: Vec<EceBin>,
    pub ece_15_bins: Vec<EceBin>,
    pub calibration_intercept: Option<f64>,
    pub calibration_slope: Option<f64>,
    pub calibration_mle_exists: bool,
    pub calibration_n_used: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration_reason: Option<String>,
    pub calibration_in_the_large: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration_in_the_large_reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootstrapReport {
    pub n: usize,
    pub seed: u64,
    pub ci95: [f64; 2],
    pub median: f64,
    pub method: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubgroupReport {
    pub n: u64,
    pub positives: u64,
    pub negatives: u64,
    pub auroc: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub var_delong: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The level's patient-clustered statistics, when a cluster column was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered: Option<ClusteredReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FairnessReport {
    pub threshold: f64,
    pub demographic_parity_difference: Option<f64>,
    pub equalized_odds_difference: Option<f64>,
    pub equalized_odds_difference_fairlearn: Option<f64>,
    pub auroc_gap: Option<f64>,
    pub auroc_gap_max_group: Option<String>,
    pub auroc_gap_min_group: Option<String>,
    pub auroc_gap_groups_used: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_gap_reason: Option<String>,
    pub per_group: IndexMap<String, FairnessGroup>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FairnessGroup {
    pub n: u64,
    pub positives: u64,
    pub negatives: u64,
    pub predicted_positive: u64,
    pub tp: u64,
    pub fp: u64,
    pub selection_rate: Option<f64>,
    pub tpr: Option<f64>,
    pub fpr: Option<f64>,
}

/// Paired DeLong comparison of two models.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub auc_a: Option<f64>,
    pub auc_b: Option<f64>,
    pub auc_diff: Option<f64>,
    pub se_diff: Option<f64>,
    pub z: Option<f64>,
    pub p: Option<f64>,
    pub ci95_diff: Option<[f64; 2]>,
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Obuchowski's paired test, when a cluster column was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered: Option<ClusteredComparisonReport>,
}

impl Comparison {
    /// The comparison a report shows and a decision rests on: where the cases are clustered by
    /// patient, Obuchowski's paired test (the same difference with the patient-clustered
    /// variance) replaces DeLong's image-level one, whose p is too small when a patient has
    /// several images.
    #[must_use]
    pub fn as_reported(&self) -> Comparison {
        let Some(cl) = &self.clustered else {
            return self.clone();
        };
        Comparison {
            se_diff: cl.var_diff.map(f64::sqrt),
            z: cl.z,
            p: cl.p,
            ci95_diff: cl.ci95_diff,
            method: "paired Obuchowski test (patient-clustered; Obuchowski 1997)".into(),
            reason: cl.reason.clone(),
            ..self.clone()
        }
    }

    /// [`Comparison::as_reported`]'s p-value, with its test named in a few words.
    #[must_use]
    pub fn reported_p(&self) -> (Option<f64>, &'static str) {
        let test = match self.clustered {
            Some(_) => "patient-clustered paired test (Obuchowski)",
            None => "paired DeLong",
        };
        (self.as_reported().p, test)
    }

    /// The reported p-values of a run's `comparisons` Holm-adjusted over all of them, as a
    /// report judges them (and a leaderboard after it); `None` for a single comparison, which
    /// has nothing to adjust for.
    #[must_use]
    pub fn holm_reported(comparisons: &[Comparison]) -> Option<Vec<Option<f64>>> {
        (comparisons.len() > 1).then(|| {
            let p: Vec<Option<f64>> = comparisons.iter().map(|c| c.as_reported().p).collect();
            crate::multiple::holm(&p)
        })
    }
}

/// What a model's evaluation hands to the comparisons.
struct ModelOutcome {
    report: ModelReport,
    warnings: Vec<String>,
    placements: Vec<f64>,
    /// What the bootstrap needs of the model, when one was asked for.
    runs: Option<Runs>,
    /// The model's clustered statistics, when a cluster column was given.
    clustered: Option<Result<ClusteredModel, String>>,
    /// The sorted scores, kept when the cluster bootstrap needs them.
    ranked: Option<Ranked>,
}

impl From<BootstrapCi> for BootstrapReport {
    fn from(b: BootstrapCi) -> Self {
        BootstrapReport {
            n: b.replicates,
            seed: b.seed,
            ci95: b.ci95,
            median: b.median,
            method:
                "stratified percentile bootstrap, type-7 quantiles (pROC boot.stratified = TRUE)"
                    .to_string(),
        }
    }
}

fn evaluate_model(
    name: &str,
    scores: &[f64],
    input: &EvalInput,
    keys: &CaseKeys,
    clusters: Option<&Clusters>,
    opts: &EvalOptions,
) -> ModelOutcome {
    let ranked = Ranked::with_keys(scores, keys);
    // The statistics of the tie table and the per-case passes are independent: run them side
    // by side (each is deterministic on its own, so the report does not depend on the threads).
    let (figures, (placements, levels)) = rayon::join(
        || TableFigures::new(name, &ranked.groups, opts),
        || {
            // DeLong's placements exist where its variance does.
            let placements = if delong_undefined_reason(ranked.m, ranked.n).is_none() {
                placements(&ranked)
            } else {
                Vec::new()
            };
            let levels = LevelFigures {
                aucs: subgroup_aucs(&ranked, keys),
                counts: level_counts_sorted(&ranked, keys, opts.threshold),
            };
            (placements, levels)
        },
    );
    let clustered = clusters.map(|c| match figures.delong {
        Some(d) => ClusteredModel::from_placements(c, &d, &placements),
        None => Err(figures
            .one_class
            .clone()
            .unwrap_or_else(|| delong_undefined_reason(ranked.m, ranked.n).unwrap_or_default())),
    });
    let columns: Vec<Column> = input.groupings.iter().map(Grouping::column).collect();
    let (mut report, runs, warnings) = figures.report(name, &columns, &levels, opts);
    if let Some(c) = clusters
        && opts.sens_ci_bootstrap > 0
    {
        let (b, targets) = (opts.sens_ci_bootstrap, &opts.target_specificities);
        let points = &mut report.operating_points;
        match sens_at_spec_ci_clustered(c, &ranked, targets, b, opts.seed) {
            Ok(ci) => points.sens_at_spec_ci_clustered = Some(ci),
            Err(reason) => points.sens_at_spec_ci_clustered_reason = Some(reason),
        }
    }
    if let Some(cluster) = &input.cluster {
        clustered_subgroups(&mut report.subgroups, input, cluster, scores);
    }
    ModelOutcome {
        report,
        warnings,
        placements,
        runs,
        clustered,
        ranked: (clusters.is_some() && opts.bootstrap > 0).then_some(ranked),
    }
}

/// The report of one model and its warnings from tie tables alone: `all`, the table of every
/// case, and `levels[grouping][level]`, the table of each level of each grouping column
/// (`columns`). Bit for bit what [`evaluate`] reports of that model on any cases with these
/// tables, without a cluster column (every figure depends on the tables alone).
///
/// Every table is ascending with distinct scores, and each grouping's level tables add up,
/// score by score, to `all` (the caller's to ensure: `pool` checks the sites' summaries).
pub(crate) fn evaluate_tables(
    name: &str,
    all: &[TieGroup],
    columns: &[Column],
    levels: &[&[Vec<TieGroup>]],
    opts: &EvalOptions,
) -> (ModelReport, Vec<String>) {
    debug_assert!(
        levels
            .iter()
            .all(|g| crate::pool::merge(g.iter().map(Vec::as_slice)).as_deref() == Some(all)),
        "every grouping's levels add up to the `all` table"
    );
    let (figures, levels) = rayon::join(
        || TableFigures::new(name, all, opts),
        || LevelFigures::from_tables(levels, opts.threshold),
    );
    let (mut report, runs, mut warnings) = figures.report(name, columns, &levels, opts);
    if let Some(runs) = runs {
        let ci = bootstrap_aurocs(&[&runs], opts.bootstrap, opts.seed)
            .pop()
            .flatten();
        let (m, n) = class_counts(all);
        warnings.extend(report.set_bootstrap(name, ci, m, n));
    }
    (report, warnings)
}

/// A grouping column's name and its level names, in code order: how the report lists it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Column<'a> {
    pub name: &'a str,
    pub levels: &'a [String],
}

impl<'a> Grouping<'a> {
    fn column(&self) -> Column<'a> {
        Column {
            name: self.name,
            levels: self.levels,
        }
    }
}

/// Per grouping column and level (`[grouping][level]`): the level's AUROC with DeLong's CI and
/// its confusion counts at the threshold — what a model's subgroup and fairness figures are
/// made of.
pub(crate) struct LevelFigures {
    pub aucs: Vec<Vec<SubgroupAuc>>,
    pub counts: Vec<Vec<LevelCounts>>,
}

impl LevelFigures {
    /// From each level's own tie table (`tables[grouping][level]`): the same figures as the walk
    /// over the sorted cases ([`subgroup_aucs`], [`level_counts_sorted`]) gives, since both
    /// depend on a level's (score, label) counts alone.
    pub(crate) fn from_tables(tables: &[&[Vec<TieGroup>]], threshold: f64) -> Self {
        let counts = |t: &[TieGroup]| {
            let (m, n) = class_counts(t);
            let above = &t[t.partition_point(|g| g.value < threshold)..];
            let (tp, fp) = class_counts(above);
            LevelCounts {
                n: m + n,
                positives: m,
                predicted_positive: tp + fp,
                tp,
                fp,
            }
        };
        LevelFigures {
            aucs: tables
                .iter()
                .map(|levels| levels.iter().map(|t| subgroup_auc(t)).collect())
                .collect(),
            counts: tables
                .iter()
                .map(|levels| levels.iter().map(|t| counts(t)).collect())
                .collect(),
        }
    }
}

/// The figures of a model that depend on its tie table alone, with the warnings they raise
/// (in the report's order).
pub(crate) struct TableFigures {
    discrimination: Discrimination,
    operating_points: OperatingPoints,
    calibration: Calibration,
    /// What the bootstrap needs of the model, when one was asked for.
    runs: Option<Runs>,
    delong: Option<DeLong>,
    /// Why the AUROC is undefined, when the cases have one class.
    one_class: Option<String>,
    warnings: Vec<String>,
}

impl TableFigures {
    pub(crate) fn new(name: &str, groups: &[TieGroup], opts: &EvalOptions) -> Self {
        let mut warnings = Vec::new();
        let (m, n) = class_counts(groups);
        let one_class = (m == 0 || n == 0).then(|| crate::one_class_reason(m, n));
        // One pass over the tie table gives both the Mann–Whitney counts and the DeLong sums.
        let sums = DeLongSums::from_groups(groups);
        let discrimination = discrimination(
            name,
            &sums,
            one_class.clone(),
            delong_undefined_reason(m, n),
            &mut warnings,
        );
        let calibration = calibration(name, groups, one_class.is_some(), &mut warnings);
        // The bootstrap runs later, for all models on shared draws ([`evaluate`]).
        let runs = (opts.bootstrap > 0).then(|| Runs::new(groups));
        let mut operating_points = operating_points(groups, opts, one_class.clone());
        if opts.sens_ci_bootstrap > 0 {
            let (b, targets) = (opts.sens_ci_bootstrap, &opts.target_specificities);
            match sens_at_spec_ci(groups, targets, b, opts.seed) {
                Ok(ci) => {
                    operating_points.sens_at_spec_ci95 = Some(ci.ci95);
                    operating_points.sens_at_spec_ci = Some(ci.info);
                }
                Err(reason) => operating_points.sens_at_spec_ci_reason = Some(reason),
            }
        }
        TableFigures {
            discrimination,
            operating_points,
            calibration,
            runs,
            delong: sums.delong(),
            one_class,
            warnings,
        }
    }

    /// The model's report (without its clustered statistics), what its bootstrap needs, and
    /// its warnings: the table's, then the subgroups', then why the AUROC is undefined.
    pub(crate) fn report(
        self,
        name: &str,
        columns: &[Column],
        levels: &LevelFigures,
        opts: &EvalOptions,
    ) -> (ModelReport, Option<Runs>, Vec<String>) {
        let mut warnings = self.warnings;
        let subgroups = subgroups(name, columns, &levels.aucs, &mut warnings);
        let fairness = fairness(columns, &levels.aucs, &levels.counts, opts.threshold);
        fairness_warnings(name, &fairness, &mut warnings);
        if let Some(reason) = &self.one_class {
            warnings.push(format!(
                "{name}: {reason}: AUROC, its CIs, sensitivity at specificity, average precision and the calibration fit are undefined"
            ));
        }
        let report = ModelReport {
            discrimination: self.discrimination,
            operating_points: self.operating_points,
            calibration: self.calibration,
            subgroups,
            fairness,
            clustered: None,
        };
        (report, self.runs, warnings)
    }
}

/// AUROC, Mann–Whitney U and DeLong's variance and CI from one pass over the tie table; the
/// bootstrap fields are filled in later for all models at once.
///
/// `subject` starts its warnings ("vendor-a", "vendor-a: class 'b' vs rest"); `undefined` is why
/// the AUROC is undefined and `ci_reason` why DeLong's CI is, where they are.
pub(crate) fn discrimination(
    subject: &str,
    sums: &DeLongSums,
    undefined: Option<String>,
    ci_reason: Option<String>,
    warnings: &mut Vec<String>,
) -> Discrimination {
    let counts = sums.counts();
    let auroc = counts.auroc();
    let dl = sums.delong();
    if let Some(d) = dl.filter(|d| d.is_degenerate()) {
        warnings.push(format!(
            "{subject}: AUROC is {} so the DeLong variance is 0 and the CI [{0}, {0}] is degenerate, not certain",
            d.theta
        ));
    }
    // Ranking the negatives above the positives beyond chance is seldom a model's doing: more
    // often the column read is the other class's.
    if let Some(d) = dl.filter(|d| !d.is_degenerate() && d.ci95[1] < 0.5) {
        warnings.push(format!(
            "{subject}: AUROC {:.3} (95% CI upper bound {:.3}) is below 0.5: the scores rank negatives above positives; check that the score read is the positive class's (a suite's output positive_index or columns, a dataset's positive_class, eval's --score)",
            d.theta, d.ci95[1]
        ));
    }
    // So does ranking every negative above every positive (a degenerate CI at 0).
    if let Some(d) = dl.filter(|d| d.is_degenerate() && d.theta < 0.5) {
        warnings.push(format!(
            "{subject}: AUROC {} ranks every negative above every positive: check that the score read is the positive class's (a suite's output positive_index or columns, a dataset's positive_class, eval's --score)",
            d.theta
        ));
    }
    Discrimination {
        auroc,
        auroc_reason: undefined,
        auroc_exact_fraction: counts.exact_fraction(),
        mann_whitney_u: auroc.map(|_| counts.mann_whitney_u()),
        auroc_ci95_delong: dl.map(|d| d.ci95),
        auroc_var_delong: dl.map(|d| d.var),
        auroc_ci95_delong_degenerate: dl.is_some_and(|d| d.is_degenerate()),
        auroc_ci95_delong_reason: ci_reason,
        bootstrap: None,
        bootstrap_reason: None,
    }
}

/// Sensitivity at every target specificity and average precision.
fn operating_points(
    groups: &[TieGroup],
    opts: &EvalOptions,
    one_class: Option<String>,
) -> OperatingPoints {
    let mut sens = IndexMap::new();
    let mut sens_step = IndexMap::new();
    for &t in &opts.target_specificities {
        let r = sens_at_spec(groups, t);
        sens.insert(spec_key(t), r.map(|r| r.interpolated));
        sens_step.insert(spec_key(t), r.map(|r| r.step));
    }
    // Defined with one positive or more: with no negatives every precision is 1, so AP = 1.0
    // (as scikit-learn); null, with the one-class reason, when there is no positive.
    let ap = average_precision(groups);
    OperatingPoints {
        sens_at_spec: sens,
        sens_at_spec_step: sens_step,
        sens_at_spec_reason: one_class.clone(),
        average_precision_reason: if ap.is_none() { one_class } else { None },
        average_precision: ap,
        sens_at_spec_ci95: None,
        sens_at_spec_ci: None,
        sens_at_spec_ci_reason: None,
        sens_at_spec_ci_clustered: None,
        sens_at_spec_ci_clustered_reason: None,
    }
}

/// Brier score, log loss, ECEs and the recalibration fit, from the tie table.
fn calibration(
    name: &str,
    groups: &[TieGroup],
    one_class: bool,
    warnings: &mut Vec<String>,
) -> Calibration {
    let f = from_groups(groups);
    let cal = recalibration(groups);
    let (ll, e10, e15) = (f.log_loss, f.ece_10, f.ece_15);
    if let Some(l) = ll.filter(|l| l.n_clipped > 0) {
        warnings.push(format!(
            "{name}: {} score(s) of exactly 0 or 1 were clipped to [2^-52, 1 - 2^-52] for the log loss",
            l.n_clipped
        ));
    }
    if let (Err(reason), false) = (&cal.fit, one_class) {
        warnings.push(format!(
            "{name}: calibration intercept/slope undefined: {reason}"
        ));
    }
    Calibration {
        brier: f.brier,
        log_loss: ll.map(|l| l.value),
        log_loss_n_clipped: ll.map_or(0, |l| l.n_clipped),
        log_loss_eps: LOG_LOSS_EPS,
        ece_10: e10.as_ref().map(|e| e.0),
        ece_15: e15.as_ref().map(|e| e.0),
        ece_10_bins: e10.map(|e| e.1).unwrap_or_default(),
        ece_15_bins: e15.map(|e| e.1).unwrap_or_default(),
        calibration_intercept: cal.fit.as_ref().ok().map(|f| f.intercept),
        calibration_slope: cal.fit.as_ref().ok().map(|f| f.slope),
        calibration_mle_exists: cal.mle_exists,
        calibration_n_used: cal.n_used,
        calibration_reason: cal.fit.as_ref().err().cloned(),
        calibration_in_the_large: cal.in_the_large.as_ref().ok().copied(),
        calibration_in_the_large_reason: cal.in_the_large.as_ref().err().cloned(),
    }
}

/// AUROC with its DeLong CI for every level of every grouping column.
fn subgroups(
    name: &str,
    groupings: &[Column],
    all_subgroups: &[Vec<crate::groups::SubgroupAuc>],
    warnings: &mut Vec<String>,
) -> IndexMap<String, IndexMap<String, SubgroupReport>> {
    let mut out = IndexMap::new();
    for (g, subs) in groupings.iter().zip(all_subgroups) {
        let mut level_reports = IndexMap::new();
        for (level, s) in g.levels.iter().zip(subs) {
            if let Some(reason) = &s.reason {
                warnings.push(format!("{name}: subgroup {}={level}: {reason}", g.name));
            } else if let Some(d) = s.delong.filter(|d| d.is_degenerate()) {
                warnings.push(format!(
                    "{name}: subgroup {}={level}: AUROC {} has a degenerate DeLong CI (variance 0)",
                    g.name, d.theta
                ));
            }
            level_reports.insert(
                level.clone(),
                SubgroupReport {
                    n: s.n,
                    positives: s.positives,
                    negatives: s.negatives,
                    auroc: s.auroc,
                    ci95: s.delong.map(|d| d.ci95),
                    var_delong: s.delong.map(|d| d.var),
                    reason: s.reason.clone(),
                    clustered: None,
                },
            );
        }
        out.insert(g.name.to_string(), level_reports);
    }
    out
}

/// Each subgroup level's patient-clustered AUROC statistics (Obuchowski on the level's cases
/// and the patients they belong to), so that subgroup CIs are as honest as the overall one.
fn clustered_subgroups(
    subgroups: &mut IndexMap<String, IndexMap<String, SubgroupReport>>,
    input: &EvalInput,
    cluster: &Grouping,
    scores: &[f64],
) {
    for g in &input.groupings {
        let Some(levels) = subgroups.get_mut(g.name) else {
            continue;
        };
        for (k, report) in levels.values_mut().enumerate() {
            let cases: Vec<usize> = (0..scores.len())
                .filter(|&i| g.codes[i] as usize == k)
                .collect();
            let labels: Vec<bool> = cases.iter().map(|&i| input.labels[i]).collect();
            let level_scores: Vec<f64> = cases.iter().map(|&i| scores[i]).collect();
            let codes: Vec<u32> = cases.iter().map(|&i| cluster.codes[i]).collect();
            let clusters = Clusters::new(&labels, &codes, cluster.levels.len());
            let model = ClusteredModel::new(&clusters, &Ranked::new(&labels, &level_scores));
            report.clustered = Some(ClusteredReport::new(&clusters, &model, None));
        }
    }
}

/// Selection rate, TPR and FPR per level at the threshold, the disparities between levels, and
/// the gap between the levels' AUROCs, for every grouping column.
fn fairness(
    groupings: &[Column],
    all_subgroups: &[Vec<crate::groups::SubgroupAuc>],
    all_counts: &[Vec<crate::groups::LevelCounts>],
    threshold: f64,
) -> IndexMap<String, FairnessReport> {
    let mut out = IndexMap::new();
    for ((g, subs), lc) in groupings.iter().zip(all_subgroups).zip(all_counts) {
        let disp = disparities(lc);
        let gap = range_of(subs.iter().map(|s| s.auroc));
        let per_group = g
            .levels
            .iter()
            .zip(lc)
            .map(|(level, c)| {
                let fg = FairnessGroup {
                    n: c.n,
                    positives: c.positives,
                    negatives: c.negatives(),
                    predicted_positive: c.predicted_positive,
                    tp: c.tp,
                    fp: c.fp,
                    selection_rate: c.selection_rate(),
                    tpr: c.tpr(),
                    fpr: c.fpr(),
                };
                (level.clone(), fg)
            })
            .collect();
        out.insert(
            g.name.to_string(),
            FairnessReport {
                threshold,
                demographic_parity_difference: disp.demographic_parity_difference,
                equalized_odds_difference: disp.equalized_odds_difference,
                equalized_odds_difference_fairlearn: disp.equalized_odds_difference_fairlearn,
                auroc_gap: gap.map(|g| g.0),
                auroc_gap_max_group: gap.map(|(_, i, _)| g.levels[i].clone()),
                auroc_gap_min_group: gap.map(|(_, _, i)| g.levels[i].clone()),
                auroc_gap_groups_used: g
                    .levels
                    .iter()
                    .zip(subs)
                    .filter(|(_, s)| s.auroc.is_some())
                    .map(|(l, _)| l.clone())
                    .collect(),
                auroc_gap_reason: gap
                    .is_none()
                    .then(|| "no level has both classes, so no level has an AUROC".to_string()),
                per_group,
            },
        );
    }
    out
}

/// Warns where a fairness figure compares fewer levels than the column has: an AUROC gap of 0
/// over the one level with both classes, an equalized-odds difference whose TPR (or FPR) range
/// spans one level. The figures follow their definitions (ranges over the defined levels);
/// the warning keeps a 0 from reading as "no disparity".
fn fairness_warnings(
    name: &str,
    fairness: &IndexMap<String, FairnessReport>,
    warnings: &mut Vec<String>,
) {
    for (column, f) in fairness {
        let levels = f.per_group.len();
        if levels < 2 {
            continue;
        }
        if let [only] = f.auroc_gap_groups_used.as_slice() {
            warnings.push(format!(
                "{name}: fairness {column}: only level '{only}' has an AUROC (the other {} level(s) have one class), so auroc_gap 0 compares no levels",
                levels - 1
            ));
        }
        let tprs = f.per_group.values().filter(|g| g.tpr.is_some()).count();
        let fprs = f.per_group.values().filter(|g| g.fpr.is_some()).count();
        for (rate, defined, class) in [("TPR", tprs, "positive"), ("FPR", fprs, "negative")] {
            if defined == 1 {
                warnings.push(format!(
                    "{name}: fairness {column}: only one level has a {rate} (the others have no {class} case), so equalized_odds_difference compares no levels' {rate}s"
                ));
            }
        }
    }
}

/// Input that does not describe one set of cases: the caller's mistake, reported instead of
/// a panic (the readers of this workspace never produce it).
#[derive(Clone, Debug, PartialEq)]
pub enum EvalError {
    /// A model has a different number of scores than there are labels.
    ScoresLength {
        model: String,
        scores: usize,
        labels: usize,
    },
    /// A score that is not a probability (NaN, infinite, or outside `[0, 1]`).
    Score {
        model: String,
        case: usize,
        value: f64,
    },
    /// A grouping has a different number of codes than there are labels.
    CodesLength {
        grouping: String,
        codes: usize,
        labels: usize,
    },
    /// A grouping code names no level.
    Code {
        grouping: String,
        case: usize,
        code: u32,
        levels: usize,
    },
    /// More cases than the rank arithmetic holds (2³² − 1).
    TooManyCases(usize),
    /// A finding of a multi-label task that does not match the others (its cases or models).
    Finding { finding: String, reason: String },
    /// The cluster (patient) column is missing, or a case has no cluster id.
    Cluster { column: String, reason: String },
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ScoresLength {
                model,
                scores,
                labels,
            } => write!(f, "model '{model}' has {scores} scores for {labels} labels"),
            Self::Score { model, case, value } => write!(
                f,
                "model '{model}': score of case {case} is {value}, not a probability in [0, 1]"
            ),
            Self::CodesLength {
                grouping,
                codes,
                labels,
            } => write!(
                f,
                "grouping '{grouping}' has {codes} level codes for {labels} labels"
            ),
            Self::Code {
                grouping,
                case,
                code,
                levels,
            } => write!(
                f,
                "grouping '{grouping}': case {case} has level code {code}, but there are {levels} levels"
            ),
            Self::Finding { finding, reason } => write!(f, "finding '{finding}': {reason}"),
            Self::Cluster { column, reason } => write!(f, "cluster column '{column}': {reason}"),
            Self::TooManyCases(n) => {
                write!(f, "{n} cases: at most {} can be evaluated", u32::MAX)
            }
        }
    }
}

impl std::error::Error for EvalError {}

impl EvalInput<'_> {
    /// Checks that the input describes one set of cases: as many scores and level codes as
    /// labels, every score a probability, every code a level.
    ///
    /// # Errors
    /// The first inconsistency found.
    pub fn validate(&self) -> Result<(), EvalError> {
        let n = self.labels.len();
        if n > u32::MAX as usize {
            return Err(EvalError::TooManyCases(n));
        }
        for (name, scores) in &self.models {
            if scores.len() != n {
                return Err(EvalError::ScoresLength {
                    model: name.to_string(),
                    scores: scores.len(),
                    labels: n,
                });
            }
            if let Some((case, &value)) = scores
                .iter()
                .enumerate()
                .find(|(_, s)| !(0.0..=1.0).contains(*s))
            {
                return Err(EvalError::Score {
                    model: name.to_string(),
                    case,
                    value,
                });
            }
        }
        check_groupings(self.groupings.iter().chain(&self.cluster), n)
    }
}

/// Checks that every grouping has a code per case (`n` cases) and every code names a level.
///
/// # Errors
/// [`EvalError::CodesLength`] or [`EvalError::Code`] for the first grouping at fault.
pub(crate) fn check_groupings<'a>(
    groupings: impl IntoIterator<Item = &'a Grouping<'a>>,
    n: usize,
) -> Result<(), EvalError> {
    for g in groupings {
        if g.codes.len() != n {
            return Err(EvalError::CodesLength {
                grouping: g.name.to_string(),
                codes: g.codes.len(),
                labels: n,
            });
        }
        if let Some((case, &code)) = g
            .codes
            .iter()
            .enumerate()
            .find(|(_, c)| **c as usize >= g.levels.len())
        {
            return Err(EvalError::Code {
                grouping: g.name.to_string(),
                case,
                code,
                levels: g.levels.len(),
            });
        }
    }
    Ok(())
}

/// The `method` of every paired comparison.
pub(crate) const PAIRED_DELONG_METHOD: &str =
    "paired DeLong test (DeLong 1988; pROC roc.test paired = TRUE)";

/// The comparison of models `a` and `b` (AUROCs `auc_a`, `auc_b`) from their paired DeLong test
/// (`None` where it is undefined) on `positives` and `negatives` cases, and the warning it
/// raises, if any. `clustered` is left `None` for the caller.
pub(crate) fn comparison(
    a: &str,
    b: &str,
    auc_a: Option<f64>,
    auc_b: Option<f64>,
    test: Option<PairedDeLong>,
    positives: u64,
    negatives: u64,
) -> (Comparison, Option<String>) {
    let reason = match &test {
        None => Some(
            delong_undefined_reason(positives, negatives)
                .unwrap_or_else(|| "DeLong placements undefined".into()),
        ),
        Some(t) if t.z.is_none() => Some(format!(
            "the paired difference has zero variance while the AUROCs differ by {}: Z and p are undefined",
            t.diff
        )),
        _ => None,
    };
    let warning = match (&reason, &test) {
        (Some(r), _) => Some(format!("comparison {a} vs {b}: {r}")),
        // Defined (Z = 0, p = 1), but worth a look: the same model scored twice does this.
        (None, Some(t)) if t.se == 0.0 && t.diff == 0.0 => Some(format!(
            "comparison {a} vs {b}: the paired AUROC difference is 0 with variance 0 (every case has the same DeLong placements under both models, as when a model is compared with itself or both separate the classes perfectly): Z = 0 and p = 1 by definition, which is no evidence that the models are alike"
        )),
        _ => None,
    };
    let comparison = Comparison {
        a: a.to_string(),
        b: b.to_string(),
        auc_a,
        auc_b,
        auc_diff: test.map(|t| t.diff),
        se_diff: test.map(|t| t.se),
        z: test.and_then(|t| t.z),
        p: test.and_then(|t| t.p),
        ci95_diff: test.map(|t| t.ci95),
        method: PAIRED_DELONG_METHOD.to_string(),
        reason,
        clustered: None,
    };
    (comparison, warning)
}

/// Below this many patients, clustered statistics get a warning: Obuchowski's variance and a
/// cluster bootstrap estimate the between-patient spread from the clusters themselves.
const FEW_CLUSTERS: usize = 10;

/// Evaluates every model of `input` and compares every pair with the paired DeLong test.
///
/// # Errors
/// [`EvalError`] when the input does not describe one set of cases ([`EvalInput::validate`]).
pub fn evaluate(input: &EvalInput, opts: &EvalOptions) -> Result<EvalReport, EvalError> {
    input.validate()?;
    let labels = input.labels;
    let positives = labels.iter().filter(|&&y| y).count() as u64;
    let total = labels.len() as u64;
    let groupings: Vec<(&[u32], usize)> = input
        .groupings
        .iter()
        .map(|g| (g.codes, g.levels.len()))
        .collect();
    let keys = CaseKeys::new(labels, &groupings);
    let clusters = input
        .cluster
        .as_ref()
        .map(|g| Clusters::new(labels, g.codes, g.levels.len()));
    let mut outcomes: Vec<ModelOutcome> = input
        .models
        .par_iter()
        .map(|(name, scores)| evaluate_model(name, scores, input, &keys, clusters.as_ref(), opts))
        .collect();
    if let Some(c) = &clusters {
        // The cluster bootstrap draws clusters once for all models, like the bootstrap above.
        let boots = (opts.bootstrap > 0).then(|| {
            let ranked: Vec<&Ranked> = outcomes.iter().filter_map(|o| o.ranked.as_ref()).collect();
            cluster_bootstrap_aurocs(c, &ranked, opts.bootstrap, opts.seed)
        });
        for (k, o) in outcomes.iter_mut().enumerate() {
            let boot = boots.as_ref().map(|b| match b {
                Ok(all) => Ok(all[k].clone()),
                Err(reason) => Err(reason.clone()),
            });
            if let Some(model) = &o.clustered {
                o.report.clustered = Some(ClusteredReport::new(c, model, boot));
            }
            o.ranked = None;
        }
    }
    if opts.bootstrap > 0 {
        // Every model is resampled with the same draws (replicate b of each is defined by the same
        // generator), so they are drawn once for all: see `bootstrap`.
        let runs: Vec<&Runs> = outcomes.iter().filter_map(|o| o.runs.as_ref()).collect();
        let cis = bootstrap_aurocs(&runs, opts.bootstrap, opts.seed);
        for ((o, ci), (name, _)) in outcomes.iter_mut().zip(cis).zip(&input.models) {
            let warning = o
                .report
                .set_bootstrap(name, ci, positives, total - positives);
            o.warnings.extend(warning);
        }
    }

    let mut comparisons = Vec::new();
    let mut warnings: Vec<String> = outcomes
        .iter()
        .flat_map(|o| o.warnings.iter().cloned())
        .collect();
    if let (Some(c), Some(g)) = (&clusters, &input.cluster)
        && c.n_clusters() < FEW_CLUSTERS
    {
        warnings.push(format!(
            "the cases come from {} patient(s) (cluster column '{}'): the patient-clustered variances and bootstraps rest on so few clusters that they are unreliable (they can even be narrower than the image-level ones)",
            c.n_clusters(),
            g.name
        ));
    }
    for i in 0..input.models.len() {
        for j in i + 1..input.models.len() {
            let (a, b) = (&outcomes[i], &outcomes[j]);
            let (na, nb) = (input.models[i].0, input.models[j].0);
            let test = match (a.report.discrimination.auroc, b.report.discrimination.auroc) {
                (Some(x), Some(y)) if !a.placements.is_empty() && !b.placements.is_empty() => {
                    paired_delong(labels, x, &a.placements, y, &b.placements)
                }
                _ => None,
            };
            let (mut compared, warning) = comparison(
                na,
                nb,
                a.report.discrimination.auroc,
                b.report.discrimination.auroc,
                test,
                positives,
                total - positives,
            );
            warnings.extend(warning);
            compared.clustered = clusters.as_ref().and_then(|c| {
                Some(ClusteredComparisonReport::new(
                    c,
                    a.clustered.as_ref()?,
                    b.clustered.as_ref()?,
                ))
            });
            comparisons.push(compared);
        }
    }
    Ok(EvalReport {
        n: total,
        positives,
        negatives: total - positives,
        prevalence: (total > 0).then(|| positives as f64 / total as f64),
        options: opts.clone(),
        models: input
            .models
            .iter()
            .zip(outcomes)
            .map(|((name, _), o)| (name.to_string(), o.report))
            .collect(),
        comparisons,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::Xoshiro256PlusPlus;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};

    /// The tie table of the cases `keep` selects.
    fn table(labels: &[bool], scores: &[f64], keep: impl Fn(usize) -> bool) -> Vec<TieGroup> {
        let cases: Vec<usize> = (0..labels.len()).filter(|&i| keep(i)).collect();
        let l: Vec<bool> = cases.iter().map(|&i| labels[i]).collect();
        let s: Vec<f64> = cases.iter().map(|&i| scores[i]).collect();
        Ranked::new(&l, &s).groups
    }

    /// Average precision with one class (metrics.md): every case positive gives AP = 1.0, as
    /// scikit-learn, without a reason; every case negative gives null with the one-class reason.
    #[test]
    fn average_precision_is_one_without_negatives_and_null_without_positives() {
        let scores = [0.2, 0.9, 0.4];
        let run = |label: bool| {
            let labels = [label; 3];
            let input = EvalInput {
                labels: &labels,
                models: vec![("m", &scores)],
                groupings: Vec::new(),
                cluster: None,
            };
            let r = evaluate(&input, &EvalOptions::default()).unwrap();
            r.models["m"].operating_points.clone()
        };
        let all_positive = run(true);
        assert_eq!(all_positive.average_precision, Some(1.0));
        assert_eq!(all_positive.average_precision_reason, None);
        assert!(all_positive.sens_at_spec_reason.is_some());
        let all_negative = run(false);
        assert_eq!(all_negative.average_precision, None);
        assert!(
            all_negative
                .average_precision_reason
                .unwrap()
                .contains("only one class present: 0 positives, 3 negatives")
        );
    }

    /// Scores that rank the negatives above the positives beyond chance (the CI's upper bound
    /// below 0.5) are warned of, as the other class's column read; a model near chance is not.
    #[test]
    fn an_auroc_below_one_half_beyond_chance_is_warned_of() {
        let n = 200;
        let labels: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut uniform = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let inverted: Vec<f64> = labels
            .iter()
            .map(|&y| 0.6 * uniform() + if y { 0.0 } else { 0.3 })
            .collect();
        let chance: Vec<f64> = labels.iter().map(|_| uniform()).collect();
        let input = EvalInput {
            labels: &labels,
            models: vec![("inverted", &inverted), ("chance", &chance)],
            groupings: Vec::new(),
            cluster: None,
        };
        let r = evaluate(&input, &EvalOptions::default()).unwrap();
        let warned = |m: &str| {
            r.warnings
                .iter()
                .any(|w| w.starts_with(&format!("{m}: AUROC ")) && w.contains("is below 0.5"))
        };
        assert!(
            r.models["inverted"]
                .discrimination
                .auroc_ci95_delong
                .unwrap()[1]
                < 0.5
        );
        assert!(warned("inverted"), "{:?}", r.warnings);
        assert!(!warned("chance"), "{:?}", r.warnings);
        // Every negative above every positive: the CI is degenerate, and it is said too; a
        // perfect model's degenerate CI is not taken for it.
        let reversed: Vec<f64> = labels.iter().map(|&y| if y { 0.1 } else { 0.9 }).collect();
        let perfect: Vec<f64> = labels.iter().map(|&y| if y { 0.9 } else { 0.1 }).collect();
        let input = EvalInput {
            labels: &labels,
            models: vec![("reversed", &reversed), ("perfect", &perfect)],
            groupings: Vec::new(),
            cluster: None,
        };
        let r = evaluate(&input, &EvalOptions::default()).unwrap();
        let ranks = |m: &str| {
            r.warnings.iter().any(|w| {
                w.starts_with(&format!(
                    "{m}: AUROC 0 ranks every negative above every positive"
                ))
            })
        };
        assert!(ranks("reversed"), "{:?}", r.warnings);
        assert!(
            !r.warnings
                .iter()
                .any(|w| w.starts_with("perfect: AUROC 1 ranks"))
        );
    }

    /// `evaluate_tables` (what `pool` runs) against `evaluate` on the cases the tables count:
    /// the same report and warnings, bit for bit, with ties, scores of exactly 0 and 1 (log
    /// loss clipping), a level without positives (its AUROC undefined), a level without cases,
    /// one class overall, and both bootstraps.
    #[test]
    fn a_model_from_its_tables_is_the_model_from_its_cases() {
        for seed in 0..8u64 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut uniform = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let n = 200 + 61 * seed as usize;
            let one_class = seed == 7;
            let labels: Vec<bool> = (0..n).map(|_| !one_class && uniform() < 0.3).collect();
            let scores: Vec<f64> = labels
                .iter()
                .map(|&y| {
                    let s = (0.5 * uniform() + if y { 0.35 } else { 0.1 }).min(1.0);
                    match seed % 3 {
                        0 => s,
                        1 => (s * 20.0).round() / 20.0,
                        _ => {
                            if uniform() < 0.05 {
                                y as u8 as f64
                            } else {
                                s
                            }
                        }
                    }
                })
                .collect();
            // Site: four levels; "rare" holds a few negatives only, "none" no case.
            let site: Vec<u32> = (0..n)
                .map(|i| {
                    if !labels[i] && i % 37 == 0 {
                        2
                    } else {
                        (i % 2) as u32
                    }
                })
                .collect();
            let sex: Vec<u32> = (0..n).map(|i| (i % 5 == 0) as u32).collect();
            let site_levels: Vec<String> = ["A", "B", "rare", "none"].map(String::from).to_vec();
            let sex_levels = vec!["F".to_string(), "M".to_string()];
            let input = EvalInput {
                labels: &labels,
                models: vec![("m", &scores)],
                groupings: vec![
                    Grouping {
                        name: "site",
                        levels: &site_levels,
                        codes: &site,
                    },
                    Grouping {
                        name: "sex",
                        levels: &sex_levels,
                        codes: &sex,
                    },
                ],
                cluster: None,
            };
            let opts = EvalOptions {
                threshold: 0.45,
                target_specificities: vec![0.8, 0.9],
                bootstrap: 120,
                seed: 11 + seed,
                sens_ci_bootstrap: 90,
            };
            let want = evaluate(&input, &opts).unwrap();

            let all = table(&labels, &scores, |_| true);
            let levels: Vec<Vec<Vec<TieGroup>>> = input
                .groupings
                .iter()
                .map(|g| {
                    (0..g.levels.len() as u32)
                        .map(|k| table(&labels, &scores, |i| g.codes[i] == k))
                        .collect()
                })
                .collect();
            let columns: Vec<Column> = input.groupings.iter().map(Grouping::column).collect();
            let tables: Vec<&[Vec<TieGroup>]> = levels.iter().map(Vec::as_slice).collect();
            let (got, warnings) = evaluate_tables("m", &all, &columns, &tables, &opts);

            let json = |r: &ModelReport| serde_json::to_string(r).unwrap();
            assert_eq!(json(&got), json(&want.models["m"]), "seed {seed}");
            assert_eq!(warnings, want.warnings, "seed {seed}");
            assert_eq!(
                got.discrimination.bootstrap.is_some_and(|b| b.is_some()),
                !one_class,
                "seed {seed}"
            );
        }
    }
}
