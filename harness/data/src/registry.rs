//! The dataset registry (`datasets.toml`): which reference datasets exist, where
//! their bytes live, and the hash that pins them.
//!
//! Results are only comparable on identical data, so every entry carries the
//! sha256 of its bytes (or the md5 its publisher prints, as MedMNIST does), and
//! [`Registry::check`] recomputes it before anything is evaluated
//! ([`Registry::check_files_cached`] takes the hashes of unchanged files from a
//! [`HashCache`] instead of reading them again).
//!
//! A *file* dataset is hashed as the file. A *folder* dataset (`image-folder`)
//! is hashed as `sha256sum` would list it: the sha256 of the text made of one
//! line `"<hex sha256>  <relative/path>\n"` per regular file under the folder,
//! sorted bytewise by path — the same digest as
//! `cd DIR && find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum`,
//! so anyone can check it with coreutils. Symbolic links inside a dataset folder
//! are refused: they could point outside the registry's root.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

pub use crate::hash_cache::HashCache;
use crate::hash_cache::{Hashed, RACY, Stamp};
use crate::images::{DicomAttribute, DicomMetadata, FrameSelect};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// A parsed, validated `datasets.toml`.
#[derive(Debug, Clone)]
pub struct Registry {
    /// The registry file.
    pub file: PathBuf,
    /// The folder every entry's `path` is relative to.
    pub root: PathBuf,
    /// Entries in file order.
    pub entries: Vec<Dataset>,
}

/// The on-disk layout of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetFormat {
    /// A folder of PNG/JPEG/TIFF/DICOM images plus a labels CSV with per-case metadata.
    ImageFolder,
    /// The MedMNIST `.npz` layout (`test_images`, `test_labels`, …).
    MedmnistNpz,
    /// A CSV of labels, model scores and subgroup columns (what `harness eval` reads).
    ScoresCsv,
}

impl fmt::Display for DatasetFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatasetFormat::ImageFolder => "image-folder",
            DatasetFormat::MedmnistNpz => "medmnist-npz",
            DatasetFormat::ScoresCsv => "scores-csv",
        })
    }
}

/// What a dataset's labels are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetTask {
    /// One binary label per case (`label`, `positive_class`).
    #[default]
    Binary,
    /// One class per case out of `classes` (listed in label-index order).
    Multiclass,
    /// Several binary findings per case (`findings`, in label-column order).
    Multilabel,
}

impl DatasetTask {
    /// True for the binary task (the default, left out of serialised settings).
    #[must_use]
    pub fn is_binary(&self) -> bool {
        *self == DatasetTask::Binary
    }
}

impl fmt::Display for DatasetTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatasetTask::Binary => "binary",
            DatasetTask::Multiclass => "multiclass",
            DatasetTask::Multilabel => "multilabel",
        })
    }
}

/// One `[datasets.NAME]` table, exactly as written (unknown keys are errors).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    pub title: String,
    pub format: DatasetFormat,
    /// Relative to the registry root; no `..`, not absolute.
    pub path: String,
    /// `image-folder`: the labels CSV inside `path`.
    pub labels: Option<String>,
    /// `image-folder`: the case identifier column of the labels CSV.
    pub id_column: Option<String>,
    /// `image-folder`: the column holding each image's path, relative to `path`.
    pub image_column: Option<String>,
    /// `image-folder` of DICOM files, instead of `image_column`: the labels' case ids are the
    /// values of this DICOM attribute (usually `SOPInstanceUID`), matched to the files of the
    /// folder by reading their headers. The case ids (and only they) then carry that attribute.
    pub dicom_key: Option<String>,
    /// What the labels are: `binary` (the default), `multiclass` or `multilabel`.
    #[serde(default)]
    pub task: DatasetTask,
    /// The ground-truth column (or, for `medmnist-npz`, a name for the label).
    pub label: String,
    /// `binary`: the label value that counts as positive.
    pub positive_class: Option<String>,
    /// `multiclass`: the class names, in label-index order (label value k is `classes[k]`).
    pub classes: Option<Vec<String>>,
    /// `multilabel`: the finding names, in label-column order.
    pub findings: Option<Vec<String>>,
    /// The patient (cluster) column, where a patient may have several images: the statistics
    /// then add patient-clustered CIs (`harness eval --cluster`).
    pub cluster: Option<String>,
    pub label_meaning: Option<String>,
    /// `scores-csv`: the score columns.
    pub scores: Option<Vec<String>>,
    #[serde(default)]
    pub subgroups: Vec<String>,
    /// `image-folder` of DICOM files: subgroups read from DICOM attributes, by subgroup name
    /// (`vendor = "Manufacturer"`, `age_band = { attribute = "PatientAge", bands = [40, 65] }`).
    /// Only the levels enter evidence; identifying attributes are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dicom_subgroups: BTreeMap<String, DicomAttribute>,
    /// `image-folder`: which frame of a multi-frame file is the case's image: `"only"` (the
    /// default: multi-frame files are refused), a frame index from 0, `"middle"`, or `"all"`
    /// (every frame is its own case, `<case>#<k>`; needs the patient column `cluster`).
    #[serde(default)]
    pub frames: FramePolicy,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    pub size_bytes: Option<u64>,
    pub rows: Option<u64>,
    pub image_size: Option<[u32; 2]>,
    #[serde(default)]
    pub synthetic: bool,
    pub licence: String,
    pub provenance: String,
    pub citation: Option<String>,
    /// `medmnist-npz`: which split is the reference set (`test`, `val`, `train`).
    pub split: Option<String>,
    /// The publisher's download address, for users with internet (never used by tests).
    pub url: Option<String>,
}

