"""Classification against scikit-learn on generated data for every task and metric, and against
TorchMetrics' formula for the calibration errors; degenerate cases; masks, ignore_index and
invalid inputs under each nan_policy; bitwise-identical results for any batch split and thread
count; states merged across evaluators."""

import math
import pickle

import numpy as np
import pytest
from sklearn import metrics as skm

import gpueval

TOL = dict(rel=1e-12, abs=1e-12)


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def evaluate(task, pred, target, mask=None, splits=3, **kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("threads", 2)
    ev = gpueval.Classification(task, **kw)
    n = len(target)
    edges = np.linspace(0, n, splits + 1).astype(int)
    for a, b in zip(edges[:-1], edges[1:]):
        ev.update(pred[a:b], target[a:b], None if mask is None else mask[a:b])
    return ev.compute()


def exact_kappa(t, yhat, classes, weights=None):
    """Cohen's kappa in exact rational arithmetic (Python integers)."""
    from fractions import Fraction
    m = np.zeros((classes, classes), dtype=object)
    np.add.at(m, (t, yhat), 1)
    rows, cols, n = m.sum(1), m.sum(0), int(m.sum())
    i, j = np.indices((classes, classes))
    w = {None: (i != j).astype(object), "linear": np.abs(i - j).astype(object),
         "quadratic": ((i - j) ** 2).astype(object)}[weights]
    observed = int((w * m).sum())
    expected = int((w * np.outer(rows, cols)).sum())
    return float(1 - Fraction(observed * n, expected))


def exact_mcc(t, yhat, classes):
    """Matthews' correlation with exact integer covariances and one rounding in the root."""
    m = np.zeros((classes, classes), dtype=object)
    np.add.at(m, (t, yhat), 1)
    tk, pk, n, c = m.sum(1), m.sum(0), int(m.sum()), int(np.trace(m))
    cov = c * n - int((tk * pk).sum())
    vp, vt = n * n - int((pk * pk).sum()), n * n - int((tk * tk).sum())
    return 0.0 if vp * vt == 0 else cov / math.sqrt(vp * vt)


def calibration_reference(conf, correct, bins):
    """TorchMetrics' binned calibration error (norm l1 and max), bins k/B in double."""
    idx = np.clip((conf * bins).astype(int), 0, bins - 1)
    ece, mce = 0.0, 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            gap = abs(correct[sel].mean() - conf[sel].mean())
            ece += gap * sel.mean()
            mce = max(mce, gap)
    return ece, mce


# ---- binary ----------------------------------------------------------------------------------

@pytest.mark.parametrize("scores", ["probabilities", "logits"])
def test_binary_against_scikit_learn(rng, scores):
    n = 5000
    z = rng.standard_normal(n) * 2
    prob = 1 / (1 + np.exp(-z))
    t = (rng.random(n) < prob).astype(np.int64)
    pred = z if scores == "logits" else prob
    r = evaluate("binary", pred, t, scores=scores, metrics="all", beta=0.5)
    yhat = (prob > 0.5).astype(int)
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(t, yhat), **TOL)
    assert r["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(t, yhat), **TOL)
    assert r["precision"] == pytest.approx(skm.precision_score(t, yhat), **TOL)
    assert r["recall"] == pytest.approx(skm.recall_score(t, yhat), **TOL)
    assert r["f1"] == pytest.approx(skm.f1_score(t, yhat), **TOL)
    assert r["fbeta"] == pytest.approx(skm.fbeta_score(t, yhat, beta=0.5), **TOL)
    assert r["specificity"] == pytest.approx(skm.recall_score(t, yhat, pos_label=0), **TOL)
    assert r["jaccard"] == pytest.approx(skm.jaccard_score(t, yhat), **TOL)
    assert r["mcc"] == pytest.approx(skm.matthews_corrcoef(t, yhat), **TOL)
    assert r["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(t, yhat), **TOL)
    assert r["log_loss"] == pytest.approx(skm.log_loss(t, prob), rel=1e-10)
    assert r["brier"] == pytest.approx(skm.brier_score_loss(t, prob), **TOL)
    np.testing.assert_array_equal(r.confusion_matrix, skm.confusion_matrix(t, yhat))
    ece, mce = calibration_reference(prob, t.astype(float), 15)
    assert r["ece"] == pytest.approx(ece, **TOL)
    assert r["mce"] == pytest.approx(mce, **TOL)
    np.testing.assert_array_equal(r.per_class["support"], np.bincount(t, minlength=2))
    np.testing.assert_allclose(r.per_class["f1"], skm.f1_score(t, yhat, average=None),
                               rtol=1e-12)
    assert r.count == n and r.calibration["count"].sum() == n


def test_binary_labels_threshold_and_bool_targets(rng):
    p = rng.random(400)
    t = rng.random(400) < 0.3
    r = evaluate("binary", p, t, threshold=0.7)
    yhat = p > 0.7
    assert r["f1"] == pytest.approx(skm.f1_score(t, yhat), **TOL)
    labels = evaluate("binary", yhat.astype(np.int8), t.astype(np.float32))
    assert "log_loss" not in labels and labels["f1"] == r["f1"]


# ---- multiclass ------------------------------------------------------------------------------

@pytest.mark.parametrize("classes", [2, 3, 10, 1000])
def test_multiclass_scores_against_scikit_learn(rng, classes):
    n = 4000 if classes < 1000 else 3000
    z = rng.standard_normal((n, classes)) * 1.5
    prob = softmax(z)
    t = rng.integers(0, classes, n)
    t[: classes // 3] = 0  # uneven support; with C = 1000 many classes are absent
    r = evaluate("multiclass", prob, t, num_classes=classes, metrics="all", top_k=2, beta=2.0)
    yhat = prob.argmax(1)
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(t, yhat), **TOL)
    assert r["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(t, yhat), **TOL)
    for avg in ("micro", "macro", "weighted"):
        assert r[f"precision_{avg}"] == pytest.approx(
            skm.precision_score(t, yhat, average=avg, zero_division=0), **TOL), avg
        assert r[f"recall_{avg}"] == pytest.approx(
            skm.recall_score(t, yhat, average=avg, zero_division=0), **TOL), avg
        assert r[f"f1_{avg}"] == pytest.approx(
            skm.f1_score(t, yhat, average=avg, zero_division=0), **TOL), avg
        assert r[f"fbeta_{avg}"] == pytest.approx(
            skm.fbeta_score(t, yhat, beta=2.0, average=avg, zero_division=0), **TOL), avg
        assert r[f"jaccard_{avg}"] == pytest.approx(
            skm.jaccard_score(t, yhat, average=avg, zero_division=0), **TOL), avg
    # mcc and kappa are exact ratios of integers up to one rounding: hold them to an exact
    # rational reference, and scikit-learn's float computation to the accuracy rule.
    assert r["mcc"] == pytest.approx(exact_mcc(t, yhat, classes), rel=1e-15, abs=1e-15)
    assert r["mcc"] == pytest.approx(skm.matthews_corrcoef(t, yhat), abs=1e-9)
    labels = list(range(classes))
    for weights, name in ((None, "cohen_kappa"), ("linear", "cohen_kappa_linear"),
                          ("quadratic", "cohen_kappa_quadratic")):
        assert r[name] == pytest.approx(exact_kappa(t, yhat, classes, weights), rel=1e-15,
                                        abs=1e-15), name
        assert r[name] == pytest.approx(
            skm.cohen_kappa_score(t, yhat, labels=labels, weights=weights), abs=1e-9), name
    score = prob[:, 1] if classes == 2 else prob
    assert r["top_k_accuracy"] == pytest.approx(
        skm.top_k_accuracy_score(t, score, k=2, labels=labels), **TOL)
    assert r["log_loss"] == pytest.approx(skm.log_loss(t, prob, labels=labels), rel=1e-10)
    onehot = np.eye(classes)[t]
    assert r["brier"] == pytest.approx(((prob - onehot) ** 2).sum(1).mean(), **TOL)
    np.testing.assert_array_equal(r.confusion_matrix,
                                  skm.confusion_matrix(t, yhat, labels=labels))
    ece, mce = calibration_reference(prob.max(1), (yhat == t).astype(float), 15)
    assert r["ece"] == pytest.approx(ece, **TOL) and r["mce"] == pytest.approx(mce, **TOL)
    np.testing.assert_allclose(
        r.per_class["recall"], skm.recall_score(t, yhat, labels=labels, average=None,
                                                zero_division=0), rtol=1e-12)


@pytest.mark.parametrize("scores", ["probabilities", "logits"])
def test_ties_go_to_the_lowest_index_as_numpy_argmax(rng, scores):
    """Tied highest scores: the prediction is the first of them, as numpy.argmax and
    scikit-learn decide; top-k counts only classes strictly above the target's score."""
    n, c = 997, 5  # a count that leaves a tail for every vector width
    z = np.round(rng.standard_normal((n, c)), 1)  # many exact ties
    z[::3, 1] = z[::3, 3] = z[::3].max(1) + 0.5  # classes 1 and 3 tie for the top
    z[1::7, 4] = z[1::7, 0] = z[1::7].max(1) + 1.0  # classes 0 and 4 tie for the top
    pred = z if scores == "logits" else softmax(z)
    if scores == "probabilities":
        pred = pred.astype(np.float32)
        pred[::3, 3] = pred[::3, 1]  # the tie survives the rounding
        pred[1::7, 4] = pred[1::7, 0]
    t = rng.integers(0, c, n)
    r = evaluate("multiclass", pred, t, num_classes=c, scores=scores, top_k=2, metrics="all")
    yhat = np.asarray(pred).argmax(1)
    np.testing.assert_array_equal(r.confusion_matrix,
                                  skm.confusion_matrix(t, yhat, labels=list(range(c))))
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(t, yhat), **TOL)
    higher = (np.asarray(pred) > np.asarray(pred)[np.arange(n), t][:, None]).sum(1)
    assert r["top_k_accuracy"] == pytest.approx(np.mean(higher < 2), **TOL)


def test_masks_of_any_layout_equal_their_contiguous_copies(rng):
    """A mask sliced with a step, transposed or broadcast reads exactly what its contiguous copy
    holds, for every task."""
    n, c = 32, 4
    wide = rng.random((n, 2 * c)) < 0.5
    stepped = wide[:, ::2]  # not contiguous
    assert not stepped.flags.c_contiguous
    prob = softmax(rng.standard_normal((n, c, 3)), axis=1)
    t = rng.integers(0, c, (n, 3))
    m3 = (rng.random((6, n, 3)) < 0.6)[2]  # a [n, 3] slice of a larger mask
    for mask in (m3, np.asfortranarray(m3), np.broadcast_to(m3[:1], m3.shape)):
        got = evaluate("multiclass", prob, t, mask, num_classes=c, metrics="all")
        want = evaluate("multiclass", prob, t, np.ascontiguousarray(mask), num_classes=c,
                        metrics="all")
        assert got.to_dict()["metrics"] == want.to_dict()["metrics"]
        assert got.count == int(np.ascontiguousarray(mask).sum())
    # Multilabel with a full-shape stepped mask; binary with a stepped prefix mask.
    ml_t = (rng.random((n, c)) < 0.4).astype(np.int64)
    ml_p = rng.random((n, c))
    got = evaluate("multilabel", ml_p, ml_t, stepped, num_classes=c, metrics="all")
    want = evaluate("multilabel", ml_p, ml_t, np.ascontiguousarray(stepped), num_classes=c,
                    metrics="all")
    assert got.to_dict()["metrics"] == want.to_dict()["metrics"]
    bp, bt = rng.random((n, c)), (rng.random((n, c)) < 0.5).astype(np.int64)
    column = wide[:, 1]  # a prefix mask with a stride of 2c
    for mask in (column, stepped):
        got = evaluate("binary", bp, bt, mask)
        want = evaluate("binary", bp, bt, np.ascontiguousarray(mask))
        assert got.to_dict()["metrics"] == want.to_dict()["metrics"]


def test_multiclass_logits_and_labels(rng):
    n, c = 3000, 6
    z = rng.standard_normal((n, c)) * 3
    t = rng.integers(0, c, n)
    r = evaluate("multiclass", z, t, num_classes=c, scores="logits")
    prob = softmax(z)
    assert r["log_loss"] == pytest.approx(skm.log_loss(t, prob), rel=1e-10)
    assert r["brier"] == pytest.approx(((prob - np.eye(c)[t]) ** 2).sum(1).mean(), rel=1e-12)
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(t, z.argmax(1)), **TOL)
    labels = evaluate("multiclass", z.argmax(1).astype(np.int32), t, num_classes=c)
    assert "log_loss" not in labels and "ece" not in labels
    assert labels["f1_macro"] == r["f1_macro"]
    np.testing.assert_array_equal(labels.confusion_matrix, r.confusion_matrix)


def test_segmentation_shaped_scores(rng):
    n, c, h, w = 6, 4, 9, 7
    prob = softmax(rng.standard_normal((n, c, h, w)), axis=1).astype(np.float32)
    t = rng.integers(0, c, (n, h, w))
    r = evaluate("multiclass", prob, t, num_classes=c, splits=2)
    flat = evaluate("multiclass", np.moveaxis(prob, 1, -1).reshape(-1, c), t.reshape(-1),
                    num_classes=c)
    assert r.to_dict()["metrics"] == flat.to_dict()["metrics"]  # bit for bit
    last = evaluate("multiclass", np.moveaxis(prob, 1, -1), t, num_classes=c, class_axis=-1)
    assert last.to_dict()["metrics"] == flat.to_dict()["metrics"]


# ---- multilabel ------------------------------------------------------------------------------

@pytest.mark.parametrize("scores", ["probabilities", "logits"])
def test_multilabel_against_scikit_learn(rng, scores):
    n, labels = 3000, 5
    z = rng.standard_normal((n, labels)) * 2
    prob = 1 / (1 + np.exp(-z))
    t = (rng.random((n, labels)) < prob).astype(np.int64)
    t[:, 4] = 0  # a label never present
    r = evaluate("multilabel", z if scores == "logits" else prob, t, num_classes=labels,
                 scores=scores, metrics="all")
    yhat = (prob > 0.5).astype(int)
    assert r["subset_accuracy"] == pytest.approx(skm.accuracy_score(t, yhat), **TOL)
    assert r["hamming_loss"] == pytest.approx(skm.hamming_loss(t, yhat), **TOL)
    assert r["accuracy"] == pytest.approx((t == yhat).mean(axis=0).mean(), **TOL)
    for avg in ("micro", "macro", "weighted"):
        for name, f in (("precision", skm.precision_score), ("recall", skm.recall_score),
                        ("f1", skm.f1_score), ("jaccard", skm.jaccard_score)):
            assert r[f"{name}_{avg}"] == pytest.approx(
                f(t, yhat, average=avg, zero_division=0), **TOL), (name, avg)
    bce = -(t * np.log(prob) + (1 - t) * np.log1p(-prob))
    assert r["log_loss"] == pytest.approx(bce.mean(), rel=1e-10)
    assert r["brier"] == pytest.approx(((prob - t) ** 2).mean(), **TOL)
    assert r.confusion_matrix is None and r.calibration is None
    np.testing.assert_array_equal(r.per_class["tp"], ((t == 1) & (yhat == 1)).sum(0))
    np.testing.assert_array_equal(r.per_class["support"], t.sum(0))


# ---- degenerate cases ------------------------------------------------------------------------

def test_degenerate_cases():
    t = np.array([0, 0, 1, 1, 2, 2])
    right = evaluate("multiclass", np.eye(4)[t], t, num_classes=4)  # class 3 never seen
    assert right["accuracy"] == 1.0 and right["f1_macro"] == 1.0 and right["mcc"] == 1.0
    assert right["cohen_kappa"] == 1.0 and right["balanced_accuracy"] == 1.0
    assert right.per_class["f1"][3] == 0.0 and right.per_class["support"][3] == 0
    one = evaluate("multiclass", np.zeros(6, np.int64), np.zeros(6, np.int64), num_classes=3)
    assert one["accuracy"] == 1.0 and one["mcc"] == 0.0  # sklearn: 0 for a single class
    assert one["mcc"] == skm.matthews_corrcoef(np.zeros(6), np.zeros(6))
    never_predicted = evaluate("binary", np.zeros(4, np.int64), np.array([0, 1, 0, 1]))
    assert never_predicted["precision"] == 0.0 and never_predicted["recall"] == 0.0
    assert never_predicted["f1"] == skm.f1_score([0, 1, 0, 1], [0, 0, 0, 0], zero_division=0)
    empty = gpueval.Classification("binary", device="cpu", sample_shape=(3,), pred="scores")
    r = empty.update(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)).compute()
    assert r.count == 0 and math.isnan(r["accuracy"]) and math.isnan(r["log_loss"])


