//! The CI gate: `--fail-under auroc=0.85 --fail-over ece_10=0.05` (and a
//! suite's `[acceptance]`), checked against every candidate's metrics. A
//! criterion whose value is undefined (null) fails: a gate must not pass on
//! evidence that does not exist.
//!
//! Metric names are those of the registry ([`harness_metrics::registry`]): the
//! `metrics.json` field names of one model (`auroc`, `brier`, `ece_10`, …),
//! `auroc_ci_lower` / `auroc_ci_upper` (the DeLong 95 % CI bounds),
//! `sens_at_spec_0.90` (sensitivity at a target specificity), and
//! `demographic_parity_difference.COL`, `equalized_odds_difference.COL`,
//! `auroc_gap.COL` for a grouping column COL.

use crate::evaluation::Metrics;
use harness_data::registry::DatasetTask;
use harness_metrics::registry::{Better, MetricKey};
use harness_metrics::{EvalReport, ModelReport};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Fails when the value is below the limit.
    Under,
    /// Fails when the value is above the limit.
    Over,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Criterion {
    pub metric: MetricKey,
    pub direction: Direction,
    pub limit: f64,
}

/// The first of `criteria` that an evaluation with `opts`, the grouping columns `groupings` and
/// (when `clustered`) a patient column can never give, and why ([`MetricKey::unavailable`]).
#[must_use]
pub fn unavailable<'c>(
    criteria: &'c [Criterion],
    opts: &harness_metrics::EvalOptions,
    groupings: &[String],
    clustered: bool,
) -> Option<(&'c Criterion, String)> {
    criteria.iter().find_map(|c| {
        c.metric
            .unavailable(opts, groupings, clustered)
            .map(|why| (c, why))
    })
}

/// [`unavailable`] for a multi-label task's criteria: a finding's metric (`auroc_gap.site.nodule`,
/// `sens_at_spec_0.95.nodule`) that the evaluation of that finding can never give. The
/// aggregates (`auroc_macro`, …) and a multi-class task's keys are left to the gate.
#[must_use]
pub fn unavailable_task<'c>(
    task: DatasetTask,
    names: &[String],
    criteria: &'c [TaskCriterion],
    opts: &harness_metrics::EvalOptions,
    groupings: &[String],
    clustered: bool,
) -> Option<(&'c TaskCriterion, String)> {
    if task != DatasetTask::Multilabel {
        return None;
    }
    criteria.iter().find_map(|c| {
        harness_metrics::multilabel::finding_metric(names, &c.key)?
            .unavailable(opts, groupings, clustered)
            .map(|why| (c, why))
    })
}

/// Refuses a limit that is not finite, or outside [0, 1] for a metric whose values are in it
/// (85 written for 0.85: a criterion that always fails or never does).
fn check_limit(key: &str, limit: f64) -> Result<(), String> {
    if !limit.is_finite() {
        return Err(format!(
            "limit for '{key}' must be a finite number, not {limit}"
        ));
    }
    if harness_metrics::registry::unit_interval_key(key) && !(0.0..=1.0).contains(&limit) {
        return Err(format!(
            "limit {limit} for '{key}' is outside [0, 1], where its values lie: write a proportion (0.85, not 85)"
        ));
    }
    Ok(())
}

impl Criterion {
    /// Checks the metric name against the registry; `limit` must be finite, and in [0, 1]
    /// for a metric whose values are.
    pub fn new(metric: &str, direction: Direction, limit: f64) -> Result<Criterion, String> {
        let metric: MetricKey = metric.parse()?;
        check_limit(&metric.to_string(), limit)?;
        Ok(Criterion {
            metric,
            direction,
            limit,
        })
    }

    /// Parses `metric=value` as given on the command line.
    pub fn parse(arg: &str, direction: Direction) -> Result<Criterion, String> {
        let (m, v) = split_criterion(arg)?;
        Criterion::new(m, direction, v)
    }

