"""The public scan functions, with numpy's signatures and docstrings."""

from __future__ import annotations

from ._core import scan as _scan

_SEE = """
    Parameters
    ----------
    a : array_like
        Input array: any array-like (lists, scalars, 0-d, strided, Fortran-ordered,
        byte-swapped, misaligned). Complex, object, timedelta and longdouble data go to
        numpy's own function, as do ndarray subclasses and other array types.
    axis : int, optional
        Axis along which to scan; negative counts from the end. ``None`` (the default)
        scans the flattened array (C order).
    dtype : dtype, optional
        The accumulation and result dtype; every element is cast to it first.
    out : ndarray, optional
        Where to write the result: the result's shape, any dtype and layout, and it may
        overlap ``a`` (numpy's results, as if ``a`` were copied first). It is returned.
    reverse : bool, optional
        Suffix scans: element i combines element i and every element after it.
    exclusive : bool, optional
        Element i combines the elements strictly before it (after it, with ``reverse``);
        the first of each lane or segment is {identity}.
    segments : sequence of int, optional
        Offsets ``[0, s1, ..., n]`` along the axis (along the flattened array for
        ``axis=None``) at which every lane restarts.
    device : {{"auto", "cpu", "gpu"}}, optional
        Where to compute; ``"auto"`` takes the GPU from the context's threshold on.
    order : {{"fast", "exact", "wide"}}, optional
        Float summation order: ``"fast"`` (blocked, within the documented tolerance of
        numpy), ``"exact"`` (numpy's sequential order, bit for bit; CPU only), ``"wide"``
        (float16 in float32, float32 in float64, rounded once).
    strategy : {{"auto", "blelloch", "reduce-then-scan", "chained"}}, optional
        The GPU algorithm.

    Returns
    -------
    ndarray
        A new array, or ``out``. Its dtype: {dtype}

    Raises
    ------
    numpy.exceptions.AxisError
        ``axis`` is out of range.
    ValueError
        ``out`` has the wrong shape or is read-only; bad ``segments``.
    TypeError
        An unknown dtype, a non-integer axis, an ``out`` that is not an array.
    gpuscan.GpuUnavailableError
        ``device="gpu"`` without an adapter (or one lacking the dtype's feature).
"""

_SUM_DTYPE = "``dtype`` if given, else ``np.result_type(a, out)`` with ``out``, else numpy's: \
bool and signed integers give int64, unsigned uint64, floats keep theirs."
_MAX_DTYPE = "``dtype`` if given, else ``np.result_type(a, out)`` with ``out``, else the \
input's."
_LSE_DTYPE = "a float: floats keep theirs; bool and 8-bit integers give float16, 16-bit \
float32, wider float64."


def _doc(summary, numpy_name, identity, dtype):
    return f"""{summary}

    Equivalent to ``{numpy_name}``, with numpy's results and exceptions.
""" + _SEE.format(identity=identity, dtype=dtype)


def cumsum(a, axis=None, dtype=None, out=None, *, reverse=False, exclusive=False,
           segments=None, device="auto", order="fast", strategy="auto"):
    return _scan("cumsum", a, axis, dtype, out, reverse, exclusive, segments, False,
                 device, order, strategy)


def cumprod(a, axis=None, dtype=None, out=None, *, reverse=False, exclusive=False,
            segments=None, device="auto", order="fast", strategy="auto"):
    return _scan("cumprod", a, axis, dtype, out, reverse, exclusive, segments, False,
                 device, order, strategy)


def nancumsum(a, axis=None, dtype=None, out=None, *, reverse=False, exclusive=False,
              segments=None, device="auto", order="fast", strategy="auto"):
    return _scan("nancumsum", a, axis, dtype, out, reverse, exclusive, segments, False,
                 device, order, strategy)


