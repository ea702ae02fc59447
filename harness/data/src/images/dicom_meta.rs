//! Subgroups from DICOM headers: a dataset may declare that a subgroup's level is read from a
//! DICOM attribute (`Manufacturer`, `ManufacturerModelName`, `Modality`, `BodyPartExamined`,
//! `PatientSex`, …), numeric ones (`PatientAge`, `KVP`, …) cut into declared bands, so that a
//! committee sees AUROC by scanner vendor without writing a CSV column.
//!
//! Only the level names leave this module. Attributes that identify a patient or a study
//! (names, IDs, dates, times, UIDs, accession numbers, addresses, serial numbers) are refused
//! as subgroups: evidence bundles are shared outside the hospital.

use std::collections::BTreeMap;
use std::path::Path;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::{DefaultDicomObject, OpenFileOptions, Tag};
use serde::{Deserialize, Serialize};

use super::ImageError;

/// How a subgroup is read from a DICOM attribute, as `datasets.toml` writes it:
/// `vendor = "Manufacturer"` or `age_band = { attribute = "PatientAge", bands = [40, 65] }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum DicomAttribute {
    /// The attribute's text (trimmed) is the level.
    Keyword(String),
    /// A numeric attribute cut at ascending `bands` edges into `<a`, `a-<b`, …, `>=z`.
    Banded { attribute: String, bands: Vec<f64> },
}

impl DicomAttribute {
    fn keyword(&self) -> &str {
        match self {
            DicomAttribute::Keyword(k) | DicomAttribute::Banded { attribute: k, .. } => k,
        }
    }
}

/// Keywords that identify a patient, a person or a study. Every keyword ending in `UID`,
/// `Date`, `Time` or `DateTime` is refused as well.
const IDENTIFYING: &[&str] = &[
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "OtherPatientIDsSequence",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "MedicalRecordLocator",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "OperatorsName",
    "PhysiciansOfRecord",
    "RequestingPhysician",
    "InstitutionAddress",
    "DeviceSerialNumber",
    "PatientComments",
    "AdditionalPatientHistory",
    "RequestAttributesSequence",
    "StudyDescription",
    "SeriesDescription",
    "ImageComments",
];

/// Numeric attributes that must be banded: their exact values would single patients out.
const MUST_BAND: &[&str] = &["PatientAge", "PatientSize", "PatientWeight"];

/// Reads declared subgroup levels (and the frame count) from DICOM headers.
#[derive(Debug, Clone)]
pub struct DicomMetadata {
    /// (subgroup name, attribute tag, bands).
    fields: Vec<(String, Tag, Option<Vec<f64>>)>,
}

/// What one header gave.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderFacts {
    /// One level per declared subgroup, in declaration order ("" where the attribute is absent).
    pub levels: Vec<String>,
    /// Number of Frames (1 where absent).
    pub frames: u32,
}

