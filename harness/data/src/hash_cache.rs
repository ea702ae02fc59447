//! Hashes of a folder dataset's files kept between checks, by each file's stamp (size,
//! modification and change times to the nanosecond, inode, device): a file whose stamp is the
//! one it had when it was hashed is taken to hold the same bytes and is not read again. This is
//! what git (its index), DVC (its state database) and make rely on.
//!
//! Why: the registry's check reads every byte of a dataset before a run, and the run then reads
//! every byte again to decode it (hashing each file in that read, so the bundle certifies the
//! bytes evaluated). For 25,000 chest films on a network share that is a second full pass over
//! tens of gigabytes on every run; with the stamps, every run after the first reads the
//! dataset once.
//!
//! What it still guarantees: on a local file system a file replaced, rewritten or appended to
//! has a new change time (the kernel sets it on every write; a user cannot set it back), so the
//! check hashes it again and a wrong dataset is refused before any work, as without the cache.
//! A cached hash that does not match the pin cannot pass either: the folder digest is made from
//! the hashes and compared with the pin. A hash is remembered only when the file's stamp, read
//! through the handle it was hashed through, is the same after the read as before it. What is
//! given up: a change the stamp does not show — a write below the file system, a clock set
//! back, or on a network share a write by another machine that this client's attribute cache
//! (NFS: up to a minute) has not seen yet — passes the check and is refused when the run
//! decodes the file, since every file is hashed again in that read and compared with the hash
//! the check vouched for. Where that must not happen, `harness run --full-check` reads every
//! file for the check.
//!
//! Racy stamps: a file modified within [`RACY`] of the check could be modified again within
//! its file system's timestamp resolution without changing its stamp; such files are hashed
//! but not remembered (git's "racy git" rule). Off Unix there are no change times: nothing is
//! remembered and every file is hashed.
//!
//! The cache is one text file per dataset folder under the cache directory (a run uses
//! `.harness-cache/` beside the registry): a header line with the folder's absolute path, then
//! `sha256 \t size \t mtime_ns \t ctime_ns \t inode \t device \t relative path` per file. A
//! cache that cannot be read or parsed is ignored, one that cannot be written is not written:
//! it only ever saves work. Deleting it is always safe.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Files whose newest time (modification or change) is this close to the check's start are
/// not remembered.
pub const RACY: Duration = Duration::from_secs(2);

const HEADER: &str = "harness-hash-cache/1";

/// Where the hashes of dataset files are kept between checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashCache {
    dir: PathBuf,
}

/// What identifies a file's contents without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

impl Stamp {
    /// The stamp of a file's metadata (not following links); `None` off Unix.
    pub(crate) fn of(meta: &fs::Metadata) -> Option<Stamp> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(Stamp {
                len: meta.len(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                ino: meta.ino(),
                dev: meta.dev(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            None
        }
    }

    fn newest_ns(&self) -> i128 {
        self.mtime_ns.max(self.ctime_ns)
    }
}

/// A file's hash as a check found it, and whether it came from the cache.
pub(crate) struct Hashed {
    pub rel: String,
    pub sha256: String,
    pub stamp: Option<Stamp>,
    pub reused: bool,
}

/// The remembered hashes of one dataset folder, by relative path.
pub(crate) type Known = HashMap<String, (Stamp, String)>;

impl HashCache {
    /// A cache kept in `dir` (created when first written).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        HashCache { dir: dir.into() }
    }

    /// The folder the cache lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file of a dataset folder: named by a digest of its absolute path.
    pub(crate) fn file(&self, folder: &Path) -> PathBuf {
        let digest = crate::registry::sha256_hex(folder.as_os_str().as_encoded_bytes());
        self.dir.join(format!("{}.tsv", &digest[..16]))
    }

    /// The remembered hashes of `folder` (absolute); empty when there are none or the file is
    /// not one this version wrote for this folder.
    pub(crate) fn load(&self, folder: &Path) -> Known {
        let Ok(text) = fs::read_to_string(self.file(folder)) else {
            return Known::new();
        };
        let mut lines = text.lines();
        let header = format!("{HEADER}\t{}", folder.display());
        if lines.next() != Some(header.as_str()) {
            return Known::new();
        }
        let mut known = Known::new();
        for line in lines {
            let mut f = line.splitn(7, '\t');
            let mut field = || f.next();
            let parsed = (|| {
                let sha = field()?;
                let stamp = Stamp {
                    len: field()?.parse().ok()?,
                    mtime_ns: field()?.parse().ok()?,
                    ctime_ns: field()?.parse().ok()?,
                    ino: field()?.parse().ok()?,
                    dev: field()?.parse().ok()?,
                };
                let rel = field()?;
                crate::registry::check_hex(sha, 64, "sha256").ok()?;
                Some((rel.to_string(), (stamp, sha.to_string())))
            })();
            match parsed {
                Some((rel, entry)) => {
                    known.insert(rel, entry);
                }
                None => return Known::new(), // not ours: ignore all of it
            }
        }
        known
    }

    /// Remembers the hashes of `folder` (absolute) found by a check that began at `started`,
    /// leaving out racy files (within `racy` of it) and files without a stamp. Best effort.
    pub(crate) fn save(
        &self,
        folder: &Path,
        files: &[Hashed],
        started: SystemTime,
        racy: Duration,
    ) {
        let Some(limit) = started
            .checked_sub(racy)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        else {
            return;
        };
        let limit = i128::try_from(limit.as_nanos()).unwrap_or(i128::MAX);
        let mut text = format!("{HEADER}\t{}\n", folder.display());
        for h in files {
            let Some(s) = h.stamp else { continue };
            if s.newest_ns() >= limit || h.rel.contains(['\n', '\r']) {
                continue;
            }
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                h.sha256, s.len, s.mtime_ns, s.ctime_ns, s.ino, s.dev, h.rel
            ));
        }
        if fs::create_dir_all(&self.dir).is_ok() {
            let _ = crate::atomic::write_atomic(&self.file(folder), text.as_bytes());
        }
    }
}
