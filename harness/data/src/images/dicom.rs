//! DICOM, parsed by `dicom-object` and decoded here and by `dicom-pixeldata`'s codecs.
//!
//! Transfer syntaxes: implicit and explicit VR little endian, explicit VR big endian and
//! deflated explicit VR little endian (native pixel data, unpacked here); RLE Lossless, JPEG
//! baseline, extended and lossless (`jpeg-decoder`), JPEG-LS (CharLS) and JPEG 2000 (OpenJPEG)
//! through `dicom-pixeldata`. Photometric interpretations: MONOCHROME1/2, RGB, YBR_FULL,
//! YBR_FULL_422, YBR_RCT and YBR_ICT (all to RGB), PALETTE COLOR (through its LUT, to RGB in
//! the LUT's units); planar configuration 0 and 1; 1, 8, 16 and 32 bits allocated, signed or
//! not; any number of frames, each decoded on its own.
//!
//! Values are what pydicom gives (`pixel_array`, then `apply_modality_lut` or
//! `apply_color_lut`): the Modality LUT (Rescale Slope/Intercept, PS3.3 C.11.1) is applied to
//! monochrome images, the VOI window is recorded in [`DicomInfo`], never applied, and
//! MONOCHROME1 is not inverted here. Rows and Columns are checked against [`ReadLimits`]
//! before any pixel memory is allocated, and the declared length of every element, item and
//! fragment is checked against the bytes left before the parser reads it (the parser allocates
//! a value's declared length first; a deflated data set is inflated and then checked the same
//! way): a truncated or malformed file is an error naming the file, never a panic.

use std::path::Path;

use dicom_core::VR;
use dicom_core::dictionary::{DataDictionary, VirtualVr};
use dicom_core::header::HasLength;
use dicom_core::value::{DicomValueType, PrimitiveValue, Value as DicomValue};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::mem::InMemElement;
use dicom_object::{DefaultDicomObject, FileMetaTable, InMemDicomObject, OpenFileOptions, Tag};
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};

use super::dicom_codecs::{decode_jpeg, decode_jpeg_grey, decode_rle, frame_bytes};
use super::{
    DicomInfo, FrameSelect, Image, ImageError, ImageSource, Orientation, ReadLimits, SelectError,
    Window,
};

// DICOM tags (PS3.6 data dictionary).
const TAG_SAMPLES_PER_PIXEL: Tag = Tag(0x0028, 0x0002);
const TAG_PHOTOMETRIC: Tag = Tag(0x0028, 0x0004);
const TAG_PLANAR_CONFIGURATION: Tag = Tag(0x0028, 0x0006);
const TAG_NUMBER_OF_FRAMES: Tag = Tag(0x0028, 0x0008);
const TAG_ROWS: Tag = Tag(0x0028, 0x0010);
const TAG_COLUMNS: Tag = Tag(0x0028, 0x0011);
const TAG_BITS_ALLOCATED: Tag = Tag(0x0028, 0x0100);
const TAG_BITS_STORED: Tag = Tag(0x0028, 0x0101);
const TAG_PIXEL_REPRESENTATION: Tag = Tag(0x0028, 0x0103);
const TAG_WINDOW_CENTER: Tag = Tag(0x0028, 0x1050);
const TAG_WINDOW_WIDTH: Tag = Tag(0x0028, 0x1051);
const TAG_RESCALE_INTERCEPT: Tag = Tag(0x0028, 0x1052);
const TAG_RESCALE_SLOPE: Tag = Tag(0x0028, 0x1053);
const TAG_MODALITY_LUT_SEQUENCE: Tag = Tag(0x0028, 0x3000);
const TAG_PALETTE_DESCRIPTORS: [Tag; 3] = [
    Tag(0x0028, 0x1101),
    Tag(0x0028, 0x1102),
    Tag(0x0028, 0x1103),
];
const TAG_PALETTE_DATA: [Tag; 3] = [
    Tag(0x0028, 0x1201),
    Tag(0x0028, 0x1202),
    Tag(0x0028, 0x1203),
];
const TAG_SEGMENTED_PALETTE: Tag = Tag(0x0028, 0x1221);
const TAG_PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

const FORMAT: &str = "DICOM";
/// Explicit VR Big Endian, the one big-endian transfer syntax (retired, still in archives).
const BIG_ENDIAN_TS: &str = "1.2.840.10008.1.2.2";

/// Decoded frames of one DICOM file, each in [`Image`]'s HWC layout, as `f64` so that 32-bit
/// samples keep every digit (`harness inspect` writes them as float64).
#[derive(Debug, Clone)]
pub struct DicomFrames {
    /// Rows of every frame.
    pub rows: u32,
    /// Columns of every frame.
    pub columns: u32,
    /// 1 (grey) or 3 (RGB after colour conversion or the palette).
    pub channels: u8,
    /// `(frame index from 0, rows × columns × channels values)`, in the order asked for.
    pub frames: Vec<(u32, Vec<f64>)>,
    /// The attributes that describe the file's pixels.
    pub info: DicomInfo,
}

/// What the header says about the pixels, read and checked before any pixel is decoded.
struct Header {
    rows: u32,
    cols: u32,
    frames: u32,
    samples: u16,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    photometric: String,
    planar: u16,
    transfer_syntax: String,
    slope: f64,
    intercept: f64,
    window: Option<Window>,
    palette: Option<Palette>,
}

/// A PALETTE COLOR lookup table (PS3.3 C.7.6.3.1.5): one per channel.
struct Palette {
    first_mapped: i64,
    /// Red, green and blue entries, in the LUT's own units.
    tables: [Vec<u16>; 3],
}

