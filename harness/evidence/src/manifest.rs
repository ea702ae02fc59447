//! `manifest.json`: what a bundle is evidence *of* — the tool, the suite, the
//! dataset and model hashes, the machine, the seeds, the times — and the sha256
//! of every other file in the bundle. It is written last, so a bundle without a
//! manifest is by construction incomplete.

use crate::evaluation::EvalSettings;
use harness_metrics::registry::RankingMetric;
pub use harness_types::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The bundle format this code writes and reads.
pub const FORMAT: &str = "harness-evidence/1";
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The detached ed25519 signature of `manifest.json`, when signed.
pub const SIGNATURE: &str = "manifest.sig";
/// Present while a run is writing the bundle; removed only after the manifest is in place.
pub const INCOMPLETE: &str = "INCOMPLETE";
/// Per case and candidate: the evaluated probabilities (and the labels, subgroups, patients).
pub const PREDICTIONS: &str = "predictions.csv";
/// The statistics (`harness eval`'s JSON layout for the dataset's task).
pub const METRICS: &str = "metrics.json";
/// The cross-engine agreement on the seeded sample.
pub const AGREEMENT: &str = "agreement.json";
/// The speed measurements (`harness bench`'s JSON layout).
pub const PERFORMANCE: &str = "performance.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// True only when every step of the run finished and every file was written.
    pub complete: bool,
    pub tool: ToolInfo,
    pub suite: InputFile,
    pub dataset: DatasetRecord,
    pub candidates: Vec<CandidateRecord>,
    /// How `metrics.json` is recomputed from `predictions.csv`.
    pub evaluation: EvalSettings,
    /// The suite's primary metric, by which `leaderboard` ranks the candidates. Absent in
    /// bundles written before it was recorded (they rank by AUROC, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_metric: Option<RankingMetric>,
    /// The primary backend whose predictions were evaluated.
    pub primary_backend: String,
    /// How the evaluated predictions were produced (engine, device, any GPU fallback) and how
    /// the other engines were cross-checked. Absent in bundles written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference: Option<InferenceRecord>,
    /// The machine the run was measured on (see `performance.json` for details).
    pub machine: serde_json::Value,
    /// Set in a partial bundle: which shard of the full run it holds (its cases' positions
    /// are in `shard.json`). A partial bundle has no metrics; `harness merge` computes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// Set in a merged bundle: the partial bundles it was merged from, each pinned by the
    /// sha256 of its manifest (a copy of which is in the bundle under `shards/`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardPin>,
    /// Set in a site bundle of a federated evaluation: the site's name. The bundle holds the
    /// site's count tables (`site.json`, for `harness pool`) instead of predictions and metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The acceptance criteria the results were gated on and each verdict (a run's or merge's;
    /// absent where none was given, and in shards' and sites' bundles, which gate nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<crate::gate::Acceptance>,
    /// Wall-clock times (UTC, RFC 3339). The only time-dependent part of the bundle
    /// besides `performance.json`.
    pub started_at: String,
    pub finished_at: String,
    /// sha256 of every other file in the bundle, by path relative to the bundle.
    pub files: BTreeMap<String, String>,
}

/// One partial bundle of a merged bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardPin {
    /// 1-based shard index.
    pub index: u32,
    /// Its cases.
    pub cases: u64,
    /// Where its index came from (`--shard I/N`, Slurm, Kubernetes).
    pub source: crate::shard::ShardSource,
    /// sha256 of its `manifest.json`, copied into the merged bundle as
    /// `shards/part-<index>/manifest.json`.
    pub manifest_sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    pub git_commit: Option<String>,
}

/// A file outside the bundle that the run read, pinned by its sha256.
/// `path` is relative to the project root (the folder of `datasets.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    pub path: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub name: String,
    pub title: String,
    pub format: String,
    pub path: String,
    /// `sha256:<hex>` or `md5:<hex>`, as pinned in the registry and verified before the run.
    pub digest: String,
    pub cases: u64,
    pub positives: u64,
    pub synthetic: bool,
    pub licence: String,
    pub provenance: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citation: Option<String>,
    /// How the registry entry read the cases from the pinned files
    /// (`DatasetEntry::reading_sha256`: label, id and image columns, positive class, frames,
    /// split, ...); absent in bundles older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading_sha256: Option<String>,
    /// How the check against the pin covered the dataset's files in this run (absent in a
    /// merged bundle: each shard's manifest has its own, and in bundles older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<PinCheck>,
}

/// How the registry check before a run read the dataset: every file's hash enters the folder
/// digest compared with the pin, but a file whose size, times and inode are unchanged since an
/// earlier run hashed it may take that hash from the run's hash cache instead of being read
/// again. Every evaluated file is hashed as it is decoded either way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinCheck {
    /// Files the check covered (1 for a single-file dataset).
    pub files: u64,
    /// Of those, files whose hash came from the hash cache instead of a read.
    pub hashes_from_cache: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    pub name: String,
    pub model: InputFile,
    /// One entry per backend the suite asked for.
    pub backends: Vec<BackendRecord>,
    /// `ok`, or `failed` with the reason (JSON fields `status` and `reason`).
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What the run noticed about this candidate's outputs that its figures depend on (a
    /// softmax applied to rows that were probabilities already): the report lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendRecord {
    pub backend: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `ok`, or `unavailable`/`failed` with the reason (JSON fields `status` and `reason`).
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The accuracy pass as it ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferenceRecord {
    /// The engine whose probabilities are in `predictions.csv` and were evaluated.
    pub engine: String,
    /// The device it ran on: `cpu` or `cuda`.
    pub device: harness_types::Device,
    /// The suite's `[inference] device`.
    pub requested_device: String,
    /// Why the requested device was not used (e.g. no CUDA provider), when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// Cases per inference call (a model whose batch is fixed runs at its own size).
    pub batch_size: usize,
    /// How many cases the other engines were cross-checked on.
    pub agreement_cases: u64,
    /// How those cases were drawn.
    pub agreement_sampling: String,
    /// The run's images whose files say they are to be turned for display, when any do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turned_images: Option<TurnedImages>,
}

/// A run's images whose files carry an EXIF Orientation tag other than "as stored": how many,
/// and the first in case order. A candidate whose preprocessing takes the pixels as stored
/// (`exif_orientation = "ignore"`) is warned ([`TurnedImages::warning`]); a merge adds the
/// shards' up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnedImages {
    pub count: u64,
    /// The first one's case id (none in a federated site's bundle, which names no case) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_case: Option<String>,
    /// ... its row among the run's cases (from 0, in `predictions.csv` order; likewise) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_row: Option<u64>,
    /// ... and its EXIF Orientation value (2-8).
    pub first_exif: u8,
}

impl TurnedImages {
    /// What a candidate that takes the images as stored is told, in a run of `cases` cases.
    #[must_use]
    pub fn warning(&self, cases: usize) -> String {
        let how = harness_data::images::Orientation::from_exif(self.first_exif)
            .map_or("of an unknown orientation", harness_data::images::turn_text);
        let first = match &self.first_case {
            Some(case) => format!("the first, case '{case}'"),
            None => "the first".to_string(),
        };
        format!(
            "{} of {cases} images carry an EXIF Orientation tag ({first}: {how}) that its preprocess ignores, as PIL's Image.open and torchvision read images: the model sees them as stored, not as displayed. If it was trained on upright images (PIL's ImageOps.exif_transpose, OpenCV's imread with IMREAD_COLOR or IMREAD_GRAYSCALE), set preprocess.exif_orientation = \"apply\"",
            self.count
        )
    }
}
