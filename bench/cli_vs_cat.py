#!/usr/bin/env python3
"""gpu-eval end to end against `cat` of the same page-cached shards, in one run.

Writes SIZE MiB of [16, 500, 20] float32 .npy shards (predictions and targets) with
`gpu-eval synth`, reads them all once so that they are in the page cache, then times, in
alternation, `cat FILES > /dev/null` and `gpu-eval --pred ... --target ...` (its table to /dev/null) on the
CPU (median of REPEAT runs each), and measures gpu-eval's peak RSS at 1x and at 4x the data (the
4x set repeats the 1x files, so it stays page-cached). The ratio is gpu-eval's rate over cat's.

    python3 bench/cli_vs_cat.py [--size-mib 512] [--repeat 7] [--threads 2] [--json FILE]
                                [--gpu-eval build/bin/gpu-eval] [-- extra gpu-eval options]
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time



def run(cmd):
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{os.path.basename(cmd[0])} failed ({done.returncode}): "
                         f"{done.stderr.strip()[:500]}")


def timed(cmd):
    t0 = time.perf_counter()
    run(cmd)
    return time.perf_counter() - t0


def peak_rss_kib(cmd, work):
    out = os.path.join(work, "rss")
    run(["/usr/bin/time", "-f", "%M", "-o", out, *cmd])
    with open(out) as f:
        return int(f.read().split()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=512, help="predictions + targets, MiB")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shape", default="16,500,20", help="one shard's shape (float32)")
    ap.add_argument("--gpu-eval", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                       "bin", "gpu-eval"))
    ap.add_argument("--json")
    ap.add_argument("extra", nargs="*", help="more gpu-eval options (after --)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gpueval-cat-")
    try:
        shard_bytes = 4 * math.prod(int(d) for d in args.shape.split(",")) + 128
        shards = max(1, args.size_mib * 2**20 // (2 * shard_bytes))
        data = os.path.join(work, "data")
        subprocess.run([args.gpu_eval, "synth", "--out", data, "--shards", str(shards),
                        "--shape", args.shape, "--seed", "3"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pred = sorted(os.path.join(data, f) for f in os.listdir(data) if f.startswith("pred_"))
        target = sorted(os.path.join(data, f) for f in os.listdir(data)
                        if f.startswith("target_"))
        files = pred + target
        total = sum(os.path.getsize(f) for f in files)
        evaluate = [args.gpu_eval, "--pred", *pred, "--target", *target, "--device", "cpu",
                    "--threads", str(args.threads), "--no-progress", *args.extra]
        cat = ["cat", *files]
        for _ in range(2):  # into the page cache
            timed(cat)
        cat_s, eval_s = [], []
        for _ in range(args.repeat):
            cat_s.append(timed(cat))
            eval_s.append(timed(evaluate))
        rss1 = peak_rss_kib(evaluate, work)
        four = [args.gpu_eval, "--pred", *(pred * 4), "--target", *(target * 4), "--device",
                "cpu", "--threads", str(args.threads), "--no-progress", *args.extra]
        rss4 = peak_rss_kib(four, work)
        c, e = statistics.median(cat_s), statistics.median(eval_s)
        row = {"bytes": total, "files": len(files), "shape": args.shape, "repeat": args.repeat,
               "threads": args.threads, "extra": args.extra,
               "cat_s": cat_s, "gpu_eval_s": eval_s, "cat_gbs": total / c / 1e9,
               "gpu_eval_gbs": total / e / 1e9, "ratio": c / e,
               "peak_rss_kib_1x": rss1, "peak_rss_kib_4x": rss4, "rss_4x_over_1x": rss4 / rss1}
        print(f"{total / 2**20:.0f} MiB in {len(files)} files, page-cached, median of "
              f"{args.repeat}: cat {c * 1e3:.1f} ms ({row['cat_gbs']:.2f} GB/s), gpu-eval "
              f"{e * 1e3:.1f} ms ({row['gpu_eval_gbs']:.2f} GB/s): {row['ratio']:.2f} of cat's "
              f"rate; peak RSS {rss1 / 1024:.1f} MiB at 1x, {rss4 / 1024:.1f} MiB at 4x "
              f"({row['rss_4x_over_1x']:.3f})")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(row, f, indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
