"""Evaluate a Ray Data dataset: each batch folded on the workers, the states merged on the driver.

    import gpueval, gpueval.ray, ray

    ds = ray.data.read_parquet("s3://bucket/predictions/")        # columns pred, target, mask
    make = lambda: gpueval.<Family>(..., device="cpu")            # any gpueval evaluator class
    r = gpueval.ray.evaluate(ds, make, pred="pred", target="target", mask="mask")

Columns are fixed-shape arrays (Ray's tensor columns, numpy batches, Parquet fixed-size lists
read by Ray): a batch of ``batch_size`` rows becomes ``[rows, ...]`` arrays, folded by a fresh
evaluator from ``make_evaluator`` (any gpueval class; it is pickled to the workers), whose state
(a few kilobytes) is the batch's only output. The driver merges the states in the dataset's
order.

Determinism. Ray runs the batches in any order on any worker; ``evaluate`` sets the
execution's ``preserve_order`` (Ray then emits the outputs in the order of the input rows), and
the driver merges batch 1's state, then batch 2's, ...: the report does not depend on the
workers, their number or Ray's scheduling. A family whose records are exact sums (integer
counts and fixed-point or 192-bit sums) gives bitwise the report of a single process that
updates one evaluator with the same rows in any batches. A family whose moments merge with
rounding in a fixed order (the README says which) gives it bitwise when the batches are the
same and each folds as one chunk (about 65,536 values: one evaluator's update merges a larger
batch chunk by chunk, a merged state at once), and within 1e-12 of it otherwise, as
``gpu-eval merge`` is of a single run. Ray cuts batches
inside its blocks: the boundaries are those of ``ds.iter_batches(batch_size=...)`` when every
block holds a multiple of ``batch_size`` rows.
"""
from typing import Any, Callable, Dict, Iterable, Optional

import numpy as np

__all__ = ["evaluate", "fold", "read_shards"]


def _column(batch: Dict[str, Any], name: Optional[str]) -> Any:
    if name is None:
        return None
    if name not in batch:
        raise KeyError(f"gpueval.ray: the dataset has no column {name!r} (it has "
                       f"{', '.join(sorted(batch))})")
    return np.asarray(batch[name])


class _FoldBatch:
    """The map_batches function: one batch into one evaluator's state."""

    def __init__(self, make_evaluator: Callable[[], Any], pred: str, target: str,
                 mask: Optional[str], weight: Optional[str], inputs: Dict[str, str]) -> None:
        self._make = make_evaluator
        self._cols = (pred, target, mask, weight)
        self._inputs = inputs

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, np.ndarray]:
        pred, target, mask, weight = (_column(batch, c) for c in self._cols)
        if len(target) == 0:
            return {"state": np.empty(0, dtype=object)}
        ev = self._make()
        extra = {k: _column(batch, c) for k, c in self._inputs.items()}
        ev.update(pred, target, mask=mask, weight=weight, **extra)
        return {"state": np.array([ev.state()], dtype=object)}


def fold(dataset: Any, make_evaluator: Callable[[], Any], pred: str = "pred",
         target: str = "target", mask: Optional[str] = None, weight: Optional[str] = None,
         batch_size: int = 4096, inputs: Optional[Dict[str, str]] = None,
         **map_batches_args: Any) -> Any:
    """The evaluator from ``make_evaluator()`` holding every batch of ``dataset`` (a
    ``ray.data.Dataset``): ``compute()`` it, ``merge`` more into it, or save its ``state()``.

    ``pred``, ``target``, ``mask``, ``weight``: column names (``mask``, ``weight``: None for
    none). ``inputs``: a family's own inputs by keyword to column name
    (``{"normalizer": "head_size"}``: a per-sample PCK scale). ``batch_size``: rows a worker folds at
    once (Ray's ``map_batches``). Further keyword arguments go to ``map_batches``
    (``concurrency``, ``num_cpus``, ``num_gpus``: a CUDA evaluator on the workers needs
    ``num_gpus``)."""
    states = dataset.map_batches(
        _FoldBatch(make_evaluator, pred, target, mask, weight, dict(inputs or {})),
        batch_format="numpy", batch_size=batch_size, **map_batches_args)
    # A dataset runs under the context it was made with (its parent's, often shared): set the
    # order on it for this run, and put it back after.
    options = states.context.execution_options
    saved = options.preserve_order
    options.preserve_order = True
    try:
        ev = make_evaluator()
        for row in states.iter_rows():
            ev.merge(bytes(row["state"]))
    finally:
        options.preserve_order = saved
    return ev


def evaluate(dataset: Any, make_evaluator: Callable[[], Any], pred: str = "pred",
             target: str = "target", mask: Optional[str] = None, weight: Optional[str] = None,
             batch_size: int = 4096, inputs: Optional[Dict[str, str]] = None,
             **map_batches_args: Any) -> Any:
    """The report of every row of ``dataset``: ``fold(...).compute()`` (see :func:`fold`)."""
    return fold(dataset, make_evaluator, pred, target, mask, weight, batch_size, inputs,
                **map_batches_args).compute(sync=False)


def _load_set(batch: Dict[str, Any], keys: Dict[str, str],
              rows: int) -> Iterable[Dict[str, np.ndarray]]:
    """The rows of one shard set (a path per column), windows of `rows` rows. Its shards must
    have as many rows: a longer one's extra rows would be left out unseen."""
    from . import read_shard, shard_rows

    paths = {col: str(batch[col][0]) for col in batch}
    counts = {col: shard_rows(path, keys.get(col, "")) for col, path in paths.items()}
    if len(set(counts.values())) != 1:
        raise ValueError("gpueval.ray.read_shards: one set's shards differ in rows (" +
                         ", ".join(f"{paths[c]}: {n}" for c, n in counts.items()) + ")")
    (n,) = set(counts.values())
    for row0 in range(0, n, rows):
        take = min(rows, n - row0)
        yield {col: read_shard(path, keys.get(col, ""), row0, take)
               for col, path in paths.items()}


def read_shards(files: Dict[str, Any], keys: Optional[Dict[str, str]] = None,
                rows: int = 4096) -> Any:
    """A ``ray.data.Dataset`` of the rows of tensor shards (``.npy``, ``.safetensors``) read by
    gpu-eval's readers on the workers: ``files`` maps a column to its paths, paired in order
    (``{"pred": preds, "target": targets, "mask": masks}``; the same file under several columns
    with ``keys`` naming each column's tensor in a ``.safetensors`` file). Each shard set is read
    in windows of ``rows`` rows, in file order; shards of one set must have as many rows."""
    import ray

    lists = {col: [str(p) for p in paths] for col, paths in files.items()}
    counts = {len(v) for v in lists.values()}
    if len(counts) != 1:
        raise ValueError(f"gpueval.ray.read_shards: the columns have different numbers of files "
                         f"({', '.join(f'{c}: {len(v)}' for c, v in lists.items())})")
    (count,) = counts
    items = [{col: lists[col][i] for col in lists} for i in range(count)]
    keys = dict(keys or {})
    return ray.data.from_items(items, override_num_blocks=max(1, count)).map_batches(
        lambda b: _load_set(b, keys, rows), batch_size=1, batch_format="numpy")
