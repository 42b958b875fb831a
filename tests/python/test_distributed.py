"""compute() across the ranks of a torch.distributed job: gloo ranks in their own processes on
this machine, 2 and 3 of them, with uneven batch counts, a rank with no batches, masks and a
breakdown axis; ranks that disagree all fail, quickly."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import gpueval

dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

import dist_worker  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "dist_worker.py")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, world, case):
    port = str(_free_port())
    outs = [tmp_path / f"rank{r}.json" for r in range(world)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, WORKER, str(r), str(world), port, case,
                               str(outs[r])], env=env) for r in range(world)]
    start = time.monotonic()
    for p in procs:
        p.wait(timeout=120)
    elapsed = time.monotonic() - start
    for r, p in enumerate(procs):
        assert p.returncode == 0, f"rank {r} exited with {p.returncode}"
    return [json.loads(o.read_text()) for o in outs], elapsed


def _one_evaluator():
    ev = gpueval.Regression(metrics="all", by_axis=1, device="cpu", threads=1)
    for p, t, m in dist_worker.dataset():
        ev.update(p, t, m)
    return ev.compute()


def _close(got, want):
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-300, nan_ok=True), name
    for scope in ("per_channel", "by_axis"):
        for name in want.metric_names:
            np.testing.assert_allclose(getattr(got, scope)[name], getattr(want, scope)[name],
                                       rtol=1e-12, err_msg=f"{scope} {name}")
    assert got.count == want.count
    assert list(got.by_axis["count"]) == list(want.by_axis["count"])


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("case", ["uneven", "empty"])
def test_every_rank_gets_the_same_report_of_all_batches(tmp_path, world, case):
    results, _ = _run(tmp_path, world, case)
    for r in results:
        assert "error" not in r, r["error"]
        assert r["state_unchanged"]
    # Bitwise the same report on every rank (the device line included) ...
    assert len({r["report"] for r in results}) == 1
    report = gpueval.Report.from_json(results[0]["report"])
    assert report.device.startswith(f"{world} ranks: cpu")
    # ... equal to one evaluator over all the data.
    _close(report, _one_evaluator())
    batches = [r["batches"] for r in results]
    assert sum(batches) == dist_worker.BATCHES
    if case == "empty":
        assert batches[1] == 0
    # compute(sync=False) is the rank's own.
    for r in results:
        if 0 < r["batches"] < dist_worker.BATCHES:
            assert r["local_count"] < report.count
        elif r["batches"]:
            assert r["local_count"] == report.count


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_whose_specs_differ_all_fail_quickly(tmp_path, world):
    results, elapsed = _run(tmp_path, world, "mismatch")
    for r in results:
        assert "error" in r, f"rank {r['rank']} did not fail"
        assert r["error"].startswith("ValueError: gpueval: the ranks' evaluators differ")
        assert f"nan_policy: 'propagate' on rank {world - 1}, 'skip' on rank 0" in r["error"]
    assert elapsed < 60


def test_sync_needs_a_process_group():
    ev = gpueval.Regression(device="cpu").update(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="no process group is initialised"):
        ev.compute(sync=True)
    assert ev.compute().count == 6  # no group: the local report


def test_classification_ranks_join_exactly(tmp_path):
    results, _ = _run(tmp_path, 3, "classification")
    for r in results:
        assert "error" not in r, r["error"]
    assert len({r["report"] for r in results}) == 1
    joined = gpueval.ClassificationReport.from_json(results[0]["report"])
    one = gpueval.Classification("multiclass", num_classes=dist_worker.CLASSES, scores="logits",
                                 metrics="all", top_k=2, device="cpu", threads=1)
    for z, y, m in dist_worker.class_dataset():
        one.update(z, y, m)
    want = one.compute()
    # Integer statistics: the join is exact, not merely close.
    assert joined.to_dict()["metrics"] == want.to_dict()["metrics"]
    assert joined.to_dict()["confusion_matrix"] == want.to_dict()["confusion_matrix"]


def test_a_rank_that_dies_before_compute_makes_the_others_raise(tmp_path):
    """The last of 3 ranks ends before compute() (a killed trainer): the others' compute()
    raises within the group's timeout (15 s here) instead of waiting for ever."""
    world = 3
    port = str(_free_port())
    outs = [tmp_path / f"rank{r}.json" for r in range(world)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.monotonic()
    procs = [subprocess.Popen([sys.executable, WORKER, str(r), str(world), port, "dies",
                               str(outs[r])], env=env) for r in range(world)]
    for p in procs:
        p.wait(timeout=90)
    elapsed = time.monotonic() - start
    assert procs[-1].returncode == 9
    for r in range(world - 1):
        assert procs[r].returncode == 0, f"rank {r} ended with {procs[r].returncode}"
        result = json.loads(outs[r].read_text())
        assert "report" not in result, result
        assert "process group failed before all had sent theirs" in result.get("error", ""), \
            result
    assert elapsed < 60, elapsed
