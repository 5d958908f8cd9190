"""numpy's exceptions and messages, and gpuscan's own for device errors."""

import re

import numpy as np
import pytest

import gpuscan
from reference import OPS

ALL = OPS + ["cumulative_sum", "cumulative_prod"]


def same_error(f, g):
    """f (numpy) and g (gpuscan) raise the same exception type with the same message."""
    with pytest.raises(Exception) as want:
        f()
    with pytest.raises(type(want.value), match=re.escape(str(want.value))):
        g()


@pytest.mark.parametrize("fn", ["cumsum", "cumprod", "nancumsum", "nancumprod",
                                "cumulative_sum", "cumulative_prod"])
def test_same_errors_as_numpy(fn):
    np_f, us = getattr(np, fn), getattr(gpuscan, fn)
    a = np.ones((2, 3))
    for axis in (2, -3):
        same_error(lambda: np_f(a, axis=axis), lambda: us(a, axis=axis))
    same_error(lambda: np_f(np.ones(3), axis=1.0), lambda: us(np.ones(3), axis=1.0))
    if not fn.startswith("cumulative"):  # numpy's cumulative_* read a tuple's last item
        same_error(lambda: np_f(np.ones(3), axis=(0, 1)), lambda: us(np.ones(3), axis=(0, 1)))
    same_error(lambda: np_f(np.ones(3), axis=True), lambda: us(np.ones(3), axis=True))
    same_error(lambda: np_f(np.ones(3), axis=0, dtype="bogus"),
               lambda: us(np.ones(3), axis=0, dtype="bogus"))
    same_error(lambda: np_f(np.ones(3), axis=0, out=np.zeros(4)),
               lambda: us(np.ones(3), axis=0, out=np.zeros(4)))
    same_error(lambda: np_f(np.float32(3), axis=1), lambda: us(np.float32(3), axis=1))
    ro = np.zeros(3)
    ro.flags.writeable = False
    same_error(lambda: np_f(np.ones(3), axis=0, out=ro), lambda: us(np.ones(3), axis=0, out=ro))
    if fn.startswith("cumulative"):
        same_error(lambda: np_f(a), lambda: us(a))
    else:
        same_error(lambda: np_f(np.ones(3), axis=0, out=[0, 0, 0]),
                   lambda: us(np.ones(3), axis=0, out=[0, 0, 0]))
        same_error(lambda: np_f(a, out=np.zeros((2, 3))), lambda: us(a, out=np.zeros((2, 3))))


@pytest.mark.parametrize("fn", ALL)
def test_axis_error_is_numpys(fn):
    with pytest.raises(np.exceptions.AxisError, match="axis 3 is out of bounds for array of "
                                                      "dimension 2"):
        getattr(gpuscan, fn)(np.ones((2, 2)), axis=3)
    with pytest.raises(TypeError, match="an integer is required"):
        getattr(gpuscan, fn)(np.ones(2), axis=True)


def test_gpuscan_arguments():
    x = np.arange(6)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        gpuscan.cumsum(x, device="tpu")
    with pytest.raises(ValueError, match="unknown order"):
        gpuscan.cumsum(x, order="random")
    with pytest.raises(ValueError, match="unknown strategy"):
        gpuscan.cumsum(x, device="gpu", strategy="fastest")
    with pytest.raises(ValueError, match="segment"):
        gpuscan.cumsum(x, segments=[0, 4, 2, 6])
    with pytest.raises(ValueError, match="segment"):
        gpuscan.cumsum(x, segments=[1, 6])
    with pytest.raises(TypeError, match="segments must be"):
        gpuscan.cumsum(x, segments=[0.5, 6])
    with pytest.raises(ValueError, match="logcumsumexp has no int32 loop"):
        gpuscan.logcumsumexp(x, dtype=np.int32)
    with pytest.raises(gpuscan.GpuUnavailableError, match="no adapter matches"):
        gpuscan.Context(adapter="no such adapter")
    with pytest.raises(ValueError, match="takes no adapter"):
        gpuscan.Context(device="cpu", adapter="x")
    assert issubclass(gpuscan.GpuMemoryError, MemoryError)
    assert issubclass(gpuscan.GpuUnavailableError, gpuscan.GpuError)


def test_out_is_untouched_on_error():
    out = np.full(4, 7.0)
    with pytest.raises(ValueError):
        gpuscan.cumsum(np.ones(3), out=out)
    np.testing.assert_array_equal(out, 7.0)
