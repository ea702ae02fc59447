//! Multi-class evaluation (`harness eval --task multiclass`): one-vs-rest AUROCs with the binary
//! DeLong block, their macro and prevalence-weighted means, the Hand & Till (2001) pairwise
//! AUROC, argmax accuracy with the confusion matrix, the multi-class Brier score and log loss,
//! top-label and classwise ECE, a class-stratified bootstrap of the macro AUROC and the paired
//! bootstrap comparison of two models' macro AUROCs. Every definition is that of
//! `shared/spec/tasks.md` ("Multi-class"), on top of the binary conventions of `metrics.md`.
//!
//! Peers: scikit-learn 1.9 `roc_auc_score(multi_class='ovr'|'ovo')`, `brier_score_loss`,
//! `log_loss`, `balanced_accuracy_score`; R pROC 1.18 `roc`, `multiclass.roc`,
//! `roc.test(method = "bootstrap")`. Where they differ (sklearn's NaN macro AUROC when a class
//! has no cases, its silent column mis-pairing with unsorted `labels`) the harness excludes and
//! counts, and keys everything by class name in the caller's class order.
//!
//! Where the cases are clustered by patient (`cluster`), each one-vs-rest AUROC also gets the
//! Obuchowski (1997) block of the binary contract (`ovr.<class>.clustered`), the macro AUROC a
//! cluster bootstrap (`auroc_macro_bootstrap_clustered`: patients drawn with replacement, all
//! their images kept) and every macro comparison its paired cluster bootstrap
//! (`comparisons_macro[].clustered`). Subgroup columns give each level the model's macro AUROC
//! (with its bootstrap CI, patient-clustered where the cases are), accuracy and balanced
//! accuracy, computed by this same evaluation on the level's cases, and the gaps between levels.
//!
//! Pure: no I/O. Rows are validated, never renormalised; undefined values are `None` (JSON
//! `null`) with a reason next to them, never NaN. Everything except the bootstrap is
//! deterministic to the bit; the bootstrap is reproducible bit for bit from its seed on any
//! machine and thread count.

use crate::bootstrap::{MAX_REPLICATES, U32Stream, percentile_ci, replicate_seeds};
use crate::calibration::{EceBin, FromGroups, LOG_LOSS_EPS, LogLoss, from_groups};
use crate::cluster::{ClusterBootstrap, ClusteredModel, ClusteredReport, Clusters};
use crate::delong::{DeLongSums, delong_undefined_reason};
use crate::evaluate::{
    BootstrapReport, Discrimination, EvalError, Grouping, check_groupings, discrimination,
};
use crate::groups::range_of;
use crate::normal;
use crate::ranks::{Ranked, TieGroup};
use crate::registry::Better;
use indexmap::IndexMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A row is valid iff |Σ_k p_k − 1| ≤ this (tasks.md); it is never renormalised.
pub const ROW_SUM_TOLERANCE: f64 = 1e-6;

/// Reason of a null one-vs-rest AUROC (and of the statistics that need the class's cases).
pub const NO_CASES_REASON: &str = "class has no cases";

/// Input of a multi-class evaluation: class names in the caller's order (the `--class-score`
/// flags), each case's true class, and per model one probability column per class.
#[derive(Clone, Debug)]
pub struct MulticlassInput<'a> {
    /// Class names, in order; at least 3, distinct.
    pub classes: &'a [String],
    /// `labels[case]` indexes `classes`.
    pub labels: &'a [u32],
    /// Per model: its name and one probability column per class, in class order, each as long
    /// as `labels`.
    pub models: Vec<(&'a str, Vec<&'a [f64]>)>,
    /// Subgroup columns: each level gets the models' figures on its cases.
    pub groupings: Vec<Grouping<'a>>,
    /// The patient (cluster) column, when several images come from one patient: adds the
    /// clustered statistics next to the image-level ones.
    pub cluster: Option<Grouping<'a>>,
}

/// Options of a multi-class evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MulticlassOptions {
    /// Bootstrap replicates (macro AUROC CI and the paired comparisons); 0 for none.
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
}

impl Default for MulticlassOptions {
    fn default() -> Self {
        MulticlassOptions {
            bootstrap: 0,
            seed: 1,
        }
    }
}

/// The whole multi-class report (`harness eval --task multiclass`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MulticlassReport {
    /// Always `"multiclass"`.
    pub task: String,
    pub n: u64,
    pub classes: Vec<String>,
    /// Cases per true class, in class order.
    pub class_counts: IndexMap<String, u64>,
    pub options: MulticlassOptions,
    pub models: IndexMap<String, MulticlassModelReport>,
    /// One paired bootstrap comparison of the macro AUROCs per pair of models (in input order).
    pub comparisons_macro: Vec<MacroComparison>,
    /// The patient column the clustered statistics resample, when the cases are clustered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub warnings: Vec<String>,
}

/// One class against the rest: the class's case counts and the binary DeLong block
/// (`auroc`, `auroc_ci95_delong`, `auroc_var_delong`, `auroc_reason` when null, ...) of
/// `evaluate`'s binary layout, for labels 1[y = k] and scores p_k (pROC `roc(y == k, p_k)`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OvrReport {
    /// Cases of this class (the positives).
    pub n_pos: u64,
    /// Cases of every other class (the negatives).
    pub n_neg: u64,
    #[serde(flatten)]
    pub discrimination: Discrimination,
    /// The class's patient-clustered AUROC statistics (Obuchowski), when the cases are clustered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered: Option<ClusteredReport>,
}

/// Confusion matrix: rows are the true classes, columns the argmax predictions, both in class
/// order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    pub classes: Vec<String>,
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

/// Every multi-class statistic of one model. Field names and order are the contract of
/// `tasks.md` ("Multi-class").
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MulticlassModelReport {
    /// One-vs-rest AUROC with its DeLong CI per class.
    pub ovr: IndexMap<String, OvrReport>,
    /// Unweighted mean of the defined one-vs-rest AUROCs.
    pub auroc_macro: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_macro_reason: Option<String>,
    /// Σ prev_k·AUC_k / Σ prev_k over the classes with a defined AUROC.
    pub auroc_weighted: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_weighted_reason: Option<String>,
    /// Classes whose one-vs-rest AUROC is undefined (no cases, or every case).
    pub n_classes_excluded: usize,
    pub classes_excluded: Vec<String>,
    /// Hand & Till's M over the pairs of classes that both have cases.
    pub auroc_hand_till: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_hand_till_reason: Option<String>,
    pub hand_till_n_pairs: usize,
    /// The classes with cases, which M is taken over.
    pub hand_till_classes_used: Vec<String>,
    /// Class-stratified bootstrap of the macro AUROC: absent when none was asked for, `null`
    /// (with a reason) when the macro AUROC is undefined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_macro_bootstrap: Option<Option<BootstrapReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_macro_bootstrap_reason: Option<String>,
    /// Share of cases whose argmax class is the true class.
    pub accuracy: f64,
    pub confusion_matrix: ConfusionMatrix,
    /// TP/(TP + FN) per class at the argmax decision; null when the class has no cases.
    pub sensitivity_at_argmax: IndexMap<String, Option<f64>>,
    /// Why a class's sensitivity is null (only the null ones are listed).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub sensitivity_at_argmax_reason: IndexMap<String, String>,
    /// TN/(TN + FP) per class at the argmax decision; null when every case is of the class.
    pub specificity_at_argmax: IndexMap<String, Option<f64>>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub specificity_at_argmax_reason: IndexMap<String, String>,
    /// Mean of the defined sensitivities (sklearn `balanced_accuracy_score`).
    pub balanced_accuracy: f64,
    /// Cases whose highest probability is shared by two or more classes (the first won).
    pub n_argmax_ties: u64,
    /// mean_i Σ_k (p_ik − 1[y_i = k])², in [0, 2].
    pub brier: f64,
    /// −mean_i ln clip(p_{i,y_i}, ε, 1 − ε).
    pub log_loss: f64,
    /// Cases whose true-class probability was clipped.
    pub log_loss_n_clipped: usize,
    pub log_loss_eps: f64,
    pub top_label_ece_10: f64,
    pub top_label_ece_15: f64,
    pub top_label_ece_10_bins: Vec<EceBin>,
    pub top_label_ece_15_bins: Vec<EceBin>,
    /// Mean over all classes of the binary ECE of p_k against 1[y = k].
    pub classwise_ece_10: f64,
    pub classwise_ece_15: f64,
    pub classwise_ece_10_per_class: IndexMap<String, f64>,
    pub classwise_ece_15_per_class: IndexMap<String, f64>,
    /// The cluster bootstrap of the macro AUROC (patients resampled), when the cases are
    /// clustered and a bootstrap was asked for; `null` with the reason when undefined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auroc_macro_bootstrap_clustered: Option<Option<ClusterBootstrap>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auroc_macro_bootstrap_clustered_reason: Option<String>,
    /// Per subgroup column and level (levels with cases, in level order).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub subgroups: IndexMap<String, IndexMap<String, MulticlassSubgroup>>,
    /// Per subgroup column: the spread of the level figures.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub gaps: IndexMap<String, SubgroupGaps>,
}

