//! Image readers: every format written here (PNG/JPEG with the `image` crate, TIFF with the
//! `tiff` crate, `.npy`/`.npz` with `ndarray-npy`), plus real DICOM files, plus a corrupt
//! file of each format.

use std::io::Write;
use std::path::{Path, PathBuf};

use harness_data::images::{
    DicomInfo, Image, ImageError, ImageSource, ReadLimits, Window, apply_window, read_image,
    read_npz_split,
};
use ndarray::{Array, Array2, Array3, Array4, ShapeBuilder};
use ndarray_npy::{NpzWriter, WriteNpyExt};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn limits() -> ReadLimits {
    ReadLimits::default()
}

// ---------------------------------------------------------------- TIFF

/// One image of a TIFF written by [`tiff_bytes`]: width, height, grey 8-bit pixels,
/// NewSubfileType, extra (tag, SHORT value) pairs.
type TiffImage = (u32, u32, Vec<u8>, u32, Vec<(u16, u16)>);

/// A TIFF of the given images, in chain order, LZW-compressed.
fn tiff_bytes(images: &[TiffImage]) -> Vec<u8> {
    use tiff::encoder::{Compression, TiffEncoder, colortype::Gray8};
    use tiff::tags::Tag;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut enc = TiffEncoder::new(&mut out)
        .unwrap()
        .with_compression(Compression::Lzw);
    for (w, h, px, kind, tags) in images {
        let mut image = enc.new_image::<Gray8>(*w, *h).unwrap();
        image
            .encoder()
            .write_tag(Tag::NewSubfileType, *kind)
            .unwrap();
        for &(tag, value) in tags {
            image
                .encoder()
                .write_tag(Tag::from_u16_exhaustive(tag), value)
                .unwrap();
        }
        image.write_data(px).unwrap();
    }
    out.into_inner()
}

fn ramp(n: usize, from: u8) -> Vec<u8> {
    (0..n).map(|i| from.wrapping_add(i as u8)).collect()
}

/// A TIFF's layouts decode to the values written: 16-bit grey, RGB (Deflate) and RGBA (alpha
/// dropped), with their depth; its own Orientation tag is read, not applied; WhiteIsZero is
/// inverted to display, as PIL shows it.
#[test]
fn tiff_layouts_decode_as_written() {
    use harness_data::images::Orientation;
    use tiff::encoder::{Compression, DeflateLevel, TiffEncoder, colortype};
    let dir = tmp();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let grey16: Vec<u16> = (0..12).map(|i| 1000 * i + 7).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .with_compression(Compression::Lzw)
        .write_image::<colortype::Gray16>(4, 3, &grey16)
        .unwrap();
    let got = read_image(&write("g16.tif", out.into_inner()), &limits()).unwrap();
    assert_eq!((got.width, got.height, got.channels), (4, 3, 1));
    assert_eq!(got.source, ImageSource::Tiff);
    assert_eq!(got.sample_bits, Some(16));
    let want: Vec<f32> = grey16.iter().map(|&v| f32::from(v)).collect();
    assert_eq!(got.pixels, want);

    let rgb = ramp(2 * 3 * 3, 10);
    let mut out = std::io::Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .with_compression(Compression::Deflate(DeflateLevel::Best))
        .write_image::<colortype::RGB8>(3, 2, &rgb)
        .unwrap();
    let got = read_image(&write("rgb.tif", out.into_inner()), &limits()).unwrap();
    assert_eq!((got.width, got.height, got.channels), (3, 2, 3));
    assert_eq!(got.sample_bits, Some(8));
    let want: Vec<f32> = rgb.iter().map(|&v| f32::from(v)).collect();
    assert_eq!(got.pixels, want);

    let rgba: Vec<u16> = (0..2 * 2 * 4).map(|i| 4000 * i + 1).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .write_image::<colortype::RGBA16>(2, 2, &rgba)
        .unwrap();
    let got = read_image(&write("rgba.tif", out.into_inner()), &limits()).unwrap();
    let want: Vec<f32> = rgba
        .chunks(4)
        .flat_map(|p| p[..3].iter().map(|&v| f32::from(v)))
        .collect();
    assert_eq!((got.channels, got.pixels), (3, want));

    let px = ramp(6, 0);
    let turned = tiff_bytes(&[(3, 2, px.clone(), 0, vec![(0x0112, 6)])]);
    let got = read_image(&write("turned.tif", turned), &limits()).unwrap();
    assert_eq!(got.orientation, Orientation::Rotate90);
    assert_eq!((got.width, got.height), (3, 2), "as stored");
    let white_is_zero = tiff_bytes(&[(3, 2, px.clone(), 0, vec![(262, 0)])]);
    let got = read_image(&write("wiz.tif", white_is_zero), &limits()).unwrap();
    let want: Vec<f32> = px.iter().map(|&v| f32::from(255 - v)).collect();
    assert_eq!(got.pixels, want);
    // Float samples (a scientific export) are refused as unsupported, naming the file.
    let mut out = std::io::Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .write_image::<colortype::RGB32Float>(1, 1, &[0.5, 0.25, 1.0])
        .unwrap();
    let path = write("float.tif", out.into_inner());
    let err = read_image(&path, &limits()).unwrap_err();
    assert!(
        matches!(err, ImageError::Unsupported { .. }) && err.to_string().contains("float.tif"),
        "{err}"
    );
}

