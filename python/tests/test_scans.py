"""gpuscan against numpy for every function, dtype, layout, axis, dtype= and out=."""

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import gpuscan
from reference import OPS, assert_close, extended, finite_abs, numpy_scan
from strategies import case, layout

DEVICES = ["cpu", "gpu"]


def _result_shape(x, axis):
    x = np.asarray(x)
    if axis is None:
        return (x.size,)
    return x.shape if x.ndim else (1,)


def _defined(values, target):
    """Whether casting float `values` to `target` is defined (numpy leaves NaN, inf and
    out-of-range float-to-int casts to the platform)."""
    values = np.asarray(values)
    target = np.dtype(target)
    if values.dtype.kind != "f" or target.kind not in "iu":
        return True
    v = values.astype(np.float64)
    info = np.iinfo(target)
    return bool(np.all(np.isfinite(v) & (v >= info.min) & (v < float(info.max) + 1)))


def _quiet():
    w = warnings.catch_warnings()
    w.__enter__()
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    return w


@pytest.mark.parametrize("op", OPS)
@given(data=st.data())
def test_exact_order_is_numpy_bit_for_bit(op, data):
    """device="cpu", order="exact": numpy's result, dtype and out= semantics exactly."""
    x, axis, dtype, how, out = data.draw(case(op))
    inp = layout(x, how)
    src = x.tolist() if how == "list" and x.size else x
    if dtype is not None:
        assume(_defined(src, dtype))
    w = _quiet()
    try:
        if out is not None:
            loop = loop_dtype(op, src, dtype, out[0])
            assume(_defined(numpy_scan(op, src, axis, loop), out[0]))
        if out is None:
            want = numpy_scan(op, src, axis, dtype)
            got = getattr(gpuscan, op)(inp, axis, dtype, device="cpu", order="exact")
        else:
            odt, ohow = out
            shape = _result_shape(src, axis)
            o_np = np.zeros(shape, odt)
            o_us = layout(np.zeros(shape, odt), ohow)
            want = numpy_scan_out(op, src, axis, dtype, o_np)
            got = getattr(gpuscan, op)(inp, axis, dtype, out=o_us, device="cpu", order="exact")
            assert got is o_us
            got = np.asarray(got).astype(o_np.dtype)  # out may be byte-swapped
    finally:
        w.__exit__(None, None, None)
    assert np.asarray(got).dtype == want.dtype
    if op == "logcumsumexp" and want.dtype.kind == "f":
        # exp and log1p of Rust's libm and numpy's libm may differ in the last place.
        assert_close(op, np.asarray(got), src, want, axis)
    else:
        np.testing.assert_array_equal(got, want, strict=True)


def loop_dtype(op, x, dtype, out):
    """numpy's loop dtype with out=: dtype, else result_type(x, out); logcumsumexp takes the
    float that holds it (docs/SCAN_FAMILY.md)."""
    loop = np.dtype(dtype) if dtype is not None else np.result_type(np.asarray(x), out)
    if op == "logcumsumexp" and loop.kind != "f":
        loop = np.dtype({1: "f2", 2: "f4"}.get(loop.itemsize, "f8"))
    return loop


def numpy_scan_out(op, x, axis, dtype, out):
    """numpy's function with out=; for cummax, cummin and logcumsumexp (no numpy function)
    the scan in the loop dtype cast into out, as gpuscan defines them."""
    from reference import NUMPY

    x = np.asarray(x)
    if op in NUMPY:
        NUMPY[op](x, axis=axis, dtype=dtype, out=out)
        return out
    loop = loop_dtype(op, x, dtype, out.dtype)
    out[...] = numpy_scan(op, x.astype(loop), axis, loop).astype(out.dtype)
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS)
@given(data=st.data())
@settings(max_examples=15 if settings().max_examples <= 40 else 300)
def test_fast_order_within_tolerance(device, op, data):
    """The default order on the CPU and the GPU: integers exact, floats within the tolerance
    of a float64 reference (docs/NUMPY_SEMANTICS.md section 7); with reverse, exclusive and
    segments against the same scans of flipped, shifted and sliced lanes."""
    x, axis, dtype, how, _ = data.draw(case(op, out_allowed=False))
    reverse, exclusive = data.draw(st.booleans()), data.draw(st.booleans())
    xs = x.reshape(1) if x.ndim == 0 else x
    n = xs.size if axis is None else xs.shape[axis]
    segments = None
    if data.draw(st.booleans()):
        cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=4)))
        segments = [0] + cuts + [n]
    inp = layout(x, how)
    src = x.tolist() if how == "list" and x.size else x
    if dtype is not None:
        assume(_defined(src, dtype))
    w = _quiet()
    try:
        got = getattr(gpuscan, op)(inp, axis, dtype, device=device, reverse=reverse,
                                   exclusive=exclusive, segments=segments)
        want = extended(op, src, axis, dtype, reverse, exclusive, segments)
        ref = want
        if want.dtype.kind == "f" and op not in ("cummax", "cummin"):
            # numpy's own result is itself rounded: judge against float64 of the same input.
            x64 = np.asarray(src).astype(want.dtype).astype(np.float64)
            ref = extended(op, x64, axis, None, reverse, exclusive, segments).astype(want.dtype)
    finally:
        w.__exit__(None, None, None)
    xs = np.asarray(src).astype(want.dtype) if want.dtype.kind == "f" else np.asarray(src)
    if want.dtype.kind == "f" and op not in ("cummax", "cummin", "logcumsumexp"):
        # Where a partial result overflows depends on the order (a tree may overflow where
        # numpy's fold reaches 0 first): keep every partial result finite in any order.
        fa = finite_abs(xs)
        bound = np.prod(np.maximum(fa, 1.0)) if "prod" in op else fa.sum()
        assume(bound < np.finfo(want.dtype).max / 4)
    # The magnitude of what each element summed: the same scan of |x|.
    mag = extended("cumsum", finite_abs(xs), axis, None, reverse, exclusive, segments)
    assert_close(op, got, xs, ref, axis, mag=mag)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", ["cumulative_sum", "cumulative_prod"])
