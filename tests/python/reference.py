"""The exact reference the Python tests hold gpueval to: numpy long double (64-bit mantissa on
x86-64), two passes per column, the degenerate values of the README's metric table. It shares
no formula with the engine (no shifts, no merges), like tests/reference.hpp on the C++ side."""

import numpy as np

LD = np.longdouble
EPS64 = float(np.finfo(np.float64).eps)

# The accuracy rule: |x - ref| <= 1e-9 * max(|ref|, scale), scale 1 for bounded scores.
BOUNDED = {"r2", "explained_variance", "pearson", "ccc", "cosine"}
# Quantiles of |error| from the sketch: within its relative accuracy at the default
# quantile_alpha (7 mantissa bits: 2^-7 / (2 + 2^-7)), numpy's linear interpolation.
QUANTILES = {"median_absolute_error": 0.5, "abs_error_q90": 0.9, "abs_error_q99": 0.99}
SKETCH_ACCURACY = 2.0 ** -7 / (2 + 2.0 ** -7)


def column_metrics(p, t):
    """Every metric of one stream of pairs (1-d arrays), as Python floats."""
    p = np.asarray(p, dtype=LD)
    t = np.asarray(t, dtype=LD)
    n = LD(p.size)
    nan = float("nan")
    out = {name: nan for name in ("mse", "rmse", "mae", "bias", "max_error", "r2",
                                  "explained_variance", "pearson", "ccc", "cosine", "rse",
                                  "nrmse", "nrmse_range", "mape", "smape", "msle",
                                  *QUANTILES)}
    if p.size == 0:
        return out
    abs_e = np.abs(np.asarray(p, dtype=np.float64) - np.asarray(t, dtype=np.float64))
    for name, q in QUANTILES.items():
        out[name] = float(np.quantile(abs_e, q))
    e = p - t
    mp, mt, me = p.sum() / n, t.sum() / n, e.sum() / n
    m2p = ((p - mp) ** 2).sum()
    m2t = ((t - mt) ** 2).sum()
    m2e = ((e - me) ** 2).sum()
    cpt = ((p - mp) * (t - mt)).sum()
    sse = (e * e).sum()
    mse = sse / n
    out["mse"] = float(mse)
    out["rmse"] = float(np.sqrt(mse))
    out["mae"] = float(np.abs(e).sum() / n)
    out["bias"] = float(me)
    out["max_error"] = float(np.abs(e).max())
    if m2t == 0:
        out["r2"] = 1.0 if sse == 0 else 0.0
        out["explained_variance"] = 1.0 if m2e == 0 else 0.0
    else:
        out["r2"] = float(1 - sse / m2t)
        out["explained_variance"] = float(1 - m2e / m2t)
        out["rse"] = float(sse / m2t)
    if m2p != 0 and m2t != 0:
        out["pearson"] = float(np.clip(cpt / np.sqrt(m2p * m2t), -1, 1))
    den = m2p + m2t + n * (mp - mt) ** 2
    if den != 0:
        out["ccc"] = float(2 * cpt / den)
    spp, stt, spt = (p * p).sum(), (t * t).sum(), (p * t).sum()
    if spp != 0 and stt != 0:
        out["cosine"] = float(np.clip(spt / np.sqrt(spp * stt), -1, 1))
    if mt != 0:
        out["nrmse"] = float(np.sqrt(mse) / abs(mt))
    if t.max() != t.min():
        out["nrmse_range"] = float(np.sqrt(mse) / (t.max() - t.min()))
    out["mape"] = float((np.abs(e) / np.maximum(np.abs(t), LD(EPS64))).sum() / n)
    both = np.abs(p) + np.abs(t)
    out["smape"] = float(np.where(both == 0, LD(0),
                                  2 * np.abs(e) / np.maximum(both, LD(EPS64))).sum() / n)
    if (p >= 0).all() and (t >= 0).all():
        x = e / (1 + t)
        small = np.abs(x) < 0.5
        d = np.where(small, np.log1p(np.where(small, x, 0)),
                     np.log((1 + p) / (1 + t)))
        out["msle"] = float((d * d).sum() / n)
    return out


def headline(p, t, channels=True):
    """The headline of [rows..., C] arrays: the mean over channels of each column's metric
    (max_error: the overall max), or the metrics of all values as one stream."""
    p = np.asarray(p, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if not channels:
        return column_metrics(p.ravel(), t.ravel())
    c = p.shape[-1]
    cols = [column_metrics(p.reshape(-1, c)[:, k], t.reshape(-1, c)[:, k]) for k in range(c)]
    out = {name: float(np.mean([col[name] for col in cols])) for name in cols[0]}
    out["max_error"] = float(max(col["max_error"] for col in cols))
    return out


def assert_close(got, want, name, rmse=None, tol=1e-9):
    """The accuracy rule of the README, for one metric."""
    if np.isnan(want):
        assert np.isnan(got), f"{name}: got {got!r}, want NaN"
        return
    if got == want:  # infinities of one sign among them
        return
    if name.split()[-1] in QUANTILES:
        tol = max(tol, SKETCH_ACCURACY * (1 + 1e-12))
    scale = 1.0 if name in BOUNDED else (rmse if name == "bias" and rmse is not None else 0.0)
    bound = tol * max(abs(want), scale)
    assert abs(got - want) <= bound, f"{name}: got {got!r}, want {want!r} (|diff| " \
                                     f"{abs(got - want):.3g} > {bound:.3g})"
