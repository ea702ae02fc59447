#!/usr/bin/env python3
"""Writes ONNX models shaped like real exporters' output (no torch, nothing downloaded).

    python3 ci/gen_realistic_models.py [--out models/realistic] [--width N] [--only NAME]

Seeded (numpy), so the files are byte-identical from run to run with the same onnx version.
The weights are random: these models test loading and running, not accuracy.

- resnet-style.onnx: torchvision ResNet layout at 224x224x3 with a dynamic, *named* batch
  ("batch_size", as torch.onnx.export(dynamic_axes=...) writes): 7x7/2 stem Conv with pads,
  BatchNormalization, Relu, MaxPool 3x3/2 with pads 1, a basic residual block, a strided block
  with a 1x1 projection shortcut, GlobalAveragePool, and the PyTorch flatten
  (Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape) before Gemm; one logit per case.
- densenet-style.onnx: DenseNet layout at 224x224x3 with an *unnamed* dynamic batch (dim with
  neither value nor name, as some converters write): Pad mode "edge" and Pad mode "constant"
  before unpadded Convs, dense connectivity (Concat on channels), BN-Relu-Conv1x1 transition,
  AveragePool 2x2/2, GlobalAveragePool, Flatten, Gemm and Softmax over 2 classes.
- fixed-batch1.onnx: a grey 64x64 classifier exported with its batch fixed to 1
  (torch.onnx.export without dynamic_axes): Conv, BN, Relu, GlobalAveragePool, Flatten, Gemm,
  Sigmoid. The harness must run it one case at a time without being told.
- gap-rewrite.onnx: a 3-layer grey 64x64 model whose only operator candle lacks is
  GlobalAveragePool, to test the exact rewrite to ReduceMean.
- label-first.onnx: a grey 64x64 classifier with two outputs, as scikit-learn's ONNX exports
  and some vendors' order them: `label` (int64 [N], ArgMax of the probabilities) first, then
  `probabilities` ([N, 2], Softmax). A suite reads it with output.name = "probabilities"; its
  expected.json holds that output.
- dynamic-all.onnx: a grey classifier whose input declares every dimension symbolic
  (["N", "C", "H", "W"], as converters write for a model saved without an input signature):
  Conv with pads, Relu, GlobalAveragePool, Flatten, Gemm, Sigmoid. The harness takes channels,
  height and width from the suite's preprocess (tract must be given them to load it); its
  expected.json is at 1x64x64.

Beside each model, <name>.expected.json holds onnxruntime's output for a fixed input
(x[b, c, i, j] = ((7b + 11c + 3i + 5j) mod 17) / 16, batch 1 for fixed-batch1 else 3), so the
Rust tests check every engine against ONNX Runtime's numbers without Python.

--width sets the channel count of the first block (default 8: fast in tests; the benchmark
may pass 64 for torchvision's widths).
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n}"

    def const(self, array, prefix="c"):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, prefix=None, **attrs):
        out = self.name(prefix or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=1, pad=0, bias=False):
        fan_in = cin * k * k
        w = self.rng.normal(0, np.sqrt(2.0 / fan_in), (cout, cin, k, k)).astype(np.float32)
        inputs = [x, self.const(w, "conv_w")]
        if bias:
            inputs.append(self.const(self.rng.normal(0, 0.05, cout).astype(np.float32), "conv_b"))
        return self.node("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)

    def bn(self, x, c):
        scale = self.rng.uniform(0.5, 1.5, c).astype(np.float32)
        bias = self.rng.normal(0, 0.1, c).astype(np.float32)
        mean = self.rng.normal(0, 0.1, c).astype(np.float32)
        var = self.rng.uniform(0.5, 2.0, c).astype(np.float32)
        return self.node("BatchNormalization", [x] + [self.const(a, "bn") for a in (scale, bias, mean, var)], epsilon=1e-5)

    def relu(self, x):
        return self.node("Relu", [x])

    def torch_flatten(self, x):
        """x.view(x.size(0), -1) as torch.onnx.export writes it."""
        shape = self.node("Shape", [x])
        n = self.node("Gather", [shape, self.const(np.array(0, dtype=np.int64), "idx")], axis=0)
        n1 = self.node("Unsqueeze", [n, self.const(np.array([0], dtype=np.int64), "axes")])
        target = self.node("Concat", [n1, self.const(np.array([-1], dtype=np.int64), "minus1")], axis=0)
        return self.node("Reshape", [x, target])

    def gemm(self, x, cin, cout):
        w = self.rng.normal(0, np.sqrt(1.0 / cin), (cout, cin)).astype(np.float32)
        b = self.rng.normal(0, 0.05, cout).astype(np.float32)
        return self.node("Gemm", [x, self.const(w, "fc_w"), self.const(b, "fc_b")], transB=1)

    def model(self, name, x_name, x_dims, out, out_dims, producer="pytorch", first=()):
        """`first`: value infos of outputs declared before `out`."""
        inp = helper.make_tensor_value_info(x_name, TensorProto.FLOAT, x_dims)
        outp = helper.make_tensor_value_info(out, TensorProto.FLOAT, out_dims)
        graph = helper.make_graph(self.nodes, name, [inp], [*first, outp], initializer=self.inits)
        m = helper.make_model(graph, producer_name=producer, producer_version="2.5.0",
                              opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def resnet_style(width):
    g = Graph(seed=101)
    x = "input"
    y = g.relu(g.bn(g.conv(x, 3, width, 7, stride=2, pad=3), width))
    y = g.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    # Basic block, identity shortcut.
    z = g.relu(g.bn(g.conv(y, width, width, 3, pad=1), width))
    z = g.bn(g.conv(z, width, width, 3, pad=1), width)
    y = g.relu(g.node("Add", [z, y]))
    # Strided block with a 1x1 projection shortcut.
    w2 = 2 * width
    z = g.relu(g.bn(g.conv(y, width, w2, 3, stride=2, pad=1), w2))
    z = g.bn(g.conv(z, w2, w2, 3, pad=1), w2)
    short = g.bn(g.conv(y, width, w2, 1, stride=2), w2)
    y = g.relu(g.node("Add", [z, short]))
    y = g.node("GlobalAveragePool", [y])
    y = g.torch_flatten(y)
    out = g.gemm(y, w2, 1)
    return g.model("resnet_style", x, ["batch_size", 3, 224, 224], out, ["batch_size", 1])


def densenet_style(width):
    g = Graph(seed=202)
    x = "input.1"
    pads = lambda p: g.const(np.array([0, 0, p, p, 0, 0, p, p], dtype=np.int64), "pads")
    y = g.node("Pad", [x, pads(3)], mode="edge")
    y = g.relu(g.bn(g.conv(y, 3, width, 7, stride=2), width))
    y = g.node("Pad", [y, pads(1), g.const(np.array(0.0, dtype=np.float32), "zero")], mode="constant")
    y = g.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2])
    c = width
    growth = max(4, width // 2)
    for _ in range(2):  # dense layers: BN-Relu-Conv3x3 (edge pad) and concatenate
        z = g.relu(g.bn(y, c))
        z = g.node("Pad", [z, pads(1)], mode="edge")
        z = g.conv(z, c, growth, 3)
        y = g.node("Concat", [y, z], axis=1)
        c += growth
    # Transition: BN-Relu-Conv1x1-AvgPool.
    y = g.conv(g.relu(g.bn(y, c)), c, c // 2, 1)
    c //= 2
    y = g.node("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = g.relu(g.bn(y, c))
    y = g.node("GlobalAveragePool", [y])
    y = g.node("Flatten", [y], axis=1)
    y = g.gemm(y, c, 2)
    out = g.node("Softmax", [y], axis=1)
    return g.model("densenet_style", x, [None, 3, 224, 224], out, [None, 2], producer="tf2onnx")


def fixed_batch1():
    g = Graph(seed=303)
    x = "image"
    y = g.relu(g.bn(g.conv(x, 1, 8, 3, stride=2, pad=1), 8))
    y = g.node("GlobalAveragePool", [y])
    y = g.node("Flatten", [y], axis=1)
    out = g.node("Sigmoid", [g.gemm(y, 8, 1)])
    return g.model("fixed_batch1", x, [1, 1, 64, 64], out, [1, 1])


def gap_rewrite():
    g = Graph(seed=404)
    x = "image"
    y = g.relu(g.conv(x, 1, 6, 3, stride=2, pad=1, bias=True))
    y = g.node("GlobalAveragePool", [y])
    y = g.node("Flatten", [y], axis=1)
    out = g.gemm(y, 6, 1)
    return g.model("gap_rewrite", x, ["N", 1, 64, 64], out, ["N", 1])


def label_first():
    g = Graph(seed=505)
    x = "image"
    y = g.relu(g.conv(x, 1, 6, 3, stride=2, pad=1, bias=True))
    y = g.node("GlobalAveragePool", [y])
    y = g.node("Flatten", [y], axis=1)
    logits = g.gemm(y, 6, 2)
    g.nodes.append(helper.make_node("Softmax", [logits], ["probabilities"], name="probabilities", axis=1))
    g.nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], name="label", axis=1, keepdims=0))
    label = helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])
    return g.model("label_first", x, ["N", 1, 64, 64], "probabilities", ["N", 2],
                   producer="skl2onnx", first=[label])


def dynamic_all():
    g = Graph(seed=606)
    x = "image"
    y = g.relu(g.conv(x, 1, 6, 3, stride=2, pad=1, bias=True))
    y = g.node("GlobalAveragePool", [y])
    y = g.node("Flatten", [y], axis=1)
    out = g.node("Sigmoid", [g.gemm(y, 6, 1)])
    return g.model("dynamic_all", x, ["N", "C", "H", "W"], out, ["N", 1])


# The reference input's shape for a model that declares none (batch 3).
REFERENCE_CASE = {"dynamic_all": [1, 64, 64]}


def reference_input(shape):
    b, c, h, w = np.meshgrid(*[np.arange(d) for d in shape], indexing="ij")
    return (((7 * b + 11 * c + 3 * h + 5 * w) % 17) / 16.0).astype(np.float32)


def write_expected(path, model):
    import json
    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime not installed: no expected outputs written")
        return
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    case = REFERENCE_CASE.get(model.graph.name, dims[1:])
    shape = [dims[0] if dims[0] > 0 else 3] + case
    sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    # The scores output: the float one (label-first.onnx declares its int64 label first).
    scores = next(o.name for o in sess.get_outputs() if o.type == "tensor(float)")
    out = sess.run([scores], {sess.get_inputs()[0].name: reference_input(shape)})[0]
    with open(path.replace(".onnx", ".expected.json"), "w") as f:
        json.dump({"onnxruntime": onnxruntime.__version__, "input_shape": shape,
                   "output_shape": list(out.shape), "output": [float(v) for v in out.reshape(-1)]}, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "models", "realistic"))
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--only", help="write this model only (e.g. label-first)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, m in [("resnet-style", resnet_style(args.width)), ("densenet-style", densenet_style(args.width)),
                    ("fixed-batch1", fixed_batch1()), ("gap-rewrite", gap_rewrite()),
                    ("label-first", label_first()), ("dynamic-all", dynamic_all())]:
        if args.only and name != args.only:
            continue
        path = os.path.join(args.out, f"{name}.onnx")
        onnx.save(m, path)
        write_expected(path, m)
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
