//! `harness verify`'s check of a bundle's cases against the dataset it pins: the ids, labels,
//! subgroup and patient values of `predictions.csv` must be the ones the pinned dataset under
//! the project root gives, row for row (for a shard, the shard's cases).
//!
//! The bundle's own checks (hashes, metrics recomputed from `predictions.csv`) cannot see a
//! label changed in `predictions.csv` together with `metrics.json` and the manifest's hashes in
//! an unsigned bundle, nor a run whose labels were read wrongly; this check reads the labels
//! again from the dataset, with the run's own reader ([`crate::load_index_cached`]), and writes
//! the expected columns with the run's own writer ([`Predictions::to_csv`]).

use harness_evidence::manifest::{MANIFEST, PREDICTIONS};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use harness_data::images::ReadLimits;
use harness_data::registry::{DatasetStatus, DatasetTask, Registry};
use harness_evidence::manifest::Manifest;
use harness_evidence::predictions::Predictions;
use harness_evidence::suite::Suite;

use crate::{CaseIndex, PipelineError, Targets, load_index_cached, shard_positions};

/// What [`check_cases`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasesCheck {
    /// Every row's id, labels and subgroup values are the dataset's, in the run's order; the
    /// dataset's files have the pinned digest.
    Matches {
        /// Rows compared.
        cases: usize,
        /// What was compared, for the report.
        detail: String,
    },
    /// The bundle's cases are not the pinned dataset's, or the dataset's files here no longer
    /// have the digest the registry and the bundle pin: the first difference.
    Differs(String),
    /// Nothing to compare here (no registry or dataset under the root, a registry pinning
    /// another version, a site bundle without predictions, an unreadable manifest that the
    /// bundle's own checks report): why.
    NotChecked(String),
}

/// Compares `bundle`'s `predictions.csv` with the dataset its suite names and its manifest pins,
/// as the registry `datasets.toml` of `project_root` (the run's project root) places it;
/// `data_root` as `harness run --data-root`. Every file of the dataset is read and hashed
/// against the pin (no hash cache: a verifier trusts no earlier run), so a
/// [`CasesCheck::Matches`] also certifies the dataset's digest.
///
/// Only what the bundle claims decides a [`CasesCheck::Differs`]: the dataset's files no longer
/// having the pinned digest, the manifest naming another dataset or label column than the
/// suite and the run's writer, or a row that differs. Anything else the verifier's machine
/// cannot do (an unreadable registry, a dataset not placed, a labels file the registry now
/// describes otherwise) is [`CasesCheck::NotChecked`] with the reason.
#[must_use]
pub fn check_cases(bundle: &Path, project_root: &Path, data_root: Option<&Path>) -> CasesCheck {
    check_cases_read(bundle, project_root, data_root).0
}

/// [`check_cases`], with the bundle's files it read (`manifest.json`, `suite.toml`,
/// `predictions.csv`, those that could be read), each read once: `verify` can then check
/// these very bytes ([`harness_evidence::VerifyOptions::read`]) rather than read them again.
pub fn check_cases_read(
    bundle: &Path,
    project_root: &Path,
    data_root: Option<&Path>,
) -> (CasesCheck, BTreeMap<String, Vec<u8>>) {
    check_cases_with(bundle, project_root, data_root, &DatasetReads::default())
}

/// [`check_cases_read`] for one of several bundles checked by one command: a dataset that
/// `reads` already holds (read, hashed against its pin and indexed for an earlier bundle of
/// this command, with the same subgroup columns) is not read again. `harness compare` and
/// `harness leaderboard` check every entrant's bundle against the same dataset; read once
/// per bundle, a 50 GB dataset and twenty entrants would be a terabyte read.
pub fn check_cases_with(
    bundle: &Path,
    project_root: &Path,
    data_root: Option<&Path>,
    reads: &DatasetReads,
) -> (CasesCheck, BTreeMap<String, Vec<u8>>) {
    let files: BTreeMap<String, Vec<u8>> = [MANIFEST, crate::SUITE_COPY, PREDICTIONS]
        .into_iter()
        .filter_map(|name| Some((name.to_string(), std::fs::read(bundle.join(name)).ok()?)))
        .collect();
    let found = match compare(bundle, &files, project_root, data_root, reads) {
        Ok(found) => found,
        Err(e) => CasesCheck::NotChecked(e.to_string()),
    };
    (found, files)
}

