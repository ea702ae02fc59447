//! The human report of a federated evaluation (`harness pool --report DIR`): the pooled
//! results drawn as a run's report is, with a section on the sites and what left each —
//! binary, multi-label finding by finding, or multi-class class by class.
//!
//! The coordinator holds no case, only each model's pooled count table, which fixes every
//! single-model figure. The report input therefore gives every candidate the same labels —
//! the pooled positives, then the pooled negatives — and, as its scores, its own pooled
//! positives' scores then negatives' scores, each ascending. Everything the report draws per
//! candidate (ROC curve and band, operating point, reliability) depends only on those two
//! multisets, so it is what the all-cases report would draw; nothing pairs one case across
//! candidates (the paired tests come from the pool's second round).

use std::path::{Path, PathBuf};

use harness_metrics::EvalReport;
use harness_metrics::multiclass::{ModelTables, MulticlassReport};
use harness_metrics::multilabel::MultilabelReport;
use harness_metrics::pool::{CountTable, SiteSummary, pooled_tables};
use harness_metrics::pool_classes::ClassesSiteSummary;
use harness_metrics::pool_findings::FindingsSiteSummary;
use harness_metrics::ranks::TieGroup;
use harness_report as report;
use indexmap::IndexMap;

use crate::PipelineError;

/// One site summary the coordinator pooled (binary, multi-label or multi-class), with the
/// SHA-256 of the file it came from.
pub struct PooledSite<'a, S = SiteSummary> {
    pub summary: &'a S,
    pub file_sha256: String,
    /// Its round-2 answer, when the paired tests were pooled.
    pub paired: Option<report::SiteAnswer>,
    /// Whether its data are synthetic, as its bundle says (`None`: a bare summary).
    pub synthetic: Option<bool>,
}

/// A multi-label site summary the coordinator pooled.
pub type PooledFindingsSite<'a> = PooledSite<'a, FindingsSiteSummary>;
/// A multi-class site summary the coordinator pooled.
pub type PooledClassesSite<'a> = PooledSite<'a, ClassesSiteSummary>;

/// What the report's sites table shows of a site summary of any kind.
pub trait DescribedSite {
    fn name(&self) -> &str;
    fn cases(&self) -> u64;
    /// Its positives; `None` where they are per finding or class.
    fn positives(&self) -> Option<u64>;
    fn disclosure(&self) -> &str;
}

impl DescribedSite for SiteSummary {
    fn name(&self) -> &str {
        &self.site
    }
    fn cases(&self) -> u64 {
        self.n
    }
    fn positives(&self) -> Option<u64> {
        Some(self.positives)
    }
    fn disclosure(&self) -> &str {
        &self.disclosure
    }
}

impl DescribedSite for FindingsSiteSummary {
    fn name(&self) -> &str {
        &self.site
    }
    fn cases(&self) -> u64 {
        self.n
    }
    fn positives(&self) -> Option<u64> {
        None
    }
    fn disclosure(&self) -> &str {
        &self.disclosure
    }
}

impl DescribedSite for ClassesSiteSummary {
    fn name(&self) -> &str {
        &self.site
    }
    fn cases(&self) -> u64 {
        self.n
    }
    fn positives(&self) -> Option<u64> {
        None
    }
    fn disclosure(&self) -> &str {
        &self.disclosure
    }
}

/// The report's sites table rows.
fn described<S: DescribedSite>(sites: &[PooledSite<S>]) -> Vec<report::SiteInfo> {
    sites
        .iter()
        .map(|s| report::SiteInfo {
            name: s.summary.name().to_string(),
            cases: s.summary.cases(),
            positives: s.summary.positives(),
            summary_sha256: s.file_sha256.clone(),
            disclosure: s.summary.disclosure().to_string(),
            paired: s.paired.clone(),
            synthetic: s.synthetic,
        })
        .collect()
}

/// A model's pooled table as one score per case: its positives, then its negatives, each in
/// ascending score order (so the labels are `m` trues, then `n` falses, for every model).
fn by_class(groups: &[TieGroup], m: usize, n: usize) -> Vec<f64> {
    let mut scores = Vec::with_capacity(m + n);
    let mut negatives = Vec::with_capacity(n);
    for g in groups {
        scores.extend(std::iter::repeat_n(g.value, g.pos as usize));
        negatives.extend(std::iter::repeat_n(g.value, g.neg as usize));
    }
    scores.extend(negatives);
    scores
}

/// `m` positives, then `n` negatives.
fn class_labels(m: usize, n: usize) -> Vec<bool> {
    let mut labels = vec![true; m];
    labels.resize(m + n, false);
    labels
}

/// A candidate as the coordinator knows it: its name, and its binary statistics with its
/// pooled scores where the task is binary.
fn candidate(
    name: &str,
    metrics: Option<harness_metrics::ModelReport>,
    scores: Vec<f64>,
) -> report::Candidate {
    report::Candidate {
        name: name.to_string(),
        model_file: "scored at each site".into(),
        model_sha256: "not in the site summaries".into(),
        backends: Vec::new(),
        status: report::Status::Ok,
        reason: None,
        metrics,
        scores,
        warnings: Vec::new(),
    }
}

