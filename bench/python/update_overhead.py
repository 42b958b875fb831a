#!/usr/bin/env python3
"""What the Python layer adds to an update, for numpy arrays and torch tensors.

The Python update runs the package's own code (device, autograd, stream handling), nanobind's
import of each array (DLPack or the buffer protocol, no copy) and the C++ update. On an empty
batch ([0, 500, 20]) the C++ update does only its validation, so that time is an upper bound on
the overhead a real batch pays; the [16, 500, 20] rows put it beside the whole update, and the
"C++ bound" row is the same evaluator's C++ entry point called with pre-imported arrays.

    python3 bench/python/update_overhead.py [--repeat 7] [--json OUT]

Medians over --repeat rounds of many calls each, microseconds per call.
"""

import argparse
import json
import statistics
import sys
import timeit

import numpy as np

import gpueval


def per_call_us(fn, calls, repeat):
    rounds = timeit.repeat(fn, number=calls, repeat=repeat)
    return statistics.median(rounds) / calls * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    t = rng.standard_normal((16, 500, 20), dtype=np.float32)
    p = t + 0.1 * rng.standard_normal(t.shape, dtype=np.float32)
    empty = np.zeros((0, 500, 20), np.float32)
    inputs = {"numpy": (p, t, empty)}
    try:
        import torch
        tp, tt = torch.from_numpy(p), torch.from_numpy(t)
        inputs["torch"] = (tp, tt, torch.from_numpy(empty))
        inputs["torch (requires grad)"] = (tp.clone().requires_grad_(), tt,
                                           torch.from_numpy(empty).requires_grad_())
    except ImportError:
        pass

    ev = gpueval.Regression(device="cpu", threads=args.threads, sample_shape=(500, 20))
    core = ev._ev  # the C++ evaluator behind it, for the bound below
    rows = []
    for name, (bp, bt, be) in inputs.items():
        rows.append({"input": name, "batch": "[0, 500, 20]",
                     "us": per_call_us(lambda: ev.update(be, be), 20000, args.repeat)})
    for name, (bp, bt, be) in inputs.items():
        rows.append({"input": name, "batch": "[16, 500, 20]",
                     "us": per_call_us(lambda: ev.update(bp, bt), 300, args.repeat)})
    rows.append({"input": "numpy, C++ entry point", "batch": "[16, 500, 20]",
                 "us": per_call_us(lambda: core.update(p, t, None, 0), 300, args.repeat)})
    print(f"gpueval {gpueval.__version__}, update on {ev.device}, default metrics, float32; "
          f"median of {args.repeat} rounds")
    print("| input | batch | us per update |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['input']} | {r['batch']} | {r['us']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": ev.device, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
