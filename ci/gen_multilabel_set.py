#!/usr/bin/env python3
"""Generate the SYNTHETIC multi-label chest-film set and its two candidate models
(no patient data).

A chest-film product reports several findings at once, and a reference set holds
several images per patient. This set has both: four findings (nodule, effusion,
cardiomegaly, pneumothorax), 1-4 images per patient, findings that belong to the
patient (each of a patient's images shows a finding the patient has with
probability VISIBLE), prevalences that differ by age band and sex, and the three
simulated sites/scanners of ci/gen_reference_set.py (whose background, lesion and
acquisition it reuses).

Two candidate models are trained here, on a separate training split (seed
TRAIN_SEED, never the reference cases), and exported with the `onnx` package:

  findings-a  all four findings. Fixed feature extractor (4x4 grid of region means;
              four 9x9 filters, ReLU, global max and mean), then a logistic
              regression per finding (IRLS, L2), ending in a Sigmoid: output
              [N, 4] probabilities in FINDINGS order. Dynamic batch.
  findings-b  a product that covers two findings only, trained on fewer cases with
              the region means alone; output [N, 3] logits in the order
              (pneumothorax, effusion, an unused column), as a vendor might ship.

The features are computed by onnxruntime from the exported feature graph, so the
trained weights see exactly what the engines compute.

    python3 ci/gen_multilabel_set.py      # data/synthetic-chest-findings/, models/findings-{a,b}.onnx

Needs numpy, onnx and onnxruntime (bash ci/setup-python.sh --generators). Output
is byte-identical for the same seeds on the same platform.
"""
import argparse
import os
import sys

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_reference_set as gen  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_SEED = 20261206
TRAIN_SEED = 61
REFERENCE_PATIENTS = 260
TRAIN_PATIENTS = 700
SIZE = 64
FINDINGS = ("nodule", "effusion", "cardiomegaly", "pneumothorax")
IMAGES_PER_PATIENT = ((1, 0.35), (2, 0.30), (3, 0.20), (4, 0.15))
# Patient-level prevalence by age band, times a sex factor.
PREVALENCE = {
    "nodule": {"18-44": 0.12, "45-64": 0.20, "65+": 0.28},
    "effusion": {"18-44": 0.08, "45-64": 0.15, "65+": 0.30},
    "cardiomegaly": {"18-44": 0.06, "45-64": 0.14, "65+": 0.30},
    "pneumothorax": {"18-44": 0.12, "45-64": 0.08, "65+": 0.05},
}
PREVALENCE_SEX = {
    "nodule": {"F": 0.9, "M": 1.1},
    "effusion": {"F": 1.0, "M": 1.0},
    "cardiomegaly": {"F": 0.8, "M": 1.2},
    "pneumothorax": {"F": 0.6, "M": 1.4},
}
# A finding the patient has shows on each of the patient's images with this probability
# (projection, positioning): images of one patient are correlated, as in a real set.
VISIBLE = 0.85
OPSET = 13
IR_VERSION = 7


# ------------------------------------------------------------------ images
def _soft_step(x, width):
    return 1.0 / (1.0 + np.exp(-x / width))


