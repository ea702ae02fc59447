#!/usr/bin/env python3
"""TIFF conformance: TIFF files written by Pillow (libtiff: the codecs scanners and microscopes
use) in every layout the harness reads, decoded by `harness inspect --npy` and compared with
Pillow's own reading of them, page by page.

    python3 ci/tiff_conformance.py target/release/harness [--keep DIR]
    python3 ci/tiff_conformance.py --files-only DIR     # only write the files (fuzz seeds)

Needs numpy and Pillow (ci/tiff_conformance.sh runs it in the DICOM reference tools' virtual
environment, which pins both). The images are seeded random arrays; nothing is committed.

Checked, per file and page: the shape (rows, columns[, 3]) and every value. Lossless files
must equal exactly; JPEG-compressed ones within 2 grey levels (decoders round YCbCr to RGB
differently). Pillow's array is the reference: grey 8/16-bit as read, RGB (a YCbCr JPEG as
Pillow converts it), RGBA without its alpha (the harness drops alpha), 1-bit bilevel as Pillow
converts it to 8-bit (0 or 255), a page of a multi-page file after `seek(k)`. A page past the
last must be refused (exit 2, the file named); that a multi-page file read as one image is
refused is the Rust tests' (harness/data/tests/images.rs). Exit status 0 when every check
passes, 1 when one fails, 2 on a usage error.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

SEED = 20261207


def cases(rng):
    """(name, [page images], save options, tolerance)."""
    h, w = 37, 29  # odd sizes: strips and rows that do not divide evenly
    grey8 = rng.integers(0, 256, (h, w), dtype=np.uint8)
    grey16 = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    smooth = np.clip(
        np.add.outer(np.arange(h) * 5, np.arange(w) * 3)[..., None] + np.array([0, 40, 80]),
        0, 255).astype(np.uint8)
    bilevel = rng.integers(0, 2, (h, w), dtype=np.uint8) * 255
    out = []
    for comp in ["raw", "tiff_lzw", "tiff_adobe_deflate", "packbits"]:
        out.append(("grey8-%s" % comp, [Image.fromarray(grey8)], dict(compression=comp), 0))
        out.append(("grey16-%s" % comp, [Image.fromarray(grey16)], dict(compression=comp), 0))
        out.append(("rgb-%s" % comp, [Image.fromarray(rgb)], dict(compression=comp), 0))
        out.append(("rgba-%s" % comp, [Image.fromarray(rgba, "RGBA")], dict(compression=comp), 0))
    out.append(("rgb-jpeg", [Image.fromarray(smooth)], dict(compression="jpeg", quality=95), 2))
    out.append(("grey8-jpeg", [Image.fromarray(smooth[..., 0])],
                dict(compression="jpeg", quality=95), 2))
    # libtiff's usual JPEG layout: YCbCr photometric (Pillow reads it as RGB).
    out.append(("ycbcr-jpeg", [Image.fromarray(smooth).convert("YCbCr")],
                dict(compression="jpeg", quality=95), 2))
    # BigTIFF (64-bit offsets: large microscope files), one page and three.
    out.append(("bigtiff-grey16-lzw", [Image.fromarray(grey16)],
                dict(compression="tiff_lzw", big_tiff=True), 0))
    for comp in ["raw", "group4", "packbits"]:
        out.append(("bilevel-%s" % comp, [Image.fromarray(bilevel).convert("1")],
                    dict(compression=comp), 0))
    pages = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for _ in range(3)]
    out.append(("pages3-rgb-lzw", pages, dict(compression="tiff_lzw"), 0))
    pages16 = [Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
               for _ in range(2)]
    out.append(("pages2-grey16-deflate", pages16, dict(compression="tiff_adobe_deflate"), 0))
    out.append(("bigtiff-pages3-rgb", pages, dict(compression="tiff_lzw", big_tiff=True), 0))
    return out


def reference(path, page):
    im = Image.open(path)
    im.seek(page)
    if im.mode == "1":
        im = im.convert("L")
    a = np.asarray(im)
    if im.mode == "RGBA":
        a = a[..., :3]
    return a.astype(np.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("harness", nargs="?")
    ap.add_argument("--keep", metavar="DIR", help="write the files here and keep them")
    ap.add_argument("--files-only", metavar="DIR",
                    help="write the files here and stop (no harness needed: ci/fuzz.sh's seeds)")
    args = ap.parse_args()
    if args.files_only:
        os.makedirs(args.files_only, exist_ok=True)
        for name, images, options, _ in cases(np.random.default_rng(SEED)):
            images[0].save(os.path.join(args.files_only, name + ".tif"),
                           save_all=len(images) > 1, append_images=images[1:], **options)
        return 0
    if args.harness is None:
        ap.error("give the harness binary (or --files-only DIR)")
    if not os.access(args.harness, os.X_OK):
        print("tiff_conformance: %s is not an executable" % args.harness, file=sys.stderr)
        return 2
    rng = np.random.default_rng(SEED)
    tmp = None
    if args.keep:
        work = args.keep
        os.makedirs(work, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        work = tmp.name
    failures = []
    checked = 0
    for name, images, options, tol in cases(rng):
        path = os.path.join(work, name + ".tif")
        images[0].save(path, save_all=len(images) > 1, append_images=images[1:], **options)
        n = len(images)
        for page in range(n):
            npy = os.path.join(work, "%s-%d.npy" % (name, page))
            p = subprocess.run([args.harness, "inspect", path, "--frame", str(page), "--npy", npy],
                               capture_output=True)
            if p.returncode != 0:
                failures.append("%s page %d: exit %d: %s" % (
                    name, page, p.returncode, p.stderr.decode(errors="replace").strip()))
                continue
            got = np.load(npy).astype(np.float64)
            want = reference(path, page)
            checked += 1
            if got.shape != want.shape:
                failures.append("%s page %d: shape %s, Pillow %s" % (name, page, got.shape,
                                                                      want.shape))
            elif np.abs(got - want).max() > tol:
                failures.append("%s page %d: max |diff| %g > %g" % (
                    name, page, np.abs(got - want).max(), tol))
        # Read as one image (a dataset's default frames = "only"): a multi-page file is refused.
        p = subprocess.run([args.harness, "inspect", path, "--frame", str(n)],
                           capture_output=True)
        err = p.stderr.decode(errors="replace")
        if p.returncode != 2 or path not in err:
            failures.append("%s: page %d (past the last) gave exit %d: %s" % (
                name, n, p.returncode, err.strip()))
    print("tiff_conformance: %d pages of %d files compared with Pillow %s; %d failed"
          % (checked, len(cases(np.random.default_rng(SEED))), Image.__version__, len(failures)))
    for f in failures:
        print("  FAIL " + f)
    if tmp:
        tmp.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
