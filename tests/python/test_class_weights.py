"""Classification sample weights: scikit-learn's ``sample_weight`` for every metric it has, in
uneven batches (empty ones included); a 0/1 weight is the mask to the bit; whole weights are
repeated samples; any batch split, thread count, widening or merge gives the same bits; bad
weights raise naming the element and the fix."""

import json
import subprocess

import numpy as np
import pytest
from sklearn import metrics as skm

import gpueval
from weighted_batches import fold, rel, spread_weights

SIZES = (37, 0, 1, 400, 62, 0, 500)  # uneven batches, empty ones included
N = sum(SIZES)
C = 5


def _weights(rng):
    return spread_weights(rng, N)


def _fold(ev, p, t, w, **kw):
    return fold(ev, p, t, w, SIZES, **kw)


def _same(a, b):
    """Every metric of b, bit for bit in a (a report from a state has the default metrics)."""
    for k in b:
        assert a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])), (k, a[k], b[k])


def _binary(rng):
    t = rng.integers(0, 2, N)
    # float16 scores: the histograms key every distinct score (exact AUROC and AP)
    s = np.clip(0.35 * t + rng.random(N) * 0.65, 0, 1).astype(np.float16)
    return s, t


def _multiclass(rng):
    t = rng.integers(0, C, N)
    logits = rng.normal(size=(N, C)) + 1.5 * np.eye(C)[t]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return p, t


BINARY = ["accuracy", "precision", "recall", "f1", "fbeta", "specificity", "jaccard", "mcc",
          "cohen_kappa", "balanced_accuracy", "log_loss", "brier", "auroc",
          "average_precision"]


def test_binary_matches_scikit_learn(rng):
    s, t = _binary(rng)
    w = _weights(rng)
    r = _fold(gpueval.Classification("binary", metrics=BINARY, beta=2.0, device="cpu",
                                     threads=2), s, t, w)
    y = (s > 0.5).astype(int)
    sd = s.astype(np.float64)
    want = {
        "accuracy": skm.accuracy_score(t, y, sample_weight=w),
        "precision": skm.precision_score(t, y, sample_weight=w),
        "recall": skm.recall_score(t, y, sample_weight=w),
        "f1": skm.f1_score(t, y, sample_weight=w),
        "fbeta": skm.fbeta_score(t, y, beta=2.0, sample_weight=w),
        "specificity": skm.recall_score(t, y, pos_label=0, sample_weight=w),
        "jaccard": skm.jaccard_score(t, y, sample_weight=w),
        "mcc": skm.matthews_corrcoef(t, y, sample_weight=w),
        "cohen_kappa": skm.cohen_kappa_score(t, y, sample_weight=w),
        "balanced_accuracy": skm.balanced_accuracy_score(t, y, sample_weight=w),
        "log_loss": skm.log_loss(t, sd, sample_weight=w),
        "brier": skm.brier_score_loss(t, sd, sample_weight=w),
        "auroc": skm.roc_auc_score(t, sd, sample_weight=w),
        "average_precision": skm.average_precision_score(t, sd, sample_weight=w),
    }
    worst = {k: rel(r[k], v) for k, v in want.items()}
    # counts: the weights' fixed-point sums (2^-64) against float64 sums; the real-valued sums'
    # terms rounded to 2^-40
    assert all(v < 1e-12 for v in worst.values()), {k: v for k, v in worst.items() if v >= 1e-12}
    assert r["auroc_bound"] == 0 and r["average_precision_bound"] == 0
    assert r.weighted and r.count == np.count_nonzero(w)
    assert r.weight_sum == pytest.approx(w.sum(), rel=1e-15)
    cm = skm.confusion_matrix(t, y, sample_weight=w)
    np.testing.assert_allclose(r.confusion_matrix, cm, rtol=1e-14)
    assert r.confusion_matrix.dtype == np.float64


