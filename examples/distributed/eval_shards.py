#!/usr/bin/env python3
"""Exact epoch metrics over saved shards, split across the ranks of a torchrun job.

Each rank memory-maps its part of the .npy files (numpy reads only the pages it touches),
streams them through a gpueval.Regression in row chunks (on its GPU under NCCL, on the CPU
under gloo), and compute() joins every rank's state: one all-gather of the sizes, one of the
bytes, merged in rank order, so every rank holds the same report. Rank 0 prints it.

    torchrun --nproc-per-node 3 examples/distributed/eval_shards.py \\
        --pred preds/*.npy --target targets/*.npy [--mask masks/*.npy] [--by-axis 1] \\
        [--metrics default] [--rows 256] [--json report.json]

The files are split as gpu-eval --shard-index splits them: by bytes, largest first, each to the
lightest rank. The same fan-out without torch: examples/distributed/fan_out.sh.
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.distributed as dist

import gpueval


def balanced_part(sizes, rank, world):
    """Indices of the files rank `rank` of `world` evaluates (gpu-eval's --shard-index split)."""
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))
    load = [0] * world
    mine = []
    for i in order:
        part = min(range(world), key=lambda r: (load[r], r))
        load[part] += sizes[i]
        if part == rank:
            mine.append(i)
    return sorted(mine)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pred", nargs="+", required=True)
    ap.add_argument("--target", nargs="+", required=True)
    ap.add_argument("--mask", nargs="+")
    ap.add_argument("--metrics", default="default")
    ap.add_argument("--by-axis", type=int)
    ap.add_argument("--rows", type=int, default=256, help="rows per update")
    ap.add_argument("--json", help="rank 0 writes the report's JSON here")
    args = ap.parse_args()
    if len(args.pred) != len(args.target) or (args.mask and len(args.mask) != len(args.pred)):
        ap.error("--pred, --target (and --mask) pair up in order: give as many of each")

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    device = f"cuda:{torch.cuda.current_device()}" if cuda else "cpu"

    sizes = [os.path.getsize(p) + os.path.getsize(t) for p, t in zip(args.pred, args.target)]
    ev = gpueval.Regression(metrics=args.metrics, by_axis=args.by_axis, device=device,
                            threads=max(1, (os.cpu_count() or 1) // world))
    for i in balanced_part(sizes, rank, world):
        p = np.load(args.pred[i], mmap_mode="r")
        t = np.load(args.target[i], mmap_mode="r")
        m = np.load(args.mask[i], mmap_mode="r") if args.mask else None
        for r0 in range(0, p.shape[0], args.rows):
            chunk = slice(r0, r0 + args.rows)
            batch = [p[chunk], t[chunk], None if m is None else m[chunk]]
            if cuda:
                batch = [None if a is None else torch.from_numpy(np.ascontiguousarray(a))
                         .to(device, non_blocking=True) for a in batch]
            ev.update(*batch)
    local = ev.batches
    report = ev.compute()  # a collective: every rank calls it
    print(f"rank {rank}: {local} updates of its own; joined report of {report.count} pairs",
          file=sys.stderr)
    if rank == 0:
        print(report)
        if args.json:
            with open(args.json, "w") as f:
                f.write(report.to_json() + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
