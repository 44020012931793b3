#!/usr/bin/env python3
"""Generate the mote TFLM int8 model corpus.

Builds small, seeded Keras models, each exercising one TFLite converter pattern,
converts them with full-integer post-training quantization, runs every model in
TensorFlow Lite Micro (the `tflite_micro` Python wheel, reference kernels) on
seeded random inputs, and writes the models, inputs, TFLM golden outputs,
manifest.json and README.md into the directory of this script.

Usage:  python generate.py [--only NAME[,NAME...]] [--out DIR]

Everything is deterministic: each case gets its own seed (crc32 of its name), and
Keras state is cleared before every case, so a case's files do not depend on the
other cases (--only regenerates a subset to the same bytes).
"""

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
import warnings
import zlib

# TFLM's int8 SPACE_TO_BATCH_ND pads with a value read from a never-initialized field of its
# arena (SpaceToBatchParams::output_offset), so its output depends on what the arena held
# before. The Python wrapper allocates the arena with plain new[]; glibc's MALLOC_PERTURB_=255
# makes every malloc'd block start zero-filled, i.e. the goldens are those of a zero-filled
# arena (a static arena in .bss on a microcontroller). The environment variable must be set
# before the process starts, hence the re-exec. check_arena() re-runs TFLM with a 0xA5-filled
# arena to find the outputs that depend on it.
ZERO_ARENA_ENV = {"MALLOC_PERTURB_": "255"}
DIRTY_ARENA_ENV = {"MALLOC_PERTURB_": "90"}  # fills malloc'd memory with 0x5A ^ 0xFF = 0xA5
if __name__ == "__main__" and sys.platform.startswith("linux"):
    if any(os.environ.get(k) != v for k, v in ZERO_ARENA_ENV.items()):
        os.environ.update(ZERO_ARENA_ENV)
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:])

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from tflite_micro.python.tflite_micro import runtime as tflm_runtime  # noqa: E402
from tflite_micro.tensorflow.lite.micro.python import (  # noqa: E402
    schema_py_generated as schema,
)

try:
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
except ImportError:  # pragma: no cover
    pass
tf.get_logger().setLevel("ERROR")
warnings.filterwarnings("ignore")
tf.config.experimental.enable_op_determinism()
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)

N_SAMPLES = 8
N_REP = 50
ARENA_SIZE = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))

L = keras.layers

BUILTIN_NAMES = {
    v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")
}
TENSOR_TYPE_NAMES = {
    v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")
}
NP_DTYPES = {
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "float32": np.float32,
    "bool": np.bool_,
}


# ---------------------------------------------------------------------------
# Case registry
# ---------------------------------------------------------------------------

CASES = []


def case(name, description, rep_range=(-1.0, 1.0), io_type="int8"):
    """Register a model builder.

    rep_range: (lo, hi) of the float representative data, or a list of such
    pairs, one per model input.
    io_type: "int8" (default), "uint8", "float32" or "int16" (16x8 mode).
    """

    def register(fn):
        CASES.append(
            dict(
                name=name,
                description=" ".join(description.split()),
                build=fn,
                rep_range=rep_range,
                io_type=io_type,
            )
        )
        return fn

    return register


def fn(f, name=None):
    """A Keras layer that applies a TensorFlow function (Keras has no layer for it)."""
    return L.Lambda(f, name=name)


def bias_init():
    return keras.initializers.RandomUniform(-0.2, 0.2)


def dense(units, **kw):
    kw.setdefault("bias_initializer", bias_init())
    return L.Dense(units, **kw)


def conv2d(filters, kernel, **kw):
    kw.setdefault("bias_initializer", bias_init())
    kw.setdefault("padding", "same")
    return L.Conv2D(filters, kernel, **kw)


def const(shape, lo=-1.0, hi=1.0):
    """A seeded float32 constant (the case's numpy generator)."""
    return np.asarray(CONST_RNG[0].uniform(lo, hi, size=shape), dtype=np.float32)


CONST_RNG = [None]


def inp(shape, batch=1, name=None):
    return keras.Input(shape=shape, batch_size=batch, name=name)


# ---------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------


@case(
    "baseline_cnn",
    """Baseline: Conv2D(relu) -> DepthwiseConv2D -> ReLU -> AveragePooling2D -> Flatten
    -> Dense -> Softmax. Per-channel conv weights, fused activations, RESHAPE for Flatten,
    SOFTMAX with the fixed 1/256 output scale.""",
)
def baseline_cnn():
    x = inp((12, 12, 3))
    y = conv2d(8, 3, activation="relu")(x)
    y = L.DepthwiseConv2D(3, padding="same", bias_initializer=bias_init())(y)
    y = L.ReLU()(y)
    y = L.AveragePooling2D(2)(y)
    y = L.Flatten()(y)
    y = dense(10)(y)
    y = L.Softmax()(y)
    return keras.Model(x, y)


def _concat_act(act):
    x = inp((16,))
    a = dense(8)(x)
    b = dense(8)(x)
    c = L.Concatenate()([a, b])
    return keras.Model(x, act(c))


@case(
    "relu6_requant",
    """Two Dense branches -> Concatenate -> standalone ReLU(6.0): a RELU6 op that is not
    fused, whose input and output quantization differ (input covers the concat range,
    output [0, 6]).""",
    rep_range=(-8.0, 8.0),
)
def relu6_requant():
    return _concat_act(L.ReLU(6.0))


@case(
    "relu_standalone",
    """Two Dense branches -> Concatenate -> standalone ReLU: an unfused RELU with
    different input and output quantization.""",
    rep_range=(-8.0, 8.0),
)
def relu_standalone():
    return _concat_act(L.ReLU())


@case(
    "relu_n1_to_1",
    """Two Dense branches -> Concatenate -> tf.clip_by_value(x, -1, 1), which the converter
    turns into RELU_N1_TO_1.""",
    rep_range=(-4.0, 4.0),
)
def relu_n1_to_1():
    return _concat_act(fn(lambda t: tf.clip_by_value(t, -1.0, 1.0)))


@case(
    "relu_0_to_1",
    """Two Dense branches -> Concatenate -> tf.clip_by_value(x, 0, 1), which the converter
    turns into MINIMUM (with a constant 1) + RELU, not RELU_0_TO_1.""",
    rep_range=(-4.0, 4.0),
)
def relu_0_to_1():
    return _concat_act(fn(lambda t: tf.clip_by_value(t, 0.0, 1.0)))


def _conv_relu_input():
    x = inp((6, 6, 3))
    y = conv2d(4, 3, activation="relu")(x)
    return x, y


@case(
    "add_const_broadcast",
    """Conv2D(relu) output plus a constant of shape [C] (broadcast over batch and
    spatial axes) and, separately, plus a constant of shape [H, 1, C] (broadcast over
    W): ADD with a constant int8 operand and broadcasting.""",
)
def add_const_broadcast():
    x, y = _conv_relu_input()
    c1, c2 = const((4,)), const((6, 1, 4))
    return keras.Model(x, [fn(lambda t: t + c1)(y), fn(lambda t: t + c2)(y)])


@case(
    "mul_const_broadcast",
    """Conv2D(relu) output times a constant of shape [C] and, separately, times a
    constant of shape [H, 1, C]: MUL with a constant operand and broadcasting.""",
)
def mul_const_broadcast():
    x, y = _conv_relu_input()
    c1, c2 = const((4,), 0.2, 2.0), const((6, 1, 4), -2.0, 2.0)
    return keras.Model(x, [fn(lambda t: t * c1)(y), fn(lambda t: t * c2)(y)])


