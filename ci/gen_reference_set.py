#!/usr/bin/env python3
"""Generate the SYNTHETIC lesion-detection image sets (no patient data).

Each case is a small 8-bit grayscale image: a smooth "anatomical" background
(low-pass filtered noise, a soft curved rib-like band pattern, a vignette),
sometimes a lesion (a small bright blurred blob with an irregular edge) and
sometimes a lesion "mimic" (a small round bright spot that is NOT a lesion),
then the acquisition of one of three sites/scanners, which differ in contrast,
brightness offset, blur and noise (site C: noisiest, lowest contrast, and a
burned-in laterality letter in most images).

Prevalence and lesion difficulty differ by group, so subgroup and fairness
results are not trivial: the 65+ age band has more lesions and more subtle
ones; women have denser background texture (slightly harder) and slightly
lower prevalence.

Uses only the standard library and numpy; PNGs are written with zlib+struct
(fixed compression level), so the output is byte-identical for a given seed
on a given platform (numpy, zlib).

    python3 ci/gen_reference_set.py                # the committed reference sets
    python3 ci/gen_reference_set.py --split train --n 3000 --out ci/out/train

The default run writes data/synthetic-lesions/ (600 cases, seed
REFERENCE_SEED) and data/medmnist-sample/synthetic-pneumoniamnist-28.npz.
Training data for ci/train_models.py come from generate() with TRAIN_SEED and
are never written under data/.
"""
import argparse
import io
import os
import struct
import sys
import zipfile
import zlib

import numpy as np

REFERENCE_SEED = 20261122
TRAIN_SEED = 7
MEDMNIST_SEED = 28
ZLIB_LEVEL = 9

SEXES = (("F", 0.52), ("M", 0.48))
AGE_BANDS = (("18-44", 0.35), ("45-64", 0.40), ("65+", 0.25))
SITES = (("A", 0.45), ("B", 0.35), ("C", 0.20))

# Prevalence by age band, multiplied by a sex factor: overall about 25 %.
PREVALENCE_AGE = {"18-44": 0.15, "45-64": 0.25, "65+": 0.38}
PREVALENCE_SEX = {"F": 0.92, "M": 1.08}
# Lesion difficulty: contrast and size multipliers (older = subtler, smaller).
CONTRAST_AGE = {"18-44": 1.15, "45-64": 1.0, "65+": 0.78}
RADIUS_AGE = {"18-44": 1.05, "45-64": 1.0, "65+": 0.88}
# Lesion contrast range (intensity units) and background texture amplitudes.
LESION_CONTRAST = (0.12, 0.28)
LESION_RADIUS = (2.0, 5.5)  # pixels at 64 px
TEXTURE_COARSE = 0.030
TEXTURE_FINE = 0.015
# Denser background texture for F (the "one sex slightly different" effect).
TEXTURE_SEX = {"F": 1.25, "M": 1.0}
# Acquisition per site/scanner: contrast gain, brightness offset, blur sigma
# (pixels at 64 px), noise sigma (intensity units, 1.0 = white), probability
# of a burned-in laterality marker (letter L or R near the top/bottom edge).
SITE_ACQ = {
    "A": {"gain": 1.00, "offset": 0.00, "blur": 0.5, "noise": 0.022,
          "marker": 0.0},
    "B": {"gain": 0.90, "offset": 0.06, "blur": 0.9, "noise": 0.035,
          "marker": 0.0},
    "C": {"gain": 0.75, "offset": -0.05, "blur": 1.1, "noise": 0.050,
          "marker": 0.9},
}


