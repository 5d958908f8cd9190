"""gpuscan.dask on a two-process local cluster, against numpy and dask's own scans."""

import os

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import gpuscan  # noqa: E402
import gpuscan.dask as gd  # noqa: E402

OPS = ["cumsum", "cumprod", "nancumsum", "nancumprod", "cummax", "cummin", "logcumsumexp"]
DASK = {"cumsum": da.cumsum, "cumprod": da.cumprod, "nancumsum": da.nancumsum,
        "nancumprod": da.nancumprod}
CASES = [((23,), (8,), [None, 0]), ((12, 10), (5, 4), [None, 0, 1, -1]),
         ((3, 4, 5), (2, 4, 3), [None, 2])]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def numpy_ref(op, x, axis):
    x = np.asarray(x)
    if op in DASK:
        return getattr(np, op)(x, axis=axis)
    if axis is None:
        x, axis = x.ravel(), 0
    return {"cummax": np.maximum, "cummin": np.minimum,
            "logcumsumexp": np.logaddexp}[op].accumulate(x, axis=axis)


@pytest.mark.parametrize("method", ["sequential", "blelloch"])
@pytest.mark.parametrize("op", OPS)
def test_integers_exact(client, op, method):
    rng = np.random.default_rng(7)
    lazy, wants = [], []
    for shape, chunks, axes in CASES:
        x = rng.integers(-3, 4, size=shape)
        if op in ("cumprod", "nancumprod"):
            x = rng.integers(1, 3, size=shape)
        if op == "logcumsumexp":
            x = x.astype(np.float64)  # judged below with the floats
        d = da.from_array(x, chunks=chunks)
        for axis in axes:
            r = getattr(gd, op)(d, axis=axis, method=method)
            want = numpy_ref(op, x, axis)
            assert r.dtype == want.dtype
            if axis is None and x.ndim > 1:
                assert r.npartitions <= d.npartitions + 1  # no dask#11872 blow-up
            lazy.append(r)
            wants.append(want)
    # One compute for every case: each round trip to the cluster costs more than the scans.
    for got, want in zip(client.compute(lazy, sync=True), wants):
        if op == "logcumsumexp":
            np.testing.assert_allclose(got, want, rtol=64 * np.finfo(np.float64).eps)
        else:
            np.testing.assert_array_equal(got, want, strict=True)


@pytest.mark.parametrize("method", ["sequential", "blelloch"])
@pytest.mark.parametrize("op", ["cumsum", "cumprod", "nancumsum", "nancumprod"])
def test_floats_like_dask(client, op, method):
    """Floats against dask's own scan on the same chunks: the same carries, so the
    difference is only each chunk's summation order (eps * (16 + sqrt(n)) * cumsum|x|)."""
    rng = np.random.default_rng(3)
    x = rng.random((40, 30)).astype(np.float32) + 0.5
    x[rng.random(x.shape) < 0.05] = np.nan
    d = da.from_array(x, chunks=(15, 11))
    axes = (0, 1, None)
    lazy = [f(d, axis=axis, method=method) for axis in axes for f in (getattr(gd, op), DASK[op])]
    results = client.compute(lazy, sync=True)
    for axis, got, want in zip(axes, results[::2], results[1::2]):
        assert got.dtype == want.dtype == np.float32
        fin = np.isfinite(want)
        np.testing.assert_array_equal(np.isfinite(got), fin)
        n = x.size if axis is None else x.shape[axis]
        eps = np.finfo(np.float32).eps
        xabs = np.abs(np.nan_to_num(x.astype(np.float64), nan=1.0))
        if op in ("cumsum", "nancumsum"):
            mag = np.cumsum(xabs, axis=axis)
            tol = eps * (16 + np.sqrt(n)) * mag
        else:
            tol = eps * (16 + n) * np.abs(want.astype(np.float64))
        assert np.all(np.abs(got[fin].astype(np.float64) - want[fin]) <= tol[fin])


def test_dtype_visible_to_dask(client):
    d = da.from_array(np.arange(10, dtype=np.int8), chunks=3)
    assert gd.cumsum(d).dtype == np.int64
    assert gd.cumsum(d, dtype=np.float32).dtype == np.float32
    assert gd.cummax(d).dtype == np.int8
    assert gd.logcumsumexp(d).dtype == np.float16
    np.testing.assert_array_equal(gd.cumsum(d, dtype=np.float32).compute(),
                                  np.cumsum(np.arange(10), dtype=np.float32))


def test_workers_ran_gpuscan(client):
    before = gd.kernel_calls()
    x = da.from_array(np.arange(1000), chunks=100)
    np.testing.assert_array_equal(gd.cumsum(x).compute(), np.cumsum(np.arange(1000)))
    assert gd.kernel_calls() == before  # the client only learnt the dtype
    calls = client.run(gd.kernel_calls)
    pids = client.run(os.getpid)
    assert len(calls) == 2 and os.getpid() not in pids.values()
    assert sum(calls.values()) >= 10, calls
