#!/usr/bin/env python3
"""gpueval against the streaming metric libraries Python trainers use, in one run on the CPU:
TorchMetrics' regression metrics (MSE, MAE, R2, Pearson, explained variance, cosine) and
torcheval's (MSE, R2).

1. Time per update of a [16, 500, 20] float32 batch, each library's metrics updated from the
   same Python loop on the same torch tensors, torch and gpueval on the same thread count.
2. Accuracy: each library fed batch by batch (float32 [16, 50, 20] batches, as a trainer
   feeds them) on data that breaks naive float32 accumulation: targets far from zero, tiny
   scales, near-constant targets; relative error against a long-double two-pass reference of
   the same float32 values.

TorchMetrics needs torch >= 2 from PyPI (several GB): run this from a separate virtual
environment, never in CI:

    python3 -m venv /tmp/tm && /tmp/tm/bin/pip install torch torchmetrics==1.9.* torcheval
    PYTHONPATH=build/python /tmp/tm/bin/python bench/python/streaming_libraries.py [--json OUT]
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
import torcheval.metrics as te
import torchmetrics as tm

import gpueval

C = 20


def tm_suite():
    return {
        "mse": tm.MeanSquaredError(),
        "mae": tm.MeanAbsoluteError(),
        "r2": tm.R2Score(multioutput="uniform_average"),
        "pearson": tm.PearsonCorrCoef(num_outputs=C),
        "explained_variance": tm.ExplainedVariance(multioutput="uniform_average"),
        "cosine": tm.CosineSimilarity(reduction="mean"),
    }


def tm_update(suite, p, t):
    p2, t2 = p.reshape(-1, C), t.reshape(-1, C)
    suite["mse"].update(p, t)
    suite["mae"].update(p, t)
    suite["r2"].update(p2, t2)
    suite["pearson"].update(p2, t2)
    suite["explained_variance"].update(p2, t2)
    suite["cosine"].update(p2, t2)


def tm_compute(suite):
    out = {k: m.compute() for k, m in suite.items()}
    out["pearson"] = out["pearson"].double().mean()
    return {k: float(v) for k, v in out.items()}


def te_suite():
    return {"mse": te.MeanSquaredError(), "r2": te.R2Score(multioutput="uniform_average")}


def te_update(suite, p, t):
    p2, t2 = p.reshape(-1, C), t.reshape(-1, C)
    suite["mse"].update(p2, t2)
    suite["r2"].update(p2, t2)


def te_compute(suite):
    return {k: float(m.compute()) for k, m in suite.items()}


def timing(threads, batches, repeat):
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(8):
        t = torch.randn(16, 500, C, generator=g)
        data.append((t + 0.1 * torch.randn(t.shape, generator=g), t))

    def loop(update, state):
        times = []
        for _ in range(repeat):
            s = state()
            t0 = time.perf_counter()
            for i in range(batches):
                update(s, *data[i % 8])
            times.append((time.perf_counter() - t0) / batches * 1e3)
        return statistics.median(times), min(times), max(times)

    rows = {
        "TorchMetrics, 6 metrics (mse, mae, r2, pearson, explained variance, cosine)":
            loop(tm_update, tm_suite),
        "torcheval 0.0.7, 2 metrics (mse, r2)": loop(te_update, te_suite),
        "gpueval, 12 metrics (the default set)":
            loop(lambda ev, p, t: ev.update(p, t),
                 lambda: gpueval.Regression(device="cpu", threads=threads)),
        "gpueval, the same 6 metrics":
            loop(lambda ev, p, t: ev.update(p, t),
                 lambda: gpueval.Regression("mse,mae,r2,pearson,explained_variance,cosine",
                                            device="cpu", threads=threads)),
    }
    return rows


def reference(p, t):
    """Per-channel long double two-pass metrics of float32 data, uniform average; cosine both
    as TorchMetrics defines it (mean over rows of each row's cosine) and as gpueval does (the
    cosine of each channel's column)."""
    p = p.reshape(-1, C).astype(np.longdouble)
    t = t.reshape(-1, C).astype(np.longdouble)
    e = p - t
    mp, mt, me = p.mean(0), t.mean(0), e.mean(0)
    sst = ((t - mt) ** 2).sum(0)
    see = ((e - me) ** 2).sum(0)
    sse = (e * e).sum(0)
    cov = ((p - mp) * (t - mt)).sum(0)
    spp = ((p - mp) ** 2).sum(0)
    row_cos = (p * t).sum(1) / np.sqrt((p * p).sum(1) * (t * t).sum(1))
    col_cos = (p * t).sum(0) / np.sqrt((p * p).sum(0) * (t * t).sum(0))
    return {
        "mse": float(sse.sum() / e.size), "mae": float(np.abs(e).mean()),
        "r2": float((1 - sse / sst).mean()),
        "explained_variance": float((1 - see / sst).mean()),
        "pearson": float((cov / np.sqrt(spp * sst)).mean()),
        "cosine_rows": float(row_cos.mean()), "cosine_columns": float(col_cos.mean()),
    }


CASES = {
    # name: (target offset, target scale, prediction noise relative to the scale)
    "ordinary (0 +- 1)": (0.0, 1.0, 0.1),
    "offset 1e4 +- 1": (1e4, 1.0, 0.1),
    "offset 1e6 +- 1": (1e6, 1.0, 0.1),
    "TorchMetrics #3077 (-311030 +- 10)": (-311030.0, 10.0, 0.1),
    "tiny scale (1e-4)": (0.0, 1e-4, 0.1),
    "near-constant (1234.5 +- 1e-3)": (1234.5, 1e-3, 0.1),
}


def accuracy(threads, batches):
    out = {}
    for case, (offset, scale, noise) in CASES.items():
        g = torch.Generator().manual_seed(1)
        tms, tes = tm_suite(), te_suite()
        ev = gpueval.Regression("mse,mae,r2,pearson,explained_variance,cosine", device="cpu",
                                threads=threads)
        ps, ts = [], []
        for _ in range(batches):
            t = (offset + scale * torch.randn(16, 50, C, generator=g, dtype=torch.float64))
            p = t + noise * scale * torch.randn(t.shape, generator=g, dtype=torch.float64)
            t, p = t.float(), p.float()
            ps.append(p.numpy())
            ts.append(t.numpy())
            tm_update(tms, p, t)
            te_update(tes, p, t)
            ev.update(p, t)
        ref = reference(np.concatenate(ps), np.concatenate(ts))
        got = {"TorchMetrics": tm_compute(tms), "torcheval": te_compute(tes),
               "gpueval": dict(ev.compute())}
        errors = {}
        for lib, values in got.items():
            errors[lib] = {}
            for m, v in values.items():
                want = ref["cosine_rows" if (m == "cosine" and lib == "TorchMetrics") else
                           "cosine_columns" if m == "cosine" else m]
                errors[lib][m] = abs(v - want) / abs(want) if want != 0 else abs(v)
        out[case] = {"reference": ref, "values": got, "relative_error": errors}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=200, help="timed updates per round")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, torchmetrics {tm.__version__}, gpueval "
          f"{gpueval.__version__}; {args.threads} threads each")
    times = timing(args.threads, args.batches, args.repeat)
    print("\n| per [16, 500, 20] float32 update (CPU) | ms, median | min | max |")
    print("|---|---|---|---|")
    for name, (med, lo, hi) in times.items():
        print(f"| {name} | {med:.3f} | {lo:.3f} | {hi:.3f} |")
    acc = accuracy(args.threads, 100)
    metrics = ("mse", "mae", "r2", "pearson", "explained_variance", "cosine")
    print("\nRelative error against a long-double two-pass reference, 100 float32 batches of "
          "[16, 50, 20]:\n")
    print("| case | library | " + " | ".join(metrics) + " |")
    print("|---|---|" + "---|" * len(metrics))
    for case, r in acc.items():
        for lib, errs in r["relative_error"].items():
            cells = [f"{errs[m]:.1e}" if m in errs else "-" for m in metrics]
            print(f"| {case} | {lib} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"timing_ms": times, "accuracy": acc}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
