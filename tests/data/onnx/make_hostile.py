#!/usr/bin/env python3
"""Make the hostile ONNX models in hostile/: small, deliberately broken files for the importer.

Run from the repository root (any venv with onnx and numpy; see README.md):

    /work/venv/bin/python tests/data/onnx/make_hostile.py

Each case is one `hostile/<name>.onnx`: a graph built by hand with `onnx.helper`, one float
input "input" of a static shape and one float output "output" declared with the rank the
case would have and symbolic dimensions only ("out_0", ...; mote does not read declared output
types, and no declared-versus-inferred shape check can fire before the one the case aims at),
opset 17 (ai.onnx), IR version 8. The files are saved WITHOUT `onnx.checker`: most of them are
invalid on purpose (wrong sizes, impossible attributes, shapes whose element count overflows).
mote's importer must reject (or, where the model is merely degenerate, handle) every one of
them with an error, never a panic, an overflow or an unbounded allocation.

Everything is deterministic (no random numbers, no timestamps): two runs give byte-identical
files. Do not edit the outputs by hand: change this script and rerun it.
"""
import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "hostile"

OPSET = 17
IR_VERSION = 8
I64_MAX = 2**63 - 1
I64_MIN = -(2**63)


def weights(shape, dtype=np.float32):
    """Deterministic small values (-0.3..0.3) of the given shape; empty if any dim is 0."""
    n = int(np.prod(shape, dtype=np.int64))
    return ((np.arange(n) % 7 - 3) * 0.1).astype(dtype).reshape(shape)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def i64(name, values):
    return init(name, np.array(values, dtype=np.int64))


def f32(name, array):
    return init(name, np.asarray(array, dtype=np.float32))


def model(name, input_shape, nodes, initializers=(), out_rank=None):
    """One-input, one-output model; the output's rank defaults to the input's."""
    rank = len(input_shape) if out_rank is None else out_rank
    out_shape = [f"out_{i}" for i in range(rank)]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
        initializer=list(initializers),
    )
    return helper.make_model(
        graph,
        producer_name="mote make_hostile.py",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )


CONV3 = dict(kernel_shape=[3, 3], pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1], group=1)

# --------------------------------------------------------------------------------------
# Cases: name -> function returning the ModelProto.


def concat_no_inputs():
    # Concat with zero inputs; the graph input is unused.
    node = helper.make_node("Concat", [], ["output"], axis=0)
    return model("concat_no_inputs", [1, 8], [node], out_rank=1)


def conv_kernel_zero():
    w = init("w", np.zeros((4, 3, 0, 3), np.float32))  # zero-size: empty raw_data
    node = helper.make_node("Conv", ["input", "w"], ["output"], kernel_shape=[0, 3],
                            pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1], group=1)
    return model("conv_kernel_zero", [1, 3, 8, 8], [node], [w])


def conv_huge_dilation():
    attrs = dict(CONV3, dilations=[2**62, 1])
    node = helper.make_node("Conv", ["input", "w"], ["output"], **attrs)
    return model("conv_huge_dilation", [1, 3, 8, 8], [node], [f32("w", weights((4, 3, 3, 3)))])


def convtranspose_huge_stride():
    node = helper.make_node("ConvTranspose", ["input", "w"], ["output"], kernel_shape=[2, 2],
                            pads=[0, 0, 0, 0], strides=[2**62, 1], dilations=[1, 1], group=1)
    return model("convtranspose_huge_stride", [1, 3, 8, 8], [node],
                 [f32("w", weights((3, 4, 2, 2)))])


def pad_huge():
    node = helper.make_node("Pad", ["input", "pads"], ["output"], mode="constant")
    return model("pad_huge", [1, 3, 8, 8], [node],
                 [i64("pads", [0, 0, 2**62, 0, 0, 0, 2**62, 0])])


def unsqueeze_repeated_axes():
    node = helper.make_node("Unsqueeze", ["input", "axes"], ["output"])
    return model("unsqueeze_repeated_axes", [1, 8], [node], [i64("axes", [1, 1])], out_rank=4)


def unsqueeze_const_repeated_axes():
    # Unsqueeze([2,2], axes [1,1]) on a constant, then Add with the [1,2,2] input (it would
    # broadcast whether the repeated axis is read as one new axis, [2,1,2], or two, [2,1,1,2]).
    nodes = [
        helper.make_node("Unsqueeze", ["c", "axes"], ["u"]),
        helper.make_node("Add", ["input", "u"], ["output"]),
    ]
    return model("unsqueeze_const_repeated_axes", [1, 2, 2], nodes,
                 [f32("c", weights((2, 2))), i64("axes", [1, 1])], out_rank=4)


