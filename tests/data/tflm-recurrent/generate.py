#!/usr/bin/env python3
"""Generate the mote TFLM recurrent / stateful / 16x8 corpus.

Three families of small, seeded models, each run in TensorFlow Lite Micro (the
`tflite_micro` Python wheel, reference kernels) on seeded random inputs:

- int8 Keras LSTMs that the converter fuses into UNIDIRECTIONAL_SEQUENCE_LSTM (built with
  tf_keras, Keras 2: Keras 3's LSTM is not fused, see README), full-integer post-training
  quantized;
- int8 SVDF models built directly as TFLite flatbuffers (Keras has no SVDF layer), quantized
  here the way the TFLite quantizer does it, run as sequences of invocations so that the
  variable activation state carries;
- 16x8 models (int16 activations, int8 weights, int64 biases) converted with
  EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, and, for what that converter
  refuses, 16x8 flatbuffers built here: UNIDIRECTIONAL_SEQUENCE_LSTM (run as sequences with
  its state carried), PRELU, DEPTH_TO_SPACE, SPACE_TO_DEPTH, ARG_MAX.

Writes the models, inputs, TFLM golden outputs, manifest.json and README.md into the
directory of this script (see ../tflm-corpus/generate.py, whose conventions this follows).

Usage:  python generate.py [--only NAME[,NAME...]] [--out DIR]

Everything is deterministic: each case gets its own seed (crc32 of its name), and Keras
state is cleared before every case, so a case's files do not depend on the other cases.
"""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
import zlib

# Same arena convention as ../tflm-corpus: glibc's MALLOC_PERTURB_=255 makes malloc'd memory
# (TFLM's arena in the Python wrapper) start zero-filled, like a static arena in .bss.
# check_arena() re-runs TFLM with a 0xA5-filled arena to find outputs that depend on it.
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

import faulthandler  # noqa: E402

faulthandler.enable()  # the converter's calibrator segfaults on some models (see README)

import flatbuffers  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402  (Keras 3: the non-recurrent 16x8 models, as in ../tflm-corpus)
import tf_keras  # noqa: E402  (Keras 2: its LSTM is what the converter fuses)
from tflite_micro.python.tflite_micro import runtime as tflm_runtime  # noqa: E402
from tflite_micro.tensorflow.lite.micro.python import (  # noqa: E402
    schema_py_generated as schema,
)
from tflite_micro.tensorflow.lite.micro.tools import (  # noqa: E402
    tflite_flatbuffer_align_wrapper,
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

N_SAMPLES = 8  # Keras models: 8 samples, one invocation each
SVDF_SAMPLES = 6  # SVDF models: 6 samples ...
SVDF_INVOCATIONS = 6  # ... of 6 invocations each
N_REP = 50
SVDF_REP_SEQUENCES = 32
SVDF_REP_STEPS = 16
ARENA_SIZE = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))

L = keras.layers
K2 = tf_keras.layers

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
RECURRENT_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "SVDF")


# ---------------------------------------------------------------------------
# Case registry
# ---------------------------------------------------------------------------

CASES = []


def case(
    name,
    description,
    frontend="keras",
    rep_range=(-1.0, 1.0),
    mode="int8",
    io_type=None,
    isolate=False,
    samples=None,
    invocations=None,
):
    """Register a model builder.

    frontend: "keras" (Keras 3), "tf_keras" (Keras 2) or "flatbuffer" (the builder returns
    the model bytes and a float reference itself).
    mode: "int8" (TFLITE_BUILTINS_INT8) or "16x8"
    (EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8).
    io_type: inference input/output type; default int8 in int8 mode, int16 in 16x8 mode.
    isolate: convert in a child process (the converter segfaults on some models).
    samples, invocations: samples x invocations per sample; default 8 x 1 (Keras models) or
    6 x 6 (flatbuffer models, the SVDF sequences).
    """

    def register(fn):
        CASES.append(
            dict(
                name=name,
                description=" ".join(description.split()),
                build=fn,
                frontend=frontend,
                rep_range=rep_range,
                mode=mode,
                io_type=io_type or ("int16" if mode == "16x8" else "int8"),
                isolate=isolate,
                samples=samples,
                invocations=invocations,
            )
        )
        return fn

    return register


def bias_init(k=keras):
    return k.initializers.RandomUniform(-0.2, 0.2)


def conv2d(filters, kernel, **kw):
    kw.setdefault("bias_initializer", bias_init())
    kw.setdefault("padding", "same")
    return L.Conv2D(filters, kernel, **kw)


def dense(units, **kw):
    kw.setdefault("bias_initializer", bias_init())
    return L.Dense(units, **kw)


def fn(f, name=None):
    return L.Lambda(f, name=name)


def inp(shape, batch=1, name=None):
    return keras.Input(shape=shape, batch_size=batch, name=name)


def inp2(shape, batch=1):
    return tf_keras.Input(shape=shape, batch_size=batch)


CONST_RNG = [None]


def const(shape, lo=-1.0, hi=1.0):
    return np.asarray(CONST_RNG[0].uniform(lo, hi, size=shape), dtype=np.float32)


# ---------------------------------------------------------------------------
# 1, 2: int8 LSTM (tf_keras, fused into UNIDIRECTIONAL_SEQUENCE_LSTM)
# ---------------------------------------------------------------------------


@case(
    "lstm_last",
    """tf_keras LSTM(8) over [1, 10 timesteps, 4 features], return_sequences=False, then
    Dense(3). The converter emits one UNIDIRECTIONAL_SEQUENCE_LSTM that returns the whole
    sequence, a STRIDED_SLICE taking the last timestep, and FULLY_CONNECTED.""",
    frontend="tf_keras",
)
def lstm_last():
    x = inp2((10, 4))
    y = K2.LSTM(8)(x)
    y = K2.Dense(3, bias_initializer=bias_init(tf_keras))(y)
    return tf_keras.Model(x, y)


@case(
    "lstm_stacked_seq",
    """Two stacked tf_keras LSTMs with return_sequences=True (8 then 6 units) over
    [1, 10, 4], then Dense(3) applied to every timestep (rank-3 FULLY_CONNECTED):
    two UNIDIRECTIONAL_SEQUENCE_LSTM ops, each with its own variable state tensors.""",
    frontend="tf_keras",
)
def lstm_stacked_seq():
    x = inp2((10, 4))
    y = K2.LSTM(8, return_sequences=True)(x)
    y = K2.LSTM(6, return_sequences=True)(y)
    y = K2.Dense(3, bias_initializer=bias_init(tf_keras))(y)
    return tf_keras.Model(x, y)


@case(
    "lstm_batch2",
    """The lstm_last model with batch 2: input [2, 10, 4], state tensors [2, 8].""",
    frontend="tf_keras",
)
def lstm_batch2():
    x = inp2((10, 4), batch=2)
    y = K2.LSTM(8)(x)
    y = K2.Dense(3, bias_initializer=bias_init(tf_keras))(y)
    return tf_keras.Model(x, y)


@case(
    "lstm_time_major",
    """tf_keras LSTM(8, time_major=True, return_sequences=True) over a time-major input
    [10 timesteps, 1 batch, 4 features], then Dense(3): UNIDIRECTIONAL_SEQUENCE_LSTM with
    time_major=true (output [10, 1, 8]).""",
    frontend="tf_keras",
)
def lstm_time_major():
    x = inp2((1, 4), batch=10)
    y = K2.LSTM(8, time_major=True, return_sequences=True)(x)
    y = K2.Dense(3, bias_initializer=bias_init(tf_keras))(y)
    return tf_keras.Model(x, y)


@case(
    "lstm_cell_clip",
    """tf_keras LSTM(8, return_sequences=True) over [1, 16, 4] with kernel uniform in
    [-0.5, 0.5], recurrent kernel uniform in [-0.3, 0.3] and all gate biases 6.0
    (unit_forget_bias=False), so that
    input, forget and output gates are near 1 and the cell state grows by about 1 per step,
    past 10: the converter sets cell_clip=10.0 on every fused LSTM (Keras has no clip), the
    float calibration therefore sees |cell| <= 10, and the int16 cell state gets scale 2^-11;
    TFLM's quantized cell clip (10 / 2^-11 = 20480) is then active. In the other models the
    cell state scale is 2^-15 and the clip has no effect.""",
    frontend="tf_keras",
)
def lstm_cell_clip():
    x = inp2((16, 4))
    y = K2.LSTM(
        8,
        return_sequences=True,
        kernel_initializer=tf_keras.initializers.RandomUniform(-0.5, 0.5),
        recurrent_initializer=tf_keras.initializers.RandomUniform(-0.3, 0.3),
        bias_initializer=tf_keras.initializers.Constant(6.0),
        unit_forget_bias=False,
    )(x)
    return tf_keras.Model(x, y)


@case(
    "lstm_stateful",
    """tf_keras LSTM(8, stateful=True) with batch 1 over [1, 10, 4], then Dense(3): the state
    lives in Keras variables, so the converter cannot fuse it (CALL_ONCE, VAR_HANDLE,
    READ_VARIABLE, WHILE, ASSIGN_VARIABLE in float).""",
    frontend="tf_keras",
    isolate=True,
)
def lstm_stateful():
    x = inp2((10, 4))
    y = K2.LSTM(8, stateful=True)(x)
    y = K2.Dense(3, bias_initializer=bias_init(tf_keras))(y)
    return tf_keras.Model(x, y)


@case(
    "lstm_keras3",
    """The lstm_last model built with Keras 3 (keras.layers.LSTM) instead of tf_keras: Keras 3
    does not mark its LSTM for fusion, so the converter emits a WHILE loop.""",
    isolate=True,
)
def lstm_keras3():
    x = inp((10, 4))
    y = L.LSTM(8)(x)
    y = dense(3)(y)
    return keras.Model(x, y)


@case(
    "gru",
    """tf_keras GRU(8) over [1, 10, 4], then Dense(3): TFLite has no fused GRU op, the
    converter emits a WHILE loop.""",
    frontend="tf_keras",
    isolate=True,
)
def gru():
    x = inp2((10, 4))
    y = K2.GRU(8)(x)
    y = K2.Dense(3, bias_initializer=bias_init(tf_keras))(y)
    return tf_keras.Model(x, y)


# ---------------------------------------------------------------------------
# 3: SVDF, built as a flatbuffer
# ---------------------------------------------------------------------------


class FlatModel:
    """A minimal TFLite model builder on the schema's object API."""

    def __init__(self):
        self.buffers = [schema.BufferT()]  # buffer 0: the empty sentinel
        self.tensors = []
        self.operators = []
        self.opcodes = []

    def tensor(self, name, dtype, shape, data=None, scale=None, zero_point=None, variable=False):
        t = schema.TensorT()
        t.name = name.encode()
        t.type = getattr(schema.TensorType, dtype.upper())
        t.shape = np.asarray(shape, dtype=np.int32)
        b = schema.BufferT()
        if data is not None:
            arr = np.ascontiguousarray(np.asarray(data, dtype=NP_DTYPES[dtype]))
            assert list(arr.shape) == list(shape), (name, arr.shape, shape)
            b.data = np.frombuffer(arr.tobytes(), dtype=np.uint8)
        self.buffers.append(b)
        t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = schema.QuantizationParametersT()
            q.scale = [float(scale)]
            q.zeroPoint = [int(zero_point or 0)]
            q.quantizedDimension = 0
            t.quantization = q
        t.isVariable = bool(variable)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code, version, inputs, outputs, options_type=None, options=None,
           intermediates=None):
        key = (code, version)
        if key not in self.opcodes:
            self.opcodes.append(key)
        o = schema.OperatorT()
        o.opcodeIndex = self.opcodes.index(key)
        o.inputs = np.asarray(inputs, dtype=np.int32)
        o.outputs = np.asarray(outputs, dtype=np.int32)
        if intermediates is not None:
            o.intermediates = np.asarray(intermediates, dtype=np.int32)
        if options is not None:
            o.builtinOptionsType = options_type
            o.builtinOptions = options
        self.operators.append(o)

    def finish(self, inputs, outputs, description):
        sg = schema.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = np.asarray(inputs, dtype=np.int32)
        sg.outputs = np.asarray(outputs, dtype=np.int32)
        sg.operators = self.operators
        sg.name = b"main"
        m = schema.ModelT()
        m.version = 3
        m.description = description.encode()
        m.buffers = self.buffers
        m.subgraphs = [sg]
        m.operatorCodes = []
        for code, version in self.opcodes:
            oc = schema.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = version
            m.operatorCodes.append(oc)
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        raw = bytes(b.Output())
        # Re-serialize with TFLM's own alignment tool (C++ flatbuffers, buffers 16-byte
        # aligned), as TFLM does for the models its Python tests generate.
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "in.tflite"), os.path.join(d, "out.tflite")
            with open(src, "wb") as f:
                f.write(raw)
            tflite_flatbuffer_align_wrapper.align_tflite_model(src, dst)
            with open(dst, "rb") as f:
                return f.read()