impl DicomMetadata {
    /// Resolves the declared attributes against the DICOM data dictionary.
    ///
    /// # Errors
    ///
    /// A message naming the subgroup for an unknown keyword, an identifying attribute, an
    /// unbanded age/size/weight, or bands that are empty, not finite or not ascending.
    pub fn new(declared: &BTreeMap<String, DicomAttribute>) -> Result<Self, String> {
        let mut fields = Vec::with_capacity(declared.len());
        for (name, spec) in declared {
            let keyword = spec.keyword();
            let entry = StandardDataDictionary.by_name(keyword).ok_or_else(|| {
                format!(
                    "subgroup '{name}': '{keyword}' is not a DICOM attribute keyword (e.g. \
                     Manufacturer, ManufacturerModelName, Modality, BodyPartExamined, \
                     PatientSex, PatientAge, KVP)"
                )
            })?;
            let identifying = IDENTIFYING.contains(&keyword)
                || ["UID", "Date", "Time", "DateTime"]
                    .iter()
                    .any(|s| keyword.ends_with(s));
            if identifying {
                return Err(format!(
                    "subgroup '{name}': {keyword} identifies a patient, person or study and may \
                     not enter an evidence bundle; use a non-identifying attribute or a \
                     de-identified labels column"
                ));
            }
            let bands = match spec {
                DicomAttribute::Keyword(_) if MUST_BAND.contains(&keyword) => {
                    return Err(format!(
                        "subgroup '{name}': {keyword} must be banded: write \
                         {{ attribute = \"{keyword}\", bands = [40, 65] }}"
                    ));
                }
                DicomAttribute::Keyword(_) => None,
                DicomAttribute::Banded { bands, .. } => {
                    if bands.is_empty()
                        || bands.iter().any(|b| !b.is_finite())
                        || bands.windows(2).any(|w| w[0] >= w[1])
                    {
                        return Err(format!(
                            "subgroup '{name}': bands {bands:?} must be finite, ascending and \
                             at least one edge"
                        ));
                    }
                    Some(bands.clone())
                }
            };
            fields.push((name.clone(), entry.tag(), bands));
        }
        Ok(Self { fields })
    }

    /// The tag of a `dicom_key` attribute (any attribute keyword: the case ids are its values).
    ///
    /// # Errors
    ///
    /// A message when `keyword` is not a DICOM attribute keyword.
    pub fn key_tag(keyword: &str) -> Result<Tag, String> {
        StandardDataDictionary
            .by_name(keyword)
            .map(|e| e.tag())
            .ok_or_else(|| {
                format!(
                    "dicom_key '{keyword}' is not a DICOM attribute keyword (e.g. SOPInstanceUID)"
                )
            })
    }

    /// The subgroup names, in the order [`HeaderFacts::levels`] gives them.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(n, _, _)| n.as_str())
    }

    /// True when nothing was declared.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Reads the header of the DICOM file at `path` (up to, not including, its pixel data).
    ///
    /// # Errors
    ///
    /// [`ImageError::Decode`] naming the file when it is not DICOM or a banded attribute is
    /// not a number.
    pub fn read(&self, path: &Path) -> Result<HeaderFacts, ImageError> {
        let fail = |reason: String| ImageError::Decode {
            path: path.to_path_buf(),
            format: "DICOM",
            reason,
        };
        let obj = open_header(path)?;
        let text = |tag: Tag| text_value(&obj, tag);
        let mut levels = Vec::with_capacity(self.fields.len());
        for (name, tag, bands) in &self.fields {
            let level = match (text(*tag), bands) {
                (None, _) => String::new(),
                (Some(v), None) => v,
                (Some(v), Some(bands)) => {
                    let x = number(&v).ok_or_else(|| {
                        fail(format!(
                            "subgroup '{name}': attribute {tag} is '{v}', not a number to band"
                        ))
                    })?;
                    band_level(x, bands)
                }
            };
            levels.push(level);
        }
        let frames = text(Tag(0x0028, 0x0008))
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1);
        Ok(HeaderFacts { levels, frames })
    }
}

/// The header of the DICOM file at `path`, up to (not including) its pixel data.
fn open_header(path: &Path) -> Result<DefaultDicomObject, ImageError> {
    OpenFileOptions::new()
        .read_until(Tag(0x7FE0, 0x0010))
        .open_file(path)
        .map_err(|e| ImageError::Decode {
            path: path.to_path_buf(),
            format: "DICOM",
            reason: format!("header: {e}"),
        })
}

/// An attribute's text, trimmed of padding; `None` when absent or empty.
fn text_value(obj: &DefaultDicomObject, tag: Tag) -> Option<String> {
    let el = obj.element_opt(tag).ok()??;
    let s = el.to_str().ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_string())
}

/// Attributes commonly declared as subgroups (`harness inspect` shows their values, so a user
/// can see what `dicom_subgroups` would read).
pub const COMMON_SUBGROUP_ATTRIBUTES: &[&str] = &[
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "BodyPartExamined",
    "ViewPosition",
    "PatientSex",
    "PatientAge",
    "KVP",
];