def transpose_const_bad_perm():
    nodes = [
        helper.make_node("Transpose", ["c"], ["t"], perm=[0, 0]),
        helper.make_node("Add", ["input", "t"], ["output"]),
    ]
    return model("transpose_const_bad_perm", [2, 3], nodes, [f32("c", weights((2, 3)))])


def concat_const_mismatch():
    nodes = [
        helper.make_node("Concat", ["a", "b"], ["c"], axis=0),
        helper.make_node("Add", ["input", "c"], ["output"]),
    ]
    return model("concat_const_mismatch", [4, 3], nodes,
                 [f32("a", weights((2, 3))), f32("b", weights((2, 4)))])


def slice_const_empty_negative_step():
    # Slice of an empty [0] float constant with a negative step from -1 down to INT64_MIN
    # (result: empty), Concat with an [8] constant (result [8]), Add with the [1,8] input, so
    # the importer has to fold both.
    nodes = [
        helper.make_node("Slice", ["empty", "starts", "ends", "axes", "steps"], ["s"]),
        helper.make_node("Concat", ["s", "c"], ["cat"], axis=0),
        helper.make_node("Add", ["input", "cat"], ["output"]),
    ]
    inits = [
        f32("empty", np.zeros((0,), np.float32)),
        i64("starts", [-1]),
        i64("ends", [I64_MIN]),
        i64("axes", [0]),
        i64("steps", [-1]),
        f32("c", weights((8,))),
    ]
    return model("slice_const_empty_negative_step", [1, 8], nodes, inits)


def slice_const_huge_step():
    # Slice [0:5:2**62] of a [5] constant (valid ONNX: one element), Add with the [1,8] input.
    nodes = [
        helper.make_node("Slice", ["c", "starts", "ends", "axes", "steps"], ["s"]),
        helper.make_node("Add", ["input", "s"], ["output"]),
    ]
    inits = [
        f32("c", weights((5,))),
        i64("starts", [0]),
        i64("ends", [5]),
        i64("axes", [0]),
        i64("steps", [2**62]),
    ]
    return model("slice_const_huge_step", [1, 8], nodes, inits)


def reshape_overflow():
    node = helper.make_node("Reshape", ["input", "shape"], ["output"])
    return model("reshape_overflow", [1, 8], [node], [i64("shape", [2**40, 2**40, -1])], out_rank=3)


def split_overflow():
    # Split sizes that sum past INT64_MAX; both outputs are consumed (Add) so the graph keeps
    # a single output.
    nodes = [
        helper.make_node("Split", ["input", "split"], ["a", "b"], axis=1),
        helper.make_node("Add", ["a", "b"], ["output"]),
    ]
    return model("split_overflow", [1, 8], nodes, [i64("split", [I64_MAX, I64_MAX])])


def constant_of_shape_huge():
    # A [2**40, 2**40] float constant (2**80 elements), Add with a [1,1] input (would broadcast).
    value = helper.make_tensor("value", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["c"], value=value),
        helper.make_node("Add", ["input", "c"], ["output"]),
    ]
    return model("constant_of_shape_huge", [1, 1], nodes, [i64("shape", [2**40, 2**40])])


def gather_huge():
    # Gather(axis 0) of a [4,1000] constant by 20000 zero indices: a [20000,1000] constant
    # (2e7 elements, above a 16 Mi element bound), Add with the [1,1000] input. The indices
    # are int64 (160 KB), so this file is about 176 KB, the only one above a few KB.
    nodes = [
        helper.make_node("Gather", ["data", "indices"], ["g"], axis=0),
        helper.make_node("Add", ["input", "g"], ["output"]),
    ]
    inits = [f32("data", weights((4, 1000))), i64("indices", np.zeros(20000, np.int64))]
    return model("gather_huge", [1, 1000], nodes, inits)


def input_huge_shape():
    node = helper.make_node("Relu", ["input"], ["output"])
    return model("input_huge_shape", [2**31, 2**31, 4], [node])


def input_zero_dim():
    w = init("w", np.zeros((4, 0, 3, 3), np.float32))  # zero-size: empty raw_data
    node = helper.make_node("Conv", ["input", "w"], ["output"], **CONV3)
    return model("input_zero_dim", [1, 0, 8, 8], [node], [w])


