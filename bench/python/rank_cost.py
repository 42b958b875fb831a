#!/usr/bin/env python3
"""What a binary evaluator's rank metrics (auroc, average_precision: score histograms) cost per
step and per epoch, on the CPU: the per-step ev(pred, target) (TorchMetrics' forward: fold the
batch, report it alone), compute() after 10^6 scores, state(), and the resident memory the
histograms take, for float32 scores (24-bit keys, inexact: bounds) and float16 (exact).

    PYTHONPATH=build/python python3 bench/python/rank_cost.py [--batch 8192] [--threads 2]
        [--device cpu]

Each time is the median of --repeat calls, all in one run. Memory is the growth of the
process's resident set from before the evaluator was made (the histograms are calloc'd: only
the pages scores land in become resident). Prints a Markdown table.
"""

import argparse
import os
import statistics
import time

import numpy as np

import gpueval


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def batches(rng, n, size, dtype):
    """Scores a sigmoid of a normal, positives shifted by 1 (AUROC about 0.76), 30% positives."""
    for _ in range(n):
        t = (rng.random(size) < 0.3).astype(np.int64)
        yield (1 / (1 + np.exp(-(rng.normal(size=size) + t)))).astype(dtype), t


def median_ms(f, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def run(args, dtype):
    rng = np.random.default_rng(0)
    before = rss_mib()
    ev = gpueval.Classification("binary", device=args.device, threads=args.threads)
    steps = list(batches(rng, args.steps, args.batch, dtype))
    k = iter(range(len(steps)))
    # The per-step call, as a training loop logs batch metrics: each on a new batch.
    step = median_ms(lambda: ev(*steps[next(k) % len(steps)]), args.steps)
    one_step_mib = rss_mib() - before
    folded = args.steps * args.batch
    for s, t in batches(rng, max(0, (args.total - folded) // args.batch), args.batch, dtype):
        ev.update(s, t)
    r = ev.compute()
    return {
        "dtype": np.dtype(dtype).name,
        "ev_ms": step,
        "compute_ms": median_ms(ev.compute, args.repeat),
        "state_ms": median_ms(ev.state, args.repeat),
        "state_bytes": len(ev.state()),
        "count": r.count,
        "rss_steps_mib": one_step_mib,
        "rss_total_mib": rss_mib() - before,
        "auroc_bound": r["auroc_bound"],
        "ap_bound": r["average_precision_bound"],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8192)
    p.add_argument("--steps", type=int, default=40, help="per-step ev() calls timed")
    p.add_argument("--total", type=int, default=10**6, help="scores before compute()")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu, or cuda[:N] (memory: the host's)")
    args = p.parse_args()
    rows = [run(args, np.float32), run(args, np.float16)]
    print(f"Binary auroc + average_precision, batches of {args.batch} scores, {args.threads} "
          f"threads, gpueval {gpueval.__version__}; medians of one run.\n")
    print("| scores | ev() per step | compute() after 10^6 | state() | state bytes | "
          "memory after the ev() steps | after 10^6 | auroc_bound | ap_bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dtype']} | {r['ev_ms']:.2f} ms | {r['compute_ms']:.2f} ms | "
              f"{r['state_ms']:.2f} ms | {r['state_bytes']:,} | {r['rss_steps_mib']:.1f} MiB | "
              f"{r['rss_total_mib']:.1f} MiB | {r['auroc_bound']:.1e} | {r['ap_bound']:.1e} |")


if __name__ == "__main__":
    main()
