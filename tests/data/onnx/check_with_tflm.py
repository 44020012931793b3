"""Cross-check of mote's float import against TensorFlow Lite Micro (manual; CI has no Python).

For every float fixture here (and the float MLPerf Tiny ResNet-8), `mote import --calibration
... --emit-tflite` writes the blob and the int8 .tflite it was imported from; TFLM (the
`tflite-micro` wheel) runs the .tflite and `mote run` the blob on the same 8 seeded int8
inputs, and the outputs must be equal byte for byte. This proves that the int8 model mote
writes is a valid TFLite model that TFLM runs, and that mote runs it as TFLM does.

Run from the repository root, after `cargo build --release -p mote-tools`:
    python tests/data/onnx/check_with_tflm.py
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from tflite_micro.python.tflite_micro import runtime

ROOT = Path(__file__).resolve().parents[3]
MOTE = ROOT / "target/release/mote"
ONNX = ROOT / "tests/data/onnx"
FIXTURES = ["mlp", "digits_cnn", "dscnn", "resnet", "conv1d", "mobile_block", "ops_mix",
            "keras_cnn", "decoder", "lstm"]


def check(name, model, calibration, out):
    blob, tfl = out / f"{name}.mote", out / f"{name}.tflite"
    subprocess.run([MOTE, "import", model, "--calibration", calibration, "-o", blob,
                    "--emit-tflite", tfl], check=True, capture_output=True)
    interp = runtime.Interpreter.from_file(str(tfl))
    shape = interp.get_input_details(0)["shape"]
    x = np.random.default_rng(0).integers(-128, 128, size=(8, *shape[1:]), dtype=np.int8)
    x.tofile(out / f"{name}_in.bin")
    tflm = []
    for i in range(len(x)):
        interp.set_input(x[i:i + 1], 0)
        interp.invoke()
        tflm.append(interp.get_output(0).astype(np.int8).ravel())
    subprocess.run([MOTE, "run", blob, "-i", out / f"{name}_in.bin", "-o", out / f"{name}.bin"],
                   check=True, capture_output=True)
    ours = np.fromfile(out / f"{name}.bin", dtype=np.int8)
    same = np.array_equal(np.concatenate(tflm), ours)
    print(f"{name}: {'equal to TFLM' if same else 'DIFFERENT from TFLM'} ({ours.size} output bytes)")
    return same


def main():
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        ok = all([check(n, ONNX / f"{n}.onnx", ONNX / f"{n}_inputs.npy", out) for n in FIXTURES])
        rng = np.random.default_rng(0)
        images = rng.uniform(-1, 1, size=(64, 1, 32, 32, 3)).astype(np.float32)
        np.save(out / "ic.npy", images)
        ic = ROOT / "tests/data/mlperf-tiny/ic_resnet8/model_float32.tflite"
        ok &= check("ic_resnet8_float", ic, out / "ic.npy", out)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
