"""gpuscan against numpy from Python, and gpuscan.dask against dask's own scans.

    python python/benches/python_vs_numpy.py                # call overhead, 2^10..2^26, 4096x4096
    python python/benches/python_vs_numpy.py --dask 2^28    # plus Dask on a two-worker cluster

Every figure is the best of several runs (this machine is shared: compare ratios within one
run). Run it with a release build of the package (`pip install ./python`).
"""

import argparse
import os
import time

import numpy as np

import gpuscan


def best(f, repeat, number=1):
    """The best time of `repeat` runs of `number` calls, per call."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            f()
        times.append((time.perf_counter() - t) / number)
    return min(times)


def size(s):
    return int(2 ** float(s[2:])) if s.startswith("2^") else int(s)


def row(case, t_us, t_np, extra=""):
    print(f"{case:<34} {t_us * 1e3:>11.4f} {t_np * 1e3:>11.4f} {t_np / t_us:>8.2f}  {extra}")


def host(args):
    print(f"adapter: {gpuscan.info()['adapter']}")
    print(f"{'case':<34} {'gpuscan ms':>11} {'numpy ms':>11} {'np/gs':>8}")
    for dt in ("float64", "float32", "int64"):
        a = np.ones(1, dt)
        gpuscan.cumsum(a)
        n = 20000
        row(f"{dt} 1 element (call overhead)", best(lambda: gpuscan.cumsum(a), 7, n),
            best(lambda: np.cumsum(a), 7, n))
    rng = np.random.default_rng(0)
    for dt in ("float32", "int64"):
        for k in range(10, args.max_log2 + 1, 2):
            x = rng.random(1 << k).astype(dt) if dt == "float32" else \
                rng.integers(-100, 100, 1 << k)
            rep = 7 if k <= 20 else 3
            num = max(1, (1 << 18) >> k) if k < 18 else 1
            row(f"{dt} 2^{k}", best(lambda: gpuscan.cumsum(x), rep, num),
                best(lambda: np.cumsum(x), rep, num))
        m = rng.random((4096, 4096)).astype(dt) if dt == "float32" else \
            rng.integers(-100, 100, (4096, 4096))
        for axis in (0, 1):
            row(f"{dt} 4096x4096 axis={axis}", best(lambda: gpuscan.cumsum(m, axis=axis), 3),
                best(lambda: np.cumsum(m, axis=axis), 3))
    if gpuscan.info()["has_gpu"]:
        x = rng.random(1 << 24).astype(np.float32)
        g = gpuscan.upload(x)
        row("float32 2^24 device='gpu'", best(lambda: gpuscan.cumsum(x, device="gpu"), 3),
            best(lambda: np.cumsum(x), 3), "(upload, scan, download)")
        row("float32 2^24 resident GpuArray", best(lambda: g.cumsum().download(), 3),
            best(lambda: np.cumsum(x), 3), "(uploaded once; scan, download)")


def dask_bench(n, chunks_count):
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    import gpuscan.dask as gd

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster, \
            Client(cluster) as client:
        chunk = n // chunks_count
        x = da.random.default_rng(0).random(n, chunks=chunk, dtype=np.float32).persist()
        wait(x)
        print(f"dask: {n} float32 elements ({n * 4 / 2**30:.2f} GiB) in {x.npartitions} "
              f"chunks, 2 worker processes x 1 thread")
        print(f"{'case':<34} {'gpuscan s':>11} {'numpy s':>11} {'np/gs':>8}")
        runs = iter(range(1, 1000))

        for method in ("sequential", "blelloch"):
            def run(f):
                # A new offset each run: identical graphs would find their keys still held.
                r = f(x + np.float32(next(runs)), axis=0, method=method).persist()
                wait(r)
                del r
            run(gd.cumsum)  # warm-up: each worker opens its context
            t_gs = best(lambda: run(gd.cumsum), 3)
            t_np = best(lambda: run(da.cumsum), 3)
            print(f"{'dask cumsum ' + method:<34} {t_gs:>11.3f} {t_np:>11.3f} "
                  f"{t_np / t_gs:>8.2f}")
        print("worker chunk scans by gpuscan:", client.run(gd.kernel_calls))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--max-log2", type=int, default=26)
    p.add_argument("--dask", type=size, default=None, help="elements, e.g. 2^28")
    p.add_argument("--chunks", type=int, default=64)
    p.add_argument("--no-host", action="store_true")
    args = p.parse_args()
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    if not args.no_host:
        host(args)
    if args.dask:
        dask_bench(args.dask, args.chunks)


if __name__ == "__main__":
    main()
