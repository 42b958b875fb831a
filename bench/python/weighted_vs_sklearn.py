#!/usr/bin/env python3
"""Weighted metrics against scikit-learn's sample_weight: the worst relative difference per
metric. Regression over targets near zero, far from it (1e4, 1e6), tiny and huge scales, float32
and float64 weights (a tenth 0, the rest over four decades), fed in uneven batches, and msle
against a long-double reference, where scikit-learn's difference of logs cancels.
Classification (binary, multiclass, multilabel; float16 scores, so that the rank metrics are
exact) over the same weights.

    python3 bench/python/weighted_vs_sklearn.py [--seed 7]

Prints Markdown tables.
"""

import argparse
import warnings

import numpy as np
from sklearn import metrics as skm

import gpueval

SKLEARN = {
    "mse": lambda t, p, w: skm.mean_squared_error(t, p, sample_weight=w),
    "rmse": lambda t, p, w: np.mean(np.sqrt(skm.mean_squared_error(
        t, p, sample_weight=w, multioutput="raw_values"))),
    "mae": lambda t, p, w: skm.mean_absolute_error(t, p, sample_weight=w),
    "r2": lambda t, p, w: skm.r2_score(t, p, sample_weight=w),
    "explained_variance": lambda t, p, w: skm.explained_variance_score(t, p, sample_weight=w),
    "mape": lambda t, p, w: skm.mean_absolute_percentage_error(t, p, sample_weight=w),
    "msle": lambda t, p, w: skm.mean_squared_log_error(t, p, sample_weight=w),
}
SCENARIOS = [(0, 1), (1e4, 1), (1e6, 1), (0, 1e-6), (0, 1e6), (50, 3)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    worst = {k: 0.0 for k in SKLEARN}
    for offset, scale in SCENARIOS:
        for wdtype in (np.float32, np.float64):
            n = 5000
            t = offset + scale * rng.normal(size=(n, 4))
            if offset == 0:
                t = np.abs(t) + scale  # msle needs values >= 0
            p = np.abs(t + scale * 0.3 * rng.normal(size=t.shape))
            w = np.where(rng.random(n) < 0.1, 0, 10 ** rng.uniform(-2, 2, n)).astype(wdtype)
            ev = gpueval.Regression(metrics=list(SKLEARN), device="cpu", threads=2)
            cuts = np.sort(rng.integers(0, n, 6))
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, n]):
                ev.update(p[a:b], t[a:b], weight=w[a:b])
            r = ev.compute()
            for name, fn in SKLEARN.items():
                want = fn(t, p, w.astype(np.float64))
                worst[name] = max(worst[name], abs(r[name] - want) / abs(want))
    print("| metric | worst relative difference from scikit-learn |")
    print("|---|---|")
    for name, v in worst.items():
        print(f"| {name} | {v:.1e} |")
    # msle where it cancels: against long double
    L = np.longdouble
    ours = theirs = 0.0
    for offset, scale in [(1e4, 1), (1e6, 1), (50, 3)]:
        n = 5000
        t = offset + scale * rng.normal(size=(n, 4))
        p = t + scale * 0.3 * rng.normal(size=t.shape)
        w = np.where(rng.random(n) < 0.1, 0, 10 ** rng.uniform(-2, 2, n))
        got = gpueval.Regression(metrics=["msle"], device="cpu").update(
            p, t, weight=w).compute()["msle"]
        d = np.log1p(p.astype(L)) - np.log1p(t.astype(L))
        ref = np.mean([np.sum(w.astype(L) * d[:, c] ** 2) / np.sum(w.astype(L))
                       for c in range(4)])
        ours = max(ours, float(abs(L(got) - ref) / ref))
        theirs = max(theirs, float(abs(L(skm.mean_squared_log_error(t, p, sample_weight=w)) - ref)
                                   / ref))
    print(f"\nmsle against long double: gpueval {ours:.1e}, scikit-learn {theirs:.1e}")
    classification(rng)


def _fold(ev, p, t, w, rng):
    n = len(t)
    cuts = np.sort(rng.integers(0, n, 6))
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, n]):
        ev.update(p[a:b], t[a:b], weight=w[a:b])
    return ev.compute()


