#!/usr/bin/env python3
"""The Python package on the GPU, for scripts/gpu-check: gpueval on CUDA tensors from this
machine's torch (float32, bfloat16, strided, requiring grad, masked), CuPy and JAX arrays,
classification, an update captured in a CUDA graph and replayed, each against the same batches
on the CPU (regression within 1e-9 relative, classification and histograms bit for bit); and
TorchMetrics 1.9 on the same batches (time per update). Prints one line per check and a JSON
summary; exits 1 when a check fails. `--device cpu` runs the same comparisons CPU against CPU
(what a machine without a GPU can check of this script).

    python3 tests/gpu/python_cuda_check.py [--device cuda] [--json FILE]
"""

import argparse
import json
import math
import sys
import time

import numpy as np

import gpueval

RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append({"check": name, "ok": bool(ok), "detail": detail})
    print(f"{'ok  ' if ok else 'FAIL'} {name:44s} {detail}", flush=True)


def close(a, b, rel=1e-9):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def same_report(gpu, cpu, rel=1e-9):
    bad = [n for n in cpu.metric_names if not close(gpu[n], cpu[n], rel)]
    return not bad, ("max rel diff " + (", ".join(bad[:3]) if bad else "within %.0e" % rel))


def cpu_reference(make, batches):
    ev = make("cpu")
    for args in batches:
        ev.update(*[a if isinstance(a, np.ndarray) or a is None else a.cpu().float().numpy()
                    if str(getattr(a, "dtype", "")) == "torch.bfloat16" else
                    (a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a))
                    for a in args])
    return ev.compute()


def torch_checks(device):
    import torch
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    shape = (16, 500, 20)
    batches = []
    for _ in range(8):
        t = torch.randn(shape, generator=g)
        p = t + 0.1 * torch.randn(shape, generator=g)
        batches.append((p, t))
    make = lambda d: gpueval.Regression(metrics="all", device=d)  # noqa: E731
    ev = make(device)
    for p, t in batches:
        ev.update(p.to(dev), t.to(dev))
    ok, detail = same_report(ev.compute(), cpu_reference(make, batches))
    check("torch float32 [16,500,20] x 8, all metrics", ok, f"{detail} on {ev.device}")

    # bfloat16, strided (a transposed view), requiring grad, masked.
    ev = make(device)
    ref = make("cpu")
    for p, t in batches[:3]:
        pb = p.to(dev, torch.bfloat16).requires_grad_(True)
        tt = t.to(dev).transpose(0, 1).contiguous().transpose(0, 1)  # strided, same values
        m = (torch.rand(shape[:2], generator=g) < 0.8).to(dev)
        ev.update(pb, tt, m)
        ref.update(pb.detach().float().cpu().numpy(), t.numpy(), m.cpu().numpy())
    ok, detail = same_report(ev.compute(), ref.compute())
    check("torch bf16 + requires_grad + strided + mask", ok, detail)

    # Classification: the records are integers, so GPU and CPU agree bit for bit.
    y = torch.randint(0, 10, (4096,), generator=g)
    logits = torch.randn(4096, 10, generator=g)
    c_gpu = gpueval.Classification("multiclass", num_classes=10, scores="logits",
                                   metrics="all", device=device)
    c_gpu.update(logits.to(dev), y.to(dev))
    c_cpu = gpueval.Classification("multiclass", num_classes=10, scores="logits",
                                   metrics="all", device="cpu")
    c_cpu.update(logits.numpy(), y.numpy())
    a, b = c_gpu.compute().to_dict(), c_cpu.compute().to_dict()
    check("classification C=10 logits, bitwise", a["metrics"] == b["metrics"],
          "states equal" if c_gpu.state() == c_cpu.state() else "states differ")
    s = torch.sigmoid(torch.randn(100000, generator=g)).half()
    yb = (torch.rand(100000, generator=g) < 0.3).long()
    b_gpu = gpueval.Classification("binary", device=device).update(s.to(dev), yb.to(dev))
    b_cpu = gpueval.Classification("binary", device="cpu").update(s.float().numpy().astype(
        np.float16), yb.numpy())
    check("binary float16 auroc histograms, bitwise", b_gpu.state() == b_cpu.state(),
          f"auroc {b_gpu.compute()['auroc']:.12f}")

    # A captured update, replayed: the same as that many updates.
    if dev.type == "cuda":
        p0, t0 = batches[0][0].to(dev), batches[0][1].to(dev)
        graphed = gpueval.Regression(device=device, sample_shape=shape[1:])
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            graphed.update(p0, t0)  # warm-up outside the capture
        torch.cuda.current_stream().wait_stream(side)
        graphed.reset()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            graphed.update(p0, t0)
        for _ in range(5):
            graph.replay()
        plain = gpueval.Regression(device=device)
        for _ in range(5):
            plain.update(p0, t0)
        ok, detail = same_report(graphed.compute(), plain.compute(), rel=0)
        check("torch.cuda.graphs: captured update x5 replays", ok, detail)
        # Time of an update on the GPU, from the graph (no Python in the loop).
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(200):
            graph.replay()
        end.record()
        torch.cuda.synchronize()
        check("graph replay time per [16,500,20] update", True,
              f"{start.elapsed_time(end) / 200 * 1e3:.1f} us")
    return batches


