//! Assembling the report's input from what a run produced (suite, dataset
//! record, candidates, metrics, agreement, performance). Pure mapping; the
//! report crate draws, the evidence crate hashes.

use harness_evidence::manifest::{CandidateRecord, DatasetRecord, ToolInfo};
use harness_evidence::suite::Suite;
use harness_measure::{BenchReport, Machine};
use harness_metrics::EvalReport;
use harness_report as report;

pub struct Parts<'a> {
    pub suite: &'a Suite,
    pub dataset: &'a DatasetRecord,
    pub tool: &'a ToolInfo,
    pub date: &'a str,
    pub machine: &'a Machine,
    pub labels: &'a [bool],
    /// Each candidate's record and its primary-backend probabilities (if any).
    pub candidates: &'a [(&'a CandidateRecord, Option<&'a Vec<f64>>)],
    pub eval: Option<&'a EvalReport>,
    /// `{candidate, threshold, pairs: [{a, b, max_abs_diff, decision_disagreements, n}]}` per candidate.
    pub agreements: &'a [serde_json::Value],
    pub bench: &'a BenchReport,
    /// (profile, reason) requested but not measured.
    pub not_measured: &'a [(String, String)],
}

fn status(s: &str) -> report::Status {
    match s {
        "ok" => report::Status::Ok,
        "unavailable" => report::Status::Unavailable,
        "skipped" => report::Status::Skipped,
        _ => report::Status::Failed,
    }
}

/// The machine as key/value lines.
pub fn machine_lines(m: &Machine) -> indexmap::IndexMap<String, String> {
    let mut out = indexmap::IndexMap::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(m) {
        for (k, v) in map {
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Array(a) if a.is_empty() => continue,
                other => other.to_string(),
            };
            out.insert(k, text);
        }
    }
    out
}

pub fn build(p: Parts) -> report::ReportInput {
    let candidates = p
        .candidates
        .iter()
        .map(|(r, scores)| report::Candidate {
            name: r.name.clone(),
            model_file: r.model.path.clone(),
            model_sha256: r.model.sha256.clone(),
            backends: r
                .backends
                .iter()
                .map(|b| match (&b.version, b.status.as_str()) {
                    (Some(v), "ok") => format!("{} ({v})", b.backend),
                    (_, s) => format!("{} ({s}{})", b.backend, b.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()),
                })
                .collect(),
            status: status(&r.status),
            reason: r.reason.clone(),
            metrics: None,
            scores: scores.cloned().unwrap_or_default(),
        })
        .collect();
    let agreement = p
        .agreements
        .iter()
        .flat_map(|a| {
            let cand = a["candidate"].as_str().unwrap_or("").to_string();
            a["pairs"].as_array().cloned().unwrap_or_default().into_iter().map(move |pair| report::AgreementRow {
                candidate: cand.clone(),
                a: pair["a"].as_str().unwrap_or("").into(),
                b: pair["b"].as_str().unwrap_or("").into(),
                max_abs_diff: pair["max_abs_diff"].as_f64().unwrap_or(0.0),
                decision_disagreements: pair["decision_disagreements"].as_u64().unwrap_or(0),
                n: pair["n"].as_u64().unwrap_or(0),
            })
        })
        .collect();
    let performance = p
        .bench
        .results
        .iter()
        .map(|r| report::PerformanceRow {
            candidate: r.model.clone().unwrap_or_default(),
            backend: r.backend.clone(),
            profile: r.profile.clone(),
            scenario: r.scenario.map(|s| s.name().to_string()).unwrap_or_else(|| "-".into()),
            batch_size: r.batch_size.unwrap_or(0) as u32,
            threads: r.threads.unwrap_or(0) as u32,
            throughput_per_s: r.throughput_per_s,
            latency_ms: r.latency_ms.as_ref().map(|l| report::LatencyMs { p50: l.p50, p90: l.p90, p95: l.p95, p99: l.p99, max: l.max }),
            latency_cdf: r.latency_cdf.clone(),
            status: match r.status {
                harness_measure::Status::Ok => report::Status::Ok,
                harness_measure::Status::Failed => report::Status::Failed,
                harness_measure::Status::Unavailable => report::Status::Unavailable,
            },
            reason: r.reason.clone(),
        })
        .collect();
    let mut input = report::ReportInput {
        header: report::Header {
            suite: report::Suite { name: p.suite.name.clone(), version: p.suite.version.clone() },
            dataset: report::DatasetInfo {
                name: p.dataset.name.clone(),
                sha256: p.dataset.digest.clone(),
                licence: p.dataset.licence.clone(),
                cases: p.dataset.cases,
                bytes: None,
                synthetic: p.dataset.synthetic,
            },
            tool: report::ToolInfo {
                version: p.tool.version.clone(),
                git_commit: p.tool.git_commit.clone().unwrap_or_else(|| "unknown".into()),
            },
            date: p.date.to_string(),
            machine: machine_lines(p.machine),
            profiles: p.suite.performance.profiles.clone(),
        },
        candidates,
        labels: p.labels.to_vec(),
        evaluation: report::Evaluation::default(),
        agreement,
        performance,
        profiles_not_measured: p
            .not_measured
            .iter()
            .map(|(profile, reason)| report::NotMeasured { profile: profile.clone(), reason: Some(reason.clone()) })
            .collect(),
        options: report::ReportOptions {
            roc_band_replicates: p.suite.metrics.bootstrap.clamp(200, 2000),
            roc_band_seed: p.suite.metrics.seed,
            agreement_tolerance: p.suite.inference.agreement_tolerance,
            ..Default::default()
        },
    };
    if let Some(e) = p.eval {
        input.attach_eval(e);
    }
    input
}