impl Palette {
    fn lookup(&self, index: f64) -> [f64; 3] {
        let mut out = [0.0; 3];
        for (o, table) in out.iter_mut().zip(&self.tables) {
            // Values below the first mapped one take the first entry, above the last the last.
            let i = (index as i64 - self.first_mapped).clamp(0, table.len() as i64 - 1);
            *o = f64::from(table[i as usize]);
        }
        out
    }
}

/// Errors carry the file's path and the reader's name.
struct Fail<'a>(&'a Path);

impl Fail<'_> {
    fn decode(&self, reason: impl Into<String>) -> ImageError {
        ImageError::Decode {
            path: self.0.to_path_buf(),
            format: FORMAT,
            reason: reason.into(),
        }
    }
    /// A codec's failure on `frame`: unsupported where the codec says so (a valid stream of a
    /// kind it does not handle), else a decode error.
    fn codec(&self, frame: u32, transfer_syntax: &str, reason: &str) -> ImageError {
        let text = format!("frame {frame}: {reason} (transfer syntax {transfer_syntax})");
        if reason.contains("Unsupported") || reason.contains("unsupported") {
            self.unsupported(text)
        } else {
            self.decode(text)
        }
    }
    fn unsupported(&self, reason: impl Into<String>) -> ImageError {
        ImageError::Unsupported {
            path: self.0.to_path_buf(),
            format: FORMAT,
            reason: reason.into(),
        }
    }
}

/// One image of a DICOM file: the frame `select` names ([`FrameSelect::All`] is refused
/// here: an [`Image`] is one frame). A multi-frame file read with [`FrameSelect::Only`] is
/// refused, naming the frame count, rather than silently reduced to its first frame.
pub(super) fn decode_dicom(
    path: &Path,
    bytes: &[u8],
    limits: &ReadLimits,
    select: FrameSelect,
) -> Result<Image, ImageError> {
    let fail = Fail(path);
    if select == FrameSelect::All {
        return Err(fail.unsupported(
            "every frame was asked for, but an image is one frame (use decode_dicom_frames)",
        ));
    }
    let mut decoded = decode_dicom_frames(path, bytes, limits, select)?;
    let (_, values) = decoded
        .frames
        .pop()
        .ok_or_else(|| fail.decode("no frame decoded"))?;
    let pixels: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    if let Some(i) = pixels.iter().position(|v| !v.is_finite()) {
        return Err(fail.decode(format!(
            "sample {i} ({}) does not fit a 32-bit float after the Modality LUT",
            values[i]
        )));
    }
    Ok(Image {
        width: decoded.columns,
        height: decoded.rows,
        channels: decoded.channels,
        pixels,
        source: ImageSource::Dicom,
        dicom: Some(decoded.info),
        sample_bits: None,
        orientation: Orientation::NoTransforms,
    })
}

/// Decodes the frames of a DICOM file that `select` names, each checked and converted as the
/// module documentation says.
///
/// # Errors
///
/// [`ImageError::Decode`] for a file that is not DICOM, holds no image (structured reports,
/// RT plans, DICOMDIR), or whose pixel data is truncated or inconsistent with its header;
/// [`ImageError::Unsupported`] for a valid file of a kind not handled (float pixel data,
/// segmented palettes, a Modality LUT Sequence, an unknown transfer syntax); a frame index past
/// the last frame; [`ImageError::TooLarge`] beyond `limits`.
pub fn decode_dicom_frames(
    path: &Path,
    bytes: &[u8],
    limits: &ReadLimits,
    select: FrameSelect,
) -> Result<DicomFrames, ImageError> {
    let fail = Fail(path);
    let obj = open(bytes, limits.max_bytes).map_err(|e| {
        fail.decode(format!(
            "{e} (a DICOM Part 10 file with its File Meta Information is expected)"
        ))
    })?;
    let header = read_header(&obj, &fail, limits)?;
    let wanted: Vec<u32> = select.indices(header.frames).map_err(|e| match e {
        SelectError::SeveralAsOne { .. } => fail.unsupported(e.reason("frame")),
        SelectError::OutOfRange { .. } => fail.decode(e.reason("frame")),
    })?;
    let pixel_data = obj
        .element_opt(TAG_PIXEL_DATA)
        .map_err(|e| fail.decode(e.to_string()))?
        .ok_or_else(|| fail.decode("no Pixel Data (7FE0,0010): not an image"))?;
    let channels: u8 = if header.samples == 3 || header.palette.is_some() {
        3
    } else {
        1
    };
    let mut frames = Vec::with_capacity(wanted.len());
    match pixel_data.value() {
        DicomValue::PixelSequence(seq) => {
            for &k in &wanted {
                let values = match Codec::of(&header.transfer_syntax) {
                    Codec::Jpeg | Codec::Rle => {
                        let bytes =
                            frame_bytes(seq.fragments(), seq.offset_table(), header.frames, k)
                                .map_err(|e| fail.decode(format!("frame {k}: {e}")))?;
                        decode_own_codec(&bytes, &header, k, &fail)?
                    }
                    Codec::PixelData => decode_encapsulated(&obj, &header, k, &fail)?,
                };
                frames.push((k, values));
            }
        }
        DicomValue::Primitive(value) => {
            for &k in &wanted {
                frames.push((k, decode_native(value, &header, k, &fail)?));
            }
        }
        DicomValue::Sequence(_) => {
            return Err(fail.decode("Pixel Data (7FE0,0010) is a sequence, not pixel values"));
        }
    }
    let info = DicomInfo {
        rescale_slope: header.slope,
        rescale_intercept: header.intercept,
        window: header.window,
        photometric_interpretation: header.photometric.clone(),
        bits_stored: header.bits_stored,
        bits_allocated: header.bits_allocated,
        transfer_syntax: header.transfer_syntax.clone(),
        signed: header.signed,
        frames: header.frames,
        samples_per_pixel: header.samples,
        planar_configuration: header.planar,
    };
    Ok(DicomFrames {
        rows: header.rows,
        columns: header.cols,
        channels,
        frames,
        info,
    })
}

