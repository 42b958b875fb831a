"""Sample weights: scikit-learn's ``sample_weight`` for every regression metric it has, fed in
uneven batches (empty ones included); a 0/1 weight is the mask to the bit; bad weights raise
naming the element and the fix."""

import json

import numpy as np
import pytest
from sklearn import metrics as skm

import gpueval
from weighted_batches import fold, rel, spread_weights

SIZES = (37, 0, 1, 200, 62, 0, 5)  # uneven batches, empty ones included


def _data(rng, offset=0.0, channels=3):
    n = sum(SIZES)
    t = offset + rng.normal(size=(n, channels)) * np.array([1.0, 3.0, 0.5])[:channels]
    p = t + rng.normal(scale=0.4, size=t.shape)
    return p, t, spread_weights(rng, n)


def _fold(ev, p, t, w, **kw):
    return fold(ev, p, t, w, SIZES, **kw)


# gpueval name -> scikit-learn (multioutput uniform average, as gpueval's headline)
SKLEARN = {
    "mse": lambda t, p, w: skm.mean_squared_error(t, p, sample_weight=w),
    "rmse": lambda t, p, w: np.mean(np.sqrt(skm.mean_squared_error(
        t, p, sample_weight=w, multioutput="raw_values"))),
    "mae": lambda t, p, w: skm.mean_absolute_error(t, p, sample_weight=w),
    "r2": lambda t, p, w: skm.r2_score(t, p, sample_weight=w),
    "explained_variance": lambda t, p, w: skm.explained_variance_score(t, p, sample_weight=w),
    "mape": lambda t, p, w: skm.mean_absolute_percentage_error(t, p, sample_weight=w),
}


