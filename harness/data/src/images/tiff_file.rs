//! Which image of a TIFF is the case. A TIFF holds a chain of images (IFDs): the pages of a
//! multi-page file, and images that are not pages — reduced-resolution copies of one (a
//! thumbnail, a pyramid's levels: NewSubfileType bit 0) and transparency masks (bit 2). As
//! with a DICOM file's frames, a file of several pages read as one image
//! ([`FrameSelect::Only`]) is refused rather than silently reduced to its first page; an index
//! or the middle picks a page. The page is decoded by [`super::raster`] (the `image` crate, which
//! reads a TIFF's first image: a later page is given to it as a copy of the file whose header
//! points at that page's IFD, so every page is decoded alike).

use std::collections::HashSet;
use std::io::Cursor;
use std::path::Path;

use tiff::decoder::Decoder;
use tiff::tags::{IfdPointer, Tag};

use super::{FrameSelect, Image, ImageError, ReadLimits, raster};

/// The signatures of classic TIFF and BigTIFF, little- and big-endian.
const SIGNATURES: [&[u8]; 4] = [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"];

/// The most images (IFDs) a TIFF's chain may hold before it is refused as malformed.
const MAX_IMAGES: usize = 65_536;

/// NewSubfileType bits of an image that is not a page: a reduced-resolution copy (bit 0) or a
/// transparency mask (bit 2).
const NOT_A_PAGE: u32 = 0b101;

/// Whether `bytes` start with a TIFF (or BigTIFF) signature.
pub fn is_tiff(bytes: &[u8]) -> bool {
    SIGNATURES.iter().any(|s| bytes.starts_with(s))
}

fn decode_error(path: &Path, reason: impl std::fmt::Display) -> ImageError {
    ImageError::Decode {
        path: path.to_path_buf(),
        format: "TIFF",
        reason: reason.to_string(),
    }
}

/// The file offsets of a TIFF's pages (their IFDs), in file order: every image of the main
/// chain but reduced-resolution copies and transparency masks. A chain that loops, or of more
/// than [`MAX_IMAGES`] images, is refused.
///
/// # Errors
///
/// [`ImageError::Decode`] naming the file: not a TIFF, a malformed header or IFD.
pub fn tiff_pages(path: &Path, bytes: &[u8]) -> Result<Vec<u64>, ImageError> {
    pages_in(path, Cursor::new(bytes))
}

/// The number of pages of the TIFF at `path` ([`tiff_pages`]), reading its header and image
/// directories only, not its pixels.
///
/// # Errors
///
/// [`ImageError::Io`] for an unreadable file; as [`tiff_pages`].
pub fn count_tiff_pages(path: &Path) -> Result<u32, ImageError> {
    let file = std::fs::File::open(path).map_err(|source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let pages = pages_in(path, std::io::BufReader::new(file))?;
    Ok(u32::try_from(pages.len()).unwrap_or(u32::MAX))
}

fn pages_in<R: std::io::Read + std::io::Seek>(
    path: &Path,
    reader: R,
) -> Result<Vec<u64>, ImageError> {
    let fail = |e: tiff::TiffError| decode_error(path, e);
    let mut decoder = Decoder::new(reader).map_err(fail)?;
    let mut at = decoder.ifd_pointer();
    let mut seen = HashSet::new();
    let mut pages = Vec::new();
    while let Some(IfdPointer(offset)) = at {
        if !seen.insert(offset) {
            return Err(decode_error(
                path,
                format!("its chain of images loops back to the IFD at byte {offset}"),
            ));
        }
        if seen.len() > MAX_IMAGES {
            return Err(decode_error(
                path,
                format!("more than {MAX_IMAGES} images in one file"),
            ));
        }
        let dir = decoder.read_directory(IfdPointer(offset)).map_err(fail)?;
        let kind = decoder
            .read_directory_tags(&dir)
            .find_tag_unsigned::<u32>(Tag::NewSubfileType)
            .map_err(fail)?
            .unwrap_or(0);
        if kind & NOT_A_PAGE == 0 {
            pages.push(offset);
        }
        at = dir.next();
    }
    Ok(pages)
}

/// The page of a TIFF that `select` names, decoded ([`FrameSelect::All`] is refused here: an
/// [`Image`] is one page).
pub(super) fn decode_tiff(
    path: &Path,
    bytes: &[u8],
    limits: &ReadLimits,
    select: FrameSelect,
) -> Result<Image, ImageError> {
    let pages = tiff_pages(path, bytes)?;
    let n = pages.len();
    let k = match select {
        _ if n == 0 => {
            return Err(decode_error(
                path,
                "no page: its only images are reduced-resolution copies or masks",
            ));
        }
        FrameSelect::Only if n > 1 => {
            return Err(ImageError::Unsupported {
                path: path.to_path_buf(),
                format: "TIFF",
                reason: format!(
                    "{n} pages (images); declare which to use (a page index from 0, or the middle \
                     page) instead of reading a multi-page file as one image"
                ),
            });
        }
        FrameSelect::Only => 0,
        FrameSelect::Index(k) if k as usize >= n => {
            return Err(ImageError::Invalid {
                path: path.to_path_buf(),
                reason: format!("page {k} asked for, but the file has {n} page(s), counted from 0"),
            });
        }
        FrameSelect::Index(k) => k as usize,
        FrameSelect::Middle => n / 2,
        FrameSelect::All => {
            return Err(ImageError::Invalid {
                path: path.to_path_buf(),
                reason: "every page asked for as one image".into(),
            });
        }
    };
    let first = first_ifd(bytes);
    if Some(pages[k]) == first {
        return raster::decode_raster(path, bytes, limits);
    }
    let mut copy = bytes.to_vec();
    point_at(&mut copy, pages[k]);
    raster::decode_raster(path, &copy, limits)
}

/// Whether the header is big-endian, and whether the file is a BigTIFF.
fn layout(bytes: &[u8]) -> (bool, bool) {
    (
        bytes.starts_with(b"MM"),
        bytes.get(2..4) == Some(b"\0+") || bytes.get(2..4) == Some(b"+\0"),
    )
}

/// The offset of the first IFD, as the header gives it.
fn first_ifd(bytes: &[u8]) -> Option<u64> {
    let (big_endian, bigtiff) = layout(bytes);
    if bigtiff {
        let raw: [u8; 8] = bytes.get(8..16)?.try_into().ok()?;
        Some(if big_endian {
            u64::from_be_bytes(raw)
        } else {
            u64::from_le_bytes(raw)
        })
    } else {
        let raw: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
        Some(u64::from(if big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        }))
    }
}

/// Rewrites the header of a TIFF (whose header [`tiff_pages`] has read) so that its first IFD
/// is the one at `offset`.
fn point_at(bytes: &mut [u8], offset: u64) {
    let (big_endian, bigtiff) = layout(bytes);
    if bigtiff {
        let raw = if big_endian {
            offset.to_be_bytes()
        } else {
            offset.to_le_bytes()
        };
        bytes[8..16].copy_from_slice(&raw);
    } else {
        // A classic TIFF's offsets are 32-bit: the chain read from it holds no larger one.
        let offset = u32::try_from(offset).unwrap_or(u32::MAX);
        let raw = if big_endian {
            offset.to_be_bytes()
        } else {
            offset.to_le_bytes()
        };
        bytes[4..8].copy_from_slice(&raw);
    }
}
