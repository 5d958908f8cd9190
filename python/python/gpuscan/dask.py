"""Dask arrays scanned with gpuscan as the per-chunk kernel.

Each function takes and returns a ``dask.array.Array`` and builds the graph with
``dask.array.reductions.cumreduction``: every chunk is scanned by gpuscan (in the worker that
holds it: each worker process opens its own device on first use), and the carries between
chunks are combined by numpy, as in dask's own ``da.cumsum``. So float results are not bitwise
numpy's across chunk boundaries; integers are exact.

``axis=None`` ravels and rechunks into about as many chunks as the input had (dask's own
``axis=None`` makes chunks of ``npartitions`` elements each, which can explode the graph).
"""

from __future__ import annotations

import math
import operator

import numpy as np

import dask.array as da
from dask.array.reductions import cumreduction

from . import _api

_CALLS = 0  # chunk scans run by this process (tests read it in the workers)


def kernel_calls() -> int:
    """How many chunks this process has scanned with gpuscan."""
    return _CALLS


class _Kernel:
    """The chunk function: a picklable callable whose signature shows ``dtype`` (so
    cumreduction passes it) and whose ``__name__`` names the graph's layer."""

    def __init__(self, op, device, order):
        self.op, self.device, self.order = op, device, order
        self.__name__ = f"gpuscan_{op}"

    def __call__(self, a, axis=None, dtype=None):
        global _CALLS
        if np.size(a):
            _CALLS += 1
        return _api.FUNCTIONS[self.op](a, axis=axis, dtype=dtype, device=self.device,
                                       order=self.order)

    def __dask_tokenize__(self):
        return ("gpuscan.dask._Kernel", self.op, self.device, self.order)

    def __reduce__(self):
        return (_Kernel, (self.op, self.device, self.order))


class _Preop:
    """The block reduction of ``method="blelloch"``, computed in the scan's dtype."""

    def __init__(self, op, dtype):
        self.op, self.dtype = op, dtype
        # dask names the layer after __name__ (else the repr, which holds an address and
        # would give one task two keys across graph builds).
        self.__name__ = f"gpuscan_{op}_block_{np.dtype(dtype).name}"

    def __repr__(self):
        return self.__name__

    def __reduce__(self):
        return (_Preop, (self.op, self.dtype))

    def __call__(self, a, axis=None, keepdims=True):
        dt = self.dtype
        if self.op == "cumsum":
            return np.sum(a, axis=axis, keepdims=keepdims, dtype=dt)
        if self.op == "nancumsum":
            return np.nansum(a, axis=axis, keepdims=keepdims, dtype=dt)
        if self.op == "cumprod":
            return np.prod(a, axis=axis, keepdims=keepdims, dtype=dt)
        if self.op == "nancumprod":
            return np.nanprod(a, axis=axis, keepdims=keepdims, dtype=dt)
        x = np.asarray(a).astype(dt, copy=False)
        if self.op == "cummax":
            return np.maximum.reduce(x, axis=axis, keepdims=keepdims)
        if self.op == "cummin":
            return np.minimum.reduce(x, axis=axis, keepdims=keepdims)
        return np.logaddexp.reduce(x, axis=axis, keepdims=keepdims)

    def __dask_tokenize__(self):
        return ("gpuscan.dask._Preop", self.op, str(self.dtype))


def _lowest(dt):
    if dt.kind == "b":
        return False
    return -np.inf if dt.kind == "f" else np.iinfo(dt).min


def _highest(dt):
    if dt.kind == "b":
        return True
    return np.inf if dt.kind == "f" else np.iinfo(dt).max


_BINOP = {"cumsum": operator.add, "nancumsum": operator.add, "cumprod": operator.mul,
          "nancumprod": operator.mul, "cummax": np.maximum, "cummin": np.minimum,
          "logcumsumexp": np.logaddexp}


def _ident(op, dt):
    if op in ("cumsum", "nancumsum"):
        return 0
    if op in ("cumprod", "nancumprod"):
        return 1
    if op == "cummax":
        return _lowest(dt)
    if op == "cummin":
        return _highest(dt)
    return -np.inf


def _scan(op, x, axis, dtype, method, device, order):
    x = da.asarray(x)
    if axis is None:
        if x.ndim != 1:
            # dask#11872: rechunk the flattened array into about npartitions chunks.
            parts = x.npartitions
            x = x.ravel()
            x = x.rechunk(max(1, math.ceil(x.size / max(parts, 1))))
        axis = 0
    elif x.ndim == 0:
        x = x.reshape(1)
    if dtype is not None:
        dtype = np.dtype(dtype)
    # The result dtype, from an empty scan (which opens no device).
    dt = _api.FUNCTIONS[op](np.empty((0,), x.dtype), dtype=dtype).dtype
    kernel = _Kernel(op, device, order)
    return cumreduction(kernel, _BINOP[op], _ident(op, dt), x, axis=axis, dtype=dt,
                        method=method, preop=_Preop(op, dt))


def _make(op):
    def f(x, axis=None, dtype=None, *, method="sequential", device="auto", order="fast"):
        return _scan(op, x, axis, dtype, method, device, order)

    f.__name__ = op
    f.__qualname__ = op
    f.__doc__ = f"""gpuscan.{op} of a dask array, chunk by chunk.

    Parameters
    ----------
    x : dask.array.Array or array_like
    axis : int, optional
        ``None`` scans the flattened array.
    dtype : dtype, optional
        The accumulation and result dtype.
    method : {{"sequential", "blelloch"}}
        How the chunks' carries are combined (see ``dask.array.cumsum``).
    device, order : str
        Passed to :func:`gpuscan.{op}` for every chunk.

    Returns
    -------
    dask.array.Array
    """
    return f


cumsum = _make("cumsum")
cumprod = _make("cumprod")
nancumsum = _make("nancumsum")
nancumprod = _make("nancumprod")
cummax = _make("cummax")
cummin = _make("cummin")
logcumsumexp = _make("logcumsumexp")

__all__ = ["cummax", "cummin", "cumprod", "cumsum", "kernel_calls", "logcumsumexp",
           "nancumprod", "nancumsum"]
