//! DICOM, decoded by `dicom-object` and `dicom-pixeldata`: single-frame
//! MONOCHROME1, MONOCHROME2 or RGB images with 8 or 16 bits allocated, in the
//! native, RLE Lossless or Deflated transfer syntaxes (JPEG-family syntaxes are
//! refused as unsupported). Monochrome values come out after the Modality LUT;
//! the VOI window is recorded in [`DicomInfo`], not applied. Rows and Columns
//! are checked against [`ReadLimits`] before the pixel data is decoded.

use std::path::Path;

use dicom_object::{OpenFileOptions, Tag};
use dicom_pixeldata::PixelDecoder;

use super::{DicomInfo, Image, ImageError, ImageSource, ReadLimits, Window};

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
pub(super) fn decode_dicom(
    path: &Path,
    bytes: &[u8],
    limits: &ReadLimits,
) -> Result<Image, ImageError> {
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
            bits_allocated: bits,
            transfer_syntax: obj
                .meta()
                .transfer_syntax()
                .trim_end_matches(['\0', ' '])
                .to_string(),
            signed: px.pixel_representation() == dicom_pixeldata::PixelRepresentation::Signed,
        }),
    })
}