/// Parses a DICOM Part 10 file. The preamble is detected as `open_file` would (present when
/// "DICM" is at byte 128). A data set written in the other VR encoding than its transfer
/// syntax says (explicit-VR syntaxes over implicit-VR data, seen in files from real toolkits)
/// is read as pydicom reads it: in the encoding it actually has, the transfer syntax still
/// deciding how the pixel data is compressed.
///
/// Before the parser reads a data set, its declared lengths are checked against the bytes
/// left ([`check_lengths`]): the parser allocates (and zeroes) a value's declared length before
/// reading it, so a truncated or corrupt file declaring a 4 GB element would otherwise cost
/// 4 GB of memory for one refused file. A deflated data set is inflated first (at most
/// `max_inflated` bytes) and checked the same way ([`check_deflated`]).
fn open(bytes: &[u8], max_inflated: u64) -> Result<DefaultDicomObject, String> {
    let start = if bytes.get(128..132) == Some(b"DICM".as_slice()) {
        128
    } else {
        0
    };
    // The file meta group is explicit VR little endian, after the "DICM" magic.
    if bytes.get(start..start + 4) == Some(b"DICM".as_slice()) {
        check_lengths(bytes, start + 4, EXPLICIT_LITTLE, Some(0x0002))?;
    }
    let mut reader = &bytes[start..];
    let Ok(meta) = FileMetaTable::from_reader(&mut reader) else {
        // No readable file meta: the parser says why.
        return OpenFileOptions::new()
            .from_reader(bytes)
            .map_err(|e| chain(&e));
    };
    let at = bytes.len() - reader.len();
    let declared = meta
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_string();
    let encoding = Encoding::of(&declared);
    let checked = match encoding {
        Some(e) => check_lengths(bytes, at, e, None),
        None => check_deflated(&bytes[at..], max_inflated),
    };
    let first = match checked {
        Ok(()) => match OpenFileOptions::new().from_reader(bytes) {
            Ok(obj) => return Ok(obj),
            Err(e) => chain(&e),
        },
        Err(e) => e,
    };
    let other = match declared.as_str() {
        BIG_ENDIAN_TS => return Err(first),
        "1.2.840.10008.1.2" => "1.2.840.10008.1.2.1",
        _ => "1.2.840.10008.1.2",
    };
    let Some(ts) = TransferSyntaxRegistry.get(other) else {
        return Err(first);
    };
    if Encoding::of(other).is_some_and(|e| check_lengths(bytes, at, e, None).is_err()) {
        return Err(first);
    }
    match InMemDicomObject::read_dataset_with_ts(reader, ts) {
        Ok(dataset)
            if dataset
                .element_opt(TAG_PIXEL_DATA)
                .is_ok_and(|e| e.is_some()) =>
        {
            Ok(dataset.with_exact_meta(meta))
        }
        _ => Err(first),
    }
}

/// The declared lengths of a deflated data set (Deflated Explicit VR Little Endian, PS3.5 A.5:
/// the data set after the file meta group, explicit VR little endian, raw-deflated), checked
/// against the bytes it inflates to: the parser reads such a data set as it inflates and would
/// allocate whatever a corrupt element declares. A stream that stops inflating (truncated or
/// corrupt) is checked up to where it stops, which is all the parser can read either; one that
/// inflates beyond `max_inflated` bytes is refused. It costs the inflated data set's memory,
/// which the parser then holds as well: a file that really inflates to gigabytes still takes
/// them (up to `max_inflated`), but no longer a declared length that nothing backs.
fn check_deflated(deflated: &[u8], max_inflated: u64) -> Result<(), String> {
    use std::io::Read;
    let mut inflated = Vec::new();
    // Partial output is kept on a read error (`read_to_end` appends what it read before).
    let _ = flate2::read::DeflateDecoder::new(deflated)
        .take(max_inflated.saturating_add(1))
        .read_to_end(&mut inflated);
    if inflated.len() as u64 > max_inflated {
        return Err(format!(
            "the deflated data set inflates to more than {max_inflated} bytes, the largest file accepted"
        ));
    }
    check_lengths(&inflated, 0, EXPLICIT_LITTLE, None)
        .map_err(|e| format!("{e} (counting the deflated data set's bytes once inflated)"))
}

/// Explicit VR little endian: the file meta group's encoding, a deflated data set's once
/// inflated, and that of every transfer syntax but the implicit and big-endian ones.
const EXPLICIT_LITTLE: Encoding = Encoding {
    explicit: true,
    big_endian: false,
};

/// How a data set's elements are encoded.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Encoding {
    explicit: bool,
    big_endian: bool,
}

impl Encoding {
    /// The encoding of a transfer syntax's data set; `None` for deflated ones (their bytes are
    /// compressed).
    fn of(ts: &str) -> Option<Encoding> {
        match ts {
            // Deflated Explicit VR Little Endian, JPIP Referenced Deflate ([`check_deflated`]).
            "1.2.840.10008.1.2.1.99" | "1.2.840.10008.1.2.4.95" => None,
            "1.2.840.10008.1.2" => Some(Encoding {
                explicit: false,
                big_endian: false,
            }),
            BIG_ENDIAN_TS => Some(Encoding {
                explicit: true,
                big_endian: true,
            }),
            _ => Some(EXPLICIT_LITTLE),
        }
    }
}

