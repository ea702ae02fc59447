//! `harness verify DIR`: is this bundle complete, unchanged, and are its
//! metrics what its predictions give?
//!
//! Checks, each reported as a [`Finding`]:
//! 1. no `INCOMPLETE` marker, a parseable `manifest.json` of a known format
//!    with `complete: true`;
//! 2. every file the manifest lists exists and has the recorded sha256, and no
//!    file in the bundle is missing from the manifest;
//! 3. `metrics.json` is byte-identical to the metrics recomputed from
//!    `predictions.csv` with the manifest's settings (same code path as the run);
//! 4. the suite, model and dataset files the manifest pins, where present under
//!    the project root, still have their recorded hashes;
//! 5. the ed25519 signature, when public keys are given;
//! 6. a merged bundle's shards: each manifest copy is the one pinned, the merged rows at each
//!    shard's positions are the predictions its manifest pins, the shards cover every row once,
//!    and each shard's own signature, when it signed and keys are given.
//!
//! Each file is read once: `predictions.csv` and `metrics.json` are hashed and recomputed from
//! the same bytes in memory, and the files a caller will use ([`VerifyOptions::keep`]) come back
//! in [`Verification::files`] as they were hashed, so nothing is checked and then re-read.

use crate::evaluation::evaluate_predictions;
use crate::manifest::{FORMAT, INCOMPLETE, MANIFEST, Manifest, PREDICTIONS, SIGNATURE};
use crate::predictions::Lines;
use crate::shard::{SHARD_FILE, ShardFile};
use harness_data::registry::{check_relative, file_sha256, folder_sha256, sha256_hex};
use harness_types::Status;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// What was checked (a file name or a topic).
    pub item: String,
    /// `Ok`, `Failed`, or `Skipped` (not checked: e.g. an input absent under the project root).
    /// Written in JSON and tables as [`Finding::verdict`].
    #[serde(serialize_with = "serialize_verdict")]
    pub status: Status,
    pub detail: String,
}

impl Finding {
    /// How the finding is written: `ok`, `FAILED` (in capitals, to stand out in a table) or
    /// `not checked`.
    #[must_use]
    pub fn verdict(&self) -> &'static str {
        verdict(self.status)
    }
}

fn verdict(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Failed => "FAILED",
        Status::Skipped | Status::Unavailable => "not checked",
    }
}

fn serialize_verdict<S: serde::Serializer>(status: &Status, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(verdict(*status))
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Verification {
    pub findings: Vec<Finding>,
    /// The bytes of the manifest these findings are about (`None` when it could not be read):
    /// what a caller that goes on to use the bundle must use ([`check_input`]).
    #[serde(skip)]
    pub manifest_bytes: Option<Vec<u8>>,
    /// The signature (`manifest.sig`) as read, when the bundle has one: what a caller that
    /// keeps it (a merge, for each shard) must copy, not a later read of the file.
    #[serde(skip)]
    pub signature: Option<String>,
    /// The bytes of each file [`VerifyOptions::keep`] named, as they were hashed (a file that
    /// could not be read is absent; one whose hash failed is here, and failed).
    #[serde(skip)]
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Verification {
    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.status != Status::Failed)
    }
    /// Records a check that passed.
    pub fn ok(&mut self, item: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding {
            item: item.into(),
            status: Status::Ok,
            detail: detail.into(),
        });
    }
    /// Records a check that failed: the bundle must not be trusted.
    pub fn fail(&mut self, item: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding {
            item: item.into(),
            status: Status::Failed,
            detail: detail.into(),
        });
    }
    /// Records a check that could not be made here, and why.
    pub fn skip(&mut self, item: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding {
            item: item.into(),
            status: Status::Skipped,
            detail: detail.into(),
        });
    }
}

/// Options of [`verify`].
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// The project root the manifest's input paths are relative to; inputs are
    /// re-hashed only where present there.
    pub project_root: Option<PathBuf>,
    /// Check the manifest's signature against these keys: it must be by one of them (a
    /// missing signature fails). Empty: a signature is reported, not checked.
    pub public_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// The caller has already hashed the pinned dataset against the manifest's digest (`harness
    /// verify` does, when it compares the bundle's cases with the dataset): how, for the report.
    /// The dataset is then not hashed a second time.
    pub dataset_checked: Option<String>,
    /// Files the caller goes on to use: their bytes, as hashed, are kept in
    /// [`Verification::files`] (read whole rather than streamed through the hash).
    pub keep: Vec<String>,
    /// Files of the bundle the caller has already read and used (by name, `manifest.json`
    /// among them): checked as these bytes, not read again, so that what the caller used is
    /// what is verified.
    pub read: BTreeMap<String, Vec<u8>>,
}

