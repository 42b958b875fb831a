"""A channel axis anywhere: images [N, C, H, W] keep their channels on axis 1, read in place;
the per-channel values are scikit-learn's on each channel's values, with masks and weights of a
prefix that covers the channel axis."""

import numpy as np
import pytest
from sklearn import metrics as skm

import gpueval


def _per_channel(x, c):
    return np.moveaxis(x, 1, -1).reshape(-1, c)


def test_nchw_channels_match_scikit_learn(rng):
    n, c, h, w = 7, 3, 4, 5
    t = rng.normal(size=(n, c, h, w)) * np.array([1.0, 10.0, 0.1])[None, :, None, None] + 100
    p = t + rng.normal(scale=0.3, size=t.shape)
    ev = gpueval.Regression(metrics=["mse", "r2", "mae"], channel_axis=1, device="cpu")
    r = ev.update(p[:3], t[:3]).update(p[3:], t[3:]).compute()
    pc, tc = _per_channel(p, c), _per_channel(t, c)
    np.testing.assert_allclose(r.per_channel["mse"],
                               skm.mean_squared_error(tc, pc, multioutput="raw_values"),
                               rtol=1e-12)
    assert r["r2"] == pytest.approx(skm.r2_score(tc, pc), rel=1e-12)
    assert r.spec["channel_axis"] == 1
    # weights of [N, C] (a prefix covering the channel axis), as scikit-learn sees them
    wts = rng.uniform(0.1, 3.0, size=(n, c))
    rw = gpueval.Regression(metrics=["mse"], channel_axis=1, device="cpu").update(
        p, t, weight=wts).compute()
    for ch in range(c):
        want = skm.mean_squared_error(t[:, ch].ravel(), p[:, ch].ravel(),
                                      sample_weight=np.repeat(wts[:, ch], h * w))
        assert rw.per_channel["mse"][ch] == pytest.approx(want, rel=1e-12)


def test_negative_axis_and_breakdown(rng):
    t = rng.normal(size=(6, 3, 4, 5))
    p = t + rng.normal(scale=0.2, size=t.shape)
    a = gpueval.Regression(metrics=["mse"], channel_axis=-3, by_axis=2, device="cpu")
    b = gpueval.Regression(metrics=["mse"], channel_axis=-1, by_axis=1, device="cpu")
    ra = a.update(p, t).compute()
    rb = b.update(np.ascontiguousarray(np.moveaxis(p, 1, -1)),
                  np.ascontiguousarray(np.moveaxis(t, 1, -1))).compute()
    assert ra.by_axis_index == 2
    np.testing.assert_array_equal(ra.by_axis["mse"], rb.by_axis["mse"])
    with pytest.raises(ValueError, match="is the channel axis"):
        gpueval.Regression(channel_axis=1, by_axis=1, device="cpu").update(p, t)
    with pytest.raises(ValueError, match="channel_axis 0 is the batch axis"):
        gpueval.Regression(channel_axis=0)
