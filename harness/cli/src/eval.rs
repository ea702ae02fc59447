//! `harness eval`: statistics of one or more models' scores against labels, from a CSV.

use anyhow::{Context, Result, bail};
use clap::Args;
use harness_data::{EvalSpec, read_eval_csv};
use harness_metrics::EvalOptions;
use harness_metrics::bootstrap::MAX_REPLICATES as MAX_BOOTSTRAP;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(
    about = "Evaluate model scores against labels from a CSV (AUROC + CIs, paired tests, calibration, fairness)",
    long_about = "Evaluate model scores against binary labels, from a CSV with a header row.\n\n\
        Each --score column is one model; every pair of models gets a paired DeLong test. Each \
        --group column splits the cases into subgroups (an empty value is its own level, shown as \
        \"(missing)\") for subgroup AUROCs with DeLong CIs and fairness at --threshold.\n\n\
        Input rules: labels are 0 or 1 (\"0.0\"/\"1.0\" accepted); scores are probabilities in \
        [0, 1] (scientific notation fine; nan, inf and values outside [0, 1] are rejected, never \
        clipped or dropped). A UTF-8 BOM, CRLF line ends and quoted fields are accepted. Errors name \
        the file, line, column and value.\n\n\
        Statistics (see shared/spec/metrics.md): AUROC with its exact fraction and Mann-Whitney U; \
        DeLong variance and 95% CI (pROC); optional stratified bootstrap CI (--bootstrap, seeded, \
        reproducible bit for bit); sensitivity at each --target-specificity, interpolated as pROC \
        `coords` and as the conservative step value; average precision (scikit-learn); Brier; log \
        loss (clipped at 2^-52); ECE with 10 and 15 bins and their tables; calibration intercept and \
        slope (converged logistic MLE; null with a reason under separation) and \
        calibration-in-the-large. Undefined values are null with a reason, never NaN.",
    after_help = "Examples:\n  \
        harness eval --data cases.csv --label label --score vendor_a --score vendor_b --group site\n  \
        harness eval --data cases.csv --label y --score p --bootstrap 2000 --seed 7 --json out.json\n  \
        harness eval --data cases.csv --label y --score p --target-specificity 0.90 --target-specificity 0.95\n  \
        harness eval --data cases.csv --label y --score a --score b --cluster patient_id --bootstrap 2000 --sens-ci-boot 2000\n  \
        harness eval --data cases.csv --label y --score p --fail-under auroc=0.85 --fail-over ece_10=0.05   # CI gate: exit 1 on a miss"
)]
pub struct EvalArgs {
    /// CSV file with a header row.
    #[arg(long, value_name = "FILE.csv")]
    data: PathBuf,
    /// Column holding the true label (0 = negative, 1 = positive).
    #[arg(long, value_name = "COL")]
    label: String,
    /// Column holding one model's scores in [0, 1] (higher = more likely positive). Repeat for several models.
    #[arg(long = "score", value_name = "COL", required = true)]
    scores: Vec<String>,
    /// Column defining subgroups (e.g. sex, age band, site). Repeatable.
    #[arg(long = "group", value_name = "COL")]
    groups: Vec<String>,
    /// Decision threshold for fairness: a case is predicted positive iff score >= threshold.
    #[arg(long, default_value_t = 0.5, value_name = "T")]
    threshold: f64,
    /// Target specificity for "sensitivity at specificity". Repeatable.
    #[arg(long = "target-specificity", value_name = "SP", default_values_t = [0.90])]
    target_specificity: Vec<f64>,
    /// Number of stratified bootstrap replicates for the AUROC CI (0 = none; 2000 is usual; at most 100000).
    #[arg(long, default_value_t = 0, value_name = "B")]
    bootstrap: usize,
    /// Seed of the bootstrap's random number generator.
    #[arg(long, default_value_t = 1, value_name = "N")]
    seed: u64,
    /// Column holding each case's patient (cluster) id, when a patient may have several images.
    /// Adds, next to the image-level figures, Obuchowski's clustered AUROC variance and CI, the
    /// design effect, the cluster bootstrap (with --bootstrap) and clustered paired tests. The
    /// harness never guesses this column.
    #[arg(long, value_name = "COL")]
    cluster: Option<String>,
    /// Bootstrap replicates for the 95% CI of each sensitivity at specificity (0 = not computed;
    /// 2000 is usual; at most 100000). Stratified; with --cluster also resampled by cluster.
    #[arg(long = "sens-ci-boot", default_value_t = 0, value_name = "B")]
    sens_ci_boot: usize,
    /// Write the full results as JSON to this file (the table is printed either way).
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
    /// CI gate: exit 1 when METRIC is below VALUE for any model, e.g. auroc=0.85. Repeatable.
    /// Metrics: auroc, auroc_ci_lower, average_precision, sens_at_spec_0.90, calibration_slope, ...
    #[arg(long = "fail-under", value_name = "METRIC=VALUE")]
    fail_under: Vec<String>,
    /// CI gate: exit 1 when METRIC is above VALUE for any model, e.g. ece_10=0.05,
    /// brier=0.2, equalized_odds_difference.site=0.1. Repeatable.
    #[arg(long = "fail-over", value_name = "METRIC=VALUE")]
    fail_over: Vec<String>,
}

fn check_options(args: &EvalArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!(
            "--threshold {} is outside [0, 1]; scores are probabilities",
            args.threshold
        );
    }
    for &t in &args.target_specificity {
        if !(0.0..=1.0).contains(&t) {
            bail!("--target-specificity {t} is outside [0, 1]");
        }
    }
    for (flag, b) in [
        ("--bootstrap", args.bootstrap),
        ("--sens-ci-boot", args.sens_ci_boot),
    ] {
        if b > MAX_BOOTSTRAP {
            bail!("{flag} {b} is larger than {MAX_BOOTSTRAP}");
        }
    }
    Ok(())
}

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    crate::alloc::tune_for_arrays();
    check_options(&args)?;
    // The cluster column is read (and validated) like a group column, then used as clusters.
    let columns: Vec<String> = args.groups.iter().chain(&args.cluster).cloned().collect();
    let spec = EvalSpec {
        label: &args.label,
        scores: &args.scores,
        groups: &columns,
    };
    let table = read_eval_csv(&args.data, &spec)?;
    let opts = EvalOptions {
        threshold: args.threshold,
        target_specificities: args.target_specificity.clone(),
        bootstrap: args.bootstrap,
        seed: args.seed,
        sens_ci_bootstrap: args.sens_ci_boot,
    };
    let criteria = crate::run::cli_criteria(&args.fail_under, &args.fail_over)?;
    let report = harness_evidence::evaluate_table(&table, args.cluster.as_deref(), &opts)?;

    // The JSON first: a broken stdout pipe must not lose the results.
    if let Some(path) = &args.json {
        let mut bytes = serde_json::to_vec_pretty(&report).context("serialising the results")?;
        bytes.push(b'\n');
        harness_evidence::write_atomic(path, &bytes)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let text = crate::summary::render(&report, &args.data);
    let mut out = std::io::stdout().lock();
    // Ignore a closed pipe (`harness eval ... | head`): the results are complete either way.
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    if !crate::run::report_gate(&harness_evidence::gate::check(&report, &criteria)) {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