/// Verifies the bundle in `dir`. Never panics on hostile bundles: every problem
/// becomes a failed finding.
pub fn verify(dir: &Path, opts: &VerifyOptions) -> Verification {
    let mut v = Verification::default();
    if dir.join(INCOMPLETE).exists() {
        v.fail(
            INCOMPLETE,
            "the run that wrote this bundle did not finish (or was interrupted)",
        );
    }
    let manifest_bytes = match opts
        .read
        .get(MANIFEST)
        .map_or_else(|| std::fs::read(dir.join(MANIFEST)), |b| Ok(b.clone()))
    {
        Ok(b) => b,
        Err(e) => {
            v.fail(
                MANIFEST,
                format!("cannot read {}: {e}", dir.join(MANIFEST).display()),
            );
            return v;
        }
    };
    v.manifest_bytes = Some(manifest_bytes.clone());
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            v.fail(MANIFEST, format!("not a valid manifest: {e}"));
            return v;
        }
    };
    if manifest.format != FORMAT {
        v.fail(
            MANIFEST,
            format!("format '{}' is not '{FORMAT}'", manifest.format),
        );
        return v;
    }
    if manifest.complete {
        v.ok(
            MANIFEST,
            format!(
                "{} files listed, run finished {}",
                manifest.files.len(),
                manifest.finished_at
            ),
        );
    } else {
        v.fail(MANIFEST, "the manifest says the run is incomplete");
    }

    check_signature(dir, &manifest_bytes, opts, &mut v);
    let recompute = manifest.shard.is_none() && manifest.site.is_none();
    let mut whole: Vec<&str> = opts.keep.iter().map(String::as_str).collect();
    if recompute {
        whole.extend([
            crate::manifest::PREDICTIONS,
            crate::manifest::METRICS,
            SUITE_COPY,
        ]);
    }
    let shard_copies: Vec<[String; 3]> = manifest
        .shards
        .iter()
        .map(|pin| {
            let dir = format!("shards/part-{}", pin.index);
            [MANIFEST, SHARD_FILE, SIGNATURE].map(|f| format!("{dir}/{f}"))
        })
        .collect();
    whole.extend(shard_copies.iter().flatten().map(String::as_str));
    let read = check_files(dir, &manifest, &whole, &opts.read, &mut v);
    if let Some(shard) = &manifest.shard {
        v.skip(
            "metrics recomputation",
            format!(
                "a partial bundle ({shard}): it holds predictions only; `harness merge` computes the metrics of the whole run"
            ),
        );
    } else if let Some(site) = &manifest.site {
        v.skip(
            "metrics recomputation",
            format!(
                "the bundle of site '{site}' of a federated evaluation: it holds count tables (site.json) only; `harness pool` computes the metrics"
            ),
        );
    } else {
        let metrics = check_metrics(dir, &manifest, &read, &mut v);
        let suite = read.get(SUITE_COPY).map(|b| &b[..]);
        check_acceptance(&manifest, metrics.as_ref(), suite, &mut v);
    }
    check_shard_pins(&manifest, &read, opts, &mut v);
    check_inputs(&manifest, opts, &mut v);
    v.files = read
        .into_iter()
        .filter(|(name, _)| opts.keep.contains(name))
        .map(|(name, bytes)| (name, bytes.into_owned()))
        .collect();
    v
}

