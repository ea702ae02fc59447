//! `harness`: the command line of the medical-imaging model evaluation harness.
//!
//! A layer that parses arguments, prints, shows progress and chooses exit codes, wiring the
//! library crates together (datasets → backends → measurement → metrics → evidence → report;
//! the run, merge and site rounds are `harness_pipeline`). Some orchestration still lives here
//! and belongs in the libraries: `compare`/`leaderboard`'s merging and ranking, and the
//! coordinator's reading of site files in `pool`.

use harness_alloc as alloc;

#[global_allocator]
static GLOBAL: alloc::HugeLarge = alloc::HugeLarge;

/// `print!`/`println!`/`eprintln!` for this binary: a closed pipe (`harness verify DIR | head`,
/// `| grep -q`) is not a panic (exit 101, the gate's exit status lost) but ends the output
/// quietly; the command goes on and exits with its own status.
macro_rules! out {
    ($($t:tt)*) => { $crate::write_out(format_args!($($t)*)) };
}
macro_rules! outln {
    () => { $crate::write_out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::write_out(format_args!("{}\n", format_args!($($t)*))) };
}
macro_rules! errln {
    ($($t:tt)*) => { $crate::write_err(format_args!("{}\n", format_args!($($t)*))) };
}

/// Set when standard output failed otherwise than by a closed pipe (a full disk behind `>`):
/// the command then exits 2 whatever it decided, since what it printed is incomplete.
static STDOUT_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Standard output, a closed pipe ignored; another failure is said once on standard error,
/// later output is dropped and the exit status becomes 2 ([`STDOUT_FAILED`]).
fn write_out(args: std::fmt::Arguments) {
    use std::io::Write as _;
    use std::sync::atomic::Ordering;
    if STDOUT_FAILED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        stdout_failed(&e);
    }
}

/// Records a failure of standard output (see [`STDOUT_FAILED`]); a closed pipe is not one.
fn stdout_failed(e: &std::io::Error) {
    use std::sync::atomic::Ordering;
    if e.kind() != std::io::ErrorKind::BrokenPipe && !STDOUT_FAILED.swap(true, Ordering::Relaxed) {
        write_err(format_args!(
            "error: writing to standard output failed: {e}\n"
        ));
    }
}

/// Standard error, any failure ignored (there is nowhere left to report it).
fn write_err(args: std::fmt::Arguments) {
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_fmt(args);
}

mod bench;
mod bench_table;
mod compare;
mod datasets;
mod eval;
mod inspect;
mod keygen;
mod options;
mod pool;
mod progress;
mod run;
mod summary;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code for invalid input: unreadable or malformed files, bad options.
pub const EXIT_INPUT: u8 = 2;

/// `--data-root`, else `$HARNESS_DATA_ROOT` (one rule for `run`, `datasets` and `verify`, so a
/// bundle is checked against the data its run read).
fn data_root(flag: Option<&std::path::Path>) -> Option<std::path::PathBuf> {
    flag.map(std::path::Path::to_path_buf)
        .or_else(|| std::env::var_os("HARNESS_DATA_ROOT").map(std::path::PathBuf::from))
}

/// Parses an engine name for clap (`tract`, `ort`, `candle`), listing the choices on error.
fn parse_backend(s: &str) -> Result<harness_backends::BackendKind, String> {
    s.parse()
        .map_err(|e: harness_backends::BackendError| e.to_string())
}