/// The report input of pooled results with everything but the statistics: the header (the
/// pooled "data set" is the sites' summaries, its digest that of their digests) and the sites.
fn pooled_input(
    sites: Vec<report::SiteInfo>,
    cases: u64,
    evaluation: report::Evaluation,
    tool: report::ToolInfo,
    date: String,
) -> report::ReportInput {
    let names: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
    let digests: String = sites
        .iter()
        .map(|s| format!("{}\n", s.summary_sha256))
        .collect();
    report::ReportInput {
        header: report::Header {
            suite: report::Suite {
                name: "Federated evaluation".into(),
                version: format!("pooled from {} site(s)", sites.len()),
            },
            dataset: report::DatasetInfo {
                name: format!("pooled: {}", names.join(" + ")),
                sha256: harness_data::registry::sha256_hex(digests.as_bytes()),
                licence: "as at each site".into(),
                cases,
                bytes: None,
                // Synthetic where any site's bundle says its data are.
                synthetic: sites.iter().any(|s| s.synthetic == Some(true)),
            },
            tool,
            date,
            machine: IndexMap::new(),
            profiles: Vec::new(),
            inference: None,
        },
        candidates: Vec::new(),
        labels: Vec::new(),
        agreement: Vec::new(),
        performance: Vec::new(),
        profiles_not_measured: Vec::new(),
        // The bands as the sites' run would draw them (its seed and bootstrap).
        options: report::ReportOptions::for_evaluation(&evaluation.options),
        findings: None,
        classes: None,
        target_curves: Vec::new(),
        sites,
        acceptance: Vec::new(),
        acceptance_criteria: Vec::new(),
        evaluation,
    }
}

/// The report input of pooled results: `report` from [`harness_metrics::pool::pool`] (or
/// `pool_paired`), `tables` from [`harness_metrics::pool::pooled_tables`] on the same sites.
#[must_use]
pub fn pooled_report_input(
    sites: &[PooledSite],
    report: &EvalReport,
    tables: &IndexMap<String, CountTable>,
    tool: report::ToolInfo,
    date: String,
) -> report::ReportInput {
    let (m, n) = (report.positives as usize, report.negatives as usize);
    let evaluation = report::Evaluation {
        options: report.options.clone(),
        comparisons: report.comparisons.clone(),
        warnings: report.warnings.clone(),
    };
    let mut input = pooled_input(described(sites), report.n, evaluation, tool, date);
    input.labels = class_labels(m, n);
    input.candidates = report
        .models
        .iter()
        .map(|(name, metrics)| {
            let scores = tables
                .get(name)
                .map(|t| by_class(t.groups(), m, n))
                .unwrap_or_default();
            candidate(name, Some(metrics.clone()), scores)
        })
        .collect();
    input
}

/// The report input of pooled multi-label results (`report` from
/// [`harness_metrics::pool_findings::pool_findings`] or `pool_findings_paired`): the findings
/// section and, per finding, the ROC overlay of every model that scores it, drawn from its
/// pooled table of that finding.
///
/// # Errors
/// As [`harness_metrics::pool::pooled_tables`], for a finding whose summaries do not fit
/// together (not expected after the pool itself).
pub fn pooled_findings_report_input(
    sites: &[PooledFindingsSite],
    report: &MultilabelReport,
    tool: report::ToolInfo,
    date: String,
) -> Result<report::ReportInput, PipelineError> {
    let evaluation = report::Evaluation {
        options: report.options.clone(),
        comparisons: Vec::new(),
        warnings: report.warnings.clone(),
    };
    let mut input = pooled_input(described(sites), report.n, evaluation, tool, date);
    input.candidates = report
        .models
        .keys()
        .map(|name| candidate(name, None, Vec::new()))
        .collect();
    for f in &report.findings_order {
        let summaries: Vec<SiteSummary> = sites
            .iter()
            .filter_map(|s| s.summary.findings.get(f).cloned())
            .collect();
        let tables =
            pooled_tables(&summaries).map_err(|e| PipelineError::Metrics(e.to_string()))?;
        let Some(r) = report.findings.get(f) else {
            continue;
        };
        let (m, n) = (r.positives as usize, r.negatives as usize);
        input.target_curves.push(report::TargetCurves {
            name: f.clone(),
            labels: class_labels(m, n),
            scores: tables
                .iter()
                .map(|(model, t)| (model.clone(), by_class(t.groups(), m, n)))
                .collect(),
        });
    }
    input.findings = Some(report.clone());
    Ok(input)
}

