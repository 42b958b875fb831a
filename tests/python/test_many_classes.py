"""Classification at any number of classes: records of per-class counts instead of the C x C
confusion matrix (the default beyond 1,024 classes, confusion_matrix=False below), the same
metrics bit for bit where both exist and scikit-learn's values at C = 2, 7, 10, 1,000 and
50,000, and states."""

import numpy as np
import pytest
from sklearn import metrics as skm

import gpueval

METRICS = ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "fbeta", "jaccard",
           "specificity", "mcc", "cohen_kappa", "cohen_kappa_linear", "cohen_kappa_quadratic",
           "log_loss", "brier", "top_k_accuracy", "ece", "mce"]


def _probabilities(rng, n, classes):
    t = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 1.2 * np.eye(classes)[t]
    return np.exp(logits) / np.exp(logits).sum(1, keepdims=True), t


def _same(a, b):
    for k in a:
        assert a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])), (k, a[k], b[k])


@pytest.mark.parametrize("classes", [2, 7, 10, 1000])
@pytest.mark.parametrize("weighted", [False, True])
def test_per_class_counts_give_the_matrix_metrics_to_the_bit(rng, weighted, classes):
    p, t = _probabilities(rng, 3000, classes)
    w = rng.random(3000) * 3 if weighted else None
    reports = []
    for matrix in (True, False):
        ev = gpueval.Classification("multiclass", num_classes=classes, metrics=METRICS, top_k=2,
                                    confusion_matrix=matrix, device="cpu", threads=2)
        for rows in (slice(0, 1000), slice(1000, 1000), slice(1000, None)):
            ev.update(p[rows], t[rows], weight=None if w is None else w[rows])
        reports.append(ev.compute())
    with_matrix, without = reports
    # scikit-learn's values on the same samples (labels: every class, as the records hold).
    y, labels = p.argmax(1), np.arange(classes)
    want = {"accuracy": skm.accuracy_score(t, y, sample_weight=w),
            "f1_macro": skm.f1_score(t, y, average="macro", labels=np.unique(np.r_[t, y]),
                                     sample_weight=w, zero_division=0),
            "mcc": skm.matthews_corrcoef(t, y, sample_weight=w),
            "cohen_kappa": skm.cohen_kappa_score(t, y, labels=labels, sample_weight=w),
            "log_loss": skm.log_loss(t, p, labels=labels, sample_weight=w)}
    for k, v in want.items():
        for r in reports:
            assert r[k] == pytest.approx(v, rel=1e-9, abs=1e-12), (k, classes)
    if weighted:  # the weighted distance kappas need the matrix: NaN without it
        for k in ("cohen_kappa_linear", "cohen_kappa_quadratic"):
            assert np.isnan(without[k]) and not np.isnan(with_matrix[k])
        names = [k for k in with_matrix if k not in ("cohen_kappa_linear",
                                                     "cohen_kappa_quadratic")]
        # long double sums over classes (marginals) against over cells (matrix)
        for k in names:
            assert without[k] == pytest.approx(with_matrix[k], rel=1e-14, abs=1e-15), k
    else:
        _same(with_matrix, without)
    assert without.confusion_matrix is None
    assert with_matrix.confusion_matrix.shape == (classes, classes)
    # weighted: the matrix's rows summed in double against one exact weight sum per class
    np.testing.assert_allclose(with_matrix.per_class["support"], without.per_class["support"],
                               rtol=1e-14 if weighted else 0)