@pytest.mark.parametrize("include_initial", [False, True])
def test_cumulative(device, fn, include_initial):
    for x, axis in [(np.arange(1, 7).reshape(2, 3), 0), (np.arange(1, 7).reshape(2, 3), -1),
                    (np.int8(5), None), (np.zeros(0, np.float32), None),
                    (np.arange(5, dtype=np.uint16), None), (np.ones((3, 0)), 1)]:
        want = getattr(np, fn)(x, axis=axis, include_initial=include_initial)
        got = getattr(gpuscan, fn)(x, axis=axis, include_initial=include_initial,
                                   device=device)
        np.testing.assert_array_equal(got, want, strict=True)
        out = np.full(want.shape, 7, np.float64)
        r = getattr(gpuscan, fn)(x, axis=axis, include_initial=include_initial, out=out,
                                 device=device)
        assert r is out
        np.testing.assert_array_equal(out, want.astype(np.float64))


@pytest.mark.parametrize("device", DEVICES)
def test_overlapping_out_is_numpy(device):
    cases = [
        lambda x: (x[:-1], x[1:]), lambda x: (x[1:], x[:-1]), lambda x: (x[::-1], x),
        lambda x: (x, x), lambda x: (x[::2], x[1::2][:5]),
    ]
    for make in cases:
        a, b = np.arange(10), np.arange(10)
        ia, oa = make(a)
        ib, ob = make(b)
        np.cumsum(ia, out=oa)
        r = gpuscan.cumsum(ib, out=ob, device=device)
        assert r is ob
        np.testing.assert_array_equal(b, a)
    a, b = np.arange(12.0).reshape(3, 4), np.arange(12.0).reshape(3, 4)
    np.cumsum(a.T, axis=1, out=a.T)
    gpuscan.cumsum(b.T, axis=1, out=b.T, device=device)
    np.testing.assert_array_equal(b, a)
    a, b = np.arange(12.0).reshape(3, 4), np.arange(12.0).reshape(3, 4)
    np.maximum.accumulate(a[:, ::-1], axis=1, out=a)
    gpuscan.cummax(b[:, ::-1], axis=1, out=b, device=device)
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("device", DEVICES)
def test_special_values(device):
    f = np.float32
    cases = [
        ("cumsum", np.array([1, np.nan, 2, 3], f)), ("cumsum", np.array([1, np.inf, 2, -np.inf, 5], f)),
        ("cumsum", np.array([-0.0, -0.0], f)), ("nancumsum", np.array([np.nan, -0.0], f)),
        ("nancumprod", np.array([np.nan, np.nan], f)), ("cummax", np.array([1, np.nan, 3], f)),
        ("cummin", np.array([np.inf, -np.inf, 0], f)),
        ("logcumsumexp", np.array([-np.inf, -np.inf, np.inf, -np.inf], f)),
        ("cumprod", np.array([-2**63, -1], np.int64)), ("cumsum", np.array([2**63 - 1, 1])),
        ("cumsum", np.array([1e-45, 1e-45], f)),
    ]
    with np.errstate(all="ignore"):
        for op, x in cases:
            want = numpy_scan(op, x)
            got = getattr(gpuscan, op)(x, device=device)
            np.testing.assert_array_equal(got, want, strict=True)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_complex_object_timedelta_go_to_numpy():
    for x in [np.array([1 + 2j, 3 - 1j]), np.array([1, 2, 3], dtype=object),
              np.array([1, 2, 3], dtype="m8[s]"), np.array([1.0, 2.0], np.longdouble)]:
        np.testing.assert_array_equal(gpuscan.cumsum(x), np.cumsum(x))
    x = np.array([1 + 2j, 3 - 1j])
    np.testing.assert_array_equal(gpuscan.cummax(x), np.maximum.accumulate(x))
    with pytest.raises(TypeError, match="reverse, exclusive and segments"):
        gpuscan.cumsum(x, reverse=True)


def test_subclasses_keep_numpy_behaviour():
    m = np.ma.masked_array([1, 2, 3, 4], mask=[0, 1, 0, 0])
    r = gpuscan.cumsum(m)
    assert isinstance(r, np.ma.MaskedArray)
    np.testing.assert_array_equal(r.filled(-1), np.cumsum(m).filled(-1))
    mat = np.asmatrix(np.arange(6).reshape(2, 3))
    r = gpuscan.cumsum(mat, axis=1)
    assert isinstance(r, np.matrix)
    np.testing.assert_array_equal(r, np.cumsum(mat, axis=1))


@pytest.mark.parametrize("device", DEVICES)
def test_deterministic(device):
    x = np.random.default_rng(1).random(100_003, dtype=np.float32)
    a = gpuscan.cumsum(x, device=device)
    b = gpuscan.cumsum(x, device=device)
    assert a.tobytes() == b.tobytes()
