"""numpy's scans on any GPU (wgpu) and the CPU, with numpy's semantics.

``gpuscan.cumsum(a, axis=None, dtype=None, out=None)`` and its family (cumprod, nancumsum,
nancumprod, cummax, cummin, logcumsumexp, cumulative_sum, cumulative_prod) give numpy's
results and exceptions, plus ``reverse``, ``exclusive`` and ``segments``, and where to run
(``device``, ``order``, ``strategy``). The GIL is released while a scan runs. The default
context (the adapter) is opened on the first scan that needs it, never at import.
"""

from . import _gpuscan
from ._api import (cummax, cummin, cumprod, cumsum, cumulative_prod, cumulative_sum,
                   logcumsumexp, nancumprod, nancumsum)
from ._context import Context, GpuArray, default_context, upload
from ._errors import GpuError, GpuMemoryError, GpuUnavailableError

__version__ = "0.1.0"

__all__ = [
    "Context", "GpuArray", "GpuError", "GpuMemoryError", "GpuUnavailableError", "cummax",
    "cummin", "cumprod", "cumsum", "cumulative_prod", "cumulative_sum", "default_context",
    "gpu_dtypes", "info", "logcumsumexp", "nancumprod", "nancumsum", "upload",
]


def info() -> dict:
    """The versions, and the default context's adapter, GPU dtypes, Auto thresholds and
    strategy (opening the default context if it is not open yet)."""
    import numpy

    d = {"gpuscan": __version__, "numpy": numpy.__version__}
    d.update(default_context().info())
    return d


def gpu_dtypes() -> list:
    """The accumulation dtypes the default context scans on the GPU."""
    return default_context().gpu_dtypes()
