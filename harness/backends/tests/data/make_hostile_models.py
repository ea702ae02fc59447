"""Writes the hostile ONNX files under hostile/ used by `tests/hostile_models.rs`.

Run from the repository root:  python3 harness/backends/tests/data/make_hostile_models.py
Needs the `onnx` package (`bash ci/setup-python.sh --generators`). Each file is a few hundred
bytes. They are committed so that the Rust tests never call Python. They are the shapes of input
that model-loading fuzzing (ci/fuzz.sh, targets model_tract/model_candle/model_ort) probes: a
tiny file that makes an engine panic, or ask for an impossible amount of memory while it folds
constants at load, or read data outside the model's folder.

- conv_zero_stride.onnx     Conv with strides [0, 0]: tract 0.23 panics at load (divide by zero, tract-data dim/mod.rs).
- maxpool_zero_kernel.onnx  MaxPool with kernel_shape [0, 0]: tract panics at load with overflow checks on
                            (tract-core padding.rs; the fuzz build), loads without them.
- constant_of_shape_huge.onnx  ConstantOfShape of a constant shape [2^29, 2^29] (2^58 elements; more
                            bytes than any address space): tract evaluates it at load.
- constant_of_shape_overflow.onnx  the same with [2^32, 2^32]: the element count overflows 64 bits.
- range_huge.onnx           Range(0, 1e18, 1) of constants, folded by tract at load.
- expand_huge.onnx          Expand of a constant to [2^29, 2^29].
- external_data_absolute.onnx  an initializer [2^28] whose external data is /dev/zero (1 GiB asked).
- external_data_parent.onnx    the same through ../../../../../../dev/zero.
- output_not_produced.onnx  a graph output that no node or input produces: tract panics at load
                            (tract-onnx model.rs, "no entry found for key"). Found by model_tract.
- conv_short_pads.onnx      Conv on a 2-D image with pads [1, 1] (4 needed): tract panics at load
                            (tract-core padding.rs, index out of bounds). Found by model_tract.
- nested_if_30.onnx         If nodes nested 30 deep (then-branches), each with a constant condition.
- label_first_output.onnx   outputs [label (int64, ArgMax of the softmax), probabilities], as scikit-learn's
                            ONNX exports order them: an engine that casts the first output to float scored
                            the predicted labels as probabilities. Refused at load by every engine.
"""

import os

import onnx
from onnx import TensorProto, helper

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile")
OPSET = [helper.make_opsetid("", 13)]
IR_VERSION = 8


def model(nodes, inits=(), inp=None):
    inp = inp or helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph(nodes, "g", [inp], [out], initializer=list(inits))
    m = helper.make_model(g, opset_imports=OPSET, producer_name="make_hostile_models.py")
    m.ir_version = IR_VERSION
    return m


def save(m, name):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(m.SerializeToString())


def main():
    os.makedirs(HERE, exist_ok=True)
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    save(model([helper.make_node("Conv", ["x", "w"], ["y"], strides=[0, 0])], [w], inp=image), "conv_zero_stride.onnx")
    save(model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[0, 0])], inp=image), "maxpool_zero_kernel.onnx")

    def folded(name, shape_dims):
        s = helper.make_tensor("s", TensorProto.INT64, [len(shape_dims)], shape_dims)
        nodes = [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])]
        save(model(nodes, [s]), name)

    folded("constant_of_shape_huge.onnx", [1 << 29, 1 << 29])
    folded("constant_of_shape_overflow.onnx", [1 << 32, 1 << 32])

    scalars = [helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in [("st", 0.0), ("li", 1e18), ("de", 1.0)]]
    nodes = [helper.make_node("Range", ["st", "li", "de"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])]
    save(model(nodes, scalars), "range_huge.onnx")

    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    s = helper.make_tensor("s", TensorProto.INT64, [2], [1 << 29, 1 << 29])
    nodes = [helper.make_node("Expand", ["one", "s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])]
    save(model(nodes, [one, s]), "expand_huge.onnx")

    for name, location in [("external_data_absolute.onnx", "/dev/zero"),
                           ("external_data_parent.onnx", "../../../../../../dev/zero")]:
        t = TensorProto()
        t.name = "w"
        t.data_type = TensorProto.FLOAT
        t.dims.extend([1 << 28])
        t.data_location = TensorProto.EXTERNAL
        for k, v in [("location", location), ("offset", "0"), ("length", str(1 << 30))]:
            e = t.external_data.add()
            e.key, e.value = k, v
        wide = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1 << 28])
        save(model([helper.make_node("Add", ["x", "w"], ["y"])], [t], inp=wide), name)

    m = model([helper.make_node("Identity", ["x"], ["z"])])
    m.graph.output[0].name = "nope"
    save(m, "output_not_produced.onnx")
    save(model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1])], [w], inp=image), "conv_short_pads.onnx")

    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "leaf", [], [out])
    graph = leaf
    for d in range(30):
        cond = helper.make_tensor(f"c{d}", TensorProto.BOOL, [], [True])
        graph = helper.make_graph(
            [helper.make_node("Constant", [], [f"cond{d}"], value=cond),
             helper.make_node("If", [f"cond{d}"], ["y"], then_branch=graph, else_branch=leaf)],
            f"level{d}", [], [out])
    save(model(list(graph.node)), "nested_if_30.onnx")

    label = helper.make_tensor_value_info("label", TensorProto.INT64, [None])
    probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 4])
    batch = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    g = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["probabilities"], axis=1),
         helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0)],
        "g", [batch], [label, probabilities])
    m = helper.make_model(g, opset_imports=OPSET, producer_name="make_hostile_models.py")
    m.ir_version = IR_VERSION
    save(m, "label_first_output.onnx")


if __name__ == "__main__":
    main()
