//! PNG, JPEG and TIFF, decoded by the `image` crate: 8- or 16-bit grey, grey+alpha,
//! RGB or RGBA (a TIFF's CMYK is converted to RGB, its 1-bit bilevel expanded to 0/255, its
//! WhiteIsZero inverted to display), with alpha dropped and values kept in 0–255 or
//! 0–65535. Other sample layouts (floating-point or 12-bit samples, …) are refused as
//! unsupported. The width and height are checked against [`ReadLimits`] before the pixels
//! are decoded, and the decoder's allocations are capped at `max_bytes`. An EXIF (TIFF:
//! the image's own) Orientation tag is read into [`Image::orientation`], not applied. Which
//! image of a multi-page TIFF is decoded is [`super::tiff_file`]'s to choose.

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat};

use super::{Image, ImageError, ImageSource, Orientation, ReadLimits};

/// PNG or JPEG through the `image` crate, the format guessed from its signature: 8- or 16-bit
/// grey, grey+alpha, RGB or RGBA; alpha is dropped. Values stay in 0–255 or 0–65535.
pub(super) fn decode_raster(
    path: &Path,
    bytes: &[u8],
    limits: &ReadLimits,
) -> Result<Image, ImageError> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    decode_with(path, reader, limits)
}

/// The first image of a TIFF (or BigTIFF, whose signature the `image` crate does not guess)
/// read from `reader`, as [`decode_raster`] decodes.
pub(super) fn decode_tiff_image<R: std::io::BufRead + std::io::Seek>(
    path: &Path,
    reader: R,
    limits: &ReadLimits,
) -> Result<Image, ImageError> {
    decode_with(
        path,
        image::ImageReader::with_format(reader, ImageFormat::Tiff),
        limits,
    )
}

fn decode_with<R: std::io::BufRead + std::io::Seek>(
    path: &Path,
    mut reader: image::ImageReader<R>,
    limits: &ReadLimits,
) -> Result<Image, ImageError> {
    let (format, source) = match reader.format() {
        Some(ImageFormat::Png) => ("PNG", ImageSource::Png),
        Some(ImageFormat::Jpeg) => ("JPEG", ImageSource::Jpeg),
        Some(ImageFormat::Tiff) => ("TIFF", ImageSource::Tiff),
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
    let mut decoder = reader.into_decoder().map_err(decode)?;
    let (width, height) = decoder.dimensions();
    // An EXIF block that cannot be read is ignored, as PIL ignores it: the pixels are as
    // stored either way.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    limits.check(path, u64::from(width), u64::from(height))?;
    let dynamic = DynamicImage::from_decoder(decoder).map_err(decode)?;
    let bits = match &dynamic {
        DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_) => 16,
        _ => 8,
    };
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
        sample_bits: Some(bits),
        orientation,
    })
}

/// Keeps the first `stride - 1` samples of every `stride` (drops alpha).
fn drop_alpha<T: Copy + Into<f32>>(raw: &[T], stride: usize) -> Vec<f32> {
    raw.chunks_exact(stride)
        .flat_map(|px| px[..stride - 1].iter().map(|&v| v.into()))
        .collect()
}
