//! Federated evaluation: a site's rounds (`harness eval --aggregates-only`, `--paired-request`)
//! and the coordinator's `harness pool`. The protocol and what each message reveals are in
//! `harness_metrics::pool`; how the coordinator reads and checks the sites' files and runs the
//! rounds, in [`harness_pipeline::coordinator`]; this module parses the arguments, writes the
//! files and prints.

use anyhow::{Context, Result, bail};
use clap::Args;
use ed25519_dalek::VerifyingKey;
use harness_data::EvalTable;
use harness_evidence::gate::{GateResult, TaskCriterion};
use harness_metrics::multilabel::{self, MultilabelInput};
use harness_metrics::pool::pooled_tables;
use harness_metrics::pool::{PairedRequest, SiteSummary, paired_site_sums, summarize};
use harness_metrics::pool_classes::{
    CLASSES_SITE_FORMAT, ClassesSiteSummary, pool_classes, pooled_class_tables,
};
use harness_metrics::pool_findings::{
    FINDINGS_SITE_FORMAT, FindingsPairedRequest, FindingsSiteSummary, findings_paired_site_sums,
    summarize_findings,
};
use harness_metrics::{EvalInput, EvalOptions};
use harness_pipeline::coordinator::{
    self, Answers, Binary, Findings, Rounds, Sites, applicable, bundle_of, look_alike_across,
    site_format,
};
use harness_pipeline::pooled::{
    pooled_classes_report_input, pooled_findings_report_input, pooled_report_input,
    write_pooled_report,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::options::{GateArgs, StatsArgs, suite_binary, suite_task};

/// What a site's round needs from `harness eval`'s arguments.
pub struct SiteArgs<'a> {
    pub site: &'a str,
    pub data: &'a Path,
    pub json: Option<&'a Path>,
    pub score_decimals: Option<u32>,
    pub paired_request: Option<&'a Path>,
    /// The fewest cases a subgroup level may hold ([`harness_metrics::check_level_sizes`]).
    pub min_level_cases: u64,
}

/// Compact JSON: a site summary has one row per distinct score, so whitespace would triple the
/// bytes every site sends and the coordinator parses (`jq .` shows it indented).
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let mut bytes = serde_json::to_vec(value).context("serialising")?;
    bytes.push(b'\n');
    harness_evidence::write_atomic(path, &bytes)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// A round-2 request as a site reads it, with the digest its answer names.
fn read_request<T: serde::de::DeserializeOwned + serde::Serialize>(
    path: &Path,
) -> Result<(T, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let request =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not valid", path.display()))?;
    let digest = harness_metrics::request_digest(&request);
    Ok((request, digest))
}

fn input(table: &EvalTable) -> EvalInput<'_> {
    harness_evidence::evaluation::eval_input(table, None)
}

/// A site's round 1 (the summary) or round 2 (the paired sums), written to `--json`.
pub fn site_round(args: &SiteArgs, table: &EvalTable) -> Result<ExitCode> {
    let Some(out) = args.json else {
        bail!("a federated round writes its file to --json OUT.json");
    };
    let input = input(table);
    if let Some(path) = args.paired_request {
        let (request, sha256) = read_request::<PairedRequest>(path)?;
        let sums = paired_site_sums(&input, args.site, &request, &sha256)?;
        write_json(out, &sums)?;
        outln!(
            "site {}: paired sums for {} pair(s) of models over {} cases written to {}",
            args.site,
            sums.pairs.len(),
            table.labels.len(),
            out.display()
        );
        outln!("what it reveals: {}", sums.disclosure);
        return Ok(ExitCode::SUCCESS);
    }
    let summary = summarize(&input, args.site, args.score_decimals, args.min_level_cases)?;
    write_json(out, &summary)?;
    let rows: usize = summary.models.values().map(|m| m.all.len()).sum();
    outln!(
        "site {}: {} cases ({} positive) of {}, {} model(s), {} subgroup column(s), {rows} count-table rows: {}",
        args.site,
        summary.n,
        summary.positives,
        args.data.display(),
        summary.models.len(),
        input.groupings.len(),
        out.display()
    );
    outln!("what it reveals: {}", summary.disclosure);
    Ok(ExitCode::SUCCESS)
}