def quant_asym8(lo, hi):
    """TFLite's asymmetric int8 parameters for a float range (range widened to include 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return np.float32(scale), zp


def quant_sym(w, bits):
    qmax = (1 << (bits - 1)) - 1
    scale = np.float32(np.max(np.abs(w)) / qmax)
    q = np.clip(np.round(w / scale), -qmax, qmax)
    return q, scale


def svdf_float(x, wf, wt, bias, rank, relu):
    """Float SVDF over sequences. x [S, T, batch, input]; state starts at zero for each
    sample. Returns (outputs [S, T, batch, units], the feature-matmul values, i.e. the
    values written into the activation state)."""
    S, T, B, _ = x.shape
    F, M = wt.shape
    U = F // rank
    outs, feats = np.zeros((S, T, B, U)), []
    for s in range(S):
        state = np.zeros((B, F, M))
        for t in range(T):
            state = np.roll(state, -1, axis=2)
            state[:, :, -1] = x[s, t] @ wf.T
            feats.append(state[:, :, -1].copy())
            y = (state * wt[None]).sum(-1).reshape(B, U, rank).sum(-1)
            y = y + (bias if bias is not None else 0.0)
            outs[s, t] = np.maximum(y, 0.0) if relu else y
    return outs, np.stack(feats)


def svdf_layer_params(rng, input_size, units, rank, memory, wf_shift=0.0):
    F = units * rank
    a = np.sqrt(6.0 / (input_size + F))
    wf = rng.uniform(-a, a, size=(F, input_size)) + wf_shift * a
    wt = rng.uniform(-0.6, 0.6, size=(F, memory))
    bias = rng.uniform(-0.2, 0.2, size=(units,))
    return wf, wt, bias


def build_svdf(
    seed,
    description,
    batch,
    input_size,
    layers,
    dense_units=None,
    state_bits=16,
    relu_output_range=True,
    rep_lo=-1.0,
    wf_shift=0.0,
    state_symmetric=False,
):
    """layers: list of (units, rank, memory, relu). Builds input -> SVDF... [-> FULLY_CONNECTED
    -> SOFTMAX], quantized from a float calibration on seeded sequences.

    state_bits 16: int16 weights_time and activation state (zero point 0), as the TFLite
    quantizer does. 8: int8 weights_time and int8 activation state with an asymmetric zero
    point (TFLM also accepts this). relu_output_range False: the output range is calibrated
    on the pre-activation values even for RELU layers (to expose that the integer kernel
    ignores the activation)."""
    rng = np.random.default_rng(seed)
    params, n_in = [], input_size
    for units, rank, memory, relu in layers:
        params.append(svdf_layer_params(rng, n_in, units, rank, memory, wf_shift))
        n_in = units
    if dense_units:
        a = np.sqrt(6.0 / (n_in + dense_units))
        w_fc = rng.uniform(-a, a, size=(dense_units, n_in))
        b_fc = rng.uniform(-0.2, 0.2, size=(dense_units,))

    def forward(x, ranges=None):
        """x [S, T, batch, input] float. Returns the model output; fills ranges."""
        h = x
        for li, ((units, rank, memory, relu), (wf, wt, bias)) in enumerate(zip(layers, params)):
            if ranges is not None:
                ranges.setdefault(f"in{li}", []).append((h.min(), h.max()))
            pre, feats = svdf_float(h, wf, wt, bias, rank, relu=False)
            h = np.maximum(pre, 0.0) if relu else pre
            if ranges is not None:
                ranges.setdefault(f"state{li}", []).append((feats.min(), feats.max()))
                src = h if (relu and relu_output_range) else pre
                ranges.setdefault(f"out{li}", []).append((src.min(), src.max()))
        if dense_units:
            h = h @ w_fc.T + b_fc
            if ranges is not None:
                ranges.setdefault("fc", []).append((h.min(), h.max()))
            e = np.exp(h - h.max(-1, keepdims=True))
            h = e / e.sum(-1, keepdims=True)
        return h

    rep_rng = np.random.default_rng(seed + 1)
    rep = rep_rng.uniform(rep_lo, 1.0, size=(SVDF_REP_SEQUENCES, SVDF_REP_STEPS, batch, input_size))
    ranges = {}
    forward(rep, ranges)
    rng_of = {k: (min(a for a, _ in v), max(b for _, b in v)) for k, v in ranges.items()}

    fm = FlatModel()
    in_scale, in_zp = quant_asym8(*rng_of["in0"])
    x_t = fm.tensor("input", "int8", [batch, input_size], scale=in_scale, zero_point=in_zp)
    first_in = x_t
    cur, cur_scale = x_t, in_scale
    n_in = input_size
    for li, ((units, rank, memory, relu), (wf, wt, bias)) in enumerate(zip(layers, params)):
        F = units * rank
        wf_q, wf_s = quant_sym(wf, 8)
        if state_bits == 16:
            wt_q, wt_s = quant_sym(wt, 16)
            smax = max(abs(rng_of[f"state{li}"][0]), abs(rng_of[f"state{li}"][1]))
            st_s, st_zp, st_type, wt_type = np.float32(smax / 32767.0), 0, "int16", "int16"
        else:
            wt_q, wt_s = quant_sym(wt, 8)
            if state_symmetric:
                smax = max(abs(rng_of[f"state{li}"][0]), abs(rng_of[f"state{li}"][1]))
                st_s, st_zp = np.float32(smax / 127.0), 0
            else:
                st_s, st_zp = quant_asym8(*rng_of[f"state{li}"])
            st_type, wt_type = "int8", "int8"
        b_s = np.float32(st_s * wt_s)
        b_q = np.round(bias / b_s).astype(np.int64)
        assert np.abs(b_q).max() < 2**31
        if li + 1 < len(layers):
            out_s, out_zp = quant_asym8(*rng_of[f"in{li + 1}"])
        else:
            out_s, out_zp = quant_asym8(*rng_of[f"out{li}"])
        p = f"svdf{li}/"
        t_wf = fm.tensor(p + "weights_feature", "int8", [F, n_in], wf_q, wf_s, 0)
        t_wt = fm.tensor(p + "weights_time", wt_type, [F, memory], wt_q, wt_s, 0)
        t_b = fm.tensor(p + "bias", "int32", [units], b_q, b_s, 0)
        t_st = fm.tensor(
            p + "activation_state", st_type, [batch, memory * F], scale=st_s,
            zero_point=st_zp, variable=True,
        )
        t_out = fm.tensor(p + "output", "int8", [batch, units], scale=out_s, zero_point=out_zp)
        opt = schema.SVDFOptionsT()
        opt.rank = rank
        opt.fusedActivationFunction = (
            schema.ActivationFunctionType.RELU if relu else schema.ActivationFunctionType.NONE
        )
        opt.asymmetricQuantizeInputs = False
        fm.op(
            schema.BuiltinOperator.SVDF, 3, [cur, t_wf, t_wt, t_b, t_st], [t_out],
            schema.BuiltinOptions.SVDFOptions, opt,
        )
        cur, cur_scale, n_in = t_out, out_s, units
    if dense_units:
        w_q, w_s = quant_sym(w_fc, 8)
        b_s = np.float32(cur_scale * w_s)
        fc_s, fc_zp = quant_asym8(*rng_of["fc"])
        t_w = fm.tensor("fc/weights", "int8", [dense_units, n_in], w_q, w_s, 0)
        t_b = fm.tensor("fc/bias", "int32", [dense_units], np.round(b_fc / b_s), b_s, 0)
        t_fc = fm.tensor("fc/output", "int8", [batch, dense_units], scale=fc_s, zero_point=fc_zp)
        opt = schema.FullyConnectedOptionsT()
        fm.op(
            schema.BuiltinOperator.FULLY_CONNECTED, 4, [cur, t_w, t_b], [t_fc],
            schema.BuiltinOptions.FullyConnectedOptions, opt,
        )
        t_sm = fm.tensor("softmax", "int8", [batch, dense_units], scale=1.0 / 256, zero_point=-128)
        opt = schema.SoftmaxOptionsT()
        opt.beta = 1.0
        fm.op(
            schema.BuiltinOperator.SOFTMAX, 2, [t_fc], [t_sm],
            schema.BuiltinOptions.SoftmaxOptions, opt,
        )
        cur = t_sm
    model = fm.finish([first_in], [cur], "mote tflm-recurrent: " + description[:60])
    return dict(model=model, float_fn=lambda xs: [forward(xs[0])])


SVDF_CASES = [
    (
        "svdf_small",
        """One SVDF, batch 2, input_size 3, 4 units x rank 2 (8 filters), memory 4, no
        activation; int16 weights_time and activation state [2, 32].""",
        dict(batch=2, input_size=3, layers=[(4, 2, 4, False)]),
    ),
    (
        "svdf_kws_rank1",
        """Keyword-spotting-sized SVDF: batch 1, input_size 40, 64 units x rank 1 (64
        filters), memory 10, RELU (output zero point -128, so the int8 clamp is the ReLU);
        int16 weights_time [64, 10] and activation state [1, 640].""",
        dict(batch=1, input_size=40, layers=[(64, 1, 10, True)]),
    ),
    (
        "svdf_kws_rank2",
        """Keyword-spotting-sized SVDF: batch 1, input_size 32, 16 units x rank 2 (32 filters),
        memory 10, no activation; int16 weights_time [32, 10] and activation state
        [1, 320].""",
        dict(batch=1, input_size=32, layers=[(16, 2, 10, False)]),
    ),
    (
        "svdf_relu_ignored",
        """SVDF (batch 1, input_size 8, 8 units x rank 2, memory 5) with
        fused_activation_function RELU but an output quantization calibrated on the
        pre-activation range (zero point near 0): TFLM's integer SVDF ignores the fused
        activation, so negative outputs appear.""",
        dict(batch=1, input_size=8, layers=[(8, 2, 5, True)], relu_output_range=False),
    ),
    (
        "svdf_int8_state",
        """SVDF with int8 weights_time and an int8 activation state with an asymmetric zero
        point (TFLM accepts int8 or int16 for both): batch 2, input_size 12, 8 units x rank 2,
        memory 6, no activation. The representative inputs are uniform in [-0.25, 1) and
        weights_feature is shifted by +0.5 of its Glorot bound, so the input, the state and
        the output all get nonzero zero points.""",
        dict(
            batch=2,
            input_size=12,
            layers=[(8, 2, 6, False)],
            state_bits=8,
            rep_lo=-0.25,
            wf_shift=0.5,
        ),
    ),
    (
        "svdf_int8_state_zp0",
        """The svdf_int8_state model with the int8 activation state quantized symmetrically
        (zero point 0), where the order of clamp and zero-point addition in TFLM's int8 state
        update does not matter (see Notes).""",
        dict(
            batch=2,
            input_size=12,
            layers=[(8, 2, 6, False)],
            state_bits=8,
            rep_lo=-0.25,
            wf_shift=0.5,
            state_symmetric=True,
        ),
    ),
    (
        "svdf_kws_stack",
        """A small keyword-spotting network: input [1, 40] -> SVDF(32 units x rank 1,
        memory 10, RELU) -> SVDF(16 units x rank 2, memory 10, RELU) -> FULLY_CONNECTED(4) ->
        SOFTMAX, the way TFLM's SVDF-based keyword models are built.""",
        dict(
            batch=1,
            input_size=40,
            layers=[(32, 1, 10, True), (16, 2, 10, True)],
            dense_units=4,
        ),
    ),
]


