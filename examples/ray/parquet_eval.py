"""Evaluate predictions stored as Parquet files with Ray Data: each worker folds its batches into
a gpueval evaluator and returns the state (a few kilobytes), the driver merges them in the
dataset's order. The same rows in one process give the same report within 1e-12 (bitwise for
classification and geometry, whose sums are exact).

    python examples/ray/parquet_eval.py [--rows 20000] [--dir /tmp/gpueval-parquet]

Writes a small dataset first (a model's predictions of [500, 20] windows, as the trainer gpueval
was built for, and a visibility mask), then reads it back as a user's pipeline would.
"""
import argparse
import os
import tempfile
import time

import numpy as np
import ray

import gpueval
import gpueval.ray


def predictions(batch):
    """Rows of a made-up model's predictions, generated from their ids (any worker, any order)."""
    ids = batch["id"]
    rng = np.random.default_rng(int(ids[0]))
    target = rng.standard_normal((len(ids), 500, 20)).astype(np.float32)
    pred = target + 0.1 * rng.standard_normal(target.shape).astype(np.float32)
    return {"pred": pred, "target": target, "mask": rng.random((len(ids), 500)) < 0.95}


def write_predictions(path: str, rows: int) -> None:
    ray.data.range(rows, override_num_blocks=8).map_batches(predictions, batch_size=500) \
        .write_parquet(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "gpueval-parquet"))
    args = parser.parse_args()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    if not os.path.isdir(args.dir):
        write_predictions(args.dir, args.rows)

    ds = ray.data.read_parquet(args.dir)
    start = time.perf_counter()
    report = gpueval.ray.evaluate(ds, lambda: gpueval.Regression(device="cpu"),
                                  pred="pred", target="target", mask="mask", batch_size=500)
    print(f"{report.count} values in {time.perf_counter() - start:.2f} s on Ray")
    for name in ("mae", "rmse", "r2"):
        print(f"  {name:5s} {report[name]:.9f}")
    # The same rows in the same order in this process alone (Ray only reads them here).
    start = time.perf_counter()
    ev = gpueval.Regression(device="cpu")
    for batch in ds.iter_batches(batch_size=500, batch_format="numpy"):
        ev.update(batch["pred"], batch["target"], mask=batch["mask"])
    one = ev.compute()
    # Regression merges batches of more than a chunk (65,536 values) with rounding: within 1e-12.
    worst = max(abs(one[m] - report[m]) / abs(one[m]) for m in ("mae", "rmse", "r2"))
    print(f"one process: {time.perf_counter() - start:.2f} s; largest relative difference "
          f"{worst:.1e}")
    ray.shutdown()


if __name__ == "__main__":
    main()
