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

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why site results cannot be summarised or pooled: the site, model, grouping column and level
/// where the inconsistency is, and what it is.
#[derive(Clone, Debug, PartialEq)]
pub enum PoolError {
    /// A site's cases are not one valid evaluation input (or the site name is empty, or model,
    /// grouping or level names repeat).
    Input {
        /// The site concerned.
        site: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// A file of another format or version than this build reads. `site` names the site, or
    /// says "the paired request".
    Format {
        /// The site concerned.
        site: String,
        /// The format this build reads.
        expected: String,
        /// The format of the file.
        found: String,
    },
    /// Nothing to pool.
    NoSites,
    /// Two site summaries carry the same site name.
    DuplicateSite {
        /// The site concerned.
        site: String,
    },
    /// A site's models are not the first site's, in the same order.
    Models {
        /// The site concerned.
        site: String,
        /// The names expected (those of the first site or model).
        expected: Vec<String>,
        /// The names found.
        found: Vec<String>,
    },
    /// A model's grouping columns are not those of the first site (or of the site's first model).
    Groupings {
        /// The site concerned.
        site: String,
        /// The model concerned.
        model: String,
        /// The names expected (those of the first site or model).
        expected: Vec<String>,
        /// The names found.
        found: Vec<String>,
    },
    /// A site's score grid differs from the first site's, or is finer than
    /// [`MAX_SCORE_DECIMALS`].
    Grid {
        /// The site concerned.
        site: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// A count table is malformed: a score that is not a finite probability, scores not
    /// ascending or repeated, a row without cases, a count that is not a whole number, a score
    /// off the declared grid. Where the table sits is `None` when it was read on its own.
    Table {
        /// The site concerned, when known.
        site: Option<String>,
        /// The model concerned, when it is about one.
        model: Option<String>,
        /// The grouping column concerned, when it is about one.
        grouping: Option<String>,
        /// The level concerned, when it is about one.
        level: Option<String>,
        /// What is wrong, in words.
        reason: String,
    },
    /// Counts that should agree do not: a model's table against the site's numbers of cases,
    /// a grouping's level tables against the `all` table, a level's classes across models.
    Counts {
        /// The site concerned.
        site: String,
        /// The model concerned, when it is about one.
        model: Option<String>,
        /// The grouping column concerned, when it is about one.
        grouping: Option<String>,
        /// The level concerned, when it is about one.
        level: Option<String>,
        /// What is wrong, in words.
        reason: String,
    },
    /// The pooled cases are more than one evaluation holds (2³² − 1).
    TooManyCases {
        /// The number of cases of all the sites together.
        cases: u128,
    },
    /// The paired request is malformed, or does not match the site summaries. `site` is the
    /// site that found it, `None` at the coordinator.
    Request {
        /// The site concerned, when known.
        site: Option<String>,
        /// What is wrong, in words.
        reason: String,
    },
    /// Round 2: the site's cases are not those it summarised in round 1 (a score missing from
    /// the pooled table, more cases at a score than the table holds, a model missing).
    Stale {
        /// The site concerned.
        site: String,
        /// The model concerned.
        model: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// Round 2: a site of the summaries sent no paired sums.
    MissingSums {
        /// The site concerned.
        site: String,
    },
    /// Round 2: a site's paired sums are inconsistent (sent twice, from an unknown site, for
    /// other pairs, with counts that differ from its summary, not finite).
    Sums {
        /// The site concerned.
        site: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// A multi-label pool's problem with one finding (its binary pool's error).
    Finding {
        /// The finding concerned.
        finding: String,
        /// The problem.
        source: Box<PoolError>,
    },
}

/// "site 'A', model 'm', grouping 'sex', level 'F'" from the parts that are known.
fn place(
    site: Option<&str>,
    model: Option<&str>,
    grouping: Option<&str>,
    level: Option<&str>,
) -> String {
    let parts: Vec<String> = [
        ("site", site),
        ("model", model),
        ("grouping", grouping),
        ("level", level),
    ]
    .iter()
    .filter_map(|(what, name)| name.map(|n| format!("{what} '{n}'")))
    .collect();
    parts.join(", ")
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input { site, reason } => write!(f, "site '{site}': {reason}"),
            Self::Format {
                site,
                expected,
                found,
            } => write!(
                f,
                "{site}: format '{found}' is not '{expected}', which this build reads"
            ),
            Self::NoSites => write!(f, "no site summaries to pool"),
            Self::DuplicateSite { site } => write!(
                f,
                "site '{site}' appears twice: every site summary must carry its own site name"
            ),
            Self::Models {
                site,
                expected,
                found,
            } => write!(
                f,
                "site '{site}' has models {found:?}, but the first site has {expected:?}: every site must score the same models, in the same order"
            ),
            Self::Groupings {
                site,
                model,
                expected,
                found,
            } => write!(
                f,
                "site '{site}', model '{model}': grouping columns {found:?}, expected {expected:?}: every site and model must have the same grouping columns, in the same order"
            ),
            Self::Grid { site, reason } => write!(f, "site '{site}': {reason}"),
            Self::Table {
                site,
                model,
                grouping,
                level,
                reason,
            } => {
                let at = place(
                    site.as_deref(),
                    model.as_deref(),
                    grouping.as_deref(),
                    level.as_deref(),
                );
                if at.is_empty() {
                    write!(f, "count table: {reason}")
                } else {
                    write!(f, "{at}: count table: {reason}")
                }
            }
            Self::Counts {
                site,
                model,
                grouping,
                level,
                reason,
            } => write!(
                f,
                "{}: {reason}",
                place(
                    Some(site),
                    model.as_deref(),
                    grouping.as_deref(),
                    level.as_deref()
                )
            ),
            Self::TooManyCases { cases } => write!(
                f,
                "the sites hold {cases} cases together: at most {} can be evaluated",
                u32::MAX
            ),
            Self::Request { site, reason } => match site {
                Some(s) => write!(f, "site '{s}': paired request: {reason}"),
                None => write!(f, "paired request: {reason}"),
            },
            Self::Stale {
                site,
                model,
                reason,
            } => write!(
                f,
                "site '{site}', model '{model}': {reason}: the site's cases changed since its summary"
            ),
            Self::MissingSums { site } => write!(
                f,
                "site '{site}' sent no paired sums: every pooled site must answer the paired request"
            ),
            Self::Sums { site, reason } => write!(f, "site '{site}': paired sums: {reason}"),
            Self::Finding { finding, source } => write!(f, "finding '{finding}': {source}"),
        }
    }
}

/// The message of [`PoolError::Finding`] holds its inner error's, so no `source` is given.
impl std::error::Error for PoolError {}

impl PoolError {
    /// A table error with its place filled in.
    pub(crate) fn table_at(
        reason: String,
        site: &str,
        model: &str,
        grouping: Option<&str>,
        level: Option<&str>,
    ) -> Self {
        PoolError::Table {
            site: Some(site.to_string()),
            model: Some(model.to_string()),
            grouping: grouping.map(str::to_string),
            level: level.map(str::to_string),
            reason,
        }
    }

    fn counts(
        site: &str,
        model: Option<&str>,
        grouping: Option<&str>,
        level: Option<&str>,
        reason: String,
    ) -> Self {
        PoolError::Counts {
            site: site.to_string(),
            model: model.map(str::to_string),
            grouping: grouping.map(str::to_string),
            level: level.map(str::to_string),
            reason,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Count tables
// ---------------------------------------------------------------------------------------------

/// The distinct scores of a set of cases, ascending, each with its numbers of positive and
/// negative cases: the tie table of [`crate::ranks::Ranked`], and all that any single-model
/// figure needs.
///
/// JSON: an array of `[score, positives, negatives]` triples, e.g.
/// `[[0.1, 0, 3], [0.35, 1, 1], [0.9, 2, 0]]`. Reading one refuses a score that is not a finite
/// number in `[0, 1]`, scores that are not strictly ascending (so no score twice), a row with
/// 0 positives and 0 negatives, and counts that are not whole non-negative numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CountTable {
    groups: Vec<TieGroup>,
}

impl CountTable {
    /// A table from `(score, positives, negatives)` rows, checked as when read from JSON.
    ///
    /// # Errors
    /// [`PoolError::Table`] (with no place) naming the first bad row.
    pub fn from_rows(rows: impl IntoIterator<Item = (f64, u64, u64)>) -> Result<Self, PoolError> {
        check_rows(rows.into_iter().map(Ok)).map_err(|reason| PoolError::Table {
            site: None,
            model: None,
            grouping: None,
            level: None,
            reason,
        })
    }

    /// The rows as tie groups, ascending.
    pub fn groups(&self) -> &[TieGroup] {
        &self.groups
    }

    /// The rows as `(score, positives, negatives)`.
    pub fn rows(&self) -> impl Iterator<Item = (f64, u64, u64)> + '_ {
        self.groups.iter().map(|g| (g.value, g.pos, g.neg))
    }

    /// Number of distinct scores.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when the table has no case.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// (positives, negatives) in the table.
    pub fn class_counts(&self) -> (u64, u64) {
        class_counts(&self.groups)
    }
}

/// The checks of a table's rows; `Err` is the reason, naming the row (1-based).
fn check_rows(
    rows: impl Iterator<Item = Result<(f64, u64, u64), String>>,
) -> Result<CountTable, String> {
    let mut groups: Vec<TieGroup> = Vec::new();
    let (mut m, mut n) = (0u64, 0u64);
    for (i, row) in rows.enumerate() {
        let row_no = i + 1;
        let (score, pos, neg) = row.map_err(|r| format!("row {row_no}: {r}"))?;
        if !(0.0..=1.0).contains(&score) {
            return Err(format!(
                "row {row_no}: score {score} is not a probability in [0, 1]"
            ));
        }
        let value = score + 0.0;
        if pos == 0 && neg == 0 {
            return Err(format!(
                "row {row_no}: score {value} has no cases (0 positives and 0 negatives)"
            ));
        }
        if let Some(prev) = groups.last()
            && prev.value >= value
        {
            return Err(format!(
                "row {row_no}: score {value} follows {}: scores must be distinct and ascending",
                prev.value
            ));
        }
        m = m
            .checked_add(pos)
            .ok_or_else(|| format!("row {row_no}: the positives overflow a 64-bit count"))?;
        n = n
            .checked_add(neg)
            .ok_or_else(|| format!("row {row_no}: the negatives overflow a 64-bit count"))?;
        m.checked_add(n)
            .ok_or_else(|| format!("row {row_no}: the cases overflow a 64-bit count"))?;
        groups.push(TieGroup { value, pos, neg });
    }
    Ok(CountTable { groups })
}

impl Serialize for CountTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.groups.len()))?;
        for g in &self.groups {
            seq.serialize_element(&(g.value, g.pos, g.neg))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for CountTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawTable::deserialize(deserializer)?;
        raw.check().map_err(|reason| {
            de::Error::custom(PoolError::Table {
                site: None,
                model: None,
                grouping: None,
                level: None,
                reason,
            })
        })
    }
}

