#!/usr/bin/env python3
"""A language model's token metrics on the CPU: gpueval against PyTorch, in one run.

    python3 bench/python/lm_tokens.py [--batch 8 --seq 512 --vocab 32000] [--threads 2]

Logits [B, T, V] in bfloat16 (as a model in bf16 emits them), targets [B, T] with a tenth -100
(padding). gpueval: one evaluator (perplexity, nll, accuracy, top-5, ECE) updated with the batch
read in place, class_axis=-1. PyTorch: torch.nn.functional.cross_entropy (which upcasts to
float32), an argmax and a top-5, the usual evaluation loop's work. TorchMetrics' Perplexity
(when torchmetrics is importable): its update and compute. Reference: the NLL in float64.
Each side's time is the best of --repeat runs; peak memory is each side's growth of the resident
set over the logits already held (the process's peak, measured in a fresh child per side).
Prints a Markdown table. bfloat16 logits tie often: gpueval's top-k counts a target when fewer
than k classes score strictly higher (README), torch.topk breaks ties by its own order, so their
top-5 differ by the tied tokens.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def make(args):
    """bf16 logits made 32 positions at a time (no float32 copy of the whole batch), the target's
    logit raised for about half the tokens (accuracy near 0.5), a tenth of the targets -100."""
    import torch
    g = torch.Generator().manual_seed(args.seed)
    target = torch.randint(0, args.vocab, (args.batch, args.seq), generator=g)
    logits = torch.empty(args.batch, args.seq, args.vocab, dtype=torch.bfloat16)
    step = 32  # positions at a time: a 4 MiB float32 transient at V = 32,000
    for b in range(args.batch):
        for s in range(0, args.seq, step):
            n = min(step, args.seq - s)
            row = torch.randn(n, args.vocab, generator=g) * 2
            bump = (torch.rand(n, generator=g) < 0.5).float() * 9
            row[torch.arange(n), target[b, s:s + n]] += bump
            logits[b, s:s + n] = row.to(torch.bfloat16)
    target[torch.rand(args.batch, args.seq, generator=g) < 0.1] = -100
    return logits, target


def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_side(args):
    import torch
    logits, target = make(args)
    base = peak_kib()
    best, out = float("inf"), {}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        if args.side == "gpueval":
            import gpueval
            ev = gpueval.Classification("multiclass", num_classes=args.vocab, scores="logits",
                                        class_axis=-1, ignore_index=-100, top_k=5,
                                        device="cpu", threads=args.threads,
                                        metrics=["perplexity", "nll", "accuracy",
                                                 "top_k_accuracy", "ece"])
            ev.update(logits, target)
            r = ev.compute()
            out = {k: r[k] for k in ("nll", "perplexity", "accuracy", "top_k_accuracy")}
        elif args.side == "torch":
            torch.set_num_threads(args.threads)
            flat, t = logits.reshape(-1, args.vocab), target.reshape(-1)
            nll = torch.nn.functional.cross_entropy(flat.float(), t, ignore_index=-100)
            keep = t != -100
            acc = (flat[keep].argmax(1) == t[keep]).double().mean()
            top5 = (flat[keep].topk(5, 1).indices == t[keep, None]).any(1).double().mean()
            out = {"nll": nll.item(), "perplexity": float(torch.exp(nll.double())),
                   "accuracy": acc.item(), "top_k_accuracy": top5.item()}
        elif args.side == "torchmetrics":
            torch.set_num_threads(args.threads)
            from torchmetrics.text import Perplexity
            m = Perplexity(ignore_index=-100)
            m.update(logits, target)  # a softmax over [B * T, V] in the logits' dtype
            ppl = float(m.compute())
            out = {"nll": float(np.log(ppl)), "perplexity": ppl, "accuracy": float("nan"),
                   "top_k_accuracy": float("nan")}
        else:  # float64 reference
            flat, t = logits.reshape(-1, args.vocab).double(), target.reshape(-1)
            keep = t != -100
            x, y = flat[keep], t[keep]
            nll = (torch.logsumexp(x, 1) - x[torch.arange(len(y)), y]).mean().item()
            out = {"nll": nll, "perplexity": float(np.exp(nll))}
        best = min(best, time.perf_counter() - t0)
    out["seconds"] = best
    out["peak_mib"] = (peak_kib() - base) / 1024
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--side", choices=["gpueval", "torch", "torchmetrics", "reference"])
    args = ap.parse_args()
    if args.side:
        run_side(args)
        return
    rows = {}
    sides = ["gpueval", "torch"]
    try:
        import torchmetrics  # noqa: F401
        sides.append("torchmetrics")
    except ImportError:
        pass
    for side in ["reference"] + sides:
        cmd = [sys.executable, os.path.abspath(__file__), "--side", side] + \
            [f"--{k}={getattr(args, k)}" for k in ("batch", "seq", "vocab", "threads", "repeat",
                                                   "seed")]
        if side == "reference":
            cmd[-2] = "--repeat=1"
        rows[side] = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                               text=True).stdout)
    ref = rows["reference"]
    print(f"[{args.batch}, {args.seq}, {args.vocab}] bfloat16 logits, {args.threads} threads\n")
    print("| side | seconds | peak MiB over the logits | perplexity | rel. error of nll | "
          "accuracy | top-5 |")
    print("|---|---|---|---|---|---|---|")
    for side in sides:
        r = rows[side]
        print(f"| {side} | {r['seconds']:.3f} | {r['peak_mib']:.0f} | {r['perplexity']:.6f} | "
              f"{abs(r['nll'] - ref['nll']) / ref['nll']:.1e} | {r['accuracy']:.6f} | "
              f"{r['top_k_accuracy']:.6f} |")
    print(f"\nfloat64 reference: nll {ref['nll']:.15f}, perplexity {ref['perplexity']:.9f}")


if __name__ == "__main__":
    main()
