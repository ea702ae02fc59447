//! The human report of a federated evaluation (`harness pool --report DIR`): the pooled
//! results drawn as a run's report is, with a section on the sites and what left each.
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
use harness_metrics::pool::{CountTable, SiteSummary};
use harness_report as report;
use indexmap::IndexMap;

use crate::PipelineError;

/// One site summary the coordinator pooled, with the SHA-256 of the file it came from.
pub struct PooledSite<'a> {
    pub summary: &'a SiteSummary,
    pub file_sha256: String,
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
    let mut labels = vec![true; m];
    labels.resize(m + n, false);
    let candidates = report
        .models
        .iter()
        .map(|(name, metrics)| {
            let mut scores = Vec::with_capacity(m + n);
            let mut negatives = Vec::with_capacity(n);
            for g in tables.get(name).map(CountTable::groups).unwrap_or_default() {
                scores.extend(std::iter::repeat_n(g.value, g.pos as usize));
                negatives.extend(std::iter::repeat_n(g.value, g.neg as usize));
            }
            scores.extend(negatives);
            report::Candidate {
                name: name.clone(),
                model_file: "scored at each site".into(),
                model_sha256: "not in the site summaries".into(),
                backends: Vec::new(),
                status: report::Status::Ok,
                reason: None,
                metrics: Some(metrics.clone()),
                scores,
            }
        })
        .collect();
    let names: Vec<&str> = sites.iter().map(|s| s.summary.site.as_str()).collect();
    // The pooled "data set" is the sites' summaries: its digest is that of their digests.
    let digests: String = sites
        .iter()
        .map(|s| format!("{}\n", s.file_sha256))
        .collect();
    let digest = harness_data::registry::sha256_hex(digests.as_bytes());
    report::ReportInput {
        header: report::Header {
            suite: report::Suite {
                name: "Federated evaluation".into(),
                version: format!("pooled from {} site(s)", sites.len()),
            },
            dataset: report::DatasetInfo {
                name: format!("pooled: {}", names.join(" + ")),
                sha256: digest,
                licence: "as at each site".into(),
                cases: report.n,
                bytes: None,
                synthetic: false,
            },
            tool,
            date,
            machine: IndexMap::new(),
            profiles: Vec::new(),
            inference: None,
        },
        candidates,
        labels,
        evaluation: report::Evaluation {
            options: report.options.clone(),
            comparisons: report.comparisons.clone(),
            warnings: report.warnings.clone(),
        },
        agreement: Vec::new(),
        performance: Vec::new(),
        profiles_not_measured: Vec::new(),
        options: report::ReportOptions::default(),
        findings: None,
        classes: None,
        target_curves: Vec::new(),
        sites: sites
            .iter()
            .map(|s| report::SiteInfo {
                name: s.summary.site.clone(),
                cases: s.summary.n,
                positives: s.summary.positives,
                summary_sha256: s.file_sha256.clone(),
                disclosure: s.summary.disclosure.clone(),
            })
            .collect(),
    }
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
