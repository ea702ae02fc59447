//! The one list of the metrics a user can name: in a gate (`--fail-under auroc=0.85`), as a
//! suite's primary metric, in `compare`/`leaderboard`, in the report and in the CLI summary.
//!
//! Each [`Metric`] carries its key (the `metrics.json` field name of one model), its display
//! name, which direction is better, how many decimals to show, whether it may rank candidates,
//! and how to read it (and its 95 % CI, where the evaluation has one) from a [`ModelReport`].
//! [`MetricKey`] adds the parametrised names: sensitivity at a target specificity
//! (`sens_at_spec_0.90`) and the group disparities of a grouping column
//! (`auroc_gap.sex`). A new metric is one entry in [`METRICS`] plus its computation.

use crate::evaluate::{ModelReport, spec_key};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Which values of a metric are better.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Better {
    /// Larger is better (AUROC, sensitivity).
    Higher,
    /// Smaller is better (Brier score, ECE, disparities).
    Lower,
    /// Neither: the ideal is a value (a calibration slope of 1, an intercept of 0); it cannot
    /// rank candidates.
    Ideal(f64),
}

impl Better {
    /// Orders two values best first (`Less` when `a` is better than `b`).
    #[must_use]
    pub fn cmp(self, a: f64, b: f64) -> Ordering {
        match self {
            Better::Higher => b.total_cmp(&a),
            Better::Lower => a.total_cmp(&b),
            Better::Ideal(t) => (a - t).abs().total_cmp(&(b - t).abs()),
        }
    }

    /// "higher is better", "lower is better", "best at 1".
    #[must_use]
    pub fn phrase(self) -> String {
        match self {
            Better::Higher => "higher is better".into(),
            Better::Lower => "lower is better".into(),
            Better::Ideal(t) => format!("best at {t}"),
        }
    }
}

type Read = fn(&ModelReport) -> Option<f64>;
type ReadCi = fn(&ModelReport) -> Option<[f64; 2]>;

/// A metric of one model with a fixed name.
#[derive(Clone, Copy)]
pub struct Metric {
    /// The key in `metrics.json`, gates and suites: `auroc`, `ece_10`.
    pub key: &'static str,
    /// What a reader sees: `AUROC`, `ECE (10 bins)`.
    pub label: &'static str,
    pub better: Better,
    /// Decimals shown in tables.
    pub digits: usize,
    /// Its values lie in [0, 1] (a proportion, a probability score, an AUROC): a gate limit
    /// outside it is a mistake (85 for 0.85), not a criterion.
    pub unit_interval: bool,
    /// May rank candidates (a suite's `[metrics] primary`, the leaderboard).
    pub ranks: bool,
    read: Read,
    ci: Option<ReadCi>,
    /// What the CI is, when there is one: "DeLong 95% CI".
    pub ci_method: Option<&'static str>,
}

impl fmt::Debug for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metric").field("key", &self.key).finish()
    }
}

impl PartialEq for Metric {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Metric {
    /// Its value for one model; `None` where the evaluation left it undefined.
    #[must_use]
    pub fn value(&self, m: &ModelReport) -> Option<f64> {
        (self.read)(m)
    }

