"""gpuscan's own exceptions (bad arguments raise numpy's: AxisError, ValueError, TypeError)."""


class GpuError(RuntimeError):
    """The GPU failed: a validation error, a lost device, a failed mapping."""


class GpuUnavailableError(GpuError):
    """The GPU was asked for (``device="gpu"``) but there is no adapter, or it lacks a
    feature the accumulation dtype needs (e.g. ``SHADER_F64`` for float64)."""


class GpuMemoryError(GpuError, MemoryError):
    """The scan needs more memory than the device (or a buffer limit) allows."""
