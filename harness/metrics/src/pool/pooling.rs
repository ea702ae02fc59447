//! Pooling: the sites' tables added up and evaluated with `evaluate`'s own statistics ([`pool`]).

use super::*;

// ---------------------------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------------------------

/// Validated site summaries and what they have in common.
pub(super) struct Sites<'s> {
    pub(super) sites: &'s [SiteSummary],
    positives: u64,
    negatives: u64,
    grid: Option<u32>,
    pub(super) models: Vec<&'s str>,
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
    pub(super) fn new(sites: &'s [SiteSummary]) -> Result<Self, PoolError> {
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
    pub(super) fn merged_all(&self, model: usize) -> &[TieGroup] {
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
    pub(super) fn request(&self) -> PairedRequest {
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
    pub(super) fn pairs(&self) -> Vec<[String; 2]> {
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
pub(super) fn pooled_report(
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
