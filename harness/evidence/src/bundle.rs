//! Writing an evidence bundle so that an interrupted run can never pass for a
//! finished one: an `INCOMPLETE` marker goes in first, every file is written
//! atomically and its sha256 recorded, and `manifest.json` (with those hashes)
//! goes in last, after which the marker is removed.
//!
//! A bundle is written into an empty (or new) folder, or over an earlier bundle. An earlier
//! *finished* bundle is kept until the new one is finished: the new one is written beside it,
//! in `.NAME.harness-partial`, and takes its place only then, so a run that fails (a corrupt
//! image, a killed job) leaves the earlier evidence as it was (where the folder's parent cannot
//! hold that staging folder, the earlier bundle is cleared first, as below). An earlier
//! *interrupted* bundle is cleared first: the files its marker collected as they were written
//! are removed, so that none is left behind unlisted. A folder holding anything else is
//! refused, and nothing in it is touched.

use crate::manifest::{INCOMPLETE, MANIFEST, Manifest, SIGNATURE};
use harness_data::registry::{check_relative, sha256_hex};
use harness_data::write_atomic;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An evidence bundle being written.
#[derive(Debug)]
pub struct BundleWriter {
    /// Where the files are written: the bundle's folder, or the staging folder beside it.
    dir: PathBuf,
    /// The bundle's folder, where the finished bundle ends up.
    target: PathBuf,
    /// Why an earlier finished bundle in `target` was cleared as this one started rather than
    /// kept until it finished.
    cleared_early: Option<String>,
    files: BTreeMap<String, String>,
    /// The bundle's folder, locked (an advisory `flock` on the folder itself, so nothing is
    /// added to it or beside it) until this writer is dropped: a second writer of the same
    /// folder is refused rather than mixing its files into this one's. `None` where the
    /// system does not lock folders.
    _lock: Option<std::fs::File>,
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
    /// The staging folder's name is taken by something other than an interrupted run's files.
    #[error(
        "{}: the folder where a new bundle is written until it replaces the earlier one holds files the harness did not write, or a finished bundle whose run stopped just before putting it in place: move or remove it",
        dir.display()
    )]
    Staging { dir: PathBuf },
    /// Another process is writing a bundle into the same folder.
    #[error(
        "{}: another harness process is writing a bundle into this folder now (two runs with the same --out would mix their files): wait for it, or write to another folder",
        dir.display()
    )]
    Busy { dir: PathBuf },
}

/// The `INCOMPLETE` marker as a run starts; the name of each file is appended as the file is
/// written, one per line.
const MARKER_TEXT: &[u8] =
    b"This evidence bundle is incomplete: the run writing it has not finished \
(or was interrupted). `harness verify` rejects it; run the suite again.\n\nfiles written so far:\n";

