#!/usr/bin/env python3
"""numpy (OpenBLAS) DGEMM GFLOPS at the same sizes and in the same JSON format as
`pier-payload gflops`, so the harness can compare our kernel with a tuned BLAS.

Usage: openblas_dgemm.py [--size N]... [--threads T]... [--reps R]
Threads are set with threadpoolctl when available, else via OPENBLAS_NUM_THREADS
(read at import, so each thread count runs in a child process).
Unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for a fair comparison:
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench/openblas_dgemm.py
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def measure(sizes, reps, threads):
    import numpy as np

    rng = np.random.default_rng(1)
    out = []
    for n in sizes:
        a = rng.uniform(-1, 1, (n, n))
        b = rng.uniform(-1, 1, (n, n))
        c = a @ b  # warm-up
        i, j = n // 3, n // 2
        assert abs(c[i, j] - float(np.dot(a[i, :], b[:, j]))) < 1e-9 * n
        g = []
        for _ in range(reps):
            t = time.perf_counter()
            np.matmul(a, b, out=c)
            g.append(2.0 * n**3 / (time.perf_counter() - t) / 1e9)
        print(f"numpy N={n} threads={threads}: best {max(g):.1f}", file=sys.stderr)
        out.append({"size": n, "threads": threads, "reps": reps,
                    "best_gflops": max(g), "median_gflops": statistics.median(g),
                    "gflops": g})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, action="append")
    p.add_argument("--threads", type=int, action="append")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    sizes = a.size or [256, 512, 1024, 2048]
    ncpu = len(os.sched_getaffinity(0))
    threads = a.threads or sorted({1, ncpu})
    if a.child:
        print(json.dumps(measure(sizes, a.reps, threads[0])))
        return
    results = []
    for t in threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t))
        args = [sys.executable, __file__, "--child", "--threads", str(t), "--reps", str(a.reps)]
        for n in sizes:
            args += ["--size", str(n)]
        res = subprocess.run(args, env=env, stdout=subprocess.PIPE, check=True, text=True)
        results += json.loads(res.stdout)
    import numpy as np

    print(json.dumps({"suite": "gflops", "kernel": "numpy-openblas",
                      "numpy": np.__version__, "cpu_threads": ncpu,
                      "verified": True, "results": results}))


if __name__ == "__main__":
    main()
