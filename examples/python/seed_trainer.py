#!/usr/bin/env python3
"""A small PyTorch trainer on [16, 500, 20] sequences whose epoch metrics come from gpueval.

The trainer this fixes kept every batch's predictions and targets in host lists and called
np.concatenate and scikit-learn at the end of each epoch. At its real size (11,014 training
batches of [16, 500, 20] float32, 7 GB per tensor) the process was killed when epoch 0 ended;
the workaround, scoring only the first 1,000 batches, reported numbers that were not the
epoch's. Here each function hands its batches to a gpueval evaluator where they are (CPU or GPU
tensors, predictions that still require grad included) and gets the epoch's exact metrics at
the end, in constant memory.

    python3 examples/python/seed_trainer.py [--batches 200] [--val-batches 50] [--epochs 3]
                                            [--device auto|cpu|cuda] [--html report.html]

It keeps each epoch's validation report and, at the end, writes one HTML page (gpueval-report,
with matplotlib): the metrics against the epoch and the test's breakdown by step and channel.

bench/python/seed_scale.py measures the three ways (concatenate, first 1,000, gpueval) at the
full 11,014 batches.
"""

import argparse
import time

import torch
from torch import nn

import gpueval

BATCH, STEPS, CHANNELS = 16, 500, 20


def make_batch(index, total, device, generator):
    """Batch `index` of a time-ordered stream of `total`: smooth feature sequences whose level
    drifts over the stream (as time-ordered data does), and targets that depend on them."""
    x = torch.randn(BATCH, STEPS, CHANNELS, generator=generator)
    x = x.cumsum(dim=1) / STEPS**0.5 + 2.0 * index / max(total, 1)
    mix = torch.linspace(0.5, 1.5, CHANNELS)
    y = torch.tanh(x) * mix + 0.3 * x.roll(1, dims=2)
    y = y + 0.05 * torch.randn(y.shape, generator=generator)
    return x.to(device), y.to(device)


class SeqModel(nn.Module):
    """A per-step MLP with a learned bias, the smallest model that learns the mapping above."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(CHANNELS, 64), nn.GELU(), nn.Linear(64, CHANNELS))

    def forward(self, x):
        return self.net(x)


def train_epoch(model, optimizer, batches, device, seed):
    """One pass of training. The metrics are of the predictions the model made while it
    learned, every batch of the epoch, not a sample."""
    model.train()
    metrics = gpueval.Regression(metrics="mse,rmse,mae,r2", device="auto")
    g = torch.Generator().manual_seed(seed)
    for i in range(batches):
        x, y = make_batch(i, batches, device, g)
        pred = model(x)
        loss = nn.functional.mse_loss(pred, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        metrics.update(pred, y)  # pred requires grad: read as it is, no graph kept
    return metrics.compute()


@torch.no_grad()
def validate_epoch(model, batches, device, seed):
    """Validation: the default metric set over every validation batch."""
    model.eval()
    metrics = gpueval.Regression(device="auto")
    g = torch.Generator().manual_seed(seed)
    for i in range(batches):
        x, y = make_batch(i, batches, device, g)
        metrics.update(model(x), y)
    return metrics.compute()


@torch.no_grad()
def evaluate(model, batches, device, seed):
    """The final evaluation: every metric per channel and by step along the sequence."""
    model.eval()
    metrics = gpueval.Regression(metrics="all", by_axis=1, device="auto")
    g = torch.Generator().manual_seed(seed)
    for i in range(batches):
        x, y = make_batch(i, batches, device, g)
        metrics.update(model(x), y)
    return metrics.compute()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=200, help="training batches per epoch")
    ap.add_argument("--val-batches", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--html", default="seed_trainer_report.html",
                    help="the page of every epoch's report (needs matplotlib); '' for none")
    args = ap.parse_args()
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = SeqModel().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []  # each epoch's validation report: a few kilobytes each
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        train = train_epoch(model, optimizer, args.batches, device, seed=epoch)
        val = validate_epoch(model, args.val_batches, device, seed=10_000)
        history.append(val)
        print(f"epoch {epoch} | train mse {train['mse']:.5f} r2 {train['r2']:.5f} | "
              f"val mse {val['mse']:.5f} r2 {val['r2']:.5f} pearson {val['pearson']:.5f} "
              f"({val.count} pairs, {time.perf_counter() - t0:.1f} s)")
    test = evaluate(model, args.val_batches, device, seed=20_000)
    print(f"test on {test.device}: " + ", ".join(f"{k} {test[k]:.5g}" for k in
                                                 ("mse", "mae", "r2", "pearson", "nrmse_range")))
    steps = test.by_axis
    print(f"test mse by step: first {steps['mse'][0]:.5f}, middle {steps['mse'][STEPS // 2]:.5f}, "
          f"last {steps['mse'][-1]:.5f}")
    worst = int(test.per_channel["mse"].argmax())
    print(f"worst channel: {worst} (mse {test.per_channel['mse'][worst]:.5f}, "
          f"r2 {test.per_channel['r2'][worst]:.5f})")
    if args.html:
        try:
            from gpueval import report
            names = [f"epoch {i + 1}" for i in range(len(history))] + ["test"]
            report.write(args.html, history + [test], names, title="seed trainer")
            print(f"report page: {args.html} (validation by epoch, test by step and channel)")
        except ImportError as e:  # matplotlib is optional
            print(f"no report page: {e}")


if __name__ == "__main__":
    main()
