//! Multi-label evaluation (`shared/spec/tasks.md`, "Multi-label"): a chest-film product that
//! reports several findings at once is evaluated finding by finding with the whole binary
//! contract ([`crate::evaluate`]: DeLong, sensitivity at specificity, calibration, subgroups,
//! clustering, bootstrap), plus each model's aggregates over the findings: the macro AUROC over
//! the findings where it is defined (with the excluded ones named) and the micro AUROC of the
//! pooled (label, score) cells.

use crate::delong::AucCounts;
use crate::evaluate::{
    Comparison, EvalError, EvalInput, EvalOptions, Grouping, ModelReport, evaluate,
};
use crate::pool::merge;
use crate::ranks::{Ranked, TieGroup};
use crate::registry::{Better, MetricKey};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One finding: its label column and each model's scores for it (models in the same order for
/// every finding).
#[derive(Clone, Debug)]
pub struct FindingInput<'a> {
    pub name: &'a str,
    pub labels: &'a [bool],
    pub models: Vec<(&'a str, &'a [f64])>,
}

/// The findings, the subgroup columns and the optional patient (cluster) column.
#[derive(Clone, Debug)]
pub struct MultilabelInput<'a> {
    pub findings: Vec<FindingInput<'a>>,
    pub groupings: Vec<Grouping<'a>>,
    pub cluster: Option<Grouping<'a>>,
}

/// One finding's results: counts, the binary report of each model, and their paired tests.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FindingReport {
    pub n: u64,
    pub positives: u64,
    pub negatives: u64,
    /// The binary `models.<col>` object of each model, keyed by model name.
    #[serde(flatten)]
    pub models: IndexMap<String, ModelReport>,
    /// Paired DeLong (and, with clusters, Obuchowski) tests of each pair of models.
    pub comparisons: Vec<Comparison>,
}

/// A model's aggregates over the findings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MultilabelSummary {
    /// Mean AUROC over the findings where it is defined (sklearn `average='macro'` on them).
    pub auroc_macro: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_macro_reason: Option<String>,
    pub n_findings_excluded: usize,
    /// Findings without an AUROC (one class), in finding order.
    pub findings_excluded: Vec<String>,
    /// Findings the model does not score (its outputs cover a subset of the findings): left
    /// out of its macro and micro AUROCs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings_not_scored: Vec<String>,
    /// AUROC of the pooled (label, score) cells of all findings (sklearn `average='micro'`).
    pub auroc_micro: Option<f64>,
    /// The same over the findings where the AUROC is defined.
    pub auroc_micro_defined_only: Option<f64>,
}

/// The whole multi-label report (`harness eval --task multilabel`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MultilabelReport {
    pub task: String,
    pub n: u64,
    pub options: EvalOptions,
    /// Finding names in input order.
    pub findings_order: Vec<String>,
    pub findings: IndexMap<String, FindingReport>,
    /// Each model's aggregates, keyed by model name.
    pub models: IndexMap<String, MultilabelSummary>,
    pub warnings: Vec<String>,
}

/// Evaluates every finding with the binary contract and aggregates per model.
///
/// # Errors
/// [`EvalError`] when a finding's columns do not describe the same cases, or the findings do
/// not name the same models in the same order.
pub fn evaluate_multilabel(
    input: &MultilabelInput,
    opts: &EvalOptions,
) -> Result<MultilabelReport, EvalError> {
    let first = input.findings.first();
    let n = first.map_or(0, |f| f.labels.len());
    let mut findings = IndexMap::new();
    let mut warnings = Vec::new();
    for f in &input.findings {
        let names: Vec<&str> = f.models.iter().map(|(m, _)| *m).collect();
        let bad = |reason: String| EvalError::Finding {
            finding: f.name.to_string(),
            reason,
        };
        if let Some(twice) = names
            .iter()
            .enumerate()
            .find(|(i, m)| names[..*i].contains(m))
            .map(|(_, m)| m)
        {
            return Err(bad(format!("model '{twice}' is named twice")));
        }
        if f.labels.len() != n {
            return Err(bad(format!(
                "{} labels, the first finding has {n}",
                f.labels.len()
            )));
        }
        let r = evaluate(&finding_input(input, f), opts)?;
        warnings.extend(r.warnings.iter().map(|w| format!("{}: {w}", f.name)));
        findings.insert(
            f.name.to_string(),
            FindingReport {
                n: r.n,
                positives: r.positives,
                negatives: r.negatives,
                models: r.models,
                comparisons: r.comparisons,
            },
        );
    }
    // Each model's table of each finding it scores: the micro AUROCs add them up.
    let tables: Vec<(String, IndexMap<String, Vec<TieGroup>>)> = input
        .findings
        .iter()
        .map(|f| {
            let by_model = f
                .models
                .iter()
                .map(|(m, scores)| (m.to_string(), Ranked::new(f.labels, scores).groups))
                .collect();
            (f.name.to_string(), by_model)
        })
        .collect();
    let models = summary_from_tables(&findings, &tables);
    Ok(MultilabelReport {
        task: "multilabel".into(),
        n: n as u64,
        options: opts.clone(),
        findings_order: input.findings.iter().map(|f| f.name.to_string()).collect(),
        findings,
        models,
        warnings,
    })
}