/// A multi-label site's round 1 (a summary per finding) or round 2 (paired sums per finding),
/// written to `--json`.
pub fn findings_site_round(args: &SiteArgs, input: &MultilabelInput) -> Result<ExitCode> {
    let Some(out) = args.json else {
        bail!("a federated round writes its file to --json OUT.json");
    };
    let cases = input.findings.first().map_or(0, |f| f.labels.len());
    if let Some(path) = args.paired_request {
        let (request, sha256) = read_request::<FindingsPairedRequest>(path)?;
        let sums = findings_paired_site_sums(input, args.site, &request, &sha256)?;
        write_json(out, &sums)?;
        outln!(
            "site {}: paired sums for {} finding(s) over {cases} cases written to {}",
            args.site,
            sums.findings.len(),
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let summary = summarize_findings(input, args.site, args.score_decimals, args.min_level_cases)?;
    write_json(out, &summary)?;
    outln!(
        "site {}: {cases} cases of {}, {} finding(s), {} subgroup column(s): {}",
        args.site,
        args.data.display(),
        summary.findings.len(),
        input.groupings.len(),
        out.display()
    );
    outln!("what it reveals: {}", summary.disclosure);
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
#[command(
    about = "Pool sites' summaries into the exact all-cases results (federated evaluation; no case leaves a site)",
    long_about = "Pool the site summaries of a federated evaluation into the results `harness eval` would give on \
        all the sites' cases together, without any case leaving its site.\n\n\
        Round 1: each site runs `harness eval --data ITS.csv --label y --score a --score b --group sex \
        --aggregates-only --site NAME --json NAME.json` and sends NAME.json: per model and subgroup \
        level, how many positives and negatives had each distinct score (no case id; with exact scores \
        a score is usually one case's, so the tables show each case's score, label and levels \
        without its id: --score-decimals D reveals only rounded scores, which cases share; levels \
        of fewer than 5 cases, and sites of fewer than 5 cases, are refused at the site). `harness pool A.json B.json ... --json OUT.json` \
        then computes, exactly (bit for bit), every single-model figure of `harness eval`: AUROC with \
        DeLong CI, sensitivity at specificity, average precision, Brier, log loss, ECE, calibration \
        slope and intercept, subgroup AUROCs and fairness, in `harness eval`'s JSON layout; with \
        --bootstrap B / --sens-ci-boot B the bootstrap CIs too (a replicate depends only on each class's \
        sorted scores, which the tables hold). Patient-clustered figures cannot be pooled from tables: \
        the sites leave the patient column out.\n\n\
        Round 2 (paired DeLong tests between models): `harness pool ... --request-out REQUEST.json` \
        writes the pooled score tables for the sites; each site runs `harness eval ... \
        --paired-request REQUEST.json --site NAME --json NAME-sums.json` (six sums and two counts per \
        pair of models); `harness pool A.json B.json ... --request REQUEST.json --sums A-sums.json \
        B-sums.json ... --json OUT.json` then gives the exact paired tests too.\n\n\
        Multi-label: the sites run `harness eval --task multilabel --finding NAME=LABEL:SCORE ... \
        --aggregates-only` (and answer round 2 likewise); the pool is exact finding by finding and \
        for each model's macro and micro AUROC, written in `harness eval --task multilabel`'s layout \
        (gate keys auroc_macro, auroc_micro, <metric>.<finding>).\n\n\
        Multi-class: the sites run `harness eval --task multiclass --class-score CLASS=COL ... \
        --aggregates-only`; one round gives every figure of `harness eval --task multiclass` but the \
        bootstraps (the macro AUROC's CI and the paired comparison resample cases: absent, with the \
        reason), in its layout (gate keys auroc_macro, accuracy, auroc.<class>, ...).\n\n\
        Exit status: 0 success; 1 a --fail-under/--fail-over criterion failed; 2 inconsistent, \
        changed or missing site files (named).",
    after_help = "Examples:\n  \
        harness pool site-a.json site-b.json site-c.json --json pooled.json\n  \
        harness pool site-*.json --request-out request.json          # then each site answers it\n  \
        harness pool site-*.json --request request.json --sums sums-*.json --json pooled.json --fail-under auroc=0.85"
)]
pub struct PoolArgs {
    /// The sites' summaries (`harness eval --aggregates-only`), or their site bundles
    /// (`harness run --site NAME --aggregates-only`, verified before use), one per site. Site
    /// bundles must have run one suite (its dataset aside); its [metrics] settings are used and
    /// its [acceptance] applied, as the run would.
    #[arg(value_name = "SITE.json|SITE_DIR", required = true)]
    sites: Vec<PathBuf>,
    /// Write the pooled results (`harness eval`'s JSON layout) here.
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
    /// Also write a human report of the pooled results into this folder (report.html,
    /// summary.md, figures/): the run report's figures and tables, and which site sent what.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Write the round-2 request for the sites (the pooled score tables) here.
    #[arg(long = "request-out", value_name = "REQUEST.json")]
    request_out: Option<PathBuf>,
    /// The round-2 request the sites answered (from --request-out); needs --sums.
    #[arg(long, value_name = "REQUEST.json", requires = "sums")]
    request: Option<PathBuf>,
    /// The sites' round-2 answers (`harness eval --paired-request`, or the bundles of
    /// `harness run --site NAME --aggregates-only --paired-request`), one per site.
    #[arg(long, value_name = "SUMS.json|SITE_DIR", num_args = 1.., requires = "request")]
    sums: Vec<PathBuf>,
    #[command(flatten)]
    stats: StatsArgs,
    #[command(flatten)]
    gate: GateArgs,
    /// An ed25519 public key (hex) a site signed its bundle with (repeatable: each site may
    /// have its own). Every site bundle's signature is checked against them before it is
    /// pooled, and a bare SITE.json, which carries no signature, is then refused. Signed site
    /// bundles are refused without a key.
    #[arg(long = "public-key", value_name = "FILE")]
    public_keys: Vec<PathBuf>,
}

impl PoolArgs {
    /// Refuses an output inside a site bundle given as input: the bundle would hold a file its
    /// manifest does not list and no longer verify (nor pool again).
    fn check_outputs(&self) -> Result<()> {
        let outputs = [
            ("--json", &self.json),
            ("--report", &self.report),
            ("--request-out", &self.request_out),
        ];
        let bundles: Vec<PathBuf> = self
            .sites
            .iter()
            .chain(&self.sums)
            .filter_map(|p| bundle_of(p))
            .collect();
        for (flag, out) in outputs {
            let Some(out) = out else { continue };
            if let Some(b) = bundles
                .iter()
                .find(|b| harness_evidence::bundle::within(out, b))
            {
                bail!(
                    "{flag} {} is inside the site bundle {}: write it elsewhere (the bundle would no longer verify)",
                    out.display(),
                    b.display()
                );
            }
        }
        Ok(())
    }

    /// The site bundles' signers' keys (--public-key), read.
    fn public_keys(&self) -> Result<Vec<VerifyingKey>> {
        self.public_keys
            .iter()
            .map(|p| Ok(harness_evidence::signing::read_verifying_key(p)?))
            .collect()
    }
}

/// The sites' summaries ([`coordinator::read_sites`]), what their bundles' suites differ in
/// and what their runs warned of said on standard error.
fn read_and_say<T: serde::de::DeserializeOwned + Send>(
    args: &PoolArgs,
    format: &str,
    keys: &[VerifyingKey],
) -> Result<Sites<T>> {
    let sites = coordinator::read_sites(&args.sites, format, keys)?;
    say(sites.notes.iter().chain(&sites.bare_beside_bundles));
    Ok(sites)
}

/// Warnings, each on standard error.
fn say<'w>(warnings: impl IntoIterator<Item = &'w String>) {
    for w in warnings {
        errln!("warning: {w}");
    }
}