def classification(rng):
    warnings.simplefilter("ignore")  # scikit-learn's zero_division warnings: gpueval's 0 too
    worst = {}

    def note(name, got, want):
        worst[name] = max(worst.get(name, 0.0), abs(got - want) / abs(want))

    for wdtype in (np.float32, np.float64):
        n = 20000
        w = np.where(rng.random(n) < 0.1, 0, 10 ** rng.uniform(-2, 2, n)).astype(wdtype)
        wd = w.astype(np.float64)
        # binary
        t = rng.integers(0, 2, n)
        s = np.clip(0.3 * t + 0.7 * rng.random(n), 0, 1).astype(np.float16)
        sd = s.astype(np.float64)
        y = (sd > 0.5).astype(int)
        r = _fold(gpueval.Classification("binary", metrics="all", device="cpu", threads=2),
                  s, t, w, rng)
        for name, fn in {
                "accuracy": lambda: skm.accuracy_score(t, y, sample_weight=wd),
                "precision": lambda: skm.precision_score(t, y, sample_weight=wd),
                "recall": lambda: skm.recall_score(t, y, sample_weight=wd),
                "f1": lambda: skm.f1_score(t, y, sample_weight=wd),
                "jaccard": lambda: skm.jaccard_score(t, y, sample_weight=wd),
                "balanced_accuracy": lambda: skm.balanced_accuracy_score(t, y, sample_weight=wd),
                "mcc": lambda: skm.matthews_corrcoef(t, y, sample_weight=wd),
                "cohen_kappa": lambda: skm.cohen_kappa_score(t, y, sample_weight=wd),
                # gpueval clips to the predictions' dtype's epsilon (float16 here)
                "log_loss": lambda: skm.log_loss(t, sd, sample_weight=wd,
                                                 eps=float(np.finfo(np.float16).eps)),
                "brier": lambda: skm.brier_score_loss(t, sd, sample_weight=wd),
                "auroc": lambda: skm.roc_auc_score(t, sd, sample_weight=wd),
                "average_precision": lambda: skm.average_precision_score(t, sd,
                                                                         sample_weight=wd)}.items():
            note(f"binary {name}", r[name], fn())
        # multiclass
        C = 6
        t = rng.integers(0, C, n)
        logits = rng.normal(size=(n, C)) + 1.5 * np.eye(C)[t]
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        y = p.argmax(1)
        r = _fold(gpueval.Classification("multiclass", num_classes=C, metrics="all", top_k=2,
                                         device="cpu", threads=2), p, t, w, rng)
        for avg in ("micro", "macro", "weighted"):
            note(f"multiclass f1_{avg}", r[f"f1_{avg}"],
                 skm.f1_score(t, y, average=avg, sample_weight=wd))
        for name, want in {
                "accuracy": skm.accuracy_score(t, y, sample_weight=wd),
                "mcc": skm.matthews_corrcoef(t, y, sample_weight=wd),
                "cohen_kappa_quadratic": skm.cohen_kappa_score(t, y, weights="quadratic",
                                                               sample_weight=wd),
                "log_loss": skm.log_loss(t, p, sample_weight=wd),
                "top_k_accuracy": skm.top_k_accuracy_score(t, p, k=2, sample_weight=wd)}.items():
            note(f"multiclass {name}", r[name], want)
        # multilabel
        t = rng.integers(0, 2, (n, 5))
        s = np.clip(0.4 * t + 0.6 * rng.random((n, 5)), 0, 1).astype(np.float16)
        sd = s.astype(np.float64)
        y = (sd > 0.5).astype(int)
        r = _fold(gpueval.Classification("multilabel", num_labels=5, metrics="all",
                                         device="cpu", threads=2), s, t, w, rng)
        for avg in ("micro", "macro", "samples"):
            note(f"multilabel f1_{avg}", r[f"f1_{avg}"],
                 skm.f1_score(t, y, average=avg, sample_weight=wd))
        note("multilabel auroc_macro", r["auroc_macro"],
             skm.roc_auc_score(t, sd, sample_weight=wd))
        note("multilabel subset_accuracy", r["subset_accuracy"],
             skm.accuracy_score(t, y, sample_weight=wd))
        note("multilabel hamming_loss", r["hamming_loss"],
             skm.hamming_loss(t, y, sample_weight=wd))
    print("\n| classification metric | worst relative difference from scikit-learn |")
    print("|---|---|")
    for name, v in worst.items():
        print(f"| {name} | {v:.1e} |")


if __name__ == "__main__":
    main()