/// Parses a LoadGen scenario name for clap (`single-stream`, `offline`, `server`).
fn parse_scenario(s: &str) -> Result<harness_measure::Scenario, String> {
    s.parse()
}

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "Benchmark and validate medical-imaging AI models: discrimination, calibration, fairness, speed.",
    long_about = "Benchmark and validate medical-imaging AI models.\n\n\
        `harness run SUITE` is the main job: it runs the candidate models of a declarative suite \
        (suites/*.toml) on the reference dataset through several inference engines, computes every \
        statistic, measures speed, and writes a tamper-evident evidence bundle with a report; \
        `harness verify DIR` checks such a bundle. A run can be split over a scheduler's tasks \
        (`harness run SUITE --shard I/N|auto`, Slurm job arrays or Kubernetes Indexed Jobs) and put \
        back together with `harness merge`; hospitals that may not share cases each send count \
        tables (`harness eval --aggregates-only`, `harness run --site NAME --aggregates-only`) that \
        `harness pool` turns into the exact all-cases results. `harness bench` measures one model's speed; \
        `harness datasets` lists the registered reference datasets; `harness inspect FILE` shows what \
        the harness decodes from an image file.\n\n\
        `harness eval` computes, from a CSV of labels and model scores, the statistics a procurement \
        committee or a CI gate needs: AUROC with DeLong and bootstrap confidence intervals, paired \
        DeLong tests between models, sensitivity at target specificities, calibration (Brier, log \
        loss, ECE, calibration slope and intercept) and subgroup fairness. Definitions match R pROC, \
        rms, scikit-learn and fairlearn; see `harness eval --help`.\n\n\
        Exit status: 0 success; 1 an acceptance criterion or a verification failed; 2 invalid input \
        or options (the message names the file, line, column and value); 3 a model or backend \
        failed (results for the others were kept)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Eval(eval::EvalArgs),
    Run(run::RunArgs),
    Merge(run::MergeArgs),
    Pool(pool::PoolArgs),
    Verify(verify::VerifyArgs),
    Bench(bench::BenchArgs),
    Datasets(datasets::DatasetsArgs),
    Inspect(inspect::InspectArgs),
    Keygen(keygen::KeygenArgs),
    Compare(compare::CompareArgs),
    Leaderboard(compare::LeaderboardArgs),
}

impl Command {
    /// How this command's memory is allocated: images and tensors streamed batch after batch,
    /// or a few large arrays (see `harness_alloc`).
    fn allocation(&self) -> alloc::Policy {
        match self {
            // A merge reads a hundred shards' files and writes a bundle: buffers of every size
            // come and go, as in a run (1.1-1.3 s against 1.4-1.8 s with the array policy, 100
            // shards of 10,000 cases).
            Command::Run(_) | Command::Bench(_) | Command::Inspect(_) | Command::Merge(_) => {
                alloc::Policy::Streaming
            }
            Command::Eval(_)
            | Command::Pool(_)
            | Command::Verify(_)
            | Command::Datasets(_)
            | Command::Keygen(_)
            | Command::Compare(_)
            | Command::Leaderboard(_) => alloc::Policy::Arrays,
        }
    }
}

fn main() -> ExitCode {
    // Parsing the arguments makes no block of 2 MiB (it would take ~100,000 arguments), so the
    // policy is latched before the first large block; were it not, the default policy would
    // stay (safe: only its speed differs).
    let cli = Cli::parse();
    let latched = alloc::configure(cli.command.allocation());
    debug_assert!(
        latched,
        "a large block was made while parsing the arguments"
    );
    let result = match cli.command {
        Command::Eval(args) => eval::run(args),
        Command::Run(args) => run::run(args),
        Command::Merge(args) => run::merge(args),
        Command::Pool(args) => pool::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Datasets(args) => datasets::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Compare(args) => compare::compare(args),
        Command::Leaderboard(args) => compare::leaderboard(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            errln!("error: {}", error_text(&err));
            ExitCode::from(EXIT_INPUT)
        }
    };
    // What is still buffered is written now, so that its failure is seen too.
    if let Err(e) = std::io::Write::flush(&mut std::io::stdout()) {
        stdout_failed(&e);
    }
    if STDOUT_FAILED.load(std::sync::atomic::Ordering::Relaxed) {
        return ExitCode::from(EXIT_INPUT);
    }
    code
}

/// An error and its causes on one line, `a: b: c`, leaving out a cause whose text the message
/// before it already ends with (an I/O error both quoted and chained was printed twice).
fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
