//! A folder of DICOM files as a dataset: subgroups read from the headers (`dicom_subgroups`),
//! every frame of a multi-frame file as its own case (`frames = "all"`, keyed `<case>#<k>`),
//! and the registry's refusals (identifying attributes, `all` frames without a patient column).

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use harness_data::images::ReadLimits;
use harness_data::registry::{Registry, folder_sha256};
use harness_pipeline::load_index;
use std::path::Path;

fn put(obj: &mut InMemDicomObject, g: u16, e: u16, vr: VR, v: PrimitiveValue) {
    obj.put(DataElement::new(Tag(g, e), vr, v));
}

/// A 2x2 8-bit grey file of `frames` frames; frame k holds the value 10k + 1 everywhere.
fn dicom(path: &Path, frames: u8, manufacturer: &str) {
    let mut obj = InMemDicomObject::new_empty();
    put(&mut obj, 0x0008, 0x0070, VR::LO, manufacturer.into());
    let uid = format!("1.2.826.0.1.3680043.10.{frames}");
    put(&mut obj, 0x0008, 0x0018, VR::UI, uid.as_str().into());
    put(&mut obj, 0x0010, 0x0010, VR::PN, "SECRET^NAME".into());
    put(&mut obj, 0x0028, 0x0002, VR::US, PrimitiveValue::from(1u16));
    put(&mut obj, 0x0028, 0x0004, VR::CS, "MONOCHROME2".into());
    put(
        &mut obj,
        0x0028,
        0x0008,
        VR::IS,
        frames.to_string().as_str().into(),
    );
    for (e, v) in [
        (0x0010, 2u16),
        (0x0011, 2),
        (0x0100, 8),
        (0x0101, 8),
        (0x0102, 7),
        (0x0103, 0),
    ] {
        put(&mut obj, 0x0028, e, VR::US, PrimitiveValue::from(v));
    }
    let pixels: Vec<u8> = (0..frames).flat_map(|k| [10 * k + 1; 4]).collect();
    put(
        &mut obj,
        0x7FE0,
        0x0010,
        VR::OB,
        PrimitiveValue::from(pixels),
    );
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax("1.2.840.10008.1.2.1")
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
            .media_storage_sop_instance_uid("1.2.3"),
    )
    .unwrap()
    .write_to_file(path)
    .unwrap();
}

fn project(extra: &str) -> (tempfile::TempDir, Result<Registry, String>) {
    project_with(
        extra,
        "case_id,image,label,patient\na,a.dcm,1,p1\nb,b.dcm,0,p2\n",
    )
}

fn project_with(
    extra: &str,
    labels: impl AsRef<[u8]>,
) -> (tempfile::TempDir, Result<Registry, String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data/dcm");
    std::fs::create_dir_all(&data).unwrap();
    dicom(&data.join("a.dcm"), 3, "Acme Medical");
    dicom(&data.join("b.dcm"), 1, "Borealis Imaging");
    std::fs::write(data.join("labels.csv"), labels).unwrap();
    let digest = folder_sha256(&data).unwrap();
    let registry = dir.path().join("datasets.toml");
    std::fs::write(
        &registry,
        format!(
            "[datasets.dcm]\ntitle = \"t\"\nformat = \"image-folder\"\npath = \"data/dcm\"\nlabels = \"labels.csv\"\n\
             id_column = \"case_id\"\nlabel = \"label\"\npositive_class = \"1\"\n\
             sha256 = \"{digest}\"\nlicence = \"CC0-1.0\"\nprovenance = \"test\"\n{extra}\n"
        ),
    )
    .unwrap();
    let loaded = Registry::load(&registry, None).map_err(|e| e.to_string());
    (dir, loaded)
}

#[test]
fn every_frame_becomes_a_case_with_its_subgroup_from_the_header() {
    let (_dir, registry) = project(
        "image_column = \"image\"\ncluster = \"patient\"\nframes = \"all\"\n\
         dicom_subgroups = { vendor = \"Manufacturer\" }",
    );
    let registry = registry.unwrap();
    let dataset = registry.get("dcm").unwrap().clone();
    let columns = ["vendor".to_string(), "patient".to_string()];
    let (index, status) =
        load_index(&registry, &dataset, &columns, &ReadLimits::default(), 100).unwrap();
    assert!(status.is_verified());
    assert_eq!(index.case_ids, ["a#0", "a#1", "a#2", "b#0"]);
    assert_eq!(index.binary_labels().unwrap(), [true, true, true, false]);
    assert_eq!(index.groups[0].0, "vendor");
    assert_eq!(
        index.groups[0].1,
        [
            "Acme Medical",
            "Acme Medical",
            "Acme Medical",
            "Borealis Imaging"
        ]
    );
    assert_eq!(index.groups[1].1, ["p1", "p1", "p1", "p2"]);
    // a.dcm is read and hashed once for its three frames: once its first frame is decoded,
    // replacing the file on disk changes nothing for the others (they come from the bytes
    // whose hash was checked), while b.dcm, read on its own, is checked when it is read.
    let first = index.decode(0).unwrap();
    assert_eq!(first.image.pixels, vec![1.0; 4]);
    let data = _dir.path().join("data/dcm");
    // Too many cases once the frames are counted.
    let err = load_index(&registry, &dataset, &columns, &ReadLimits::default(), 3).unwrap_err();
    assert!(
        err.to_string()
            .contains("more cases than the suite's limit of 3"),
        "{err}"
    );
    // The files change after the index was loaded (checked) and a#0 decoded.
    dicom(&data.join("a.dcm"), 3, "Changed Medical");
    dicom(&data.join("b.dcm"), 1, "Changed Imaging");
    for (case, value) in [(1, 11.0), (2, 21.0)] {
        let decoded = index.decode(case).unwrap();
        assert_eq!(decoded.image.pixels, vec![value; 4], "case {case}");
        assert_eq!(decoded.sha256, first.sha256, "case {case}: the same bytes");
    }
    let err = index.decode(3).unwrap_err().to_string();
    assert!(err.contains("b.dcm") && err.contains("changed"), "{err}");
}

