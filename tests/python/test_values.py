"""Values: the long-double two-pass reference to the accuracy rule on the cases that break
float32 streaming libraries, and scikit-learn's functions on ordinary data."""

import numpy as np
import pytest
from conftest import batch_pairs
from reference import assert_close, column_metrics, headline
from sklearn import metrics as skm

import gpueval

# (offset, scale, noise): targets far from zero, tiny and huge scales, near-constant targets,
# a perfect fit.
SCENARIOS = {
    "ordinary": (0.0, 1.0, 0.1),
    "offset_1e4": (1e4, 1.0, 0.1),
    "offset_1e6": (1e6, 1.0, 0.01),
    "offset_minus_311030": (-311030.0, 10.0, 0.1),
    "scale_1e-6": (0.0, 1e-6, 0.1),
    "scale_1e6": (0.0, 1e6, 0.1),
    "near_constant": (1234.5, 1e-9, 0.5),
    "perfect": (3.0, 2.0, 0.0),
}


def _batches(rng, offset, scale, noise, n_batches=7, shape=(16, 50, 5)):
    ps, ts = [], []
    for _ in range(n_batches):
        p, t = batch_pairs(rng, shape, offset, scale, noise, dtype=np.float64)
        ps.append(p)
        ts.append(t)
    return ps, ts


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_metric_matches_the_long_double_reference(rng, scenario):
    offset, scale, noise = SCENARIOS[scenario]
    ps, ts = _batches(rng, offset, scale, noise)
    ev = gpueval.Regression(metrics="all", device="cpu", threads=2)
    for p, t in zip(ps, ts):
        ev.update(p, t)
    r = ev.compute()
    P, T = np.concatenate(ps), np.concatenate(ts)
    want = headline(P, T)
    flat = headline(P, T, channels=False)
    for name in r:
        assert_close(r[name], want[name], name, rmse=want["rmse"])
        assert_close(r.flat[name], flat[name], "flat " + name, rmse=flat["rmse"])
    for c in range(P.shape[-1]):
        col = column_metrics(P[..., c].ravel(), T[..., c].ravel())
        for name in r:
            assert_close(r.per_channel[name][c], col[name], f"channel {c} {name}",
                         rmse=col["rmse"])
    assert r.count == P.size
    assert list(r.per_channel["count"]) == [P.size // 5] * 5


def test_scikit_learn_on_ordinary_data(rng):
    p, t = batch_pairs(rng, (4000, 6), offset=3.0, scale=2.0, noise=0.3, dtype=np.float64)
    p, t = np.abs(p), np.abs(t)  # msle needs non-negative values
    ev = gpueval.Regression(metrics="all", device="cpu")
    for i in range(0, 4000, 512):
        ev.update(p[i:i + 512], t[i:i + 512])
    r = ev.compute()
    close = dict(rel=1e-9, abs=1e-12)
    assert r["mse"] == pytest.approx(skm.mean_squared_error(t, p), **close)
    assert r["mae"] == pytest.approx(skm.mean_absolute_error(t, p), **close)
    assert r["r2"] == pytest.approx(skm.r2_score(t, p), **close)
    assert r["explained_variance"] == pytest.approx(skm.explained_variance_score(t, p), **close)
    assert r["mape"] == pytest.approx(skm.mean_absolute_percentage_error(t, p), **close)
    assert r["msle"] == pytest.approx(skm.mean_squared_log_error(t, p), **close)
    assert r["max_error"] == skm.max_error(t.ravel(), p.ravel())
    assert r.variance_weighted["r2"] == pytest.approx(
        skm.r2_score(t, p, multioutput="variance_weighted"), **close)
    assert r.variance_weighted["explained_variance"] == pytest.approx(
        skm.explained_variance_score(t, p, multioutput="variance_weighted"), **close)
    np.testing.assert_allclose(r.per_channel["r2"], skm.r2_score(t, p, multioutput="raw_values"),
                               rtol=1e-9)
    assert r.flat["r2"] == pytest.approx(skm.r2_score(t.ravel(), p.ravel()), **close)


def test_breakdown_axis_is_the_headline_of_each_index(rng):
    p, t = batch_pairs(rng, (32, 12, 3), offset=5.0, dtype=np.float64)
    ev = gpueval.Regression(by_axis=1, device="cpu")
    ev.update(p[:20], t[:20]).update(p[20:], t[20:])
    r = ev.compute()
    assert r.by_axis["axis"] == 1 and r.by_axis_index == 1
    assert list(r.by_axis["count"]) == [32 * 3] * 12
    for j in range(12):
        want = headline(p[:, j, :], t[:, j, :])
        for name in r:
            assert_close(r.by_axis[name][j], want[name], f"step {j} {name}", rmse=want["rmse"])


def test_no_channel_axis_is_one_stream(rng):
    p, t = batch_pairs(rng, (64, 7), dtype=np.float64)
    r = gpueval.Regression(channel_axis=None, device="cpu").update(p, t).compute()
    want = column_metrics(p.ravel(), t.ravel())
    assert r.channels == 1
    for name in r:
        assert_close(r[name], want[name], name, rmse=want["rmse"])


def test_degenerate_values_follow_the_table():
    t = np.full((10, 1), 4.0)
    r = gpueval.Regression(metrics="all", device="cpu").update(t.copy(), t).compute()
    assert r["r2"] == 1.0 and r["explained_variance"] == 1.0
    assert np.isnan(r["pearson"]) and np.isnan(r["rse"]) and np.isnan(r["nrmse_range"])
    r = gpueval.Regression(device="cpu").update(t + 1, t).compute()
    assert r["r2"] == 0.0 and r["explained_variance"] == 1.0
    assert r["mse"] == 1.0 and r["bias"] == 1.0


def test_masked_pairs_are_left_out(rng):
    p, t = batch_pairs(rng, (40, 9, 4), offset=2.0, dtype=np.float64)
    keep = rng.random((40, 9)) < 0.6
    r = gpueval.Regression(device="cpu").update(p, t, mask=keep).compute()
    want = headline(p[keep], t[keep])
    for name in r:
        assert_close(r[name], want[name], name, rmse=want["rmse"])
    assert r.count == int(keep.sum()) * 4
