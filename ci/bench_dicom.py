#!/usr/bin/env python3
"""DICOM decode throughput: the harness against pydicom + pylibjpeg on the same files, in one run.

    bash ci/dicom_conformance.sh target/release/harness      # once: the venv with the references
    cargo build --release -p harness-data --example decode_files
    target/dicom-ref/venv/bin/python ci/bench_dicom.py [--files 64] [--repeats 3]

Files (seeded, written under target/bench-dicom/): 512x512 16-bit CT-like slices (12 bits
stored, signed, rescale -1024) as JPEG lossless (process 14, SV1; encoded by GDCM) and as JPEG
2000 lossless (encoded by OpenJPEG through pylibjpeg).

Both sides produce the same thing, the image after the Modality LUT as floats: the harness
through `decode_files` (read + decode, as `harness run` does per case), pydicom through
`dcmread` + `pixel_array` (pylibjpeg's libjpeg and openjpeg plugins) + `apply_modality_lut`.
One image at a time, and on all cores (rayon in the harness, a process pool of the same size
for pydicom). OpenJPEG decodes the code-blocks of one JPEG 2000 frame on all cores on both sides
(pylibjpeg-openjpeg does; the harness enables OpenJPEG's threads likewise), so "1" means one
image in flight, not one core, for that syntax. Ratio = harness images/s / pydicom images/s (target >= 1.0 in both); best of
`--repeats` runs each. Machines are noisy: run with nothing else going on.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from multiprocessing import Pool

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "bench-dicom")
DECODER = os.path.join(ROOT, "target", "release", "examples", "decode_files")


def ct_slice(rng, n=512):
    """A CT-like slice in stored values (HU + 1024): a body ellipse, organs, bone, noise."""
    y, x = np.mgrid[0:n, 0:n] / n - 0.5
    img = np.full((n, n), -1000.0)
    body = (x / 0.42) ** 2 + (y / 0.34) ** 2 < 1
    img[body] = 40
    for _ in range(6):
        cx, cy, r = rng.uniform(-0.25, 0.25), rng.uniform(-0.2, 0.2), rng.uniform(0.03, 0.1)
        img[((x - cx) ** 2 + (y - cy) ** 2 < r * r) & body] = rng.uniform(-100, 300)
    img[((x / 0.36) ** 2 + (y / 0.29) ** 2 > 1) & body] = 700  # a rim of bone
    img += rng.normal(0, 12, img.shape)
    return np.clip(img + 1024, 0, 4095).astype(np.int16)


def dataset(pixels, k):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["bench", str(k)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
    ds.PixelData = pixels.tobytes()
    return ds


def make_files(n):
    import gdcm  # python-gdcm, for the JPEG lossless encoder pydicom lacks

    dirs = {k: os.path.join(OUT, k) for k in ("jpeg-lossless", "jpeg2000-lossless")}
    if all(os.path.isdir(d) and len(os.listdir(d)) == n for d in dirs.values()):
        return dirs
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    rng = np.random.default_rng(20261202)
    for k in range(n):
        ds = dataset(ct_slice(rng), k)
        raw = os.path.join(OUT, "raw.dcm")
        ds.save_as(raw, enforce_file_format=True)
        # JPEG lossless, first-order prediction (1.2.840.10008.1.2.4.70), by GDCM.
        reader = gdcm.ImageReader()
        reader.SetFileName(raw)
        if not reader.Read():
            sys.exit("gdcm could not read the raw file")
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
        change.SetInput(reader.GetImage())
        if not change.Change():
            sys.exit("gdcm could not encode JPEG lossless")
        writer = gdcm.ImageWriter()
        writer.SetFileName(os.path.join(dirs["jpeg-lossless"], f"{k:04d}.dcm"))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            sys.exit("gdcm could not write")
        ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg", generate_instance_uid=False)
        ds.save_as(os.path.join(dirs["jpeg2000-lossless"], f"{k:04d}.dcm"), enforce_file_format=True)
    os.remove(os.path.join(OUT, "raw.dcm"))
    return dirs


def pydicom_one(path):
    ds = pydicom.dcmread(path)
    return float(apply_modality_lut(ds.pixel_array, ds).astype(np.float32).sum())


def pydicom_rate(files, workers):
    start = time.perf_counter()
    if workers == 1:
        sums = [pydicom_one(f) for f in files]
    else:
        with Pool(workers) as pool:
            sums = pool.map(pydicom_one, files, chunksize=max(1, len(files) // (4 * workers)))
    return len(files) / (time.perf_counter() - start), sum(sums)


def harness_rate(files, threads):
    out = subprocess.run([DECODER, "--threads", str(threads), *files], capture_output=True,
                         text=True, check=True)
    r = json.loads(out.stdout)
    return r["images_per_s"], r["checksum"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(DECODER):
        sys.exit(f"{DECODER} missing: cargo build --release -p harness-data --example decode_files")
    dirs = make_files(args.files)
    cores = os.cpu_count() or 1
    print(f"bench_dicom: {args.files} files of 512x512 16-bit per syntax, best of {args.repeats}, "
          f"{cores} cores; pydicom {pydicom.__version__} + pylibjpeg")
    print(f"{'syntax':20s} {'in flight':>9s} {'harness img/s':>14s} {'pydicom img/s':>14s} {'ratio':>6s}")
    for name, d in dirs.items():
        files = sorted(os.path.join(d, f) for f in os.listdir(d))
        for threads in (1, cores):
            h_best = p_best = 0.0
            for _ in range(args.repeats):
                h, h_sum = harness_rate(files, threads)
                p, p_sum = pydicom_rate(files, threads)
                h_best, p_best = max(h_best, h), max(p_best, p)
            if abs(h_sum - p_sum) > 1e-6 * abs(p_sum):
                sys.exit(f"{name}: the harness and pydicom decoded different values ({h_sum} vs {p_sum})")
            print(f"{name:20s} {threads:9d} {h_best:14.1f} {p_best:14.1f} {h_best / p_best:6.2f}")


if __name__ == "__main__":
    main()
