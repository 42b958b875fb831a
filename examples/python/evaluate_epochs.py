#!/usr/bin/python3
"""gpueval from a Python trainer through its TorchScript class: per-epoch evaluation, and the
merge of several evaluators' states the way distributed ranks would (all-gather the uint8
state, merge). Run with the interpreter that has PyTorch (here Debian's /usr/bin/python3):

    /usr/bin/python3 examples/python/evaluate_epochs.py [path/to/libgpueval_torch.so]
"""
import os
import sys

import torch

LIB = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "lib", "libgpueval_torch.so")
torch.classes.load_library(LIB)


def make_evaluator():
    # metrics, channel_axis ("-1" or "none"), by_axis (int or None), nan_policy, device, threads
    return torch.classes.gpueval.Evaluator("default", "-1", None, "skip", "cpu", 0)


def main():
    torch.manual_seed(0)
    t = torch.randn(64, 500, 20)
    truth = 1.5 * t + 0.3
    model = torch.nn.Linear(20, 20)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    ev = make_evaluator()
    for epoch in range(1, 4):
        ev.reset()
        for batch in range(4):
            x, y = t[batch * 16:(batch + 1) * 16], truth[batch * 16:(batch + 1) * 16]
            opt.zero_grad()
            pred = model(x)
            torch.nn.functional.mse_loss(pred, y).backward()
            opt.step()
            ev.update(pred.detach(), y, None)
        m = ev.compute()
        print(f"epoch {epoch}: mse {float(m['mse']):.5f}  r2 {float(m['r2']):.5f}  "
              f"pearson {float(m['pearson']):.5f}  ({int(m['count'])} pairs)")

    # Four "ranks", each evaluating its shard of the data; gather the states and merge.
    with torch.no_grad():
        ranks = [make_evaluator() for _ in range(4)]
        for r, ev_r in enumerate(ranks):
            x, y = t[r * 16:(r + 1) * 16], truth[r * 16:(r + 1) * 16]
            ev_r.update(model(x), y, None)
        gathered = [ev_r.state() for ev_r in ranks]  # torch.distributed.all_gather_object
        merged = make_evaluator()
        for state in gathered:
            merged.merge(state)
        single = make_evaluator()
        single.update(model(t), truth, None)
    a, b = merged.compute(), single.compute()
    print(f"merged from 4 ranks: r2 {float(a['r2']):.12f}; one evaluator: r2 {float(b['r2']):.12f}")
    print("per-channel r2:", [round(float(v), 4) for v in a["per_channel/r2"][:5]], "...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
