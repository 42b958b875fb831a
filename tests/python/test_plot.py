"""Report.plot and ClassificationReport.plot: every figure draws the report's own values (read
back from the matplotlib artists), the per-index-and-channel breakdown against evaluations of
each index alone, and the errors a user can meet (no breakdown, no matplotlib)."""

import sys

import numpy as np
import pytest

import gpueval

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def breakdown_report(rng, steps=30, channels=4):
    t = rng.normal(0, 1, (64, steps, channels))
    growth = np.linspace(0.1, 1.0, steps)[None, :, None] * np.arange(1, channels + 1)
    p = t + rng.normal(0, 1, t.shape) * growth  # error grows with the step and the channel
    ev = gpueval.Regression(by_axis=1, device="cpu")
    ev.update(p, t)
    return ev.compute(), p, t


def test_breakdown_per_channel_values(rng):
    r, p, t = breakdown_report(rng)
    grid = r.by_axis_per_channel["mse"]
    assert grid.shape == (30, 4)
    # The mean over channels is the breakdown's headline, and index j alone gives its row.
    assert np.allclose(grid.mean(axis=1), r.by_axis["mse"], rtol=1e-13, atol=0)
    for j in (0, 17, 29):
        alone = gpueval.Regression(device="cpu").update(p[:, j], t[:, j]).compute()
        assert np.allclose(grid[j], alone.per_channel["mse"], rtol=1e-12, atol=0)
    back = gpueval.Report.from_json(r.to_json())
    assert np.array_equal(back.by_axis_per_channel["r2"], r.by_axis_per_channel["r2"])
    plain = gpueval.Regression(device="cpu").update(p[:, 0], t[:, 0]).compute()
    assert plain.by_axis_per_channel is None


def test_regression_figures_draw_the_report(rng):
    r, _, _ = breakdown_report(rng)
    fig, ax = r.plot("channels", metric="mae")
    heights = [b.get_height() for b in ax.patches]
    assert np.array_equal(heights, r.per_channel["mae"])
    assert ax.lines[0].get_ydata()[0] == r["mae"]  # the headline
    fig, ax = r.plot("by_axis", metric="rmse", per_channel=True)
    assert len(ax.lines) == 5
    for c in range(4):
        assert np.array_equal(ax.lines[c].get_ydata(), r.by_axis_per_channel["rmse"][:, c])
    assert np.array_equal(ax.lines[-1].get_ydata(), r.by_axis["rmse"])
    fig, ax = r.plot()  # auto: the breakdown curve
    assert np.array_equal(ax.lines[-1].get_ydata(), r.by_axis["rmse"])
    fig, ax = r.plot("heatmap", metric="mse")
    assert np.array_equal(ax.images[0].get_array(), r.by_axis_per_channel["mse"].T)
    # Into given axes, as TorchMetrics' plot(ax=...).
    fig2, ax2 = plt.subplots()
    assert r.plot("channels", ax=ax2) == (fig2, ax2)


def test_classification_figures_draw_the_report(rng):
    n = 5000
    t = (rng.random(n) < 0.4).astype(np.int64)
    s = np.clip(rng.normal(0.35 + 0.3 * t, 0.2), 0, 1).astype(np.float16)
    r = gpueval.Classification("binary", device="cpu").update(s, t).compute()
    fig, ax = r.plot("roc")
    assert np.array_equal(ax.lines[0].get_xdata(), r.roc["fpr"])
    assert np.array_equal(ax.lines[0].get_ydata(), r.roc["tpr"])
    fig, ax = r.plot("pr")
    assert np.array_equal(ax.lines[0].get_ydata(), r.pr["precision"])
    fig, ax = r.plot("calibration")
    cal = r.calibration
    filled = cal["count"] > 0
    assert np.array_equal([b.get_height() for b in ax.patches], cal["accuracy"][filled])
    fig, ax = r.plot()  # auto: the confusion matrix
    assert np.array_equal(ax.images[0].get_array(), r.confusion_matrix)
    c = 6
    y = rng.integers(0, c, n)
    prob = rng.dirichlet(np.ones(c), n)
    m = gpueval.Classification("multiclass", num_classes=c, device="cpu").update(prob, y).compute()
    fig, ax = m.plot("confusion_matrix", normalize=True)
    assert np.allclose(np.asarray(ax.images[0].get_array()).sum(axis=1), 1.0)
    fig, ax = m.plot("per_class", metric="recall")
    assert np.array_equal([b.get_height() for b in ax.patches], m.per_class["recall"])


def test_plot_errors(rng, monkeypatch):
    r = gpueval.Regression(device="cpu").update(rng.normal(size=(8, 3)),
                                                rng.normal(size=(8, 3))).compute()
    with pytest.raises(ValueError, match="no breakdown"):
        r.plot("by_axis")
    with pytest.raises(ValueError, match="unknown regression plot 'bars'"):
        r.plot("bars")
    with pytest.raises(KeyError, match="'msle' is not in this report"):
        r.plot("channels", metric="msle")
    labels = gpueval.Classification("multilabel", num_classes=3, device="cpu").update(
        np.ones((4, 3), np.int64), np.ones((4, 3), np.int64)).compute()
    with pytest.raises(ValueError, match="no confusion matrix"):
        labels.plot("confusion_matrix")
    with pytest.raises(ValueError, match="no ROC curve"):
        labels.plot("roc")
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'gpueval\[plot\]'"):
        r.plot("channels")
