//! Exact pooling of multi-class site results.
//!
//! Every multi-class figure but the bootstrap is a function of a model's [`ModelTables`]
//! ([`crate::multiclass::evaluate_tables`]): per class, the count table of its probability by
//! true class; the argmax confusion matrix and ties; the top-label table. Tables add up over
//! sites (counts added at equal values), so a site publishes its tables
//! ([`ClassesSiteSummary`], format [`CLASSES_SITE_FORMAT`]) and [`pool_classes`] gives the
//! all-cases figures: the one-vs-rest AUROCs with DeLong's CIs, the macro, weighted and
//! Hand–Till AUROCs, accuracy, the confusion matrix, sensitivities and specificities at argmax,
//! Brier, log loss, top-label and classwise ECE, and per subgroup level the macro AUROC,
//! accuracy and balanced accuracy with the gaps between levels. The bootstraps (the macro
//! AUROC's CI, the paired comparison of two models' macro AUROCs) resample cases and are not
//! pooled: they are absent, and each comparison says why.
//!
//! What leaves a site: for each model and class, every distinct value of that class's
//! probability with how many cases of each true class had it (not which case); the confusion
//! matrix at argmax; every distinct top-label confidence with how many cases had the argmax
//! right and wrong; the same per subgroup level. No case ids and no patient column; but since a
//! case's probabilities sum to 1, its values in the classes' tables can usually be matched,
//! which shows its probability vector with its true class (the disclosure says so).

use indexmap::IndexMap;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

use crate::multiclass::{
    ModelTables, MulticlassError, MulticlassInput, MulticlassModelReport, MulticlassOptions,
    MulticlassReport, MulticlassSubgroup, ScoreTable, evaluate_tables, model_tables, subgroup_gaps,
    subgroup_rows,
};
use crate::pool::{PoolError, merge as merge_tie_tables};
use crate::ranks::TieGroup;

/// Format and version of a [`ClassesSiteSummary`].
pub const CLASSES_SITE_FORMAT: &str = "harness-site-summary-multiclass/1";

/// What a site publishes of a multi-class evaluation: per model, its [`TablesJson`] over all
/// the site's cases and per level of each subgroup column.
///
/// ```json
/// {"format": "harness-site-summary-multiclass/1", "site": "A", "disclosure": "...",
///  "classes": ["nevus", "melanoma", "keratosis"], "n": 3,
///  "class_counts": {"nevus": 1, "melanoma": 1, "keratosis": 1},
///  "models": {"a": {"all": {"scores": {"nevus": [[0.1, 0, 1, 0], [0.7, 1, 0, 0], ...], ...},
///                           "confusion": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "argmax_ties": 0,
///                           "top_label": [[0.6, 1, 0], [0.7, 2, 0]]},
///                   "groups": {"sex": {"F": {...}, "M": {...}}}}}}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassesSiteSummary {
    /// Always [`CLASSES_SITE_FORMAT`].
    pub format: String,
    /// The site's name, unique among the pooled sites.
    pub site: String,
    /// In plain language, what this file reveals.
    pub disclosure: String,
    /// The class names, in the evaluation's order.
    pub classes: Vec<String>,
    /// Number of cases (images) at the site.
    pub n: u64,
    /// Cases per class.
    pub class_counts: IndexMap<String, u64>,
    /// Per model (in the evaluation's order).
    pub models: IndexMap<String, ClassModelSummary>,
}

/// One model's tables at a site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassModelSummary {
    /// Over all the site's cases.
    pub all: TablesJson,
    /// Per subgroup column, per level present at the site.
    #[serde(default)]
    pub groups: IndexMap<String, IndexMap<String, TablesJson>>,
}

/// [`ModelTables`] as a site file holds them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablesJson {
    /// Per class: rows `[value, cases of class 1, cases of class 2, ...]`, ascending in value.
    pub scores: IndexMap<String, ClassRows>,
    /// `confusion[true][argmax]`, classes in order.
    pub confusion: Vec<Vec<u64>>,
    pub argmax_ties: u64,
    /// Rows `[confidence, argmax right, argmax wrong]`, ascending.
    pub top_label: Vec<(f64, u64, u64)>,
}