/// A merged bundle pins each partial bundle's manifest by its sha256; the copies under
/// `shards/part-<i>/` must be those (their bytes are checked against the file list like every
/// file). Each shard's manifest in turn pins its `predictions.csv` and `shard.json` (its cases'
/// positions): the merged `predictions.csv`'s rows at those positions, under its header, must
/// hash to that pin, and the shards' positions must cover its rows once each. So the merged
/// predictions are the shards' own, and where a shard was signed (its `manifest.sig` is kept
/// beside the copy) its signature is checked against the public keys given: evidence a merged
/// bundle carries from each shard's signer even when the merge itself is not signed.
fn check_shard_pins(
    manifest: &Manifest,
    read: &BTreeMap<String, Cow<'_, [u8]>>,
    opts: &VerifyOptions,
    v: &mut Verification,
) {
    if manifest.shards.is_empty() {
        return;
    }
    let merged: Result<(Lines, &[u8]), String> = match read.get(PREDICTIONS) {
        Some(bytes) => Lines::split(bytes, 0)
            .map(|lines| (lines, &bytes[..]))
            .map_err(|e| format!("{PREDICTIONS}: {e}")),
        None => Err(format!("{PREDICTIONS} cannot be read")),
    };
    let mut covered: Vec<u32> = match &merged {
        Ok((lines, _)) => vec![0; lines.len()],
        Err(_) => Vec::new(),
    };
    let mut rows_checked = true;
    for pin in &manifest.shards {
        let item = format!("shard {}", pin.index);
        let dir = format!("shards/part-{}", pin.index);
        let name = format!("{dir}/{MANIFEST}");
        let copy = match manifest.files.get(&name) {
            Some(h) if h.trim_start_matches("sha256:") == pin.manifest_sha256 => read.get(&name),
            Some(h) => {
                v.fail(
                    item,
                    format!(
                        "{name} has {h}, the manifest pins sha256:{}",
                        pin.manifest_sha256
                    ),
                );
                rows_checked = false;
                continue;
            }
            None => {
                v.fail(item, format!("{name} is not in the bundle"));
                rows_checked = false;
                continue;
            }
        };
        let part: Option<Manifest> = copy.and_then(|b| serde_json::from_slice(b).ok());
        let Some(part) = part else {
            v.fail(item, format!("{name} cannot be read as a manifest"));
            rows_checked = false;
            continue;
        };
        let mut said = vec![format!(
            "{} cases; its manifest copy {name} is the one pinned",
            pin.cases
        )];
        let rows = merged
            .as_ref()
            .map(|(lines, bytes)| (lines, *bytes))
            .map_err(String::as_str);
        match shard_rows(&dir, &part, read, rows, &mut covered) {
            Ok(Some(rows)) => said.push(rows),
            Ok(None) => {
                rows_checked = false;
                said.push(format!(
                    "its rows are not checked: {dir}/{SHARD_FILE} is absent (merged by an earlier version)"
                ));
            }
            Err(problem) => {
                v.fail(item, problem);
                rows_checked = false;
                continue;
            }
        }
        let signature = read
            .get(&format!("{dir}/{SIGNATURE}"))
            .map(|b| String::from_utf8_lossy(b).into_owned());
        match (signature, opts.public_keys.as_slice(), copy) {
            (None, _, _) => {}
            (Some(_), [], _) => {
                said.push("signed by its shard (pass --public-key to check the signature)".into())
            }
            // The merged bundle's own signature (or, unsigned, the rows' hashes above) vouches
            // for the copy: a shard signed by a key not given is said, not failed.
            (Some(sig), keys, Some(bytes)) => match crate::signing::check_any(keys, bytes, &sig) {
                Ok(()) => said.push("its shard's signature matches a public key given".into()),
                Err(_) => said.push(format!(
                    "signed by its shard, by none of the public keys given (pass the shard's key to check {dir}/{SIGNATURE})"
                )),
            },
            (Some(_), _, None) => {}
        }
        v.ok(item, said.join("; "));
    }
    if rows_checked && let Some(k) = covered.iter().position(|&n| n != 1) {
        let whose = match covered[k] {
            0 => "no shard's positions".to_string(),
            n => format!("{n} shards' positions"),
        };
        v.fail(
            PREDICTIONS,
            format!(
                "data row {} is in {whose}: the shards do not cover the merged rows once each",
                k + 1
            ),
        );
    }
}

/// The check of one shard's rows in a merged `predictions.csv` (see [`check_shard_pins`]):
/// `Ok(Some(what was checked))`, `Ok(None)` when the bundle has no copy of its `shard.json`, or
/// what is wrong. `covered` counts, per merged row, the shards that claim it.
fn shard_rows(
    dir: &str,
    part: &Manifest,
    read: &BTreeMap<String, Cow<'_, [u8]>>,
    merged: Result<(&Lines, &[u8]), &str>,
    covered: &mut [u32],
) -> Result<Option<String>, String> {
    let Some(shard_bytes) = read.get(&format!("{dir}/{SHARD_FILE}")) else {
        return Ok(None);
    };
    let pinned = |file: &str| {
        part.files
            .get(file)
            .ok_or_else(|| format!("{dir}/{MANIFEST} lists no {file}"))
    };
    if sha256_hex(shard_bytes) != *pinned(SHARD_FILE)? {
        return Err(format!(
            "{dir}/{SHARD_FILE} is not the one its manifest pins"
        ));
    }
    let shard: ShardFile = serde_json::from_slice(shard_bytes)
        .map_err(|e| format!("{dir}/{SHARD_FILE}: not valid: {e}"))?;
    let (lines, bytes) = merged.map_err(str::to_string)?;
    let header = lines.header_line(bytes);
    let mut own =
        Vec::with_capacity(header.len() + bytes.len() / lines.len().max(1) * shard.positions.len());
    own.extend_from_slice(header);
    for &pos in &shard.positions {
        let k = usize::try_from(pos)
            .ok()
            .filter(|&k| k < lines.len())
            .ok_or_else(|| {
                format!(
                    "{dir}/{SHARD_FILE}: position {pos} is outside the {} rows of {PREDICTIONS}",
                    lines.len()
                )
            })?;
        own.extend_from_slice(lines.record(bytes, k));
        covered[k] += 1;
    }
    let got = sha256_hex(&own);
    let want = pinned(PREDICTIONS)?;
    if got != *want {
        return Err(format!(
            "the rows of {PREDICTIONS} at its {} positions hash to {got}, but the shard's {PREDICTIONS} was {want}: the merged rows are not the shard's (changed after the merge)",
            shard.positions.len()
        ));
    }
    Ok(Some(format!(
        "its {} rows in {PREDICTIONS} are its own (the sha256 its manifest pins)",
        shard.positions.len()
    )))
}