# ---- masks, ignore_index, invalid inputs -----------------------------------------------------

def test_masks_and_ignore_index(rng):
    n, c = 2000, 5
    prob = softmax(rng.standard_normal((n, c)))
    t = rng.integers(0, c, n)
    keep = rng.random(n) < 0.7
    t_ignored = np.where(rng.random(n) < 0.1, -100, t)
    r = evaluate("multiclass", prob, t_ignored, mask=keep, num_classes=c, ignore_index=-100)
    sel = keep & (t_ignored != -100)
    want = evaluate("multiclass", prob[sel], t[sel], num_classes=c)
    assert r.to_dict()["metrics"] == want.to_dict()["metrics"]
    assert r.ignored == int((keep & (t_ignored == -100)).sum()) and r.count == int(sel.sum())


@pytest.mark.parametrize("policy", ["skip", "propagate", "error"])
def test_invalid_inputs_follow_nan_policy(rng, policy):
    prob = rng.random(50)
    t = (rng.random(50) < 0.5).astype(np.float64)
    prob[7] = 1.5      # not a probability
    prob[9] = np.nan   # not a number
    t[20] = 2.0        # not a binary target
    t[30] = 0.5        # not a class
    # Out-of-range values are dropped with them here (invalid="skip"), or raise with them.
    invalid = "error" if policy == "error" else "skip"
    ev = gpueval.Classification("binary", nan_policy=policy, invalid=invalid, device="cpu")
    ev.update(prob[:25], t[:25]).update(prob[25:], t[25:])
    if policy == "error":
        with pytest.raises(gpueval.NonFiniteError) as info:
            ev.compute()
        assert info.value.batch == 0 and info.value.element == 7
        return
    r = ev.compute()
    assert r.skipped_invalid == 4 and r.count == 46
    if policy == "propagate":
        assert all(math.isnan(v) for v in r.values())
    else:
        ok = np.ones(50, bool)
        ok[[7, 9, 20, 30]] = False
        assert r["accuracy"] == pytest.approx(skm.accuracy_score(t[ok], prob[ok] > 0.5), **TOL)


