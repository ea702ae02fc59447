//! `harness keygen`: an ed25519 key pair for signing bundles.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(
    about = "Create an ed25519 key pair for signing evidence bundles (harness run --sign-key)",
    after_help = "Writes PREFIX.key (secret: keep it private) and PREFIX.pub (publish it; \
        `harness verify --public-key PREFIX.pub` checks bundles with it). Both are hex text."
)]
pub struct KeygenArgs {
    /// File name prefix: `keys/site-a` writes keys/site-a.key and keys/site-a.pub (a prefix
    /// ending in .key or .pub names the same pair).
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

pub fn run(args: KeygenArgs) -> Result<ExitCode> {
    let (secret, public) = key_paths(&args.out);
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
    outln!(
        "secret key: {} (keep private)\npublic key: {}",
        secret.display(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `PREFIX.key` and `PREFIX.pub`, the extension appended (`keys/site-a.2026` keeps its
/// `.2026`); a prefix given as either file (`keys/a.key`, `keys/a.pub`) names the pair `keys/a`.
fn key_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let stem = match prefix.extension().and_then(|e| e.to_str()) {
        Some("key" | "pub") => prefix.with_extension(""),
        _ => prefix.to_path_buf(),
    };
    let with = |ext: &str| {
        let mut name = stem.clone().into_os_string();
        name.push(ext);
        PathBuf::from(name)
    };
    (with(".key"), with(".pub"))
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::key_paths;
    use std::path::{Path, PathBuf};

    #[test]
    fn a_dotted_prefix_keeps_its_dots() {
        let pair = |p: &str| key_paths(Path::new(p));
        let want = |a: &str, b: &str| (PathBuf::from(a), PathBuf::from(b));
        assert_eq!(
            pair("keys/site-a.2026"),
            want("keys/site-a.2026.key", "keys/site-a.2026.pub")
        );
        assert_eq!(
            pair("keys/site-a"),
            want("keys/site-a.key", "keys/site-a.pub")
        );
        assert_eq!(
            pair("keys/site-a.key"),
            want("keys/site-a.key", "keys/site-a.pub")
        );
        assert_eq!(pair("site-a.pub"), want("site-a.key", "site-a.pub"));
    }
}
