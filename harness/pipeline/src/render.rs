//! The render stage: the report's input assembled from what a run produced
//! (suite, dataset record, candidates, metrics, agreement, performance) —
//! pure mapping; the report crate draws, the evidence crate hashes.

use harness_data::registry::DatasetTask;
use harness_evidence::evaluation::{
    ClassesRead, EvalSettings, EvaluateError, read_classes, read_findings,
};
use harness_evidence::gate::{GateResult, Requested};
use harness_evidence::manifest::{CandidateRecord, DatasetRecord, Outcome, ToolInfo};
use harness_evidence::suite::Suite;
use harness_measure::{BenchReport, Machine};
use harness_metrics::EvalReport;
use harness_metrics::multiclass::MulticlassReport;
use harness_metrics::multilabel::MultilabelReport;
use harness_report as report;

/// What a run produced, borrowed.
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
    /// A multi-label task's statistics, finding by finding.
    pub findings: Option<&'a MultilabelReport>,
    /// A multi-class task's statistics.
    pub classes: Option<&'a MulticlassReport>,
    /// Per finding or class: labels and candidate scores for the ROC overlays.
    pub target_curves: Vec<report::TargetCurves>,
    /// `{candidate, threshold, pairs: [{a, b, max_abs_diff, decision_disagreements, n}]}` per candidate.
    pub agreements: &'a [serde_json::Value],
    pub bench: &'a BenchReport,
    /// (profile, reason) requested but not measured.
    pub not_measured: &'a [(String, String)],
    /// How the evaluated predictions were produced and cross-checked.
    pub inference: Option<report::InferenceInfo>,
    /// The acceptance criteria, and the gate's verdicts on them.
    pub criteria: &'a Requested,
    pub gate: &'a [GateResult],
}

/// The criteria as the report lists them: "auroc ≥ 0.85".
#[must_use]
pub fn criteria_texts(criteria: &Requested) -> Vec<String> {
    criteria.all().iter().map(ToString::to_string).collect()
}

/// The gate's verdicts as the report shows them.
#[must_use]
pub fn acceptance_rows(gate: &[GateResult]) -> Vec<report::AcceptanceRow> {
    gate.iter()
        .map(|r| report::AcceptanceRow {
            candidate: r.candidate.clone(),
            criterion: r.criterion().to_string(),
            value: r.value,
            shown: r
                .value
                .map(|v| harness_evidence::gate::shown(v, r.direction, r.limit)),
            passed: r.passed,
            message: r.message.clone(),
        })
        .collect()
}

/// The machine as labelled lines a reader understands ("Memory: 23.5 GiB", one line per GPU);
/// `performance.json` keeps the raw fields.
pub fn machine_lines(m: &Machine) -> indexmap::IndexMap<String, String> {
    let mut out = indexmap::IndexMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.insert(k.to_string(), v);
        }
    };
    put("CPU", m.cpu_model.clone());
    put("Physical cores", m.physical_cores.map(|c| c.to_string()));
    put("Logical CPUs available", Some(m.logical_cpus.to_string()));
    put(
        "Memory",
        m.memory_bytes
            .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)),
    );
    put("Operating system", m.os.clone());
    put("Kernel", m.kernel.clone());
    put("Architecture", Some(m.arch.clone()));
    for (i, g) in m.gpus.iter().enumerate() {
        let mut text = g.name.clone();
        if let Some(mib) = g.memory_mib {
            text.push_str(&format!(", {:.0} GiB", mib as f64 / 1024.0));
        }
        if let Some(d) = &g.driver {
            text.push_str(&format!(", driver {d}"));
        }
        put(
            &if m.gpus.len() == 1 {
                "GPU".to_string()
            } else {
                format!("GPU {i}")
            },
            Some(text),
        );
    }
    put("Notes", (!m.notes.is_empty()).then(|| m.notes.join("; ")));
    out
}