def test_invalid_multiclass_labels_and_multilabel_samples(rng):
    t = np.array([0, 1, 2, 7, -1, 1])
    r = evaluate("multiclass", np.array([0, 1, 1, 1, 0, 9]), t, num_classes=3, splits=1,
                 invalid="skip")
    assert r.skipped_invalid == 3 and r.count == 3  # target 7, target -1, label 9
    tl = np.array([[0, 1], [1, 3], [1, 1]])
    r = evaluate("multilabel", np.array([[0.2, 0.9], [0.6, 0.1], [0.7, 0.8]]), tl,
                 num_classes=2, splits=1, invalid="skip")
    assert r.skipped_invalid == 1 and r.count == 2 and r["subset_accuracy"] == 1.0


def test_input_that_cannot_be_what_the_spec_says_raises_with_the_fix(rng):
    """What a TorchMetrics user passes by habit: logits, one-hot targets, top_k with labels."""
    logits = rng.standard_normal(100)
    labels = (rng.random(100) < 0.5).astype(np.int64)
    ev = gpueval.Classification("binary", device="cpu").update(logits, labels)
    with pytest.raises(ValueError, match="scores='logits'") as info:
        ev.compute()
    assert info.value.batch == 0 and info.value.element == int(np.argmax((logits < 0) |
                                                                           (logits > 1)))
    r = gpueval.Classification("binary", scores="logits", device="cpu")(logits, labels)
    assert r.count == 100
    r = gpueval.Classification("binary", invalid="skip", device="cpu")(logits, labels)
    assert r.skipped_invalid == int(((logits < 0) | (logits > 1)).sum())
    probs = softmax(rng.standard_normal((8, 4)))
    with pytest.raises(ValueError, match="target.argmax"):
        gpueval.Classification("multiclass", num_classes=4, device="cpu").update(
            probs, np.eye(4, dtype=np.int64)[rng.integers(0, 4, 8)])
    with pytest.raises(ValueError, match="top_k 2 needs scores"):
        gpueval.Classification("multiclass", num_classes=4, top_k=2, device="cpu").update(
            np.array([0, 1, 2]), np.array([0, 1, 1]))
    rows = probs.copy()
    rows[3] *= 0.9  # no longer sums to 1
    with pytest.raises(ValueError, match="each row sums to 1") as info:
        gpueval.Classification("multiclass", num_classes=4, device="cpu")(
            rows, rng.integers(0, 4, 8))
    assert info.value.element == 3


