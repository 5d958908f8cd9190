#!/usr/bin/env python3
"""gpuscan against its peers: numpy.cumsum, and torch.cumsum on a CUDA GPU, on the same cases.

Usage (from anywhere; the script finds the repository):

    python3 benches/peers.py --sizes 1048576,16777216
    python3 benches/peers.py --sizes 2^20 --shape none --dtype float32,int64
    python3 benches/peers.py --bin target/release/gpuscan --shape 2048x2048 --axis 0,1
    python3 benches/peers.py            # gpuscan bench's default cases (about a minute on lavapipe)

It runs `gpuscan bench --json` (the binary given by --bin, else `cargo run --release --quiet --`)
with the case options it was given (--sizes, --dtype, --shape, --axis, --repeats, --device,
--strategy; their meaning is gpuscan bench's), then, in the same run, times numpy.cumsum on every
case gpuscan measured: same dtype, shape and axis (axis None flattens), uniform [0, 1) floats or
small non-negative ints, the median of the timed runs after one warm-up (--repeats, else 5 to 25
runs aiming at 0.5 s, as gpuscan does). When `import torch` works and torch.cuda.is_available(),
torch.cumsum runs too, on a tensor already on the GPU, timed with torch.cuda.synchronize() (the
counterpart of gpuscan's gpu-resident row).

One table follows: each gpuscan row (copy rows excepted: they compute no cumsum) with its
G elements/s, numpy's and torch's (or -) on that case, and the ratios gpuscan/numpy and
gpuscan/torch (above 1: gpuscan is faster).

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

FORWARDED = ["sizes", "dtype", "shape", "axis", "repeats", "device", "strategy", "order"]


def parse_args():
    p = argparse.ArgumentParser(
        description="gpuscan bench against numpy.cumsum and torch.cumsum on the same cases."
    )
    p.add_argument("--bin", help="the gpuscan binary (default: cargo run --release --quiet --)")
    for name in FORWARDED:
        p.add_argument("--" + name, help="passed to gpuscan bench --" + name)
    return p.parse_args()


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


def time_numpy(a, axis, repeats):
    return median_seconds(lambda: np.cumsum(a, axis=axis), repeats)


def time_copy(a, repeats):
    """A plain memory copy of the same bytes into a new array: the floor of any cumsum that
    returns a new array (it too must read every byte, write every byte and fault the pages in)."""
    return median_seconds(lambda: a.copy(), repeats)


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
    records = run_gpuscan(args)  # first: it validates the options and says what is wrong
    repeats = int(args.repeats) if args.repeats else None
    adapter, measurements = records[0], [r for r in records[1:] if r["path"] != "copy"]
    torch, why_not = load_torch()

    # Each distinct case once: numpy and torch are timed per case, not per gpuscan path.
    peers = {}
    cases = []
    for m in measurements:
        key = (m["dtype"], tuple(m["shape"]), m["axis"])
        if key not in peers:
            peers[key] = None
            cases.append(key)
    for i, (dtype, shape, axis) in enumerate(cases, 1):
        print("[%d/%d] numpy%s %s %s axis=%s ..." % (
            i, len(cases), "+torch" if torch else "", dtype, shape, axis), file=sys.stderr)
        a = make_input(dtype, shape)
        n = a.size
        np_s = time_numpy(a, axis, repeats)
        torch_s = time_torch(torch, a, axis, repeats) if torch else None
        copy_s = time_copy(a, repeats)
        peers[(dtype, shape, axis)] = (
            n / np_s / 1e9,
            n / torch_s / 1e9 if torch_s else None,
            n / copy_s / 1e9,
        )

    gpu = adapter.get("name") or "no GPU adapter"
    print("gpuscan on %s (%s timing); numpy %s on the CPU; torch: %s" % (
        gpu,
        adapter.get("timing") or "host",
        np.__version__,
        "%s on %s" % (torch.__version__, torch.cuda.get_device_name()) if torch else why_not,
    ))
    print("float order: %s; G elements/s, medians; ratios above 1: gpuscan is faster; "
          "memcpy: numpy copying the same bytes into a new array" % adapter.get("order", "fast"))
    print()
    header = "%-28s %-15s %10s %10s %10s %10s %14s %14s %15s" % (
        "case", "gpuscan path", "gpuscan", "numpy", "torch", "memcpy", "gpuscan/numpy",
        "gpuscan/torch", "gpuscan/memcpy")
    print(header)
    last = None
    for m in measurements:
        key = (m["dtype"], tuple(m["shape"]), m["axis"])
        np_g, torch_g, copy_g = peers[key]
        g = m["gelem_per_s"]
        label = case_label(m) if key != last else ""
        last = key
        print("%-28s %-15s %10s %10s %10s %10s %14s %14s %15s" % (
            label, m["path"], fmt(g), fmt(np_g), fmt(torch_g), fmt(copy_g),
            fmt(g / np_g), fmt(g / torch_g) if torch_g else "-", fmt(g / copy_g)))


if __name__ == "__main__":
    main()