/// A multi-page TIFF is read as a DICOM file of several frames is: refused as one image,
/// a page picked by index or the middle; a reduced-resolution copy (a thumbnail) is not a
/// page, so a file of one page and its thumbnail is one image.
#[test]
fn tiff_pages_are_frames() {
    use harness_data::images::{FrameSelect, TiffPages, decode_image_frame};
    let dir = tmp();
    let (a, b) = (ramp(48, 0), ramp(48, 100));
    let bytes = tiff_bytes(&[
        (8, 6, a.clone(), 0, vec![]),
        (4, 3, ramp(12, 200), 1, vec![]),
        (8, 6, b.clone(), 2, vec![]),
    ]);
    let path = dir.path().join("pages.tif");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(TiffPages::read(&path, &bytes).unwrap().count(), 2);
    assert_eq!(harness_data::count_tiff_pages(&path).unwrap(), 2);
    let err = read_image(&path, &limits()).unwrap_err();
    assert!(
        err.to_string().contains("2 pages")
            && err.to_string().contains("pages.tif")
            && err.to_string().contains("every page as its own case"),
        "{err}"
    );
    let page = |select| decode_image_frame(&path, &bytes, &limits(), select);
    let as_f32 = |v: &[u8]| v.iter().map(|&x| f32::from(x)).collect::<Vec<_>>();
    assert_eq!(page(FrameSelect::Index(0)).unwrap().pixels, as_f32(&a));
    assert_eq!(page(FrameSelect::Index(1)).unwrap().pixels, as_f32(&b));
    assert_eq!(page(FrameSelect::Middle).unwrap().pixels, as_f32(&b));
    let err = page(FrameSelect::Index(2)).unwrap_err();
    assert!(
        err.to_string()
            .contains("page 2 asked for, but the file has 2 page(s)"),
        "{err}"
    );
    // One page and its thumbnail: one image.
    let bytes = tiff_bytes(&[
        (8, 6, a.clone(), 0, vec![]),
        (4, 3, ramp(12, 200), 1, vec![]),
    ]);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(read_image(&path, &limits()).unwrap().pixels, as_f32(&a));
    // A thumbnail first (the full image second), marked with the older SubfileType = 2: one
    // image, the second.
    let bytes = tiff_bytes(&[
        (4, 3, ramp(12, 200), 0, vec![(255, 2)]),
        (8, 6, b.clone(), 0, vec![]),
    ]);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(read_image(&path, &limits()).unwrap().pixels, as_f32(&b));
    // Only thumbnails: no page, refused (and counted as none, not as zero cases).
    let bytes = tiff_bytes(&[(4, 3, ramp(12, 200), 1, vec![])]);
    std::fs::write(&path, &bytes).unwrap();
    for err in [
        read_image(&path, &limits()).unwrap_err(),
        harness_data::count_tiff_pages(&path).unwrap_err(),
    ] {
        assert!(
            err.to_string().contains("pages.tif") && err.to_string().contains("no page"),
            "{err}"
        );
    }
    // A chain that loops back (its second image's next is its first) is refused, not followed
    // for ever.
    let mut looped = tiff_bytes(&[(8, 6, a.clone(), 0, vec![]), (8, 6, b.clone(), 0, vec![])]);
    let next_field = |bytes: &[u8], ifd: usize| {
        let entries = u16::from_le_bytes(bytes[ifd..ifd + 2].try_into().unwrap()) as usize;
        ifd + 2 + 12 * entries
    };
    let first = u32::from_le_bytes(looped[4..8].try_into().unwrap()) as usize;
    let at = next_field(&looped, first);
    let second = u32::from_le_bytes(looped[at..at + 4].try_into().unwrap()) as usize;
    let at = next_field(&looped, second);
    looped[at..at + 4].copy_from_slice(&(first as u32).to_le_bytes());
    std::fs::write(&path, &looped).unwrap();
    let err = read_image(&path, &limits()).unwrap_err();
    assert!(
        err.to_string().contains("pages.tif") && err.to_string().contains("loops back"),
        "{err}"
    );
    // BigTIFF (64-bit offsets), a thumbnail first: the page after it.
    use tiff::encoder::{TiffEncoder, colortype::Gray8};
    let mut out = std::io::Cursor::new(Vec::new());
    let mut enc = TiffEncoder::new_big(&mut out).unwrap();
    let mut thumb = enc.new_image::<Gray8>(4, 3).unwrap();
    thumb
        .encoder()
        .write_tag(tiff::tags::Tag::NewSubfileType, 1u32)
        .unwrap();
    thumb.write_data(&ramp(12, 200)).unwrap();
    enc.write_image::<Gray8>(8, 6, &a).unwrap();
    enc.write_image::<Gray8>(8, 6, &b).unwrap();
    let bytes = out.into_inner();
    assert!(bytes.starts_with(b"II+\0"));
    let big = dir.path().join("big.tif");
    std::fs::write(&big, &bytes).unwrap();
    let page = |select| decode_image_frame(&big, &bytes, &limits(), select);
    assert_eq!(page(FrameSelect::Index(0)).unwrap().pixels, as_f32(&a));
    assert_eq!(page(FrameSelect::Index(1)).unwrap().pixels, as_f32(&b));
}

