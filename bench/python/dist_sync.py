#!/usr/bin/env python3
"""What compute() costs when it joins the ranks of a torch.distributed job (gloo, processes on
this machine), at 20 keys (channels of [16, 500, 20] batches) and at 10,000 keys (by step and
channel), beside the same evaluator's local compute(sync=False) and, when TorchMetrics is
installed, the sync() of TorchMetrics' six regression metrics (MSE, MAE, R2, Pearson, explained
variance, cosine; the state gather its compute() does) after the same batches, on the same ranks
and keys. TorchMetrics' CosineSimilarity keeps every sample, so its state is the batches.

    python3 bench/python/dist_sync.py [--ranks 2 3] [--repeat 30] [--json OUT]

Milliseconds per compute(), median over --repeat calls on rank 0 (every rank takes part).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import numpy as np

CASES = {"20 keys": dict(by_axis=None, keys=20), "10,000 keys": dict(by_axis=1, keys=10_000)}


def median_ms(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def worker(args):
    import torch
    import torch.distributed as dist

    import gpueval

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.set_num_threads(1)
    rng = np.random.default_rng(rank)
    t = rng.standard_normal((16, 500, 20), dtype=np.float32)
    p = t + 0.1 * rng.standard_normal(t.shape, dtype=np.float32)
    out = {}
    for name, case in CASES.items():
        ev = gpueval.Regression(by_axis=case["by_axis"], device="cpu", threads=1)
        for _ in range(3):
            ev.update(p, t)
        dist.barrier()
        row = {"state_bytes": len(ev.state()),
               "gpueval_sync_ms": median_ms(ev.compute, args.repeat),
               "gpueval_local_ms": median_ms(lambda: ev.compute(sync=False), args.repeat)}
        try:
            import torchmetrics as tm
        except ImportError:
            tm = None
        if tm is not None:
            k = case["keys"]
            suite = [tm.MeanSquaredError(), tm.MeanAbsoluteError(),
                     tm.R2Score(multioutput="uniform_average"),
                     tm.PearsonCorrCoef(num_outputs=k),
                     tm.ExplainedVariance(multioutput="uniform_average"),
                     tm.CosineSimilarity(reduction="mean")]
            tp = torch.from_numpy(p).reshape(-1, k)
            tt = torch.from_numpy(t).reshape(-1, k)
            for _ in range(3):  # the same batches as gpueval's
                for m in suite:
                    m.update(tp, tt)

            def sync():
                for m in suite:
                    m.sync()
                    m.unsync()

            dist.barrier()
            row["torchmetrics_sync_ms"] = median_ms(sync, args.repeat)
        out[name] = row
    if rank == 0:
        with open(args.out, "w") as f:
            json.dump(out, f)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--json")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    results = {}
    for world in args.ranks:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        out = f"/tmp/gpueval-dist-sync-{os.getpid()}-{world}.json"
        procs = [subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", "--repeat", str(args.repeat),
             "--out", out],
            env=dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(r),
                     WORLD_SIZE=str(world), OMP_NUM_THREADS="1")) for r in range(world)]
        for p in procs:
            p.wait()
        with open(out) as f:
            results[world] = json.load(f)
        os.remove(out)
    print("| ranks | keys | state bytes per rank | gpueval compute() joined, ms | local, ms | "
          "TorchMetrics sync() of 6 metrics, ms |")
    print("|---|---|---|---|---|---|")
    for world, rows in results.items():
        for name, r in rows.items():
            tm_ms = f"{r['torchmetrics_sync_ms']:.2f}" if "torchmetrics_sync_ms" in r else "-"
            print(f"| {world} | {name} | {r['state_bytes']} | {r['gpueval_sync_ms']:.2f} | "
                  f"{r['gpueval_local_ms']:.2f} | {tm_ms} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
