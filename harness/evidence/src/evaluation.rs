//! The one path from a validated table of labels and scores to the statistics
//! ([`EvalReport`] for a binary task, [`MultilabelReport`] for findings, a multi-class report
//! for classes): used
//! by `harness eval`, by `harness run` on a suite's predictions, and by
//! `harness verify` when it recomputes a bundle's metrics — so the three can
//! never disagree on how the statistics are called.

use harness_data::registry::DatasetTask;
use harness_data::{
    ClassSpec, EvalSpec, EvalTable, RowPlace, parse_class_csv, parse_eval_csv, with_file_bytes,
};
use harness_metrics::multiclass::{
    MulticlassError, MulticlassInput, MulticlassOptions, MulticlassReport, ROW_SUM_TOLERANCE,
    evaluate_multiclass,
};
use harness_metrics::multilabel::{
    FindingInput, MultilabelInput, MultilabelReport, evaluate_multilabel,
};
use harness_metrics::{EvalError, EvalOptions, EvalReport, Grouping, evaluate};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything needed to recompute `metrics.json` from `predictions.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSettings {
    /// The label column of `predictions.csv` (multi-label: the prefix of its label columns).
    pub label: String,
    /// One score column per candidate, in suite order (multi-label: the candidates, whose
    /// columns `findings` names).
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
    /// What the labels are; absent (binary) in binary runs and in bundles written before
    /// tasks existed.
    #[serde(default, skip_serializing_if = "DatasetTask::is_binary")]
    pub task: DatasetTask,
    /// Multi-label: each finding's label column and the score column of every candidate that
    /// scores it, in finding order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingColumns>,
    /// Bootstrap replicates of the sensitivity-at-specificity CIs (0, left out: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sens_ci_bootstrap: usize,
    /// Multi-class: the classes and each candidate's probability column per class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<ClassColumns>,
}

/// The columns of a multi-class evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassColumns {
    /// The class names, in class order.
    pub classes: Vec<String>,
    /// The column holding each case's class name.
    pub label: String,
    /// Model (candidate) name → its probability column per class, in class order.
    pub models: IndexMap<String, Vec<String>>,
}

/// A multi-class predictions file read with its [`ClassColumns`]: each case's class index (in
/// `classes` order) and the table of every model's probability columns (model by model, each
/// in class order).
#[derive(Clone, Debug)]
pub struct ClassesRead {
    pub labels: Vec<u32>,
    pub read: harness_data::ClassTable,
}

/// Reads the label and probability columns `cols` names, and the categorical columns `groups`
/// (subgroups, then the patient column), from the CSV bytes `bytes` (`path` names them in
/// errors).
///
/// # Errors
/// [`EvaluateError::Data`] for a file the columns do not describe; [`EvaluateError::Label`]
/// for a class name that is not one of the classes; [`EvaluateError::Task`] for a model with
/// the wrong number of columns.
pub fn read_classes(
    bytes: &[u8],
    path: &Path,
    cols: &ClassColumns,
    groups: &[String],
) -> Result<ClassesRead, EvaluateError> {
    // Settings may come from a bundle's manifest: check their shape before using it.
    let k = cols.classes.len();
    if let Some((model, c)) = cols.models.iter().find(|(_, c)| c.len() != k) {
        return Err(EvaluateError::Task(format!(
            "{}: model {model} has {} probability column(s) for {k} classes",
            path.display(),
            c.len()
        )));
    }
    let scores: Vec<String> = cols.models.values().flatten().cloned().collect();
    let read = parse_class_csv(
        bytes,
        path,
        &ClassSpec {
            label: &cols.label,
            scores: &scores,
            groups,
        },
    )?;
    // Each case's class, in class order; a label no class names is refused.
    let index: Vec<Option<u32>> = read
        .classes
        .levels
        .iter()
        .map(|level| {
            cols.classes
                .iter()
                .position(|c| c == level)
                .and_then(|k| u32::try_from(k).ok())
        })
        .collect();
    let mut labels = Vec::with_capacity(read.classes.codes.len());
    for (row, &code) in read.classes.codes.iter().enumerate() {
        match index[code as usize] {
            Some(k) => labels.push(k),
            None => {
                return Err(EvaluateError::Class {
                    path: path.to_path_buf(),
                    at: RowPlace::find(bytes, row + 1),
                    column: cols.label.clone(),
                    value: read.classes.levels[code as usize].clone(),
                    classes: cols.classes.join(", "),
                });
            }
        }
    }
    Ok(ClassesRead { labels, read })
}

/// Evaluates a multi-class CSV (`harness eval --task multiclass`, and a multi-class suite's
/// predictions): each case's class from the label column, each model's probabilities from its
/// columns, the subgroup columns `groups` and the patient column `cluster` (when the cases are
/// clustered); rows are never renormalised.
///
/// # Errors
/// [`EvaluateError::Data`] for a file the columns do not describe; [`EvaluateError::Label`]
/// for a class name that is not one of the classes; [`EvaluateError::Task`] for probabilities
/// the multi-class contract refuses (a row that does not sum to 1, naming the row, columns and
/// values).
pub fn evaluate_classes(
    bytes: &[u8],
    path: &Path,
    cols: &ClassColumns,
    columns: (&[String], Option<&str>),
    opts: &MulticlassOptions,
) -> Result<MulticlassReport, EvaluateError> {
    with_classes_input(bytes, path, cols, columns, |input| {
        evaluate_multiclass(input, opts)
    })
}

/// A federated site's summary of a multi-class CSV (`harness eval --task multiclass
/// --aggregates-only`): the count tables of [`harness_metrics::pool_classes`], over all cases and
/// per level of the subgroup columns `groups`, for site `site.0`; a level of fewer than `site.1`
/// cases is refused ([`harness_metrics::pool_classes::summarize_classes`]).
///
/// # Errors
/// As [`evaluate_classes`].
pub fn summarize_classes_csv(
    bytes: &[u8],
    path: &Path,
    cols: &ClassColumns,
    groups: &[String],
    (site, min_level_cases): (&str, u64),
) -> Result<harness_metrics::pool_classes::ClassesSiteSummary, EvaluateError> {
    with_classes_input(bytes, path, cols, (groups, None), |input| {
        harness_metrics::pool_classes::summarize_classes(input, site, min_level_cases)
    })
}