def nancumprod(a, axis=None, dtype=None, out=None, *, reverse=False, exclusive=False,
               segments=None, device="auto", order="fast", strategy="auto"):
    return _scan("nancumprod", a, axis, dtype, out, reverse, exclusive, segments, False,
                 device, order, strategy)


def cummax(a, axis=None, dtype=None, out=None, *, reverse=False, exclusive=False,
           segments=None, device="auto", order="fast", strategy="auto"):
    return _scan("cummax", a, axis, dtype, out, reverse, exclusive, segments, False,
                 device, order, strategy)


def cummin(a, axis=None, dtype=None, out=None, *, reverse=False, exclusive=False,
           segments=None, device="auto", order="fast", strategy="auto"):
    return _scan("cummin", a, axis, dtype, out, reverse, exclusive, segments, False,
                 device, order, strategy)


def logcumsumexp(a, axis=None, dtype=None, out=None, *, reverse=False, exclusive=False,
                 segments=None, device="auto", order="fast", strategy="auto"):
    return _scan("logcumsumexp", a, axis, dtype, out, reverse, exclusive, segments, False,
                 device, order, strategy)


def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False,
                   device="auto", order="fast", strategy="auto"):
    return _scan("cumulative_sum", x, axis, dtype, out, False, False, None, include_initial,
                 device, order, strategy)


def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False,
                    device="auto", order="fast", strategy="auto"):
    return _scan("cumulative_prod", x, axis, dtype, out, False, False, None, include_initial,
                 device, order, strategy)


cumsum.__doc__ = _doc("Cumulative sum of the elements along an axis.", "numpy.cumsum",
                      "0", _SUM_DTYPE)
cumprod.__doc__ = _doc("Cumulative product of the elements along an axis.", "numpy.cumprod",
                       "1", _SUM_DTYPE)
nancumsum.__doc__ = _doc("Cumulative sum, NaN counted as zero.", "numpy.nancumsum", "0",
                         _SUM_DTYPE)
nancumprod.__doc__ = _doc("Cumulative product, NaN counted as one.", "numpy.nancumprod", "1",
                          _SUM_DTYPE)
cummax.__doc__ = _doc(
    "Running maximum along an axis; NaN propagates, +0.0 is larger than -0.0.",
    "numpy.maximum.accumulate (axis=None flattens, as cumsum does)",
    "the dtype's lowest value (-inf for floats)", _MAX_DTYPE)
cummin.__doc__ = _doc(
    "Running minimum along an axis; NaN propagates, -0.0 is smaller than +0.0.",
    "numpy.minimum.accumulate (axis=None flattens, as cumsum does)",
    "the dtype's highest value (+inf for floats)", _MAX_DTYPE)
logcumsumexp.__doc__ = _doc(
    "Running ``log(sum(exp(a)))`` along an axis, without overflow.",
    "numpy.logaddexp.accumulate (axis=None flattens, as cumsum does)", "-inf", _LSE_DTYPE)

_CUMULATIVE_DOC = """{summary}

    Equivalent to ``{numpy_name}`` (numpy >= 2): ``x`` is at least 1-D, an array of two
    or more dimensions needs ``axis``, and ``include_initial=True`` prepends {identity} along
    the axis (which grows by one). ``dtype``, ``out``, ``device``, ``order`` and
    ``strategy`` are as for :func:`gpuscan.cumsum`.

    Returns
    -------
    ndarray
        A new array, or ``out``.
"""
cumulative_sum.__doc__ = _CUMULATIVE_DOC.format(
    summary="Cumulative sum (the array API's).", numpy_name="numpy.cumulative_sum",
    identity="0")
cumulative_prod.__doc__ = _CUMULATIVE_DOC.format(
    summary="Cumulative product (the array API's).", numpy_name="numpy.cumulative_prod",
    identity="1")

FUNCTIONS = {f.__name__: f for f in (cumsum, cumprod, nancumsum, nancumprod, cummax, cummin,
                                     logcumsumexp, cumulative_sum, cumulative_prod)}
