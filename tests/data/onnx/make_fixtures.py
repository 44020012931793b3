#!/usr/bin/env python3
"""Make the ONNX test fixtures in this directory from small PyTorch models (and one Keras model).

Run from the repository root (see README.md for the exact versions used):

    /work/venv/bin/python tests/data/onnx/make_fixtures.py

Everything is seeded and runs single-threaded on the CPU, so two runs on the same machine
give byte-identical files. Do not edit the outputs by hand: change this script and rerun it.

For every model `<name>` it writes `<name>.onnx` (raw exporter output, opset 17, nothing
simplified), `<name>_inputs.npy` (float32, [N, *input_shape[1:]]) and `<name>_outputs_ort.npy`
(onnxruntime's outputs, one sample at a time with batch 1, stacked to [N, *output_shape[1:]]).
It also writes the digits data splits, and prints each model's op types, opset and (for the
digits models) its onnxruntime accuracy on the test split.
"""

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DIGITS_CSV = REPO / "models" / "digits" / "digits.csv"

OPSET = 17
N_SAMPLES = 32  # rows of each <name>_inputs.npy
N_TEST = 360  # digits test split size (the rest, 1437 rows, is the training split)
N_CALIB_SAVED = 200  # digits_calibration.npy
N_CALIB_QDQ = 100  # images fed to quantize_static's calibration

torch.set_num_threads(1)
torch.set_num_interop_threads(1)
torch.use_deterministic_algorithms(True)


def seed_all(seed):
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------
# Data


def load_digits():
    raw = np.loadtxt(DIGITS_CSV, delimiter=",", dtype=np.int64)
    assert raw.shape == (1797, 65), raw.shape
    x = (raw[:, :64].astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)  # row-major 8x8, 0..1
    y = raw[:, 64].astype(np.int64)
    perm = np.random.default_rng(1234).permutation(len(x))
    test, train = perm[:N_TEST], perm[N_TEST:]
    return x[train], y[train], x[test], y[test]


# --------------------------------------------------------------------------------------
# Models


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64, 32)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(self.flatten(x))))


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))  # [8, 8, 8]
        x = self.relu2(self.conv2(x))  # [16, 4, 4]
        x = self.pool(x)  # [16, 2, 2]
        return self.fc(self.flatten(x))  # NCHW flatten: index = c*4 + h*2 + w


class DSCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.relu6 = nn.ReLU6()
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.dw_bn = nn.BatchNorm2d(16)
        self.dw_relu = nn.ReLU()
        self.pw = nn.Conv2d(16, 24, 1)
        self.pw_bn = nn.BatchNorm2d(24)
        self.pw_relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = self.relu6(self.bn(self.conv(x)))
        x = self.dw_relu(self.dw_bn(self.dw(x)))
        x = self.pw_relu(self.pw_bn(self.pw(x)))
        return self.fc(self.flatten(self.pool(x)))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(8)
        # block 1: identity skip
        self.b1_conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.b1_bn1 = nn.BatchNorm2d(8)
        self.b1_conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.b1_bn2 = nn.BatchNorm2d(8)
        # block 2: stride 2, 1x1 projection on the skip
        self.b2_conv1 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.b2_bn1 = nn.BatchNorm2d(16)
        self.b2_conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.b2_bn2 = nn.BatchNorm2d(16)
        self.b2_proj = nn.Conv2d(8, 16, 1, stride=2)
        self.b2_proj_bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))  # [8, 8, 8]
        y = F.relu(self.b1_bn1(self.b1_conv1(x)))
        y = self.b1_bn2(self.b1_conv2(y))
        x = F.relu(x + y)  # [8, 8, 8]
        y = F.relu(self.b2_bn1(self.b2_conv1(x)))
        y = self.b2_bn2(self.b2_conv2(y))
        x = F.relu(self.b2_proj_bn(self.b2_proj(x)) + y)  # [16, 4, 4]
        x = torch.mean(x, dim=(2, 3))  # [16] (ReduceMean, keepdims=0)
        return self.fc(x)