@case(
    "sub_const",
    """Conv2D(relu) output minus a constant of shape [C], and a constant of shape
    [H, 1, C] minus the activation (constant as first operand): SUB with broadcasting.""",
)
def sub_const():
    x, y = _conv_relu_input()
    c1, c2 = const((4,)), const((6, 1, 4))
    return keras.Model(x, [fn(lambda t: t - c1)(y), fn(lambda t: c2 - t)(y)])


@case(
    "maximum_minimum",
    """tf.maximum of a conv output with a [C] constant, with a scalar constant, and
    tf.minimum of two conv outputs (MAXIMUM/MINIMUM need equal input/output scales, so
    the converter may insert requantizing ops).""",
)
def maximum_minimum():
    x = inp((6, 6, 3))
    a = conv2d(4, 3)(x)
    b = conv2d(4, 3)(x)
    c = const((4,))
    return keras.Model(
        x,
        [
            fn(lambda t: tf.maximum(t, c))(a),
            fn(lambda t: tf.maximum(t, 0.25))(a),
            fn(lambda ts: tf.minimum(ts[0], ts[1]))([a, b]),
        ],
    )


@case(
    "squared_difference",
    """tf.math.squared_difference of two Dense outputs (SQUARED_DIFFERENCE), and of a
    conv output against a [1,1,1,C] activation (broadcast).""",
)
def squared_difference():
    x = inp((4, 4, 3))
    a = conv2d(4, 3)(x)
    b = conv2d(4, 3)(x)
    g = L.GlobalAveragePooling2D(keepdims=True)(b)
    f = L.Flatten()(x)
    d1 = dense(8)(f)
    d2 = dense(8)(f)
    sd = fn(lambda ts: tf.math.squared_difference(ts[0], ts[1]))
    return keras.Model(x, [sd([d1, d2]), sd([a, g])])


@case(
    "conv1d_mean",
    """Conv1D(relu) -> Conv1D -> GlobalAveragePooling1D -> Dense on a [1, T, C] input: the
    converter emits RESHAPE to [1, 1, T, C], CONV_2D with 1 x k kernels, RESHAPE back to
    rank 3, and MEAN over axis 1 of the rank-3 tensor.""",
)
def conv1d_mean():
    x = inp((32, 4))
    y = L.Conv1D(8, 3, activation="relu", bias_initializer=bias_init())(x)
    y = L.Conv1D(8, 3, padding="same", bias_initializer=bias_init())(y)
    y = L.GlobalAveragePooling1D()(y)
    y = dense(3)(y)
    return keras.Model(x, y)


@case(
    "conv1d_pool",
    """Conv1D -> MaxPooling1D -> Conv1D -> AveragePooling1D -> Flatten -> Dense: 1-D
    pooling as the converter emits it (one RESHAPE to [1, 1, T, C], then CONV_2D,
    MAX_POOL_2D and AVERAGE_POOL_2D with 1 x k windows on that layout).""",
)
def conv1d_pool():
    x = inp((32, 4))
    y = L.Conv1D(8, 3, padding="same", activation="relu", bias_initializer=bias_init())(x)
    y = L.MaxPooling1D(2)(y)
    y = L.Conv1D(8, 3, activation="relu", bias_initializer=bias_init())(y)
    y = L.AveragePooling1D(2)(y)
    y = L.Flatten()(y)
    y = dense(4)(y)
    return keras.Model(x, y)


@case(
    "reduce_sum_max",
    """tf.reduce_sum and tf.reduce_max over various axes with keepdims True and False, on
    a rank-4 conv output and on a rank-3 reshape of it (SUM, REDUCE_MAX).""",
)
def reduce_sum_max():
    x = inp((4, 5, 6))
    y = conv2d(6, 1)(x)
    r3 = L.Reshape((20, 6))(y)
    return keras.Model(
        x,
        [
            fn(lambda t: tf.reduce_sum(t, axis=[1, 2], keepdims=True))(y),
            fn(lambda t: tf.reduce_sum(t, axis=-1, keepdims=False))(y),
            fn(lambda t: tf.reduce_max(t, axis=3, keepdims=False))(y),
            fn(lambda t: tf.reduce_max(t, axis=[1, 2], keepdims=True))(y),
            fn(lambda t: tf.reduce_sum(t, axis=1, keepdims=False))(r3),
            fn(lambda t: tf.reduce_max(t, axis=[1, 2], keepdims=True))(r3),
            fn(lambda t: tf.reduce_max(t, axis=1, keepdims=False))(r3),
        ],
    )


@case(
    "reduce_mean_axes",
    """tf.reduce_mean over axes other than the spatial pair: last axis (keepdims False),
    axis 1 of rank 4 (keepdims True), all non-batch axes of a rank-3 tensor (MEAN).""",
)
def reduce_mean_axes():
    x = inp((4, 5, 6))
    y = conv2d(6, 1)(x)
    r3 = L.Reshape((20, 6))(y)
    return keras.Model(
        x,
        [
            fn(lambda t: tf.reduce_mean(t, axis=-1))(y),
            fn(lambda t: tf.reduce_mean(t, axis=1, keepdims=True))(y),
            fn(lambda t: tf.reduce_mean(t, axis=[1, 2]))(r3),
        ],
    )


@case(
    "reduce_min",
    """tf.reduce_min over the last axis of a rank-3 Dense output and over axes [1, 2] with
    keepdims (REDUCE_MIN).""",
)
def reduce_min():
    x = inp((4, 6))
    y = dense(6)(x)
    return keras.Model(
        x,
        [
            fn(lambda t: tf.reduce_min(t, axis=-1))(y),
            fn(lambda t: tf.reduce_min(t, axis=[1, 2], keepdims=True))(y),
        ],
    )


@case("reduce_prod", """tf.reduce_prod over the last axis of a Dense output (REDUCE_PROD).""")
def reduce_prod():
    x = inp((4, 6))
    y = dense(6)(x)
    return keras.Model(x, fn(lambda t: tf.reduce_prod(t, axis=-1))(y))


@case(
    "nchw_transpose",
    """NCHW input [1, C, H, W] -> tf.transpose to NHWC -> Conv2D(relu) -> tf.transpose back
    to NCHW, as PyTorch-exported models start and end (TRANSPOSE int8, rank 4).""",
)
def nchw_transpose():
    x = inp((3, 8, 8))
    y = fn(lambda t: tf.transpose(t, [0, 2, 3, 1]))(x)
    y = conv2d(4, 3, activation="relu")(y)
    y = fn(lambda t: tf.transpose(t, [0, 3, 1, 2]))(y)
    return keras.Model(x, y)


@case(
    "transpose_rank5",
    """tf.transpose of a rank-5 int8 tensor (perm [0, 3, 1, 4, 2]) followed by a Dense on
    the last axis, and a rank-3 transpose.""",
)
def transpose_rank5():
    x = inp((2, 3, 4, 5))
    y = fn(lambda t: tf.transpose(t, [0, 3, 1, 4, 2]))(x)
    y = dense(4)(y)
    z = L.Reshape((6, 20))(x)
    z = fn(lambda t: tf.transpose(t, [0, 2, 1]))(z)
    return keras.Model(x, [y, z])


@case(
    "strided_slice_masks",
    """Python slicing / tf.strided_slice on a conv output with begin/end masks, strides 2
    and 3, negative strides, an ellipsis and a shrink (integer index) axis (STRIDED_SLICE,
    all rank 4 -> rank 4 or 3).""",
)
def strided_slice_masks():
    x = inp((6, 8, 4))
    y = conv2d(4, 1)(x)
    return keras.Model(
        x,
        [
            fn(lambda t: t[:, 1:5, ::2, :])(y),
            fn(lambda t: t[:, ::-1, 2:-1, 1:3])(y),
            fn(lambda t: t[..., 2])(y),
            fn(lambda t: t[:, -2:, -1:0:-2, ::-1])(y),
            fn(
                lambda t: tf.strided_slice(
                    t, [0, 1, 0, 1], [1, 6, 7, 4], [1, 2, 3, 1], begin_mask=0b0100, end_mask=0b0001
                )
            )(y),
        ],
    )


