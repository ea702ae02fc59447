//! `harness compare` and `harness leaderboard`: evidence across runs, from
//! [`harness_pipeline::across`] (which bundles are used, what is compared and ranked, the
//! leaderboard's files); here the arguments, the printing and the exit status.

use anyhow::{Context, Result, bail};
use clap::Args;
use harness_evidence::write_atomic;
use harness_pipeline::across::{
    self, Board, Checks, ComparedResults, board_header, leaderboard_html, leaderboard_markdown,
};
use harness_report::format::escape_markdown;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tabled::builder::Builder;
use tabled::settings::Style;

/// How the bundles are checked before they are used: `harness verify`'s checks, and, with a
/// project root, its comparison of each bundle's cases with the pinned dataset there.
#[derive(Args, Debug)]
pub struct BundleChecks {
    /// An ed25519 public key (hex) a bundle must be signed with to be used (repeatable: any
    /// one of them, as each entrant may sign with its own). Without it the bundles' hashes and
    /// metrics are checked but not their signatures.
    #[arg(long = "public-key", value_name = "FILE")]
    public_keys: Vec<PathBuf>,
    /// Also compare each bundle's case ids, labels, subgroup and patient values with the
    /// pinned dataset under this project root (its datasets.toml), as `harness verify
    /// --project-root` does: a bundle that differs, or whose dataset is not there, is not
    /// used. (Suite and model files are checked against the bundles' own copies and pins, not
    /// against files of the same name under the root, which entrants need not share.) The
    /// dataset is read and hashed once per command, however many bundles were run on it.
    /// Without it, runs of one dataset are only checked against each other.
    #[arg(long, value_name = "DIR")]
    project_root: Option<PathBuf>,
    /// Where the registry's datasets are, as given to `harness run --data-root` (with
    /// --project-root; default: $HARNESS_DATA_ROOT, else the paths in datasets.toml).
    #[arg(long, value_name = "DIR", requires = "project_root")]
    data_root: Option<PathBuf>,
}

impl BundleChecks {
    fn ready(&self) -> Result<Checks> {
        Ok(Checks::new(
            read_keys(&self.public_keys)?,
            self.project_root.clone(),
            crate::data_root(self.data_root.as_deref()),
        ))
    }
}

/// The `--public-key` files, read.
fn read_keys(paths: &[PathBuf]) -> Result<Vec<ed25519_dalek::VerifyingKey>> {
    paths
        .iter()
        .map(|p| Ok(harness_evidence::signing::read_verifying_key(p)?))
        .collect()
}

#[derive(Args, Debug)]
#[command(
    about = "Compare candidates across verified runs on the same dataset, with paired DeLong tests",
    after_help = "The runs must be on the same dataset (same digest and case ids). Their predictions are \
        merged case by case and evaluated together with the first run's settings, so every pair of \
        candidates gets a paired test. Columns are named RUN/CANDIDATE.\n\nExample:\n  \
        harness compare results/example/20261122T100000Z results/example/20261123T100000Z --markdown cmp.md"
)]
pub struct CompareArgs {
    /// Two or more bundle folders.
    #[arg(value_name = "RUN_DIR", num_args = 2.., required = true)]
    runs: Vec<PathBuf>,
    /// Also write the comparison as Markdown.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    #[command(flatten)]
    checks: BundleChecks,
}

pub fn compare(args: CompareArgs) -> Result<ExitCode> {
    let checks = args.checks.ready()?;
    let compared = across::compare_runs(&args.runs, &checks)?;
    let path = Path::new(across::MERGED);
    let text = match &compared.results {
        ComparedResults::Binary(report) => crate::summary::render(report, path),
        ComparedResults::Multilabel(report) => {
            crate::summary::findings(report, path) + &crate::summary::finding_comparisons(report)
        }
        ComparedResults::Multiclass(report) => crate::summary::classes(report, path),
    };
    let warnings = compared.results.warnings();
    for w in warnings {
        errln!("warning: {w}");
    }
    out!("{text}");
    if let Some(p) = &args.markdown {
        let first = compared.runs[0].manifest();
        let warnings: String = warnings
            .iter()
            .map(|w| format!("- {}\n", escape_markdown(w)))
            .collect();
        let md = format!(
            "# Comparison of {} runs\n\nDataset: {} ({})\n\n```\n{text}```\n{}",
            compared.runs.len(),
            first.dataset.name,
            first.dataset.digest,
            if warnings.is_empty() {
                String::new()
            } else {
                format!("\n## Warnings\n\n{warnings}")
            }
        );
        write_atomic(p, md.as_bytes()).with_context(|| format!("{}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
#[command(
    about = "Rank every candidate of every verified run under a results folder by the suite's primary metric",
    after_help = "Bundles that fail `harness verify` are listed and left out. Each suite gets its own ranking \
        by the primary metric its manifest records (`[metrics] primary`; AUROC for bundles written before \
        it was recorded), per dataset (runs of one suite on different data are not ranked together), best first in that metric's direction (equal values share a rank), with its 95% CI where the \
        evaluation has one (AUROC: DeLong, patient-clustered where the cases are). A rank whose CI overlaps the next one's — or, for AUROC within one run, \
        whose paired DeLong test against it has p >= 0.05 — is flagged as not separable; metrics without \
        a CI say that separability is unknown.\n\nMulti-label and multi-class suites are ranked by \
        macro AUROC (a candidate that scores fewer findings says over how many). Within one run, two \
        multi-class candidates are separable when the paired bootstrap of their macro AUROCs gives \
        p < 0.05 (the suite's [metrics] bootstrap), two multi-label candidates when the paired \
        DeLong test of at least one finding both score does after Holm's adjustment over those \
        findings (the findings are named).\n\nExample:\n  \
        harness leaderboard results --out results/leaderboard"
)]
pub struct LeaderboardArgs {
    /// Folder searched (recursively) for bundles.
    #[arg(value_name = "RESULTS_DIR")]
    results: PathBuf,
    /// Folder for leaderboard.md and leaderboard.html (default: RESULTS_DIR).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    checks: BundleChecks,
}

pub fn leaderboard(args: LeaderboardArgs) -> Result<ExitCode> {
    let dirs = across::find_bundles(&args.results);
    let checks = args.checks.ready()?;
    let mut runs = Vec::new();
    for d in &dirs {
        match across::load_verified(d, &checks) {
            Ok(r) => runs.push(r),
            Err(e) => errln!("skipped: {e}"),
        }
    }
    across::label_runs(&mut runs);
    if runs.is_empty() {
        bail!(
            "{}: no verified evidence bundles found",
            args.results.display()
        );
    }
    let boards: Vec<Board> = across::boards(&runs);
    for board in &boards {
        let mut b = Builder::default();
        b.push_record(board_header(board));
        for row in &board.rows {
            b.push_record(row);
        }
        outln!("{}\n{}", board.heading, b.build().with(Style::rounded()));
    }
    let out = args.out.clone().unwrap_or_else(|| args.results.clone());
    std::fs::create_dir_all(&out)?;
    write_atomic(
        &out.join("leaderboard.md"),
        leaderboard_markdown(&boards).as_bytes(),
    )?;
    write_atomic(
        &out.join("leaderboard.html"),
        leaderboard_html(&boards).as_bytes(),
    )?;
    outln!(
        "written: {} and {}",
        out.join("leaderboard.md").display(),
        out.join("leaderboard.html").display()
    );
    Ok(ExitCode::SUCCESS)
}