/// A backend version with any absolute library path cut to its file name, for the report's
/// tables ("…, /root/…/capi/libonnxruntime.so.1.31.1)" → "…, libonnxruntime.so.1.31.1)");
/// the full path stays in `performance.json` and `agreement.json`.
fn short_paths(version: &str) -> String {
    version
        .split(' ')
        .map(|word| match word.strip_prefix('/') {
            Some(_) => word.rsplit('/').next().unwrap_or(word),
            None => word,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The cross-check engines the suite asked for that did not check an evaluated candidate
/// (unavailable here, unable to load the model, or failed mid-run; in a merged run, in any
/// shard): the agreement the report shows was measured without them. `evaluated`: the engine
/// whose scores were evaluated.
fn cross_checks_lost<'r>(
    r: &'r CandidateRecord,
    evaluated: Option<&'r str>,
) -> impl Iterator<Item = String> + 'r {
    r.backends
        .iter()
        .filter(move |b| !r.outcome.is_failed() && Some(b.backend.as_str()) != evaluated)
        .filter_map(|b| {
            let (what, reason) = match &b.outcome {
                Outcome::Unavailable { reason } => ("is unavailable here", reason),
                Outcome::Failed { reason } => ("failed", reason),
                Outcome::Ok | Outcome::Skipped { .. } => return None,
            };
            Some(format!(
                "the cross-check engine {} {what} ({reason}): its agreement with the evaluated engine was not measured",
                b.backend
            ))
        })
}

/// The report's input.
#[must_use]
pub fn build(p: Parts) -> report::ReportInput {
    let evaluated = p.inference.as_ref().map(|i| i.engine.as_str());
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
                .map(|b| match (&b.version, &b.outcome) {
                    (Some(v), Outcome::Ok) => format!("{} ({})", b.backend, short_paths(v)),
                    (_, o) => format!("{} ({o})", b.backend),
                })
                .collect(),
            status: r.outcome.status(),
            reason: r.outcome.reason().map(str::to_string),
            metrics: None,
            scores: scores.cloned().unwrap_or_default(),
            warnings: r
                .warnings
                .iter()
                .cloned()
                .chain(cross_checks_lost(r, evaluated))
                .collect(),
        })
        .collect();
    let agreement = p
        .agreements
        .iter()
        .flat_map(|a| {
            let cand = a["candidate"].as_str().unwrap_or("").to_string();
            a["pairs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |pair| report::AgreementRow {
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
            scenario: r
                .scenario
                .map(|s| s.name().to_string())
                .unwrap_or_else(|| "-".into()),
            batch_size: r.batch_size.unwrap_or(0) as u32,
            threads: r.threads.unwrap_or(0) as u32,
            throughput_per_s: r.throughput_per_s,
            latency_ms: r.latency_ms.as_ref().map(|l| report::LatencyMs {
                p50: l.p50,
                p90: l.p90,
                p95: l.p95,
                p99: l.p99,
                max: l.max,
            }),
            latency_cdf: r.latency_cdf.clone(),
            early_stopping: r.early_stopping.as_ref().and_then(|e| {
                e.estimate_ms.map(|estimate_ms| report::EarlyStoppingMs {
                    percentile: e.percentile,
                    estimate_ms,
                })
            }),
            status: r.status,
            reason: r.reason.clone(),
        })
        .collect();
    let mut input = report::ReportInput {
        header: report::Header {
            suite: report::Suite {
                name: p.suite.name.clone(),
                version: p.suite.version.clone(),
            },
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
                git_commit: p
                    .tool
                    .git_commit
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            },
            date: p.date.to_string(),
            machine: machine_lines(p.machine),
            profiles: p.suite.performance.profiles.clone(),
            inference: p.inference.clone(),
        },
        candidates,
        labels: p.labels.to_vec(),
        evaluation: report::Evaluation::default(),
        agreement,
        performance,
        profiles_not_measured: p
            .not_measured
            .iter()
            .map(|(profile, reason)| report::NotMeasured {
                profile: profile.clone(),
                reason: Some(reason.clone()),
            })
            .collect(),
        options: report::ReportOptions {
            agreement_tolerance: p.suite.inference.agreement_tolerance,
            ..report::ReportOptions::for_evaluation(&p.suite.metrics.options())
        },
        findings: None,
        classes: None,
        target_curves: Vec::new(),
        sites: Vec::new(),
        acceptance: acceptance_rows(p.gate),
        acceptance_criteria: criteria_texts(p.criteria),
    };
    if let Some(e) = p.eval {
        input.attach_eval(e);
    }
    if let Some(f) = p.findings {
        input.attach_findings(f);
    }
    if let Some(c) = p.classes {
        input.attach_classes(c);
    }
    input.target_curves = p.target_curves;
    input
}

