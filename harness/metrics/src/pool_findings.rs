//! Exact pooling of multi-label site results: the federated protocol of [`crate::pool`], finding
//! by finding.
//!
//! A multi-label evaluation ([`crate::multilabel`]) is the binary contract on each finding's own
//! label column plus each model's aggregates over the findings. Each finding's figures are
//! therefore pooled exactly as a binary evaluation is: a site publishes, per finding, the binary
//! [`SiteSummary`] of that finding's label column ([`FindingsSiteSummary`], format
//! [`FINDINGS_SITE_FORMAT`]); round 2 sends one [`PairedRequest`] per finding and gets one
//! [`PairedSiteSums`] per finding back. The aggregates are exact too: the macro AUROC is the
//! mean of the pooled per-finding AUROCs, and the micro AUROC is the AUROC of the (label, score)
//! cells of all the findings together, whose count table is the sum of the model's per-finding
//! tables (added over findings as over sites, [`crate::multilabel::summary_from_tables`]).
//!
//! What leaves a site: for each finding, what a binary summary reveals (see [`crate::pool`]).
//! A finding's tables are not linked to another's, but a case whose subgroup levels are unique
//! at its site can be matched across findings through them (the disclosure says so).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::evaluate::{EvalOptions, EvalReport};
use crate::multilabel::{FindingReport, MultilabelInput, MultilabelReport, summary_from_tables};
use crate::pool::{
    PairedRequest, PairedSiteSums, PoolError, SiteSummary, merge as merge_tables, paired_request,
    paired_site_sums, pool, pool_paired, summarize,
};
use crate::ranks::TieGroup;

/// Format and version of a [`FindingsSiteSummary`].
pub const FINDINGS_SITE_FORMAT: &str = "harness-site-summary-multilabel/1";
/// Format and version of a [`FindingsPairedRequest`].
pub const FINDINGS_REQUEST_FORMAT: &str = "harness-paired-request-multilabel/1";
/// Format and version of a [`FindingsPairedSums`].
pub const FINDINGS_SUMS_FORMAT: &str = "harness-paired-sums-multilabel/2";

/// What a site publishes in round 1 of a multi-label evaluation: per finding (in the
/// evaluation's order), the binary site summary of that finding's label column and the models
/// that score it.
///
/// ```json
/// {"format": "harness-site-summary-multilabel/1", "site": "A", "score_decimals": null,
///  "disclosure": "For each finding (its own label column) ...", "n": 6,
///  "findings_order": ["effusion", "nodule"],
///  "findings": {"effusion": {"format": "harness-site-summary/2", "site": "A", ...},
///               "nodule": {"format": "harness-site-summary/2", "site": "A", ...}}}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawFindingsSiteSummary")]
pub struct FindingsSiteSummary {
    /// Always [`FINDINGS_SITE_FORMAT`].
    pub format: String,
    /// The site's name, unique among the pooled sites.
    pub site: String,
    /// The declared score grid of every finding's summary ([`SiteSummary::score_decimals`]).
    pub score_decimals: Option<u32>,
    /// In plain language, what this file reveals.
    pub disclosure: String,
    /// Number of cases (images) at the site.
    pub n: u64,
    /// The findings, in the evaluation's order.
    pub findings_order: Vec<String>,
    /// Per finding, the binary summary of its label column.
    pub findings: IndexMap<String, SiteSummary>,
}

#[derive(Deserialize)]
struct RawFindingsSiteSummary {
    format: String,
    site: String,
    score_decimals: Option<u32>,
    disclosure: String,
    n: u64,
    findings_order: Vec<String>,
    findings: IndexMap<String, SiteSummary>,
}

impl TryFrom<RawFindingsSiteSummary> for FindingsSiteSummary {
    type Error = PoolError;

    fn try_from(raw: RawFindingsSiteSummary) -> Result<Self, PoolError> {
        let s = FindingsSiteSummary {
            format: raw.format,
            site: raw.site,
            score_decimals: raw.score_decimals,
            disclosure: raw.disclosure,
            n: raw.n,
            findings_order: raw.findings_order,
            findings: raw.findings,
        };
        s.validate()?;
        Ok(s)
    }
}

