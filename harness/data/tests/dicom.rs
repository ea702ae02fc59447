//! The DICOM reader on files written here with `dicom-object`, one feature each: frame
//! selection of multi-frame files, palette colour, native YBR_FULL, planar configuration 1,
//! 1-bit samples, truncated pixel data, DICOM subgroup levels. (Every file of pydicom's own
//! test data is compared with pydicom by ci/dicom_conformance.sh in the test command.)

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use harness_data::images::{
    DicomAttribute, DicomMetadata, FrameSelect, ImageError, ReadLimits, decode_dicom_frames,
    decode_image_frame, read_file,
};

/// What a test file holds.
struct Spec<'a> {
    rows: u16,
    cols: u16,
    frames: u32,
    photometric: &'a str,
    samples: u16,
    planar: u16,
    bits: u16,
    pixels: Vec<u8>,
    extra: Vec<DataElement<InMemDicomObject>>,
    transfer_syntax: &'a str,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Self {
            rows: 2,
            cols: 3,
            frames: 1,
            photometric: "MONOCHROME2",
            samples: 1,
            planar: 0,
            bits: 8,
            pixels: Vec::new(),
            extra: Vec::new(),
            transfer_syntax: "1.2.840.10008.1.2.1",
        }
    }
}

fn us(group: u16, element: u16, v: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(Tag(group, element), VR::US, PrimitiveValue::from(v))
}

fn text(group: u16, element: u16, vr: VR, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(Tag(group, element), vr, PrimitiveValue::from(v))
}

fn write(dir: &Path, name: &str, spec: Spec<'_>) -> PathBuf {
    let mut obj = InMemDicomObject::new_empty();
    obj.put(text(0x0008, 0x0016, VR::UI, "1.2.840.10008.5.1.4.1.1.7"));
    obj.put(text(0x0008, 0x0018, VR::UI, "1.2.3.4.5"));
    obj.put(text(0x0010, 0x0010, VR::PN, "TEST^PATIENT"));
    obj.put(us(0x0028, 0x0002, spec.samples));
    obj.put(text(0x0028, 0x0004, VR::CS, spec.photometric));
    if spec.samples == 3 {
        obj.put(us(0x0028, 0x0006, spec.planar));
    }
    if spec.frames > 1 {
        obj.put(text(0x0028, 0x0008, VR::IS, &spec.frames.to_string()));
    }
    obj.put(us(0x0028, 0x0010, spec.rows));
    obj.put(us(0x0028, 0x0011, spec.cols));
    obj.put(us(0x0028, 0x0100, spec.bits));
    obj.put(us(0x0028, 0x0101, spec.bits));
    obj.put(us(0x0028, 0x0102, spec.bits - 1));
    obj.put(us(0x0028, 0x0103, 0));
    for e in spec.extra {
        obj.put(e);
    }
    obj.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OB,
        PrimitiveValue::from(spec.pixels),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(spec.transfer_syntax)
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid("1.2.3.4.5"),
        )
        .unwrap();
    let path = dir.join(name);
    file.write_to_file(&path).unwrap();
    path
}

/// Writes `bytes` to `path` and returns why reading the file as one frame fails.
fn refused(path: &Path, bytes: &[u8]) -> String {
    std::fs::write(path, bytes).unwrap();
    frames(path, FrameSelect::Only).unwrap_err().to_string()
}

fn frames(path: &Path, select: FrameSelect) -> Result<Vec<(u32, Vec<f64>)>, ImageError> {
    let bytes = read_file(path, &ReadLimits::default()).unwrap();
    decode_dicom_frames(path, &bytes, &ReadLimits::default(), select).map(|d| d.frames)
}

#[test]
fn multi_frame_files_are_read_by_the_declared_frame_and_never_silently_reduced() {
    let dir = tempfile::tempdir().unwrap();
    // Frame k holds 10k + i at pixel i.
    let pixels = (0..3u8)
        .flat_map(|k| (0..6u8).map(move |i| 10 * k + i))
        .collect();
    let path = write(
        dir.path(),
        "cine.dcm",
        Spec {
            frames: 3,
            pixels,
            ..Spec::default()
        },
    );
    let bytes = read_file(&path, &ReadLimits::default()).unwrap();
    let err = decode_image_frame(&path, &bytes, &ReadLimits::default(), FrameSelect::Only)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("3 frames") && err.contains("cine.dcm"),
        "{err}"
    );
    let one =
        decode_image_frame(&path, &bytes, &ReadLimits::default(), FrameSelect::Index(2)).unwrap();
    assert_eq!(one.pixels, vec![20.0, 21.0, 22.0, 23.0, 24.0, 25.0]);
    assert_eq!(one.dicom.as_ref().unwrap().frames, 3);
    let middle = frames(&path, FrameSelect::Middle).unwrap();
    assert_eq!(middle[0].0, 1);
    assert_eq!(middle[0].1[0], 10.0);
    let all = frames(&path, FrameSelect::All).unwrap();
    assert_eq!(all.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(all[2].1[5], 25.0);
    let past = frames(&path, FrameSelect::Index(3))
        .unwrap_err()
        .to_string();
    assert!(past.contains("counted from 0"), "{past}");
}

