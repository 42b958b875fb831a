#!/usr/bin/env python3
"""Epoch metrics at the seed trainer's full scale, three ways, in one run.

An epoch is 11,014 batches of [16, 500, 20] float32 predictions and targets (7 GB per tensor),
time-ordered: the target level and the model's error drift over the epoch, as they do on real
time-ordered data. The same deterministic stream of batches is scored by:

  concat     keep every batch on the host, np.concatenate, scikit-learn at the end of the epoch
             (the seed trainer), under a memory limit (RLIMIT_AS) so that it fails cleanly
  first1000  the seed's workaround: the same, for the first 1,000 batches only
  gpueval    gpueval.Regression.update() per batch, compute() at the end
  reference  two passes over the stream, per-channel sums in long double: the exact epoch
             metrics, against which the others are measured

Each runs in its own process; peak RSS is that process's (wait4), time is wall time including
making the batches (the same work in every row), and "eval" the time spent in the metric code.

    python3 bench/python/seed_scale.py [--batches 11014] [--limit-gib 12] [--threads 2]
                                       [--json OUT] [--markdown OUT]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

SHAPE = (16, 500, 20)
SEED = 2026
METRICS = ("mse", "rmse", "mae", "r2", "explained_variance")


def batch(i, n):
    """Batch i of n: targets whose level and spread drift over the epoch, predictions whose
    error grows and gains a bias (the model falls behind the drifting data)."""
    rng = np.random.default_rng((SEED, i))
    frac = i / n
    spread = np.linspace(1.0, 2.0, SHAPE[-1], dtype=np.float32) * (1 + frac)
    t = 5.0 * frac + spread * rng.standard_normal(SHAPE, dtype=np.float32)
    p = t + (0.1 + 0.4 * frac) * rng.standard_normal(SHAPE, dtype=np.float32) + 0.2 * frac
    return p.astype(np.float32), t.astype(np.float32)


def sklearn_metrics(p, t):
    from sklearn import metrics as skm
    p2, t2 = p.reshape(-1, SHAPE[-1]), t.reshape(-1, SHAPE[-1])
    return {
        "mse": float(skm.mean_squared_error(t2, p2)),
        "rmse": float(skm.mean_squared_error(t2, p2, squared=False)),
        "mae": float(skm.mean_absolute_error(t2, p2)),
        "r2": float(skm.r2_score(t2, p2)),
        "explained_variance": float(skm.explained_variance_score(t2, p2)),
    }


def run_concat(count, n):
    """Keeps the first `count` batches of the n-batch epoch, then concatenates and scores."""
    preds, targets = [], []
    eval_s = 0.0
    held = 0
    for i in range(count):
        try:
            p, t = batch(i, n)
            t0 = time.perf_counter()
            preds.append(p.copy())  # the trainer's pred.cpu().numpy(): its own buffer
            targets.append(t.copy())
        except MemoryError:
            return {"status": f"MemoryError at batch {i} of {n}, holding {held / 2**30:.1f} GiB"}
        held += p.nbytes + t.nbytes
        eval_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        P = np.concatenate(preds)
        T = np.concatenate(targets)
        values = sklearn_metrics(P, T)
    except MemoryError:
        return {"status": f"MemoryError in the end-of-epoch concatenate / scikit-learn, holding "
                          f"{held / 2**30:.1f} GiB of batches"}
    return {"status": "ok", "values": values, "eval_s": eval_s + time.perf_counter() - t0}


def run_gpueval(n, threads):
    import gpueval
    ev = gpueval.Regression(metrics=",".join(METRICS), device="cpu", threads=threads)
    eval_s = 0.0
    for i in range(n):
        p, t = batch(i, n)
        t0 = time.perf_counter()
        ev.update(p, t)
        eval_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    r = ev.compute()
    eval_s += time.perf_counter() - t0
    return {"status": "ok", "values": {m: r[m] for m in METRICS}, "eval_s": eval_s,
            "device": r.device}


def run_reference(n):
    """Per-channel sums in long double over float64 batch sums (pairwise), two passes."""
    ld = np.longdouble
    c = SHAPE[-1]
    s_p = np.zeros(c, ld)
    s_t = np.zeros(c, ld)
    s_e = np.zeros(c, ld)
    count = 0
    for i in range(n):
        p, t = (a.astype(np.float64).reshape(-1, c) for a in batch(i, n))
        s_p += p.sum(axis=0)
        s_t += t.sum(axis=0)
        s_e += (p - t).sum(axis=0)
        count += p.shape[0]
    m_p, m_t, m_e = (s / count for s in (s_p, s_t, s_e))
    sums = {k: np.zeros(c, ld) for k in ("tt", "ee", "sse", "abs")}
    for i in range(n):
        p, t = (a.astype(np.float64).reshape(-1, c) for a in batch(i, n))
        e = p - t
        dt = t - m_t.astype(np.float64)
        de = e - m_e.astype(np.float64)
        sums["tt"] += (dt * dt).sum(axis=0)
        sums["ee"] += (de * de).sum(axis=0)
        sums["sse"] += (e * e).sum(axis=0)
        sums["abs"] += np.abs(e).sum(axis=0)
    # The means above are long double; the float64 centring leaves a residual mean r that adds
    # count * r^2 to a sum of squares: remove it (it is below 1e-25 relative here).
    mse = sums["sse"] / count
    values = {
        "mse": float(mse.mean()),
        "rmse": float(np.sqrt(mse).mean()),
        "mae": float((sums["abs"] / count).mean()),
        "r2": float((1 - sums["sse"] / sums["tt"]).mean()),
        "explained_variance": float((1 - sums["ee"] / sums["tt"]).mean()),
    }
    return {"status": "ok", "values": values}


def child(args):
    if args.limit_gib:
        limit = int(args.limit_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    n = args.batches
    start = time.perf_counter()
    if args.run == "concat":
        out = run_concat(n, n)
    elif args.run == "first1000":
        out = run_concat(min(n, 1000), n)
    elif args.run == "gpueval":
        out = run_gpueval(n, args.threads)
    else:
        out = run_reference(n)
    out["wall_s"] = time.perf_counter() - start
    json.dump(out, sys.stdout)


def measure(name, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--run", name, "--batches",
           str(args.batches), "--threads", str(args.threads)]
    if name in ("concat", "first1000"):
        cmd += ["--limit-gib", str(args.limit_gib)]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    try:
        result = json.loads(text)
    except json.JSONDecodeError:
        result = {"status": f"died (exit status {proc.returncode})"}
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=11014)
    ap.add_argument("--limit-gib", type=float, default=12.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    ap.add_argument("--run", choices=["concat", "first1000", "gpueval", "reference"],
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        return child(args)

    results = {}
    for name in ("reference", "gpueval", "first1000", "concat"):
        print(f"seed_scale: {name} ...", file=sys.stderr, flush=True)
        results[name] = measure(name, args)
    ref = results["reference"]["values"]
    gib = args.batches * np.prod(SHAPE) * 4 / 2**30
    lines = [
        f"{args.batches} batches of {list(SHAPE)} float32 ({gib:.2f} GiB per tensor), "
        f"time-ordered with drift; concat and first1000 under a {args.limit_gib:g} GiB "
        "address-space limit.",
        "",
        "| way | result | wall s | eval s | peak RSS | " +
        " | ".join(METRICS) + " | max rel. error vs exact |",
        "|---|---|---|---|---|" + "---|" * len(METRICS) + "---|",
    ]
    for name, label in (("concat", "keep all + concatenate + scikit-learn"),
                        ("first1000", "first 1,000 batches + scikit-learn"),
                        ("gpueval", "gpueval (CPU, streaming)"),
                        ("reference", "exact (two passes, long double)")):
        r = results[name]
        vals = r.get("values")
        cells = [f"{vals[m]:.6g}" if vals else "-" for m in METRICS]
        err = "-"
        if vals:
            err = f"{max(abs(vals[m] - ref[m]) / abs(ref[m]) for m in METRICS):.2g}"
        eval_s = f"{r['eval_s']:.2f}" if "eval_s" in r else "-"
        lines.append(f"| {label} | {r['status']} | {r.get('wall_s', float('nan')):.1f} | "
                     f"{eval_s} | {r['peak_rss_mib']:.0f} MiB | " + " | ".join(cells) +
                     f" | {err} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batches": args.batches, "limit_gib": args.limit_gib,
                       "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