def render(rng, sex, age, site, present):
    """One image in [0, 1] before quantisation; `present` is the set of findings shown."""
    img = gen.background(rng, SIZE, sex)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / SIZE
    # The heart: a bright ellipse low in the centre, wider with cardiomegaly.
    width = rng.uniform(0.27, 0.34) if "cardiomegaly" in present else rng.uniform(0.15, 0.23)
    cy, cx = rng.uniform(0.60, 0.66), 0.5 + rng.uniform(-0.04, 0.04)
    heart = ((yy - cy) / 0.16) ** 2 + ((xx - cx) / width) ** 2
    img += rng.uniform(0.08, 0.12) * _soft_step(1.0 - heart, 0.08)
    gen.add_mimic(rng, img, SIZE)
    if "nodule" in present:
        gen.add_lesion(rng, img, SIZE, age)
    if "effusion" in present:
        # A bright haze rising from the bottom of one side (or both).
        height = rng.uniform(0.10, 0.26)
        side = rng.integers(0, 3)  # 0 left, 1 right, 2 both
        lateral = {0: _soft_step(0.5 - xx, 0.04), 1: _soft_step(xx - 0.5, 0.04),
                   2: np.ones_like(xx)}[int(side)]
        img += rng.uniform(0.04, 0.10) * _soft_step(yy - (1.0 - height), 0.03) * lateral
    if "pneumothorax" in present:
        # A dark apical region without lung texture, edged by a thin bright line.
        right = rng.random() < 0.5
        ax = 0.78 if right else 0.22
        r = np.sqrt(((yy - 0.12) / 0.9) ** 2 + (xx - ax) ** 2)
        extent = rng.uniform(0.12, 0.24)
        region = _soft_step(extent - r, 0.02)
        img = img * (1.0 - 0.15 * region) - rng.uniform(0.02, 0.05) * region
        img += rng.uniform(0.02, 0.05) * np.exp(-((r - extent) / 0.012) ** 2)
    return gen.acquire(rng, img, SIZE, site)


def generate(patients, seed, id_prefix):
    """(images uint8 [n, 64, 64], rows): rows hold case_id, patient_id, one 0/1 column per
    finding, sex, age_band, site. Every draw comes from default_rng(seed) in a fixed order."""
    rng = np.random.default_rng(seed)
    images, rows = [], []
    for p in range(patients):
        sex = gen._pick(rng, gen.SEXES)
        age = gen._pick(rng, gen.AGE_BANDS)
        site = gen._pick(rng, gen.SITES)
        has = [f for f in FINDINGS
               if rng.random() < PREVALENCE[f][age] * PREVALENCE_SEX[f][sex]]
        k = int(gen._pick(rng, [(str(n), w) for n, w in IMAGES_PER_PATIENT]))
        for j in range(k):
            shown = {f for f in has if rng.random() < VISIBLE}
            images.append(gen.quantise(render(rng, sex, age, site, shown)))
            row = {"case_id": "%s%04d-%d" % (id_prefix, p + 1, j + 1),
                   "patient_id": "%s%04d" % (id_prefix.upper(), p + 1),
                   "sex": sex, "age_band": age, "site": site}
            row.update({f: int(f in shown) for f in FINDINGS})
            rows.append(row)
    return np.stack(images), rows


def write_folder(out, images, rows):
    header = ["case_id", "image", "patient_id", *FINDINGS, "sex", "age_band", "site"]
    lines = [",".join(header) + "\n"]
    for rel, r in zip(gen.write_pngs(out, images, rows), rows):
        cells = [r["case_id"], rel, r["patient_id"], *(str(r[f]) for f in FINDINGS),
                 r["sex"], r["age_band"], r["site"]]
        lines.append(",".join(cells) + "\n")
    with open(os.path.join(out, "labels.csv"), "w", newline="") as f:
        f.writelines(lines)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(readme(rows))


def readme(rows):
    n_pat = len({r["patient_id"] for r in rows})
    counts = "\n".join("| %s | %d | %d |" % (
        f, sum(r[f] for r in rows),
        len({r["patient_id"] for r in rows if r[f]})) for f in FINDINGS)
    return """# synthetic-chest-findings — SYNTHETIC multi-label reference images (no patient data)

Every image here was drawn by a computer program; none comes from a patient or a scanner. It
stands in for a chest-film reference set with several findings per image and several images
per patient, to exercise multi-label suites end to end (per-finding DeLong CIs,
patient-clustered CIs, macro and micro AUROC, subgroups). Results on it say nothing about
clinical performance.

Generated by `python3 ci/gen_multilabel_set.py` (`numpy.random.default_rng(%d)`, %d patients,
%d images, 64x64 8-bit grayscale PNG). The candidate models `models/findings-a.onnx` and
`models/findings-b.onnx` were trained by the same script on a separate training split
(`default_rng(%d)`), never on these images.

`labels.csv`: `case_id`, `image`, `patient_id` (1-4 images per patient), one 0/1 column per
finding (%s), `sex`, `age_band`, `site` (the simulated sites of `data/synthetic-lesions`).

How a finding is drawn: nodule, the lesion of `data/synthetic-lesions`; effusion, a bright haze
rising from the bottom of one or both sides; cardiomegaly, a wider heart shadow (every image has
one); pneumothorax, a dark apical region without lung texture edged by a thin bright line. A
patient has each finding with a probability that depends on age band and sex (older: more
effusion and cardiomegaly, fewer pneumothoraces; men: more pneumothoraces); each of the
patient's images shows it with probability %.2f.

| finding | images with it | patients with it |
|---|---|---|
%s

Licence: CC0-1.0 (generated by this project; no patient data).
""" % (REFERENCE_SEED, n_pat, len(rows), TRAIN_SEED, ", ".join(FINDINGS), VISIBLE, counts)


