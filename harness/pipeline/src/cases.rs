//! The reference cases as an index: ids, labels, subgroup values and where
//! each image lives. Nothing is decoded here; [`CaseIndex::decode`] reads one
//! case's bytes once, hashes them in that same read and decodes them, so the
//! pipeline holds only the images in flight.
//!
//! Integrity: for a folder dataset, the registry check before inference
//! records each file's sha256; a case whose bytes hash differently when it is
//! decoded (the file changed after the run started) is refused, naming the
//! file. The labels file is parsed from the bytes that were hashed. A MedMNIST
//! archive is read once, checked against its pin from those bytes, and its
//! images are converted one at a time from the stored uint8 array.

use crate::PipelineError;
use harness_data::images::{
    DicomMetadata, FrameSelect, HeaderFacts, Image, ImageError, ReadLimits, decode_image_frame,
    decode_npz_split, is_dicom, read_file, read_key,
};
use harness_data::registry::{
    Dataset, DatasetFormat, DatasetTask, FramePolicy, Registry, check_relative, sha256_hex,
};
use harness_data::{
    NpzImages,
    registry::{DatasetStatus, HashCache},
};
use harness_evidence::predictions::LabelColumn;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where the cases' pixels come from.
#[derive(Debug)]
pub enum CaseImages {
    /// One file per case, with the sha256 the registry check saw (if it saw the file) and
    /// the frame that is the case's image (several cases may share a multi-frame file).
    Files {
        files: Vec<PathBuf>,
        expected_sha256: Vec<Option<String>>,
        frames: Vec<FrameSelect>,
        /// Files that neighbouring cases share, read and hashed once for all their frames.
        shared: SharedFiles,
    },
    /// One image per case of a MedMNIST split, converted on demand. `members[i]` is case `i`'s
    /// image in the archive (all of them, in order, unless the index was [`CaseIndex::select`]ed).
    Npz {
        images: NpzImages,
        members: Vec<usize>,
    },
}

/// The bytes and sha256 of files that several cases share — the frames of a multi-frame DICOM
/// when every frame is a case (`frames = "all"`) — kept while those frames are decoded, so that
/// a file is read and hashed once rather than once per frame (a 60-frame tomosynthesis file of
/// 900 MB would otherwise be read and hashed 60 times). Every frame of a file is then decoded
/// from the very bytes whose hash was checked. Holds at most [`SHARED_SLOTS`] files, the most
/// recent; decoding threads that miss at once each read the file (no lock is held while
/// reading).
#[derive(Debug, Default)]
pub struct SharedFiles(Mutex<Vec<SharedFile>>);

/// A shared file's path, bytes and sha256 (hex).
type SharedFile = (PathBuf, Arc<Vec<u8>>, Arc<str>);

/// How many shared files [`SharedFiles`] keeps: one per decoding thread is enough for frames
/// decoded in case order; two bounds the memory held to two files.
const SHARED_SLOTS: usize = 2;

impl SharedFiles {
    fn get(&self, path: &Path) -> Option<(Arc<Vec<u8>>, Arc<str>)> {
        let files = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        files
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, b, h)| (Arc::clone(b), Arc::clone(h)))
    }

    fn put(&self, path: &Path, bytes: &Arc<Vec<u8>>, sha256: &Arc<str>) {
        let mut files = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if files.iter().any(|(p, _, _)| p == path) {
            return;
        }
        if files.len() == SHARED_SLOTS {
            files.remove(0);
        }
        files.push((path.to_path_buf(), Arc::clone(bytes), Arc::clone(sha256)));
    }
}

/// The reference labels of every case, by the dataset's task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// One binary label per case.
    Binary(Vec<bool>),
    /// Several binary findings per case: `labels[f][i]` is finding `findings[f]` of case `i`.
    Multilabel {
        findings: Vec<String>,
        labels: Vec<Vec<bool>>,
    },
    /// One class per case: `labels[i]` indexes `classes`.
    Multiclass {
        classes: Vec<String>,
        labels: Vec<u32>,
    },
}

impl Targets {
    /// The cases at `positions`, in that order.
    #[must_use]
    pub fn select(&self, positions: &[usize]) -> Targets {
        let pick = |v: &[bool]| positions.iter().map(|&i| v[i]).collect();
        match self {
            Targets::Binary(l) => Targets::Binary(pick(l)),
            Targets::Multilabel { findings, labels } => Targets::Multilabel {
                findings: findings.clone(),
                labels: labels.iter().map(|l| pick(l)).collect(),
            },
            Targets::Multiclass { classes, labels } => Targets::Multiclass {
                classes: classes.clone(),
                labels: positions.iter().map(|&i| labels[i]).collect(),
            },
        }
    }