class Conv1DNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(4, 8, 5, padding=2)
        self.bn1 = nn.BatchNorm1d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv1d(8, 8, 3, stride=2, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool1d(2)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))  # [8, 32]
        x = self.relu2(self.conv2(x))  # [8, 16]
        x = self.pool(x)  # [8, 8]
        return self.fc(self.flatten(self.gap(x)))  # [3]


class MobileBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.stem_bn = nn.BatchNorm2d(16)
        self.stem_act = nn.Hardswish()
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.dw_bn = nn.BatchNorm2d(16)
        self.dw_act = nn.Hardswish()
        # squeeze-excite
        self.se_pool = nn.AdaptiveAvgPool2d(1)
        self.se_reduce = nn.Conv2d(16, 4, 1)
        self.se_relu = nn.ReLU()
        self.se_expand = nn.Conv2d(4, 16, 1)
        self.se_gate = nn.Hardsigmoid()
        # pointwise projection + a parallel 1x1 branch, concatenated along channels
        self.pw = nn.Conv2d(16, 8, 1)
        self.pw_bn = nn.BatchNorm2d(8)
        self.pw_act = nn.LeakyReLU(0.1)
        self.branch = nn.Conv2d(16, 8, 1)
        self.pool = nn.AvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16 * 4 * 4, 10)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        x = self.stem_act(self.stem_bn(self.stem(x)))  # [16, 8, 8]
        x = self.dw_act(self.dw_bn(self.dw(x)))  # [16, 8, 8]
        s = self.se_gate(self.se_expand(self.se_relu(self.se_reduce(self.se_pool(x)))))
        x = x * s  # [16, 8, 8] * [16, 1, 1]
        a = self.pw_act(self.pw_bn(self.pw(x)))  # [8, 8, 8]
        b = self.branch(x)  # [8, 8, 8]
        x = torch.cat([a, b], dim=1)  # [16, 8, 8]
        x = self.pool(x)  # [16, 4, 4]
        return self.softmax(self.fc(self.flatten(x)))  # [10]


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=8, hidden_size=16, batch_first=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        y, _ = self.lstm(x)  # [1, 10, 16]
        return self.fc(y[:, -1, :])  # [1, 4]


