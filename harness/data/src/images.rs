//! Image readers: PNG, JPEG, DICOM, NumPy `.npy` and MedMNIST-style `.npz`,
//! all decoded to one [`Image`] type that holds pixel values in the file's own
//! intensity units (0–255, 0–65535, or DICOM modality units such as
//! Hounsfield units). No preprocessing happens here (no resizing, scaling or
//! normalisation); that is declared per model in `harness-backends`. The one
//! intensity transform offered is the DICOM VOI window ([`apply_window`]),
//! because its definition belongs to the DICOM standard.
//!
//! Every error names the file and what is wrong with it, and every reader
//! refuses images larger than [`ReadLimits`] before allocating for them.

use std::io::Read;
use std::path::{Path, PathBuf};

use dicom_object::{OpenFileOptions, Tag};
use dicom_pixeldata::PixelDecoder;
use image::{DynamicImage, ImageDecoder, ImageFormat};
use ndarray::ShapeBuilder;
use ndarray_npy::ReadableElement;
use ndarray_npy::npy::header::Header;
use serde::{Deserialize, Serialize};

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
    /// A DICOM file (values after the Modality LUT).
    Dicom,
    /// A NumPy `.npy` file or one image of an `.npz` archive.
    Npy,
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
    /// Photometric Interpretation (0028,0004): `MONOCHROME1`, `MONOCHROME2` or `RGB`.
    pub photometric_interpretation: String,
    /// Bits Stored (0028,0101).
    pub bits_stored: u16,
    /// Pixel Representation (0028,0103) is 1 (two's complement samples).
    pub signed: bool,
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

/// Images and labels of one split of a MedMNIST-style `.npz` archive.
#[derive(Debug, Clone, PartialEq)]
pub struct NpzSplit {
    /// One image per case, in archive order.
    pub images: Vec<Image>,
    /// One label row per case: `(N, 1)` gives one value per case, `(N, k)`
    /// (multi-label) gives `k`.
    pub labels: Vec<Vec<u8>>,
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
        "{path}: unrecognised image format ({detail}); expected PNG, JPEG, DICOM or NumPy .npy/.npz"
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
        "{path}: image is {width}x{height} pixels, larger than the allowed {max_width}x{max_height}; raise ReadLimits if this is intended"
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

/// Reads one image, choosing the reader from the file's content: PNG and JPEG
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
    let head = &bytes[..bytes.len().min(132)];
    let n = head.len();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if head.starts_with(b"\x89PNG\r\n\x1a\n") || head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        decode_png_jpeg(path, bytes, limits)
    } else if head.len() == 132 && &head[128..132] == b"DICM" || ext.as_deref() == Some("dcm") {
        decode_dicom(path, bytes, limits)
    } else if head.starts_with(b"\x93NUMPY") {
        decode_npy(path, bytes, limits)
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

/// PNG or JPEG through the `image` crate: 8- or 16-bit grey, grey+alpha, RGB
/// or RGBA; alpha is dropped. Values stay in 0–255 or 0–65535.
fn decode_png_jpeg(path: &Path, bytes: &[u8], limits: &ReadLimits) -> Result<Image, ImageError> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let (format, source) = match reader.format() {
        Some(ImageFormat::Png) => ("PNG", ImageSource::Png),
        Some(ImageFormat::Jpeg) => ("JPEG", ImageSource::Jpeg),
        other => {
            return Err(ImageError::UnknownFormat {
                path: path.to_path_buf(),
                detail: format!("detected {other:?}"),
            });
        }
    };
    let decode = |e: image::ImageError| ImageError::Decode {
        path: path.to_path_buf(),
        format,
        reason: match e {
            image::ImageError::Limits(l) => {
                format!(
                    "{l} (decoding needs more than ReadLimits.max_bytes = {} bytes)",
                    limits.max_bytes
                )
            }
            other => other.to_string(),
        },
    };
    // Width and height are checked below so the error can name them; the
    // `image` crate enforces only the allocation cap.
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_bytes);
    reader.limits(image_limits);
    let decoder = reader.into_decoder().map_err(decode)?;
    let (width, height) = decoder.dimensions();
    limits.check(path, u64::from(width), u64::from(height))?;
    let dynamic = DynamicImage::from_decoder(decoder).map_err(decode)?;
    let (channels, pixels): (u8, Vec<f32>) = match dynamic {
        DynamicImage::ImageLuma8(b) => (1, b.into_raw().into_iter().map(f32::from).collect()),
        DynamicImage::ImageLumaA8(b) => (1, drop_alpha(b.as_raw(), 2)),
        DynamicImage::ImageRgb8(b) => (3, b.into_raw().into_iter().map(f32::from).collect()),
        DynamicImage::ImageRgba8(b) => (3, drop_alpha(b.as_raw(), 4)),
        DynamicImage::ImageLuma16(b) => (1, b.into_raw().into_iter().map(f32::from).collect()),
        DynamicImage::ImageLumaA16(b) => (1, drop_alpha(b.as_raw(), 2)),
        DynamicImage::ImageRgb16(b) => (3, b.into_raw().into_iter().map(f32::from).collect()),
        DynamicImage::ImageRgba16(b) => (3, drop_alpha(b.as_raw(), 4)),
        other => {
            return Err(ImageError::Unsupported {
                path: path.to_path_buf(),
                format,
                reason: format!(
                    "sample layout {:?}; expected 8- or 16-bit grey or RGB",
                    other.color()
                ),
            });
        }
    };
    Ok(Image {
        width,
        height,
        channels,
        pixels,
        source,
        dicom: None,
    })
}