/// Per finding (multi-label) or class against the rest (multi-class): the labels and every
/// candidate's scores for it, read from the predictions file's bytes `bytes` (`path` names
/// them in errors) as `settings` describe it, for the report's ROC overlays; empty for a
/// binary task. A run and a merge of its shards both draw them from `predictions.csv`, so
/// their figures agree.
///
/// # Errors
/// The reader's error for a file the settings do not describe.
pub fn target_curves(
    bytes: &[u8],
    path: &std::path::Path,
    settings: &EvalSettings,
) -> Result<Vec<report::TargetCurves>, EvaluateError> {
    let column = |names: &[String], scores: &[Vec<f64>], name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .map(|k| scores[k].clone())
    };
    match settings.task {
        DatasetTask::Binary => Ok(Vec::new()),
        DatasetTask::Multilabel => {
            let read = read_findings(bytes, path, &settings.findings, &[])?;
            let t = &read.table;
            Ok(settings
                .findings
                .iter()
                .zip(read.labels)
                .map(|(f, labels)| report::TargetCurves {
                    name: f.name.clone(),
                    labels,
                    // Candidates in suite order, those that score the finding.
                    scores: f
                        .scores
                        .iter()
                        .filter_map(|(model, col)| {
                            Some((model.clone(), column(&t.score_names, &t.scores, col)?))
                        })
                        .collect(),
                })
                .collect())
        }
        DatasetTask::Multiclass => {
            let Some(cols) = &settings.classes else {
                return Ok(Vec::new());
            };
            let ClassesRead { labels, read } = read_classes(bytes, path, cols, &[])?;
            let t = &read.table;
            Ok(cols
                .classes
                .iter()
                .enumerate()
                .map(|(k, class)| report::TargetCurves {
                    name: class.clone(),
                    labels: labels.iter().map(|&l| l as usize == k).collect(),
                    scores: cols
                        .models
                        .iter()
                        .filter_map(|(model, columns)| {
                            let col = columns.get(k)?;
                            Some((model.clone(), column(&t.score_names, &t.scores, col)?))
                        })
                        .collect(),
                })
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_paths_are_cut_to_file_names() {
        assert_eq!(
            short_paths(
                "onnxruntime 1.31.1 (ort 2.0.0-rc.15, /opt/x/capi/libonnxruntime.so.1.31.1)"
            ),
            "onnxruntime 1.31.1 (ort 2.0.0-rc.15, libonnxruntime.so.1.31.1)"
        );
        assert_eq!(short_paths("tract-onnx 0.23.9"), "tract-onnx 0.23.9");
    }

    #[test]
    fn machine_lines_are_labelled_and_readable() {
        let m = Machine {
            cpu_model: Some("AMD EPYC".into()),
            logical_cpus: 2,
            physical_cores: Some(2),
            memory_bytes: Some(25_276_514_304),
            os: Some("Debian GNU/Linux 12".into()),
            kernel: None,
            arch: "x86_64".into(),
            gpus: vec![],
            notes: vec!["nvidia-smi not on PATH".into()],
        };
        let lines = machine_lines(&m);
        assert_eq!(lines["Memory"], "23.5 GiB");
        assert_eq!(lines["Logical CPUs available"], "2");
        assert!(!lines.contains_key("Kernel"));
        assert_eq!(lines["Notes"], "nvidia-smi not on PATH");
    }
}