/// The value representations of the standard (PS3.5 6.2); any other two bytes are read as UN.
const KNOWN_VRS: [&[u8; 2]; 34] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB",
    b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
    b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
];

/// Walks the elements of the data set at `bytes[at..]` as `encoding` says and checks that each
/// defined length (of a value, a sequence, an item, a pixel-data fragment) fits in the bytes left,
/// reading each header as the parser does (two bytes that name no value representation as UN).
/// `Err` names the first element that does not. Where the walk cannot follow the data set (an
/// unknown item tag, another undefined-length value) it stops with `Ok`: the parser then decides.
/// With `group`, the walk ends at the first element of another group (the file meta group is
/// followed by the data set, in its own encoding).
fn check_lengths(
    bytes: &[u8],
    at: usize,
    encoding: Encoding,
    group: Option<u16>,
) -> Result<(), String> {
    const UNDEFINED: u32 = 0xFFFF_FFFF;
    let u16_at = |p: usize| {
        let b = [bytes[p], bytes[p + 1]];
        if encoding.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let u32_at = |p: usize| {
        let b = [bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]];
        if encoding.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let too_long = |what: String, len: u32, left: usize| {
        Err(format!(
            "{what} declares {len} bytes but only {left} are left in the file: it is truncated or corrupt"
        ))
    };
    let mut pos = at;
    // Inside encapsulated pixel data, items are compressed fragments, not data sets.
    let mut fragments = false;
    while pos + 8 <= bytes.len() {
        let (g, element) = (u16_at(pos), u16_at(pos + 2));
        if group.is_some_and(|only| only != g) {
            return Ok(());
        }
        let group = g;
        let tag = format!("element ({group:04X},{element:04X})");
        if group == 0xFFFE {
            let len = u32_at(pos + 4);
            pos += 8;
            let left = bytes.len() - pos;
            match element {
                0xE000 if fragments => {
                    if len == UNDEFINED {
                        return Ok(());
                    }
                    if len as usize > left {
                        return too_long("a pixel data fragment".into(), len, left);
                    }
                    pos += len as usize;
                }
                // An item of a sequence: its elements follow.
                0xE000 => {
                    if len != UNDEFINED && len as usize > left {
                        return too_long("an item".into(), len, left);
                    }
                }
                0xE00D => {}
                0xE0DD => fragments = false,
                // Any other (FFFE,xxxx) is read as a value of its declared length.
                _ => {
                    if len != UNDEFINED {
                        if len as usize > left {
                            return too_long(tag, len, left);
                        }
                        pos += len as usize;
                    }
                }
            }
            continue;
        }
        let (vr, len) = if encoding.explicit {
            // Bytes that name no value representation are read as UN, as the parser reads
            // them (long form).
            let vr = [bytes[pos + 4], bytes[pos + 5]];
            let vr = if KNOWN_VRS.contains(&&vr) { vr } else { *b"UN" };
            let long = matches!(
                &vr,
                b"OB"
                    | b"OD"
                    | b"OF"
                    | b"OL"
                    | b"OV"
                    | b"OW"
                    | b"SQ"
                    | b"UC"
                    | b"UR"
                    | b"UT"
                    | b"UN"
                    | b"SV"
                    | b"UV"
            );
            if long {
                if pos + 12 > bytes.len() {
                    return Ok(());
                }
                let len = u32_at(pos + 8);
                pos += 12;
                (Some(vr), len)
            } else {
                let len = u32::from(u16_at(pos + 6));
                pos += 8;
                (Some(vr), len)
            }
        } else {
            let len = u32_at(pos + 4);
            pos += 8;
            (None, len)
        };
        let pixel_data = (group, element) == (0x7FE0, 0x0010);
        if len == UNDEFINED {
            match vr {
                _ if pixel_data => fragments = true,
                // Any other undefined length is read as a sequence (UN of undefined length
                // included, its items in the data set's encoding), as the parser reads it.
                _ => {}
            }
            continue;
        }
        let left = bytes.len() - pos;
        if len as usize > left {
            return too_long(tag, len, left);
        }
        // A sequence of defined length: its items follow. In implicit VR the parser knows a
        // sequence from the dictionary.
        let sequence = match vr {
            Some(v) => &v == b"SQ",
            None => StandardDataDictionary
                .by_tag(Tag(group, element))
                .is_some_and(|e| matches!(e.vr, VirtualVr::Exact(VR::SQ))),
        };
        if !sequence {
            pos += len as usize;
        }
    }
    Ok(())
}

fn read_header(
    obj: &DefaultDicomObject,
    fail: &Fail<'_>,
    limits: &ReadLimits,
) -> Result<Header, ImageError> {
    // An attribute that is absent or empty reads as None.
    let present = |tag: Tag| -> Result<Option<&InMemElement>, ImageError> {
        Ok(obj
            .element_opt(tag)
            .map_err(|e| fail.decode(e.to_string()))?
            .filter(|el| !el.is_empty()))
    };
    let int = |tag: Tag, name: &str| -> Result<Option<i64>, ImageError> {
        present(tag)?
            .map(|el| el.to_int::<i64>())
            .transpose()
            .map_err(|e| fail.decode(format!("attribute {name} {tag}: {e}")))
    };
    let float = |tag: Tag, name: &str| -> Result<Option<f64>, ImageError> {
        Ok(present(tag)?
            .map(|el| el.to_multi_float64())
            .transpose()
            .map_err(|e| fail.decode(format!("attribute {name} {tag}: {e}")))?
            .and_then(|v| v.first().copied()))
    };
    let required = |tag: Tag, name: &str| -> Result<i64, ImageError> {
        int(tag, name)?.ok_or_else(|| {
            fail.decode(format!(
                "no {name} {tag} attribute: not an image (structured report, RT plan, DICOMDIR, …?)"
            ))
        })
    };
    let in_range = |v: i64, name: &str, lo: i64, hi: i64| -> Result<i64, ImageError> {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(fail.decode(format!("{name} is {v}; expected {lo}..={hi}")))
        }
    };
    if obj
        .element_opt(TAG_PIXEL_DATA)
        .map_err(|e| fail.decode(e.to_string()))?
        .is_none()
    {
        return Err(fail.decode(
            "no Pixel Data (7FE0,0010): not an image (structured report, RT plan, DICOMDIR, …?)",
        ));
    }
    let rows = in_range(required(TAG_ROWS, "Rows")?, "Rows", 1, 65535)?;
    let cols = in_range(required(TAG_COLUMNS, "Columns")?, "Columns", 1, 65535)?;
    limits.check(fail.0, cols as u64, rows as u64)?;
    let bits_allocated = required(TAG_BITS_ALLOCATED, "BitsAllocated")?;
    if !matches!(bits_allocated, 1 | 8 | 16 | 32) {
        return Err(fail.unsupported(format!(
            "{bits_allocated} bits allocated; expected 1, 8, 16 or 32"
        )));
    }
    let bits_stored = in_range(
        int(TAG_BITS_STORED, "BitsStored")?.unwrap_or(bits_allocated),
        "BitsStored",
        1,
        bits_allocated,
    )?;
    let samples = int(TAG_SAMPLES_PER_PIXEL, "SamplesPerPixel")?.unwrap_or(1);
    if samples != 1 && samples != 3 {
        return Err(fail.unsupported(format!("{samples} samples per pixel; expected 1 or 3")));
    }
    let frames = in_range(
        int(TAG_NUMBER_OF_FRAMES, "NumberOfFrames")?.unwrap_or(1),
        "NumberOfFrames",
        1,
        i64::from(u32::MAX),
    )?;
    // The whole decoded file must fit the byte limit too (checked before allocating).
    let decoded_bytes = (rows * cols * samples) as u64 * 8;
    if decoded_bytes > limits.max_bytes {
        return Err(fail.decode(format!(
            "one frame of {rows}x{cols}x{samples} is {decoded_bytes} bytes decoded, more than \
             the limit of {} (ReadLimits.max_bytes)",
            limits.max_bytes
        )));
    }
    let photometric = match obj
        .element_opt(TAG_PHOTOMETRIC)
        .map_err(|e| fail.decode(e.to_string()))?
    {
        Some(el) => el
            .to_str()
            .map_err(|e| fail.decode(format!("attribute PhotometricInterpretation: {e}")))?
            .trim_end_matches(['\0', ' '])
            .to_string(),
        None => {
            return Err(fail.decode("no PhotometricInterpretation (0028,0004) attribute"));
        }
    };
    let expected_samples = match photometric.as_str() {
        "MONOCHROME1" | "MONOCHROME2" | "PALETTE COLOR" => 1,
        "RGB" | "YBR_FULL" | "YBR_FULL_422" | "YBR_RCT" | "YBR_ICT" => 3,
        other => {
            return Err(fail.unsupported(format!(
                "photometric interpretation {other}; expected MONOCHROME1, MONOCHROME2, RGB, \
                 YBR_FULL, YBR_FULL_422, YBR_RCT, YBR_ICT or PALETTE COLOR"
            )));
        }
    };
    if samples != expected_samples {
        return Err(fail.decode(format!(
            "{samples} samples per pixel for photometric interpretation {photometric}"
        )));
    }
    if obj
        .element_opt(TAG_MODALITY_LUT_SEQUENCE)
        .map_err(|e| fail.decode(e.to_string()))?
        .is_some()
    {
        return Err(fail.unsupported(
            "a Modality LUT Sequence (0028,3000); only Rescale Slope/Intercept are applied",
        ));
    }
    let palette = if photometric == "PALETTE COLOR" {
        Some(read_palette(obj, fail)?)
    } else {
        None
    };
    let slope = float(TAG_RESCALE_SLOPE, "RescaleSlope")?.unwrap_or(1.0);
    let intercept = float(TAG_RESCALE_INTERCEPT, "RescaleIntercept")?.unwrap_or(0.0);
    if !slope.is_finite() || !intercept.is_finite() {
        return Err(fail.decode(format!(
            "Rescale Slope {slope} / Intercept {intercept} are not finite"
        )));
    }
    let window = match (
        float(TAG_WINDOW_CENTER, "WindowCenter")?,
        float(TAG_WINDOW_WIDTH, "WindowWidth")?,
    ) {
        (Some(center), Some(width)) => Some(Window { center, width }),
        _ => None,
    };
    let monochrome = expected_samples == 1 && palette.is_none();
    Ok(Header {
        rows: rows as u32,
        cols: cols as u32,
        frames: frames as u32,
        samples: samples as u16,
        bits_allocated: bits_allocated as u16,
        bits_stored: bits_stored as u16,
        signed: int(TAG_PIXEL_REPRESENTATION, "PixelRepresentation")?.unwrap_or(0) == 1,
        photometric,
        planar: int(TAG_PLANAR_CONFIGURATION, "PlanarConfiguration")?.unwrap_or(0) as u16,
        transfer_syntax: obj
            .meta()
            .transfer_syntax()
            .trim_end_matches(['\0', ' '])
            .to_string(),
        // The Modality LUT applies to monochrome data only (as pydicom's apply_modality_lut).
        slope: if monochrome { slope } else { 1.0 },
        intercept: if monochrome { intercept } else { 0.0 },
        window,
        palette,
    })
}