impl FindingsSiteSummary {
    /// Checks the format, that the findings are those of `findings_order`, and that every
    /// finding's summary is this site's, over its `n` cases, on its grid.
    pub fn validate(&self) -> Result<(), PoolError> {
        let site = &self.site;
        if self.format != FINDINGS_SITE_FORMAT {
            return Err(PoolError::Format {
                site: format!("site '{site}'"),
                expected: FINDINGS_SITE_FORMAT.to_string(),
                found: self.format.clone(),
            });
        }
        let keys: Vec<&String> = self.findings.keys().collect();
        let order: Vec<&String> = self.findings_order.iter().collect();
        if keys != order {
            return Err(input_error(
                site,
                format!(
                    "its findings ({}) are not those of its findings_order ({})",
                    join(&keys),
                    join(&order)
                ),
            ));
        }
        for (name, f) in &self.findings {
            let wrong = if f.site != *site {
                Some(format!("is from site '{}'", f.site))
            } else if f.n != self.n {
                Some(format!("has {} cases, the site {}", f.n, self.n))
            } else if f.score_decimals != self.score_decimals {
                Some("has another score grid than the site".to_string())
            } else {
                None
            };
            if let Some(w) = wrong {
                return Err(input_error(
                    site,
                    format!("finding '{name}': its summary {w}"),
                ));
            }
        }
        Ok(())
    }
}

/// The coordinator's round-2 message of a multi-label evaluation: one [`PairedRequest`] per
/// finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingsPairedRequest {
    /// Always [`FINDINGS_REQUEST_FORMAT`].
    pub format: String,
    /// Per finding, in the evaluation's order: the binary request.
    pub findings: IndexMap<String, PairedRequest>,
}

/// A site's round-2 answer of a multi-label evaluation: one [`PairedSiteSums`] per finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingsPairedSums {
    /// Always [`FINDINGS_SUMS_FORMAT`].
    pub format: String,
    /// The site's name.
    pub site: String,
    /// Per finding of the request, in its order: the site's binary answer.
    pub findings: IndexMap<String, PairedSiteSums>,
}

