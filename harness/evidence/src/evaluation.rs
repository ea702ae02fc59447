//! The one path from a validated table of labels and scores to an
//! [`EvalReport`]: used by `harness eval`, by `harness run` on a suite's
//! predictions, and by `harness verify` when it recomputes a bundle's metrics —
//! so the three can never disagree on how the statistics are called.

use harness_data::{EvalSpec, EvalTable, read_eval_csv};
use harness_metrics::{EvalError, EvalOptions, EvalReport, Grouping, evaluate};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything needed to recompute `metrics.json` from `predictions.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSettings {
    /// The label column of `predictions.csv`.
    pub label: String,
    /// One score column per candidate, in suite order.
    pub scores: Vec<String>,
    /// Subgroup columns.
    pub groups: Vec<String>,
    /// The patient (cluster) column, when the dataset declares one. Absent in bundles written
    /// before it existed and in runs without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Decision threshold (predicted positive iff score ≥ threshold).
    pub threshold: f64,
    pub target_specificities: Vec<f64>,
    /// Bootstrap replicates (0 = none).
    pub bootstrap: usize,
    pub seed: u64,
}

impl EvalSettings {
    /// The columns of `predictions.csv` read as categorical: the subgroups, then the patient
    /// column.
    pub fn columns(&self) -> Vec<String> {
        self.groups.iter().chain(&self.cluster).cloned().collect()
    }

    pub fn options(&self) -> EvalOptions {
        EvalOptions {
            threshold: self.threshold,
            target_specificities: self.target_specificities.clone(),
            bootstrap: self.bootstrap,
            seed: self.seed,
            sens_ci_bootstrap: 0,
        }
    }
}

/// Why `metrics.json` could not be computed from a predictions file.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// The file could not be read as the settings describe it.
    #[error(transparent)]
    Data(#[from] harness_data::DataError),
    /// The table does not describe one set of cases.
    #[error("{0}")]
    Invalid(#[from] EvalError),
}

/// Evaluates every score column of `table`. `cluster` names the group column that holds the
/// patient (cluster) of each case, if any: it is then not a subgroup column but the clustering
/// of the Obuchowski statistics.
///
/// # Errors
/// [`EvalError`] when the table's columns do not describe one set of cases (a table read by
/// `harness_data` always does).
pub fn evaluate_table(
    table: &EvalTable,
    cluster: Option<&str>,
    opts: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    let input = eval_input(table, cluster);
    if let Some(name) = cluster {
        check_cluster(name, input.cluster.as_ref())?;
    }
    evaluate(&input, opts)
}

/// A table as the statistics take it: every score column a model, the group columns as
/// subgroups, except the column named `cluster` (if any), which is the patient clustering.
pub fn eval_input<'a>(
    table: &'a EvalTable,
    cluster: Option<&str>,
) -> harness_metrics::EvalInput<'a> {
    let (groupings, cluster_column) = groupings(&table.groups, cluster);
    harness_metrics::EvalInput {
        labels: &table.labels,
        models: table
            .score_names
            .iter()
            .map(String::as_str)
            .zip(table.scores.iter().map(Vec::as_slice))
            .collect(),
        groupings,
        cluster: cluster_column,
    }
}

fn grouping(g: &harness_data::GroupColumn) -> Grouping<'_> {
    Grouping {
        name: &g.name,
        levels: &g.levels,
        codes: &g.codes,
    }
}

/// A cluster column must exist and give every case an id: an empty id would pool unrelated
/// cases into one "patient" and distort the clustered variance.
///
/// # Errors
/// [`EvalError::Cluster`] naming the column and the first case without an id (1-based data row).
pub fn check_cluster(name: &str, column: Option<&Grouping>) -> Result<(), EvalError> {
    let bad = |reason: String| EvalError::Cluster {
        column: name.to_string(),
        reason,
    };
    let Some(g) = column else {
        return Err(bad("not among the columns read".into()));
    };
    if let Some(missing) = g
        .levels
        .iter()
        .position(|l| l == harness_data::MISSING_LEVEL)
        && let Some(row) = g.codes.iter().position(|&c| c as usize == missing)
    {
        return Err(bad(format!(
            "data row {} has no patient id; every case needs one (empty ids would be pooled into one patient)",
            row + 1
        )));
    }
    Ok(())
}

/// A table's group columns as the statistics take them: the subgroup columns, and the column
/// named `cluster` (if any) as the patient clustering instead of a subgroup.
pub fn groupings<'a>(
    groups: &'a [harness_data::GroupColumn],
    cluster: Option<&str>,
) -> (Vec<Grouping<'a>>, Option<Grouping<'a>>) {
    let is_cluster = |g: &&harness_data::GroupColumn| Some(g.name.as_str()) == cluster;
    (
        groups
            .iter()
            .filter(|g| !is_cluster(g))
            .map(grouping)
            .collect(),
        groups.iter().find(is_cluster).map(grouping),
    )
}

/// Reads a predictions CSV and evaluates it as `settings` say.
pub fn evaluate_csv(path: &Path, settings: &EvalSettings) -> Result<EvalReport, EvaluateError> {
    let columns = settings.columns();
    let spec = EvalSpec {
        label: &settings.label,
        scores: &settings.scores,
        groups: &columns,
    };
    let table = read_eval_csv(path, &spec)?;
    Ok(evaluate_table(
        &table,
        settings.cluster.as_deref(),
        &settings.options(),
    )?)
}

/// The canonical bytes of `metrics.json`: pretty JSON and a final newline.
/// Deterministic: the report holds no time or machine information.
pub fn metrics_json(report: &EvalReport) -> Vec<u8> {
    // Serialising plain data with finite floats cannot fail.
    let mut bytes = serde_json::to_vec_pretty(report).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
