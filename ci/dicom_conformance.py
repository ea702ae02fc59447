#!/usr/bin/env python3
"""Checks `harness inspect` against pydicom on every file of pydicom's test data.

    python3 ci/dicom_conformance.py HARNESS REF_DIR [--verbose]

REF_DIR is what ci/dicom_reference.py wrote (manifest.json, arrays/). For each file:
  image   `harness inspect FILE --frame all --npy OUT` exits 0 and its array has the reference's
          shape; lossless transfer syntaxes must match exactly (float32 output against the
          reference rounded to float32; float64 output for 32-bit samples against the reference
          as it is); lossy ones (JPEG baseline/extended, JPEG-LS near-lossless, JPEG 2000) may
          differ as decoder libraries differ among themselves: at most LOSSY_MAX_FRACTION of the
          sample range at any pixel and LOSSY_MEAN_FRACTION on average.
  reject  exit 2 with a message that names the file, and no panic.
  either  exit 0 or 2 (never a crash or a panic).
Exit 0 when every file passes; a table of failures otherwise.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

# Lossy decoders (libjpeg vs jpeg-decoder; OpenJPEG builds) differ by rounding in the inverse
# DCT/wavelet and in chroma upsampling: a few grey levels at edges, well under one on average.
LOSSY_MAX_FRACTION = 0.02
LOSSY_MEAN_FRACTION = 0.002


def check(harness, ref_dir, entry, tmp):
    path = os.path.join(ENTRY_ROOT, entry["file"])
    out = os.path.join(tmp, "out.npy")
    if os.path.exists(out):
        os.remove(out)
    cmd = [harness, "inspect", path, "--frame", "all", "--npy", out, "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    err = p.stderr.strip().splitlines()
    last = err[-1] if err else ""
    if "panicked" in p.stderr or p.returncode not in (0, 2):
        return False, f"exit {p.returncode}: {last[:200]}"
    expect = entry["expect"]
    if expect == "reject":
        if p.returncode != 2:
            return False, "decoded a file pydicom rejects as not an image / broken"
        if os.path.basename(entry["file"]) not in p.stderr:
            return False, f"message does not name the file: {last[:200]}"
        return True, last[:160]
    if expect == "either":
        return True, "decoded" if p.returncode == 0 else f"refused: {last[:160]}"
    if p.returncode != 0:
        return False, f"refused: {last[:200]}"
    got = np.load(out)
    ref = np.load(os.path.join(ref_dir, entry["array"]))
    if got.shape != ref.shape:
        return False, f"shape {got.shape}, reference {ref.shape}"
    if got.dtype == np.float32:
        ref_cmp = ref.astype(np.float32).astype(np.float64)
    else:
        ref_cmp = ref
    diff = np.abs(got.astype(np.float64) - ref_cmp)
    if entry["lossless"]:
        if diff.max() != 0:
            n = int((diff != 0).sum())
            return False, f"lossless but {n} samples differ (max {diff.max():g})"
        return True, "exact"
    span = float(ref.max() - ref.min()) or 1.0
    if diff.max() > LOSSY_MAX_FRACTION * span or diff.mean() > LOSSY_MEAN_FRACTION * span:
        return False, f"lossy: max diff {diff.max():g}, mean {diff.mean():.4g} (range {span:g})"
    return True, f"lossy: max diff {diff.max():g}, mean {diff.mean():.3g} (range {span:g})"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    verbose = "--verbose" in sys.argv
    if len(args) != 2:
        sys.exit(__doc__)
    harness, ref_dir = args
    with open(os.path.join(ref_dir, "manifest.json")) as fh:
        manifest = json.load(fh)
    global ENTRY_ROOT
    ENTRY_ROOT = manifest["test_files"]
    failures = []
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for entry in manifest["files"]:
            ok, detail = check(harness, ref_dir, entry, tmp)
            key = (entry["expect"], ok)
            counts[key] = counts.get(key, 0) + 1
            if verbose or not ok:
                print(f"{'ok  ' if ok else 'FAIL'} {entry['expect']:6s} {entry['file']}: {detail}")
            if not ok:
                failures.append(entry["file"])
    summary = ", ".join(
        f"{expect} {sum(v for (e, _), v in counts.items() if e == expect)} "
        f"({counts.get((expect, True), 0)} passed)"
        for expect in ("image", "reject", "either")
    )
    print(f"dicom_conformance: pydicom {manifest['pydicom']} test files: {summary}")
    if failures:
        print(f"dicom_conformance: {len(failures)} FAILED", file=sys.stderr)
        sys.exit(1)


ENTRY_ROOT = ""

if __name__ == "__main__":
    main()