/// A JSON scalar read as it is, so that a malformed table is refused with its place and a
/// plain reason rather than a bare type error.
#[derive(Clone, Debug)]
enum Scalar {
    Float(f64),
    Unsigned(u64),
    Signed(i64),
    Text(String),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Signed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::Other("a boolean"))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other("null"))
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an object"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Scalar {
    fn score(&self) -> Result<f64, String> {
        match self {
            Scalar::Float(v) => Ok(*v),
            Scalar::Unsigned(v) => Ok(*v as f64),
            Scalar::Signed(v) => Ok(*v as f64),
            Scalar::Text(s) => Err(format!("score {s:?} is a string, not a number")),
            Scalar::Other(what) => Err(format!("score is {what}, not a number")),
        }
    }

    fn count(&self, what: &str) -> Result<u64, String> {
        match self {
            Scalar::Unsigned(v) => Ok(*v),
            Scalar::Signed(v) => Err(format!("{what} {v} is negative")),
            Scalar::Float(v) => Err(format!("{what} {v} is not a whole number")),
            Scalar::Text(s) => Err(format!("{what} {s:?} is a string, not a number")),
            Scalar::Other(w) => Err(format!("{what} is {w}, not a number")),
        }
    }
}

/// A count table as read, before its checks: its JSON text. A site's table has a row per
/// distinct score, so with exact scores the tables are about as large as the site's data; they
/// are scanned by hand ([`scan_rows`]) and go through serde only to say what is wrong with a
/// malformed one.
#[derive(Deserialize)]
#[serde(transparent)]
struct RawTable(Box<serde_json::value::RawValue>);

/// The rows of a well-formed table's JSON text, one at a time, each score read correctly
/// rounded (Rust's `str::parse`, like serde_json with `float_roundtrip`); an item `None` (and
/// nothing after it) at anything else: not an array of arrays of three JSON numbers, a count
/// that is not a whole number in JSON integer form, or one that overflows `u64`, or text after
/// the array. The rows' own checks are the consumer's ([`check_rows`]), as they come: no
/// table of rows is made first.
fn scan_rows(text: &str) -> RowScanner<'_> {
    RowScanner {
        b: text.as_bytes(),
        text,
        at: 0,
        state: ScanState::Start,
    }
}

/// The iterator of [`scan_rows`].
struct RowScanner<'t> {
    b: &'t [u8],
    text: &'t str,
    at: usize,
    state: ScanState,
}

#[derive(Clone, Copy, PartialEq)]
enum ScanState {
    /// Before the opening bracket.
    Start,
    /// After a row.
    Next,
    /// After the closing bracket.
    Done,
    /// After the end or the first malformed byte: nothing more.
    Exhausted,
}

impl RowScanner<'_> {
    fn ws(&mut self) {
        while self.at < self.b.len() && matches!(self.b[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.at) == Some(&c)).then(|| self.at += 1)
    }

    fn digits(&mut self) -> bool {
        let start = self.at;
        while self.at < self.b.len() && self.b[self.at].is_ascii_digit() {
            self.at += 1;
        }
        self.at > start
    }

    /// A JSON number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: its text and whether it is
    /// an integer (no fraction or exponent).
    fn number(&mut self) -> Option<(&str, bool)> {
        self.ws();
        let start = self.at;
        if self.b.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        if self.b.get(self.at) == Some(&b'0') {
            self.at += 1;
        } else if !self.digits() {
            return None;
        }
        let mut integer = true;
        if self.b.get(self.at) == Some(&b'.') {
            self.at += 1;
            integer = false;
            if !self.digits() {
                return None;
            }
        }
        if matches!(self.b.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            integer = false;
            if matches!(self.b.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !self.digits() {
                return None;
            }
        }
        Some((&self.text[start..self.at], integer))
    }

    fn count(&mut self) -> Option<u64> {
        match self.number()? {
            (t, true) if !t.starts_with('-') => t.parse().ok(),
            _ => None,
        }
    }

    fn row(&mut self) -> Option<(f64, u64, u64)> {
        self.expect(b'[')?;
        let score: f64 = self.number()?.0.parse().ok()?;
        self.expect(b',')?;
        let pos = self.count()?;
        self.expect(b',')?;
        let neg = self.count()?;
        self.expect(b']')?;
        Some((score, pos, neg))
    }

    /// The next row, `Ok(None)` at the well-formed end, `Err(())` when malformed.
    fn step(&mut self) -> Result<Option<(f64, u64, u64)>, ()> {
        if self.state == ScanState::Start {
            self.expect(b'[').ok_or(())?;
            self.ws();
            if self.b.get(self.at) == Some(&b']') {
                self.at += 1;
                self.state = ScanState::Done;
            }
        } else if self.state == ScanState::Next {
            self.ws();
            match self.b.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    self.state = ScanState::Done;
                }
                _ => return Err(()),
            }
        }
        if self.state == ScanState::Done {
            self.ws();
            return if self.at == self.b.len() {
                Ok(None)
            } else {
                Err(())
            };
        }
        self.state = ScanState::Next;
        self.row().map(Some).ok_or(())
    }
}

impl Iterator for RowScanner<'_> {
    type Item = Option<(f64, u64, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == ScanState::Exhausted {
            return None;
        }
        let step = self.step();
        if !matches!(step, Ok(Some(_))) {
            self.state = ScanState::Exhausted;
        }
        match step {
            Ok(row) => row.map(Some),
            Err(()) => Some(None),
        }
    }
}

/// One row as read: its three values, or how many values it had when not three. Read in place
/// (no allocation per row: a site's table has a row per distinct score).
enum RawRow {
    Triple(Scalar, Scalar, Scalar),
    Len(usize),
}

impl<'de> Deserialize<'de> for RawRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRow;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a [score, positives, negatives] row")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawRow, A::Error> {
                let mut values: [Option<Scalar>; 3] = [None, None, None];
                for (k, slot) in values.iter_mut().enumerate() {
                    match seq.next_element::<Scalar>()? {
                        Some(v) => *slot = Some(v),
                        None => return Ok(RawRow::Len(k)),
                    }
                }
                let mut extra = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    extra += 1;
                }
                Ok(match values {
                    [Some(s), Some(p), Some(n)] if extra == 0 => RawRow::Triple(s, p, n),
                    _ => RawRow::Len(3 + extra),
                })
            }
        }
        deserializer.deserialize_seq(V)
    }
}

impl RawTable {
    fn check(self) -> Result<CountTable, String> {
        let text = self.0.get();
        // Rows are checked as they are scanned; text found malformed before a row fails its
        // check is read again through serde, to say where and what.
        let mut malformed = false;
        let scanned = scan_rows(text).map_while(|row| {
            malformed |= row.is_none();
            row.map(Ok)
        });
        let checked = check_rows(scanned);
        if !malformed {
            return checked;
        }
        // Malformed: read it value by value to say where and what.
        let rows: Vec<RawRow> = serde_json::from_str(text)
            .map_err(|e| format!("not an array of [score, positives, negatives] rows ({e})"))?;
        check_rows(rows.into_iter().map(|row| match row {
            RawRow::Triple(s, p, n) => {
                Ok((s.score()?, p.count("positives")?, n.count("negatives")?))
            }
            RawRow::Len(k) => Err(format!("has {k} values, not [score, positives, negatives]")),
        }))
    }
}

/// The rows of `tables` in ascending score order, as (score bits, table, row) triples: a radix
/// sort ([`crate::ranks::radix_sort`]) on the bits (non-negative doubles sort like their bit
/// patterns), O(R). `None` when a table or the table count does not fit in `u32`.
fn sorted_rows(tables: &[&[TieGroup]]) -> Option<Vec<(u64, u32, u32)>> {
    let fits = u32::try_from(tables.len()).is_ok()
        && tables.iter().all(|t| u32::try_from(t.len()).is_ok());
    if !fits {
        return None;
    }
    let mut keyed = Vec::with_capacity(tables.iter().map(|t| t.len()).sum());
    for (k, t) in tables.iter().enumerate() {
        keyed.extend(
            t.iter()
                .enumerate()
                .map(|(i, g)| (g.value.to_bits(), k as u32, i as u32)),
        );
    }
    Some(crate::ranks::radix_sort(keyed))
}

/// Up to this many tables (typically a grouping's levels at one site) are merged by walking
/// them side by side ([`side_by_side`], O(R·k)); more (typically the sites' tables of a model) by
/// a radix sort, O(R).
const FEW_TABLES: usize = 8;

