"""One rank of the distributed tests (test_distributed.py starts several): joins a gloo process
group on this machine, evaluates its share of a deterministic dataset, calls compute() and
writes what it got (the report's JSON, or the error) to a file.

    dist_worker.py RANK WORLD PORT CASE OUT
"""

import datetime
import json
import sys

import numpy as np

BATCHES = 7
SHAPE = (6, 12, 3)


def dataset():
    """Batches of varied sizes with masks: (pred, target, mask) for batch i."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(BATCHES):
        rows = 3 + 2 * i
        t = 40.0 + 2.0 * rng.standard_normal((rows,) + SHAPE[1:])
        p = t + 0.3 * rng.standard_normal(t.shape)
        m = rng.random((rows, SHAPE[1])) < 0.8
        out.append((p.astype(np.float32), t.astype(np.float32), m))
    return out


CLASSES = 4


def class_dataset():
    """Multiclass logits [rows, C, 12] and labels [rows, 12], with masks."""
    rng = np.random.default_rng(8)
    out = []
    for i in range(BATCHES):
        rows = 3 + 2 * i
        z = rng.standard_normal((rows, CLASSES, SHAPE[1])).astype(np.float32)
        y = rng.integers(0, CLASSES, (rows, SHAPE[1]))
        m = rng.random((rows, SHAPE[1])) < 0.8
        out.append((z, y, m))
    return out


def share(case, rank, world):
    """The batches a rank evaluates: round robin (uneven counts: 7 batches); with 'empty',
    rank 1 gets none and the others share them."""
    if case == "empty":
        others = [r for r in range(world) if r != 1]
        return [] if rank == 1 else list(range(others.index(rank), BATCHES, len(others)))
    return list(range(rank, BATCHES, world))


def main():
    rank, world, port, case, out = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                     sys.argv[4], sys.argv[5])
    import torch.distributed as dist

    import gpueval

    # "dies": the last rank ends (as a killed process would) before compute(); the group's
    # timeout is short so that a rank left waiting shows as a slow test, not a hung one.
    timeout = 15 if case == "dies" else 60
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=timeout))
    kw = dict(metrics="all", by_axis=1, device="cpu", threads=1)
    if case == "mismatch" and rank == world - 1:
        kw["nan_policy"] = "propagate"
    ev = gpueval.Regression(**kw)
    data = dataset()
    if case == "classification":
        ev = gpueval.Classification("multiclass", num_classes=CLASSES, scores="logits",
                                    metrics="all", top_k=2, device="cpu", threads=1)
        data = class_dataset()
    for i in share(case, rank, world):
        p, t, m = data[i]
        ev.update(p, t, m)
    result = {"rank": rank, "batches": ev.batches}
    if case == "dies" and rank == world - 1:
        import os

        os._exit(9)
    before = ev.state() if ev.batches else None
    try:
        result["report"] = ev.compute().to_json()
        result["state_unchanged"] = before is None or ev.state() == before
        if ev.batches:
            result["local_count"] = ev.compute(sync=False).count
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {e}"
    with open(out, "w") as f:
        json.dump(result, f)
    if case == "dies":
        import os

        os._exit(0)  # the group lost a rank: no orderly teardown to wait for
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
