"""numpy references for every scan, and the tolerance floats are judged by
(docs/NUMPY_SEMANTICS.md section 7)."""

import numpy as np

import gpuscan

NUMPY = {
    "cumsum": np.cumsum, "cumprod": np.cumprod, "nancumsum": np.nancumsum,
    "nancumprod": np.nancumprod,
}
UFUNC = {"cummax": np.maximum, "cummin": np.minimum, "logcumsumexp": np.logaddexp}
OPS = list(NUMPY) + list(UFUNC)


def identity(op, dt):
    dt = np.dtype(dt)
    if op in ("cumsum", "nancumsum"):
        return 0
    if op in ("cumprod", "nancumprod"):
        return 1
    if op == "logcumsumexp":
        return -np.inf
    hi = op == "cummin"
    if dt.kind == "b":
        return hi
    if dt.kind == "f":
        return np.inf if hi else -np.inf
    info = np.iinfo(dt)
    return info.max if hi else info.min


def numpy_scan(op, x, axis=None, dtype=None):
    """numpy's result: numpy's function, or the ufunc's accumulate with cumsum's axis=None."""
    x = np.asarray(x)
    if op in NUMPY:
        return NUMPY[op](x, axis=axis, dtype=dtype)
    if axis is None:
        x, axis = x.ravel(), 0
    elif x.ndim == 0:
        x = x.reshape(1)
    return UFUNC[op].accumulate(x, axis=axis, dtype=dtype)


def extended(op, x, axis=None, dtype=None, reverse=False, exclusive=False, segments=None):
    """gpuscan's reverse / exclusive / segments, from numpy scans of flipped, shifted and
    sliced lanes."""
    x = np.asarray(x)
    if axis is None:
        x, axis = x.ravel(), 0
    elif x.ndim == 0:
        x = x.reshape(1)
    axis = axis % x.ndim
    rt = numpy_scan(op, x.take([], axis=axis) if x.shape[axis] == 0 else
                    x.take([0], axis=axis), axis=axis, dtype=dtype).dtype
    n = x.shape[axis]
    bounds = [0, n] if segments is None else list(segments)
    out = np.empty(x.shape, rt)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if lo == hi:
            continue
        seg = np.take(x, range(lo, hi), axis=axis)
        if reverse:
            seg = np.flip(seg, axis)
        r = numpy_scan(op, seg, axis=axis, dtype=dtype).astype(rt, copy=False)
        if exclusive:
            first = np.full_like(np.take(r, [0], axis=axis), identity(op, rt))
            r = np.concatenate([first, np.take(r, range(0, hi - lo - 1), axis=axis)],
                               axis=axis)
        if reverse:
            r = np.flip(r, axis)
        idx = [slice(None)] * x.ndim
        idx[axis] = slice(lo, hi)
        out[tuple(idx)] = r
    return out


def assert_close(op, got, x, want, axis=None, mag=None):
    """Integers, bool and non-finite values exactly; finite floats within
    eps * (16 + sqrt(n)) * cumsum(|x|) (sums), eps * (16 + n) * |ref| (products), or
    eps * (16 + n) * (1 + |ref|) (logcumsumexp) of numpy's result, eps of the result dtype."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind != "f" or op in ("cummax", "cummin"):
        np.testing.assert_array_equal(got, want)
        return
    fin = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), fin)
    np.testing.assert_array_equal(got[~fin], want[~fin])
    eps = np.finfo(want.dtype).eps
    g, w = got.astype(np.float64), want.astype(np.float64)
    x = np.asarray(x)
    n = max(x.shape[axis] if (axis is not None and x.ndim) else x.size, 1)
    if op in ("cumsum", "nancumsum"):
        if mag is None:
            mag = numpy_scan("cumsum", finite_abs(x), axis=axis)
        mag = mag.reshape(w.shape)
        tol = eps * (16 + np.sqrt(n)) * mag
    elif op == "logcumsumexp":
        tol = eps * (16 + n) * (1 + np.abs(w))
    else:
        tol = eps * (16 + n) * np.abs(w)
    bad = fin & ~(np.abs(g - w) <= tol)
    assert not bad.any(), (op, g[bad][:5], w[bad][:5], tol[bad][:5])


def finite_abs(x):
    """|x| in float64 with NaN and infinities as 0: a finite result's prefix holds none of
    them (nancumsum's NaN count as 0), so this bounds the magnitude of what was summed."""
    return np.nan_to_num(np.abs(np.asarray(x, np.float64)), nan=0.0, posinf=0.0)