def test_fifty_thousand_classes_match_scikit_learn(rng):
    classes, n = 50_000, 200_000
    t = rng.integers(0, classes, n)
    y = np.where(rng.random(n) < 0.6, t, rng.integers(0, classes, n))
    ev = gpueval.Classification("multiclass", num_classes=classes, device="cpu", threads=2,
                                metrics=["accuracy", "precision", "recall", "f1", "mcc",
                                         "cohen_kappa", "cohen_kappa_linear",
                                         "cohen_kappa_quadratic"])
    ev.update(y[:70_000], t[:70_000])
    ev.update(y[70_000:], t[70_000:])
    r = ev.compute()
    assert r.confusion_matrix is None
    assert r["accuracy"] == skm.accuracy_score(t, y)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):
        for avg in ("micro", "macro", "weighted"):
            want = fn(t, y, average=avg, zero_division=0)
            assert r[f"{name}_{avg}"] == pytest.approx(want, rel=1e-12), (name, avg)
    # MCC and the kappas from the marginals (scikit-learn would build a 50,000^2 matrix)
    tk = np.bincount(t, minlength=classes).astype(np.longdouble)
    pk = np.bincount(y, minlength=classes).astype(np.longdouble)
    trace = np.longdouble((t == y).sum())
    nn = np.longdouble(n)
    mcc = (trace * nn - (tk * pk).sum()) / np.sqrt((nn * nn - (pk * pk).sum()) *
                                                   (nn * nn - (tk * tk).sum()))
    assert r["mcc"] == pytest.approx(float(mcc), rel=1e-14)
    assert r["cohen_kappa"] == pytest.approx(
        float(1 - nn * (nn - trace) / (nn * nn - (tk * pk).sum())), rel=1e-14)
    i = np.arange(classes, dtype=np.longdouble)
    d = np.abs(t - y).astype(np.longdouble)
    cum_p, cum_ip = np.cumsum(pk) - pk, np.cumsum(i * pk) - i * pk
    lin = (tk * ((i * cum_p - cum_ip) + ((i * pk).sum() - cum_ip - i * pk -
                                         i * (pk.sum() - cum_p - pk)))).sum()
    assert r["cohen_kappa_linear"] == pytest.approx(float(1 - d.sum() * nn / lin), rel=1e-12)
    quad = nn * (pk * i * i).sum() + nn * (tk * i * i).sum() - 2 * (tk * i).sum() * (pk * i).sum()
    assert r["cohen_kappa_quadratic"] == pytest.approx(float(1 - (d * d).sum() * nn / quad),
                                                       rel=1e-12)


def test_language_model_vocabulary_logits(rng):
    import math
    vocab, batch, seq = 32_000, 4, 128
    logits = rng.normal(size=(batch, seq, vocab)).astype(np.float32)  # [B, T, V]
    t = rng.integers(0, vocab, (batch, seq))
    t[:, -9:] = -100  # padding
    ev = gpueval.Classification("multiclass", num_classes=vocab, scores="logits", top_k=5,
                                class_axis=-1, ignore_index=-100, device="cpu", threads=2,
                                metrics=["accuracy", "log_loss", "nll", "perplexity",
                                         "bits_per_token", "top_k_accuracy", "ece"])
    ev.update(logits[:1], t[:1])
    ev.update(logits[1:], t[1:])
    r = ev.compute()
    keep = (t != -100).reshape(-1)
    x = logits.reshape(-1, vocab)[keep].astype(np.longdouble)
    y = t.reshape(-1)[keep]
    m = x.max(1)
    nll = (m + np.log(np.exp(x - m[:, None]).sum(1)) - x[np.arange(len(y)), y]).mean()
    assert r["nll"] == r["log_loss"] == pytest.approx(float(nll), rel=1e-12)
    assert r["perplexity"] == pytest.approx(float(np.exp(nll)), rel=1e-12)
    assert r["bits_per_token"] == pytest.approx(float(nll / np.log(np.longdouble(2))), rel=1e-12)
    assert r["accuracy"] == (x.argmax(1) == y).mean()
    top5 = (np.argsort(-x.astype(np.float64), 1)[:, :5] == y[:, None]).any(1).mean()
    assert r["top_k_accuracy"] == top5
    assert r.count == keep.sum() and r.ignored == (~keep).sum()
    assert math.isfinite(r["ece"])


def test_states_without_the_matrix(rng):
    p, t = _probabilities(rng, 2000, 5)
    make = lambda matrix: gpueval.Classification(  # noqa: E731
        "multiclass", num_classes=5, metrics=["f1", "mcc", "cohen_kappa_quadratic"],
        confusion_matrix=matrix, device="cpu")
    a, b, whole = make(False), make(False), make(False)
    a.update(p[:900], t[:900])
    b.update(p[900:], t[900:])
    whole.update(p, t)
    a.merge(b.state())
    _same(a.compute(), whole.compute())
    again = gpueval.Classification.from_state(a.state(), metrics=["f1", "mcc"]).compute()
    for k in ("f1_macro", "f1_micro", "mcc"):
        assert again[k] == whole.compute()[k], k
    with pytest.raises(ValueError, match="confusion_matrix"):
        make(True).merge(a.state())