def gemm_b_wrong_size():
    # B declares dims [8,4] (32 floats) but its raw_data holds only 5 floats (20 bytes).
    b = TensorProto()
    b.name = "b"
    b.data_type = TensorProto.FLOAT
    b.dims.extend([8, 4])
    b.raw_data = weights((5,)).astype("<f4").tobytes()
    node = helper.make_node("Gemm", ["input", "b", "c"], ["output"], alpha=1.0, beta=1.0)
    return model("gemm_b_wrong_size", [1, 8], [node], [b, f32("c", weights((4,)))])


def maxpool_negative_kernel():
    node = helper.make_node("MaxPool", ["input"], ["output"], kernel_shape=[-3, 3],
                            pads=[0, 0, 0, 0], strides=[1, 1])
    return model("maxpool_negative_kernel", [1, 3, 8, 8], [node])


def batchnorm_mismatched():
    nodes = [
        helper.make_node("Conv", ["input", "w", "wb"], ["y"], kernel_shape=[1, 1],
                         pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("BatchNormalization", ["y", "scale", "bias", "mean", "var"],
                         ["output"], epsilon=1e-5, momentum=0.9),
    ]
    inits = [
        f32("w", weights((4, 3, 1, 1))),
        f32("wb", weights((4,))),
        f32("scale", np.ones(4)),
        f32("bias", weights((3,))),  # 3 values for 4 channels
        f32("mean", weights((4,))),
        f32("var", np.ones(4)),
    ]
    return model("batchnorm_mismatched", [1, 3, 8, 8], nodes, inits)


def lstm_bad_weights():
    # LSTM(hidden_size=4) on X [5,1,3]: W [1,16,3] is right, R should be [1,16,4] but is
    # [1,16,5], and B should be [1,32] but is [1,3].
    node = helper.make_node("LSTM", ["input", "W", "R", "B"], ["output"], hidden_size=4)
    inits = [
        f32("W", weights((1, 16, 3))),
        f32("R", weights((1, 16, 5))),
        f32("B", weights((1, 3))),
    ]
    # Y is [seq, num_directions, batch, hidden].
    return model("lstm_bad_weights", [5, 1, 3], [node], inits, out_rank=4)


def dequantize_bad_axis():
    # DequantizeLinear(axis 0) of an int8 [4,3,3,3] weight with 7 per-channel scales (and 7
    # int8 zero points, consistent with the scales but not with the weight), feeding a Conv.
    nodes = [
        helper.make_node("DequantizeLinear", ["wq", "w_scale", "w_zp"], ["w"], axis=0),
        helper.make_node("Conv", ["input", "w"], ["output"], **CONV3),
    ]
    inits = [
        init("wq", (np.arange(4 * 3 * 3 * 3) % 11 - 5).astype(np.int8).reshape(4, 3, 3, 3)),
        f32("w_scale", np.full(7, 0.01)),
        init("w_zp", np.zeros(7, np.int8)),
    ]
    return model("dequantize_bad_axis", [1, 3, 8, 8], nodes, inits)


CASES = [
    concat_no_inputs,
    conv_kernel_zero,
    conv_huge_dilation,
    convtranspose_huge_stride,
    pad_huge,
    unsqueeze_repeated_axes,
    unsqueeze_const_repeated_axes,
    transpose_const_bad_perm,
    concat_const_mismatch,
    slice_const_empty_negative_step,
    slice_const_huge_step,
    reshape_overflow,
    split_overflow,
    constant_of_shape_huge,
    gather_huge,
    input_huge_shape,
    input_zero_dim,
    gemm_b_wrong_size,
    maxpool_negative_kernel,
    batchnorm_mismatched,
    lstm_bad_weights,
    dequantize_bad_axis,
]

MAX_BYTES = 200_000  # gather_huge is ~176 KB; every other file is a few hundred bytes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated case names (default: all)")
    args = ap.parse_args()
    names = {f.__name__: f for f in CASES}
    selected = CASES
    if args.only:
        unknown = [n for n in args.only.split(",") if n not in names]
        if unknown:
            ap.error(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(names)}")
        selected = [names[n] for n in args.only.split(",")]
    OUT_DIR.mkdir(exist_ok=True)
    for make in selected:
        m = make()
        path = OUT_DIR / f"{make.__name__}.onnx"
        data = m.SerializeToString()  # no onnx.checker: these are invalid on purpose
        assert len(data) <= MAX_BYTES, (path.name, len(data))
        path.write_bytes(data)
        back = onnx.load(str(path))  # it must at least parse as a ModelProto
        ops = ", ".join(n.op_type for n in back.graph.node)
        print(f"{path.name:40s} {len(data):7d} bytes  {ops}")


if __name__ == "__main__":
    main()
