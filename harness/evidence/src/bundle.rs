//! Writing an evidence bundle so that an interrupted run can never pass for a
//! finished one: an `INCOMPLETE` marker goes in first, every file is written
//! atomically and its sha256 recorded, and `manifest.json` (with those hashes)
//! goes in last, after which the marker is removed.
//!
//! A bundle is written into an empty (or new) folder, or over an earlier bundle: the files
//! that bundle lists (its manifest's, or for an interrupted one, the names its marker
//! collected as they were written) are removed first, so that none is left behind unlisted.
//! A folder holding anything else is refused, and nothing in it is touched.

use crate::manifest::{INCOMPLETE, MANIFEST, Manifest, SIGNATURE};
use harness_data::registry::{check_relative, sha256_hex};
use harness_data::write_atomic;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An evidence bundle being written.
#[derive(Debug)]
pub struct BundleWriter {
    dir: PathBuf,
    files: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bundle file name '{name}': {reason}")]
    Name { name: String, reason: String },
    /// The output folder holds files that are not an earlier bundle's.
    #[error(
        "{}: the folder holds {count} file(s) that are not part of an evidence bundle (e.g. '{example}'): write the bundle to an empty or new folder",
        dir.display()
    )]
    NotEmpty {
        dir: PathBuf,
        count: usize,
        example: String,
    },
    /// The output folder holds an interrupted bundle that does not list its files.
    #[error(
        "{}: the folder holds an interrupted bundle whose files are not listed (written by an older harness): remove the folder or write the bundle to another",
        dir.display()
    )]
    Unlisted { dir: PathBuf },
}

/// The `INCOMPLETE` marker as a run starts; the name of each file is appended as the file is
/// written, one per line.
const MARKER_TEXT: &[u8] =
    b"This evidence bundle is incomplete: the run writing it has not finished \
(or was interrupted). `harness verify` rejects it; run the suite again.\n\nfiles written so far:\n";

/// The files under `dir` (recursively), as `/`-separated relative names (also what `verify`
/// compares with a manifest's list).
pub(crate) fn files_under(dir: &Path) -> Result<Vec<String>, BundleError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for entry in std::fs::read_dir(&here).map_err(io(&here))? {
            let entry = entry.map_err(io(&here))?;
            let name = rel.join(entry.file_name());
            if entry.file_type().map_err(io(&here))?.is_dir() {
                stack.push(name);
            } else {
                out.push(
                    name.to_string_lossy()
                        .replace(std::path::MAIN_SEPARATOR, "/"),
                );
            }
        }
    }
    Ok(out)
}

