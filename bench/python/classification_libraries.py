#!/usr/bin/env python3
"""gpueval's classification family against TorchMetrics' Accuracy, F1, MCC and calibration
error on the same batches, per update, in one run on the CPU; and the values side by side.

TorchMetrics keeps one object per metric, and its calibration error keeps every sample (its
state grows with the data); gpueval computes its whole default set (accuracy, balanced accuracy,
precision/recall/F1/specificity/Jaccard with micro, macro and weighted averages, MCC, kappa,
log loss, Brier, ECE, MCE) in one pass into integer counts.

TorchMetrics needs torch >= 2 from PyPI: run this from a separate virtual environment, never in
CI (see bench/python/streaming_libraries.py):

    PYTHONPATH=build/python /tmp/tm/bin/python bench/python/classification_libraries.py
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torchmetrics.classification as tmc

import gpueval


def batches(task, classes, n, count, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        if task == "binary":
            z = 2 * torch.randn(n, generator=g)
            y = (torch.rand(n, generator=g) < torch.sigmoid(z)).long()
            p = torch.sigmoid(z + 0.5 * torch.randn(n, generator=g))
        else:
            y = torch.randint(0, classes, (n,), generator=g)
            z = torch.randn(n, classes, generator=g)
            z[torch.arange(n), y] += 2.0
            p = torch.softmax(z, dim=1)
        out.append((p.float(), y))
    return out


def torchmetrics_suite(task, classes):
    if task == "binary":
        return {"accuracy": tmc.BinaryAccuracy(), "f1": tmc.BinaryF1Score(),
                "mcc": tmc.BinaryMatthewsCorrCoef(),
                "ece": tmc.BinaryCalibrationError(n_bins=15, norm="l1")}
    return {"accuracy": tmc.MulticlassAccuracy(classes, average="micro"),
            "f1_macro": tmc.MulticlassF1Score(classes, average="macro"),
            "mcc": tmc.MulticlassMatthewsCorrCoef(classes),
            "ece": tmc.MulticlassCalibrationError(classes, n_bins=15, norm="l1")}


def timed(update, state, data, repeat):
    times = []
    for _ in range(repeat):
        s = state()
        t0 = time.perf_counter()
        for p, y in data:
            update(s, p, y)
        times.append((time.perf_counter() - t0) / len(data) * 1e3)
    return statistics.median(times), s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=8192, help="samples per batch")
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows, values = [], {}
    for task, classes in (("binary", 2), ("multiclass", 10), ("multiclass", 1000)):
        n = args.samples if classes < 1000 else args.samples // 8
        data = batches(task, classes, n, args.batches)
        name = f"{task} C={classes}" if task == "multiclass" else task
        tm_ms, tm = timed(lambda s, p, y: [m.update(p, y) for m in s.values()],
                          lambda: torchmetrics_suite(task, classes), data, args.repeat)
        ge_ms, ge = timed(lambda s, p, y: s.update(p, y),
                          lambda: gpueval.Classification(task, num_classes=classes, device="cpu",
                                                         threads=args.threads),
                          data, args.repeat)
        rows.append({"case": name, "samples_per_batch": n, "torchmetrics_ms": tm_ms,
                     "gpueval_ms": ge_ms, "speedup": tm_ms / ge_ms})
        tmv = {k: float(m.compute()) for k, m in tm.items()}
        r = ge.compute()
        gev = {k: r[k if k != "f1" or task == "binary" else "f1_macro"] for k in tmv}
        values[name] = {"torchmetrics": tmv, "gpueval": gev, "gpueval_metrics": len(r)}
    print(f"torch {torch.__version__}; {args.threads} threads; float32 probabilities, int64 "
          f"targets; median of {args.repeat} epochs of {args.batches} batches\n")
    print("| batch | TorchMetrics: accuracy, F1, MCC, ECE (ms/update) | gpueval: its whole default "
          "set (ms/update) | speed-up |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']}, {r['samples_per_batch']} samples | {r['torchmetrics_ms']:.3f} | "
              f"{r['gpueval_ms']:.3f} | {r['speedup']:.1f}x |")
    print("\n| batch | metric | TorchMetrics | gpueval |")
    print("|---|---|---|---|")
    for name, v in values.items():
        for k in v["torchmetrics"]:
            print(f"| {name} | {k} | {v['torchmetrics'][k]:.10g} | {v['gpueval'][k]:.10g} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"timing": rows, "values": values}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