/// Keeps the first `stride - 1` samples of every `stride` (drops alpha).
fn drop_alpha<T: Copy + Into<f32>>(raw: &[T], stride: usize) -> Vec<f32> {
    raw.chunks_exact(stride)
        .flat_map(|px| px[..stride - 1].iter().map(|&v| v.into()))
        .collect()
}

// DICOM tags read before decoding (PS3.6 data dictionary).
const TAG_PHOTOMETRIC: Tag = Tag(0x0028, 0x0004);
const TAG_NUMBER_OF_FRAMES: Tag = Tag(0x0028, 0x0008);
const TAG_ROWS: Tag = Tag(0x0028, 0x0010);
const TAG_COLUMNS: Tag = Tag(0x0028, 0x0011);

/// DICOM through `dicom-object`/`dicom-pixeldata` (native, RLE Lossless and
/// Deflated transfer syntaxes; JPEG-family syntaxes are reported unsupported). The Modality LUT (Rescale Slope/Intercept, DICOM PS3.3
/// C.11.1) is applied to monochrome images; the VOI window is recorded in
/// [`DicomInfo`], not applied. Multi-frame files are an error rather than
/// silently reduced to their first frame.
fn decode_dicom(path: &Path, bytes: &[u8], limits: &ReadLimits) -> Result<Image, ImageError> {
    const FORMAT: &str = "DICOM";
    let decode = |reason: String| ImageError::Decode {
        path: path.to_path_buf(),
        format: FORMAT,
        reason,
    };
    let unsupported = |reason: String| ImageError::Unsupported {
        path: path.to_path_buf(),
        format: FORMAT,
        reason,
    };
    // The preamble is detected as `open_file` would (present when "DICM" is at byte 128).
    let obj = OpenFileOptions::new()
        .from_reader(bytes)
        .map_err(|e| decode(e.to_string()))?;
    let int_attr = |tag: Tag, name: &str| -> Result<Option<u64>, ImageError> {
        match obj.element_opt(tag).map_err(|e| decode(e.to_string()))? {
            None => Ok(None),
            Some(el) => el
                .to_int::<u64>()
                .map(Some)
                .map_err(|e| decode(format!("attribute {name} {tag}: {e}"))),
        }
    };
    let rows = int_attr(TAG_ROWS, "Rows")?
        .ok_or_else(|| decode("no Rows (0028,0010) attribute; is this an image?".into()))?;
    let cols = int_attr(TAG_COLUMNS, "Columns")?
        .ok_or_else(|| decode("no Columns (0028,0011) attribute; is this an image?".into()))?;
    limits.check(path, cols, rows)?;
    let frames = int_attr(TAG_NUMBER_OF_FRAMES, "NumberOfFrames")?.unwrap_or(1);
    if frames != 1 {
        return Err(unsupported(format!(
            "{frames} frames; only single-frame images are read (extract the frame first)"
        )));
    }
    let photometric = match obj
        .element_opt(TAG_PHOTOMETRIC)
        .map_err(|e| decode(e.to_string()))?
    {
        Some(el) => el
            .to_str()
            .map_err(|e| decode(format!("attribute PhotometricInterpretation: {e}")))?
            .trim()
            .to_string(),
        None => {
            return Err(decode(
                "no PhotometricInterpretation (0028,0004) attribute".into(),
            ));
        }
    };
    let channels: u8 = match photometric.as_str() {
        "MONOCHROME1" | "MONOCHROME2" => 1,
        "RGB" => 3,
        other => {
            return Err(unsupported(format!(
                "photometric interpretation {other}; expected MONOCHROME1, MONOCHROME2 or RGB"
            )));
        }
    };
    let px = obj.decode_pixel_data().map_err(|e| decode(e.to_string()))?;
    if u64::from(px.samples_per_pixel()) != u64::from(channels) {
        return Err(decode(format!(
            "{} samples per pixel for photometric interpretation {photometric}",
            px.samples_per_pixel()
        )));
    }
    let bits = px.bits_allocated();
    if !matches!(bits, 8 | 16) {
        return Err(unsupported(format!(
            "{bits} bits allocated; expected 8 or 16"
        )));
    }
    let pixels: Vec<f32> = px.to_vec_frame(0).map_err(|e| decode(e.to_string()))?;
    let expected = rows as usize * cols as usize * channels as usize;
    if pixels.len() != expected {
        return Err(decode(format!(
            "{} decoded samples for {rows}x{cols}x{channels}; expected {expected}",
            pixels.len()
        )));
    }
    if let Some(i) = pixels.iter().position(|v| !v.is_finite()) {
        return Err(decode(format!(
            "sample {i} is not finite after the Modality LUT"
        )));
    }
    let rescale = px.rescale().map_err(|e| decode(e.to_string()))?;
    let (slope, intercept) = rescale
        .first()
        .map_or((1.0, 0.0), |r| (r.slope, r.intercept));
    let window = px
        .window()
        .map_err(|e| decode(e.to_string()))?
        .and_then(|w| w.first())
        .map(|w| Window {
            center: w.center,
            width: w.width,
        });
    Ok(Image {
        // rows and cols passed the u32 limits check above.
        width: cols as u32,
        height: rows as u32,
        channels,
        pixels,
        source: ImageSource::Dicom,
        dicom: Some(DicomInfo {
            // The Modality LUT is only applied to monochrome data by dicom-pixeldata.
            rescale_slope: if channels == 1 { slope } else { 1.0 },
            rescale_intercept: if channels == 1 { intercept } else { 0.0 },
            window,
            photometric_interpretation: photometric,
            bits_stored: px.bits_stored(),
            signed: px.pixel_representation() == dicom_pixeldata::PixelRepresentation::Signed,
        }),
    })
}

