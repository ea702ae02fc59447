#!/usr/bin/env python3
"""Reference arrays for the DICOM conformance test (ci/dicom_conformance.py), computed by
pydicom from the test files its wheel ships (pydicom/data/test_files/, MIT licence).

    python3 ci/dicom_reference.py OUT_DIR     # run by ci/dicom_conformance.sh inside its venv

For every file under test_files/ (recursively; text, JSON, dumps and archives are left out) it
writes one entry of OUT_DIR/manifest.json:

  expect = "image"   pydicom decodes the pixel data. The reference array, in the layout that
                     `harness inspect --frame all --npy` writes, is OUT_DIR/arrays/<n>.npy:
                     (frames, rows, cols) for grey, (frames, rows, cols, 3) for colour, float64,
                     after the Modality LUT (pydicom's apply_modality_lut: Rescale Slope and
                     Intercept), before any VOI window or MONOCHROME1 inversion; PALETTE COLOR
                     through its LUT (apply_color_lut); YBR colour as RGB (pydicom converts).
  expect = "reject"  not an image: no pixel data (structured reports, RT plans, DICOMDIR, ...),
                     no file meta information, or pixel data pydicom itself refuses as broken
                     (truncated, missing attributes). The harness must exit 2 with a message.
  expect = "either"  pixel data that no reference decoder could decode although the file may be
                     valid; the harness may decode it or refuse it (exit 0 or 2), never crash.

Decoders, as the issue asks: pylibjpeg (libjpeg, openjpeg, rle plugins) first, python-gdcm for
what pylibjpeg cannot decode. `lossless` is false for the lossy transfer syntaxes (JPEG
baseline/extended, JPEG-LS near-lossless, JPEG 2000 lossy-capable), where decoders differ among
themselves by small amounts.
"""
import hashlib
import json
import os
import sys
import warnings

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut

SKIP_SUFFIXES = (".txt", ".json", ".dump", ".gz", ".icc", ".py", ".md")
LOSSY = {
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000 (lossless or lossy)
}


def test_files_dir():
    return os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")


def decode(ds):
    """The pixel array as pydicom gives it, trying pylibjpeg first and gdcm second."""
    errors = []
    for plugin in ("pylibjpeg", "gdcm", ""):
        try:
            if plugin:
                ds.pixel_array_options(decoding_plugin=plugin)
            else:
                ds.pixel_array_options(decoding_plugin="")
            arr = ds.pixel_array
            return arr, plugin or "pydicom", None
        except Exception as e:  # noqa: BLE001 - every decoder failure is a data point
            errors.append(f"{plugin or 'default'}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
        finally:
            # pydicom caches the decoded array; a failed plugin must not poison the next try.
            ds._pixel_array = None
            ds._pixel_id = {}
    return None, None, "; ".join(errors)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "arrays"), exist_ok=True)
    root = test_files_dir()
    files = sorted(
        os.path.relpath(os.path.join(r, f), root)
        for r, _, fs in os.walk(root)
        for f in fs
        if not f.lower().endswith(SKIP_SUFFIXES) and not f.startswith("README")
    )
    entries = []
    for n, rel in enumerate(files):
        path = os.path.join(root, rel)
        with open(path, "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()
        entry = {"file": rel, "sha256": sha}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
        except Exception as e:  # noqa: BLE001
            entry.update(expect="reject", reason=f"pydicom cannot read it: {str(e).splitlines()[0][:160]}")
            entries.append(entry)
            continue
        if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            entry.update(expect="reject", reason=f"no pixel data (SOP class {ds.get('SOPClassUID', '?')})")
            entries.append(entry)
            continue
        ts = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
        entry["transfer_syntax"] = ts
        entry["photometric"] = str(ds.get("PhotometricInterpretation", ""))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr, decoder, error = decode(ds)
        if arr is None:
            broken = "less than expected" in error or "Missing required element" in error \
                or "file_meta" in error or "invalid literal" in error
            entry.update(expect="reject" if broken else "either", reason=error)
            entries.append(entry)
            continue
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        photometric = entry["photometric"]
        if photometric == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)
        elif ds.get("SamplesPerPixel", 1) == 1:
            arr = apply_modality_lut(arr, ds)
        arr = np.asarray(arr, dtype=np.float64)
        if frames == 1:
            arr = arr[np.newaxis]
        name = f"arrays/{n:03d}.npy"
        np.save(os.path.join(out, name), arr)
        entry.update(
            expect="image",
            array=name,
            shape=list(arr.shape),
            frames=frames,
            bits_allocated=int(ds.get("BitsAllocated", 0)),
            lossless=ts not in LOSSY,
            decoder=decoder,
        )
        entries.append(entry)
    manifest = {
        "pydicom": pydicom.__version__,
        "test_files": root,
        "files": entries,
    }
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    counts = {}
    for e in entries:
        counts[e["expect"]] = counts.get(e["expect"], 0) + 1
    print(f"dicom_reference: {len(entries)} files: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