@case(
    "strided_slice_new_axis",
    """Python slicing with tf.newaxis plus a shrink axis, t[:, tf.newaxis, 3, 1:7:3, :] on a
    rank-4 conv output: the converter emits RESHAPE to rank 5 and a rank-5 STRIDED_SLICE.""",
)
def strided_slice_new_axis():
    x = inp((6, 8, 4))
    y = conv2d(4, 1)(x)
    return keras.Model(x, fn(lambda t: t[:, tf.newaxis, 3, 1:7:3, :])(y))


@case(
    "slice_split",
    """tf.slice (SLICE), tf.split into equal parts (SPLIT), tf.split with uneven sizes
    (SPLIT_V), tf.squeeze of a slice and tf.expand_dims (both become RESHAPE), on a rank-3
    Dense output [1, 8, 6].""",
)
def slice_split():
    x = inp((8, 6))
    y = dense(6)(x)
    a = fn(lambda t: tf.slice(t, [0, 1, 2], [1, 4, 3]))(y)
    b = fn(lambda t: tf.split(t, 2, axis=2))(y)
    c = fn(lambda t: tf.split(t, [1, 3, 2], axis=-1))(y)
    d = fn(lambda t: tf.squeeze(tf.slice(t, [0, 0, 0], [1, 8, 1]), axis=2))(y)
    e = fn(lambda t: tf.expand_dims(t, 1))(y)
    return keras.Model(x, [a, b[0], b[1], c[0], c[1], c[2], d, e])


@case(
    "pack_unpack",
    """tf.stack of two Dense outputs on axis 1 and on the last axis (PACK), tf.unstack of
    an activation along axis 1 (UNPACK).""",
)
def pack_unpack():
    x = inp((4, 6))
    a = dense(6)(x)
    b = dense(6)(x)
    s1 = fn(lambda ts: tf.stack(ts, axis=1))([a, b])
    s2 = fn(lambda ts: tf.stack(ts, axis=-1))([a, b])
    u = fn(lambda t: tf.unstack(t, axis=1))(a)
    return keras.Model(x, [s1, s2] + list(u))


@case(
    "gather",
    """tf.gather with a constant index list on an activation: along the last axis (with a
    repeated index) and along axis 1 with a 2-D index tensor (GATHER).""",
)
def gather():
    x = inp((8, 6))
    y = dense(6)(x)
    return keras.Model(
        x,
        [
            fn(lambda t: tf.gather(t, [3, 0, 2, 2, 5], axis=-1))(y),
            fn(lambda t: tf.gather(t, [[1, 0], [7, 7]], axis=1))(y),
        ],
    )


@case(
    "gather_nd",
    """tf.gather_nd with a constant index tensor on an activation (GATHER_ND).""",
)
def gather_nd():
    x = inp((8, 6))
    y = dense(6)(x)
    idx = [[[0, 1], [0, 7], [0, 3]]]
    return keras.Model(x, fn(lambda t: tf.gather_nd(t, idx))(y))


@case(
    "depth_space",
    """tf.nn.depth_to_space(2) -> Conv2D(relu) -> tf.nn.space_to_depth(2)
    (DEPTH_TO_SPACE, SPACE_TO_DEPTH).""",
)
def depth_space():
    x = inp((4, 4, 8))
    d = fn(lambda t: tf.nn.depth_to_space(t, 2))(x)
    y = conv2d(4, 3, activation="relu")(d)
    s = fn(lambda t: tf.nn.space_to_depth(t, 2))(y)
    return keras.Model(x, [d, s])


@case(
    "dilated_conv",
    """Conv2D with dilation_rate=2, padding "same" and "valid", and a DepthwiseConv2D with
    dilation_rate=2 (the converter may emit SPACE_TO_BATCH_ND/BATCH_TO_SPACE_ND or a
    dilated CONV_2D: see ops).""",
)
def dilated_conv():
    x = inp((12, 12, 3))
    a = conv2d(4, 3, dilation_rate=2, padding="same")(x)
    b = conv2d(4, 3, dilation_rate=2, padding="valid")(x)
    c = L.DepthwiseConv2D(3, dilation_rate=2, padding="same", bias_initializer=bias_init())(x)
    return keras.Model(x, [a, b, c])


@case(
    "batch_space",
    """tf.space_to_batch_nd (block [2, 2], paddings [[1, 1], [2, 0]]) -> Conv2D 1x1 ->
    tf.batch_to_space (same crops), with the SPACE_TO_BATCH_ND result also an output
    (SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND with batch 4 in between).""",
)
def batch_space():
    x = inp((8, 8, 3))
    s = fn(lambda t: tf.space_to_batch_nd(t, [2, 2], [[1, 1], [2, 0]]))(x)
    y = conv2d(4, 1)(s)
    b = fn(lambda t: tf.batch_to_space(t, [2, 2], [[1, 1], [2, 0]]))(y)
    return keras.Model(x, [s, b])


@case(
    "prelu",
    """keras.layers.PReLU after Conv2D (alpha shared over H, W: shape [1, 1, C]) and after
    Dense (alpha per unit), alphas random in [-0.3, 0.6] (PRELU).""",
)
def prelu():
    x = inp((6, 6, 3))
    alpha = keras.initializers.RandomUniform(-0.3, 0.6)
    y = conv2d(4, 3)(x)
    y = L.PReLU(alpha_initializer=alpha, shared_axes=[1, 2])(y)
    y = L.Flatten()(y)
    y = dense(8)(y)
    y = L.PReLU(alpha_initializer=alpha)(y)
    return keras.Model(x, y)


@case(
    "batch_matmul",
    """tf.matmul of two activations [3, 4, 5] x [3, 4, 5]^T (adj_y), of an explicitly
    transposed activation [3, 5, 4] x [3, 4, 5] (the converter folds the transpose into
    adj_x), and of an activation by a constant [5, 3] (becomes a bias-less
    FULLY_CONNECTED on a rank-3 input, keep_num_dims). The model input has batch 3, so the
    Dense layers are rank-3 FULLY_CONNECTED too.""",
)
def batch_matmul():
    x = inp((4, 6), batch=3)
    a = dense(5)(x)
    b = dense(5)(x)
    w = const((5, 3))
    return keras.Model(
        x,
        [
            fn(lambda ts: tf.matmul(ts[0], ts[1], transpose_b=True))([a, b]),
            fn(lambda ts: tf.matmul(tf.transpose(ts[0], [0, 2, 1]), ts[1]))([a, b]),
            fn(lambda t: tf.matmul(t, w))(a),
        ],
    )


@case(
    "argmax_argmin",
    """tf.argmax / tf.argmin (output_type=tf.int32) over the last axis of a rank-2 and a
    rank-3 Dense output (ARG_MAX, ARG_MIN, int32 outputs).""",
)
def argmax_argmin():
    x = inp((3, 8))
    y = dense(10)(x)
    f = L.Flatten()(y)
    return keras.Model(
        x,
        [
            fn(lambda t: tf.argmax(t, axis=-1, output_type=tf.int32))(f),
            fn(lambda t: tf.argmin(t, axis=-1, output_type=tf.int32))(f),
            fn(lambda t: tf.argmax(t, axis=-1, output_type=tf.int32))(y),
        ],
    )


