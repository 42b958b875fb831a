#!/usr/bin/env python3
"""Binary AUROC over 10^8 scores fed in batches of 10^5, in one run on the CPU: gpueval's score
histograms (float32 scores: within a reported bound; float16 scores: exact) against TorchMetrics'
BinaryAUROC exact (it keeps every score: its state grows with the data) and binned with 1,000
thresholds (a [1000, 2, 2] confusion matrix per update, O(N x thresholds) work). Per method: time
per update, compute time, the state it holds, and the error against scikit-learn's
roc_auc_score (and average_precision_score for gpueval) on the same scores.

TorchMetrics needs torch >= 2 from PyPI: run this from a separate virtual environment, never in
CI (see bench/python/streaming_libraries.py):

    PYTHONPATH=build/python /tmp/tm/bin/python bench/python/rank_metrics.py \\
        --json bench/results/python-rank-metrics.json
"""

import argparse
import json
import statistics
import time

import numpy as np
import torch
from sklearn import metrics as skm
from torchmetrics.classification import BinaryAUROC

import gpueval


def make_data(total, seed=0):
    """Positives score higher on average (AUROC about 0.76); float32 scores in (0, 1)."""
    g = np.random.default_rng(seed)
    y = (g.random(total, dtype=np.float32) < 0.3).astype(np.int32)
    z = g.standard_normal(total, dtype=np.float32) + np.float32(1.0) * y
    s = (1 / (1 + np.exp(-z))).astype(np.float32)
    return s, y


def run(name, make, update, compute, size, scores, targets, batch):
    m = make()
    per = []
    t_all = time.perf_counter()
    for i in range(0, len(scores), batch):
        p, t = scores[i:i + batch], targets[i:i + batch]
        t0 = time.perf_counter()
        update(m, p, t)
        per.append(time.perf_counter() - t0)
    fold_s = time.perf_counter() - t_all
    t0 = time.perf_counter()
    values = compute(m)
    compute_s = time.perf_counter() - t0
    row = {"method": name, "update_ms_median": statistics.median(per) * 1e3,
           "update_ms_mean": statistics.fmean(per) * 1e3, "fold_s": fold_s,
           "compute_s": compute_s, "state_bytes": size(m)}
    row.update(values)
    print(f"{name:<38} update {row['update_ms_median']:8.3f} ms (mean {row['update_ms_mean']:.3f})"
          f"  compute {compute_s:7.3f} s  state {row['state_bytes']:>13,} B  "
          + "  ".join(f"{k} {v:.12g}" for k, v in values.items()), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scores", type=float, default=1e8)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    total = int(args.scores)
    s32, y = make_data(total)
    s16 = s32.astype(np.float16)
    t0 = time.perf_counter()
    ref = {"float32": (skm.roc_auc_score(y, s32), skm.average_precision_score(y, s32)),
           "float16": (skm.roc_auc_score(y, s16), skm.average_precision_score(y, s16))}
    print(f"scikit-learn reference in {time.perf_counter() - t0:.1f} s: {ref}", flush=True)
    torch_s32, torch_y = torch.from_numpy(s32), torch.from_numpy(y)

    def gpueval_rows(label, scores, key):
        def compute(ev):
            r = ev.compute()
            auroc, ap = ref[key]
            return {"auroc": r["auroc"], "auroc_error": abs(r["auroc"] - auroc),
                    "auroc_bound": r["auroc_bound"], "ap_error": abs(r["average_precision"] - ap),
                    "ap_bound": r["average_precision_bound"],
                    "bits": r.histogram["bits"], "exact": r.histogram["exact"]}
        return run(label, lambda: gpueval.Classification("binary", metrics="auroc,"
                                                         "average_precision", device="cpu",
                                                         threads=args.threads),
                   lambda ev, p, t: ev.update(p, t), compute, lambda ev: len(ev.state()),
                   scores, y, args.batch)

    rows = [gpueval_rows("gpueval float32 scores", s32, "float32"),
            gpueval_rows("gpueval float16 scores", s16, "float16")]

    def tm_compute(m):
        v = float(m.compute())
        return {"auroc": v, "auroc_error": abs(v - ref["float32"][0])}

    def tm_state(m):
        return sum(x.numel() * x.element_size() for k in m._defaults
                   for x in (getattr(m, k) if isinstance(getattr(m, k), list)
                             else [getattr(m, k)]))

    rows.append(run("TorchMetrics BinaryAUROC thresholds=1000",
                    lambda: BinaryAUROC(thresholds=1000, validate_args=False),
                    lambda m, p, t: m.update(p, t), tm_compute, tm_state, torch_s32, torch_y,
                    args.batch))
    rows.append(run("TorchMetrics BinaryAUROC exact", lambda: BinaryAUROC(validate_args=False),
                    lambda m, p, t: m.update(p, t), tm_compute, tm_state, torch_s32, torch_y,
                    args.batch))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"scores": total, "batch": args.batch, "threads": args.threads,
                       "reference": ref, "torch": torch.__version__,
                       "gpueval": gpueval.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