    /// A sentence when the direction contradicts the metric's (`--fail-under brier=0.2`: a
    /// Brier score is better when lower, so a floor is probably a mistake), else `None`.
    #[must_use]
    pub fn direction_warning(&self) -> Option<String> {
        direction_warning(
            self.direction,
            self.metric.better(),
            &self.metric.to_string(),
            self.limit,
            &self.metric.label(),
        )
    }

    /// The value of this criterion's metric for one model, or why there is none.
    pub fn value(&self, m: &ModelReport) -> Result<f64, String> {
        self.metric.value(m)
    }
}

/// Splits `METRIC=VALUE` (the value a finite number).
fn split_criterion(arg: &str) -> Result<(&str, f64), String> {
    let (m, v) = arg
        .split_once('=')
        .ok_or_else(|| format!("'{arg}': expected METRIC=VALUE, e.g. auroc=0.85"))?;
    let v: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("'{arg}': '{v}' is not a number"))?;
    if !v.is_finite() {
        return Err(format!(
            "limit for '{}' must be a finite number, not {v}",
            m.trim()
        ));
    }
    Ok((m.trim(), v))
}

/// A criterion on a multi-class or multi-label report (`harness eval --task ...`): its key is
/// checked and read by the task's own report (`auroc_macro`, `auroc.<class or finding>`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskCriterion {
    pub key: String,
    pub direction: Direction,
    pub limit: f64,
}

/// "auroc ≥ 0.85" (`--fail-under`), "ece_10 ≤ 0.05" (`--fail-over`): what a criterion asks.
impl std::fmt::Display for TaskCriterion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.direction {
            Direction::Under => "≥",
            Direction::Over => "≤",
        };
        write!(f, "{} {op} {}", self.key, self.limit)
    }
}

impl TaskCriterion {
    /// Parses `key=value`; `better` checks the key against the task (its direction, or why the
    /// key is unknown).
    pub fn parse(
        arg: &str,
        direction: Direction,
        better: impl Fn(&str) -> Result<Better, String>,
    ) -> Result<(TaskCriterion, Option<String>), String> {
        let c = TaskCriterion::unchecked(arg, direction)?;
        let warning = c.check(better)?;
        Ok((c, warning))
    }

    /// Checks the key against a task (`better`: its direction, or why the key is unknown) and
    /// the limit; a sentence when the direction contradicts the metric's.
    pub fn check(
        &self,
        better: impl Fn(&str) -> Result<Better, String>,
    ) -> Result<Option<String>, String> {
        let b = better(&self.key)?;
        check_limit(&self.key, self.limit)?;
        Ok(direction_warning(
            self.direction,
            b,
            &self.key,
            self.limit,
            &self.key,
        ))
    }

    /// This criterion on a binary evaluation: its key checked by the metric registry, with a
    /// sentence when the direction contradicts the metric's.
    pub fn binary(&self) -> Result<(Criterion, Option<String>), String> {
        let c = Criterion::new(&self.key, self.direction, self.limit)?;
        let warning = c.direction_warning();
        Ok((c, warning))
    }

    /// `key=value` as given, the key not checked yet: a suite run checks it once it knows the
    /// dataset's task ([`Gate::for_task`]).
    pub fn unchecked(arg: &str, direction: Direction) -> Result<TaskCriterion, String> {
        let (key, limit) = split_criterion(arg)?;
        Ok(TaskCriterion {
            key: key.to_string(),
            direction,
            limit,
        })
    }
}