@case(
    "argmax_int64",
    """Default tf.argmax (int64 output) over the last axis of a Dense output (ARG_MAX with
    an int64 output tensor).""",
)
def argmax_int64():
    x = inp((16,))
    y = dense(10)(x)
    return keras.Model(x, fn(lambda t: tf.argmax(t, axis=-1))(y))


@case(
    "log_softmax",
    """tf.nn.log_softmax over the last axis of a rank-2 and a rank-3 Dense output
    (LOG_SOFTMAX, fixed output scale 16/256, zero point 127).""",
)
def log_softmax():
    x = inp((3, 8))
    y = dense(10)(x)
    f = L.Flatten()(y)
    z = dense(10)(f)
    return keras.Model(x, [fn(tf.nn.log_softmax)(z), fn(tf.nn.log_softmax)(y)])


@case(
    "l2_norm",
    """tf.math.l2_normalize over the last axis of a Dense output and of a conv output
    (L2_NORMALIZATION, fixed output scale 1/128, zero point 0).""",
)
def l2_norm():
    x = inp((4, 4, 3))
    c = conv2d(6, 3)(x)
    d = dense(12)(L.Flatten()(x))
    l2 = fn(lambda t: tf.math.l2_normalize(t, axis=-1))
    return keras.Model(x, [l2(d), l2(c)])


@case(
    "elementwise_unary",
    """Unary int8 ops on Dense outputs: tf.abs (ABS), tf.math.rsqrt of relu(x) + 0.5
    (ADD, RSQRT), tf.tanh (TANH, fixed output scale 1/128), tf.sigmoid (LOGISTIC, fixed
    output scale 1/256), hard swish x * relu6(x + 3) / 6 (HARD_SWISH), tf.nn.leaky_relu
    (LEAKY_RELU).""",
)
def elementwise_unary():
    x = inp((16,))
    y = dense(16)(x)
    p = dense(16, activation="relu")(x)
    return keras.Model(
        x,
        [
            fn(tf.abs)(y),
            fn(lambda t: tf.math.rsqrt(t + 0.5))(p),
            fn(tf.tanh)(y),
            fn(tf.sigmoid)(y),
            fn(lambda t: t * tf.nn.relu6(t + 3.0) / 6.0)(y),
            fn(lambda t: tf.nn.leaky_relu(t, alpha=0.2))(y),
        ],
    )


def _unary(f, positive=False):
    def build():
        x = inp((16,))
        y = dense(16, activation="relu" if positive else None)(x)
        if positive:
            y = fn(lambda t: t + 0.5)(y)
        return keras.Model(x, fn(f)(y))

    return build


for _name, _desc, _f, _pos in [
    ("unary_neg", "tf.math.negative (NEG)", tf.math.negative, False),
    ("unary_elu", "tf.nn.elu (ELU)", tf.nn.elu, False),
    ("unary_exp", "tf.exp (EXP)", tf.exp, False),
    ("unary_log", "tf.math.log of relu(x) + 0.5 (LOG)", tf.math.log, True),
    ("unary_sqrt", "tf.sqrt of relu(x) + 0.5 (SQRT)", tf.sqrt, True),
    ("unary_square", "tf.square (SQUARE or MUL)", tf.square, False),
    ("unary_sin", "tf.sin (SIN)", tf.sin, False),
    ("unary_cos", "tf.cos (COS)", tf.cos, False),
    ("unary_floor", "tf.floor (FLOOR)", tf.floor, False),
    ("unary_round", "tf.round (ROUND)", tf.round, False),
    ("unary_gelu", "tf.nn.gelu approximate=False (GELU)", tf.nn.gelu, False),
]:
    case(_name, f"Dense -> {_desc}: one unary op the converter may keep in int8.")(
        _unary(_f, _pos)
    )


@case(
    "transpose_conv",
    """Conv2DTranspose with stride 2, padding "same" (and one with padding "valid"),
    per-channel weights, bias (TRANSPOSE_CONV).""",
)
def transpose_conv():
    x = inp((4, 4, 3))
    a = L.Conv2DTranspose(4, 3, strides=2, padding="same", bias_initializer=bias_init())(x)
    b = L.Conv2DTranspose(2, 3, strides=2, padding="valid", bias_initializer=bias_init())(x)
    return keras.Model(x, [a, b])


@case(
    "resize",
    """Image resizing of a conv output 4x4 -> 8x8 and 4x4 -> 7x5: tf.image.resize nearest
    and bilinear (half_pixel_centers=True), tf.compat.v1.image.resize_bilinear and
    resize_nearest_neighbor with align_corners False and True (half_pixel_centers False)
    (RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR).""",
)
def resize():
    x = inp((4, 4, 3))
    y = conv2d(3, 1)(x)
    v1 = tf.compat.v1.image
    return keras.Model(
        x,
        [
            fn(lambda t: tf.image.resize(t, [8, 8], method="nearest"))(y),
            fn(lambda t: tf.image.resize(t, [7, 5], method="nearest"))(y),
            fn(lambda t: tf.image.resize(t, [8, 8], method="bilinear"))(y),
            fn(lambda t: tf.image.resize(t, [7, 5], method="bilinear"))(y),
            fn(lambda t: v1.resize_bilinear(t, [8, 8], align_corners=False))(y),
            fn(lambda t: v1.resize_bilinear(t, [7, 5], align_corners=True))(y),
            fn(lambda t: v1.resize_nearest_neighbor(t, [7, 5], align_corners=False))(y),
            fn(lambda t: v1.resize_nearest_neighbor(t, [8, 8], align_corners=True))(y),
        ],
    )


@case(
    "pad",
    """keras ZeroPadding2D between two Conv2D (PAD), and tf.pad with constant_values=0.5
    on another conv output (PADV2, pad value quantized with the input's parameters).""",
)
def pad():
    x = inp((4, 4, 3))
    a = conv2d(4, 3)(x)
    a = L.ZeroPadding2D(((1, 2), (0, 1)))(a)
    a = conv2d(4, 3)(a)
    b = conv2d(4, 3)(x)
    b = fn(lambda t: tf.pad(t, [[0, 0], [1, 0], [2, 1], [0, 0]], constant_values=0.5))(b)
    return keras.Model(x, [a, b])


@case(
    "pad_shared_input",
    """keras ZeroPadding2D and tf.pad(constant_values=0.5) applied to the same conv output,
    both model outputs.""",
)
def pad_shared_input():
    x = inp((4, 4, 3))
    y = conv2d(4, 3)(x)
    return keras.Model(
        x,
        [
            L.ZeroPadding2D(((1, 2), (0, 1)))(y),
            fn(lambda t: tf.pad(t, [[0, 0], [1, 0], [2, 1], [0, 0]], constant_values=0.5))(y),
        ],
    )


@case(
    "multi_io",
    """Two inputs of different shapes ([1, 8] and [1, 4, 4, 2]) and two outputs (the sum of
    two Dense branches, and a Dense of their concatenation).""",
    rep_range=[(-1.0, 1.0), (-2.0, 2.0)],
)
def multi_io():
    a = inp((8,), name="vec")
    b = inp((4, 4, 2), name="img")
    da = dense(6)(a)
    cb = conv2d(4, 3, activation="relu")(b)
    db = dense(6)(L.Flatten()(cb))
    s = L.Add()([da, db])
    c = L.Concatenate()([da, db])
    o2 = dense(3)(c)
    return keras.Model([a, b], [s, o2])


def _io_model():
    x = inp((6, 6, 2))
    y = conv2d(4, 3, activation="relu")(x)
    y = L.GlobalAveragePooling2D()(y)
    y = dense(5)(y)
    return keras.Model(x, y)