class Decoder(nn.Module):
    """Three transposed convolutions (upsampling decoder), channels-first, random init."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(8, 8, kernel_size=4, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.up2 = nn.ConvTranspose2d(8, 4, kernel_size=3, stride=2, padding=1, output_padding=1)
        self.tanh = nn.Tanh()
        self.up3 = nn.ConvTranspose2d(4, 3, kernel_size=2, stride=2)  # no padding, with bias
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(3 * 32 * 32, 6)

    def forward(self, x):
        x = self.relu(self.up1(x))  # [8, 4, 4] -> [8, 8, 8]: (4-1)*2 - 2*1 + 4
        x = self.tanh(self.up2(x))  # [4, 16, 16]: (8-1)*2 - 2*1 + 3 + 1 (output_padding)
        x = self.up3(x)  # [3, 32, 32]: (16-1)*2 + 2
        return self.fc(self.flatten(x))  # NCHW flatten, [6]


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(input_size=8, hidden_size=16, batch_first=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        y, _ = self.gru(x)  # [1, 10, 16]
        return self.fc(y[:, -1, :])  # [1, 4]


class OpsMix(nn.Module):
    """A grab bag of ops, exported without constant folding so BatchNormalization stays.

    Batch 1 only (`reshape(1, -1)`), hence `calibrate_bn` / `normalize_head(batch1=True)`.
    """

    FEATURES = 9 * 7 * 6  # channels x H x W before the flatten

    def __init__(self):
        super().__init__()
        self.in_bn = nn.BatchNorm2d(3)  # BN on the graph input, not after a conv
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.prelu = nn.PReLU(8)
        self.conv2 = nn.Conv2d(8, 8, 3)  # no padding (the F.pad before it is asymmetric)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)  # count_include_pad=True (default)
        self.expand = nn.Conv2d(3, 5, 1)
        self.w = nn.Parameter(torch.randn(self.FEATURES, 16) / self.FEATURES**0.5)
        self.b = nn.Parameter(0.1 * torch.randn(16))
        self.fc_bn = nn.BatchNorm1d(16)  # BN on a [1, 16] tensor, after MatMul + Add
        self.fc = nn.Linear(16, 5)
        self.softmax = nn.Softmax(dim=-1)
        with torch.no_grad():
            # PyTorch's default init left the sigmoid/tanh outputs nearly constant across
            # inputs (fc_bn's running variances were ~1e-5, the size of its epsilon)
            self.conv2.weight.mul_(4.0)
            self.dw.weight.mul_(6.0)
            self.expand.weight.mul_(2.0)
            self.prelu.weight.copy_(0.05 + 0.4 * torch.rand(8))  # distinct per-channel slopes

    def forward(self, x):
        x = self.in_bn(x)  # [3, 12, 12]
        x = self.prelu(self.bn1(self.conv1(x)))  # [8, 12, 12]
        x = F.pad(x, (1, 0, 2, 1))  # W: left 1, right 0; H: top 2, bottom 1 -> [8, 15, 13]
        x = torch.sigmoid(self.conv2(x))  # [8, 13, 11]
        x = torch.tanh(self.dw(x))  # [8, 13, 11]
        x = (x - 0.5) / 2.0
        x = self.pool(x)  # [8, 7, 6]
        s = x[:, 2:6]  # [4, 7, 6]
        a, b = torch.split(x, [3, 5], dim=1)  # [3, 7, 6], [5, 7, 6]
        x = torch.cat([s, self.expand(a) * b], dim=1)  # [9, 7, 6]
        x = x.permute(0, 2, 3, 1).reshape(1, -1)  # NHWC flatten: [1, 378]
        x = torch.matmul(x, self.w) + self.b  # MatMul + Add, not Gemm
        x = self.fc_bn(x).unsqueeze(1).squeeze(1)  # [1, 16]
        return self.softmax(self.fc(x))  # [1, 5]


# --------------------------------------------------------------------------------------
# Training / init helpers


def train(model, x, y, epochs, lr, seed, batch=64):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    return model


def randomize_bn(model, input_shape, seed, batches=8):
    """Give BatchNorm layers non-trivial affine params and running stats."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        model.train()
        for _ in range(batches):
            # shifted/scaled inputs so running means and variances are far from 0 and 1
            model(0.5 + 2.0 * torch.randn((16, *input_shape[1:]), generator=g))
    model.eval()
    return model


