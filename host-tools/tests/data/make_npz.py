# Makes the NPZ fixtures of host-tools/src/intake/data.rs's tests (numpy is the reference writer):
#   python3 make_npz.py   (in a throwaway virtual environment with numpy)
import numpy as np

x = np.arange(12, dtype=np.float32).reshape(3, 2, 2, 1) / 4  # 3 samples of [2, 2, 1]
y = np.array([2, 0, 1], dtype=np.int64)
np.savez_compressed("tiny_compressed.npz", x=x, y=y)
np.savez("tiny_stored.npz", x=x.astype(np.uint8), y=y.reshape(3, 1).astype(np.int32))