#[test]
fn palette_colour_goes_through_its_lut_to_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let lut = |element: u16, values: [u16; 3]| {
        DataElement::new(
            Tag(0x0028, element),
            VR::OW,
            PrimitiveValue::U16(values.to_vec().into()),
        )
    };
    let descriptor = |element: u16| {
        DataElement::new(
            Tag(0x0028, element),
            VR::US,
            PrimitiveValue::U16(vec![3u16, 1, 16].into()),
        )
    };
    let path = write(
        dir.path(),
        "palette.dcm",
        Spec {
            rows: 1,
            cols: 4,
            photometric: "PALETTE COLOR",
            // First mapped value is 1: index 0 takes the first entry, 9 the last.
            pixels: vec![0, 1, 3, 9],
            extra: vec![
                descriptor(0x1101),
                descriptor(0x1102),
                descriptor(0x1103),
                lut(0x1201, [100, 200, 300]),
                lut(0x1202, [1, 2, 3]),
                lut(0x1203, [7, 8, 9]),
            ],
            ..Spec::default()
        },
    );
    let got = frames(&path, FrameSelect::Only).unwrap();
    assert_eq!(
        got[0].1,
        vec![
            100.0, 1.0, 7.0, 100.0, 1.0, 7.0, 300.0, 3.0, 9.0, 300.0, 3.0, 9.0
        ]
    );
}

#[test]
fn native_ybr_full_is_converted_and_planar_colour_interleaved() {
    let dir = tempfile::tempdir().unwrap();
    // Grey (Y=128, no chroma) stays grey; pure red in YBR_FULL is (76, 85, 255).
    let ybr = write(
        dir.path(),
        "ybr.dcm",
        Spec {
            rows: 1,
            cols: 2,
            photometric: "YBR_FULL",
            samples: 3,
            pixels: vec![128, 128, 128, 76, 85, 255],
            ..Spec::default()
        },
    );
    let got = &frames(&ybr, FrameSelect::Only).unwrap()[0].1;
    assert_eq!(&got[..3], &[128.0, 128.0, 128.0]);
    assert!(got[3] >= 254.0 && got[4] <= 1.0 && got[5] <= 1.0, "{got:?}");
    let planar = write(
        dir.path(),
        "planar.dcm",
        Spec {
            rows: 1,
            cols: 2,
            photometric: "RGB",
            samples: 3,
            planar: 1,
            pixels: vec![1, 2, 3, 4, 5, 6],
            ..Spec::default()
        },
    );
    assert_eq!(
        frames(&planar, FrameSelect::Only).unwrap()[0].1,
        vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]
    );
}

#[test]
fn one_bit_samples_unpack_least_significant_bit_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "mask.dcm",
        Spec {
            rows: 1,
            cols: 10,
            bits: 1,
            pixels: vec![0b0000_0101, 0b0000_0010],
            ..Spec::default()
        },
    );
    assert_eq!(
        frames(&path, FrameSelect::Only).unwrap()[0].1,
        vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    );
}

#[test]
fn truncated_pixel_data_and_non_images_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let short = write(
        dir.path(),
        "short.dcm",
        Spec {
            pixels: vec![1, 2, 3, 4],
            ..Spec::default()
        },
    );
    let err = frames(&short, FrameSelect::Only).unwrap_err().to_string();
    assert!(
        err.contains("short.dcm") && err.contains("truncated"),
        "{err}"
    );
    // A file that is not DICOM at all, named .dcm.
    let junk = dir.path().join("junk.dcm");
    std::fs::write(&junk, b"not a dicom file at all").unwrap();
    let err = frames(&junk, FrameSelect::Only).unwrap_err().to_string();
    assert!(err.contains("junk.dcm"), "{err}");
}