/// A bundle another command takes as its input, verified ([`check_input`]): its manifest as
/// read once (the bytes whose signature was checked), and its files read through
/// [`VerifiedBundle::read`], each compared with that manifest's SHA-256 as it is read — the
/// command uses exactly the bytes the check vouched for, not a file replaced after it.
#[derive(Debug)]
pub struct VerifiedBundle {
    dir: PathBuf,
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    /// Its signature as the verification read (and, with keys, checked) it.
    signature: Option<String>,
    /// The files the verification kept, as it hashed them.
    files: BTreeMap<String, Vec<u8>>,
}

impl VerifiedBundle {
    /// The bundle `dir` as its verification `v` found it: refused, naming the first failed
    /// check, unless every check passed. The manifest is the one the checks were made on
    /// (its bytes as [`verify`] read them), not a later read of the file.
    ///
    /// # Errors
    /// The first failed check, as `item: detail`.
    pub fn new(dir: &Path, v: Verification) -> Result<VerifiedBundle, String> {
        if let Some(f) = v.findings.iter().find(|f| f.status == Status::Failed) {
            return Err(format!("{}: {}", f.item, f.detail));
        }
        let Some(manifest_bytes) = v.manifest_bytes else {
            return Err(format!("{MANIFEST}: cannot be read"));
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| format!("{MANIFEST}: not a valid manifest: {e}"))?;
        Ok(VerifiedBundle {
            dir: dir.to_path_buf(),
            manifest,
            manifest_bytes,
            signature: v.signature,
            files: v.files,
        })
    }

    /// Its signature (`manifest.sig`), as the verification read it; `None` when unsigned.
    #[must_use]
    pub fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
    }

    /// The bundle's folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest the check vouched for.
    #[must_use]
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// That manifest's bytes (what a signature signs, what a merge pins by SHA-256).
    #[must_use]
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// File `name` of the bundle, refused unless its bytes are the ones the manifest pins: the
    /// bytes the verification hashed when it kept them ([`VerifyOptions::keep`]), else read now
    /// and compared with the manifest's SHA-256.
    ///
    /// # Errors
    /// The file cannot be read, the manifest does not list it, or its SHA-256 is not the
    /// manifest's (it changed after the check), in words naming the file.
    pub fn read(&self, name: &str) -> Result<Cow<'_, [u8]>, String> {
        match self.files.get(name) {
            Some(bytes) => Ok(Cow::Borrowed(bytes)),
            None => read_pinned(&self.dir, name, &self.manifest.files).map(Cow::Owned),
        }
    }

    /// [`VerifiedBundle::read`], taking a kept file's bytes out of the bundle rather than
    /// copying them (a later read of `name` reads the file again, pinned).
    ///
    /// # Errors
    /// As [`VerifiedBundle::read`].
    pub fn take(&mut self, name: &str) -> Result<Vec<u8>, String> {
        match self.files.remove(name) {
            Some(bytes) => Ok(bytes),
            None => read_pinned(&self.dir, name, &self.manifest.files),
        }
    }
}

/// File `name` of the bundle `dir`, refused unless its SHA-256 is the one `files` pins.
fn read_pinned(
    dir: &Path,
    name: &str,
    files: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let path = dir.join(name);
    let Some(want) = files.get(name) else {
        return Err(format!(
            "{}: not among the files its manifest lists",
            path.display()
        ));
    };
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
    let got = sha256_hex(&bytes);
    if got == *want {
        Ok(bytes)
    } else {
        Err(format!(
            "{}: changed after the bundle was verified (sha256 {got} is not the manifest's)",
            path.display()
        ))
    }
}