@case(
    "io_uint8",
    """Conv2D(relu) -> GlobalAveragePooling2D -> Dense converted with
    inference_input_type=inference_output_type=tf.uint8: the converter adds QUANTIZE ops
    (uint8 -> int8 at the input, int8 -> uint8 at the output).""",
    io_type="uint8",
)
def io_uint8():
    return _io_model()


@case(
    "io_float32",
    """The io_uint8 model converted with float32 input and output (QUANTIZE at the input,
    DEQUANTIZE at the output). Inputs are float32, uniform in [-1, 1).""",
    io_type="float32",
)
def io_float32():
    return _io_model()


@case(
    "io_int16x8",
    """The io_uint8 model converted in 16x8 mode (OpsSet
    EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, int16 activations,
    int8 weights, int64 biases) with int16 input and output.""",
    io_type="int16",
)
def io_int16x8():
    return _io_model()


# ---------------------------------------------------------------------------
# Conversion, flatbuffer inspection, TFLM
# ---------------------------------------------------------------------------


def convert(model, c):
    seed = c["seed"]
    ranges = c["rep_range"]
    n_in = len(model.inputs)
    if not isinstance(ranges, list):
        ranges = [ranges] * n_in
    shapes = [tuple(t.shape) for t in model.inputs]
    rng = np.random.default_rng(seed + 1)
    rep = [
        [rng.uniform(lo, hi, size=s).astype(np.float32) for s, (lo, hi) in zip(shapes, ranges)]
        for _ in range(N_REP)
    ]

    def rep_data():
        for sample in rep:
            yield sample

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep_data
    io_type = c["io_type"]
    if io_type == "int16":
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        conv.inference_input_type = tf.int16
        conv.inference_output_type = tf.int16
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        t = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io_type]
        conv.inference_input_type = t
        conv.inference_output_type = t
    with contextlib.redirect_stdout(io.StringIO()), capture_fd2() as log:
        try:
            return bytes(conv.convert())
        except Exception as e:
            err = e
    # the converter's own error lines (C++ stderr) explain the refusal best
    lines = [ln.strip() for ln in (str(err) + "\n" + log["text"]).splitlines()]
    raise RuntimeError(" ".join(ln for ln in lines if "error:" in ln) or str(err).strip())


def op_name(model, opcode_index):
    oc = model.operatorCodes[opcode_index]
    code = tflm_runtime.get_builtin_code_from_operator_code(oc)
    if code == schema.BuiltinOperator.CUSTOM:
        return "CUSTOM:" + oc.customCode.decode()
    return BUILTIN_NAMES.get(code, str(code))


def tensor_info(t):
    q = t.quantization
    scale = zp = None
    if q is not None and q.scale is not None and len(q.scale) > 0:
        scale = [float(s) for s in q.scale]
        zp = [int(z) for z in q.zeroPoint]
        if len(scale) == 1:
            scale, zp = scale[0], zp[0]
    return dict(
        name=t.name.decode(),
        dtype=TENSOR_TYPE_NAMES[t.type],
        shape=[int(d) for d in t.shape],
        scale=scale,
        zero_point=zp,
    )


def inspect(model_bytes):
    m = tflm_runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = m.subgraphs[0]
    ops = [op_name(m, op.opcodeIndex) for op in sg.operators]
    # dtypes of tensors produced by ops (activations), to spot float fallbacks
    act_types = set()
    for op in sg.operators:
        for o in op.outputs:
            act_types.add(TENSOR_TYPE_NAMES[sg.tensors[o].type])

    def is_float_activation(i):
        if i < 0:
            return False
        t = sg.tensors[i]
        buf = m.buffers[t.buffer]
        is_const = buf.data is not None and len(buf.data) > 0
        return t.type == schema.TensorType.FLOAT32 and not is_const

    # ops computing in float: everything touching a float activation, except a QUANTIZE
    # of a model input and a DEQUANTIZE into a model output (float model I/O).
    float_ops = []
    for op, name in zip(sg.operators, ops):
        if not any(is_float_activation(i) for i in list(op.inputs) + list(op.outputs)):
            continue
        if name == "QUANTIZE" and all(i in list(sg.inputs) for i in op.inputs):
            continue
        if name == "DEQUANTIZE" and all(o in list(sg.outputs) for o in op.outputs):
            continue
        float_ops.append(name)
    for op, name in zip(sg.operators, ops):
        q = sg.tensors[op.inputs[0]].quantization
        if name == "SPACE_TO_BATCH_ND" and q is not None and q.zeroPoint is not None:
            if any(int(z) != 0 for z in q.zeroPoint):
                print(
                    "WARNING: SPACE_TO_BATCH_ND input zero point is not 0: TFLM pads with raw 0"
                    " (see README), the golden is not the float semantics",
                    flush=True,
                )
    return dict(
        ops=ops,
        subgraphs=len(m.subgraphs),
        inputs=[tensor_info(sg.tensors[i]) for i in sg.inputs],
        outputs=[tensor_info(sg.tensors[i]) for i in sg.outputs],
        activation_dtypes=sorted(act_types),
        float_ops=float_ops,
    )


@contextlib.contextmanager
def capture_fd2():
    """Capture C-level stderr (TFLM's MicroPrintf error log) into a string."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        box = {"text": ""}
        try:
            yield box
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode(errors="replace")


def make_inputs(info, seed):
    rng = np.random.default_rng(seed + 2)
    out = []
    for t in info["inputs"]:
        shape = [N_SAMPLES] + t["shape"]
        dt = t["dtype"]
        if dt == "int8":
            a = rng.integers(-128, 128, size=shape, dtype=np.int8)
        elif dt == "uint8":
            a = rng.integers(0, 256, size=shape, dtype=np.uint8)
        elif dt == "int16":
            a = rng.integers(-32768, 32768, size=shape, dtype=np.int16)
        elif dt == "float32":
            a = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        else:
            raise ValueError(f"input dtype {dt}")
        out.append(a)
    return out


def run_tflm(model_bytes, inputs, n_out):
    """Returns (list of per-output arrays [N, ...], None) or (None, error text)."""
    outs = [[] for _ in range(n_out)]
    with capture_fd2() as log:
        try:
            interp = tflm_runtime.Interpreter.from_bytes(model_bytes, arena_size=ARENA_SIZE)
            for s in range(N_SAMPLES):
                for k, a in enumerate(inputs):
                    interp.set_input(a[s], k)
                interp.invoke()
                for k in range(n_out):
                    outs[k].append(np.array(interp.get_output(k), copy=True))
            err = None
        except Exception as e:  # TFLM refused the model
            err = f"{type(e).__name__}: {e}"
    if err is not None:
        extra = " | ".join(line.strip() for line in log["text"].splitlines() if line.strip())
        return None, (err + (" | log: " + extra if extra else ""))
    return [np.stack(o) for o in outs], None


ARENA_CHECK_WORKER = r"""
import json, sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
out_dir, arena_size, entries = json.load(sys.stdin)
DT = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
      "int64": np.int64, "float32": np.float32}
result = {}
for e in entries:
    n = e["samples"]
    with open(f"{out_dir}/{e['name']}.tflite", "rb") as f:
        interp = runtime.Interpreter.from_bytes(f.read(), arena_size=arena_size)
    ins = [np.fromfile(f"{out_dir}/{e['name']}.in{k}.bin", DT[t["dtype"]]).reshape([n] + t["shape"])
           for k, t in enumerate(e["inputs"])]
    gold = [np.fromfile(f"{out_dir}/{e['name']}.out{k}.tflm.bin", DT[t["dtype"]]).reshape([n] + t["shape"])
            for k, t in enumerate(e["outputs"])]
    differ = []
    for s in range(n):
        for k, a in enumerate(ins):
            interp.set_input(a[s], k)
        interp.invoke()
        for k, g in enumerate(gold):
            if k not in differ and not np.array_equal(interp.get_output(k), g[s]):
                differ.append(k)
    result[e["name"]] = sorted(differ)
