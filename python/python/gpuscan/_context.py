"""``gpuscan.Context`` and device-resident arrays."""

from __future__ import annotations

import numpy as np

from . import _gpuscan as _native
from ._core import handled, scan as _scan

_OPS = ("cumsum", "cumprod", "nancumsum", "nancumprod", "cummax", "cummin", "logcumsumexp")


class GpuArray:
    """An array in GPU memory: scans of it stay on the GPU until :meth:`download`.

    Made by :meth:`Context.upload` (or :func:`gpuscan.upload`); its scans compute in its
    dtype (an upload stores int32 as int64, as cumsum would accumulate it).
    """

    __slots__ = ("_native",)

    def __init__(self, native):
        self._native = native

    @property
    def shape(self) -> tuple:
        return self._native.shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._native.dtype)

    @property
    def size(self) -> int:
        return self._native.size

    @property
    def ndim(self) -> int:
        return len(self._native.shape)

    def __len__(self) -> int:
        return len(self._native)

    def __repr__(self) -> str:
        return repr(self._native)

    def download(self) -> np.ndarray:
        """Reads the array back as a new numpy array."""
        return self._native.download()

    numpy = download

    def __array__(self, dtype=None, copy=None):
        a = self.download()
        return a if dtype is None else a.astype(dtype, copy=False)

    def _scan(self, op, axis, reverse, exclusive, segments, include_initial, strategy):
        if segments is not None:
            segments = np.asarray(segments).tolist()
        return GpuArray(self._native.scan(op, axis, bool(reverse), bool(exclusive), segments,
                                          bool(include_initial), strategy))

    # include_initial is not offered: the library's GPU-resident scans keep the shape.
    def cumulative_sum(self, *, axis=None, strategy="auto"):
        """numpy's ``cumulative_sum`` on the GPU; the result stays on the GPU."""
        return self._scan("cumulative_sum", axis, False, False, None, False, strategy)

    def cumulative_prod(self, *, axis=None, strategy="auto"):
        """numpy's ``cumulative_prod`` on the GPU; the result stays on the GPU."""
        return self._scan("cumulative_prod", axis, False, False, None, False, strategy)


def _method(op):
    def method(self, axis=None, *, reverse=False, exclusive=False, segments=None,
               strategy="auto"):
        return self._scan(op, axis, reverse, exclusive, segments, False, strategy)

    method.__name__ = op
    method.__doc__ = (f"gpuscan.{op} of this array on the GPU, in its dtype; the result "
                      "stays on the GPU (a GpuArray).")
    return method


for _op in _OPS:
    setattr(GpuArray, _op, _method(_op))


class Context:
    """A device (or none), its compiled pipelines and its ``device="auto"`` policy.

    Parameters
    ----------
    device : {"auto", "cpu", "gpu"}
        ``"cpu"`` never opens an adapter; ``"gpu"`` raises GpuUnavailableError without one.
    adapter : str, optional
        Part of the adapter's name to open (case-insensitive); default: the one wgpu's
        environment variables select (``WGPU_BACKEND``, ``WGPU_ADAPTER_NAME``).
    strategy : {"auto", "blelloch", "reduce-then-scan", "chained"}
        The GPU algorithm of calls that leave it to the context.
    auto_threshold : int or dict, optional
        Elements from which ``device="auto"`` takes the GPU: one int for every dtype, or a
        dict of dtype name to int (or None: never). Default: a calibration stored for the
        adapter, else 2**20 on hardware adapters and never on software ones.

    Every module-level scan function is also a method (``ctx.cumsum(a, axis=0)``).
    """

    def __init__(self, *, device="auto", adapter=None, strategy="auto", auto_threshold=None):
        self._native = _native.Context(device=device, adapter=adapter, strategy=strategy,
                                       auto_threshold=auto_threshold)

    @classmethod
    def _wrap(cls, native):
        c = cls.__new__(cls)
        c._native = native
        return c

    @property
    def has_gpu(self) -> bool:
        return self._native.has_gpu

    def info(self) -> dict:
        """The adapter, the dtypes it scans, the Auto thresholds and the strategy."""
        return self._native.info()

    def gpu_dtypes(self) -> list:
        """The accumulation dtypes this context scans on the GPU."""
        return self._native.gpu_dtypes()

    def auto_threshold(self, dtype) -> int | None:
        """Elements from which ``device="auto"`` scans ``dtype`` accumulations on the GPU."""
        return self._native.auto_threshold(np.dtype(dtype).name)

    def set_auto_threshold(self, value) -> None:
        """Replaces the Auto policy: an int for every dtype, or a dict of dtype to int/None."""
        if isinstance(value, dict):
            value = {np.dtype(k).name: v for k, v in value.items()}
        self._native.set_auto_threshold(value)

    def upload(self, a, dtype=None) -> GpuArray:
        """Copies ``a`` to the GPU, cast to ``dtype`` (default: the dtype cumsum accumulates
        it in), for scans that stay on the GPU."""
        x = np.asarray(a)
        if not handled(x.dtype):
            raise TypeError(f"cannot upload {x.dtype} data: gpuscan handles bool, integers "
                            "and float16/32/64")
        x = np.require(x, dtype=x.dtype.newbyteorder("="), requirements=["C", "A"])
        dt = None if dtype is None else np.dtype(dtype).name
        return GpuArray(self._native.upload(x, dt))

    def __repr__(self) -> str:
        i = self._native.info()
        name = i["adapter"]["name"] if i["adapter"] else "CPU only"
        return f"gpuscan.Context({name!r})"


def _bound(op):
    cumulative = op.startswith("cumulative")

    if cumulative:
        def method(self, x, /, *, axis=None, dtype=None, out=None, include_initial=False,
                   device="auto", order="fast", strategy="auto"):
            return _scan(op, x, axis, dtype, out, False, False, None, include_initial,
                         device, order, strategy, self._native)
    else:
        def method(self, a, axis=None, dtype=None, out=None, *, reverse=False,
                   exclusive=False, segments=None, device="auto", order="fast",
                   strategy="auto"):
            return _scan(op, a, axis, dtype, out, reverse, exclusive, segments, False,
                         device, order, strategy, self._native)
    method.__name__ = op
    method.__doc__ = f"gpuscan.{op} on this context."
    return method


for _op in _OPS + ("cumulative_sum", "cumulative_prod"):
    setattr(Context, _op, _bound(_op))


def default_context() -> Context:
    """The context the module-level functions use (created now if not yet)."""
    return Context._wrap(_native.default_context())


def upload(a, dtype=None) -> GpuArray:
    """:meth:`Context.upload` on the default context."""
    return default_context().upload(a, dtype)