/// Verifies a bundle that another command takes as its input (a shard for `harness merge`, a
/// site for `harness pool`) and returns it, or the first problem in words: a file that is not
/// the manifest's, an unfinished run, a bad signature. With `keys` (each site of a federation
/// may sign with its own) the bundle must be signed by one of them; without any, a signed
/// bundle is refused, since its signature would otherwise go unchecked into a result that may
/// be signed again. The files named in `keep` are read once, hashed, and handed back through
/// [`VerifiedBundle::take`]; every other file read later is compared with the manifest whose
/// signature was checked.
///
/// # Errors
/// The failed check and why, as `item: detail`.
pub fn check_input(
    dir: &Path,
    keys: &[ed25519_dalek::VerifyingKey],
    keep: &[&str],
) -> Result<VerifiedBundle, String> {
    if keys.is_empty() && dir.join(SIGNATURE).exists() {
        return Err(format!(
            "{SIGNATURE}: the bundle is signed; give its signer's public key (--public-key FILE) so that its signature is checked"
        ));
    }
    let opts = VerifyOptions {
        public_keys: keys.to_vec(),
        keep: keep.iter().map(ToString::to_string).collect(),
        ..VerifyOptions::default()
    };
    VerifiedBundle::new(dir, verify(dir, &opts))
}

/// The signature check: with keys, `manifest.sig` must be the signature of `manifest` (the
/// manifest's bytes as read) by one of them.
fn check_signature(dir: &Path, manifest: &[u8], opts: &VerifyOptions, v: &mut Verification) {
    let sig = std::fs::read_to_string(dir.join(SIGNATURE));
    v.signature = sig.as_ref().ok().cloned();
    let keys = &opts.public_keys;
    match (keys.as_slice(), sig) {
        ([], Ok(_)) => v.skip(
            SIGNATURE,
            "signed; pass --public-key to check the signature",
        ),
        ([], Err(_)) => {}
        (_, Err(_)) => v.fail(
            SIGNATURE,
            "the bundle is not signed, and public keys were given to check it",
        ),
        (keys, Ok(sig)) => match crate::signing::check_any(keys, manifest, &sig) {
            Ok(()) if keys.len() == 1 => {
                v.ok(SIGNATURE, "ed25519 signature matches the given public key");
            }
            Ok(()) => v.ok(
                SIGNATURE,
                format!(
                    "ed25519 signature matches one of the {} public keys given",
                    keys.len()
                ),
            ),
            Err(Some(malformed)) => v.fail(SIGNATURE, malformed),
            Err(None) => v.fail(
                SIGNATURE,
                format!(
                    "the signature matches none of the {} public key(s) given: the manifest was changed after signing, or another key signed it",
                    keys.len()
                ),
            ),
        },
    }
}

/// Checks every listed file's SHA-256 and that no unlisted file is present. A file in `given`
/// (already read by the caller) is checked as those bytes; the files named in `whole` are read
/// into memory and hashed there; their bytes are returned (whatever the verdict; `given` ones
/// borrowed, not copied) so that nothing is re-read after its check. The others are streamed
/// through the hash.
fn check_files<'g>(
    dir: &Path,
    manifest: &Manifest,
    whole: &[&str],
    given: &'g BTreeMap<String, Vec<u8>>,
    v: &mut Verification,
) -> BTreeMap<String, Cow<'g, [u8]>> {
    let mut read = BTreeMap::new();
    for (name, want) in &manifest.files {
        if let Err(e) = check_relative(name) {
            v.fail(name, format!("unsafe file name in manifest: {e}"));
            continue;
        }
        let path = dir.join(name);
        let got = if let Some(bytes) = given.get(name) {
            if whole.contains(&name.as_str()) {
                read.insert(name.clone(), Cow::Borrowed(bytes.as_slice()));
            }
            Ok(sha256_hex(bytes))
        } else if whole.contains(&name.as_str()) {
            std::fs::read(&path).map(|bytes| {
                let got = sha256_hex(&bytes);
                read.insert(name.clone(), Cow::Owned(bytes));
                got
            })
        } else {
            file_sha256(&path)
        };
        match got {
            Ok(got) if &got == want => v.ok(name, "sha256 matches"),
            Ok(got) => v.fail(
                name,
                format!("sha256 {got} differs from the manifest's {want}: the file was changed"),
            ),
            Err(e) => v.fail(
                name,
                format!("listed in the manifest but cannot be read: {e}"),
            ),
        }
    }
    let present = crate::bundle::files_under(dir).unwrap_or_else(|e| {
        v.fail("bundle folder", format!("cannot be listed: {e}"));
        Vec::new()
    });
    for name in present {
        if name != MANIFEST
            && name != SIGNATURE
            && name != INCOMPLETE
            && !manifest.files.contains_key(&name)
        {
            v.fail(name, "present in the bundle but not listed in the manifest");
        }
    }
    read
}