/// The values of [`COMMON_SUBGROUP_ATTRIBUTES`] present in the header of the DICOM file at
/// `path`, for the user's own eyes (never written to evidence).
///
/// # Errors
///
/// [`ImageError::Decode`] naming the file when its header cannot be read.
pub fn common_attributes(path: &Path) -> Result<Vec<(String, String)>, ImageError> {
    let obj = open_header(path)?;
    Ok(COMMON_SUBGROUP_ATTRIBUTES
        .iter()
        .filter_map(|k| {
            let tag = StandardDataDictionary.by_name(k)?.tag();
            Some(((*k).to_string(), text_value(&obj, tag)?))
        })
        .collect())
}

/// The value of attribute `tag` in the header of the file at `path`: `Ok(None)` when the file
/// is DICOM without it.
///
/// # Errors
///
/// [`ImageError::Decode`] naming the file when its header cannot be read.
pub fn read_key(path: &Path, tag: Tag) -> Result<Option<String>, ImageError> {
    Ok(text_value(&open_header(path)?, tag))
}

/// A decimal string, or an Age String (`045Y`, `006M`, `010W`, `003D`) in years.
fn number(v: &str) -> Option<f64> {
    let v = v.split('\\').next()?.trim();
    if let Some(unit) = v.chars().last().filter(|c| "DWMY".contains(*c))
        && v.len() == 4
    {
        let n: f64 = v[..3].parse().ok()?;
        return Some(match unit {
            'D' => n / 365.25,
            'W' => n * 7.0 / 365.25,
            'M' => n / 12.0,
            _ => n,
        });
    }
    v.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// `<a`, `a-<b`, …, `>=z` for ascending edges.
fn band_level(x: f64, bands: &[f64]) -> String {
    let fmt = |b: f64| {
        if b.fract() == 0.0 {
            format!("{b:.0}")
        } else {
            format!("{b}")
        }
    };
    match bands.iter().position(|&b| x < b) {
        Some(0) => format!("<{}", fmt(bands[0])),
        Some(i) => format!("{}-<{}", fmt(bands[i - 1]), fmt(bands[i])),
        None => format!(">={}", fmt(bands[bands.len() - 1])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_numbers_band_at_their_edges() {
        assert_eq!(number("045Y"), Some(45.0));
        assert_eq!(number("006M"), Some(0.5));
        assert_eq!(number(" 120.5 "), Some(120.5));
        assert_eq!(number("abc"), None);
        let bands = [40.0, 65.0];
        assert_eq!(band_level(39.9, &bands), "<40");
        assert_eq!(band_level(40.0, &bands), "40-<65");
        assert_eq!(band_level(65.0, &bands), ">=65");
    }

    #[test]
    fn identifying_and_unknown_attributes_are_refused() {
        let one = |k: &str| BTreeMap::from([("g".to_string(), DicomAttribute::Keyword(k.into()))]);
        for k in [
            "PatientName",
            "PatientID",
            "StudyInstanceUID",
            "StudyDate",
            "AccessionNumber",
        ] {
            let err = DicomMetadata::new(&one(k)).unwrap_err();
            assert!(err.contains(k), "{err}");
        }
        assert!(
            DicomMetadata::new(&one("NotAKeyword"))
                .unwrap_err()
                .contains("not a DICOM")
        );
        assert!(
            DicomMetadata::new(&one("PatientAge"))
                .unwrap_err()
                .contains("banded")
        );
        assert!(DicomMetadata::new(&one("Manufacturer")).is_ok());
        let bad = BTreeMap::from([(
            "age".to_string(),
            DicomAttribute::Banded {
                attribute: "PatientAge".into(),
                bands: vec![65.0, 40.0],
            },
        )]);
        assert!(DicomMetadata::new(&bad).unwrap_err().contains("ascending"));
    }
}