/// A few tables (each ascending) walked side by side: repeatedly the smallest score among the
/// tables' next rows, with the counts of every table at it; `None` in place of a row whose
/// counts overflow. [`merge`] of a few tables collects it; [`adds_up`] compares it with a total
/// without collecting it.
fn side_by_side<'t>(tables: &'t [&'t [TieGroup]]) -> impl Iterator<Item = Option<TieGroup>> + 't {
    let mut next = vec![0usize; tables.len()];
    std::iter::from_fn(move || {
        let value = tables
            .iter()
            .zip(&next)
            .filter_map(|(t, &i)| t.get(i).map(|g| g.value))
            .reduce(f64::min)?;
        let mut sum = Some(TieGroup {
            value,
            pos: 0,
            neg: 0,
        });
        for (t, i) in tables.iter().zip(next.iter_mut()) {
            if let Some(g) = t.get(*i)
                && g.value == value
            {
                sum = sum.and_then(|s| {
                    Some(TieGroup {
                        pos: s.pos.checked_add(g.pos)?,
                        neg: s.neg.checked_add(g.neg)?,
                        ..s
                    })
                });
                *i += 1;
            }
        }
        Some(sum)
    })
}

/// Merges tables (each ascending) into one: counts added at each score. `None` on overflow.
pub(crate) fn merge<'t>(tables: impl Iterator<Item = &'t [TieGroup]>) -> Option<Vec<TieGroup>> {
    let tables: Vec<&[TieGroup]> = tables.filter(|t| !t.is_empty()).collect();
    if tables.len() <= 1 {
        return Some(tables.first().map(|t| t.to_vec()).unwrap_or_default());
    }
    if tables.len() <= FEW_TABLES {
        // At most a row per row of the tables: reserving that much touches only the pages used,
        // where growing by doubling would copy the rows and touch up to twice as much.
        let mut out = Vec::with_capacity(tables.iter().map(|t| t.len()).sum());
        for row in side_by_side(&tables) {
            out.push(row?);
        }
        return Some(out);
    }
    let rows: Vec<TieGroup> = match sorted_rows(&tables) {
        Some(order) => order
            .into_iter()
            .map(|(_, k, i)| tables[k as usize][i as usize])
            .collect(),
        None => {
            let mut rows = tables.concat();
            rows.sort_by(|a, b| a.value.total_cmp(&b.value));
            rows
        }
    };
    let mut out: Vec<TieGroup> = Vec::with_capacity(rows.len());
    for g in rows {
        match out.last_mut() {
            Some(last) if last.value == g.value => {
                last.pos = last.pos.checked_add(g.pos)?;
                last.neg = last.neg.checked_add(g.neg)?;
            }
            _ => out.push(g),
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Round 1: site summaries
// ---------------------------------------------------------------------------------------------

/// What a site publishes in round 1 (JSON format [`SITE_FORMAT`]): its numbers of cases and,
/// per model, count tables over all its cases and per level of each grouping column. No case
/// ids; what the tables still reveal is in the module doc and the file's `disclosure`. Reading
/// one from JSON checks it ([`SiteSummary::validate`]).
///
/// ```json
/// {"format": "harness-site-summary/2", "site": "A", "score_decimals": 1,
///  "disclosure": "For each model, this file reveals every distinct score value after ...",
///  "n": 6, "positives": 3, "negatives": 3,
///  "models": {
///    "a": {"groups": {"sex": {"F": [[0.2, 0, 1], [0.7, 0, 1], [0.9, 1, 0]],
///                             "M": [[0.2, 0, 1], [0.7, 2, 0]]}}},
///    "b": {"groups": {"sex": {"F": [[0.3, 0, 1], [0.4, 0, 1], [0.8, 1, 0]],
///                             "M": [[0.1, 0, 1], [0.6, 1, 0], [0.8, 1, 0]]}}}}}
/// ```
///
/// A model's `all` table (over all the site's cases; here `a`'s would be
/// `[[0.2, 0, 2], [0.7, 2, 1], [0.9, 1, 0]]`) is written only when the site has no grouping
/// column (`"all": [...], "groups": {}`); otherwise the reader adds it up from the first
/// grouping's levels and checks every other grouping against it. Format 1
/// ([`SITE_FORMAT_V1`]) always wrote it, and is still read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSiteSummary")]
pub struct SiteSummary {
    /// Always [`SITE_FORMAT`]: the format and its version.
    pub format: String,
    /// The site's name, unique among the pooled sites.
    pub site: String,
    /// The declared score grid: every score was rounded to this many decimals
    /// ([`round_to_grid`]) before it was counted; `null` when scores are counted as scored.
    /// All pooled sites must declare the same grid.
    pub score_decimals: Option<u32>,
    /// In plain language, what this file reveals about the site's cases and what it does not.
    pub disclosure: String,
    /// Number of cases at the site.
    pub n: u64,
    /// Number of positive cases (label 1).
    pub positives: u64,
    /// Number of negative cases (label 0).
    pub negatives: u64,
    /// Per model (score column), in the order the site evaluates them: its count tables.
    pub models: IndexMap<String, ModelTables>,
}

/// The count tables of one model at one site.
///
/// JSON (format 2): `{"groups": {...}}` when the site has grouping columns — the `all` table is
/// then the sum of any grouping's level tables and is not written (the reader rebuilds it from
/// the first grouping and checks the others against it) — else `{"all": [...], "groups": {}}`.
/// Format 1 always wrote `all`; a reader accepts it in either format.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelTables {
    /// The model's scores over all the site's cases.
    pub all: CountTable,
    /// Per grouping column (by name, in the site's order), per level present at the site
    /// (sorted by the UTF-8 bytes of its name): the model's scores over the level's cases.
    pub groups: IndexMap<String, IndexMap<String, CountTable>>,
}

impl Serialize for ModelTables {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let derived = !self.groups.is_empty();
        let mut st = serializer.serialize_struct("ModelTables", 2 - derived as usize)?;
        if derived {
            st.skip_field("all")?;
        } else {
            st.serialize_field("all", &self.all)?;
        }
        st.serialize_field("groups", &self.groups)?;
        st.end()
    }
}

/// A [`SiteSummary`] as read, before its checks.
#[derive(Deserialize)]
struct RawSiteSummary {
    format: String,
    site: String,
    score_decimals: Option<u32>,
    disclosure: String,
    n: u64,
    positives: u64,
    negatives: u64,
    models: IndexMap<String, RawModelTables>,
}

#[derive(Deserialize)]
struct RawModelTables {
    #[serde(default)]
    all: Option<RawTable>,
    groups: IndexMap<String, IndexMap<String, RawTable>>,
}

impl TryFrom<RawSiteSummary> for SiteSummary {
    type Error = PoolError;

    fn try_from(raw: RawSiteSummary) -> Result<Self, PoolError> {
        let site = raw.site;
        if raw.format != SITE_FORMAT && raw.format != SITE_FORMAT_V1 {
            return Err(PoolError::Format {
                site: format!("site '{site}'"),
                expected: format!("{SITE_FORMAT}' or '{SITE_FORMAT_V1}"),
                found: raw.format,
            });
        }
        let mut models = IndexMap::new();
        // Per model: whether its `all` table is the sum of its first grouping (format 2).
        let mut derived = Vec::with_capacity(raw.models.len());
        for (model, t) in raw.models {
            derived.push(t.all.is_none());
            let all = match t.all {
                Some(all) => Some(
                    all.check()
                        .map_err(|r| PoolError::table_at(r, &site, &model, None, None))?,
                ),
                None if raw.format == SITE_FORMAT_V1 => {
                    return Err(PoolError::table_at(
                        format!("a '{SITE_FORMAT_V1}' summary needs each model's 'all' table"),
                        &site,
                        &model,
                        None,
                        None,
                    ));
                }
                None => None,
            };
            let mut groups = IndexMap::new();
            for (grouping, levels) in t.groups {
                let mut tables = IndexMap::new();
                for (level, table) in levels {
                    let table = table
                        .check()
                        .and_then(|t| {
                            if t.is_empty() {
                                // It would pool as a level of no cases, which no eval reports.
                                Err("the level has no cases (a summary leaves such levels out)"
                                    .to_string())
                            } else {
                                Ok(t)
                            }
                        })
                        .map_err(|r| {
                            PoolError::table_at(r, &site, &model, Some(&grouping), Some(&level))
                        })?;
                    tables.insert(level, table);
                }
                groups.insert(grouping, tables);
            }
            let all = match all {
                Some(all) => all,
                None => derive_all(&groups)
                    .map_err(|r| PoolError::table_at(r, &site, &model, None, None))?,
            };
            models.insert(model, ModelTables { all, groups });
        }
        // Read from either version, held (and written again) as the current one.
        let summary = SiteSummary {
            format: SITE_FORMAT.to_string(),
            site,
            score_decimals: raw.score_decimals,
            disclosure: raw.disclosure,
            n: raw.n,
            positives: raw.positives,
            negatives: raw.negatives,
            models,
        };
        summary.check(&derived)?;
        Ok(summary)
    }
}

/// The `all` table of a model written without one (format 2): the sum of its first grouping's
/// level tables ([`SiteSummary::validate`] then checks every grouping against it).
fn derive_all(
    groups: &IndexMap<String, IndexMap<String, CountTable>>,
) -> Result<CountTable, String> {
    let (_, levels) = groups.first().ok_or_else(|| {
        "no 'all' table and no grouping column to add it up from: a summary without grouping columns writes 'all'".to_string()
    })?;
    let groups = merge(levels.values().map(CountTable::groups))
        .ok_or_else(|| "the level tables' counts overflow".to_string())?;
    Ok(CountTable { groups })
}

fn check_decimals(site: &str, decimals: Option<u32>) -> Result<(), PoolError> {
    match decimals {
        Some(d) if d > MAX_SCORE_DECIMALS => Err(PoolError::Grid {
            site: site.to_string(),
            reason: format!(
                "a grid of {d} decimals is finer than an f64 probability holds (at most {MAX_SCORE_DECIMALS})"
            ),
        }),
        _ => Ok(()),
    }
}

/// "1 decimal", "2 decimals".
fn n_decimals(d: u32) -> String {
    if d == 1 {
        "1 decimal".to_string()
    } else {
        format!("{d} decimals")
    }
}

fn describe_grid(grid: Option<u32>) -> String {
    match grid {
        Some(d) => format!("scores rounded to {}", n_decimals(d)),
        None => "scores as scored (no grid)".to_string(),
    }
}

/// The first score of `table` that is off the grid, if any.
fn off_grid(table: &CountTable, decimals: Option<u32>) -> Option<String> {
    let d = decimals?;
    table
        .groups
        .iter()
        .find(|g| round_to_grid(g.value, d) != g.value)
        .map(|g| {
            format!(
                "score {} is not on the declared grid of {} (it rounds to {})",
                g.value,
                n_decimals(d),
                round_to_grid(g.value, d)
            )
        })
}

/// True when `tables` (each ascending) add up, score by score, to `total` (a site's check of
/// its level tables against its `all` table, once per grouping and model, on tables as long as
/// the site's data): a few tables are walked side by side without building their sum, more
/// (a grouping with many levels) are merged ([`merge`]) and compared. Counts that overflow do
/// not add up.
fn adds_up(tables: &[&[TieGroup]], total: &[TieGroup]) -> bool {
    if tables.len() > FEW_TABLES {
        return merge(tables.iter().copied()).as_deref() == Some(total);
    }
    side_by_side(tables).eq(total.iter().map(|&row| Some(row)))
}

/// Where two tables first differ, in words.
fn first_difference(found: &[TieGroup], expected: &[TieGroup]) -> String {
    let describe = |g: Option<&TieGroup>| match g {
        Some(g) => format!(
            "score {} with {} positives and {} negatives",
            g.value, g.pos, g.neg
        ),
        None => "nothing".to_string(),
    };
    let k = found
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(found.len().min(expected.len()));
    format!(
        "row {}: the levels add up to {}, the 'all' table has {}",
        k + 1,
        describe(found.get(k)),
        describe(expected.get(k))
    )
}

impl SiteSummary {
    /// Checks that the summary describes one set of cases: the format, the grid (every score
    /// on it), n = positives + negatives, every model's `all` table with the site's numbers of
    /// positives and negatives, every model with the same grouping columns, and the same levels
    /// with the same numbers of positives and negatives in each, and each grouping's level
    /// tables adding up, score by score, to the `all` table.
    ///
    /// # Errors
    /// The first inconsistency, naming the site, model, grouping and level.
    pub fn validate(&self) -> Result<(), PoolError> {
        self.check(&[])
    }

    /// [`SiteSummary::validate`], except that the first grouping of the models flagged in
    /// `derived` (in model order) is not added up again: their `all` table was made as its sum
    /// when the file was read (format 2), so it adds up by construction.
    fn check(&self, derived: &[bool]) -> Result<(), PoolError> {
        let site = self.site.as_str();
        if self.format != SITE_FORMAT {
            return Err(PoolError::Format {
                site: format!("site '{site}'"),
                expected: SITE_FORMAT.to_string(),
                found: self.format.clone(),
            });
        }
        check_decimals(site, self.score_decimals)?;
        if self.positives.checked_add(self.negatives) != Some(self.n) {
            return Err(PoolError::counts(
                site,
                None,
                None,
                None,
                format!(
                    "n is {} but positives + negatives = {} + {}",
                    self.n, self.positives, self.negatives
                ),
            ));
        }
        let mut first: Option<(&str, &ModelTables)> = None;
        for (k, (model, t)) in self.models.iter().enumerate() {
            let all_is_first_grouping = derived.get(k).copied().unwrap_or(false);
            if let Some(reason) = off_grid(&t.all, self.score_decimals) {
                return Err(PoolError::table_at(reason, site, model, None, None));
            }
            let (m, n) = t.all.class_counts();
            if (m, n) != (self.positives, self.negatives) {
                return Err(PoolError::counts(
                    site,
                    Some(model),
                    None,
                    None,
                    format!(
                        "its table counts {m} positives and {n} negatives, but the site has {} and {}",
                        self.positives, self.negatives
                    ),
                ));
            }
            if let Some((first_name, ft)) = first {
                let expected: Vec<String> = ft.groups.keys().cloned().collect();
                let found: Vec<String> = t.groups.keys().cloned().collect();
                if expected != found {
                    return Err(PoolError::Groupings {
                        site: site.to_string(),
                        model: model.clone(),
                        expected,
                        found,
                    });
                }
                for ((grouping, levels), first_levels) in t.groups.iter().zip(ft.groups.values()) {
                    for (level, table) in levels {
                        let here = table.class_counts();
                        let there = first_levels.get(level).map(CountTable::class_counts);
                        if there != Some(here) {
                            return Err(PoolError::counts(
                                site,
                                Some(model),
                                Some(grouping),
                                Some(level),
                                format!(
                                    "the level has (positives, negatives) = {here:?} for this model but {} for model '{first_name}': a level's cases are the same for every model",
                                    there.map_or("no cases".to_string(), |c| format!("{c:?}"))
                                ),
                            ));
                        }
                    }
                    if let Some(level) = first_levels.keys().find(|l| !levels.contains_key(*l)) {
                        return Err(PoolError::counts(
                            site,
                            Some(model),
                            Some(grouping),
                            Some(level),
                            format!(
                                "model '{first_name}' has cases in this level and this model has none: a level's cases are the same for every model"
                            ),
                        ));
                    }
                }
            }
            for (g, (grouping, levels)) in t.groups.iter().enumerate() {
                for (level, table) in levels {
                    if let Some(reason) = off_grid(table, self.score_decimals) {
                        return Err(PoolError::table_at(
                            reason,
                            site,
                            model,
                            Some(grouping),
                            Some(level),
                        ));
                    }
                }
                if g == 0 && all_is_first_grouping {
                    continue;
                }
                let tables: Vec<&[TieGroup]> = levels.values().map(CountTable::groups).collect();
                if !adds_up(&tables, t.all.groups()) {
                    let sum = merge(tables.into_iter());
                    let reason = match sum {
                        None => "the level tables' counts overflow".to_string(),
                        Some(sum) => first_difference(&sum, t.all.groups()),
                    };
                    return Err(PoolError::counts(
                        site,
                        Some(model),
                        Some(grouping),
                        None,
                        format!(
                            "the level tables do not add up to the 'all' table (which format 2 adds up from the first grouping's levels): {reason}"
                        ),
                    ));
                }
            }
            first.get_or_insert((model, t));
        }
        Ok(())
    }
}

/// The plain-language disclosure of a site summary.
fn site_disclosure(decimals: Option<u32>, groupings: &[&str], min_level_cases: u64) -> String {
    let scores = match decimals {
        Some(d) => format!(
            "every distinct score value after rounding to {}, with the number of positive and negative cases at it",
            n_decimals(d)
        ),
        None => "every distinct score value exactly as scored, with the number of positive and negative cases at it".to_string(),
    };
    let columns = if groupings.is_empty() {
        "no grouping columns".to_string()
    } else {
        format!("the grouping columns {}", groupings.join(", "))
    };
    format!(
        "For each model, this file reveals {scores} (but not which case had it), over all of this site's cases and within each level of {columns}; and the site's numbers of cases, positives and negatives. A score held by a single case shows that case's score and label, and, found in each grouping column's tables, its level in every column together: with exact scores most scores are held by one case, so the tables then amount to a row per case (score, label and levels, without a case id) for each model; a level or a label with few cases can also let a case's scores under different models be matched. A score grid (--score-decimals) makes cases share scores and prevents this except in small cells. It holds no case ids and leaves out the patient (cluster) column; {}",
        level_rule(min_level_cases)
    )
}

/// The fewest cases a subgroup level may hold in a site summary unless the site lowers it
/// (`--min-level-cases`): a smaller level shows its cases' scores and labels nearly case by
/// case, and an identifier-like column (one level per patient) would publish every case.
/// DataSHIELD's disclosure filters apply the same kind of rule to tables and subsets.
pub const MIN_LEVEL_CASES: u64 = 5;

/// Refuses a site of fewer than `min` cases in all (its `all` tables would show them nearly
/// case by case, as a small level's would) and a grouping column with a level of fewer than
/// `min` cases, naming the site, the column, how many levels are that small and the smallest;
/// `min` 0 or 1 refuses nothing.
///
/// # Errors
/// [`PoolError::Input`] as said.
pub fn check_level_sizes(
    site: &str,
    cases: u64,
    groupings: &[crate::Grouping],
    min: u64,
) -> Result<(), PoolError> {
    if cases > 0 && cases < min {
        return Err(PoolError::Input {
            site: site.to_string(),
            reason: format!(
                "the site has {cases} case(s), fewer than {min}: its summary would show their scores and labels nearly case by case. Pool it with another site's cases first, or, where publishing them is agreed, lower the minimum with --min-level-cases"
            ),
        });
    }
    for g in groupings {
        let mut counts = vec![0u64; g.levels.len()];
        for &c in g.codes {
            if let Some(n) = counts.get_mut(c as usize) {
                *n += 1;
            }
        }
        // Levels without cases are left out of a summary: nothing to protect.
        let small: Vec<(usize, u64)> = counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0 && n < min)
            .map(|(k, &n)| (k, n))
            .collect();
        if let Some(&(k, n)) = small.iter().min_by_key(|&&(_, n)| n) {
            return Err(PoolError::Input {
                site: site.to_string(),
                reason: format!(
                    "grouping column '{}': {} of its {} levels hold fewer than {min} cases (level '{}': {n}); so small a level shows its cases' scores and labels nearly case by case. Leave the column out or merge its small levels, or, where publishing them is agreed, lower the minimum with --min-level-cases",
                    g.name,
                    small.len(),
                    counts.iter().filter(|&&n| n > 0).count(),
                    g.levels[k]
                ),
            });
        }
    }
    Ok(())
}