/// A key a suite's `[acceptance]` may hold before its dataset's task is known: a binary metric
/// of the registry, or a key of a multi-label task (an aggregate, or `<metric>.<finding>`).
pub fn check_key_shape(key: &str) -> Result<(), String> {
    match key.parse::<MetricKey>() {
        Ok(_) => Ok(()),
        Err(_)
            if harness_metrics::multilabel::is_task_key_shape(key)
                || harness_metrics::multiclass::gate_key(&[], key).is_ok() =>
        {
            Ok(())
        }
        // The registry's message lists the binary metrics.
        Err(e) => Err(format!(
            "{e}; a multi-label dataset also takes auroc_macro, auroc_micro, auroc_micro_defined_only and <metric>.<finding>, a multi-class one auroc_macro, auroc_weighted, auroc_hand_till, accuracy, balanced_accuracy, top_label_ece_10 and auroc.<class>"
        )),
    }
}

/// The criteria of a run, checked against its task.
#[derive(Clone, Debug, PartialEq)]
pub enum Gate {
    /// A binary task's criteria, on each candidate's `models.<name>` object.
    Binary(Vec<Criterion>),
    /// A multi-label or multi-class task's criteria (`auroc_macro`, `auroc.<finding or
    /// class>`, …), read by the task's report.
    Task {
        task: DatasetTask,
        criteria: Vec<TaskCriterion>,
        /// The task's findings or classes, as the keys name them.
        names: Vec<String>,
    },
}

impl Gate {
    /// Checks requested criteria against the task: binary keys by the metric registry, a
    /// multi-label or multi-class task's keys against its `names` (findings or classes). Also
    /// gives a warning per criterion whose direction contradicts its metric's.
    ///
    /// # Errors
    /// The first criterion whose key the task does not know, or whose limit is not finite.
    pub fn for_task(
        requested: &[TaskCriterion],
        task: DatasetTask,
        names: &[String],
    ) -> Result<(Gate, Vec<String>), String> {
        let mut warnings = Vec::new();
        if task.is_binary() {
            let criteria = requested
                .iter()
                .map(|r| {
                    let (c, warning) = r.binary()?;
                    warnings.extend(warning);
                    Ok(c)
                })
                .collect::<Result<_, String>>()?;
            return Ok((Gate::Binary(criteria), warnings));
        }
        let criteria = requested
            .iter()
            .map(|r| {
                warnings.extend(r.check(|key| match task {
                    DatasetTask::Multiclass => harness_metrics::multiclass::gate_key(names, key),
                    _ => harness_metrics::multilabel::gate_key(names, key),
                })?);
                Ok(r.clone())
            })
            .collect::<Result<_, String>>()?;
        Ok((
            Gate::Task {
                task,
                criteria,
                names: names.to_vec(),
            },
            warnings,
        ))
    }

    /// The first criterion that an evaluation with `opts`, the grouping columns `groupings` and
    /// (when `clustered`) a patient column can never give, with why: a mistake in the
    /// criterion, to be refused before any inference rather than failed after it. Binary
    /// criteria, and a multi-label task's per-finding ones ([`unavailable_task`]).
    #[must_use]
    pub fn unavailable(
        &self,
        opts: &harness_metrics::EvalOptions,
        groupings: &[String],
        clustered: bool,
    ) -> Option<String> {
        match self {
            Gate::Binary(criteria) => unavailable(criteria, opts, groupings, clustered)
                .map(|(c, why)| format!("{}: {why}", c.metric)),
            Gate::Task {
                task,
                criteria,
                names,
            } => unavailable_task(*task, names, criteria, opts, groupings, clustered)
                .map(|(c, why)| format!("{}: {why}", c.key)),
        }
    }