/// The statistics' settings of the pooled results, and the suite's acceptance criteria. Bare
/// summaries carry no settings: the command line's. Site bundles carry their suite's: its
/// `[metrics]` (the command line may not set others, which would not be what the sites' runs
/// asked for) and its `[acceptance]`, applied beside `--fail-under`/`--fail-over` as a run and
/// a merge apply it.
fn settings<T>(sites: &Sites<T>, args: &PoolArgs) -> Result<(EvalOptions, Vec<TaskCriterion>)> {
    let Some(suite) = &sites.suite else {
        return Ok((args.stats.options(), Vec::new()));
    };
    let opts = suite.metrics.options();
    if let Some(flag) = args.stats.differs_from(&opts) {
        bail!(
            "{flag}: the site bundles ran suite '{}', whose [metrics] settings the pool uses (as its run would); leave it out",
            suite.name
        );
    }
    let criteria = suite
        .acceptance
        .criteria()
        .map_err(|e| anyhow::anyhow!("suite '{}': [acceptance]: {e}", suite.name))?;
    Ok((opts, criteria))
}

/// The suite's criteria the pooled results can give ([`coordinator::applicable`]), the
/// patient-clustered ones left out said on standard error.
fn applicable_said<C>(
    suite: Vec<C>,
    unavailable: impl Fn(&C, bool) -> Option<(String, String)>,
) -> Result<Vec<C>> {
    let (kept, warnings) = applicable(suite, unavailable)?;
    say(&warnings);
    Ok(kept)
}

