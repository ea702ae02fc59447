"""Writes the tiny ONNX fixtures used by `cargo test -p harness-backends`.

Run from the repository root:  python3 harness/backends/tests/data/make_models.py
Needs numpy, onnx and onnxruntime (for the reference outputs only). The outputs
are deterministic (fixed seed); the generated files are committed so that the
Rust tests never call Python.

- tiny-cnn.onnx       input "image" [N,1,16,16] float32 -> "prob" [N,1]:
                      Conv(3x3, 4 ch, pad 1) > Relu > MaxPool(2x2) > ReduceMean(axes 2,3)
                      > Gemm > Sigmoid (opset 13: ReduceMean takes axes as an attribute).
- global-avg-pool.onnx same idea with GlobalAveragePool, which candle-onnx 0.11 lacks.
- nan-output.onnx     sqrt(mean(x) - 10): NaN for inputs in [0, 1].
- tiny-cnn.expected.json  onnxruntime (Python) outputs of tiny-cnn.onnx for the
                      batch built by `input_batch` below (the Rust tests build the same).
"""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = [helper.make_opsetid("", 13)]
# IR 8 (ONNX 1.10+) is read by every engine tested; onnx 1.23 would default to IR 14.
IR_VERSION = 8


def input_batch(n):
    """x[b, 0, i, j] = ((7 b + 3 i + 5 j) mod 17) / 16 * (b + 1) / 7, float32 (computed in float64)."""
    b, i, j = np.meshgrid(np.arange(n), np.arange(16), np.arange(16), indexing="ij")
    x = ((7 * b + 3 * i + 5 * j) % 17) / 16.0 * (b + 1) / 7.0
    return x.astype(np.float32)[:, None, :, :]


def save(model, name):
    onnx.checker.check_model(model)
    path = os.path.join(HERE, name)
    onnx.save(model, path)
    return path


def conv_weights(rng):
    w = numpy_helper.from_array((rng.standard_normal((4, 1, 3, 3)) * 0.5).astype(np.float32), "conv_w")
    b = numpy_helper.from_array((rng.standard_normal(4) * 0.1).astype(np.float32), "conv_b")
    # Chosen so that the seven test cases spread over roughly 0.2 to 0.85.
    fc_w = numpy_helper.from_array(np.array([[2.0], [-1.0], [1.0], [0.5]], dtype=np.float32), "fc_w")
    fc_b = numpy_helper.from_array(np.array([-2.2], dtype=np.float32), "fc_b")
    return [w, b, fc_w, fc_b]


def io(name_in="image", name_out="prob"):
    x = helper.make_tensor_value_info(name_in, TensorProto.FLOAT, ["N", 1, 16, 16])
    y = helper.make_tensor_value_info(name_out, TensorProto.FLOAT, ["N", 1])
    return x, y


def tiny_cnn():
    rng = np.random.RandomState(0)
    x, y = io()
    nodes = [
        helper.make_node("Conv", ["image", "conv_w", "conv_b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("ReduceMean", ["p"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Gemm", ["m", "fc_w", "fc_b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["prob"]),
    ]
    graph = helper.make_graph(nodes, "tiny_cnn", [x], [y], initializer=conv_weights(rng))
    return helper.make_model(graph, opset_imports=OPSET, producer_name="harness-backends tests", ir_version=IR_VERSION)


def global_avg_pool():
    rng = np.random.RandomState(0)
    x, y = io()
    nodes = [
        helper.make_node("Conv", ["image", "conv_w", "conv_b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["m"]),
        helper.make_node("Gemm", ["m", "fc_w", "fc_b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["prob"]),
    ]
    graph = helper.make_graph(nodes, "global_avg_pool", [x], [y], initializer=conv_weights(rng))
    return helper.make_model(graph, opset_imports=OPSET, producer_name="harness-backends tests", ir_version=IR_VERSION)


def nan_output():
    x, y = io()
    ten = numpy_helper.from_array(np.array([10.0], dtype=np.float32), "ten")
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Sub", ["m", "ten"], ["d"]),
        helper.make_node("Sqrt", ["d"], ["prob"]),
    ]
    graph = helper.make_graph(nodes, "nan_output", [x], [y], initializer=[ten])
    return helper.make_model(graph, opset_imports=OPSET, producer_name="harness-backends tests", ir_version=IR_VERSION)


def main():
    tiny = save(tiny_cnn(), "tiny-cnn.onnx")
    save(global_avg_pool(), "global-avg-pool.onnx")
    save(nan_output(), "nan-output.onnx")

    import onnxruntime as ort

    sess = ort.InferenceSession(tiny, providers=["CPUExecutionProvider"])
    batch = input_batch(7)
    (prob,) = sess.run(None, {"image": batch})
    expected = {
        "generated_by": "python3 harness/backends/tests/data/make_models.py",
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "input": input_batch.__doc__.strip() + " batch of 7",
        "prob": [float(v) for v in prob[:, 0]],
    }
    with open(os.path.join(HERE, "tiny-cnn.expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