fn read_palette(obj: &DefaultDicomObject, fail: &Fail<'_>) -> Result<Palette, ImageError> {
    if obj
        .element_opt(TAG_SEGMENTED_PALETTE)
        .map_err(|e| fail.decode(e.to_string()))?
        .is_some()
    {
        return Err(fail.unsupported("a segmented palette colour LUT"));
    }
    let mut first_mapped = 0;
    let mut tables: [Vec<u16>; 3] = Default::default();
    for (c, table) in tables.iter_mut().enumerate() {
        let descriptor = obj
            .element_opt(TAG_PALETTE_DESCRIPTORS[c])
            .map_err(|e| fail.decode(e.to_string()))?
            .ok_or_else(|| {
                fail.decode(format!(
                    "PALETTE COLOR without its LUT descriptor {}",
                    TAG_PALETTE_DESCRIPTORS[c]
                ))
            })?
            .to_multi_int::<i64>()
            .map_err(|e| fail.decode(format!("palette LUT descriptor: {e}")))?;
        let [entries, first, bits] = descriptor[..] else {
            return Err(fail.decode(format!(
                "palette LUT descriptor has {} values; expected 3",
                descriptor.len()
            )));
        };
        // PS3.3 C.7.6.3.1.5: 0 entries means 65536; the first value is read as unsigned
        // (its VR is US or SS depending on the pixel representation).
        let entries = if entries == 0 {
            65536
        } else {
            entries & 0xFFFF
        };
        first_mapped = first;
        let data = obj
            .element_opt(TAG_PALETTE_DATA[c])
            .map_err(|e| fail.decode(e.to_string()))?
            .ok_or_else(|| {
                fail.decode(format!(
                    "PALETTE COLOR without its LUT data {}",
                    TAG_PALETTE_DATA[c]
                ))
            })?
            .to_bytes()
            .map_err(|e| fail.decode(format!("palette LUT data: {e}")))?;
        let words: Vec<u16> = data
            .chunks_exact(2)
            .map(|w| u16::from_le_bytes([w[0], w[1]]))
            .collect();
        *table = match bits {
            16 => words,
            // 8-bit entries may come one per 16-bit word or packed two per word.
            8 if words.len() as i64 >= entries => words.iter().map(|w| w & 0xFF).collect(),
            8 => data.iter().map(|&b| u16::from(b)).collect(),
            other => {
                return Err(fail.unsupported(format!("{other}-bit palette LUT entries")));
            }
        };
        table.truncate(entries as usize);
        if (table.len() as i64) < entries || table.is_empty() {
            return Err(fail.decode(format!(
                "palette LUT data has {} entries; the descriptor says {entries}",
                table.len()
            )));
        }
    }
    Ok(Palette {
        first_mapped,
        tables,
    })
}