# ---------------------------------------------------------------- image ops
def _gauss_kernel(sigma):
    r = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(img, sigma):
    """Separable Gaussian blur with reflect padding (element-wise ops only)."""
    if sigma <= 0:
        return img
    k = _gauss_kernel(sigma)
    r = len(k) // 2
    h, w = img.shape
    r = min(r, h - 1, w - 1)
    k = k[len(k) // 2 - r: len(k) // 2 + r + 1]
    k = k / k.sum()
    p = np.pad(img, ((r, r), (0, 0)), mode="reflect")
    out = np.zeros_like(img)
    for i, kv in enumerate(k):
        out += kv * p[i:i + h, :]
    p = np.pad(out, ((0, 0), (r, r)), mode="reflect")
    out2 = np.zeros_like(img)
    for i, kv in enumerate(k):
        out2 += kv * p[:, i:i + w]
    return out2


def _smooth_noise(rng, size, sigma):
    """Unit-variance low-pass noise field."""
    f = gaussian_blur(rng.standard_normal((size, size)), sigma)
    sd = f.std()
    return f / sd if sd > 0 else f


def _pick(rng, table):
    u = rng.random()
    acc = 0.0
    for name, p in table:
        acc += p
        if u < acc:
            return name
    return table[-1][0]


def _blob(size, cy, cx, radius, irregularity, rng, soft):
    """Soft mask of a blob whose radius varies with angle (irregular edge)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dy, dx = yy - cy, xx - cx
    d = np.sqrt(dy * dy + dx * dx)
    theta = np.arctan2(dy, dx)
    rad = np.full_like(d, radius)
    for k in (2, 3, 5):
        a = irregularity * rng.uniform(0.0, 1.0)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        rad += radius * a * np.cos(k * theta + phase)
    # Logistic edge, clipped argument to avoid overflow warnings.
    z = np.clip((rad - d) / soft, -40.0, 40.0)
    return 1.0 / (1.0 + np.exp(-z))


# 5x7 bitmaps of the laterality letters burned into site C's images.
LETTERS = {
    "L": ("10000", "10000", "10000", "10000", "10000", "10000", "11111"),
    "R": ("11110", "10001", "10001", "11110", "10100", "10010", "10001"),
}


def _marker(rng, size):
    """A burned-in laterality letter (L or R), 2 px strokes, near an edge."""
    s = size / 64.0
    scale = max(1, int(round(2 * s)))
    glyph = LETTERS["L" if rng.random() < 0.5 else "R"]
    bmp = np.kron(np.array([[c == "1" for c in row] for row in glyph], float),
                  np.ones((scale, scale)))
    gh, gw = bmp.shape
    out = np.zeros((size, size))
    # Top or bottom band, anywhere along it (edges of the field of view).
    y0 = int(rng.integers(1, max(2, int(0.12 * size))))
    if rng.random() < 0.5:
        y0 = size - gh - y0
    x0 = int(rng.integers(1, size - gw - 1))
    out[y0:y0 + gh, x0:x0 + gw] = bmp
    return out


def background(rng, size, sex):
    """The anatomy without findings, in [0, 1] intensity units: vignette, rib-like
    bands and tissue texture (denser for F)."""
    s = size / 64.0  # all geometry is specified at 64 px and scaled
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    # Vignette: brighter centre, darker edges (a body in the field of view).
    cy0, cx0 = 0.5 + rng.uniform(-0.06, 0.06), 0.5 + rng.uniform(-0.06, 0.06)
    r2 = (yy - cy0) ** 2 + (xx - cx0) ** 2
    img = 0.30 + 0.22 * np.exp(-r2 / rng.uniform(0.10, 0.16))
    # Rib-like soft bands: curved, random period, tilt and phase.
    period = rng.uniform(0.17, 0.26)
    curv = rng.uniform(0.4, 1.3)
    tilt = rng.uniform(-0.25, 0.25)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    band = np.sin(2 * np.pi * (yy + tilt * (xx - 0.5) + curv * (xx - 0.5) ** 2)
                  / period + phase)
    img += rng.uniform(0.025, 0.055) * np.clip(band * 1.6, -1.0, 1.0)
    # Tissue texture: coarse and fine low-pass noise (denser for F).
    tex = TEXTURE_SEX[sex]
    img += TEXTURE_COARSE * tex * _smooth_noise(rng, size, 4.0 * s)
    img += TEXTURE_FINE * tex * _smooth_noise(rng, size, 1.4 * s)
    return img


def add_mimic(rng, img, size):
    """In 35 % of images, a lesion mimic (e.g. a vessel seen end-on): round, regular."""
    s = size / 64.0
    if rng.random() < 0.35:
        my, mx = rng.uniform(0.2, 0.8, size=2) * size
        m = _blob(size, my, mx, rng.uniform(1.3, 2.6) * s, 0.0, rng, 0.45 * s)
        img += rng.uniform(0.03, 0.08) * m


def add_lesion(rng, img, size, age_band):
    """A lesion: a small bright blurred blob with an irregular edge and some internal
    heterogeneity, subtler and smaller with age."""
    s = size / 64.0
    ly, lx = rng.uniform(0.22, 0.78, size=2) * size
    radius = rng.uniform(*LESION_RADIUS) * RADIUS_AGE[age_band] * s
    contrast = rng.uniform(*LESION_CONTRAST) * CONTRAST_AGE[age_band]
    m = _blob(size, ly, lx, radius, 0.18, rng, 0.7 * s)
    m = gaussian_blur(m, 0.8 * s)
    # Internal heterogeneity of the lesion.
    m *= 1.0 + 0.25 * _smooth_noise(rng, size, 1.0 * s)
    img += contrast * m


def acquire(rng, img, size, site):
    """The site's acquisition: contrast gain, brightness offset, a burned-in laterality
    marker (site C: a model never shown this site takes the bright letter for a lesion),
    blur and noise."""
    s = size / 64.0
    acq = SITE_ACQ[site]
    img = 0.45 + acq["gain"] * (img - 0.45) + acq["offset"]
    if rng.random() < acq["marker"]:
        img += rng.uniform(0.25, 0.40) * _marker(rng, size)
    img = gaussian_blur(img, acq["blur"] * s)
    img += acq["noise"] * rng.standard_normal((size, size))
    return img


def render_case(rng, size, sex, age_band, site, label):
    """One image in [0, 1] (float64), before quantisation."""
    img = background(rng, size, sex)
    add_mimic(rng, img, size)
    if label == 1:
        add_lesion(rng, img, size, age_band)
    return acquire(rng, img, size, site)


def quantise(img):
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def generate(n, seed, size=64, id_prefix="c"):
    """Return (images uint8 [n, size, size], rows) for n synthetic cases.

    rows: list of dicts with case_id, label, sex, age_band, site.
    Deterministic for a given (n, seed, size): every random draw comes from
    numpy.random.default_rng(seed) in a fixed order.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size), dtype=np.uint8)
    rows = []
    width = max(4, len(str(n)))
    for i in range(n):
        sex = _pick(rng, SEXES)
        age = _pick(rng, AGE_BANDS)
        site = _pick(rng, SITES)
        p = PREVALENCE_AGE[age] * PREVALENCE_SEX[sex]
        label = 1 if rng.random() < p else 0
        images[i] = quantise(render_case(rng, size, sex, age, site, label))
        rows.append({"case_id": "%s%0*d" % (id_prefix, width, i + 1),
                     "label": label, "sex": sex, "age_band": age,
                     "site": site})
    return images, rows