/// The files an earlier bundle in `dir` wrote: its manifest's list, else the names its
/// `INCOMPLETE` marker collected; `None` when the folder holds no bundle.
fn earlier_bundle(dir: &Path) -> Option<Vec<String>> {
    /// Only the list of files: read from a manifest of any version.
    #[derive(serde::Deserialize)]
    struct Listed {
        files: BTreeMap<String, String>,
    }
    if let Ok(bytes) = std::fs::read(dir.join(MANIFEST)) {
        // A manifest that does not parse is still a bundle's: its files are unknown.
        let files = serde_json::from_slice::<Listed>(&bytes)
            .map(|m| m.files.into_keys().collect())
            .unwrap_or_default();
        return Some(files);
    }
    let marker = std::fs::read_to_string(dir.join(INCOMPLETE)).ok()?;
    let listed = marker.split_once("\n\n").map_or("", |(_, rest)| rest);
    Some(
        listed
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// Makes `dir` ready for a new bundle: removes an earlier bundle's files, or refuses a folder
/// holding anything else (touching nothing).
fn clear_for_bundle(dir: &Path) -> Result<(), BundleError> {
    let present = files_under(dir)?;
    if present.is_empty() {
        return Ok(());
    }
    let listed: std::collections::HashSet<String> = earlier_bundle(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|name| check_relative(name).is_ok())
        .collect();
    let earlier = dir.join(MANIFEST).exists() || dir.join(INCOMPLETE).exists();
    let reserved = [MANIFEST, SIGNATURE, INCOMPLETE];
    // A write cut short (a killed run) leaves its temporary file (`write_atomic`'s).
    let leftover = |f: &str| {
        let name = f.rsplit('/').next().unwrap_or(f);
        earlier && name.starts_with(".harness-") && name.ends_with(".tmp")
    };
    let removable = |f: &String| listed.contains(f) || leftover(f);
    let foreign: Vec<&String> = present
        .iter()
        .filter(|f| !removable(f) && !reserved.contains(&f.as_str()))
        .collect();
    if !foreign.is_empty()
        && listed.is_empty()
        && dir.join(INCOMPLETE).exists()
        && !dir.join(MANIFEST).exists()
    {
        // A marker without a list: an interrupted run of a harness from before the list.
        return Err(BundleError::Unlisted {
            dir: dir.to_path_buf(),
        });
    }
    if let Some(example) = foreign.first() {
        return Err(BundleError::NotEmpty {
            dir: dir.to_path_buf(),
            count: foreign.len(),
            example: example.to_string(),
        });
    }
    for name in present.iter().filter(|f| removable(f)) {
        let path = dir.join(name);
        std::fs::remove_file(&path).map_err(io(&path))?;
        // Folders the bundle made (figures/, shards/part-1/): removed once empty.
        let mut parent = path.parent();
        while let Some(p) = parent.filter(|p| *p != dir) {
            if std::fs::remove_dir(p).is_err() {
                break;
            }
            parent = p.parent();
        }
    }
    Ok(())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl BundleWriter {
    /// Starts a bundle in `dir` (created if needed): an empty folder, or one holding an
    /// earlier bundle, whose files are removed first (see the module doc); a folder holding
    /// anything else is refused ([`BundleError::NotEmpty`]). From this moment on the folder
    /// is not accepted by `verify` until this run finishes.
    pub fn create(dir: &Path) -> Result<BundleWriter, BundleError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        clear_for_bundle(dir)?;
        let marker = dir.join(INCOMPLETE);
        write_atomic(&marker, MARKER_TEXT).map_err(io(&marker))?;
        for stale in [MANIFEST, SIGNATURE] {
            let p = dir.join(stale);
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&p)(e)),
                _ => {}
            }
        }
        Ok(BundleWriter {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one file of the bundle (path relative to the bundle, `/`-separated).
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<PathBuf, BundleError> {
        check_relative(name).map_err(|reason| BundleError::Name {
            name: name.into(),
            reason,
        })?;
        if [MANIFEST, SIGNATURE, INCOMPLETE].contains(&name) {
            return Err(BundleError::Name {
                name: name.into(),
                reason: "reserved".into(),
            });
        }
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // Named in the marker before it exists, so that a run interrupted at any point
        // leaves a folder the next run can clear.
        if !self.files.contains_key(name) {
            let marker = self.dir.join(INCOMPLETE);
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&marker)
                .map_err(io(&marker))?;
            std::io::Write::write_all(&mut f, format!("{name}\n").as_bytes())
                .map_err(io(&marker))?;
        }
        write_atomic(&path, bytes).map_err(io(&path))?;
        self.files.insert(name.to_string(), sha256_hex(bytes));
        Ok(path)
    }

    /// Hashes of the files written so far.
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// Writes the manifest (its `files` filled in here), optionally signs it,
    /// and removes the `INCOMPLETE` marker. Returns the manifest's bytes.
    pub fn finish(
        self,
        mut manifest: Manifest,
        signer: Option<&ed25519_dalek::SigningKey>,
    ) -> Result<Vec<u8>, BundleError> {
        manifest.files = self.files;
        let mut bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        bytes.push(b'\n');
        let path = self.dir.join(MANIFEST);
        write_atomic(&path, &bytes).map_err(io(&path))?;
        if let Some(key) = signer {
            let sig = crate::signing::sign(key, &bytes);
            let p = self.dir.join(SIGNATURE);
            write_atomic(&p, sig.as_bytes()).map_err(io(&p))?;
        }
        let marker = self.dir.join(INCOMPLETE);
        std::fs::remove_file(&marker).map_err(io(&marker))?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marks the bundle in `dir` finished as `finish` would, listing `files`.
    fn finished(dir: &Path, files: &[&str]) {
        let listed: BTreeMap<&str, &str> = files.iter().map(|f| (*f, "0")).collect();
        let json = serde_json::json!({ "files": listed });
        std::fs::write(dir.join(MANIFEST), json.to_string()).unwrap();
        std::fs::remove_file(dir.join(INCOMPLETE)).unwrap();
    }

    /// Over an earlier bundle a new one leaves none of the earlier files behind, and an
    /// interrupted run's files are cleared by the next; a folder with other files is refused
    /// untouched.
    #[test]
    fn a_bundle_replaces_an_earlier_one_and_refuses_other_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let mut w = BundleWriter::create(&dir).unwrap();
        w.write("a.txt", b"a").unwrap();
        w.write("figures/old.svg", b"<svg/>").unwrap();
        finished(&dir, &["a.txt", "figures/old.svg"]);

        // Interrupted: wrote b.txt and figures/x.svg, no manifest.
        let mut w = BundleWriter::create(&dir).unwrap();
        assert!(
            !dir.join("figures").exists(),
            "the earlier bundle's folder is gone"
        );
        assert!(!dir.join("a.txt").exists());
        w.write("b.txt", b"b").unwrap();
        w.write("figures/x.svg", b"<svg/>").unwrap();
        drop(w);
        assert!(dir.join(INCOMPLETE).exists());

        let mut w = BundleWriter::create(&dir).unwrap();
        w.write("c.txt", b"c").unwrap();
        finished(&dir, &["c.txt"]);
        let mut left = files_under(&dir).unwrap();
        left.sort();
        assert_eq!(left, ["c.txt", MANIFEST]);

        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let e = BundleWriter::create(&dir).unwrap_err();
        assert!(
            matches!(&e, BundleError::NotEmpty { count: 1, example, .. } if example == "notes.txt"),
            "{e}"
        );
        assert!(dir.join("c.txt").is_file() && dir.join(MANIFEST).is_file());
        assert!(!dir.join(INCOMPLETE).exists(), "nothing touched");
        // A killed write's temporary file, beside an interrupted bundle: cleared with it.
        std::fs::remove_file(dir.join("notes.txt")).unwrap();
        let w = BundleWriter::create(&dir).unwrap();
        drop(w);
        std::fs::write(dir.join(".harness-x1y2.tmp"), "half").unwrap();
        BundleWriter::create(&dir).unwrap();
        assert!(!dir.join(".harness-x1y2.tmp").exists());
        // An older harness's interrupted bundle (its marker lists nothing): said so.
        std::fs::write(dir.join(INCOMPLETE), "incomplete\n").unwrap();
        std::fs::write(dir.join("predictions.csv"), "x").unwrap();
        assert!(matches!(
            BundleWriter::create(&dir),
            Err(BundleError::Unlisted { .. })
        ));
        // A folder of someone else's files, no bundle in it: refused too.
        let other = tmp.path().join("other");
        std::fs::create_dir_all(other.join("sub")).unwrap();
        std::fs::write(other.join("sub/data.csv"), "x").unwrap();
        assert!(matches!(
            BundleWriter::create(&other),
            Err(BundleError::NotEmpty { .. })
        ));
    }
}
