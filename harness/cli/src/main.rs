//! `harness`: the command line of the medical-imaging model evaluation harness.
//!
//! A thin layer that parses arguments and wires the library crates together (datasets →
//! backends → measurement → metrics → evidence → report); it computes nothing itself.

mod eval;
mod report_input;
mod run;
mod summary;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code for invalid input: unreadable or malformed files, bad options.
pub const EXIT_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "Benchmark and validate medical-imaging AI models: discrimination, calibration, fairness, speed.",
    long_about = "Benchmark and validate medical-imaging AI models.\n\n\
        `harness eval` computes, from a CSV of labels and model scores, the statistics a procurement \
        committee or a CI gate needs: AUROC with DeLong and bootstrap confidence intervals, paired \
        DeLong tests between models, sensitivity at target specificities, calibration (Brier, log \
        loss, ECE, calibration slope and intercept) and subgroup fairness. Definitions match R pROC, \
        rms, scikit-learn and fairlearn; see `harness eval --help`.\n\n\
        Exit status: 0 success; 2 invalid input or options (the message names the file, line, \
        column and value)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Eval(eval::EvalArgs),
    Run(run::RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => eval::run(args),
        Command::Run(args) => run::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_INPUT)
        }
    }
}
