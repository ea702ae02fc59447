//! Federated evaluation: a site's rounds (`harness eval --aggregates-only`, `--paired-request`)
//! and the coordinator's `harness pool`. The protocol and what each message reveals are in
//! `harness_metrics::pool`; this module reads and writes the files and prints.

use anyhow::{Context, Result, bail};
use clap::Args;
use ed25519_dalek::VerifyingKey;
use harness_data::EvalTable;
use harness_evidence::gate::{GateResult, TaskCriterion};
use harness_metrics::multilabel::{self, MultilabelInput};
use harness_metrics::pool::pooled_tables;
use harness_metrics::pool::{
    PairedRequest, PairedSiteSums, SiteSummary, paired_request, paired_site_sums, pool,
    pool_paired_json, summarize,
};
use harness_metrics::pool_classes::{
    CLASSES_SITE_FORMAT, ClassesSiteSummary, pool_classes, pooled_class_tables,
};
use harness_metrics::pool_findings::{
    FINDINGS_SITE_FORMAT, FindingsPairedRequest, FindingsPairedSums, FindingsSiteSummary,
    findings_paired_request, findings_paired_site_sums, pool_findings, pool_findings_paired,
    summarize_findings,
};
use harness_metrics::{EvalInput, EvalOptions};
use harness_pipeline::pooled::{
    DescribedSite, PooledSite, SiteRun, pooled_classes_report_input, pooled_findings_report_input,
    pooled_report_input, site_run_warnings, write_pooled_report,
};
use rayon::prelude::*;
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

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not valid", path.display()))
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

/// The site bundle `path` names: the folder itself, or the folder of a file its manifest lists
/// (`site-a/site.json` is read as the bundle `site-a`); `None` for a bare file.
fn bundle_of(path: &Path) -> Option<PathBuf> {
    if path.is_dir() {
        return Some(path.to_path_buf());
    }
    let dir = path.parent()?;
    let name = path.file_name()?.to_str()?;
    let manifest: harness_evidence::Manifest =
        read_json(&dir.join(harness_evidence::manifest::MANIFEST)).ok()?;
    manifest.files.contains_key(name).then(|| dir.to_path_buf())
}