def _svdf_builder(name, description, kw):
    def build():
        seed = zlib.crc32(name.encode()) & 0x7FFFFFFF
        return build_svdf(seed, " ".join(description.split()), **kw)

    return build


for _name, _desc, _kw in SVDF_CASES:
    case(_name, _desc + " Built directly as a flatbuffer.", frontend="flatbuffer")(
        _svdf_builder(_name, _desc, _kw)
    )


# ---------------------------------------------------------------------------
# 3b: 16x8 UNIDIRECTIONAL_SEQUENCE_LSTM, built as a flatbuffer (the converter refuses it)
# ---------------------------------------------------------------------------


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def lstm_float(x, W, R, b, cell_clip, stats=None):
    """Float LSTM (TFLite gate order i, f, c, o; no peephole, projection or layer norm) over
    independent sequences x [N, T, I], state zero at the start of each. W[g] [U, I],
    R[g] [U, U], b[g] [U]. Returns h [N, T, U]; records max |x|, |h| and |c| in stats."""
    N, T, _ = x.shape
    U = b[0].shape[0]
    h, c = np.zeros((N, U)), np.zeros((N, U))
    out = np.zeros((N, T, U))
    for t in range(T):
        pre = [x[:, t] @ W[g].T + h @ R[g].T + b[g] for g in range(4)]
        i, f, g_, o = sigmoid(pre[0]), sigmoid(pre[1]), np.tanh(pre[2]), sigmoid(pre[3])
        c = np.clip(f * c + i * g_, -cell_clip, cell_clip)
        h = o * np.tanh(c)
        out[:, t] = h
        if stats is not None:
            stats["c"] = max(stats.get("c", 0.0), float(np.abs(c).max()))
    if stats is not None:
        stats["x"] = max(stats.get("x", 0.0), float(np.abs(x).max()))
        stats["h"] = max(stats.get("h", 0.0), float(np.abs(out).max()))
    return out


def build_lstm16(seed, description, batch, steps, input_size, units, time_major, cell_clip=10.0):
    """One 16x8 UNIDIRECTIONAL_SEQUENCE_LSTM, quantized from a float calibration the way the
    converter quantizes the int8 LSTMs, with int16 activations: input, hidden state and output
    int16 symmetric (zero point 0), weights int8 symmetric per tensor, biases int64 with scale
    input_scale * weight_scale, cell state int16 with a power-of-two scale."""
    rng = np.random.default_rng(seed)
    a_w = np.sqrt(6.0 / (input_size + 4 * units))
    W = [rng.uniform(-a_w, a_w, size=(units, input_size)) for _ in range(4)]
    R = [rng.uniform(-0.5, 0.5, size=(units, units)) for _ in range(4)]
    b = [rng.uniform(-0.2, 0.2, size=(units,)) for _ in range(4)]
    b[1] = b[1] + 1.0  # forget gate, as Keras's unit_forget_bias
    shape = [steps, batch, input_size] if time_major else [batch, steps, input_size]

    def seqs(x):
        """[S, *shape] -> independent sequences [S * batch, T, I]."""
        x = np.asarray(x, dtype=np.float64).reshape([-1] + shape)
        if time_major:
            x = x.transpose(0, 2, 1, 3)
        return x.reshape(-1, steps, input_size)

    def unseqs(h, n):
        h = h.reshape(n, batch, steps, units)
        if time_major:
            h = h.transpose(0, 2, 1, 3)
        return h

    rep = np.random.default_rng(seed + 1).uniform(-1.0, 1.0, size=[N_REP] + shape)
    stats = {}
    lstm_float(seqs(rep), W, R, b, cell_clip, stats)
    in_s = np.float32(stats["x"] / 32767.0)
    h_s = np.float32(stats["h"] / 32767.0)
    cell_s = np.float32(2.0 ** np.ceil(np.log2(stats["c"])) / 32768.0)

    fm = FlatModel()
    x_t = fm.tensor("input", "int16", shape, scale=in_s, zero_point=0)
    ins = [x_t]
    w_scales = []
    for kind, mats in (("input_to", W), ("recurrent_to", R)):
        for gname, m in zip(("input", "forget", "cell", "output"), mats):
            q, s = quant_sym(m, 8)
            w_scales.append(s)
            ins.append(fm.tensor(f"lstm/{kind}_{gname}_weights", "int8", list(m.shape), q, s, 0))
    ins += [-1, -1, -1]  # no peephole
    for k, gname in enumerate(("input", "forget", "cell", "output")):
        bs = np.float32(in_s * w_scales[k])
        bq = np.round(b[k] / bs).astype(np.int64)
        ins.append(fm.tensor(f"lstm/{gname}_gate_bias", "int64", [units], bq, bs, 0))
    ins += [-1, -1]  # no projection
    h_t = fm.tensor("lstm/output_state", "int16", [batch, units], scale=h_s, zero_point=0,
                    variable=True)
    c_t = fm.tensor("lstm/cell_state", "int16", [batch, units], scale=cell_s, zero_point=0,
                    variable=True)
    ins += [h_t, c_t, -1, -1, -1, -1]  # no layer norm
    out_shape = [steps, batch, units] if time_major else [batch, steps, units]
    y_t = fm.tensor("lstm/output", "int16", out_shape, scale=h_s, zero_point=0)
    # The converter's intermediates (unused by TFLM, which requires them to have zero size).
    inter = [
        fm.tensor(f"input_to_{g}_intermediate", "float32", [0])
        for g in ("input", "forget", "cell", "output")
    ]
    inter.append(
        fm.tensor("effective_hidden_scale_intermediate", "int16", [0], scale=h_s, zero_point=0)
    )
    opt = schema.UnidirectionalSequenceLSTMOptionsT()
    opt.fusedActivationFunction = schema.ActivationFunctionType.TANH
    opt.cellClip = float(cell_clip)
    opt.projClip = 0.0
    opt.timeMajor = bool(time_major)
    opt.asymmetricQuantizeInputs = False
    fm.op(
        schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM, 5, ins, [y_t],
        schema.BuiltinOptions.UnidirectionalSequenceLSTMOptions, opt, intermediates=inter,
    )
    model = fm.finish([x_t], [y_t], "mote tflm-recurrent: " + description[:60])

    def float_fn(xs):
        x = np.asarray(xs[0])
        n = int(np.prod(x.shape[:2]))
        h = lstm_float(seqs(x), W, R, b, cell_clip)
        return [unseqs(h, n).reshape(x.shape[:2] + tuple(out_shape))]

    return dict(model=model, float_fn=float_fn)


LSTM16_CASES = [
    (
        "lstm16_small",
        """16x8 UNIDIRECTIONAL_SEQUENCE_LSTM (int16 input, hidden state and output, int8
        weights, int64 biases, int16 cell state), batch-major input [1, 6 timesteps,
        5 features], 7 units, TANH cell activation, cell_clip 10, returning the whole sequence
        [1, 6, 7]; the converter refuses 16x8 LSTMs, so it is built directly as a flatbuffer
        (version 5, the converter's 5 zero-size intermediates).""",
        dict(batch=1, steps=6, input_size=5, units=7, time_major=False),
    ),
    (
        "lstm16_time_major",
        """The lstm16_small recipe with time_major=true and batch 2: input [6 timesteps,
        2 batch, 5 features], output [6, 2, 7], state tensors [2, 7].""",
        dict(batch=2, steps=6, input_size=5, units=7, time_major=True),
    ),
]


def _lstm16_builder(name, description, kw):
    def build():
        seed = zlib.crc32(name.encode()) & 0x7FFFFFFF
        return build_lstm16(seed, " ".join(description.split()), **kw)

    return build


for _name, _desc, _kw in LSTM16_CASES:
    case(
        _name, _desc, frontend="flatbuffer", mode="16x8", samples=N_SAMPLES, invocations=1
    )(_lstm16_builder(_name, _desc, _kw))


# ---------------------------------------------------------------------------
# 4: 16x8 models
# ---------------------------------------------------------------------------


def _x16_cnn():
    x = inp((8, 8, 3))
    y = conv2d(8, 3, activation="relu")(x)
    y = L.DepthwiseConv2D(3, padding="same", bias_initializer=bias_init())(y)
    y = L.ReLU()(y)
    y = L.AveragePooling2D(2)(y)
    y = L.Flatten()(y)
    y = dense(10)(y)
    y = L.Softmax()(y)
    return keras.Model(x, y)


@case(
    "x16_cnn",
    """16x8: Conv2D(relu) -> DepthwiseConv2D -> ReLU -> AveragePooling2D -> Flatten -> Dense ->
    Softmax on [1, 8, 8, 3], int16 input and output.""",
    mode="16x8",
)
def x16_cnn():
    return _x16_cnn()


@case(
    "x16_io_float",
    """The x16_cnn model with float32 input and output: QUANTIZE float32 -> int16 at the
    input and DEQUANTIZE int16 -> float32 at the output. Inputs are float32 in [-1, 1).""",
    mode="16x8",
    io_type="float32",
)
def x16_io_float():
    return _x16_cnn()


@case(
    "x16_residual",
    """16x8 residual block: Conv2D(relu) -> Conv2D -> Add(skip from the first conv) -> ReLU ->
    Conv2D 1x1, on [1, 6, 6, 3] (ADD of two int16 activations with different scales, unfused
    RELU).""",
    mode="16x8",
)
def x16_residual():
    x = inp((6, 6, 3))
    a = conv2d(4, 3, activation="relu")(x)
    b = conv2d(4, 3)(a)
    y = L.Add()([a, b])
    y = L.ReLU()(y)
    y = conv2d(4, 1)(y)
    return keras.Model(x, y)


@case(
    "x16_mlp_act",
    """16x8 dense MLP: Dense(16, tanh) -> Dense(16, sigmoid) -> Dense(4) on [1, 12] (TANH and
    LOGISTIC on int16).""",
    mode="16x8",
)
def x16_mlp_act():
    x = inp((12,))
    y = dense(16, activation="tanh")(x)
    y = dense(16, activation="sigmoid")(y)
    y = dense(4)(y)
    return keras.Model(x, y)


@case(
    "x16_lstm",
    """16x8: the lstm_last model (tf_keras LSTM(8) over [1, 10, 4], Dense(3)) converted in
    16x8 mode.""",
    frontend="tf_keras",
    mode="16x8",
)
def x16_lstm():
    return lstm_last()


def _x16_op(op_fn, shape=(6, 6, 3), filters=4):
    def build():
        x = inp(shape)
        y = conv2d(filters, 3)(x)
        return keras.Model(x, op_fn(y))

    return build