def cupy_jax_checks(device, batches):
    if not device.startswith("cuda"):
        return
    make = lambda d: gpueval.Regression(device=d)  # noqa: E731
    ref = cpu_reference(make, batches[:2])
    try:
        import cupy
        ev = make(device)
        for p, t in batches[:2]:
            ev.update(cupy.asarray(p.numpy()), cupy.asarray(t.numpy()))
        ok, detail = same_report(ev.compute(), ref)
        check("CuPy arrays", ok, detail)
    except ImportError:
        check("CuPy arrays", True, "not installed: skipped")
    try:
        import jax
        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if gpus:
            ev = make(device)
            for p, t in batches[:2]:
                ev.update(jax.device_put(p.numpy(), gpus[0]), jax.device_put(t.numpy(), gpus[0]))
            ok, detail = same_report(ev.compute(), ref)
            check("JAX arrays", ok, detail)
        else:
            check("JAX arrays", True, "no JAX GPU device: skipped")
    except ImportError:
        check("JAX arrays", True, "not installed: skipped")


def torchmetrics_timing(device, batches):
    try:
        import torch
        import torchmetrics
    except ImportError:
        check("TorchMetrics timing", True, "not installed: skipped")
        return
    dev = torch.device(device)
    data = [(p.to(dev), t.to(dev)) for p, t in batches]
    tm = torchmetrics.MetricCollection({
        "mse": torchmetrics.MeanSquaredError(), "mae": torchmetrics.MeanAbsoluteError(),
        "r2": torchmetrics.R2Score(multioutput="uniform_average"),
        "pearson": torchmetrics.PearsonCorrCoef(num_outputs=20),
        "ev": torchmetrics.ExplainedVariance(multioutput="uniform_average"),
        "cos": torchmetrics.CosineSimilarity(reduction="mean")}).to(dev)
    ev = gpueval.Regression(device=device)

    def per_update(update):
        for p, t in data[:2]:
            update(p, t)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(10):
            for p, t in data:
                update(p, t)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / (10 * len(data)) * 1e3

    tm_ms = per_update(lambda p, t: tm.update(p.reshape(-1, 20), t.reshape(-1, 20)))
    ge_ms = per_update(lambda p, t: ev.update(p, t))
    check("TorchMetrics 6 metrics vs gpueval 12, per update", True,
          f"{tm_ms:.3f} ms vs {ge_ms:.3f} ms ({tm_ms / ge_ms:.1f}x) on {device}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json")
    args = ap.parse_args()
    check("gpueval package", True, f"{gpueval.__version__}, cuda built: {gpueval.cuda_built()}")
    batches = torch_checks(args.device)
    cupy_jax_checks(args.device, batches)
    torchmetrics_timing(args.device, batches)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(RESULTS, f, indent=1)
    return 0 if all(r["ok"] for r in RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