/// The disclosure's words on the smallest level a summary holds.
pub(crate) fn level_rule(min_level_cases: u64) -> String {
    if min_level_cases > 1 {
        format!(
            "neither the site nor any subgroup level holds fewer than {min_level_cases} cases (smaller ones are refused)."
        )
    } else {
        "no minimum level size was kept (--min-level-cases 1): a level may hold a single case, whose score and label it then shows.".to_string()
    }
}

/// Refuses an empty site name and repeated model, grouping or level names.
fn check_names(input: &EvalInput, site: &str) -> Result<(), PoolError> {
    let err = |reason: String| PoolError::Input {
        site: site.to_string(),
        reason,
    };
    if site.is_empty() {
        return Err(err("the site name is empty".to_string()));
    }
    let mut seen = HashSet::new();
    if let Some((name, _)) = input.models.iter().find(|(n, _)| !seen.insert(*n)) {
        return Err(err(format!("model '{name}' appears twice")));
    }
    let mut seen = HashSet::new();
    if let Some(g) = input.groupings.iter().find(|g| !seen.insert(g.name)) {
        return Err(err(format!("grouping '{}' appears twice", g.name)));
    }
    for g in &input.groupings {
        let mut seen = HashSet::new();
        if let Some(level) = g.levels.iter().find(|l| !seen.insert(l.as_str())) {
            return Err(err(format!(
                "grouping '{}': level '{level}' appears twice",
                g.name
            )));
        }
    }
    Ok(())
}

/// A site's round-1 summary of its cases: per model, the count table of all its cases and of
/// each level of each grouping column (levels without cases are left out; levels are listed in
/// the order of their UTF-8 bytes). The cluster column, if any, is not included.
///
/// With `score_decimals = Some(d)` every score is first rounded with [`round_to_grid`], and
/// everything pooled from the summary is exact for the rounded scores. A grouping column with
/// a level of fewer than `min_level_cases` cases is refused ([`check_level_sizes`]; the
/// disclosure states the minimum).
///
/// # Errors
/// [`PoolError::Input`] when `input` is not valid ([`EvalInput::validate`]), the site name is
/// empty, names repeat, or a level is too small; [`PoolError::Grid`] for a grid finer than
/// [`MAX_SCORE_DECIMALS`].
pub fn summarize(
    input: &EvalInput,
    site: &str,
    score_decimals: Option<u32>,
    min_level_cases: u64,
) -> Result<SiteSummary, PoolError> {
    check_decimals(site, score_decimals)?;
    input.validate().map_err(|e| PoolError::Input {
        site: site.to_string(),
        reason: e.to_string(),
    })?;
    check_names(input, site)?;
    check_level_sizes(
        site,
        input.labels.len() as u64,
        &input.groupings,
        min_level_cases,
    )?;
    let labels = input.labels;
    let positives = labels.iter().filter(|&&y| y).count() as u64;
    let total = labels.len() as u64;
    let codes: Vec<(&[u32], usize)> = input
        .groupings
        .iter()
        .map(|g| (g.codes, g.levels.len()))
        .collect();
    let keys = CaseKeys::new(labels, &codes);
    let models = input
        .models
        .iter()
        .map(|&(name, scores)| {
            let rounded: Vec<f64>;
            let scores = match score_decimals {
                Some(d) => {
                    rounded = scores.iter().map(|&s| round_to_grid(s, d)).collect();
                    &rounded
                }
                None => scores,
            };
            let ranked = Ranked::with_keys(scores, &keys);
            let groups = input
                .groupings
                .iter()
                .enumerate()
                .map(|(k, g)| {
                    let mut tables: Vec<Vec<TieGroup>> = vec![Vec::new(); g.levels.len()];
                    for ((&case, &key), value) in ranked
                        .order
                        .iter()
                        .zip(&ranked.keys)
                        .zip(sorted_values(&ranked))
                    {
                        let table = &mut tables[keys.code(k, key, case) as usize];
                        crate::ranks::push_tied(table, value, key & 1 == 1);
                    }
                    let mut levels: Vec<(&String, Vec<TieGroup>)> = g
                        .levels
                        .iter()
                        .zip(tables)
                        .filter(|(_, t)| !t.is_empty())
                        .collect();
                    levels.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                    let levels = levels
                        .into_iter()
                        .map(|(l, groups)| (l.clone(), CountTable { groups }))
                        .collect();
                    (g.name.to_string(), levels)
                })
                .collect();
            let tables = ModelTables {
                all: CountTable {
                    groups: ranked.groups,
                },
                groups,
            };
            (name.to_string(), tables)
        })
        .collect();
    let groupings: Vec<&str> = input.groupings.iter().map(|g| g.name).collect();
    Ok(SiteSummary {
        format: SITE_FORMAT.to_string(),
        site: site.to_string(),
        score_decimals,
        disclosure: site_disclosure(score_decimals, &groupings, min_level_cases),
        n: total,
        positives,
        negatives: total - positives,
        models,
    })
}