for _name, _desc, _f in [
    (
        "x16_mul",
        "the product of the conv output with itself (MUL of two int16 activations)",
        lambda y: L.Multiply()([y, fn(lambda t: t * 0.5 + 0.25)(y)]),
    ),
    (
        "x16_mean",
        "tf.reduce_mean over the spatial axes, keepdims=True (MEAN)",
        lambda y: fn(lambda t: tf.reduce_mean(t, axis=[1, 2], keepdims=True))(y),
    ),
    (
        "x16_pad",
        "ZeroPadding2D(((1, 2), (0, 1))) (PAD)",
        lambda y: L.ZeroPadding2D(((1, 2), (0, 1)))(y),
    ),
    (
        "x16_concat",
        "Concatenate of the conv output and its ReLU along channels (CONCATENATION)",
        lambda y: L.Concatenate()([y, L.ReLU()(y)]),
    ),
    (
        "x16_reshape",
        "Reshape((9, 16)) (RESHAPE)",
        lambda y: L.Reshape((9, 16))(y),
    ),
    (
        "x16_transpose",
        "tf.transpose with perm [0, 3, 1, 2] (TRANSPOSE)",
        lambda y: fn(lambda t: tf.transpose(t, [0, 3, 1, 2]))(y),
    ),
    (
        "x16_strided_slice",
        "the slice t[:, 1:5, ::2, 1:] (STRIDED_SLICE)",
        lambda y: fn(lambda t: t[:, 1:5, ::2, 1:])(y),
    ),
    (
        "x16_max_pool",
        "MaxPooling2D(2) (MAX_POOL_2D)",
        lambda y: L.MaxPooling2D(2)(y),
    ),
    (
        "x16_leaky_relu",
        "tf.nn.leaky_relu(alpha=0.2) (LEAKY_RELU)",
        lambda y: fn(lambda t: tf.nn.leaky_relu(t, alpha=0.2))(y),
    ),
    (
        "x16_hard_swish",
        "hard swish x * relu6(x + 3) / 6 (HARD_SWISH)",
        lambda y: fn(lambda t: t * tf.nn.relu6(t + 3.0) / 6.0)(y),
    ),
]:
    case(
        _name,
        f"16x8: Conv2D 3x3 (4 filters) on [1, 6, 6, 3], then {_desc}.",
        mode="16x8",
        rep_range=(-2.0, 2.0) if _name == "x16_hard_swish" else (-1.0, 1.0),
    )(_x16_op(_f))


# More 16x8 ops (Keras 3 + the 16x8 converter). Several have more than one output: output k
# of the files is output k of the TFLite subgraph, whose order the converter chooses (the
# tensor names end in ":<index of the Keras output>").


@case(
    "x16_transpose_conv",
    """16x8: Conv2DTranspose(4, 3, strides=2, padding="same") with a bias on [1, 6, 6, 3],
    then Conv2DTranspose(3, (2, 3), strides=(1, 2), padding="valid", use_bias=False): two
    TRANSPOSE_CONV ops, one with an int64 bias and one without, output [1, 13, 25, 3].""",
    mode="16x8",
)
def x16_transpose_conv():
    x = inp((6, 6, 3))
    y = L.Conv2DTranspose(4, 3, strides=2, padding="same", bias_initializer=bias_init())(x)
    y = L.Conv2DTranspose(3, (2, 3), strides=(1, 2), padding="valid", use_bias=False)(y)
    return keras.Model(x, y)


@case(
    "x16_binary_misc",
    """16x8: two Conv2D 3x3 (3 filters each) a and b on [1, 6, 6, 3]; outputs
    tf.math.squared_difference(a, b) (SQUARED_DIFFERENCE of two int16 tensors with different
    scales), Maximum()([a, b]) (MAXIMUM; the converter requantizes b to a's scale with an
    int16 -> int16 QUANTIZE) and tf.minimum(a, [0.3, -0.2, 0.1]) (MINIMUM with a broadcast
    int16 constant; a requantized first).""",
    mode="16x8",
)
def x16_binary_misc():
    x = inp((6, 6, 3))
    a = conv2d(3, 3)(x)
    b = conv2d(3, 3)(x)
    return keras.Model(
        x,
        [
            fn(lambda t: tf.math.squared_difference(t[0], t[1]))([a, b]),
            L.Maximum()([a, b]),
            fn(lambda t: tf.minimum(t, np.array([0.3, -0.2, 0.1], np.float32)))(a),
        ],
    )


@case(
    "x16_slicing",
    """16x8: Conv2D 3x3 (4 filters) on [1, 6, 6, 3], tf.split(t, 2, axis=3) (SPLIT), the
    first half tf.unstack(axis=1) (UNPACK into 6 tensors [1, 6, 2]; outputs: the 2nd and the
    5th) and the second half tf.slice(begin [0, 1, 2, 0], size [1, 4, 3, 2]) (SLICE).""",
    mode="16x8",
)
def x16_slicing():
    x = inp((6, 6, 3))
    halves = fn(lambda t: tf.split(t, 2, axis=3))(conv2d(4, 3)(x))
    rows = fn(lambda t: tf.unstack(t, axis=1))(halves[0])
    sl = fn(lambda t: tf.slice(t, [0, 1, 2, 0], [1, 4, 3, 2]))(halves[1])
    return keras.Model(x, [rows[1], rows[4], sl])


@case(
    "x16_gather",
    """16x8: Conv2D 3x3 (4 filters) on [1, 6, 6, 3], then tf.gather(t, [3, 0, 2, 2],
    axis=3) (GATHER of an int16 tensor).""",
    mode="16x8",
)
def x16_gather():
    x = inp((6, 6, 3))
    return keras.Model(x, fn(lambda t: tf.gather(t, [3, 0, 2, 2], axis=3))(conv2d(4, 3)(x)))


@case(
    "x16_resize",
    """16x8: Conv2D 3x3 (4 filters) on [1, 6, 6, 3], then three RESIZE_NEAREST_NEIGHBOR:
    tf.image.resize(t, [9, 7], method="nearest") (half_pixel_centers=true),
    tf.compat.v1.image.resize_nearest_neighbor(t, [11, 4], align_corners=True) and the same
    to [8, 13] with align_corners=False, half_pixel_centers=False.""",
    mode="16x8",
)
def x16_resize():
    x = inp((6, 6, 3))
    y = conv2d(4, 3)(x)
    nn = tf.compat.v1.image.resize_nearest_neighbor
    return keras.Model(
        x,
        [
            fn(lambda t: tf.image.resize(t, [9, 7], method="nearest"))(y),
            fn(lambda t: nn(t, [11, 4], align_corners=True))(y),
            fn(lambda t: nn(t, [8, 13], align_corners=False, half_pixel_centers=False))(y),
        ],
    )


@case(
    "x16_resize_bilinear",
    """16x8: Conv2D 3x3 (4 filters) on [1, 6, 6, 3], then tf.image.resize(t, [9, 7],
    method="bilinear") (RESIZE_BILINEAR, half_pixel_centers=true).""",
    mode="16x8",
)
def x16_resize_bilinear():
    x = inp((6, 6, 3))
    y = conv2d(4, 3)(x)
    return keras.Model(x, fn(lambda t: tf.image.resize(t, [9, 7], method="bilinear"))(y))


@case(
    "x16_batch_matmul",
    """16x8: Conv2D 3x3 (4 filters) on [1, 6, 6, 3], a = channels 0-1 and b = channels 2-3
    (STRIDED_SLICE), then BATCH_MATMUL of two int16 activations three ways:
    tf.matmul(a, b, transpose_b=True) [1, 6, 6, 6] (adj_y), tf.matmul(a, b,
    transpose_a=True) [1, 6, 2, 2] (adj_x) and tf.matmul(a, b[:, :1, :3, :],
    transpose_b=True) [1, 6, 6, 3] (the right operand broadcast over dimension 1).""",
    mode="16x8",
)
def x16_batch_matmul():
    x = inp((6, 6, 3))
    y = conv2d(4, 3)(x)
    a = fn(lambda t: t[..., :2])(y)
    b = fn(lambda t: t[..., 2:])(y)
    return keras.Model(
        x,
        [
            fn(lambda t: tf.matmul(t[0], t[1], transpose_b=True))([a, b]),
            fn(lambda t: tf.matmul(t[0], t[1], transpose_a=True))([a, b]),
            fn(lambda t: tf.matmul(t[0], t[1][:, :1, :3, :], transpose_b=True))([a, b]),
        ],
    )


@case(
    "x16_unary",
    """16x8: Conv2D 3x3 (4 filters) on [1, 6, 6, 3], then tf.abs(t) (ABS; the converter gives
    its output the input's scale) and tf.math.rsqrt(tf.abs(t) + 0.25) (the same ABS, ADD of
    an int16 scalar, RSQRT).""",
    mode="16x8",
)
def x16_unary():
    x = inp((6, 6, 3))
    y = conv2d(4, 3)(x)
    return keras.Model(
        x,
        [fn(lambda t: tf.abs(t))(y), fn(lambda t: tf.math.rsqrt(tf.abs(t) + 0.25))(y)],
    )


# 16x8 ops the converter refuses ("Quantization to 16x8-bit not yet supported for op"):
# single-op flatbuffers with int16 activations and the int8 weight conventions of the
# converter's 16x8 models (symmetric, zero point 0).


def _x16_flat(description, build_ops):
    """A single-op 16x8 flatbuffer model: build_ops(fm, rng) adds the tensors and the op and
    returns (input tensors, output tensors, float_fn)."""

    def make(seed):
        fm = FlatModel()
        ins, outs, float_fn = build_ops(fm, seed)
        model = fm.finish(ins, outs, "mote tflm-recurrent: " + description[:60])
        return dict(model=model, float_fn=float_fn)

    return make


def _prelu_ops(fm, seed):
    shape = [1, 6, 6, 4]
    alpha = np.random.default_rng(seed).uniform(-0.3, 0.6, size=(1, 1, 4))

    def prelu(x):
        x = np.asarray(x, dtype=np.float64)
        return np.where(x >= 0, x, x * alpha)

    rep = np.random.default_rng(seed + 1).uniform(-1.5, 1.0, size=[N_REP] + shape)
    in_s = np.float32(np.abs(rep).max() / 32767.0)
    out_s = np.float32(np.abs(prelu(rep)).max() / 32767.0)
    a_q, a_s = quant_sym(alpha, 8)
    x = fm.tensor("input", "int16", shape, scale=in_s, zero_point=0)
    a = fm.tensor("prelu/alpha", "int8", [1, 1, 4], a_q, a_s, 0)
    y = fm.tensor("prelu/output", "int16", shape, scale=out_s, zero_point=0)
    fm.op(schema.BuiltinOperator.PRELU, 1, [x, a], [y])
    return [x], [y], lambda xs: [prelu(xs[0])]


def _depth_space_ops(to_space):
    def ops(fm, seed):
        s = np.float32(1.0 / 32767.0)
        in_shape, out_shape = ([1, 3, 3, 8], [1, 6, 6, 2]) if to_space else ([1, 6, 6, 2], [1, 3, 3, 8])
        x = fm.tensor("input", "int16", in_shape, scale=s, zero_point=0)
        y = fm.tensor("output", "int16", out_shape, scale=s, zero_point=0)
        if to_space:
            opt = schema.DepthToSpaceOptionsT()
            code, otype = schema.BuiltinOperator.DEPTH_TO_SPACE, schema.BuiltinOptions.DepthToSpaceOptions
            f = lambda t: tf.nn.depth_to_space(t, 2)  # noqa: E731
        else:
            opt = schema.SpaceToDepthOptionsT()
            code, otype = schema.BuiltinOperator.SPACE_TO_DEPTH, schema.BuiltinOptions.SpaceToDepthOptions
            f = lambda t: tf.nn.space_to_depth(t, 2)  # noqa: E731
        opt.blockSize = 2
        fm.op(code, 1, [x], [y], otype, opt)

        def float_fn(xs):
            a = np.asarray(xs[0], dtype=np.float32)
            r = np.asarray(f(a.reshape([-1] + in_shape[1:])))
            return [r.reshape(a.shape[:2] + tuple(out_shape))]

        return [x], [y], float_fn

    return ops


def _arg_max_ops(fm, seed):
    s = np.float32(1.0 / 32767.0)
    x = fm.tensor("input", "int16", [1, 6, 6, 4], scale=s, zero_point=0)
    axis = fm.tensor("arg_max/axis", "int32", [1], np.array([3]))
    y = fm.tensor("output", "int32", [1, 6, 6])
    opt = schema.ArgMaxOptionsT()
    opt.outputType = schema.TensorType.INT32
    fm.op(schema.BuiltinOperator.ARG_MAX, 2, [x, axis], [y], schema.BuiltinOptions.ArgMaxOptions, opt)
    return [x], [y], lambda xs: [np.argmax(np.asarray(xs[0]), axis=-1)]


