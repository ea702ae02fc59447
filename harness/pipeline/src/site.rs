//! A federated site's run (`harness run --site NAME --aggregates-only`): instead of
//! predictions, metrics and a report, the bundle holds the site's count tables (`site.json`)
//! or, answering the coordinator's round-2 request, its paired sums (`paired-sums.json`).

use harness_data::registry::DatasetTask;
use harness_evidence::EvalSettings;
use harness_evidence::bundle::BundleWriter;
use harness_evidence::evaluation::{findings_input, read_findings};
use harness_metrics::pool_findings::{findings_paired_site_sums, summarize_findings};

use crate::{PipelineError, Plan, parse_predictions};

/// The file of a site bundle that holds its count tables (`harness_metrics::pool::SiteSummary`).
pub const SITE_FILE: &str = "site.json";
/// The file of a site bundle that answers the coordinator's round-2 request
/// (`harness_metrics::pool::PairedSiteSums`).
pub const SUMS_FILE: &str = "paired-sums.json";

/// A coordinator's round-2 request, as a site run answers it: binary, or multi-label (one
/// binary request per finding).
#[derive(Debug, Clone)]
pub struct SiteRequest {
    /// The request, of either kind.
    pub kind: RequestKind,
    /// Its file's digest ([`harness_metrics::request_digest`]), which the answer names.
    pub sha256: String,
}

/// A round-2 request of a binary or a multi-label evaluation.
#[derive(Debug, Clone)]
pub enum RequestKind {
    Binary(harness_metrics::pool::PairedRequest),
    Findings(harness_metrics::pool_findings::FindingsPairedRequest),
}

impl SiteRequest {
    /// Reads a request file's JSON, of either kind (by its `format`).
    ///
    /// # Errors
    /// What is wrong with the JSON, in words.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Format {
            format: String,
        }
        let f: Format = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let (kind, sha256) = if f.format == harness_metrics::pool_findings::FINDINGS_REQUEST_FORMAT
        {
            let r = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            let digest = harness_metrics::request_digest(&r);
            (RequestKind::Findings(r), digest)
        } else {
            let r = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            let digest = harness_metrics::request_digest(&r);
            (RequestKind::Binary(r), digest)
        };
        Ok(SiteRequest { kind, sha256 })
    }
}

/// A site file's compact JSON (a summary holds a row per distinct score).
fn compact<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, PipelineError> {
    serde_json::to_vec(value).map_err(|e| PipelineError::Metrics(e.to_string()))
}

/// `site.json`: the site's count tables per candidate and subgroup level (no case id, no
/// per-case row, no patient column), for `harness pool`; or, answering a round-2 request,
/// `paired-sums.json`.
pub(crate) fn write_site_summary(
    site: &str,
    pred_bytes: &[u8],
    plan: &Plan,
    settings: &EvalSettings,
    bundle: &mut BundleWriter,
) -> Result<(), PipelineError> {
    let failed = |e: &dyn std::fmt::Display| PipelineError::Metrics(e.to_string());
    let (file, bytes) = if let (DatasetTask::Multiclass, Some(cols)) =
        (settings.task, settings.classes.as_ref())
    {
        // The patient column stays at the site: not read.
        let summary = harness_evidence::evaluation::summarize_classes_csv(
            pred_bytes,
            &plan.out_dir.join(SITE_FILE),
            cols,
            &settings.groups,
            (site, plan.min_level_cases),
        )
        .map_err(|e| failed(&e))?;
        (SITE_FILE, compact(&summary)?)
    } else if settings.task == DatasetTask::Multilabel {
        let path = plan.out_dir.join(SITE_FILE);
        let read = read_findings(pred_bytes, &path, &settings.findings, &settings.columns())
            .map_err(|e| failed(&e))?;
        // The patient column is not a subgroup, and it stays at the site.
        let mut input = findings_input(&settings.findings, &read, settings.cluster.as_deref())
            .map_err(|e| failed(&e))?;
        input.cluster = None;
        match &plan.paired_request {
            Some(SiteRequest {
                kind: RequestKind::Findings(request),
                sha256,
            }) => {
                let sums = findings_paired_site_sums(&input, site, request, sha256)
                    .map_err(|e| failed(&e))?;
                (SUMS_FILE, compact(&sums)?)
            }
            _ => {
                let summary =
                    summarize_findings(&input, site, plan.score_decimals, plan.min_level_cases)
                        .map_err(|e| failed(&e))?;
                (SITE_FILE, compact(&summary)?)
            }
        }
    } else {
        let table = parse_predictions(pred_bytes, &plan.out_dir.join(SITE_FILE), settings)?;
        // The patient column is not a subgroup, and it stays at the site.
        let input = harness_metrics::EvalInput {
            cluster: None,
            ..harness_evidence::evaluation::eval_input(&table, settings.cluster.as_deref())
        };
        match &plan.paired_request {
            Some(SiteRequest {
                kind: RequestKind::Binary(request),
                sha256,
            }) => {
                let sums = harness_metrics::pool::paired_site_sums(&input, site, request, sha256)
                    .map_err(|e| failed(&e))?;
                (SUMS_FILE, compact(&sums)?)
            }
            _ => {
                let summary = harness_metrics::pool::summarize(
                    &input,
                    site,
                    plan.score_decimals,
                    plan.min_level_cases,
                )
                .map_err(|e| failed(&e))?;
                (SITE_FILE, compact(&summary)?)
            }
        }
    };
    bundle.write(file, &bytes)?;
    Ok(())
}