impl OvrReport {
    /// The one-vs-rest AUROC's 95 % CI as reports show it: patient-clustered (Obuchowski) where
    /// the cases are clustered by patient, else DeLong's image-level one.
    #[must_use]
    pub fn auroc_ci95_reported(&self) -> Option<[f64; 2]> {
        match &self.clustered {
            Some(c) => c.auroc_ci95_obuchowski,
            None => self.discrimination.auroc_ci95_delong,
        }
    }
}

impl MulticlassModelReport {
    /// The macro AUROC's bootstrap 95 % CI as reports show it: the cluster bootstrap where the
    /// cases are clustered by patient, else the class-stratified one; `None` without a bootstrap.
    #[must_use]
    pub fn auroc_macro_ci95_reported(&self) -> Option<[f64; 2]> {
        match &self.auroc_macro_bootstrap_clustered {
            Some(c) => c.as_ref().map(|b| b.ci95),
            None => self
                .auroc_macro_bootstrap
                .as_ref()
                .and_then(|b| b.as_ref().map(|b| b.ci95)),
        }
    }
}

impl MacroComparison {
    /// The comparison reports show: on the paired cluster bootstrap where the cases are
    /// clustered by patient, else on the class-stratified one.
    #[must_use]
    pub fn reported(&self) -> &MacroComparison {
        self.clustered.as_deref().unwrap_or(self)
    }
}

/// A model's figures on the cases of one subgroup level: the same evaluation on those cases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MulticlassSubgroup {
    pub n: u64,
    pub class_counts: IndexMap<String, u64>,
    pub auroc_macro: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auroc_macro_reason: Option<String>,
    /// Classes without cases in the level, or with every case (left out of its macro AUROC).
    pub n_classes_excluded: usize,
    /// The macro AUROC's bootstrap 95 % CI on the level's cases: the cluster bootstrap when the
    /// cases are clustered by patient, else the class-stratified one (`ci_method` says which);
    /// absent without a bootstrap, `null` with `ci_reason` when undefined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auroc_macro_ci95: Option<Option<[f64; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_reason: Option<String>,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
}

/// How far apart the levels of one subgroup column are (max − min over the levels where the
/// figure is defined), naming the levels at either end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubgroupGaps {
    pub accuracy_gap: Option<f64>,
    pub accuracy_gap_max_group: Option<String>,
    pub accuracy_gap_min_group: Option<String>,
    pub balanced_accuracy_gap: Option<f64>,
    pub balanced_accuracy_gap_max_group: Option<String>,
    pub balanced_accuracy_gap_min_group: Option<String>,
    pub auroc_macro_gap: Option<f64>,
    pub auroc_macro_gap_max_group: Option<String>,
    pub auroc_macro_gap_min_group: Option<String>,
    /// Why a gap is null (fewer than two levels with the figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Paired bootstrap comparison of two models' macro AUROCs (pROC `roc.test(method =
/// "bootstrap")` convention): both models scored on the same class-stratified resamples.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MacroComparison {
    pub a: String,
    pub b: String,
    pub macro_a: Option<f64>,
    pub macro_b: Option<f64>,
    /// macro_a − macro_b.
    pub diff: Option<f64>,
    /// Type-7 quantiles at 0.025 and 0.975 of the replicate differences.
    pub ci95_diff: Option<[f64; 2]>,
    /// Standard deviation (denominator B − 1) of the replicate differences.
    pub sd_boot: Option<f64>,
    /// diff / sd_boot.
    pub z: Option<f64>,
    /// 2·Φ(−|z|).
    pub p: Option<f64>,
    /// Bootstrap replicates.
    pub n: usize,
    pub seed: u64,
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The same comparison on paired cluster-bootstrap resamples (patients drawn with
    /// replacement, the same for both models), when the cases are clustered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered: Option<Box<MacroComparison>>,
}

/// Input that does not describe one set of multi-class cases. Case indices are 0-based rows of
/// the input.
#[derive(Clone, Debug, PartialEq)]
pub enum MulticlassError {
    /// Fewer than 3 classes.
    TooFewClasses { classes: usize },
    /// A class name given twice (the report is keyed by class name).
    DuplicateClass { class: String },
    /// A model name given twice (the report is keyed by model name).
    DuplicateModel { model: String },
    /// No cases at all.
    NoCases,
    /// More cases than the rank arithmetic holds (2³² − 1).
    TooManyCases(usize),
    /// More bootstrap replicates than [`MAX_REPLICATES`].
    TooManyReplicates { requested: usize, max: usize },
    /// A label that names no class.
    Label {
        case: usize,
        label: u32,
        classes: usize,
    },
    /// A model with a different number of probability columns than there are classes.
    ColumnCount {
        model: String,
        columns: usize,
        classes: usize,
    },
    /// A probability column with a different length than the labels.
    ColumnLength {
        model: String,
        class: String,
        len: usize,
        labels: usize,
    },
    /// A probability that is NaN or outside [0, 1].
    Probability {
        model: String,
        case: usize,
        class: String,
        value: f64,
    },
    /// A row whose probabilities do not sum to 1 within [`ROW_SUM_TOLERANCE`].
    RowSum {
        model: String,
        case: usize,
        sum: f64,
        row: Vec<f64>,
    },
    /// A subgroup or patient column that does not describe the cases.
    Grouping(EvalError),
    /// A site summary that would reveal too much (a subgroup level below the minimum).
    Disclosure(String),
}