@pytest.mark.parametrize("offset", [0.0, 1e6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_metrics_match_scikit_learn(rng, offset, dtype):
    p, t, w = _data(rng, offset)
    metrics = ["mse", "rmse", "mae", "r2", "explained_variance", "mape", "bias", "max_error"]
    r = _fold(gpueval.Regression(metrics=metrics, device="cpu", threads=2), p, t,
              w.astype(dtype))
    wd = w.astype(dtype).astype(np.float64)
    worst = {}
    for name, fn in SKLEARN.items():
        want = fn(t, p, wd)
        worst[name] = rel(r[name], want)
        assert worst[name] < 1e-11, (name, r[name], want)
    assert r.count == 3 * int(np.count_nonzero(wd))
    assert r.weight_sum == pytest.approx(3 * wd.sum(), rel=1e-15)
    # bias: the weighted mean error; max_error: over the pairs of weight > 0
    keep = wd > 0
    assert rel(r["bias"], np.mean([np.average((p - t)[:, c], weights=wd)
                                    for c in range(3)])) < 1e-11
    assert r["max_error"] == np.max(np.abs(p - t)[keep])
    # the variance-weighted r2, as multioutput="variance_weighted"
    want = skm.r2_score(t, p, sample_weight=wd, multioutput="variance_weighted")
    assert rel(r.variance_weighted["r2"], want) < 1e-11


def test_msle_and_the_flattened_headline_match_scikit_learn(rng):
    p, t, w = _data(rng, offset=5.0, channels=1)
    p, t = np.abs(p[:, 0]), np.abs(t[:, 0])
    r = _fold(gpueval.Regression(metrics=["msle", "mse", "r2"], channel_axis=None,
                                 device="cpu"), p, t, w)
    assert rel(r["msle"], skm.mean_squared_log_error(t, p, sample_weight=w)) < 1e-11
    assert rel(r["r2"], skm.r2_score(t, p, sample_weight=w)) < 1e-11


def test_weights_of_the_tensors_shape(rng):
    # one weight per element: scikit-learn sees the channels' columns one by one
    p, t, _ = _data(rng)
    w = np.where(rng.random(p.shape) < 0.1, 0.0, rng.uniform(0.1, 5, size=p.shape))
    r = _fold(gpueval.Regression(metrics=["mse", "r2"], device="cpu"), p, t, w)
    for c in range(3):
        want = skm.r2_score(t[:, c], p[:, c], sample_weight=w[:, c])
        assert rel(r.per_channel["r2"][c], want) < 1e-11


def test_zero_one_weights_are_the_mask_to_the_bit(rng):
    p, t, _ = _data(rng)
    keep = rng.random(len(p)) < 0.7
    masked = _fold_mask(gpueval.Regression(metrics="default", device="cpu"), p, t, keep)
    weighted = _fold(gpueval.Regression(metrics="default", device="cpu"), p, t,
                     keep.astype(np.float32))
    assert weighted.to_json() == masked.to_json()
    assert weighted.weight_sum == masked.count
    assert "weight_sum" not in masked.to_dict()


def _fold_mask(ev, p, t, keep):
    start = 0
    for size in SIZES:
        ev.update(p[start:start + size], t[start:start + size], keep[start:start + size])
        start += size
    return ev.compute()


def test_torch_weights_and_the_weighted_json(rng):
    torch = pytest.importorskip("torch")
    p, t, w = _data(rng)
    ev = gpueval.Regression(metrics=["mse"], device="cpu")
    ev.update(torch.from_numpy(p), torch.from_numpy(t), weight=torch.from_numpy(w))
    r = ev.compute()
    assert rel(r["mse"], skm.mean_squared_error(t, p, sample_weight=w)) < 1e-12
    d = json.loads(r.to_json())
    assert d["weight_sum"] == pytest.approx(3 * w.sum(), rel=1e-15)
    assert gpueval.Report.from_json(r.to_json()).weight_sum == r.weight_sum
    # a weighted state travels
    again = gpueval.Regression(metrics=["mse"], device="cpu")
    again.load_state_dict(ev.state_dict())
    assert again.compute().to_json() == r.to_json()


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_bad_weights_raise_naming_the_element(rng, bad):
    p, t, w = _data(rng)
    w = w.copy()
    w[5] = bad
    ev = gpueval.Regression(device="cpu")
    with pytest.raises(ValueError, match=r"batch 0, weight element 5 is .*finite and >= 0"):
        ev.update(p, t, weight=w)
    assert ev.batches == 0


def test_weights_refused_where_they_cannot_mean_what_the_caller_said(rng):
    p, t, w = _data(rng)
    ev = gpueval.Regression(device="cpu")
    with pytest.raises(ValueError, match="a weight is a float type"):
        ev.update(p, t, weight=np.ones(len(p), dtype=np.int32))
    with pytest.raises(ValueError, match="does not fit pred"):
        ev.update(p, t, weight=w[:-1])
    with pytest.raises(ValueError, match="quantile metrics"):
        gpueval.Regression(metrics=["median_absolute_error"], device="cpu").update(p, t, weight=w)


def test_gpu_eval_weight_files_give_the_packages_json(tmp_path, rng, cli):
    import subprocess

    p, t, w = _data(rng)
    keep = rng.random(p.shape[:1]) < 0.8
    ev = gpueval.Regression(metrics=["mse", "r2", "mae"], device="cpu", threads=2)
    start = 0
    for i, size in enumerate((40, 0, 262)):
        rows = slice(start, start + size)
        np.save(tmp_path / f"p{i}.npy", p[rows])
        np.save(tmp_path / f"t{i}.npy", t[rows])
        np.save(tmp_path / f"m{i}.npy", keep[rows])
        np.save(tmp_path / f"w{i}.npy", w[rows].astype(np.float32))
        ev.update(p[rows], t[rows], keep[rows], weight=w[rows].astype(np.float32))
        start += size
    got = ev.compute().to_dict()
    files = lambda name: [str(tmp_path / f"{name}{i}.npy") for i in range(3)]  # noqa: E731
    args = [cli, "--metrics", "mse,r2,mae", "--device", "cpu", "--threads",
            "2", "--format", "json", "--no-progress", "--pred", *files("p"), "--target",
            *files("t"), "--mask", *files("m"), "--weight", *files("w")]
    want = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    for scope in ("metrics", "flat", "per_channel", "count", "weight_sum"):
        assert got[scope] == want[scope], scope

    # a negative weight: exit 3 (input error) naming the file and the element
    bad = np.load(tmp_path / "w2.npy")
    bad[7] = -2.0
    np.save(tmp_path / "w2.npy", bad)
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 3, run.stderr
    assert "p2.npy" in run.stderr and "weight element 7 is -2" in run.stderr, run.stderr
    # an integer weight file: refused before any data is read
    np.save(tmp_path / "w2.npy", np.ones(262, dtype=np.int64))
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 3 and "a weight is a float type" in run.stderr, run.stderr


def test_gpu_eval_refuses_weights_that_differ_between_shards(tmp_path, rng, cli):
    import subprocess

    p, t, w = _data(rng)
    for i, dtype in enumerate((np.float32, np.float16)):
        np.save(tmp_path / f"p{i}.npy", p)
        np.save(tmp_path / f"t{i}.npy", t)
        np.save(tmp_path / f"w{i}.npy", w.astype(dtype))
    files = lambda name: [str(tmp_path / f"{name}{i}.npy") for i in range(2)]  # noqa: E731
    run = subprocess.run([cli, "--device", "cpu", "--no-progress", "--pred", *files("p"),
                          "--target", *files("t"), "--weight", *files("w")],
                         capture_output=True, text=True)
    assert run.returncode == 3 and "every shard of a role has one dtype" in run.stderr, run.stderr


def test_subnormal_weights_are_refused(rng):
    p, t, w = _data(rng)
    w = w.copy()
    w[2] = 5e-320
    with pytest.raises(ValueError, match="weight element 2 is .*subnormals are refused"):
        gpueval.Regression(device="cpu").update(p, t, weight=w)


def test_errors_name_the_element_in_the_callers_order_with_a_moved_channel_axis(rng):
    t = rng.normal(size=(2, 3, 4, 5))
    p = t.copy()
    p[1, 2, 3, 4] = np.nan  # C-order element 1*60 + 2*20 + 3*5 + 4 = 119
    ev = gpueval.Regression(channel_axis=1, nan_policy="error", device="cpu").update(p, t)
    with pytest.raises(gpueval.NonFiniteError) as e:
        ev.compute()
    assert e.value.element == 119
    w = np.ones((2, 3))
    w[1, 1] = -1.0  # the weight's own element 4
    with pytest.raises(ValueError, match="weight element 4 is -1"):
        gpueval.Regression(channel_axis=1, device="cpu").update(t, t, weight=w)
