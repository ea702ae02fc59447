#!/usr/bin/env python3
"""Copy a few small pydicom test files into data/dicom-samples/ and record
what pydicom computes from them (data/dicom-samples/expected.json), so that
the Rust DICOM reader can be checked against pydicom.

    python3 ci/gen_dicom_samples.py        # needs pydicom (3.0.2) and numpy

The files come from pydicom's own test data (pydicom/data/test_files/); see
data/dicom-samples/README.md for where each one originally came from and its
licence. Modality LUT: value = stored * RescaleSlope + RescaleIntercept
(DICOM PS3.3 C.11.1), slope 1 and intercept 0 where the attributes are absent.
"""
import hashlib
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "data", "dicom-samples")

# file, placeholder label, "site" (= where the original image came from)
FILES = (
    ("CT_small.dcm", 1, "nema-wg04"),
    ("MR_small.dcm", 0, "nema-wg04"),
    ("MR_small_implicit.dcm", 1, "nema-wg04"),
    ("MR_small_RLE.dcm", 0, "nema-wg04"),
    ("image_dfl.dcm", 0, "dclunie"),
)


ORIGIN = {
    "CT_small.dcm": "CT image downsized to 128x128 from 'CT1_UNC' of the NEMA WG04 sample "
                    "set (ftp://medical.nema.org/MEDICAL/Dicom/DataSets/WG04/)",
    "MR_small.dcm": "MR image downsized to 64x64 from 'MR1_UNC' of the NEMA WG04 sample set",
    "MR_small_implicit.dcm": "MR_small.dcm saved with Implicit VR (dcmodify)",
    "MR_small_RLE.dcm": "MR_small.dcm encoded as RLE Lossless (not described in that "
                        "README; same pixel values as MR_small.dcm, checked by pydicom)",
    "image_dfl.dcm": "'image_dfl' from http://www.dclunie.com/images/compressed/ (a test "
                     "pattern; deflate-compressed after the file meta)",
}

README = """# dicom-samples — five small real DICOM files (test data, PLACEHOLDER labels)

Five small DICOM files copied unchanged from the test data shipped inside the pydicom wheel,
version {pydicom} (`pydicom/data/test_files/`), for testing the harness's DICOM reader
(transfer syntaxes, signed pixels, the modality LUT, windowing). Written by:

    python3 ci/gen_dicom_samples.py

**The labels in `labels.csv` are placeholders with no clinical meaning** (chosen so both
classes occur); `site` says where the original image came from (`nema-wg04` or `dclunie`).
Three files are the same MR image in three transfer syntaxes (same pixels).

| file | origin (from pydicom's `test_files/README.txt`) | sha256 |
|---|---|---|
{origin_rows}

## Key attributes (read with pydicom {pydicom})

| file | modality | rows x cols | bits alloc/stored, repr | photometric | transfer syntax | rescale slope/intercept | window centre/width |
|---|---|---|---|---|---|---|---|
{attr_rows}

`expected.json` records, for each file, these attributes and what pydicom/numpy compute from
the pixels: the stored min/max and, after the modality LUT (stored * slope + intercept as
float64; slope 1, intercept 0 when absent, DICOM PS3.3 C.11.1), the min, max, sum and mean.

Reading them needs: RLE Lossless (`MR_small_RLE.dcm`) and Deflated Explicit VR Little Endian
(`image_dfl.dcm`) decoding besides the uncompressed syntaxes.

## Licence

pydicom distributes these files in its source and wheel under its licence
(`pydicom-{pydicom}.dist-info/licenses/LICENSE`), which says:

> Copyright (c) 2008-2020 Darcy Mason and pydicom contributors
>
> Except for portions outlined below, pydicom is released under an MIT license:
>
> Permission is hereby granted, free of charge, to any person obtaining a copy of this software
> and associated documentation files (the "Software"), to deal in the Software without
> restriction, including without limitation the rights to use, copy, modify, merge, publish,
> distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
> Software is furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or
> substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
> BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
> NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
> DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
> OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

(The "portions outlined below" in that file are private-dictionary files from GDCM, not these
images.) About the test files, pydicom's `pydicom/data/test_files/README.txt` says:

> I obtained images to test the pydicom code, and revised them as follow:
>   * images were often downsized to keep the total file size quite small (typically <50K-ish).
>     [...]
>   * In some cases, the original files have been binary edited to replace anything that looks
>     like a real patient name
>
> I believe there is no restriction on using any of these files in this manner.

None of these files is one of the GDCM datasets (whose BSD-style licence that README also
quotes). The originals are public DICOM sample images (NEMA WG04; David Clunie's sample
images); patient names in them are placeholders (e.g. `CompressedSamples^CT1`).
"""