/// Bytes `[start, end)` of native pixel data, rearranged so that every sample of
/// `bits_allocated` bits reads as little endian (1-bit data stays packed, least significant bit
/// first). `start` and `end` are multiples of 4 or the data's end; only that range is copied,
/// so reading one frame of a long cine loop does not touch the others.
fn native_le_bytes(
    value: &PrimitiveValue,
    header: &Header,
    start: usize,
    end: usize,
    fail: &Fail<'_>,
) -> Result<Vec<u8>, ImageError> {
    let big_endian = header.transfer_syntax == BIG_ENDIAN_TS;
    let width = usize::from(header.bits_allocated.max(8) / 8);
    let words = |len: usize| (start / 2).min(len)..end.div_ceil(2).min(len);
    Ok(match value {
        // OB: bytes in file order, samples in the transfer syntax's byte order.
        PrimitiveValue::U8(v) => {
            let mut b = v[start.min(v.len())..end.min(v.len())].to_vec();
            if big_endian && width > 1 {
                b.chunks_exact_mut(width).for_each(<[u8]>::reverse);
            }
            b
        }
        // OW: 16-bit words already in host order; a 32-bit sample spans two words, the most
        // significant first in big endian.
        PrimitiveValue::U16(v) => {
            let v = &v[words(v.len())];
            if width == 4 && big_endian {
                v.chunks_exact(2)
                    .flat_map(|w| ((u32::from(w[0]) << 16) | u32::from(w[1])).to_le_bytes())
                    .collect()
            } else {
                v.iter().flat_map(|w| w.to_le_bytes()).collect()
            }
        }
        PrimitiveValue::I16(v) => v[words(v.len())]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect(),
        PrimitiveValue::U32(v) => v[(start / 4).min(v.len())..end.div_ceil(4).min(v.len())]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect(),
        PrimitiveValue::I32(v) => v[(start / 4).min(v.len())..end.div_ceil(4).min(v.len())]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect(),
        PrimitiveValue::Empty => {
            return Err(fail.decode("Pixel Data (7FE0,0010) is empty"));
        }
        other => {
            return Err(fail.unsupported(format!(
                "Pixel Data held as {:?} values; expected OB or OW",
                other.value_type()
            )));
        }
    })
}