    /// True when there is no criterion.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        match self {
            Gate::Binary(c) => c.is_empty(),
            Gate::Task { criteria, .. } => criteria.is_empty(),
        }
    }

    /// Every criterion's verdict for every candidate of `metrics` (criteria of another task
    /// than the metrics' fail, saying why).
    #[must_use]
    pub fn check(&self, metrics: &Metrics) -> Vec<GateResult> {
        let criteria: Vec<TaskCriterion> = match self {
            Gate::Binary(c) => {
                if let Metrics::Binary(r) = metrics {
                    return check(r, c);
                }
                c.iter()
                    .map(|c| TaskCriterion {
                        key: c.metric.to_string(),
                        direction: c.direction,
                        limit: c.limit,
                    })
                    .collect()
            }
            Gate::Task { criteria, .. } => criteria.clone(),
        };
        match (self, metrics) {
            (
                Gate::Task {
                    task: DatasetTask::Multilabel,
                    ..
                },
                Metrics::Multilabel(r),
            ) => check_task(&metrics.model_names(), &criteria, |m, k| r.gate_value(m, k)),
            (
                Gate::Task {
                    task: DatasetTask::Multiclass,
                    ..
                },
                Metrics::Multiclass(r),
            ) => check_task(&metrics.model_names(), &criteria, |m, k| r.gate_value(m, k)),
            _ => check_task(&metrics.model_names(), &criteria, |_, k| {
                Err(format!("{k} is not a metric of these results' task"))
            }),
        }
    }
}