for _name, _desc, _ops in [
    (
        "x16_prelu",
        """16x8 PRELU (hand-built: the converter refuses PRELU in 16x8): int16 input
        [1, 6, 6, 4] (range [-1.5, 1)), alpha int8 [1, 1, 4] symmetric per tensor (values in
        [-0.3, 0.6), broadcast over the spatial axes), int16 output.""",
        _prelu_ops,
    ),
    (
        "x16_depth_to_space",
        """16x8 DEPTH_TO_SPACE, block 2, int16 [1, 3, 3, 8] -> [1, 6, 6, 2] (hand-built: the
        converter refuses it in 16x8).""",
        _depth_space_ops(True),
    ),
    (
        "x16_space_to_depth",
        """16x8 SPACE_TO_DEPTH, block 2, int16 [1, 6, 6, 2] -> [1, 3, 3, 8] (hand-built: the
        converter refuses it in 16x8).""",
        _depth_space_ops(False),
    ),
    (
        "x16_arg_max",
        """16x8 ARG_MAX over the last axis of an int16 [1, 6, 6, 4] input, int32 output
        [1, 6, 6] (hand-built: the converter refuses it in 16x8).""",
        _arg_max_ops,
    ),
]:
    case(_name, _desc, frontend="flatbuffer", mode="16x8", samples=N_SAMPLES, invocations=1)(
        (lambda make, n: lambda: make(zlib.crc32(n.encode()) & 0x7FFFFFFF))(
            _x16_flat(" ".join(_desc.split()), _ops), _name
        )
    )


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
    io_type = {"int8": tf.int8, "int16": tf.int16, "float32": tf.float32}[c["io_type"]]
    if c["mode"] == "16x8":
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = io_type
    conv.inference_output_type = io_type
    with contextlib.redirect_stdout(io.StringIO()), capture_fd2() as log:
        try:
            return bytes(conv.convert())
        except Exception as e:
            err = e
    lines = [ln.strip() for ln in (str(err) + "\n" + log["text"]).splitlines()]
    msg = " ".join(ln for ln in lines if "error:" in ln) or str(err).strip()
    raise RuntimeError(msg)


def float_ops_of(model):
    """Float ops of the float conversion (no quantization): what the model is made of."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    with contextlib.redirect_stdout(io.StringIO()), capture_fd2():
        m = tflm_runtime.convert_bytearray_to_object(bytearray(conv.convert()))
    return [op_name(m, op.opcodeIndex) for op in m.subgraphs[0].operators], len(m.subgraphs)


def convert_isolated(c):
    """Convert in a child process (this script with --convert-one): the converter's
    calibrator segfaults on some models. Returns bytes or raises RuntimeError."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "model.tflite")
        res = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--convert-one", c["name"], "--to", out],
            capture_output=True,
            text=True,
        )
        if res.returncode == 0 and os.path.exists(out):
            with open(out, "rb") as f:
                return f.read()
        info = ""
        ipath = out + ".json"
        if os.path.exists(ipath):
            with open(ipath) as f:
                info = json.load(f)
        err = res.stderr
        if res.returncode < 0 or "Fatal Python error" in err:
            frames = [
                ln.strip() for ln in err.splitlines() if ln.strip().startswith("File ")
            ]
            where = frames[0] if frames else "?"
            where = where.replace(os.path.dirname(tf.__file__), "tensorflow")
            msg = f"the converter crashed (signal {-res.returncode}) in {where}"
        else:
            tail = [ln for ln in err.splitlines() if ln.strip()][-3:]
            msg = "converter error: " + " ".join(tail)[:600]
        if info:
            msg += (
                f"; the float conversion is {fmt_ops(info['float_ops'])} "
                f"({info['subgraphs']} subgraphs)"
            )
        raise RuntimeError(msg)


def convert_one_child(name, out):
    # convert() captures fd 2; keep a private copy of it for faulthandler's crash trace
    trace = os.fdopen(os.dup(2), "w")
    faulthandler.enable(file=trace)
    c = next(c for c in CASES if c["name"] == name)
    setup_case(c)
    model = c["build"]()
    try:
        ops, n = float_ops_of(model)
        with open(out + ".json", "w") as f:
            json.dump(dict(float_ops=ops, subgraphs=n), f)
    except Exception:
        pass
    data = convert(model, c)
    with open(out, "wb") as f:
        f.write(data)


def op_name(model, opcode_index):
    oc = model.operatorCodes[opcode_index]
    code = tflm_runtime.get_builtin_code_from_operator_code(oc)
    if code == schema.BuiltinOperator.CUSTOM:
        return "CUSTOM:" + oc.customCode.decode()
    return BUILTIN_NAMES.get(code, str(code))


def quant_of(t):
    q = t.quantization
    scale = zp = None
    if q is not None and q.scale is not None and len(q.scale) > 0:
        scale = [float(s) for s in q.scale]
        zp = [int(z) for z in q.zeroPoint]
        if len(scale) == 1:
            scale, zp = scale[0], zp[0]
    return scale, zp


def tensor_info(t):
    scale, zp = quant_of(t)
    return dict(
        name=t.name.decode(),
        dtype=TENSOR_TYPE_NAMES[t.type],
        shape=[int(d) for d in t.shape],
        scale=scale,
        zero_point=zp,
    )


def _jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return v.decode()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, (int, str)):
        return v
    return str(v)


