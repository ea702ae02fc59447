#!/usr/bin/env bash
# DICOM conformance: every file of pydicom's own test data (pydicom/data/test_files/, shipped in
# its wheel, MIT licence) decoded by `harness inspect` and compared with pydicom's array.
#
#   bash ci/dicom_conformance.sh target/release/harness [--verbose]
#
# Set-up (once, cached under target/dicom-ref/): a virtual environment with pinned pydicom and
# the decoders the issue names (pylibjpeg with its libjpeg, openjpeg and rle plugins first,
# python-gdcm for what pylibjpeg cannot decode), all from PyPI; then ci/dicom_reference.py
# writes the reference arrays there. Nothing is committed: the arrays are computed here.
# Where the packages cannot be installed the check is skipped with the reason shown.
set -euo pipefail
cd "$(dirname "$0")/.."
harness="${1:?usage: ci/dicom_conformance.sh HARNESS [--verbose]}"
shift
PY="${PYTHON:-python3}"
ref=target/dicom-ref
venv="$ref/venv"
# The reference tools, pinned: a change here recomputes the references.
# pillow: ci/gen_dicom_lesions.py (the DICOM suite of ci/dicom_suite_test.sh) reads the PNGs.
packages=(numpy==2.4.6 pydicom==3.0.2 pylibjpeg==2.1.0 pylibjpeg-libjpeg==2.5.0
          pylibjpeg-openjpeg==2.6.0 pylibjpeg-rle==2.2.0 python-gdcm==3.2.6 pillow==12.0.0)
stamp="${packages[*]} $(sha256sum ci/dicom_reference.py | cut -c1-16)"

if [[ ! -f "$ref/stamp" || "$(cat "$ref/stamp")" != "$stamp" ]]; then
    rm -rf "$ref"
    mkdir -p "$ref"
    if ! "$PY" -m venv "$venv" >"$ref/setup.log" 2>&1 \
        || ! "$venv/bin/pip" install --quiet "${packages[@]}" >>"$ref/setup.log" 2>&1; then
        echo "dicom_conformance: SKIPPED: could not install the reference decoders from PyPI ($(tail -1 "$ref/setup.log"))"
        exit 0
    fi
    # OpenJPEG prints its refusals of the two malformed JPEG 2000 files on stderr: keep the log.
    "$venv/bin/python" ci/dicom_reference.py "$ref/out" 2>"$ref/reference.log"
    echo "$stamp" >"$ref/stamp"
fi
"$venv/bin/python" ci/dicom_conformance.py "$harness" "$ref/out" "$@"
