#!/usr/bin/env python3
"""numpy's float32 accuracy of cumsum, cumprod and logaddexp.accumulate on the inputs of
examples/family_accuracy.rs, against a float64 reference: python3 benches/family_accuracy.py [log2 n]"""

import sys

import numpy as np

log2 = int(sys.argv[1]) if len(sys.argv) > 1 else 24
n = 1 << log2
u = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761) % np.uint64(1 << 32)) / float(1 << 32)
inputs = {
    "cumsum": u.astype(np.float32),
    "cumprod": (1.0 + 0.01 * (u - 0.5)).astype(np.float32),
    "logcumsumexp": (20.0 * (u - 0.5)).astype(np.float32),
}
print(f"numpy {np.__version__}, float32, n = 2^{log2}")
for name, x in inputs.items():
    wide = x.astype(np.float64)
    if name == "cumsum":
        got, want = np.cumsum(x), np.cumsum(wide)
    elif name == "cumprod":
        got, want = np.cumprod(x), np.cumprod(wide)
    else:
        got, want = np.logaddexp.accumulate(x), np.logaddexp.accumulate(wide)
    scale = np.maximum(np.abs(want), 1.0) if name == "logcumsumexp" else np.abs(want)
    keep = want != 0  # a zero reference (the first sum) is met exactly
    err = np.max(np.abs(got.astype(np.float64) - want)[keep] / scale[keep])
    print(f"| {name} | {err:.2e} |")
