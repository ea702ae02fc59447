//! Reading the harness's inputs, strictly and fast, with bad input reported by file, line,
//! column and value:
//! - the evaluation CSV (a label column, model-score columns, subgroup and patient columns),
//!   with its case-id, quoting, separator and look-alike-level checks;
//! - the dataset registry (`datasets.toml`, [`registry`]): entries, pins (SHA-256 or MD5),
//!   the folder digest and its hash cache (`.harness-cache/`);
//! - images ([`images`]): PNG, JPEG, TIFF (a page of a multi-page file), DICOM (with its frame codecs, rescale and window) and
//!   NumPy/MedMNIST arrays, decoded within size limits ([`bounded`]).
//!
//! It computes no statistics; metrics live in `harness-metrics`.

mod atomic;
pub mod bounded;
mod csv_table;
mod error;
mod hash_cache;
pub mod images;
mod interner;
mod numbers;
mod records;
pub mod registry;
mod scan;

use std::path::{Path, PathBuf};

pub use atomic::{write_atomic, write_private};
pub use bounded::{BoundedReadError, read_at_most};
pub use error::{CellLocation, DataError};
pub use images::{
    DicomFrames, DicomInfo, FrameSelect, Image, ImageError, ImageSource, NpzCases, NpzImages,
    NpzSplit, ReadLimits, SelectError, Window, apply_window, count_tiff_pages, decode_dicom_frames,
    decode_image, decode_image_frame, decode_npz_split, is_tiff, read_file, read_image,
    read_npz_split,
};

/// The level name given to an empty group field.
///
/// Levels are sorted by byte order, so `"(missing)"` sorts before names
/// starting with a letter or digit. A field whose text is literally
/// `(missing)` joins the same level.
pub const MISSING_LEVEL: &str = "(missing)";

/// Whether `column` names one of the columns every `predictions.csv` holds already — the case
/// id, the label, or a finding's label (`label:<finding>`, multi-label) — which no dataset
/// column a run copies there (patient, subgroup) and no suite subgroup may be named.
/// (`harness_evidence::predictions` writes them; its tests keep the two in step.)
#[must_use]
pub fn is_predictions_column(column: &str) -> bool {
    column == "case_id" || column == "label" || column.starts_with("label:")
}

/// The Unicode encoding other than UTF-8 that text `bytes` is in, if it is one a spreadsheet or
/// editor saves (Excel's "Unicode Text" is UTF-16LE): told by its byte-order mark, or, without
/// one, by the NUL byte beside each of its first two ASCII characters. `None` for UTF-8 (with or
/// without a mark), ASCII and anything else.
#[must_use]
pub fn foreign_unicode(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xFE, 0, 0, ..] => Some("UTF-32LE"),
        [0, 0, 0xFE, 0xFF, ..] => Some("UTF-32BE"),
        [0xFF, 0xFE, ..] => Some("UTF-16LE"),
        [0xFE, 0xFF, ..] => Some("UTF-16BE"),
        [a, 0, b, 0, ..] if a.is_ascii_graphic() && b.is_ascii_graphic() => Some("UTF-16LE"),
        [0, a, 0, b, ..] if a.is_ascii_graphic() && b.is_ascii_graphic() => Some("UTF-16BE"),
        _ => None,
    }
}

/// Cell texts that exports write for a missing value: a column holding one of them beside
/// empty cells (or two of them) has its missing values in two levels.
/// (`None` is left out: it is often a real category, as in prior treatment or comorbidity.)
const MISSING_SPELLINGS: [&str; 7] = ["NA", "N/A", "null", "NaN", "missing", "(missing)", "?"];