#[test]
fn the_middle_frame_or_an_index_reads_one_case_per_file() {
    let (_dir, registry) = project("image_column = \"image\"\nframes = 2");
    let registry = registry.unwrap();
    let dataset = registry.get("dcm").unwrap().clone();
    let (index, _) = load_index(&registry, &dataset, &[], &ReadLimits::default(), 100).unwrap();
    assert_eq!(index.case_ids, ["a", "b"]);
    assert_eq!(index.decode(0).unwrap().image.pixels, vec![21.0; 4]);
    // b.dcm has one frame: frame 2 is refused, naming the file.
    let err = index.decode(1).unwrap_err().to_string();
    assert!(err.contains("b.dcm") && err.contains("frame 2"), "{err}");
    // With no declared policy a multi-frame file is refused rather than silently reduced.
    let (_dir, registry) = project("image_column = \"image\"");
    let registry = registry.unwrap();
    let dataset = registry.get("dcm").unwrap().clone();
    let (index, _) = load_index(&registry, &dataset, &[], &ReadLimits::default(), 100).unwrap();
    let err = index.decode(0).unwrap_err().to_string();
    assert!(err.contains("3 frames"), "{err}");
}

#[test]
fn identifying_attributes_and_unclustered_frames_are_refused_by_the_registry() {
    let (_dir, registry) =
        project("image_column = \"image\"\ndicom_subgroups = { who = \"PatientName\" }");
    let err = registry.unwrap_err();
    assert!(
        err.contains("PatientName") && err.contains("identifies"),
        "{err}"
    );
    let (_dir, registry) = project("image_column = \"image\"\nframes = \"all\"");
    assert!(registry.unwrap_err().contains("cluster"));
    let (_dir, registry) = project("image_column = \"image\"\nframes = \"every\"");
    assert!(registry.unwrap_err().contains("frames"));
}

#[test]
fn labels_keyed_by_sop_instance_uid_find_their_files_by_header() {
    let labels = "uid,label\n1.2.826.0.1.3680043.10.1,0\n1.2.826.0.1.3680043.10.3,1\n";
    let (_dir, registry) = project_with(
        "dicom_key = \"SOPInstanceUID\"\nframes = \"middle\"",
        labels.replace("uid,", "case_id,"),
    );
    let registry = registry.unwrap();
    let dataset = registry.get("dcm").unwrap().clone();
    let (index, _) = load_index(&registry, &dataset, &[], &ReadLimits::default(), 100).unwrap();
    assert_eq!(
        index.case_ids,
        ["1.2.826.0.1.3680043.10.1", "1.2.826.0.1.3680043.10.3"]
    );
    assert_eq!(index.binary_labels().unwrap(), [false, true]);
    // b.dcm (one frame) and the middle frame of a.dcm (frame 1 of 3: value 11).
    assert_eq!(index.decode(0).unwrap().image.pixels, vec![1.0; 4]);
    assert_eq!(index.decode(1).unwrap().image.pixels, vec![11.0; 4]);
    // A case id no file carries is refused at its line.
    let (_dir, registry) = project_with(
        "dicom_key = \"SOPInstanceUID\"",
        "case_id,label\n1.2.826.0.1.3680043.10.1,0\n1.2.9,1\n",
    );
    let registry = registry.unwrap();
    let dataset = registry.get("dcm").unwrap().clone();
    let err = load_index(&registry, &dataset, &[], &ReadLimits::default(), 100)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1.2.9") && err.contains("SOPInstanceUID"),
        "{err}"
    );
    // Both an image column and a key: refused by the registry.
    let (_dir, registry) = project("image_column = \"image\"\ndicom_key = \"SOPInstanceUID\"");
    assert!(registry.unwrap_err().contains("not both"));
}

/// A labels file saved as a spreadsheet's "Unicode Text" (UTF-16 with its byte-order mark) is
/// refused naming the file and the encoding, not read as a file whose columns are missing.
#[test]
fn a_utf16_labels_file_is_named_as_such() {
    let text = "case_id,image,label\na,a.dcm,1\nb,b.dcm,0\n";
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let (_dir, registry) = project_with("image_column = \"image\"\nframes = 1", utf16);
    let registry = registry.unwrap();
    let dataset = registry.get("dcm").unwrap().clone();
    let err = load_index(&registry, &dataset, &[], &ReadLimits::default(), 100)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("labels.csv") && err.contains("UTF-16LE text, not UTF-8"),
        "{err}"
    );
}
