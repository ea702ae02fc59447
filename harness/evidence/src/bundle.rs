//! Writing an evidence bundle so that an interrupted run can never pass for a
//! finished one: an `INCOMPLETE` marker goes in first, every file is written
//! atomically and its sha256 recorded, and `manifest.json` (with those hashes)
//! goes in last, after which the marker is removed.

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
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl BundleWriter {
    /// Starts a bundle in `dir` (created if needed). A previous bundle there
    /// loses its manifest and signature first, so that from this moment on the
    /// folder is not accepted by `verify` until this run finishes.
    pub fn create(dir: &Path) -> Result<BundleWriter, BundleError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let marker = dir.join(INCOMPLETE);
        write_atomic(
            &marker,
            b"This evidence bundle is incomplete: the run writing it has not finished \
              (or was interrupted). `harness verify` rejects it; run the suite again.\n",
        )
        .map_err(io(&marker))?;
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
