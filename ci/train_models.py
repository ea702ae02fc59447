#!/usr/bin/env python3
"""Train the three SYNTHETIC "vendor" models and the test models; export ONNX.

Everything here is numpy: a tiny CNN with a hand-written forward and backward
pass (im2col convolution, 2x2 max-pooling, global mean pooling, two dense
layers), trained with Adam on the *training split* of ci/gen_reference_set.py
(seed TRAIN_SEED, never the reference split), then exported with
onnx.helper (opset 13) using only Conv, Relu, MaxPool, ReduceMean (axes as an
attribute), Flatten, Gemm, Sigmoid, Softmax and Transpose, so that the ort,
tract and candle backends can all run them.

    python3 ci/train_models.py            # writes models/*.onnx, models/test/*
    python3 ci/train_models.py --eval-only  # re-measure the committed models

It then checks each model with onnx.checker, runs it with onnxruntime on the
reference set (data/synthetic-lesions), compares onnxruntime with the numpy
forward pass, and prints AUROC overall and per site and the mean predicted
probability against the prevalence.

Single-threaded BLAS (set below, before numpy loads) keeps the float sums, and
so the exported bytes, identical between runs on the same machine.
"""
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_reference_set as gen  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPSET = 13
IR_VERSION = 7  # the IR version released with opset 13 (ONNX 1.8)


# ------------------------------------------------------------ preprocessing
# Exactly what models/preprocessing.json records, applied to uint8 pixels.
PREPROCESSING = {
    "vendor-a": {"input": "image", "layout": "NCHW", "size": [64, 64],
                 "channels": 1, "scale": 1.0 / 255.0, "mean": [0.5],
                 "std": [0.25], "output": "probability", "positive_index": 0},
    "vendor-b": {"input": "image", "layout": "NCHW", "size": [64, 64],
                 "channels": 1, "scale": 1.0 / 255.0, "mean": [0.0],
                 "std": [1.0], "output": "logit", "positive_index": 0},
    "vendor-c": {"input": "image", "layout": "NHWC", "size": [64, 64],
                 "channels": 1, "scale": 1.0 / 255.0, "mean": [0.45],
                 "std": [0.2], "output": "softmax", "positive_index": 1},
}


def preprocess(images_u8, spec):
    x = images_u8.astype(np.float32) * np.float32(spec["scale"])
    x = (x - np.float32(spec["mean"][0])) / np.float32(spec["std"][0])
    return x[..., None]  # NHWC, one channel (the internal layout here)


# --------------------------------------------------------------- the model
def conv_forward(x, wm, b):
    """3x3 'same' convolution, NHWC. wm: (C*9, F) rows ordered (c, kh, kw)."""
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))
    cols = win.reshape(n * h * w, c * 9)  # (n,h,w,c,3,3) -> copy
    y = cols @ wm + b
    return y.reshape(n, h, w, -1), cols


def conv_backward(dy, cols, wm, x_shape, need_dx):
    n, h, w, c = x_shape
    f = dy.shape[-1]
    d2 = dy.reshape(-1, f)
    dw = cols.T @ d2
    db = d2.sum(axis=0)
    if not need_dx:
        return None, dw, db
    dcols = (d2 @ wm.T).reshape(n, h, w, c, 3, 3)
    dxp = np.zeros((n, h + 2, w + 2, c), dtype=dy.dtype)
    for i in range(3):
        for j in range(3):
            dxp[:, i:i + h, j:j + w, :] += dcols[..., i, j]
    return dxp[:, 1:-1, 1:-1, :], dw, db