def test_multiclass_matches_scikit_learn(rng):
    p, t = _multiclass(rng)
    w = _weights(rng)
    metrics = ["accuracy", "precision", "recall", "f1", "jaccard", "mcc", "cohen_kappa",
               "cohen_kappa_linear", "cohen_kappa_quadratic", "balanced_accuracy",
               "log_loss", "brier", "top_k_accuracy"]
    r = _fold(gpueval.Classification("multiclass", num_classes=C, metrics=metrics, top_k=2,
                                     device="cpu", threads=2), p, t, w)
    y = p.argmax(1)
    want = {"accuracy": skm.accuracy_score(t, y, sample_weight=w),
            "mcc": skm.matthews_corrcoef(t, y, sample_weight=w),
            "cohen_kappa": skm.cohen_kappa_score(t, y, sample_weight=w),
            "cohen_kappa_linear": skm.cohen_kappa_score(t, y, weights="linear", sample_weight=w),
            "cohen_kappa_quadratic": skm.cohen_kappa_score(t, y, weights="quadratic",
                                                           sample_weight=w),
            "balanced_accuracy": skm.balanced_accuracy_score(t, y, sample_weight=w),
            "log_loss": skm.log_loss(t, p, sample_weight=w),
            "brier": np.average(((p - np.eye(C)[t]) ** 2).sum(1), weights=w),
            "top_k_accuracy": skm.top_k_accuracy_score(t, p, k=2, sample_weight=w)}
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score), ("jaccard", skm.jaccard_score)):
        for avg in ("micro", "macro", "weighted"):
            want[f"{name}_{avg}"] = fn(t, y, average=avg, sample_weight=w)
        np.testing.assert_allclose(r.per_class[name], fn(t, y, average=None, sample_weight=w),
                                   rtol=1e-13)
    worst = {k: rel(r[k], v) for k, v in want.items()}
    assert all(v < 1e-12 for v in worst.values()), {k: v for k, v in worst.items() if v >= 1e-12}
    np.testing.assert_allclose(r.per_class["support"],
                               np.bincount(t, weights=w, minlength=C), rtol=1e-14)


def test_multilabel_matches_scikit_learn(rng):
    t = rng.integers(0, 2, (N, 4))
    s = np.clip(0.4 * t + 0.6 * rng.random((N, 4)), 0, 1).astype(np.float16)
    w = _weights(rng)
    metrics = ["accuracy", "subset_accuracy", "hamming_loss", "precision", "recall", "f1",
               "auroc", "average_precision"]
    r = _fold(gpueval.Classification("multilabel", num_labels=4, metrics=metrics,
                                     device="cpu", threads=2), s, t, w)
    y = (s > 0.5).astype(int)
    sd = s.astype(np.float64)
    want = {"subset_accuracy": skm.accuracy_score(t, y, sample_weight=w),
            "hamming_loss": skm.hamming_loss(t, y, sample_weight=w)}
    for avg in ("micro", "macro", "weighted"):
        want[f"precision_{avg}"] = skm.precision_score(t, y, average=avg, sample_weight=w)
        want[f"recall_{avg}"] = skm.recall_score(t, y, average=avg, sample_weight=w)
        want[f"f1_{avg}"] = skm.f1_score(t, y, average=avg, sample_weight=w)
        want[f"auroc_{avg}"] = skm.roc_auc_score(t, sd, average=avg, sample_weight=w)
        want[f"average_precision_{avg}"] = skm.average_precision_score(
            t, sd, average=avg, sample_weight=w)
    worst = {k: rel(r[k], v) for k, v in want.items()}
    assert all(v < 1e-12 for v in worst.values()), {k: v for k, v in worst.items() if v >= 1e-12}


def test_zero_one_weights_are_the_mask_to_the_bit(rng):
    p, t = _multiclass(rng)
    keep = rng.random(N) < 0.7
    spec = dict(num_classes=C, top_k=2, metrics=["accuracy", "f1", "mcc", "cohen_kappa",
                                                 "log_loss", "brier", "ece", "auroc",
                                                 "average_precision", "top_k_accuracy"])
    masked = gpueval.Classification("multiclass", device="cpu", **spec)
    masked.update(p, t, mask=keep)
    weighted = gpueval.Classification("multiclass", device="cpu", **spec)
    weighted.update(p, t, weight=keep.astype(np.float32))
    a, b = masked.compute(), weighted.compute()
    _same(a, b)
    np.testing.assert_array_equal(a.confusion_matrix, b.confusion_matrix)


