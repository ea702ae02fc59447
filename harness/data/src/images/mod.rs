//! Image readers: PNG, JPEG, TIFF, DICOM, NumPy `.npy` and MedMNIST-style `.npz`,
//! all decoded to one [`Image`] type that holds pixel values in the file's own
//! intensity units (0–255, 0–65535, or DICOM modality units such as
//! Hounsfield units). No preprocessing happens here (no resizing, scaling or
//! normalisation); that is declared per model in `harness-backends`. The one
//! intensity transform offered is the DICOM VOI window ([`apply_window`]),
//! because its definition belongs to the DICOM standard.
//!
//! Every error names the file and what is wrong with it, and every reader
//! refuses images larger than [`ReadLimits`] before allocating for them.
//!
//! One module per format: `png` (PNG and JPEG), `dicom` and `numpy` (`.npy`
//! and `.npz`); this module holds the shared types and the reader that picks
//! a format from a file's content.

mod dicom;
mod dicom_codecs;
mod dicom_meta;
mod numpy;
mod raster;
mod tiff_file;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use dicom::{DicomFrames, decode_dicom_frames};
pub use dicom_meta::{
    COMMON_SUBGROUP_ATTRIBUTES, DicomAttribute, DicomMetadata, HeaderFacts, common_attributes,
    read_key,
};
pub use numpy::{
    NpyData, NpzCases, NpzImages, NpzSplit, decode_npz_split, read_npz_split, write_npy,
    write_npy_array,
};
pub use tiff_file::{TiffPages, count_tiff_pages, is_tiff};

/// The default largest accepted width and height, in pixels.
pub const DEFAULT_MAX_DIMENSION: u32 = 16384;

/// Where an [`Image`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageSource {
    /// A PNG file.
    Png,
    /// A JPEG file.
    Jpeg,
    /// A TIFF file (one image of it).
    Tiff,
    /// A DICOM file (values after the Modality LUT).
    Dicom,
    /// A NumPy `.npy` file or one image of an `.npz` archive.
    Npy,
}

/// Which frame(s) of a file to read; frames count from 0. A DICOM file may hold several
/// frames, a TIFF several images (pages; its reduced-resolution copies, e.g. a thumbnail, are
/// not counted); other formats hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameSelect {
    /// The file's one frame: a multi-frame file is refused rather than silently reduced.
    Only,
    /// Frame `k`.
    Index(u32),
    /// The middle frame, `frames / 2` (for an even count, the later of the two middle ones).
    Middle,
    /// Every frame (only where several images can be returned).
    All,
}

impl FrameSelect {
    /// The frames this selection names in a file of `frames` frames (pages, images), counted
    /// from 0 and ascending: the one rule of every multi-frame reader (DICOM frames, TIFF
    /// pages, `harness inspect`), each saying a refusal in its own nouns
    /// ([`SelectError::reason`]).
    ///
    /// # Errors
    /// [`SelectError::SeveralAsOne`] for [`FrameSelect::Only`] in a file of several frames;
    /// [`SelectError::OutOfRange`] for an index past the last frame (or any frame of a file of
    /// none).
    pub fn indices(self, frames: u32) -> Result<Vec<u32>, SelectError> {
        let one = |index: u32| {
            if index < frames {
                Ok(vec![index])
            } else {
                Err(SelectError::OutOfRange { index, frames })
            }
        };
        match self {
            FrameSelect::Only if frames > 1 => Err(SelectError::SeveralAsOne { frames }),
            FrameSelect::Only => one(0),
            FrameSelect::Index(k) => one(k),
            FrameSelect::Middle => one(frames / 2),
            FrameSelect::All => Ok((0..frames).collect()),
        }
    }
}

/// Why a [`FrameSelect`] names no frame of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectError {
    /// The file's one image asked for ([`FrameSelect::Only`]), but it holds several.
    SeveralAsOne {
        /// How many it holds.
        frames: u32,
    },
    /// A frame past the last one.
    OutOfRange {
        /// The frame asked for, from 0.
        index: u32,
        /// How many the file holds.
        frames: u32,
    },
}

impl SelectError {
    /// The refusal in words, `noun` naming what the file holds (`frame`, `page`, `image`).
    #[must_use]
    pub fn reason(self, noun: &str) -> String {
        match self {
            SelectError::OutOfRange { index, frames: 1 } => {
                format!("{noun} {index} asked for, but the file has one {noun} ({noun} 0)")
            }
            SelectError::SeveralAsOne { frames } => format!(
                "{frames} {noun}s; declare which to use (a {noun} index from 0, the middle {noun} \
                 or every {noun} as its own case) instead of reading a multi-{noun} file as one \
                 image"
            ),
            SelectError::OutOfRange { index, frames } => format!(
                "{noun} {index} asked for, but the file has {frames} {noun}(s), counted from 0"
            ),
        }
    }
}

