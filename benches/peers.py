#!/usr/bin/env python3
"""gpuscan against its peers: numpy.cumsum, and torch.cumsum on a CUDA GPU, on the same cases.

Usage (from anywhere; the script finds the repository):

    python3 benches/peers.py --sizes 1048576,16777216
    python3 benches/peers.py --sizes 2^20 --shape none --dtype float32,int64
    python3 benches/peers.py --bin target/release/gpuscan --shape 2048x2048 --axis 0,1
    python3 benches/peers.py            # gpuscan bench's default cases (about a minute on lavapipe)
    python3 benches/peers.py --preset wall --bin target/release/gpuscan   # the CPU path's cases

--shapes runs gpuscan bench once per multi-dimensional shape, each with its own axes
("4096x4096:0,1 4194304x8:0 8x4194304:1"); --op takes gpuscan bench's scan names and numpy
runs the same function (cumsum, cumprod, nancumsum, nancumprod, maximum.accumulate for
cummax, minimum.accumulate for cummin, logaddexp.accumulate for logcumsumexp). `--preset wall`
is the CPU path's table: float32 and int64, 1-D 2^16 to 2^26, (4096, 4096) along each axis,
(2^22, 8) along axis 0 and (8, 2^22) along axis 1, cumsum, cumprod and cummax, CPU rows only.
`--preset widen` is the narrow inputs' cumsum (bool, int8, int16 and int32 into int64; int64 and
float16 beside them), 1-D 2^20 and 2^24, CPU rows only.

It runs `gpuscan bench --json` (the binary given by --bin, else `cargo run --release --quiet --`)
with the case options it was given (--sizes, --dtype, --shape, --axis, --repeats, --device,
--strategy; their meaning is gpuscan bench's), then, in the same run, times numpy.cumsum on every
case gpuscan measured: same dtype, shape and axis (axis None flattens), uniform [0, 1) floats or
small non-negative ints, the median of the timed runs after one warm-up (--repeats, else 5 to 25
runs aiming at 0.5 s, as gpuscan does). When `import torch` works and torch.cuda.is_available(),
torch.cumsum runs too, on a tensor already on the GPU, timed with torch.cuda.synchronize() (the
counterpart of gpuscan's gpu-resident row).

One table follows: each gpuscan row (copy rows excepted: they compute no cumsum) with its
G elements/s, numpy's and torch's (or -) on that case, a memory copy's (numpy copying the same
bytes into a new array, the floor of any scan that returns a new array; numpy's cast into the
result's dtype where that is wider than the input's), the ratios
gpuscan/numpy, gpuscan/torch and gpuscan/memcpy (above 1: gpuscan is faster), and for float
sums the largest relative error over all prefixes, gpuscan's and numpy's, against a float64
scan of the same input.

Needs numpy; torch is optional.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# gpuscan bench's adaptive policy, so both sides get comparable medians.
TARGET_SECONDS = 0.5
MIN_RUNS = 5
MAX_RUNS = 25

FORWARDED = ["sizes", "dtype", "shape", "axis", "repeats", "device", "strategy", "order", "op"]

# numpy's function for each gpuscan scan: (a, axis) -> result.
NUMPY_OPS = {
    "cumsum": np.cumsum,
    "cumprod": np.cumprod,
    "nancumsum": np.nancumsum,
    "nancumprod": np.nancumprod,
    "cummax": np.maximum.accumulate,
    "cummin": np.minimum.accumulate,
    "logcumsumexp": np.logaddexp.accumulate,
}

PRESETS = {
    "wall": {
        "sizes": "2^16,2^20,2^24,2^26",
        "dtype": "float32,int64",
        "shapes": "4096x4096:0,1 4194304x8:0 8x4194304:1",
        "op": "cumsum,cumprod,cummax",
        "device": "cpu",
    },
    "widen": {
        "sizes": "2^20,2^24",
        "dtype": "bool,int8,int16,int32,int64,float16",
        "shape": "none",
        "op": "cumsum",
        "device": "cpu",
    },
}


def parse_args():
    p = argparse.ArgumentParser(
        description="gpuscan bench against numpy.cumsum and torch.cumsum on the same cases."
    )
    p.add_argument("--bin", help="the gpuscan binary (default: cargo run --release --quiet --)")
    for name in FORWARDED:
        p.add_argument("--" + name, help="passed to gpuscan bench --" + name)
    p.add_argument("--shapes", help="multi-dimensional shapes with their axes, one gpuscan run "
                   "each: '4096x4096:0,1 4194304x8:0'")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a named set of cases")
    args = p.parse_args()
    for name, value in PRESETS.get(args.preset, {}).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def run_gpuscan_shapes(args):
    """The records of one gpuscan run per --shapes entry (the 1-D sizes with the first), or of
    one run as the options say."""
    if not args.shapes:
        return run_gpuscan(args)
    records = []
    for i, spec in enumerate(args.shapes.split()):
        shape, _, axes = spec.partition(":")
        one = argparse.Namespace(**vars(args))
        one.shape, one.axis = shape, axes or None
        if i > 0:
            one.sizes = "none"
        got = run_gpuscan(one)
        records += got if i == 0 else got[1:]
    return records


def run_gpuscan(args):
    """The JSON records of one `gpuscan bench --json` run; its progress goes to our stderr."""
    if args.bin:
        cmd = [args.bin]
    else:
        cmd = ["cargo", "run", "--release", "--quiet", "--"]
    cmd += ["bench", "--json"]
    for name in FORWARDED:
        value = getattr(args, name)
        if value is not None:
            # `--axis=-1` keeps a negative axis from reading as an option.
            cmd.append("--%s=%s" % (name, value))
    print("running: " + " ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(proc.returncode)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def make_input(dtype, shape, seed=2024):
    """Uniform [0, 1) floats, small non-negative ints, or coin flips for bool."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        gen_dtype = np.float32 if dt == np.float32 else np.float64
        return rng.random(shape, dtype=gen_dtype).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.integers(0, 100, size=shape).astype(dt)