    /// Its 95 % CI for one model, where the evaluation computes one.
    #[must_use]
    pub fn ci(&self, m: &ModelReport) -> Option<[f64; 2]> {
        self.ci.and_then(|ci| ci(m))
    }
}

/// Every metric with a fixed name, in the order tables show them.
pub static METRICS: &[Metric] = &[
    Metric {
        key: "auroc",
        label: "AUROC",
        better: Better::Higher,
        digits: 3,
        unit_interval: true,
        ranks: true,
        read: |m| m.discrimination.auroc,
        ci: Some(|m| m.discrimination.auroc_ci95_delong),
        ci_method: Some("DeLong 95% CI"),
    },
    Metric {
        key: "auroc_ci_lower",
        label: "AUROC, lower 95% bound (DeLong)",
        better: Better::Higher,
        digits: 3,
        unit_interval: true,
        ranks: false,
        read: |m| m.discrimination.auroc_ci95_delong.map(|c| c[0]),
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "auroc_ci_upper",
        label: "AUROC, upper 95% bound (DeLong)",
        better: Better::Higher,
        digits: 3,
        unit_interval: true,
        ranks: false,
        read: |m| m.discrimination.auroc_ci95_delong.map(|c| c[1]),
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "auroc_ci_lower_clustered",
        label: "AUROC, lower 95% bound (patient-clustered)",
        better: Better::Higher,
        digits: 3,
        unit_interval: true,
        ranks: false,
        read: |m| {
            m.clustered
                .as_ref()
                .and_then(|c| c.auroc_ci95_obuchowski)
                .map(|c| c[0])
        },
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "average_precision",
        label: "AP",
        better: Better::Higher,
        digits: 3,
        unit_interval: true,
        ranks: true,
        read: |m| m.operating_points.average_precision,
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "brier",
        label: "Brier",
        better: Better::Lower,
        digits: 4,
        unit_interval: true,
        ranks: true,
        read: |m| m.calibration.brier,
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "log_loss",
        label: "log loss",
        better: Better::Lower,
        digits: 4,
        unit_interval: false,
        ranks: true,
        read: |m| m.calibration.log_loss,
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "ece_10",
        label: "ECE-10",
        better: Better::Lower,
        digits: 4,
        unit_interval: true,
        ranks: true,
        read: |m| m.calibration.ece_10,
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "ece_15",
        label: "ECE-15",
        better: Better::Lower,
        digits: 4,
        unit_interval: true,
        ranks: true,
        read: |m| m.calibration.ece_15,
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "calibration_slope",
        label: "Calibration slope",
        better: Better::Ideal(1.0),
        digits: 3,
        unit_interval: false,
        ranks: false,
        read: |m| m.calibration.calibration_slope,
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "calibration_intercept",
        label: "Calibration intercept",
        better: Better::Ideal(0.0),
        digits: 3,
        unit_interval: false,
        ranks: false,
        read: |m| m.calibration.calibration_intercept,
        ci: None,
        ci_method: None,
    },
    Metric {
        key: "calibration_in_the_large",
        label: "calibration-in-the-large",
        better: Better::Ideal(0.0),
        digits: 3,
        unit_interval: false,
        ranks: false,
        read: |m| m.calibration.calibration_in_the_large,
        ci: None,
        ci_method: None,
    },
];

/// The metric with this key, if it has a fixed name.
#[must_use]
pub fn metric(key: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.key == key)
}

/// The keys of the metrics that may rank candidates (a suite's primary metric).
pub fn ranking_keys() -> impl Iterator<Item = &'static str> {
    METRICS.iter().filter(|m| m.ranks).map(|m| m.key)
}

/// A metric that may rank candidates (a suite's `[metrics] primary`), read from and written
/// as its key; AUROC by default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RankingMetric(pub &'static Metric);

impl Default for RankingMetric {
    fn default() -> Self {
        Self(&METRICS[0])
    }
}

impl std::ops::Deref for RankingMetric {
    type Target = Metric;
    fn deref(&self) -> &Metric {
        self.0
    }
}

impl FromStr for RankingMetric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match metric(s) {
            Some(m) if m.ranks => Ok(Self(m)),
            _ => Err(format!(
                "'{s}' cannot rank candidates; the primary metric must be one of {}",
                ranking_keys().collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

impl fmt::Display for RankingMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.key)
    }
}

impl serde::Serialize for RankingMetric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.key)
    }
}

impl<'de> serde::Deserialize<'de> for RankingMetric {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        key.parse().map_err(serde::de::Error::custom)
    }
}

/// A disparity of a grouping column (`metrics.json`: `fairness.<column>.<key>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupMetric {
    DemographicParityDifference,
    EqualizedOddsDifference,
    AurocGap,
}

impl GroupMetric {
    pub const ALL: [GroupMetric; 3] = [
        Self::DemographicParityDifference,
        Self::EqualizedOddsDifference,
        Self::AurocGap,
    ];

    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::DemographicParityDifference => "demographic_parity_difference",
            Self::EqualizedOddsDifference => "equalized_odds_difference",
            Self::AurocGap => "auroc_gap",
        }
    }

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::DemographicParityDifference => "demographic parity difference",
            Self::EqualizedOddsDifference => "equalized odds difference",
            Self::AurocGap => "AUROC gap",
        }
    }
}