/// How [`EvaluateError::Class`] names the label: an empty cell (read as the missing level) is
/// named as empty, not by the reader's name for it.
fn class_label_phrase(value: &str) -> String {
    if value == harness_data::MISSING_LEVEL {
        "an empty label (every row needs its class)".to_string()
    } else {
        format!("label '{value}'")
    }
}

/// Reads a multi-class CSV as [`evaluate_classes`] describes and hands its input to `f`; an
/// input the multi-class contract refuses is reported naming the file, the row and the columns.
fn with_classes_input<T>(
    bytes: &[u8],
    path: &Path,
    cols: &ClassColumns,
    (groups, cluster): (&[String], Option<&str>),
    f: impl FnOnce(&MulticlassInput) -> Result<T, MulticlassError>,
) -> Result<T, EvaluateError> {
    let k = cols.classes.len();
    let columns: Vec<String> = groups
        .iter()
        .map(String::as_str)
        .chain(cluster)
        .map(String::from)
        .collect();
    let ClassesRead { labels, read } = read_classes(bytes, path, cols, &columns)?;
    let (groupings, cluster_column) = self::groupings(&read.table.groups, cluster);
    if let Some(name) = cluster {
        check_cluster(name, cluster_column.as_ref(), path)?;
    }
    let scores: Vec<String> = cols.models.values().flatten().cloned().collect();
    let columns: Vec<&[f64]> = read.table.scores.iter().map(Vec::as_slice).collect();
    let models = cols
        .models
        .keys()
        .enumerate()
        .map(|(m, name)| (name.as_str(), columns[m * k..(m + 1) * k].to_vec()))
        .collect();
    let input = MulticlassInput {
        classes: &cols.classes,
        labels: &labels,
        models,
        groupings,
        cluster: cluster_column,
    };
    f(&input).map_err(|e| match e {
        // Name the file, the row and the columns, as every input error does.
        MulticlassError::RowSum {
            model, case, sum, ..
        } => {
            let m = cols.models.get_index_of(&model).unwrap_or(0);
            let cells: Vec<String> = (0..k)
                .map(|c| format!("{}={}", scores[m * k + c], read.table.scores[m * k + c][case]))
                .collect();
            EvaluateError::Task(format!(
                "{}: {}: model {model}'s class probabilities ({}) sum to {}, not 1 within {ROW_SUM_TOLERANCE:e}; rows are never renormalised",
                path.display(),
                RowPlace::find(bytes, case + 1),
                cells.join(", "),
                format!("{sum:.9}").trim_end_matches('0')
            ))
        }
        other => EvaluateError::Task(format!("{}: {other}", path.display())),
    })
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The columns of one finding in `predictions.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingColumns {
    pub name: String,
    /// Its 0/1 label column.
    pub label: String,
    /// Model (candidate) name → its score column for this finding; models that do not score
    /// the finding are absent.
    pub scores: IndexMap<String, String>,
}

/// The statistics of one evaluation, by task.
#[derive(Clone, Debug)]
pub enum Metrics {
    Binary(EvalReport),
    Multilabel(MultilabelReport),
    Multiclass(MulticlassReport),
}

impl Metrics {
    /// The binary report, or `None` for another task.
    #[must_use]
    pub fn binary(&self) -> Option<&EvalReport> {
        match self {
            Metrics::Binary(r) => Some(r),
            _ => None,
        }
    }

    /// The multi-label report, or `None` for another task.
    #[must_use]
    pub fn multilabel(&self) -> Option<&MultilabelReport> {
        match self {
            Metrics::Multilabel(r) => Some(r),
            _ => None,
        }
    }

    /// The multi-class report, or `None` for another task.
    #[must_use]
    pub fn multiclass(&self) -> Option<&MulticlassReport> {
        match self {
            Metrics::Multiclass(r) => Some(r),
            _ => None,
        }
    }

    /// The models (candidates) evaluated, in order.
    #[must_use]
    pub fn model_names(&self) -> Vec<String> {
        match self {
            Metrics::Binary(r) => r.models.keys().cloned().collect(),
            Metrics::Multilabel(r) => r.models.keys().cloned().collect(),
            Metrics::Multiclass(r) => r.models.keys().cloned().collect(),
        }
    }

    /// What the statistics warn about.
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        match self {
            Metrics::Binary(r) => &r.warnings,
            Metrics::Multilabel(r) => &r.warnings,
            Metrics::Multiclass(r) => &r.warnings,
        }
    }

    /// The canonical bytes of `metrics.json` ([`metrics_json`]).
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            Metrics::Binary(r) => metrics_json(r),
            Metrics::Multilabel(r) => pretty_json(r),
            Metrics::Multiclass(r) => pretty_json(r),
        }
    }
}

/// Every finding's labels and every score, subgroup and patient column of a multi-label
/// predictions file, read in one pass.
#[derive(Clone, Debug)]
pub struct FindingsTable {
    /// `labels[k]`: finding `k`'s label per case.
    pub labels: Vec<Vec<bool>>,
    /// The score columns (each once), and the subgroup and patient columns as group columns.
    pub table: EvalTable,
}

/// Reads the label and score columns of `findings` and the group columns `groups` (subgroups,
/// then the patient column) from the CSV bytes `bytes` (`path` names them in errors), in one
/// pass: the first finding's label column is read as the table's label, the others as
/// categorical columns checked to hold labels.
///
/// # Errors
/// [`EvaluateError::Data`] as [`parse_eval_csv`]; [`EvaluateError::Label`] for a label of a
/// later finding that is not 0 or 1.
pub fn read_findings(
    bytes: &[u8],
    path: &Path,
    findings: &[FindingColumns],
    groups: &[String],
) -> Result<FindingsTable, EvaluateError> {
    let Some(first) = findings.first() else {
        return Err(EvaluateError::Task(format!(
            "{}: a multi-label evaluation needs at least one finding",
            path.display()
        )));
    };
    let mut scores: Vec<String> = Vec::new();
    for column in findings.iter().flat_map(|f| f.scores.values()) {
        if !scores.contains(column) {
            scores.push(column.clone());
        }
    }
    let other_labels: Vec<String> = findings[1..].iter().map(|f| f.label.clone()).collect();
    let columns: Vec<String> = other_labels.iter().chain(groups).cloned().collect();
    let spec = EvalSpec {
        label: &first.label,
        scores: &scores,
        groups: &columns,
    };
    let mut table = parse_eval_csv(bytes, path, &spec)?;
    let mut labels = vec![std::mem::take(&mut table.labels)];
    for g in table.groups.drain(..other_labels.len()) {
        let values: Vec<Option<bool>> = g
            .levels
            .iter()
            .map(|l| {
                if l == harness_data::MISSING_LEVEL {
                    None
                } else {
                    harness_data::label_value(l)
                }
            })
            .collect();
        let mut column = Vec::with_capacity(g.codes.len());
        for (row, &code) in g.codes.iter().enumerate() {
            match values[code as usize] {
                Some(v) => column.push(v),
                None => {
                    return Err(EvaluateError::Label {
                        path: path.to_path_buf(),
                        at: RowPlace::find(bytes, row + 1),
                        column: g.name.clone(),
                        value: if g.levels[code as usize] == harness_data::MISSING_LEVEL {
                            String::new()
                        } else {
                            g.levels[code as usize].clone()
                        },
                    });
                }
            }
        }
        labels.push(column);
    }
    table.labels = labels[0].clone();
    Ok(FindingsTable { labels, table })
}

/// The findings of a one-pass read ([`read_findings`]) as a multi-label evaluation input: each
/// finding's labels and its models' score columns, the subgroup columns and the patient column.
///
/// # Errors
/// [`EvalError`] when a finding names a score column the table lacks, or the cluster column
/// lacks an id.
pub fn findings_input<'a>(
    findings: &'a [FindingColumns],
    read: &'a FindingsTable,
    cluster: Option<&str>,
) -> Result<MultilabelInput<'a>, EvalError> {
    let table = &read.table;
    let (groupings, cluster_column) = groupings(&table.groups, cluster);
    if let Some(name) = cluster {
        check_cluster(name, cluster_column.as_ref(), &table.path)?;
    }
    let score_of = |column: &str| {
        table
            .score_names
            .iter()
            .position(|n| n == column)
            .map(|k| table.scores[k].as_slice())
    };
    let mut inputs = Vec::with_capacity(findings.len());
    for (f, labels) in findings.iter().zip(&read.labels) {
        let mut models = Vec::with_capacity(f.scores.len());
        for (model, column) in &f.scores {
            let scores = score_of(column).ok_or_else(|| EvalError::Finding {
                finding: f.name.clone(),
                reason: format!("its score column '{column}' was not read"),
            })?;
            models.push((model.as_str(), scores));
        }
        inputs.push(FindingInput {
            name: &f.name,
            labels,
            models,
        });
    }
    Ok(MultilabelInput {
        findings: inputs,
        groupings,
        cluster: cluster_column,
    })
}

/// Evaluates findings (`harness eval --task multilabel`, and a multi-label suite's predictions)
/// from their one-pass table ([`findings_input`]): the binary contract on each, and each model's
/// aggregates. `cluster` names the group column of the patient (cluster) ids, as in
/// [`evaluate_table`].
///
/// # Errors
/// [`EvalError`] when a finding names a score column the table lacks, the columns do not
/// describe one set of cases, or the cluster column lacks an id.
pub fn evaluate_findings(
    findings: &[FindingColumns],
    read: &FindingsTable,
    cluster: Option<&str>,
    opts: &EvalOptions,
) -> Result<MultilabelReport, EvalError> {
    evaluate_multilabel(&findings_input(findings, read, cluster)?, opts)
}

impl EvalSettings {
    /// The columns of `predictions.csv` read as categorical: the subgroups, then the patient
    /// column.
    pub fn columns(&self) -> Vec<String> {
        self.groups.iter().chain(&self.cluster).cloned().collect()
    }

    /// The findings (multi-label) or classes (multi-class) evaluated, in order; empty for a
    /// binary task. The gate's keys name them.
    #[must_use]
    pub fn targets(&self) -> Vec<String> {
        match self.task {
            DatasetTask::Binary => Vec::new(),
            DatasetTask::Multilabel => self.findings.iter().map(|f| f.name.clone()).collect(),
            DatasetTask::Multiclass => self
                .classes
                .as_ref()
                .map(|c| c.classes.clone())
                .unwrap_or_default(),
        }
    }

    pub fn options(&self) -> EvalOptions {
        EvalOptions {
            threshold: self.threshold,
            target_specificities: self.target_specificities.clone(),
            bootstrap: self.bootstrap,
            seed: self.seed,
            sens_ci_bootstrap: self.sens_ci_bootstrap,
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
    /// A task that is evaluated elsewhere.
    #[error("{0}")]
    Task(String),
    /// A class name that is not one of the classes.
    #[error(
        "{}: {at}: {} in column '{column}' is not one of the classes {classes}",
        path.display(),
        class_label_phrase(value)
    )]
    Class {
        path: std::path::PathBuf,
        /// The row, and the line it starts on.
        at: RowPlace,
        column: String,
        value: String,
        classes: String,
    },
    /// A finding's label that is not 0 or 1.
    #[error(
        "{}: {at}: column '{column}' has '{value}': a label is 0 or 1",
        path.display()
    )]
    Label {
        path: std::path::PathBuf,
        /// The row, and the line it starts on.
        at: RowPlace,
        column: String,
        value: String,
    },
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
        check_cluster(name, input.cluster.as_ref(), &table.path)?;
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
/// [`EvalError::Cluster`] naming the column and the first case without an id: its data row and
/// its line in `file`, the CSV the column was read from (read again to find it; a file that cannot
/// be read, such as the in-memory predictions of a site run, is not named).
pub fn check_cluster(name: &str, column: Option<&Grouping>, file: &Path) -> Result<(), EvalError> {
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
            "{} has no patient id; every case needs one (empty ids would be pooled into one patient)",
            match RowPlace::in_file(file, row + 1) {
                place @ RowPlace { line: Some(_), .. } => format!("{place} of {}", file.display()),
                place => place.to_string(),
            }
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
///
/// # Errors
/// As [`evaluate_predictions`], and [`harness_data::DataError::Io`] for an unreadable file.
pub fn evaluate_csv(path: &Path, settings: &EvalSettings) -> Result<Metrics, EvaluateError> {
    with_file_bytes(path, |bytes| evaluate_predictions(bytes, path, settings))
}

/// Evaluates the bytes of a predictions CSV (`path` names it in errors) as `settings` say.
///
/// # Errors
/// [`EvaluateError::Data`] for a file the settings do not describe, [`EvaluateError::Invalid`]
/// for columns that do not describe one set of cases, [`EvaluateError::Task`] for a task
/// suites do not evaluate.
pub fn evaluate_predictions(
    bytes: &[u8],
    path: &Path,
    settings: &EvalSettings,
) -> Result<Metrics, EvaluateError> {
    let columns = settings.columns();
    let opts = settings.options();
    match settings.task {
        DatasetTask::Binary => {
            let spec = EvalSpec {
                label: &settings.label,
                scores: &settings.scores,
                groups: &columns,
            };
            let table = parse_eval_csv(bytes, path, &spec)?;
            Ok(Metrics::Binary(evaluate_table(
                &table,
                settings.cluster.as_deref(),
                &opts,
            )?))
        }
        DatasetTask::Multilabel => {
            let read = read_findings(bytes, path, &settings.findings, &columns)?;
            Ok(Metrics::Multilabel(evaluate_findings(
                &settings.findings,
                &read,
                settings.cluster.as_deref(),
                &opts,
            )?))
        }
        DatasetTask::Multiclass => {
            let cols = settings.classes.as_ref().ok_or_else(|| {
                EvaluateError::Task(format!(
                    "{}: the settings of a multi-class evaluation name no classes",
                    path.display()
                ))
            })?;
            Ok(Metrics::Multiclass(evaluate_classes(
                bytes,
                path,
                cols,
                (&settings.groups, settings.cluster.as_deref()),
                &MulticlassOptions {
                    bootstrap: settings.bootstrap,
                    seed: settings.seed,
                },
            )?))
        }
    }
}

/// The canonical bytes of `metrics.json`: pretty JSON and a final newline.
/// Deterministic: the report holds no time or machine information.
pub fn metrics_json(report: &EvalReport) -> Vec<u8> {
    pretty_json(report)
}

fn pretty_json<T: Serialize>(report: &T) -> Vec<u8> {
    // Serialising plain data with finite floats cannot fail.
    let mut bytes = serde_json::to_vec_pretty(report).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(name: &str, scores: &[(&str, &str)]) -> FindingColumns {
        FindingColumns {
            name: name.into(),
            label: format!("label:{name}"),
            scores: scores
                .iter()
                .map(|(m, c)| ((*m).to_string(), (*c).to_string()))
                .collect(),
        }
    }

    /// Multi-class settings whose models do not give one column per class (a hostile or
    /// damaged manifest) are refused, never sliced past their end.
    #[test]
    fn class_columns_of_the_wrong_shape_are_refused() {
        let csv = b"case_id,label,m:a,m:b,m:c\n1,a,0.5,0.3,0.2\n2,b,0.1,0.8,0.1\n3,c,0.3,0.3,0.4\n";
        let mut models = IndexMap::new();
        models.insert("m".to_string(), vec!["m:a".to_string(), "m:b".to_string()]);
        let cols = ClassColumns {
            classes: vec!["a".into(), "b".into(), "c".into()],
            label: "label".into(),
            models,
        };
        let opts = MulticlassOptions {
            bootstrap: 0,
            seed: 1,
        };
        let err = evaluate_classes(csv, Path::new("p.csv"), &cols, (&[], None), &opts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.csv: model m has 2 probability column(s) for 3 classes"
        );
        let mut good = cols.clone();
        good.models["m"].push("m:c".into());
        let r = evaluate_classes(csv, Path::new("p.csv"), &good, (&[], None), &opts).unwrap();
        assert_eq!(r.models["m"].accuracy, 1.0);
    }

    /// One pass gives every finding the labels and scores a read per finding gives, and a
    /// model scoring a subset of the findings keeps its columns apart.
    #[test]
    fn findings_read_in_one_pass_equal_findings_read_one_by_one() {
        let csv = b"case_id,label:x,label:y,site,m:x,m:y,n:y\n\
                    1,1,0,A,0.9,0.2,0.3\n2,0,1,B,0.1,0.8,0.7\n3,1,1,A,0.6,0.6,0.1\n4,0,0,B,0.4,0.3,0.2\n";
        let path = Path::new("p.csv");
        let findings = [
            finding("x", &[("m", "m:x")]),
            finding("y", &[("m", "m:y"), ("n", "n:y")]),
        ];
        let groups = vec!["site".to_string()];
        let read = read_findings(csv, path, &findings, &groups).unwrap();
        for (f, labels) in findings.iter().zip(&read.labels) {
            let scores: Vec<String> = f.scores.values().cloned().collect();
            let alone = parse_eval_csv(
                csv,
                path,
                &EvalSpec {
                    label: &f.label,
                    scores: &scores,
                    groups: &groups,
                },
            )
            .unwrap();
            assert_eq!(labels, &alone.labels, "{}", f.name);
            for (k, column) in scores.iter().enumerate() {
                let j = read
                    .table
                    .score_names
                    .iter()
                    .position(|n| n == column)
                    .unwrap();
                assert_eq!(read.table.scores[j], alone.scores[k]);
            }
        }
        assert_eq!(
            read.table.groups.len(),
            1,
            "label columns are not subgroups"
        );
        let report = evaluate_findings(&findings, &read, None, &EvalOptions::default()).unwrap();
        assert_eq!(report.findings["y"].models.len(), 2);
        assert_eq!(
            report.models["n"].findings_not_scored,
            vec!["x".to_string()]
        );

        // A later finding's label that is not 0 or 1 (or is empty) is refused, naming the
        // data row, the column and the value.
        for (bad, value) in [(&b"2"[..], "2"), (b"", "")] {
            let mut text = csv.to_vec();
            let at = text.windows(7).position(|w| w == b"\n3,1,1,").unwrap() + 5;
            text.splice(at..at + 1, bad.iter().copied());
            let err = read_findings(&text, path, &findings, &groups).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "p.csv: line 4 (data row 3): column 'label:y' has '{value}': a label is 0 or 1"
                )
            );
        }
    }
}