# ------------------------------------------------------------------ models
def _dog(sigma_a, sigma_b, k=9):
    r = k // 2
    y, x = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    g = lambda s: np.exp(-(x * x + y * y) / (2 * s * s)) / (2 * np.pi * s * s)  # noqa: E731
    d = g(sigma_a) - g(sigma_b)
    return d - d.mean()


def _filters():
    """Four fixed 9x9 filters: small and large bright blobs, a dark blob, a vertical edge."""
    edge = np.zeros((9, 9))
    edge[:4, :] = -1.0
    edge[5:, :] = 1.0
    edge /= np.abs(edge).sum()
    return np.stack([_dog(1.2, 2.6), _dog(2.0, 4.0), -_dog(2.4, 4.5), edge])[:, None]


def feature_graph(onnx, helper, numpy_helper, TensorProto, use_filters):
    """Nodes and initialisers from 'image' [N,1,64,64] to 'features' [N, F]."""
    nodes = [
        helper.make_node("AveragePool", ["image"], ["grid"], kernel_shape=[16, 16],
                         strides=[16, 16]),
        helper.make_node("Flatten", ["grid"], ["grid_flat"], axis=1),
    ]
    inits = []
    if use_filters:
        w = _filters().astype(np.float32)
        inits += [numpy_helper.from_array(w, "filters"),
                  numpy_helper.from_array(np.zeros(len(w), np.float32), "filters_bias")]
        nodes += [
            helper.make_node("Conv", ["image", "filters", "filters_bias"], ["response"],
                             kernel_shape=[9, 9], pads=[0, 0, 0, 0]),
            helper.make_node("Relu", ["response"], ["rectified"]),
            helper.make_node("GlobalMaxPool", ["rectified"], ["peak"]),
            helper.make_node("GlobalAveragePool", ["rectified"], ["mean"]),
            helper.make_node("Flatten", ["peak"], ["peak_flat"], axis=1),
            helper.make_node("Flatten", ["mean"], ["mean_flat"], axis=1),
            helper.make_node("Concat", ["grid_flat", "peak_flat", "mean_flat"], ["features"],
                             axis=1),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["grid_flat"], ["features"]))
    return nodes, inits


