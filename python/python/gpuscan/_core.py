"""The numpy-facing functions: argument normalisation, out= handling, and numpy fallbacks."""

from __future__ import annotations

import operator

import numpy as np

from . import _gpuscan as _native

# numpy's functions as they were at import: tests swap numpy's names for gpuscan's, and the
# fallbacks must still reach numpy's own.
NUMPY_FUNCS = {
    "cumsum": np.cumsum,
    "cumprod": np.cumprod,
    "nancumsum": np.nancumsum,
    "nancumprod": np.nancumprod,
}
if hasattr(np, "cumulative_sum"):  # numpy >= 2.0
    NUMPY_FUNCS["cumulative_sum"] = np.cumulative_sum
    NUMPY_FUNCS["cumulative_prod"] = np.cumulative_prod
# The numpy ufunc whose accumulate defines each scan numpy has no function for.
UFUNCS = {"cummax": np.maximum, "cummin": np.minimum, "logcumsumexp": np.logaddexp}
CUMULATIVE = ("cumulative_sum", "cumulative_prod")


def handled(dt: np.dtype) -> bool:
    """Whether gpuscan computes this dtype (bool, 8- to 64-bit integers, float16/32/64)."""
    return dt.kind in "biu" or (dt.kind == "f" and dt.itemsize in (2, 4, 8))


def _axis(axis, op):
    if axis is None:
        return None
    if isinstance(axis, (bool, np.bool_)):
        # numpy's two messages: cumulative_* normalise the axis another way.
        raise TypeError("an integer is required" +
                        ("" if op in CUMULATIVE else " for the axis"))
    return operator.index(axis)


def _numpy_owns(a) -> bool:
    """ndarray subclasses (matrix, masked arrays, ...) and other array types (``__array_function__``)
    keep numpy's behaviour: numpy's function dispatches them to their own methods."""
    if isinstance(a, np.ndarray):
        return type(a) is not np.ndarray
    return hasattr(type(a), "__array_function__") and not isinstance(a, np.generic)


def _fallback(op, x, axis, dtype, out, include_initial, extras):
    """numpy's own function, for the dtypes gpuscan does not compute (complex, object,
    timedelta, longdouble, ...)."""
    if extras:
        raise TypeError(
            f"{op}: reverse, exclusive and segments need bool, integer or float16/32/64 data, "
            f"not {x.dtype}" + ("" if dtype is None else f" with dtype={dtype}")
        )
    if op in CUMULATIVE:
        return NUMPY_FUNCS[op](
            x, axis=axis, dtype=dtype, out=out, include_initial=include_initial
        )
    if op in NUMPY_FUNCS:
        return NUMPY_FUNCS[op](x, axis=axis, dtype=dtype, out=out)
    if axis is None:
        x, axis = x.ravel(), 0
    elif x.ndim == 0:
        x = x.reshape(1)
    if isinstance(out, np.ndarray) and np.may_share_memory(x, out):
        x = x.copy()
    return UFUNCS[op].accumulate(x, axis=axis, dtype=dtype, out=out)


def _direct(out: np.ndarray) -> bool:
    f = out.flags
    return f.c_contiguous and f.aligned and out.dtype.isnative


def scan(
    op,
    a,
    axis=None,
    dtype=None,
    out=None,
    reverse=False,
    exclusive=False,
    segments=None,
    include_initial=False,
    device="auto",
    order="fast",
    strategy="auto",
    ctx=None,
):
    """The one implementation behind every public scan function."""
    extras = bool(reverse) or bool(exclusive) or segments is not None
    if type(a) is not np.ndarray and op in NUMPY_FUNCS and not extras and _numpy_owns(a):
        return _fallback(op, a, axis, dtype, out, include_initial, False)
    x = np.asarray(a)
    axis = _axis(axis, op)
    if dtype is not None:
        dtype = np.dtype(dtype)
    if out is not None and not isinstance(out, np.ndarray):
        raise TypeError("output must be an array")
    if not (
        handled(x.dtype)
        and (dtype is None or handled(dtype))
        and (out is None or handled(out.dtype))
    ):
        return _fallback(op, x, axis, dtype, out, include_initial, extras)
    if not (x.flags.c_contiguous and x.flags.aligned and x.dtype.isnative):
        # Copies only what is byte-swapped, misaligned, non-contiguous or oddly strided.
        x = np.require(x, dtype=x.dtype.newbyteorder("="), requirements=["C", "A"])
    if segments is not None:
        seg = np.asarray(segments)
        if seg.ndim != 1 or seg.dtype.kind not in "iu":
            raise TypeError("segments must be a 1-D sequence of integers")
        segments = seg.tolist()
    dt = None if dtype is None else dtype.name
    args = (op, axis, dt, bool(reverse), bool(exclusive), segments, bool(include_initial),
            device, order, strategy)
    if out is None:
        return _native.scan(ctx, x, None, *args)
    if not out.flags.writeable:
        raise ValueError("output array is read-only")
    # numpy computes as if the input were copied first whenever out overlaps it.
    if np.may_share_memory(x, out):
        x = x.copy()
    if _direct(out):
        _native.scan(ctx, x, out, *args)
    else:
        tmp = np.empty(out.shape, dtype=out.dtype.newbyteorder("="))
        _native.scan(ctx, x, tmp, *args)
        out[...] = tmp
    return out