    /// Cases per class, in class order (multi-class only; empty otherwise).
    #[must_use]
    pub fn class_counts(&self) -> Vec<(String, usize)> {
        match self {
            Targets::Multiclass { classes, labels } => classes
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    (
                        c.clone(),
                        labels.iter().filter(|&&l| l as usize == k).count(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// (column name, labels) as `predictions.csv` holds them: `label` for a binary or
    /// multi-class task (the class names), `label:<finding>` per finding.
    #[must_use]
    pub fn columns(&self) -> Vec<(String, LabelColumn)> {
        let label = || harness_evidence::predictions::LABEL.to_string();
        match self {
            Targets::Binary(l) => vec![(label(), LabelColumn::Binary(l.clone()))],
            Targets::Multilabel { findings, labels } => findings
                .iter()
                .zip(labels)
                .map(|(f, l)| {
                    (
                        harness_evidence::predictions::label_column(f),
                        LabelColumn::Binary(l.clone()),
                    )
                })
                .collect(),
            Targets::Multiclass { classes, labels } => vec![(
                label(),
                LabelColumn::Class {
                    classes: classes.clone(),
                    index: labels.clone(),
                },
            )],
        }
    }

    /// A warning for a label column with one class only (its AUROC is undefined).
    #[must_use]
    pub fn one_class_warning(&self) -> Option<String> {
        let one_class = |l: &[bool]| l.iter().all(|&x| x) || l.iter().all(|&x| !x);
        match self {
            Targets::Binary(l) if one_class(l) => Some(
                "the reference set has only one class; AUROC and most statistics will be undefined"
                    .into(),
            ),
            Targets::Binary(_) => None,
            Targets::Multilabel { findings, labels } => {
                let single: Vec<&str> = findings
                    .iter()
                    .zip(labels)
                    .filter(|(_, l)| one_class(l))
                    .map(|(f, _)| f.as_str())
                    .collect();
                (!single.is_empty()).then(|| {
                    format!(
                        "finding(s) with one class only in the reference set (their AUROCs are undefined and excluded from the macro AUROC): {}",
                        single.join(", ")
                    )
                })
            }
            Targets::Multiclass { .. } => {
                let absent: Vec<String> = self
                    .class_counts()
                    .into_iter()
                    .filter(|(_, n)| *n == 0)
                    .map(|(c, _)| c)
                    .collect();
                (!absent.is_empty()).then(|| {
                    format!(
                        "class(es) without cases in the reference set (their one-vs-rest AUROCs are undefined and excluded from the macro AUROC): {}",
                        absent.join(", ")
                    )
                })
            }
        }
    }
}

/// The cases of a reference dataset, in file order, without their pixels.
#[derive(Debug)]
pub struct CaseIndex {
    pub case_ids: Vec<String>,
    pub targets: Targets,
    /// (column, one value per case); an empty value is kept as is.
    pub groups: Vec<(String, Vec<String>)>,
    pub images: CaseImages,
    /// Limits every decode enforces.
    pub limits: ReadLimits,
}

/// One decoded case with the sha256 of the bytes it was decoded from (`None` for archive members).
#[derive(Debug)]
pub struct DecodedCase {
    pub image: Image,
    pub sha256: Option<String>,
}

impl CaseIndex {
    /// Number of cases.
    #[must_use]
    pub fn len(&self) -> usize {
        self.case_ids.len()
    }

    /// True when there are no cases.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.case_ids.is_empty()
    }

    /// Positive cases (multi-label: cases with at least one finding).
    #[must_use]
    pub fn positives(&self) -> usize {
        match &self.targets {
            Targets::Binary(l) => l.iter().filter(|&&x| x).count(),
            Targets::Multilabel { labels, .. } => (0..self.len())
                .filter(|&i| labels.iter().any(|l| l[i]))
                .count(),
            // No class is "positive".
            Targets::Multiclass { .. } => 0,
        }
    }

    /// The binary labels, or `None` for another task.
    #[must_use]
    pub fn binary_labels(&self) -> Option<&[bool]> {
        match &self.targets {
            Targets::Binary(l) => Some(l),
            Targets::Multilabel { .. } | Targets::Multiclass { .. } => None,
        }
    }

    /// Pairs of cases (earlier, later) whose image is the same: the same file contents as the
    /// dataset's check hashed them (else the same file), at the same frame. A copied image
    /// under two case ids counts twice, and with two labels one of them is wrong.
    #[must_use]
    pub fn same_images(&self) -> Vec<(usize, usize)> {
        let CaseImages::Files {
            files,
            expected_sha256,
            frames,
            ..
        } = &self.images
        else {
            return Vec::new();
        };
        let mut first: std::collections::HashMap<(String, FrameSelect), usize> =
            std::collections::HashMap::new();
        let mut pairs = Vec::new();
        for (i, (file, frame)) in files.iter().zip(frames).enumerate() {
            let image = expected_sha256[i]
                .clone()
                .unwrap_or_else(|| file.display().to_string());
            match first.entry((image, *frame)) {
                std::collections::hash_map::Entry::Occupied(e) => pairs.push((*e.get(), i)),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(i);
                }
            }
        }
        pairs
    }

    /// Reads, hashes and decodes case `i`.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Image`] for an unreadable or undecodable image,
    /// [`PipelineError::DataChanged`] when the bytes read differ from those the
    /// registry check hashed.
    pub fn decode(&self, i: usize) -> Result<DecodedCase, PipelineError> {
        let image_error = |source| PipelineError::Image {
            case: self.case_ids.get(i).cloned().unwrap_or_default(),
            source,
        };
        match &self.images {
            CaseImages::Files {
                files,
                expected_sha256,
                frames,
                shared,
            } => {
                let path = &files[i];
                // A file a neighbouring case shares (another frame of it) is read once.
                let is_shared = files.get(i + 1) == Some(path)
                    || i.checked_sub(1).and_then(|j| files.get(j)) == Some(path);
                let (bytes, actual) = match is_shared.then(|| shared.get(path)).flatten() {
                    Some(hit) => hit,
                    None => {
                        let bytes = Arc::new(read_file(path, &self.limits).map_err(image_error)?);
                        let actual: Arc<str> = Arc::from(sha256_hex(&bytes));
                        if is_shared {
                            shared.put(path, &bytes, &actual);
                        }
                        (bytes, actual)
                    }
                };
                if let Some(expected) = &expected_sha256[i]
                    && !expected.eq_ignore_ascii_case(&actual)
                {
                    return Err(PipelineError::DataChanged {
                        file: path.clone(),
                        expected: expected.clone(),
                        actual: actual.to_string(),
                    });
                }
                let image = decode_image_frame(path, &bytes, &self.limits, frames[i])
                    .map_err(image_error)?;
                Ok(DecodedCase {
                    image,
                    sha256: Some(actual.to_string()),
                })
            }
            CaseImages::Npz { images, members } => Ok(DecodedCase {
                image: images.image(members[i]).map_err(image_error)?,
                sha256: None,
            }),
        }
    }

    /// The index of the cases at `positions` (ascending, in range), in that order: a shard's
    /// cases. Files keep their verified hashes; an archive stays open, its members remapped.
    #[must_use]
    pub fn select(self, positions: &[usize]) -> CaseIndex {
        let pick =
            |v: &[String]| -> Vec<String> { positions.iter().map(|&i| v[i].clone()).collect() };
        let images = match self.images {
            CaseImages::Files {
                files,
                expected_sha256,
                frames,
                ..
            } => CaseImages::Files {
                files: positions.iter().map(|&i| files[i].clone()).collect(),
                expected_sha256: positions
                    .iter()
                    .map(|&i| expected_sha256[i].clone())
                    .collect(),
                frames: positions.iter().map(|&i| frames[i]).collect(),
                shared: SharedFiles::default(),
            },
            CaseImages::Npz { images, members } => CaseImages::Npz {
                images,
                members: positions.iter().map(|&i| members[i]).collect(),
            },
        };
        CaseIndex {
            case_ids: pick(&self.case_ids),
            targets: self.targets.select(positions),
            groups: self
                .groups
                .iter()
                .map(|(name, values)| (name.clone(), pick(values)))
                .collect(),
            images,
            limits: self.limits,
        }
    }
}

/// Loads the case index of `dataset` with the subgroup columns `subgroups`,
/// checking the dataset against its registry pin first (a wrong dataset is
/// refused before any work).
///
/// # Errors
///
/// [`PipelineError::DatasetRefused`] for a missing, unreadable or mismatched
/// dataset; [`PipelineError::Labels`] / [`PipelineError::LabelField`] for a bad
/// labels file; [`PipelineError::Input`] for more cases than `max_cases`.
pub fn load_index(
    registry: &Registry,
    dataset: &Dataset,
    subgroups: &[String],
    limits: &ReadLimits,
    max_cases: usize,
) -> Result<(CaseIndex, DatasetStatus), PipelineError> {
    load_index_cached(registry, dataset, subgroups, limits, max_cases, None)
        .map(|(index, check)| (index, check.status))
}

/// How a dataset's check went: its status, how many files it covered and how many of their
/// hashes came from a [`HashCache`].
#[derive(Debug, Clone)]
pub struct DatasetCheck {
    /// Verified, missing, unreadable or mismatched.
    pub status: DatasetStatus,
    /// Files the check covered (1 for a single-file dataset).
    pub files: usize,
    /// Of those, files whose hash came from the cache instead of a read.
    pub reused: usize,
}

/// [`load_index`], with the hashes of a folder dataset's unchanged files taken from `cache`
/// ([`Registry::check_files_cached`]).
///
/// # Errors
///
/// As [`load_index`].
pub fn load_index_cached(
    registry: &Registry,
    dataset: &Dataset,
    subgroups: &[String],
    limits: &ReadLimits,
    max_cases: usize,
    cache: Option<&HashCache>,
) -> Result<(CaseIndex, DatasetCheck), PipelineError> {
    let root = registry.location(dataset);
    let e = &dataset.entry;
    let rule = match (e.task, e.positive_class.as_deref(), &e.findings, &e.classes) {
        (DatasetTask::Binary, Some(p), ..) => LabelRule::Binary(p),
        (DatasetTask::Multilabel, _, Some(f), _) => LabelRule::Findings(f),
        (DatasetTask::Multiclass, .., Some(c)) => LabelRule::Classes(c),
        (task, ..) => {
            // The registry's validation guarantees each task's keys.
            return Err(PipelineError::Input(format!(
                "dataset '{}' ({task}) lacks its positive_class, findings or classes",
                dataset.name
            )));
        }
    };
    let refused = |status: DatasetStatus| PipelineError::DatasetRefused {
        dataset: dataset.name.clone(),
        status: Box::new(status),
    };
    match e.format {
        DatasetFormat::ImageFolder => {
            let checked = registry.check_files_cached(dataset, cache);
            if !checked.status.is_verified() {
                return Err(refused(checked.status));
            }
            let index = load_folder(
                &root,
                dataset,
                &rule,
                subgroups,
                limits,
                max_cases,
                &checked.files,
            )?;
            Ok((
                index,
                DatasetCheck {
                    status: checked.status,
                    files: checked.files.len(),
                    reused: checked.reused,
                },
            ))
        }
        DatasetFormat::MedmnistNpz => {
            if let Some(g) = subgroups.first() {
                return Err(PipelineError::Labels {
                    file: root,
                    message: format!(
                        "a MedMNIST archive has no metadata columns, so subgroup '{g}' cannot be used"
                    ),
                });
            }
            // One read: the pin is checked on the bytes that are then decoded.
            let bytes = std::fs::read(&root).map_err(|err| {
                refused(if err.kind() == std::io::ErrorKind::NotFound {
                    DatasetStatus::Missing { path: root.clone() }
                } else {
                    DatasetStatus::Unreadable {
                        path: root.clone(),
                        reason: err.to_string(),
                    }
                })
            })?;
            let pin = e.pin();
            let status = pin.status(root.clone(), &pin.digest(&bytes));
            if !status.is_verified() {
                return Err(refused(status));
            }
            let split = e.split.as_deref().unwrap_or("test");
            let npz = decode_npz_split(&root, &bytes, split, limits)?;
            drop(bytes);
            let n = npz.images.len();
            if n > max_cases {
                return Err(too_many(&root, n, max_cases));
            }
            let targets = npz_targets(&rule, &npz.labels, registry, dataset, &root, split)?;
            let case_ids = (0..n).map(|i| format!("{split}-{i:05}")).collect();
            let index = CaseIndex {
                case_ids,
                targets,
                groups: Vec::new(),
                images: CaseImages::Npz {
                    members: (0..n).collect(),
                    images: npz.images,
                },
                limits: *limits,
            };
            Ok((
                index,
                DatasetCheck {
                    status,
                    files: 1,
                    reused: 0,
                },
            ))
        }
        DatasetFormat::ScoresCsv => Err(PipelineError::Labels {
            file: root,
            message: format!(
                "dataset '{}' holds scores, not images: evaluate it with `harness eval`",
                dataset.name
            ),
        }),
    }
}

/// How a dataset's label values become [`Targets`].
enum LabelRule<'a> {
    /// The label value that is positive.
    Binary(&'a str),
    /// The findings, each a 0/1 column (of a labels CSV, or of a MedMNIST label matrix).
    Findings(&'a [String]),
    /// The classes, in label-index order: a label is a class name or its index.
    Classes(&'a [String]),
}

/// A binary label column's two values: the dataset's `positive_class` and one other, the
/// negative, which is the first other value met. A third value is refused rather than counted
/// as negative: a label coded `-1` (uncertain), `positive` in a 0/1 column or a `positive_class`
/// that does not match the column would otherwise turn cases negative without a word. Where the
/// positive class is a number, labels compare as numbers (`1.0` is `1`).
struct BinaryLabels<'a> {
    positive: &'a str,
    /// The positive class as a number, where it is one.
    numeric: Option<f64>,
    /// The negative value (as first written), its number where numeric, and its line.
    negative: Option<(String, Option<f64>, u64)>,
}

impl<'a> BinaryLabels<'a> {
    fn new(positive: &'a str) -> Self {
        // Compared as the labels are: without surrounding spaces.
        let positive = positive.trim();
        let numeric = positive.parse::<f64>().ok().filter(|v| v.is_finite());
        BinaryLabels {
            positive,
            numeric,
            negative: None,
        }
    }

    /// Whether the label `value` (of line `line`) is the positive class.
    fn positive(&mut self, value: &str, line: u64) -> Result<bool, String> {
        let number = match self.numeric {
            None => None,
            Some(_) => Some(
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        format!(
                            "not a finite number, but the dataset's positive_class '{}' is one",
                            self.positive
                        )
                    })?,
            ),
        };
        if number.map_or(value == self.positive, |v| Some(v) == self.numeric) {
            return Ok(true);
        }
        match &self.negative {
            None => {
                self.negative = Some((value.to_string(), number, line));
                Ok(false)
            }
            Some((_, Some(n), _)) if number == Some(*n) => Ok(false),
            Some((first, None, _)) if first == value => Ok(false),
            Some((first, _, first_line)) => {
                // "True"/"False" against positive_class "true": no value is the positive class.
                let case = [value, first.as_str()]
                    .into_iter()
                    .find(|v| v.eq_ignore_ascii_case(self.positive))
                    .map(|v| {
                        format!(
                            " ('{v}' differs from the positive_class '{}' only in letter case: labels are compared exactly)",
                            self.positive
                        )
                    })
                    .unwrap_or_default();
                Err(format!(
                    "a third label value: a binary label is the positive_class '{}' or one other value, here '{first}' (line {first_line}){case}; recode the column, or set the dataset's positive_class",
                    self.positive
                ))
            }
        }
    }
}

/// The class of a label value: its name, or its index in class order.
fn class_of(classes: &[String], value: &str) -> Option<u32> {
    classes
        .iter()
        .position(|c| c == value)
        .or_else(|| value.parse::<usize>().ok().filter(|&k| k < classes.len()))
        .and_then(|k| u32::try_from(k).ok())
}

/// A MedMNIST split's label rows as targets: one column compared with the positive class, or
/// one 0/1 column per finding (ChestMNIST's 14).
fn npz_targets(
    rule: &LabelRule,
    rows: &[Vec<u8>],
    registry: &Registry,
    dataset: &Dataset,
    root: &Path,
    split: &str,
) -> Result<Targets, PipelineError> {
    let width = match rule {
        LabelRule::Binary(_) | LabelRule::Classes(_) => 1,
        LabelRule::Findings(f) => f.len(),
    };
    if let Some(k) = rows.iter().map(Vec::len).find(|&k| k != width) {
        return Err(PipelineError::Labels {
            file: root.to_path_buf(),
            message: match rule {
                LabelRule::Binary(_) | LabelRule::Classes(_) => format!(
                    "'{split}_labels' has {k} columns per case (a multi-label task); dataset '{}' declares one label per case",
                    dataset.name
                ),
                LabelRule::Findings(f) => format!(
                    "'{split}_labels' has {k} columns per case, but dataset '{}' declares {} findings",
                    dataset.name,
                    f.len()
                ),
            },
        });
    }
    match rule {
        LabelRule::Binary(positive_class) => {
            let positive: u8 = positive_class.parse().map_err(|_| PipelineError::Labels {
                file: registry.file.clone(),
                message: format!(
                    "dataset '{}': positive_class '{}' is not a MedMNIST label (0-255)",
                    dataset.name, positive_class
                ),
            })?;
            Ok(Targets::Binary(
                rows.iter().map(|row| row[0] == positive).collect(),
            ))
        }
        LabelRule::Classes(classes) => {
            let labels = rows
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    let k = row[0];
                    if usize::from(k) < classes.len() {
                        Ok(u32::from(k))
                    } else {
                        Err(PipelineError::Labels {
                            file: root.to_path_buf(),
                            message: format!(
                                "'{split}_labels' row {i}: label {k} is not a class index (dataset '{}' declares {} classes)",
                                dataset.name,
                                classes.len()
                            ),
                        })
                    }
                })
                .collect::<Result<_, _>>()?;
            Ok(Targets::Multiclass {
                classes: classes.to_vec(),
                labels,
            })
        }
        LabelRule::Findings(findings) => {
            let mut labels = vec![Vec::with_capacity(rows.len()); findings.len()];
            for (i, row) in rows.iter().enumerate() {
                for (f, &v) in row.iter().enumerate() {
                    if v > 1 {
                        return Err(PipelineError::Labels {
                            file: root.to_path_buf(),
                            message: format!(
                                "'{split}_labels' row {i}, column {f} ({}): value {v}; a finding is 0 or 1",
                                findings[f]
                            ),
                        });
                    }
                    labels[f].push(v == 1);
                }
            }
            Ok(Targets::Multilabel {
                findings: findings.to_vec(),
                labels,
            })
        }
    }
}

