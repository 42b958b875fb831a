"""auroc and average_precision from score histograms, against scikit-learn: exact for 16-bit
scores (ties included), within the reported bounds for wider ones (ordinary and adversarial
data), the binary ROC and PR curves, degenerate classes, bitwise results for any split and thread
count, states, and the errors a user can meet."""

import math
import pickle

import numpy as np
import pytest
from sklearn import metrics as skm

import gpueval

from test_classification import evaluate, softmax

EXACT = dict(rel=1e-12, abs=1e-15)
RANK = "auroc,average_precision"


def binary_data(rng, n, dtype=np.float16):
    """Scores on a coarse grid (many ties), positives higher on average."""
    t = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.4 + 0.2 * t, 0.2), 0, 1)
    return np.round(s, 2).astype(dtype), t


def test_binary_float16_is_exact_with_ties(rng):
    s, t = binary_data(rng, 20000)
    r = evaluate("binary", s, t, splits=5)
    ref = s.astype(np.float64)
    assert r["auroc"] == pytest.approx(skm.roc_auc_score(t, ref), **EXACT)
    assert r["average_precision"] == pytest.approx(skm.average_precision_score(t, ref), **EXACT)
    assert r["auroc_bound"] == 0.0 and r["average_precision_bound"] == 0.0
    assert r.histogram == {"key": "float16", "bits": 16, "exact": True}
    # The curves: one point per distinct score (fewer than 1,000 here), each the rates at its
    # threshold, like roc_curve / precision_recall_curve without dropped points.
    roc, pr = r.roc, r.pr
    distinct = np.unique(ref)
    assert len(roc["threshold"]) == len(distinct) + 1 and roc["threshold"][0] == np.inf
    assert np.array_equal(roc["threshold"][1:], distinct[::-1])
    pos, neg = ref[t == 1], ref[t == 0]
    for th, fpr, tpr in zip(roc["threshold"][1:], roc["fpr"][1:], roc["tpr"][1:]):
        assert fpr == pytest.approx((neg >= th).mean(), **EXACT)
        assert tpr == pytest.approx((pos >= th).mean(), **EXACT)
    fpr, tpr, th = skm.roc_curve(t, ref, drop_intermediate=False)
    assert np.allclose(roc["fpr"], fpr, rtol=1e-12, atol=0)
    assert np.allclose(roc["tpr"], tpr, rtol=1e-12, atol=0)
    precision, recall, th = skm.precision_recall_curve(t, ref)
    # scikit-learn ascends and appends (recall 0, precision 1); gpueval descends.
    assert np.allclose(pr["precision"][::-1], precision[:-1], rtol=1e-12, atol=0)
    assert np.allclose(pr["recall"][::-1], recall[:-1], rtol=1e-12, atol=0)
    assert np.array_equal(pr["threshold"][::-1], th)


def test_binary_bfloat16_is_exact(rng):
    torch = pytest.importorskip("torch")
    s, t = binary_data(rng, 5000, np.float32)
    s16 = torch.from_numpy(s).to(torch.bfloat16)
    r = evaluate("binary", s16, torch.from_numpy(t))
    ref = s16.double().numpy()
    assert r["auroc"] == pytest.approx(skm.roc_auc_score(t, ref), **EXACT)
    assert r["average_precision"] == pytest.approx(skm.average_precision_score(t, ref), **EXACT)
    assert r.histogram == {"key": "bfloat16", "bits": 16, "exact": True}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_scores_within_their_bounds(rng, dtype):
    n = 200000
    t = rng.integers(0, 2, n)
    s = (1 / (1 + np.exp(-rng.normal(0.8 * t, 1.0)))).astype(dtype)
    r = evaluate("binary", s, t)
    auroc, ap = skm.roc_auc_score(t, s), skm.average_precision_score(t, s)
    assert r.histogram == {"key": "float32", "bits": 24, "exact": False}
    assert abs(r["auroc"] - auroc) <= r["auroc_bound"] < 1e-4
    assert abs(r["average_precision"] - ap) <= r["average_precision_bound"] < 1e-4
    # A small budget: fewer bits, wider bounds, still holding.
    small = evaluate("binary", s, t, histogram_budget=16 << 12)
    assert small.histogram["bits"] == 12
    assert abs(small["auroc"] - auroc) <= small["auroc_bound"]
    assert abs(small["average_precision"] - ap) <= small["average_precision_bound"]
    assert small["auroc_bound"] > r["auroc_bound"]