def calibrate_bn(model, input_shape, seed, n=16):
    """`randomize_bn` for batch-1-only models (BatchNorm1d cannot train on one sample).

    Random affine params as in `randomize_bn`; then, one BN layer at a time in forward order,
    its running mean and variance are set to the per-channel mean and (biased) variance of its
    inputs over `n` seeded shifted/scaled inputs (N(0.5, 2)) run one by one in eval mode.
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    model.eval()
    with torch.no_grad():
        for m in bns:
            m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
            m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        xs = 0.5 + 2.0 * torch.randn((n, *input_shape[1:]), generator=g)
        for m in bns:
            seen = []
            hook = m.register_forward_hook(lambda mod, i, o: seen.append(i[0]))
            for x in xs:
                model(x[None])
            hook.remove()
            t = torch.cat(seen).transpose(0, 1).reshape(m.num_features, -1)
            m.running_mean.copy_(t.mean(1))
            m.running_var.copy_(t.var(1, unbiased=False))
    return model


def normalize_head(model, input_shape, seed, std=1.5, batch1=False):
    """Rescale the final Linear (`model.fc`) of a random-init model, per output.

    With random init the outputs barely depend on the input (e.g. conv1d's spread across
    inputs was ~0.03 and its argmax the same for every input; mobile_block's softmax was flat).
    Here each output's weights are scaled and its bias set so that, over a seeded batch of 64
    random-normal inputs, each pre-activation output has mean 0 and standard deviation `std`.
    """
    g = torch.Generator().manual_seed(seed + 1000)
    feats = []
    hook = model.fc.register_forward_hook(lambda m, i, o: feats.append(i[0]))
    model.eval()
    with torch.no_grad():
        x = torch.randn((64, *input_shape[1:]), generator=g)
        if batch1:  # models that only run with batch 1: one sample at a time
            for xi in x:
                model(xi[None])
            feats[:] = [torch.cat(feats)]
        else:
            model(x)
        hook.remove()
        k = std / model.fc(feats[0]).std(0)
        model.fc.weight.mul_(k[:, None])
        model.fc.bias.copy_(-(feats[0] @ model.fc.weight.T).mean(0))
    return model


# --------------------------------------------------------------------------------------
# Export / run helpers


def export(model, example, path, dynamic_batch=False, constant_folding=True):
    model.eval()
    kwargs = {}
    if not constant_folding:
        # also skips the eval-mode peephole pass that folds BatchNorm into the preceding Conv
        kwargs["do_constant_folding"] = False
    if dynamic_batch:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warning
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,  # classic TorchScript exporter
            opset_version=OPSET,
            input_names=["input"],
            output_names=["output"],
            **kwargs,
        )
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    return m


def session(path, disable_opt=False):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    if disable_opt:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_one_by_one(sess, xs):
    outs = [sess.run(["output"], {"input": x[None]})[0] for x in xs]
    for o in outs:
        assert o.shape[0] == 1, o.shape
    return np.concatenate(outs, axis=0).astype(np.float32)


def describe(name, path):
    m = onnx.load(str(path))
    opsets = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    ops = sorted(set(n.op_type for n in m.graph.node))
    print(f"\n== {name}: opset {opsets}, producer {m.producer_name} {m.producer_version}")
    print(f"   ops: {ops}")

    def shape(vi):
        return [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]

    for vi in m.graph.input:
        print(f"   input  {vi.name}: {shape(vi)} elem_type {vi.type.tensor_type.elem_type}")
    for vi in m.graph.output:
        print(f"   output {vi.name}: {shape(vi)} elem_type {vi.type.tensor_type.elem_type}")
    print(f"   nodes ({len(m.graph.node)}):")
    for n in m.graph.node:
        attrs = []
        for a in n.attribute:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, onnx.TensorProto):
                arr = onnx.numpy_helper.to_array(v)
                v = f"tensor{list(arr.shape)}:{arr.dtype}" + (f"={arr.tolist()}" if arr.size <= 8 else "")
            elif isinstance(v, bytes):
                v = v.decode()
            attrs.append(f"{a.name}={v}")
        print(f"     {n.op_type}({', '.join(n.input)}) -> {', '.join(n.output)}  {' '.join(attrs)}")
    print(f"   initializers ({len(m.graph.initializer)}):")
    for t in m.graph.initializer:
        arr = onnx.numpy_helper.to_array(t)
        print(f"     {t.name}: {list(arr.shape)} {arr.dtype}")
    return ops, opsets


def save_io(name, path, xs):
    np.save(HERE / f"{name}_inputs.npy", xs.astype(np.float32))
    out = run_one_by_one(session(path), xs)
    np.save(HERE / f"{name}_outputs_ort.npy", out)
    return out


def ort_accuracy(path, x, y):
    sess = session(path)
    pred = np.array([int(np.argmax(sess.run(["output"], {"input": xi[None]})[0])) for xi in x])
    return float((pred == y).mean())


def torch_check(model, xs, ort_out, name, atol=1e-4):
    with torch.no_grad():
        ref = torch.cat([model(torch.from_numpy(x[None])) for x in xs]).numpy()
    err = float(np.abs(ref - ort_out).max())
    print(f"   max |torch - ort| over {len(xs)} samples: {err:.3g}")
    assert err < atol, (name, err)


# --------------------------------------------------------------------------------------
# Keras (tf_keras) -> tf2onnx; TensorFlow is imported only when a Keras fixture is made


def keras_model(name, input_shape, seed, std=1.5):
    """Small NHWC Keras CNN, random init, converted with `tf2onnx.convert.from_keras`.

    Kernels start from Keras' seeded default init (glorot uniform), the first conv's scaled by
    3 and the depthwise one's by 5 (so that some ReLU6 inputs exceed 6); every bias (zero by
    default, which tf2onnx would simply drop) is set to N(0, 0.2), then the 1x1 conv's bias is
    shifted so the pooled features have N(0, 0.25) means over 64 seeded inputs. The Dense head
    is rescaled like `normalize_head`: per output, pre-softmax mean 0 and std `std` over the
    same inputs.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf2onnx
    import tf_keras as keras

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    print(f"\ntensorflow {tf.__version__}, tf_keras {keras.__version__}, "
          f"tf2onnx {tf2onnx.__version__}")

    rng = seed_all(seed)
    keras.utils.set_random_seed(seed)  # python, numpy (global) and tf seeds
    L = keras.layers
    model = keras.Sequential(
        [
            L.InputLayer(input_shape=input_shape[1:], batch_size=1, name="input"),
            L.Conv2D(8, 3, padding="same", activation="relu"),
            L.DepthwiseConv2D(3, padding="same"),
            L.ReLU(max_value=6),
            L.Conv2D(8, 1),
            L.MaxPooling2D(2),
            L.GlobalAveragePooling2D(),
            L.Dense(4, activation="softmax", name="output"),  # graph output name
        ]
    )
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0.0, 0.2, layer.bias.shape).astype(np.float32))
    conv, dw, pw, dense = model.layers[0], model.layers[1], model.layers[3], model.layers[-1]
    # with the default init no ReLU6 input reached 6 and the pooled features barely depended on
    # the input (std across inputs ~0.01 around means up to 0.9): scale the first two kernels
    conv.kernel.assign(conv.kernel * 3.0)
    dw.depthwise_kernel.assign(dw.depthwise_kernel * 5.0)
    feat_model = keras.Model(model.inputs, model.layers[-2].output)
    head_x = np.random.default_rng(seed + 1000).standard_normal((64, *input_shape[1:]))
    head_x = head_x.astype(np.float32)
    # move the pooled features' means to N(0, 0.25) values (max pool and global average commute
    # with a per-channel shift), so the rescaled Dense head below gets a moderate bias rather
    # than a large compensating one (or, if centred exactly, a zero one)
    target = rng.normal(0.0, 0.25, pw.bias.shape)
    shift = target - feat_model(head_x).numpy().mean(0)
    pw.bias.assign((pw.bias.numpy() + shift).astype(np.float32))
    # head: like normalize_head (Dense kernel is [in, out])
    feats = feat_model(head_x).numpy()
    kernel = dense.kernel.numpy()
    k = std / (feats @ kernel + dense.bias.numpy()).std(0)
    kernel = (kernel * k[None, :]).astype(np.float32)
    dense.kernel.assign(kernel)
    dense.bias.assign(-(feats @ kernel).mean(0).astype(np.float32))

    xs = rng.standard_normal((N_SAMPLES, *input_shape[1:])).astype(np.float32)
    path = HERE / f"{name}.onnx"
    spec = (tf.TensorSpec(input_shape, tf.float32, name="input"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET, output_path=str(path))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    describe(name, path)
    out = save_io(name, path, xs)
    ref = np.concatenate([model(x[None], training=False).numpy() for x in xs])
    err = float(np.abs(ref - out).max())
    print(f"   max |keras - ort| over {len(xs)} samples: {err:.3g}")
    assert err < 1e-4, (name, err)


# --------------------------------------------------------------------------------------


class DigitsReader(CalibrationDataReader):
    def __init__(self, xs):
        self.it = iter([{"input": x[None]} for x in xs])

    def get_next(self):
        return next(self.it, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated model names (default: all)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None

    def want(n):
        return only is None or n in only

    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}, numpy {np.__version__}")

    xtr, ytr, xte, yte = load_digits()
    np.save(HERE / "digits_calibration.npy", xtr[:N_CALIB_SAVED])
    np.save(HERE / "digits_test_x.npy", xte)
    np.save(HERE / "digits_test_y.npy", yte)
    print(f"digits: train {xtr.shape}, test {xte.shape}")
    digits_in = xte[:N_SAMPLES]
    acc = {}

    def digits_model(name, cls, epochs, lr, seed):
        seed_all(seed)  # before construction, so the init depends on `seed` alone
        model = train(cls(), xtr, ytr, epochs=epochs, lr=lr, seed=seed)
        path = HERE / f"{name}.onnx"
        export(model, torch.from_numpy(digits_in[:1]), path)
        describe(name, path)
        out = save_io(name, path, digits_in)
        torch_check(model, digits_in, out, name)
        acc[name] = ort_accuracy(path, xte, yte)
        print(f"   onnxruntime test accuracy: {acc[name]:.4f} ({len(yte)} images)")
        return model, path

    # 1. mlp (and 9. mlp_dynamic: the same trained weights, dynamic batch)
    if want("mlp") or want("mlp_dynamic"):
        mlp, _ = digits_model("mlp", MLP, epochs=40, lr=1e-2, seed=1)
        path = HERE / "mlp_dynamic.onnx"
        export(mlp, torch.from_numpy(digits_in[:1]), path, dynamic_batch=True)
        describe("mlp_dynamic", path)
        out = save_io("mlp_dynamic", path, digits_in)
        torch_check(mlp, digits_in, out, "mlp_dynamic")
        # the dynamic model must also run with batch > 1
        batched = session(path).run(["output"], {"input": digits_in})[0]
        print(f"   batch-32 run: shape {batched.shape}, max diff vs one-by-one "
              f"{float(np.abs(batched - out).max()):.3g}")
        acc["mlp_dynamic"] = ort_accuracy(path, xte, yte)
        print(f"   onnxruntime test accuracy: {acc['mlp_dynamic']:.4f}")

    # 2. digits_cnn (and 8. digits_cnn_qdq)
    if want("digits_cnn") or want("digits_cnn_qdq"):
        _, cnn_path = digits_model("digits_cnn", DigitsCNN, epochs=40, lr=1e-2, seed=2)
        assert acc["digits_cnn"] >= 0.95, acc["digits_cnn"]

        name = "digits_cnn_qdq"
        path = HERE / f"{name}.onnx"
        with tempfile.TemporaryDirectory() as tmp:
            pre = Path(tmp) / "digits_cnn_pre.onnx"
            quant_pre_process(str(cnn_path), str(pre))
            print(f"\n-- quant_pre_process output ops: "
                  f"{sorted(set(n.op_type for n in onnx.load(str(pre)).graph.node))}")
            quantize_static(
                str(pre),
                str(path),
                DigitsReader(xtr[:N_CALIB_QDQ]),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
            )
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        describe(name, path)
        out = save_io(name, path, digits_in)  # default ORT optimizations (fused QDQ kernels)
        # for information: the same model with every ORT graph optimization disabled
        # (each DequantizeLinear -> float op -> QuantizeLinear run literally)
        out_ref = run_one_by_one(session(path, disable_opt=True), digits_in)
        print(f"   max |ORT_ENABLE_ALL - ORT_DISABLE_ALL| = {float(np.abs(out - out_ref).max()):.3g}")
        acc[name] = ort_accuracy(path, xte, yte)
        print(f"   onnxruntime test accuracy: {acc[name]:.4f} ({len(yte)} images)")

    # 3. dscnn
    if want("dscnn"):
        digits_model("dscnn", DSCNN, epochs=30, lr=1e-2, seed=3)

    # 4. resnet
    if want("resnet"):
        digits_model("resnet", ResNet, epochs=10, lr=1e-2, seed=4)

    # 5-7. random-init models with seeded random-normal inputs
    def random_model(name, model, input_shape, seed, bn=False):
        rng = seed_all(seed)
        model = model()
        if bn:
            randomize_bn(model, input_shape, seed)
        normalize_head(model, input_shape, seed)
        model.eval()
        xs = rng.standard_normal((N_SAMPLES, *input_shape[1:])).astype(np.float32)
        path = HERE / f"{name}.onnx"
        export(model, torch.from_numpy(xs[:1]), path)
        describe(name, path)
        out = save_io(name, path, xs)
        torch_check(model, xs, out, name)

    if want("conv1d"):
        random_model("conv1d", Conv1DNet, (1, 4, 32), seed=5, bn=True)
    if want("mobile_block"):
        random_model("mobile_block", MobileBlock, (1, 3, 16, 16), seed=6, bn=True)
    if want("lstm"):
        random_model("lstm", LSTMNet, (1, 10, 8), seed=7)

    # 10. ops_mix: random init, batch 1 only, no constant folding (BatchNormalization kept)
    if want("ops_mix"):
        name, input_shape, seed = "ops_mix", (1, 3, 12, 12), 8
        rng = seed_all(seed)
        model = OpsMix()
        calibrate_bn(model, input_shape, seed)
        normalize_head(model, input_shape, seed, batch1=True)
        model.eval()
        xs = rng.standard_normal((N_SAMPLES, *input_shape[1:])).astype(np.float32)
        path = HERE / f"{name}.onnx"
        export(model, torch.from_numpy(xs[:1]), path, constant_folding=False)
        ops, _ = describe(name, path)
        wanted = {"AveragePool", "BatchNormalization", "Div", "MatMul", "Mul", "PRelu", "Pad",
                  "Reshape", "Sigmoid", "Slice", "Softmax", "Split", "Squeeze", "Sub", "Tanh",
                  "Transpose", "Unsqueeze"}
        assert wanted <= set(ops), sorted(wanted - set(ops))
        n_bn = sum(n.op_type == "BatchNormalization" for n in onnx.load(str(path)).graph.node)
        assert n_bn == 3, n_bn  # on the input, after conv1, after MatMul + Add
        out = save_io(name, path, xs)
        torch_check(model, xs, out, name)

    # 11. keras_cnn: tf_keras model converted by tf2onnx (NHWC input)
    if want("keras_cnn"):
        keras_model("keras_cnn", (1, 16, 16, 3), seed=9)

    # 12. decoder: three ConvTranspose nodes (random init, channels-first)
    if want("decoder"):
        random_model("decoder", Decoder, (1, 8, 4, 4), seed=10)
        nodes = onnx.load(str(HERE / "decoder.onnx")).graph.node
        n_ct = sum(n.op_type == "ConvTranspose" for n in nodes)
        assert n_ct == 3, n_ct

    # 13. gru: nn.GRU (the importer refuses GRU; the fixture checks its message)
    if want("gru"):
        random_model("gru", GRUNet, (1, 10, 8), seed=11)

    print("\n== accuracies (onnxruntime, digits test split):")
    for k, v in acc.items():
        print(f"   {k}: {v:.4f}")


if __name__ == "__main__":
    main()