/// The score of each case of `ranked`, in sorted order, read from its tie groups.
fn sorted_values(ranked: &Ranked) -> impl Iterator<Item = f64> + '_ {
    ranked
        .groups
        .iter()
        .flat_map(|g| std::iter::repeat_n(g.value, (g.pos + g.neg) as usize))
}

// ---------------------------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------------------------

/// Validated site summaries and what they have in common.
struct Sites<'s> {
    sites: &'s [SiteSummary],
    positives: u64,
    negatives: u64,
    grid: Option<u32>,
    models: Vec<&'s str>,
    groupings: Vec<&'s str>,
    /// Each model's pooled `all` table, merged once when first asked for (by the request and
    /// by the pooled report alike).
    merged: Vec<std::sync::OnceLock<Vec<TieGroup>>>,
    /// What the pooled report must warn of about the sites themselves ([`site_notes`]).
    notes: Vec<String>,
}

/// Refuses, or notes, sites that look like one site sent twice, and notes site names that
/// differ only in case or surrounding spaces.
///
/// Two sites whose `all` tables are identical for every model, where some model gives nearly
/// every case its own exact score, hold the same cases (two hospitals' cases do not share every
/// continuous score to the last digit): pooled, they would count twice, so that is refused.
/// On a score grid too, as long as nearly every case has a score of its own (a fine grid, few
/// cases). Where the scores are discrete (binary flags, reader ratings, BI-RADS-like grades) or
/// on a grid coarse enough that cases share scores, two sites can share every table by
/// chance: noted, not refused.
/// Fewest distinct scores a model's table must have for two identical tables to be refused as
/// one site's cases sent twice ([`site_notes`]).
const MIN_DISTINCT_FOR_DUPLICATE: u64 = 20;

fn site_notes(sites: &[SiteSummary], grid: Option<u32>) -> Result<Vec<String>, PoolError> {
    let mut notes = Vec::new();
    let mut by_shape: HashMap<(u64, u64, Vec<usize>), Vec<usize>> = HashMap::new();
    for (i, s) in sites.iter().enumerate() {
        let shape = (
            s.n,
            s.positives,
            s.models.values().map(|t| t.all.len()).collect(),
        );
        let earlier = by_shape.entry(shape).or_default();
        let same = earlier.iter().copied().find(|&j| {
            sites[j]
                .models
                .values()
                .zip(s.models.values())
                .all(|(a, b)| a.all.groups() == b.all.groups())
        });
        earlier.push(i);
        let Some(j) = same else { continue };
        let first = &sites[j].site;
        // Nearly one case per distinct score (at least 9 in 10) for some model, over enough
        // scores that a match is no chance (a few cases of a 0/1 flag can match).
        let continuous = s.models.values().any(|t| {
            let distinct = t.all.len() as u64;
            distinct >= MIN_DISTINCT_FOR_DUPLICATE && distinct * 10 >= s.n * 9
        });
        if continuous {
            return Err(PoolError::Input {
                site: s.site.clone(),
                reason: format!(
                    "its count tables are those of site '{first}' for every model, score for score ({} cases, {} positive): the same cases sent twice would be counted twice. Pool each site's cases once",
                    s.n, s.positives
                ),
            });
        }
        let scores = match grid {
            Some(_) => format!("on the {}", describe_grid(grid)),
            None => "of discrete scores".to_string(),
        };
        notes.push(format!(
            "sites '{first}' and '{}' sent the same count tables for every model, {scores}: if they hold the same cases, those are counted twice",
            s.site
        ));
    }
    let mut by_name: HashMap<String, &str> = HashMap::new();
    for s in sites {
        let key = s.site.trim().to_lowercase();
        if let Some(first) = by_name.insert(key, &s.site) {
            notes.push(format!(
                "site names '{first}' and '{}' differ only in case or surrounding spaces: if they are one site, its cases are counted twice",
                s.site
            ));
        }
    }
    Ok(notes)
}

