"""pytest plugin: numpy's own tests of the scan functions, run with numpy's functions swapped
for gpuscan's on the device named by GPUSCAN_TEST_DEVICE ("cpu" or "gpu").

``np.cumsum`` and friends are replaced in numpy's namespace before the test modules are
imported (their parametrisations and class attributes bind the functions at import). Tests of
``ufunc.accumulate`` (test_ufunc.py, test_mem_overlap.py) see a numpy whose add, multiply,
maximum, minimum and logaddexp accumulate through gpuscan.
"""

import functools
import os
import types

import numpy as np

import gpuscan

DEVICE = os.environ.get("GPUSCAN_TEST_DEVICE", "cpu")
SWAPPED = ("cumsum", "cumprod", "nancumsum", "nancumprod", "cumulative_sum", "cumulative_prod")
UFUNCS = {"add": gpuscan.cumsum, "multiply": gpuscan.cumprod, "maximum": gpuscan.cummax,
          "minimum": gpuscan.cummin, "logaddexp": gpuscan.logcumsumexp}
UFUNC_MODULES = ("test_ufunc.py", "test_mem_overlap.py")
CALLS = {"n": 0}


def _on_device(f):
    @functools.wraps(f)
    def call(*args, **kwargs):
        CALLS["n"] += 1
        kwargs.setdefault("device", DEVICE)
        return f(*args, **kwargs)

    return call


class _Ufunc:
    """A numpy ufunc whose ``accumulate`` is gpuscan's (ufunc rules: axis 0 by default, the
    input's dtype without dtype= or out=)."""

    def __init__(self, ufunc, scan):
        self._ufunc, self._scan = ufunc, scan

    def __getattr__(self, name):
        return getattr(self._ufunc, name)

    def __call__(self, *args, **kwargs):
        return self._ufunc(*args, **kwargs)

    def accumulate(self, array, axis=0, dtype=None, out=None):
        if isinstance(out, tuple):
            (out,) = out
        x = np.asarray(array)
        if axis is None or x.ndim == 0 or not gpuscan._core.handled(x.dtype):
            return self._ufunc.accumulate(array, axis=axis, dtype=dtype, out=out)
        if dtype is None and out is None and self._scan is not gpuscan.logcumsumexp:
            dtype = x.dtype
        CALLS["n"] += 1
        return self._scan(x, axis=axis, dtype=dtype, out=out, device=DEVICE)


def _numpy_proxy():
    proxy = types.ModuleType("numpy")
    proxy.__dict__.update(np.__dict__)
    for name, scan in UFUNCS.items():
        setattr(proxy, name, _Ufunc(getattr(np, name), scan))
    return proxy


def pytest_configure(config):
    for name in SWAPPED:
        if hasattr(np, name):
            setattr(np, name, _on_device(getattr(gpuscan, name)))


def pytest_collection_modifyitems(session, config, items):
    proxy = _numpy_proxy()
    for item in items:
        mod = getattr(item, "module", None)
        if mod is not None and os.path.basename(mod.__file__) in UFUNC_MODULES:
            mod.np = proxy


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"gpuscan calls on device={DEVICE}: {CALLS['n']}")