/// The coordinator's rounds: `--request-out` writes the round-2 request; then round 1's
/// results, or round 2's with `--request` and `--sums` ([`coordinator::pool_rounds`]). `None`
/// when only the request was asked for.
fn rounds<R: Rounds>(
    args: &PoolArgs,
    sites: &[R::Site],
    opts: &EvalOptions,
    keys: &[VerifyingKey],
) -> Result<Option<(R::Report, Answers)>> {
    if let Some(path) = &args.request_out {
        let request = R::request(sites)?;
        write_json(path, &request)?;
        outln!(
            "round-2 request written to {} ({}, which each site's answer names); send it to every site. It holds {}",
            path.display(),
            harness_metrics::request_digest(&request),
            R::describe(&request)
        );
        if args.json.is_none() {
            return Ok(None);
        }
    }
    let paired = args
        .request
        .as_deref()
        .map(|request| (request, args.sums.as_slice()));
    Ok(Some(coordinator::pool_rounds::<R>(
        sites, paired, opts, keys,
    )?))
}

/// Where to look when a criterion cannot be given by pooled summaries.
fn what_summaries_hold(groupings: &[String]) -> String {
    format!(
        "the site summaries hold the groupings {groupings:?} and no patient column; see --target-specificity, --sens-ci-boot"
    )
}

/// `harness pool`.
pub fn run(args: PoolArgs) -> Result<ExitCode> {
    args.stats.check()?;
    args.check_outputs()?;
    let keys = args.public_keys()?;
    let format = site_format(&args.sites[0], &keys)?;
    if format == FINDINGS_SITE_FORMAT {
        return run_findings(&args, &keys);
    }
    if format == CLASSES_SITE_FORMAT {
        return run_classes(&args, &keys);
    }
    let read: Sites<SiteSummary> = read_and_say(&args, &format, &keys)?;
    let sites = &read.summaries;
    let (opts, suite_criteria) = settings(&read, &args)?;
    let mut criteria = args.gate.binary()?;
    let groupings: Vec<String> = sites[0]
        .models
        .values()
        .next()
        .map(|t| t.groups.keys().cloned().collect())
        .unwrap_or_default();
    say(&look_alike_across(
        sites
            .iter()
            .map(|s| Some(&s.models.values().next()?.groups)),
    ));
    // As in `eval`: a criterion the pooled results can never give (a grouping no site
    // summarised, a specificity not asked for, a clustered figure: summaries hold no patient
    // column) is a mistake in the command, refused before the pooling.
    crate::eval::refuse_unavailable(
        &criteria,
        &opts,
        &groupings,
        false,
        &what_summaries_hold(&groupings),
    )?;
    criteria.extend(applicable_said(
        suite_binary(&suite_criteria)?,
        |c, clustered| {
            let one = std::slice::from_ref(c);
            let why = harness_evidence::gate::unavailable(one, &opts, &groupings, clustered)?.1;
            Some((c.metric.to_string(), why))
        },
    )?);
    let Some((mut report, answers)) = rounds::<Binary>(&args, sites, &opts, &keys)? else {
        return Ok(ExitCode::SUCCESS);
    };
    report.warnings.extend(read.notes.iter().cloned());
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    let gate = harness_evidence::gate::check(&report, &criteria);
    if let Some(dir) = &args.report {
        write_report(&read, &report, &answers, &gate, dir)?;
    }
    say(read.unsaid(&report.warnings));
    let label = what_left_rounds::<Binary>(sites, args.request.is_some());
    let text = crate::summary::render(&report, &label);
    out!("{text}");
    Ok(crate::run::gate_exit(&gate))
}

