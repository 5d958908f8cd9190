#!/usr/bin/env python3
"""The scan family's times against cumsum's, reverse and exclusive against the plain scan, and
segmented scans against one segment, on the CPU and the GPU (resident: timestamp queries),
from one `gpuscan bench --json` run per table:

    python3 benches/family_ratios.py [path/to/gpuscan] [--cpu-repeats N] [--gpu-repeats N]

Every ratio divides two medians measured in the same run."""

import argparse
import json
import subprocess

parser = argparse.ArgumentParser()
parser.add_argument("binary", nargs="?", default="target/release/gpuscan")
# The CPU rows take milliseconds and the machine is shared: more runs steady their medians.
parser.add_argument("--cpu-repeats", default="15")
parser.add_argument("--gpu-repeats", default="5")
options = parser.parse_args()
binary = options.binary

OPS = ["cumsum", "cumprod", "nancumsum", "nancumprod", "cummax", "cummin", "logcumsumexp"]
PATHS = ["cpu", "gpu-resident"]


def bench(*extra, shape="4096x4096"):
    """One run per path, each ratio's two medians from the same run."""
    rows = []
    for path, repeats in zip(PATHS, [options.cpu_repeats, options.gpu_repeats]):
        cmd = [binary, "bench", "--sizes", "16777216", "--dtype", "float32,int64", "--shape",
               shape, "--axis", "0,1", "--paths", path, "--repeats", repeats, "--json", *extra]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r for r in rows if r.get("record") == "measurement"]


def case(r):
    shape = "x".join(str(n) for n in r["shape"])
    return f"{r['dtype']} ({shape})" + ("" if r["axis"] is None else f" axis {r['axis']}")


def times(rows):
    """seconds by (path, case, op)"""
    return {(r["path"], case(r), r["op"]): r["seconds"] for r in rows}


def table(title, columns, cells):
    print(f"\n{title}\n")
    print("| path | case | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for (path, c), values in cells.items():
        print(f"| {path} | {c} | " + " | ".join(values) + " |")


def ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def keys(t):
    """(path, case) in the order cases were measured, the CPU and GPU rows of a case together"""
    cases = list(dict.fromkeys(c for _, c, _ in t))
    return [(p, c) for c in cases for p in PATHS if any(k[:2] == (p, c) for k in t)]


ops = times(bench("--op", ",".join(OPS)))
table("Each operation's time / cumsum's (same run)", OPS[1:],
      {k: [ratio(ops.get((*k, op)), ops.get((*k, "cumsum"))) for op in OPS[1:]]
       for k in keys(ops)})

plain = times(bench("--op", "cumsum,cummax"))
rev = times(bench("--op", "cumsum,cummax", "--reverse"))
exc = times(bench("--op", "cumsum,cummax", "--exclusive"))
table("Reverse and exclusive / the plain scan (same run each; cumsum, cummax)",
      ["reverse cumsum", "exclusive cumsum", "reverse cummax", "exclusive cummax"],
      {k: [ratio(t.get((*k, op)), plain.get((*k, op)))
           for op in ["cumsum", "cummax"] for t in (rev, exc)]
       for k in keys(plain)})

one = times(bench("--segments", "1"))
thousand = times(bench("--segments", "1000"))
one_d = times(bench("--segments", "1", shape="none"))
million = times(bench("--segments", "1000000", shape="none"))
cells = {}
for k in keys(one):
    m = ratio(million.get((*k, "cumsum")), one_d.get((*k, "cumsum"))) if (*k, "cumsum") in one_d else "-"
    cells[k] = [ratio(thousand.get((*k, "cumsum")), one.get((*k, "cumsum"))), m]
table("Segmented cumsum / one segment (10^6 segments: 1-D only)",
      ["1000 segments", "10^6 segments"], cells)
