"""Property tests of the Python API (Hypothesis): random shapes, dtypes, strides, masks, weights,
specs and batch splits for each family against the references; and malformed inputs, each of
which must raise the documented exception (ValueError, TypeError, gpueval's errors), never
crash or return numbers.

CI runs a bounded, derandomized number of examples; a longer run:

    GPUEVAL_FUZZ_EXAMPLES=2000 GPUEVAL_FUZZ_SEED=random pytest tests/python/test_fuzz_api.py
"""
import os

import numpy as np
import pytest

import gpueval
from reference import assert_close, column_metrics

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

EXAMPLES = int(os.environ.get("GPUEVAL_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=os.environ.get("GPUEVAL_FUZZ_SEED") != "random",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                database=None)
DOCUMENTED = (ValueError, TypeError, gpueval.NonFiniteError, gpueval.StateError)


def values(dtype, shape, bound):
    """Finite values within the accuracy rule's domain (README, "Numerics"): 0 or magnitudes
    from 1e-30 (a square of 1e-174 underflows double, where the long-double reference keeps it)."""
    width = {np.float16: 16, np.float32: 32, np.float64: 64}[dtype]
    x = st.floats(-bound, bound, width=width, allow_nan=False)
    return hnp.arrays(dtype, shape, elements=x.filter(lambda v: v == 0 or abs(v) > 1e-30))


@st.composite
def layout(draw, a):
    """The same values as `a` in another memory layout: C order, Fortran order, or every other
    element of a larger array (a strided view)."""
    kind = draw(st.sampled_from(["c", "f", "step"]))
    if kind == "f":
        return np.asfortranarray(a)
    if kind == "step":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    return a


@st.composite
def splits(draw, n):
    """Cut points of n rows into batches (an empty batch allowed)."""
    cuts = draw(st.lists(st.integers(0, n), max_size=3))
    return [0] + sorted(cuts) + [n]


def fold(ev, splits_, *arrays, **named):
    for lo, hi in zip(splits_[:-1], splits_[1:]):
        ev.update(*(a[lo:hi] for a in arrays),
                  **{k: None if v is None else v[lo:hi] for k, v in named.items()})
    return ev.compute()


@st.composite
def regression_case(draw):
    n = draw(st.integers(1, 10))
    inner = draw(st.lists(st.integers(1, 4), max_size=2))
    c = draw(st.integers(1, 3))
    shape = (n, *inner, c)
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    bound = 60000.0 if dtype == np.float16 else 1e6
    t = draw(values(dtype, shape, bound))
    p = draw(values(dtype, shape, bound))
    mask_kind = draw(st.sampled_from(["none", "full", "rows"]))
    mask = None
    if mask_kind == "full":
        mask = draw(hnp.arrays(np.bool_, shape[:-1]))
    elif mask_kind == "rows":
        mask = draw(hnp.arrays(np.bool_, (n,)))
    return draw(layout(p)), draw(layout(t)), mask, draw(splits(n))


@FUZZ
@given(regression_case())
def test_regression_matches_the_reference(case):
    p, t, mask, cuts = case
    r = fold(gpueval.Regression(device="cpu", threads=2), cuts, p, t, mask=mask)
    c = p.shape[-1]
    keep = np.ones(p.shape[:-1], dtype=bool) if mask is None else \
        np.broadcast_to(mask.reshape(mask.shape + (1,) * (p.ndim - 1 - mask.ndim)), p.shape[:-1])
    for k in range(c):
        want = column_metrics(p[..., k][keep].astype(np.float64), t[..., k][keep].astype(np.float64))
        for name in ("mse", "mae", "bias", "max_error", "r2", "pearson"):
            got = r.per_channel[name][k]
            # The rule's scale by name: bias against the rmse, bounded scores against 1.
            assert_close(got, want[name], name, rmse=np.sqrt(want["mse"]))
    assert r.count == int(keep.sum()) * c


@st.composite
def classification_case(draw):
    n = draw(st.integers(1, 40))
    c = draw(st.integers(2, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    logits = draw(values(dtype, (n, c), 30.0))
    target = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    weight = draw(st.one_of(st.none(), hnp.arrays(np.float64, (n,),
                                                  elements=st.floats(0, 10))))
    return draw(layout(logits)), target, weight, draw(splits(n))


@FUZZ
@given(classification_case())
def test_classification_matches_sklearn(case):
    from sklearn.metrics import accuracy_score, confusion_matrix

    logits, target, weight, cuts = case
    c = logits.shape[1]
    ev = gpueval.Classification("multiclass", num_classes=c, scores="logits", device="cpu",
                                threads=2)
    if weight is not None and ((weight > 0) & (weight < 2.0 ** -24)).any():
        # A weight the fixed point cannot hold to 40 bits is refused, not rounded away.
        with pytest.raises(ValueError, match=r"within \[2\^-24, 2\^32\)"):
            fold(ev, cuts, logits, target, weight=weight)
        return
    r = fold(ev, cuts, logits, target, weight=weight)
    pred = np.argmax(logits, axis=1)  # the first of equal scores, as gpueval breaks ties
    if weight is not None and weight.sum() == 0:
        assert np.isnan(r["accuracy"])
        return
    want = accuracy_score(target, pred, sample_weight=weight)
    assert abs(r["accuracy"] - want) <= 1e-12
    cm = confusion_matrix(target, pred, labels=range(c), sample_weight=weight)
    assert np.allclose(r.confusion_matrix, cm, rtol=0, atol=1e-9)


@st.composite
def geometry_case(draw):
    n = draw(st.integers(1, 12))
    j = draw(st.integers(1, 6))
    d = draw(st.integers(2, 3))
    t = draw(values(np.float64, (n, j, d), 1e3))
    p = draw(values(np.float64, (n, j, d), 1e3))
    mask = draw(st.one_of(st.none(), hnp.arrays(np.bool_, (n, j))))
    return draw(layout(p)), draw(layout(t)), mask, draw(splits(n))


@FUZZ
@given(geometry_case())
def test_geometry_matches_numpy(case):
    p, t, mask, cuts = case
    r = fold(gpueval.Geometry(metrics="mpjpe,rmse_vec,px3", key_axis=1, device="cpu",
                              threads=2), cuts, p, t, mask=mask)
    e = np.sqrt(((p - t) ** 2).sum(-1))
    keep = np.ones(e.shape, dtype=bool) if mask is None else mask
    if not keep.any():
        assert r.count == 0 and np.isnan(r["mpjpe"])
        return
    for name, want in (("mpjpe", e[keep].mean()), ("rmse_vec", np.sqrt((e[keep] ** 2).mean())),
                       ("px3", (e[keep] < 3).mean())):
        assert abs(r[name] - want) <= 1e-12 * max(abs(want), 1.0), (name, r[name], want)


# ---- malformed inputs ------------------------------------------------------------------------

ODD_DTYPES = [np.float32, np.float64, np.int32, np.int8, np.uint8, np.bool_, np.complex64,
              np.float16]


@st.composite
def malformed(draw):
    """Inputs that may or may not fit each other: shapes, dtypes, masks, weights."""
    shape_p = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))
    same = draw(st.booleans())
    shape_t = shape_p if same else tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    p = np.ones(shape_p, dtype=draw(st.sampled_from(ODD_DTYPES)))
    t = np.ones(shape_t, dtype=draw(st.sampled_from(ODD_DTYPES)))
    extra = {}
    if draw(st.booleans()):
        extra["mask"] = np.ones(tuple(draw(st.lists(st.integers(0, 4), max_size=4))),
                                dtype=draw(st.sampled_from(ODD_DTYPES)))
    if draw(st.booleans()):
        w = draw(st.sampled_from([1.0, -1.0, float("nan"), float("inf"), 0.0]))
        extra["weight"] = np.full(tuple(draw(st.lists(st.integers(0, 4), max_size=4))), w)
    family = draw(st.sampled_from(["regression", "classification", "geometry"]))
    return family, p, t, extra


@FUZZ
@given(malformed())
def test_malformed_inputs_raise_the_documented_errors(case):
    family, p, t, extra = case
    make = {"regression": lambda: gpueval.Regression(device="cpu", nan_policy="error"),
            "classification": lambda: gpueval.Classification("multiclass", num_classes=4,
                                                             device="cpu"),
            "geometry": lambda: gpueval.Geometry(device="cpu", vector_axis=-1)}[family]
    try:
        r = make().update(p, t, **extra).compute()
    except DOCUMENTED:
        return
    # Accepted: then the report holds numbers of the inputs it was given, not of garbage.
    assert r.count >= 0