def test_whole_weights_are_repeated_samples(rng):
    s, t = _binary(rng)
    k = rng.integers(0, 4, N)
    spec = dict(metrics=["accuracy", "f1", "mcc", "auroc", "average_precision"])
    weighted = gpueval.Classification("binary", device="cpu", **spec)
    weighted.update(s, t, weight=k.astype(np.float64))
    repeated = gpueval.Classification("binary", device="cpu", **spec)
    repeated.update(np.repeat(s, k), np.repeat(t, k))
    _same(weighted.compute(), repeated.compute())


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_any_split_thread_count_widening_or_merge_gives_the_same_bits(rng, task):
    if task == "binary":
        p, t = _binary(rng)
        spec = dict(metrics=["accuracy", "f1", "log_loss", "ece", "auroc"])
    elif task == "multiclass":
        p, t = _multiclass(rng)
        spec = dict(num_classes=C, metrics=["accuracy", "f1", "log_loss", "mcc", "auroc"],
                    scores="probabilities")
    else:
        t = rng.integers(0, 2, (N, 3))
        p = rng.normal(size=(N, 3))
        spec = dict(num_labels=3, scores="logits", metrics=["f1", "subset_accuracy",
                                                            "log_loss", "auroc"])
    w = _weights(rng)
    make = lambda threads=1: gpueval.Classification(task, device="cpu", threads=threads, **spec)  # noqa: E731
    one = make()
    one.update(p, t, weight=w)
    want = one.compute()
    _same(_fold(make(2), p, t, w), want)
    # unweighted batches first, then weighted ones: the record widens, each sample weighing 1
    w1 = w.copy()
    w1[:100] = 1.0
    late = make()
    late.update(p[:100], t[:100])
    late.update(p[100:], t[100:], weight=w[100:])
    ref = make()
    ref.update(p, t, weight=w1)
    _same(late.compute(), ref.compute())
    # a weighted state merged into an unweighted evaluator, and the other way round
    a, b = make(), make()
    a.update(p[:100], t[:100])
    b.update(p[100:], t[100:], weight=w[100:])
    a.merge(b.state())
    _same(a.compute(), ref.compute())
    a, b = make(), make()
    a.update(p[:100], t[:100])
    b.update(p[100:], t[100:], weight=w[100:])
    b.merge(a.state())
    _same(b.compute(), ref.compute())
    # the state round trip keeps the weights
    c = gpueval.Classification.from_state(one.state(), metrics=spec["metrics"])
    _same(c.compute(), want)
    assert json.loads(json.dumps(want.to_dict()))["weight_sum"] == want.weight_sum


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf, 2.0 ** 32])
def test_bad_weights_raise_naming_the_element(rng, bad):
    s, t = _binary(rng)
    w = _weights(rng)
    w[17] = bad
    ev = gpueval.Classification("binary", device="cpu")
    with pytest.raises(ValueError, match=r"batch 0, weight element 17 is .*scale large weights"):
        ev.update(s, t, weight=w)
    ev.update(s, t, weight=np.abs(np.nan_to_num(w, posinf=1.0)) % 4.0)  # nothing was folded
    assert ev.compute().count == N - np.count_nonzero(np.abs(np.nan_to_num(w, posinf=1.0)) % 4.0 == 0)


def test_weights_refused_where_they_cannot_mean_what_the_caller_said(rng):
    t = rng.integers(0, 2, (20, 3))
    s = rng.random((20, 3))
    ev = gpueval.Classification("multilabel", num_labels=3, device="cpu")
    with pytest.raises(ValueError, match="multilabel weights are per sample"):
        ev.update(s, t, weight=np.ones((20, 3)))
    with pytest.raises(ValueError, match="a weight is a float type"):
        ev.update(s, t, weight=np.ones(20, dtype=np.int32))
    with pytest.raises(ValueError, match="does not fit target"):
        ev.update(s, t, weight=np.ones(19))


def test_gpu_eval_weight_files_give_the_packages_json(tmp_path, rng, cli):
    p, t = _multiclass(rng)
    p = p.astype(np.float32)
    w = _weights(rng).astype(np.float32)
    metrics = "accuracy,f1,mcc,log_loss"
    ev = gpueval.Classification("multiclass", num_classes=C, metrics=metrics.split(","),
                                device="cpu", threads=2)
    start = 0
    for i, size in enumerate((40, 0, N - 40)):
        rows = slice(start, start + size)
        np.save(tmp_path / f"p{i}.npy", p[rows])
        np.save(tmp_path / f"t{i}.npy", t[rows])
        np.save(tmp_path / f"w{i}.npy", w[rows])
        ev.update(p[rows], t[rows], weight=w[rows])
        start += size
    got = ev.compute().to_dict()
    files = lambda name: [str(tmp_path / f"{name}{i}.npy") for i in range(3)]  # noqa: E731
    args = [cli, "--task", "multiclass", "--num-classes", str(C), "--metrics", metrics,
            "--device", "cpu", "--threads", "2", "--format", "json", "--no-progress",
            "--pred", *files("p"), "--target", *files("t"), "--weight", *files("w")]
    want = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    for scope in ("metrics", "per_class", "confusion_matrix", "count", "weight_sum"):
        assert got[scope] == want[scope], scope