/// One `.npy` file holding a single image: shape `(H, W)` or `(H, W, C)` with
/// `C` 1 or 3; any integer or float dtype; C or Fortran order.
fn decode_npy(path: &Path, bytes: &[u8], limits: &ReadLimits) -> Result<Image, ImageError> {
    let name = path
        .file_name()
        .map_or_else(|| "array".into(), |n| n.to_string_lossy().into_owned());
    let array = parse_npy(bytes, path, &name, limits)?;
    let (h, w, c) = match array.shape.as_slice() {
        &[h, w] => (h, w, 1),
        &[h, w, c] if c == 1 || c == 3 => (h, w, c),
        other => {
            return Err(array_err(
                path,
                &name,
                format!("shape {other:?}; expected (H, W) or (H, W, C) with C = 1 or 3"),
            ));
        }
    };
    let pixels = array.into_f32(path, &name)?;
    image_from_parts(path, &name, limits, w, h, c, pixels)
}

/// Reads split `split` (e.g. `"test"`) of a MedMNIST-style `.npz` archive:
/// `{split}_images` of shape `(N, H, W)` or `(N, H, W, C)` with `C` 1 or 3,
/// and `{split}_labels` of shape `(N, k)` or `(N,)` with integer values 0–255.
/// Image arrays may have any integer or float dtype (MedMNIST uses uint8);
/// archives may be stored or deflate-compressed (`np.savez_compressed`).
///
/// # Errors
///
/// [`ImageError::Array`] naming the array for a missing array (the message
/// lists those present), a wrong rank or shape, an unsupported dtype, a
/// label outside 0–255, or image and label counts that differ;
/// [`ImageError::Decode`] for a corrupt archive; [`ImageError::TooLarge`].
pub fn read_npz_split(
    path: &Path,
    split: &str,
    limits: &ReadLimits,
) -> Result<NpzSplit, ImageError> {
    let bytes = read_file(path, limits)?;
    let cases = decode_npz_split(path, &bytes, split, limits)?;
    let images = (0..cases.images.len())
        .map(|i| cases.images.image(i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NpzSplit {
        images,
        labels: cases.labels,
    })
}

/// One split of a MedMNIST-style archive with its images kept in the
/// archive's own element type (uint8 for MedMNIST): each [`Image`] is made
/// on demand by [`NpzImages::image`], so a whole-set `f32` copy never exists.
#[derive(Debug)]
pub struct NpzCases {
    /// The images, converted one at a time.
    pub images: NpzImages,
    /// One label row per case (see [`NpzSplit::labels`]).
    pub labels: Vec<Vec<u8>>,
}

/// The image array of an `.npz` split, in C order, in its stored element type.
#[derive(Debug)]
pub struct NpzImages {
    path: PathBuf,
    name: String,
    n: usize,
    height: usize,
    width: usize,
    channels: usize,
    values: Values,
}

impl NpzImages {
    /// Number of images.
    #[must_use]
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the split holds no images.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Image `i` as `f32` pixel values.
    ///
    /// # Errors
    ///
    /// [`ImageError::Invalid`] for an index past the end, [`ImageError::Array`]
    /// for a value that is not finite as `f32`.
    pub fn image(&self, i: usize) -> Result<Image, ImageError> {
        if i >= self.n {
            return Err(ImageError::Invalid {
                path: self.path.clone(),
                reason: format!(
                    "image {i} requested from '{}' of {} images",
                    self.name, self.n
                ),
            });
        }
        let per = self.height * self.width * self.channels;
        let range = i * per..(i + 1) * per;
        let pixels = self.values.slice_f32(range.clone());
        if let Some(j) = pixels.iter().position(|v| !v.is_finite()) {
            return Err(array_err(
                &self.path,
                &self.name,
                format!(
                    "value at flat index {} is not finite as float32",
                    range.start + j
                ),
            ));
        }
        Ok(Image {
            width: self.width as u32,
            height: self.height as u32,
            channels: self.channels as u8,
            pixels,
            source: ImageSource::Npy,
            dicom: None,
        })
    }
}

/// Reads split `split` of a MedMNIST-style `.npz` archive from its bytes
/// (see [`read_npz_split`] for the layout), keeping the images in their
/// stored element type.
///
/// # Errors
///
/// As [`read_npz_split`].
pub fn decode_npz_split(
    path: &Path,
    bytes: &[u8],
    split: &str,
    limits: &ReadLimits,
) -> Result<NpzCases, ImageError> {
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| ImageError::Decode {
            path: path.to_path_buf(),
            format: "NPZ (zip)",
            reason: e.to_string(),
        })?;
    let images_name = format!("{split}_images");
    let labels_name = format!("{split}_labels");
    let images = read_npz_array(&mut zip, path, &images_name, limits)?;
    let labels = read_npz_array(&mut zip, path, &labels_name, limits)?;

    let (n, h, w, c) = match images.shape.as_slice() {
        &[n, h, w] => (n, h, w, 1),
        &[n, h, w, c] if c == 1 || c == 3 => (n, h, w, c),
        other => {
            return Err(array_err(
                path,
                &images_name,
                format!("shape {other:?}; expected (N, H, W) or (N, H, W, C) with C = 1 or 3"),
            ));
        }
    };
    let k = match labels.shape.as_slice() {
        &[m] if m == n => 1,
        &[m, k] if m == n && k >= 1 => k,
        other => {
            return Err(array_err(
                path,
                &labels_name,
                format!(
                    "shape {other:?}; expected ({n}, k) to match {n} images in '{images_name}'"
                ),
            ));
        }
    };
    if n > 0 {
        limits.check(path, w as u64, h as u64)?;
        if h == 0 || w == 0 {
            return Err(array_err(
                path,
                &images_name,
                format!("images of {h}x{w} pixels; both must be at least 1"),
            ));
        }
    }
    let label_values = labels.into_u8(path, &labels_name)?;
    let values = images
        .values
        .into_c_order(&images.shape, images.fortran, path, &images_name)?;
    let labels = label_values.chunks_exact(k).map(<[u8]>::to_vec).collect();
    Ok(NpzCases {
        images: NpzImages {
            path: path.to_path_buf(),
            name: images_name,
            n,
            height: h,
            width: w,
            channels: c,
            values,
        },
        labels,
    })
}