impl<'s> Sites<'s> {
    /// Checks every summary and that they fit together.
    fn new(sites: &'s [SiteSummary]) -> Result<Self, PoolError> {
        let first = sites.first().ok_or(PoolError::NoSites)?;
        let models: Vec<&str> = first.models.keys().map(String::as_str).collect();
        let groupings: Vec<&str> = first
            .models
            .values()
            .next()
            .map(|t| t.groups.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut names = HashSet::new();
        let (mut m, mut n) = (0u128, 0u128);
        for s in sites {
            s.validate()?;
            if !names.insert(s.site.as_str()) {
                return Err(PoolError::DuplicateSite {
                    site: s.site.clone(),
                });
            }
            if s.score_decimals != first.score_decimals {
                return Err(PoolError::Grid {
                    site: s.site.clone(),
                    reason: format!(
                        "its summary has {}, but site '{}' has {}: every site must round to the same grid",
                        describe_grid(s.score_decimals),
                        first.site,
                        describe_grid(first.score_decimals)
                    ),
                });
            }
            if !s
                .models
                .keys()
                .map(String::as_str)
                .eq(models.iter().copied())
            {
                return Err(PoolError::Models {
                    site: s.site.clone(),
                    expected: models.iter().map(|m| m.to_string()).collect(),
                    found: s.models.keys().cloned().collect(),
                });
            }
            for (model, t) in &s.models {
                if !t
                    .groups
                    .keys()
                    .map(String::as_str)
                    .eq(groupings.iter().copied())
                {
                    return Err(PoolError::Groupings {
                        site: s.site.clone(),
                        model: model.clone(),
                        expected: groupings.iter().map(|g| g.to_string()).collect(),
                        found: t.groups.keys().cloned().collect(),
                    });
                }
            }
            m += s.positives as u128;
            n += s.negatives as u128;
        }
        if m + n > u32::MAX as u128 {
            return Err(PoolError::TooManyCases { cases: m + n });
        }
        let notes = site_notes(sites, first.score_decimals)?;
        Ok(Sites {
            notes,
            sites,
            positives: m as u64,
            negatives: n as u64,
            grid: first.score_decimals,
            merged: models.iter().map(|_| std::sync::OnceLock::new()).collect(),
            models,
            groupings,
        })
    }

    fn model_tables(&self, model: usize) -> impl Iterator<Item = &'s ModelTables> + '_ {
        self.sites.iter().map(move |s| &s.models[model])
    }

    /// The pooled `all` table of a model (cannot overflow: the total is at most 2³² − 1).
    fn merged_all(&self, model: usize) -> &[TieGroup] {
        self.merged[model].get_or_init(|| {
            merge(self.model_tables(model).map(|t| t.all.groups())).unwrap_or_default()
        })
    }

    /// A grouping column's pooled levels: their names (the union of the sites' levels, sorted
    /// by their UTF-8 bytes) and each level's pooled table (the sum of the sites' tables of
    /// that level).
    fn level_tables(&self, model: usize, grouping: usize) -> LevelTables {
        let mut levels: BTreeMap<&'s [u8], (&'s str, Vec<&'s [TieGroup]>)> = BTreeMap::new();
        for t in self.model_tables(model) {
            for (level, table) in &t.groups[grouping] {
                levels
                    .entry(level.as_bytes())
                    .or_insert_with(|| (level.as_str(), Vec::new()))
                    .1
                    .push(table.groups());
            }
        }
        let (names, tables) = levels
            .into_values()
            .map(|(name, tables)| {
                let merged = merge(tables.into_iter()).expect(NO_OVERFLOW);
                (name.to_string(), merged)
            })
            .unzip();
        LevelTables { names, tables }
    }

    /// The paired request these summaries call for.
    fn request(&self) -> PairedRequest {
        let models = self
            .models
            .iter()
            .enumerate()
            .map(|(k, &name)| {
                let groups = self.merged_all(k).to_vec();
                let auroc = AucCounts::from_groups(&groups).auroc();
                let table = CountTable { groups };
                (name.to_string(), RequestModel { table, auroc })
            })
            .collect();
        PairedRequest {
            format: REQUEST_FORMAT.to_string(),
            score_decimals: self.grid,
            disclosure: REQUEST_DISCLOSURE.to_string(),
            models,
            pairs: self.pairs(),
        }
    }

    /// Every pair (i < j) in model order, as `evaluate` compares them.
    fn pairs(&self) -> Vec<[String; 2]> {
        let mut pairs = Vec::new();
        for (i, a) in self.models.iter().enumerate() {
            for b in &self.models[i + 1..] {
                pairs.push([a.to_string(), b.to_string()]);
            }
        }
        pairs
    }
}

/// Why pooled counts cannot overflow: `Sites::new` refuses more than 2³² − 1 cases in all.
const NO_OVERFLOW: &str = "at most 2³² − 1 cases in all (checked in Sites::new)";

/// A grouping column's levels, pooled over the sites ([`Sites::level_tables`]).
struct LevelTables {
    /// The levels, sorted by their UTF-8 bytes.
    names: Vec<String>,
    /// Each level's pooled table, in the order of `names`.
    tables: Vec<Vec<TieGroup>>,
}

/// One model's report, as `evaluate` gives it on the union of the sites' cases, from its pooled
/// tables ([`evaluate_tables`]), and the warnings of that evaluation.
///
/// Every figure of a model depends on the multiset of (score, label) pairs, and each grouping
/// column's figures on the multiset of (score, label, level) triples of that column alone: the
/// pooled `all` table and each level's pooled table are all it takes.
fn evaluate_pooled(sites: &Sites, model: usize, opts: &EvalOptions) -> (ModelReport, Vec<String>) {
    let columns: Vec<LevelTables> = (0..sites.groupings.len())
        .map(|g| sites.level_tables(model, g))
        .collect();
    // Each grouping's levels add up to the `all` tables (checked), so the sum of the first
    // one's few pooled level tables is the pooled `all` table: no merge of the sites' `all`
    // tables (when none was made yet).
    if let Some(first) = columns.first()
        && sites.merged[model].get().is_none()
    {
        let total = merge(first.tables.iter().map(Vec::as_slice)).expect(NO_OVERFLOW);
        let _ = sites.merged[model].set(total);
    }
    let names: Vec<Column> = sites
        .groupings
        .iter()
        .zip(&columns)
        .map(|(&name, c)| Column {
            name,
            levels: &c.names,
        })
        .collect();
    let tables: Vec<&[Vec<TieGroup>]> = columns.iter().map(|c| c.tables.as_slice()).collect();
    evaluate_tables(
        sites.models[model],
        sites.merged_all(model),
        &names,
        &tables,
        opts,
    )
}

/// The paired comparisons: after round 1 (`None`), or from the pooled sums of round 2.
fn comparisons(
    sites: &Sites,
    models: &IndexMap<String, ModelReport>,
    paired: Option<&[PairedSums]>,
    warnings: &mut Vec<String>,
) -> Vec<Comparison> {
    let (m, n) = (sites.positives, sites.negatives);
    let auroc = |name: &str| models.get(name).and_then(|r| r.discrimination.auroc);
    let mut out = Vec::new();
    for (k, [a, b]) in sites.pairs().iter().enumerate() {
        let (auc_a, auc_b) = (auroc(a), auroc(b));
        let undefined = m < 2 || n < 2;
        let compared = match paired {
            // The test is undefined whatever the sums: say why as `evaluate` does.
            _ if undefined => Some(comparison(a, b, auc_a, auc_b, None, m, n)),
            Some(sums) => {
                let test = match (auc_a, auc_b, sums.get(k)) {
                    (Some(x), Some(y), Some(s)) => s.finish(x, y),
                    _ => None,
                };
                Some(comparison(a, b, auc_a, auc_b, test, m, n))
            }
            None => None,
        };
        match compared {
            Some((c, warning)) => {
                warnings.extend(warning);
                out.push(c);
            }
            // The AUROCs are known after round 1; their difference's test is not.
            None => out.push(Comparison {
                a: a.clone(),
                b: b.clone(),
                auc_a,
                auc_b,
                auc_diff: None,
                se_diff: None,
                z: None,
                p: None,
                ci95_diff: None,
                method: PAIRED_DELONG_METHOD.to_string(),
                reason: Some(ROUND1_COMPARISON_REASON.to_string()),
                clustered: None,
            }),
        }
    }
    out
}

/// The report of `evaluate` on the pooled cases, with the comparisons of round 1 or 2.
fn pooled_report(
    sites: &Sites,
    opts: &EvalOptions,
    paired: Option<&[PairedSums]>,
) -> Result<EvalReport, PoolError> {
    // Every figure, the bootstraps included, from the pooled tables (see the module doc).
    let results: Vec<(ModelReport, Vec<String>)> = (0..sites.models.len())
        .into_par_iter()
        .map(|k| evaluate_pooled(sites, k, opts))
        .collect();
    let (m, n) = (sites.positives, sites.negatives);
    let total = m + n;
    let mut models = IndexMap::new();
    let mut warnings = Vec::new();
    for (&name, (report, model_warnings)) in sites.models.iter().zip(results) {
        warnings.extend(model_warnings);
        models.insert(name.to_string(), report);
    }
    warnings.extend(sites.notes.iter().cloned());
    let comparisons = comparisons(sites, &models, paired, &mut warnings);
    warnings.push(format!(
        "pooled exactly from the count tables of {} site(s); patient-clustered statistics (Obuchowski variance, cluster bootstrap, clustered paired tests) are not pooled: the site summaries hold no patient column",
        sites.sites.len()
    ));
    if let Some(d) = sites.grid {
        warnings.push(format!(
            "every site rounded its scores to {}: the figures are exact for the rounded scores",
            n_decimals(d)
        ));
    }
    if paired.is_none() && sites.models.len() > 1 && m >= 2 && n >= 2 {
        warnings.push(format!(
            "the paired comparisons are left for the second round: {ROUND1_COMPARISON_REASON}"
        ));
    }
    let mut seen = HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    Ok(EvalReport {
        n: total,
        positives: m,
        negatives: n,
        prevalence: (total > 0).then(|| m as f64 / total as f64),
        options: opts.clone(),
        models,
        comparisons,
        warnings,
    })
}

/// Round 1 at the coordinator: the report of [`evaluate`] on the union of the sites' cases,
/// from their summaries alone, in `evaluate`'s layout; the paired comparisons are there with
/// `null` numbers and a reason (see [`pool_paired`]), the bootstrap CIs, when asked for, are
/// the exact ones of `evaluate` for the seed (see the module doc), and the patient-clustered
/// statistics are left out (a warning says so).
///
/// # Errors
/// [`PoolError`] naming the site, model, grouping and level of the first inconsistency: a
/// summary of another format, two summaries from one site, different models, grouping columns
/// or grids, level tables that do not add up to the `all` table, counts that disagree.
pub fn pool(sites: &[SiteSummary], opts: &EvalOptions) -> Result<EvalReport, PoolError> {
    pooled_report(&Sites::new(sites)?, opts, None)
}

// ---------------------------------------------------------------------------------------------
// Round 2: the paired DeLong test
// ---------------------------------------------------------------------------------------------

const REQUEST_DISCLOSURE: &str = "Sent by the coordinator to every site for the paired comparisons: each model's pooled count table (the number of positive and negative cases at each distinct score over all the sites' cases together) and pooled AUROC. A site that subtracts its own table learns the score distribution by class of all the other sites together (of the other site, when there are only two). It holds no per-site table, no levels and nothing per case.";

const SUMS_DISCLOSURE: &str = "Sent by a site to the coordinator: for each pair of models, the site's numbers of positive and negative cases and six sums over its cases of products of centred DeLong placements (each case's placement among the pooled cases of the other class, minus the pooled AUROC), over its positives and over its negatives. It reveals how the two models' rankings co-vary at this site, summed over its cases; where the site has a single positive (or negative) case, that case's placements under both models. A site cannot check that a request is the honest pooled table beyond its own cases fitting it: answer a trusted coordinator, once per evaluation.";

/// The coordinator's round-2 message to every site (JSON format [`REQUEST_FORMAT`]).
///
/// ```json
/// {"format": "harness-paired-request/1", "score_decimals": 1,
///  "disclosure": "Sent by the coordinator to every site for the paired comparisons: ...",
///  "models": {"a": {"table": [[0.2, 0, 3], [0.5, 0, 1], [0.7, 3, 1], [0.9, 2, 0]], "auroc": 0.94},
///             "b": {"table": [[0.1, 0, 1], [0.3, 0, 1], [0.4, 1, 2], [0.6, 1, 0], [0.8, 3, 1]],
///                   "auroc": 0.82}},
///  "pairs": [["a", "b"]]}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedRequest {
    /// Always [`REQUEST_FORMAT`].
    pub format: String,
    /// The sites' common score grid ([`SiteSummary::score_decimals`]): sites round their scores
    /// to it before placing them in the tables.
    pub score_decimals: Option<u32>,
    /// In plain language, what this request reveals to the sites.
    pub disclosure: String,
    /// Per model, in the sites' order: its pooled table and AUROC.
    pub models: IndexMap<String, RequestModel>,
    /// The pairs of models to compare: every pair (i < j) in model order.
    pub pairs: Vec<[String; 2]>,
}

/// One model in a [`PairedRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestModel {
    /// The pooled table: the sum of every site's `all` table of the model.
    pub table: CountTable,
    /// The pooled AUROC θ the placements are centred on; `null` when the pooled cases have one
    /// class (the paired test is then undefined and the sums are all 0).
    pub auroc: Option<f64>,
}

/// A site's round-2 answer (JSON format [`SUMS_FORMAT`]).
///
/// ```json
/// {"format": "harness-paired-sums/2", "site": "A", "request_sha256": "sha256:9f2c…",
///  "disclosure": "Sent by a site to the coordinator: for each pair of models, ...",
///  "pairs": [{"a": "a", "b": "b", "m": 3, "n": 3,
///             "s10": [0.006799999999999994, 0.013200000000000019, 0.0024000000000000063],
///             "s01": [0.06480000000000001, 0.07120000000000004, -0.02759999999999999]}]}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedSiteSums {
    /// Always [`SUMS_FORMAT`].
    pub format: String,
    /// The site's name, as in its [`SiteSummary`].
    pub site: String,
    /// The request answered: its [`request_digest`]. (Empty when absent: a file of format 1,
    /// which had none, is then refused by its format.)
    #[serde(default)]
    pub request_sha256: String,
    /// In plain language, what these sums reveal.
    pub disclosure: String,
    /// One entry per pair of the request, in its order.
    pub pairs: Vec<PairSums>,
}

/// One pair's sums at one site: [`PairedSums`] with the models' names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairSums {
    /// Model A of the pair.
    pub a: String,
    /// Model B of the pair.
    pub b: String,
    /// The site's number of positives.
    pub m: u64,
    /// The site's number of negatives.
    pub n: u64,
    /// Over the site's positives: [Σ(V10_A − θ_A)², Σ(V10_B − θ_B)², Σ(V10_A − θ_A)(V10_B − θ_B)],
    /// V10 being a positive's placement among the pooled negatives.
    pub s10: [f64; 3],
    /// Over the site's negatives: the same with V01, a negative's placement among the pooled
    /// positives.
    pub s01: [f64; 3],
}

impl PairSums {
    /// The sums, to be added over sites.
    pub fn sums(&self) -> PairedSums {
        PairedSums {
            m: self.m,
            n: self.n,
            s10: self.s10,
            s01: self.s01,
        }
    }
}

/// Each model's pooled table — the sum of the sites' `all` tables — in the sites' model order
/// (after checking the summaries as [`pool`] does): what a report draws each model's ROC
/// curve and reliability from.
///
/// # Errors
/// As [`pool`].
pub fn pooled_tables(sites: &[SiteSummary]) -> Result<IndexMap<String, CountTable>, PoolError> {
    let checked = Sites::new(sites)?;
    Ok(checked
        .models
        .iter()
        .enumerate()
        .map(|(k, &name)| {
            let groups = checked.merged_all(k).to_vec();
            (name.to_string(), CountTable { groups })
        })
        .collect())
}

/// Round 2 at the coordinator: the request to send to every site (after checking the summaries
/// as [`pool`] does): each model's pooled table and AUROC, and every pair i < j of models.
///
/// # Errors
/// As [`pool`].
pub fn paired_request(sites: &[SiteSummary]) -> Result<PairedRequest, PoolError> {
    Ok(Sites::new(sites)?.request())
}

/// What ties a round-2 answer to the request it answers: `sha256:<hex>` of the request in
/// `serde_json`'s compact form (the form `harness pool --request-out` writes; a request
/// re-spaced on its way has the same digest). The coordinator computes it over the request it
/// pools with, so an answer to an older or another request is refused instead of being added
/// in.
pub fn request_digest(request: &impl Serialize) -> String {
    use sha2::{Digest, Sha256};
    /// Feeds what `serde_json` writes to the hash, nothing kept.
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Hashing(Sha256::new());
    // Writing to a hash cannot fail, and a request serialises (plain data, string keys).
    let _ = serde_json::to_writer(&mut w, request);
    sha256_text(w.0.finalize().as_slice())
}