/// A class's count table: rows of a value and one count per class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassRows(pub Vec<(f64, Vec<u64>)>);

impl Serialize for ClassRows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Row<'a>(f64, &'a [u64]);
        impl Serialize for Row<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.1.len() + 1))?;
                seq.serialize_element(&self.0)?;
                for c in self.1 {
                    seq.serialize_element(c)?;
                }
                seq.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (v, counts) in &self.0 {
            seq.serialize_element(&Row(*v, counts))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for ClassRows {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowV;
        impl<'de> Visitor<'de> for RowV {
            type Value = (f64, Vec<u64>);
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a row [value, count, count, ...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let value: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("an empty row"))?;
                let mut counts = Vec::new();
                while let Some(c) = seq.next_element::<u64>()? {
                    counts.push(c);
                }
                Ok((value, counts))
            }
        }
        struct Row((f64, Vec<u64>));
        impl<'de> Deserialize<'de> for Row {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_seq(RowV).map(Row)
            }
        }
        let rows: Vec<Row> = Vec::deserialize(deserializer)?;
        Ok(ClassRows(rows.into_iter().map(|r| r.0).collect()))
    }
}

fn input_error(site: &str, reason: String) -> PoolError {
    PoolError::Input {
        site: site.to_string(),
        reason,
    }
}

impl TablesJson {
    fn from_tables(classes: &[String], t: &ModelTables) -> Self {
        let k = classes.len();
        TablesJson {
            scores: classes
                .iter()
                .zip(&t.scores)
                .map(|(c, s)| {
                    let rows = s
                        .values
                        .iter()
                        .enumerate()
                        .map(|(r, &v)| (v, s.row(r, k).to_vec()))
                        .collect();
                    (c.clone(), ClassRows(rows))
                })
                .collect(),
            confusion: t.confusion.clone(),
            argmax_ties: t.argmax_ties,
            top_label: t
                .top_label
                .iter()
                .map(|g| (g.value, g.pos, g.neg))
                .collect(),
        }
    }