pub use image::metadata::Orientation;

/// How an EXIF orientation turns the stored image for display, in words.
#[must_use]
pub fn turn_text(o: Orientation) -> &'static str {
    match o {
        Orientation::NoTransforms => "shown as stored",
        Orientation::Rotate90 => "turned 90° clockwise to display",
        Orientation::Rotate180 => "turned 180° to display",
        Orientation::Rotate270 => "turned 90° anticlockwise to display",
        Orientation::FlipHorizontal => "mirrored left to right to display",
        Orientation::FlipVertical => "mirrored top to bottom to display",
        Orientation::Rotate90FlipH => "transposed (mirrored across its main diagonal) to display",
        Orientation::Rotate270FlipH => "transversed (mirrored across its anti-diagonal) to display",
    }
}

/// A decoded image, interleaved height × width × channels (HWC, row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Samples per pixel: 1 (grey) or 3 (RGB). Alpha channels are dropped on read.
    pub channels: u8,
    /// `height * width * channels` values in the file's intensity units; always finite.
    pub pixels: Vec<f32>,
    /// The file format the image was read from.
    pub source: ImageSource,
    /// DICOM attributes that matter for presentation; `None` for other formats.
    pub dicom: Option<DicomInfo>,
    /// Bits per sample of the file's pixel values, where they are integers of a fixed depth
    /// a preprocessing `scale` applies to (PNG and JPEG: 8 or 16); `None` for DICOM (values
    /// after its Modality LUT), NumPy arrays and images built in memory.
    pub sample_bits: Option<u8>,
    /// How the file says its pixels are to be turned for display (the EXIF Orientation tag
    /// of a JPEG, or of a PNG's eXIf chunk; 1 = `NoTransforms` where there is none, as for
    /// every other format). Not applied here: the pixels are as stored, as PIL's
    /// `Image.open` and torchvision's `decode_jpeg` give them; a preprocessing applies it
    /// where the model was trained on upright images.
    pub orientation: Orientation,
}

impl Image {
    /// Builds an image from HWC pixel values (for in-memory or synthetic images).
    ///
    /// # Errors
    ///
    /// [`ImageError::Invalid`] (with path `<memory>`) if a dimension is 0,
    /// `channels` is not 1 or 3, the number of values is not
    /// `height * width * channels`, or a value is NaN or infinite.
    pub fn new(
        width: u32,
        height: u32,
        channels: u8,
        pixels: Vec<f32>,
        source: ImageSource,
    ) -> Result<Self, ImageError> {
        let path = PathBuf::from("<memory>");
        let invalid = |reason: String| ImageError::Invalid {
            path: path.clone(),
            reason,
        };
        if width == 0 || height == 0 {
            return Err(invalid(format!(
                "image is {width}x{height}; both must be at least 1"
            )));
        }
        if channels != 1 && channels != 3 {
            return Err(invalid(format!(
                "{channels} channels; expected 1 (grey) or 3 (RGB)"
            )));
        }
        let expected = width as usize * height as usize * channels as usize;
        if pixels.len() != expected {
            return Err(invalid(format!(
                "{} pixel values for a {width}x{height}x{channels} image; expected {expected}",
                pixels.len()
            )));
        }
        if let Some(i) = pixels.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!(
                "pixel value {} at index {i} is not finite",
                pixels[i]
            )));
        }
        Ok(Self {
            width,
            height,
            channels,
            pixels,
            source,
            dicom: None,
            sample_bits: None,
            orientation: Orientation::NoTransforms,
        })
    }

    /// The value at row `y`, column `x`, channel `c`, or `None` outside the image.
    #[must_use]
    pub fn get(&self, y: u32, x: u32, c: u8) -> Option<f32> {
        if y >= self.height || x >= self.width || c >= self.channels {
            return None;
        }
        let i =
            (y as usize * self.width as usize + x as usize) * self.channels as usize + c as usize;
        self.pixels.get(i).copied()
    }

    /// A copy with the DICOM linear VOI window applied to every value (see
    /// [`apply_window`]), giving values in `[0, 1]`. For a `MONOCHROME1` image
    /// the result is inverted (`1 - y`) so that, as for every other image,
    /// larger means brighter (DICOM PS3.3 C.7.6.3.1.2: in MONOCHROME1 the
    /// minimum sample value is displayed white).
    ///
    /// # Errors
    ///
    /// [`ImageError::InvalidWindow`] if the width is below 1 or a parameter is not finite.
    pub fn windowed(&self, window: Window) -> Result<Image, ImageError> {
        window.check()?;
        let invert = self.dicom.as_ref().is_some_and(DicomInfo::is_monochrome1);
        let pixels = self
            .pixels
            .iter()
            .map(|&x| {
                let y = window.apply(x);
                if invert { 1.0 - y } else { y }
            })
            .collect();
        Ok(Image {
            pixels,
            ..self.clone()
        })
    }
}

