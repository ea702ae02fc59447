//! Options several commands take, declared and checked once: the gate (`--fail-under`,
//! `--fail-over`: `run`, `merge`, `eval`, `pool`) and the statistics' settings (`--threshold`,
//! `--target-specificity`, `--bootstrap`, `--seed`, `--sens-ci-boot`: `eval`, `pool`).

use anyhow::{Result, bail};
use clap::Args;
use harness_evidence::gate::{Criterion, Direction, TaskCriterion};
use harness_metrics::EvalOptions;
use harness_metrics::bootstrap::MAX_REPLICATES;
use harness_metrics::registry::Better;

/// The gate: criteria the results must meet, or the command exits 1.
#[derive(Args, Debug, Clone, Default)]
pub struct GateArgs {
    /// CI gate: exit 1 when METRIC is below VALUE for any model, e.g. auroc=0.85. Repeatable.
    /// Limits are in the metric's own units: proportions in [0, 1] (0.85, not 85) for every
    /// metric but log loss and the calibration fit.
    /// Metrics: auroc, auroc_ci_lower, average_precision, sens_at_spec_0.90,
    /// sens_at_spec_ci_lower_0.90, auroc_ci_lower_clustered, calibration_slope, ...; multiclass:
    /// auroc_macro, balanced_accuracy, auroc.<class>, ...; multilabel: auroc_macro, auroc_micro,
    /// <metric>.<finding> (e.g. auroc.effusion).
    #[arg(long = "fail-under", value_name = "METRIC=VALUE")]
    pub fail_under: Vec<String>,
    /// CI gate: exit 1 when METRIC is above VALUE for any model, e.g. ece_10=0.05,
    /// brier=0.2, equalized_odds_difference.site=0.1. Repeatable.
    #[arg(long = "fail-over", value_name = "METRIC=VALUE")]
    pub fail_over: Vec<String>,
}

impl GateArgs {
    /// True when no criterion was given.
    pub fn is_empty(&self) -> bool {
        self.fail_under.is_empty() && self.fail_over.is_empty()
    }

    /// Each given criterion's text with its direction and flag, in the order given per flag.
    fn given(&self) -> impl Iterator<Item = (&str, Direction, &'static str)> {
        let under = self
            .fail_under
            .iter()
            .map(|a| (a.as_str(), Direction::Under, "--fail-under"));
        let over = self
            .fail_over
            .iter()
            .map(|a| (a.as_str(), Direction::Over, "--fail-over"));
        under.chain(over)
    }

    /// The criteria of a binary evaluation (metric names checked), warning on stderr of a
    /// direction that contradicts the metric (`--fail-over auroc=...`).
    pub fn binary(&self) -> Result<Vec<Criterion>> {
        self.given()
            .map(|(a, dir, flag)| {
                let c = Criterion::parse(a, dir).map_err(|e| anyhow::anyhow!("{flag} {e}"))?;
                if let Some(w) = c.direction_warning() {
                    errln!("warning: {w}");
                }
                Ok(c)
            })
            .collect()
    }

    /// The criteria of a multi-class or multi-label evaluation, keys checked by the task
    /// (`better`), warning on stderr of a direction that contradicts the metric.
    pub fn task(
        &self,
        better: impl Fn(&str) -> Result<Better, String>,
    ) -> Result<Vec<TaskCriterion>> {
        self.given()
            .map(|(a, dir, flag)| {
                let (c, warning) = TaskCriterion::parse(a, dir, &better)
                    .map_err(|e| anyhow::anyhow!("{flag} {e}"))?;
                if let Some(w) = warning {
                    errln!("warning: {w}");
                }
                Ok(c)
            })
            .collect()
    }

    /// The criteria as given, for a suite run, which checks them against its dataset's task
    /// once the suite is read.
    pub fn unchecked(&self) -> Result<Vec<TaskCriterion>> {
        self.given()
            .map(|(a, dir, flag)| {
                TaskCriterion::unchecked(a, dir).map_err(|e| anyhow::anyhow!("{flag} {e}"))
            })
            .collect()
    }
}

/// A suite's `[acceptance]` criteria on a binary evaluation, each checked by the metric
/// registry as a run checks them ([`harness_evidence::gate::Gate::for_task`]), a direction that
/// contradicts its metric warned of on stderr.
pub fn suite_binary(criteria: &[TaskCriterion]) -> Result<Vec<Criterion>> {
    criteria
        .iter()
        .map(|c| {
            let (c, warning) = c
                .binary()
                .map_err(|e| anyhow::anyhow!("the suite's [acceptance]: {e}"))?;
            if let Some(w) = warning {
                errln!("warning: {w}");
            }
            Ok(c)
        })
        .collect()
}