#[test]
fn subgroup_levels_come_from_the_header_and_only_the_levels() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "ct.dcm",
        Spec {
            pixels: vec![0; 6],
            extra: vec![
                text(0x0008, 0x0070, VR::LO, "Acme Medical "),
                text(0x0010, 0x1010, VR::AS, "067Y"),
            ],
            ..Spec::default()
        },
    );
    let declared = [
        ("vendor", DicomAttribute::Keyword("Manufacturer".into())),
        (
            "age_band",
            DicomAttribute::Banded {
                attribute: "PatientAge".into(),
                bands: vec![45.0, 65.0],
            },
        ),
        ("body", DicomAttribute::Keyword("BodyPartExamined".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let meta = DicomMetadata::new(&declared).unwrap();
    let facts = meta.read(&path).unwrap();
    let by_name: Vec<(&str, &str)> = meta
        .names()
        .zip(facts.levels.iter().map(String::as_str))
        .collect();
    assert!(by_name.contains(&("vendor", "Acme Medical")));
    assert!(by_name.contains(&("age_band", ">=65")));
    assert!(
        by_name.contains(&("body", "")),
        "absent attribute: empty level"
    );
    assert_eq!(facts.frames, 1);
}

/// A file whose pixel data element declares 4 GB (a corrupt length, as fuzzing found in a
/// truncated file of pydicom's test data), or whose mangled value representation makes text
/// bytes a length, is refused from its declared lengths, naming the element, before the parser
/// would allocate and zero that much memory.
#[test]
fn a_declared_length_beyond_the_file_is_refused_before_allocating_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "huge.dcm",
        Spec {
            pixels: vec![7; 6],
            ..Spec::default()
        },
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let header = [0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0];
    let at = bytes
        .windows(header.len())
        .rposition(|w| w == header)
        .expect("the pixel data header");
    bytes[at + 8..at + 12].copy_from_slice(&0xF000_0000u32.to_le_bytes());
    let err = refused(&path, &bytes);
    assert!(
        err.contains("huge.dcm")
            && err.contains("element (7FE0,0010) declares 4026531840 bytes but only 6 are left"),
        "{err}"
    );
    // The same bytes with the true length decode.
    bytes[at + 8..at + 12].copy_from_slice(&6u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    assert!(frames(&path, FrameSelect::Only).is_ok());
    // Two bytes that name no value representation (a fuzzed "SH" -> "WH") are read as UN, long
    // form: the patient name's first four bytes become its length, as the parser would take them.
    let name = [0x10, 0x00, 0x10, 0x00, b'P', b'N'];
    let at = bytes
        .windows(name.len())
        .position(|w| w == name)
        .expect("the patient name");
    bytes[at + 4..at + 6].copy_from_slice(b"WH");
    let err = refused(&path, &bytes);
    let declared = u32::from_le_bytes(*b"TEST");
    assert!(
        err.contains(&format!("element (0010,0010) declares {declared} bytes")),
        "{err}"
    );
    // A huge length inside an undefined-length value the parser reads as a sequence (private
    // elements after the pixel data): an OB of undefined length, an item, an OB of ~4 GB.
    let mut nested = bytes.clone();
    nested[at + 4..at + 6].copy_from_slice(b"PN");
    nested.extend_from_slice(&[
        0xE1, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    nested.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    nested.extend_from_slice(&[
        0xE1, 0x7F, 0x11, 0x00, b'O', b'B', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF,
    ]);
    nested.extend_from_slice(&[0; 8]);
    let err = refused(&path, &nested);
    assert!(
        err.contains("element (7FE1,0011) declares 4294967280 bytes but only 8 are left"),
        "{err}"
    );
    // The same in the file meta group (the transfer syntax UID's bytes as a length).
    let ts = [0x02, 0x00, 0x10, 0x00, b'U', b'I'];
    let at = bytes
        .windows(ts.len())
        .position(|w| w == ts)
        .expect("the transfer syntax");
    bytes[at + 4..at + 6].copy_from_slice(b"WH");
    let err = refused(&path, &bytes);
    let declared = u32::from_le_bytes(*b"1.2.");
    assert!(
        err.contains(&format!("element (0002,0010) declares {declared} bytes")),
        "{err}"
    );
}

/// The same check on a deflated data set (Deflated Explicit VR Little Endian): it is inflated
/// and its declared lengths checked against the inflated bytes, so a corrupt length is refused
/// before the parser, which reads the data set as it inflates, would allocate it.
#[test]
fn a_deflated_data_set_is_checked_once_inflated() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "deflated.dcm",
        Spec {
            pixels: vec![1, 2, 3, 4, 5, 6],
            transfer_syntax: "1.2.840.10008.1.2.1.99",
            ..Spec::default()
        },
    );
    let good = frames(&path, FrameSelect::Only).unwrap();
    assert_eq!(good[0].1, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // The data set follows the file meta group, whose length is the value of (0002,0000).
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[128..132], b"DICM");
    let group = u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
    let start = 144 + group;
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(&bytes[start..])
        .read_to_end(&mut inflated)
        .unwrap();
    let header = [0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0];
    let at = inflated
        .windows(header.len())
        .rposition(|w| w == header)
        .expect("the pixel data header, once inflated");
    inflated[at + 8..at + 12].copy_from_slice(&0xF000_0000u32.to_le_bytes());
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflate.write_all(&inflated).unwrap();
    let mut corrupt = bytes[..start].to_vec();
    corrupt.extend(deflate.finish().unwrap());
    let err = refused(&path, &corrupt);
    assert!(
        err.contains("deflated.dcm")
            && err.contains("element (7FE0,0010) declares 4026531840 bytes but only 6 are left"),
        "{err}"
    );
    // A stream cut short is checked as far as it inflates: the pixel data is not all there.
    let mut cut = bytes[..start].to_vec();
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflate.write_all(&inflated[..at + 12]).unwrap();
    let stream = deflate.finish().unwrap();
    cut.extend(&stream[..stream.len() - 1]);
    let err = refused(&path, &cut);
    assert!(
        err.contains("deflated.dcm")
            && err.contains("element (7FE0,0010) declares 4026531840 bytes but only 0 are left"),
        "{err}"
    );
}
