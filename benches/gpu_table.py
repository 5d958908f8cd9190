#!/usr/bin/env python3
"""The GPU comparison in one command: every gpuscan scan strategy against torch.cumsum.

Usage (from anywhere; the script finds the repository):

    python3 benches/gpu_table.py                   # build the CLI, run every case
    python3 benches/gpu_table.py --bin target/release/gpuscan --markdown
    python3 benches/gpu_table.py --quick           # smaller cases, for software adapters

It builds the CLI (`cargo build --release --locked --bin gpuscan`, unless --bin names a
binary), runs `gpuscan selftest` (`--quick` with --quick) and reports no speed for a strategy
that fails it, then runs `gpuscan bench --json --paths gpu-resident,copy` on a fixed set of
cases for every GPU scan strategy that passed:

    float32, int32 and int64, 1-D, 2^20, 2^24 and 2^28 elements (capped at 2^--max-log2)
    float32 (16384, 16384) along axis 0 and along axis 1
    float32 (2^22, 8) along axis 0 and (8, 2^22) along axis 1

gpu-resident rows time the scan alone on data already on the GPU; the copy row times a plain
GPU buffer copy of the same bytes, the bandwidth ceiling a scan can at best reach. When torch
imports and has a GPU (CUDA, ROCm or MPS), torch.cumsum runs on the same cases on that GPU, on
tensors already there, into a preallocated output, timed with CUDA events (host clock and
synchronize elsewhere), median of --repeats runs (default 10) after one warm-up. Like numpy,
both sides accumulate int32 in int64.

One table follows: per case a row for each gpuscan strategy and one for torch, with median
time, G elements/s, GB/s (reading and writing the accumulation dtype), the fraction of copy
throughput reached, torch's time over the row's, and gpuscan's accuracy against its float64 (or
exact integer) reference. A summary checks the best strategy per case against the targets.

Python 3 standard library only; torch is optional.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ITEMSIZE = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2,
            "int32": 4, "uint32": 4, "float32": 4, "int64": 8, "uint64": 8, "float64": 8}
TORCH_REPEATS = 10
STRATEGY_NAMES = ["blelloch", "reduce-then-scan", "chained"]


def parse_args():
    p = argparse.ArgumentParser(
        description="Build gpuscan, run `gpuscan bench` for every GPU scan strategy and "
        "torch.cumsum (when torch has a GPU) on the same cases, and print one table.",
        epilog="Cases: float32, int32, int64 1-D of 2^20, 2^24, 2^28 elements; float32 "
        "(16384, 16384) axis 0 and 1; (2^22, 8) axis 0; (8, 2^22) axis 1.")
    p.add_argument("--bin", help="the gpuscan binary to run (default: build it with "
                   "cargo build --release --locked --bin gpuscan)")
    p.add_argument("--max-log2", type=int, default=28, metavar="N",
                   help="largest case has 2^N elements (default 28): 1-D sizes are 2^20, "
                   "2^24, 2^28 capped at 2^N, and the 2-D shapes shrink to fit")
    p.add_argument("--quick", action="store_true",
                   help="smaller cases for software adapters: 1-D up to 2^24, "
                   "(4096, 4096), (2^18, 8) and (8, 2^18)")
    p.add_argument("--repeats", type=int, metavar="N",
                   help="timed runs per row: passed to gpuscan bench --repeats, and torch's "
                   "run count (default: gpuscan's adaptive count; %d for torch)" % TORCH_REPEATS)
    p.add_argument("--strategies", default="all", metavar="LIST",
                   help="passed to gpuscan bench --strategy: comma list of auto, blelloch, "
                   "reduce-then-scan, chained, or all (default)")
    p.add_argument("--json", metavar="FILE",
                   help="also write every raw record (gpuscan's JSON lines, then torch's "
                   "rows) to FILE, one JSON object per line")
    p.add_argument("--markdown", action="store_true",
                   help="print the table as a GitHub markdown table")
    args = p.parse_args()
    if args.max_log2 < 4:
        p.error("--max-log2 must be at least 4")
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def plan(args):
    """The bench runs: (sizes, shape, axes) triples; sizes or shape is None."""
    top = min(args.max_log2, 24 if args.quick else 28)
    sizes = sorted({1 << min(k, top) for k in (20, 24, 28)})
    square = min(24 if args.quick else 28, args.max_log2) // 2
    tall = min(21 if args.quick else 25, args.max_log2) - 3
    return [
        (sizes, None, None),
        (None, (1 << square, 1 << square), "0,1"),
        (None, (1 << tall, 8), "0"),
        (None, (8, 1 << tall), "1"),
    ]


def build():
    """Builds the CLI and returns the binary's path; cargo's progress goes to stderr."""
    cmd = ["cargo", "build", "--release", "--locked", "--bin", "gpuscan",
           "--message-format=json-render-diagnostics"]
    print("building: " + " ".join(cmd[:-1]), file=sys.stderr)
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit("cargo build failed (exit %d)" % proc.returncode)
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
                and msg["target"]["name"] == "gpuscan":
            return msg["executable"]
    return os.path.join(REPO, "target", "release", "gpuscan")


def run_selftest(binary, args):
    """Runs `gpuscan selftest --json` on the strategies asked for; returns the strategy list
    for the bench (those that passed) and the selftest's rows."""
    wanted = [s.strip() for s in args.strategies.split(",")]
    names = STRATEGY_NAMES if "all" in wanted else [s for s in wanted if s != "auto"]
    names = names or STRATEGY_NAMES
    cmd = [binary, "selftest", "--json", "--strategy", ",".join(names)]
    if args.quick:
        cmd.append("--quick")
    print("running: " + " ".join(cmd), file=sys.stderr)
    try:
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    except OSError as e:
        sys.exit("cannot run %s: %s" % (binary, e))
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    rows = [r for r in records if "strategy" in r]
    if not rows:
        sys.exit("gpuscan selftest ran no check (exit %d)" % proc.returncode)
    failed = {r["strategy"] for r in rows if not r["pass"]}
    passed = [n for n in names if n not in failed]
    # Auto resolves to one of the tested strategies; keep it only if all of them passed.
    if "auto" in wanted and not failed:
        passed.append("auto")
    return passed, rows


