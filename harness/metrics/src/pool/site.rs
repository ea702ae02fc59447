//! Round 1: a site's summary ([`SiteSummary`]), written by [`summarize`], read and checked.

use super::*;

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
pub(super) fn n_decimals(d: u32) -> String {
    if d == 1 {
        "1 decimal".to_string()
    } else {
        format!("{d} decimals")
    }
}

pub(super) fn describe_grid(grid: Option<u32>) -> String {
    match grid {
        Some(d) => format!("scores rounded to {}", n_decimals(d)),
        None => "scores as scored (no grid)".to_string(),
    }
}

/// The first score of `table` that is off the grid, if any.
pub(super) fn off_grid(table: &CountTable, decimals: Option<u32>) -> Option<String> {
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
pub(super) fn adds_up(tables: &[&[TieGroup]], total: &[TieGroup]) -> bool {
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
pub(super) fn check_names(input: &EvalInput, site: &str) -> Result<(), PoolError> {
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