/// True when `path` (which need not exist yet) is the bundle folder `bundle` or inside it,
/// links resolved: an output written there would add a file its manifest does not list (or
/// replace one it does), and the bundle would no longer verify. `path` is resolved component
/// by component: each existing prefix through its links, `..` after a missing folder as the
/// parent of what came before (as `create_dir_all` then walks it). A path that cannot be
/// resolved at all (no current folder) counts as inside: the caller refuses it.
#[must_use]
pub fn within(path: &Path, bundle: &Path) -> bool {
    use std::path::Component;
    let Ok(bundle) = bundle.canonicalize() else {
        return false;
    };
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(cwd) => cwd.join(path),
            Err(_) => return true,
        }
    };
    let mut resolved = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            other => {
                resolved.push(other);
                if let Ok(real) = resolved.canonicalize() {
                    resolved = real;
                }
            }
        }
    }
    resolved.starts_with(&bundle)
}

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
    for name in earlier_files(dir)? {
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

/// The files of an earlier bundle in `dir` (its listed files, and a killed write's temporary
/// ones), or the refusal of a folder holding anything else.
fn earlier_files(dir: &Path) -> Result<Vec<String>, BundleError> {
    let present = files_under(dir)?;
    if present.is_empty() {
        return Ok(present);
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
    Ok(present.into_iter().filter(|f| removable(f)).collect())
}

/// The folder beside `target` where a bundle replacing a finished one is written, and the one
/// the replaced bundle is moved to for the swap; `None` where `target` has no name.
fn beside(target: &Path, what: &str) -> Option<PathBuf> {
    let name = target.file_name()?.to_string_lossy();
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(parent.join(format!(".{name}.harness-{what}")))
}

/// Where a bundle replacing the finished one in `target` (canonical) is written until it is
/// finished: the staging folder beside it, or, where it cannot be put in place by renaming
/// the folder, why the earlier bundle is cleared now instead.
fn staging_for(target: &Path) -> Result<PathBuf, String> {
    let Some(staging) = beside(target, "partial") else {
        return Err("the folder has no parent to write beside it in".into());
    };
    // The process's own folder (`--out .`) would be moved from under it.
    if std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .is_ok_and(|cwd| cwd.starts_with(target))
    {
        return Err("it is the current folder or holds it".into());
    }
    // A mount point (a container's volume) cannot be renamed, nor files moved across devices.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let device = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
        let parent = staging.parent().unwrap_or(Path::new("."));
        if device(target) != device(parent) {
            return Err("it is a mount point".into());
        }
    }
    Ok(staging)
}

/// True when `dir` holds a finished bundle (a manifest, no `INCOMPLETE` marker).
fn finished_bundle(dir: &Path) -> bool {
    dir.join(MANIFEST).is_file() && !dir.join(INCOMPLETE).exists()
}

/// A fresh staging folder at `staging`: an interrupted run's staging folder (it holds the
/// marker) is removed first; anything else there is refused.
fn fresh_staging(staging: &Path) -> Result<(), BundleError> {
    if staging.exists() {
        if !staging.join(INCOMPLETE).is_file() {
            return Err(BundleError::Staging {
                dir: staging.to_path_buf(),
            });
        }
        std::fs::remove_dir_all(staging).map_err(io(staging))?;
    }
    std::fs::create_dir_all(staging).map_err(io(staging))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Takes the advisory lock on the bundle folder `dir`, held while the returned handle lives.
///
/// # Errors
///
/// [`BundleError::Busy`] where another process holds it. A system that cannot open or lock a
/// folder gives `Ok(None)`: the bundle is written without the lock.
fn lock_folder(dir: &Path) -> Result<Option<std::fs::File>, BundleError> {
    let Ok(file) = std::fs::File::open(dir) else {
        return Ok(None);
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(BundleError::Busy {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(_)) => Ok(None),
    }
}

/// The advisory lock on an existing bundle folder, taken before a run's long work (the
/// dataset's check reads every file) so that a run into a folder another run is writing is
/// refused at once, not after that work; [`BundleWriter::create_locked`] keeps it.
#[derive(Debug)]
pub struct FolderLock {
    /// The folder, canonical.
    dir: PathBuf,
    file: std::fs::File,
}

impl FolderLock {
    /// The lock on `target` where the folder exists (a new folder has no writer to wait for:
    /// `Ok(None)`, as where the system cannot lock a folder).
    ///
    /// # Errors
    ///
    /// [`BundleError::Busy`] where another process holds it.
    pub fn take_existing(target: &Path) -> Result<Option<FolderLock>, BundleError> {
        let Ok(dir) = std::fs::canonicalize(target) else {
            return Ok(None);
        };
        if !dir.is_dir() {
            return Ok(None);
        }
        Ok(lock_folder(&dir)?.map(|file| FolderLock { dir, file }))
    }
}

impl BundleWriter {
    /// Starts a bundle in `target` (created if needed): an empty folder, or one holding an
    /// earlier bundle (see the module doc: a finished one is replaced only when this one is
    /// finished, an interrupted one is cleared now); a folder holding anything else is refused
    /// ([`BundleError::NotEmpty`]). Until this bundle is finished `verify` refuses it: it is
    /// marked incomplete.
    pub fn create(target: &Path) -> Result<BundleWriter, BundleError> {
        Self::create_locked(target, None)
    }

    /// [`BundleWriter::create`], keeping `lock` where it is the lock on `target`, taken
    /// earlier ([`FolderLock::take_existing`]); else the folder is locked now.
    pub fn create_locked(
        target: &Path,
        lock: Option<FolderLock>,
    ) -> Result<BundleWriter, BundleError> {
        std::fs::create_dir_all(target).map_err(io(target))?;
        // Through a link to the folder: the swap happens where it points, and the link stays.
        let target = &std::fs::canonicalize(target).map_err(io(target))?;
        let lock = match lock {
            Some(held) if held.dir == *target => Some(held.file),
            other => {
                // Another folder's lock is let go first (a link changed since).
                drop(other);
                lock_folder(target)?
            }
        };
        let mut cleared_early = None;
        let dir = if finished_bundle(target) {
            // Refused now, not at the swap, if the folder holds anything else.
            earlier_files(target)?;
            let staged = staging_for(target).and_then(|staging| match fresh_staging(&staging) {
                Ok(()) => Ok(staging),
                Err(BundleError::Io { source, .. })
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::PermissionDenied
                            | std::io::ErrorKind::ReadOnlyFilesystem
                    ) =>
                {
                    Err(format!("its parent folder cannot be written ({source})"))
                }
                Err(e) => Err(e.to_string()),
            });
            match staged {
                Ok(staging) => staging,
                Err(why) => {
                    if let Some(staging) = beside(target, "partial")
                        && staging.exists()
                        && !staging.join(INCOMPLETE).is_file()
                    {
                        return Err(BundleError::Staging { dir: staging });
                    }
                    clear_for_bundle(target)?;
                    cleared_early = Some(why);
                    target.clone()
                }
            }
        } else {
            clear_for_bundle(target)?;
            target.clone()
        };
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
            dir,
            target: target.clone(),
            cleared_early,
            files: BTreeMap::new(),
            _lock: lock,
        })
    }

    /// Where the files are being written: the bundle's folder, or, while an earlier finished
    /// bundle is kept there, the staging folder beside it ([`BundleWriter::replaces`]).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The earlier finished bundle this one replaces when it is finished, if any.
    pub fn replaces(&self) -> Option<&Path> {
        (self.dir != self.target).then_some(self.target.as_path())
    }

    /// What becomes of an earlier finished bundle in the folder, in a sentence, and whether it
    /// is a warning (it was cleared as this run started, not kept until it finished); `None`
    /// where the folder held none.
    #[must_use]
    pub fn earlier_bundle_note(&self) -> Option<(String, bool)> {
        if let Some(why) = &self.cleared_early {
            return Some((
                format!(
                    "the finished bundle in {} was cleared as this run started, not kept until it finishes: {why}",
                    self.target.display()
                ),
                true,
            ));
        }
        self.replaces().map(|earlier| {
            (
                format!(
                    "the finished bundle in {} is kept until this one is finished (written meanwhile in {})",
                    earlier.display(),
                    self.dir.display()
                ),
                false,
            )
        })
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
        if self.dir != self.target {
            swap_in(&self.dir, &self.target)?;
        }
        Ok(bytes)
    }
}