def pool_forward(x, k=2):
    """k x k max-pooling, stride k, NHWC (h and w divisible by k)."""
    n, h, w, c = x.shape
    r = x.reshape(n, h // k, k, w // k, k, c).transpose(0, 1, 3, 5, 2, 4)
    r = r.reshape(n, h // k, w // k, c, k * k)
    idx = r.argmax(axis=-1)
    y = np.take_along_axis(r, idx[..., None], axis=-1)[..., 0]
    return y, idx


def pool_backward(dy, idx, x_shape, k=2):
    n, h, w, c = x_shape
    g = np.zeros((n, h // k, w // k, c, k * k), dtype=dy.dtype)
    np.put_along_axis(g, idx[..., None], dy[..., None], axis=-1)
    g = g.reshape(n, h // k, w // k, c, k, k).transpose(0, 1, 4, 2, 5, 3)
    return g.reshape(n, h, w, c)


class TinyCNN:
    """[conv3x3 - batch norm - ReLU - maxpool] per width; global mean;
    dense(hidden) - ReLU - dense(1). He-initialised from a seeded rng.

    Batch normalisation (Ioffe & Szegedy 2015) is used while training and
    folded into the convolution weights and biases at export, so the ONNX
    graph has no BatchNormalization node. Without it these nets sat on a
    loss plateau for several epochs, or for good, depending on the seed."""

    BN_EPS = 1e-5
    BN_MOMENTUM = 0.9

    def __init__(self, widths, hidden, seed, in_ch=1, pools=None):
        rng = np.random.default_rng(seed)
        self.pools = tuple(pools or (2,) * len(widths))
        self.p = {}
        self.running = {}
        c = in_ch
        for i, f in enumerate(widths):
            self.p["c%d_w" % i] = (rng.standard_normal((c * 9, f))
                                   * np.sqrt(2.0 / (c * 9))).astype(np.float32)
            self.p["bn%d_g" % i] = np.ones(f, np.float32)
            self.p["bn%d_b" % i] = np.zeros(f, np.float32)
            self.running["bn%d_m" % i] = np.zeros(f, np.float32)
            self.running["bn%d_v" % i] = np.ones(f, np.float32)
            c = f
        self.p["d0_w"] = (rng.standard_normal((c, hidden))
                          * np.sqrt(2.0 / c)).astype(np.float32)
        self.p["d0_b"] = np.zeros(hidden, np.float32)
        self.p["d1_w"] = (rng.standard_normal((hidden, 1))
                          * np.sqrt(1.0 / hidden)).astype(np.float32)
        self.p["d1_b"] = np.zeros(1, np.float32)
        self.n_conv = len(widths)

    def start_at_prevalence(self, prevalence):
        """Start the output at the prevalence's logit (not at 0.5)."""
        self.p["d1_b"][:] = np.log(prevalence / (1.0 - prevalence))

    def folded_conv(self, i):
        """Convolution i with its batch norm (running statistics) folded in:
        returns (weights (C*9, F), bias (F,))."""
        scale = self.p["bn%d_g" % i] / np.sqrt(self.running["bn%d_v" % i]
                                               + self.BN_EPS)
        w = self.p["c%d_w" % i] * scale
        b = self.p["bn%d_b" % i] - self.running["bn%d_m" % i] * scale
        return w.astype(np.float32), b.astype(np.float32)

    def forward(self, x, train=False):
        """Logits; with train=True, batch statistics are used (and the
        running ones updated) and a cache for backward() is returned."""
        cache = []
        for i in range(self.n_conv):
            if train:
                y, cols = conv_forward(x, self.p["c%d_w" % i], 0.0)
                mu = y.mean(axis=(0, 1, 2))
                var = y.var(axis=(0, 1, 2))
                mo = self.BN_MOMENTUM
                self.running["bn%d_m" % i] = (mo * self.running["bn%d_m" % i]
                                              + (1 - mo) * mu).astype(np.float32)
                self.running["bn%d_v" % i] = (mo * self.running["bn%d_v" % i]
                                              + (1 - mo) * var).astype(np.float32)
                inv = (1.0 / np.sqrt(var + self.BN_EPS)).astype(y.dtype)
                xhat = (y - mu) * inv
                y = xhat * self.p["bn%d_g" % i] + self.p["bn%d_b" % i]
            else:
                w, b = self.folded_conv(i)
                y, _ = conv_forward(x, w, b)
            r = np.maximum(y, 0)
            pooled, idx = pool_forward(r, self.pools[i])
            if train:
                cache.append((x.shape, cols, xhat, inv, y > 0, r.shape, idx))
            x = pooled
        g = x.mean(axis=(1, 2))
        h = g @ self.p["d0_w"] + self.p["d0_b"]
        hr = np.maximum(h, 0)
        z = (hr @ self.p["d1_w"] + self.p["d1_b"])[:, 0]
        if train:
            cache.append((x.shape, g, h > 0, hr))
        return z, cache

    def backward(self, dz, cache):
        gr = {}
        pshape, g, hmask, hr = cache[-1]
        dz = dz[:, None]
        gr["d1_w"] = hr.T @ dz
        gr["d1_b"] = dz.sum(axis=0)
        dh = (dz @ self.p["d1_w"].T) * hmask
        gr["d0_w"] = g.T @ dh
        gr["d0_b"] = dh.sum(axis=0)
        dg = dh @ self.p["d0_w"].T
        n, ph, pw, c = pshape
        dx = np.broadcast_to(dg[:, None, None, :] / (ph * pw), pshape)
        for i in reversed(range(self.n_conv)):
            x_shape, cols, xhat, inv, ymask, r_shape, idx = cache[i]
            dr = pool_backward(dx, idx, r_shape, self.pools[i])
            dbn = dr * ymask
            gr["bn%d_g" % i] = (dbn * xhat).sum(axis=(0, 1, 2))
            gr["bn%d_b" % i] = dbn.sum(axis=(0, 1, 2))
            dxhat = dbn * self.p["bn%d_g" % i]
            m = dxhat.shape[0] * dxhat.shape[1] * dxhat.shape[2]
            dy = (inv / m) * (m * dxhat - dxhat.sum(axis=(0, 1, 2))
                              - xhat * (dxhat * xhat).sum(axis=(0, 1, 2)))
            dx, gr["c%d_w" % i], _ = conv_backward(
                dy, cols, self.p["c%d_w" % i], x_shape, need_dx=i > 0)
        return gr


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def train(model, x, y, epochs, batch, lr, seed, log_prefix):
    """Adam (Kingma & Ba 2015) on mean binary cross-entropy with logits;
    random horizontal/vertical flips as augmentation."""
    rng = np.random.default_rng(seed)
    m = {k: np.zeros_like(v) for k, v in model.p.items()}
    v = {k: np.zeros_like(v) for k, v in model.p.items()}
    b1, b2, eps, t = 0.9, 0.999, 1e-8, 0
    n = len(x)
    for ep in range(epochs):
        t0 = time.time()
        order = rng.permutation(n)
        # Cosine decay of the step size over the epochs.
        lr_ep = lr * 0.5 * (1 + np.cos(np.pi * ep / epochs))
        tot = 0.0
        for s in range(0, n, batch):
            ib = order[s:s + batch]
            xb = x[ib]
            if rng.random() < 0.5:
                xb = xb[:, :, ::-1]
            if rng.random() < 0.5:
                xb = xb[:, ::-1]
            xb = np.ascontiguousarray(xb)
            yb = y[ib]
            z, cache = model.forward(xb, train=True)
            p = sigmoid(z)
            tot += float(np.sum(np.logaddexp(0, z) - yb * z))
            dz = ((p - yb) / len(ib)).astype(np.float32)
            grads = model.backward(dz, cache)
            t += 1
            for k in model.p:
                gk = grads[k].astype(np.float32)
                m[k] = b1 * m[k] + (1 - b1) * gk
                v[k] = b2 * v[k] + (1 - b2) * gk * gk
                mh = m[k] / (1 - b1 ** t)
                vh = v[k] / (1 - b2 ** t)
                model.p[k] -= (lr_ep * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        print("%s epoch %d/%d loss %.4f (%.1fs)" % (log_prefix, ep + 1, epochs,
                                                    tot / n, time.time() - t0),
              flush=True)


def predict_logits(model, x, batch=200):
    return np.concatenate([model.forward(x[s:s + batch])[0]
                           for s in range(0, len(x), batch)])


# ------------------------------------------------------------------ metrics
def auroc(y, s):
    """Mann-Whitney AUROC with mid-ranks for ties (Hanley & McNeil 1982)."""
    y = np.asarray(y)
    s = np.asarray(s, dtype=np.float64)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and ss[j + 1] == ss[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    return (ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


# ------------------------------------------------------------------- export
def _onnx():
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    return onnx, TensorProto, helper, numpy_helper


def export(model, path, spec, logit_scale=1.0):
    """Write the model as ONNX with the input/output contract of `spec`."""
    onnx, TP, helper, nph = _onnx()
    nodes, inits = [], []

    def init(name, arr):
        inits.append(nph.from_array(np.ascontiguousarray(arr, np.float32), name))

    h, w = spec["size"]
    if spec["layout"] == "NHWC":
        in_shape = ["N", h, w, 1]
        nodes.append(helper.make_node("Transpose", ["image"], ["x_nchw"],
                                      perm=[0, 3, 1, 2], name="to_nchw"))
        cur = "x_nchw"
    else:
        in_shape = ["N", 1, h, w]
        cur = "image"
    c = 1
    for i in range(model.n_conv):
        wm, bias = model.folded_conv(i)
        f = wm.shape[1]
        init("conv%d.weight" % i, wm.T.reshape(f, c, 3, 3))
        init("conv%d.bias" % i, bias)
        nodes.append(helper.make_node(
            "Conv", [cur, "conv%d.weight" % i, "conv%d.bias" % i],
            ["conv%d" % i], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
            strides=[1, 1], name="conv%d" % i))
        nodes.append(helper.make_node("Relu", ["conv%d" % i], ["relu%d" % i],
                                      name="relu%d" % i))
        nodes.append(helper.make_node("MaxPool", ["relu%d" % i],
                                      ["pool%d" % i], kernel_shape=[2, 2],
                                      strides=[2, 2], name="pool%d" % i))
        cur = "pool%d" % i
        c = f
    nodes.append(helper.make_node("ReduceMean", [cur], ["gap"], axes=[2, 3],
                                  keepdims=1, name="global_mean"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["feat"], axis=1,
                                  name="flatten"))
    init("fc0.weight", model.p["d0_w"])
    init("fc0.bias", model.p["d0_b"])
    nodes.append(helper.make_node("Gemm", ["feat", "fc0.weight", "fc0.bias"],
                                  ["fc0"], name="fc0"))
    nodes.append(helper.make_node("Relu", ["fc0"], ["fc0_relu"], name="relu_fc0"))
    w1 = model.p["d1_w"] * logit_scale
    b1 = model.p["d1_b"] * logit_scale
    out = spec["output"]
    if out == "softmax":
        # Two logits (-z/2, +z/2): softmax index 1 equals sigmoid(z).
        init("fc1.weight", np.concatenate([-0.5 * w1, 0.5 * w1], axis=1))
        init("fc1.bias", np.concatenate([-0.5 * b1, 0.5 * b1]))
        nodes.append(helper.make_node("Gemm", ["fc0_relu", "fc1.weight",
                                               "fc1.bias"], ["logits"],
                                      name="fc1"))
        nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1,
                                      name="softmax"))
        out_name, out_shape = "probs", ["N", 2]
    else:
        init("fc1.weight", w1)
        init("fc1.bias", b1)
        if out == "logit":
            nodes.append(helper.make_node("Gemm", ["fc0_relu", "fc1.weight",
                                                   "fc1.bias"], ["logit"],
                                          name="fc1"))
            out_name = "logit"
        else:
            nodes.append(helper.make_node("Gemm", ["fc0_relu", "fc1.weight",
                                                   "fc1.bias"], ["logit"],
                                          name="fc1"))
            nodes.append(helper.make_node("Sigmoid", ["logit"],
                                          ["probability"], name="sigmoid"))
            out_name = "probability"
        out_shape = ["N", 1]
    graph = helper.make_graph(
        nodes, os.path.splitext(os.path.basename(path))[0],
        [helper.make_tensor_value_info("image", TP.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out_name, TP.FLOAT, out_shape)],
        initializer=inits)
    save_model(graph, path)


def save_model(graph, path, doc=""):
    onnx, _, helper, _ = _onnx()
    m = helper.make_model(graph, producer_name="harness ci/train_models.py",
                          producer_version="1",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    if doc:
        m.doc_string = doc
    onnx.checker.check_model(m, full_check=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


def export_test_models(out_dir):
    """models/test/tiny-cnn.onnx (random fixed weights, 16x16) and
    models/test/nan-output.onnx (NaN for every input)."""
    onnx, TP, helper, nph = _onnx()
    rng = np.random.default_rng(16)
    f32 = lambda a, n: nph.from_array(np.asarray(a, np.float32), n)  # noqa: E731
    inits = [f32(rng.normal(0, 0.5, (4, 1, 3, 3)), "conv.weight"),
             f32(rng.normal(0, 0.1, 4), "conv.bias"),
             f32(rng.normal(0, 0.5, (4, 1)), "fc.weight"),
             f32(rng.normal(0, 0.1, 1), "fc.bias")]
    nodes = [
        helper.make_node("Conv", ["image", "conv.weight", "conv.bias"], ["c"],
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("ReduceMean", ["p"], ["g"], axes=[2, 3], keepdims=1),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("image", TP.FLOAT, ["N", 1, 16, 16])],
        [helper.make_tensor_value_info("probability", TP.FLOAT, ["N", 1])],
        initializer=inits)
    save_model(graph, os.path.join(out_dir, "tiny-cnn.onnx"),
               "Test model: random fixed weights (numpy seed 16).")

    # NaN for any finite input: (mean(x) * 0) / 0 = 0/0.
    inits = [f32([0.0], "zero")]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=1),
        helper.make_node("Flatten", ["m"], ["f"], axis=1),
        helper.make_node("Mul", ["f", "zero"], ["z"]),
        helper.make_node("Div", ["z", "zero"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes, "nan_output",
        [helper.make_tensor_value_info("image", TP.FLOAT, ["N", 1, 16, 16])],
        [helper.make_tensor_value_info("probability", TP.FLOAT, ["N", 1])],
        initializer=inits)
    save_model(graph, os.path.join(out_dir, "nan-output.onnx"),
               "Broken on purpose: output is 0/0 = NaN for every input.")


# -------------------------------------------------------------- evaluation
def read_png_gray8(path):
    """Decode the PNGs written by gen_reference_set (8-bit gray, any filter
    type 0-4, non-interlaced)."""
    b = open(path, "rb").read()
    if b[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    i, data, w, h = 8, b"", None, None
    while i < len(b):
        n = int.from_bytes(b[i:i + 4], "big")
        kind = b[i + 4:i + 8]
        body = b[i + 8:i + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = \
                struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype != 0 or interlace != 0:
                raise ValueError("%s: only 8-bit gray non-interlaced" % path)
        elif kind == b"IDAT":
            data += body
        i += 12 + n
    raw = np.frombuffer(zlib.decompress(data), np.uint8).reshape(h, w + 1)
    out = np.zeros((h, w), np.int32)
    prev = np.zeros(w, np.int32)
    for r in range(h):
        ft, line = raw[r, 0], raw[r, 1:].astype(np.int32)
        cur = np.zeros(w, np.int32)
        for c in range(w):
            a = cur[c - 1] if c else 0
            up = prev[c]
            ul = prev[c - 1] if c else 0
            if ft == 0:
                pr = 0
            elif ft == 1:
                pr = a
            elif ft == 2:
                pr = up
            elif ft == 3:
                pr = (a + up) // 2
            else:
                pa, pb, pc = abs(up - ul), abs(a - ul), abs(a + up - 2 * ul)
                pr = a if pa <= pb and pa <= pc else (up if pb <= pc else ul)
            cur[c] = (line[c] + pr) & 0xFF
        out[r] = cur
        prev = cur
    return out.astype(np.uint8)


def load_reference(folder):
    with open(os.path.join(folder, "labels.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    imgs = np.stack([read_png_gray8(os.path.join(folder, r["image"]))
                     for r in rows])
    return imgs, rows


def run_onnx(path, spec, images_u8):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = images_u8.astype(np.float32) * np.float32(spec["scale"])
    x = (x - np.float32(spec["mean"][0])) / np.float32(spec["std"][0])
    x = x[:, None] if spec["layout"] == "NCHW" else x[..., None]
    out = sess.run(None, {spec["input"]: x})[0]
    if spec["output"] == "probability":
        return out[:, spec["positive_index"]].astype(np.float64), out
    if spec["output"] == "logit":
        return sigmoid(out[:, spec["positive_index"]].astype(np.float64)), out
    return out[:, spec["positive_index"]].astype(np.float64), out


def evaluate(name, path, spec, images, rows):
    p, _ = run_onnx(path, spec, images)
    if not np.all(np.isfinite(p)):
        raise SystemExit("%s: non-finite output" % path)
    y = np.array([int(r["label"]) for r in rows])
    res = {"auroc": auroc(y, p), "mean_p": float(p.mean()),
           "prevalence": float(y.mean()), "n": len(y), "sites": {}}
    for site in ("A", "B", "C"):
        sel = np.array([r["site"] == site for r in rows])
        res["sites"][site] = {"auroc": auroc(y[sel], p[sel]),
                              "mean_p": float(p[sel].mean()),
                              "prevalence": float(y[sel].mean()),
                              "n": int(sel.sum())}
    for col in ("sex", "age_band"):
        levels = sorted({r[col] for r in rows})
        for lv in levels:
            sel = np.array([r[col] == lv for r in rows])
            res.setdefault(col, {})[lv] = {"auroc": auroc(y[sel], p[sel]),
                                           "n": int(sel.sum())}
    print("%-9s AUROC %.3f | site A %.3f  B %.3f  C %.3f | mean p %.3f vs "
          "prevalence %.3f" % (name, res["auroc"], res["sites"]["A"]["auroc"],
                               res["sites"]["B"]["auroc"],
                               res["sites"]["C"]["auroc"], res["mean_p"],
                               res["prevalence"]))
    return res


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ----------------------------------------------------------------- README
MODELS_README = """# models/ — three SYNTHETIC "vendor" models (ONNX) and test models

These are stand-ins for commercial lesion-detection models, made by this project to exercise
the harness's inference backends (ort, tract, candle) and its statistics. They were trained on
SYNTHETIC images (no patient data) and have no clinical meaning.

Regenerate everything here (models, `preprocessing.json`, this README, `test/`):

    bash ci/setup-python.sh --generators
    python3 ci/train_models.py        # about {minutes} minutes on 1 CPU core

Re-measure the committed models without retraining: `python3 ci/train_models.py --eval-only`.

## Architecture (all three)

A tiny CNN, numpy-trained (hand-written forward/backward, im2col convolution), exported with
`onnx.helper`, opset {opset}, IR version {ir}:

    [Conv 3x3 pad 1 -> Relu -> MaxPool 2x2 stride 2] x 4, widths 8, 16, 32, 32 (64 -> 4 px)
    ReduceMean axes [2,3] keepdims 1 -> Flatten -> Gemm 32->16 -> Relu -> Gemm 16->1 (or ->2)

Training used batch normalisation after each convolution (Ioffe & Szegedy 2015); at export it
is folded into the convolution's weights and bias (running statistics), so the graph has no
BatchNormalization node. Operators used: Transpose (vendor-c only), Conv, Relu, MaxPool,
ReduceMean, Flatten, Gemm, Sigmoid (vendor-a), Softmax (vendor-c). Input `image`, float32,
dynamic batch dimension `N`. About 15,700 parameters (float32), about 64 KB per file.

## Training

Data: the *training split* of the synthetic generator, `ci/gen_reference_set.py`
(`generate({n_train}, seed={train_seed})`, never written to disk), disjoint from the reference set
`data/synthetic-lesions` (seed {ref_seed}). Adam (Kingma & Ba 2015; lr {lr}, cosine decay,
batch 32), mean binary cross-entropy, random horizontal/vertical flips, output bias started at
the training prevalence's logit; single-threaded BLAS.

| model | init/shuffle seed | training cases | sites | epochs | logit scale in graph |
|---|---|---|---|---|---|
{recipe_rows}

## Preprocessing and output (also in `preprocessing.json`, as data)

From 8-bit grayscale pixels p (0..255): x = (p * scale - mean) / std.

| model | input | layout, shape | scale | mean | std | output | score for "lesion present" |
|---|---|---|---|---|---|---|---|
| `vendor-a.onnx` | `image` | NCHW [N,1,64,64] | 1/255 | 0.5 | 0.25 | `probability` [N,1] | the value (Sigmoid is in the graph) |
| `vendor-b.onnx` | `image` | NCHW [N,1,64,64] | 1/255 | 0 | 1 | `logit` [N,1] | sigmoid(value), applied by the harness |
| `vendor-c.onnx` | `image` | NHWC [N,64,64,1] | 1/255 | 0.45 | 0.2 | `probs` [N,2] | index 1 of the softmax over (absent, present) |

What each is meant to show:

- **vendor-a**: the good one; roughly calibrated.
- **vendor-b**: trained a bit worse (fewer cases and epochs) and over-confident: its logits are
  multiplied by 3 inside the last Gemm, so its probabilities are pushed towards 0 and 1 (poor
  calibration; with a 25 % prevalence most are pushed towards 0) while its ranking (AUROC) is
  that of the unscaled model.
- **vendor-c**: never saw site C in training. Site C burns a bright laterality letter (L/R)
  into most images and is noisier and lower in contrast; vendor-c takes the letter for a
  lesion, so at site C it calls nearly every image positive (mean predicted probability far
  above the prevalence: specificity collapses at any usual threshold) and its pooled AUROC
  falls, although its ranking *within* site C is close to vendor-a's.

## Reference-set metrics (measured with onnxruntime {ort} on `data/synthetic-lesions`, {n_ref} cases)

AUROC by the Mann-Whitney statistic (mid-ranks for ties); mean p = mean predicted probability.

| model | AUROC | site A | site B | site C | F | M | 18-44 | 45-64 | 65+ | mean p | prevalence |
|---|---|---|---|---|---|---|---|---|---|---|---|
{metric_rows}

Mean predicted probability by site (prevalence in brackets):

| model | site A | site B | site C |
|---|---|---|---|
{site_p_rows}

## Files and sha256

| file | bytes | sha256 |
|---|---|---|
{sha_rows}

The bytes repeat exactly when `ci/train_models.py` is rerun on the same platform (same numpy,
BLAS and onnx versions); another CPU or BLAS may round differently and give other bytes and
slightly different metrics. The committed files are the reference.

Test models (for backend unit tests) are described in `test/README.md`.

## Licence

CC0-1.0: generated by this project (weights, graphs and this text); no patient data.
"""

TEST_README = """# models/test/ — tiny ONNX models for backend unit tests

Written by `python3 ci/train_models.py` (opset {opset}, IR version {ir}). CC0-1.0, generated here.

| file | input | output | what it is |
|---|---|---|---|
| `tiny-cnn.onnx` | `image` float32 [N,1,16,16] NCHW | `probability` [N,1] | Conv 3x3 (4 filters, pad 1) -> Relu -> MaxPool 2x2 -> ReduceMean axes [2,3] -> Flatten -> Gemm 4->1 -> Sigmoid; random but fixed weights (`numpy.random.default_rng(16)`). Same operator set as the vendor models. |
| `nan-output.onnx` | `image` float32 [N,1,16,16] NCHW | `probability` [N,1] | Broken on purpose: ReduceMean -> Flatten -> Mul by 0 -> Div by 0, i.e. 0/0 = NaN for every finite input. For failure-isolation tests. |

Outputs of `tiny-cnn.onnx` from onnxruntime {ort}, input = the first 16x16 pixels of the first
four reference images (`data/synthetic-lesions/images/c0001.png` ... `c0004.png`, top-left
crop, x = p/255, no mean/std):

{tiny_rows}

| file | bytes | sha256 |
|---|---|---|
{sha_rows}
"""


def _f(v):
    return "n/a" if v != v else "%.3f" % v


def write_readmes(out, metrics, test_outputs, minutes):
    import onnxruntime
    rows = []
    for name in sorted(RECIPES):
        rc = RECIPES[name]
        n_all = max(r["n"] for r in RECIPES.values())
        if len(rc["sites"]) < 3:
            used = "those of the %d from sites %s" % (n_all, "+".join(rc["sites"]))
        elif rc["n"] < n_all:
            used = "the first %d" % rc["n"]
        else:
            used = "all %d" % rc["n"]
        rows.append("| %s | %d | %s | %s | %d | %g |" % (
            name, rc["seed"], used, ", ".join(rc["sites"]), rc["epochs"],
            rc["scale"]))
    mrows, srows, prow = [], [], []
    for name in sorted(metrics):
        m = metrics[name]
        mrows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.3f | %.3f |" % (
            name, _f(m["auroc"]), _f(m["sites"]["A"]["auroc"]),
            _f(m["sites"]["B"]["auroc"]), _f(m["sites"]["C"]["auroc"]),
            _f(m["sex"]["F"]["auroc"]), _f(m["sex"]["M"]["auroc"]),
            _f(m["age_band"]["18-44"]["auroc"]),
            _f(m["age_band"]["45-64"]["auroc"]),
            _f(m["age_band"]["65+"]["auroc"]), m["mean_p"], m["prevalence"]))
        srows.append("| `%s.onnx` | %d | `%s` |" % (name, m["bytes"], m["sha256"]))
        prow.append("| %s | %s |" % (name, " | ".join(
            "%.3f (%.3f)" % (m["sites"][k]["mean_p"], m["sites"][k]["prevalence"])
            for k in ("A", "B", "C"))))
    n_ref = next(iter(metrics.values()))["n"]
    lrs = sorted({rc["lr"] for rc in RECIPES.values()})
    text = MODELS_README.format(
        minutes=minutes, opset=OPSET, ir=IR_VERSION,
        n_train=max(rc["n"] for rc in RECIPES.values()),
        train_seed=gen.TRAIN_SEED, ref_seed=gen.REFERENCE_SEED,
        lr=", ".join("%g" % v for v in lrs), recipe_rows="\n".join(rows),
        ort=onnxruntime.__version__, n_ref=n_ref,
        metric_rows="\n".join(mrows), site_p_rows="\n".join(prow),
        sha_rows="\n".join(srows))
    with open(os.path.join(out, "README.md"), "w", newline="") as f:
        f.write(text)
    trows, tsha = [], []
    for t in ("tiny-cnn", "nan-output"):
        path = os.path.join(out, "test", t + ".onnx")
        tsha.append("| `%s.onnx` | %d | `%s` |" % (t, os.path.getsize(path),
                                                   sha256(path)))
    trows = "\n".join("    c%04d: %r" % (i + 1, float(v))
                      for i, v in enumerate(test_outputs["tiny-cnn"]))
    with open(os.path.join(out, "test", "README.md"), "w", newline="") as f:
        f.write(TEST_README.format(opset=OPSET, ir=IR_VERSION,
                                   ort=onnxruntime.__version__,
                                   tiny_rows=trows, sha_rows="\n".join(tsha)))


# -------------------------------------------------------------------- main
# Per model: conv widths, hidden units, init/shuffle seed, training cases (the
# first n of the split within `sites`), epochs, Adam step, sites trained on,
# factor applied to the exported logits.
RECIPES = {
    "vendor-a": dict(widths=(8, 16, 32, 32), hidden=16, seed=101, n=3000,
                     epochs=12, lr=3e-3, sites=("A", "B", "C"), scale=1.0),
    "vendor-b": dict(widths=(8, 16, 32, 32), hidden=16, seed=202, n=2000,
                     epochs=4, lr=3e-3, sites=("A", "B", "C"), scale=3.0),
    "vendor-c": dict(widths=(8, 16, 32, 32), hidden=16, seed=303, n=3000,
                     epochs=12, lr=3e-3, sites=("A", "B"), scale=1.0),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "models"))
    ap.add_argument("--reference", default=os.path.join(ROOT, "data",
                                                        "synthetic-lesions"))
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--only", action="append", choices=sorted(RECIPES))
    ap.add_argument("--metrics-json", default=None,
                    help="also write the measured metrics here")
    a = ap.parse_args(argv)
    names = a.only or sorted(RECIPES)

    if not a.eval_only:
        n_train = max(r["n"] for r in RECIPES.values())
        t0 = time.time()
        tr_imgs, tr_rows = gen.generate(n_train, gen.TRAIN_SEED, id_prefix="t")
        print("training split: %d cases, seed %d, prevalence %.3f (%.1fs)"
              % (n_train, gen.TRAIN_SEED,
                 np.mean([r["label"] for r in tr_rows]), time.time() - t0))
        labels = np.array([r["label"] for r in tr_rows], np.float32)
        sites = np.array([r["site"] for r in tr_rows])
        for name in names:
            rc = RECIPES[name]
            spec = PREPROCESSING[name]
            idx = np.nonzero(np.isin(sites, rc["sites"]))[0][:rc["n"]]
            x = preprocess(tr_imgs[idx], spec)
            model = TinyCNN(rc["widths"], rc["hidden"], rc["seed"])
            model.start_at_prevalence(float(labels[idx].mean()))
            train(model, x, labels[idx], rc["epochs"], 32, rc["lr"],
                  rc["seed"] + 1, name)
            path = os.path.join(a.out, name + ".onnx")
            export(model, path, spec, rc["scale"])
            # The exported graph must compute what the numpy model computes.
            ref_imgs = tr_imgs[:64]
            _, raw = run_onnx(path, spec, ref_imgs)
            z = predict_logits(model, preprocess(ref_imgs, spec)) * rc["scale"]
            want = {"probability": sigmoid(z)[:, None], "logit": z[:, None],
                    "softmax": np.stack([sigmoid(-z), sigmoid(z)], 1)}[spec["output"]]
            err = float(np.max(np.abs(raw - want)))
            print("%s: onnxruntime vs numpy max |diff| %.2e" % (name, err))
            if err > 1e-3:
                raise SystemExit("%s: exported graph disagrees with numpy" % name)
        export_test_models(os.path.join(a.out, "test"))
        with open(os.path.join(a.out, "preprocessing.json"), "w") as f:
            json.dump(PREPROCESSING, f, indent=2)
            f.write("\n")

    onnx = _onnx()[0]
    images, rows = load_reference(a.reference)
    metrics = {}
    for name in names:
        path = os.path.join(a.out, name + ".onnx")
        onnx.checker.check_model(onnx.load(path), full_check=True)
        metrics[name] = evaluate(name, path, PREPROCESSING[name], images, rows)
        metrics[name]["sha256"] = sha256(path)
        metrics[name]["bytes"] = os.path.getsize(path)
    test_outputs = {}
    for t in ("tiny-cnn", "nan-output"):
        path = os.path.join(a.out, "test", t + ".onnx")
        onnx.checker.check_model(onnx.load(path), full_check=True)
        _, out = run_onnx(path, {"input": "image", "layout": "NCHW",
                                 "scale": 1 / 255, "mean": [0], "std": [1],
                                 "output": "probability", "positive_index": 0},
                          np.ascontiguousarray(images[:4, :16, :16]))
        test_outputs[t] = out[:, 0]
        print("test/%s.onnx: outputs %s" % (t, out[:, 0]))
    if not np.all(np.isnan(test_outputs["nan-output"])):
        raise SystemExit("test/nan-output.onnx: output is not NaN")
    if not np.all(np.isfinite(test_outputs["tiny-cnn"])):
        raise SystemExit("test/tiny-cnn.onnx: non-finite output")
    for name in names:
        print("%s.onnx sha256 %s (%d bytes)" % (name, metrics[name]["sha256"],
                                                metrics[name]["bytes"]))
    if sorted(names) == sorted(RECIPES):
        write_readmes(a.out, metrics, test_outputs, minutes=10)
    if a.metrics_json:
        with open(a.metrics_json, "w") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