/// Where a recomputed JSON value first differs from the stored one.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    None => return Some(format!("{p} is missing from metrics.json")),
                    Some(vb) => {
                        if let Some(d) = first_difference(va, vb, &p) {
                            return Some(d);
                        }
                    }
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k} is not a recomputed field"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: recomputed {a}, stored {b}")),
    }
}

/// The warnings a recomputation adds, when they are all that differs from the stored metrics:
/// a bundle written by an earlier build that warned of less. `None` when any figure differs,
/// or when a stored warning is not recomputed (a warning removed or edited is a change).
fn only_added_warnings(
    recomputed: &serde_json::Value,
    stored: &serde_json::Value,
) -> Option<Vec<String>> {
    let (mut a, mut b) = (recomputed.clone(), stored.clone());
    let wa = a.as_object_mut()?.remove("warnings")?;
    let wb = b.as_object_mut()?.remove("warnings")?;
    let (wa, wb) = (wa.as_array()?, wb.as_array()?);
    if a != b || !wb.iter().all(|w| wa.contains(w)) {
        return None;
    }
    let added: Vec<String> = wa
        .iter()
        .filter(|w| !wb.contains(w))
        .map(|w| w.as_str().map_or_else(|| w.to_string(), str::to_string))
        .collect();
    (!added.is_empty()).then_some(added)
}

/// `metrics.json` against the metrics recomputed from `predictions.csv`, both as
/// [`check_files`] read and hashed them (`read`); the recomputed metrics where they match.
fn check_metrics(
    dir: &Path,
    manifest: &Manifest,
    read: &BTreeMap<String, Cow<'_, [u8]>>,
    v: &mut Verification,
) -> Option<crate::evaluation::Metrics> {
    const PRED: &str = crate::manifest::PREDICTIONS;
    const METRICS: &str = crate::manifest::METRICS;
    let listed = |f: &str| manifest.files.contains_key(f);
    if !listed(METRICS) && manifest.candidates.iter().all(|c| c.outcome.is_failed()) {
        v.skip(
            "metrics recomputation",
            "every candidate failed (the manifest says why): there are no metrics to recompute",
        );
        return None;
    }
    if !listed(PRED) || !listed(METRICS) {
        let missing: Vec<&str> = [PRED, METRICS].into_iter().filter(|f| !listed(f)).collect();
        v.fail(
            "metrics recomputation",
            format!("the manifest lists no {}", missing.join(" and no ")),
        );
        return None;
    }
    let (Some(predictions), Some(stored)) = (read.get(PRED), read.get(METRICS)) else {
        v.fail(
            "metrics recomputation",
            "predictions.csv or metrics.json cannot be read",
        );
        return None;
    };
    let metrics = match evaluate_predictions(predictions, &dir.join(PRED), &manifest.evaluation) {
        Ok(m) => m,
        Err(e) => {
            v.fail(
                "metrics recomputation",
                format!("predictions.csv cannot be evaluated: {e}"),
            );
            return None;
        }
    };
    let recomputed = metrics.to_json();
    if recomputed[..] == stored[..] {
        v.ok(
            "metrics recomputation",
            format!(
                "metrics.json equals the metrics recomputed from predictions.csv (sha256 {})",
                sha256_hex(stored)
            ),
        );
        return Some(metrics);
    }
    let parsed = (
        serde_json::from_slice::<serde_json::Value>(&recomputed),
        serde_json::from_slice::<serde_json::Value>(stored),
    );
    if let (Ok(a), Ok(b)) = &parsed
        && let Some(added) = only_added_warnings(a, b)
    {
        v.ok(
            "metrics recomputation",
            format!(
                "every figure of metrics.json equals the recomputation from predictions.csv; this build also warns: {} (the bundle's build did not write these warnings)",
                added.join("; ")
            ),
        );
        return Some(metrics);
    }
    let detail = match parsed {
        (Ok(a), Ok(b)) => first_difference(&a, &b, "metrics")
            .unwrap_or_else(|| "same values, different bytes (formatting changed)".into()),
        (_, Err(e)) => format!("metrics.json is not valid JSON: {e}"),
        (Err(e), _) => format!("internal: {e}"),
    };
    v.fail(
        "metrics recomputation",
        format!("metrics.json differs from the recomputation: {detail}"),
    );
    None
}