/// The datasets one command has read for [`check_cases_with`], each with what reading it gave:
/// its case index (every file hashed, the digest the pin), or why it could not be compared.
/// Within a command a dataset is read once; a new command trusts no earlier read (no hash
/// cache, as [`check_cases`] says).
#[derive(Default)]
pub struct DatasetReads {
    read: Mutex<HashMap<ReadKey, Arc<Result<CaseRows, CasesCheck>>>>,
}

/// What the check compares of a dataset's cases (not their images: an `.npz` dataset's index
/// holds its pixel array).
struct CaseRows {
    case_ids: Vec<String>,
    targets: Targets,
    groups: Vec<(String, Vec<String>)>,
}

impl From<CaseIndex> for CaseRows {
    fn from(index: CaseIndex) -> CaseRows {
        CaseRows {
            case_ids: index.case_ids,
            targets: index.targets,
            groups: index.groups,
        }
    }
}

/// What decides a read: the registry file, the data root, the dataset and the subgroup
/// columns indexed with the cases.
type ReadKey = (PathBuf, Option<PathBuf>, String, Vec<String>);

impl DatasetReads {
    /// How many datasets (with their subgroup columns) were read so far.
    #[must_use]
    pub fn count(&self) -> usize {
        self.read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The read of `key`, made with `load` when it is the first.
    fn get_or_read(
        &self,
        key: ReadKey,
        load: impl FnOnce() -> Result<CaseRows, CasesCheck>,
    ) -> Arc<Result<CaseRows, CasesCheck>> {
        // Held through the read: a second caller of the same dataset waits for it rather than
        // reading it too.
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(read.entry(key).or_insert_with(|| Arc::new(load())))
    }
}

fn compare(
    bundle: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    root: &Path,
    data_root: Option<&Path>,
    reads: &DatasetReads,
) -> Result<CasesCheck, PipelineError> {
    let skip = |why: String| Ok(CasesCheck::NotChecked(why));
    let Some(text) = files.get(MANIFEST) else {
        return skip("no readable manifest.json".into());
    };
    let Ok(manifest) = serde_json::from_slice::<Manifest>(text) else {
        return skip("manifest.json is not a manifest".into());
    };
    let predictions = bundle.join(PREDICTIONS);
    let Some(found) = files.get(PREDICTIONS) else {
        return skip("the bundle holds no predictions.csv (a federated site's bundle)".into());
    };
    // The dataset the (hash-checked) suite copy names: a manifest renamed to name another one
    // would otherwise turn this check into "not checked".
    let suite_path = bundle.join(crate::SUITE_COPY);
    if let Ok(suite) = Suite::parse(
        &String::from_utf8_lossy(files.get(crate::SUITE_COPY).map_or(&[][..], Vec::as_slice)),
        &suite_path,
    ) && suite.dataset != manifest.dataset.name
    {
        return Ok(CasesCheck::Differs(format!(
            "the manifest names dataset '{}', the bundle's suite.toml '{}'",
            manifest.dataset.name, suite.dataset
        )));
    }
    // The run's project root is its registry's folder.
    let registry_file = root.join("datasets.toml");
    if !registry_file.is_file() {
        return skip(format!("no datasets.toml in {}", root.display()));
    }
    let registry = Registry::load(&registry_file, data_root)?;
    let Ok(dataset) = registry.get(&manifest.dataset.name) else {
        return skip(format!(
            "{} has no dataset '{}'",
            registry_file.display(),
            manifest.dataset.name
        ));
    };
    let pin = dataset.entry.pin().to_string();
    if pin != manifest.dataset.digest {
        return skip(format!(
            "{} pins dataset '{}' as {pin}, the bundle as {}: another version of the data",
            registry_file.display(),
            manifest.dataset.name,
            manifest.dataset.digest
        ));
    }
    // Whether the entry here reads the files as the bundle says the run did. The bundle's
    // word alone never turns the comparison off (an unsigned bundle's manifest can be forged):
    // it only explains a difference.
    let entry_changed = manifest
        .dataset
        .reading_sha256
        .as_ref()
        .is_some_and(|recorded| *recorded != dataset.entry.reading_sha256());
    let settings = &manifest.evaluation;
    let key = (
        registry_file.clone(),
        data_root.map(Path::to_path_buf),
        manifest.dataset.name.clone(),
        settings.columns(),
    );
    let dataset_read = reads.get_or_read(key, || {
        match load_index_cached(
            &registry,
            dataset,
            &settings.columns(),
            &ReadLimits::default(),
            usize::MAX,
            None,
        ) {
            Ok((cases, _)) => Ok(CaseRows::from(cases)),
            Err(PipelineError::DatasetRefused { status, .. })
                if matches!(*status, DatasetStatus::HashMismatch { .. }) =>
            {
                Err(CasesCheck::Differs(format!(
                    "dataset '{}': {status}",
                    manifest.dataset.name
                )))
            }
            Err(e) => Err(CasesCheck::NotChecked(e.to_string())),
        }
    });
    let cases = match dataset_read.as_ref() {
        Ok(cases) => cases,
        Err(check) => return Ok(check.clone()),
    };
    // The metrics are recomputed from the label columns the manifest names: they must be the
    // ones the run writes (and this check compares), not a column added beside them.
    let written: Vec<String> = cases
        .targets
        .columns()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let read: Vec<&str> = match settings.task {
        DatasetTask::Binary => vec![settings.label.as_str()],
        DatasetTask::Multilabel => settings.findings.iter().map(|f| f.label.as_str()).collect(),
        DatasetTask::Multiclass => settings
            .classes
            .as_ref()
            .map(|c| vec![c.label.as_str()])
            .unwrap_or_default(),
    };
    if read != written {
        return Ok(CasesCheck::Differs(format!(
            "the manifest's evaluation reads the labels from {}; the run writes them to {}",
            read.join(", "),
            written.join(", ")
        )));
    }
    // A shard's cases, else all of them.
    let positions = manifest.shard.as_ref().map(|shard| {
        shard_positions(
            &cases.groups,
            cases.case_ids.len(),
            shard,
            settings.cluster.as_deref(),
        )
    });
    let pick = |values: &[String]| match &positions {
        Some(at) => at.iter().map(|&i| values[i].clone()).collect(),
        None => values.to_vec(),
    };
    let targets = match &positions {
        Some(at) => cases.targets.select(at),
        None => cases.targets.clone(),
    };
    let expected = Predictions {
        case_ids: pick(&cases.case_ids),
        labels: targets.columns(),
        groups: cases
            .groups
            .iter()
            .map(|(name, values)| (name.clone(), pick(values)))
            .collect(),
        candidates: Vec::new(),
    }
    .to_csv();
    let n_cases = positions.as_ref().map_or(cases.case_ids.len(), Vec::len);
    Ok(match first_difference(&expected, found) {
        None => CasesCheck::Matches {
            cases: n_cases,
            detail: format!(
                "{} cases: ids, labels{} as dataset '{}' ({pin}) gives them{}",
                n_cases,
                if settings.columns().is_empty() {
                    String::new()
                } else {
                    format!(" and {}", settings.columns().join(", "))
                },
                manifest.dataset.name,
                manifest
                    .shard
                    .as_ref()
                    .map(|s| format!(", {s}"))
                    .unwrap_or_default()
            ),
        },
        Some(difference) => {
            CasesCheck::Differs(match (&manifest.dataset.reading_sha256, entry_changed) {
                (Some(_), false) => format!("{}: {difference}", predictions.display()),
                (Some(_), true) => format!(
                    "{}: {difference}; the registry's entry for '{}' reads its cases otherwise than at the run (its label, id, image, positive class, frames or split settings changed): verify under the entry the bundle was computed with",
                    predictions.display(),
                    manifest.dataset.name
                ),
                // An older bundle does not say how the entry read the cases.
                (None, _) => format!(
                    "{}: {difference} (if the registry's entry for '{}' changed since the run, e.g. its label, id, positive class, frames or split, the bundle was computed under the old one)",
                    predictions.display(),
                    manifest.dataset.name
                ),
            })
        }
    })
}

/// The first place where `found` (a predictions.csv) does not begin each record with the
/// columns of `expected` (the same writer's id, label and subgroup columns), or has another
/// number of rows.
fn first_difference(expected: &[u8], found: &[u8]) -> Option<String> {
    let reader = |bytes| {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes)
    };
    let mut want = reader(expected).into_byte_records();
    let mut got = reader(found).into_byte_records();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut header: Vec<String> = Vec::new();
    let mut line = 0usize;
    loop {
        line += 1;
        let (w, g) = match (want.next(), got.next()) {
            (None, None) => return None,
            (Some(Ok(w)), Some(Ok(g))) => (w, g),
            (_, Some(Err(e))) => return Some(format!("unreadable at line {line}: {e}")),
            (Some(_), None) => {
                return Some(format!(
                    "ends after {} rows; the dataset has more cases",
                    line.saturating_sub(2)
                ));
            }
            (None, Some(_)) | (Some(Err(_)), _) => {
                return Some(format!(
                    "has more rows than the dataset's {} cases",
                    line.saturating_sub(2)
                ));
            }
        };
        if line == 1 {
            header = w.iter().map(text).collect();
        }
        for (k, cell) in w.iter().enumerate() {
            let have = g.get(k).unwrap_or_default();
            if have != cell {
                let column = header.get(k).map_or("?", String::as_str);
                return Some(if line == 1 {
                    format!(
                        "column {} is '{}'; the dataset's evaluation writes '{column}' there",
                        k + 1,
                        text(have)
                    )
                } else {
                    format!(
                        "line {line} (case '{}'): {column} is '{}'; the dataset gives '{}'",
                        text(g.get(0).unwrap_or_default()),
                        text(have),
                        text(cell)
                    )
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn the_first_difference_names_the_line_case_column_and_values() {
        let want = b"case_id,label,sex\na,1,F\nb,0,M\n";
        assert_eq!(
            first_difference(want, b"case_id,label,sex,m\na,1,F,0.9\nb,0,M,0.1\n"),
            None
        );
        assert_eq!(
            first_difference(want, b"case_id,label,sex,m\na,1,F,0.9\nb,1,M,0.1\n").unwrap(),
            "line 3 (case 'b'): label is '1'; the dataset gives '0'"
        );
        assert_eq!(
            first_difference(want, b"case_id,label,site,m\na,1,F,0.9\n").unwrap(),
            "column 3 is 'site'; the dataset's evaluation writes 'sex' there"
        );
        assert_eq!(
            first_difference(want, b"case_id,label,sex,m\na,1,F,0.9\n").unwrap(),
            "ends after 1 rows; the dataset has more cases"
        );
        assert_eq!(
            first_difference(
                want,
                b"case_id,label,sex,m\na,1,F,0.9\nb,0,M,0.1\nc,0,M,0.2\n"
            )
            .unwrap(),
            "has more rows than the dataset's 2 cases"
        );
    }
}