def inspect(model_bytes):
    m = tflm_runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = m.subgraphs[0]
    ops = [op_name(m, op.opcodeIndex) for op in sg.operators]
    act_types = set()
    for op in sg.operators:
        for o in op.outputs:
            act_types.add(TENSOR_TYPE_NAMES[sg.tensors[o].type])

    def is_const(i):
        buf = m.buffers[sg.tensors[i].buffer]
        return buf.data is not None and len(buf.data) > 0

    def is_float_activation(i):
        if i < 0:
            return False
        t = sg.tensors[i]
        return t.type == schema.TensorType.FLOAT32 and not is_const(i) and not t.isVariable

    float_ops = []
    for op, name in zip(sg.operators, ops):
        if not any(is_float_activation(i) for i in list(op.inputs) + list(op.outputs)):
            continue
        if name == "QUANTIZE" and all(i in list(sg.inputs) for i in op.inputs):
            continue
        if name == "DEQUANTIZE" and all(o in list(sg.outputs) for o in op.outputs):
            continue
        float_ops.append(name)

    def tdesc(i):
        if i < 0:
            return None
        t = sg.tensors[i]
        d = dict(index=int(i), **tensor_info(t))
        if t.isVariable:
            d["is_variable"] = True
        if is_const(i):
            d["const"] = True
        return d

    recurrent = []
    for op, name in zip(sg.operators, ops):
        if name not in RECURRENT_OPS:
            continue
        opts = op.builtinOptions
        recurrent.append(
            dict(
                op=name,
                version=int(m.operatorCodes[op.opcodeIndex].version),
                options={k: _jsonable(v) for k, v in vars(opts).items()} if opts else None,
                inputs=[tdesc(i) for i in op.inputs],
                outputs=[tdesc(i) for i in op.outputs],
                intermediates=(
                    [tdesc(i) for i in op.intermediates] if op.intermediates is not None else None
                ),
            )
        )
    variables = [
        dict(index=i, **tensor_info(t)) for i, t in enumerate(sg.tensors) if t.isVariable
    ]
    # Keras output index of each subgraph output, from the signature ("output_<k>" names).
    sig_index = {}
    for sd in m.signatureDefs or []:
        for o in sd.outputs or []:
            key = o.name.decode() if isinstance(o.name, bytes) else str(o.name)
            if key.startswith("output_") and key[7:].isdigit():
                sig_index[int(o.tensorIndex)] = int(key[7:])
    return dict(
        output_keras_index=[sig_index.get(int(i)) for i in sg.outputs],
        ops=ops,
        subgraphs=len(m.subgraphs),
        inputs=[tensor_info(sg.tensors[i]) for i in sg.inputs],
        outputs=[tensor_info(sg.tensors[i]) for i in sg.outputs],
        activation_dtypes=sorted(act_types),
        float_ops=float_ops,
        variable_tensors=variables,
        recurrent_ops=recurrent,
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


def make_inputs(info, seed, n_samples, n_inv):
    """One array [samples, invocations, *shape] per input (the file layout is the same bytes
    as [samples * invocations, *shape])."""
    rng = np.random.default_rng(seed + 2)
    out = []
    for t in info["inputs"]:
        shape = [n_samples, n_inv] + t["shape"]
        dt = t["dtype"]
        if dt == "int8":
            a = rng.integers(-128, 128, size=shape, dtype=np.int8)
        elif dt == "int16":
            a = rng.integers(-32768, 32768, size=shape, dtype=np.int16)
        elif dt == "float32":
            a = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        else:
            raise ValueError(f"input dtype {dt}")
        out.append(a)
    return out


def run_tflm(model_bytes, inputs, n_out, reset_each_sample=False):
    """One interpreter; invokes every invocation of every sample in order. With
    reset_each_sample, calls Reset() (variable tensors back to their initial values) before
    each sample. Returns (list of per-output arrays [S, I, ...], None) or (None, error)."""
    S, I = inputs[0].shape[:2]
    outs = [[] for _ in range(n_out)]
    with capture_fd2() as log:
        try:
            interp = tflm_runtime.Interpreter.from_bytes(model_bytes, arena_size=ARENA_SIZE)
            for s in range(S):
                if reset_each_sample:
                    interp.reset()
                for i in range(I):
                    for k, a in enumerate(inputs):
                        interp.set_input(a[s, i], k)
                    interp.invoke()
                    for k in range(n_out):
                        outs[k].append(np.array(interp.get_output(k), copy=True))
            err = None
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
    if err is not None:
        extra = " | ".join(line.strip() for line in log["text"].splitlines() if line.strip())
        return None, (err + (" | log: " + extra if extra else ""))
    return [np.stack(o).reshape((S, I) + o[0].shape) for o in outs], None


def run_tflm_states(model_bytes, inputs, n_out, var_indices):
    """Like run_tflm (no reset), with TFLM's kPreserveAllTensors configuration, also reading
    every variable tensor after each invocation. Returns (outputs, states), each a list of
    arrays [S, I, ...]."""
    S, I = inputs[0].shape[:2]
    outs = [[] for _ in range(n_out)]
    states = [[] for _ in var_indices]
    interp = tflm_runtime.Interpreter.from_bytes(
        model_bytes,
        arena_size=ARENA_SIZE,
        intrepreter_config=tflm_runtime.InterpreterConfig.kPreserveAllTensors,
    )
    for s in range(S):
        for i in range(I):
            for k, a in enumerate(inputs):
                interp.set_input(a[s, i], k)
            interp.invoke()
            for k in range(n_out):
                outs[k].append(np.array(interp.get_output(k), copy=True))
            for j, t in enumerate(var_indices):
                d = interp.GetTensor(t, 0)
                states[j].append(np.array(d["tensor_data"], copy=True).reshape(d["shape"]))
    shape = lambda o: np.stack(o).reshape((S, I) + o[0].shape)  # noqa: E731
    return [shape(o) for o in outs], [shape(o) for o in states]


def run_tflite_ref(model_bytes, inputs, reset_each_sample=False):
    """TensorFlow Lite (LiteRT) with its reference kernels, for comparison only."""
    S, I = inputs[0].shape[:2]
    try:
        with capture_fd2():
            it = tf.lite.Interpreter(
                model_content=model_bytes,
                experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
            )
            it.allocate_tensors()
            ind, outd = it.get_input_details(), it.get_output_details()
            outs = [[] for _ in outd]
            for s in range(S):
                if reset_each_sample:
                    it.reset_all_variables()
                for i in range(I):
                    for k, d in enumerate(ind):
                        it.set_tensor(d["index"], inputs[k][s, i])
                    it.invoke()
                    for k, d in enumerate(outd):
                        outs[k].append(it.get_tensor(d["index"]).copy())
        return [np.stack(o).reshape((S, I) + o[0].shape) for o in outs], None
    except Exception as e:
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def compare(ref, outputs):
    diffs = [
        int(np.max(np.abs(r.astype(np.int64) - o.astype(np.int64)))) if r.size else 0
        for r, o in zip(ref, outputs)
    ]
    return "identical" if max(diffs) == 0 else f"differs, max |diff| per output {diffs}"


ARENA_CHECK_WORKER = r"""
import json, sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
out_dir, arena_size, entries = json.load(sys.stdin)
DT = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
      "int64": np.int64, "float32": np.float32}
result = {}
for e in entries:
    n = e["samples"] * e["invocations_per_sample"]
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


def dequant(t, a):
    f = a.astype(np.float64)
    if t["scale"] is not None:
        f = (f - t["zero_point"]) * t["scale"]
    return f


def lsb_errors(info, outputs, refs):
    """Per output: 99th percentile and max of |dequantized TFLM output - float reference| in
    output LSBs, the float reference first clipped to the output's representable range."""
    errs = []
    for t, o, r in zip(info["outputs"], outputs, refs):
        r = np.asarray(r, dtype=np.float64).reshape(o.shape)
        if t["scale"] is not None:
            ii = np.iinfo(o.dtype)
            lo = (ii.min - t["zero_point"]) * t["scale"]
            hi = (ii.max - t["zero_point"]) * t["scale"]
            r = np.clip(r, lo, hi)
            d = np.abs(dequant(t, o) - r) / t["scale"]
            errs.append(dict(p99=round(float(np.percentile(d, 99)), 2), max=round(float(d.max()), 2)))
        else:
            d = np.abs(o.astype(np.float64) - r)
            errs.append(dict(p99_abs=round(float(np.percentile(d, 99)), 5), max_abs=round(float(d.max()), 5)))
    return errs


def keras_float_outputs(model, info, inputs):
    """The (stateless) Keras float model on the dequantized inputs, one call per invocation.
    Several outputs: matched to the TFLite outputs through the signature's output names."""
    if len(info["inputs"]) != 1:
        return None
    S, I = inputs[0].shape[:2]
    x = dequant(info["inputs"][0], inputs[0]).astype(np.float32)
    if len(model.outputs) != 1:
        order = info["output_keras_index"]
        if len(order) != len(model.outputs) or sorted(order) != list(range(len(order))):
            return None
        calls = [model(x[s, i], training=False) for s in range(S) for i in range(I)]
        res = []
        for t, k in zip(info["outputs"], order):
            ys = np.stack([np.asarray(c[k]) for c in calls])
            if list(ys.shape[1:]) != t["shape"]:
                return None
            res.append(ys.reshape((S, I) + ys.shape[1:]))
        return res
    ys = np.stack(
        [np.asarray(model(x[s, i], training=False)) for s in range(S) for i in range(I)]
    )
    return [ys.reshape((S, I) + ys.shape[1:])]


def remove_files(out_dir, name):
    for f in os.listdir(out_dir):
        if f == name + ".tflite" or (f.startswith(name + ".") and f.endswith(".bin")):
            os.remove(os.path.join(out_dir, f))


def setup_case(c):
    c["seed"] = zlib.crc32(c["name"].encode()) & 0x7FFFFFFF
    keras.backend.clear_session()
    tf_keras.backend.clear_session()
    keras.utils.set_random_seed(c["seed"])
    tf_keras.utils.set_random_seed(c["seed"])
    CONST_RNG[0] = np.random.default_rng(c["seed"])


def write(out_dir, fname, a):
    with open(os.path.join(out_dir, fname), "wb") as f:
        f.write(np.ascontiguousarray(a).tobytes())


def generate_case(c, out_dir):
    name = c["name"]
    setup_case(c)
    remove_files(out_dir, name)
    model = float_fn = None
    if c["frontend"] == "flatbuffer":
        built = c["build"]()
        model_bytes, float_fn = built["model"], built["float_fn"]
    else:
        try:
            if c["isolate"]:
                model_bytes = convert_isolated(c)
                setup_case(c)
                model = c["build"]()
            else:
                model = c["build"]()
                model_bytes = convert(model, c)
        except Exception as e:
            reason = " ".join(str(e).split())[:700]
            if not reason.startswith(("converter", "the converter")):
                reason = "converter error: " + reason
            return None, dict(name=name, description=c["description"], reason=reason)
    info = inspect(model_bytes)
    if info["float_ops"] or info["subgraphs"] > 1:
        reason = (
            "the converter kept these ops in float32 (DEQUANTIZE ... QUANTIZE around them): "
            + ", ".join(sorted(set(info["float_ops"]) - {"QUANTIZE", "DEQUANTIZE"}))
            + f"; emitted ops: {fmt_ops(info['ops'])}"
        )
        return None, dict(name=name, description=c["description"], reason=reason)

    if c["samples"] is not None:
        n_samples, n_inv = c["samples"], c["invocations"]
    elif c["frontend"] == "flatbuffer":
        n_samples, n_inv = SVDF_SAMPLES, SVDF_INVOCATIONS
    else:
        n_samples, n_inv = N_SAMPLES, 1
    inputs = make_inputs(info, c["seed"], n_samples, n_inv)
    n_out = len(info["outputs"])
    outputs, err = run_tflm(model_bytes, inputs, n_out)

    with open(os.path.join(out_dir, name + ".tflite"), "wb") as f:
        f.write(model_bytes)
    files = [name + ".tflite"]
    for k, a in enumerate(inputs):
        write(out_dir, f"{name}.in{k}.bin", a)
        files.append(f"{name}.in{k}.bin")
    entry = dict(
        name=name,
        description=c["description"],
        seed=c["seed"],
        ops=info["ops"],
        inputs=info["inputs"],
        outputs=info["outputs"],
        samples=n_samples,
        invocations_per_sample=n_inv,
        tflm="ok" if err is None else err,
    )
    fresh = outputs
    if err is None:
        for k, (a, t) in enumerate(zip(outputs, info["outputs"])):
            assert a.dtype == NP_DTYPES[t["dtype"]], (name, k, a.dtype)
            assert list(a.shape[2:]) == t["shape"], (name, k, a.shape, t["shape"])
            write(out_dir, f"{name}.out{k}.tflm.bin", a)
            files.append(f"{name}.out{k}.tflm.bin")
        # Does state carry across Invoke()? Run sample 0 twice in a fresh interpreter.
        twice, _ = run_tflm(model_bytes, [np.concatenate([a[:1], a[:1]]) for a in inputs], n_out)
        carries = any(not np.array_equal(o[0], o[1]) for o in twice)
        entry["state_carries_across_invocations"] = carries
        entry["outputs_depend_on_previous_samples"] = False
        if info["variable_tensors"]:
            outs2, states = run_tflm_states(
                model_bytes, inputs, n_out, [v["index"] for v in info["variable_tensors"]]
            )
            assert all(np.array_equal(a, b) for a, b in zip(outs2, outputs)), name
            for j, (a, v) in enumerate(zip(states, info["variable_tensors"])):
                assert a.dtype == NP_DTYPES[v["dtype"]] and list(a.shape[2:]) == v["shape"]
                write(out_dir, f"{name}.var{j}.tflm.bin", a)
                files.append(f"{name}.var{j}.tflm.bin")
        if carries:
            fresh, _ = run_tflm(model_bytes, inputs, n_out, reset_each_sample=True)
            entry["outputs_depend_on_previous_samples"] = any(
                not np.array_equal(o, f) for o, f in zip(outputs, fresh)
            )
            for k, a in enumerate(fresh):
                write(out_dir, f"{name}.out{k}.tflm_reset.bin", a)
                files.append(f"{name}.out{k}.tflm_reset.bin")
            # Reset() must equal a brand-new interpreter: check on the last sample.
            new, _ = run_tflm(model_bytes, [a[-1:] for a in inputs], n_out)
            entry["reset_equals_new_interpreter"] = all(
                np.array_equal(n[0], f[-1]) for n, f in zip(new, fresh)
            )
    ref, ref_err = run_tflite_ref(model_bytes, inputs)
    if ref_err is not None:
        entry["tflite_ref"] = ref_err
    elif err is None:
        entry["tflite_ref"] = compare(ref, outputs)
        if entry.get("state_carries_across_invocations"):
            ref_r, _ = run_tflite_ref(model_bytes, inputs, reset_each_sample=True)
            entry["tflite_ref_reset"] = compare(ref_r, fresh)
    else:
        entry["tflite_ref"] = "runs (TFLM does not)"
    if err is None:
        if float_fn is not None:
            xs = [dequant(t, a) for t, a in zip(info["inputs"], inputs)]
            refs = float_fn(xs)
        else:
            refs = keras_float_outputs(model, info, inputs)
        if refs is not None:
            entry["float_model_err_lsb"] = lsb_errors(info, fresh, refs)
    entry["activation_dtypes"] = info["activation_dtypes"]
    entry["variable_tensors"] = info["variable_tensors"]
    if info["recurrent_ops"]:
        entry["recurrent_ops"] = info["recurrent_ops"]
    entry["files"] = files
    return entry, None


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------

README_HEAD = """\
# TFLM recurrent, stateful and 16x8 corpus

Small TFLite models with golden outputs from TensorFlow Lite Micro (TFLM), in three families:
int8 LSTMs from Keras (UNIDIRECTIONAL_SEQUENCE_LSTM), int8 SVDF models built directly as
flatbuffers and run as sequences of invocations, and 16x8 models (int16 activations, int8
weights, int64 biases): converted from Keras, or built directly as flatbuffers where the
converter refuses the op in 16x8 (the 16x8 LSTMs, PRELU, DEPTH_TO_SPACE, SPACE_TO_DEPTH,
ARG_MAX). mote must reproduce the `*.tflm.bin` outputs byte for byte, invocation after
invocation, without resetting its state between samples, and refuse the models TFLM refuses
(see "Converted, but TFLM refuses them").

Everything here is generated by `generate.py` (same licence as the repository, MIT OR
Apache-2.0), which follows the conventions of `../tflm-corpus` (read its README first). Do
not edit the files by hand: change the script and regenerate.

## Regenerating

```sh
python3 -m venv /tmp/v
/tmp/v/bin/pip install tensorflow-cpu=={tf} tf-keras=={tfk} tflite-micro=={tflm}
/tmp/v/bin/python tests/data/tflm-recurrent/generate.py           # all models
/tmp/v/bin/python tests/data/tflm-recurrent/generate.py --only lstm_last,svdf_small
```

(`tf-keras` depends on the `tensorflow` package; with `tensorflow-cpu` installed, install it
with `--no-deps`.) Versions used for the committed files: Python {py}, tensorflow-cpu {tf}
(Keras {keras}), tf-keras {tfk}, numpy {np}, flatbuffers {fb}, tflite-micro {tflm}, on x86-64
Linux. Generation takes about a minute, single-threaded; three cases are converted in a child
process because the converter segfaults on them (see "Not produced").

Seeds: each case uses `seed = crc32(name)` (in the manifest) for
`keras.utils.set_random_seed` and `tf_keras.utils.set_random_seed` (Keras models) or
`default_rng(seed)` (the weights of the flatbuffer models), `default_rng(seed + 1)` for the
representative data and `default_rng(seed + 2)` for the test inputs. Keras state is cleared
between cases.
Reproducibility: {nondet}

## How the models are made

- **LSTM (int8)**: `tf_keras` (Keras 2) models, `tf.lite.TFLiteConverter.from_keras_model`,
  `optimizations=[Optimize.DEFAULT]`, a representative dataset of {nrep} samples uniform in
  [-1, 1), `supported_ops=[TFLITE_BUILTINS_INT8]`, int8 input and output. Keras 3's
  `keras.layers.LSTM` is not fused by the converter (see "Not produced"), tf_keras's is.
  Weights: Keras defaults (Glorot uniform kernels, orthogonal recurrent kernels, forget-gate
  bias 1), Dense biases uniform in [-0.2, 0.2).
- **SVDF (int8)**: built with the TFLite schema's object API (`schema_py_generated` from the
  tflite-micro wheel), then re-serialized by TFLM's `tflite_flatbuffer_align` tool (16-byte
  aligned buffers). Float weights from `default_rng(seed)` (weights_feature Glorot-uniform,
  weights_time uniform in [-0.6, 0.6], bias uniform in [-0.2, 0.2]); ranges calibrated by
  running a float SVDF on {nrepseq} sequences of {nrepsteps} steps uniform in [-1, 1) (state
  zero at the start of each); quantized in the full-integer scheme that TFLM's SVDF kernel and
  tests use (unless the case's description says otherwise): input and output int8 asymmetric (range widened to include 0), weights_feature int8 symmetric
  per-tensor, weights_time int16 symmetric, activation state int16 symmetric (zero point 0,
  scale from the largest feature value seen), bias int32 with scale
  `state_scale * weights_time_scale` (which TFLM checks). Operator versions: SVDF 3,
  FULLY_CONNECTED 4, SOFTMAX 2. The activation state is a variable tensor
  (`is_variable=true`) with an empty buffer, shape `[batch, memory_size * num_filters]`.
- **16x8**: Keras 3 models (like ../tflm-corpus) converted with
  `supported_ops=[EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]` and int16
  input and output (float32 for `x16_io_float`), otherwise as the LSTMs. Several have more
  than one output: output `k` of the files is output `k` of the TFLite subgraph, in the
  order the converter chose (the tensor names end in `:<index of the Keras output>`).
- **16x8 LSTM** (`lstm16_*`; the converter refuses 16x8 LSTMs): one
  UNIDIRECTIONAL_SEQUENCE_LSTM (operator version 5, TFLite's version for int16 activations)
  built as a flatbuffer like the SVDFs, with the int8 LSTMs' tensor layout (24 inputs,
  peephole, projection and layer norm absent, the converter's 5 intermediates of shape `[0]`,
  which TFLM requires to be empty). Float weights from `default_rng(seed)`: input kernels
  Glorot-uniform over `[input_size, 4 * units]`, recurrent kernels uniform in [-0.5, 0.5],
  biases uniform in [-0.2, 0.2) plus 1 for the forget gate. Calibrated with a float LSTM (the
  same cell clip) on {nrep} samples uniform in [-1, 1), each batch row a sequence starting
  from zero state; quantized: input, hidden state and output int16 symmetric (scale
  max|value| / 32767, zero point 0; the output shares the hidden state's quantization), the 8
  weight matrices int8 symmetric per tensor, the 4 gate biases int64 with scale
  `input_scale * that gate's input-weight scale`, the cell state int16 with scale
  `2^ceil(log2(max|cell|)) / 32768`. Fused activation TANH, cell_clip 10, proj_clip 0.
- **16x8 single ops the converter refuses** (`x16_prelu`, `x16_depth_to_space`,
  `x16_space_to_depth`, `x16_arg_max`): one-op flatbuffers with an int16 input (scale from the
  input range, zero point 0), built as above; `x16_prelu`'s alpha is int8 symmetric per
  tensor (TFLM requires int8 alpha with int16 input) and its output scale comes from a float
  calibration on {nrep} samples. Operator versions: PRELU 1, DEPTH_TO_SPACE 1,
  SPACE_TO_DEPTH 1, ARG_MAX 2 (TFLM does not check versions).

Any model where the converter left an op in float32 is not written (see "Not produced").

## Files

For each model `<name>`:

- `<name>.tflite`: the model.
- `<name>.in<k>.bin`: input `k`, raw bytes in the input tensor's dtype, C order, all
  invocations back to back: `samples x invocations_per_sample` tensors of the full input
  shape (batch included). Keras models and the 16x8 flatbuffer models: {n} samples of 1
  invocation; SVDF models: {ns} samples of {ni} invocations (a sequence). int8 inputs are
  uniform over -128..127 (`default_rng(seed + 2).integers(-128, 128)` with shape
  `[samples, invocations, *shape]`), int16 over the whole int16 range, float32 uniform in
  [-1, 1).
- `<name>.out<k>.tflm.bin`: output `k` from TFLM for every invocation, same layout. **One
  interpreter, created once, invoked for every invocation of every sample in file order,
  never reset**: for the stateful models (all LSTMs, 16x8 ones included, and SVDFs) each
  output depends on all earlier invocations, across sample boundaries too. Missing when TFLM
  refused the model.
- `<name>.out<k>.tflm_reset.bin` (only for models whose state carries): the same, but with
  the interpreter's `Reset()` called before each sample (variable tensors back to their
  initial values: int8 ones to their zero point, others to 0). For the SVDFs this is each
  sequence on its own; for the LSTMs each sample on its own, which is what the (stateless)
  Keras model computes. The first sample equals the `.tflm.bin` one.
- `<name>.var<j>.tflm.bin` (models with variable tensors): variable tensor `j` (the order of
  `variable_tensors` in the manifest) as TFLM holds it after each invocation of the
  `.tflm.bin` run (never reset), same layout: the LSTM hidden and cell states, the SVDF
  activation states. Read with TFLM's `kPreserveAllTensors` configuration in a second run
  whose outputs are checked to equal the goldens. For debugging a mismatch; the state itself
  is not an output of the model.

`manifest.json` is a list with one object per model, with the fields of ../tflm-corpus
(`name`, `description`, `seed`, `ops`, `inputs`, `outputs`, `samples`, `tflm`, `tflite_ref`,
`float_model_err_lsb`, `activation_dtypes`, `files`, `tflm_arena_dependent_outputs`) and:

- `invocations_per_sample`: 1, or {ni} for the SVDFs.
- `state_carries_across_invocations`: whether TFLM's outputs change when the same input is
  invoked twice in a fresh interpreter (sample 0 twice).
- `outputs_depend_on_previous_samples`: whether the `.tflm.bin` goldens differ from the
  `.tflm_reset.bin` ones.
- `reset_equals_new_interpreter`: the last sample after `Reset()` gives the same output as in
  a brand-new interpreter.
- `tflite_ref` / `tflite_ref_reset`: TensorFlow Lite's reference kernels (BUILTIN_REF) on the
  same invocation sequence (without / with `reset_all_variables()` before each sample),
  compared with TFLM; informative only.
- `float_model_err_lsb`: per output, the 99th percentile and the max of |dequantized TFLM
  output - float model| in output LSBs, against the `tflm_reset` goldens when state carries
  (the float models start each sample from zero state). The float model is the Keras model,
  or for the SVDFs a numpy float SVDF with the unquantized weights.
- `variable_tensors`: every `is_variable` tensor (index, name, dtype, shape, quantization).
- `recurrent_ops` (LSTM and SVDF models): for each UNIDIRECTIONAL_SEQUENCE_LSTM / SVDF
  operator, its version, builtin options, and every input, output and intermediate tensor
  (index, name, dtype, shape, scale, zero point, `is_variable`, `const`; `null` for an
  omitted optional input, index -1).

## Models

| model | ops (execution order) | inputs -> outputs | TFLM | state carries |
|---|---|---|---|---|
"""

NONDET_NOTE = (
    "running the script twice on the same machine gave byte-identical\n"
    "`.tflite` and `.bin` files (checked when the corpus was made). Calibration runs float\n"
    "kernels, so another CPU or library build could change a scale in the last bit; the goldens\n"
    "always match their own `.tflite`."
)


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


def readme_dropped(out_dir):
    """The "Not produced" entries of the existing README.md (for --only runs): name and
    reason from the README, description from the case registry."""
    path = os.path.join(out_dir, "README.md")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read()
    head = "\n## Not produced, and why\n\n"
    if head not in text:
        return []
    section = text.split(head, 1)[1].split("\n## ", 1)[0]
    descriptions = {c["name"]: c["description"] for c in CASES}
    out = []
    for line in section.splitlines():
        if not line.startswith("- `"):
            continue
        name = line[3:].split("`", 1)[0]
        if name not in descriptions or ") Reason: " not in line:
            continue
        reason = line.rsplit(") Reason: ", 1)[1]
        out.append(dict(name=name, description=descriptions[name], reason=reason))
    return out


def write_readme(out_dir, manifest, dropped, notes):
    import platform
    from importlib.metadata import version

    def v(pkg):
        try:
            return version(pkg)
        except Exception:
            return "?"

    text = README_HEAD.format(
        tf=tf.__version__,
        keras=keras.__version__,
        tfk=v("tf-keras"),
        np=np.__version__,
        fb=v("flatbuffers"),
        tflm=v("tflite-micro"),
        py=platform.python_version(),
        nrep=N_REP,
        nrepseq=SVDF_REP_SEQUENCES,
        nrepsteps=SVDF_REP_STEPS,
        n=N_SAMPLES,
        ns=SVDF_SAMPLES,
        ni=SVDF_INVOCATIONS,
        nondet=NONDET_NOTE,
    )
    for e in manifest:
        status = "ok" if e["tflm"] == "ok" else "refused"
        if e.get("tflm_arena_dependent_outputs"):
            status += ", arena-dependent"
        carries = e.get("state_carries_across_invocations")
        carries = "-" if carries is None else ("yes" if carries else "no")
        text += (
            f"| `{e['name']}` | {fmt_ops(e['ops'])} | {fmt_tensors(e['inputs'])} -> "
            f"{fmt_tensors(e['outputs'])} | {status} | {carries} |\n"
        )
    text += "\nModel descriptions:\n\n"
    for e in manifest:
        text += f"- `{e['name']}`: {e['description']}\n"
    refused = [e for e in manifest if e["tflm"] != "ok"]
    text += "\n## Converted, but TFLM refuses them\n\n"
    if refused:
        text += "Model and inputs kept, no `.tflm.bin`. The error TFLM gave:\n\n"
        for e in refused:
            text += f"- `{e['name']}` ({fmt_ops(e['ops'])}): `{e['tflm']}`\n"
    else:
        text += "None.\n"
    text += "\n## Not produced, and why\n\n"
    if dropped:
        for d in dropped:
            text += f"- `{d['name']}` ({d['description']}) Reason: {d['reason']}\n"
    else:
        text += "None.\n"
    if notes:
        text += "\n## Notes\n\n" + notes.strip() + "\n"
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(text)


NOTES = """
Observations with the versions above (the manifest has the details):

- **Only tf_keras LSTMs are fused.** Keras 3's `keras.layers.LSTM` converts to a WHILE loop
  (3 subgraphs) and so do tf_keras GRU and a `stateful=True` tf_keras LSTM (which adds
  CALL_ONCE, VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE). Full-integer calibration of any of
  these models segfaults in the converter (`calibrator.py` `_feed_tensors`, SIGSEGV), so the
  script converts them in a child process and lists them under "Not produced". tf_keras's
  LSTM becomes one UNIDIRECTIONAL_SEQUENCE_LSTM (operator version 1) returning the whole
  sequence; `return_sequences=False` adds a STRIDED_SLICE of the last timestep.
- **LSTM state carries across invocations, although the Keras models are stateless.** The
  converter gives every fused LSTM two variable tensors (`is_variable=true`, named
  `tfl.pseudo_qconst*`, pointing at the empty buffer 0): LSTM input 18, the output (hidden)
  state, int8 `[batch, units]` with the op output's quantization, and input 19, the cell state,
  int16 `[batch, units]` with a power-of-two scale and zero point 0. TFLM allocates them once,
  sets them to their initial values when the interpreter is created (int8: the zero point;
  int16: 0) and never resets them between `Invoke()` calls: each invocation starts from the
  state the previous one (the previous sample's last timestep) left. Running the same input
  twice gives different outputs, and every LSTM's `.tflm.bin` differs from its `.tflm_reset.bin`
  (`outputs_depend_on_previous_samples`). The Keras model matches the reset goldens (float
  error under 2 output LSB), not the continuous ones: an application that wants Keras
  semantics must call `Reset()` before each window. TensorFlow Lite's interpreter keeps
  variable tensors across `invoke()` in the same way. So no `stateful=True` model is needed
  for state to matter; that one does not convert anyway (above).
- **LSTM tensor layout** (`recurrent_ops` in the manifest). The 24 inputs: 0 input; 1-4
  input-to-gate weights `[units, input_size]` for the input, forget, cell and output gates
  (Keras's `kernel` column blocks i, f, c, o, transposed); 5-8 recurrent weights
  `[units, units]` in the same gate order; 9-11 peepholes, 16-17 projection, 20-23
  layer-norm coefficients absent (index -1); 12-15 gate biases int32 `[units]`; 18 output
  state; 19 cell state. Each of the 8 weight matrices is int8, symmetric (zero point 0),
  quantized per tensor with its own scale (not per channel), and each gate bias has scale
  `input_scale * that gate's input-weight scale` (ratio 1 within 3e-8), zero point 0. Options:
  `fused_activation_function` TANH, `cell_clip` 10.0 on every converted LSTM (Keras has no
  clip; the converter adds it), `proj_clip` 0, `time_major` false except in
  `lstm_time_major` (input `[time, batch, features]`, output `[time, batch, units]`). Cell-state
  scales seen: 2^-15 (most), 2^-16 (second LSTM of `lstm_stacked_seq`), 2^-11
  (`lstm_cell_clip`). Input, hidden-state and output zero points are in general nonzero.
- **The LSTM `intermediates` list is populated but unused.** Each LSTM has 5 intermediates:
  `input_to_{input,forget,cell,output}_intermediate`, float32 with shape `[0]` and no
  quantization, and `effective_hidden_scale_intermediate`, int8 shape `[0]` with the output's
  scale and zero point. With this TFLM build, deleting the intermediates list from
  `lstm_last`, or changing the hidden intermediate's scale or zero point, leaves the outputs
  byte-identical (checked when the corpus was made): without layer norm TFLM computes the gate
  pre-activations in a fixed 2^-12 (Q3.12) scale, and it takes the hidden quantization from the
  output state tensor.
- **Cell clip.** TFLM quantizes `cell_clip` as `cell_clip / cell_scale` saturated to int16:
  with a 2^-15 cell scale that is 32767 and the clip has no effect. In `lstm_cell_clip` the
  cell grows past 10 (gate biases 6), the float calibration (which applies the clip) sees
  |cell| = 10, the cell scale becomes 2^-11, the quantized clip 20480, and the cell-state dump
  `lstm_cell_clip.var1.tflm.bin` shows every cell pinned at 20480 after each invocation. The
  outputs there are mostly saturated (tanh of the clipped cell), so the state dump is the
  discriminating file.
- **SVDF: TFLM's integer kernel ignores the fused activation.** The int8 SVDF requantizes the
  sum to the output and clamps to the int8 range, nothing else; a RELU in the options is not
  applied. TFLM's own tests express RELU through the output quantization (zero point -128),
  as `svdf_kws_rank1` and `svdf_kws_stack` do. `svdf_relu_ignored` has RELU in its options and
  an output range that includes negative values: TFLM outputs negative values (the float
  error of about 58 LSB at the 99th percentile is the missing ReLU). TensorFlow Lite's
  reference kernel does the same (identical outputs), and additionally refuses int8 SVDFs
  whose activation is not RELU (`svdf.cc:394 params->activation != kTfLiteActRelu`), hence the
  `tflite_ref` errors of `svdf_small`, `svdf_kws_rank2` and the two int8-state models.
- **SVDF state layout.** The activation state `[batch, memory_size * num_filters]` holds, per
  batch row and filter, `memory_size` values, oldest first. Each invocation shifts the whole
  buffer left by one element (across filter and batch boundaries; the element that crosses
  is overwritten next), writes the new feature values (input times `weights_feature`,
  rescaled to the state's scale) into the last slot of each filter, then takes the dot
  product of each filter's memory with `weights_time`, sums `rank` filters per unit, adds the
  bias and rescales to the output. TFLM's Prepare checks |bias scale - state scale x
  weights_time scale| < 1e-5 (absolute) and uses the bias tensor without a null check, so
  give every SVDF a bias.
- **TFLM's int8-state SVDF wraps around** (known upstream: tflite-micro issue #2721, with a
  fix proposed in pull request #3627, not in this build). With int8 `weights_time` and an int8
  activation state, TFLM clamps the rescaled feature value to [-128, 127] first and adds the
  state zero point afterwards, storing the sum into the int8 state without saturation, so it
  wraps modulo 256 (and values above 127 - zero point are cut early). In `svdf_int8_state`
  (state zero point -86) 61 of the 1152 state writes are affected; an exact integer
  simulation with TFLM's order reproduces all goldens, one with the fixed order (add the zero
  point, then clamp) differs in 129 of 576 output values, by up to 26 LSB (hence its float
  error of about 12 LSB). The goldens follow this TFLM. `svdf_int8_state_zp0` (zero point 0)
  is the same kind of model where both orders agree. int16 states always have zero point 0.
- **16x8.** Activations int16 with zero point 0, weights int8 symmetric per channel (conv,
  depthwise and FULLY_CONNECTED), biases int64; SOFTMAX, TANH and LOGISTIC outputs have scale
  2^-15, zero point 0. The converter refuses UNIDIRECTIONAL_SEQUENCE_LSTM, HARD_SWISH, PRELU,
  DEPTH_TO_SPACE, SPACE_TO_DEPTH and ARG_MAX in 16x8 ("Quantization to 16x8-bit not yet
  supported for op"); HARD_SWISH is not produced, the others are built directly as
  flatbuffers. Everything else asked for converts; TFLM runs CONV_2D, DEPTHWISE_CONV_2D,
  AVERAGE_POOL_2D, MAX_POOL_2D, FULLY_CONNECTED, SOFTMAX, ADD, MUL, MEAN, PAD, CONCATENATION
  (with an int16 -> int16 QUANTIZE requantizing the RELU branch to the concat's scale),
  RESHAPE, TRANSPOSE, STRIDED_SLICE, LEAKY_RELU, TANH, LOGISTIC, RELU, QUANTIZE float32 ->
  int16 / DEQUANTIZE int16 -> float32 (`x16_io_float`), TRANSPOSE_CONV, SQUARED_DIFFERENCE,
  MAXIMUM, MINIMUM, SPLIT, UNPACK, SLICE, RESIZE_NEAREST_NEIGHBOR, BATCH_MATMUL, ABS, RSQRT,
  and (hand-built) PRELU and the 16x8 LSTM. In `x16_mul` the constant operands of
  `t * 0.5 + 0.25` are int16 scalars stored without a `shape` field (rank 0) with their own
  scale. Float errors of the 16x8 models are tens to a few hundred int16 LSBs (under one int8
  LSB).
- **int16 ops TFLM refuses** (the "refused" models, kept so that mote can be held to
  refusing them too): GATHER ("Type 'INT16' is not supported by gather"), DEPTH_TO_SPACE and
  SPACE_TO_DEPTH (float32 or int8 only) fail in Prepare (when the interpreter is created);
  RESIZE_BILINEAR ("Output type is 7, requires float or int8") and ARG_MAX ("Only float32,
  uint8_t and int8_t are supported currently, got INT16") pass Prepare and fail at the first
  `Invoke()`. TensorFlow Lite's reference kernels run the GATHER and RESIZE_BILINEAR models and
  refuse the other three.
- **SVDF with int16 activations: TFLM refuses it**, so there is no such model here. TFLM's
  Prepare requires a float32 or int8 SVDF input (`svdf_common.cc:399 input->type ==
  kTfLiteFloat32 || input->type == kTfLiteInt8 was not true`), whatever the types of
  `weights_time`, the state and the bias, and an int8 output for an int8 input (line 450).
  TFLM's `EvalInt16SvdfReference` is the int8-activation kernel with an int16 `weights_time`
  and state (`svdf_small` and the other int16-state models above).
- **16x8 quantization details seen in TFLM** (the new 16x8 ops): TRANSPOSE_CONV accumulates in
  int64 and rescales per channel like CONV_2D 16x8, applies the options' fused activation,
  ignores the input and output zero points and accepts an int64, int16 or no bias (the
  converter writes int64, or no bias for `use_bias=False`). SQUARED_DIFFERENCE rescales both
  int16 inputs to twice the larger input scale, squares the difference in int32, rescales to
  the output and requires zero points 0. MAXIMUM and MINIMUM compare the raw int16 values
  whatever the scales: the converter requantizes their inputs (and constants) to the output
  scale with QUANTIZE ops. BATCH_MATMUL
  accumulates in int64 and rescales once (zero points must be 0). ABS keeps the value when the
  input and output scales are equal, else rescales it; RSQRT computes an integer inverse square
  root, returns 32767 for 0 and fails at `Invoke()` on a negative input ("Rsqrt is only defined
  for positive values"); both require zero points 0. PRELU int16 takes an int8 alpha (int16
  alpha is refused) and uses the input, alpha and output zero points. SPLIT, UNPACK, SLICE and
  RESIZE_NEAREST_NEIGHBOR move int16 elements.
- **16x8 LSTM.** TFLM runs the hand-built 16x8 LSTMs with the same kernel and state handling as
  the int8 ones (the hidden and cell states carry across invocations, `Reset()` zeroes them:
  int16 variables reset to 0), with int64 bias accumulation. TensorFlow Lite's BUILTIN_REF
  resolver has no UNIDIRECTIONAL_SEQUENCE_LSTM version 5, hence their `tflite_ref` error.
- TensorFlow Lite's reference kernels differ from TFLM by 1 LSB in models with
  FULLY_CONNECTED (`lstm_last`, `lstm_batch2`, `lstm_time_major`, `x16_cnn`, `x16_mlp_act`;
  see ../tflm-corpus), by up to 97 LSB in `lstm_stacked_seq` and 62 in `lstm_cell_clip`,
  where TFLM stays within about 1 LSB of the float model, and by up to 132 int16 LSB in the
  RSQRT output of `x16_unary` (not investigated further: the goldens are TFLM's). They do not
  run int16 SQUARED_DIFFERENCE (`x16_binary_misc`).
- No output depends on the initial contents of TFLM's arena
  (`tflm_arena_dependent_outputs` empty for every model TFLM runs). `Reset()` gives the same
  results as a new interpreter (`reset_equals_new_interpreter`).
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated case names (manifest entries are merged)")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--convert-one", help=argparse.SUPPRESS)
    ap.add_argument("--to", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.convert_one:
        convert_one_child(args.convert_one, args.to)
        return
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
            print(f"{c['name']:20s} NOT PRODUCED: {drop['reason'][:200]}", flush=True)
        else:
            results[c["name"]] = entry
            print(
                f"{c['name']:20s} {time.time() - t1:5.1f}s tflm={entry['tflm'][:90]} "
                f"carries={entry.get('state_carries_across_invocations')} "
                f"ref={entry['tflite_ref'][:40]} ops={fmt_ops(entry['ops'])}",
                flush=True,
            )
    secs = time.time() - t0

    man_path = os.path.join(out_dir, "manifest.json")
    if args.only and os.path.exists(man_path):
        with open(man_path) as f:
            old = {e["name"]: e for e in json.load(f)}
        for d in dropped:
            old.pop(d["name"], None)
        old.update(results)
        results = old
    if sys.platform.startswith("linux") and results:
        dependent = check_arena(out_dir, list(results.values()))
        for name, outs in dependent.items():
            results[name]["tflm_arena_dependent_outputs"] = outs
            if outs:
                print(f"{name:20s} outputs {outs} depend on TFLM's arena contents", flush=True)
    order = [c["name"] for c in CASES]
    manifest = sorted(results.values(), key=lambda e: order.index(e["name"]))
    with open(man_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    if args.only:
        # Keep the "Not produced" entries of the cases that were not regenerated.
        done = {c["name"] for c in selected}
        kept = [d for d in readme_dropped(out_dir) if d["name"] not in done]
        dropped = sorted(kept + dropped, key=lambda d: order.index(d["name"]))
    write_readme(out_dir, manifest, dropped, NOTES)
    print(f"done in {secs:.1f}s: {len(manifest)} models, {len(dropped)} not produced")


if __name__ == "__main__":
    main()