def selftest_lines(rows):
    """What the selftest found, in a few lines."""
    bad = [r for r in rows if not r["pass"]]
    lines = ["selftest: %d of %d rows passed" % (len(rows) - len(bad), len(rows))]
    for r in bad:
        lines.append("selftest FAILED: %s %s %s: %s; no speed is reported for %s"
                     % (r["strategy"], r["dtype"], r["case"], r.get("failure"), r["strategy"]))
    mismatches = sum(r.get("mismatches") or 0 for r in rows)
    fallbacks = sum(r.get("fallbacks") or 0 for r in rows)
    lines.append("chained scan: %d fallbacks, %d mismatched publications" % (fallbacks, mismatches))
    return lines


def run_bench(binary, args, sizes, shape, axes):
    """The JSON records of one `gpuscan bench` run; its progress goes to our stderr."""
    cmd = [binary, "bench", "--json", "--paths", "gpu-resident,copy",
           "--strategy", ",".join(args.passed),
           "--sizes", ",".join(map(str, sizes)) if sizes else "none",
           "--dtype", "float32,int32,int64" if sizes else "float32",
           "--shape", "%dx%d" % shape if shape else "none"]
    if axes:
        cmd += ["--axis", axes]
    if args.repeats:
        cmd += ["--repeats", str(args.repeats)]
    print("running: " + " ".join(cmd), file=sys.stderr)
    try:
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    except OSError as e:
        sys.exit("cannot run %s: %s" % (binary, e))
    if proc.returncode != 0:
        print("gpuscan bench failed (exit %d)" % proc.returncode, file=sys.stderr)
        sys.exit(proc.returncode)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def load_torch():
    """(torch, device, None), or (None, None, why there are no torch rows)."""
    try:
        import torch
    except ImportError:
        return None, None, "torch was not found"
    if torch.cuda.is_available():
        return torch, "cuda", None
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch, "mps", None
    return None, None, "torch has no GPU device here"