/// A suite's `[acceptance]` criteria on a multi-class or multi-label evaluation, keys checked
/// by the task (`better`), a direction that contradicts its metric warned of on stderr.
pub fn suite_task(
    criteria: Vec<TaskCriterion>,
    better: impl Fn(&str) -> Result<Better, String>,
) -> Result<Vec<TaskCriterion>> {
    for c in &criteria {
        if let Some(w) = c
            .check(&better)
            .map_err(|e| anyhow::anyhow!("the suite's [acceptance]: {e}"))?
        {
            errln!("warning: {w}");
        }
    }
    Ok(criteria)
}

/// How the statistics are computed: the decision threshold, the target specificities and the
/// bootstraps. Each is `None` (empty) unless given, so that a setting given at its default
/// value still counts as given: a site round refuses it, a pool of site bundles compares it
/// with their suite's. [`StatsArgs::options`] fills in the defaults ([`EvalOptions::default`]).
#[derive(Args, Debug, Clone, Default)]
pub struct StatsArgs {
    /// Decision threshold for fairness: a case is predicted positive iff score >= threshold.
    /// [default: 0.5]
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    /// Target specificity for "sensitivity at specificity". Repeatable. [default: 0.90]
    #[arg(
        long = "target-specificity",
        value_name = "SP",
        allow_negative_numbers = true
    )]
    pub target_specificity: Vec<f64>,
    /// Stratified bootstrap replicates for the AUROC CI (0 = none; 2000 is usual; at most 100000).
    /// `harness pool` gives the same CI as `harness eval` on all the cases, exactly (binary and
    /// multi-label sites; multi-class bootstraps resample cases, which are not pooled).
    /// [default: 0]
    #[arg(long, value_name = "B")]
    pub bootstrap: Option<usize>,
    /// Seed of the bootstraps' random number generator. [default: 1]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Bootstrap replicates for the 95% CI of each sensitivity at specificity (0 = not computed;
    /// 2000 is usual; at most 100000). Stratified; with --cluster also resampled by cluster;
    /// pooled exactly like --bootstrap. [default: 0]
    #[arg(long = "sens-ci-boot", value_name = "B")]
    pub sens_ci_boot: Option<usize>,
}

impl StatsArgs {
    /// Each option's flag with whether it was given and, if so, whether its value differs from
    /// `base`'s.
    fn each(&self, base: &EvalOptions) -> [(&'static str, Option<bool>); 5] {
        fn differs<T: PartialEq>(given: Option<&T>, base: &T) -> Option<bool> {
            given.map(|v| v != base)
        }
        [
            (
                "--threshold",
                differs(self.threshold.as_ref(), &base.threshold),
            ),
            (
                "--target-specificity",
                (!self.target_specificity.is_empty())
                    .then(|| self.target_specificity != base.target_specificities),
            ),
            (
                "--bootstrap",
                differs(self.bootstrap.as_ref(), &base.bootstrap),
            ),
            ("--seed", differs(self.seed.as_ref(), &base.seed)),
            (
                "--sens-ci-boot",
                differs(self.sens_ci_boot.as_ref(), &base.sens_ci_bootstrap),
            ),
        ]
    }

    /// The first option given, if any (whatever its value).
    pub fn given(&self) -> Option<&'static str> {
        self.each(&EvalOptions::default())
            .into_iter()
            .find_map(|(flag, given)| given.map(|_| flag))
    }