json.dump(result, sys.stdout)
"""


def check_arena(out_dir, entries):
    """Re-run TFLM on the written files in a fresh process whose malloc'd memory is filled
    with 0xA5; return {name: [indices of outputs that differ from the goldens]}."""
    import subprocess

    env = dict(os.environ)
    env.update(DIRTY_ARENA_ENV)
    job = json.dumps([out_dir, ARENA_SIZE, [e for e in entries if e["tflm"] == "ok"]])
    res = subprocess.run(
        [sys.executable, "-c", ARENA_CHECK_WORKER],
        input=job,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(res.stdout)


def run_tflite_ref(model_bytes, inputs):
    """TensorFlow Lite (LiteRT) with its reference kernels, for comparison only."""
    try:
        it = tf.lite.Interpreter(
            model_content=model_bytes,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
        )
        it.allocate_tensors()
        ind, outd = it.get_input_details(), it.get_output_details()
        outs = [[] for _ in outd]
        for s in range(N_SAMPLES):
            for k, d in enumerate(ind):
                it.set_tensor(d["index"], inputs[k][s])
            it.invoke()
            for k, d in enumerate(outd):
                outs[k].append(it.get_tensor(d["index"]).copy())
        return [np.stack(o) for o in outs], None
    except Exception as e:
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def float_model_error(model, info, inputs, outputs):
    """Per output: 99th percentile and max of |dequantized TFLM output - clipped Keras float
    output| in output LSBs (float outputs: absolute; unquantized integer outputs such as
    ARG_MAX indices: the number of elements that differ). The float model runs on the dequantized test inputs. A sanity check of the
    goldens (quantization error is normally a few LSB), not part of them."""
    keras_names = [t.name for t in model.inputs]
    order = []
    for t in info["inputs"]:
        n = t["name"].removeprefix("serving_default_").split(":")[0]
        order.append(keras_names.index(n) if n in keras_names else None)
    if None in order:
        if len(order) != 1:
            return None
        order = [0]
    xs = [None] * len(order)
    for k, (t, a) in enumerate(zip(info["inputs"], inputs)):
        f = a.astype(np.float64)
        if t["scale"] is not None:
            f = (f - t["zero_point"]) * t["scale"]
        xs[order[k]] = f.astype(np.float32)
    ref = [[] for _ in model.outputs]
    for s in range(N_SAMPLES):
        y = model([x[s] for x in xs] if len(xs) > 1 else xs[0][s], training=False)
        y = y if isinstance(y, (list, tuple)) else [y]
        for k, v in enumerate(y):
            ref[k].append(np.asarray(v))
    ref = [np.stack(r) for r in ref]
    errs = []
    for t, o in zip(info["outputs"], outputs):
        try:
            k = int(t["name"].rsplit(":", 1)[1]) if len(ref) > 1 else 0
        except ValueError:
            return None
        r = ref[k].reshape(o.shape)
        if t["scale"] is not None:
            # clip the float reference to the output's representable range: saturation on
            # inputs beyond the calibrated range is expected, not an error
            info_ = np.iinfo(o.dtype)
            lo = (info_.min - t["zero_point"]) * t["scale"]
            hi = (info_.max - t["zero_point"]) * t["scale"]
            r = np.clip(r, lo, hi)
            d = np.abs((o.astype(np.float64) - t["zero_point"]) * t["scale"] - r) / t["scale"]
            errs.append(dict(p99=round(float(np.percentile(d, 99)), 2), max=round(float(d.max()), 2)))
        elif o.dtype.kind == "f":
            d = np.abs(o - r)
            errs.append(dict(p99_abs=round(float(np.percentile(d, 99)), 5), max_abs=round(float(d.max()), 5)))
        else:
            errs.append(dict(mismatches=int(np.count_nonzero(o != r)), of=int(o.size)))
    return errs


def remove_files(out_dir, name):
    for f in os.listdir(out_dir):
        if f == name + ".tflite" or (f.startswith(name + ".") and f.endswith(".bin")):
            os.remove(os.path.join(out_dir, f))


def generate_case(c, out_dir):
    name = c["name"]
    c["seed"] = zlib.crc32(name.encode()) & 0x7FFFFFFF
    keras.backend.clear_session()
    keras.utils.set_random_seed(c["seed"])
    CONST_RNG[0] = np.random.default_rng(c["seed"])
    remove_files(out_dir, name)
    model = c["build"]()
    try:
        model_bytes = convert(model, c)
    except Exception as e:
        reason = "converter error: " + " ".join(str(e).split())[:600]
        return None, dict(name=name, description=c["description"], reason=reason)
    info = inspect(model_bytes)
    if info["float_ops"]:
        reason = (
            "the converter kept these ops in float32 (DEQUANTIZE ... QUANTIZE around them): "
            + ", ".join(sorted(set(info["float_ops"]) - {"QUANTIZE", "DEQUANTIZE"}))
            + f"; emitted ops: {fmt_ops(info['ops'])}"
        )
        return None, dict(name=name, description=c["description"], reason=reason)
    inputs = make_inputs(info, c["seed"])
    outputs, err = run_tflm(model_bytes, inputs, len(info["outputs"]))

    with open(os.path.join(out_dir, name + ".tflite"), "wb") as f:
        f.write(model_bytes)
    files = [name + ".tflite"]
    for k, a in enumerate(inputs):
        fn_ = f"{name}.in{k}.bin"
        with open(os.path.join(out_dir, fn_), "wb") as f:
            f.write(np.ascontiguousarray(a).tobytes())
        files.append(fn_)
    entry = dict(
        name=name,
        description=c["description"],
        seed=c["seed"],
        ops=info["ops"],
        inputs=info["inputs"],
        outputs=info["outputs"],
        samples=N_SAMPLES,
        tflm="ok" if err is None else err,
    )
    if err is None:
        for k, (a, t) in enumerate(zip(outputs, info["outputs"])):
            want = NP_DTYPES[t["dtype"]]
            assert a.dtype == want, (name, k, a.dtype, want)
            assert list(a.shape[1:]) == t["shape"], (name, k, a.shape, t["shape"])
            fn_ = f"{name}.out{k}.tflm.bin"
            with open(os.path.join(out_dir, fn_), "wb") as f:
                f.write(np.ascontiguousarray(a).tobytes())
            files.append(fn_)
    ref, ref_err = run_tflite_ref(model_bytes, inputs)
    if ref_err is not None:
        entry["tflite_ref"] = ref_err
    elif err is None:
        diffs = [
            int(np.max(np.abs(r.astype(np.int64) - o.astype(np.int64)))) if r.size else 0
            for r, o in zip(ref, outputs)
        ]
        entry["tflite_ref"] = (
            "identical" if max(diffs) == 0 else f"differs, max |diff| per output {diffs}"
        )
    else:
        entry["tflite_ref"] = "runs (TFLM does not)"
    if err is None:
        entry["float_model_err_lsb"] = float_model_error(model, info, inputs, outputs)
    entry["activation_dtypes"] = info["activation_dtypes"]
    entry["files"] = files
    return entry, None


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------

README_HEAD = """\
# TFLM int8 operator corpus