fn read_npz_array<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    path: &Path,
    name: &str,
    limits: &ReadLimits,
) -> Result<NumArray, ImageError> {
    let entry_name = [format!("{name}.npy"), name.to_string()]
        .into_iter()
        .find(|n| zip.index_for_name(n).is_some());
    let Some(entry_name) = entry_name else {
        let mut present: Vec<&str> = zip
            .file_names()
            .map(|n| n.trim_end_matches(".npy"))
            .collect();
        present.sort_unstable();
        return Err(array_err(
            path,
            name,
            format!("not in the archive; it holds {present:?}"),
        ));
    };
    let corrupt = |e: String| ImageError::Decode {
        path: path.to_path_buf(),
        format: "NPZ (zip)",
        reason: format!("entry '{entry_name}': {e}"),
    };
    let mut entry = zip
        .by_name(&entry_name)
        .map_err(|e| corrupt(e.to_string()))?;
    let size = entry.size();
    if size > limits.max_bytes {
        return Err(array_err(
            path,
            name,
            format!(
                "{size} bytes uncompressed, more than the limit of {}",
                limits.max_bytes
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry
        .by_ref()
        .take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(e.to_string()))?;
    parse_npy(&bytes, path, name, limits)
}

/// A NumPy array read into one of the element types images and labels use.
struct NumArray {
    shape: Vec<usize>,
    /// Stored in Fortran (column-major) order.
    fortran: bool,
    values: Values,
}

#[derive(Debug)]
enum Values {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Parses `.npy` bytes with `ndarray-npy`'s header parser and element
/// readers, checking the declared size against the bytes present before
/// allocating, and returning values in C (row-major) order.
fn parse_npy(
    bytes: &[u8],
    path: &Path,
    name: &str,
    limits: &ReadLimits,
) -> Result<NumArray, ImageError> {
    let err = |reason: String| array_err(path, name, reason);
    let mut rest = bytes;
    let header =
        Header::from_reader(&mut rest).map_err(|e| err(format!("not a valid .npy array: {e}")))?;
    let descr = header
        .type_descriptor
        .as_string()
        .cloned()
        .unwrap_or_else(|| header.type_descriptor.to_string());
    let item_size: u64 = match descr.trim_start_matches(['<', '>', '|', '=']) {
        "u1" | "i1" | "B" | "b" => 1,
        "u2" | "i2" => 2,
        "u4" | "i4" | "f4" => 4,
        "u8" | "i8" | "f8" => 8,
        _ => {
            return Err(err(format!(
                "dtype '{descr}' is not supported; expected an integer or float32/float64 type"
            )));
        }
    };
    let len = header
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| err(format!("shape {:?} overflows", header.shape)))?;
    let data_bytes = len
        .checked_mul(item_size)
        .ok_or_else(|| err(format!("shape {:?} overflows", header.shape)))?;
    if data_bytes > limits.max_bytes {
        return Err(err(format!(
            "shape {:?} of {descr} needs {data_bytes} bytes, more than the limit of {}",
            header.shape, limits.max_bytes
        )));
    }
    if data_bytes != rest.len() as u64 {
        return Err(err(format!(
            "header declares shape {:?} of {descr} ({data_bytes} bytes) but {} data bytes follow{}",
            header.shape,
            rest.len(),
            if (rest.len() as u64) < data_bytes {
                " (truncated file)"
            } else {
                ""
            }
        )));
    }
    let len = data_bytes as usize / item_size as usize;
    let read_err = |e: ndarray_npy::ReadDataError| err(format!("cannot read {descr} data: {e}"));
    // Each element reader checks the descriptor (type and byte order) itself
    // and rejects it before reading; the first that accepts it wins.
    macro_rules! first_accepted {
        ($($t:ty => $v:ident),*) => {
            'found: {
                $(
                    if let Some(v) = try_read::<$t>(rest, &header, len).map_err(read_err)? {
                        break 'found Some(Values::$v(v));
                    }
                )*
                None
            }
        };
    }
    let values = first_accepted!(
        u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32,
        i32 => I32, u64 => U64, i64 => I64, f32 => F32, f64 => F64
    )
    .ok_or_else(|| {
        err(format!(
            "dtype '{descr}' is not supported; expected an integer or float32/float64 type"
        ))
    })?;
    Ok(NumArray {
        shape: header.shape.clone(),
        fortran: header.layout.is_fortran(),
        values,
    })
}

fn try_read<T: ReadableElement>(
    data: &[u8],
    header: &Header,
    len: usize,
) -> Result<Option<Vec<T>>, ndarray_npy::ReadDataError> {
    match T::read_to_end_exact_vec(data, &header.type_descriptor, len) {
        Ok(v) => Ok(Some(v)),
        Err(ndarray_npy::ReadDataError::WrongDescriptor(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl NumArray {
    /// All values as finite `f32`, in C order. Integers wider than 24 bits
    /// are rounded to the nearest `f32`.
    fn into_f32(self, path: &Path, name: &str) -> Result<Vec<f32>, ImageError> {
        #[allow(clippy::cast_precision_loss)]
        let values: Vec<f32> = match self.values {
            Values::U8(v) => v.into_iter().map(f32::from).collect(),
            Values::I8(v) => v.into_iter().map(f32::from).collect(),
            Values::U16(v) => v.into_iter().map(f32::from).collect(),
            Values::I16(v) => v.into_iter().map(f32::from).collect(),
            Values::U32(v) => v.into_iter().map(|x| x as f32).collect(),
            Values::I32(v) => v.into_iter().map(|x| x as f32).collect(),
            Values::U64(v) => v.into_iter().map(|x| x as f32).collect(),
            Values::I64(v) => v.into_iter().map(|x| x as f32).collect(),
            Values::F32(v) => v,
            Values::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(array_err(
                path,
                name,
                format!("value at flat index {i} is not finite as float32"),
            ));
        }
        c_order(values, &self.shape, self.fortran, path, name)
    }

    /// All values as `u8` labels, in C order.
    fn into_u8(self, path: &Path, name: &str) -> Result<Vec<u8>, ImageError> {
        fn narrow<T: Copy + std::fmt::Display>(
            v: Vec<T>,
            path: &Path,
            name: &str,
            conv: impl Fn(T) -> Option<u8>,
        ) -> Result<Vec<u8>, ImageError> {
            v.into_iter()
                .enumerate()
                .map(|(i, x)| {
                    conv(x).ok_or_else(|| {
                        array_err(
                            path,
                            name,
                            format!("label {x} at flat index {i} is outside 0..=255"),
                        )
                    })
                })
                .collect()
        }
        let values = match self.values {
            Values::U8(v) => v,
            Values::I8(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::U16(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::I16(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::U32(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::I32(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::U64(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::I64(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::F32(_) | Values::F64(_) => {
                return Err(array_err(
                    path,
                    name,
                    "labels are floating point; expected an integer dtype".into(),
                ));
            }
        };
        c_order(values, &self.shape, self.fortran, path, name)
    }
}

impl Values {
    /// The values in C order, in their own element type.
    fn into_c_order(
        self,
        shape: &[usize],
        fortran: bool,
        path: &Path,
        name: &str,
    ) -> Result<Values, ImageError> {
        macro_rules! reorder {
            ($($v:ident),*) => {
                match self {
                    $(Values::$v(v) => Values::$v(c_order(v, shape, fortran, path, name)?),)*
                }
            };
        }
        Ok(reorder!(U8, I8, U16, I16, U32, I32, U64, I64, F32, F64))
    }

    /// `range` of the values as `f32` (integers wider than 24 bits rounded).
    #[allow(clippy::cast_precision_loss)]
    fn slice_f32(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        match self {
            Values::U8(v) => v[range].iter().map(|&x| f32::from(x)).collect(),
            Values::I8(v) => v[range].iter().map(|&x| f32::from(x)).collect(),
            Values::U16(v) => v[range].iter().map(|&x| f32::from(x)).collect(),
            Values::I16(v) => v[range].iter().map(|&x| f32::from(x)).collect(),
            Values::U32(v) => v[range].iter().map(|&x| x as f32).collect(),
            Values::I32(v) => v[range].iter().map(|&x| x as f32).collect(),
            Values::U64(v) => v[range].iter().map(|&x| x as f32).collect(),
            Values::I64(v) => v[range].iter().map(|&x| x as f32).collect(),
            Values::F32(v) => v[range].to_vec(),
            Values::F64(v) => v[range].iter().map(|&x| x as f32).collect(),
        }
    }
}

/// Reorders values stored in Fortran (column-major) order into C order.
fn c_order<T: Clone>(
    values: Vec<T>,
    shape: &[usize],
    fortran: bool,
    path: &Path,
    name: &str,
) -> Result<Vec<T>, ImageError> {
    if !fortran || shape.len() < 2 {
        return Ok(values);
    }
    let array = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape).f(), values)
        .map_err(|e| array_err(path, name, format!("shape {shape:?}: {e}")))?;
    Ok(array.iter().cloned().collect())
}

fn array_err(path: &Path, array: &str, reason: String) -> ImageError {
    ImageError::Array {
        path: path.to_path_buf(),
        array: array.to_string(),
        reason,
    }
}

fn image_from_parts(
    path: &Path,
    name: &str,
    limits: &ReadLimits,
    w: usize,
    h: usize,
    c: usize,
    pixels: Vec<f32>,
) -> Result<Image, ImageError> {
    limits.check(path, w as u64, h as u64)?;
    if w == 0 || h == 0 {
        return Err(array_err(
            path,
            name,
            format!("image of {h}x{w} pixels; both must be at least 1"),
        ));
    }
    Ok(Image {
        width: w as u32,
        height: h as u32,
        channels: c as u8,
        pixels,
        source: ImageSource::Npy,
        dicom: None,
    })
}