// ---------------------------------------------------------------- PNG / JPEG

#[test]
fn png_gray8_values_in_native_units() {
    let dir = tmp();
    let path = dir.path().join("g.png");
    let img = image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(10 * x + 100 * y) as u8]));
    img.save(&path).unwrap();
    let got = read_image(&path, &limits()).unwrap();
    assert_eq!((got.width, got.height, got.channels), (3, 2, 1));
    assert_eq!(got.source, ImageSource::Png);
    assert_eq!(got.pixels, vec![0.0, 10.0, 20.0, 100.0, 110.0, 120.0]);
    assert_eq!(got.get(1, 2, 0), Some(120.0));
    assert_eq!(got.get(2, 0, 0), None);
    assert!(got.dicom.is_none());
}

#[test]
fn png_rgba16_drops_alpha_and_keeps_16_bit_range() {
    let dir = tmp();
    let path = dir.path().join("c.png");
    let img = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_fn(2, 1, |x, _| {
        image::Rgba([65535 - x as u16, 1000, 7, 12345])
    });
    img.save(&path).unwrap();
    let got = read_image(&path, &limits()).unwrap();
    assert_eq!((got.width, got.height, got.channels), (2, 1, 3));
    assert_eq!(got.pixels, vec![65535.0, 1000.0, 7.0, 65534.0, 1000.0, 7.0]);
}

#[test]
fn png_gray_alpha8_drops_alpha() {
    let dir = tmp();
    let path = dir.path().join("ga.png");
    let img =
        image::GrayAlphaImage::from_fn(2, 2, |x, y| image::LumaA([(x + 2 * y) as u8 * 50, 9]));
    img.save(&path).unwrap();
    let got = read_image(&path, &limits()).unwrap();
    assert_eq!(got.channels, 1);
    assert_eq!(got.pixels, vec![0.0, 50.0, 100.0, 150.0]);
}

#[test]
fn jpeg_rgb_and_gray_decode_close_to_the_encoded_values() {
    let dir = tmp();
    // Flat colours survive JPEG almost exactly; allow a few levels of rounding.
    let rgb = dir.path().join("c.jpg");
    image::RgbImage::from_pixel(16, 8, image::Rgb([200, 100, 50]))
        .save(&rgb)
        .unwrap();
    let got = read_image(&rgb, &limits()).unwrap();
    assert_eq!(
        (got.width, got.height, got.channels, got.source),
        (16, 8, 3, ImageSource::Jpeg)
    );
    for px in got.pixels.chunks_exact(3) {
        for (v, want) in px.iter().zip([200.0, 100.0, 50.0]) {
            assert!((v - want).abs() <= 3.0, "{px:?}");
        }
    }
    let gray = dir.path().join("g.jpeg");
    image::GrayImage::from_pixel(8, 8, image::Luma([77]))
        .save(&gray)
        .unwrap();
    let got = read_image(&gray, &limits()).unwrap();
    assert_eq!(got.channels, 1);
    assert!(
        got.pixels.iter().all(|v| (v - 77.0).abs() <= 2.0),
        "{:?}",
        got.pixels
    );
}

/// A little-endian EXIF block (TIFF header and one IFD) holding only the Orientation tag.
fn exif_orientation(code: u16) -> Vec<u8> {
    let mut b = b"II*\0".to_vec();
    b.extend(8u32.to_le_bytes()); // the IFD follows the header
    b.extend(1u16.to_le_bytes()); // one entry
    b.extend(0x0112u16.to_le_bytes()); // Orientation
    b.extend(3u16.to_le_bytes()); // SHORT
    b.extend(1u32.to_le_bytes()); // one value
    b.extend(code.to_le_bytes());
    b.extend([0, 0]); // the value's field is 4 bytes
    b.extend(0u32.to_le_bytes()); // no next IFD
    b
}