Small int8 TFLite models, one per TFLite-converter pattern, with golden outputs from
TensorFlow Lite Micro (TFLM). Each model is built with Keras from fixed seeds, converted with
full-integer post-training quantization, and run in TFLM's reference kernels on seeded random
inputs. mote must reproduce the `*.tflm.bin` outputs byte for byte.

Everything here is generated by `generate.py` (same licence as the repository, MIT OR
Apache-2.0). Do not edit the files by hand: change the script and regenerate.

## Regenerating

```sh
python3 -m venv /tmp/v
/tmp/v/bin/pip install tensorflow-cpu=={tf} tflite-micro=={tflm}
/tmp/v/bin/python tests/data/tflm-corpus/generate.py           # all models
/tmp/v/bin/python tests/data/tflm-corpus/generate.py --only gather,resize
```

Versions used for the committed files: Python {py}, tensorflow-cpu {tf} (Keras {keras}),
numpy {np}, tflite-micro {tflm}, on x86-64 Linux. Generation takes about a minute
(single-threaded; the script limits TensorFlow to one thread).

Conversion: `tf.lite.TFLiteConverter.from_keras_model`, `optimizations=[Optimize.DEFAULT]`,
a representative dataset of {nrep} samples uniform in the case's float range (default
[-1, 1)), `supported_ops=[TFLITE_BUILTINS_INT8]`, `inference_input_type` and
`inference_output_type` int8 (except the `io_*` cases). Weights: Keras default initializers
(Glorot uniform), biases uniform in [-0.2, 0.2), constants uniform from the case's numpy
generator. Seeds: each case uses `seed = crc32(name)` (in the manifest) for
`keras.utils.set_random_seed(seed)` and the constants, `default_rng(seed + 1)` for the
representative data and `default_rng(seed + 2)` for the test inputs; Keras state is cleared
between cases, so each case is independent of the others.

Reproducibility: running the script twice on the same machine gives byte-identical `.tflite`
and `.bin` files (checked when the corpus was made; `--only` regenerates a case to the same
bytes). {nondet}

## Files

For each model `<name>`:

- `<name>.tflite`: the converted model.
- `<name>.in<k>.bin`: input `k` (TFLite input order), {n} samples back to back, raw bytes in
  the input tensor's dtype, C order, each sample with the full tensor shape (batch included).
  int8 inputs are uniform over -128..127 (`default_rng(seed + 2).integers(-128, 128)`, one
  call per input of shape `[{n}, *shape]`); uint8 over 0..255, int16 over the whole int16 range,
  float32 uniform in [-1, 1).
- `<name>.out<k>.tflm.bin`: output `k` (TFLite output order) from TFLM for the same samples,
  same layout. Missing when TFLM refused the model (see `tflm` in the manifest).

`.gitattributes` marks `*.bin` and `*.tflite` binary (some small `.bin` files look like text
to git, which could otherwise convert their line endings).

`manifest.json` is a list with one object per model:
`name`, `description`, `seed`, `ops` (builtin operator names in execution order, read from the
flatbuffer), `inputs` / `outputs` (per tensor: `name`, `dtype`, `shape`, `scale`,
`zero_point`; `null` scale for unquantized tensors such as int32 indices), `samples`,
`tflm` (`"ok"` or the error TFLM raised, with its log), `tflite_ref` (how TensorFlow Lite's
own reference kernels, `OpResolverType.BUILTIN_REF`, compare with TFLM on the same inputs;
informative only, the goldens are TFLM's), `float_model_err_lsb` (per output, the 99th
percentile and the max of |dequantized TFLM output - Keras float model output| in output LSBs,
the float output first clipped to the output's representable range; a sanity check of the
goldens, see Notes), `activation_dtypes` (dtypes of all op outputs), `files`, and
`tflm_arena_dependent_outputs` (indices of the outputs that change when TFLM's arena starts
filled with 0xA5 instead of zeros; see Notes).

Output order: `out<k>` follows the TFLite model's output list, which is often NOT the order of
the Keras model's outputs. The TFLite output tensor names (`StatefulPartitionedCall_1:<i>`)
carry the Keras output index `<i>`. Input order follows the TFLite input list too (for
`multi_io` the names are `serving_default_vec:0` and `serving_default_img:0`).