/// One finding as a binary evaluation input: its labels, the models that score it, the
/// subgroup and patient columns.
pub(crate) fn finding_input<'a>(
    input: &MultilabelInput<'a>,
    f: &FindingInput<'a>,
) -> EvalInput<'a> {
    EvalInput {
        labels: f.labels,
        models: f.models.clone(),
        groupings: input.groupings.clone(),
        cluster: input.cluster,
    }
}

/// Each model's macro and micro AUROCs over the findings it scores, from the findings' reports
/// and, per finding in order, each scoring model's tie table of that finding (the micro AUROC
/// is the AUROC of the sum of the tables). Models in order of first appearance.
pub(crate) fn summary_from_tables(
    findings: &IndexMap<String, FindingReport>,
    tables: &[(String, IndexMap<String, Vec<TieGroup>>)],
) -> IndexMap<String, MultilabelSummary> {
    let mut names: Vec<&str> = Vec::new();
    for (_, by_model) in tables {
        for m in by_model.keys() {
            if !names.contains(&m.as_str()) {
                names.push(m);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let auroc_of = |f: &str| findings[f].models[name].discrimination.auroc;
            let scored: Vec<(&str, &[TieGroup])> = tables
                .iter()
                .filter_map(|(f, by_model)| by_model.get(name).map(|t| (f.as_str(), t.as_slice())))
                .collect();
            let not_scored: Vec<String> = tables
                .iter()
                .filter(|(_, by_model)| !by_model.contains_key(name))
                .map(|(f, _)| f.clone())
                .collect();
            let defined: Vec<f64> = scored.iter().filter_map(|(f, _)| auroc_of(f)).collect();
            let excluded: Vec<String> = scored
                .iter()
                .filter(|(f, _)| auroc_of(f).is_none())
                .map(|(f, _)| f.to_string())
                .collect();
            let micro = |keep: &dyn Fn(&str) -> bool| {
                let merged = merge(scored.iter().filter(|(f, _)| keep(f)).map(|(_, t)| *t))?;
                AucCounts::from_groups(&merged).auroc()
            };
            let summary = MultilabelSummary {
                auroc_macro: (!defined.is_empty())
                    .then(|| defined.iter().sum::<f64>() / defined.len() as f64),
                auroc_macro_reason: defined
                    .is_empty()
                    .then(|| "no finding has both classes, so no finding has an AUROC".to_string()),
                n_findings_excluded: excluded.len(),
                findings_excluded: excluded,
                findings_not_scored: not_scored,
                auroc_micro: micro(&|_| true),
                auroc_micro_defined_only: micro(&|f| auroc_of(f).is_some()),
            };
            (name.to_string(), summary)
        })
        .collect()
}

/// The aggregates of a multi-label model a gate may name (all higher-is-better).
const GATE_AGGREGATES: [&str; 3] = ["auroc_macro", "auroc_micro", "auroc_micro_defined_only"];

/// Splits `<binary metric>.<finding>` for one of `findings` (the longest finding name that
/// ends the key wins, so findings and metrics may themselves contain dots).
fn split_finding<'k>(findings: &[String], key: &'k str) -> Option<(MetricKey, &'k str)> {
    findings
        .iter()
        .filter_map(|f| {
            let metric = key.strip_suffix(f.as_str())?.strip_suffix('.')?;
            Some((
                metric.parse::<MetricKey>().ok()?,
                &key[key.len() - f.len()..],
                f.len(),
            ))
        })
        .max_by_key(|(_, _, len)| *len)
        .map(|(m, f, _)| (m, f))
}

/// The binary metric a multi-label gate key applies to one finding (`auroc_gap.site.nodule` →
/// `auroc_gap.site`); `None` for an aggregate (`auroc_macro`) or a key naming no finding.
#[must_use]
pub fn finding_metric(findings: &[String], key: &str) -> Option<MetricKey> {
    split_finding(findings, key).map(|(metric, _)| metric)
}

/// True when `key` has the shape of a multi-label gate key whatever the findings: an aggregate,
/// or a binary metric followed by `.` and a (non-empty) finding name.
#[must_use]
pub fn is_task_key_shape(key: &str) -> bool {
    GATE_AGGREGATES.contains(&key)
        || key
            .match_indices('.')
            .any(|(i, _)| i + 1 < key.len() && key[..i].parse::<MetricKey>().is_ok())
}