/// The manifest's record of the gate against the verdicts recomputed from the recomputed
/// `metrics`: the same criteria give the same verdicts, value for value, so an edited verdict
/// (or value) is found; and its suite criteria against the `[acceptance]` of the bundle's
/// suite copy (`suite`, hash-checked), so a criterion dropped with its verdicts is found too.
/// The verdicts' sentences are display text, not compared: a later build may word them
/// otherwise.
fn check_acceptance(
    manifest: &Manifest,
    metrics: Option<&crate::evaluation::Metrics>,
    suite: Option<&[u8]>,
    v: &mut Verification,
) {
    const ITEM: &str = "acceptance verdicts";
    let suite_criteria = suite.map(|bytes| {
        std::str::from_utf8(bytes)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                crate::Suite::parse(text, Path::new(SUITE_COPY)).map_err(|e| e.to_string())
            })
            .and_then(|s| s.acceptance.criteria())
    });
    let Some(recorded) = &manifest.acceptance else {
        if let Some(Ok(criteria)) = &suite_criteria
            && !criteria.is_empty()
        {
            v.skip(
                ITEM,
                "the suite sets [acceptance] but the manifest records no verdicts (written by a build before verdicts were recorded, or removed from an unsigned manifest)",
            );
        }
        return;
    };
    match &suite_criteria {
        Some(Ok(criteria)) if *criteria != recorded.criteria.suite => {
            v.fail(
                ITEM,
                format!(
                    "the manifest records the suite criteria {:?}, the bundle's suite.toml has {:?}",
                    keys(&recorded.criteria.suite),
                    keys(criteria)
                ),
            );
            return;
        }
        Some(Err(e)) => {
            v.fail(ITEM, format!("the bundle's suite.toml cannot be read: {e}"));
            return;
        }
        _ => {}
    }
    let Some(metrics) = metrics else {
        let all_failed = manifest.candidates.iter().all(|c| c.outcome.is_failed());
        if all_failed && recorded.results.is_empty() && !recorded.passed {
            v.ok(
                ITEM,
                "no candidate was evaluated: no verdict, and the gate did not pass",
            );
        } else {
            v.fail(
                ITEM,
                "the metrics could not be recomputed, so neither can the verdicts",
            );
        }
        return;
    };
    let settings = &manifest.evaluation;
    let gate = match crate::gate::Gate::for_task(
        &recorded.criteria.all(),
        settings.task,
        &settings.targets(),
    ) {
        Ok((gate, _)) => gate,
        Err(e) => {
            v.fail(ITEM, format!("a recorded criterion is not valid: {e}"));
            return;
        }
    };
    let results = gate.check(metrics);
    let same = |a: &crate::gate::GateResult, b: &crate::gate::GateResult| {
        a.candidate == b.candidate
            && a.metric == b.metric
            && a.direction == b.direction
            && a.limit.to_bits() == b.limit.to_bits()
            && a.value.map(f64::to_bits) == b.value.map(f64::to_bits)
            && a.passed == b.passed
    };
    let passed = !results.is_empty() && results.iter().all(|r| r.passed);
    if results.len() != recorded.results.len() {
        v.fail(
            ITEM,
            format!(
                "the manifest records {} verdicts; its criteria give {}",
                recorded.results.len(),
                results.len()
            ),
        );
    } else if let Some((want, got)) = results
        .iter()
        .zip(&recorded.results)
        .find(|(a, b)| !same(a, b))
    {
        v.fail(
            ITEM,
            format!(
                "the manifest records {} {}: value {:?}, {}; recomputed: value {:?}, {}",
                got.candidate,
                got.criterion(),
                got.value,
                if got.passed { "passed" } else { "failed" },
                want.value,
                if want.passed { "passed" } else { "failed" }
            ),
        );
    } else if recorded.passed != passed {
        v.fail(
            ITEM,
            format!(
                "the manifest says the gate {}; its verdicts say it {}",
                if recorded.passed { "passed" } else { "failed" },
                if passed { "passed" } else { "failed" }
            ),
        );
    } else {
        let failed = results.iter().filter(|r| !r.passed).count();
        v.ok(
            ITEM,
            if failed == 0 {
                format!(
                    "{} verdicts recomputed from the metrics: every criterion passed",
                    results.len()
                )
            } else {
                format!(
                    "{} verdicts recomputed from the metrics: {failed} failed, as recorded",
                    results.len()
                )
            },
        );
    }
}

/// Each criterion as it reads ("auroc ≥ 0.85"), for messages.
fn keys(criteria: &[crate::gate::TaskCriterion]) -> Vec<String> {
    criteria.iter().map(ToString::to_string).collect()
}

/// The bundle's copy of the suite file, written by `harness run`.
const SUITE_COPY: &str = "suite.toml";