impl std::fmt::Display for MulticlassError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooFewClasses { classes } => write!(
                f,
                "multi-class evaluation needs at least 3 classes, got {classes} (use the binary task for 2)"
            ),
            Self::DuplicateClass { class } => write!(f, "class '{class}' is given twice"),
            Self::DuplicateModel { model } => write!(f, "model '{model}' is given twice"),
            Self::NoCases => write!(f, "there are no cases to evaluate"),
            Self::TooManyCases(n) => {
                write!(f, "{n} cases: at most {} can be evaluated", u32::MAX)
            }
            Self::TooManyReplicates { requested, max } => write!(
                f,
                "{requested} bootstrap replicates requested: at most {max} are allowed"
            ),
            Self::Label {
                case,
                label,
                classes,
            } => write!(
                f,
                "case {case} (0-based) has class index {label}, but there are {classes} classes"
            ),
            Self::ColumnCount {
                model,
                columns,
                classes,
            } => write!(
                f,
                "model '{model}' has {columns} probability columns for {classes} classes"
            ),
            Self::ColumnLength {
                model,
                class,
                len,
                labels,
            } => write!(
                f,
                "model '{model}': the probability column of class '{class}' has {len} values for {labels} labels"
            ),
            Self::Probability {
                model,
                case,
                class,
                value,
            } => write!(
                f,
                "model '{model}', case {case} (0-based): probability of class '{class}' is {value}, not in [0, 1]"
            ),
            Self::RowSum {
                model,
                case,
                sum,
                row,
            } => write!(
                f,
                "model '{model}', case {case} (0-based): probabilities {row:?} sum to {sum}, which differs from 1 by {:e} (more than {ROW_SUM_TOLERANCE:e}); rows are never renormalised",
                (sum - 1.0).abs()
            ),
            Self::Grouping(e) => e.fmt(f),
            Self::Disclosure(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for MulticlassError {}

impl MulticlassInput<'_> {
    /// Checks that the input describes one set of multi-class cases: at least 3 distinct
    /// classes, every label a class, one column per class of the labels' length per model,
    /// every probability in [0, 1] and every row summing to 1 within [`ROW_SUM_TOLERANCE`].
    ///
    /// # Errors
    /// The first inconsistency found (models in order, then cases in order).
    pub fn validate(&self) -> Result<(), MulticlassError> {
        let k = self.classes.len();
        if k < 3 {
            return Err(MulticlassError::TooFewClasses { classes: k });
        }
        for (i, c) in self.classes.iter().enumerate() {
            if self.classes[..i].contains(c) {
                return Err(MulticlassError::DuplicateClass { class: c.clone() });
            }
        }
        let n = self.labels.len();
        if n == 0 {
            return Err(MulticlassError::NoCases);
        }
        if n > u32::MAX as usize {
            return Err(MulticlassError::TooManyCases(n));
        }
        check_groupings(self.groupings.iter().chain(&self.cluster), n)
            .map_err(MulticlassError::Grouping)?;
        if let Some((case, &label)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, y)| **y as usize >= k)
        {
            return Err(MulticlassError::Label {
                case,
                label,
                classes: k,
            });
        }
        for (i, (name, columns)) in self.models.iter().enumerate() {
            if self.models[..i].iter().any(|(other, _)| other == name) {
                return Err(MulticlassError::DuplicateModel {
                    model: name.to_string(),
                });
            }
            if columns.len() != k {
                return Err(MulticlassError::ColumnCount {
                    model: name.to_string(),
                    columns: columns.len(),
                    classes: k,
                });
            }
            for (class, col) in self.classes.iter().zip(columns) {
                if col.len() != n {
                    return Err(MulticlassError::ColumnLength {
                        model: name.to_string(),
                        class: class.clone(),
                        len: col.len(),
                        labels: n,
                    });
                }
            }
            for case in 0..n {
                let mut sum = 0.0;
                for (class, col) in self.classes.iter().zip(columns) {
                    let value = col[case];
                    if !(0.0..=1.0).contains(&value) {
                        return Err(MulticlassError::Probability {
                            model: name.to_string(),
                            case,
                            class: class.clone(),
                            value,
                        });
                    }
                    sum += value;
                }
                if (sum - 1.0).abs() > ROW_SUM_TOLERANCE {
                    return Err(MulticlassError::RowSum {
                        model: name.to_string(),
                        case,
                        sum,
                        row: columns.iter().map(|c| c[case]).collect(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The case structure shared by every model: labels, class counts, each class's rows and
/// indicator column.
struct Cases<'a> {
    classes: &'a [String],
    labels: &'a [u32],
    /// Cases per class.
    counts: Vec<u64>,
    /// Each class's case indices, ascending.
    rows: Vec<Vec<u32>>,
    /// `is_class[k][case]` = 1[y = k].
    is_class: Vec<Vec<bool>>,
    /// How the cases fall into patients, when they are clustered.
    clusters: Option<ClassClusters>,
}

/// The patients of clustered cases, as the clustered statistics need them.
struct ClassClusters {
    /// Per class: its one-vs-rest labels clustered by patient (the Obuchowski blocks).
    per_class: Vec<Clusters>,
    /// Each case's patient, numbered 0..I among the patients with cases, in code order.
    case_patient: Vec<u32>,
    /// Per patient: its images.
    sizes: Vec<u64>,
    /// Per patient: (class, images of that class) for each class among its images.
    classes_of: Vec<Vec<(u32, u64)>>,
}

impl ClassClusters {
    fn new(labels: &[u32], is_class: &[Vec<bool>], cluster: &Grouping) -> Self {
        let n_codes = cluster.levels.len();
        let mut dense = vec![u32::MAX; n_codes];
        for &c in cluster.codes {
            dense[c as usize] = 0;
        }
        let mut patients = 0u32;
        for d in dense.iter_mut().filter(|d| **d == 0) {
            *d = patients;
            patients += 1;
        }
        let case_patient: Vec<u32> = cluster.codes.iter().map(|&c| dense[c as usize]).collect();
        let mut sizes = vec![0u64; patients as usize];
        let mut classes_of: Vec<Vec<(u32, u64)>> = vec![Vec::new(); patients as usize];
        for (&p, &y) in case_patient.iter().zip(labels) {
            sizes[p as usize] += 1;
            let list = &mut classes_of[p as usize];
            match list.iter_mut().find(|(k, _)| *k == y) {
                Some(e) => e.1 += 1,
                None => list.push((y, 1)),
            }
        }
        ClassClusters {
            per_class: is_class
                .iter()
                .map(|l| Clusters::new(l, cluster.codes, n_codes))
                .collect(),
            case_patient,
            sizes,
            classes_of,
        }
    }
}

impl<'a> Cases<'a> {
    fn new(classes: &'a [String], labels: &'a [u32], cluster: Option<&Grouping>) -> Self {
        let k = classes.len();
        let mut rows = vec![Vec::new(); k];
        let mut is_class = vec![vec![false; labels.len()]; k];
        for (case, &y) in labels.iter().enumerate() {
            rows[y as usize].push(case as u32);
            is_class[y as usize][case] = true;
        }
        Cases {
            classes,
            labels,
            counts: rows.iter().map(|r| r.len() as u64).collect(),
            rows,
            clusters: cluster.map(|c| ClassClusters::new(labels, &is_class, c)),
            is_class,
        }
    }

    fn n(&self) -> u64 {
        self.labels.len() as u64
    }

    /// Whether class k's one-vs-rest AUROC is defined: it has cases and is not every case.
    fn defined(&self, k: usize) -> bool {
        self.counts[k] > 0 && self.counts[k] < self.n()
    }

    /// Why class k's one-vs-rest AUROC is undefined, or `None`.
    fn ovr_reason(&self, k: usize) -> Option<String> {
        ovr_reason(self.counts[k], self.n())
    }
}

/// What one model's evaluation hands to the bootstrap.
struct ModelOutcome {
    report: MulticlassModelReport,
    warnings: Vec<String>,
    /// The sorted scores of each class with a defined one-vs-rest AUROC, in class order.
    defined: Vec<Ranked>,
}

/// Evaluates every model of `input` (in parallel) and compares every pair of models' macro
/// AUROCs on shared class-stratified bootstrap resamples.
///
/// # Errors
/// [`MulticlassError`] when the input is inconsistent ([`MulticlassInput::validate`]) or more
/// than [`MAX_REPLICATES`] replicates are asked for.
pub fn evaluate_multiclass(
    input: &MulticlassInput,
    opts: &MulticlassOptions,
) -> Result<MulticlassReport, MulticlassError> {
    evaluate(input, opts, true)
}

/// [`evaluate_multiclass`], with the class-stratified bootstrap left out when
/// `image_level_bootstrap` is false (a subgroup level of clustered cases shows only its cluster
/// bootstrap).
fn evaluate(
    input: &MulticlassInput,
    opts: &MulticlassOptions,
    image_level_bootstrap: bool,
) -> Result<MulticlassReport, MulticlassError> {
    input.validate()?;
    if opts.bootstrap > MAX_REPLICATES {
        return Err(MulticlassError::TooManyReplicates {
            requested: opts.bootstrap,
            max: MAX_REPLICATES,
        });
    }
    let cases = Cases::new(input.classes, input.labels, input.cluster.as_ref());
    let mut warnings = Vec::new();
    for (k, class) in input.classes.iter().enumerate() {
        if let Some(reason) = cases.ovr_reason(k) {
            warnings.push(format!(
                "class '{class}': {reason}: its one-vs-rest AUROC is null and it is left out of auroc_macro, auroc_weighted, Hand–Till and balanced_accuracy (its probabilities still count in Brier, log loss and the ECEs)"
            ));
        }
    }
    let mut outcomes: Vec<ModelOutcome> = input
        .models
        .par_iter()
        .map(|(name, columns)| evaluate_model(name, columns, &cases))
        .collect();

    // Replicate macro AUROCs of every model on the same resamples: `boot[model][b]`.
    let any_defined = (0..input.classes.len()).any(|k| cases.defined(k));
    let stratified = opts.bootstrap > 0 && image_level_bootstrap;
    let boot: Vec<Vec<f64>> = if stratified && any_defined {
        let columns: Vec<&[Ranked]> = outcomes.iter().map(|o| o.defined.as_slice()).collect();
        macro_replicates(&cases, &columns, opts.bootstrap, opts.seed)
    } else {
        Vec::new()
    };
    let no_macro = "no class has a defined one-vs-rest AUROC, so the macro AUROC is undefined";
    if stratified {
        for (k, o) in outcomes.iter_mut().enumerate() {
            let summary = boot.get(k).and_then(|r| summarise(r, opts.seed));
            o.report.auroc_macro_bootstrap_reason = summary.is_none().then(|| no_macro.into());
            o.report.auroc_macro_bootstrap = Some(summary);
        }
    }
    // The same on resamples of patients, when the cases are clustered.
    let clustered_boot: Option<Result<ClusterReplicates, String>> = match &cases.clusters {
        Some(cc) if opts.bootstrap > 0 => Some(if any_defined {
            let columns: Vec<&[Ranked]> = outcomes.iter().map(|o| o.defined.as_slice()).collect();
            macro_cluster_replicates(&cases, cc, &columns, opts.bootstrap, opts.seed)
        } else {
            Err(no_macro.into())
        }),
        _ => None,
    };
    if let Some(b) = &clustered_boot {
        for (k, o) in outcomes.iter_mut().enumerate() {
            let summary = b.as_ref().map_err(Clone::clone).map(|r| {
                let mut values = r.macros[k].clone();
                let (ci95, median) = percentile_ci(&mut values);
                ClusterBootstrap {
                    n: values.len(),
                    seed: opts.seed,
                    ci95,
                    median,
                    n_redrawn: r.n_redrawn,
                }
            });
            o.report.auroc_macro_bootstrap_clustered_reason = summary.as_ref().err().cloned();
            o.report.auroc_macro_bootstrap_clustered = Some(summary.ok());
        }
    }

    let mut comparisons_macro = Vec::new();
    for i in 0..outcomes.len() {
        for j in i + 1..outcomes.len() {
            let a = (input.models[i].0, outcomes[i].report.auroc_macro);
            let b = (input.models[j].0, outcomes[j].report.auroc_macro);
            fn pair(boot: &[Vec<f64>], i: usize, j: usize) -> Option<(&[f64], &[f64])> {
                boot.get(i)
                    .zip(boot.get(j))
                    .map(|(a, b)| (a.as_slice(), b.as_slice()))
            }
            let mut comparison = compare(a, b, pair(&boot, i, j), opts, STRATIFIED_METHOD);
            comparison.clustered = cases.clusters.as_ref().map(|_| {
                let replicates = clustered_boot.as_ref().and_then(|r| r.as_ref().ok());
                let mut c = compare(
                    a,
                    b,
                    replicates.and_then(|r| pair(&r.macros, i, j)),
                    opts,
                    CLUSTERED_METHOD,
                );
                if let Some(Err(reason)) = &clustered_boot
                    && c.diff.is_some()
                {
                    c.reason = Some(reason.clone());
                }
                Box::new(c)
            });
            if let Some(r) = comparison.reason.as_ref().filter(|_| opts.bootstrap > 0) {
                warnings.push(format!(
                    "comparison of macro AUROCs {} vs {}: {r}",
                    comparison.a, comparison.b
                ));
            }
            comparisons_macro.push(comparison);
        }
    }
    warnings.extend(outcomes.iter().flat_map(|o| o.warnings.iter().cloned()));
    for g in &input.groupings {
        let levels = subgroup_levels(input, g, opts)?;
        for (m, o) in outcomes.iter_mut().enumerate() {
            let per_level: IndexMap<String, MulticlassSubgroup> = levels
                .iter()
                .map(|(level, r)| (level.clone(), r[m].clone()))
                .collect();
            o.report
                .gaps
                .insert(g.name.to_string(), subgroup_gaps(&per_level));
            o.report.subgroups.insert(g.name.to_string(), per_level);
        }
    }
    Ok(MulticlassReport {
        task: "multiclass".to_string(),
        n: cases.n(),
        classes: input.classes.to_vec(),
        class_counts: input
            .classes
            .iter()
            .cloned()
            .zip(cases.counts.iter().copied())
            .collect(),
        options: *opts,
        models: input
            .models
            .iter()
            .zip(outcomes)
            .map(|((name, _), o)| (name.to_string(), o.report))
            .collect(),
        comparisons_macro,
        cluster: input.cluster.as_ref().map(|g| g.name.to_string()),
        warnings,
    })
}

/// Each level (with cases, in level order) of subgroup column `g`: every model's figures from
/// this evaluation run on the level's cases alone (`result[level][model]`).
fn subgroup_levels(
    input: &MulticlassInput,
    g: &Grouping,
    opts: &MulticlassOptions,
) -> Result<Vec<(String, Vec<MulticlassSubgroup>)>, MulticlassError> {
    let mut out = Vec::new();
    for (level, rows) in subgroup_rows(g) {
        let owned = input.subset(&rows);
        let sub = owned.input(input);
        // Clustered cases: the level's CI is its cluster bootstrap alone.
        let r = evaluate(&sub, opts, input.cluster.is_none())?;
        let models = r
            .models
            .values()
            .map(|m| {
                let (ci, method, reason) =
                    match (&m.auroc_macro_bootstrap_clustered, &m.auroc_macro_bootstrap) {
                        (Some(b), _) => (
                            Some(b.as_ref().map(|b| b.ci95)),
                            Some(CLUSTERED_METHOD),
                            m.auroc_macro_bootstrap_clustered_reason.clone(),
                        ),
                        (None, Some(b)) => (
                            Some(b.as_ref().map(|b| b.ci95)),
                            Some(STRATIFIED_METHOD),
                            m.auroc_macro_bootstrap_reason.clone(),
                        ),
                        (None, None) => (None, None, None),
                    };
                MulticlassSubgroup {
                    n: r.n,
                    class_counts: r.class_counts.clone(),
                    auroc_macro: m.auroc_macro,
                    auroc_macro_reason: m.auroc_macro_reason.clone(),
                    n_classes_excluded: m.n_classes_excluded,
                    auroc_macro_ci95: ci,
                    ci_method: method.map(String::from),
                    ci_reason: reason,
                    accuracy: m.accuracy,
                    balanced_accuracy: m.balanced_accuracy,
                }
            })
            .collect();
        out.push((level, models));
    }
    Ok(out)
}

/// The levels of subgroup column `g` that have cases, in level order, with their cases (rows
/// of the input, ascending).
pub(crate) fn subgroup_rows(g: &Grouping) -> Vec<(String, Vec<usize>)> {
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); g.levels.len()];
    for (case, &code) in g.codes.iter().enumerate() {
        rows[code as usize].push(case);
    }
    g.levels
        .iter()
        .zip(rows)
        .filter(|(_, r)| !r.is_empty())
        .map(|(l, r)| (l.clone(), r))
        .collect()
}

/// The cases of some rows of an input, copied (see [`MulticlassInput::subset`]).
pub(crate) struct Subset {
    labels: Vec<u32>,
    /// `columns[model][class]`.
    columns: Vec<Vec<Vec<f64>>>,
    cluster: Option<Vec<u32>>,
}

impl Subset {
    /// The subset as an input of the same classes, models and patient column, without
    /// subgroup columns.
    pub(crate) fn input<'a>(&'a self, parent: &MulticlassInput<'a>) -> MulticlassInput<'a> {
        MulticlassInput {
            classes: parent.classes,
            labels: &self.labels,
            models: parent
                .models
                .iter()
                .zip(&self.columns)
                .map(|((name, _), cols)| (*name, cols.iter().map(Vec::as_slice).collect()))
                .collect(),
            groupings: Vec::new(),
            cluster: parent
                .cluster
                .as_ref()
                .zip(self.cluster.as_ref())
                .map(|(c, codes)| Grouping {
                    name: c.name,
                    levels: c.levels,
                    codes,
                }),
        }
    }
}

impl MulticlassInput<'_> {
    /// The cases at `rows` (ascending), copied.
    pub(crate) fn subset(&self, rows: &[usize]) -> Subset {
        let pick = |v: &[f64]| -> Vec<f64> { rows.iter().map(|&i| v[i]).collect() };
        Subset {
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
            columns: self
                .models
                .iter()
                .map(|(_, cols)| cols.iter().map(|c| pick(c)).collect())
                .collect(),
            cluster: self
                .cluster
                .as_ref()
                .map(|c| rows.iter().map(|&i| c.codes[i]).collect()),
        }
    }
}

/// Every model's [`ModelTables`] on the input's cases (validated by the caller).
pub(crate) fn model_tables(input: &MulticlassInput) -> Vec<ModelTables> {
    let cases = Cases::new(input.classes, input.labels, None);
    let k = input.classes.len();
    input
        .models
        .par_iter()
        .map(|(_, columns)| {
            let ranked: Vec<Ranked> = (0..k)
                .map(|c| Ranked::new(&cases.is_class[c], columns[c]))
                .collect();
            ModelTables::from_cases(&ranked, columns, &cases)
        })
        .collect()
}

/// The spread of the level figures of one subgroup column.
pub(crate) fn subgroup_gaps(levels: &IndexMap<String, MulticlassSubgroup>) -> SubgroupGaps {
    let gap = |value: &dyn Fn(&MulticlassSubgroup) -> Option<f64>| match range_of(
        levels.values().map(value),
    ) {
        Some((gap, max, min)) if levels.values().filter(|l| value(l).is_some()).count() >= 2 => {
            let name = |k: usize| levels.get_index(k).map(|(n, _)| n.clone());
            (Some(gap), name(max), name(min))
        }
        _ => (None, None, None),
    };
    let accuracy = gap(&|l| Some(l.accuracy));
    let balanced = gap(&|l| Some(l.balanced_accuracy));
    let auroc = gap(&|l| l.auroc_macro);
    let reason = if accuracy.0.is_none() {
        Some("fewer than two levels have cases: there is no gap".to_string())
    } else if auroc.0.is_none() {
        Some("fewer than two levels have a macro AUROC: its gap is undefined".to_string())
    } else {
        None
    };
    SubgroupGaps {
        accuracy_gap: accuracy.0,
        accuracy_gap_max_group: accuracy.1,
        accuracy_gap_min_group: accuracy.2,
        balanced_accuracy_gap: balanced.0,
        balanced_accuracy_gap_max_group: balanced.1,
        balanced_accuracy_gap_min_group: balanced.2,
        auroc_macro_gap: auroc.0,
        auroc_macro_gap_max_group: auroc.1,
        auroc_macro_gap_min_group: auroc.2,
        reason,
    }
}

/// One class's probabilities as a count table: each distinct value of p_k, ascending, with how
/// many cases of each true class had it. Every one-vs-rest and pairwise (Hand–Till) AUROC and
/// every calibration figure of the class is a function of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreTable {
    /// Distinct values, ascending.
    pub values: Vec<f64>,
    /// `counts[row * classes + j]`: cases of true class j at `values[row]`.
    pub counts: Vec<u64>,
}

impl ScoreTable {
    /// The count row of `values[row]` (one count per true class).
    pub fn row(&self, row: usize, classes: usize) -> &[u64] {
        &self.counts[row * classes..(row + 1) * classes]
    }

    /// Class `k` against the rest as tie groups (positives = class k).
    pub fn one_vs_rest(&self, k: usize, classes: usize) -> Vec<TieGroup> {
        self.values
            .iter()
            .enumerate()
            .map(|(r, &value)| {
                let row = self.row(r, classes);
                let pos = row[k];
                TieGroup {
                    value,
                    pos,
                    neg: row.iter().sum::<u64>() - pos,
                }
            })
            .collect()
    }
}

/// Everything a multi-class model's statistics depend on, except the bootstrap: per class the
/// count table of its probabilities by true class, the argmax confusion matrix and ties, and the
/// top-label table (each distinct max_k p_k with how many cases had it right and wrong). A
/// federated site publishes these; [`evaluate_tables`] gives the same figures from them as from
/// the cases.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelTables {
    /// Per class, in class order.
    pub scores: Vec<ScoreTable>,
    /// `confusion[true][argmax]`.
    pub confusion: Vec<Vec<u64>>,
    /// Cases whose highest probability is shared by two or more classes.
    pub argmax_ties: u64,
    /// Confidence (max_k p_k) as tie groups: positives = argmax right, negatives = wrong.
    pub top_label: Vec<TieGroup>,
}

impl ModelTables {
    /// The tables of a model's columns on `cases`, from each class column's sort.
    fn from_cases(ranked: &[Ranked], columns: &[&[f64]], cases: &Cases) -> Self {
        let k = cases.classes.len();
        let scores = ranked
            .iter()
            .map(|r| {
                let mut values = Vec::with_capacity(r.groups.len());
                let mut counts = Vec::with_capacity(r.groups.len() * k);
                let mut start = 0usize;
                for g in &r.groups {
                    let len = (g.pos + g.neg) as usize;
                    values.push(g.value);
                    let row = counts.len();
                    counts.resize(row + k, 0);
                    for &case in &r.order[start..start + len] {
                        counts[row + cases.labels[case as usize] as usize] += 1;
                    }
                    start += len;
                }
                ScoreTable { values, counts }
            })
            .collect();
        let argmax = argmax_stats(columns, cases);
        ModelTables {
            scores,
            confusion: argmax.counts,
            argmax_ties: argmax.ties,
            top_label: Ranked::new(&argmax.correct, &argmax.confidence).groups,
        }
    }
}

/// Every statistic of one model on the cases: its tables' figures ([`evaluate_tables`]), and
/// each class's sort kept for the bootstrap and the clustered blocks.
fn evaluate_model(name: &str, columns: &[&[f64]], cases: &Cases) -> ModelOutcome {
    let k = cases.classes.len();
    // One sort per class column feeds its tables, clustered block and bootstrap.
    let ranked: Vec<Ranked> = (0..k)
        .map(|c| Ranked::new(&cases.is_class[c], columns[c]))
        .collect();
    let tables = ModelTables::from_cases(&ranked, columns, cases);
    let (mut report, warnings) = evaluate_tables(name, cases.classes, &tables);
    if let Some(cc) = &cases.clusters {
        for (c, class) in cases.classes.iter().enumerate() {
            let clusters = &cc.per_class[c];
            let model = ClusteredModel::new(clusters, &ranked[c]);
            if let Some(o) = report.ovr.get_mut(class) {
                o.clustered = Some(ClusteredReport::new(clusters, &model, None));
            }
        }
    }
    ModelOutcome {
        report,
        warnings,
        defined: ranked
            .into_iter()
            .enumerate()
            .filter(|&(c, _)| cases.defined(c))
            .map(|(_, r)| r)
            .collect(),
    }
}

/// Why class k's one-vs-rest AUROC is undefined with `count` of `n` cases, or `None`.
fn ovr_reason(count: u64, n: u64) -> Option<String> {
    if count == 0 {
        Some(NO_CASES_REASON.to_string())
    } else if count == n {
        Some(format!(
            "class has all {n} cases: there is no other class to separate it from"
        ))
    } else {
        None
    }
}

/// Every statistic of a model but the bootstrap (and the patient-clustered blocks), from its
/// [`ModelTables`]: the one-vs-rest AUROCs with DeLong's CIs, the macro and weighted AUROCs,
/// Hand–Till, accuracy, the confusion matrix and the argmax sensitivities and specificities, the
/// multi-class Brier score and log loss, top-label and classwise ECE. Sums are taken per
/// distinct value in ascending order. Returns the report and its warnings.
///
/// # Panics
/// If the tables do not describe one set of cases: `classes.len()` class tables whose rows hold
/// one count per class and whose columns add up to the confusion matrix's rows (a
/// `classes.len()`-square matrix with at least one and at most 2^32 − 1 cases), and a non-empty
/// top-label table over the same cases. Tables built from cases always do;
/// [`crate::pool_classes`] checks a site's before pooling them.
pub fn evaluate_tables(
    name: &str,
    classes: &[String],
    tables: &ModelTables,
) -> (MulticlassModelReport, Vec<String>) {
    let k = classes.len();
    let mut warnings = Vec::new();
    let counts: Vec<u64> = tables.confusion.iter().map(|r| r.iter().sum()).collect();
    let n: u64 = counts.iter().sum();
    assert!(
        n > 0 && tables.scores.len() == k,
        "tables of {k} classes with cases"
    );
    let ovr_groups: Vec<Vec<TieGroup>> =
        (0..k).map(|c| tables.scores[c].one_vs_rest(c, k)).collect();
    let mut ovr = IndexMap::new();
    let mut aurocs: Vec<Option<f64>> = Vec::with_capacity(k);
    for (c, class) in classes.iter().enumerate() {
        let report = ovr_report(
            name,
            class,
            &ovr_groups[c],
            ovr_reason(counts[c], n),
            &mut warnings,
        );
        aurocs.push(report.discrimination.auroc);
        ovr.insert(class.clone(), report);
    }
    let defined: Vec<(usize, f64)> = aurocs
        .iter()
        .enumerate()
        .filter_map(|(c, a)| a.map(|a| (c, a)))
        .collect();
    let auroc_macro = (!defined.is_empty())
        .then(|| defined.iter().map(|&(_, a)| a).sum::<f64>() / defined.len() as f64);
    let auroc_weighted = (!defined.is_empty()).then(|| {
        let weight: u64 = defined.iter().map(|&(c, _)| counts[c]).sum();
        let sum: f64 = defined.iter().map(|&(c, a)| counts[c] as f64 * a).sum();
        sum / weight as f64
    });
    let macro_reason = auroc_macro.is_none().then(|| {
        "no class has a defined one-vs-rest AUROC (every case is of one class)".to_string()
    });
    let classes_excluded: Vec<String> = (0..k)
        .filter(|&c| aurocs[c].is_none())
        .map(|c| classes[c].clone())
        .collect();
    let hand_till = hand_till(&tables.scores, &counts);

    if tables.argmax_ties > 0 {
        warnings.push(format!(
            "{name}: {} case(s) have their highest probability shared by two or more classes; the first class in order was taken as the prediction (numpy argmax)",
            tables.argmax_ties
        ));
    }
    // Brier: the binary squared errors of every class column added up; the ECEs from the same
    // tie tables.
    let per_class: Vec<FromGroups> = ovr_groups.iter().map(|g| from_groups(g)).collect();
    let brier: f64 = per_class.iter().filter_map(|f| f.brier).sum();
    let ll = true_class_log_loss(&tables.scores, k, n);
    if ll.n_clipped > 0 {
        warnings.push(format!(
            "{name}: {} true-class probabilit(y/ies) of exactly 0 or 1 were clipped to [2^-52, 1 - 2^-52] for the log loss",
            ll.n_clipped
        ));
    }
    let top = from_groups(&tables.top_label);
    let ((top_10, top_10_bins), (top_15, top_15_bins)) = (
        top.ece_10.expect("cases were checked non-empty"),
        top.ece_15.expect("cases were checked non-empty"),
    );
    let classwise = |pick: fn(&FromGroups) -> Option<f64>| -> IndexMap<String, f64> {
        classes
            .iter()
            .zip(&per_class)
            .map(|(c, f)| (c.clone(), pick(f).unwrap_or(0.0)))
            .collect()
    };
    let cw_10 = classwise(|f| f.ece_10.as_ref().map(|e| e.0));
    let cw_15 = classwise(|f| f.ece_15.as_ref().map(|e| e.0));
    let mean = |m: &IndexMap<String, f64>| m.values().sum::<f64>() / k as f64;

    let mut sensitivity = IndexMap::new();
    let mut sensitivity_reason = IndexMap::new();
    let mut specificity = IndexMap::new();
    let mut specificity_reason = IndexMap::new();
    let cm = &tables.confusion;
    for (c, class) in classes.iter().enumerate() {
        let tp = cm[c][c];
        let positives = counts[c];
        let predicted: u64 = cm.iter().map(|row| row[c]).sum();
        let negatives = n - positives;
        let sens = (positives > 0).then(|| tp as f64 / positives as f64);
        let spec =
            (negatives > 0).then(|| (negatives - (predicted - tp)) as f64 / negatives as f64);
        if sens.is_none() {
            sensitivity_reason.insert(class.clone(), NO_CASES_REASON.to_string());
        }
        if spec.is_none() {
            specificity_reason.insert(
                class.clone(),
                "every case is of this class (no negatives)".to_string(),
            );
        }
        sensitivity.insert(class.clone(), sens);
        specificity.insert(class.clone(), spec);
    }
    let defined_sens: Vec<f64> = sensitivity.values().flatten().copied().collect();
    // n > 0, so at least one class has cases and a sensitivity.
    let balanced_accuracy = defined_sens.iter().sum::<f64>() / defined_sens.len() as f64;
    let trace: u64 = (0..k).map(|c| cm[c][c]).sum();

    let report = MulticlassModelReport {
        ovr,
        auroc_macro,
        auroc_macro_reason: macro_reason.clone(),
        auroc_weighted,
        auroc_weighted_reason: macro_reason,
        n_classes_excluded: classes_excluded.len(),
        classes_excluded,
        auroc_hand_till: hand_till.value,
        auroc_hand_till_reason: hand_till.reason,
        hand_till_n_pairs: hand_till.n_pairs,
        hand_till_classes_used: hand_till.used.iter().map(|&c| classes[c].clone()).collect(),
        auroc_macro_bootstrap: None,
        auroc_macro_bootstrap_reason: None,
        auroc_macro_bootstrap_clustered: None,
        auroc_macro_bootstrap_clustered_reason: None,
        subgroups: IndexMap::new(),
        gaps: IndexMap::new(),
        accuracy: trace as f64 / n as f64,
        confusion_matrix: ConfusionMatrix {
            classes: classes.to_vec(),
            counts: tables.confusion.clone(),
        },
        sensitivity_at_argmax: sensitivity,
        sensitivity_at_argmax_reason: sensitivity_reason,
        specificity_at_argmax: specificity,
        specificity_at_argmax_reason: specificity_reason,
        balanced_accuracy,
        n_argmax_ties: tables.argmax_ties,
        brier,
        log_loss: ll.value,
        log_loss_n_clipped: ll.n_clipped,
        log_loss_eps: LOG_LOSS_EPS,
        top_label_ece_10: top_10,
        top_label_ece_15: top_15,
        top_label_ece_10_bins: top_10_bins,
        top_label_ece_15_bins: top_15_bins,
        classwise_ece_10: mean(&cw_10),
        classwise_ece_15: mean(&cw_15),
        classwise_ece_10_per_class: cw_10,
        classwise_ece_15_per_class: cw_15,
    };
    (report, warnings)
}

/// −mean ln clip(p_{i,y_i}, ε, 1 − ε) from the class tables: each class's table, read at the
/// cases of that class, holds the true-class probabilities.
fn true_class_log_loss(scores: &[ScoreTable], k: usize, n: u64) -> LogLoss {
    let (lo, hi) = (LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
    let (mut sum, mut n_clipped) = (0.0, 0usize);
    for (c, t) in scores.iter().enumerate() {
        for (r, &value) in t.values.iter().enumerate() {
            let m = t.row(r, k)[c];
            if m == 0 {
                continue;
            }
            if value < lo || value > hi {
                n_clipped += m as usize;
            }
            sum -= m as f64 * value.clamp(lo, hi).ln();
        }
    }
    LogLoss {
        value: sum / n as f64,
        n_clipped,
    }
}

/// Class `class` against the rest from its tie groups: the binary DeLong block, with the
/// multi-class reason when the class has no cases or every case (`evaluate`'s one-class reason
/// speaks of positives and negatives instead).
fn ovr_report(
    name: &str,
    class: &str,
    groups: &[TieGroup],
    undefined: Option<String>,
    warnings: &mut Vec<String>,
) -> OvrReport {
    let sums = DeLongSums::from_groups(groups);
    let (m, n) = crate::ranks::class_counts(groups);
    let ci_reason = undefined.clone().or_else(|| delong_undefined_reason(m, n));
    OvrReport {
        n_pos: m,
        n_neg: n,
        discrimination: discrimination(
            &format!("{name}: class '{class}' vs rest"),
            &sums,
            undefined,
            ci_reason,
            warnings,
        ),
        clustered: None,
    }
}

/// Hand & Till's M and what it was taken over.
struct HandTill {
    value: Option<f64>,
    reason: Option<String>,
    n_pairs: usize,
    /// Classes with cases, in class order.
    used: Vec<usize>,
}

/// Hand & Till (2001, Mach. Learn. 45:171–186) M = 2/(c(c−1)) Σ_{i<j} [Â(i|j) + Â(j|i)]/2 over
/// the c classes with cases, Â(i|j) being the AUROC of p_i separating the cases of class i from
/// those of class j (sklearn `roc_auc_score(multi_class='ovo', average='macro')`; pROC
/// `multiclass.roc(direction = ">")`).
///
/// Every Â(i|·) comes from one walk of class i's count table: the cases of class j at a value
/// add 2·(class-i cases above it) + (class-i cases at it) to 2·U(i|j) each, exactly as a DeLong
/// V01 placement. O(rows · classes) per class, no per-pair sort.
fn hand_till(scores: &[ScoreTable], counts: &[u64]) -> HandTill {
    let k = counts.len();
    let used: Vec<usize> = (0..k).filter(|&c| counts[c] > 0).collect();
    if used.len() < 2 {
        return HandTill {
            value: None,
            reason: Some(format!(
                "Hand–Till needs at least 2 classes with cases ({} present)",
                used.len()
            )),
            n_pairs: 0,
            used,
        };
    }
    // twice_u[i][j] = 2·U of p_i, class i (positives) against class j (negatives).
    let twice_u: Vec<Vec<u128>> = (0..k)
        .map(|i| {
            let mut twice_u = vec![0u128; k];
            if counts[i] == 0 {
                return twice_u;
            }
            let t = &scores[i];
            let mut i_below = 0u64;
            for r in 0..t.values.len() {
                let row = t.row(r, k);
                let b = u128::from(2 * (counts[i] - i_below - row[i]) + row[i]);
                for (j, &m) in row.iter().enumerate() {
                    if j != i {
                        twice_u[j] += u128::from(m) * b;
                    }
                }
                i_below += row[i];
            }
            twice_u
        })
        .collect();
    let pair_auc = |i: usize, j: usize| {
        twice_u[i][j] as f64 / (2 * counts[i] as u128 * counts[j] as u128) as f64
    };
    let (mut sum, mut n_pairs) = (0.0, 0usize);
    for (a, &i) in used.iter().enumerate() {
        for &j in &used[a + 1..] {
            sum += (pair_auc(i, j) + pair_auc(j, i)) / 2.0;
            n_pairs += 1;
        }
    }
    HandTill {
        value: Some(sum / n_pairs as f64),
        reason: None,
        n_pairs,
        used,
    }
}

/// The argmax decision of every case.
struct Argmax {
    /// `counts[true][predicted]`.
    counts: Vec<Vec<u64>>,
    /// Cases whose maximum probability is attained by two or more classes.
    ties: u64,
    /// max_k p_k per case.
    confidence: Vec<f64>,
    /// 1[argmax = y] per case.
    correct: Vec<bool>,
}

/// Argmax per case, ties to the first class in order (numpy `argmax`).
fn argmax_stats(columns: &[&[f64]], cases: &Cases) -> Argmax {
    let k = columns.len();
    let n = cases.labels.len();
    let mut counts = vec![vec![0u64; k]; k];
    let (mut ties, mut confidence, mut correct) =
        (0u64, Vec::with_capacity(n), Vec::with_capacity(n));
    for (case, &y) in cases.labels.iter().enumerate() {
        let (mut best, mut best_p, mut tied) = (0usize, columns[0][case], false);
        for (c, col) in columns.iter().enumerate().skip(1) {
            let p = col[case];
            if p > best_p {
                (best, best_p, tied) = (c, p, false);
            } else if p == best_p {
                tied = true;
            }
        }
        ties += tied as u64;
        counts[y as usize][best] += 1;
        confidence.push(best_p);
        correct.push(best == y as usize);
    }
    Argmax {
        counts,
        ties,
        confidence,
        correct,
    }
}

/// The macro AUROC of every model on each of `replicates` class-stratified resamples, all
/// models on the same resamples: `result[model][b]`. `columns[model]` holds the sorts of the
/// classes with a defined one-vs-rest AUROC (the same classes for every model: definedness
/// depends only on the class counts, which stratification keeps).
///
/// Replicate b draws from the generator of the binary bootstrap ([`replicate_seeds`],
/// `U32Stream`, Lemire's unbiased method): for each class in class order with c_k > 0 cases,
/// c_k indices uniform in [0, c_k) into that class's cases in input order. Each model's class
/// AUROCs are then exact integer ratios over its existing sort, with every case weighted by
/// how often it was drawn: O(N) per class, no sort per replicate. Replicates run in parallel;
/// the result does not depend on the thread count.
fn macro_replicates(
    cases: &Cases,
    columns: &[&[Ranked]],
    replicates: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let n = cases.labels.len();
    let per_replicate: Vec<Vec<f64>> = replicate_seeds(seed, replicates)
        .par_iter()
        .map_init(
            || vec![0u32; n],
            |weights, &s| {
                weights.fill(0);
                let mut rng = U32Stream::new(s);
                for rows in &cases.rows {
                    let c = rows.len() as u32;
                    for _ in 0..c {
                        weights[rows[rng.below(c) as usize] as usize] += 1;
                    }
                }
                weighted_macros(columns, weights)
            },
        )
        .collect();
    (0..columns.len())
        .map(|m| per_replicate.iter().map(|r| r[m]).collect())
        .collect()
}

/// Each model's macro AUROC (the mean over its defined classes' sorts) with these case weights.
fn weighted_macros(columns: &[&[Ranked]], weights: &[u32]) -> Vec<f64> {
    columns
        .iter()
        .map(|model| {
            model
                .iter()
                .map(|r| weighted_auroc(r, weights))
                .sum::<f64>()
                / model.len() as f64
        })
        .collect()
}

/// AUROC of a sorted column with case weights (times each case was drawn; both classes drawn):
/// each tie group's weighted positives beat the weighted negatives below and tie with its own,
/// over the weighted class totals (m and n again under the class-stratified bootstrap).
fn weighted_auroc(ranked: &Ranked, weights: &[u32]) -> f64 {
    let (mut start, mut neg_below, mut pos_total, mut twice_u) = (0usize, 0u64, 0u64, 0u128);
    for g in &ranked.groups {
        let len = (g.pos + g.neg) as usize;
        let (mut pos, mut neg) = (0u64, 0u64);
        for (&case, &key) in ranked.order[start..start + len]
            .iter()
            .zip(&ranked.keys[start..start + len])
        {
            let w = u64::from(weights[case as usize]);
            if key & 1 == 1 {
                pos += w;
            } else {
                neg += w;
            }
        }
        twice_u += pos as u128 * (2 * neg_below + neg) as u128;
        neg_below += neg;
        pos_total += pos;
        start += len;
    }
    twice_u as f64 / (2 * pos_total as u128 * neg_below as u128) as f64
}

/// The macro AUROCs of a cluster bootstrap, all models on the same resamples.
struct ClusterReplicates {
    /// `macros[model][b]`.
    macros: Vec<Vec<f64>>,
    /// Draws discarded because a class lacked cases or non-cases, over all replicates.
    n_redrawn: u64,
}

/// Draws of one replicate after which the cluster bootstrap gives up (a class confined to so
/// few patients that resamples keep missing it).
const MAX_DRAWS: u64 = 1000;

/// The macro AUROC of every model on each of `replicates` cluster-bootstrap resamples: replicate
/// b draws I patients with replacement from the generator of replicate b of the binary
/// bootstrap (as [`crate::cluster`] does) and keeps all their images; a resample in which a
/// class with a one-vs-rest AUROC has no case, or every case, is drawn again (counted). Each
/// class AUROC is then an exact ratio over the model's existing sort, every image weighted by
/// how often its patient was drawn. `Err` with the reason when there are fewer than 2 patients
/// or a replicate needs more than [`MAX_DRAWS`] draws.
fn macro_cluster_replicates(
    cases: &Cases,
    cc: &ClassClusters,
    columns: &[&[Ranked]],
    replicates: usize,
    seed: u64,
) -> Result<ClusterReplicates, String> {
    let patients = cc.sizes.len();
    if patients < 2 {
        return Err(format!(
            "the cluster bootstrap needs at least 2 patients ({patients} here)"
        ));
    }
    let defined: Vec<usize> = (0..cases.classes.len())
        .filter(|&k| cases.defined(k))
        .collect();
    let n = cases.labels.len();
    let per_replicate: Vec<Option<(Vec<f64>, u64)>> = replicate_seeds(seed, replicates)
        .par_iter()
        .map_init(
            || {
                (
                    vec![0u32; patients],
                    vec![0u64; cases.classes.len()],
                    vec![0u32; n],
                )
            },
            |(drawn, count, weights), &s| {
                let mut rng = U32Stream::new(s);
                let mut draws = 0u64;
                loop {
                    draws += 1;
                    if draws > MAX_DRAWS {
                        return None;
                    }
                    drawn.fill(0);
                    count.fill(0);
                    let mut total = 0u64;
                    for _ in 0..patients {
                        let p = rng.below(patients as u32) as usize;
                        drawn[p] += 1;
                        total += cc.sizes[p];
                        for &(k, m) in &cc.classes_of[p] {
                            count[k as usize] += m;
                        }
                    }
                    if defined.iter().all(|&k| count[k] > 0 && count[k] < total) {
                        break;
                    }
                }
                for (w, &p) in weights.iter_mut().zip(&cc.case_patient) {
                    *w = drawn[p as usize];
                }
                let macros = weighted_macros(columns, weights);
                Some((macros, draws - 1))
            },
        )
        .collect();
    let Some(per_replicate) = per_replicate.into_iter().collect::<Option<Vec<_>>>() else {
        return Err(format!(
            "a resample of the patients lacked a class (or held only one) in {MAX_DRAWS} draws in a row: too few patients per class for the cluster bootstrap"
        ));
    };
    Ok(ClusterReplicates {
        macros: (0..columns.len())
            .map(|m| per_replicate.iter().map(|r| r.0[m]).collect())
            .collect(),
        n_redrawn: per_replicate.iter().map(|r| r.1).sum(),
    })
}

/// Type-7 CI and median of replicate values; `None` if there are none.
fn summarise(values: &[f64], seed: u64) -> Option<BootstrapReport> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    let (ci95, median) = percentile_ci(&mut sorted);
    Some(BootstrapReport {
        n: sorted.len(),
        seed,
        ci95,
        median,
        method: "bootstrap stratified by class (each class's cases resampled with replacement), macro AUROC per replicate, type-7 percentiles".to_string(),
    })
}

/// The image-level bootstrap of the macro AUROC.
const STRATIFIED_METHOD: &str = "bootstrap stratified by class";
/// The patient-level bootstrap of the macro AUROC.
const CLUSTERED_METHOD: &str =
    "cluster bootstrap (patients drawn with replacement, all their images kept)";

/// The paired bootstrap comparison of two models' macro AUROCs from their replicate values on
/// shared resamples (`None` when no bootstrap ran).
fn compare(
    (name_a, macro_a): (&str, Option<f64>),
    (name_b, macro_b): (&str, Option<f64>),
    boot: Option<(&[f64], &[f64])>,
    opts: &MulticlassOptions,
    method: &str,
) -> MacroComparison {
    let diff = macro_a.zip(macro_b).map(|(a, b)| a - b);
    let mut c = MacroComparison {
        a: name_a.to_string(),
        b: name_b.to_string(),
        macro_a,
        macro_b,
        diff,
        ci95_diff: None,
        sd_boot: None,
        z: None,
        p: None,
        n: opts.bootstrap,
        seed: opts.seed,
        method: format!(
            "paired {method} (the same resamples for both models), type-7 percentiles of the differences; z = diff / sd (pROC roc.test method = \"bootstrap\")"
        ),
        reason: None,
        clustered: None,
    };
    let Some(diff) = diff else {
        c.reason = Some(
            "no class has a defined one-vs-rest AUROC, so the macro AUROCs are undefined".into(),
        );
        return c;
    };
    if opts.bootstrap == 0 {
        c.reason = Some("no bootstrap was requested (bootstrap = 0)".into());
        return c;
    }
    let Some((ra, rb)) = boot else {
        c.reason = Some("the bootstrap replicates are missing".into());
        return c;
    };
    let mut diffs: Vec<f64> = ra.iter().zip(rb).map(|(a, b)| a - b).collect();
    c.ci95_diff = Some(percentile_ci(&mut diffs).0);
    if diffs.len() < 2 {
        c.reason = Some("the standard deviation needs at least 2 replicates".into());
        return c;
    }
    let b = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / b;
    let sd = (diffs.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / (b - 1.0)).sqrt();
    c.sd_boot = Some(sd);
    let (z, p, _) = normal::wald(diff, sd);
    (c.z, c.p) = (z, p);
    if z.is_none() {
        c.reason = Some(format!(
            "the replicate differences have zero spread while the macro AUROCs differ by {diff}: z and p are undefined"
        ));
    }
    c
}

/// The figures of a multi-class model a gate may name, with their direction.
const GATE_KEYS: [(&str, Better); 11] = [
    ("auroc_macro", Better::Higher),
    ("auroc_weighted", Better::Higher),
    ("auroc_hand_till", Better::Higher),
    ("accuracy", Better::Higher),
    ("balanced_accuracy", Better::Higher),
    ("brier", Better::Lower),
    ("log_loss", Better::Lower),
    ("top_label_ece_10", Better::Lower),
    ("top_label_ece_15", Better::Lower),
    ("classwise_ece_10", Better::Lower),
    ("classwise_ece_15", Better::Lower),
];

/// Checks a gate key of a multi-class evaluation with these classes: one of the model figures
/// above, or `auroc.<class>` (the class's one-vs-rest AUROC); its direction, or why it is unknown.
pub fn gate_key(classes: &[String], key: &str) -> Result<Better, String> {
    if let Some((_, b)) = GATE_KEYS.iter().find(|(k, _)| *k == key) {
        return Ok(*b);
    }
    if let Some(class) = key.strip_prefix("auroc.") {
        return if classes.iter().any(|c| c == class) {
            Ok(Better::Higher)
        } else {
            Err(format!(
                "'{key}': no class '{class}' (classes: {})",
                classes.join(", ")
            ))
        };
    }
    Err(format!(
        "unknown metric '{key}' for --task multiclass; use one of {} or auroc.<class>",
        GATE_KEYS.map(|(k, _)| k).join(", ")
    ))
}

impl MulticlassReport {
    /// The value of gate key `key` ([`gate_key`]) for `model`, or why there is none.
    pub fn gate_value(&self, model: &str, key: &str) -> Result<f64, String> {
        let m = self
            .models
            .get(model)
            .ok_or_else(|| format!("no model '{model}'"))?;
        let undefined = || format!("{key} is undefined for this model");
        let v = match key {
            "auroc_macro" => m.auroc_macro,
            "auroc_weighted" => m.auroc_weighted,
            "auroc_hand_till" => m.auroc_hand_till,
            "accuracy" => Some(m.accuracy),
            "balanced_accuracy" => Some(m.balanced_accuracy),
            "brier" => Some(m.brier),
            "log_loss" => Some(m.log_loss),
            "top_label_ece_10" => Some(m.top_label_ece_10),
            "top_label_ece_15" => Some(m.top_label_ece_15),
            "classwise_ece_10" => Some(m.classwise_ece_10),
            "classwise_ece_15" => Some(m.classwise_ece_15),
            other => match other.strip_prefix("auroc.").and_then(|c| m.ovr.get(c)) {
                Some(o) => o.discrimination.auroc,
                None => return Err(format!("unknown metric '{key}'")),
            },
        };
        v.filter(|v| v.is_finite()).ok_or_else(undefined)
    }
}
