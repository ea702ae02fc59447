//! Loading a registered reference dataset for a suite run: case ids, labels,
//! subgroup metadata and decoded images, from an `image-folder` (labels CSV +
//! PNG/JPEG/DICOM files) or a MedMNIST `.npz`. Images are decoded in parallel
//! and kept in memory (a reference set is small next to the models' work).

use harness_data::images::{Image, ReadLimits, read_image, read_npz_split};
use harness_data::registry::{Dataset, DatasetFormat, Registry, check_relative};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The cases of a reference dataset, in file order.
#[derive(Debug, Clone)]
pub struct ReferenceSet {
    pub case_ids: Vec<String>,
    pub labels: Vec<bool>,
    /// (column, one value per case); an empty value is kept as is.
    pub groups: Vec<(String, Vec<String>)>,
    pub images: Vec<Image>,
}

impl ReferenceSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|&&l| l).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
    #[error("{file}:{line}: column '{column}' has '{value}': {message}")]
    Field { file: PathBuf, line: u64, column: String, value: String, message: String },
    #[error(transparent)]
    Image(#[from] harness_data::images::ImageError),
}

/// Loads `dataset` with the subgroup columns `subgroups` (which must exist).
pub fn load_reference(
    registry: &Registry,
    dataset: &Dataset,
    subgroups: &[String],
    limits: &ReadLimits,
    max_cases: usize,
) -> Result<ReferenceSet, DatasetError> {
    let root = registry.location(dataset);
    let e = &dataset.entry;
    match e.format {
        DatasetFormat::ImageFolder => load_folder(&root, dataset, subgroups, limits, max_cases),
        DatasetFormat::MedmnistNpz => {
            if let Some(g) = subgroups.first() {
                return Err(DatasetError::File {
                    file: root,
                    message: format!("a MedMNIST archive has no metadata columns, so subgroup '{g}' cannot be used"),
                });
            }
            let split = e.split.as_deref().unwrap_or("test");
            let s = read_npz_split(&root, split, limits)?;
            if s.images.len() > max_cases {
                return Err(too_many(&root, s.images.len(), max_cases));
            }
            let positive: u8 = e.positive_class.parse().map_err(|_| DatasetError::File {
                file: registry.file.clone(),
                message: format!("dataset '{}': positive_class '{}' is not a MedMNIST label (0-255)", dataset.name, e.positive_class),
            })?;
            let labels = s.labels.iter().map(|row| row.first() == Some(&positive)).collect();
            let case_ids = (0..s.images.len()).map(|i| format!("{split}-{i:05}")).collect();
            Ok(ReferenceSet { case_ids, labels, groups: Vec::new(), images: s.images })
        }
        DatasetFormat::ScoresCsv => Err(DatasetError::File {
            file: root,
            message: format!("dataset '{}' holds scores, not images: evaluate it with `harness eval`", dataset.name),
        }),
    }
}

fn too_many(file: &Path, n: usize, max: usize) -> DatasetError {
    DatasetError::File { file: file.to_path_buf(), message: format!("{n} cases exceed the suite's limit of {max} (limits.max_cases)") }
}

fn load_folder(
    root: &Path,
    dataset: &Dataset,
    subgroups: &[String],
    limits: &ReadLimits,
    max_cases: usize,
) -> Result<ReferenceSet, DatasetError> {
    let e = &dataset.entry;
    // Validation guarantees these keys for image folders.
    let labels_file = root.join(e.labels.as_deref().unwrap_or("labels.csv"));
    let id_col = e.id_column.as_deref().unwrap_or("case_id");
    let img_col = e.image_column.as_deref().unwrap_or("image");
    let file_err = |message: String| DatasetError::File { file: labels_file.clone(), message };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(&labels_file)
        .map_err(|err| file_err(format!("cannot read: {err}")))?;
    let header = rdr.headers().map_err(|err| file_err(format!("bad header: {err}")))?.clone();
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| file_err(format!("no column '{name}' (columns: {})", header.iter().collect::<Vec<_>>().join(", "))))
    };
    let (ic, mc, lc) = (find(id_col)?, find(img_col)?, find(&e.label)?);
    let gcs = subgroups.iter().map(|g| find(g)).collect::<Result<Vec<_>, _>>()?;

    let mut set = ReferenceSet {
        case_ids: Vec::new(),
        labels: Vec::new(),
        groups: subgroups.iter().map(|g| (g.clone(), Vec::new())).collect(),
        images: Vec::new(),
    };
    let mut paths = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|err| file_err(err.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let field = |col: usize, name: &str, message: &str| DatasetError::Field {
            file: labels_file.clone(),
            line,
            column: name.to_string(),
            value: rec.get(col).unwrap_or("").to_string(),
            message: message.to_string(),
        };
        let id = rec.get(ic).unwrap_or("");
        if id.is_empty() {
            return Err(field(ic, id_col, "empty case id"));
        }
        if !seen.insert(id.to_string()) {
            return Err(field(ic, id_col, "duplicate case id"));
        }
        let label = rec.get(lc).unwrap_or("").trim();
        if label.is_empty() {
            return Err(field(lc, &e.label, "empty label"));
        }
        let img = rec.get(mc).unwrap_or("");
        check_relative(img).map_err(|m| field(mc, img_col, &m))?;
        set.case_ids.push(id.to_string());
        set.labels.push(label == e.positive_class);
        for ((_, vals), &gc) in set.groups.iter_mut().zip(&gcs) {
            vals.push(rec.get(gc).unwrap_or("").to_string());
        }
        paths.push(root.join(img));
        if paths.len() > max_cases {
            return Err(too_many(&labels_file, paths.len(), max_cases));
        }
    }
    if paths.is_empty() {
        return Err(file_err("no cases".into()));
    }
    set.images = paths.par_iter().map(|p| read_image(p, limits)).collect::<Result<Vec<_>, _>>()?;
    Ok(set)
}