/// A site's file, or `file` of a site bundle (`harness run --site`, named by its folder or by
/// a file in it): the bundle is verified first (every file's sha256 against its manifest; its
/// signature against `keys`, a signed bundle refused without any:
/// [`harness_evidence::check_input`]) and the file is read as that manifest pins it, with the
/// bundle's manifest and suite (`None` for a bare file) and the SHA-256 of the bytes parsed. A
/// bare file is refused when `keys` are given: it has no signature to check.
fn read_site_file_pinned<T: serde::de::DeserializeOwned>(
    path: &Path,
    file: &str,
    keys: &[VerifyingKey],
) -> Result<(T, Option<SiteBundle>, String)> {
    let Some(dir) = bundle_of(path) else {
        if !keys.is_empty() {
            bail!(
                "{}: a bare file carries no signature to check against --public-key: give the site's bundle folder",
                path.display()
            );
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not valid", path.display()))?;
        return Ok((value, None, harness_data::registry::sha256_hex(&bytes)));
    };
    let bundle = harness_evidence::check_input(&dir, keys, &[file]).map_err(|problem| {
        anyhow::anyhow!(
            "{}: the site bundle does not verify: {problem}",
            dir.display()
        )
    })?;
    let bytes = bundle.read(file).map_err(anyhow::Error::msg)?;
    let value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not valid", dir.join(file).display()))?;
    let sha256 = bundle.manifest().files[file].clone();
    let suite_path = dir.join(harness_pipeline::SUITE_COPY);
    let suite_bytes = bundle
        .read(harness_pipeline::SUITE_COPY)
        .map_err(anyhow::Error::msg)?;
    let suite = std::str::from_utf8(&suite_bytes)
        .map_err(anyhow::Error::msg)
        .and_then(|text| Ok(harness_evidence::Suite::parse(text, &suite_path)?))
        .with_context(|| format!("{}: the site's suite", suite_path.display()))?;
    let site = SiteBundle {
        manifest: bundle.manifest().clone(),
        suite,
    };
    Ok((value, Some(site), sha256))
}

/// What a site bundle holds beside its summary: its manifest and the suite the site ran.
struct SiteBundle {
    manifest: harness_evidence::Manifest,
    suite: harness_evidence::Suite,
}

/// [`read_site_file_pinned`] without the manifest.
fn read_site_file<T: serde::de::DeserializeOwned>(
    path: &Path,
    file: &str,
    keys: &[VerifyingKey],
) -> Result<T> {
    read_site_file_pinned(path, file, keys).map(|(value, _, _)| value)
}

/// The `format` of a site file, read on its own.
#[derive(serde::Deserialize)]
struct Format {
    /// Empty when the file has none: not a site file.
    #[serde(default)]
    format: String,
}

/// The error for a JSON file without a `format` field, which every site file has.
fn not_a_site_file(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: not a site summary (it has no \"format\" field; an `eval` or `pool` results file?): give the summaries `harness eval --aggregates-only --site NAME --json` or `harness run --site NAME --aggregates-only` wrote",
        path.display()
    )
}

/// Every site's summary, parsed in parallel (with exact scores a summary is about as large as
/// the site's data). A file that does not parse but is of another kind than the first site's
/// (`first_format`: binary or multi-label) is refused saying so; so are site bundles that
/// disagree on their models or share their data ([`check_bundle_pins`]).
fn read_sites<T: serde::de::DeserializeOwned + Send>(
    paths: &[PathBuf],
    first_format: &str,
    keys: &[VerifyingKey],
) -> Result<Read<T>> {
    let read: Vec<(T, Option<SiteBundle>, String)> = paths
        .par_iter()
        .map(|p| {
            read_site_file_pinned(p, harness_pipeline::SITE_FILE, keys).map_err(|e| {
                match read_site_file::<Format>(p, harness_pipeline::SITE_FILE, keys) {
                    Ok(f) if f.format.is_empty() => not_a_site_file(p),
                    Ok(f) if f.format != first_format => anyhow::anyhow!(
                        "{}: a '{}' summary, but the first site's ({}) is '{first_format}': pool the sites of one evaluation (all binary, all multi-label or all multi-class) together",
                        p.display(),
                        f.format,
                        paths[0].display()
                    ),
                    _ => e,
                }
            })
        })
        .collect::<Result<_>>()?;
    let mut sites = Vec::with_capacity(read.len());
    let mut bundles: Vec<(&PathBuf, SiteBundle)> = Vec::new();
    let mut sha256 = Vec::with_capacity(read.len());
    let mut synthetic = Vec::with_capacity(read.len());
    for (p, (site, bundle, sha)) in paths.iter().zip(read) {
        sites.push(site);
        synthetic.push(bundle.as_ref().map(|b| b.manifest.dataset.synthetic));
        bundles.extend(bundle.map(|b| (p, b)));
        sha256.push(sha);
    }
    let mut notes = check_bundle_pins(&bundles)?;
    let names: Vec<String> = bundles
        .iter()
        .map(|(p, b)| {
            b.manifest
                .site
                .clone()
                .unwrap_or_else(|| p.display().to_string())
        })
        .collect();
    let runs: Vec<SiteRun> = bundles
        .iter()
        .zip(&names)
        .map(|((_, b), name)| SiteRun {
            name,
            manifest: &b.manifest,
        })
        .collect();
    notes.extend(site_run_warnings(&runs));
    for note in &notes {
        errln!("warning: {note}");
    }
    if !bundles.is_empty() && bundles.len() < paths.len() {
        let bare: Vec<String> = paths
            .iter()
            .filter(|p| !bundles.iter().any(|(b, _)| b == p))
            .map(|p| p.display().to_string())
            .collect();
        errln!(
            "warning: {} {} bare summar{} beside site bundles: nothing verifies {}, and its models, dataset pin and suite are not checked against the bundles'; pool every site's bundle folder",
            bare.join(", "),
            if bare.len() == 1 { "is a" } else { "are" },
            if bare.len() == 1 { "y" } else { "ies" },
            if bare.len() == 1 { "it" } else { "them" }
        );
    }
    // The models are known only where every site sent a bundle that pins them.
    let models = (bundles.len() == paths.len())
        .then(|| bundles.first().map(|(_, b)| b.manifest.candidates.clone()))
        .flatten();
    let suite = bundles.into_iter().next().map(|(_, b)| b.suite);
    Ok(Read {
        sites,
        sha256,
        synthetic,
        suite,
        models,
        notes,
    })
}

/// The sites' summaries as pooled, each with the SHA-256 of the bytes it was parsed from.
struct Read<T> {
    sites: Vec<T>,
    sha256: Vec<String>,
    /// Per site, whether its data are synthetic as its bundle's manifest says (`None`: a bare
    /// summary).
    synthetic: Vec<Option<bool>>,
    /// The candidates the sites evaluated, their model files pinned (the same at every site,
    /// [`check_bundle_pins`]); `None` unless every site sent a bundle.
    models: Option<Vec<harness_evidence::manifest::CandidateRecord>>,
    /// The suite the site bundles ran (the same at every one, [`check_bundle_pins`]); `None`
    /// for bare summaries.
    suite: Option<harness_evidence::Suite>,
    /// What the site bundles' suites differ in that changes no pooled figure
    /// ([`check_bundle_pins`]), and what the sites' runs warned of a candidate
    /// ([`site_run_warnings`]): said on standard error as the sites are read, and among the
    /// pooled results' warnings (their JSON and report).
    notes: Vec<String>,
}

impl<T> Read<T> {
    /// The pooled results' warnings but the notes already said as the sites were read.
    fn unsaid<'w>(&'w self, warnings: &'w [String]) -> impl Iterator<Item = &'w String> {
        warnings.iter().filter(|w| !self.notes.contains(w))
    }

    /// The statistics' settings of the pooled results, and the suite's acceptance criteria.
    /// Bare summaries carry no settings: the command line's. Site bundles carry their suite's:
    /// its `[metrics]` (the command line may not set others, which would not be what the
    /// sites' runs asked for) and its `[acceptance]`, applied beside `--fail-under`/
    /// `--fail-over` as a run and a merge apply it.
    fn settings(&self, args: &PoolArgs) -> Result<(EvalOptions, Vec<TaskCriterion>)> {
        let Some(suite) = &self.suite else {
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
}

/// Site bundles (`harness run --site`, verified as they are read) pooled together must have
/// run the same models under the same names — a candidate's model file the same bytes at
/// every site, preprocessed and read out alike — with the same statistics' settings and
/// acceptance criteria, on different data (the same dataset twice would count its cases
/// twice). Checked from their manifests and suites (each site's suite names its own dataset);
/// a summary given as a bare JSON file names its models only, and the coordinator has to know
/// them to be the same.
fn check_bundle_pins(bundles: &[(&PathBuf, SiteBundle)]) -> Result<Vec<String>> {
    use std::collections::HashMap;
    let mut models: HashMap<String, (String, &PathBuf)> = HashMap::new();
    let mut data: HashMap<String, &PathBuf> = HashMap::new();
    for &(path, ref site) in bundles {
        let m = &site.manifest;
        for c in &m.candidates {
            let (sha, first) = models
                .entry(c.name.clone())
                .or_insert((c.model.sha256.clone(), path));
            if *sha != c.model.sha256 {
                bail!(
                    "{} and {}: candidate '{}' is another model at each site (model sha256 {} and {}): pool sites that evaluated the same models",
                    first.display(),
                    path.display(),
                    c.name,
                    sha,
                    c.model.sha256
                );
            }
        }
        if let Some(first) = data.insert(m.dataset.digest.clone(), path) {
            bail!(
                "{} and {}: both evaluated dataset '{}' ({}): its cases would be counted twice",
                first.display(),
                path.display(),
                m.dataset.name,
                m.dataset.digest
            );
        }
    }
    let Some((first_path, first)) = bundles.first() else {
        return Ok(Vec::new());
    };
    let first = suite_parts(&first.suite);
    for &(path, ref site) in &bundles[1..] {
        for (what, value) in suite_parts(&site.suite) {
            if let Some((_, other)) = first.iter().find(|(w, _)| *w == what)
                && *other != value
            {
                bail!(
                    "{} and {}: their suites differ in {what} ({other} and {value}): pool sites that ran one suite (its dataset aside)",
                    first_path.display(),
                    path.display()
                );
            }
        }
    }
    // What may differ without changing a pooled figure, but says the sites did not run one
    // suite file: said, not refused.
    let noted = |suite: &harness_evidence::Suite| {
        [
            ("name", suite.name.clone()),
            ("version", suite.version.clone()),
            (
                "[inference] primary_backend",
                suite.inference.primary_backend.to_string(),
            ),
            ("[inference] device", suite.inference.device.to_string()),
        ]
    };
    let parts: Vec<_> = bundles.iter().map(|(_, site)| noted(&site.suite)).collect();
    let mut differ: Vec<String> = Vec::new();
    for (k, (what, _)) in parts[0].iter().enumerate() {
        let values: std::collections::BTreeSet<&String> = parts.iter().map(|p| &p[k].1).collect();
        if values.len() > 1 {
            let listed: Vec<String> = values.into_iter().map(|v| format!("'{v}'")).collect();
            differ.push(format!("{what} ({})", listed.join(", ")));
        }
    }
    if differ.is_empty() {
        return Ok(Vec::new());
    }
    let engines = if differ.iter().any(|d| d.starts_with("[inference]")) {
        " (the scores of different engines or devices agree only within the suites' agreement_tolerance)"
    } else {
        ""
    };
    Ok(vec![format!(
        "the site bundles' suites differ in {}: their models, settings and criteria are the same, so the pooled figures are those of one suite, but the sites did not all run the same suite file{engines}",
        differ.join("; ")
    )])
}

/// What every site's suite must say alike, each part named and as JSON: its `[metrics]`, its
/// `[acceptance]`, and each candidate's preprocessing and output.
fn suite_parts(suite: &harness_evidence::Suite) -> Vec<(String, serde_json::Value)> {
    fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
        serde_json::to_value(value).unwrap_or_default()
    }
    let mut parts = vec![
        ("[metrics]".to_string(), json(&suite.metrics)),
        ("[acceptance]".to_string(), json(&suite.acceptance)),
    ];
    for c in &suite.candidates {
        parts.push((
            format!("candidate '{}' (its preprocess and output)", c.name),
            serde_json::json!([json(&c.preprocess), json(&c.output)]),
        ));
    }
    parts
}

/// Subgroup levels that look alike across the sites (`F` at one, `f` at another; a blank and
/// `NA`) are pooled apart: said on standard error, as `eval` says it of one file. `sites` gives
/// each site's grouping columns and their levels (`None` where a site has none).
fn warn_look_alike_across<'s, T: 's>(
    sites: impl Iterator<Item = Option<&'s indexmap::IndexMap<String, indexmap::IndexMap<String, T>>>>,
) {
    let mut by_grouping: indexmap::IndexMap<&str, std::collections::BTreeSet<&str>> =
        indexmap::IndexMap::new();
    for groups in sites.flatten() {
        for (grouping, levels) in groups {
            by_grouping
                .entry(grouping.as_str())
                .or_default()
                .extend(levels.keys().map(String::as_str));
        }
    }
    for (grouping, levels) in by_grouping {
        if let Some(w) = harness_data::look_alike_levels(grouping, levels) {
            errln!("warning: over the sites' summaries, {w}");
        }
    }
}

/// The suite's acceptance criteria, but for a patient-clustered one: pooled tables can never
/// give it (the patient column stays at the sites), and the sites' runs accepted the suite, so
/// it is left out, said on standard error, rather than leave the sites' evidence unusable.
/// Any other criterion the pooled results cannot give is refused, as on the command line.
/// `unavailable(c, clustered)` gives a criterion's key and why it cannot be given, with or
/// without a patient column.
fn applicable<C>(
    suite: Vec<C>,
    unavailable: impl Fn(&C, bool) -> Option<(String, String)>,
) -> Result<Vec<C>> {
    let mut kept = Vec::with_capacity(suite.len());
    for c in suite {
        match unavailable(&c, false) {
            None => kept.push(c),
            Some((key, why)) if unavailable(&c, true).is_none() => errln!(
                "warning: the suite's [acceptance] criterion {key} is not applied: {why} (pooled site summaries hold no patient column)"
            ),
            Some((key, why)) => bail!(
                "the suite's [acceptance] criterion {key}: {why}; the pooled results cannot give it"
            ),
        }
    }
    Ok(kept)
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
    let first: Format = read_site_file(&args.sites[0], harness_pipeline::SITE_FILE, &keys)?;
    if first.format.is_empty() {
        return Err(not_a_site_file(&args.sites[0]));
    }
    if first.format == FINDINGS_SITE_FORMAT {
        return run_findings(&args, &keys);
    }
    if first.format == CLASSES_SITE_FORMAT {
        return run_classes(&args, &keys);
    }
    let read: Read<SiteSummary> = read_sites(&args.sites, &first.format, &keys)?;
    let sites = &read.sites;
    let (opts, suite_criteria) = read.settings(&args)?;
    let mut criteria = args.gate.binary()?;
    let groupings: Vec<String> = sites[0]
        .models
        .values()
        .next()
        .map(|t| t.groups.keys().cloned().collect())
        .unwrap_or_default();
    warn_look_alike_across(
        sites
            .iter()
            .map(|s| Some(&s.models.values().next()?.groups)),
    );
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
    criteria.extend(applicable(
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
    for w in read.unsaid(&report.warnings) {
        errln!("warning: {w}");
    }
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

/// One federated protocol at the coordinator: binary site summaries, or multi-label ones
/// (the binary protocol finding by finding).
trait Rounds {
    type Site;
    type Request: serde::Serialize + serde::de::DeserializeOwned;
    type Sums: serde::de::DeserializeOwned + Send;
    type Report;
    /// The round-2 request for the sites.
    fn request(sites: &[Self::Site]) -> Result<Self::Request>;
    /// What a request holds, for the message that it was written.
    fn describe(request: &Self::Request) -> String;
    /// A site's name and a line on what it sent in round 1.
    fn site(site: &Self::Site) -> (&str, String);
    /// What each site sent in round 2.
    const PAIRED_SUMS: &'static str;
    /// A round-2 answer's site and what it reveals, in its own words.
    fn answer(sums: &Self::Sums) -> (&str, String);
    /// Round 1's results.
    fn pool(sites: &[Self::Site], opts: &EvalOptions) -> Result<Self::Report>;
    /// Round 2's results, from the request's JSON text.
    fn pool_paired(
        sites: &[Self::Site],
        request: &[u8],
        sums: &[Self::Sums],
        opts: &EvalOptions,
    ) -> Result<Self::Report>;
}

struct Binary;

impl Rounds for Binary {
    type Site = SiteSummary;
    type Request = PairedRequest;
    type Sums = PairedSiteSums;
    type Report = harness_metrics::EvalReport;
    fn request(sites: &[SiteSummary]) -> Result<PairedRequest> {
        Ok(paired_request(sites)?)
    }
    fn describe(request: &PairedRequest) -> String {
        format!(
            "{} pair(s) of models; what it reveals: {}",
            request.pairs.len(),
            request.disclosure
        )
    }
    fn site(s: &SiteSummary) -> (&str, String) {
        let line = format!(
            "{} cases ({} positive), {} model(s), {}: {}",
            s.n,
            s.positives,
            s.models.len(),
            grid(s.score_decimals),
            s.disclosure
        );
        (&s.site, line)
    }
    const PAIRED_SUMS: &'static str = "six sums and two counts per pair of models";
    fn answer(sums: &PairedSiteSums) -> (&str, String) {
        (&sums.site, sums.disclosure.clone())
    }
    fn pool(sites: &[SiteSummary], opts: &EvalOptions) -> Result<Self::Report> {
        Ok(pool(sites, opts)?)
    }
    fn pool_paired(
        sites: &[SiteSummary],
        request: &[u8],
        sums: &[PairedSiteSums],
        opts: &EvalOptions,
    ) -> Result<Self::Report> {
        // Taken without parsing when it is the request these summaries make (see the function).
        Ok(pool_paired_json(sites, request, sums, opts)?)
    }
}

struct Findings;

impl Rounds for Findings {
    type Site = FindingsSiteSummary;
    type Request = FindingsPairedRequest;
    type Sums = FindingsPairedSums;
    type Report = harness_metrics::multilabel::MultilabelReport;
    fn request(sites: &[FindingsSiteSummary]) -> Result<FindingsPairedRequest> {
        Ok(findings_paired_request(sites)?)
    }
    fn describe(request: &FindingsPairedRequest) -> String {
        format!(
            "{} finding(s), each as a binary request of its own",
            request.findings.len()
        )
    }
    fn site(s: &FindingsSiteSummary) -> (&str, String) {
        let line = format!(
            "{} cases, {} finding(s), {}: {}",
            s.n,
            s.findings.len(),
            grid(s.score_decimals),
            s.disclosure
        );
        (&s.site, line)
    }
    const PAIRED_SUMS: &'static str = "six sums and two counts per pair of models and finding";
    fn answer(sums: &FindingsPairedSums) -> (&str, String) {
        let first = sums.findings.values().next();
        let said = first.map_or_else(String::new, |f| f.disclosure.clone());
        (
            &sums.site,
            format!("for each of {} finding(s): {said}", sums.findings.len()),
        )
    }
    fn pool(sites: &[FindingsSiteSummary], opts: &EvalOptions) -> Result<Self::Report> {
        Ok(pool_findings(sites, opts)?)
    }
    fn pool_paired(
        sites: &[FindingsSiteSummary],
        request: &[u8],
        sums: &[FindingsPairedSums],
        opts: &EvalOptions,
    ) -> Result<Self::Report> {
        let request: FindingsPairedRequest =
            serde_json::from_slice(request).context("not a multi-label paired request")?;
        let sha256 = harness_metrics::request_digest(&request);
        Ok(pool_findings_paired(sites, &request, &sha256, sums, opts)?)
    }
}

/// A summary's score grid in words.
fn grid(decimals: Option<u32>) -> String {
    match decimals {
        Some(d) => format!("scores rounded to {d} decimals"),
        None => "exact scores".to_string(),
    }
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

/// The coordinator's rounds: `--request-out` writes the round-2 request; then round 1's
/// results, or round 2's with `--request` and `--sums`, with each site's answer (its name,
/// what it reveals and the SHA-256 of the bytes pooled). `None` when only the request was
/// asked for.
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
    let report = match &args.request {
        Some(request) => {
            let text = std::fs::read(request)
                .with_context(|| format!("{}: cannot read", request.display()))?;
            let read: Vec<(R::Sums, Option<SiteBundle>, String)> = args
                .sums
                .par_iter()
                .map(|p| read_site_file_pinned(p, harness_pipeline::SUMS_FILE, keys))
                .collect::<Result<_>>()?;
            let answers: Answers = read
                .iter()
                .map(|(sums, _, sha256)| {
                    let (site, disclosure) = R::answer(sums);
                    let answer = harness_report::SiteAnswer {
                        sha256: sha256.clone(),
                        disclosure,
                    };
                    (site.to_string(), answer)
                })
                .collect();
            let sums: Vec<R::Sums> = read.into_iter().map(|(sums, _, _)| sums).collect();
            let report = R::pool_paired(sites, &text, &sums, opts)
                .with_context(|| format!("round 2 with the request {}", request.display()))?;
            (report, answers)
        }
        None => (R::pool(sites, opts)?, Answers::new()),
    };
    Ok(Some(report))
}

/// The sites' round-2 answers pooled, by site name.
type Answers = Vec<(String, harness_report::SiteAnswer)>;

/// This program, as the pooled report names it: as a run's report does ([`crate::run::tool`]; a build outside git says `unknown`).
fn tool_info() -> harness_report::ToolInfo {
    let tool = crate::run::tool();
    harness_report::ToolInfo {
        version: tool.version,
        git_commit: tool.git_commit.unwrap_or_else(|| "unknown".into()),
    }
}

/// Each summary with the SHA-256 of the bytes it was parsed from (`site.json` of a site
/// bundle: the manifest's pin), its round-2 answer among `answers`, and whether its bundle
/// says its data are synthetic.
fn pooled_sites<'r, S: DescribedSite>(
    read: &'r Read<S>,
    answers: &Answers,
) -> Vec<PooledSite<'r, S>> {
    read.sites
        .iter()
        .zip(&read.sha256)
        .zip(&read.synthetic)
        .map(|((summary, sha), synthetic)| PooledSite {
            summary,
            file_sha256: sha.clone(),
            paired: answers
                .iter()
                .find(|(site, _)| site == summary.name())
                .map(|(_, a)| a.clone()),
            synthetic: *synthetic,
        })
        .collect()
}

/// The report input's candidates with the model files the site bundles pinned (the same
/// bytes at every site), where every site sent a bundle (a bare summary names its models only,
/// so where one site sent one, what that site scored with is not known).
fn with_model_pins<S>(
    mut input: harness_report::ReportInput,
    read: &Read<S>,
) -> harness_report::ReportInput {
    let Some(models) = &read.models else {
        return input;
    };
    for c in &mut input.candidates {
        if let Some(r) = models.iter().find(|r| r.name == c.name) {
            c.model_file = format!("{} (scored at each site)", r.model.path);
            c.model_sha256 = r.model.sha256.clone();
        }
    }
    input
}

/// The pooled report in `dir`.
fn write_report(
    read: &Read<SiteSummary>,
    report: &harness_metrics::EvalReport,
    answers: &Answers,
    gate: &[GateResult],
    dir: &Path,
) -> Result<()> {
    let sites = &read.sites;
    let pooled_sites = pooled_sites(read, answers);
    let tables = pooled_tables(sites)?;
    let input = pooled_report_input(
        &pooled_sites,
        report,
        &tables,
        tool_info(),
        harness_evidence::now_rfc3339(),
    );
    write_pooled_report(&gated(with_model_pins(input, read), gate), dir)?;
    outln!("report: {}", dir.join("report.html").display());
    Ok(())
}

/// `harness pool` on multi-label site summaries: the same rounds, finding by finding, and the
/// results in `harness eval --task multilabel`'s layout.
fn run_findings(args: &PoolArgs, keys: &[VerifyingKey]) -> Result<ExitCode> {
    let read: Read<FindingsSiteSummary> = read_sites(&args.sites, FINDINGS_SITE_FORMAT, keys)?;
    let sites = &read.sites;
    let names: Vec<String> = sites[0].findings_order.clone();
    let (opts, suite_criteria) = read.settings(args)?;
    let mut criteria = args.gate.task(|k| multilabel::gate_key(&names, k))?;
    warn_look_alike_across(sites.iter().map(|s| {
        let finding = s.findings.values().next()?;
        Some(&finding.models.values().next()?.groups)
    }));
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
    criteria.extend(applicable(suite_criteria, |c, clustered| {
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
        let pooled_sites = pooled_sites(&read, &answers);
        let input = pooled_findings_report_input(
            &pooled_sites,
            &report,
            tool_info(),
            harness_evidence::now_rfc3339(),
        )?;
        write_pooled_report(&gated(with_model_pins(input, &read), &gate), dir)?;
        outln!("report: {}", dir.join("report.html").display());
    }
    for w in read.unsaid(&report.warnings) {
        errln!("warning: {w}");
    }
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
    let read: Read<ClassesSiteSummary> = read_sites(&args.sites, CLASSES_SITE_FORMAT, keys)?;
    let sites = &read.sites;
    let classes = sites[0].classes.clone();
    // The suite's bootstrap and binary settings do not apply here: only its gate.
    let (_, suite_criteria) = read.settings(args)?;
    let key = |k: &str| harness_metrics::multiclass::gate_key(&classes, k);
    let mut criteria = args.gate.task(key)?;
    criteria.extend(suite_task(suite_criteria, key)?);
    warn_look_alike_across(
        sites
            .iter()
            .map(|s| Some(&s.models.values().next()?.groups)),
    );
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
        let pooled_sites = pooled_sites(&read, &Answers::new());
        let input = pooled_classes_report_input(
            &pooled_sites,
            &report,
            &pooled_class_tables(sites)?,
            tool_info(),
            harness_evidence::now_rfc3339(),
        );
        write_pooled_report(&gated(with_model_pins(input, &read), &gate), dir)?;
        outln!("report: {}", dir.join("report.html").display());
    }
    for w in read.unsaid(&report.warnings) {
        errln!("warning: {w}");
    }
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

#[cfg(test)]
mod tests {
    use super::applicable;

    /// A suite criterion that only a patient column would make available is left out; one the
    /// pooled results can never give for another reason is refused; the rest are kept.
    #[test]
    fn only_patient_clustered_suite_criteria_are_left_out() {
        let unavailable = |c: &&str, clustered: bool| match *c {
            "clustered" if !clustered => Some((c.to_string(), "needs the patient column".into())),
            "gap.age" => Some((c.to_string(), "'age' is not a grouping column".into())),
            _ => None,
        };
        let kept = applicable(vec!["auroc", "clustered"], unavailable).unwrap();
        assert_eq!(kept, ["auroc"]);
        let err = applicable(vec!["auroc", "gap.age"], unavailable)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("criterion gap.age: 'age' is not a grouping column"),
            "{err}"
        );
    }
}
