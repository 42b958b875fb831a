"""States: merging evaluators (as ranks and shards do), checkpoints, pickling, rebuilding an
evaluator from a saved state; the per-batch forward; reset; concurrent callers."""

import copy
import pickle
import threading

import numpy as np
import pytest
from conftest import batch_pairs

import gpueval


def _values_close(a, b, rel=1e-12):
    assert a.metric_names == b.metric_names
    for name in a:
        np.testing.assert_allclose(a.per_channel[name], b.per_channel[name], rtol=rel,
                                   atol=1e-300, err_msg=name)
        assert a[name] == pytest.approx(b[name], rel=rel, abs=1e-15, nan_ok=True), name
    assert a.count == b.count and a.skipped_nonfinite == b.skipped_nonfinite


@pytest.fixture
def data(rng):
    return [batch_pairs(rng, (8, 20, 3), offset=50.0, scale=3.0) for _ in range(9)]


def _fed(batches, **kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("metrics", "all")
    ev = gpueval.Regression(by_axis=1, **kw)
    for p, t in batches:
        ev.update(p, t)
    return ev


def test_merged_ranks_equal_one_evaluator(data):
    whole = _fed(data).compute()
    ranks = [_fed(data[r::4]) for r in range(4)]
    states = [r.state() for r in ranks]
    merged = gpueval.Regression(metrics="all", by_axis=1, device="cpu")
    for s in states:
        merged.merge(s)
    _values_close(merged.compute(), whole)
    # A Regression merges directly, and merging leaves the other evaluator as it was.
    again = _fed(data[0::4]).merge(ranks[1]).merge(ranks[2]).merge(ranks[3])
    _values_close(again.compute(), whole)
    _values_close(ranks[1].compute(), _fed(data[1::4]).compute(), rel=0)


def test_merge_before_any_update_and_the_state_blob(data):
    blob = _fed(data).state()
    assert isinstance(blob, bytes) and blob[:7] == b"GPUEVST"
    fresh = gpueval.Regression(metrics="all", by_axis=1)  # device auto: merges on the CPU
    fresh.merge(bytearray(blob)).merge(np.frombuffer(blob, np.uint8))
    assert fresh.compute().count == 2 * sum(p.size for p, _ in data)


def test_merge_refuses_other_specs_and_corrupt_blobs(data):
    blob = _fed(data).state()
    cases = [
        (gpueval.Regression(metrics="all", device="cpu"), "by_axis"),
        (gpueval.Regression(metrics="all", by_axis=1, nan_policy="error", device="cpu"),
         "nan_policy"),
        (gpueval.Regression(metrics="all", by_axis=1, sample_shape=(20, 4), device="cpu"),
         "sample shape [20, 3], this evaluator has [20, 4]"),
    ]
    for ev, expect in cases:
        with pytest.raises(gpueval.StateError, match=None) as info:
            ev.merge(blob)
        assert expect in str(info.value), (expect, str(info.value))
        assert isinstance(info.value, ValueError)
    ev = gpueval.Regression(metrics="all", by_axis=1, device="cpu")
    corrupt = bytearray(blob)
    corrupt[200] ^= 0xFF
    for bad, expect in [(bytes(corrupt), "checksum"), (blob[:50], "truncated"),
                        (b"x" * 100, "bad magic")]:
        with pytest.raises(gpueval.StateError, match=expect):
            ev.merge(bad)
    with pytest.raises(TypeError, match="a state is bytes"):
        ev.merge("not a state")


def test_from_state_and_inspect_state(data):
    ev = _fed(data)
    blob = ev.state()
    info = gpueval.inspect_state(blob)
    assert info["by_axis"] == 1 and info["channel_axis"] == -1
    assert info["sample_shape"] == [20, 3] and info["keys"] == 60
    assert info["batches"] == len(data) and info["count"] == sum(p.size for p, _ in data)
    assert info["metrics"] == gpueval.metric_names("all")
    rebuilt = gpueval.Regression.from_state(blob)
    _values_close(rebuilt.compute(), ev.compute(), rel=0)
    fewer = gpueval.Regression.from_state(blob, metrics="mse,msle")
    assert fewer.compute().metric_names == ["mse", "msle"]
    assert fewer.compute()["msle"] == ev.compute()["msle"]
    # A state with more statistics than the metrics need merges; one with fewer does not.
    with_log = gpueval.Regression.from_state(_fed(data[:2], metrics="mse,msle").state())
    with_log.merge(_fed(data[2:4], metrics="all").state())
    with pytest.raises(gpueval.StateError, match=r"this evaluator needs core \+ log \(msle\)$"):
        with_log.merge(_fed(data[:2], metrics="default").state())
    with pytest.raises(gpueval.StateError):
        gpueval.inspect_state(blob[:-1])


def test_pickle_deepcopy_and_state_dict(data):
    ev = _fed(data[:5])
    want = ev.compute()
    for clone in (pickle.loads(pickle.dumps(ev)), copy.deepcopy(ev)):
        _values_close(clone.compute(), want, rel=0)
        assert clone.spec == ev.spec
        clone.update(*data[5])  # a clone is a live evaluator
        assert clone.batches == ev.batches + 1
    ckpt = ev.state_dict()
    assert set(ckpt) == {"state", "spec"}
    other = _fed(data[5:]).load_state_dict(ckpt)
    _values_close(other.compute(), want, rel=0)
    # An evaluator that has seen nothing checkpoints and restores as empty.
    empty = gpueval.Regression(device="cpu")
    assert empty.state_dict()["state"] is None
    restored = pickle.loads(pickle.dumps(empty))
    assert restored.batches == 0
    with pytest.raises(ValueError, match="compute\\(\\) with no data"):
        restored.compute()


def test_report_round_trips_and_pickles(data):
    r = _fed(data).compute()
    d = r.to_dict()
    assert d["schema"] == "gpueval.report/1" and d["task"] == "regression"
    back = gpueval.Report.from_dict(d)
    assert back.to_dict() == d
    _values_close(back, r, rel=0)
    assert list(back.by_axis["count"]) == list(r.by_axis["count"])
    again = pickle.loads(pickle.dumps(r))
    assert again.to_dict() == d
    assert gpueval.Report.from_json(r.to_json()).to_dict() == d
    assert dict(r) == r.headline and len(r) == len(r.metric_names)
    with pytest.raises(KeyError, match="not in this report"):
        r["accuracy"]
    with pytest.raises(ValueError, match="schema"):
        gpueval.Report.from_dict({"schema": "other"})
    with pytest.raises(TypeError):
        gpueval.Report()
    assert not r.per_channel["mse"].flags.writeable


def test_forward_returns_the_batch_and_accumulates(data):
    ev = gpueval.Regression(metrics="all", by_axis=1, device="cpu")
    for p, t in data:
        batch = ev(p, t)
        _values_close(batch, _fed([(p, t)]).compute(), rel=0)
    _values_close(ev.compute(), _fed(data).compute(), rel=0)


def test_reset_forgets_batches_and_keeps_the_shape(data):
    ev = _fed(data)
    ev.reset()
    assert ev.batches == 0
    with pytest.raises(ValueError, match="compute\\(\\) with no data"):
        ev.compute()
    with pytest.raises(ValueError, match="sample shape"):
        ev.update(np.ones((2, 5, 3), np.float32), np.ones((2, 5, 3), np.float32))


def test_concurrent_updates_are_serialised(data):
    ev = gpueval.Regression(metrics="all", by_axis=1, device="cpu", threads=1)
    threads = [threading.Thread(target=lambda b=b: [ev.update(*b) for _ in range(20)])
               for b in data]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert ev.batches == 20 * len(data)
    _values_close(ev.compute(), _fed(data * 20, threads=1).compute(), rel=1e-12)


def test_results_do_not_depend_on_the_thread_count(data):
    big = [batch_pairs(np.random.default_rng(1), (256, 40, 8)) for _ in range(3)]
    reports = [gpueval.Regression(device="cpu", threads=n).update(*big[0]).update(*big[1])
               .update(*big[2]).compute() for n in (1, 2, 5)]
    for r in reports[1:]:
        _values_close(r, reports[0], rel=0)


@pytest.mark.parametrize("make", [
    lambda: gpueval.Regression(device="cpu"),
    lambda: gpueval.Regression(device="cpu", sample_shape=(5, 3)),
    lambda: gpueval.Classification("multiclass", num_classes=3, device="cpu"),
])
def test_compute_with_no_data_raises_the_same_fresh_or_after_reset(make):
    # One rule (docs/design.md, "No data"): no batch since construction or reset() is an error,
    # whatever the spec knows; an empty batch is data and reports NaN metrics over 0 samples.
    fresh = make()
    with pytest.raises(ValueError) as first:
        fresh.compute()
    assert "compute() with no data" in str(first.value)
    is_reg = isinstance(fresh, gpueval.Regression)
    p = np.ones((4, 5, 3), np.float32) if is_reg else np.full((4, 3), 1 / 3, np.float32)
    t = np.ones((4, 5, 3), np.float32) if is_reg else np.zeros(4, np.int64)
    fresh.update(p, t)
    fresh.reset()
    with pytest.raises(ValueError) as again:
        fresh.compute()
    assert str(again.value) == str(first.value)
    fresh.update(p[:0], t[:0])
    r = fresh.compute()
    assert r.count == 0