    /// The tables, checked: every class's table in class order with one count per class per
    /// row, values distinct, ascending probabilities, rows with cases; each class table holding
    /// the confusion matrix's cases of each class; the top-label table over the same cases.
    /// `Err` is the reason, naming the class and row.
    fn check(&self, classes: &[String]) -> Result<ModelTables, String> {
        let k = classes.len();
        let names: Vec<&String> = self.scores.keys().collect();
        if names.iter().copied().ne(classes.iter()) {
            return Err(format!(
                "its class tables ({}) are not those of the classes, in order",
                names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.confusion.len() != k || self.confusion.iter().any(|r| r.len() != k) {
            return Err(format!("its confusion matrix is not {k} x {k}"));
        }
        // Sums in u128: no count, however large, wraps; more cases than the statistics hold
        // (2^32 - 1) are refused.
        let per_class: Vec<u128> = self
            .confusion
            .iter()
            .map(|r| r.iter().map(|&x| u128::from(x)).sum())
            .collect();
        let n: u128 = per_class.iter().sum();
        if n == 0 {
            return Err("it has no cases".into());
        }
        if n > u128::from(u32::MAX) {
            return Err(format!(
                "its confusion matrix holds {n} cases: at most {} can be evaluated",
                u32::MAX
            ));
        }
        let per_class: Vec<u64> = per_class.iter().map(|&c| c as u64).collect();
        let n = n as u64;
        let value_ok =
            |v: f64, prev: Option<f64>| (0.0..=1.0).contains(&v) && prev.is_none_or(|p| p < v);
        let mut scores = Vec::with_capacity(k);
        for (class, rows) in &self.scores {
            let mut values = Vec::with_capacity(rows.0.len());
            let mut counts = Vec::with_capacity(rows.0.len() * k);
            let mut totals = vec![0u64; k];
            for (r, (v, c)) in rows.0.iter().enumerate() {
                let at = || format!("class '{class}', row {}", r + 1);
                if c.len() != k {
                    return Err(format!("{}: {} counts for {k} classes", at(), c.len()));
                }
                if !value_ok(*v, values.last().copied()) {
                    return Err(format!(
                        "{}: value {v} is not a probability above the previous row's",
                        at()
                    ));
                }
                if c.iter().all(|&x| x == 0) {
                    return Err(format!("{}: value {v} has no cases", at()));
                }
                for (t, &x) in totals.iter_mut().zip(c) {
                    *t = t
                        .checked_add(x)
                        .ok_or_else(|| format!("{}: counts overflow", at()))?;
                }
                values.push(*v + 0.0);
                counts.extend_from_slice(c);
            }
            if totals != per_class {
                return Err(format!(
                    "class '{class}': its table holds {totals:?} cases per class, the confusion matrix {per_class:?}"
                ));
            }
            scores.push(ScoreTable { values, counts });
        }
        let mut top_label: Vec<TieGroup> = Vec::with_capacity(self.top_label.len());
        for (r, &(v, pos, neg)) in self.top_label.iter().enumerate() {
            if !value_ok(v, top_label.last().map(|g| g.value)) || (pos == 0 && neg == 0) {
                return Err(format!(
                    "top_label row {}: value {v} with {pos} right and {neg} wrong is not a probability above the previous row's with cases",
                    r + 1
                ));
            }
            top_label.push(TieGroup {
                value: v + 0.0,
                pos,
                neg,
            });
        }
        let (right, total) = top_label.iter().fold((0u128, 0u128), |(r, t), g| {
            (
                r + u128::from(g.pos),
                t + u128::from(g.pos) + u128::from(g.neg),
            )
        });
        let trace: u128 = (0..k).map(|c| u128::from(self.confusion[c][c])).sum();
        if total != u128::from(n) || right != trace {
            return Err(format!(
                "top_label holds {total} cases ({right} right), the confusion matrix {n} ({trace} right)"
            ));
        }
        if self.argmax_ties > n {
            return Err(format!("{} argmax ties among {n} cases", self.argmax_ties));
        }
        Ok(ModelTables {
            scores,
            confusion: self.confusion.clone(),
            argmax_ties: self.argmax_ties,
            top_label,
        })
    }
}

/// The disclosure sentence of a summary with these subgroup columns.
fn disclosure(groups: &[&str], min_level_cases: u64) -> String {
    let within = if groups.is_empty() {
        String::new()
    } else {
        format!(" and within each level of {}", groups.join(", "))
    };
    format!(
        "For each model and class, this file reveals every distinct value of that class's probability exactly as scored, with how many cases of each true class had it (but not which case), the confusion matrix at argmax, and every distinct top-label confidence with how many cases had the argmax right and wrong, over all of this site's cases{within}. A value held by a single case, or a level with few cases, shows those cases' probabilities and classes; and since a case's probabilities sum to 1, its values in the different classes' tables can usually be matched, which shows its whole probability vector with its true class (a row per case and model, without a case id). It holds no case ids and no patient column; {}",
        crate::pool::level_rule(min_level_cases)
    )
}

/// A site's summary of its multi-class cases (round 1): every model's tables over all cases
/// and per level of each subgroup column (the patient column, if any, is not read).
///
/// A subgroup column with a level of fewer than `min_level_cases` cases is refused
/// ([`crate::pool::check_level_sizes`]).
///
/// # Errors
/// [`MulticlassError`] when the input is not one valid multi-class evaluation, or a level is
/// too small ([`MulticlassError::Disclosure`]).
pub fn summarize_classes(
    input: &MulticlassInput,
    site: &str,
    min_level_cases: u64,
) -> Result<ClassesSiteSummary, MulticlassError> {
    input.validate()?;
    crate::pool::check_level_sizes(
        site,
        input.labels.len() as u64,
        &input.groupings,
        min_level_cases,
    )
    .map_err(|e| MulticlassError::Disclosure(e.to_string()))?;
    let all = model_tables(input);
    let mut groups: Vec<IndexMap<String, IndexMap<String, TablesJson>>> =
        vec![IndexMap::new(); input.models.len()];
    for g in &input.groupings {
        for (level, rows) in subgroup_rows(g) {
            let owned = input.subset(&rows);
            for (m, t) in model_tables(&owned.input(input)).iter().enumerate() {
                groups[m]
                    .entry(g.name.to_string())
                    .or_default()
                    .insert(level.clone(), TablesJson::from_tables(input.classes, t));
            }
        }
    }
    let mut counts = vec![0u64; input.classes.len()];
    for &y in input.labels {
        counts[y as usize] += 1;
    }
    let names: Vec<&str> = input.groupings.iter().map(|g| g.name).collect();
    Ok(ClassesSiteSummary {
        format: CLASSES_SITE_FORMAT.to_string(),
        site: site.to_string(),
        disclosure: disclosure(&names, min_level_cases),
        classes: input.classes.to_vec(),
        n: input.labels.len() as u64,
        class_counts: input.classes.iter().cloned().zip(counts).collect(),
        models: input
            .models
            .iter()
            .zip(all.iter().zip(groups))
            .map(|((name, _), (t, groups))| {
                (
                    name.to_string(),
                    ClassModelSummary {
                        all: TablesJson::from_tables(input.classes, t),
                        groups,
                    },
                )
            })
            .collect(),
    })
}

/// Grouping column → level → a model's tables on the level's cases.
type LevelTables = IndexMap<String, IndexMap<String, ModelTables>>;

/// A site's tables, checked.
struct CheckedSite {
    /// Per model: its tables over all the site's cases, and per subgroup level.
    models: Vec<(ModelTables, LevelTables)>,
}

fn check_site(
    s: &ClassesSiteSummary,
    first: &ClassesSiteSummary,
) -> Result<CheckedSite, PoolError> {
    let site = s.site.as_str();
    if s.format != CLASSES_SITE_FORMAT {
        return Err(PoolError::Format {
            site: format!("site '{site}'"),
            expected: CLASSES_SITE_FORMAT.to_string(),
            found: s.format.clone(),
        });
    }
    if site.trim().is_empty() {
        return Err(input_error(site, "the site has no name".into()));
    }
    if s.classes != first.classes {
        return Err(input_error(
            site,
            format!(
                "its classes ({}) are not those of site '{}' ({}), in order",
                s.classes.join(", "),
                first.site,
                first.classes.join(", ")
            ),
        ));
    }
    if s.classes.len() < 3 {
        return Err(input_error(
            site,
            format!(
                "{} classes: a multi-class evaluation has at least 3",
                s.classes.len()
            ),
        ));
    }
    if let Some(c) = s
        .classes
        .iter()
        .enumerate()
        .find_map(|(i, c)| s.classes[..i].contains(c).then_some(c))
    {
        return Err(input_error(site, format!("class '{c}' is listed twice")));
    }
    if s.models.is_empty() {
        return Err(input_error(site, "it holds no model".into()));
    }
    let listed: u128 = s.class_counts.values().map(|&c| u128::from(c)).sum();
    if listed != u128::from(s.n) {
        return Err(input_error(
            site,
            format!(
                "its class_counts add up to {listed} cases, its n is {}",
                s.n
            ),
        ));
    }
    if s.class_counts.keys().ne(s.classes.iter()) {
        return Err(input_error(
            site,
            "its class_counts are not keyed by its classes, in order".into(),
        ));
    }
    let models: Vec<String> = s.models.keys().cloned().collect();
    let expected: Vec<String> = first.models.keys().cloned().collect();
    if models != expected {
        return Err(PoolError::Models {
            site: site.to_string(),
            expected,
            found: models,
        });
    }
    let table = |t: &TablesJson, model: &str, grouping: Option<&str>, level: Option<&str>| {
        t.check(&s.classes)
            .map_err(|r| PoolError::table_at(r, site, model, grouping, level))
    };
    let mut out = Vec::new();
    let first_groups: Vec<&String> = first
        .models
        .values()
        .next()
        .map(|m| m.groups.keys().collect())
        .unwrap_or_default();
    for (model, m) in &s.models {
        let all = table(&m.all, model, None, None)?;
        let n: u64 = all.confusion.iter().flatten().sum();
        let counts: Vec<u64> = all.confusion.iter().map(|r| r.iter().sum()).collect();
        if n != s.n || counts.iter().ne(s.class_counts.values()) {
            return Err(input_error(
                site,
                format!(
                    "model '{model}' holds {n} cases ({counts:?} per class), the site {} ({:?})",
                    s.n,
                    s.class_counts.values().collect::<Vec<_>>()
                ),
            ));
        }
        let found: Vec<&String> = m.groups.keys().collect();
        if found != first_groups {
            return Err(PoolError::Groupings {
                site: site.to_string(),
                model: model.clone(),
                expected: first_groups.iter().map(|s| s.to_string()).collect(),
                found: found.iter().map(|s| s.to_string()).collect(),
            });
        }
        let mut groups = IndexMap::new();
        for (g, levels) in &m.groups {
            let mut checked = IndexMap::new();
            // Each class's cases over the levels: those of the whole site.
            let mut total = vec![0u128; s.classes.len()];
            for (level, t) in levels {
                let t = table(t, model, Some(g), Some(level))?;
                for (x, row) in total.iter_mut().zip(&t.confusion) {
                    *x += row.iter().map(|&c| u128::from(c)).sum::<u128>();
                }
                checked.insert(level.clone(), t);
            }
            if total.iter().ne(counts
                .iter()
                .map(|&c| u128::from(c))
                .collect::<Vec<_>>()
                .iter())
            {
                return Err(input_error(
                    site,
                    format!(
                        "model '{model}': the levels of '{g}' hold {total:?} cases per class, the site {counts:?}"
                    ),
                ));
            }
            // Every table, not only the class counts: the levels' tables add up to the site's.
            let levels: Vec<&ModelTables> = checked.values().collect();
            let sum = add_tables(&levels, s.classes.len()).map_err(|r| input_error(site, r))?;
            if sum != all {
                return Err(input_error(
                    site,
                    format!(
                        "model '{model}': the tables of the levels of '{g}' do not add up to the model's tables over all the site's cases"
                    ),
                ));
            }
            groups.insert(g.clone(), checked);
        }
        out.push((all, groups));
    }
    Ok(CheckedSite { models: out })
}

/// More cases over all the sites than the statistics hold (2^32 - 1) are refused.
fn check_total(sites: &[ClassesSiteSummary]) -> Result<(), PoolError> {
    let cases: u128 = sites.iter().map(|s| u128::from(s.n)).sum();
    if cases > u128::from(u32::MAX) {
        return Err(PoolError::TooManyCases { cases });
    }
    Ok(())
}

/// The tables of several sites added up.
fn add_tables(tables: &[&ModelTables], k: usize) -> Result<ModelTables, String> {
    let overflow = || "the pooled counts overflow a 64-bit count".to_string();
    let scores = (0..k)
        .map(|c| {
            let mut rows: Vec<(f64, &[u64])> = tables
                .iter()
                .flat_map(|t| {
                    let s = &t.scores[c];
                    s.values
                        .iter()
                        .enumerate()
                        .map(move |(r, &v)| (v, s.row(r, k)))
                })
                .collect();
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut out = ScoreTable {
                values: Vec::with_capacity(rows.len()),
                counts: Vec::with_capacity(rows.len() * k),
            };
            for (v, counts) in rows {
                if out.values.last() == Some(&v) {
                    let at = out.counts.len() - k;
                    for (x, &y) in out.counts[at..].iter_mut().zip(counts) {
                        *x = x.checked_add(y).ok_or_else(overflow)?;
                    }
                } else {
                    out.values.push(v);
                    out.counts.extend_from_slice(counts);
                }
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut confusion = vec![vec![0u64; k]; k];
    let mut argmax_ties = 0u64;
    for t in tables {
        for (row, add) in confusion.iter_mut().zip(&t.confusion) {
            for (x, &y) in row.iter_mut().zip(add) {
                *x = x.checked_add(y).ok_or_else(overflow)?;
            }
        }
        argmax_ties = argmax_ties
            .checked_add(t.argmax_ties)
            .ok_or_else(overflow)?;
    }
    let top_label =
        merge_tie_tables(tables.iter().map(|t| t.top_label.as_slice())).ok_or_else(overflow)?;
    Ok(ModelTables {
        scores,
        confusion,
        argmax_ties,
        top_label,
    })
}

/// Every model's tables added up over the sites (what [`pool_classes`] evaluates), for the
/// pooled report's per-class curves.
///
/// # Errors
/// As [`pool_classes`].
pub fn pooled_class_tables(
    sites: &[ClassesSiteSummary],
) -> Result<IndexMap<String, ModelTables>, PoolError> {
    let first = sites.first().ok_or(PoolError::NoSites)?;
    let checked = sites
        .iter()
        .map(|s| check_site(s, first))
        .collect::<Result<Vec<_>, _>>()?;
    check_total(sites)?;
    first
        .models
        .keys()
        .enumerate()
        .map(|(m, name)| {
            let all: Vec<&ModelTables> = checked.iter().map(|c| &c.models[m].0).collect();
            add_tables(&all, first.classes.len())
                .map(|t| (name.clone(), t))
                .map_err(|r| input_error("(pooled)", r))
        })
        .collect()
}

/// Why the bootstraps are absent from a pooled report.
pub const NOT_POOLED_REASON: &str = "the bootstrap resamples cases, and site summaries hold none: the macro AUROC's CI and the paired comparison are not pooled (compare models finding no difference through each site's own run)";

/// Pools the sites' multi-class summaries into the figures one evaluation of all their cases
/// gives (`harness eval --task multiclass`'s layout), except the bootstraps (see the module
/// doc).
///
/// # Errors
/// [`PoolError`] naming the site (and model, subgroup, level) of the first summary that is
/// malformed or does not match the first site's classes, models or subgroup columns, or a
/// repeated site name.
pub fn pool_classes(
    sites: &[ClassesSiteSummary],
    opts: &MulticlassOptions,
) -> Result<MulticlassReport, PoolError> {
    let first = sites.first().ok_or(PoolError::NoSites)?;
    let mut checked = Vec::with_capacity(sites.len());
    for (i, s) in sites.iter().enumerate() {
        if sites[..i].iter().any(|o| o.site == s.site) {
            return Err(PoolError::DuplicateSite {
                site: s.site.clone(),
            });
        }
        // One site's cases sent twice (as the binary pool refuses them): every model's tables
        // identical, with probabilities nearly one per case for some class.
        if let Some(o) = sites[..i]
            .iter()
            .find(|o| o.n == s.n && o.class_counts == s.class_counts && o.models == s.models)
        {
            let continuous = s.models.values().any(|m| {
                m.all
                    .scores
                    .values()
                    .any(|rows| rows.0.len() as u64 * 10 >= s.n * 9)
            });
            if continuous {
                return Err(input_error(
                    &s.site,
                    format!(
                        "its count tables are those of site '{}' for every model, value for value ({} cases): the same cases sent twice would be counted twice. Pool each site's cases once",
                        o.site, s.n
                    ),
                ));
            }
        }
        checked.push(check_site(s, first)?);
    }
    check_total(sites)?;
    let classes = &first.classes;
    let k = classes.len();
    let pooled_error = |reason: String| input_error("(pooled)", reason);
    let mut models = IndexMap::new();
    let mut warnings = Vec::new();
    for (m, name) in first.models.keys().enumerate() {
        let all: Vec<&ModelTables> = checked.iter().map(|c| &c.models[m].0).collect();
        let tables = add_tables(&all, k).map_err(pooled_error)?;
        let (mut report, w) = evaluate_tables(name, classes, &tables);
        warnings.extend(w);
        for grouping in checked[0].models[m].1.keys() {
            let mut levels: Vec<&String> = checked
                .iter()
                .flat_map(|c| c.models[m].1[grouping].keys())
                .collect();
            levels.sort();
            levels.dedup();
            let mut per_level = IndexMap::new();
            for level in levels {
                let at: Vec<&ModelTables> = checked
                    .iter()
                    .filter_map(|c| c.models[m].1[grouping].get(level))
                    .collect();
                let t = add_tables(&at, k).map_err(pooled_error)?;
                let (r, _) = evaluate_tables(name, classes, &t);
                per_level.insert(level.clone(), level_figures(classes, &t, &r));
            }
            report
                .gaps
                .insert(grouping.clone(), subgroup_gaps(&per_level));
            report.subgroups.insert(grouping.clone(), per_level);
        }
        models.insert(name.clone(), report);
    }
    let names: Vec<&String> = models.keys().collect();
    let mut comparisons_macro = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let (ma, mb) = (models[*a].auroc_macro, models[*b].auroc_macro);
            comparisons_macro.push(crate::multiclass::MacroComparison {
                a: (*a).clone(),
                b: (*b).clone(),
                macro_a: ma,
                macro_b: mb,
                diff: ma.zip(mb).map(|(x, y)| x - y),
                ci95_diff: None,
                sd_boot: None,
                z: None,
                p: None,
                n: 0,
                seed: opts.seed,
                method: "pooled from site count tables: no paired bootstrap".to_string(),
                reason: Some(NOT_POOLED_REASON.to_string()),
                clustered: None,
            });
        }
    }
    let class_counts: IndexMap<String, u64> = classes
        .iter()
        .enumerate()
        .map(|(c, name)| {
            (
                name.clone(),
                sites
                    .iter()
                    .map(|s| s.class_counts.get_index(c).map_or(0, |x| *x.1))
                    .sum(),
            )
        })
        .collect();
    warnings.insert(
        0,
        format!(
            "pooled from the count tables of {} site(s) ({}): every figure is that of all their cases, except the bootstraps (not pooled)",
            sites.len(),
            sites.iter().map(|s| s.site.as_str()).collect::<Vec<_>>().join(", ")
        ),
    );
    Ok(MulticlassReport {
        task: "multiclass".to_string(),
        n: sites.iter().map(|s| s.n).sum(),
        classes: classes.clone(),
        class_counts,
        options: MulticlassOptions {
            bootstrap: 0,
            seed: opts.seed,
        },
        models,
        comparisons_macro,
        cluster: None,
        warnings,
    })
}

/// A subgroup level's figures from its pooled tables (no bootstrap CI).
fn level_figures(
    classes: &[String],
    t: &ModelTables,
    r: &MulticlassModelReport,
) -> MulticlassSubgroup {
    MulticlassSubgroup {
        n: t.confusion.iter().flatten().sum(),
        class_counts: classes
            .iter()
            .zip(&t.confusion)
            .map(|(c, row)| (c.clone(), row.iter().sum()))
            .collect(),
        auroc_macro: r.auroc_macro,
        auroc_macro_reason: r.auroc_macro_reason.clone(),
        n_classes_excluded: r.n_classes_excluded,
        auroc_macro_ci95: None,
        ci_method: None,
        ci_reason: None,
        accuracy: r.accuracy,
        balanced_accuracy: r.balanced_accuracy,
    }
}