/// One frame of native pixel data, converted to HWC values.
fn decode_native(
    value: &PrimitiveValue,
    header: &Header,
    frame: u32,
    fail: &Fail<'_>,
) -> Result<Vec<f64>, ImageError> {
    let pixels = header.rows as usize * header.cols as usize;
    // YBR_FULL_422 native data keeps two luma and one pair of chroma samples per two pixels.
    let subsampled = header.photometric == "YBR_FULL_422";
    let samples_per_frame = if subsampled {
        pixels * 2
    } else {
        pixels * usize::from(header.samples)
    };
    let bits = usize::from(header.bits_allocated);
    let first_bit = frame as usize * samples_per_frame * bits;
    let end_bit = first_bit + samples_per_frame * bits;
    let available = value.calculate_byte_len();
    if end_bit.div_ceil(8) > available {
        return Err(fail.decode(format!(
            "Pixel Data has {available} bytes; frame {frame} of {}x{}x{} at {bits} bits \
             allocated needs {} (truncated file, or a header that does not match its pixels)",
            header.rows,
            header.cols,
            header.samples,
            end_bit.div_ceil(8)
        )));
    }
    let start = (first_bit / 8) & !3;
    let raw = native_le_bytes(
        value,
        header,
        start,
        end_bit.div_ceil(8).next_multiple_of(4),
        fail,
    )?;
    let first_bit = first_bit - start * 8;
    if (first_bit + samples_per_frame * bits).div_ceil(8) > raw.len() {
        return Err(fail.decode(format!(
            "Pixel Data of frame {frame} is shorter than its header says ({} bytes)",
            raw.len()
        )));
    }
    let read = |i: usize| -> f64 {
        match bits {
            1 => {
                let bit = first_bit + i;
                f64::from((raw[bit / 8] >> (bit % 8)) & 1)
            }
            8 => {
                let b = raw[first_bit / 8 + i];
                if header.signed {
                    f64::from(b as i8)
                } else {
                    f64::from(b)
                }
            }
            16 => {
                let o = first_bit / 8 + 2 * i;
                let b = [raw[o], raw[o + 1]];
                if header.signed {
                    f64::from(i16::from_le_bytes(b))
                } else {
                    f64::from(u16::from_le_bytes(b))
                }
            }
            _ => {
                let o = first_bit / 8 + 4 * i;
                let b = [raw[o], raw[o + 1], raw[o + 2], raw[o + 3]];
                if header.signed {
                    f64::from(i32::from_le_bytes(b))
                } else {
                    f64::from(u32::from_le_bytes(b))
                }
            }
        }
    };
    let mut values: Vec<f64> = (0..samples_per_frame).map(read).collect();
    if subsampled {
        values = expand_ybr_422(&values, header.cols as usize);
    } else if header.samples == 3 && header.planar == 1 {
        values = interleave_planes(&values);
    }
    finish(values, header, true)
}

/// An error and its sources, `outer: inner: …` (codec errors say what failed in their sources).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// Who decodes a transfer syntax's encapsulated frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    /// JPEG baseline, extended and lossless: [`super::dicom_codecs::decode_jpeg`].
    Jpeg,
    /// RLE Lossless: [`super::dicom_codecs::decode_rle`].
    Rle,
    /// `dicom-pixeldata`'s adapters (JPEG-LS through CharLS, JPEG 2000 through OpenJPEG, …).
    PixelData,
}

impl Codec {
    fn of(transfer_syntax: &str) -> Codec {
        match transfer_syntax {
            "1.2.840.10008.1.2.4.50"
            | "1.2.840.10008.1.2.4.51"
            | "1.2.840.10008.1.2.4.57"
            | "1.2.840.10008.1.2.4.70" => Codec::Jpeg,
            "1.2.840.10008.1.2.5" => Codec::Rle,
            _ => Codec::PixelData,
        }
    }
}

/// One JPEG or RLE frame, by this crate's own frame codecs.
fn decode_own_codec(
    bytes: &[u8],
    header: &Header,
    frame: u32,
    fail: &Fail<'_>,
) -> Result<Vec<f64>, ImageError> {
    let in_frame = |e: String| fail.codec(frame, &header.transfer_syntax, &e);
    let values = if Codec::of(&header.transfer_syntax) == Codec::Rle {
        let bits = u32::from(header.bits_allocated);
        decode_rle(
            bytes,
            header.rows,
            header.cols,
            header.samples,
            header.bits_allocated,
        )
        .map_err(in_frame)?
        .into_iter()
        .map(|u| {
            // Two's complement at the allocated width where the pixels are signed.
            if header.signed && u >> (bits - 1) & 1 == 1 {
                (u as i64 - (1i64 << bits)) as f64
            } else {
                u as f64
            }
        })
        .collect()
    } else if header.samples == 1 {
        let mut values = decode_jpeg_grey(bytes, header.rows, header.cols).map_err(in_frame)?;
        sign_extend_stored_bits(&mut values, header);
        values
    } else {
        let jpeg =
            decode_jpeg(bytes, header.rows, header.cols, &header.photometric).map_err(in_frame)?;
        if jpeg.ycbcr {
            return Ok(ybr_full_to_rgb(&jpeg.samples, header.bits_allocated));
        }
        let mut values = jpeg.samples;
        sign_extend_stored_bits(&mut values, header);
        values
    };
    // RLE keeps the file's planar/colour flags' meaning only for YBR (converted here).
    finish(
        values,
        header,
        Codec::of(&header.transfer_syntax) == Codec::Rle,
    )
}