/// [`request_digest`] of a request whose compact JSON `text` already is (checked by the
/// caller), without writing it again.
fn digest_of_compact(text: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    sha256_text(Sha256::digest(text).as_slice())
}

/// `sha256:<hex>`.
fn sha256_text(hash: &[u8]) -> String {
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for b in hash {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// True when two non-negative scores are at most [`ULP_SLACK`] ulps apart.
fn near(a: f64, b: f64) -> bool {
    a.to_bits().abs_diff(b.to_bits()) <= ULP_SLACK
}

/// The row of `table` holding score `s`: the row with exactly this score, or else the only row
/// within [`ULP_SLACK`] ulps of it (a JSON reader may have moved a score by an ulp or two on
/// its way to the coordinator and back). `None` when there is none, or more than one.
fn find_row(table: &[TieGroup], s: f64) -> Option<usize> {
    let k = match table.binary_search_by(|g| g.value.total_cmp(&s)) {
        Ok(k) => return Some(k),
        Err(k) => k,
    };
    let below = table[..k]
        .iter()
        .rev()
        .take_while(|g| near(g.value, s))
        .count();
    let above = table[k..].iter().take_while(|g| near(g.value, s)).count();
    match (below, above) {
        (1, 0) => Some(k - 1),
        (0, 1) => Some(k),
        _ => None,
    }
}

/// Checks a request's own consistency; `site` is who checks. Returns the pooled (m, n).
fn check_request(request: &PairedRequest, site: Option<&str>) -> Result<(u64, u64), PoolError> {
    let err = |reason: String| PoolError::Request {
        site: site.map(str::to_string),
        reason,
    };
    if request.format != REQUEST_FORMAT {
        return Err(PoolError::Format {
            site: match site {
                Some(s) => format!("site '{s}': the paired request"),
                None => "the paired request".to_string(),
            },
            expected: REQUEST_FORMAT.to_string(),
            found: request.format.clone(),
        });
    }
    if let Some(d) = request.score_decimals.filter(|&d| d > MAX_SCORE_DECIMALS) {
        return Err(err(format!(
            "a grid of {d} decimals is finer than {MAX_SCORE_DECIMALS}"
        )));
    }
    let mut classes = None;
    for (name, model) in &request.models {
        if let Some(reason) = off_grid(&model.table, request.score_decimals) {
            return Err(err(format!("model '{name}': {reason}")));
        }
        // The AUROC depends on the order of the scores only, so a reader's drift cannot move it;
        // the request's copy may have drifted by an ulp through JSON.
        let auroc = AucCounts::from_groups(model.table.groups()).auroc();
        let agrees = match (auroc, model.auroc) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-12,
            (a, b) => a == b,
        };
        if !agrees {
            return Err(err(format!(
                "model '{name}': the AUROC is given as {:?} but its table gives {auroc:?}",
                model.auroc
            )));
        }
        let counts = model.table.class_counts();
        if *classes.get_or_insert(counts) != counts {
            return Err(err(format!(
                "model '{name}': its table has (positives, negatives) = {counts:?}, another model's {:?}",
                classes.unwrap_or_default()
            )));
        }
    }
    for [a, b] in &request.pairs {
        if a == b || !request.models.contains_key(a) || !request.models.contains_key(b) {
            return Err(err(format!(
                "pair ['{a}', '{b}'] does not name two models of the request"
            )));
        }
    }
    Ok(classes.unwrap_or_default())
}

/// Round 2 at a site: places each of the site's cases in the request's pooled tables (after
/// rounding to its grid) and sums, per pair, the centred placement products over its positives
/// and its negatives ([`PairedSums`]), with the same placements as `evaluate`
/// ([`TiePlacements`]).
///
/// # Errors
/// [`PoolError::Request`] for a malformed request (an AUROC that is not its table's, a pair
/// naming unknown models); [`PoolError::Input`] for invalid cases; [`PoolError::Stale`] when
/// the site lacks a model of the request, or a score is not in the pooled table, or more cases
/// share a score than the pooled table holds: the site's data changed between the rounds.
pub fn paired_site_sums(
    input: &EvalInput,
    site: &str,
    request: &PairedRequest,
    request_sha256: &str,
) -> Result<PairedSiteSums, PoolError> {
    let (pooled_m, pooled_n) = check_request(request, Some(site))?;
    input.validate().map_err(|e| PoolError::Input {
        site: site.to_string(),
        reason: e.to_string(),
    })?;
    check_names(input, site)?;
    let labels = input.labels;
    let defined = pooled_m > 0 && pooled_n > 0;
    let used: HashSet<&str> = request.pairs.iter().flatten().map(String::as_str).collect();
    // Each used model's centred placement (V − θ) per case: 0 when the test is undefined.
    let mut centred: HashMap<&str, Vec<f64>> = HashMap::new();
    for (name, model) in &request.models {
        if !used.contains(name.as_str()) {
            continue;
        }
        let stale = |reason: String| PoolError::Stale {
            site: site.to_string(),
            model: name.clone(),
            reason,
        };
        let Some(&(_, scores)) = input.models.iter().find(|(n, _)| *n == name) else {
            return Err(PoolError::Request {
                site: Some(site.to_string()),
                reason: format!(
                    "it asks for model '{name}', which is not among the models given here ({}): answer with every model of the site's summary",
                    input
                        .models
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let table = model.table.groups();
        let places: Vec<GroupPlacement> = if defined {
            TiePlacements::new(table).collect()
        } else {
            Vec::new()
        };
        // θ from the table, as the coordinator computes it (checked against the request's).
        let theta = AucCounts::from_groups(table).auroc().unwrap_or(0.0);
        let mut seen = vec![(0u64, 0u64); table.len()];
        let mut v = Vec::with_capacity(labels.len());
        for (case, (&y, &s)) in labels.iter().zip(scores).enumerate() {
            let s = match request.score_decimals {
                Some(d) => round_to_grid(s, d),
                None => s + 0.0,
            };
            let Some(k) = find_row(table, s) else {
                return Err(stale(format!(
                    "the score {s} of case {case} is not in the pooled table (nor within {ULP_SLACK} ulps of exactly one of its scores)"
                )));
            };
            let (count, held) = if y {
                seen[k].0 += 1;
                (seen[k].0, table[k].pos)
            } else {
                seen[k].1 += 1;
                (seen[k].1, table[k].neg)
            };
            if count > held {
                let class = if y { "positives" } else { "negatives" };
                return Err(stale(format!(
                    "the site has at least {count} {class} with score {s}, the pooled table {held}"
                )));
            }
            v.push(match places.get(k) {
                Some(p) if y => p.v10 - theta,
                Some(p) => p.v01 - theta,
                None => 0.0,
            });
        }
        centred.insert(name, v);
    }
    let mut pairs = Vec::with_capacity(request.pairs.len());
    for [a, b] in &request.pairs {
        let (Some(va), Some(vb)) = (centred.get(a.as_str()), centred.get(b.as_str())) else {
            continue; // not reached: every used model was placed above
        };
        let mut sums = PairedSums::default();
        for ((&y, &da), &db) in labels.iter().zip(va).zip(vb) {
            sums.push(y, da, db);
        }
        pairs.push(PairSums {
            a: a.clone(),
            b: b.clone(),
            m: sums.m,
            n: sums.n,
            s10: sums.s10,
            s01: sums.s01,
        });
    }
    Ok(PairedSiteSums {
        format: SUMS_FORMAT.to_string(),
        site: site.to_string(),
        request_sha256: request_sha256.to_string(),
        disclosure: SUMS_DISCLOSURE.to_string(),
        pairs,
    })
}

/// Round 2 at the coordinator: as [`pool`], with the paired comparisons computed exactly from
/// the sites' sums (added over sites, then [`PairedSums::finish`]ed as `evaluate` does).
///
/// # Errors
/// As [`pool`]; [`PoolError::Request`] when `request` is not the one [`paired_request`] makes
/// of `sites`; [`PoolError::MissingSums`] when a site did not answer; [`PoolError::Sums`] when a
/// site answered twice, an answer comes from no pooled site, answers another request (its
/// `request_sha256` is not `request_sha256`) or other pairs, or counts
/// other numbers of positives and negatives than its summary.
pub fn pool_paired(
    sites: &[SiteSummary],
    request: &PairedRequest,
    request_sha256: &str,
    sums: &[PairedSiteSums],
    opts: &EvalOptions,
) -> Result<EvalReport, PoolError> {
    let checked = Sites::new(sites)?;
    check_request(request, None)?;
    matches_request(request, &checked.request())?;
    let totals = site_totals(&checked, request_sha256, sums)?;
    pooled_report(&checked, opts, Some(&totals))
}

/// [`pool_paired`] with the request as the JSON text the sites were sent. With exact scores
/// a request is as large as the pooled data; when its bytes are those of the request made
/// again from `sites` (`serde_json`'s compact form, as `harness pool --request-out` writes it,
/// trailing whitespace aside) it is accepted without being parsed, else it is parsed and
/// checked as [`pool_paired`] checks it. Checked, as in [`pool_paired`], before the sites'
/// sums and before any figure is computed.
///
/// # Errors
/// As [`pool_paired`]; [`PoolError::Request`] when the text is not a paired request.
pub fn pool_paired_json(
    sites: &[SiteSummary],
    request: &[u8],
    sums: &[PairedSiteSums],
    opts: &EvalOptions,
) -> Result<EvalReport, PoolError> {
    let checked = Sites::new(sites)?;
    let expected = checked.request();
    let digest = if written_as(&expected, request.trim_ascii_end()) {
        digest_of_compact(request.trim_ascii_end())
    } else {
        let request: PairedRequest =
            serde_json::from_slice(request).map_err(|e| PoolError::Request {
                site: None,
                reason: format!("not a paired request: {e}"),
            })?;
        check_request(&request, None)?;
        matches_request(&request, &expected)?;
        request_digest(&request)
    };
    let totals = site_totals(&checked, &digest, sums)?;
    pooled_report(&checked, opts, Some(&totals))
}

/// True when `text` is exactly `value` in `serde_json`'s compact form, compared as it is
/// written (nothing allocated: a request is as large as the pooled data).
fn written_as(value: &impl Serialize, text: &[u8]) -> bool {
    /// A writer that checks what it is given against the bytes still expected.
    struct Against<'t> {
        rest: &'t [u8],
        same: bool,
    }
    impl std::io::Write for Against<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            match self.rest.strip_prefix(buf) {
                Some(rest) if self.same => self.rest = rest,
                _ => self.same = false,
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Against {
        rest: text,
        same: true,
    };
    serde_json::to_writer(&mut w, value).is_ok() && w.same && w.rest.is_empty()
}

/// That `request` is the one made from the summaries (`expected`): the same grid, models,
/// tables (counts exactly, scores up to a JSON reader's drift, see the module doc) and pairs.
fn matches_request(request: &PairedRequest, expected: &PairedRequest) -> Result<(), PoolError> {
    let mismatch = |reason: String| {
        Err(PoolError::Request {
            site: None,
            reason: format!("{reason}: it was not made from these site summaries"),
        })
    };
    if request.score_decimals != expected.score_decimals {
        return mismatch(format!(
            "it has {}, the summaries {}",
            describe_grid(request.score_decimals),
            describe_grid(expected.score_decimals)
        ));
    }
    if !request.models.keys().eq(expected.models.keys()) {
        return mismatch(format!(
            "it names the models {:?}, the summaries {:?}",
            request.models.keys().collect::<Vec<_>>(),
            expected.models.keys().collect::<Vec<_>>()
        ));
    }
    for ((name, got), want) in request.models.iter().zip(expected.models.values()) {
        let (g, w) = (got.table.groups(), want.table.groups());
        let same = g.len() == w.len()
            && g.iter()
                .zip(w)
                .all(|(a, b)| (a.pos, a.neg) == (b.pos, b.neg) && near(a.value, b.value));
        if !same {
            return mismatch(format!("model '{name}': its pooled table differs"));
        }
    }
    if request.pairs != expected.pairs {
        return mismatch(format!(
            "it asks for the pairs {:?}, the summaries call for {:?}",
            request.pairs, expected.pairs
        ));
    }
    Ok(())
}

/// The sites' round-2 sums added up, pair by pair, after checking that every pooled site
/// answered once, this request (`request_sha256`), for the pairs the summaries call for, over
/// the cases of its summary.
fn site_totals(
    checked: &Sites,
    request_sha256: &str,
    sums: &[PairedSiteSums],
) -> Result<Vec<PairedSums>, PoolError> {
    let sites = checked.sites;
    let pairs = checked.pairs();
    let mut answers: HashMap<&str, &PairedSiteSums> = HashMap::new();
    for s in sums {
        if s.format != SUMS_FORMAT {
            return Err(PoolError::Format {
                site: format!("site '{}': paired sums", s.site),
                expected: SUMS_FORMAT.to_string(),
                found: s.format.clone(),
            });
        }
        if !sites.iter().any(|x| x.site == s.site) {
            return Err(PoolError::Sums {
                site: s.site.clone(),
                reason: "no pooled site has this name".to_string(),
            });
        }
        if answers.insert(&s.site, s).is_some() {
            return Err(PoolError::Sums {
                site: s.site.clone(),
                reason: "the site answered twice".to_string(),
            });
        }
    }
    let mut totals = vec![PairedSums::default(); pairs.len()];
    for summary in sites {
        let site = &summary.site;
        let Some(answer) = answers.get(site.as_str()) else {
            return Err(PoolError::MissingSums { site: site.clone() });
        };
        let bad = |reason: String| PoolError::Sums {
            site: site.clone(),
            reason,
        };
        if answer.request_sha256 != request_sha256 {
            return Err(bad(format!(
                "it answers another request ({}), not this one ({request_sha256}), or the request was altered on its way: send the site this request and pool its new answer",
                answer.request_sha256
            )));
        }
        let names: Vec<[&str; 2]> = answer
            .pairs
            .iter()
            .map(|p| [p.a.as_str(), p.b.as_str()])
            .collect();
        let wanted: Vec<[&str; 2]> = pairs
            .iter()
            .map(|[a, b]| [a.as_str(), b.as_str()])
            .collect();
        if names != wanted {
            return Err(bad(format!(
                "it answers the pairs {names:?}, the request asks for {wanted:?}"
            )));
        }
        for (p, total) in answer.pairs.iter().zip(totals.iter_mut()) {
            if (p.m, p.n) != (summary.positives, summary.negatives) {
                return Err(bad(format!(
                    "pair {} vs {} counts {} positives and {} negatives, its summary {} and {}: the site's cases changed between the rounds",
                    p.a, p.b, p.m, p.n, summary.positives, summary.negatives
                )));
            }
            let squares = [p.s10[0], p.s10[1], p.s01[0], p.s01[1]];
            if p.s10.iter().chain(&p.s01).any(|v| !v.is_finite())
                || squares.iter().any(|&v| v < 0.0)
            {
                return Err(bad(format!(
                    "pair {} vs {}: the sums {:?} and {:?} are not finite, or a sum of squares is negative",
                    p.a, p.b, p.s10, p.s01
                )));
            }
            *total += p.sums();
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few tables walked side by side give the sum the radix sort gives for many, and the
    /// level check refuses a missing or extra score, other counts, and counts that overflow.
    #[test]
    fn tables_add_up_side_by_side_as_by_radix_sort() {
        let g = |value, pos, neg| TieGroup { value, pos, neg };
        let a = [g(0.1, 1, 0), g(0.5, 0, 2)];
        let b = [g(0.2, 0, 1), g(0.5, 1, 0), g(0.9, 3, 0)];
        let sum = vec![g(0.1, 1, 0), g(0.2, 0, 1), g(0.5, 1, 2), g(0.9, 3, 0)];
        assert_eq!(merge([&a[..], &b[..]].into_iter()), Some(sum.clone()));
        assert_eq!(merge([&b[..], &a[..]].into_iter()), Some(sum.clone()));
        // Three tables: side by side, as two then one more.
        let c = [g(0.05, 0, 1), g(0.9, 1, 1), g(0.95, 2, 0)];
        let two = merge([&a[..], &b[..]].into_iter()).unwrap();
        assert_eq!(
            merge([&a[..], &b[..], &c[..]].into_iter()),
            merge([&two[..], &c[..]].into_iter())
        );
        assert_eq!(merge([&a[..], &[][..]].into_iter()), Some(a.to_vec()));
        assert!(adds_up(&[&b, &a], &sum));
        assert!(
            !adds_up(&[&b, &a], &sum[1..]),
            "a level score the total lacks"
        );
        // More than FEW_TABLES tables: the radix path.
        let many = std::iter::repeat_n(&a[..], FEW_TABLES + 1);
        let times = (FEW_TABLES + 1) as u64;
        assert_eq!(
            merge(many),
            Some(vec![g(0.1, times, 0), g(0.5, 0, 2 * times)])
        );
        assert!(adds_up(&[&a, &b], &sum));
        assert!(
            !adds_up(&[&a, &b], &sum[..3]),
            "a level score the total lacks"
        );
        assert!(!adds_up(&[&a], &sum), "a total score no level has");
        let other = [g(0.1, 1, 0), g(0.2, 0, 1), g(0.5, 2, 2), g(0.9, 3, 0)];
        assert!(!adds_up(&[&a, &b], &other));
        let big = [g(0.5, u64::MAX, 0)];
        let one = [g(0.5, 1, 0)];
        assert!(!adds_up(&[&big, &one], &[g(0.5, 0, 0)]));
        assert_eq!(merge([&big[..], &one[..]].into_iter()), None);
    }

    /// The round-2 fast path takes a request only when its bytes are exactly the compact JSON
    /// of the one made again.
    #[test]
    fn written_as_is_byte_equality_with_the_compact_json() {
        let value = serde_json::json!({"a": [0.1, 1], "b": "x"});
        assert!(written_as(&value, br#"{"a":[0.1,1],"b":"x"}"#));
        for other in [
            &br#"{"a":[0.1,1],"b":"x"} "#[..],
            br#"{"a":[0.1,1],"b":"y"}"#,
            br#"{"a":[0.1,1],"b":"x"#,
            br#"{"a": [0.1,1],"b":"x"}"#,
            b"",
        ] {
            assert!(
                !written_as(&value, other),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    /// Every row scanned, or `None` when the text is malformed anywhere.
    fn scan_all(text: &str) -> Option<Vec<(f64, u64, u64)>> {
        scan_rows(text).collect()
    }

    #[test]
    fn scanned_rows_are_the_json_values() {
        let text =
            " [ [0.1,0,3] ,\n\t[3.5e-1, 1, 1],[0.9000000000000001,2,0],[1,4,0],[1E0,0,1] ]\r\n";
        let rows = scan_all(text).unwrap();
        // The values serde_json (float_roundtrip) reads, bit for bit.
        let expected: Vec<(f64, u64, u64)> = serde_json::from_str(text).unwrap();
        assert_eq!(rows.len(), 5);
        for (a, b) in rows.iter().zip(&expected) {
            assert_eq!((a.0.to_bits(), a.1, a.2), (b.0.to_bits(), b.1, b.2));
        }
        assert_eq!(scan_all("[]"), Some(vec![]));
        assert_eq!(scan_all(" [ ] "), Some(vec![]));
        // Anything else goes to the slow path, which says what is wrong.
        for bad in [
            "",
            "[",
            "[[0.1,0,3]",
            "[[0.1,0,3],]",
            "[[0.1,0]]",
            "[[0.1,0,3,4]]",
            "[[.5,0,1]]",
            "[[01,0,1]]",
            "[[0.5,1.0,1]]",
            "[[0.5,-1,1]]",
            "[[0.5,1e2,1]]",
            "[[\"0.5\",1,1]]",
            "[[NaN,1,1]]",
            "[[0.5,1,1]] x",
            "{}",
            "[[0.5,99999999999999999999,1]]",
            "[[+0.5,1,1]]",
            "[[0.5e,1,1]]",
            "[[0.,1,1]]",
        ] {
            assert_eq!(scan_all(bad), None, "{bad:?}");
        }
        // A malformed table read through the slow path names the row.
        let e = serde_json::from_str::<CountTable>("[[0.5,1,1],[0.6,1.5,0]]").unwrap_err();
        assert!(
            e.to_string()
                .contains("row 2: positives 1.5 is not a whole number"),
            "{e}"
        );
        // Rows are checked as they are scanned: a row that fails its check before the text
        // goes wrong is the one named.
        let e = serde_json::from_str::<CountTable>("[[0.5,0,0],[0.6,1.5,0]]").unwrap_err();
        assert!(
            e.to_string().contains("row 1: score 0.5 has no cases"),
            "{e}"
        );
        let e = serde_json::from_str::<CountTable>("[[0.5,1,1],[0.4,1,0],[0.7,1]]").unwrap_err();
        assert!(
            e.to_string().contains("row 2: score 0.4 follows 0.5"),
            "{e}"
        );
        // Good rows, then a malformed one: the slow path says what is wrong.
        let e = serde_json::from_str::<CountTable>("[[0.5,1,1],[0.6,1,0],[0.7,1]]").unwrap_err();
        assert!(e.to_string().contains("row 3: has 2 values"), "{e}");
    }
}