# ----------------------------------------------------------------- writers
def png_bytes(img):
    """8-bit grayscale PNG (filter type 1 'Sub' on every row, fixed zlib level)."""
    h, w = img.shape
    a = img.astype(np.int16)
    sub = a.copy()
    sub[:, 1:] = (a[:, 1:] - a[:, :-1]) & 0xFF
    raw = np.concatenate([np.ones((h, 1), dtype=np.uint8),
                          sub.astype(np.uint8)], axis=1).tobytes()

    def chunk(kind, data):
        body = kind + data
        return (struct.pack(">I", len(data)) + body
                + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, ZLIB_LEVEL))
            + chunk(b"IEND", b""))


def write_pngs(out, images, rows):
    """images/<case_id>.png for every case under `out`, after removing the PNGs of an earlier,
    larger run (so the folder holds exactly this set); returns each case's relative path."""
    img_dir = os.path.join(out, "images")
    os.makedirs(img_dir, exist_ok=True)
    for name in os.listdir(img_dir):
        if name.endswith(".png"):
            os.remove(os.path.join(img_dir, name))
    paths = []
    for img, r in zip(images, rows):
        rel = "images/%s.png" % r["case_id"]
        with open(os.path.join(out, rel), "wb") as f:
            f.write(png_bytes(img))
        paths.append(rel)
    return paths


def write_image_folder(out, images, rows):
    lines = ["case_id,image,label,sex,age_band,site\n"]
    for rel, r in zip(write_pngs(out, images, rows), rows):
        lines.append("%s,%s,%d,%s,%s,%s\n" % (r["case_id"], rel, r["label"],
                                             r["sex"], r["age_band"],
                                             r["site"]))
    with open(os.path.join(out, "labels.csv"), "w", newline="") as f:
        f.writelines(lines)