def test_adversarial_crowding_stays_within_the_bound(rng):
    # Every score within 1e-9 of 0.5, positives all above negatives: float32 keys cannot
    # separate them, the true AUROC is 1 and the histogram sees one bin.
    n = 4000
    t = np.repeat([0, 1], n // 2)
    s = 0.5 + 1e-9 * np.arange(n) / n
    r = evaluate("binary", s, t)
    assert skm.roc_auc_score(t, s) == 1.0
    assert r["auroc"] == 0.5 and r["auroc_bound"] == 0.5
    assert abs(r["auroc"] - 1.0) <= r["auroc_bound"]
    assert abs(r["average_precision"] - 1.0) <= r["average_precision_bound"]
    # Reversed: true AUROC 0.
    r = evaluate("binary", s[::-1].copy(), t)
    assert abs(r["auroc"] - 0.0) <= r["auroc_bound"]
    assert abs(r["average_precision"] - skm.average_precision_score(t, s[::-1])) <= \
        r["average_precision_bound"]


def test_degenerate_binary_cases():
    t = np.array([0, 1, 0, 1, 1])
    same = evaluate("binary", np.full(5, 0.3, np.float16), t)
    assert same["auroc"] == 0.5 == skm.roc_auc_score(t, np.full(5, 0.3))
    assert same["average_precision"] == pytest.approx(0.6, **EXACT)
    only_pos = evaluate("binary", np.array([0.2, 0.9], np.float16), np.array([1, 1]))
    assert math.isnan(only_pos["auroc"]) and only_pos["average_precision"] == 1.0
    only_neg = evaluate("binary", np.array([0.2, 0.9], np.float16), np.array([0, 0]))
    assert math.isnan(only_neg["auroc"]) and math.isnan(only_neg["average_precision"])
    # Labels instead of scores: no histograms, the metrics are not defined.
    labels = evaluate("binary", np.array([0, 1]), np.array([0, 1]))
    assert "auroc" not in labels and labels.histogram is None and labels.roc is None
    with pytest.raises(ValueError, match="'auroc' needs scores, but the predictions are labels"):
        gpueval.Classification("binary", metrics="auroc", device="cpu").update(
            np.array([0, 1]), np.array([0, 1]))


def one_vs_rest(t, p, k, fn):
    y = (t == k).astype(int)
    return math.nan if y.min() == y.max() and fn is skm.roc_auc_score else fn(y, p[:, k])


def test_multiclass_one_vs_rest(rng):
    n, c = 30000, 6
    prob = softmax(rng.standard_normal((n, c)) * 2).astype(np.float16)
    t = rng.integers(0, c - 1, n)  # the last class never appears
    r = evaluate("multiclass", prob, t, num_classes=c, metrics="accuracy," + RANK)
    ref = prob.astype(np.float64)
    support = np.bincount(t, minlength=c)
    for name, fn in (("auroc", skm.roc_auc_score), ("average_precision",
                                                       skm.average_precision_score)):
        per = r.per_class[name]
        want = [one_vs_rest(t, ref, k, fn) if support[k] else math.nan for k in range(c)]
        assert np.allclose(per, want, rtol=1e-12, atol=0, equal_nan=True), name
        assert math.isnan(per[c - 1]) and (r.per_class[name + "_bound"][:c - 1] == 0).all()
        present = np.array(want[:c - 1])
        assert r[name + "_macro"] == pytest.approx(present.mean(), **EXACT)
        assert r[name + "_weighted"] == pytest.approx(
            np.average(present, weights=support[:c - 1]), **EXACT)
        assert r[name + "_macro_bound"] == 0.0
    # scikit-learn's one-vs-rest average precision over the indicator matrix agrees (macro over
    # the classes present).
    y = np.eye(c)[t][:, :c - 1]
    assert r["average_precision_macro"] == pytest.approx(
        skm.average_precision_score(y, ref[:, :c - 1], average="macro"), **EXACT)


def test_multiclass_logits_rank_softmax_probabilities(rng):
    n, c = 20000, 4
    z = rng.standard_normal((n, c)).astype(np.float32)
    t = rng.integers(0, c, n)
    r = evaluate("multiclass", z, t, num_classes=c, scores="logits", metrics=RANK)
    p = softmax(z.astype(np.float64))
    assert r.histogram["key"] == "float32"
    want = skm.roc_auc_score(t, p, multi_class="ovr", average="macro")
    assert abs(r["auroc_macro"] - want) <= r["auroc_macro_bound"] < 1e-4
    want = skm.average_precision_score(np.eye(c)[t], p, average="weighted")
    assert abs(r["average_precision_weighted"] - want) <= r["average_precision_weighted_bound"]


def test_multilabel_against_scikit_learn(rng):
    n, labels = 8000, 5
    y = (rng.random((n, labels)) < 0.3).astype(np.int64)
    p = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1).astype(np.float16)
    r = evaluate("multilabel", p, y, num_classes=labels, metrics=RANK)
    ref = p.astype(np.float64)
    for avg in ("macro", "weighted"):
        assert r["auroc_" + avg] == pytest.approx(skm.roc_auc_score(y, ref, average=avg), **EXACT)
        assert r["average_precision_" + avg] == pytest.approx(
            skm.average_precision_score(y, ref, average=avg), **EXACT)
    assert np.allclose(r.per_class["auroc"], skm.roc_auc_score(y, ref, average=None),
                       rtol=1e-12, atol=0)