/// Which frame(s) of a multi-frame image file a dataset evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FramePolicy {
    /// One-frame files only; a multi-frame file is refused.
    #[default]
    Only,
    /// Frame `k` (from 0) of every file.
    Index(u32),
    /// The middle frame, `frames / 2`.
    Middle,
    /// Every frame as its own case, keyed `<case>#<k>`.
    All,
}

impl FramePolicy {
    /// The frame a file of this policy is read at (`All` is expanded per frame by the caller).
    #[must_use]
    pub fn select(self) -> FrameSelect {
        match self {
            FramePolicy::Only => FrameSelect::Only,
            FramePolicy::Index(k) => FrameSelect::Index(k),
            FramePolicy::Middle => FrameSelect::Middle,
            FramePolicy::All => FrameSelect::All,
        }
    }
}

impl Serialize for FramePolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FramePolicy::Index(k) => s.serialize_u32(*k),
            FramePolicy::Only => s.serialize_str("only"),
            FramePolicy::Middle => s.serialize_str("middle"),
            FramePolicy::All => s.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for FramePolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Index(u32),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Index(k) => Ok(FramePolicy::Index(k)),
            Raw::Name(n) => match n.as_str() {
                "only" => Ok(FramePolicy::Only),
                "middle" => Ok(FramePolicy::Middle),
                "all" => Ok(FramePolicy::All),
                other => Err(serde::de::Error::custom(format!(
                    "frames = '{other}': expected \"only\", \"middle\", \"all\" or a frame index from 0"
                ))),
            },
        }
    }
}

/// A registry entry with its name and where it was declared.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    /// 1-based line of the entry's table in the registry file.
    pub line: usize,
    pub entry: DatasetEntry,
}

/// The digest that pins a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "algorithm", content = "hex", rename_all = "lowercase")]
pub enum Pin {
    Sha256(String),
    Md5(String),
}

impl Pin {
    pub fn hex(&self) -> &str {
        match self {
            Pin::Sha256(h) | Pin::Md5(h) => h,
        }
    }
    pub fn algorithm(&self) -> &'static str {
        match self {
            Pin::Sha256(_) => "sha256",
            Pin::Md5(_) => "md5",
        }
    }

    /// Lower-case hex digest of `bytes` with this pin's algorithm.
    pub fn digest(&self, bytes: &[u8]) -> String {
        match self {
            Pin::Sha256(_) => sha256_hex(bytes),
            Pin::Md5(_) => hex::encode(md5::Md5::digest(bytes)),
        }
    }

    /// Verified when `actual` (this pin's algorithm, hex, of the data at `path`) matches,
    /// else a mismatch naming both.
    pub fn status(&self, path: PathBuf, actual: &str) -> DatasetStatus {
        if actual.eq_ignore_ascii_case(self.hex()) {
            DatasetStatus::Verified {
                digest: format!("{}:{actual}", self.algorithm()),
            }
        } else {
            DatasetStatus::HashMismatch {
                path,
                expected: self.to_string(),
                actual: format!("{}:{actual}", self.algorithm()),
            }
        }
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm(), self.hex())
    }
}

/// What [`Registry::check`] found on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum DatasetStatus {
    /// The bytes are present and their digest matches the pin.
    Verified { digest: String },
    /// Nothing at the path (the user has not placed the file yet).
    Missing { path: PathBuf },
    /// Present, but the digest differs: results on these bytes are not comparable.
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// Present but unreadable, or a folder with a symbolic link in it.
    Unreadable { path: PathBuf, reason: String },
}

impl DatasetStatus {
    pub fn is_verified(&self) -> bool {
        matches!(self, DatasetStatus::Verified { .. })
    }
}

impl fmt::Display for DatasetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetStatus::Verified { .. } => write!(f, "present, verified"),
            DatasetStatus::Missing { path } => write!(f, "missing ({})", path.display()),
            DatasetStatus::HashMismatch {
                expected, actual, ..
            } => {
                write!(f, "HASH MISMATCH (expected {expected}, found {actual})")
            }
            DatasetStatus::Unreadable { reason, .. } => write!(f, "unreadable: {reason}"),
        }
    }
}

/// A problem with the registry file itself.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: no dataset named '{name}' (known: {known})")]
    Unknown {
        file: PathBuf,
        name: String,
        known: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    datasets: indexmap_free::OrderedTables,
}

/// Keeps `[datasets.*]` tables in file order with their spans, without pulling
/// in `toml`'s `preserve_order` feature for the whole workspace.
mod indexmap_free {
    use serde::de::{MapAccess, Visitor};
    use serde::{Deserialize, Deserializer};
    use std::fmt;