/// A DICOM VOI window (Window Center (0028,1050) and Window Width (0028,1051)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Window Center, in modality units (after Rescale Slope/Intercept).
    pub center: f64,
    /// Window Width, in modality units; at least 1.
    pub width: f64,
}

impl Window {
    /// Checks that the window is usable by [`apply_window`].
    ///
    /// # Errors
    ///
    /// [`ImageError::InvalidWindow`] if a parameter is not finite or the width is below 1
    /// (DICOM PS3.3 C.11.2.1.2.1 requires Window Width ≥ 1 for the LINEAR function).
    pub fn check(&self) -> Result<(), ImageError> {
        if !self.center.is_finite() || !self.width.is_finite() || self.width < 1.0 {
            return Err(ImageError::InvalidWindow {
                center: self.center,
                width: self.width,
            });
        }
        Ok(())
    }

    /// [`apply_window`] for one value; the window must have passed [`Window::check`].
    #[must_use]
    pub fn apply(&self, x: f32) -> f32 {
        apply_window(f64::from(x), self.center, self.width) as f32
    }
}

/// The DICOM LINEAR VOI LUT function, DICOM PS3.3 section C.11.2.1.2.1
/// ("Default LINEAR Function"), with output range `[y_min, y_max] = [0, 1]`:
///
/// ```text
/// if      x <= c - 0.5 - (w - 1) / 2:  y = 0
/// else if x >  c - 0.5 + (w - 1) / 2:  y = 1
/// else                                 y = ((x - (c - 0.5)) / (w - 1) + 0.5)
/// ```
///
/// For `w == 1` the middle branch is empty (a step at `c - 0.5`). The caller
/// must pass `w >= 1` (checked by [`Window::check`]); the result is clamped to
/// `[0, 1]` only against floating-point rounding.
#[must_use]
pub fn apply_window(x: f64, center: f64, width: f64) -> f64 {
    let lower = center - 0.5 - (width - 1.0) / 2.0;
    let upper = center - 0.5 + (width - 1.0) / 2.0;
    if x <= lower {
        0.0
    } else if x > upper {
        1.0
    } else {
        ((x - (center - 0.5)) / (width - 1.0) + 0.5).clamp(0.0, 1.0)
    }
}

/// The DICOM attributes kept with a decoded DICOM image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DicomInfo {
    /// Rescale Slope (0028,1053) applied by the Modality LUT (1 if absent).
    pub rescale_slope: f64,
    /// Rescale Intercept (0028,1052) applied by the Modality LUT (0 if absent).
    pub rescale_intercept: f64,
    /// The first Window Center/Width pair in the file, if any. It is recorded,
    /// not applied.
    pub window: Option<Window>,
    /// Photometric Interpretation (0028,0004) as the file states it (`MONOCHROME2`, `YBR_FULL`,
    /// `PALETTE COLOR`, …); colour images are always decoded to RGB.
    pub photometric_interpretation: String,
    /// Bits Stored (0028,0101).
    pub bits_stored: u16,
    /// Bits Allocated (0028,0100).
    #[serde(default)]
    pub bits_allocated: u16,
    /// The Transfer Syntax UID of the file's meta group (e.g. `1.2.840.10008.1.2.1`, explicit VR
    /// little endian).
    #[serde(default)]
    pub transfer_syntax: String,
    /// Pixel Representation (0028,0103) is 1 (two's complement samples).
    pub signed: bool,
    /// Number of Frames (0028,0008); 1 where absent.
    #[serde(default = "one")]
    pub frames: u32,
    /// Samples per Pixel (0028,0002) in the file (1 for PALETTE COLOR, whose output is RGB).
    #[serde(default = "one_u16")]
    pub samples_per_pixel: u16,
    /// Planar Configuration (0028,0006): 0 interleaved, 1 one plane per colour.
    #[serde(default)]
    pub planar_configuration: u16,
}

fn one() -> u32 {
    1
}

fn one_u16() -> u16 {
    1
}

impl DicomInfo {
    /// `MONOCHROME1`: the minimum sample value is meant to be displayed white.
    /// Pixel values are stored as in the file (not inverted);
    /// [`Image::windowed`] inverts.
    #[must_use]
    pub fn is_monochrome1(&self) -> bool {
        self.photometric_interpretation == "MONOCHROME1"
    }
}

