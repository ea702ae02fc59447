//! `harness inspect`: the description of a DICOM file, the decoded array written as .npy (read
//! back equal to what the harness decodes), and a clear exit-2 error for a non-image file.

use std::path::Path;
use std::process::Command;

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

#[test]
fn inspect_describes_a_dicom_file_and_writes_its_array() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dcm = root.join("data/dicom-samples/images/CT_small.dcm");
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("ct.npy");
    let out = harness()
        .arg("inspect")
        .arg(&dcm)
        .arg("--npy")
        .arg(&npy)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["format"], "dicom");
    assert_eq!(d["rows"], 128);
    assert_eq!(d["channels"], 1);
    assert_eq!(d["dicom"]["photometric_interpretation"], "MONOCHROME2");
    // CT_small.dcm (pydicom's test file) is explicit VR little endian, 16 bits allocated.
    assert_eq!(d["dicom"]["transfer_syntax"], "1.2.840.10008.1.2.1");
    assert_eq!(d["dicom"]["bits_allocated"], 16);

    // The .npy holds exactly the decoded values (after the Modality LUT), as float32 rows x cols.
    let limits = harness_data::images::ReadLimits::default();
    let direct = harness_data::images::read_image(&dcm, &limits).unwrap();
    let back = harness_data::images::read_image(&npy, &limits).unwrap();
    assert_eq!((back.height, back.width, back.channels), (128, 128, 1));
    assert_eq!(back.pixels, direct.pixels);
    assert_eq!(
        d["min"].as_f64().unwrap() as f32,
        direct.pixels.iter().copied().fold(f32::INFINITY, f32::min)
    );

    let readme = root.join("README.md");
    let out = harness().arg("inspect").arg(&readme).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("README.md") && err.contains("unrecognised image format"),
        "{err}"
    );
}

#[test]
fn frames_are_chosen_by_index_middle_or_all_and_a_missing_frame_is_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dcm = root.join("data/dicom-samples/images/MR_small_RLE.dcm");
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("all.npy");
    let out = harness()
        .args(["inspect", "--frame", "all", "--json", "--npy"])
        .arg(&npy)
        .arg(&dcm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["frames"], 1);
    assert_eq!(d["decoded_frames"], serde_json::json!([0]));
    assert_eq!(d["npy_dtype"], "float32");
    // The attributes a dataset could read as subgroups are shown (never stored).
    let attrs = d["subgroup_attributes"].as_array().unwrap();
    assert!(
        attrs.iter().any(|a| a[0] == "Modality" && a[1] == "MR"),
        "{attrs:?}"
    );
    // --frame all puts the frames in a first axis: (1, 64, 64) here.
    let header = std::fs::read(&npy).unwrap();
    let text = String::from_utf8_lossy(&header[..128.min(header.len())]);
    assert!(text.contains("(1, 64, 64)"), "{text}");

    let middle = harness()
        .args(["inspect", "--frame", "middle"])
        .arg(&dcm)
        .output()
        .unwrap();
    assert!(middle.status.success());
    for (frame, message) in [
        (
            "1",
            "frame 1 asked for, but the file has one frame (frame 0)",
        ),
        ("x", "not a frame"),
    ] {
        let out = harness()
            .args(["inspect", "--frame", frame])
            .arg(&dcm)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(message), "{err}");
    }
}

#[test]
fn an_npz_archive_is_inspected_image_by_image() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let npz = root.join("data/medmnist-sample/synthetic-pneumoniamnist-28.npz");
    let out = harness()
        .args(["inspect", "--frame", "3", "--json"])
        .arg(&npz)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (d["rows"].as_u64(), d["columns"].as_u64()),
        (Some(28), Some(28))
    );
    assert_eq!(d["decoded_frames"], serde_json::json!([3]));
    let n = d["frames"].as_u64().unwrap();
    assert!(n > 3, "{d}");
    let out = harness()
        .args(["inspect", "--frame", &n.to_string()])
        .arg(&npz)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("counted from 0"), "{err}");
}

/// A JPEG whose EXIF Orientation tag says "turn 90° clockwise to display" is described with
/// the tag (a note, and `exif_orientation` in the JSON); its values are as stored.
#[test]
fn a_jpeg_exif_orientation_is_shown_not_applied() {
    use image::ImageEncoder;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.jpg");
    // A little-endian EXIF block: the TIFF header, one IFD entry (Orientation, SHORT, 6).
    let exif = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0".to_vec();
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(&[90u8; 16 * 8], 16, 8, image::ExtendedColorType::L8)
        .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let out = harness().arg("inspect").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("size: 8 rows x 16 columns"), "{text}");
    assert!(
        text.contains("its EXIF Orientation tag (6) says it is turned 90° clockwise to display: the values are as stored"),
        "{text}"
    );
    let out = harness()
        .arg("inspect")
        .arg(&path)
        .arg("--json")
        .output()
        .unwrap();
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["exif_orientation"], 6);
    assert_eq!(
        (d["rows"].as_u64(), d["columns"].as_u64()),
        (Some(8), Some(16))
    );
}
