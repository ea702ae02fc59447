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

/// How the statistics are computed: the decision threshold, the target specificities and the
/// bootstraps.
#[derive(Args, Debug, Clone)]
pub struct StatsArgs {
    /// Decision threshold for fairness: a case is predicted positive iff score >= threshold.
    #[arg(
        long,
        default_value_t = 0.5,
        value_name = "T",
        allow_negative_numbers = true
    )]
    pub threshold: f64,
    /// Target specificity for "sensitivity at specificity". Repeatable.
    #[arg(long = "target-specificity", value_name = "SP", default_values_t = [0.90], allow_negative_numbers = true)]
    pub target_specificity: Vec<f64>,
    /// Stratified bootstrap replicates for the AUROC CI (0 = none; 2000 is usual; at most
    /// 100000). `harness pool` gives the same CI as `harness eval` on all the cases, exactly
    /// (binary and multi-label sites; multi-class bootstraps resample cases, which are not
    /// pooled).
    #[arg(long, default_value_t = 0, value_name = "B")]
    pub bootstrap: usize,
    /// Seed of the bootstraps' random number generator.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Bootstrap replicates for the 95% CI of each sensitivity at specificity (0 = not computed;
    /// 2000 is usual; at most 100000). Stratified; with --cluster also resampled by cluster;
    /// pooled exactly like --bootstrap.
    #[arg(long = "sens-ci-boot", default_value_t = 0, value_name = "B")]
    pub sens_ci_boot: usize,
}

/// What [`StatsArgs`] defaults to (clap's defaults, written once more for code that needs them
/// without parsing: [`StatsArgs::default`]).
const DEFAULT_THRESHOLD: f64 = 0.5;
const DEFAULT_TARGET_SPECIFICITY: f64 = 0.90;
const DEFAULT_SEED: u64 = 1;

impl Default for StatsArgs {
    fn default() -> Self {
        StatsArgs {
            threshold: DEFAULT_THRESHOLD,
            target_specificity: vec![DEFAULT_TARGET_SPECIFICITY],
            bootstrap: 0,
            seed: DEFAULT_SEED,
            sens_ci_boot: 0,
        }
    }
}

impl StatsArgs {
    /// The first option given a value other than its default, if any.
    pub fn given(&self) -> Option<&'static str> {
        self.differs_from(&StatsArgs::default())
    }

    /// Refuses values the statistics cannot take.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.threshold) {
            bail!(
                "--threshold {} is outside [0, 1]; scores are probabilities",
                self.threshold
            );
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
            if b > MAX_REPLICATES {
                bail!("{flag} {b} is larger than {MAX_REPLICATES}");
            }
        }
        Ok(())
    }

    /// The first option given that only a binary (or per-finding) evaluation uses, with why a
    /// multi-class one has no use for it: a value other than the default would otherwise be
    /// ignored, which a reader of the results could not tell.
    pub fn binary_only(&self) -> Option<(&'static str, &'static str)> {
        [
            (
                "--threshold",
                self.threshold != DEFAULT_THRESHOLD,
                "multi-class decisions are the argmax class",
            ),
            (
                "--target-specificity",
                self.target_specificity != [DEFAULT_TARGET_SPECIFICITY],
                "a multi-class evaluation has no sensitivity at specificity",
            ),
            (
                "--sens-ci-boot",
                self.sens_ci_boot != 0,
                "a multi-class evaluation has no sensitivity at specificity",
            ),
        ]
        .into_iter()
        .find(|(_, given, _)| *given)
        .map(|(flag, _, why)| (flag, why))
    }

    /// The first option given (a value other than its default) that differs from `other`'s.
    pub fn differs_from(&self, other: &StatsArgs) -> Option<&'static str> {
        [
            (
                "--threshold",
                self.threshold != DEFAULT_THRESHOLD && self.threshold != other.threshold,
            ),
            (
                "--target-specificity",
                self.target_specificity != [DEFAULT_TARGET_SPECIFICITY]
                    && self.target_specificity != other.target_specificity,
            ),
            (
                "--bootstrap",
                self.bootstrap != 0 && self.bootstrap != other.bootstrap,
            ),
            (
                "--seed",
                self.seed != DEFAULT_SEED && self.seed != other.seed,
            ),
            (
                "--sens-ci-boot",
                self.sens_ci_boot != 0 && self.sens_ci_boot != other.sens_ci_boot,
            ),
        ]
        .into_iter()
        .find_map(|(flag, differs)| differs.then_some(flag))
    }

    /// The evaluation options these settings give.
    pub fn options(&self) -> EvalOptions {
        EvalOptions {
            threshold: self.threshold,
            target_specificities: self.target_specificity.clone(),
            bootstrap: self.bootstrap,
            seed: self.seed,
            sens_ci_bootstrap: self.sens_ci_boot,
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

    /// The defaults are the ones [`StatsArgs::binary_only`] compares with: nothing given,
    /// nothing refused; each option given is named.
    #[test]
    fn binary_only_options_are_named_when_given() {
        assert_eq!(parse(&[]).stats.binary_only(), None);
        for (args, flag) in [
            (&["--threshold", "0.4"][..], "--threshold"),
            (
                &["--target-specificity", "0.95"][..],
                "--target-specificity",
            ),
            (&["--sens-ci-boot", "200"][..], "--sens-ci-boot"),
        ] {
            assert_eq!(parse(args).stats.binary_only().map(|(f, _)| f), Some(flag));
        }
        // The bootstrap is used by multi-class evaluations too.
        assert_eq!(parse(&["--bootstrap", "200"]).stats.binary_only(), None);
        // Against a suite's settings: only options given, and given otherwise, differ.
        let suite = parse(&[
            "--target-specificity",
            "0.9",
            "--target-specificity",
            "0.95",
            "--bootstrap",
            "200",
        ])
        .stats;
        assert_eq!(parse(&[]).stats.differs_from(&suite), None);
        assert_eq!(parse(&[]).stats.given(), None);
        assert_eq!(parse(&["--seed", "3"]).stats.given(), Some("--seed"));
        assert_eq!(
            parse(&["--bootstrap", "200"]).stats.differs_from(&suite),
            None
        );
        assert_eq!(
            parse(&["--bootstrap", "100"]).stats.differs_from(&suite),
            Some("--bootstrap")
        );
        assert_eq!(
            parse(&["--seed", "3"]).stats.differs_from(&suite),
            Some("--seed")
        );
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