def median_seconds(run, repeats, sync=None):
    """Median wall time of `run` after one warm-up; `sync` waits for asynchronous work."""

    def timed():
        start = time.perf_counter()
        run()
        if sync:
            sync()
        return time.perf_counter() - start

    warm = timed()
    n = repeats or max(MIN_RUNS, min(MAX_RUNS, math.ceil(TARGET_SECONDS / max(warm, 1e-9))))
    return statistics.median(timed() for _ in range(n))


def load_torch():
    """(torch, None) when torch can run on a CUDA GPU, else (None, why not)."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        return None, "not installed (%s)" % e.__class__.__name__
    if not torch.cuda.is_available():
        return None, "no CUDA device"
    return torch, None


def numpy_op(op, a, axis):
    """numpy's `op` along `axis` (None: the flattened array)."""
    if axis is None:
        a, axis = a.ravel(), 0
    return NUMPY_OPS[op](a, axis=axis)


def time_numpy(op, a, axis, repeats):
    return median_seconds(lambda: numpy_op(op, a, axis), repeats)


def numpy_error(op, a, axis):
    """The largest relative error of numpy's float sum over all prefixes, against float64."""
    if op != "cumsum" or a.dtype.kind != "f":
        return None
    got = numpy_op(op, a, axis)
    want = numpy_op(op, a.astype(np.float64), axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(got.astype(np.float64) - want) / np.abs(want)
    return float(np.nanmax(err[np.isfinite(err)]))


def time_copy(op, a, repeats):
    """A plain memory copy of the same bytes into a new array: the floor of any scan that
    returns a new array (it too must read every byte, write every byte and fault the pages in).
    Where the scan's result is wider than its input (int8 into int64 for cumsum), the copy is
    numpy's cast into the result's dtype, which reads the input and writes the result's bytes."""
    result = numpy_op(op, a[:1], None).dtype
    return median_seconds(lambda: a.astype(result), repeats)


def time_torch(torch, a, axis, repeats):
    """Seconds for torch.cumsum on data already on the GPU, or None if torch lacks the dtype."""
    try:
        t = torch.from_numpy(np.ascontiguousarray(a)).cuda()
        if axis is None:
            t = t.flatten()
            axis = 0
        return median_seconds(lambda: torch.cumsum(t, dim=axis), repeats, torch.cuda.synchronize)
    except (RuntimeError, TypeError):
        return None


def fmt(x):
    """Three significant digits, or '-'."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(x)))))
    return "%.*f" % (digits, x) if digits <= 6 else "%.2e" % x


def case_label(m):
    shape = m["shape"]
    s = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    label = "%s %s" % (m["dtype"], s)
    return label if m["axis"] is None else "%s axis=%d" % (label, m["axis"])


def main():
    args = parse_args()
    records = run_gpuscan_shapes(args)  # first: it validates the options and says what is wrong
    repeats = int(args.repeats) if args.repeats else None
    adapter, measurements = records[0], [r for r in records[1:] if r["path"] != "copy"]
    torch, why_not = load_torch()

    # Each distinct case once: numpy and torch are timed per case, not per gpuscan path.
    peers = {}
    cases = []
    for m in measurements:
        key = (m["op"], m["dtype"], tuple(m["shape"]), m["axis"])
        if key not in peers:
            peers[key] = None
            cases.append(key)
    for i, (op, dtype, shape, axis) in enumerate(cases, 1):
        print("[%d/%d] numpy%s %s %s %s axis=%s ..." % (
            i, len(cases), "+torch" if torch else "", op, dtype, shape, axis), file=sys.stderr)
        a = make_input(dtype, shape)
        n = a.size
        np_s = time_numpy(op, a, axis, repeats)
        torch_s = time_torch(torch, a, axis, repeats) if torch and op == "cumsum" else None
        copy_s = time_copy(op, a, repeats)
        peers[(op, dtype, shape, axis)] = (
            n / np_s / 1e9,
            n / torch_s / 1e9 if torch_s else None,
            n / copy_s / 1e9,
            numpy_error(op, a, axis),
        )
        del a

    gpu = adapter.get("name") or "no GPU adapter"
    print("gpuscan on %s (%s timing); numpy %s on the CPU; torch: %s" % (
        gpu,
        adapter.get("timing") or "host",
        np.__version__,
        "%s on %s" % (torch.__version__, torch.cuda.get_device_name()) if torch else why_not,
    ))
    print("float order: %s; G elements/s, medians; ratios above 1: gpuscan is faster; "
          "memcpy: numpy copying the same bytes into a new array (a cast where the result is "
          "wider)" % adapter.get("order", "fast"))
    print()
    row = "%-28s %-8s %-15s %10s %10s %10s %10s %14s %14s %15s %11s %11s"
    print(row % (
        "case", "op", "gpuscan path", "gpuscan", "numpy", "torch", "memcpy", "gpuscan/numpy",
        "gpuscan/torch", "gpuscan/memcpy", "gpuscan err", "numpy err"))
    last = None
    for m in measurements:
        key = (m["op"], m["dtype"], tuple(m["shape"]), m["axis"])
        np_g, torch_g, copy_g, np_err = peers[key]
        g = m["gelem_per_s"]
        label = case_label(m) if key[1:] != last else ""
        last = key[1:]
        err = m.get("max_rel_error") if m["op"] == "cumsum" and np_err is not None else None
        print(row % (
            label, m["op"], m["path"], fmt(g), fmt(np_g), fmt(torch_g), fmt(copy_g),
            fmt(g / np_g), fmt(g / torch_g) if torch_g else "-", fmt(g / copy_g),
            fmt(err), fmt(np_err)))


if __name__ == "__main__":
    main()
