#!/usr/bin/env python3
"""The accuracy table of the histogram metrics, against scikit-learn and numpy on the same data:
auroc and average_precision (exact cases, float32/float64 data with the bound they report,
adversarial crowding) and the error quantiles (relative error against the stated accuracy).

    PYTHONPATH=build/python build/pyenv/bin/python bench/python/histogram_accuracy.py \\
        --markdown bench/results/histogram-accuracy.md
"""

import argparse

import numpy as np
from sklearn import metrics as skm

import gpueval


def evaluate(task, pred, target, batches=10, **kw):
    ev = gpueval.Classification(task, device="cpu", threads=2, **kw)
    for p, t in zip(np.array_split(pred, batches), np.array_split(target, batches)):
        ev.update(p, t)
    return ev.compute()


def rank_rows(rng):
    rows = []

    def binary(name, s, t, ref=None, **kw):
        r = evaluate("binary", s, t, metrics="auroc,average_precision", **kw)
        ref = s.astype(np.float64) if ref is None else ref
        auc, ap = skm.roc_auc_score(t, ref), skm.average_precision_score(t, ref)
        rows.append((name, len(t), r.histogram["key"], r.histogram["bits"],
                     abs(r["auroc"] - auc), r["auroc_bound"],
                     abs(r["average_precision"] - ap), r["average_precision_bound"]))

    n = 1_000_000
    t = (rng.random(n) < 0.3).astype(np.int64)
    z = rng.standard_normal(n) + t
    s = 1 / (1 + np.exp(-z))
    binary("float16 scores", s.astype(np.float16), t)
    binary("float16, 2-decimal grid (ties)", np.round(s, 2).astype(np.float16), t)
    binary("float16, every score equal", np.full(n, 0.5, np.float16), t)
    binary("float32 scores", s.astype(np.float32), t)
    binary("float64 scores", s, t)
    binary("float32 logits (scores='logits')", z.astype(np.float32), t, scores="logits")
    crowd = 0.5 + 1e-9 * rng.random(n)  # every score in one float32 bin
    binary("float64, crowded into 1e-9 (adversarial)", crowd + 1e-10 * t, t)
    c = 10
    y = rng.integers(0, c, n // 10)
    logits = rng.standard_normal((n // 10, c))
    logits[np.arange(n // 10), y] += 1.0
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    r = evaluate("multiclass", prob.astype(np.float16), y, num_classes=c, metrics="auroc,"
                 "average_precision")
    p16 = prob.astype(np.float16).astype(np.float64)
    onehot = np.eye(c)[y]
    want = np.mean([skm.roc_auc_score(onehot[:, k], p16[:, k]) for k in range(c)])
    ap = skm.average_precision_score(onehot, p16, average="macro")
    rows.append(("multiclass C=10 float16, macro", len(y), "float16", 16,
                 abs(r["auroc_macro"] - want), r["auroc_macro_bound"],
                 abs(r["average_precision_macro"] - ap), r["average_precision_macro_bound"]))
    r = evaluate("multiclass", logits.astype(np.float32), y, num_classes=c, scores="logits",
                 metrics="auroc,average_precision")
    want = skm.roc_auc_score(y, prob, multi_class="ovr", average="macro")
    ap = skm.average_precision_score(onehot, prob, average="macro")
    rows.append(("multiclass C=10 float32 logits, macro", len(y), r.histogram["key"],
                 r.histogram["bits"], abs(r["auroc_macro"] - want), r["auroc_macro_bound"],
                 abs(r["average_precision_macro"] - ap), r["average_precision_macro_bound"]))
    return rows


def quantile_rows(rng):
    rows = []
    cases = {
        "normal errors": lambda: rng.normal(0, 1, (400_000, 4)),
        "log-normal errors (12 decades)": lambda: rng.lognormal(0, 4, (400_000, 4)),
        "near-constant target, tiny errors": lambda: 1e-9 * rng.normal(0, 1, (400_000, 4)),
        "half exact zeros": lambda: np.where(rng.random((400_000, 4)) < 0.5, 0.0,
                                             rng.normal(0, 1, (400_000, 4))),
    }
    for name, make in cases.items():
        e = make()
        t = 1e3 + rng.normal(0, 1, e.shape)
        p = t + e
        for alpha in (0.02, 0.005, 0.001):
            ev = gpueval.Regression(metrics="median_absolute_error,abs_error_q90,abs_error_q99",
                                    quantile_alpha=alpha, device="cpu", threads=2)
            for a, b in zip(np.array_split(p, 8), np.array_split(t, 8)):
                ev.update(a, b)
            r = ev.compute()
            abs_e = np.abs(p - t)
            worst = 0.0
            for metric, q in (("median_absolute_error", 0.5), ("abs_error_q90", 0.9),
                              ("abs_error_q99", 0.99)):
                for c in range(e.shape[1]):
                    want = np.quantile(abs_e[:, c], q)
                    got = r.per_channel[metric][c]
                    worst = max(worst, abs(got - want) / want if want else abs(got))
            rows.append((name, alpha, r.quantile_sketch["relative_accuracy"],
                         r.quantile_sketch["mantissa_bits"], worst))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown")
    args = ap.parse_args()
    rng = np.random.default_rng(20261129)
    lines = ["| data | samples | key | bits | auroc error | auroc_bound | AP error | AP bound |",
             "|---|---|---|---|---|---|---|---|"]
    for name, n, key, bits, ae, ab, pe, pb in rank_rows(rng):
        lines.append(f"| {name} | {n:,} | {key} | {bits} | {ae:.2e} | {ab:.2e} | {pe:.2e} | "
                     f"{pb:.2e} |")
    lines += ["", "| errors (4 channels, 400,000 rows, 8 batches) | quantile_alpha | stated "
              "accuracy | mantissa bits | worst relative error (q50, q90, q99, per channel) |",
              "|---|---|---|---|---|"]
    for name, alpha, acc, bits, worst in quantile_rows(rng):
        lines.append(f"| {name} | {alpha} | {acc:.3e} | {bits} | {worst:.3e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("# Histogram metrics: accuracy against scikit-learn and numpy\n\n"
                    "Errors are absolute for auroc and average precision (against "
                    "`roc_auc_score`, `average_precision_score` on the same float64 values), "
                    "relative for the quantiles (against `numpy.quantile`). Produced by "
                    "`bench/python/histogram_accuracy.py` on the CPU backend.\n\n" + text)


if __name__ == "__main__":
    main()