TFLM is run with a 1 MiB arena and one interpreter per model, invoked once per sample. The
script re-executes itself with `MALLOC_PERTURB_=255` (glibc), so that TFLM's arena is
zero-filled when the interpreter is created, like a static arena in `.bss` on a
microcontroller; this matters for SPACE_TO_BATCH_ND (see Notes). Any
model where the converter left an op in float32 (a DEQUANTIZE -> op -> QUANTIZE island,
which it does silently even with `TFLITE_BUILTINS_INT8` only) is not written (see "Not
produced"); the only float tensors in the corpus are the model I/O of `io_float32`.

## Models

| model | ops (execution order) | inputs -> outputs | TFLM |
|---|---|---|---|
"""


def fmt_ops(ops):
    out, i = [], 0
    while i < len(ops):
        j = i
        while j < len(ops) and ops[j] == ops[i]:
            j += 1
        out.append(ops[i] + (f" x{j - i}" if j - i > 1 else ""))
        i = j
    return ", ".join(out)


def fmt_tensors(ts):
    return ", ".join(f"{t['dtype']}{t['shape']}".replace(" ", "") for t in ts)


def write_readme(out_dir, manifest, dropped, nondet_note, notes):
    import platform

    try:
        from importlib.metadata import version

        tflm_v = version("tflite-micro")
    except Exception:
        tflm_v = "?"
    text = README_HEAD.format(
        tf=tf.__version__,
        keras=keras.__version__,
        np=np.__version__,
        tflm=tflm_v,
        py=platform.python_version(),
        nrep=N_REP,
        n=N_SAMPLES,
        nondet=nondet_note,
    )
    for e in manifest:
        status = "ok" if e["tflm"] == "ok" else "refused"
        if e.get("tflm_arena_dependent_outputs"):
            status += ", arena-dependent (see Notes)"
        text += (
            f"| `{e['name']}` | {fmt_ops(e['ops'])} | {fmt_tensors(e['inputs'])} -> "
            f"{fmt_tensors(e['outputs'])} | {status} |\n"
        )
    text += "\nModel descriptions:\n\n"
    for e in manifest:
        text += f"- `{e['name']}`: {e['description']}\n"
    refused = [e for e in manifest if e["tflm"] != "ok"]
    text += "\n## Converted, but TFLM refuses them\n\n"
    if refused:
        text += (
            "These models are kept (model and inputs, no `.tflm.bin`): a runtime that aims at\n"
            "TFLM parity may reject them as well. The error TFLM gave:\n\n"
        )
        for e in refused:
            text += f"- `{e['name']}` ({fmt_ops(e['ops'])}): `{e['tflm']}`\n"
    else:
        text += "None.\n"
    text += "\n## Not produced, and why\n\n"
    if dropped:
        text += (
            "The converter refused these patterns in int8, or converted them with a float op\n"
            "inside; no files are written for them:\n\n"
        )
        for d in dropped:
            text += f"- `{d['name']}` ({d['description']}) Reason: {d['reason']}\n"
    else:
        text += "None.\n"
    if notes:
        text += "\n## Notes\n\n" + notes.strip() + "\n"
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(text)


NONDET_NOTE = (
    "Keras and the converter showed no nondeterminism. The one nondeterminism found is in TFLM\n"
    "itself (SPACE_TO_BATCH_ND reads uninitialized arena memory, see Notes); the zero-filled\n"
    "arena pins it. Calibration runs float kernels, so another CPU or library build could\n"
    "change a scale in the last bit and with it some `.tflite` bytes; the goldens always match\n"
    "their own `.tflite`."
)

NOTES = """
Observations with the versions above (the manifest has the details):

- **TFLM's int8 SPACE_TO_BATCH_ND pads with uninitialized memory.** Its kernel allocates
  `SpaceToBatchParams` in the arena at Init and never sets `output_offset`, which the
  reference implementation uses as the padding value. With a zero-filled arena the padding
  is raw 0; otherwise it is whatever the arena held (with the Python wrapper, whatever the
  heap held: running the same `.tflite` after other models in one process gave padding 48).
  Affected: `batch_space` (output 1, the SPACE_TO_BATCH_ND result itself, 108 padded
  elements per sample) and `dilated_conv` (the two padding "same" outputs, which go through
  SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND: the elements within 2 pixels of the
  border). The goldens are
  those of a zero-filled arena. In both models the SPACE_TO_BATCH_ND input has zero point 0,
  so raw 0 is also the correct padding (the real zero); a model whose input zero point is not
  0 would get wrong padding from TFLM even with a clean arena. The manifest field
  `tflm_arena_dependent_outputs` lists the affected outputs (found by re-running TFLM in a
  process whose heap is filled with 0xA5).
- **TFLM's int8 RELU6 does not requantize.** In `relu6_requant` the RELU6 input is
  (s=0.124, zp=-11) and its output (s=6/255, zp=-128). TFLM clamps the raw int8 values
  to [input zero point, quantized 6 in the input's parameters] and copies them into the
  output tensor unchanged, ignoring the output quantization: the golden is up to ~117 output
  LSB away from the float model (see `float_model_err_lsb`), and TensorFlow Lite's reference
  kernel (which requantizes) differs by up to 117. The goldens follow TFLM. A standalone RELU
  (`relu_standalone`) does requantize in TFLM and matches TensorFlow Lite.
- TensorFlow Lite's reference kernels (`tflite_ref` in the manifest) differ from TFLM by 1 LSB
  in `transpose_rank5`, `slice_split`, `batch_matmul`, `multi_io` (all contain
  FULLY_CONNECTED, whose requantization TFLM rounds in two steps and TensorFlow Lite in one;
  see ../mlperf-tiny/README.md) and `io_int16x8`, and by up to 136 LSB on SUM
  (`reduce_sum_max`; TFLM's SUM is the one close to the float model). All other models are
  identical. TensorFlow Lite's BUILTIN_REF resolver has no DEPTH_TO_SPACE.
- Converter rewrites: Conv1D becomes RESHAPE -> CONV_2D (a [1, 1, T, C] tensor, kernel
  1 x k) -> RESHAPE, never EXPAND_DIMS/SQUEEZE; MaxPooling1D/AveragePooling1D become
  MAX_POOL_2D/AVERAGE_POOL_2D on [1, 1, T, C]; tf.squeeze and tf.expand_dims become RESHAPE;
  tf.clip_by_value(x, 0, 1) becomes MINIMUM + RELU (no RELU_0_TO_1), tf.clip_by_value(x, -1,
  1) becomes RELU_N1_TO_1; tf.matmul by a constant becomes a bias-less FULLY_CONNECTED with a
  rank-3 input; an explicit transpose before tf.matmul is folded into BATCH_MATMUL's adj_x.
- Dilated convolutions (`dilated_conv`): with padding "valid" the converter emits one
  CONV_2D with dilation 2; with padding "same" it emits SPACE_TO_BATCH_ND -> CONV_2D (or
  DEPTHWISE_CONV_2D) without bias -> BATCH_TO_SPACE_ND -> ADD of the bias as an int8
  constant, and the SPACE_TO_BATCH_ND is shared by the conv and the depthwise conv.
- MAXIMUM / MINIMUM need equal input and output parameters: the converter inserts int8 -> int8
  QUANTIZE (requantize) ops in front of MAXIMUM, and gives the two conv outputs feeding
  MINIMUM identical parameters. CONCATENATION inputs likewise share the output's parameters.
- The converter silently keeps NEG, ELU, SQUARE, SIN, COS, FLOOR and ROUND in float32
  (DEQUANTIZE -> op -> QUANTIZE) despite `supported_ops=[TFLITE_BUILTINS_INT8]`, and when PAD
  and PADV2 consume the same tensor it leaves the PAD in float32 and makes that model output
  float32 although `inference_output_type` is int8. Those cases are not in the corpus.
- TFLM refuses (model and inputs kept, no goldens): RELU_N1_TO_1, REDUCE_PROD and GELU (no
  kernel registered), EXP, LOG and SQRT in int8 (float32-only kernels; EXP fails at prepare,
  LOG and SQRT only at invoke), STRIDED_SLICE of rank 5 (the tf.newaxis case; prepare fails
  with "input dim should not exceed 4"; a rank-5 TRANSPOSE is fine), ARG_MAX with an int64
  output (fails at invoke: "Only int32_t are supported currently, got INT64").
- The float-model check: the test inputs cover the whole int8 range, so a few elements
  saturate an intermediate tensor whose range was calibrated on only {nrep} samples; the max
  error is then large while the 99th percentile stays at about 0.5-2.5 LSB (for example
  `add_const_broadcast`, `maximum_minimum`). Larger 99th percentiles: `relu6_requant` (117,
  the op itself ignores the output scale), `relu_0_to_1` (about 6: the RELU output scale is
  about 10x finer than its input's, so one input LSB is 10 output LSB), `conv1d_pool` (about 5,
  accumulated error of a 56-input Dense after two convs and pooling), and `io_int16x8` (about
  94, in int16 LSBs, i.e. well under one int8 LSB).
""".replace("{nrep}", str(N_REP))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated case names (manifest entries are merged)")
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)
    selected = CASES
    if args.only:
        names = args.only.split(",")
        unknown = set(names) - {c["name"] for c in CASES}
        if unknown:
            sys.exit(f"unknown case(s): {sorted(unknown)}")
        selected = [c for c in CASES if c["name"] in names]

    t0 = time.time()
    results, dropped = {}, []
    for c in selected:
        t1 = time.time()
        entry, drop = generate_case(c, out_dir)
        if drop:
            dropped.append(drop)
            print(f"{c['name']:24s} NOT PRODUCED: {drop['reason'][:150]}", flush=True)
        else:
            results[c["name"]] = entry
            print(
                f"{c['name']:24s} {time.time() - t1:5.1f}s tflm={entry['tflm'][:100]} "
                f"ref={entry['tflite_ref'][:40]} ops={fmt_ops(entry['ops'])}",
                flush=True,
            )
    secs = time.time() - t0

    man_path = os.path.join(out_dir, "manifest.json")
    if args.only and os.path.exists(man_path):
        with open(man_path) as f:
            old = {e["name"]: e for e in json.load(f)}
        dropped_names = {d["name"] for d in dropped}
        for k in list(old):
            if k in dropped_names:
                del old[k]
        old.update(results)
        results = old
    if sys.platform.startswith("linux") and results:
        dependent = check_arena(out_dir, list(results.values()))
        for name, outs in dependent.items():
            results[name]["tflm_arena_dependent_outputs"] = outs
            if outs:
                print(f"{name:24s} outputs {outs} depend on TFLM's arena contents", flush=True)
    order = [c["name"] for c in CASES]
    manifest = sorted(results.values(), key=lambda e: order.index(e["name"]))
    with open(man_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    if not args.only:
        write_readme(out_dir, manifest, dropped, NONDET_NOTE, NOTES)
    print(f"done in {secs:.1f}s: {len(manifest)} models, {len(dropped)} not produced")


if __name__ == "__main__":
    main()