/// A metric as a user names it: fixed, sensitivity at a target specificity, or a disparity of
/// a grouping column. Parsed from and written as its key.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricKey {
    Fixed(&'static Metric),
    /// `sens_at_spec_<t>`; holds the key of the target as `metrics.json` writes it ("0.90").
    SensAtSpec(String),
    /// `sens_at_spec_ci_lower_<t>`: the lower 95 % bound of that sensitivity (bootstrap).
    SensAtSpecCiLower(String),
    /// `<group metric>.<column>`.
    Group {
        metric: GroupMetric,
        column: String,
    },
}

/// Whether a gate key's values lie in [0, 1]: a binary metric's key, or a multi-label or
/// multi-class key — `<metric>.<finding>` (as its metric), or an aggregate (`auroc_macro`,
/// `accuracy`, `top_label_ece_10`, `auroc.<class>`: all in [0, 1]).
#[must_use]
pub fn unit_interval_key(key: &str) -> bool {
    let mut at = key;
    loop {
        if let Ok(k) = at.parse::<MetricKey>() {
            return k.unit_interval();
        }
        match at.rsplit_once('.') {
            Some((head, _)) => at = head,
            None => return true,
        }
    }
}

impl FromStr for MetricKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(m) = metric(s) {
            return Ok(Self::Fixed(m));
        }
        if let Some(t) = s
            .strip_prefix("sens_at_spec_ci_lower_")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| (0.0..=1.0).contains(t))
        {
            return Ok(Self::SensAtSpecCiLower(spec_key(t)));
        }
        if let Some(t) = s
            .strip_prefix("sens_at_spec_")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| (0.0..=1.0).contains(t))
        {
            return Ok(Self::SensAtSpec(spec_key(t)));
        }
        if let Some((m, column)) = s.split_once('.')
            && let Some(metric) = GroupMetric::ALL.into_iter().find(|g| g.key() == m)
            && !column.is_empty()
        {
            return Ok(Self::Group {
                metric,
                column: column.to_string(),
            });
        }
        Err(format!(
            "unknown metric '{s}'; use one of {}, sens_at_spec_<SPEC> (e.g. sens_at_spec_0.90), sens_at_spec_ci_lower_<SPEC>, or {}.<group column>",
            METRICS.iter().map(|m| m.key).collect::<Vec<_>>().join(", "),
            GroupMetric::ALL.map(GroupMetric::key).join(" / ")
        ))
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(m) => f.write_str(m.key),
            Self::SensAtSpec(t) => write!(f, "sens_at_spec_{t}"),
            Self::SensAtSpecCiLower(t) => write!(f, "sens_at_spec_ci_lower_{t}"),
            Self::Group { metric, column } => write!(f, "{}.{column}", metric.key()),
        }
    }
}

impl serde::Serialize for MetricKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl MetricKey {
    /// Whether its values lie in [0, 1] ([`Metric::unit_interval`]): sensitivities and the
    /// fairness differences and gaps do.
    #[must_use]
    pub fn unit_interval(&self) -> bool {
        match self {
            Self::Fixed(m) => m.unit_interval,
            Self::SensAtSpec(_) | Self::SensAtSpecCiLower(_) | Self::Group { .. } => true,
        }
    }

    /// Which direction is better.
    #[must_use]
    pub fn better(&self) -> Better {
        match self {
            Self::Fixed(m) => m.better,
            Self::SensAtSpec(_) | Self::SensAtSpecCiLower(_) => Better::Higher,
            Self::Group { .. } => Better::Lower,
        }
    }