/// A warning when subgroup column `column` has levels that differ only in letter case, in
/// spaces around them or in their Unicode form (`F`, `F `, `f`; `Müller` with a precomposed `ü`
/// and with `u` and a combining diaeresis, which print alike; full-width letters): they are
/// counted as different subgroups, which is seldom what a spreadsheet's author meant; so are
/// blank cells beside `NA`, `null` and other spellings of a missing value. `None` when every
/// level is distinct after trimming, NFKC normalisation and folding case.
#[must_use]
pub fn look_alike_levels<'a>(
    column: &str,
    levels: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let alike = alike_by(levels, |level| {
        // An empty or blank cell is the missing level, as the CSV reader names it; so are the
        // spellings of "missing" that exports write (`NA`, `N/A`, `null`, `NaN`, …).
        match level.trim() {
            "" => MISSING_LEVEL.to_string(),
            t if MISSING_SPELLINGS.iter().any(|m| t.eq_ignore_ascii_case(m)) => {
                MISSING_LEVEL.to_string()
            }
            text => {
                use unicode_normalization::UnicodeNormalization;
                text.nfkc().collect::<String>().to_lowercase()
            }
        }
    });
    (!alike.is_empty()).then(|| {
        let alike: Vec<String> = alike.iter().map(|l| spellings(l)).collect();
        format!(
            "subgroup column '{column}': levels {} differ only in case, surrounding spaces or Unicode form (or all spell a missing value) and are counted as different subgroups; clean the column if each is one group",
            alike.join(", ")
        )
    })
}

/// A sentence when patient ids (distinct values of the patient column `column`) differ only in
/// surrounding spaces (`p1`, ` p1`), which a spreadsheet adds and nobody means: each is counted
/// as a patient of its own, so the patient-clustered CIs come out too narrow. Ids that differ
/// in case are left alone: identifiers may be case-sensitive (hashes, base64).
#[must_use]
pub fn look_alike_ids<'a>(column: &str, ids: impl IntoIterator<Item = &'a str>) -> Option<String> {
    const SHOWN: usize = 3;
    let alike = alike_by(ids, |id| id.trim().to_string());
    let first = alike.first()?;
    let shown: Vec<String> = alike.iter().take(SHOWN).map(|l| spellings(l)).collect();
    let more = match alike.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Some(format!(
        "patient column '{column}': {} id(s) differ only in surrounding spaces ({}{more}) and are counted as different patients, which makes the patient-clustered CIs too narrow; clean the column if '{}' is one patient",
        alike.len(),
        shown.join(", "),
        first[0].trim()
    ))
}

/// The distinct `values` that share a `key` with another, grouped, in key order.
fn alike_by<'a>(
    values: impl IntoIterator<Item = &'a str>,
    key: impl Fn(&str) -> String,
) -> Vec<Vec<&'a str>> {
    let mut by_key: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for value in values {
        let list = by_key.entry(key(value)).or_default();
        if !list.contains(&value) {
            list.push(value);
        }
    }
    by_key.into_values().filter(|l| l.len() > 1).collect()
}

/// Values as a message lists them: `'F' / 'F ' / 'f'`.
fn spellings(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// What to tell the user of a file in `encoding` (from [`foreign_unicode`]).
#[must_use]
pub fn not_utf8(encoding: &str) -> String {
    format!(
        "the file is {encoding} text, not UTF-8 (a spreadsheet's 'Unicode Text' export): save it as 'CSV UTF-8', or convert it with `iconv -f {encoding} -t UTF-8`"
    )
}

/// Where a data row of a CSV is, for an error found after the table was read: its 1-based data
/// row (the header not counted) and, when it could be told, the line of the file it starts on
/// (blank lines and quoted line breaks counted as the readers count them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPlace {
    /// 1-based data row.
    pub row: usize,
    /// 1-based line where the row starts (the header is line 1 unless blank lines precede it).
    pub line: Option<std::num::NonZeroU64>,
}

impl RowPlace {
    /// Data row `row` (1-based) of the CSV `bytes`.
    #[must_use]
    pub fn find(bytes: &[u8], row: usize) -> Self {
        let data = bytes.strip_prefix(csv_table::UTF8_BOM).unwrap_or(bytes);
        Self {
            row,
            line: records::data_row_line(data, row).and_then(std::num::NonZeroU64::new),
        }
    }

    /// Data row `row` (1-based) of the CSV file `path`, read again; without a line when the file
    /// cannot be read.
    #[must_use]
    pub fn in_file(path: &Path, row: usize) -> Self {
        with_file_bytes(path, |bytes| Ok::<_, DataError>(Self::find(bytes, row)))
            .unwrap_or(Self { row, line: None })
    }
}

