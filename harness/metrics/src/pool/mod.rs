//! Exact pooling of site results: a federated evaluation in which no site shares case-level
//! data, and the coordinator still gets the report [`evaluate`] would give on the union of all
//! the sites' cases.
//!
//! # Why count tables are enough
//!
//! Every single-model figure of [`evaluate`] — AUROC, its exact fraction and Mann–Whitney U,
//! DeLong's variance and CI, average precision, sensitivity at specificity (interpolated and
//! step), Brier score, log loss, ECE with its bins, the calibration intercept, slope and
//! in-the-large, and per level of each grouping column the subgroup AUROCs with their DeLong CIs
//! and the fairness counts at the threshold — depends only on the multiset of (score, label)
//! pairs, per level for the subgroup figures. [`crate::ranks::Ranked`] reduces the cases to
//! exactly that: a tie table of distinct scores with their numbers of positives and negatives.
//! A site therefore publishes such tables ([`CountTable`]), and the coordinator adds them up
//! score by score, which loses nothing.
//!
//! # The protocol
//!
//! **Round 1.** Every site runs [`summarize`] on its own cases and sends the [`SiteSummary`]
//! (JSON, format [`SITE_FORMAT`]) to the coordinator, who runs [`pool`]. The result is an
//! [`EvalReport`] in exactly `evaluate`'s layout, with the same numbers as `evaluate` on all
//! the cases (`evaluate`'s own statistics, run on the pooled tables), except:
//!
//! * the paired comparisons, which need the second round (each is present, with its numbers
//!   `null` and a `reason`);
//! * the patient-clustered statistics: the summaries hold no patient column (a warning says so).
//!
//! The bootstrap CIs are exact too, for the seed asked: a replicate of the AUROC bootstrap
//! ([`crate::bootstrap`]) draws positions among each class's cases in ascending score order (a
//! tie group's cases are interchangeable), and one of sensitivity at specificity
//! ([`crate::roc_band`]) draws counts at the tie groups' boundaries, so both depend on the count
//! table alone.
//!
//! **Round 2** (the paired DeLong test). The paired covariance needs each case's placements
//! under both models jointly, against the *pooled* cases. The coordinator sends every site the
//! [`PairedRequest`] of [`paired_request`] (format [`REQUEST_FORMAT`]): each model's pooled
//! table and AUROC. Each site places its own cases in the pooled tables ([`paired_site_sums`])
//! and answers with six sums and two counts per pair of models ([`PairedSiteSums`], format
//! [`SUMS_FORMAT`]); sums over disjoint sets of cases add up, and [`pool_paired`] finishes
//! the test with the crate's own [`PairedSums::finish`].
//!
//! # What each message reveals
//!
//! * **Site → coordinator, round 1** ([`SiteSummary`]): the site's numbers of cases, positives
//!   and negatives; the model and grouping column names; the levels present at the site; and,
//!   per model, the number of positives and negatives at each distinct score, over all the
//!   site's cases and within each level. So every distinct score value (rounded to
//!   `score_decimals` when a grid is declared) and the labels at it, but not which case had it.
//!   A score held by one case shows that case's score and label and, found in each grouping
//!   column's tables, its level in every column: with exact scores, where most scores are held
//!   by one case, the tables amount to a row per case and model (score, label, levels — no case
//!   id), and small cells let a case's scores under different models be matched. A score grid
//!   makes cases share scores and prevents this except in small cells; [`check_level_sizes`]
//!   refuses levels of fewer than [`MIN_LEVEL_CASES`] cases (the site can lower it). The
//!   patient (cluster) column is left out.
//! * **Coordinator → sites, round 2** ([`PairedRequest`]): each model's pooled table — the sum
//!   of all the sites' `all` tables — and pooled AUROC. A site that subtracts its own table
//!   learns the class-wise score distribution of all the other sites together (of the other
//!   site, when there are only two).
//! * **Site → coordinator, round 2** ([`PairedSiteSums`]): per pair of models, the site's
//!   numbers of positives and negatives and six sums over its cases of products of centred
//!   placements: how the two models' rankings co-vary at the site, summed. At a site with one
//!   positive (or one negative) case the sums are that case's own placements under both models;
//!   and a site cannot tell an honest request from one made up to learn more from its answers
//!   (answered several times) beyond checking that its own cases fit the tables: answer requests
//!   of a coordinator the sites trust, once per evaluation.
//!
//! # Exactness
//!
//! The pooled tables are the tie tables of the union of the cases, and `evaluate` computes every
//! figure above from tie tables, so round 1 gives the all-cases figures bit for bit. The paired
//! sums are added site by site rather than case by case, so the paired test agrees with the
//! all-cases one to rounding (about 1e-16 relative), not bit for bit.
//!
//! # JSON numbers
//!
//! Scores are written as the shortest decimal that reads back as the same `f64`. The harness
//! reads them back bit for bit (its table reader, `scan_rows`, parses each score with Rust's
//! correctly rounded `str::parse`), as do Python, JavaScript and serde_json with its
//! `float_roundtrip` feature. A reader that does not round correctly (serde_json's default
//! parser) moves about one score in ten with 16–17 significant digits by one unit in the last
//! place (ulp). Such a drift cannot change the order of the scores, so the AUROC, its fraction,
//! U, DeLong, sensitivity at specificity, average precision and the counts stay exact, and the
//! score-valued figures (Brier, log loss, ECE, calibration fit) move by about 1e-16; round 2
//! recognises a score within [`ULP_SLACK`] ulps of a pooled one. Scores with at most 15
//! significant digits — every score on a declared grid of at most 15 decimals — read back
//! exactly with any of these parsers.
//!
//! # Cost
//!
//! The sites' tables of a model are merged by a radix sort of their concatenated rows on the
//! bits of the scores (a few tables, a grouping's levels at one site, by walking them side by
//! side); each level's tables likewise. Then `evaluate`'s statistics run once per model (the
//! models in parallel) on that model's pooled tables (`evaluate_pooled`): no case is rebuilt
//! or sorted again. With exact scores a site's tables hold a row per distinct score, as
//! many numbers as its data: the coordinator reads as much as an all-cases evaluation would
//! and computes the same statistics over as many tie groups, skipping only the sort and the
//! per-case walks; on a declared grid the tables, and the cost, shrink to the grid's size
//! whatever the number of cases. `ci/bench_federated.py` measures both.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use indexmap::IndexMap;
use rayon::prelude::*;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::delong::{AucCounts, GroupPlacement, PairedSums, TiePlacements};
use crate::evaluate::{
    Column, Comparison, EvalInput, EvalOptions, EvalReport, ModelReport, PAIRED_DELONG_METHOD,
    comparison, evaluate_tables,
};
use crate::ranks::{CaseKeys, Ranked, TieGroup, class_counts};