/// Puts the finished bundle `staging` in the place of the earlier one in `target`: the earlier
/// folder is moved aside and the new one renamed into its place, then the earlier one removed.
/// Where the folder cannot be moved, the earlier bundle's files are removed and the new ones
/// moved in one by one (the staging folder is on the folder's device: [`staging_for`]).
fn swap_in(staging: &Path, target: &Path) -> Result<(), BundleError> {
    // Named for this process: a folder left by a run killed mid-swap is not removed here.
    if let Some(aside) = beside(target, &format!("replaced-{}", std::process::id()))
        && std::fs::rename(target, &aside).is_ok()
    {
        if let Err(e) = std::fs::rename(staging, target) {
            // Put the earlier bundle back: the new one stays in the staging folder.
            let _ = std::fs::rename(&aside, target);
            return Err(io(staging)(e));
        }
        // The earlier bundle is replaced; a copy left behind would only take space.
        let _ = std::fs::remove_dir_all(&aside);
        return Ok(());
    }
    clear_for_bundle(target)?;
    for name in files_under(staging)? {
        let (from, to) = (staging.join(&name), target.join(&name));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::rename(&from, &to).map_err(io(&from))?;
    }
    std::fs::remove_dir_all(staging).map_err(io(staging))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output path inside a bundle, however written: the folder itself, below it, through a
    /// link to it, or through `..` after a folder that does not exist yet.
    #[test]
    fn within_resolves_links_and_parent_steps() {
        let tmp = tempfile::tempdir().unwrap();
        let b = tmp.path().join("bundle");
        std::fs::create_dir(&b).unwrap();
        assert!(within(&b, &b));
        assert!(within(&b.join("merged/x"), &b));
        assert!(within(&tmp.path().join("missing/../bundle/merged"), &b));
        assert!(!within(&b.join("merged/../.."), &b));
        assert!(!within(&tmp.path().join("bundle-2"), &b));
        assert!(!within(&tmp.path().join("other/merged"), &b));
        std::os::unix::fs::symlink(&b, tmp.path().join("link")).unwrap();
        assert!(within(&tmp.path().join("link/merged"), &b));
    }

    /// Marks the bundle in `dir` finished as `finish` would, listing `files`.
    fn finished(dir: &Path, files: &[&str]) {
        let listed: BTreeMap<&str, &str> = files.iter().map(|f| (*f, "0")).collect();
        let json = serde_json::json!({ "files": listed });
        std::fs::write(dir.join(MANIFEST), json.to_string()).unwrap();
        std::fs::remove_file(dir.join(INCOMPLETE)).unwrap();
    }

    /// Two writers of one folder at once (two runs given the same --out) would mix their
    /// files: the second is refused until the first is done, through a link to the folder too.
    #[test]
    fn a_folder_being_written_is_refused_to_a_second_writer() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let first = BundleWriter::create(&dir).unwrap();
        let err = BundleWriter::create(&dir).unwrap_err();
        assert!(matches!(err, BundleError::Busy { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("another harness process is writing"),
            "{err}"
        );
        #[cfg(unix)]
        {
            let link = tmp.path().join("link");
            std::os::unix::fs::symlink(&dir, &link).unwrap();
            assert!(matches!(
                BundleWriter::create(&link),
                Err(BundleError::Busy { .. })
            ));
        }
        drop(first);
        assert!(BundleWriter::create(&dir).is_ok());
    }

    /// A run takes the lock on an existing folder before its long checks and its writer keeps
    /// that lock (locking again from the same process would refuse itself); a folder that does
    /// not exist yet has no lock to take.
    #[test]
    fn a_lock_taken_early_is_kept_by_the_writer() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        assert!(FolderLock::take_existing(&dir).unwrap().is_none());
        std::fs::create_dir(&dir).unwrap();
        let early = FolderLock::take_existing(&dir).unwrap().unwrap();
        assert!(matches!(
            FolderLock::take_existing(&dir),
            Err(BundleError::Busy { .. })
        ));
        assert!(matches!(
            BundleWriter::create(&dir),
            Err(BundleError::Busy { .. })
        ));
        let writer = BundleWriter::create_locked(&dir, Some(early)).unwrap();
        assert!(matches!(
            FolderLock::take_existing(&dir),
            Err(BundleError::Busy { .. })
        ));
        drop(writer);
        assert!(FolderLock::take_existing(&dir).unwrap().is_some());
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

        // Over a finished bundle, interrupted: the earlier bundle is kept as it was, the
        // new one's files are beside it.
        drop(w);
        let mut w = BundleWriter::create(&dir).unwrap();
        let real = std::fs::canonicalize(&dir).unwrap();
        assert_eq!(w.replaces(), Some(real.as_path()));
        w.write("b.txt", b"b").unwrap();
        drop(w);
        let mut kept = files_under(&dir).unwrap();
        kept.sort();
        assert_eq!(kept, ["a.txt", "figures/old.svg", MANIFEST]);
        let staging = tmp.path().join(".out.harness-partial");
        assert!(staging.join("b.txt").is_file() && staging.join(INCOMPLETE).is_file());
        // Finished: it takes the earlier one's place, nothing of either is left beside it.
        let mut w = BundleWriter::create(&dir).unwrap();
        w.write("b.txt", b"b").unwrap();
        finished(w.dir(), &["b.txt"]);
        swap_in(w.dir(), &dir).unwrap();
        let mut now = files_under(&dir).unwrap();
        now.sort();
        assert_eq!(now, ["b.txt", MANIFEST]);
        assert!(!staging.exists());
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "nothing left beside the folder"
        );
        // Through a link to the folder: replaced where the link points; the link stays one.
        #[cfg(unix)]
        {
            let link = tmp.path().join("link");
            std::os::unix::fs::symlink(&dir, &link).unwrap();
            let mut w = BundleWriter::create(&link).unwrap();
            w.write("d.txt", b"d").unwrap();
            finished(w.dir(), &["d.txt"]);
            swap_in(w.dir(), w.replaces().unwrap()).unwrap();
            assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
            assert!(dir.join("d.txt").is_file() && !dir.join("b.txt").exists());
            std::fs::remove_file(&link).unwrap();
        }
        // A staging folder holding what the harness did not write is refused, untouched.
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("mine.txt"), "x").unwrap();
        assert!(matches!(
            BundleWriter::create(&dir),
            Err(BundleError::Staging { .. })
        ));
        std::fs::remove_dir_all(&staging).unwrap();

        // Over an interrupted bundle: wrote b.txt and figures/x.svg, no manifest.
        std::fs::write(
            dir.join(INCOMPLETE),
            "incomplete\n\nfiles written so far:\nb.txt\n",
        )
        .unwrap();
        let mut w = BundleWriter::create(&dir).unwrap();
        assert_eq!(w.replaces(), None);
        assert!(
            !dir.join("b.txt").exists(),
            "the interrupted bundle is cleared"
        );
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
        drop(w);

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
        std::fs::write(dir.join(INCOMPLETE), MARKER_TEXT).unwrap();
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