/// Size limits enforced before pixel memory is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest accepted width in pixels.
    pub max_width: u32,
    /// Largest accepted height in pixels.
    pub max_height: u32,
    /// Largest accepted decoded array or file size in bytes (for `.npz`
    /// archives: per array).
    pub max_bytes: u64,
}

impl Default for ReadLimits {
    /// 16384 × 16384 pixels and 4 GiB.
    fn default() -> Self {
        Self {
            max_width: DEFAULT_MAX_DIMENSION,
            max_height: DEFAULT_MAX_DIMENSION,
            max_bytes: 4 << 30,
        }
    }
}

impl ReadLimits {
    fn check(&self, path: &Path, width: u64, height: u64) -> Result<(), ImageError> {
        if width > u64::from(self.max_width) || height > u64::from(self.max_height) {
            return Err(ImageError::TooLarge {
                path: path.to_path_buf(),
                width,
                height,
                max_width: self.max_width,
                max_height: self.max_height,
            });
        }
        Ok(())
    }
}

/// Everything that can go wrong while reading an image. Each variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The content is not a format this module reads.
    #[error(
        "{path}: unrecognised image format ({detail}); expected PNG, JPEG, TIFF, DICOM or NumPy .npy/.npz"
    )]
    UnknownFormat { path: PathBuf, detail: String },
    /// The file claims a known format but cannot be decoded (corrupt or truncated).
    #[error("{path}: cannot decode {format}: {reason}")]
    Decode {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    /// A valid file of a kind this module does not handle (bit depth, colour model, frames, …).
    #[error("{path}: unsupported {format} image: {reason}")]
    Unsupported {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    /// Larger than the configured [`ReadLimits`].
    #[error(
        "{path}: image is {width}x{height} pixels, larger than the allowed {max_width}x{max_height}; raise a suite's [limits] max_image_side if this is intended"
    )]
    TooLarge {
        path: PathBuf,
        width: u64,
        height: u64,
        max_width: u32,
        max_height: u32,
    },
    /// A NumPy array with the wrong name, rank, shape, type or values.
    #[error("{path}: array '{array}': {reason}")]
    Array {
        path: PathBuf,
        array: String,
        reason: String,
    },
    /// Pixel values or dimensions that make no image.
    #[error("{path}: invalid image: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// A VOI window the LINEAR function cannot use.
    #[error(
        "invalid DICOM window center {center}, width {width}: both must be finite and the width at least 1 (DICOM PS3.3 C.11.2.1.2.1)"
    )]
    InvalidWindow { center: f64, width: f64 },
}

/// Reads one image, choosing the reader from the file's content: PNG, JPEG and TIFF
/// by signature, DICOM by the `DICM` marker at byte 128 (or the `.dcm`
/// extension for files without the preamble), NumPy by the `\x93NUMPY` magic.
/// For `.npz` archives use [`read_npz_split`].
///
/// # Errors
///
/// An [`ImageError`] naming the file: unreadable, unknown format, corrupt,
/// unsupported, too large, or (NumPy) the wrong array rank or type.
pub fn read_image(path: &Path, limits: &ReadLimits) -> Result<Image, ImageError> {
    let bytes = read_file(path, limits)?;
    decode_image(path, &bytes, limits)
}

/// DICOM by the `DICM` marker at byte 128, or the `.dcm` extension for files without the
/// preamble.
#[must_use]
pub fn is_dicom(path: &Path, bytes: &[u8]) -> bool {
    bytes.get(128..132) == Some(b"DICM".as_slice())
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("dcm"))
}

/// PNG, JPEG and NumPy files hold one frame: frame 0.
fn single_frame(path: &Path, select: FrameSelect) -> Result<(), ImageError> {
    let invalid = |reason: String| ImageError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    if select == FrameSelect::All {
        return Err(invalid("every frame asked for as one image".into()));
    }
    select
        .indices(1)
        .map(drop)
        .map_err(|e| invalid(e.reason("frame")))
}