def time_torch(torch, device, key, repeats):
    """Median seconds of torch.cumsum on one case, on tensors already on the device."""
    dtype, shape, axis = key
    tdtype = getattr(torch, dtype)
    if dtype.startswith("float"):
        x = torch.rand(shape, dtype=tdtype, device=device)
    else:
        x = torch.randint(-100, 101, shape, dtype=tdtype, device=device)
    acc = torch.int64 if dtype == "int32" else tdtype  # numpy accumulates int32 in int64
    dim = 0 if axis is None else axis
    out = torch.empty(shape, dtype=acc, device=device)

    def scan():
        torch.cumsum(x, dim, dtype=acc, out=out)

    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else torch.mps.synchronize
    scan()
    sync()
    times = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            scan()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            scan()
            sync()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_rows(cases, repeats):
    """A torch record per case it could run, and notes on those it could not."""
    torch, device, why_not = load_torch()
    if torch is None:
        return [], [why_not], None
    name = torch.cuda.get_device_name() if device == "cuda" else "Apple GPU (mps)"
    rows, notes = [], []
    for i, (key, acc) in enumerate(cases, 1):
        dtype, shape, axis = key
        print("[torch %d/%d] %s %s axis=%s ..." % (i, len(cases), dtype, shape, axis),
              file=sys.stderr)
        try:
            seconds = time_torch(torch, device, key, repeats)
        except (RuntimeError, TypeError) as e:
            reason = "out of memory" if "out of memory" in str(e).lower() else \
                str(e).splitlines()[0][:80]
            notes.append("torch skipped %s: %s" % (label(key), reason))
            continue
        finally:
            if device == "cuda":
                torch.cuda.empty_cache()
        elements = 1
        for d in shape:
            elements *= d
        rows.append({"record": "torch", "dtype": dtype, "accumulate_dtype": acc,
                     "shape": list(shape), "axis": axis, "elements": elements,
                     "runs": repeats, "seconds": seconds,
                     "gelem_per_s": elements / seconds / 1e9, "device": name,
                     "torch_version": torch.__version__})
    return rows, notes, "torch %s on %s" % (torch.__version__, name)


def key_of(r):
    return r["dtype"], tuple(r["shape"]), r["axis"]


def label(key):
    dtype, shape, axis = key
    s = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    return "%s %s" % (dtype, s) + ("" if axis is None else " axis=%d" % axis)


def itemsize(dtype):
    return ITEMSIZE.get(dtype) or int("".join(c for c in dtype if c.isdigit()) or 64) // 8