    /// What a reader sees: "AUROC", "sensitivity at specificity 0.90", "AUROC gap (sex)".
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Fixed(m) => m.label.to_string(),
            Self::SensAtSpec(t) => format!("sensitivity at specificity {t}"),
            Self::SensAtSpecCiLower(t) => {
                format!("sensitivity at specificity {t}, lower 95% bound")
            }
            Self::Group { metric, column } => format!("{} ({column})", metric.label()),
        }
    }

    /// Why an evaluation with these options, grouping columns and clustering can never give
    /// this metric — a mistake in the criterion, found before any computation — or `None`.
    #[must_use]
    pub fn unavailable(
        &self,
        opts: &crate::evaluate::EvalOptions,
        groupings: &[String],
        clustered: bool,
    ) -> Option<String> {
        let is_target = |t: &String| opts.target_specificities.iter().any(|&s| spec_key(s) == *t);
        match self {
            Self::Fixed(m) if m.key == "auroc_ci_lower_clustered" && !clustered => {
                Some("it needs the patient (cluster) column".to_string())
            }
            Self::SensAtSpec(t) | Self::SensAtSpecCiLower(t) if !is_target(t) => {
                Some(format!("{t} is not among the target specificities"))
            }
            Self::SensAtSpecCiLower(_) if opts.sens_ci_bootstrap == 0 => {
                Some("its CI needs the sensitivity bootstrap".to_string())
            }
            Self::Group { column, .. } if !groupings.contains(column) => {
                Some(format!("'{column}' is not a grouping column"))
            }
            _ => None,
        }
    }

    /// Its value for one model, or a sentence saying why there is none.
    pub fn value(&self, m: &ModelReport) -> Result<f64, String> {
        let undefined = || format!("{self} is undefined for this model");
        match self {
            Self::Fixed(metric) => metric.value(m).ok_or_else(undefined),
            Self::SensAtSpec(t) => match m.operating_points.sens_at_spec.get(t) {
                Some(v) => v.ok_or_else(undefined),
                None => Err(format!(
                    "sensitivity at specificity {t} was not computed (add it to target specificities)"
                )),
            },
            Self::SensAtSpecCiLower(t) => match &m.operating_points.sens_at_spec_ci95 {
                Some(ci) => ci.get(t).map(|c| c[0]).ok_or_else(|| {
                    format!("no sensitivity CI at specificity {t} (add it to target specificities)")
                }),
                None => Err(format!(
                    "the sensitivity CI at specificity {t} was not computed (harness eval --sens-ci-boot B)"
                )),
            },
            Self::Group { metric, column } => {
                let f = m
                    .fairness
                    .get(column)
                    .ok_or_else(|| format!("no grouping column '{column}' in the evaluation"))?;
                match metric {
                    GroupMetric::DemographicParityDifference => f.demographic_parity_difference,
                    GroupMetric::EqualizedOddsDifference => f.equalized_odds_difference,
                    GroupMetric::AurocGap => f.auroc_gap,
                }
                .ok_or_else(undefined)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_parse_back() {
        for (i, m) in METRICS.iter().enumerate() {
            assert!(METRICS[..i].iter().all(|o| o.key != m.key), "{}", m.key);
            let k: MetricKey = m.key.parse().unwrap();
            assert_eq!(k.to_string(), m.key);
        }
        let k: MetricKey = "sens_at_spec_0.9".parse().unwrap();
        assert_eq!(k.to_string(), "sens_at_spec_0.90");
        let k: MetricKey = "sens_at_spec_ci_lower_0.95".parse().unwrap();
        assert_eq!(k, MetricKey::SensAtSpecCiLower("0.95".into()));
        assert_eq!(k.to_string(), "sens_at_spec_ci_lower_0.95");
        let k: MetricKey = "auroc_gap.sex".parse().unwrap();
        assert_eq!(
            k,
            MetricKey::Group {
                metric: GroupMetric::AurocGap,
                column: "sex".into()
            }
        );
        for bad in ["aurocc", "sens_at_spec_1.5", "auroc_gap.", "brier.sex", ""] {
            assert!(bad.parse::<MetricKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn direction_orders_best_first() {
        assert_eq!(Better::Higher.cmp(0.9, 0.8), Ordering::Less);
        assert_eq!(Better::Lower.cmp(0.9, 0.8), Ordering::Greater);
        assert_eq!(Better::Ideal(1.0).cmp(0.9, 1.2), Ordering::Less);
        assert!(metric("auroc").unwrap().ranks);
        assert_eq!(RankingMetric::default().key, "auroc");
        assert_eq!(
            "brier".parse::<RankingMetric>().unwrap().better,
            Better::Lower
        );
        let e = "calibration_slope".parse::<RankingMetric>().unwrap_err();
        assert!(e.contains("cannot rank") && e.contains("ece_15"), "{e}");
        assert!(!metric("calibration_slope").unwrap().ranks);
        assert_eq!(
            ranking_keys().collect::<Vec<_>>(),
            [
                "auroc",
                "average_precision",
                "brier",
                "log_loss",
                "ece_10",
                "ece_15"
            ]
        );
    }
}
