#!/usr/bin/env python3
"""The synthetic lesion set as a hospital's PACS would export it: data/synthetic-lesions/ (600
64x64 8-bit PNGs, three simulated sites) written as DICOM files, one scanner vendor per site,
each with its own transfer syntax, and with the identifying attributes real files carry
(all invented: SYNTHETIC names, IDs, dates, UIDs). Subgroups (vendor, scanner model, sex, age
band, kVp band) are NOT in the labels file: the dataset reads them from the DICOM headers
(`dicom_subgroups` in datasets.toml). The privacy check greps every bundle file for the
identifying values listed in identifying.json.

    python3 ci/gen_dicom_lesions.py OUT_DIR IDENTIFYING.json  # pydicom 3.0.2, pylibjpeg-openjpeg, pillow

Deterministic: the same inputs and pinned packages give the same bytes (the registry pins the
folder's hash; datasets.toml says how to recompute it). Pixel values equal the PNGs', so the
example suite's models score the same images.
"""
import csv
import hashlib
import json
import os
import sys

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "data", "synthetic-lesions")

# site -> (manufacturer, model, kVp range, transfer syntax)
SITES = {
    "A": ("Acme Medical", "Acme DR-1", (102, 118), ExplicitVRLittleEndian),
    "B": ("Borealis Imaging", "Borealis X9", (110, 126), RLELossless),
    "C": ("Cobalt Systems", "Cobalt CR-5", (118, 134), JPEG2000Lossless),
}
AGES = {"18-44": (18, 44), "45-64": (45, 64), "65+": (65, 90)}


def uid(*parts):
    return generate_uid(entropy_srcs=["harness synthetic-lesions-dicom", *parts])


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out, identifying_json = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    rng = np.random.default_rng(20261202)
    with open(os.path.join(SRC, "labels.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    identifying = set()
    labels = []
    for n, row in enumerate(rows):
        case = row["case_id"]
        manufacturer, model, (kvp_lo, kvp_hi), syntax = SITES[row["site"]]
        pixels = np.asarray(Image.open(os.path.join(SRC, row["image"])).convert("L"), dtype=np.uint8)
        age_lo, age_hi = AGES[row["age_band"]]
        study = uid(case, "study")
        series = uid(case, "series")
        sop = uid(case, "instance")
        patient_id = "SYN" + hashlib.sha256(case.encode()).hexdigest()[:10].upper()
        birth = f"19{rng.integers(30, 99):02d}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
        study_date = f"2025{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
        accession = f"ACC{rng.integers(10**7, 10**8)}"
        name = f"SYNTHETIC^PATIENT{n + 1:04d}"

        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = uid("implementation")
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = SecondaryCaptureImageStorage
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.PatientName = name
        ds.PatientID = patient_id
        ds.PatientBirthDate = birth
        ds.PatientSex = row["sex"]
        ds.PatientAge = f"{int(rng.integers(age_lo, age_hi + 1)):03d}Y"
        ds.StudyDate = study_date
        ds.StudyTime = f"{rng.integers(7, 19):02d}{rng.integers(0, 60):02d}00"
        ds.AccessionNumber = accession
        ds.ReferringPhysicianName = f"SYNTHETIC^REFERRER{n % 7 + 1}"
        ds.InstitutionName = "Synthetic General Hospital"
        ds.Modality = "DX"
        ds.Manufacturer = manufacturer
        ds.ManufacturerModelName = model
        ds.DeviceSerialNumber = f"SN{rng.integers(10**5, 10**6)}"
        ds.KVP = str(int(rng.integers(kvp_lo, kvp_hi + 1)))
        ds.BodyPartExamined = "CHEST"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = pixels.shape
        ds.BitsAllocated = 8
        ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = pixels.tobytes()
        if syntax != ExplicitVRLittleEndian:
            ds.compress(
                syntax,
                encoding_plugin="pylibjpeg" if syntax == JPEG2000Lossless else "pydicom",
                generate_instance_uid=False,
            )
        rel = f"images/{case}.dcm"
        ds.save_as(os.path.join(out, rel), enforce_file_format=True)
        labels.append((case, rel, row["label"]))
        for v in (name, patient_id, birth, study_date, accession, study, series, sop,
                  str(ds.ReferringPhysicianName), ds.DeviceSerialNumber, "Synthetic General Hospital"):
            identifying.add(str(v))
    with open(os.path.join(out, "labels.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["case_id", "image", "label"])
        w.writerows(labels)
    # Kept beside the dataset, not in it: the values that must never reach a bundle.
    with open(identifying_json, "w") as fh:
        json.dump(sorted(identifying), fh, indent=0)
    print(f"gen_dicom_lesions: {len(labels)} DICOM files in {out} ({len(identifying)} identifying values recorded)")


if __name__ == "__main__":
    main()
