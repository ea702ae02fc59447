//! Which image of a TIFF is the case, and the one layout the `image` crate does not decode.
//!
//! A TIFF holds a chain of images (IFDs): the pages of a multi-page file, and images that are
//! not pages — reduced-resolution copies of one (a thumbnail, a pyramid's levels:
//! NewSubfileType bit 0, or the older SubfileType 2) and transparency masks (bit 2). As with a
//! DICOM file's frames, a file of several pages read as one image ([`FrameSelect::Only`]) is
//! refused rather than silently reduced to its first page; an index or the middle picks a page.
//! The page is decoded by [`super::raster`] (the `image` crate, which reads a TIFF's first
//! image: it is given the file through a reader whose header names the page's IFD as the
//! first, so every page is decoded alike and the file is not copied). JPEG-compressed YCbCr
//! pages (libtiff's default for JPEG), which the `image` crate refuses, are decoded here with
//! the `tiff` crate and converted to RGB as libjpeg converts JFIF (ITU-R BT.601, full range).

use std::collections::HashSet;
use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::{IfdPointer, Tag};

use super::{
    FrameSelect, Image, ImageError, ImageSource, Orientation, ReadLimits, SelectError, raster,
};

/// The signatures of classic TIFF and BigTIFF, little- and big-endian.
const SIGNATURES: [&[u8]; 4] = [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"];

/// The most images (IFDs) a TIFF's chain may hold, and the most directory entries they may
/// hold in all, before the file is refused as malformed: a hostile chain of distinct,
/// overlapping directories would otherwise be read for minutes.
const MAX_IMAGES: usize = 65_536;
const MAX_ENTRIES: usize = 1 << 20;

/// NewSubfileType bits of an image that is not a page: a reduced-resolution copy (bit 0) or a
/// transparency mask (bit 2).
const NOT_A_PAGE: u32 = 0b101;
/// SubfileType (the tag NewSubfileType replaced) of a reduced-resolution copy.
const OLD_REDUCED: u32 = 2;

/// Whether `bytes` start with a TIFF (or BigTIFF) signature.
#[must_use]
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

/// One page of a TIFF: where its IFD is, and whether it is JPEG-compressed YCbCr.
struct Page {
    offset: u64,
    ycbcr_jpeg: bool,
}

/// The number of pages of the TIFF at `path` (at least 1): every image of the main chain but
/// reduced-resolution copies and transparency masks, read from its header and image
/// directories only, not its pixels.
///
/// # Errors
///
/// [`ImageError::Io`] for an unreadable file; [`ImageError::Decode`] naming the file: not a
/// TIFF, a malformed header or IFD, a chain that loops or is longer than any real file's, or
/// no page (only thumbnails or masks).
pub fn count_tiff_pages(path: &Path) -> Result<u32, ImageError> {
    let file = std::fs::File::open(path).map_err(|source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(page_count(&pages_in(path, std::io::BufReader::new(file))?))
}

/// The pages of a TIFF (their IFDs), in file order; errors as [`count_tiff_pages`].
fn pages_in<R: Read + Seek>(path: &Path, reader: R) -> Result<Vec<Page>, ImageError> {
    let fail = |e: tiff::TiffError| decode_error(path, e);
    let mut decoder = Decoder::new(reader).map_err(fail)?;
    let mut at = decoder.ifd_pointer();
    let mut seen = HashSet::new();
    let mut entries = 0usize;
    let mut pages = Vec::new();
    while let Some(IfdPointer(offset)) = at {
        if !seen.insert(offset) {
            return Err(decode_error(
                path,
                format!("its chain of images loops back to the IFD at byte {offset}"),
            ));
        }
        let dir = decoder.read_directory(IfdPointer(offset)).map_err(fail)?;
        entries += dir.len();
        if seen.len() > MAX_IMAGES || entries > MAX_ENTRIES {
            return Err(decode_error(
                path,
                format!(
                    "more than {MAX_IMAGES} images or {MAX_ENTRIES} directory entries in one file"
                ),
            ));
        }
        let mut tags = decoder.read_directory_tags(&dir);
        let mut tag = |t: Tag| tags.find_tag_unsigned::<u32>(t).map_err(fail);
        let kind = tag(Tag::NewSubfileType)?.unwrap_or(0);
        let old_kind = tag(Tag::SubfileType)?.unwrap_or(1);
        if kind & NOT_A_PAGE == 0 && old_kind != OLD_REDUCED {
            // Photometric 6 is YCbCr; compression 7 is JPEG (6, "old-style" JPEG, is refused).
            let ycbcr_jpeg = tag(Tag::PhotometricInterpretation)? == Some(6)
                && tag(Tag::Compression)? == Some(7);
            pages.push(Page { offset, ycbcr_jpeg });
        }
        at = dir.next();
    }
    if pages.is_empty() {
        return Err(decode_error(
            path,
            "no page: its only images are reduced-resolution copies or masks",
        ));
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
    if select == FrameSelect::All {
        return Err(ImageError::Invalid {
            path: path.to_path_buf(),
            reason: "every page asked for as one image".into(),
        });
    }
    let pages = TiffPages::read(path, bytes)?;
    let k = pages.select(select)?[0];
    pages.decode(k, limits)
}

/// A TIFF's pages, its chain of images walked once: how many, and any of them decoded as
/// [`super::decode_image_frame`] decodes it (`harness inspect --frame all` decodes every page
/// without walking the chain again for each).
pub struct TiffPages<'b> {
    path: &'b Path,
    bytes: &'b [u8],
    pages: Vec<Page>,
}

impl<'b> TiffPages<'b> {
    /// The pages of the TIFF `bytes` (read from `path`, which errors name).
    ///
    /// # Errors
    ///
    /// As [`count_tiff_pages`].
    pub fn read(path: &'b Path, bytes: &'b [u8]) -> Result<Self, ImageError> {
        Ok(TiffPages {
            path,
            bytes,
            pages: pages_in(path, Cursor::new(bytes))?,
        })
    }

    /// The number of pages (at least 1; the chain is capped far below `u32::MAX`).
    #[must_use]
    pub fn count(&self) -> u32 {
        page_count(&self.pages)
    }

    /// The indices of the pages `select` names ([`FrameSelect::indices`]).
    ///
    /// # Errors
    ///
    /// [`ImageError::Unsupported`] for the one image of a file of several pages,
    /// [`ImageError::Invalid`] for a page past the last, naming the file.
    pub fn select(&self, select: FrameSelect) -> Result<Vec<u32>, ImageError> {
        let path = self.path.to_path_buf();
        select.indices(self.count()).map_err(|e| match e {
            SelectError::SeveralAsOne { .. } => ImageError::Unsupported {
                path,
                format: "TIFF",
                reason: e.reason("page"),
            },
            SelectError::OutOfRange { .. } => ImageError::Invalid {
                path,
                reason: e.reason("page"),
            },
        })
    }

    /// Page `k`, decoded.
    ///
    /// # Errors
    ///
    /// [`ImageError::Invalid`] for a page past the last; the decoder's errors, naming the file.
    pub fn decode(&self, k: u32, limits: &ReadLimits) -> Result<Image, ImageError> {
        let page = self.select(FrameSelect::Index(k))?;
        let page = &self.pages[page[0] as usize];
        let reader = Repointed::new(self.bytes, page.offset);
        if page.ycbcr_jpeg {
            decode_ycbcr_jpeg(self.path, reader, limits)
        } else {
            raster::decode_tiff_image(self.path, reader, limits)
        }
    }
}

/// `pages_in` caps the chain far below `u32::MAX`.
fn page_count(pages: &[Page]) -> u32 {
    u32::try_from(pages.len()).unwrap_or(u32::MAX)
}

/// A JPEG-compressed YCbCr page (the reader's first image), as RGB: the `tiff` crate gives the
/// JPEG's YCbCr samples, upsampled, and they are converted as libjpeg converts JFIF.
fn decode_ycbcr_jpeg(
    path: &Path,
    reader: Repointed<'_>,
    limits: &ReadLimits,
) -> Result<Image, ImageError> {
    let fail = |e: tiff::TiffError| decode_error(path, e);
    let mut tiff_limits = Limits::default();
    tiff_limits.decoding_buffer_size = usize::try_from(limits.max_bytes).unwrap_or(usize::MAX);
    tiff_limits.intermediate_buffer_size = tiff_limits.decoding_buffer_size;
    let mut decoder = Decoder::new(reader).map_err(fail)?.with_limits(tiff_limits);
    let (width, height) = decoder.dimensions().map_err(fail)?;
    limits.check(path, u64::from(width), u64::from(height))?;
    let orientation = decoder
        .find_tag_unsigned::<u16>(Tag::Orientation)
        .ok()
        .flatten()
        .and_then(|v| Orientation::from_exif(u8::try_from(v).ok()?))
        .unwrap_or(Orientation::NoTransforms);
    let DecodingResult::U8(samples) = decoder.read_image().map_err(fail)? else {
        return Err(ImageError::Unsupported {
            path: path.to_path_buf(),
            format: "TIFF",
            reason: "JPEG-compressed YCbCr of other than 8 bits per sample".into(),
        });
    };
    let pixels = width as usize * height as usize;
    if samples.len() < pixels * 3 {
        return Err(decode_error(
            path,
            format!(
                "{} YCbCr samples for {width} x {height} pixels (planar or truncated)",
                samples.len()
            ),
        ));
    }
    let clamp = |v: f32| v.round().clamp(0.0, 255.0);
    let rgb = samples[..pixels * 3]
        .chunks_exact(3)
        .flat_map(|p| {
            let (y, cb, cr) = (
                f32::from(p[0]),
                f32::from(p[1]) - 128.0,
                f32::from(p[2]) - 128.0,
            );
            [
                clamp(y + 1.402 * cr),
                clamp(y - 0.344_136 * cb - 0.714_136 * cr),
                clamp(y + 1.772 * cb),
            ]
        })
        .collect();
    Ok(Image {
        width,
        height,
        channels: 3,
        pixels: rgb,
        source: ImageSource::Tiff,
        dicom: None,
        sample_bits: Some(8),
        orientation,
    })
}

/// A TIFF's bytes read with its header's first-IFD offset replaced: a decoder that reads a
/// file's first image then reads the page at that offset. Nothing is copied.
struct Repointed<'a> {
    bytes: &'a [u8],
    /// The header as read: 8 bytes (classic TIFF) or 16 (BigTIFF), the offset replaced.
    header: [u8; 16],
    header_len: usize,
    pos: usize,
}

impl<'a> Repointed<'a> {
    /// `bytes` is a TIFF whose header [`pages_in`] has read (8 or 16 bytes are there), and
    /// `offset` one of its IFDs (for a classic TIFF, under 2^32, as it was read from 32 bits).
    fn new(bytes: &'a [u8], offset: u64) -> Self {
        let big_endian = bytes.starts_with(b"MM");
        let bigtiff = bytes.get(2..4) == Some(b"\0+") || bytes.get(2..4) == Some(b"+\0");
        let header_len = if bigtiff { 16 } else { 8 };
        let mut header = [0u8; 16];
        let have = bytes.len().min(header_len);
        header[..have].copy_from_slice(&bytes[..have]);
        if bigtiff {
            let raw = if big_endian {
                offset.to_be_bytes()
            } else {
                offset.to_le_bytes()
            };
            header[8..16].copy_from_slice(&raw);
        } else {
            let offset = u32::try_from(offset).unwrap_or(u32::MAX);
            let raw = if big_endian {
                offset.to_be_bytes()
            } else {
                offset.to_le_bytes()
            };
            header[4..8].copy_from_slice(&raw);
        }
        Repointed {
            bytes,
            header,
            header_len: header_len.min(bytes.len()),
            pos: 0,
        }
    }
}

impl Read for Repointed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Repointed<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(if self.pos < self.header_len {
            &self.header[self.pos..self.header_len]
        } else {
            self.bytes.get(self.pos..).unwrap_or_default()
        })
    }

    fn consume(&mut self, amount: usize) {
        self.pos = self.pos.saturating_add(amount);
    }
}

impl Seek for Repointed<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let len = self.bytes.len() as i128;
        let target = match to {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::End(d) => len + i128::from(d),
            SeekFrom::Current(d) => self.pos as i128 + i128::from(d),
        };
        if target < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            ));
        }
        self.pos = usize::try_from(target).unwrap_or(usize::MAX);
        Ok(self.pos as u64)
    }
}