fn input_error(site: &str, reason: String) -> PoolError {
    PoolError::Input {
        site: site.to_string(),
        reason,
    }
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Round 1 at a site: the binary summary of each finding (see [`summarize`]).
///
/// # Errors
/// As [`summarize`], for the first finding that fails, its name said.
pub fn summarize_findings(
    input: &MultilabelInput,
    site: &str,
    score_decimals: Option<u32>,
    min_level_cases: u64,
) -> Result<FindingsSiteSummary, PoolError> {
    if input.cluster.is_some() {
        return Err(input_error(
            site,
            "patient-clustered statistics cannot be pooled from count tables: leave out the patient column".into(),
        ));
    }
    let mut findings = IndexMap::new();
    for f in &input.findings {
        let summary = summarize(
            &crate::multilabel::finding_input(input, f),
            site,
            score_decimals,
            min_level_cases,
        )
        .map_err(|e| in_finding(e, f.name))?;
        findings.insert(f.name.to_string(), summary);
    }
    let inner = findings
        .values()
        .next()
        .map_or(String::new(), |s: &SiteSummary| s.disclosure.clone());
    Ok(FindingsSiteSummary {
        format: FINDINGS_SITE_FORMAT.to_string(),
        site: site.to_string(),
        score_decimals,
        disclosure: format!(
            "For each finding (its own label column), what its binary summary reveals: {inner} A finding's tables are not linked to another finding's, but a case whose levels are rare enough to be unique at the site can be matched across findings through them."
        ),
        n: input.findings.first().map_or(0, |f| f.labels.len() as u64),
        findings_order: input.findings.iter().map(|f| f.name.to_string()).collect(),
        findings,
    })
}

/// Names the finding in an error about one.
fn in_finding(e: PoolError, finding: &str) -> PoolError {
    PoolError::Finding {
        finding: finding.to_string(),
        source: Box::new(e),
    }
}

/// The findings of all sites (the first site's order, which every site must share) and, per
/// finding, the sites' binary summaries.
fn by_finding(
    sites: &[FindingsSiteSummary],
) -> Result<IndexMap<&str, Vec<SiteSummary>>, PoolError> {
    let Some(first) = sites.first() else {
        return Err(PoolError::NoSites);
    };
    for s in sites {
        s.validate()?;
        if s.findings_order != first.findings_order {
            return Err(input_error(
                &s.site,
                format!(
                    "its findings ({}) are not those of site '{}' ({}), in the same order",
                    s.findings_order.join(", "),
                    first.site,
                    first.findings_order.join(", ")
                ),
            ));
        }
    }
    Ok(first
        .findings_order
        .iter()
        .map(|name| {
            let summaries = sites.iter().map(|s| s.findings[name].clone()).collect();
            (name.as_str(), summaries)
        })
        .collect())
}

/// The multi-label report from each finding's pooled binary report; the aggregates from the
/// per-finding tables summed over sites.
fn assemble(
    per_finding: IndexMap<&str, (Vec<SiteSummary>, EvalReport)>,
    opts: &EvalOptions,
) -> Result<MultilabelReport, PoolError> {
    let n = per_finding.values().next().map_or(0, |(_, r)| r.n);
    let mut findings = IndexMap::new();
    let mut warnings = Vec::new();
    let mut per_finding_warnings: Vec<(&str, Vec<String>)> = Vec::new();
    // tables[finding][model]: the model's table of the finding, summed over the sites.
    let mut tables: Vec<(String, IndexMap<String, Vec<TieGroup>>)> = Vec::new();
    for (name, (sites, report)) in per_finding {
        let mut by_model = IndexMap::new();
        for model in report.models.keys() {
            let merged = merge_tables(sites.iter().map(|s| s.models[model].all.groups()))
                .ok_or_else(|| PoolError::TooManyCases {
                    cases: sites.iter().map(|s| u128::from(s.n)).sum(),
                })?;
            by_model.insert(model.clone(), merged);
        }
        tables.push((name.to_string(), by_model));
        per_finding_warnings.push((name, report.warnings.clone()));
        findings.insert(
            name.to_string(),
            FindingReport {
                n: report.n,
                positives: report.positives,
                negatives: report.negatives,
                models: report.models,
                comparisons: report.comparisons,
            },
        );
    }
    // A warning every finding gives (what was pooled, what was not) is said once; the others
    // name their finding.
    for (name, list) in &per_finding_warnings {
        for w in list {
            let everywhere = per_finding_warnings.iter().all(|(_, l)| l.contains(w));
            if !everywhere {
                warnings.push(format!("{name}: {w}"));
            } else if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
    }
    let models = summary_from_tables(&findings, &tables);
    Ok(MultilabelReport {
        task: "multilabel".into(),
        n,
        options: opts.clone(),
        findings_order: tables.iter().map(|(f, _)| f.clone()).collect(),
        findings,
        models,
        warnings,
    })
}

/// Round 1 at the coordinator: [`pool`] on each finding, and the aggregates, in
/// `evaluate_multilabel`'s layout (the paired comparisons wait for round 2, as in [`pool`]).
///
/// # Errors
/// As [`pool`], the finding named; sites whose findings differ.
pub fn pool_findings(
    sites: &[FindingsSiteSummary],
    opts: &EvalOptions,
) -> Result<MultilabelReport, PoolError> {
    let mut per_finding = IndexMap::new();
    for (name, summaries) in by_finding(sites)? {
        let report = pool(&summaries, opts).map_err(|e| in_finding(e, name))?;
        per_finding.insert(name, (summaries, report));
    }
    assemble(per_finding, opts)
}

/// Round 2: the request to send to every site, one binary request per finding.
///
/// # Errors
/// As [`pool_findings`].
pub fn findings_paired_request(
    sites: &[FindingsSiteSummary],
) -> Result<FindingsPairedRequest, PoolError> {
    let mut findings = IndexMap::new();
    for (name, summaries) in by_finding(sites)? {
        let request = paired_request(&summaries).map_err(|e| in_finding(e, name))?;
        findings.insert(name.to_string(), request);
    }
    Ok(FindingsPairedRequest {
        format: FINDINGS_REQUEST_FORMAT.to_string(),
        findings,
    })
}

/// Refuses a request of another format than [`FINDINGS_REQUEST_FORMAT`].
fn check_request_format(request: &FindingsPairedRequest) -> Result<(), PoolError> {
    if request.format == FINDINGS_REQUEST_FORMAT {
        return Ok(());
    }
    Err(PoolError::Format {
        site: "the paired request".to_string(),
        expected: FINDINGS_REQUEST_FORMAT.to_string(),
        found: request.format.clone(),
    })
}

/// Round 2 at a site: [`paired_site_sums`] for each finding of the request; each finding's
/// answer names the request file's digest ([`crate::pool::request_digest`]).
///
/// # Errors
/// A request of another format, or for findings the site's input lacks; as
/// [`paired_site_sums`], the finding named.
pub fn findings_paired_site_sums(
    input: &MultilabelInput,
    site: &str,
    request: &FindingsPairedRequest,
    request_sha256: &str,
) -> Result<FindingsPairedSums, PoolError> {
    check_request_format(request)?;
    let mut findings = IndexMap::new();
    for (name, r) in &request.findings {
        let Some(f) = input.findings.iter().find(|f| f.name == name) else {
            return Err(input_error(
                site,
                format!(
                    "the request asks for finding '{name}', which this evaluation does not have"
                ),
            ));
        };
        let sums = paired_site_sums(
            &crate::multilabel::finding_input(input, f),
            site,
            r,
            request_sha256,
        )
        .map_err(|e| in_finding(e, name))?;
        findings.insert(name.clone(), sums);
    }
    Ok(FindingsPairedSums {
        format: FINDINGS_SUMS_FORMAT.to_string(),
        site: site.to_string(),
        findings,
    })
}

/// Round 2 at the coordinator: [`pool_paired`] on each finding, with the aggregates.
///
/// # Errors
/// As [`pool_paired`], the finding named; a request or answers of another format, or whose
/// findings are not the sites'.
pub fn pool_findings_paired(
    sites: &[FindingsSiteSummary],
    request: &FindingsPairedRequest,
    request_sha256: &str,
    sums: &[FindingsPairedSums],
    opts: &EvalOptions,
) -> Result<MultilabelReport, PoolError> {
    check_request_format(request)?;
    if let Some(s) = sums.iter().find(|s| s.format != FINDINGS_SUMS_FORMAT) {
        return Err(PoolError::Format {
            site: format!("site '{}'", s.site),
            expected: FINDINGS_SUMS_FORMAT.to_string(),
            found: s.format.clone(),
        });
    }
    let mut per_finding = IndexMap::new();
    for (name, summaries) in by_finding(sites)? {
        let Some(r) = request.findings.get(name) else {
            return Err(PoolError::Request {
                site: None,
                reason: format!("it has no request for finding '{name}'"),
            });
        };
        let answers: Vec<PairedSiteSums> = sums
            .iter()
            .map(|s| {
                s.findings
                    .get(name)
                    .cloned()
                    .ok_or_else(|| PoolError::Sums {
                        site: s.site.clone(),
                        reason: format!("no sums for finding '{name}'"),
                    })
            })
            .collect::<Result<_, _>>()?;
        let report = pool_paired(&summaries, r, request_sha256, &answers, opts)
            .map_err(|e| in_finding(e, name))?;
        per_finding.insert(name, (summaries, report));
    }
    if request.findings.len() != per_finding.len() {
        return Err(PoolError::Request {
            site: None,
            reason: "it asks for findings the site summaries do not have".to_string(),
        });
    }
    assemble(per_finding, opts)
}
