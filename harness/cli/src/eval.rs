//! `harness eval`: statistics of one or more models' scores against labels, from a CSV.

use anyhow::{Context, Result, bail};
use clap::Args;
use harness_data::{EvalSpec, read_eval_csv};
use harness_evidence::evaluation::{
    ClassColumns, FindingColumns, evaluate_classes, evaluate_findings, findings_input,
    read_findings, summarize_classes_csv,
};
use harness_evidence::gate::{self, Criterion, Direction, TaskCriterion};
use harness_metrics::EvalOptions;
use harness_metrics::multiclass::{self, MulticlassOptions};
use harness_metrics::multilabel;
use indexmap::IndexMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::options::{GateArgs, StatsArgs};

#[derive(Args, Debug)]
#[command(
    about = "Evaluate model scores against labels from a CSV (AUROC + CIs, paired tests, calibration, fairness)",
    long_about = "Evaluate model scores against binary labels, from a CSV with a header row.\n\n\
        Each --score column is one model; every pair of models gets a paired DeLong test. Each \
        --group column splits the cases into subgroups (an empty value is its own level, shown as \
        \"(missing)\") for subgroup AUROCs with DeLong CIs and fairness at --threshold.\n\n\
        Input rules: labels are 0 or 1 (\"0.0\"/\"1.0\" accepted); scores are probabilities in \
        [0, 1] (scientific notation fine; nan, inf and values outside [0, 1] are rejected, never \
        clipped or dropped). A UTF-8 BOM, CRLF line ends and quoted fields are accepted; the file is \
        comma-separated (a semicolon- or tab-separated export is named as such). A case id column \
        (`case_id`, else `case id`, `caseid`, `image_id` or `id`, in any letter case) that is not a \
        --group or --cluster column must hold each case once: a repeated row (a file concatenated \
        twice) is refused. Errors name the file, line, column and value.\n\n\
        Statistics (the project's metric specification, ../shared/spec/metrics.md): AUROC with its exact fraction and Mann-Whitney U; \
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
    /// What the labels are: one binary label (the default), one class per case
    /// (multiclass: --label holds class names, --class-score gives each class's probability
    /// column), or several binary findings per case (multilabel: --finding).
    #[arg(long, value_enum, default_value_t = Task::Binary)]
    task: Task,
    /// Column holding the true label: 0 = negative, 1 = positive (binary); the class name
    /// (multiclass). Not used for multilabel, where each --finding names its label column.
    #[arg(long, value_name = "COL")]
    label: Option<String>,
    /// Column holding one model's scores in [0, 1] (higher = more likely positive). Repeat for
    /// several models (binary task).
    #[arg(long = "score", value_name = "COL")]
    scores: Vec<String>,
    /// Multiclass: model A's probability column for one class, CLASS=COL. One per class (at
    /// least 3), in the order the report lists the classes; each row's probabilities must sum to
    /// 1 within 1e-6 (never renormalised).
    #[arg(long = "class-score", value_name = "CLASS=COL")]
    class_scores: Vec<String>,
    /// Multiclass: model B's probability column for one class, CLASS=COL (same classes as
    /// --class-score); with --bootstrap B (e.g. 2000), A and B get a paired bootstrap test of
    /// the macro AUROC (without it the comparison says why it has no p-value).
    #[arg(long = "class-score-b", value_name = "CLASS=COL")]
    class_scores_b: Vec<String>,
    /// Multilabel: one finding, NAME=LABELCOL:SCORECOL (its 0/1 label column and model A's
    /// score column). Repeat per finding; each gets the whole binary evaluation.
    #[arg(long = "finding", value_name = "NAME=LABEL:SCORE")]
    findings: Vec<String>,
    /// Multilabel: model B's score column for a finding, NAME=SCORECOL; every finding then needs one.
    #[arg(long = "finding-b", value_name = "NAME=SCORE")]
    findings_b: Vec<String>,
    /// Column defining subgroups (e.g. sex, age band, site). Repeatable. Multiclass: each level
    /// gets the macro AUROC (bootstrap CI with --bootstrap), accuracy and balanced accuracy, and
    /// the gaps between levels.
    #[arg(long = "group", value_name = "COL")]
    groups: Vec<String>,
    #[command(flatten)]
    stats: StatsArgs,
    /// Column holding each case's patient (cluster) id, when a patient may have several images.
    /// Adds, next to the image-level figures, Obuchowski's clustered AUROC variance and CI, the
    /// design effect, the cluster bootstrap (with --bootstrap) and clustered paired tests. The
    /// harness never guesses this column. Multiclass: each class's one-vs-rest AUROC gets the
    /// Obuchowski block, the macro AUROC a cluster bootstrap and every macro comparison a paired
    /// cluster bootstrap (with --bootstrap); subgroup CIs resample patients too.
    #[arg(long, value_name = "COL")]
    cluster: Option<String>,
    /// Write the full results as JSON to this file (the table is printed either way).
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
    #[command(flatten)]
    gate: GateArgs,
    /// Federated evaluation, round 1: write to --json a site summary (format
    /// harness-site-summary/2; with --task multilabel one per finding,
    /// harness-site-summary-multilabel/1; with --task multiclass
    /// harness-site-summary-multiclass/1, per class the cases of each true class at each
    /// distinct probability, the confusion matrix and the top-label table) instead of the
    /// results: per model and per subgroup level, how many positives and negatives had each
    /// distinct score. No case id and no patient column; with exact scores a score is usually
    /// one case's, so the tables show each case's score, label and levels without its id (the
    /// file's `disclosure` says so; --score-decimals makes cases share scores). `harness pool`
    /// combines the sites' summaries into the exact all-cases results. Needs --site and --json.
    #[arg(long = "aggregates-only", requires_all = ["site", "json"])]
    aggregates_only: bool,
    /// This site's name in a federated evaluation (unique among the pooled sites).
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Round every score to D decimals before counting it (0-15): the summary then reveals only
    /// the rounded scores, and the pooled results are exact for the rounded scores. Every site
    /// must use the same D.
    #[arg(
        long = "score-decimals",
        value_name = "D",
        requires = "aggregates_only"
    )]
    score_decimals: Option<u32>,
    /// Federated evaluation, round 2: answer the coordinator's request (from `harness pool
    /// --request-out`) with this site's sums for the exact paired DeLong tests, written to
    /// --json. Needs --site and the same --score columns as the site's summary.
    #[arg(long = "paired-request", value_name = "REQUEST.json", requires_all = ["site", "json"], conflicts_with = "aggregates_only")]
    paired_request: Option<PathBuf>,
    /// With --aggregates-only: refuse a subgroup level of fewer than N cases (a level that
    /// small shows its cases' scores and labels nearly case by case, and an identifier-like
    /// column would publish every case). Lower it only where publishing such levels is agreed.
    #[arg(
        long = "min-level-cases",
        value_name = "N",
        default_value_t = harness_metrics::MIN_LEVEL_CASES,
        requires = "aggregates_only"
    )]
    min_level_cases: u64,
}