mod error;
mod paired;
mod pooling;
mod site;
mod table;

pub use error::*;
pub use paired::*;
pub use pooling::*;
pub use site::*;
pub use table::*;

/// Format and version of a [`SiteSummary`] (its `format` field).
pub const SITE_FORMAT: &str = "harness-site-summary/2";
/// The first version of [`SITE_FORMAT`], still read: each model's `all` table is always
/// written, even where it is the sum of a grouping's level tables.
pub const SITE_FORMAT_V1: &str = "harness-site-summary/1";
/// Format and version of a [`PairedRequest`] (its `format` field).
pub const REQUEST_FORMAT: &str = "harness-paired-request/1";
/// Format and version of a [`PairedSiteSums`] (its `format` field).
pub const SUMS_FORMAT: &str = "harness-paired-sums/2";
/// The finest score grid: 15 decimals, about the precision of an `f64` probability.
pub const MAX_SCORE_DECIMALS: u32 = 15;

/// `reason` of each paired comparison after round 1.
pub const ROUND1_COMPARISON_REASON: &str = "paired comparison needs the second round (harness pool --request-out, each site answers with harness eval --paired-request, then harness pool --request --sums): the joint behaviour of two models is not in the count tables";

/// How many units in the last place a score may move through JSON and still be recognised in
/// round 2 (see "JSON numbers" in the module doc).
pub const ULP_SLACK: u64 = 4;

/// 10^d for d = 0..=15, each exact in `f64`.
const SCALES: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A score rounded to a grid of `decimals` decimals: `(score · 10^d).round() / 10^d`, rounding
/// halves away from zero, then clamped to `[0, 1]` (with −0 made +0). `d` above
/// [`MAX_SCORE_DECIMALS`] counts as [`MAX_SCORE_DECIMALS`]; a NaN stays NaN. Rounding a
/// rounded score again gives it back, so sites and coordinator agree on the grid.
pub fn round_to_grid(score: f64, decimals: u32) -> f64 {
    let scale = SCALES[decimals.min(MAX_SCORE_DECIMALS) as usize];
    ((score * scale).round() / scale).clamp(0.0, 1.0) + 0.0
}
