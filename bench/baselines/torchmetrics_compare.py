#!/usr/bin/env python3
"""TorchMetrics against gpueval on a GPU, from the same Python loop, and TorchMetrics' accuracy
against an exact reference on adversarial data. Run by scripts/gpu-check on the GPU machines
(PyTorch and TorchMetrics are installed there):

    python3 bench/baselines/torchmetrics_compare.py [--lib libgpueval_torch.so] [--json OUT]

1. Accuracy: MSE, R2 and Pearson from TorchMetrics (float32 states, its defaults) and from
   gpueval, each against a float64/longdouble two-pass reference, on offset targets (1e4, 1e6
   +- 1), small scales (1e-4) and long runs of float32 batches. Reported as relative errors.
2. Time: the same per-channel metric set (MSE, MAE, R2, Pearson, explained variance) over
   [16, 500, 20] float32 batches on the GPU, one Python loop for each, CUDA-synchronised at the
   end of the epoch only. gpueval is called through its TorchScript class, so both pay the same
   Python overhead per update.
"""
import argparse
import json
import sys
import time

import numpy as np
import torch


def exact(pred, target):
    """Per-channel mse, r2, pearson in long double, two passes."""
    p = pred.reshape(-1, pred.shape[-1]).astype(np.longdouble)
    t = target.reshape(-1, target.shape[-1]).astype(np.longdouble)
    e = p - t
    mse = (e * e).mean(axis=0)
    tm = t.mean(axis=0)
    pm = p.mean(axis=0)
    sst = ((t - tm) ** 2).sum(axis=0)
    r2 = 1 - (e * e).sum(axis=0) / sst
    cov = ((p - pm) * (t - tm)).sum(axis=0)
    pearson = cov / np.sqrt(((p - pm) ** 2).sum(axis=0) * sst)
    return {"mse": float(mse.mean()), "r2": float(r2.mean()), "pearson": float(pearson.mean())}


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def torchmetrics_suite(channels, device):
    import torchmetrics
    return {
        "mse": torchmetrics.MeanSquaredError().to(device),
        "mae": torchmetrics.MeanAbsoluteError().to(device),
        "r2": torchmetrics.R2Score(num_outputs=channels, multioutput="uniform_average").to(device),
        "pearson": torchmetrics.PearsonCorrCoef(num_outputs=channels).to(device),
        "explained_variance": torchmetrics.ExplainedVariance(multioutput="uniform_average").to(device),
    }


def accuracy(device, lib_loaded):
    cases = {
        "offset_1e4": (1e4, 1.0, 200),
        "offset_1e6": (1e6, 1.0, 200),
        "scale_1e-4": (0.0, 1e-4, 200),
        "long_run_float32": (10.0, 1.0, 2000),
    }
    out = {}
    g = torch.Generator(device="cpu").manual_seed(0)
    for name, (offset, scale, batches) in cases.items():
        preds, targets = [], []
        tm = torchmetrics_suite(20, device)
        ev = (torch.classes.gpueval.Evaluator("default", "-1", None, "skip",
                                              str(device), 0) if lib_loaded else None)
        for _ in range(batches):
            t = (offset + scale * torch.randn(16, 50, 20, generator=g)).float()
            p = (t + 0.1 * scale * torch.randn(16, 50, 20, generator=g)).float()
            preds.append(p.numpy())
            targets.append(t.numpy())
            pd, td = p.to(device), t.to(device)
            tm["mse"].update(pd, td)
            tm["r2"].update(pd.reshape(-1, 20), td.reshape(-1, 20))
            tm["pearson"].update(pd.reshape(-1, 20), td.reshape(-1, 20))
            if ev is not None:
                ev.update(pd, td, None)
        ref = exact(np.concatenate(preds), np.concatenate(targets))
        res = {"reference": ref,
               "torchmetrics": {"mse": float(tm["mse"].compute()), "r2": float(tm["r2"].compute()),
                                "pearson": float(tm["pearson"].compute().mean())}}
        if ev is not None:
            d = ev.compute()
            res["gpueval"] = {"mse": float(d["mse"]), "r2": float(d["r2"]),
                              "pearson": float(d["pearson"])}
        res["relative_error"] = {
            tool: {m: rel(res[tool][m], ref[m]) for m in ref}
            for tool in ("torchmetrics", "gpueval") if tool in res}
        out[name] = res
    return out


def timing(device, lib_loaded, batches=500):
    x = [(torch.randn(16, 500, 20, device=device), torch.randn(16, 500, 20, device=device))
         for _ in range(8)]
    out = {}
    tm = torchmetrics_suite(20, device)
    for _ in range(2):  # warm-up epochs
        for m in tm.values():
            m.reset()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(batches):
            p, t = x[i % 8]
            p2, t2 = p.reshape(-1, 20), t.reshape(-1, 20)
            tm["mse"].update(p, t)
            tm["mae"].update(p, t)
            tm["r2"].update(p2, t2)
            tm["pearson"].update(p2, t2)
            tm["explained_variance"].update(p2, t2)
        _ = {k: m.compute() for k, m in tm.items()}
        torch.cuda.synchronize()
        out["torchmetrics_s"] = time.perf_counter() - t0
    if lib_loaded:
        for _ in range(2):
            ev = torch.classes.gpueval.Evaluator("mse,mae,r2,pearson,explained_variance", "-1",
                                                 None, "skip", str(device), 0)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(batches):
                p, t = x[i % 8]
                ev.update(p, t, None)
            _ = ev.compute()
            torch.cuda.synchronize()
            out["gpueval_s"] = time.perf_counter() - t0
        out["speedup"] = out["torchmetrics_s"] / out["gpueval_s"]
    out["batches"] = batches
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("torchmetrics_compare: no CUDA device", file=sys.stderr)
        return 1
    device = torch.device("cuda:0")
    lib_loaded = False
    if args.lib:
        torch.classes.load_library(args.lib)
        lib_loaded = True
    result = {"accuracy": accuracy(device, lib_loaded), "timing": timing(device, lib_loaded)}
    text = json.dumps(result, indent=1)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    for case, r in result["accuracy"].items():
        print(f"{case:18s} relative error: " + "; ".join(
            f"{tool} " + ", ".join(f"{m} {v:.1e}" for m, v in errs.items())
            for tool, errs in r["relative_error"].items()))
    print("timing:", json.dumps(result["timing"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