impl EvalArgs {
    /// The options of a federated site's round.
    fn site_args(&self) -> crate::pool::SiteArgs<'_> {
        crate::pool::SiteArgs {
            site: self.site.as_deref().unwrap_or_default(),
            data: &self.data,
            json: self.json.as_deref(),
            score_decimals: self.score_decimals,
            paired_request: self.paired_request.as_deref(),
            min_level_cases: self.min_level_cases,
        }
    }
}

/// The kind of labels `harness eval` evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    Binary,
    Multiclass,
    Multilabel,
}

/// Splits `NAME=VALUE` of `flag`.
fn split_pair<'a>(flag: &str, arg: &'a str) -> Result<(&'a str, &'a str)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k, v)),
        _ => {
            let expected = match flag {
                "--finding" => "NAME=LABELCOL:SCORECOL, e.g. nodule=y_nodule:p_nodule",
                "--finding-b" => "NAME=SCORECOL, the name of a --finding",
                _ => "CLASS=COLUMN",
            };
            bail!("{flag} '{arg}': expected {expected}")
        }
    }
}

fn check_options(args: &EvalArgs) -> Result<()> {
    // The patient column is read beside the others: one column in two roles is refused with
    // both named as the user gave them.
    if let Some(cluster) = &args.cluster {
        // The columns each flag names: `CLASS=COL`, `NAME=SCORE`, `NAME=LABEL:SCORE`.
        let after_eq = |list: &[String]| -> Vec<String> {
            list.iter()
                .filter_map(|a| a.split_once('=').map(|(_, cols)| cols))
                .flat_map(|cols| cols.split(':'))
                .map(str::to_string)
                .collect()
        };
        let roles = [
            ("--label", args.label.iter().cloned().collect::<Vec<_>>()),
            ("--score", args.scores.clone()),
            ("--group", args.groups.clone()),
            ("--class-score", after_eq(&args.class_scores)),
            ("--class-score-b", after_eq(&args.class_scores_b)),
            ("--finding", after_eq(&args.findings)),
            ("--finding-b", after_eq(&args.findings_b)),
        ];
        if let Some((flag, _)) = roles.iter().find(|(_, cols)| cols.contains(cluster)) {
            bail!(
                "--cluster {cluster} is also a {flag} column: the patient column holds patient ids, a column of its own"
            );
        }
    }
    if args.site.is_some() && !args.aggregates_only && args.paired_request.is_none() {
        bail!(
            "--site names a site of a federated evaluation: give --aggregates-only (round 1) or --paired-request (round 2)"
        );
    }
    // The output would replace the data it was computed from (a hospital's only copy, maybe).
    if let Some(json) = &args.json
        && let (Ok(a), Ok(b)) = (json.canonicalize(), args.data.canonicalize())
        && a == b
    {
        bail!(
            "--json {} is the --data file itself: give the results another path",
            json.display()
        );
    }
    let task_flags = [
        ("--class-score", args.class_scores.is_empty()),
        ("--class-score-b", args.class_scores_b.is_empty()),
        ("--finding", args.findings.is_empty()),
        ("--finding-b", args.findings_b.is_empty()),
    ];
    let unused = |allowed: &[&str]| {
        task_flags
            .iter()
            .find(|(f, empty)| !empty && !allowed.contains(f))
            .map(|(f, _)| *f)
    };
    match args.task {
        Task::Binary => {
            if args.label.is_none() || args.scores.is_empty() {
                bail!("--task binary needs --label COL and at least one --score COL");
            }
            if let Some(f) = unused(&[]) {
                let task = if f.starts_with("--class-score") {
                    "multiclass"
                } else {
                    "multilabel"
                };
                bail!("{f} is for --task {task}, not binary");
            }
        }
        Task::Multiclass => {
            if args.label.is_none() || args.class_scores.len() < 3 {
                bail!(
                    "--task multiclass needs --label COL (the class names) and one --class-score CLASS=COL per class, at least 3"
                );
            }
            if !args.scores.is_empty() {
                bail!("--score is for the binary task; use --class-score CLASS=COL");
            }
            if let Some(f) = unused(&["--class-score", "--class-score-b"]) {
                bail!("{f} is not used by --task multiclass");
            }
            if let Some((flag, why)) = args.stats.binary_only() {
                bail!("{flag} is not used by --task multiclass: {why}");
            }
        }
        Task::Multilabel => {
            if args.findings.is_empty() {
                bail!("--task multilabel needs one --finding NAME=LABELCOL:SCORECOL per finding");
            }
            if args.label.is_some() || !args.scores.is_empty() {
                bail!(
                    "--task multilabel takes its labels and scores from --finding, not --label/--score"
                );
            }
            if let Some(f) = unused(&["--finding", "--finding-b"]) {
                bail!("{f} is not used by --task multilabel");
            }
        }
    }
    if args.aggregates_only || args.paired_request.is_some() {
        let flag = if args.aggregates_only {
            "--aggregates-only"
        } else {
            "--paired-request"
        };
        if args.task == Task::Multiclass && args.paired_request.is_some() {
            bail!(
                "{flag}: a multi-class evaluation has no round 2 (its paired comparison is a bootstrap over cases, which is not pooled)"
            );
        }
        if args.task == Task::Multiclass && args.score_decimals.is_some() {
            bail!(
                "--score-decimals: a multi-class summary holds the probabilities as scored (rounded rows would no longer sum to 1)"
            );
        }
        if args.cluster.is_some() {
            bail!(
                "{flag}: patient-clustered statistics cannot be pooled from count tables; leave out --cluster"
            );
        }
        // The statistics are the coordinator's: `harness pool` takes these options.
        if let Some(given) = args.stats.given() {
            bail!(
                "{flag}: {given} is a setting of the pooled statistics, which a site does not compute; give it to `harness pool`"
            );
        }
        if args.paired_request.is_some()
            && (args.score_decimals.is_some()
                || args.min_level_cases != harness_metrics::MIN_LEVEL_CASES)
        {
            bail!(
                "--paired-request: --score-decimals and --min-level-cases belong to round 1 (--aggregates-only); round 2 takes its grid from the request"
            );
        }
        if !args.gate.is_empty() {
            bail!(
                "{flag}: a site computes no results to gate; gate the pooled results with `harness pool --fail-under`"
            );
        }
    }
    args.stats.check()
}

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    harness_alloc::tune_for_arrays();
    check_options(&args)?;
    let opts = args.stats.options();
    // The cluster column is read (and validated) like a group column, then used as clusters.
    let columns: Vec<String> = args.groups.iter().chain(&args.cluster).cloned().collect();
    match args.task {
        Task::Binary => {}
        Task::Multiclass => return multiclass(&args, &opts),
        Task::Multilabel => return multilabel(&args, &columns, &opts),
    }
    let spec = EvalSpec {
        label: args.label.as_deref().unwrap_or_default(),
        scores: &args.scores,
        groups: &columns,
    };
    let table = read_eval_csv(&args.data, &spec)?;
    let look_alike = look_alike(&args, &table.groups);
    if args.aggregates_only || args.paired_request.is_some() {
        say_warnings(&look_alike);
        return crate::pool::site_round(&args.site_args(), &table);
    }
    let criteria = args.gate.binary()?;
    refuse_unavailable(
        &criteria,
        &opts,
        &args.groups,
        args.cluster.is_some(),
        "see --group, --target-specificity, --sens-ci-boot, --cluster",
    )?;
    let mut report = harness_evidence::evaluate_table(&table, args.cluster.as_deref(), &opts)?;
    report.warnings.splice(0..0, look_alike);

    // The JSON first: a broken stdout pipe must not lose the results.
    if let Some(path) = &args.json {
        let mut bytes = serde_json::to_vec_pretty(&report).context("serialising the results")?;
        bytes.push(b'\n');
        harness_evidence::write_atomic(path, &bytes)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    say_warnings(&report.warnings);
    let text = crate::summary::render(&report, &args.data);
    out!("{text}");
    Ok(crate::run::gate_exit(&harness_evidence::gate::check(
        &report, &criteria,
    )))
}

