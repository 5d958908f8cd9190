"""The default context's lifetime, Context, info, GIL release and device-resident arrays."""

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import gpuscan


def test_default_context_is_lazy():
    code = """
import numpy as np, gpuscan
from gpuscan import _gpuscan as n
assert not n.has_default_context()
gpuscan.cumsum(np.empty((0, 3)), axis=1); gpuscan.cumsum([], dtype=np.float32)
gpuscan.cumsum(np.arange(5), device="cpu")
assert not n.has_default_context(), "opened for an empty array or device='cpu'"
gpuscan.cumsum(np.arange(5))
assert n.has_default_context()
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_info_and_context():
    i = gpuscan.info()
    assert i["numpy"] == np.__version__ and "gpu_dtypes" in i
    cpu = gpuscan.Context(device="cpu")
    assert not cpu.has_gpu
    np.testing.assert_array_equal(cpu.cumsum(np.arange(4)), [0, 1, 3, 6])
    with pytest.raises(gpuscan.GpuUnavailableError):
        cpu.cumsum(np.arange(4), device="gpu")
    ctx = gpuscan.Context(device="gpu", strategy="blelloch", auto_threshold={"float32": 8})
    assert ctx.auto_threshold(np.float32) == 8 and ctx.auto_threshold("f8") is None
    assert ctx.info()["strategy"] == "blelloch"
    ctx.set_auto_threshold(1 << 30)
    assert ctx.auto_threshold("int64") == 1 << 30
    np.testing.assert_array_equal(ctx.cumulative_sum(np.arange(4), include_initial=True),
                                  [0, 0, 1, 3, 6])
    name = ctx.info()["adapter"]["name"]
    named = gpuscan.Context(adapter=name[:4].upper())
    assert named.info()["adapter"]["name"] == name


def test_gil_is_released():
    x = np.random.default_rng(0).random(1 << 21)
    done = threading.Event()
    ticks = 0

    def work():
        for _ in range(2):
            gpuscan.cumsum(x, device="cpu", order="exact")
        done.set()

    t = threading.Thread(target=work)
    start = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks += 1
    t.join()
    elapsed = time.perf_counter() - start
    # With the GIL held for the scans this thread would barely run while they do.
    assert ticks > 10_000 or elapsed < 0.01, (ticks, elapsed)


def test_gpu_arrays():
    x = np.arange(24, dtype=np.int32).reshape(4, 6)
    g = gpuscan.upload(x)
    assert g.shape == (4, 6) and g.dtype == np.int64 and g.size == 24 and len(g) == 4
    s = g.cumsum(axis=1).cummax(axis=0, reverse=True)
    want = np.flip(np.maximum.accumulate(np.flip(np.cumsum(x, axis=1), 0), axis=0), 0)
    np.testing.assert_array_equal(s.download(), want)
    np.testing.assert_array_equal(np.asarray(g.cumsum()), np.cumsum(x))
    f = gpuscan.upload(np.ones(5), dtype=np.float32)
    np.testing.assert_array_equal(f.cumulative_sum().download(),
                                  np.arange(1, 6, dtype=np.float32))
    np.testing.assert_array_equal(f.cumsum(exclusive=True, segments=[0, 2, 5]).download(),
                                  [0, 1, 0, 1, 2])