/// The report input of pooled multi-class results (`report` from
/// [`harness_metrics::pool_classes::pool_classes`], `tables` from
/// [`harness_metrics::pool_classes::pooled_class_tables`] on the same sites): the Classes
/// section, the confusion matrices, and per class the ROC overlay and classwise reliability of
/// every model, drawn from its pooled table of that class against the rest.
#[must_use]
pub fn pooled_classes_report_input(
    sites: &[PooledClassesSite],
    report: &MulticlassReport,
    tables: &IndexMap<String, ModelTables>,
    tool: report::ToolInfo,
    date: String,
) -> report::ReportInput {
    let evaluation = report::Evaluation {
        options: Default::default(),
        comparisons: Vec::new(),
        warnings: report.warnings.clone(),
    };
    let mut input = pooled_input(described(sites), report.n, evaluation, tool, date);
    input.candidates = report
        .models
        .keys()
        .map(|name| candidate(name, None, Vec::new()))
        .collect();
    let k = report.classes.len();
    for (c, class) in report.classes.iter().enumerate() {
        let m = report.class_counts.get(class).copied().unwrap_or(0) as usize;
        let n = report.n as usize - m;
        input.target_curves.push(report::TargetCurves {
            name: class.clone(),
            labels: class_labels(m, n),
            scores: tables
                .iter()
                .map(|(model, t)| {
                    (
                        model.clone(),
                        by_class(&t.scores[c].one_vs_rest(c, k), m, n),
                    )
                })
                .collect(),
        });
    }
    input.classes = Some(report.clone());
    input
}

/// Writes the pooled report (`report.html`, `summary.md`, `figures/`) into `dir`; returns the
/// files written.
///
/// # Errors
/// [`PipelineError::Report`] when the report cannot be written.
pub fn write_pooled_report(
    input: &report::ReportInput,
    dir: &Path,
) -> Result<Vec<PathBuf>, PipelineError> {
    Ok(report::write_report(input, dir)?)
}

/// A site bundle the coordinator pooled, as [`site_run_warnings`] reads it.
pub struct SiteRun<'a> {
    /// The site's name (its summary's).
    pub name: &'a str,
    /// The bundle's (verified) manifest.
    pub manifest: &'a harness_evidence::Manifest,
}

/// The most sites a pooled warning names; the others are counted.
const SITES_NAMED: usize = 5;

/// What the sites' runs warned of each candidate, said with the pooled results (a site's
/// bundle records it per candidate; nothing of it is in the count tables): the images a
/// candidate took as stored though their files say they are to be turned for display (EXIF),
/// summed over the sites into one warning; every other warning once, with the sites that gave
/// it. Candidates in the order the sites list them; empty when no site warned.
#[must_use]
pub fn site_run_warnings(sites: &[SiteRun<'_>]) -> Vec<String> {
    let cases: u64 = sites.iter().map(|s| s.manifest.dataset.cases).sum();
    let mut names: Vec<&str> = Vec::new();
    for c in sites.iter().flat_map(|s| &s.manifest.candidates) {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    let mut warnings = Vec::new();
    for name in names {
        let mut turned: Option<harness_evidence::manifest::TurnedImages> = None;
        let mut turned_at: Vec<&str> = Vec::new();
        let mut others: IndexMap<&str, Vec<&str>> = IndexMap::new();
        for s in sites {
            let Some(c) = s.manifest.candidates.iter().find(|c| c.name == name) else {
                continue;
            };
            let t = s
                .manifest
                .inference
                .as_ref()
                .and_then(|i| i.turned_images.as_ref());
            // The site's own run said it in these words (its images, its number of cases).
            let site_text = t.map(|t| t.warning(s.manifest.dataset.cases as usize));
            for w in &c.warnings {
                match t {
                    Some(t) if site_text.as_ref() == Some(w) => {
                        let sum = turned.get_or_insert(harness_evidence::manifest::TurnedImages {
                            count: 0,
                            first_case: None,
                            first_row: None,
                            first_exif: t.first_exif,
                        });
                        sum.count += t.count;
                        turned_at.push(s.name);
                    }
                    _ => others.entry(w).or_default().push(s.name),
                }
            }
        }
        if let Some(t) = turned {
            warnings.push(format!(
                "candidate '{name}' at {}: {}",
                named_sites(&turned_at, sites.len()),
                t.warning(cases as usize)
            ));
        }
        for (w, at) in others {
            warnings.push(format!(
                "candidate '{name}' at {}: {w}",
                named_sites(&at, sites.len())
            ));
        }
    }
    warnings
}

/// "site 'a' (1 of 3)", "sites 'a', 'b' (2 of 3)", the first [`SITES_NAMED`] and a count.
fn named_sites(at: &[&str], of: usize) -> String {
    let listed: Vec<String> = at
        .iter()
        .take(SITES_NAMED)
        .map(|s| format!("'{s}'"))
        .collect();
    let more = match at.len().saturating_sub(SITES_NAMED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "{} {}{more} ({} of {of})",
        if at.len() == 1 { "site" } else { "sites" },
        listed.join(", "),
        at.len()
    )
}