def _num(v):
    """First value of a DS/IS attribute as float, or None."""
    if v is None:
        return None
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        v = v[0]
    return float(v)


def main():
    import pydicom

    src = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    lines = ["case_id,image,label,site\n"]
    files = []
    for name, label, site in FILES:
        rel = "images/" + name
        dst = os.path.join(OUT, rel)
        shutil.copyfile(os.path.join(src, name), dst)
        ds = pydicom.dcmread(dst)
        raw = ds.pixel_array
        slope = _num(ds.get("RescaleSlope"))
        intercept = _num(ds.get("RescaleIntercept"))
        v = raw.astype(np.float64) * (1.0 if slope is None else slope) \
            + (0.0 if intercept is None else intercept)
        ts = ds.file_meta.TransferSyntaxUID
        case_id = os.path.splitext(name)[0]
        lines.append("%s,%s,%d,%s\n" % (case_id, rel, label, site))
        with open(dst, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        files.append({
            "case_id": case_id,
            "image": rel,
            "sha256": digest,
            "size_bytes": os.path.getsize(dst),
            "source": "pydicom %s pydicom/data/test_files/%s"
                      % (pydicom.__version__, name),
            "sop_class": ds.SOPClassUID.name,
            "modality": str(ds.get("Modality", "")),
            "transfer_syntax_uid": str(ts),
            "transfer_syntax": ts.name,
            "rows": int(ds.Rows),
            "cols": int(ds.Columns),
            "samples_per_pixel": int(ds.SamplesPerPixel),
            "bits_allocated": int(ds.BitsAllocated),
            "bits_stored": int(ds.BitsStored),
            "high_bit": int(ds.HighBit),
            "pixel_representation": int(ds.PixelRepresentation),
            "photometric_interpretation": str(ds.PhotometricInterpretation),
            "rescale_present": slope is not None or intercept is not None,
            "rescale_slope": 1.0 if slope is None else slope,
            "rescale_intercept": 0.0 if intercept is None else intercept,
            "window_center": _num(ds.get("WindowCenter")),
            "window_width": _num(ds.get("WindowWidth")),
            "stored_min": int(raw.min()),
            "stored_max": int(raw.max()),
            "modality_lut_min": float(v.min()),
            "modality_lut_max": float(v.max()),
            "modality_lut_sum": float(v.sum()),
            "modality_lut_mean": float(v.mean()),
        })
        print("%-22s %-3s %3dx%-3d %2d bits %-12s %-34s slope %s intercept %s "
              "window %s/%s  LUT min %g max %g mean %.6f"
              % (name, files[-1]["modality"], ds.Rows, ds.Columns,
                 ds.BitsStored, ds.PhotometricInterpretation, ts.name, slope,
                 intercept, files[-1]["window_center"],
                 files[-1]["window_width"], v.min(), v.max(), v.mean()))
    with open(os.path.join(OUT, "labels.csv"), "w", newline="") as f:
        f.writelines(lines)
    doc = {
        "generated_by": "python3 ci/gen_dicom_samples.py",
        "pydicom": pydicom.__version__,
        "numpy": np.__version__,
        "modality_lut": "stored * rescale_slope + rescale_intercept as float64 "
                        "(slope 1, intercept 0 when absent); mean = sum / "
                        "(rows * cols)",
        "files": files,
    }
    origin_rows = "\n".join("| `%s` | %s | `%s` |" % (f["image"], ORIGIN[f["image"][7:]],
                                                     f["sha256"]) for f in files)

    def wc(f):
        if f["window_center"] is None:
            return "absent"
        return "%g / %g" % (f["window_center"], f["window_width"])

    attr_rows = "\n".join(
        "| `%s` | %s | %d x %d | %d/%d, %s | %s | %s (`%s`) | %s | %s |" % (
            f["image"], f["modality"], f["rows"], f["cols"], f["bits_allocated"],
            f["bits_stored"], "signed" if f["pixel_representation"] else "unsigned",
            f["photometric_interpretation"], f["transfer_syntax"],
            f["transfer_syntax_uid"],
            "%g / %g" % (f["rescale_slope"], f["rescale_intercept"])
            if f["rescale_present"] else "absent", wc(f)) for f in files)
    with open(os.path.join(OUT, "README.md"), "w", newline="") as f:
        f.write(README.format(pydicom=pydicom.__version__, origin_rows=origin_rows,
                              attr_rows=attr_rows))
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
