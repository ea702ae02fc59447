//! `harness datasets`: the registry and the status of every entry.

use anyhow::{Context, Result};
use clap::Args;
use harness_data::registry::Registry;
use std::path::PathBuf;
use std::process::ExitCode;
use tabled::builder::Builder;
use tabled::settings::Style;

#[derive(Args, Debug)]
#[command(
    about = "List the registered reference datasets and whether each is present and matches its pinned hash",
    after_help = "Status: 'present, verified' (hash matches), 'missing' (place the file at the path shown; \
        nothing is downloaded), 'HASH MISMATCH' (results on these bytes would not be comparable), \
        'unreadable: <why>' (present but not readable: permissions, a symbolic link in a dataset \
        folder).\n\n\
        Exit status: 0 when every present dataset is verified (missing ones are listed, not \
        failed); 1 when one is mismatched or unreadable; 2 an invalid registry.\n\n\
        Examples:\n  harness datasets\n  harness datasets --registry other/datasets.toml --data-root /data"
)]
pub struct DatasetsArgs {
    /// The registry file.
    #[arg(long, default_value = "datasets.toml", value_name = "FILE")]
    registry: PathBuf,
    /// Folder that dataset paths are relative to (default: $HARNESS_DATA_ROOT, else the registry's folder).
    #[arg(long, value_name = "DIR")]
    data_root: Option<PathBuf>,
}

pub fn run(args: DatasetsArgs) -> Result<ExitCode> {
    let root = crate::data_root(args.data_root.as_deref());
    let reg =
        Registry::load(&args.registry, root.as_deref()).context("reading the dataset registry")?;
    if reg.entries.is_empty() {
        outln!(
            "{}: no dataset is registered; add a [datasets.NAME] table, as the project's own datasets.toml does",
            args.registry.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut b = Builder::default();
    b.push_record([
        "name",
        "format",
        "task",
        "cases",
        "pin",
        "status",
        "synthetic",
        "licence",
    ]);
    let mut mismatch = false;
    for d in &reg.entries {
        let st = reg.check(d);
        // A dataset that is there but cannot be checked fails as a mismatched one does: a run
        // on it would be refused.
        mismatch |= matches!(
            st,
            harness_data::registry::DatasetStatus::HashMismatch { .. }
                | harness_data::registry::DatasetStatus::Unreadable { .. }
        );
        let pin = d.entry.pin().to_string();
        b.push_record([
            d.name.clone(),
            d.entry.format.to_string(),
            d.entry.task.to_string(),
            d.entry.rows.map_or("?".into(), |r| r.to_string()),
            format!("{}…", &pin[..pin.len().min(19)]),
            st.to_string(),
            if d.entry.synthetic {
                "SYNTHETIC".into()
            } else {
                "real".into()
            },
            d.entry.licence.clone(),
        ]);
    }
    outln!("{}", b.build().with(Style::rounded()));
    Ok(if mismatch {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
