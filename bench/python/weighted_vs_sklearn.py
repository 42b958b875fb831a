#!/usr/bin/env python3
"""Weighted regression against scikit-learn's sample_weight: the worst relative difference per
metric over targets near zero, far from it (1e4, 1e6), tiny and huge scales, float32 and
float64 weights (a tenth 0, the rest over four decades), fed in uneven batches; and msle against
a long-double reference, where scikit-learn's difference of logs cancels.

    python3 bench/python/weighted_vs_sklearn.py [--seed 7]

Prints a Markdown table.
"""

import argparse

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


if __name__ == "__main__":
    main()