/// Prints the task gate's verdicts and gives the exit status: 1 when a criterion failed.
pub(crate) fn task_gate(
    models: &[String],
    criteria: &[TaskCriterion],
    value: impl Fn(&str, &str) -> Result<f64, String>,
) -> ExitCode {
    crate::run::gate_exit(&gate::check_task(models, criteria, value))
}

/// Writes a task's JSON report (before anything is printed: a broken stdout pipe must not lose
/// the results) and its warnings.
fn write_json(args: &EvalArgs, report: &impl serde::Serialize, warnings: &[String]) -> Result<()> {
    if let Some(path) = &args.json {
        let mut bytes = serde_json::to_vec_pretty(report).context("serialising the results")?;
        bytes.push(b'\n');
        harness_evidence::write_atomic(path, &bytes)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    say_warnings(warnings);
    Ok(())
}

/// Prints each warning on stderr.
fn say_warnings(warnings: &[String]) {
    for w in warnings {
        errln!("warning: {w}");
    }
}

/// `--task multilabel`: each finding is read (its label column, the models' score columns, the
/// subgroup and cluster columns) and evaluated with the binary contract, then aggregated.
fn multilabel(args: &EvalArgs, columns: &[String], opts: &EvalOptions) -> Result<ExitCode> {
    let mut b_scores: IndexMap<&str, &str> = IndexMap::new();
    for arg in &args.findings_b {
        let (name, col) = split_pair("--finding-b", arg)?;
        if b_scores.insert(name, col).is_some() {
            bail!("--finding-b names finding '{name}' twice");
        }
    }
    let names: Vec<String> = args
        .findings
        .iter()
        .map(|a| split_pair("--finding", a).map(|(n, _)| n.to_string()))
        .collect::<Result<_>>()?;
    let criteria = args.gate.task(|k| multilabel::gate_key(&names, k))?;
    if let Some(name) = b_scores.keys().find(|b| !names.iter().any(|n| n == *b)) {
        bail!("--finding-b names '{name}', which no --finding declares");
    }
    refuse_unavailable_findings(
        &names,
        &criteria,
        opts,
        &args.groups,
        args.cluster.is_some(),
        "see --group, --target-specificity, --sens-ci-boot, --cluster",
    )?;
    let mut findings: Vec<FindingColumns> = Vec::new();
    for arg in &args.findings {
        let (name, cols) = split_pair("--finding", arg)?;
        let Some((label, score)) = cols.split_once(':') else {
            bail!("--finding '{arg}': expected NAME=LABELCOL:SCORECOL");
        };
        if findings.iter().any(|f| f.name == name) {
            bail!("--finding names finding '{name}' twice");
        }
        if let Some(other) = findings.iter().find(|f| f.label == label) {
            bail!(
                "--finding '{arg}': findings '{}' and '{name}' both take their labels from column '{label}'; each finding has its own label column",
                other.name
            );
        }
        let mut scores = IndexMap::new();
        scores.insert("a".to_string(), score.to_string());
        if !args.findings_b.is_empty() {
            let Some(b) = b_scores.shift_remove(name) else {
                bail!("finding '{name}' has no --finding-b column, but other findings do");
            };
            if b == score {
                bail!(
                    "--finding-b {name}={b}: model b's column is model a's ('{score}'): compare two models' scores"
                );
            }
            scores.insert("b".to_string(), b.to_string());
        }
        findings.push(FindingColumns {
            name: name.to_string(),
            label: label.to_string(),
            scores,
        });
    }
    // One pass over the file for every finding.
    let read = harness_data::with_file_bytes(&args.data, |bytes| {
        read_findings(bytes, &args.data, &findings, columns)
    })?;
    let look_alike = look_alike(args, &read.table.groups);
    if args.aggregates_only || args.paired_request.is_some() {
        say_warnings(&look_alike);
        let input = findings_input(&findings, &read, None)?;
        return crate::pool::findings_site_round(&args.site_args(), &input);
    }
    let mut report = evaluate_findings(&findings, &read, args.cluster.as_deref(), opts)?;
    report.warnings.splice(0..0, look_alike);
    write_json(args, &report, &report.warnings)?;
    let text = crate::summary::findings(&report, &args.data);
    out!("{text}");
    let models: Vec<String> = report.models.keys().cloned().collect();
    Ok(task_gate(&models, &criteria, |m, k| {
        report.gate_value(m, k)
    }))
}

/// `--task multiclass`: the label column holds class names; each model gives one probability
/// column per class (--class-score for A, --class-score-b for B), in the flags' class order.
fn multiclass(args: &EvalArgs, opts: &EvalOptions) -> Result<ExitCode> {
    let parse = |flag: &str, list: &[String]| -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = Vec::new();
        for arg in list {
            let (class, col) = split_pair(flag, arg)?;
            if out.iter().any(|(c, _)| c == class) {
                bail!("{flag} names class '{class}' twice");
            }
            out.push((class.to_string(), col.to_string()));
        }
        Ok(out)
    };
    let a = parse("--class-score", &args.class_scores)?;
    let b = parse("--class-score-b", &args.class_scores_b)?;
    let classes: Vec<String> = a.iter().map(|(c, _)| c.clone()).collect();
    let criteria = args.gate.task(|k| multiclass::gate_key(&classes, k))?;
    if !b.is_empty() && b.iter().map(|(c, _)| c).ne(classes.iter()) {
        bail!("--class-score-b must name the classes of --class-score, in the same order");
    }
    let mut models = IndexMap::new();
    models.insert(
        "a".to_string(),
        a.iter().map(|(_, col)| col.clone()).collect(),
    );
    if !b.is_empty() {
        models.insert(
            "b".to_string(),
            b.iter().map(|(_, col)| col.clone()).collect(),
        );
    }
    let cols = ClassColumns {
        classes: classes.clone(),
        label: args.label.clone().unwrap_or_default(),
        models,
    };
    if args.aggregates_only {
        let site = args.site.as_deref().unwrap_or_default();
        let summary = harness_data::with_file_bytes(&args.data, |bytes| {
            summarize_classes_csv(
                bytes,
                &args.data,
                &cols,
                &args.groups,
                (site, args.min_level_cases),
            )
        })?;
        if let Some(first) = summary.models.values().next() {
            say_warnings(&look_alike_levels(
                args,
                first.groups.iter().map(|(c, levels)| (c, levels.keys())),
            ));
        }
        let out = args.json.as_deref().unwrap_or(Path::new("site.json"));
        crate::pool::write_json(out, &summary)?;
        outln!(
            "site {site}: {} cases of {}, {} classes, {} model(s), {} subgroup column(s): {}",
            summary.n,
            args.data.display(),
            summary.classes.len(),
            summary.models.len(),
            args.groups.len(),
            out.display()
        );
        outln!("what it reveals: {}", summary.disclosure);
        return Ok(ExitCode::SUCCESS);
    }
    let mut report = harness_data::with_file_bytes(&args.data, |bytes| {
        evaluate_classes(
            bytes,
            &args.data,
            &cols,
            (&args.groups, args.cluster.as_deref()),
            &MulticlassOptions {
                bootstrap: opts.bootstrap,
                seed: opts.seed,
            },
        )
    })?;
    if let Some(first) = report.models.values().next() {
        let warnings = look_alike_levels(
            args,
            first.subgroups.iter().map(|(c, levels)| (c, levels.keys())),
        );
        report.warnings.splice(0..0, warnings);
    }
    write_json(args, &report, &report.warnings)?;
    let text = crate::summary::classes(&report, &args.data);
    out!("{text}");
    let models: Vec<String> = report.models.keys().cloned().collect();
    Ok(task_gate(&models, &criteria, |m, k| {
        report.gate_value(m, k)
    }))
}