    #[derive(Default)]
    pub struct OrderedTables(pub Vec<(String, toml::Spanned<super::DatasetEntry>)>);

    impl<'de> Deserialize<'de> for OrderedTables {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = OrderedTables;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a table of dataset tables")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = m.next_entry()? {
                        out.push((k, v));
                    }
                    Ok(OrderedTables(out))
                }
            }
            d.deserialize_map(V)
        }
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

impl Registry {
    /// Reads and validates a registry. `root` overrides the data root (by
    /// default the registry file's own folder).
    pub fn load(file: &Path, root: Option<&Path>) -> Result<Registry, RegistryError> {
        let text = fs::read_to_string(file).map_err(|source| RegistryError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        let root = match root {
            Some(r) => r.to_path_buf(),
            None => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        Self::parse(&text, file, &root)
    }

    /// Parses registry text; `file` is used in messages only.
    pub fn parse(text: &str, file: &Path, root: &Path) -> Result<Registry, RegistryError> {
        let invalid = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            RegistryError::Invalid {
                file: file.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let parsed: RegistryFile = toml::from_str(text).map_err(|e| {
            let start = e.span().map_or(0, |s| s.start);
            invalid(start, e.message().trim_end().to_string())
        })?;
        let mut entries = Vec::with_capacity(parsed.datasets.0.len());
        for (name, spanned) in parsed.datasets.0 {
            let start = spanned.span().start;
            let entry = spanned.into_inner();
            validate(&name, &entry)
                .map_err(|m| invalid(start, format!("dataset '{name}': {m}")))?;
            let (line, _) = line_col(text, start);
            entries.push(Dataset { name, line, entry });
        }
        Ok(Registry {
            file: file.to_path_buf(),
            root: root.to_path_buf(),
            entries,
        })
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Result<&Dataset, RegistryError> {
        self.entries
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| RegistryError::Unknown {
                file: self.file.clone(),
                name: name.to_string(),
                known: self
                    .entries
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Where the dataset's bytes are expected.
    pub fn location(&self, dataset: &Dataset) -> PathBuf {
        self.root.join(&dataset.entry.path)
    }

    /// Recomputes the dataset's digest and compares it with its pin.
    pub fn check(&self, dataset: &Dataset) -> DatasetStatus {
        self.check_files(dataset).status
    }

    /// As [`Registry::check`], also returning the sha256 of every file of a
    /// folder dataset (by '/'-joined relative path) as they were hashed, so
    /// that a later reader can prove it read the same bytes.
    pub fn check_files(&self, dataset: &Dataset) -> CheckedDataset {
        self.check_files_cached(dataset, None)
    }

    /// As [`Registry::check_files`], taking the hash of each file of a folder
    /// dataset whose stamp is unchanged since `cache` remembered it instead of
    /// reading it again, and remembering what it hashed (see [`HashCache`]).
    /// The folder digest is still made from every file's hash and compared with
    /// the pin; `None` hashes every file.
    pub fn check_files_cached(
        &self,
        dataset: &Dataset,
        cache: Option<&HashCache>,
    ) -> CheckedDataset {
        let path = self.location(dataset);
        let unchecked = |status| CheckedDataset {
            status,
            files: BTreeMap::new(),
            reused: 0,
        };
        // `metadata` follows a symbolic link to the dataset itself (its contents may not be links).
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return unchecked(DatasetStatus::Missing { path });
            }
            Err(e) => {
                return unchecked(DatasetStatus::Unreadable {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        let pin = dataset.entry.pin();
        let mut files = BTreeMap::new();
        let mut reused = 0;
        let digest = if meta.is_dir() {
            match &pin {
                Pin::Sha256(_) => folder_hashes(&path, cache, RACY).map(|(listing, r)| {
                    let digest = listing_sha256(&listing);
                    files = listing.into_iter().collect();
                    reused = r;
                    digest
                }),
                Pin::Md5(_) => Err("a folder dataset must be pinned by sha256".to_string()),
            }
        } else {
            match &pin {
                Pin::Sha256(_) => file_sha256(&path).map_err(|e| e.to_string()),
                Pin::Md5(_) => file_md5(&path).map_err(|e| e.to_string()),
            }
        };
        let status = match digest {
            Ok(actual) => pin.status(path, &actual),
            Err(reason) => DatasetStatus::Unreadable { path, reason },
        };
        CheckedDataset {
            status,
            files,
            reused,
        }
    }
}

/// The outcome of [`Registry::check_files`].
#[derive(Debug, Clone)]
pub struct CheckedDataset {
    /// Verified, missing, unreadable or mismatched.
    pub status: DatasetStatus,
    /// For a folder dataset: lower-case hex sha256 of each file by relative
    /// path ('/'-separated). Empty for single-file datasets.
    pub files: BTreeMap<String, String>,
    /// How many of `files` were taken from the [`HashCache`] (unchanged stamps)
    /// instead of read.
    pub reused: usize,
}

impl DatasetEntry {
    /// SHA-256 of the settings that decide how the cases are read from the pinned files: the
    /// format, labels file, id, image and DICOM-key columns, task, label and positive class,
    /// classes, findings, score columns, patient column, DICOM subgroups, frame policy and
    /// split (not the location, the pin or the descriptions). A bundle records it, so that
    /// `verify` can tell a registry whose entry now reads the same files otherwise from a bundle
    /// that differs.
    #[must_use]
    pub fn reading_sha256(&self) -> String {
        let settings = serde_json::json!({
            "format": self.format,
            "labels": self.labels,
            "id_column": self.id_column,
            "image_column": self.image_column,
            "dicom_key": self.dicom_key,
            "task": self.task,
            "label": self.label,
            "positive_class": self.positive_class,
            "classes": self.classes,
            "findings": self.findings,
            "scores": self.scores,
            "cluster": self.cluster,
            "dicom_subgroups": self.dicom_subgroups,
            "frames": self.frames,
            "split": self.split,
        });
        sha256_hex(settings.to_string().as_bytes())
    }

    /// The digest this entry is pinned by (validation guarantees exactly one).
    pub fn pin(&self) -> Pin {
        match (&self.sha256, &self.md5) {
            (Some(h), _) => Pin::Sha256(h.to_ascii_lowercase()),
            (None, Some(h)) => Pin::Md5(h.to_ascii_lowercase()),
            (None, None) => Pin::Sha256(String::new()),
        }
    }
}

fn validate(_name: &str, e: &DatasetEntry) -> Result<(), String> {
    check_relative(&e.path).map_err(|m| format!("path '{}': {m}", e.path))?;
    match (&e.sha256, &e.md5) {
        (Some(h), None) => check_hex(h, 64, "sha256")?,
        (None, Some(h)) => check_hex(h, 32, "md5")?,
        (Some(_), Some(_)) => return Err("give either sha256 or md5, not both".into()),
        (None, None) => return Err("missing sha256 (or md5): every dataset must be pinned".into()),
    }
    // A run writes these columns beside the case id and label(s) of predictions.csv.
    let declared = e
        .cluster
        .iter()
        .map(|c| ("cluster", c.as_str()))
        .chain(e.subgroups.iter().map(|g| ("subgroups", g.as_str())))
        .chain(
            e.dicom_subgroups
                .keys()
                .map(|g| ("dicom_subgroups", g.as_str())),
        );
    for (key, column) in declared {
        if crate::is_predictions_column(column) {
            return Err(format!(
                "{key} names '{column}', a column predictions.csv holds already (the case id or \
                 label): rename that column of the labels file (e.g. patient_id){}",
                if key == "cluster" {
                    "; where every file is one patient's, a copy of the id column under another \
                     name clusters a file's frames"
                } else {
                    ""
                }
            ));
        }
    }
    let need = |key: &str, v: &Option<String>| {
        if v.as_deref().is_none_or(str::is_empty) {
            Err(format!("format '{}' needs key '{key}'", e.format))
        } else {
            Ok(())
        }
    };
    match e.format {
        DatasetFormat::ImageFolder => {
            need("labels", &e.labels)?;
            need("id_column", &e.id_column)?;
            match (&e.image_column, &e.dicom_key) {
                (Some(_), Some(_)) => {
                    return Err("give either 'image_column' or 'dicom_key', not both".into());
                }
                (None, Some(k)) => {
                    DicomMetadata::key_tag(k)?;
                }
                _ => need("image_column", &e.image_column)?,
            }
            if let Some(l) = &e.labels {
                check_relative(l).map_err(|m| format!("labels '{l}': {m}"))?;
            }
            DicomMetadata::new(&e.dicom_subgroups)?;
            if e.frames == FramePolicy::All && e.cluster.is_none() {
                return Err(
                    "frames = \"all\" makes several cases of one file: declare the \
                     patient column as 'cluster' so that the CIs account for it"
                        .into(),
                );
            }
        }
        DatasetFormat::MedmnistNpz | DatasetFormat::ScoresCsv
            if !e.dicom_subgroups.is_empty() || e.frames != FramePolicy::Only =>
        {
            return Err(format!(
                "'dicom_subgroups' and 'frames' are for image-folder datasets, not '{}'",
                e.format
            ));
        }
        DatasetFormat::MedmnistNpz => {
            need("split", &e.split)?;
            if let Some(s) = &e.split
                && !matches!(s.as_str(), "train" | "val" | "test")
            {
                return Err(format!("split '{s}' must be one of train, val, test"));
            }
        }
        DatasetFormat::ScoresCsv => {
            if e.scores.as_ref().is_none_or(Vec::is_empty) {
                return Err("format 'scores-csv' needs key 'scores' (a non-empty list)".into());
            }
        }
    }
    match e.task {
        DatasetTask::Binary => {
            need("positive_class", &e.positive_class)
                .map_err(|_| "a binary dataset needs key 'positive_class'".to_string())?;
            if e.classes.is_some() || e.findings.is_some() {
                return Err(
                    "'classes' and 'findings' are for task = \"multiclass\" or \"multilabel\""
                        .into(),
                );
            }
        }
        DatasetTask::Multiclass => {
            let n = e.classes.as_ref().map_or(0, Vec::len);
            if n < 3 {
                return Err(format!(
                    "task = \"multiclass\" needs 'classes' with at least 3 names (has {n})"
                ));
            }
            if e.positive_class.is_some() || e.findings.is_some() {
                return Err(
                    "task = \"multiclass\" takes 'classes', not 'positive_class' or 'findings'"
                        .into(),
                );
            }
        }
        DatasetTask::Multilabel => {
            if e.findings.as_ref().is_none_or(Vec::is_empty) {
                return Err("task = \"multilabel\" needs 'findings' (a non-empty list)".into());
            }
            if e.positive_class.is_some() || e.classes.is_some() {
                return Err(
                    "task = \"multilabel\" takes 'findings', not 'positive_class' or 'classes'"
                        .into(),
                );
            }
        }
    }
    for list in [&e.classes, &e.findings].into_iter().flatten() {
        if let Some((i, name)) = list
            .iter()
            .enumerate()
            .find(|(i, n)| n.is_empty() || list[..*i].contains(n))
        {
            return Err(format!("name {} ('{name}') is empty or repeated", i + 1));
        }
    }
    if e.cluster.is_some() && e.format == DatasetFormat::MedmnistNpz {
        return Err("a MedMNIST file has no patient column: 'cluster' does not apply".into());
    }
    if e.format == DatasetFormat::ImageFolder && e.md5.is_some() {
        return Err("an image-folder dataset must be pinned by its folder sha256".into());
    }
    Ok(())
}

pub(crate) fn check_hex(h: &str, len: usize, what: &str) -> Result<(), String> {
    if h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!("{what} '{h}' must be {len} hexadecimal digits"))
    }
}

/// A registry or suite path must stay under its root: relative, with no `..`.
pub fn check_relative(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("empty path".into());
    }
    let path = Path::new(p);
    for c in path.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err("'..' is not allowed (paths stay under their root)".into());
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(
                    "absolute paths are not allowed (paths are relative to their root)".into(),
                );
            }
        }
    }
    Ok(())
}

const CHUNK: usize = 1 << 20;

fn digest_file<D: Digest>(path: &Path) -> std::io::Result<String> {
    digest_reader::<D>(&mut fs::File::open(path)?)
}

fn digest_reader<D: Digest>(f: &mut impl Read) -> std::io::Result<String> {
    let mut h = D::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Lower-case hex sha256 of a file, streamed.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    digest_file::<sha2::Sha256>(path)
}

/// Lower-case hex md5 of a file (only to match a publisher's published md5).
pub fn file_md5(path: &Path) -> std::io::Result<String> {
    digest_file::<md5::Md5>(path)
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The folder digest described in the module documentation.
pub fn folder_sha256(dir: &Path) -> Result<String, String> {
    folder_listing(dir).map(|l| listing_sha256(&l))
}

/// `(relative path, sha256)` of every regular file under `dir`, in the
/// bytewise order of the '/'-joined relative path (as `LC_ALL=C sort`);
/// files are hashed in parallel.
pub fn folder_listing(dir: &Path) -> Result<Vec<(String, String)>, String> {
    folder_hashes(dir, None, RACY).map(|(listing, _)| listing)
}

/// [`folder_listing`], taking the hashes of files with unchanged stamps from `cache` and
/// remembering the others there (files modified within `racy` of the start are not
/// remembered); also returns how many hashes came from the cache.
fn folder_hashes(
    dir: &Path,
    cache: Option<&HashCache>,
    racy: std::time::Duration,
) -> Result<(Vec<(String, String)>, usize), String> {
    use rayon::prelude::*;
    let started = std::time::SystemTime::now();
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    // The cache is keyed by the absolute folder; without one, nothing is remembered.
    let folder = cache.and_then(|_| std::path::absolute(dir).ok());
    let known = match (cache, &folder) {
        (Some(c), Some(f)) => c.load(f),
        _ => Default::default(),
    };
    let hashed: Vec<Hashed> = files
        .into_par_iter()
        .map(|(rel, abs)| -> Result<Hashed, String> {
            let fail = |e: std::io::Error| format!("{}: {e}", abs.display());
            if folder.is_none() {
                let sha256 = file_sha256(&abs).map_err(fail)?;
                return Ok(Hashed {
                    rel,
                    sha256,
                    stamp: None,
                    reused: false,
                });
            }
            // The stamps and the bytes come through one handle (a file renamed over this one
            // meanwhile is not mixed up with it), and a hash is remembered only if the stamp
            // after the read is the one before (a file written while it was read is not).
            let mut f = fs::File::open(&abs).map_err(fail)?;
            let before = f.metadata().ok().as_ref().and_then(Stamp::of);
            if let (Some(s), Some((known_stamp, sha256))) = (before, known.get(&rel))
                && s == *known_stamp
            {
                return Ok(Hashed {
                    rel,
                    sha256: sha256.clone(),
                    stamp: before,
                    reused: true,
                });
            }
            let sha256 = digest_reader::<sha2::Sha256>(&mut f).map_err(fail)?;
            let after = f.metadata().ok().as_ref().and_then(Stamp::of);
            Ok(Hashed {
                rel,
                sha256,
                stamp: before.filter(|b| after == Some(*b)),
                reused: false,
            })
        })
        .collect::<Result<_, _>>()?;
    let reused = hashed.iter().filter(|h| h.reused).count();
    if let (Some(c), Some(f)) = (cache, &folder)
        && (reused < hashed.len() || known.len() != hashed.len())
    {
        c.save(f, &hashed, started, racy);
    }
    let listing = hashed.into_iter().map(|h| (h.rel, h.sha256)).collect();
    Ok((listing, reused))
}

/// The sha256 of a [`folder_listing`] written as `sha256sum` prints it.
pub fn listing_sha256(listing: &[(String, String)]) -> String {
    let mut text = String::with_capacity(listing.len() * 100);
    for (rel, h) in listing {
        text.push_str(h);
        text.push_str("  ");
        text.push_str(rel);
        text.push('\n');
    }
    sha256_hex(text.as_bytes())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    let rd = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for ent in rd {
        let ent = ent.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = ent.path();
        let ty = ent
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if ty.is_symlink() {
            return Err(format!(
                "{}: symbolic links are not allowed in a dataset folder",
                path.display()
            ));
        } else if ty.is_dir() {
            collect_files(root, &path, out)?;
        } else if ty.is_file() {
            let rel = path.strip_prefix(root).map_err(|e| e.to_string())?;
            let rel = rel
                .to_str()
                .ok_or_else(|| format!("{}: file name is not UTF-8", path.display()))?
                .replace(std::path::MAIN_SEPARATOR, "/");
            out.push((rel, path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
# comment
[datasets.one]
title = "One"
format = "scores-csv"
path = "data/one.csv"
sha256 = "9c97e54a15276803d3b4455489a16bca529044f4bffec6271d8501226dbafe91"
label = "label"
positive_class = "1"
scores = ["s"]
licence = "CC0"
provenance = "test"

[datasets.two]
title = "Two"
format = "medmnist-npz"
path = "medmnist/x.npz"
md5 = "0123456789abcdef0123456789ABCDEF"
label = "label"
positive_class = "1"
split = "test"
licence = "CC BY 4.0"
provenance = "MedMNIST"
"#;

    fn parse(t: &str) -> Result<Registry, RegistryError> {
        Registry::parse(
            t,
            Path::new("datasets.toml"),
            Path::new("/nonexistent-root"),
        )
    }

    #[test]
    fn parses_entries_in_order_with_lines_and_pins() {
        let r = parse(GOOD).unwrap();
        let names: Vec<_> = r.entries.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        assert_eq!(r.entries[0].line, 3);
        assert_eq!(r.entries[1].line, 14);
        assert_eq!(
            r.entries[1].entry.pin(),
            Pin::Md5("0123456789abcdef0123456789abcdef".into())
        );
        assert!(matches!(
            r.check(&r.entries[1]),
            DatasetStatus::Missing { .. }
        ));
        assert!(matches!(r.get("three"), Err(RegistryError::Unknown { .. })));
    }

    fn err(t: &str) -> String {
        parse(t).unwrap_err().to_string()
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let bad = GOOD.replace("split = \"test\"", "split = \"test\"\ncolour = \"red\"");
        let e = err(&bad);
        assert!(e.starts_with("datasets.toml:22:1:"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn rejects_escapes_bad_hashes_and_missing_format_keys() {
        let e = err(&GOOD.replace("data/one.csv", "../secret.csv"));
        assert!(e.contains("datasets.toml:3:") && e.contains("'..'"), "{e}");
        let e = err(&GOOD.replace("data/one.csv", "/etc/passwd"));
        assert!(e.contains("absolute"), "{e}");
        let e = err(&GOOD.replace("9c97e54a", "zz97e54a"));
        assert!(e.contains("64 hexadecimal"), "{e}");
        let e = err(&GOOD.replace("split = \"test\"\n", ""));
        assert!(e.contains("dataset 'two'") && e.contains("'split'"), "{e}");
        let e = err(&GOOD.replace("scores = [\"s\"]\n", ""));
        assert!(e.contains("'scores'"), "{e}");
        // A patient or subgroup column named as predictions.csv's own columns.
        for (key, column) in [
            ("cluster", "\"case_id\""),
            ("subgroups", "[\"label\"]"),
            ("cluster", "\"label:effusion\""),
        ] {
            let e = err(&GOOD.replace(
                "scores = [\"s\"]\n",
                &format!("scores = [\"s\"]\n{key} = {column}\n"),
            ));
            assert!(
                e.contains("dataset 'one'") && e.contains("a column predictions.csv holds already"),
                "{e}"
            );
        }
        let e = err(&GOOD.replace("format = \"scores-csv\"", "format = \"tiff-stack\""));
        assert!(
            e.contains("datasets.toml:5:") && e.contains("tiff-stack"),
            "{e}"
        );
    }

    /// Multi-class and multi-label sets declare their classes or findings; the keys of one
    /// task are refused on another, and a binary set still needs its positive class.
    #[test]
    fn tasks_declare_their_classes_or_findings() {
        let multiclass = GOOD.replace(
            "positive_class = \"1\"\nsplit",
            "task = \"multiclass\"\nclasses = [\"a\", \"b\", \"c\"]\nsplit",
        );
        let r = parse(&multiclass).unwrap();
        assert_eq!(r.entries[1].entry.task, DatasetTask::Multiclass);
        assert_eq!(r.entries[1].entry.classes.as_ref().unwrap().len(), 3);
        assert_eq!(r.entries[0].entry.task, DatasetTask::Binary);
        let e = err(&multiclass.replace("[\"a\", \"b\", \"c\"]", "[\"a\", \"b\"]"));
        assert!(e.contains("at least 3 names (has 2)"), "{e}");
        let e = err(&multiclass.replace("[\"a\", \"b\", \"c\"]", "[\"a\", \"b\", \"a\"]"));
        assert!(e.contains("name 3 ('a') is empty or repeated"), "{e}");
        let multilabel = GOOD.replace(
            "positive_class = \"1\"\nsplit",
            "task = \"multilabel\"\nfindings = [\"effusion\", \"nodule\"]\nsplit",
        );
        assert_eq!(
            parse(&multilabel).unwrap().entries[1].entry.task,
            DatasetTask::Multilabel
        );
        let e =
            err(&multilabel.replace("findings = [\"effusion\", \"nodule\"]", "classes = [\"x\"]"));
        assert!(e.contains("needs 'findings'"), "{e}");
        let e = err(&GOOD.replacen("positive_class = \"1\"\n", "", 1));
        assert!(
            e.contains("dataset 'one'") && e.contains("'positive_class'"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "split = \"test\"",
            "split = \"test\"\ncluster = \"patient\"",
        ));
        assert!(e.contains("no patient column"), "{e}");
        let with_cluster = GOOD.replace(
            "scores = [\"s\"]",
            "scores = [\"s\"]\ncluster = \"patient_id\"",
        );
        assert_eq!(
            parse(&with_cluster).unwrap().entries[0]
                .entry
                .cluster
                .as_deref(),
            Some("patient_id")
        );
    }

    /// A dataset folder reached through a symbolic link (data on another disk) is followed;
    /// links inside the folder stay refused.
    /// A registry in `root` with one image-folder dataset `d` at `path`, pinned by `digest`.
    fn folder_registry(root: &Path, path: &str, digest: &str) -> Registry {
        let toml = format!(
            "[datasets.d]\ntitle = \"t\"\nformat = \"image-folder\"\npath = \"{path}\"\nlabels = \"labels.csv\"\n\
             id_column = \"case_id\"\nimage_column = \"image\"\nlabel = \"label\"\npositive_class = \"1\"\n\
             label_meaning = \"x\"\nsha256 = \"{digest}\"\nlicence = \"x\"\nprovenance = \"x\"\n"
        );
        Registry::parse(&toml, &root.join("datasets.toml"), root).unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn a_dataset_folder_behind_a_symbolic_link_is_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir_all(real.join("images")).unwrap();
        std::fs::write(
            real.join("labels.csv"),
            "case_id,image,label\na,images/a.png,1\n",
        )
        .unwrap();
        std::fs::write(real.join("images/a.png"), b"x").unwrap();
        std::os::unix::fs::symlink(&real, tmp.path().join("linked")).unwrap();
        let reg = folder_registry(tmp.path(), "linked", &folder_sha256(&real).unwrap());
        let d = reg.get("d").unwrap();
        let checked = reg.check_files(d);
        assert!(checked.status.is_verified(), "{}", checked.status);
        assert_eq!(checked.files.len(), 2);
        // A link inside the folder is still refused.
        std::os::unix::fs::symlink(real.join("images/a.png"), real.join("images/b.png")).unwrap();
        let status = reg.check(d);
        assert!(
            status
                .to_string()
                .contains("symbolic links are not allowed"),
            "{status}"
        );
    }

    #[test]
    fn folder_hash_matches_sha256sum_listing_and_detects_changes() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("images")).unwrap();
        fs::write(dir.path().join("labels.csv"), b"a,b\n").unwrap();
        fs::write(dir.path().join("images/B.png"), b"x").unwrap();
        fs::write(dir.path().join("images/a.png"), b"y").unwrap();
        // Bytewise order: "images/B.png" < "images/a.png" < "labels.csv".
        let listing = format!(
            "{}  images/B.png\n{}  images/a.png\n{}  labels.csv\n",
            sha256_hex(b"x"),
            sha256_hex(b"y"),
            sha256_hex(b"a,b\n")
        );
        let want = sha256_hex(listing.as_bytes());
        assert_eq!(folder_sha256(dir.path()).unwrap(), want);
        fs::write(dir.path().join("images/a.png"), b"z").unwrap();
        assert_ne!(folder_sha256(dir.path()).unwrap(), want);
    }

    #[test]
    fn check_reports_verified_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("data")).unwrap();
        fs::write(dir.path().join("data/one.csv"), b"label,s\n1,0.5\n").unwrap();
        let good = sha256_hex(b"label,s\n1,0.5\n");
        let text = GOOD.replace(
            "9c97e54a15276803d3b4455489a16bca529044f4bffec6271d8501226dbafe91",
            &good,
        );
        let r = Registry::parse(&text, Path::new("datasets.toml"), dir.path()).unwrap();
        assert!(r.check(&r.entries[0]).is_verified());
        fs::write(dir.path().join("data/one.csv"), b"label,s\n1,0.6\n").unwrap();
        assert!(matches!(
            r.check(&r.entries[0]),
            DatasetStatus::HashMismatch { .. }
        ));
    }

    /// A folder of three files and a registry pinning it; the cache in its own folder.
    fn cached_folder() -> (tempfile::TempDir, Registry, HashCache) {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("d");
        fs::create_dir_all(real.join("images")).unwrap();
        fs::write(
            real.join("labels.csv"),
            "case_id,image,label\na,images/a.png,1\n",
        )
        .unwrap();
        fs::write(real.join("images/a.png"), b"aaaa").unwrap();
        fs::write(real.join("images/b.png"), b"bbbb").unwrap();
        let reg = folder_registry(tmp.path(), "d", &folder_sha256(&real).unwrap());
        let cache = HashCache::in_dir(tmp.path().join("cache"));
        (tmp, reg, cache)
    }

    /// Unchanged files are taken from the cache; a rewritten file, an added and a removed file
    /// are found; the listing is always the fresh one.
    #[cfg(unix)]
    #[test]
    fn unchanged_files_are_not_read_again_and_changed_ones_are() {
        let (tmp, _, cache) = cached_folder();
        let dir = tmp.path().join("d");
        let check = || folder_hashes(&dir, Some(&cache), std::time::Duration::ZERO).unwrap();
        let (first, reused) = check();
        assert_eq!((first.clone(), reused), (folder_listing(&dir).unwrap(), 0));
        assert_eq!(check(), (first.clone(), 3), "nothing changed: nothing read");
        // Another length: with no racy window, a rewrite within the file system's clock tick
        // could keep both times (the window exists for that), never the size.
        fs::write(dir.join("images/b.png"), b"BBBBB").unwrap();
        let (changed, reused) = check();
        assert_eq!(reused, 2);
        assert_eq!(changed, folder_listing(&dir).unwrap());
        assert_ne!(changed, first);
        fs::remove_file(dir.join("images/a.png")).unwrap();
        fs::write(dir.join("images/c.png"), b"cccc").unwrap();
        let (now, reused) = check();
        assert_eq!(reused, 2, "labels.csv and b.png");
        assert_eq!(now, folder_listing(&dir).unwrap());
        // Without a cache nothing is taken from it.
        assert_eq!(
            folder_hashes(&dir, None, std::time::Duration::ZERO)
                .unwrap()
                .1,
            0
        );
    }

    /// Files modified within the racy window of a check are hashed but not remembered.
    #[test]
    fn files_modified_just_before_the_check_are_not_remembered() {
        let (tmp, _, cache) = cached_folder();
        let dir = tmp.path().join("d");
        for _ in 0..2 {
            let (_, reused) = folder_hashes(&dir, Some(&cache), RACY).unwrap();
            assert_eq!(reused, 0);
        }
    }

    /// A cached hash that is wrong (the cache edited, the stamps kept) cannot pass the pin:
    /// the folder digest is made from the hashes. A cache that is not ours is ignored.
    #[cfg(unix)]
    #[test]
    fn a_forged_cache_is_refused_by_the_pin_and_a_foreign_one_ignored() {
        let (tmp, reg, cache) = cached_folder();
        let d = reg.get("d").unwrap();
        let dir = std::path::absolute(tmp.path().join("d")).unwrap();
        // Remember every file (no racy window), then check through the registry.
        folder_hashes(&dir, Some(&cache), std::time::Duration::ZERO).unwrap();
        let checked = reg.check_files_cached(d, Some(&cache));
        assert!(checked.status.is_verified(), "{}", checked.status);
        assert_eq!(checked.reused, 3);
        assert_eq!(checked.files, reg.check_files(d).files);
        let file = cache.file(&dir);
        let text = fs::read_to_string(&file).unwrap();
        let forged = text.replace(&sha256_hex(b"aaaa"), &sha256_hex(b"AAAA"));
        assert_ne!(forged, text);
        fs::write(&file, forged).unwrap();
        let checked = reg.check_files_cached(d, Some(&cache));
        assert!(
            matches!(checked.status, DatasetStatus::HashMismatch { .. }),
            "{}",
            checked.status
        );
        fs::write(&file, "something else\n").unwrap();
        let checked = reg.check_files_cached(d, Some(&cache));
        assert!(checked.status.is_verified(), "{}", checked.status);
        assert_eq!(checked.reused, 0);
        // Our header with a line that is not ours: the whole file is ignored.
        let header = text.lines().next().unwrap();
        fs::write(&file, format!("{header}\nnot\ta line\n")).unwrap();
        assert_eq!(cache.load(&dir).len(), 0);
    }
}