    /// The first option given whose value differs from `base`'s (a suite's settings).
    pub fn differs_from(&self, base: &EvalOptions) -> Option<&'static str> {
        self.each(base)
            .into_iter()
            .find_map(|(flag, differs)| (differs == Some(true)).then_some(flag))
    }

    /// Refuses values the statistics cannot take.
    pub fn check(&self) -> Result<()> {
        if let Some(t) = self.threshold.filter(|t| !(0.0..=1.0).contains(t)) {
            bail!("--threshold {t} is outside [0, 1]; scores are probabilities");
        }
        if let Some(t) = self
            .target_specificity
            .iter()
            .find(|t| !(0.0..=1.0).contains(*t))
        {
            bail!("--target-specificity {t} is outside [0, 1]");
        }
        for (flag, b) in [
            ("--bootstrap", self.bootstrap),
            ("--sens-ci-boot", self.sens_ci_boot),
        ] {
            if let Some(b) = b.filter(|&b| b > MAX_REPLICATES) {
                bail!("{flag} {b} is larger than {MAX_REPLICATES}");
            }
        }
        Ok(())
    }

    /// The first option given that only a binary (or per-finding) evaluation uses, with why a
    /// multi-class one has no use for it: it would otherwise be ignored, which a reader of the
    /// results could not tell. (`--sens-ci-boot 0` asks for nothing, and is not refused.)
    pub fn binary_only(&self) -> Option<(&'static str, &'static str)> {
        [
            (
                "--threshold",
                self.threshold.is_some(),
                "multi-class decisions are the argmax class",
            ),
            (
                "--target-specificity",
                !self.target_specificity.is_empty(),
                "a multi-class evaluation has no sensitivity at specificity",
            ),
            (
                "--sens-ci-boot",
                self.sens_ci_boot.is_some_and(|b| b != 0),
                "a multi-class evaluation has no sensitivity at specificity",
            ),
        ]
        .into_iter()
        .find(|(_, given, _)| *given)
        .map(|(flag, _, why)| (flag, why))
    }

    /// The evaluation options these settings give: each given one, else its default.
    pub fn options(&self) -> EvalOptions {
        let d = EvalOptions::default();
        EvalOptions {
            threshold: self.threshold.unwrap_or(d.threshold),
            target_specificities: if self.target_specificity.is_empty() {
                d.target_specificities
            } else {
                self.target_specificity.clone()
            },
            bootstrap: self.bootstrap.unwrap_or(d.bootstrap),
            seed: self.seed.unwrap_or(d.seed),
            sens_ci_bootstrap: self.sens_ci_boot.unwrap_or(d.sens_ci_bootstrap),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        gate: GateArgs,
        #[command(flatten)]
        stats: StatsArgs,
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied())).unwrap()
    }

    /// Nothing given, nothing refused; each option given is named, at its default value too.
    #[test]
    fn binary_only_options_are_named_when_given() {
        assert_eq!(parse(&[]).stats.binary_only(), None);
        for (args, flag) in [
            (&["--threshold", "0.4"][..], "--threshold"),
            (&["--threshold", "0.5"][..], "--threshold"),
            (
                &["--target-specificity", "0.95"][..],
                "--target-specificity",
            ),
            (&["--sens-ci-boot", "200"][..], "--sens-ci-boot"),
        ] {
            assert_eq!(parse(args).stats.binary_only().map(|(f, _)| f), Some(flag));
        }
        // The bootstrap is used by multi-class evaluations too; no sensitivity CI asks for none.
        assert_eq!(parse(&["--bootstrap", "200"]).stats.binary_only(), None);
        assert_eq!(parse(&["--sens-ci-boot", "0"]).stats.binary_only(), None);
    }

    /// A setting counts as given whatever its value: against a suite's settings, one given
    /// otherwise differs, one given at the default value too where the suite says otherwise.
    #[test]
    fn settings_given_at_their_default_value_count_as_given() {
        assert_eq!(parse(&[]).stats.given(), None);
        assert_eq!(parse(&["--seed", "1"]).stats.given(), Some("--seed"));
        assert_eq!(
            parse(&["--bootstrap", "0"]).stats.given(),
            Some("--bootstrap")
        );
        let suite = EvalOptions {
            threshold: 0.3,
            target_specificities: vec![0.9, 0.95],
            bootstrap: 200,
            ..EvalOptions::default()
        };
        assert_eq!(parse(&[]).stats.differs_from(&suite), None);
        for (args, differs) in [
            (&["--threshold", "0.5"][..], Some("--threshold")),
            (&["--threshold", "0.3"][..], None),
            (
                &["--target-specificity", "0.9"][..],
                Some("--target-specificity"),
            ),
            (
                &[
                    "--target-specificity",
                    "0.9",
                    "--target-specificity",
                    "0.95",
                ][..],
                None,
            ),
            (&["--bootstrap", "200"][..], None),
            (&["--bootstrap", "100"][..], Some("--bootstrap")),
            (&["--seed", "1"][..], None),
            (&["--seed", "3"][..], Some("--seed")),
            (&["--sens-ci-boot", "0"][..], None),
        ] {
            assert_eq!(parse(args).stats.differs_from(&suite), differs, "{args:?}");
        }
        // Nothing given: every default.
        assert_eq!(parse(&[]).stats.options(), EvalOptions::default());
        let o = parse(&["--threshold", "0.2", "--seed", "9"])
            .stats
            .options();
        assert_eq!((o.threshold, o.seed, o.bootstrap), (0.2, 9, 0));
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        for (args, says) in [
            (
                &["--threshold", "1.5"][..],
                "--threshold 1.5 is outside [0, 1]",
            ),
            (
                &["--target-specificity", "-0.1"][..],
                "--target-specificity -0.1 is outside",
            ),
            (
                &["--bootstrap", "100001"][..],
                "--bootstrap 100001 is larger than 100000",
            ),
            (
                &["--sens-ci-boot", "100001"][..],
                "--sens-ci-boot 100001 is larger",
            ),
        ] {
            let err = parse(args).stats.check().unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        assert!(parse(&["--threshold", "1"]).stats.check().is_ok());
    }

    /// Criteria keep their flag's direction, and a bad one names its flag.
    #[test]
    fn gate_criteria_keep_their_direction_and_name_their_flag() {
        let cli = parse(&["--fail-under", "auroc=0.8", "--fail-over", "brier=0.2"]);
        assert!(!cli.gate.is_empty());
        let c = cli.gate.unchecked().unwrap();
        assert_eq!(
            c.iter()
                .map(|c| (c.key.as_str(), c.direction))
                .collect::<Vec<_>>(),
            [("auroc", Direction::Under), ("brier", Direction::Over)]
        );
        let err = parse(&["--fail-over", "brier"])
            .gate
            .binary()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--fail-over "), "{err}");
        assert!(parse(&[]).gate.is_empty());
    }
}
