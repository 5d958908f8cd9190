"""hypothesis strategies: every dtype, shapes from 0-d to 3-D, every layout, axis, dtype= and
out=."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

DTYPES = [np.dtype(t) for t in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2",
                                 "f4", "f8")]
FLOATS = [d for d in DTYPES if d.kind == "f"]
SHAPES = [(), (0,), (1,), (2,), (7,), (40,), (3, 5), (0, 3), (3, 0), (4, 1, 6), (2, 3, 4)]
LAYOUTS = ["C", "F", "reversed", "strided", "swapped", "misaligned", "list"]
PRODS = ("cumprod", "nancumprod")


def elements(op, dt):
    """Values whose non-finite pattern does not depend on the summation order: moderate
    finite values (no overflow), plus NaN and infinities."""
    if dt.kind == "b":
        return st.booleans()
    if dt.kind in "iu":
        return st.integers(int(np.iinfo(dt).min), int(np.iinfo(dt).max))
    w = dt.itemsize * 8
    special = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0])
    if op in PRODS:
        finite = st.floats(0.875, 1.125, width=w) | st.sampled_from([0.0, -1.0, 1.0])
    else:
        finite = st.floats(-8, 8, width=w)
    return st.one_of(finite, finite, finite, special)


def layout(x, how):
    """`x` (a C array) in memory laid out as `how`, with the same values."""
    if how == "list":
        return x.tolist() if x.size else x  # an empty list loses the shape
    if how == "F":
        return np.asfortranarray(x)
    if how == "swapped":
        return x.astype(x.dtype.newbyteorder("S"))
    if x.ndim == 0:
        return x
    if how == "reversed":
        rev = (slice(None, None, -1),) * x.ndim
        return np.ascontiguousarray(x[rev])[rev]
    if how == "strided":
        big = np.zeros(x.shape[:-1] + (x.shape[-1] * 2,), x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if how == "misaligned":
        buf = np.zeros(x.nbytes + 1, np.uint8)
        m = buf[1:].view(x.dtype).reshape(x.shape)
        m[...] = x
        return m
    return x


@st.composite
def case(draw, op, out_allowed=True):
    dt = draw(st.sampled_from(DTYPES))
    shape = draw(st.sampled_from(SHAPES))
    x = draw(hnp.arrays(dt, shape, elements=elements(op, dt)))
    ndim = max(x.ndim, 1)
    axis = draw(st.sampled_from([None] + list(range(-ndim, ndim))))
    if op == "logcumsumexp":
        dtype = draw(st.sampled_from([None] + FLOATS))
    else:
        dtype = draw(st.sampled_from([None] + DTYPES))
    how = draw(st.sampled_from(LAYOUTS))
    out = None
    if out_allowed and draw(st.booleans()):
        out = (draw(st.sampled_from(DTYPES)), draw(st.sampled_from(["C", "F", "reversed",
                                                                     "strided", "swapped"])))
    return x, axis, dtype, how, out