/// The pooled report's input with the gate's verdicts.
fn gated(
    mut input: harness_report::ReportInput,
    gate: &[GateResult],
) -> harness_report::ReportInput {
    input.acceptance = harness_pipeline::render::acceptance_rows(gate);
    input
}

/// Prints what left each site, in the words of its own summary; returns the label of the
/// pooled results ("pooled: A + B + C").
fn what_left(sites: &[(&str, String)], paired_sums: Option<&str>) -> PathBuf {
    outln!("pooled from {} site(s); what left each site:", sites.len());
    for (name, line) in sites {
        outln!("  {name}: {line}");
    }
    if let Some(sums) = paired_sums {
        outln!("  and, for the paired tests, each site's {sums}");
    }
    let names: Vec<&str> = sites.iter().map(|(name, _)| *name).collect();
    PathBuf::from(format!("pooled: {}", names.join(" + ")))
}

/// [`what_left`] for the sites of a two-round protocol.
fn what_left_rounds<R: Rounds>(sites: &[R::Site], paired: bool) -> PathBuf {
    let lines: Vec<(&str, String)> = sites.iter().map(R::site).collect();
    what_left(&lines, paired.then_some(R::PAIRED_SUMS))
}

/// This program, as the pooled report names it: as a run's report does ([`crate::run::tool`]; a build outside git says `unknown`).
fn tool_info() -> harness_report::ToolInfo {
    let tool = crate::run::tool();
    harness_report::ToolInfo {
        version: tool.version,
        git_commit: tool.git_commit.unwrap_or_else(|| "unknown".into()),
    }
}

/// The pooled report in `dir`.
fn write_report(
    read: &Sites<SiteSummary>,
    report: &harness_metrics::EvalReport,
    answers: &Answers,
    gate: &[GateResult],
    dir: &Path,
) -> Result<()> {
    let sites = &read.summaries;
    let pooled_sites = read.pooled_sites(answers);
    let tables = pooled_tables(sites)?;
    let input = pooled_report_input(
        &pooled_sites,
        report,
        &tables,
        tool_info(),
        harness_evidence::now_rfc3339(),
    );
    write_pooled_report(&gated(read.with_model_pins(input), gate), dir)?;
    outln!("report: {}", dir.join("report.html").display());
    Ok(())
}

/// `harness pool` on multi-label site summaries: the same rounds, finding by finding, and the
/// results in `harness eval --task multilabel`'s layout.
fn run_findings(args: &PoolArgs, keys: &[VerifyingKey]) -> Result<ExitCode> {
    let read: Sites<FindingsSiteSummary> = read_and_say(args, FINDINGS_SITE_FORMAT, keys)?;
    let sites = &read.summaries;
    let names: Vec<String> = sites[0].findings_order.clone();
    let (opts, suite_criteria) = settings(&read, args)?;
    let mut criteria = args.gate.task(|k| multilabel::gate_key(&names, k))?;
    say(&look_alike_across(sites.iter().map(|s| {
        let finding = s.findings.values().next()?;
        Some(&finding.models.values().next()?.groups)
    })));
    let groupings: Vec<String> = sites[0]
        .findings
        .values()
        .next()
        .and_then(|f| f.models.values().next())
        .map(|t| t.groups.keys().cloned().collect())
        .unwrap_or_default();
    crate::eval::refuse_unavailable_findings(
        &names,
        &criteria,
        &opts,
        &groupings,
        false,
        &what_summaries_hold(&groupings),
    )?;
    let suite_criteria = suite_task(suite_criteria, |k| multilabel::gate_key(&names, k))?;
    criteria.extend(applicable_said(suite_criteria, |c, clustered| {
        let why = harness_evidence::gate::unavailable_task(
            harness_data::registry::DatasetTask::Multilabel,
            &names,
            std::slice::from_ref(c),
            &opts,
            &groupings,
            clustered,
        )?
        .1;
        Some((c.key.clone(), why))
    })?);
    let Some((mut report, answers)) = rounds::<Findings>(args, sites, &opts, keys)? else {
        return Ok(ExitCode::SUCCESS);
    };
    report.warnings.extend(read.notes.iter().cloned());
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    let models: Vec<String> = report.models.keys().cloned().collect();
    let gate =
        harness_evidence::gate::check_task(&models, &criteria, |m, k| report.gate_value(m, k));
    if let Some(dir) = &args.report {
        let pooled_sites = read.pooled_sites(&answers);
        let input = pooled_findings_report_input(
            &pooled_sites,
            &report,
            tool_info(),
            harness_evidence::now_rfc3339(),
        )?;
        write_pooled_report(&gated(read.with_model_pins(input), &gate), dir)?;
        outln!("report: {}", dir.join("report.html").display());
    }
    say(read.unsaid(&report.warnings));
    let label = what_left_rounds::<Findings>(sites, args.request.is_some());
    let text = crate::summary::findings(&report, &label);
    out!("{text}");
    Ok(crate::run::gate_exit(&gate))
}