LESIONS_README = """# synthetic-lesions — SYNTHETIC reference images (no patient data)

Every image here was drawn by a computer program; none comes from a patient or a scanner.
It is a stand-in reference set for exercising the harness end to end (image loading,
preprocessing, inference, AUROC, subgroup and site analyses). Results on it say nothing
about clinical performance.

Generated by (Python 3 + numpy only; same bytes for the same seed on the same platform):

    python3 ci/gen_reference_set.py

({n} cases, `numpy.random.default_rng({seed})`; PNGs written with zlib level {level}.)
The models in `models/` were trained on a separate training split from the same generator
(`numpy.random.default_rng({train_seed})`, `python3 ci/train_models.py`), never on these cases.

## Files

- `images/<case_id>.png` — {size}x{size} 8-bit grayscale PNG.
- `labels.csv` — one row per case:

| column | meaning |
|---|---|
| `case_id` | case identifier (`c0001` ...) |
| `image` | path of the PNG, relative to this folder |
| `label` | 1 = lesion present, 0 = absent |
| `sex` | `F` or `M` |
| `age_band` | `18-44`, `45-64` or `65+` |
| `site` | `A`, `B` or `C`: the simulated site/scanner |

## How the images are made

Background: a vignette (brighter centre), a soft curved rib-like band pattern (random
period, tilt, curvature, phase) and low-pass filtered noise ("tissue texture"; denser for
`F`). In 35 % of all cases a lesion *mimic* (small, round, regular bright spot; not a
lesion) is added. A lesion (label 1) is a small bright blob with an irregular edge
(radius modulated by harmonics 2, 3 and 5), blurred, with some internal heterogeneity,
of varying size and contrast. Then the site's acquisition: contrast gain, brightness
offset, a burned-in laterality marker (site C only: a bright letter L or R near the top or
bottom edge, as scanners burn into the pixels), Gaussian blur and additive Gaussian noise.

| site | gain | offset | blur sigma (px) | noise sigma (1.0 = white) | P(burned-in marker) |
|---|---|---|---|---|---|
{site_rows}

Lesion radius is drawn uniformly in {radius} px and contrast in {contrast} (intensity
units, 1.0 = white), then multiplied by the group's factors. Prevalence and difficulty
depend on the group (older: more, smaller and fainter lesions; `F`: denser texture and
slightly lower prevalence), so subgroup and fairness results are not trivial:

| age band | prevalence (x sex factor) | lesion contrast x | lesion radius x |
|---|---|---|---|
{age_rows}

| sex | prevalence x | background texture x |
|---|---|---|
{sex_rows}

## Counts

{counts}

## Licence

CC0-1.0: generated by this project; no rights reserved, no patient data.
"""


def write_lesions_readme(out, rows, seed, size):
    site_rows = "\n".join("| %s | %.2f | %+.2f | %.1f | %.3f | %g |"
                          % (k, v["gain"], v["offset"], v["blur"], v["noise"],
                             v["marker"])
                          for k, v in SITE_ACQ.items())
    lines = ["| group | level | cases | positives | prevalence |",
             "|---|---|---|---|---|"]
    n = len(rows)
    pos = sum(r["label"] for r in rows)
    lines.append("| all | | %d | %d | %.3f |" % (n, pos, pos / n))
    for col, table in (("sex", SEXES), ("age_band", AGE_BANDS),
                       ("site", SITES)):
        for level, _ in table:
            sel = [r for r in rows if r[col] == level]
            k = sum(r["label"] for r in sel)
            lines.append("| %s | %s | %d | %d | %.3f |"
                         % (col, level, len(sel), k,
                            k / len(sel) if sel else 0.0))
    age_rows = "\n".join("| %s | %.2f | %.2f | %.2f |"
                         % (k, PREVALENCE_AGE[k], CONTRAST_AGE[k], RADIUS_AGE[k])
                         for k, _ in AGE_BANDS)
    sex_rows = "\n".join("| %s | %.2f | %.2f |"
                         % (k, PREVALENCE_SEX[k], TEXTURE_SEX[k])
                         for k, _ in SEXES)
    text = LESIONS_README.format(
        n=n, seed=seed, train_seed=TRAIN_SEED, level=ZLIB_LEVEL, size=size, site_rows=site_rows,
        radius="[%g, %g]" % LESION_RADIUS, contrast="[%g, %g]" % LESION_CONTRAST,
        age_rows=age_rows, sex_rows=sex_rows, counts="\n".join(lines))
    with open(os.path.join(out, "README.md"), "w", newline="") as f:
        f.write(text)