/// One frame of encapsulated pixel data, through `dicom-pixeldata`'s codecs.
fn decode_encapsulated(
    obj: &DefaultDicomObject,
    header: &Header,
    frame: u32,
    fail: &Fail<'_>,
) -> Result<Vec<f64>, ImageError> {
    let px = obj
        .decode_pixel_data_frame(frame)
        .map_err(|e| fail.codec(frame, &header.transfer_syntax, &chain(&e)))?;
    let data = px.data();
    let n = header.rows as usize * header.cols as usize * usize::from(header.samples);
    // Codecs write 8-bit samples as bytes and wider ones as little-endian words.
    let width = match header.bits_allocated {
        1 | 8 => 1,
        16 => 2,
        _ => 4,
    };
    let width = if data.len() == n && width > 1 {
        1
    } else {
        width
    };
    if data.len() < n * width {
        return Err(fail.decode(format!(
            "frame {frame} decoded to {} bytes; {}x{}x{} samples of {} byte(s) expected",
            data.len(),
            header.rows,
            header.cols,
            header.samples,
            width
        )));
    }
    let signed = header.signed;
    let mut values: Vec<f64> = (0..n)
        .map(|i| match width {
            1 if signed => f64::from(data[i] as i8),
            1 => f64::from(data[i]),
            2 => {
                let b = [data[2 * i], data[2 * i + 1]];
                if signed {
                    f64::from(i16::from_le_bytes(b))
                } else {
                    f64::from(u16::from_le_bytes(b))
                }
            }
            _ => {
                let b = [
                    data[4 * i],
                    data[4 * i + 1],
                    data[4 * i + 2],
                    data[4 * i + 3],
                ];
                if signed {
                    f64::from(i32::from_le_bytes(b))
                } else {
                    f64::from(u32::from_le_bytes(b))
                }
            }
        })
        .collect();
    sign_extend_stored_bits(&mut values, header);
    // Codecs return colour as RGB, interleaved, whatever the file's YBR or planar flags said.
    finish(values, header, false)
}

/// Codecs without a notion of sign (JPEG-LS, lossless JPEG) or whose stream disagrees with
/// the Pixel Representation (JPEG 2000) give the stored bits as the wrong kind of number:
/// reinterpret the low Bits Stored bits as the header says (as pydicom's sign correction does).
/// Values already right are unchanged.
fn sign_extend_stored_bits(values: &mut [f64], header: &Header) {
    if header.bits_stored >= header.bits_allocated || header.bits_stored >= 32 {
        return;
    }
    let stored = u32::from(header.bits_stored);
    let mask = (1i64 << stored) - 1;
    for v in values {
        let u = (*v as i64) & mask;
        *v = if header.signed && u >> (stored - 1) == 1 {
            (u - (1i64 << stored)) as f64
        } else {
            u as f64
        };
    }
}

/// Colour conversion (native YBR_FULL only: codecs convert themselves), the palette and the
/// Modality LUT.
fn finish(values: Vec<f64>, header: &Header, native: bool) -> Result<Vec<f64>, ImageError> {
    if let Some(palette) = &header.palette {
        return Ok(values.iter().flat_map(|&i| palette.lookup(i)).collect());
    }
    if header.samples == 3 {
        let ybr = matches!(header.photometric.as_str(), "YBR_FULL" | "YBR_FULL_422");
        if native && ybr {
            return Ok(ybr_full_to_rgb(&values, header.bits_allocated));
        }
        return Ok(values);
    }
    if header.slope == 1.0 && header.intercept == 0.0 {
        return Ok(values);
    }
    Ok(values
        .into_iter()
        .map(|v| v * header.slope + header.intercept)
        .collect())
}

/// Planar configuration 1 (RRR…GGG…BBB…) to interleaved RGB.
fn interleave_planes(planar: &[f64]) -> Vec<f64> {
    let n = planar.len() / 3;
    (0..n)
        .flat_map(|i| [planar[i], planar[n + i], planar[2 * n + i]])
        .collect()
}

/// YBR_FULL_422 as stored natively (Y1 Y2 Cb Cr for each pair of pixels in a row) to full
/// YBR_FULL, repeating the chroma pair for both pixels (PS3.3 C.7.6.3.1.2).
fn expand_ybr_422(packed: &[f64], cols: usize) -> Vec<f64> {
    let rows = packed.len() / (2 * cols);
    let mut out = Vec::with_capacity(rows * cols * 3);
    for r in 0..rows {
        let row = &packed[r * 2 * cols..(r + 1) * 2 * cols];
        for pair in row.chunks(4) {
            match *pair {
                [y1, y2, cb, cr] => out.extend_from_slice(&[y1, cb, cr, y2, cb, cr]),
                // An odd number of columns ends with one pixel: Y Cb Cr.
                [y, cb, cr] => out.extend_from_slice(&[y, cb, cr]),
                _ => {}
            }
        }
    }
    out.truncate(rows * cols * 3);
    out
}

/// YBR_FULL to RGB (PS3.3 C.7.6.3.1.2, ITU-R BT.601 full range), computed in single precision,
/// rounded and clipped to the sample range exactly as pydicom's `convert_color_space` does, so
/// that the result equals the reference bit for bit.
fn ybr_full_to_rgb(ybr: &[f64], bits: u16) -> Vec<f64> {
    let bits = u32::from(bits.clamp(8, 16));
    let max = ((1u32 << bits) - 1) as f32;
    let offset = (1u32 << (bits - 1)) as f32;
    let (g_cb, g_cr) = (
        (-0.114_f64 * 1.772 / 0.587) as f32,
        (-0.299_f64 * 1.402 / 0.587) as f32,
    );
    ybr.chunks_exact(3)
        .flat_map(|p| {
            let (y, cb, cr) = (p[0] as f32, p[1] as f32 - offset, p[2] as f32 - offset);
            let r = y + cb * 0.0 + cr * 1.402;
            let g = y + cb * g_cb + cr * g_cr;
            let b = y + cb * 1.772 + cr * 0.0;
            [r, g, b].map(|v| f64::from((v + 0.5).floor().clamp(0.0, max)))
        })
        .collect()
}
