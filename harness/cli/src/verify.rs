//! `harness verify DIR`: re-hash a bundle and recompute its metrics.

use anyhow::{Result, bail};
use clap::Args;
use harness_evidence::verify::{VerifyOptions, verify};
use harness_pipeline::recheck::{CasesCheck, check_cases_read};
use harness_types::Status;
use std::path::PathBuf;
use std::process::ExitCode;
use tabled::builder::Builder;
use tabled::settings::Style;

/// The finding that compares predictions.csv with the dataset.
const CASES: &str = "cases vs dataset";

#[derive(Args, Debug)]
#[command(
    about = "Check an evidence bundle: every hash, the metrics recomputed from predictions.csv, the signature",
    long_about = "Check an evidence bundle written by `harness run`.\n\n\
        Fails (exit 1) when the bundle is incomplete (an interrupted run), when any file differs from \
        the sha256 in manifest.json, when a file is missing from or added to the manifest, when \
        metrics.json is not byte-identical to the metrics recomputed from predictions.csv (a bundle \
        of an earlier build whose only difference is warnings this build adds passes, listing \
        them; a figure or a stored warning that differs fails), when the acceptance verdicts the \
        manifest records are not those its criteria give on the recomputed metrics, or its suite \
        criteria not the [acceptance] of the bundle's suite.toml, when a \
        suite, model or dataset file present under the project root no longer has its recorded hash, \
        when the case ids, labels, subgroup or patient values in predictions.csv are not the ones \
        the pinned dataset under the project root gives (read again with the run's own reader, row \
        for row; a shard's rows are its share), or when --public-key is given and the ed25519 \
        signature does not match.\n\n\
        Checks that cannot be made here (the dataset not placed under the project root, no key; \
        no metrics where every candidate failed) are listed as skipped, not failed.",
    after_help = "Examples:\n  harness verify results/example/20261122T231500Z\n  \
        harness verify BUNDLE --project-root . --public-key consortium.pub"
)]
pub struct VerifyArgs {
    /// The bundle folder.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Project root that the manifest's suite/model/dataset paths are relative to
    /// (default: the current folder). Inputs not present there are reported as not checked.
    #[arg(long, value_name = "DIR")]
    project_root: Option<PathBuf>,
    /// Where the registry's datasets are, as given to `harness run --data-root` (default:
    /// $HARNESS_DATA_ROOT, else the paths in datasets.toml, relative to it).
    #[arg(long, value_name = "DIR")]
    data_root: Option<PathBuf>,
    /// ed25519 public key (hex) to check manifest.sig against; repeatable: the signature must
    /// be by one of them. A merged bundle's shards' own signatures are checked against them
    /// too (a shard signed by another key is reported, not failed).
    #[arg(long = "public-key", value_name = "FILE")]
    public_keys: Vec<PathBuf>,
    /// Print the findings as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    // A path that is no bundle at all is a mistake in the command (exit 2), not a bundle that
    // failed its checks (exit 1).
    if !args.dir.is_dir() {
        let what = if args.dir.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        bail!(
            "{} {what}: give the folder of a bundle (holding manifest.json)",
            args.dir.display()
        );
    }
    let public_keys = args
        .public_keys
        .iter()
        .map(|p| Ok(harness_evidence::signing::read_verifying_key(p)?))
        .collect::<Result<Vec<_>>>()?;
    let root = args
        .project_root
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    // The cases are compared first: that reads and hashes the dataset once, for both checks.
    let data_root = crate::data_root(args.data_root.as_deref());
    // Its bundle files are read once: `verify` checks the bytes the cases were compared on.
    let (cases, read) = check_cases_read(&args.dir, &root, data_root.as_deref());
    let opts = VerifyOptions {
        project_root: Some(root),
        public_keys,
        dataset_checked: match &cases {
            CasesCheck::Matches { .. } => {
                Some("every file hashed; the digest matches (with the cases' check)".into())
            }
            _ => None,
        },
        read,
        ..VerifyOptions::default()
    };
    let mut v = verify(&args.dir, &opts);
    match cases {
        CasesCheck::Matches { detail, .. } => v.ok(CASES, detail),
        CasesCheck::Differs(why) => v.fail(CASES, why),
        CasesCheck::NotChecked(why) => v.skip(CASES, why),
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let mut b = Builder::default();
        b.push_record(["check", "status", "detail"]);
        for f in &v.findings {
            b.push_record([f.item.clone(), f.verdict().to_string(), f.detail.clone()]);
        }
        outln!("{}", b.build().with(Style::rounded()));
    }
    if v.passed() {
        let line = format!("verified: {} is complete and unchanged", args.dir.display());
        // With --json, stdout is the JSON alone (for `jq` and other programs).
        if args.json {
            errln!("{line}");
        } else {
            outln!("{line}");
        }
        Ok(ExitCode::SUCCESS)
    } else {
        let n = v
            .findings
            .iter()
            .filter(|f| f.status == Status::Failed)
            .count();
        errln!(
            "error: {}: {n} check(s) FAILED; this bundle must not be trusted",
            args.dir.display()
        );
        Ok(ExitCode::from(1))
    }
}
