"""scikit-learn's parameters on the classification family, against scikit-learn itself, fed in
uneven batches (empty ones included): zero_division, labels, adjusted balanced accuracy,
micro-averaged AUROC and average precision, the normalised confusion matrix, and the average=
accessor; bad values raise naming the fix."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

import gpueval

SIZES = (13, 0, 1, 40, 0, 26)


def _fold(ev, pred, target):
    start = 0
    for size in SIZES:
        ev.update(pred[start:start + size], target[start:start + size])
        start += size
    assert start == len(target)
    return ev.compute()


def _labels_data(rng, classes=5):
    n = sum(SIZES)
    # class 3 never occurs and class 4 is never predicted: zero denominators on both sides
    y = rng.choice([0, 1, 2, 4], size=n)
    p = np.where(rng.random(n) < 0.6, y, rng.choice([0, 1, 2, 3], size=n))
    p[p == 4] = 0
    return p.astype(np.int64), y.astype(np.int64)


PER_CLASS = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score,
             "jaccard": skm.jaccard_score}


@pytest.mark.parametrize("zero_division", [0, 1])
def test_zero_division_matches_scikit_learn(rng, zero_division):
    p, y = _labels_data(rng)
    r = _fold(gpueval.Classification("multiclass", num_classes=5, pred="labels",
                                     metrics=list(PER_CLASS), zero_division=zero_division,
                                     device="cpu"), p, y)
    for name, fn in PER_CLASS.items():
        want = fn(y, p, labels=range(5), average=None, zero_division=zero_division)
        np.testing.assert_allclose(r.per_class[name], want, rtol=1e-15, err_msg=name)
        for avg in ("macro", "weighted", "micro"):
            want = fn(y, p, average=avg, zero_division=zero_division)
            assert r[f"{name}_{avg}"] == pytest.approx(want, rel=1e-14), (name, avg)


def test_zero_division_nan_is_left_out_of_the_averages(rng):
    # y: classes 0 and 1; predictions 0, 1 and 2. Class 2 has tp + fn = 0: its recall is NaN and
    # left out of the macro average (scikit-learn >= 1.3's rule for zero_division=np.nan).
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0, 2, 1, 1, 0, 0])
    r = gpueval.Classification("multiclass", num_classes=3, pred="labels", metrics="recall",
                               zero_division="nan", device="cpu").update(p, y).compute()
    assert math.isnan(r.per_class["recall"][2])
    assert r["recall_macro"] == pytest.approx((2 / 3 + 2 / 3) / 2, rel=1e-15)
    assert r["recall_weighted"] == pytest.approx(skm.recall_score(y, p, average="weighted"))
    assert r.spec["zero_division"] == "nan"
    nan_too = gpueval.Classification("multiclass", num_classes=3, pred="labels",
                                     metrics="recall", zero_division=float("nan"), device="cpu")
    assert nan_too.update(p, y).compute().to_json() == r.to_json()


@pytest.mark.parametrize("labels", [[0, 2], [2, 0, 3], [1, 3, 4]])
def test_labels_choose_the_averaged_classes(rng, labels):
    p, y = _labels_data(rng)
    r = _fold(gpueval.Classification("multiclass", num_classes=5, pred="labels",
                                     metrics=list(PER_CLASS), labels=labels, device="cpu"), p, y)
    for name, fn in PER_CLASS.items():
        for avg in ("macro", "weighted", "micro"):
            want = fn(y, p, labels=labels, average=avg, zero_division=0)
            assert r[f"{name}_{avg}"] == pytest.approx(want, rel=1e-14), (name, avg, labels)
    assert r.spec["labels"] == labels


def test_labels_on_multilabel(rng):
    n = sum(SIZES)
    y = (rng.random((n, 4)) < 0.4).astype(np.int64)
    p = (rng.random((n, 4)) < 0.5).astype(np.float32)
    r = _fold(gpueval.Classification("multilabel", num_labels=4, metrics="f1,precision",
                                     labels=[3, 1], device="cpu"), p, y)
    for avg in ("macro", "weighted", "micro"):
        assert r[f"f1_{avg}"] == pytest.approx(
            skm.f1_score(y, p, labels=[3, 1], average=avg, zero_division=0), rel=1e-14)


def test_balanced_accuracy_adjusted(rng):
    p, y = _labels_data(rng)
    r = _fold(gpueval.Classification("multiclass", num_classes=5, pred="labels",
                                     metrics="balanced_accuracy,balanced_accuracy_adjusted",
                                     device="cpu"), p, y)
    assert r["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p), rel=1e-14)
    assert r["balanced_accuracy_adjusted"] == pytest.approx(
        skm.balanced_accuracy_score(y, p, adjusted=True), rel=1e-13)
    yb = (rng.random(80) < 0.3).astype(np.int64)
    pb = (rng.random(80) < 0.5).astype(np.int64)
    rb = gpueval.Classification("binary", pred="labels", metrics="balanced_accuracy_adjusted",
                                device="cpu").update(pb, yb).compute()
    assert rb["balanced_accuracy_adjusted"] == pytest.approx(
        skm.balanced_accuracy_score(yb, pb, adjusted=True), rel=1e-13)


def test_micro_auroc_and_average_precision(rng):
    n = sum(SIZES)
    # float16 scores: every distinct score has its own bin, so the values are exact
    s = rng.dirichlet(np.ones(4), size=n).astype(np.float16)
    y = np.array([rng.choice(4, p=row / row.sum()) for row in s.astype(np.float64)])
    r = _fold(gpueval.Classification("multiclass", num_classes=4, metrics="auroc",
                                     invalid="skip", device="cpu"), s, y)
    assert r.skipped_invalid == 0
    assert r["auroc_micro_bound"] == 0
    # scikit-learn's multiclass "ovr" micro is the binarised targets' micro; its multiclass entry
    # point refuses float16 rows, which sum to 1 only within float16's rounding
    onehot = np.eye(4, dtype=np.int64)[y]
    want = skm.roc_auc_score(onehot, s.astype(np.float64), average="micro")
    assert r["auroc_micro"] == pytest.approx(want, rel=1e-14)
    yl = (rng.random((n, 3)) < 0.4).astype(np.int64)
    sl = rng.random((n, 3)).astype(np.float16)
    rl = _fold(gpueval.Classification("multilabel", num_labels=3,
                                      metrics="auroc,average_precision", device="cpu"), sl, yl)
    sl64 = sl.astype(np.float64)
    assert rl["auroc_micro"] == pytest.approx(skm.roc_auc_score(yl, sl64, average="micro"),
                                              rel=1e-14)
    assert rl["average_precision_micro"] == pytest.approx(
        skm.average_precision_score(yl, sl64, average="micro"), rel=1e-14)


@pytest.mark.parametrize("normalize", ["true", "pred", "all"])
def test_normalized_confusion_matrix(rng, normalize):
    p, y = _labels_data(rng)
    r = _fold(gpueval.Classification("multiclass", num_classes=5, pred="labels", device="cpu"),
              p, y)
    want = skm.confusion_matrix(y, p, labels=range(5), normalize=normalize)
    np.testing.assert_allclose(r.normalized_confusion_matrix(normalize), want, rtol=1e-15)


def test_average_accessor(rng):
    p, y = _labels_data(rng)
    r = _fold(gpueval.Classification("multiclass", num_classes=5, pred="labels", device="cpu"),
              p, y)
    assert r.value("f1", average="macro") == r["f1_macro"]
    np.testing.assert_array_equal(r.value("f1", average="none"), r.per_class["f1"])
    np.testing.assert_array_equal(r.value("f1"), r.per_class["f1"])
    assert r.value("accuracy") == r["accuracy"]
    with pytest.raises(ValueError, match="average='binary' is for binary tasks"):
        r.value("f1", average="binary")
    with pytest.raises(ValueError, match="average='samples' is for multilabel tasks"):
        r.value("f1", average="samples")


def test_bad_values_name_the_fix():
    with pytest.raises(ValueError, match="zero_division must be 0, 1 or 'nan'"):
        gpueval.Classification("multiclass", num_classes=3, zero_division=2)
    with pytest.raises(ValueError, match=r"label 7 is not a class index in \[0, 3\)"):
        gpueval.Classification("multiclass", num_classes=3, labels=[0, 7])
    with pytest.raises(ValueError, match="label 1 is listed twice"):
        gpueval.Classification("multiclass", num_classes=3, labels=[1, 1])
    with pytest.raises(ValueError, match="a binary task reports its positive class"):
        gpueval.Classification("binary", labels=[1])


def test_pos_label_zero(rng):
    n = sum(SIZES)
    y = (rng.random(n) < 0.35).astype(np.int64)
    s = np.clip(y * 0.3 + rng.random(n) * 0.7, 0, 1).astype(np.float16)  # exact: 16-bit keys
    names = "precision,recall,f1,jaccard,specificity,accuracy,auroc,average_precision"
    r = _fold(gpueval.Classification("binary", metrics=names, pos_label=0, device="cpu"), s, y)
    s64 = s.astype(np.float64)
    p = (s64 > 0.5).astype(np.int64)
    for name, fn in PER_CLASS.items():
        assert r[name] == pytest.approx(fn(y, p, pos_label=0), rel=1e-14), name
    assert r["specificity"] == pytest.approx(skm.recall_score(y, p, pos_label=1), rel=1e-14)
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, p), rel=1e-15)
    assert r["auroc"] == pytest.approx(skm.roc_auc_score(1 - y, -s64), rel=1e-14)
    assert r["average_precision"] == pytest.approx(
        skm.average_precision_score(y, -s64, pos_label=0), rel=1e-14)
    assert r.roc is None and r.spec["pos_label"] == 0
    with pytest.raises(ValueError, match="pos_label must be 0 or 1"):
        gpueval.Classification("binary", pos_label=2)
    with pytest.raises(ValueError, match="pos_label applies to a binary task"):
        gpueval.Classification("multiclass", num_classes=3, pos_label=0)


def test_class_names_map_strings_and_name_the_report(rng):
    names = ["cat", "dog", "bird"]
    n = sum(SIZES)
    y = rng.integers(0, 3, n)
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
    ys = np.array(names)[y]              # numpy str_ targets
    ps = [names[i] for i in p]           # a list of str predictions
    ev = gpueval.Classification("multiclass", class_names=names, pred="labels", device="cpu")
    start = 0
    for size in SIZES:
        ev.update(ps[start:start + size], ys[start:start + size].astype(object))
        start += size
    r = ev.compute()
    by_index = _fold(gpueval.Classification("multiclass", num_classes=3, pred="labels",
                                            device="cpu"), p, y)
    assert r["f1_macro"] == by_index["f1_macro"]
    assert r.class_names == tuple(names)
    assert r.by_class("recall")["dog"] == pytest.approx(
        skm.recall_score(ys, np.array(ps), labels=["dog"], average=None)[0], rel=1e-15)
    assert r.spec["class_names"] == names
    with pytest.raises(ValueError, match="'cow', which is not in class_names"):
        ev.update(["cow"], ["cat"])
    with pytest.raises(ValueError, match="has no class_names"):
        gpueval.Classification("multiclass", num_classes=3, device="cpu").update(
            np.array(["cat"]), np.array(["dog"]))
    with pytest.raises(ValueError, match="2 class_names for 3 classes"):
        gpueval.Classification("multiclass", num_classes=3, class_names=["a", "b"])
    with pytest.raises(ValueError, match="may not contain commas"):
        gpueval.Classification("multiclass", class_names=["a,b", "c"])


def test_from_state_takes_the_report_options(rng):
    p, y = _labels_data(rng)
    ev = gpueval.Classification("multiclass", num_classes=5, pred="labels", device="cpu")
    ev.update(p, y)
    want = gpueval.Classification("multiclass", num_classes=5, pred="labels", zero_division=1,
                                  labels=[0, 2], device="cpu").update(p, y).compute()
    got = gpueval.Classification.from_state(ev.state(), zero_division=1, labels=[0, 2],
                                            device="cpu").compute()
    assert got["precision_macro"] == want["precision_macro"]
    assert got.spec["labels"] == [0, 2]
    with pytest.raises(TypeError, match="the state fixes the others"):
        gpueval.Classification.from_state(ev.state(), top_k=2)


def test_validate_args_is_torchmetrics_switch_for_invalid_values():
    logits = np.array([-2.0, 0.3, 1.7, 0.9])
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="scores='logits'"):
        ev = gpueval.Classification("binary", validate_args=True, device="cpu")
        ev.update(logits, y)
        ev.compute()
    ev = gpueval.Classification("binary", validate_args=False, device="cpu")
    ev.update(logits, y)
    r = ev.compute()
    assert r.skipped_invalid == 2 and r.count == 2
    assert r.spec["invalid"] == "skip"
    with pytest.raises(ValueError, match="give one of them"):
        gpueval.Classification("binary", validate_args=False, invalid="error")


def _samples_case(rng):
    n, labels = 800, 5
    t = rng.integers(0, 2, (n, labels))
    t[:40] = 0  # samples without positives: recall's and, with no predicted positive, F's 0/0
    s = rng.random((n, labels))
    s[:25] = 0.1
    s[60:80] = 0.9  # predicted positives only
    return t, s, (s > 0.5).astype(int)


SAMPLES = ("precision", "recall", "f1", "fbeta", "jaccard")


@pytest.mark.parametrize("zero_division", [0, 1])
@pytest.mark.parametrize("weighted", [False, True])
def test_average_samples_matches_scikit_learn(rng, zero_division, weighted):
    t, s, y = _samples_case(rng)
    w = rng.random(len(t)) * 3 if weighted else None
    ev = gpueval.Classification("multilabel", num_labels=5, beta=2.0,
                                zero_division=zero_division, device="cpu", threads=2,
                                metrics=[f"{m}_samples" for m in SAMPLES] + ["f1"])
    for rows in (slice(0, 300), slice(300, 300), slice(300, None)):
        ev.update(s[rows], t[rows], weight=None if w is None else w[rows])
    r = ev.compute()
    kw = dict(average="samples", zero_division=zero_division, sample_weight=w)
    want = {"precision": skm.precision_score(t, y, **kw), "recall": skm.recall_score(t, y, **kw),
            "f1": skm.f1_score(t, y, **kw), "fbeta": skm.fbeta_score(t, y, beta=2.0, **kw),
            "jaccard": skm.jaccard_score(t, y, **kw)}
    for m, v in want.items():
        assert abs(r[f"{m}_samples"] - v) <= 1e-12 * abs(v), (m, r[f"{m}_samples"], v)
        assert r.value(m, average="samples") == r[f"{m}_samples"]


def test_average_samples_with_zero_division_nan_leaves_the_sample_out(rng):
    t, s, y = _samples_case(rng)
    ev = gpueval.Classification("multilabel", num_labels=5, zero_division="nan", device="cpu",
                                metrics=[f"{m}_samples" for m in SAMPLES])
    ev.update(s, t)
    r = ev.compute()
    tp = (t & y).sum(1)
    fp = ((1 - t) & y).sum(1)
    fn = (t & (1 - y)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = {"precision": tp / (tp + fp), "recall": tp / (tp + fn),
                "f1": 2 * tp / (2 * tp + fp + fn), "jaccard": tp / (tp + fp + fn)}
    for m, v in want.items():  # scikit-learn >= 1.3's _nanaverage
        assert np.isnan(v).any()
        assert r[f"{m}_samples"] == pytest.approx(np.nanmean(v), rel=1e-12), m


def test_average_samples_states(rng):
    t, s, _ = _samples_case(rng)
    metrics = ["f1_samples", "fbeta_samples", "f1"]
    a = gpueval.Classification("multilabel", num_labels=5, metrics=metrics, beta=2.0,
                               device="cpu")
    a.update(s[:400], t[:400])
    b = gpueval.Classification("multilabel", num_labels=5, metrics=metrics, beta=2.0,
                               device="cpu")
    b.update(s[400:], t[400:])
    b.merge(a.state())
    whole = gpueval.Classification("multilabel", num_labels=5, metrics=metrics, beta=2.0,
                                   device="cpu")
    whole.update(s, t)
    assert dict(b.compute()) == dict(whole.compute())
    # the sums keep their beta: from_state reports them; an evaluator without them drops them
    assert dict(gpueval.Classification.from_state(b.state(), metrics=metrics).compute()) == \
        dict(whole.compute())
    plain = gpueval.Classification("multilabel", num_labels=5, metrics=["f1"], device="cpu")
    plain.merge(b.state())
    assert plain.compute()["f1_macro"] == whole.compute()["f1_macro"]
    # a state without them cannot give them; another beta is another statistic
    with pytest.raises(ValueError, match="no per-sample sums"):
        a.merge(plain.state())
    other = gpueval.Classification("multilabel", num_labels=5, metrics=metrics, beta=0.5,
                                   device="cpu")
    with pytest.raises(ValueError, match="beta"):
        other.merge(a.state())
    with pytest.raises(ValueError, match="average='samples' is for multilabel"):
        r = gpueval.Classification("binary", device="cpu")
        r.update(np.array([0.2, 0.8]), np.array([0, 1]))
        r.compute().value("f1", average="samples")


def _ovo_case(rng, n=1500, classes=4):
    # probabilities in 64ths: rows sum to exactly 1 in float16 and float64 (scikit-learn checks
    # the sums), with many ties
    t = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 1.2 * np.eye(classes)[t]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    k = np.floor(p * 64).astype(int)
    k[np.arange(n), k.argmax(1)] += 64 - k.sum(1)
    return (k / 64).astype(np.float16), t


def test_one_vs_one_auroc_matches_scikit_learn(rng):
    p, t = _ovo_case(rng)
    ev = gpueval.Classification("multiclass", num_classes=4, metrics=["auroc_ovo", "auroc"],
                                device="cpu", threads=2)
    for rows in (slice(0, 500), slice(500, 500), slice(500, None)):
        ev.update(p[rows], t[rows])
    r = ev.compute()
    pd = p.astype(np.float64)
    assert r["auroc_ovo"] == pytest.approx(skm.roc_auc_score(t, pd, multi_class="ovo"),
                                           rel=1e-14, abs=0)
    assert r["auroc_ovo_weighted"] == pytest.approx(
        skm.roc_auc_score(t, pd, multi_class="ovo", average="weighted"), rel=1e-14, abs=0)
    assert r["auroc_ovo_bound"] == 0 and r["auroc_ovo_weighted_bound"] == 0
    # the one-vs-rest values come from the same histograms, unchanged
    assert r["auroc_macro"] == pytest.approx(skm.roc_auc_score(t, pd, multi_class="ovr"),
                                             rel=1e-14, abs=0)
    # float32 scores: within the reported bound
    p32 = pd.astype(np.float32) + np.float32(1e-7) * rng.random(pd.shape).astype(np.float32)
    ev32 = gpueval.Classification("multiclass", num_classes=4, metrics=["auroc_ovo"],
                                  invalid="skip", device="cpu")
    ev32.update(p32, t)
    r32 = ev32.compute()
    want = skm.roc_auc_score(t, p32.astype(np.float64) / p32.astype(np.float64).sum(1)[:, None],
                             multi_class="ovo")
    assert abs(r32["auroc_ovo"] - want) <= r32["auroc_ovo_bound"] + 1e-6


def test_one_vs_one_histograms_merge_and_refuse_the_other_layout(rng):
    p, t = _ovo_case(rng)
    make = lambda metrics: gpueval.Classification(  # noqa: E731
        "multiclass", num_classes=4, metrics=metrics, device="cpu")
    a, b, whole = make(["auroc_ovo"]), make(["auroc_ovo"]), make(["auroc_ovo"])
    a.update(p[:700], t[:700])
    b.update(p[700:], t[700:])
    whole.update(p, t)
    a.merge(b.state())
    assert dict(a.compute()) == dict(whole.compute())
    ovr = make(["auroc"])
    with pytest.raises(ValueError, match="one-vs-one"):
        ovr.merge(a.state())


def test_invalid_values_are_named_with_the_sample_on_the_cpu():
    cases = [
        ("binary", {}, np.array([0.2, 1.7, 0.4]), np.array([0, 1, 1]),
         "target element 1 (target 1, score 1.7)", "scores='logits'"),
        ("multiclass", {"num_classes": 3}, np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]),
         np.array([0, 3]), "target element 1 (target 3, scores [0.1, 0.1, 0.8])",
         "ignore_index="),
        ("multiclass", {"num_classes": 3}, np.array([[0.2, 0.3, 0.6]]), np.array([0]),
         "target element 0 (target 0, scores [0.2, 0.3, 0.6])", "each row sums to 1"),
        ("multilabel", {"num_labels": 2}, np.array([[0.2, 0.3], [0.1, 0.8]]),
         np.array([[0, 1], [1, 2]]), "target element 2 (targets [1, 2], scores [0.1, 0.8])",
         "targets are 0 or 1"),
    ]
    for task, kw, p, t, where, fix in cases:
        ev = gpueval.Classification(task, device="cpu", threads=2, **kw)
        ev.update(p[:0], t[:0])
        ev.update(p, t)
        with pytest.raises(ValueError) as e:
            ev.compute()
        assert "batch 1, " + where in str(e.value) and fix in str(e.value), str(e.value)


def test_gpu_eval_merge_takes_the_report_options(tmp_path, rng, cli):
    import json
    import subprocess
    t = rng.integers(0, 4, 300)
    y = np.where(rng.random(300) < 0.5, t, rng.integers(0, 4, 300))
    y[y == 3] = 2  # class 3 never predicted: its precision is 0/0
    ev = gpueval.Classification("multiclass", num_classes=4, device="cpu")
    ev.update(y, t)
    (tmp_path / "a.state").write_bytes(ev.state())
    run = subprocess.run([cli, "merge", str(tmp_path / "a.state"), "--zero-division", "1",
                          "--labels", "0,1,3", "--format", "json"],
                         capture_output=True, text=True, check=True)
    got = json.loads(run.stdout)["metrics"]
    want = gpueval.Classification.from_state(ev.state(), zero_division=1,
                                             labels=[0, 1, 3]).compute()
    assert got["precision_macro"] == want["precision_macro"]
    assert got["precision_macro"] != ev.compute()["precision_macro"]
    # an option the state fixes is refused, naming it
    reg = gpueval.Regression(device="cpu")
    reg.update(rng.normal(size=(10, 2)), rng.normal(size=(10, 2)))
    (tmp_path / "r.state").write_bytes(reg.state())
    bad = subprocess.run([cli, "merge", str(tmp_path / "r.state"), "--zero-division", "1"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "not a regression report option" in bad.stderr, bad.stderr
