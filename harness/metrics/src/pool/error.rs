//! Why site results cannot be summarised or pooled ([`PoolError`]).

use super::*;

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

    pub(super) fn counts(
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
