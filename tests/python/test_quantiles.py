"""Error quantiles (median_absolute_error, abs_error_q90, abs_error_q99) from the quantile
sketch: against scikit-learn's median_absolute_error and numpy's quantiles within the stated
relative accuracy, for any quantile_alpha; masks; the breakdown; states, pickles and reports."""

import math
import pickle

import numpy as np
import pytest
from sklearn import metrics as skm

import gpueval

QUANTILES = "median_absolute_error,abs_error_q90,abs_error_q99"


def fed(p, t, batches=4, **kw):
    kw.setdefault("device", "cpu")
    ev = gpueval.Regression(metrics="mae," + QUANTILES, **kw)
    for a, b in zip(np.array_split(p, batches), np.array_split(t, batches)):
        ev.update(a, b)
    return ev


@pytest.mark.parametrize("alpha", [0.005, 0.02, 0.001])
def test_against_scikit_learn_and_numpy(rng, alpha):
    t = rng.lognormal(0, 2, (20000, 3))  # errors over many decades
    p = t * (1 + rng.normal(0, 0.5, t.shape)) + rng.normal(0, 1e-3, t.shape)
    r = fed(p, t, quantile_alpha=alpha).compute()
    acc = r.quantile_sketch["relative_accuracy"]
    assert acc <= alpha and r.quantile_sketch["mantissa_bits"] >= 1

    def close(got, want):
        assert abs(got - want) <= acc * want * (1 + 1e-12), (got, want, acc)

    raw = skm.median_absolute_error(t, p, multioutput="raw_values")
    for c in range(3):
        close(r.per_channel["median_absolute_error"][c], raw[c])
    # The headline is the mean of the channels' medians, as scikit-learn's uniform average.
    assert r["median_absolute_error"] == pytest.approx(
        np.mean(r.per_channel["median_absolute_error"]), rel=1e-15)
    assert abs(r["median_absolute_error"] - skm.median_absolute_error(t, p)) <= \
        acc * skm.median_absolute_error(t, p)
    e = np.abs(p - t)
    for name, q in (("abs_error_q90", 0.9), ("abs_error_q99", 0.99)):
        close(r.flat[name], np.quantile(e, q))
        for c in range(3):
            close(r.per_channel[name][c], np.quantile(e[:, c], q))
    close(r.flat["median_absolute_error"], np.median(e))


def test_masks_exact_zeros_and_the_breakdown(rng):
    t = rng.normal(0, 1, (500, 4, 2)).astype(np.float32)
    p = t.copy()
    p[:, :, 1] += rng.normal(0, 1, (500, 4)).astype(np.float32)  # channel 0: every error 0
    mask = rng.random((500, 4)) < 0.7
    ev = gpueval.Regression(metrics=QUANTILES, by_axis=1, device="cpu")
    ev.update(p, t, mask)
    r = ev.compute()
    assert r.per_channel["median_absolute_error"][0] == 0.0
    e = np.abs(p - t)[mask][:, 1].astype(np.float64)
    assert r.per_channel["abs_error_q90"][1] == pytest.approx(np.quantile(e, 0.9), rel=0.004)
    assert np.isnan(r.by_axis["median_absolute_error"]).all()  # per channel only
    assert r.quantile_sketch == {"relative_accuracy": 2.0 ** -7 / (2 + 2.0 ** -7), "mantissa_bits": 7}


def test_states_merge_exactly_and_round_trip(rng):
    p, t = rng.normal(0, 1, (3000, 5)), rng.normal(0, 1, (3000, 5))
    whole = fed(p, t, batches=1)
    parts = [fed(p[i::3], t[i::3], batches=2) for i in range(3)]
    merged = gpueval.Regression(metrics="mae," + QUANTILES, device="cpu")
    for part in parts:
        merged.merge(part.state())
    for name in QUANTILES.split(","):  # integer counts: the same bits in any order
        assert merged.compute().per_channel[name].tolist() == \
            whole.compute().per_channel[name].tolist()
    again = gpueval.Regression.from_state(whole.state())
    assert again.spec["quantile_alpha"] == 0.005
    assert again.compute()["abs_error_q99"] == whole.compute()["abs_error_q99"]
    clone = pickle.loads(pickle.dumps(whole))
    assert clone.compute()["median_absolute_error"] == whole.compute()["median_absolute_error"]
    report = gpueval.load_report(whole.compute().to_json())
    assert report.quantile_sketch == whole.compute().quantile_sketch
    assert report["abs_error_q90"] == whole.compute()["abs_error_q90"]
    coarse = gpueval.Regression(metrics=QUANTILES, quantile_alpha=0.05, device="cpu")
    with pytest.raises(gpueval.StateError, match="a quantile sketch of 7 mantissa bits"):
        coarse.merge(whole.state())
    with pytest.raises(gpueval.StateError, match=r"needs core \+ quantile"):
        gpueval.Regression(metrics=QUANTILES, device="cpu").merge(
            gpueval.Regression(device="cpu").update(p, t).state())


def test_errors_and_degenerate_inputs():
    with pytest.raises(ValueError, match="quantile_alpha 0.000100 is outside"):
        gpueval.Regression(metrics=QUANTILES, quantile_alpha=1e-4)
    with pytest.raises(ValueError, match="5000 channels exceed the sketch cap"):
        gpueval.Regression(metrics=QUANTILES, sample_shape=(5000,))
    ev = gpueval.Regression(metrics=QUANTILES, sample_shape=(2,), device="cpu")
    ev.update(np.ones((0, 2)), np.ones((0, 2)))
    assert math.isnan(ev.compute()["median_absolute_error"])  # no pairs
    r = gpueval.Regression(metrics=QUANTILES, nan_policy="propagate", device="cpu").update(
        np.array([[1.0], [np.nan]]), np.zeros((2, 1))).compute()
    assert math.isnan(r["median_absolute_error"])