/// Warnings of subgroup levels that look like one level written differently (`F`, `f`, `F `:
/// kept apart, as written) in the group columns read, and of patient ids that differ only in
/// surrounding spaces in the patient column (ids may differ in case: identifiers).
fn look_alike(args: &EvalArgs, groups: &[harness_data::GroupColumn]) -> Vec<String> {
    groups
        .iter()
        .filter_map(|g| {
            let values = g.levels.iter().map(String::as_str);
            if Some(&g.name) == args.cluster.as_ref() {
                harness_data::look_alike_ids(&g.name, values)
            } else {
                harness_data::look_alike_levels(&g.name, values)
            }
        })
        .map(|w| format!("{}: {w}", args.data.display()))
        .collect()
}

/// [`look_alike`] for the subgroup levels of a task's report (or site summary), by column.
fn look_alike_levels<'l>(
    args: &EvalArgs,
    columns: impl IntoIterator<Item = (&'l String, impl IntoIterator<Item = &'l String>)>,
) -> Vec<String> {
    columns
        .into_iter()
        .filter_map(|(column, levels)| {
            harness_data::look_alike_levels(column, levels.into_iter().map(String::as_str))
        })
        .map(|w| format!("{}: {w}", args.data.display()))
        .collect()
}

/// A criterion an evaluation with `opts`, the grouping columns `groupings` and (when
/// `clustered`) a patient column can never give is a mistake in the command (exit 2), not a
/// candidate that failed the gate (exit 1): refused, naming its flag, before any computation.
/// `hint` says where the user can change that.
pub(crate) fn refuse_unavailable(
    criteria: &[Criterion],
    opts: &EvalOptions,
    groupings: &[String],
    clustered: bool,
    hint: &str,
) -> Result<()> {
    if let Some((c, why)) = gate::unavailable(criteria, opts, groupings, clustered) {
        let flag = match c.direction {
            Direction::Under => "--fail-under",
            Direction::Over => "--fail-over",
        };
        bail!("{flag} {}: {why} ({hint})", c.metric);
    }
    Ok(())
}

/// [`refuse_unavailable`] for a multi-label evaluation's criteria: a finding's criterion the
/// evaluation can never give (exit 2, naming its flag) rather than a gate FAIL after it.
pub(crate) fn refuse_unavailable_findings(
    findings: &[String],
    criteria: &[TaskCriterion],
    opts: &EvalOptions,
    groupings: &[String],
    clustered: bool,
    hint: &str,
) -> Result<()> {
    if let Some((c, why)) = gate::unavailable_task(
        harness_data::registry::DatasetTask::Multilabel,
        findings,
        criteria,
        opts,
        groupings,
        clustered,
    ) {
        let flag = match c.direction {
            Direction::Under => "--fail-under",
            Direction::Over => "--fail-over",
        };
        bail!("{flag} {}: {why} ({hint})", c.key);
    }
    Ok(())
}