/// Checks every task criterion against every model, reading values with `value(model, key)`.
pub fn check_task(
    models: &[String],
    criteria: &[TaskCriterion],
    value: impl Fn(&str, &str) -> Result<f64, String>,
) -> Vec<GateResult> {
    models
        .iter()
        .flat_map(|m| {
            criteria
                .iter()
                .map(|c| judge(m, &c.key, c.direction, c.limit, value(m, &c.key)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The sentence when a criterion's direction contradicts its metric's.
fn direction_warning(
    direction: Direction,
    better: Better,
    key: &str,
    limit: f64,
    label: &str,
) -> Option<String> {
    let contradicts = match (direction, better) {
        (Direction::Under, Better::Lower) => Some("lower is better"),
        (Direction::Over, Better::Higher) => Some("higher is better"),
        _ => None,
    }?;
    let (flag, other) = match direction {
        Direction::Under => ("fail-under", "fail-over"),
        Direction::Over => ("fail-over", "fail-under"),
    };
    Some(format!(
        "{flag} {key}={limit}: for {label} {contradicts}; did you mean {other}?"
    ))
}

/// One criterion's verdict for one model from its value (or why there is none).
fn judge(
    name: &str,
    key: &str,
    direction: Direction,
    limit: f64,
    value: Result<f64, String>,
) -> GateResult {
    let (value, passed, message) = match value {
        Ok(v) => {
            let passed = match direction {
                Direction::Under => v >= limit,
                Direction::Over => v <= limit,
            };
            let rel = match (direction, passed) {
                (Direction::Under, true) => "is at least",
                (Direction::Under, false) => "is below",
                (Direction::Over, true) => "is at most",
                (Direction::Over, false) => "is above",
            };
            let shown = shown(v, direction, limit);
            (
                Some(v),
                passed,
                format!("{name}: {key} = {shown} {rel} {limit}"),
            )
        }
        Err(why) => (
            None,
            false,
            format!("{name}: {why}; the criterion cannot pass"),
        ),
    };
    GateResult {
        candidate: name.to_string(),
        metric: key.to_string(),
        direction,
        limit,
        value,
        passed,
        message,
    }
}

/// A gated value as verdicts show it: four decimals, unless they would read as the other
/// verdict (0.09999999999999998 shown as 0.1000 "is below 0.1"): then every digit.
#[must_use]
pub fn shown(v: f64, direction: Direction, limit: f64) -> String {
    let passes = |x: f64| match direction {
        Direction::Under => x >= limit,
        Direction::Over => x <= limit,
    };
    let four = format!("{v:.4}");
    if passes(four.parse().unwrap_or(v)) == passes(v) {
        four
    } else {
        v.to_string()
    }
}

/// The outcome of one criterion for one candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub candidate: String,
    pub metric: String,
    pub direction: Direction,
    pub limit: f64,
    pub value: Option<f64>,
    pub passed: bool,
    /// A sentence naming the failure, e.g. "vendor-b: ece_10 = 0.083 is above 0.05".
    pub message: String,
}

/// The criteria a run or merge was asked to gate on, by where they came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Requested {
    /// The suite's `[acceptance]`.
    pub suite: Vec<TaskCriterion>,
    /// `--fail-under` / `--fail-over` on the command line.
    pub command_line: Vec<TaskCriterion>,
}

impl Requested {
    /// Every criterion: the suite's, then the command line's.
    #[must_use]
    pub fn all(&self) -> Vec<TaskCriterion> {
        self.suite
            .iter()
            .chain(&self.command_line)
            .cloned()
            .collect()
    }

    /// True when there is no criterion.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.suite.is_empty() && self.command_line.is_empty()
    }
}

/// What a bundle's manifest records of its gate: the criteria and every verdict, so that the
/// outcome travels with the evidence (a report reader sees it; `harness verify` recomputes each
/// verdict from the recomputed metrics). Absent where no criterion was given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acceptance {
    /// The criteria, by where they came from.
    pub criteria: Requested,
    /// Every criterion's verdict for every evaluated candidate.
    pub results: Vec<GateResult>,
    /// True when there are verdicts and every one passed (no candidate evaluated: false).
    pub passed: bool,
}

impl Acceptance {
    /// The record of `results` of the `criteria`; `None` when there was no criterion.
    #[must_use]
    pub fn record(criteria: &Requested, results: &[GateResult]) -> Option<Acceptance> {
        (!criteria.is_empty()).then(|| Acceptance {
            criteria: criteria.clone(),
            results: results.to_vec(),
            passed: !results.is_empty() && results.iter().all(|r| r.passed),
        })
    }
}

impl GateResult {
    /// The criterion this verdict is on.
    #[must_use]
    pub fn criterion(&self) -> TaskCriterion {
        TaskCriterion {
            key: self.metric.clone(),
            direction: self.direction,
            limit: self.limit,
        }
    }
}

/// Checks every criterion against every model of `report`.
pub fn check(report: &EvalReport, criteria: &[Criterion]) -> Vec<GateResult> {
    report
        .models
        .iter()
        .flat_map(|(name, m)| {
            criteria.iter().map(move |c| {
                let key = c.metric.to_string();
                let mut r = judge(name, &key, c.direction, c.limit, c.value(m));
                if m.clustered.is_some() {
                    r.message.push_str(&image_level_note(&key, m));
                }
                r
            })
        })
        .collect()
}

/// Where the cases are clustered by patient, a criterion on an image-level CI bound is said to
/// be one: the report shows the patient-clustered CI, wider, and the gate would pass on an
/// interval the report does not show. Empty for any other key.
fn image_level_note(key: &str, m: &ModelReport) -> String {
    let clustered = |k: usize| {
        m.auroc_ci95_reported()
            .map_or_else(|| "undefined".to_string(), |ci| format!("{:.4}", ci[k]))
    };
    match key {
        "auroc_ci_lower" => format!(
            " (the image-level DeLong bound; the patient-clustered one the report shows is {}: gate on auroc_ci_lower_clustered)",
            clustered(0)
        ),
        "auroc_ci_upper" => format!(
            " (the image-level DeLong bound; the patient-clustered one the report shows is {})",
            clustered(1)
        ),
        k if k.starts_with("sens_at_spec_ci_lower_") => {
            " (the image-level bootstrap bound; the report shows the patient-clustered bootstrap's)"
                .to_string()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_metrics::{EvalInput, EvalOptions, Grouping, evaluate};

    fn report() -> EvalReport {
        let labels = [true, true, false, false, true, false, false, false];
        let good = [0.9, 0.8, 0.3, 0.2, 0.7, 0.1, 0.4, 0.35];
        let bad = [0.4, 0.3, 0.6, 0.2, 0.5, 0.7, 0.4, 0.1];
        let levels = vec!["A".to_string(), "B".to_string()];
        let codes = [0u32, 1, 0, 1, 0, 1, 0, 1];
        let input = EvalInput {
            labels: &labels,
            models: vec![("good", &good[..]), ("bad", &bad[..])],
            groupings: vec![Grouping {
                name: "site",
                levels: &levels,
                codes: &codes,
            }],
            cluster: None,
        };
        evaluate(&input, &EvalOptions::default()).unwrap()
    }

    /// With the cases clustered by patient, a gate on an image-level CI bound says so and
    /// names the clustered bound the report shows; without clustering nothing is added.
    #[test]
    fn a_gate_on_an_image_level_bound_of_clustered_cases_says_so() {
        let labels = [true, true, false, false, true, false, false, false];
        let good = [0.9, 0.8, 0.3, 0.2, 0.7, 0.1, 0.4, 0.35];
        let patients: Vec<String> = ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p4"]
            .map(String::from)
            .to_vec();
        let codes = [0u32, 0, 1, 1, 2, 2, 3, 3];
        let input = EvalInput {
            labels: &labels,
            models: vec![("good", &good[..])],
            groupings: Vec::new(),
            cluster: Some(Grouping {
                name: "patient",
                levels: &patients,
                codes: &codes,
            }),
        };
        let clustered = evaluate(&input, &EvalOptions::default()).unwrap();
        let lower = Criterion::parse("auroc_ci_lower=0", Direction::Under).unwrap();
        let auroc = Criterion::parse("auroc=0", Direction::Under).unwrap();
        let r = check(&clustered, &[lower.clone(), auroc.clone()]);
        assert!(
            r[0].message.contains("the image-level DeLong bound")
                && r[0].message.contains("gate on auroc_ci_lower_clustered"),
            "{}",
            r[0].message
        );
        assert!(!r[1].message.contains("image-level"), "{}", r[1].message);
        let plain = check(&report(), &[lower]);
        assert!(
            !plain[0].message.contains("image-level"),
            "{}",
            plain[0].message
        );
    }

    /// A multi-label suite's criterion on one finding that the evaluation can never give is
    /// named before any inference, as a binary one is.
    #[test]
    fn a_findings_criterion_the_evaluation_cannot_give_is_named() {
        let names = vec!["nod".to_string(), "eff".to_string()];
        let requested = vec![
            TaskCriterion {
                key: "auroc_macro".into(),
                direction: Direction::Under,
                limit: 0.5,
            },
            TaskCriterion {
                key: "auroc_gap.site.nod".into(),
                direction: Direction::Over,
                limit: 0.1,
            },
        ];
        let (gate, _) = Gate::for_task(&requested, DatasetTask::Multilabel, &names).unwrap();
        let opts = EvalOptions::default();
        let why = gate.unavailable(&opts, &[], false).unwrap();
        assert!(
            why.starts_with("auroc_gap.site.nod: ") && why.contains("'site' is not a grouping"),
            "{why}"
        );
        assert_eq!(gate.unavailable(&opts, &["site".to_string()], false), None);
    }

    /// A limit outside [0, 1] for a metric whose values lie in it (a percentage written for a
    /// proportion) is refused; metrics without that range take any finite limit.
    #[test]
    fn a_limit_outside_its_metrics_range_is_refused() {
        for arg in [
            "auroc=85",
            "sens_at_spec_0.90=90",
            "auroc_gap.sex=10",
            "ece_10=5",
            "brier=-0.1",
        ] {
            let e = Criterion::parse(arg, Direction::Under).unwrap_err();
            assert!(e.contains("is outside [0, 1]"), "{arg}: {e}");
        }
        for arg in [
            "auroc=0.85",
            "log_loss=2",
            "calibration_intercept=-0.5",
            "calibration_slope=1.2",
        ] {
            assert!(Criterion::parse(arg, Direction::Under).is_ok(), "{arg}");
        }
        let names = ["effusion".to_string()];
        let better = |k: &str| harness_metrics::multilabel::gate_key(&names, k);
        for (arg, refused) in [
            ("auroc_macro=85", true),
            ("auroc.effusion=0.9", false),
            ("auroc.effusion=90", true),
            ("log_loss.effusion=2", false),
        ] {
            let r = TaskCriterion::parse(arg, Direction::Under, better);
            assert_eq!(r.is_err(), refused, "{arg}: {r:?}");
        }
    }

    /// The value is shown with four decimals unless they would read as the other verdict.
    #[test]
    fn a_value_rounded_onto_its_limit_is_shown_in_full() {
        // 0.9 − 0.8 in floating point, as a sensitivity of 1 − 0.9 comes out.
        let r = judge(
            "m",
            "sens_at_spec_0.90",
            Direction::Under,
            0.1,
            Ok(0.9 - 0.8),
        );
        assert!(!r.passed);
        assert_eq!(
            r.message,
            "m: sens_at_spec_0.90 = 0.09999999999999998 is below 0.1"
        );
        let r = judge("m", "ece_10", Direction::Over, 0.05, Ok(0.050_000_01));
        assert!(!r.passed);
        assert_eq!(r.message, "m: ece_10 = 0.05000001 is above 0.05");
        let r = judge("m", "auroc", Direction::Under, 0.8, Ok(0.851_234));
        assert_eq!(r.message, "m: auroc = 0.8512 is at least 0.8");
    }

    #[test]
    fn passes_and_fails_by_direction_with_named_messages() {
        let r = report();
        let c = [Criterion::parse("auroc=0.8", Direction::Under).unwrap()];
        let res = check(&r, &c);
        assert!(res[0].passed, "{res:?}");
        assert!(!res[1].passed);
        assert!(
            res[1].message.starts_with("bad: auroc = ") && res[1].message.contains("is below 0.8"),
            "{}",
            res[1].message
        );
        let c = [Criterion::parse("brier=0.0", Direction::Over).unwrap()];
        assert!(check(&r, &c).iter().all(|g| !g.passed));
        assert_eq!(c[0].direction_warning(), None);
        let w = Criterion::parse("brier=0.2", Direction::Under)
            .unwrap()
            .direction_warning()
            .unwrap();
        assert!(
            w.contains("lower is better") && w.contains("fail-over"),
            "{w}"
        );
        assert!(
            Criterion::parse("auroc=0.8", Direction::Over)
                .unwrap()
                .direction_warning()
                .is_some()
        );
    }

    #[test]
    fn derived_names_resolve_and_unknown_names_are_refused() {
        let r = report();
        let m = &r.models["good"];
        let lower = Criterion::parse("auroc_ci_lower=0", Direction::Under)
            .unwrap()
            .value(m)
            .unwrap();
        assert_eq!(lower, m.discrimination.auroc_ci95_delong.unwrap()[0]);
        let s = Criterion::parse("sens_at_spec_0.9=0", Direction::Under)
            .unwrap()
            .value(m)
            .unwrap();
        assert_eq!(Some(s), m.operating_points.sens_at_spec["0.90"]);
        let d = Criterion::parse("demographic_parity_difference.site=1", Direction::Over).unwrap();
        assert_eq!(
            d.value(m).ok(),
            m.fairness["site"].demographic_parity_difference
        );
        assert!(
            Criterion::parse("demographic_parity_difference.sex=1", Direction::Over)
                .unwrap()
                .value(m)
                .is_err()
        );
        assert!(
            Criterion::parse("auc=0.8", Direction::Under)
                .unwrap_err()
                .contains("unknown metric 'auc'")
        );
        assert!(Criterion::parse("auroc", Direction::Under).is_err());
        assert!(Criterion::parse("auroc=high", Direction::Under).is_err());
        assert!(Criterion::parse("auroc=NaN", Direction::Under).is_err());
    }
}