/// `a/./b` and `./a/b` as the registry's listing writes them: `a/b`.
fn normalise_relative(p: &str) -> String {
    p.split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn too_many(file: &Path, n: usize, max: usize) -> PipelineError {
    PipelineError::Input(format!(
        "{}: more cases than the suite's limit of {max} (at least {n}; raise [limits] max_cases to evaluate them all)",
        file.display()
    ))
}

/// The folder's DICOM files by the value of attribute `key` in their headers (relative paths,
/// as the registry's listing names them). Files that are not DICOM (a README, the labels) are
/// passed over; two files with one key value are refused, naming both.
fn files_by_dicom_key(
    root: &Path,
    key: &str,
    labels_rel: &str,
    hashed: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, PipelineError> {
    let tag = DicomMetadata::key_tag(key).map_err(PipelineError::Input)?;
    let read = hashed
        .keys()
        .filter(|rel| rel.as_str() != labels_rel)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|rel| {
            let path = root.join(rel);
            let head = read_head(&path)?;
            if !is_dicom(&path, &head) {
                return Ok(None);
            }
            Ok(read_key(&path, tag)?.map(|v| (v, (*rel).clone())))
        })
        .collect::<Result<Vec<_>, PipelineError>>()?;
    let mut by_key = BTreeMap::new();
    for (value, rel) in read.into_iter().flatten() {
        if let Some(other) = by_key.insert(value.clone(), rel.clone()) {
            return Err(PipelineError::Input(format!(
                "{}: {other} and {rel} have the same {key} ({value}); a case id must name one file",
                root.display()
            )));
        }
    }
    Ok(by_key)
}

/// The first 132 bytes of a file (enough to recognise DICOM).
fn read_head(path: &Path) -> Result<Vec<u8>, PipelineError> {
    use std::io::Read;
    let mut head = Vec::with_capacity(132);
    std::fs::File::open(path)
        .and_then(|f| f.take(132).read_to_end(&mut head))
        .map_err(|source| harness_data::images::ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(head)
}

fn load_folder(
    root: &Path,
    dataset: &Dataset,
    rule: &LabelRule,
    subgroups: &[String],
    limits: &ReadLimits,
    max_cases: usize,
    hashed: &BTreeMap<String, String>,
) -> Result<CaseIndex, PipelineError> {
    let e = &dataset.entry;
    // Validation guarantees these keys for image folders.
    let labels_rel = e.labels.as_deref().unwrap_or("labels.csv");
    let labels_file = root.join(labels_rel);
    let id_col = e.id_column.as_deref().unwrap_or("case_id");
    let img_col = e.image_column.as_deref().unwrap_or("image");
    let file_err = |message: String| PipelineError::Labels {
        file: labels_file.clone(),
        message,
    };
    // The labels are parsed from the bytes that are hashed against the registry's listing.
    let bytes =
        std::fs::read(&labels_file).map_err(|err| file_err(format!("cannot read: {err}")))?;
    if let Some(expected) = hashed.get(&labels_rel.replace('\\', "/")) {
        let actual = sha256_hex(&bytes);
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(PipelineError::DataChanged {
                file: labels_file.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    if let Some(encoding) = harness_data::foreign_unicode(&bytes) {
        return Err(file_err(harness_data::not_utf8(encoding)));
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let header = rdr
        .headers()
        .map_err(|err| file_err(format!("bad header: {err}")))?
        .clone();
    let find = |name: &str| {
        let column = |h: &str| h.trim_start_matches('\u{feff}').to_string();
        header
            .iter()
            .position(|h| column(h) == name)
            .ok_or_else(|| {
                // A header written `case_id, image, label` names ' label', not 'label'.
                let spaced = header
                    .iter()
                    .find(|h| column(h).trim() == name)
                    .map(|h| {
                        format!(
                            "; did you mean '{}' (spaces around a column name are part of it)?",
                            column(h)
                        )
                    })
                    .unwrap_or_default();
                file_err(format!(
                    "no column '{name}' (columns: {}){spaced}",
                    header
                        .iter()
                        .map(|h| format!("'{}'", column(h)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    };
    let ic = find(id_col)?;
    // The label column(s): the binary label, or one 0/1 column per finding.
    let label_columns: Vec<(usize, &str)> = match rule {
        LabelRule::Binary(_) | LabelRule::Classes(_) => vec![(find(&e.label)?, e.label.as_str())],
        LabelRule::Findings(findings) => findings
            .iter()
            .map(|f| Ok((find(f)?, f.as_str())))
            .collect::<Result<_, PipelineError>>()?,
    };
    // Each case's file: from the image column, or found by its DICOM key (e.g. the SOP
    // Instance UID) among the folder's files.
    let (mc, by_key) = match &e.dicom_key {
        None => (Some(find(img_col)?), None),
        Some(key) => (
            None,
            Some(files_by_dicom_key(root, key, labels_rel, hashed)?),
        ),
    };
    // A subgroup is a labels column, or else one the dataset reads from DICOM headers.
    let metadata = DicomMetadata::new(&e.dicom_subgroups).map_err(&file_err)?;
    let mut gcs = Vec::with_capacity(subgroups.len());
    for g in subgroups {
        gcs.push(match find(g) {
            Ok(col) => Some(col),
            Err(_) if e.dicom_subgroups.contains_key(g) => None,
            Err(err) => return Err(err),
        });
    }

    let mut case_ids = Vec::new();
    let mut labels: Vec<Vec<bool>> = vec![Vec::new(); label_columns.len()];
    // Multi-class: each case's class index.
    let mut classes: Vec<u32> = Vec::new();
    let mut groups: Vec<(String, Vec<String>)> =
        subgroups.iter().map(|g| (g.clone(), Vec::new())).collect();
    let mut files = Vec::new();
    let mut expected_sha256 = Vec::new();
    let mut seen = HashSet::new();
    let mut binary = match rule {
        LabelRule::Binary(positive) => Some(BinaryLabels::new(positive)),
        _ => None,
    };
    for rec in rdr.records() {
        let rec = rec.map_err(|err| file_err(err.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let field = |col: usize, name: &str, message: &str| PipelineError::LabelField {
            file: labels_file.clone(),
            line,
            column: name.to_string(),
            value: rec.get(col).unwrap_or("").to_string(),
            message: message.to_string(),
        };
        // Compared without surrounding spaces, as every reader of the run's predictions.csv
        // compares them (`a` and `a ` are one case there).
        let id = rec.get(ic).unwrap_or("").trim();
        if id.is_empty() {
            return Err(field(ic, id_col, "empty case id"));
        }
        if !seen.insert(id.to_string()) {
            return Err(field(
                ic,
                id_col,
                "duplicate case id (ids are compared without surrounding spaces)",
            ));
        }
        for ((col, name), out) in label_columns.iter().zip(&mut labels) {
            let value = rec.get(*col).unwrap_or("").trim();
            out.push(match rule {
                _ if value.is_empty() => return Err(field(*col, name, "empty label")),
                LabelRule::Binary(_) => match binary.as_mut().map(|b| b.positive(value, line)) {
                    Some(Ok(positive)) => positive,
                    Some(Err(why)) => return Err(field(*col, name, &why)),
                    None => unreachable!("a binary rule has its label values"),
                },
                LabelRule::Findings(_) => match value {
                    "1" | "1.0" => true,
                    "0" | "0.0" => false,
                    _ => return Err(field(*col, name, "a finding's label is 0 or 1")),
                },
                LabelRule::Classes(names) => {
                    let k = class_of(names, value).ok_or_else(|| {
                        field(
                            *col,
                            name,
                            &format!(
                                "not a class of the dataset ({}) nor a class index below {}",
                                names.join(", "),
                                names.len()
                            ),
                        )
                    })?;
                    classes.push(k);
                    false
                }
            });
        }
        let img = match (mc, &by_key) {
            (Some(mc), _) => {
                let img = rec.get(mc).unwrap_or("");
                check_relative(img).map_err(|m| field(mc, img_col, &m))?;
                img
            }
            (None, Some(by_key)) => by_key.get(id).map(String::as_str).ok_or_else(|| {
                field(
                    ic,
                    id_col,
                    &format!(
                        "no DICOM file in the dataset folder has {} = this case id",
                        e.dicom_key.as_deref().unwrap_or_default()
                    ),
                )
            })?,
            (None, None) => unreachable!("an image column or a DICOM key is always set"),
        };
        case_ids.push(id.to_string());
        for ((_, vals), gc) in groups.iter_mut().zip(&gcs) {
            // DICOM subgroups are filled in below, from the headers.
            vals.push(gc.map_or("", |c| rec.get(c).unwrap_or("")).to_string());
        }
        // Every image must be one of the files the registry check hashed: a missing or
        // misspelt file is refused here, before any inference.
        let rel = normalise_relative(img);
        match hashed.get(&rel) {
            Some(h) => expected_sha256.push(Some(h.clone())),
            None if hashed.is_empty() => expected_sha256.push(None),
            None => {
                return Err(field(
                    mc.unwrap_or(ic),
                    img_col,
                    "no such file in the dataset folder",
                ));
            }
        }
        // Opened as checked: `images\a.png` from a Windows export is `images/a.png`.
        files.push(root.join(&rel));
        if files.len() > max_cases {
            return Err(too_many(&labels_file, files.len(), max_cases));
        }
    }
    if files.is_empty() {
        return Err(file_err("no cases".into()));
    }
    let policy = e.frames;
    let mut frames = vec![policy.select(); files.len()];
    let from_headers = gcs.iter().any(Option::is_none);
    if from_headers || policy == FramePolicy::All {
        // Headers only (up to the pixel data), in parallel; pixels are decoded later, once.
        let facts = files
            .par_iter()
            .map(|f| header_facts(&metadata, f))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<&str> = metadata.names().collect();
        for ((name, vals), gc) in groups.iter_mut().zip(&gcs) {
            if gc.is_none() {
                let k = names.iter().position(|n| n == name).unwrap_or_default();
                for (v, f) in vals.iter_mut().zip(&facts) {
                    v.clone_from(&f.levels[k]);
                }
            }
        }
        if policy == FramePolicy::All {
            let expanded: Vec<usize> = facts
                .iter()
                .enumerate()
                .flat_map(|(i, f)| std::iter::repeat_n(i, f.frames as usize))
                .collect();
            if expanded.len() > max_cases {
                return Err(too_many(&labels_file, expanded.len(), max_cases));
            }
            let mut next_frame = vec![0u32; files.len()];
            frames = expanded
                .iter()
                .map(|&i| {
                    let k = next_frame[i];
                    next_frame[i] += 1;
                    FrameSelect::Index(k)
                })
                .collect();
            case_ids = expanded
                .iter()
                .zip(&frames)
                .map(|(&i, f)| match f {
                    FrameSelect::Index(k) => format!("{}#{k}", case_ids[i]),
                    _ => case_ids[i].clone(),
                })
                .collect();
            for l in &mut labels {
                *l = expanded.iter().map(|&i| l[i]).collect();
            }
            if !classes.is_empty() {
                classes = expanded.iter().map(|&i| classes[i]).collect();
            }
            for (_, vals) in &mut groups {
                *vals = expanded.iter().map(|&i| vals[i].clone()).collect();
            }
            files = expanded.iter().map(|&i| files[i].clone()).collect();
            expected_sha256 = expanded
                .iter()
                .map(|&i| expected_sha256[i].clone())
                .collect();
        }
    }
    let targets = match rule {
        LabelRule::Binary(_) => Targets::Binary(labels.pop().unwrap_or_default()),
        LabelRule::Classes(names) => Targets::Multiclass {
            classes: names.to_vec(),
            labels: classes,
        },
        LabelRule::Findings(findings) => Targets::Multilabel {
            findings: findings.to_vec(),
            labels,
        },
    };
    Ok(CaseIndex {
        case_ids,
        targets,
        groups,
        images: CaseImages::Files {
            files,
            expected_sha256,
            frames,
            shared: SharedFiles::default(),
        },
        limits: *limits,
    })
}

/// What a case file's header gives: a DICOM file's declared subgroup levels and frames, or
/// (where no DICOM subgroup is declared) a TIFF's number of pages, read from its image
/// directories. A file is DICOM by its `DICM` marker first: a DICOM file's preamble may be a
/// TIFF header.
fn header_facts(metadata: &DicomMetadata, path: &Path) -> Result<HeaderFacts, ImageError> {
    if metadata.is_empty() {
        let mut head = Vec::with_capacity(132);
        let read = std::fs::File::open(path)
            .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 132), &mut head));
        if read.is_ok() && !is_dicom(path, &head) && harness_data::is_tiff(&head) {
            return Ok(HeaderFacts {
                levels: Vec::new(),
                frames: harness_data::count_tiff_pages(path)?,
            });
        }
    }
    metadata.read(path)
}

#[cfg(test)]
mod binary_label_tests {
    use super::BinaryLabels;

    /// Labels that differ from the positive class only in letter case are named as such.
    #[test]
    fn a_positive_class_in_another_letter_case_is_named() {
        let mut labels = BinaryLabels::new("true");
        assert_eq!(labels.positive("False", 2), Ok(false));
        let err = labels.positive("True", 3).unwrap_err();
        assert!(
            err.contains("'True' differs from the positive_class 'true' only in letter case"),
            "{err}"
        );
        let mut numbers = BinaryLabels::new("1");
        assert_eq!(numbers.positive("0", 2), Ok(false));
        assert!(
            !numbers
                .positive("-1", 3)
                .unwrap_err()
                .contains("letter case")
        );
    }
}