/// `harness pool` of multi-class site summaries: one round (the bootstraps are not pooled).
fn run_classes(args: &PoolArgs, keys: &[VerifyingKey]) -> Result<ExitCode> {
    if args.request.is_some() || args.request_out.is_some() || !args.sums.is_empty() {
        bail!(
            "a multi-class evaluation has no round 2: its paired comparison is a bootstrap over cases, which is not pooled (pool the summaries alone)"
        );
    }
    // The binary task's options: a value other than the default would be ignored without a word.
    if args.stats.seed.is_some() {
        bail!(
            "--seed is not used in pooling multi-class sites: no bootstrap is pooled (the macro AUROC's bootstrap resamples cases)"
        );
    }
    if args.stats.bootstrap.is_some_and(|b| b != 0) {
        bail!(
            "--bootstrap is not used in pooling multi-class sites: the macro AUROC's bootstrap resamples cases, which are not pooled"
        );
    }
    if let Some((flag, why)) = args.stats.binary_only() {
        bail!("{flag} is not used in pooling multi-class sites: {why}");
    }
    let read: Sites<ClassesSiteSummary> = read_and_say(args, CLASSES_SITE_FORMAT, keys)?;
    let sites = &read.summaries;
    let classes = sites[0].classes.clone();
    // The suite's bootstrap and binary settings do not apply here: only its gate.
    let (_, suite_criteria) = settings(&read, args)?;
    let key = |k: &str| harness_metrics::multiclass::gate_key(&classes, k);
    let mut criteria = args.gate.task(key)?;
    criteria.extend(suite_task(suite_criteria, key)?);
    say(&look_alike_across(
        sites
            .iter()
            .map(|s| Some(&s.models.values().next()?.groups)),
    ));
    let mut report = pool_classes(
        sites,
        &harness_metrics::multiclass::MulticlassOptions {
            bootstrap: 0,
            seed: EvalOptions::default().seed,
        },
    )?;
    report.warnings.extend(read.notes.iter().cloned());
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    let models: Vec<String> = report.models.keys().cloned().collect();
    let gate =
        harness_evidence::gate::check_task(&models, &criteria, |m, k| report.gate_value(m, k));
    if let Some(dir) = &args.report {
        let pooled_sites = read.pooled_sites(&Answers::new());
        let input = pooled_classes_report_input(
            &pooled_sites,
            &report,
            &pooled_class_tables(sites)?,
            tool_info(),
            harness_evidence::now_rfc3339(),
        );
        write_pooled_report(&gated(read.with_model_pins(input), &gate), dir)?;
        outln!("report: {}", dir.join("report.html").display());
    }
    say(read.unsaid(&report.warnings));
    let lines: Vec<(&str, String)> = sites
        .iter()
        .map(|s| {
            let line = format!(
                "{} cases, {} classes, {} model(s): {}",
                s.n,
                s.classes.len(),
                s.models.len(),
                s.disclosure
            );
            (s.site.as_str(), line)
        })
        .collect();
    let label = what_left(&lines, None);
    let text = crate::summary::classes(&report, &label);
    out!("{text}");
    Ok(crate::run::gate_exit(&gate))
}