def test_torchmetrics_names_and_repr():
    ev = gpueval.Classification("multilabel", num_labels=3, device="cpu")
    assert ev.spec["num_classes"] == 3
    with pytest.raises(ValueError, match="num_labels is for task='multilabel'"):
        gpueval.Classification("multiclass", num_labels=3)
    text = repr(gpueval.Classification("multiclass", num_classes=5, scores="logits", top_k=2))
    assert "scores='logits'" in text and "top_k=2" in text and "invalid='error'" in text


# ---- determinism and states ------------------------------------------------------------------

def test_bitwise_the_same_for_any_split_and_thread_count(rng):
    n, c = 6000, 7
    prob = softmax(rng.standard_normal((n, c))).astype(np.float32)
    t = rng.integers(0, c, n)
    ref = evaluate("multiclass", prob, t, num_classes=c, metrics="all", top_k=3, splits=1,
                   threads=1).to_dict()["metrics"]
    for splits, threads in ((2, 1), (7, 2), (31, 5)):
        got = evaluate("multiclass", prob, t, num_classes=c, metrics="all", top_k=3,
                       splits=splits, threads=threads).to_dict()["metrics"]
        assert got == ref, (splits, threads)


def test_states_merge_exactly_and_pickle(rng):
    n, c = 3000, 4
    z = rng.standard_normal((n, c))
    t = rng.integers(0, c, n)
    whole = evaluate("multiclass", z, t, num_classes=c, scores="logits", splits=1)
    parts = [gpueval.Classification("multiclass", num_classes=c, scores="logits", device="cpu")
             .update(z[i::3], t[i::3]) for i in range(3)]
    merged = gpueval.Classification("multiclass", num_classes=c, scores="logits", device="cpu")
    for p in parts:
        merged.merge(p.state())
    assert merged.compute().to_dict()["metrics"] == whole.to_dict()["metrics"]
    rebuilt = gpueval.from_state(merged.state())
    assert isinstance(rebuilt, gpueval.Classification)
    assert rebuilt.compute().to_dict()["metrics"] == whole.to_dict()["metrics"]
    clone = pickle.loads(pickle.dumps(merged))
    assert clone.compute().to_dict() == merged.compute().to_dict()
    other = gpueval.Classification("multiclass", num_classes=c + 1, scores="logits",
                                   device="cpu")
    with pytest.raises(gpueval.StateError, match="num_classes 4, this evaluator has 5"):
        other.merge(merged.state())
    with pytest.raises(gpueval.StateError, match="classification family, not regression"):
        gpueval.Regression(device="cpu").merge(merged.state())
    report = gpueval.load_report(whole.to_json())
    assert isinstance(report, gpueval.ClassificationReport) and report["accuracy"] == \
        whole["accuracy"]


