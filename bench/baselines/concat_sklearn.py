#!/usr/bin/python3
"""The usual trainer code, as a baseline: load every shard, concatenate on the host, and call
scikit-learn (and numpy for Pearson) on the whole epoch.

    /usr/bin/python3 bench/baselines/concat_sklearn.py --pred P1.npy ... --target T1.npy ...

Prints one JSON line: seconds to load and concatenate, seconds to compute, peak RSS (KiB), the
number of pairs and the headline metrics (uniform average over channels, float64 as scikit-
learn is usually called after .astype(np.float64); float32 inputs would be computed in float32).
Run it under a memory limit (prlimit --as=...) to see where it dies instead of the machine's
OOM killer.
"""
import argparse
import json
import resource
import sys
import time

import numpy as np
from sklearn import metrics as skm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pred", nargs="+", required=True)
    ap.add_argument("--target", nargs="+", required=True)
    args = ap.parse_args()
    t0 = time.perf_counter()
    preds = [np.load(p) for p in args.pred]
    targets = [np.load(t) for t in args.target]
    pred = np.concatenate(preds)
    target = np.concatenate(targets)
    del preds, targets
    channels = pred.shape[-1]
    pred = pred.reshape(-1, channels).astype(np.float64)
    target = target.reshape(-1, channels).astype(np.float64)
    t1 = time.perf_counter()
    out = {
        "mse": skm.mean_squared_error(target, pred),
        "mae": skm.mean_absolute_error(target, pred),
        "r2": skm.r2_score(target, pred),
        "explained_variance": skm.explained_variance_score(target, pred),
        "max_error": float(np.max(np.abs(target - pred))),
        "pearson": float(np.mean([np.corrcoef(pred[:, c], target[:, c])[0, 1]
                                  for c in range(channels)])),
    }
    t2 = time.perf_counter()
    print(json.dumps({
        "load_concat_s": t1 - t0,
        "compute_s": t2 - t1,
        "total_s": t2 - t0,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "pairs": int(pred.size),
        "metrics": out,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