def sig3(x):
    """Three significant digits (whole numbers from 100 up), or '-'."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(x)))))
    return "%.*f" % (digits, x) if digits <= 6 else "%.2e" % x


def duration(s):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return "%s %s" % (sig3(s / scale), unit)
    return "%s ns" % sig3(s / 1e-9)


def error_cell(r):
    if r.get("mismatches") == 0:
        return "exact"
    if r.get("mismatches"):
        return "%d WRONG" % r["mismatches"]
    if r.get("non_finite"):
        return "non-finite"
    e = r.get("max_rel_error")
    return "-" if e is None else "0" if e == 0 else "%.1e" % e


def correct(r):
    return not r.get("mismatches") and not r.get("non_finite")


def build_table(measurements, torch_by_key):
    """Table rows, and per case (key, best gpuscan row, copy row, torch row)."""
    cases = []
    for r in measurements:
        if key_of(r) not in [c[0] for c in cases]:
            cases.append((key_of(r), r["accumulate_dtype"]))
    rows, bests = [], []
    for key, acc in cases:
        mine = [r for r in measurements if key_of(r) == key]
        scans = [r for r in mine if r["path"] == "gpu-resident"]
        copy = next((r for r in mine if r["path"] == "copy"), None)
        t = torch_by_key.get(key)
        good = [r for r in scans if correct(r)]
        best = min(good, key=lambda r: r["seconds"]) if good else None
        bests.append((key, best, copy, t))
        nbytes = 2 * itemsize(acc) * scans[0]["elements"] if scans else 0
        for i, r in enumerate(scans + ([t] if t else [])):
            is_torch = r is t
            if is_torch:
                frac = copy["seconds"] / r["seconds"] if copy else None
                impl, err = "torch", "-"
            else:
                soc = r.get("scan_over_copy")
                frac = 1 / soc if soc else None
                impl = "gpuscan %s%s" % (r.get("strategy"), " *" if r is best else "")
                err = error_cell(r)
            rows.append([label(key) if i == 0 else "", impl, duration(r["seconds"]),
                         sig3(r["gelem_per_s"]), sig3(nbytes / r["seconds"] / 1e9),
                         sig3(frac), sig3(t["seconds"] / r["seconds"]) if t else "-", err])
    return rows, bests


HEADER = ["case", "impl", "median", "G elem/s", "GB/s", "copy frac", "vs torch", "max rel err"]


def print_table(rows, markdown):
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "|".join(["---", "---"] + ["---:"] * (len(HEADER) - 2)) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(x) for x in col) for col in zip(HEADER, *rows)]
    for row in [HEADER] + rows:
        cells = [c.ljust(w) if i < 2 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())


def summary(bests, have_torch):
    """Lines saying whether the best strategy per case meets each target."""
    def frac(best, copy):
        soc = best and best.get("scan_over_copy")
        return 1 / soc if soc else None

    big = [(k, b, c) for k, b, c, _ in bests if k == ("float32", (1 << 28,), None)]
    if not big:
        one = "not measured (needs --max-log2 28 without --quick)"
    else:
        f = frac(big[0][1], big[0][2])
        one = "n/a (no correct result)" if f is None else \
            "%s (%s of copy)" % ("met" if f >= 0.9 else "NOT met", sig3(f))
    two_d = [(k, frac(b, c)) for k, b, c, _ in bests if len(k[1]) == 2]
    low = [(k, f) for k, f in two_d if f is None or f < 0.8]
    if not two_d:
        two = "not measured"
    elif not low:
        two = "met (worst %s of copy)" % sig3(min(f for _, f in two_d))
    else:
        two = "NOT met: " + ", ".join("%s %s" % (label(k), sig3(f)) for k, f in low)
    timed = [(k, b, t) for k, b, _, t in bests if t]
    if not have_torch:
        three = "n/a (no torch)"
    elif not timed:
        three = "n/a (no torch case ran)"
    else:
        slow = [(k, b, t) for k, b, t in timed if b is None or b["seconds"] >= t["seconds"]]
        skipped = len(bests) - len(timed)
        extra = " (%d case%s without torch)" % (skipped, "s" * (skipped > 1)) if skipped else ""
        three = ("met" + extra) if not slow else "NOT met%s: %s" % (extra, ", ".join(
            "%s %s" % (label(k), sig3(t["seconds"] / b["seconds"]) if b else "no result")
            for k, b, t in slow))
    return ["2^28 float32 1-D >= 0.9 of copy: " + one,
            "every 2-D case >= 0.8 of copy: " + two,
            "faster than torch.cumsum in every case: " + three]


def adapter_line(a):
    if not a.get("name"):
        return "adapter: none (%s)" % (a.get("reason") or "no GPU adapter")
    line = "adapter: %s (%s, %s, %s %s; %s timing)" % (
        a["name"], a.get("backend"), a.get("device_type"), a.get("driver"),
        a.get("driver_info"), a.get("timing") or "host")
    if a.get("device_type") == "cpu":
        line += " -- a software adapter: these numbers say nothing about GPU speed"
    return line


def main():
    args = parse_args()
    binary = args.bin or build()
    args.passed, selftest_rows = run_selftest(binary, args)
    if not args.passed:
        for line in selftest_lines(selftest_rows):
            print(line)
        sys.exit("every strategy failed gpuscan selftest: no speed to report")
    records = []
    for sizes, shape, axes in plan(args):
        records += run_bench(binary, args, sizes, shape, axes)
    adapter = next((r for r in records if r.get("record") == "adapter"), {})
    measurements = [r for r in records if r.get("record") == "measurement"]
    cases = []
    for r in measurements:
        if (key_of(r), r["accumulate_dtype"]) not in cases:
            cases.append((key_of(r), r["accumulate_dtype"]))
    trows, notes, torch_desc = torch_rows(cases, args.repeats or TORCH_REPEATS)
    if args.json:
        with open(args.json, "w") as f:
            for r in records + trows:
                f.write(json.dumps(r) + "\n")

    rows, bests = build_table(measurements, {key_of(t): t for t in trows})
    print(adapter_line(adapter))
    if torch_desc:
        print("torch: " + torch_desc)
    else:
        print("torch: none (%s), so the torch columns say -" % notes.pop(0))
    print("times: medians after one warm-up, on data already on the GPU; GB/s: reading and "
          "writing the accumulation dtype\n(int32 sums in int64); copy frac: the share of a "
          "GPU buffer copy's throughput reached (torch: gpuscan's copy);\nvs torch: torch "
          "time / row time (above 1: gpuscan is faster); *: fastest correct gpuscan strategy")
    print()
    print_table(rows, args.markdown)
    print()
    for line in selftest_lines(selftest_rows):
        print(("- " if args.markdown else "") + line)
    for note in notes:
        print(("- " if args.markdown else "") + note)
    print("Targets, best strategy per case:")
    for line in summary(bests, torch_desc is not None):
        print(("- " if args.markdown else "  ") + line)


if __name__ == "__main__":
    main()