/// The EXIF Orientation tag of a JPEG (APP1) and of a PNG (eXIf) is read and reported, not
/// applied: the pixels are as stored, as PIL's `Image.open` gives them.
#[test]
fn exif_orientation_is_read_not_applied() {
    use harness_data::images::Orientation;
    use image::ImageEncoder;
    let dir = tmp();
    let stored =
        image::GrayImage::from_fn(16, 8, |x, _| image::Luma([if x < 8 { 20 } else { 230 }]));
    let jpeg = dir.path().join("photo.jpg");
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
    enc.set_exif_metadata(exif_orientation(6)).unwrap();
    enc.write_image(stored.as_raw(), 16, 8, image::ExtendedColorType::L8)
        .unwrap();
    std::fs::write(&jpeg, &bytes).unwrap();
    let got = read_image(&jpeg, &limits()).unwrap();
    assert_eq!(got.orientation, Orientation::Rotate90);
    assert_eq!((got.width, got.height), (16, 8), "as stored");
    assert!(
        got.pixels[0] < 60.0 && got.pixels[15] > 190.0,
        "{:?}",
        &got.pixels[..16]
    );
    let png = dir.path().join("photo.png");
    let mut bytes = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut bytes);
    enc.set_exif_metadata(exif_orientation(3)).unwrap();
    enc.write_image(stored.as_raw(), 16, 8, image::ExtendedColorType::L8)
        .unwrap();
    std::fs::write(&png, &bytes).unwrap();
    let got = read_image(&png, &limits()).unwrap();
    assert_eq!(got.orientation, Orientation::Rotate180);
    assert_eq!(got.pixels[0], 20.0);
    // No tag, or a tag saying "as stored": nothing to turn.
    let plain = dir.path().join("plain.jpg");
    stored.save(&plain).unwrap();
    assert_eq!(
        read_image(&plain, &limits()).unwrap().orientation,
        Orientation::NoTransforms
    );
}

#[test]
fn oversized_image_is_refused_with_its_dimensions() {
    let dir = tmp();
    let path = dir.path().join("wide.png");
    image::GrayImage::new(20, 10).save(&path).unwrap();
    let small = ReadLimits {
        max_width: 16,
        max_height: 16,
        ..ReadLimits::default()
    };
    let err = read_image(&path, &small).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::TooLarge {
                width: 20,
                height: 10,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("wide.png") && msg.contains("20x10") && msg.contains("16x16"),
        "{msg}"
    );
    // Within the default limit it reads.
    assert!(read_image(&path, &limits()).is_ok());
}