def test_bitwise_the_same_for_any_split_thread_count_and_merge(rng):
    n = 50000
    t = rng.integers(0, 2, n)
    s = rng.random(n).astype(np.float32) ** (1 + t)
    ref = evaluate("binary", s, t, splits=1, threads=1).to_dict()
    for splits, threads in ((3, 2), (17, 5)):
        got = evaluate("binary", s, t, splits=splits, threads=threads).to_dict()
        assert got["metrics"] == ref["metrics"] and got["roc"] == ref["roc"], (splits, threads)
    parts = [gpueval.Classification("binary", device="cpu").update(s[i::4], t[i::4])
             for i in range(4)]
    merged = gpueval.Classification("binary", device="cpu")
    for part in parts:
        merged.merge(part.state())
    assert merged.compute().to_dict()["metrics"] == ref["metrics"]
    clone = pickle.loads(pickle.dumps(merged))
    assert clone.compute().to_dict()["pr"] == ref["pr"]
    rebuilt = gpueval.from_state(merged.state())
    assert rebuilt.compute()["auroc"] == ref["metrics"]["auroc"]
    # The histograms are sparse in the state: 50,000 scores, far fewer than 2 x 2^24 bins.
    assert len(merged.state()) < 64 * n


def test_histogram_errors(rng):
    s, t = binary_data(rng, 100)
    ev = gpueval.Classification("binary", device="cpu")
    ev.update(s, t)  # float16: 16-bit keys
    with pytest.raises(ValueError, match="keep one score dtype"):
        ev.update(s.astype(np.float32), t)
    wide = gpueval.Classification("binary", device="cpu").update(s.astype(np.float32), t)
    wide.update(s, t)  # float16 into float32 keys converts exactly
    with pytest.raises(gpueval.StateError, match="float16 keys of 16 bits, this evaluator has float32 keys of 24"):
        wide.merge(ev.state())
    small = gpueval.Classification("binary", device="cpu", histogram_budget=16 << 12)
    small.update(s.astype(np.float32), t)
    with pytest.raises(gpueval.StateError, match="float32 keys of 12 bits"):
        wide.merge(small.state())
    with pytest.raises(ValueError, match="fewer than 8 bits"):
        gpueval.Classification("multiclass", num_classes=1000, metrics="auroc",
                               histogram_budget=1 << 20, device="cpu").update(
            np.zeros((2, 1000), np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="histogram_budget must be a positive"):
        gpueval.Classification("binary", histogram_budget=0)


def test_bins_of_one_score_add_nothing_to_the_bound(rng):
    # Scores on a grid of 0.05 (float32): many ties, each distinct score alone in its bin of the
    # 24-bit keys. The ties are counted exactly, so the values are scikit-learn's and the bounds
    # are 0, for every task, weighted or not, and after a merge.
    n = 6000
    grid = (rng.integers(0, 21, n) * 0.05).astype(np.float32)
    t = (rng.random(n) < grid).astype(np.int64)
    w = rng.random(n) * 2
    for weight in (None, w):
        ev = gpueval.Classification("binary", device="cpu", metrics=["auroc",
                                                                     "average_precision"])
        ev.update(grid[:2500], t[:2500], weight=None if weight is None else weight[:2500])
        other = gpueval.Classification("binary", device="cpu",
                                       metrics=["auroc", "average_precision"])
        other.update(grid[2500:], t[2500:], weight=None if weight is None else weight[2500:])
        ev.merge(other.state())
        r = ev.compute()
        assert r["auroc_bound"] == 0 and r["average_precision_bound"] == 0
        assert r["auroc"] == pytest.approx(skm.roc_auc_score(t, grid, sample_weight=weight),
                                           abs=1e-14)
        assert r["average_precision"] == pytest.approx(
            skm.average_precision_score(t, grid, sample_weight=weight), abs=1e-14)
    # Multiclass probabilities on the grid: one-vs-rest, every class exact.
    c = 4
    p = rng.integers(1, 6, (n, c)).astype(np.float64)
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    y = rng.integers(0, c, n)
    r = gpueval.Classification("multiclass", num_classes=c, device="cpu",
                               metrics=["auroc", "average_precision"])(p, y)
    assert r["auroc_macro_bound"] == 0 and r["average_precision_macro_bound"] == 0
    assert r["auroc_macro"] == pytest.approx(
        skm.roc_auc_score(y, p.astype(np.float64), multi_class="ovr"), abs=1e-12)
    # float64 scores: equal float32 keys need not be equal scores, so their bins stay mixed.
    s64 = np.clip(grid.astype(np.float64) + 1e-12 * rng.random(n), 0, 1)
    r64 = gpueval.Classification("binary", device="cpu", metrics=["auroc"])(s64, t)
    assert r64["auroc_bound"] > 0
    assert abs(r64["auroc"] - skm.roc_auc_score(t, s64)) <= r64["auroc_bound"]