impl std::fmt::Display for RowPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line} (data row {})", self.row),
            None => write!(f, "data row {}", self.row),
        }
    }
}

/// A binary label as the readers accept it (`0`, `1`, `0.0`, `1.0`, spaces around allowed), or
/// `None`.
#[must_use]
pub fn label_value(field: &str) -> Option<bool> {
    numbers::parse_label(field.as_bytes())
}

/// Which columns to read, and in which role. Names match header fields exactly
/// (case-sensitive, no trimming). A column may be requested at most once.
#[derive(Debug, Clone, Copy)]
pub struct EvalSpec<'a> {
    /// The ground-truth column.
    pub label: &'a str,
    /// Model-score columns, in the order the caller wants them back.
    pub scores: &'a [String],
    /// Subgroup columns, in the order the caller wants them back.
    pub groups: &'a [String],
}

/// A validated evaluation table: every row has a label, every requested score,
/// and a level for every requested group.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalTable {
    /// The file the table was read from (or the name given to [`parse_eval_csv`]).
    pub path: PathBuf,
    /// One label per data row, `true` for the positive class.
    pub labels: Vec<bool>,
    /// Score column names, in request order.
    pub score_names: Vec<String>,
    /// `scores[k][row]`: one vector per requested score column, each value
    /// finite and in `[0, 1]` (`-0.0` is stored as `0.0`).
    pub scores: Vec<Vec<f64>>,
    /// Group columns, in request order.
    pub groups: Vec<GroupColumn>,
}

impl EvalTable {
    /// Number of data rows (the header is not counted).
    #[must_use]
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }
}

/// A categorical subgroup column, stored as codes into a sorted level list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupColumn {
    /// The header name.
    pub name: String,
    /// Distinct level names sorted by byte order; an empty field is the level
    /// named [`MISSING_LEVEL`].
    pub levels: Vec<String>,
    /// Per row: an index into `levels`.
    pub codes: Vec<u32>,
}

/// Files at least this large are mapped into memory instead of copied into a buffer: that saves
/// the copy and the page faults of a fresh buffer (about 5 % of `harness eval` on 200,000 rows).
const MAP_ABOVE: u64 = 1 << 20;

/// Reads and validates an evaluation CSV from disk. See [`parse_eval_csv`] for
/// the accepted format.
///
/// # Errors
///
/// [`DataError::Io`] if the file cannot be read, otherwise as [`parse_eval_csv`].
pub fn read_eval_csv(path: &Path, spec: &EvalSpec) -> Result<EvalTable, DataError> {
    with_file_bytes(path, |bytes| parse_eval_csv(bytes, path, spec))
}

/// What to read from a CSV of a multi-class task: the column of class names and, as in
/// [`EvalSpec`], score and subgroup columns (here one probability column per class and model).
#[derive(Debug, Clone, Copy)]
pub struct ClassSpec<'a> {
    /// The ground-truth column: each case's class name (any non-empty text).
    pub label: &'a str,
    pub scores: &'a [String],
    pub groups: &'a [String],
}

/// A table read with a [`ClassSpec`]: each case's class as a categorical column, and the
/// scores and subgroups as in an [`EvalTable`] (whose binary `labels` are then all `false`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassTable {
    /// The class column: sorted class names seen and each case's code into them.
    pub classes: GroupColumn,
    pub table: EvalTable,
}

/// Reads and validates a CSV of a multi-class task from disk, with the rules and errors of
/// [`parse_eval_csv`] for the scores and subgroups; the class column is read verbatim like a
/// subgroup column (an empty field is the level [`MISSING_LEVEL`]).
///
/// # Errors
///
/// As [`read_eval_csv`].
pub fn read_class_csv(path: &Path, spec: &ClassSpec) -> Result<ClassTable, DataError> {
    with_file_bytes(path, |bytes| parse_class_csv(bytes, path, spec))
}