fn check_inputs(manifest: &Manifest, opts: &VerifyOptions, v: &mut Verification) {
    // The suite's copy inside the bundle (its bytes are already checked against the file list)
    // must be the suite the manifest pins.
    if let Some(listed) = manifest.files.get(SUITE_COPY) {
        let item = format!("suite copy {SUITE_COPY}");
        if listed.trim_start_matches("sha256:") == manifest.suite.sha256 {
            v.ok(item, "the bundle's copy is the suite the manifest pins");
        } else {
            v.fail(
                item,
                format!(
                    "{listed} differs from the manifest's suite sha256:{}",
                    manifest.suite.sha256
                ),
            );
        }
    }
    let Some(root) = &opts.project_root else {
        v.skip(
            "inputs",
            "no project root given: suite, model and dataset files not re-hashed",
        );
        return;
    };
    let mut inputs: Vec<(String, &str, String)> = Vec::new();
    let suite_item = format!("suite {}", manifest.suite.path);
    if Path::new(&manifest.suite.path).is_absolute() && manifest.files.contains_key(SUITE_COPY) {
        v.skip(
            suite_item,
            "run from outside the project root; checked through the bundle's copy",
        );
    } else {
        inputs.push((
            suite_item,
            manifest.suite.path.as_str(),
            format!("sha256:{}", manifest.suite.sha256),
        ));
    }
    for c in &manifest.candidates {
        inputs.push((
            format!("model {}", c.model.path),
            c.model.path.as_str(),
            format!("sha256:{}", c.model.sha256),
        ));
    }
    let dataset_item = format!("dataset {}", manifest.dataset.name);
    if opts.dataset_checked.is_none() {
        inputs.push((
            dataset_item.clone(),
            manifest.dataset.path.as_str(),
            manifest.dataset.digest.clone(),
        ));
    }
    for (item, rel, want) in inputs {
        if check_relative(rel).is_err() {
            v.fail(item, format!("unsafe path '{rel}' in manifest"));
            continue;
        }
        let path = root.join(rel);
        if !path.exists() {
            v.skip(item, format!("{} not present here", path.display()));
            continue;
        }
        let got = if path.is_dir() {
            folder_sha256(&path).map(|h| format!("sha256:{h}"))
        } else if want.starts_with("md5:") {
            harness_data::registry::file_md5(&path)
                .map(|h| format!("md5:{h}"))
                .map_err(|e| e.to_string())
        } else {
            file_sha256(&path)
                .map(|h| format!("sha256:{h}"))
                .map_err(|e| e.to_string())
        };
        match got {
            Ok(g) if g == want => v.ok(item, "hash matches"),
            Ok(g) => v.fail(item, format!("{g} differs from the manifest's {want}")),
            Err(e) => v.fail(item, e),
        }
    }
    if let Some(how) = &opts.dataset_checked {
        v.ok(dataset_item, how.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::{only_added_warnings, sha256_hex};
    use serde_json::json;

    /// A command reading a verified bundle's file gets the bytes its manifest pins, or an
    /// error: a file replaced after the check is not used.
    #[test]
    fn a_file_other_than_the_manifest_pins_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"case_id,label\nc1,1\n";
        std::fs::write(dir.path().join("predictions.csv"), text).unwrap();
        let mut files =
            std::collections::BTreeMap::from([("predictions.csv".to_string(), sha256_hex(text))]);
        let bytes = super::read_pinned(dir.path(), "predictions.csv", &files).unwrap();
        assert_eq!(bytes, text);
        // Replaced after the bundle's check: refused, naming the file.
        files.insert("predictions.csv".into(), "0".repeat(64));
        let err = super::read_pinned(dir.path(), "predictions.csv", &files).unwrap_err();
        assert!(
            err.contains("predictions.csv: changed after the bundle was verified"),
            "{err}"
        );
        // A file the manifest does not list is not read either.
        let err =
            super::read_pinned(dir.path(), "predictions.csv", &Default::default()).unwrap_err();
        assert!(err.contains("not among the files"), "{err}");
    }

    /// A bundle of an earlier build that warned of less still verifies; a warning removed, or
    /// any figure changed, does not.
    #[test]
    fn only_warnings_a_newer_build_adds_are_tolerated() {
        let stored = json!({"n": 10, "models": {"a": {"auroc": 0.8}}, "warnings": ["w1"]});
        let newer = json!({"n": 10, "models": {"a": {"auroc": 0.8}}, "warnings": ["w1", "w2"]});
        assert_eq!(
            only_added_warnings(&newer, &stored),
            Some(vec!["w2".to_string()])
        );
        // Nothing added: not this case (byte differences are reported as such).
        assert_eq!(only_added_warnings(&stored, &stored), None);
        // A stored warning the recomputation does not give: removed or edited.
        let edited = json!({"n": 10, "models": {"a": {"auroc": 0.8}}, "warnings": ["w0"]});
        assert_eq!(only_added_warnings(&newer, &edited), None);
        // A figure differs.
        let figure = json!({"n": 10, "models": {"a": {"auroc": 0.9}}, "warnings": ["w1"]});
        assert_eq!(only_added_warnings(&newer, &figure), None);
    }
}