/// Reads a whole file into memory, refusing one larger than `limits.max_bytes`
/// before allocating for it ([`crate::read_at_most`]). The bytes can then be hashed and
/// decoded ([`decode_image`]) from the same read.
///
/// # Errors
///
/// [`ImageError::Io`] for an unreadable file, [`ImageError::Invalid`] for one over the
/// size limit.
pub fn read_file(path: &Path, limits: &ReadLimits) -> Result<Vec<u8>, ImageError> {
    let max = limits.max_bytes;
    crate::read_at_most(path, max).map_err(|e| match e {
        crate::BoundedReadError::Io(source) => ImageError::Io {
            path: path.to_path_buf(),
            source,
        },
        crate::BoundedReadError::TooLarge { bytes, grew: false } => ImageError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "file has {bytes} bytes, more than the limit of {max} (ReadLimits.max_bytes)"
            ),
        },
        crate::BoundedReadError::TooLarge { grew: true, .. } => ImageError::Invalid {
            path: path.to_path_buf(),
            reason: format!("file grew past the limit of {max} bytes while it was read"),
        },
    })
}

/// Decodes one image from the bytes of the file at `path` (used only in
/// messages and for the `.dcm` extension rule), choosing the reader as
/// [`read_image`] does.
///
/// # Errors
///
/// As [`read_image`], except that nothing is read from disk.
pub fn decode_image(path: &Path, bytes: &[u8], limits: &ReadLimits) -> Result<Image, ImageError> {
    decode_image_frame(path, bytes, limits, FrameSelect::Only)
}

/// [`decode_image`] for one frame of a possibly multi-frame file ([`FrameSelect::All`] is
/// refused: use [`decode_dicom_frames`]). Files of one frame accept `Only`, `Index(0)` and
/// `Middle`.
///
/// # Errors
///
/// As [`read_image`]; also a frame past the last one.
pub fn decode_image_frame(
    path: &Path,
    bytes: &[u8],
    limits: &ReadLimits,
    select: FrameSelect,
) -> Result<Image, ImageError> {
    let head = &bytes[..bytes.len().min(132)];
    let n = head.len();
    if head.starts_with(b"\x89PNG\r\n\x1a\n") || head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        single_frame(path, select)?;
        raster::decode_raster(path, bytes, limits)
    } else if is_dicom(path, bytes) {
        // Before TIFF: a DICOM file's preamble may be a TIFF header (dual-personality files).
        dicom::decode_dicom(path, bytes, limits, select)
    } else if tiff_file::is_tiff(bytes) {
        tiff_file::decode_tiff(path, bytes, limits, select)
    } else if head.starts_with(b"\x93NUMPY") {
        single_frame(path, select)?;
        numpy::decode_npy(path, bytes, limits)
    } else if head.starts_with(b"PK\x03\x04") {
        Err(ImageError::UnknownFormat {
            path: path.to_path_buf(),
            detail: "a zip archive; read .npz archives with read_npz_split".into(),
        })
    } else {
        Err(ImageError::UnknownFormat {
            path: path.to_path_buf(),
            detail: if n == 0 {
                "the file is empty".into()
            } else {
                format!("first bytes {:02x?}", &head[..n.min(8)])
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{FrameSelect, SelectError};

    /// The one selection rule: `Only` refuses several frames, an index or the middle must be a
    /// frame of the file, `All` names every frame (none of an empty file).
    #[test]
    fn a_selection_names_frames_of_the_file_or_says_why_not() {
        assert_eq!(FrameSelect::Only.indices(1), Ok(vec![0]));
        assert_eq!(
            FrameSelect::Only.indices(3),
            Err(SelectError::SeveralAsOne { frames: 3 })
        );
        assert_eq!(FrameSelect::Index(2).indices(3), Ok(vec![2]));
        assert_eq!(
            FrameSelect::Index(3).indices(3),
            Err(SelectError::OutOfRange {
                index: 3,
                frames: 3
            })
        );
        // The later of the two middle frames of an even count.
        assert_eq!(FrameSelect::Middle.indices(4), Ok(vec![2]));
        assert_eq!(FrameSelect::Middle.indices(5), Ok(vec![2]));
        assert_eq!(FrameSelect::All.indices(3), Ok(vec![0, 1, 2]));
        assert_eq!(FrameSelect::All.indices(0), Ok(vec![]));
        for select in [
            FrameSelect::Only,
            FrameSelect::Middle,
            FrameSelect::Index(0),
        ] {
            assert!(select.indices(0).is_err(), "{select:?} in a file of none");
        }
        let said = SelectError::SeveralAsOne { frames: 3 }.reason("page");
        assert!(
            said.starts_with("3 pages;") && said.contains("every page as its own case"),
            "{said}"
        );
        assert_eq!(
            SelectError::OutOfRange {
                index: 4,
                frames: 2
            }
            .reason("frame"),
            "frame 4 asked for, but the file has 2 frame(s), counted from 0"
        );
        assert_eq!(
            SelectError::OutOfRange {
                index: 1,
                frames: 1
            }
            .reason("frame"),
            "frame 1 asked for, but the file has one frame (frame 0)"
        );
    }
}