/// [`read_class_csv`] on bytes already read (`path` names them in errors).
///
/// # Errors
///
/// As [`parse_eval_csv`].
pub fn parse_class_csv(
    bytes: &[u8],
    path: &Path,
    spec: &ClassSpec,
) -> Result<ClassTable, DataError> {
    let groups: Vec<String> = std::iter::once(spec.label.to_string())
        .chain(spec.groups.iter().cloned())
        .collect();
    let inner = csv_table::Spec {
        label: None,
        scores: spec.scores,
        groups: &groups,
        class_label: true,
    };
    let mut table = csv_table::parse(bytes, path, &inner)?;
    let classes = table.groups.remove(0);
    Ok(ClassTable { classes, table })
}

/// Runs `parse` on the bytes of `path`: mapped when the file is large, else read.
///
/// # Errors
/// [`DataError::Io`] when the file cannot be read, else whatever `parse` returns.
pub fn with_file_bytes<T, E: From<DataError>>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<T, E> {
    use std::io::Read;
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let io = |source| E::from(io(source));
    if meta.is_file() && meta.len() >= MAP_ABOVE {
        // SAFETY: a private read-only mapping of a regular file. The one hazard is another
        // process truncating the file while it is parsed, which raises SIGBUS: the standard
        // caveat of mapped input, the trade-off ripgrep makes for single files too. Evaluating a
        // file while it is being rewritten is wrong with a copying read as well.
        if let Ok(map) = unsafe { memmap2::MmapOptions::new().populate().map(&file) } {
            return match lf_for_cr_only(&map) {
                Some(lines) => parse(&lines),
                None => parse(&map),
            };
        }
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(io)?;
    match lf_for_cr_only(&bytes) {
        Some(lines) => parse(&lines),
        None => parse(&bytes),
    }
}

/// A file whose lines all end in a lone CR (classic Mac OS, and Excel for Mac's "CSV
/// (Macintosh)" export) with each CR made LF: the readers split it into the same records, and
/// now count its lines in their messages (they count LFs; every error said line 1). Byte for
/// byte the same length, so positions are unchanged. `None` for any file holding an LF.
fn lf_for_cr_only(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.contains(&b'\n') || !bytes.contains(&b'\r') {
        return None;
    }
    Some(
        bytes
            .iter()
            .map(|&b| if b == b'\r' { b'\n' } else { b })
            .collect(),
    )
}

/// Parses and validates an evaluation CSV held in memory; `path` is only used
/// in messages and stored in [`EvalTable::path`].
///
/// Format:
/// - A header row is required; requested columns must each appear in it
///   exactly once (other columns may repeat or be anything). A `case_id` (or
///   else `id`) column, if present, is named in row errors.
/// - RFC 4180 CSV: comma-separated, `"`-quoted fields with `""` escapes and
///   embedded newlines, LF or CRLF line endings, an optional UTF-8 byte-order
///   mark. Completely empty lines are skipped. Every row must have as many
///   fields as the header. Line numbers in errors count the header as line 1
///   and refer to the line where a record starts.
/// - Labels: exactly `0` or `1`; `0.0` and `1.0` are also accepted. Anything
///   else (`2`, `-1`, `yes`, `true`, empty) is an error.
/// - Scores: decimal or scientific notation (`0.5`, `5e-1`), finite, within
///   `[0, 1]` inclusive; NaN, infinities, empty fields and out-of-range values
///   are errors (nothing is clipped or dropped). `-0.0` becomes `0.0`.
/// - Labels and scores are trimmed of ASCII spaces and tabs at both ends
///   before parsing (`" 0.5 "` is 0.5). Group values are taken verbatim, no
///   trimming; an empty group field is the level [`MISSING_LEVEL`].
/// - Fields that are used must be valid UTF-8; unused columns are not checked.
///
/// Input without any `"` byte takes a fast path that splits lines on `,`
/// directly (identical results, checked by a differential test); input with
/// quotes goes through the `csv` crate.
///
/// # Errors
///
/// A [`DataError`] for the first problem found, in this order: a spec naming
/// one column twice; an empty input; a requested column missing from or
/// repeated in the header; then, row by row, a ragged row or a bad label,
/// score or group value; finally a table with no data rows.
pub fn parse_eval_csv(bytes: &[u8], path: &Path, spec: &EvalSpec) -> Result<EvalTable, DataError> {
    csv_table::parse(bytes, path, &spec.into())
}
