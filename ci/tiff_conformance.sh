#!/usr/bin/env bash
# TIFF conformance: files Pillow writes with libtiff (grey 8/16-bit, RGB, RGBA, bilevel; raw, LZW,
# Deflate, PackBits, JPEG in RGB and YCbCr, CCITT group 4; multi-page; BigTIFF) decoded by
# `harness inspect` and compared with Pillow's reading of them (ci/tiff_conformance.py).
#
#   bash ci/tiff_conformance.sh target/release/harness
#
# Runs in the DICOM reference tools' virtual environment (ci/dicom_conformance.sh installs it,
# with pinned numpy and Pillow, under target/dicom-ref/venv), else in python3 where it has both;
# where neither is there the check is skipped with the reason shown.
set -euo pipefail
cd "$(dirname "$0")/.."
harness="${1:?usage: ci/tiff_conformance.sh HARNESS}"
for py in target/dicom-ref/venv/bin/python "${PYTHON:-python3}"; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c "import numpy, PIL" 2>/dev/null; then
        exec "$py" ci/tiff_conformance.py "$harness"
    fi
done
echo "tiff_conformance: SKIPPED: no python with numpy and Pillow (ci/dicom_conformance.sh installs them under target/dicom-ref/venv)"