def make_model(onnx, helper, numpy_helper, TensorProto, name, use_filters, head):
    """The feature graph, then `head(nodes, inits)` appends the classifier to 'output'."""
    nodes, inits = feature_graph(onnx, helper, numpy_helper, TensorProto, use_filters)
    out_width = head(nodes, inits)
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, SIZE, SIZE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", out_width])],
        inits)
    model = helper.make_model(graph, producer_name="ci/gen_multilabel_set.py",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def features(ort, model_bytes, images):
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    x = (images.astype(np.float32) / np.float32(255.0))[:, None]
    return sess.run(["output"], {"image": x})[0].astype(np.float64)


def fit_logistic(x, y, l2=1e-2, iters=50):
    """L2-penalised logistic regression by IRLS on standardised features; weights and bias
    on the original scale."""
    mu, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1.0
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    pen = l2 * len(x) * np.eye(z.shape[1])
    pen[-1, -1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        g = z.T @ (p - y) + pen @ w
        h = (z * (p * (1 - p))[:, None]).T @ z + pen
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    weights = w[:-1] / sd
    return weights, w[-1] - (weights * mu).sum()


def auroc(y, s):
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def train_models(ref_images, ref_rows):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    tr_images, tr_rows = generate(TRAIN_PATIENTS, TRAIN_SEED, "t")
    labels = {f: np.array([r[f] for r in tr_rows], float) for f in FINDINGS}

    def probe(use_filters):
        """The feature graph alone, its output the features."""
        def head(nodes, inits):
            nodes.append(helper.make_node("Identity", ["features"], ["output"]))
            return 16 + (2 * len(_filters()) if use_filters else 0)
        return make_model(onnx, helper, numpy_helper, TensorProto, "features", use_filters,
                          head)

    def gemm_head(w, b, sigmoid):
        def head(nodes, inits):
            inits += [numpy_helper.from_array(w.astype(np.float32), "head_w"),
                      numpy_helper.from_array(b.astype(np.float32), "head_b")]
            out = "logits" if sigmoid else "output"
            nodes.append(helper.make_node("Gemm", ["features", "head_w", "head_b"], [out]))
            if sigmoid:
                nodes.append(helper.make_node("Sigmoid", ["logits"], ["output"]))
            return w.shape[1]
        return head

    # findings-a: every finding, all features, every training image.
    fa = features(ort, probe(True).SerializeToString(), tr_images)
    cols = [fit_logistic(fa, labels[f]) for f in FINDINGS]
    w = np.stack([c[0] for c in cols], axis=1)
    b = np.array([c[1] for c in cols])
    model_a = make_model(onnx, helper, numpy_helper, TensorProto, "findings_a", True,
                         gemm_head(w, b, sigmoid=True))
    # findings-b: two findings, region means only, the first 250 training images; columns
    # (pneumothorax, effusion, unused).
    few = slice(0, 250)
    fb = features(ort, probe(False).SerializeToString(), tr_images[few])
    cols = [fit_logistic(fb, labels[f][few], l2=5e-2) for f in ("pneumothorax", "effusion")]
    w = np.stack([cols[0][0], cols[1][0], np.zeros(fb.shape[1])], axis=1)
    b = np.array([cols[0][1], cols[1][1], 0.0])
    model_b = make_model(onnx, helper, numpy_helper, TensorProto, "findings_b", False,
                         gemm_head(w, b, sigmoid=False))
    models = {"findings-a": model_a, "findings-b": model_b}
    for name, m in models.items():
        path = os.path.join(ROOT, "models", name + ".onnx")
        with open(path, "wb") as f:
            f.write(m.SerializeToString())
    # What the models do on the reference set (onnxruntime, the harness's preprocessing).
    x = (ref_images.astype(np.float32) / np.float32(255.0))[:, None]
    for name, m in models.items():
        out = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]
                                   ).run(["output"], {"image": x})[0]
        mapping = FINDINGS if name == "findings-a" else ("pneumothorax", "effusion")
        figures = ", ".join("%s %.3f" % (f, auroc(np.array([r[f] for r in ref_rows]),
                                                   out[:, k].astype(np.float64)))
                            for k, f in enumerate(mapping))
        print("%s: AUROC on the reference set: %s" % (name, figures))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "synthetic-chest-findings"))
    ap.add_argument("--no-models", action="store_true", help="write the images only")
    a = ap.parse_args(argv)
    images, rows = generate(REFERENCE_PATIENTS, REFERENCE_SEED, "p")
    write_folder(a.out, images, rows)
    print("%s: %d images of %d patients" % (a.out, len(rows), REFERENCE_PATIENTS))
    for f in FINDINGS:
        print("  %s: %d images" % (f, sum(r[f] for r in rows)))
    if not a.no_models:
        train_models(images, rows)


if __name__ == "__main__":
    main()
