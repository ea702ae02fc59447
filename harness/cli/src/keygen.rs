//! `harness keygen`: an ed25519 key pair for signing bundles.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(
    about = "Create an ed25519 key pair for signing evidence bundles (harness run --sign-key)",
    after_help = "Writes PREFIX.key (secret: keep it private) and PREFIX.pub (publish it; \
        `harness verify --public-key PREFIX.pub` checks bundles with it). Both are hex text."
)]
pub struct KeygenArgs {
    /// File name prefix.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

pub fn run(args: KeygenArgs) -> Result<ExitCode> {
    let secret = args.out.with_extension("key");
    let public = args.out.with_extension("pub");
    if !args.force && (secret.exists() || public.exists()) {
        bail!(
            "{} or {} exists; pass --force to replace",
            secret.display(),
            public.display()
        );
    }
    let key =
        harness_evidence::signing::generate().context("reading the system's random source")?;
    // Owner-only from the moment the file exists, not chmod-ed afterwards.
    harness_evidence::write_private(&secret, format!("{}\n", hex_of(&key.to_bytes())).as_bytes())
        .with_context(|| format!("{}", secret.display()))?;
    harness_evidence::write_atomic(
        &public,
        format!("{}\n", hex_of(key.verifying_key().as_bytes())).as_bytes(),
    )
    .with_context(|| format!("{}", public.display()))?;
    println!(
        "secret key: {} (keep private)\npublic key: {}",
        secret.display(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