def test_bad_specs_and_inputs():
    for kw, expect in [
        (dict(task="multiclass"), "needs num_classes between 2 and 262144"),
        (dict(task="multiclass", num_classes=300000), "between 2 and 262144"),
        (dict(task="multiclass", num_classes=10000, confusion_matrix=True),
         "would take 762 MiB a record; at most 8192 classes"),
        (dict(task="ternary"), "unknown classification task"),
        (dict(task="binary", top_k=2), "top_k applies to multiclass"),
        (dict(task="binary", threshold=1.5), "is not a probability"),
        (dict(task="binary", metrics="hamming_loss"), "not defined for a binary task"),
        (dict(task="binary", metrics="accuracy,nope"), "unknown classification metric 'nope'"),
        (dict(task="binary", scores="odds"), "scores must be"),
        (dict(task="binary", bins=0), "bins must be"),
    ]:
        with pytest.raises(ValueError, match=expect):
            gpueval.Classification(**kw)
    ev = gpueval.Classification("multiclass", num_classes=3, device="cpu")
    with pytest.raises(ValueError, match="class axis 1 has 4 entries, not num_classes 3"):
        ev.update(np.zeros((5, 4)), np.zeros(5, np.int64))
    labels = gpueval.Classification("multiclass", num_classes=3, metrics="log_loss",
                                    device="cpu")
    with pytest.raises(ValueError, match="needs scores, but the predictions are labels"):
        labels.update(np.zeros(5, np.int64), np.zeros(5, np.int64))