#[test]
fn truncated_png_and_jpeg_are_decode_errors_naming_the_file() {
    let dir = tmp();
    for (name, format) in [("t.png", "PNG"), ("t.jpg", "JPEG")] {
        let good = dir.path().join(format!("good-{name}"));
        image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 3]))
            .save(&good)
            .unwrap();
        let bytes = std::fs::read(&good).unwrap();
        let bad = dir.path().join(name);
        std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_image(&bad, &limits()).unwrap_err();
        assert!(
            matches!(&err, ImageError::Decode { format: f, .. } if *f == format),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn unknown_and_empty_files_are_named() {
    let dir = tmp();
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"hello, not an image").unwrap();
    let err = read_image(&junk, &limits()).unwrap_err();
    assert!(matches!(err, ImageError::UnknownFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("junk.bin"));

    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let err = read_image(&empty, &limits()).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");

    let missing = dir.path().join("missing.png");
    assert!(matches!(
        read_image(&missing, &limits()),
        Err(ImageError::Io { .. })
    ));
}

// ---------------------------------------------------------------- NumPy

fn write_npy<A: WriteNpyExt>(path: &Path, array: &A) {
    let file = std::fs::File::create(path).unwrap();
    array.write_npy(file).unwrap();
}

#[test]
fn npy_gray_float_and_rgb_uint8() {
    let dir = tmp();
    let gray = dir.path().join("g.npy");
    write_npy(
        &gray,
        &Array2::from_shape_vec((2, 3), vec![0.5f32, -1.0, 2.0, 3.0, 4.0, 1e3]).unwrap(),
    );
    let got = read_image(&gray, &limits()).unwrap();
    assert_eq!(
        (got.width, got.height, got.channels, got.source),
        (3, 2, 1, ImageSource::Npy)
    );
    assert_eq!(got.pixels, vec![0.5, -1.0, 2.0, 3.0, 4.0, 1000.0]);

    let rgb = dir.path().join("c.npy");
    write_npy(
        &rgb,
        &Array3::from_shape_fn((1, 2, 3), |(_, x, c)| (10 * x + c) as u8),
    );
    let got = read_image(&rgb, &limits()).unwrap();
    assert_eq!((got.width, got.height, got.channels), (2, 1, 3));
    assert_eq!(got.pixels, vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
}

#[test]
fn npy_fortran_order_is_read_in_row_major_order() {
    let dir = tmp();
    let path = dir.path().join("f.npy");
    // Logical [[1, 2, 3], [4, 5, 6]] stored column-major.
    let a = Array::from_shape_vec((2, 3).f(), vec![1u16, 4, 2, 5, 3, 6]).unwrap();
    write_npy(&path, &a);
    assert_eq!(
        read_image(&path, &limits()).unwrap().pixels,
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
}

#[test]
fn npy_wrong_rank_nan_and_truncation_are_errors() {
    let dir = tmp();
    let rank4 = dir.path().join("r4.npy");
    write_npy(&rank4, &Array4::<u8>::zeros((1, 2, 2, 1)));
    let err = read_image(&rank4, &limits()).unwrap_err().to_string();
    assert!(
        err.contains("r4.npy") && err.contains("[1, 2, 2, 1]") && err.contains("(H, W)"),
        "{err}"
    );

    let nan = dir.path().join("nan.npy");
    write_npy(
        &nan,
        &Array2::from_shape_vec((1, 2), vec![1.0f64, f64::NAN]).unwrap(),
    );
    let err = read_image(&nan, &limits()).unwrap_err().to_string();
    assert!(
        err.contains("not finite") && err.contains("index 1"),
        "{err}"
    );

    let good = dir.path().join("good.npy");
    write_npy(&good, &Array2::<f32>::zeros((4, 4)));
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.npy");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    let err = read_image(&cut, &limits()).unwrap_err();
    assert!(matches!(err, ImageError::Array { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");

    let header_only = dir.path().join("hdr.npy");
    std::fs::write(&header_only, &bytes[..20]).unwrap();
    let err = read_image(&header_only, &limits()).unwrap_err().to_string();
    assert!(
        err.contains("hdr.npy") && err.contains("not a valid .npy"),
        "{err}"
    );
}

#[test]
fn npy_declared_size_beyond_the_limit_is_refused_before_reading() {
    let dir = tmp();
    let path = dir.path().join("big.npy");
    write_npy(&path, &Array2::<u8>::zeros((4, 40)));
    let small = ReadLimits {
        max_width: 32,
        ..ReadLimits::default()
    };
    assert!(matches!(
        read_image(&path, &small),
        Err(ImageError::TooLarge {
            width: 40,
            height: 4,
            ..
        })
    ));
    let tiny_bytes = ReadLimits {
        max_bytes: 100,
        ..ReadLimits::default()
    };
    let err = read_image(&path, &tiny_bytes).unwrap_err().to_string();
    assert!(err.contains("limit"), "{err}");
}

/// MedMNIST layout: `{split}_images` (N, H, W) uint8, `{split}_labels` (N, 1) uint8.
#[test]
fn npz_medmnist_gray_split() {
    let dir = tmp();
    let path = dir.path().join("pneumoniamnist.npz");
    let images = Array3::from_shape_fn((3, 2, 2), |(n, y, x)| (100 * n + 10 * y + x) as u8);
    let labels = Array2::from_shape_vec((3, 1), vec![0u8, 1, 1]).unwrap();
    let mut npz = NpzWriter::new(std::fs::File::create(&path).unwrap());
    npz.add_array("train_images", &Array3::<u8>::zeros((1, 2, 2)))
        .unwrap();
    npz.add_array("train_labels", &Array2::<u8>::zeros((1, 1)))
        .unwrap();
    npz.add_array("test_images", &images).unwrap();
    npz.add_array("test_labels", &labels).unwrap();
    npz.finish().unwrap();

    let split = read_npz_split(&path, "test", &limits()).unwrap();
    assert_eq!(split.images.len(), 3);
    assert_eq!(split.labels, vec![vec![0], vec![1], vec![1]]);
    let third = &split.images[2];
    assert_eq!(
        (third.width, third.height, third.channels, third.source),
        (2, 2, 1, ImageSource::Npy)
    );
    assert_eq!(third.pixels, vec![200.0, 201.0, 210.0, 211.0]);
    assert_eq!(
        read_npz_split(&path, "train", &limits())
            .unwrap()
            .images
            .len(),
        1
    );
}

/// RGB images, multi-label (N, k) int64 labels, deflate-compressed as by `np.savez_compressed`.
#[test]
fn npz_compressed_rgb_multilabel() {
    let dir = tmp();
    let path = dir.path().join("chestmnist.npz");
    let images = Array4::from_shape_fn((2, 1, 2, 3), |(n, _, x, c)| (n * 100 + x * 10 + c) as u8);
    let labels = Array2::from_shape_vec((2, 3), vec![1i64, 0, 1, 0, 0, 1]).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [
        ("test_images.npy", npy_bytes(&images)),
        ("test_labels.npy", npy_bytes(&labels)),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();

    let split = read_npz_split(&path, "test", &limits()).unwrap();
    assert_eq!(split.labels, vec![vec![1, 0, 1], vec![0, 0, 1]]);
    let second = &split.images[1];
    assert_eq!((second.width, second.height, second.channels), (2, 1, 3));
    assert_eq!(
        second.pixels,
        vec![100.0, 101.0, 102.0, 110.0, 111.0, 112.0]
    );
}

fn npy_bytes<A: WriteNpyExt>(a: &A) -> Vec<u8> {
    let mut v = Vec::new();
    a.write_npy(&mut v).unwrap();
    v
}

fn write_npz(path: &Path, arrays: &[(&str, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in arrays {
        zip.start_file(
            format!("{name}.npy"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn npz_errors_name_the_array_and_the_problem() {
    let dir = tmp();
    let imgs = npy_bytes(&Array3::<u8>::zeros((2, 2, 2)));
    let path = dir.path().join("a.npz");

    write_npz(
        &path,
        &[
            ("test_images", imgs.clone()),
            ("test_labels", npy_bytes(&Array2::<u8>::zeros((2, 1)))),
        ],
    );
    let err = read_npz_split(&path, "val", &limits())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a.npz") && err.contains("val_images") && err.contains("test_images"),
        "{err}"
    );

    write_npz(
        &path,
        &[
            ("test_images", imgs.clone()),
            ("test_labels", npy_bytes(&Array2::<u8>::zeros((3, 1)))),
        ],
    );
    let err = read_npz_split(&path, "test", &limits())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test_labels") && err.contains("[3, 1]") && err.contains("2 images"),
        "{err}"
    );

    write_npz(
        &path,
        &[
            ("test_images", imgs.clone()),
            ("test_labels", npy_bytes(&Array2::from_elem((2, 1), 300i64))),
        ],
    );
    let err = read_npz_split(&path, "test", &limits())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("label 300") && err.contains("0..=255"),
        "{err}"
    );

    write_npz(
        &path,
        &[
            ("test_images", imgs.clone()),
            ("test_labels", npy_bytes(&Array2::from_elem((2, 1), 1.0f32))),
        ],
    );
    let err = read_npz_split(&path, "test", &limits())
        .unwrap_err()
        .to_string();
    assert!(err.contains("floating point"), "{err}");

    let rank2 = npy_bytes(&Array2::<u8>::zeros((2, 4)));
    write_npz(
        &path,
        &[
            ("test_images", rank2),
            ("test_labels", npy_bytes(&Array2::<u8>::zeros((2, 1)))),
        ],
    );
    let err = read_npz_split(&path, "test", &limits())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test_images") && err.contains("(N, H, W)"),
        "{err}"
    );

    let mut cut = imgs.clone();
    cut.truncate(cut.len() - 1);
    write_npz(
        &path,
        &[
            ("test_images", cut),
            ("test_labels", npy_bytes(&Array2::<u8>::zeros((2, 1)))),
        ],
    );
    let err = read_npz_split(&path, "test", &limits())
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn corrupt_npz_archive_is_a_decode_error() {
    let dir = tmp();
    let path = dir.path().join("good.npz");
    write_npz(
        &path,
        &[("test_images", npy_bytes(&Array3::<u8>::zeros((2, 2, 2))))],
    );
    let bytes = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad.npz");
    std::fs::write(&bad, &bytes[..bytes.len() - 30]).unwrap();
    let err = read_npz_split(&bad, "test", &limits()).unwrap_err();
    assert!(matches!(err, ImageError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("bad.npz"));
    // An .npz handed to read_image gets a pointer to read_npz_split.
    let err = read_image(&path, &limits()).unwrap_err().to_string();
    assert!(err.contains("read_npz_split"), "{err}");
}

// ---------------------------------------------------------------- window

/// Hand values from DICOM PS3.3 C.11.2.1.2.1 for c = 40, w = 400:
/// lower edge c - 0.5 - (w-1)/2 = -160, upper edge c - 0.5 + (w-1)/2 = 239.
#[test]
fn linear_window_matches_the_standard_formula() {
    assert_eq!(apply_window(-1000.0, 40.0, 400.0), 0.0);
    assert_eq!(apply_window(-160.0, 40.0, 400.0), 0.0);
    assert!((apply_window(-159.0, 40.0, 400.0) - 1.0 / 399.0 - 0.0000).abs() < 1e-12);
    assert!((apply_window(39.5, 40.0, 400.0) - 0.5).abs() < 1e-12);
    assert!((apply_window(239.0, 40.0, 400.0) - 1.0).abs() < 1e-12);
    assert_eq!(apply_window(239.01, 40.0, 400.0), 1.0);
    // w = 1: a step between c - 0.5 and above.
    assert_eq!(apply_window(9.5, 10.0, 1.0), 0.0);
    assert_eq!(apply_window(9.6, 10.0, 1.0), 1.0);
}

fn dicom_like(photometric: &str, pixels: Vec<f32>) -> Image {
    let mut img = Image::new(2, 1, 1, pixels, ImageSource::Dicom).unwrap();
    img.dicom = Some(DicomInfo {
        rescale_slope: 1.0,
        rescale_intercept: 0.0,
        window: None,
        photometric_interpretation: photometric.into(),
        bits_stored: 12,
        bits_allocated: 16,
        transfer_syntax: "1.2.840.10008.1.2.1".into(),
        signed: false,
        frames: 1,
        samples_per_pixel: 1,
        planar_configuration: 0,
    });
    img
}

#[test]
fn windowed_maps_to_unit_range_and_inverts_monochrome1() {
    let w = Window {
        center: 50.0,
        width: 101.0,
    };
    // (x - 49.5) / 100 + 0.5 for x = 0 -> 0.005, x = 99.5 -> 1.0
    let m2 = dicom_like("MONOCHROME2", vec![0.0, 99.5])
        .windowed(w)
        .unwrap();
    assert!(
        (m2.pixels[0] - 0.005).abs() < 1e-6 && (m2.pixels[1] - 1.0).abs() < 1e-6,
        "{:?}",
        m2.pixels
    );
    let m1 = dicom_like("MONOCHROME1", vec![0.0, 99.5])
        .windowed(w)
        .unwrap();
    assert!(
        (m1.pixels[0] - 0.995).abs() < 1e-6 && m1.pixels[1].abs() < 1e-6,
        "{:?}",
        m1.pixels
    );
    for bad in [
        Window {
            center: 0.0,
            width: 0.5,
        },
        Window {
            center: f64::NAN,
            width: 10.0,
        },
    ] {
        let err = m2.windowed(bad).unwrap_err();
        assert!(matches!(err, ImageError::InvalidWindow { .. }), "{err:?}");
    }
}

#[test]
fn image_new_validates() {
    assert!(Image::new(2, 2, 1, vec![0.0; 4], ImageSource::Png).is_ok());
    for (w, h, c, n) in [(0, 2, 1, 0), (2, 2, 2, 8), (2, 2, 1, 3)] {
        assert!(matches!(
            Image::new(w, h, c, vec![0.0; n], ImageSource::Png),
            Err(ImageError::Invalid { .. })
        ));
    }
    assert!(Image::new(1, 1, 1, vec![f32::INFINITY], ImageSource::Png).is_err());
}

// ---------------------------------------------------------------- DICOM

/// `data/dicom-samples/`: pydicom test files with `expected.json` written by
/// `ci/gen_dicom_samples.py` (pydicom 3.0.2: stored values × RescaleSlope +
/// RescaleIntercept in float64, then min/max/sum/mean).
fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/dicom-samples")
}

fn expected_samples() -> Vec<serde_json::Value> {
    let path = samples_dir().join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["files"].as_array().expect("files array").clone()
}

#[test]
fn dicom_samples_match_pydicom_after_the_modality_lut() {
    let files = expected_samples();
    assert!(files.len() >= 2, "expected several sample files");
    for f in files {
        let path = samples_dir().join(f["image"].as_str().unwrap());
        let name = f["case_id"].as_str().unwrap();
        let img = read_image(&path, &limits()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(img.source, ImageSource::Dicom, "{name}");
        assert_eq!(u64::from(img.height), f["rows"].as_u64().unwrap(), "{name}");
        assert_eq!(u64::from(img.width), f["cols"].as_u64().unwrap(), "{name}");
        assert_eq!(
            u64::from(img.channels),
            f["samples_per_pixel"].as_u64().unwrap(),
            "{name}"
        );
        let info = img.dicom.as_ref().unwrap();
        assert_eq!(
            info.rescale_slope,
            f["rescale_slope"].as_f64().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.rescale_intercept,
            f["rescale_intercept"].as_f64().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.photometric_interpretation,
            f["photometric_interpretation"].as_str().unwrap()
        );
        assert_eq!(
            u64::from(info.bits_stored),
            f["bits_stored"].as_u64().unwrap(),
            "{name}"
        );
        let want_window = f["window_center"].as_f64().map(|center| Window {
            center,
            width: f["window_width"].as_f64().unwrap(),
        });
        assert_eq!(info.window, want_window, "{name}");
        let min = img.pixels.iter().copied().fold(f32::INFINITY, f32::min);
        let max = img.pixels.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = img.pixels.iter().map(|&v| f64::from(v)).sum();
        assert_eq!(
            f64::from(min),
            f["modality_lut_min"].as_f64().unwrap(),
            "{name}"
        );
        assert_eq!(
            f64::from(max),
            f["modality_lut_max"].as_f64().unwrap(),
            "{name}"
        );
        // Integer-valued samples: the f64 sums are exact.
        assert_eq!(sum, f["modality_lut_sum"].as_f64().unwrap(), "{name}");
        let mean = sum / img.pixels.len() as f64;
        assert!(
            (mean - f["modality_lut_mean"].as_f64().unwrap()).abs() < 1e-9,
            "{name}"
        );
    }
}

#[test]
fn dicom_rle_and_implicit_decode_to_the_same_pixels_as_explicit() {
    let dir = samples_dir().join("images");
    let explicit = read_image(&dir.join("MR_small.dcm"), &limits()).unwrap();
    for other in ["MR_small_RLE.dcm", "MR_small_implicit.dcm"] {
        let img = read_image(&dir.join(other), &limits()).unwrap();
        assert_eq!(img.pixels, explicit.pixels, "{other}");
    }
}

/// Writes a copy of `MR_small.dcm` with one attribute replaced.
fn modified_mr(
    dir: &Path,
    name: &str,
    tag: dicom_object::Tag,
    vr: dicom_core::VR,
    value: &str,
) -> PathBuf {
    let mut obj = dicom_object::open_file(samples_dir().join("images/MR_small.dcm")).unwrap();
    obj.put_str(tag, vr, value);
    let out = dir.join(name);
    obj.write_to_file(&out).unwrap();
    out
}

#[test]
fn dicom_multiframe_is_an_error_not_a_silent_first_frame() {
    let dir = tmp();
    let path = modified_mr(
        dir.path(),
        "mf.dcm",
        dicom_object::Tag(0x0028, 0x0008),
        dicom_core::VR::IS,
        "2",
    );
    let err = read_image(&path, &limits()).unwrap_err();
    assert!(matches!(err, ImageError::Unsupported { .. }), "{err:?}");
    assert!(
        err.to_string().contains("2 frames") && err.to_string().contains("mf.dcm"),
        "{err}"
    );
}

#[test]
fn dicom_monochrome1_is_recorded_and_inverted_only_by_the_window() {
    let dir = tmp();
    let path = modified_mr(
        dir.path(),
        "m1.dcm",
        dicom_object::Tag(0x0028, 0x0004),
        dicom_core::VR::CS,
        "MONOCHROME1",
    );
    let m1 = read_image(&path, &limits()).unwrap();
    let m2 = read_image(&samples_dir().join("images/MR_small.dcm"), &limits()).unwrap();
    assert!(m1.dicom.as_ref().unwrap().is_monochrome1());
    assert!(!m2.dicom.as_ref().unwrap().is_monochrome1());
    assert_eq!(
        m1.pixels, m2.pixels,
        "stored values are not inverted on read"
    );
    let w = m2.dicom.as_ref().unwrap().window.unwrap();
    let (a, b) = (m1.windowed(w).unwrap(), m2.windowed(w).unwrap());
    assert!(b.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(b.pixels.iter().any(|&v| v > 0.0 && v < 1.0));
    for (x, y) in a.pixels.iter().zip(&b.pixels) {
        assert!((x + y - 1.0).abs() < 1e-6);
    }
}

#[test]
fn dicom_limits_and_corruption() {
    let ct = samples_dir().join("images/CT_small.dcm");
    let small = ReadLimits {
        max_width: 100,
        max_height: 100,
        ..ReadLimits::default()
    };
    assert!(matches!(
        read_image(&ct, &small),
        Err(ImageError::TooLarge {
            width: 128,
            height: 128,
            ..
        })
    ));

    let dir = tmp();
    let bytes = std::fs::read(&ct).unwrap();
    for (name, len) in [
        ("cut_pixels.dcm", bytes.len() - 1000),
        ("cut_header.dcm", 300),
        ("preamble_only.dcm", 132),
    ] {
        let bad = dir.path().join(name);
        std::fs::write(&bad, &bytes[..len]).unwrap();
        let err = read_image(&bad, &limits()).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::Decode {
                    format: "DICOM",
                    ..
                }
            ),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}

/// The project's committed MedMNIST-layout sample (`data/medmnist-sample/`,
/// deflate-compressed); sums and counts from its README and
/// `numpy.load(...)[key].sum()`.
#[test]
fn committed_medmnist_sample_reads_every_split() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/medmnist-sample/synthetic-pneumoniamnist-28.npz");
    for (split, n, positives, pixel_sum) in [
        ("train", 40, 12, 3_222_072.0),
        ("val", 20, 6, 1_571_696.0),
        ("test", 100, 25, 7_931_150.0),
    ] {
        let s = read_npz_split(&path, split, &limits()).unwrap();
        assert_eq!((s.images.len(), s.labels.len()), (n, n), "{split}");
        assert!(
            s.images
                .iter()
                .all(|i| (i.width, i.height, i.channels) == (28, 28, 1))
        );
        let pos = s.labels.iter().filter(|l| l.as_slice() == [1]).count();
        assert_eq!(pos, positives, "{split}");
        let sum: f64 = s
            .images
            .iter()
            .flat_map(|i| &i.pixels)
            .map(|&v| f64::from(v))
            .sum();
        assert_eq!(sum, pixel_sum, "{split}");
    }
    assert_eq!(
        read_npz_split(&path, "test", &limits()).unwrap().images[0].pixels[..5],
        [102.0, 92.0, 101.0, 120.0, 98.0]
    );
}