def write_npz(path, arrays):
    """Like numpy.savez_compressed, but with fixed zip timestamps and
    attributes so the bytes are reproducible (numpy stamps the current time)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.%d" % os.getpid()
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, arr in arrays:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=ZLIB_LEVEL)
    os.replace(tmp, path)


MEDMNIST_README = """# medmnist-sample — a SYNTHETIC file in the MedMNIST layout (no patient data)

`synthetic-pneumoniamnist-28.npz` has the layout of a MedMNIST v2 2-D file (e.g.
`pneumoniamnist.npz`), so the harness's `medmnist-npz` reader can be tested without the real
data. The images are NOT from MedMNIST: they come from this project's synthetic lesion
generator at 28x28 (see `data/synthetic-lesions/README.md`).

Generated by `python3 ci/gen_reference_set.py` (`numpy.random.default_rng({seed})`; one run
of {total} cases cut in order into train/val/test). Written like `numpy.savez_compressed`
(a zip of `.npy` files, deflate) but with fixed zip timestamps, so the bytes repeat.

| key | shape | dtype | positives |
|---|---|---|---|
{rows}

Labels: 1 = lesion present, 0 = absent (in the role of MedMNIST's 1 = pneumonia). The harness
evaluates the `test` split. No sex/age/site metadata (MedMNIST files have none).

Licence: CC0-1.0 (generated by this project; no patient data).
"""


def write_medmnist(path, seed=MEDMNIST_SEED, n_train=40, n_val=20, n_test=100):
    """MedMNIST layout: {train,val,test}_images (N,28,28) uint8 and
    {train,val,test}_labels (N,1) uint8; one generator run, split in order.
    Also writes README.md beside the file."""
    images, rows = generate(n_train + n_val + n_test, seed, size=28)
    labels = np.array([[r["label"]] for r in rows], dtype=np.uint8)
    cut = (0, n_train, n_train + n_val, n_train + n_val + n_test)
    arrays, table = [], []
    for name, a, b in (("train", cut[0], cut[1]), ("val", cut[1], cut[2]),
                       ("test", cut[2], cut[3])):
        arrays.append(("%s_images" % name, images[a:b]))
        arrays.append(("%s_labels" % name, labels[a:b]))
        table.append("| `%s_images` | (%d, 28, 28) | uint8 | |" % (name, b - a))
        table.append("| `%s_labels` | (%d, 1) | uint8 | %d |"
                     % (name, b - a, int(labels[a:b].sum())))
    write_npz(path, arrays)
    with open(os.path.join(os.path.dirname(path), "README.md"), "w",
              newline="") as f:
        f.write(MEDMNIST_README.format(seed=seed, total=cut[3],
                                       rows="\n".join(table)))


def main(argv=None):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("reference", "train"),
                    default="reference")
    ap.add_argument("--n", type=int, default=None,
                    help="cases (default 600 reference, 3000 train)")
    ap.add_argument("--seed", type=int, default=None,
                    help="default REFERENCE_SEED or TRAIN_SEED")
    ap.add_argument("--out", default=None,
                    help="output folder (default data/synthetic-lesions for "
                         "the reference split; required for train)")
    a = ap.parse_args(argv)
    if a.split == "reference":
        n = 600 if a.n is None else a.n
        seed = REFERENCE_SEED if a.seed is None else a.seed
        out = a.out or os.path.join(root, "data", "synthetic-lesions")
    else:
        n = 3000 if a.n is None else a.n
        seed = TRAIN_SEED if a.seed is None else a.seed
        if a.out is None:
            ap.error("--split train needs --out (never under data/)")
        out = a.out
        data_dir = os.path.realpath(os.path.join(root, "data"))
        if os.path.realpath(out).startswith(data_dir + os.sep):
            ap.error("refusing to write the training split under data/")
    if n < 1:
        ap.error("--n must be >= 1")
    images, rows = generate(n, seed, id_prefix="c" if a.split == "reference"
                            else "t")
    write_image_folder(out, images, rows)
    if a.split == "reference":
        write_lesions_readme(out, rows, seed, images.shape[1])
    prev = sum(r["label"] for r in rows) / n
    print("wrote %s: %d cases, prevalence %.3f, seed %d" % (out, n, prev, seed))
    if a.split == "reference" and a.out is None and a.n is None and a.seed is None:
        npz = os.path.join(root, "data", "medmnist-sample",
                           "synthetic-pneumoniamnist-28.npz")
        write_medmnist(npz)
        print("wrote %s" % npz)
    return 0


if __name__ == "__main__":
    sys.exit(main())