/// Checks a gate key of a multi-label evaluation with these findings: an aggregate
/// (`auroc_macro`, `auroc_micro`, `auroc_micro_defined_only`) or any binary metric of one
/// finding as `<metric>.<finding>` (`auroc.effusion`, `sens_at_spec_0.90.nodule`).
pub fn gate_key(findings: &[String], key: &str) -> Result<Better, String> {
    if GATE_AGGREGATES.contains(&key) {
        return Ok(Better::Higher);
    }
    match split_finding(findings, key) {
        Some((metric, _)) => Ok(metric.better()),
        None => Err(format!(
            "unknown metric '{key}' for --task multilabel; use {} or <metric>.<finding> with a finding of {}",
            GATE_AGGREGATES.join(", "),
            findings.join(", ")
        )),
    }
}

impl MultilabelReport {
    /// The value of gate key `key` ([`gate_key`]) for `model`, or why there is none.
    pub fn gate_value(&self, model: &str, key: &str) -> Result<f64, String> {
        let undefined = || format!("{key} is undefined for this model");
        if GATE_AGGREGATES.contains(&key) {
            let s = self
                .models
                .get(model)
                .ok_or_else(|| format!("no model '{model}'"))?;
            return match key {
                "auroc_macro" => s.auroc_macro,
                "auroc_micro" => s.auroc_micro,
                _ => s.auroc_micro_defined_only,
            }
            .ok_or_else(undefined);
        }
        let (metric, finding) = split_finding(&self.findings_order, key)
            .ok_or_else(|| format!("unknown metric '{key}'"))?;
        if !self.models.contains_key(model) {
            return Err(format!("no model '{model}'"));
        }
        let report = self.findings[finding]
            .models
            .get(model)
            .ok_or_else(|| format!("{model} does not score finding {finding}"))?;
        metric
            .value(report)
            .map_err(|why| format!("finding {finding}: {why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model that scores a subset of the findings is evaluated on those only: its macro and
    /// micro AUROCs are those of its findings, the others are named as not scored, and the
    /// other model's figures do not change.
    #[test]
    fn a_model_may_score_a_subset_of_the_findings() {
        let effusion = [true, false, true, false, true, false];
        let nodule = [false, false, true, true, false, true];
        let a_eff = [0.9, 0.2, 0.7, 0.4, 0.6, 0.1];
        let a_nod = [0.3, 0.1, 0.8, 0.5, 0.6, 0.7];
        let b_nod = [0.2, 0.4, 0.6, 0.9, 0.1, 0.3];
        let both = |b: bool| MultilabelInput {
            findings: vec![
                FindingInput {
                    name: "effusion",
                    labels: &effusion,
                    models: vec![("a", &a_eff[..])],
                },
                FindingInput {
                    name: "nodule",
                    labels: &nodule,
                    models: if b {
                        vec![("a", &a_nod[..]), ("b", &b_nod[..])]
                    } else {
                        vec![("a", &a_nod[..])]
                    },
                },
            ],
            groupings: Vec::new(),
            cluster: None,
        };
        let opts = EvalOptions::default();
        let with_b = evaluate_multilabel(&both(true), &opts).unwrap();
        let alone = evaluate_multilabel(&both(false), &opts).unwrap();
        let b = &with_b.models["b"];
        let b_nodule = with_b.findings["nodule"].models["b"].discrimination.auroc;
        assert!(b_nodule.is_some());
        assert_eq!(b.auroc_macro, b_nodule);
        assert_eq!(b.auroc_micro, b_nodule, "micro over its one finding");
        assert_eq!(b.findings_not_scored, vec!["effusion".to_string()]);
        let a = &with_b.models["a"];
        assert!(a.findings_not_scored.is_empty());
        assert_eq!(a.auroc_macro, alone.models["a"].auroc_macro);
        assert_eq!(a.auroc_micro, alone.models["a"].auroc_micro);
        assert_eq!(with_b.findings["nodule"].comparisons.len(), 1);
        assert!(with_b.findings["effusion"].comparisons.is_empty());
        // Findings may list their models in any order (the report is keyed by name); a model
        // named twice in one finding is refused.
        let swapped = MultilabelInput {
            findings: vec![
                FindingInput {
                    name: "effusion",
                    labels: &effusion,
                    models: vec![("a", &a_eff[..]), ("b", &b_nod[..])],
                },
                FindingInput {
                    name: "nodule",
                    labels: &nodule,
                    models: vec![("b", &b_nod[..]), ("a", &a_nod[..])],
                },
            ],
            groupings: Vec::new(),
            cluster: None,
        };
        let r = evaluate_multilabel(&swapped, &opts).unwrap();
        assert_eq!(
            r.findings["nodule"].models["a"].discrimination.auroc,
            alone.findings["nodule"].models["a"].discrimination.auroc
        );
        let twice = MultilabelInput {
            findings: vec![FindingInput {
                name: "nodule",
                labels: &nodule,
                models: vec![("a", &a_nod[..]), ("a", &b_nod[..])],
            }],
            groupings: Vec::new(),
            cluster: None,
        };
        let err = evaluate_multilabel(&twice, &opts).unwrap_err().to_string();
        assert!(err.contains("model 'a' is named twice"), "{err}");
    }
}
