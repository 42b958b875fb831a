"""Classification by_axis: the per-sample metrics per index of a breakdown axis (loss and
accuracy by sequence position), against float64 / long-double references."""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from sklearn import metrics as skm

import gpueval


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _lm(rng, batch=5, seq=24, vocab=300):
    logits = rng.normal(size=(batch, seq, vocab)).astype(np.float32)  # [B, T, V]
    logits[..., 0] += np.linspace(0, 4, seq, dtype=np.float32)  # later positions easier
    t = rng.integers(0, vocab, (batch, seq))
    t[rng.random((batch, seq)) < 0.3] = 0
    t[:, -5:] = -100  # padding at the end of every sequence
    t[0, :] = -100    # and one whole sequence
    return logits, t


def _reference_nll(logits, t):
    x = logits.astype(np.longdouble)
    m = x.max(-1)
    lse = m + np.log(np.exp(x - m[..., None]).sum(-1))
    y = np.where(t < 0, 0, t)
    return lse - np.take_along_axis(x, y[..., None], -1)[..., 0]


def test_language_model_metrics_by_position(rng):
    logits, t = _lm(rng)
    vocab = logits.shape[-1]
    ev = gpueval.Classification("multiclass", num_classes=vocab, scores="logits", class_axis=-1,
                                ignore_index=-100, by_axis=1, top_k=5, device="cpu", threads=2,
                                metrics=["accuracy", "top_k_accuracy", "nll", "perplexity",
                                         "bits_per_token", "log_loss", "brier"])
    ev.update(logits[:2], t[:2])  # any batch split gives the same bits
    ev.update(logits[2:], t[2:])
    r = ev.compute()
    by = r.by_axis
    assert by["axis"] == 1
    keep = t != -100
    np.testing.assert_array_equal(by["count"], keep.sum(0))
    nll = _reference_nll(logits, t)
    x = logits.astype(np.float64)
    right = x.argmax(-1) == t
    rank = (x > np.take_along_axis(x, np.where(t < 0, 0, t)[..., None], -1)).sum(-1)
    for p in range(t.shape[1]):
        k = keep[:, p]
        if not k.any():  # the padded positions: no sample, NaN
            assert np.isnan(by["nll"][p]) and np.isnan(by["accuracy"][p])
            continue
        want = nll[k, p].mean()
        assert by["nll"][p] == pytest.approx(float(want), rel=1e-12)
        assert by["log_loss"][p] == by["nll"][p]
        assert by["perplexity"][p] == pytest.approx(float(np.exp(want)), rel=1e-12)
        assert by["bits_per_token"][p] == pytest.approx(float(want / np.log(np.longdouble(2))),
                                                        rel=1e-12)
        assert by["accuracy"][p] == right[k, p].mean()
        assert by["top_k_accuracy"][p] == (rank[k, p] < 5).mean()
        e = np.exp(x[k, p] - x[k, p].max(-1, keepdims=True))
        prob = e / e.sum(-1, keepdims=True)
        prob[np.arange(k.sum()), t[k, p]] -= 1
        assert by["brier"][p] == pytest.approx((prob ** 2).sum(-1).mean(), rel=1e-9)
    # The positions add up to the headline.
    counted = by["count"] > 0
    assert (by["nll"][counted] * by["count"][counted]).sum() / by["count"].sum() == \
        pytest.approx(r["nll"], rel=1e-12)
    whole = gpueval.Classification("multiclass", num_classes=vocab, scores="logits",
                                   class_axis=-1, ignore_index=-100, by_axis=1, top_k=5,
                                   metrics=["accuracy", "top_k_accuracy", "nll", "perplexity",
                                            "bits_per_token", "log_loss", "brier"],
                                   device="cpu", threads=1)(logits, t)
    assert whole.to_dict()["by_axis"] == r.to_dict()["by_axis"]


def test_an_inner_axis_a_negative_axis_and_weights(rng):
    # Scores [N, C, H, W], targets [N, H, W]: by_axis=-1 is W, each index spanning N x H samples.
    n, c, h, w = 40, 4, 3, 6
    logits = rng.normal(size=(n, c, h, w))
    t = rng.integers(0, c, (n, h, w))
    weight = rng.random((n, h)) * 3
    ev = gpueval.Classification("multiclass", num_classes=c, scores="logits", by_axis=-1,
                                metrics=["accuracy", "log_loss"], device="cpu")
    r = ev(logits, t, weight=weight)
    by = r.by_axis
    assert by["axis"] == 2
    wt = np.broadcast_to(weight[..., None], t.shape)
    x = np.moveaxis(logits, 1, -1)
    prob = np.exp(x - x.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    for j in range(w):
        assert by["count"][j] == pytest.approx(wt[..., j].sum(), rel=1e-12)  # weight sums
        yt, pj = t[..., j].reshape(-1), prob[..., j, :].reshape(-1, c)
        wj = wt[..., j].reshape(-1)
        assert by["accuracy"][j] == pytest.approx(
            skm.accuracy_score(yt, pj.argmax(1), sample_weight=wj), rel=1e-12)
        assert by["log_loss"][j] == pytest.approx(
            skm.log_loss(yt, pj, sample_weight=wj, labels=range(c)), rel=1e-9)


def test_binary_probabilities_by_position(rng):
    p = rng.random((300, 8))
    t = (rng.random((300, 8)) < p).astype(np.int64)
    mask = rng.random((300, 8)) < 0.9
    r = gpueval.Classification("binary", by_axis=1, device="cpu")(p, t, mask=mask)
    by = r.by_axis
    assert set(by) >= {"axis", "count", "accuracy", "log_loss", "brier"}
    for j in range(8):
        m = mask[:, j]
        assert by["count"][j] == m.sum()
        assert by["accuracy"][j] == skm.accuracy_score(t[m, j], p[m, j] > 0.5)
        assert by["log_loss"][j] == pytest.approx(skm.log_loss(t[m, j], p[m, j], labels=[0, 1]),
                                                  rel=1e-9)
        assert by["brier"][j] == pytest.approx(skm.brier_score_loss(t[m, j], p[m, j]),
                                               rel=1e-12)


def test_states_merge_and_refuse_another_breakdown(rng):
    logits, t = _lm(rng, batch=6, seq=10, vocab=50)
    make = lambda by: gpueval.Classification(  # noqa: E731
        "multiclass", num_classes=50, scores="logits", class_axis=-1, ignore_index=-100,
        by_axis=by, metrics=["accuracy", "perplexity"], device="cpu")
    a, b, whole = make(1), make(1), make(1)
    a.update(logits[:4], t[:4])
    b.update(logits[4:], t[4:])
    whole.update(logits, t)
    a.merge(b.state())
    assert a.compute().to_dict()["by_axis"] == whole.compute().to_dict()["by_axis"]
    again = gpueval.Classification.from_state(a.state(), metrics=["accuracy", "perplexity"])
    assert again.compute().to_dict()["by_axis"] == whole.compute().to_dict()["by_axis"]
    with pytest.raises(ValueError, match="by_axis"):
        make(None).merge(a.state())
    # The report reads back from its JSON, breakdown included.
    r = whole.compute()
    back = gpueval.ClassificationReport.from_json(json.dumps(r.to_dict()))
    np.testing.assert_array_equal(back.by_axis["perplexity"], r.by_axis["perplexity"])


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="batch axis"):
        gpueval.Classification("binary", by_axis=0)
    with pytest.raises(ValueError, match="multilabel"):
        gpueval.Classification("multilabel", num_classes=3, by_axis=1)
    with pytest.raises(ValueError, match="name none of them"):
        gpueval.Classification("multiclass", num_classes=3, by_axis=1, metrics=["f1"])
    ev = gpueval.Classification("multiclass", num_classes=3, by_axis=2, device="cpu")
    with pytest.raises(ValueError, match="by_axis 2"):
        ev.update(np.full((4, 3, 5), 1 / 3), np.zeros((4, 5), np.int64))
    plain = gpueval.Classification("binary", device="cpu")(np.array([0.2, 0.8]), np.array([0, 1]))
    assert plain.by_axis is None


def test_plot_by_axis(rng):
    pytest.importorskip("matplotlib")
    logits, t = _lm(rng, batch=3, seq=12, vocab=40)
    r = gpueval.Classification("multiclass", num_classes=40, scores="logits", class_axis=-1,
                               ignore_index=-100, by_axis=1, metrics=["accuracy", "perplexity"],
                               device="cpu")(logits, t)
    fig, ax = r.plot("by_axis")
    assert ax.get_ylabel() == "perplexity"
    fig, ax = r.plot("by_axis", metric="accuracy")
    assert ax.get_ylabel() == "accuracy"


@pytest.mark.skipif("GPUEVAL_CLI" not in os.environ, reason="needs the gpu-eval binary")
def test_cli_by_axis_matches_python(rng, tmp_path):
    logits, t = _lm(rng, batch=4, seq=9, vocab=30)
    np.save(tmp_path / "pred.npy", logits)
    np.save(tmp_path / "target.npy", t)
    out = subprocess.run([os.environ["GPUEVAL_CLI"], "--task", "multiclass", "--num-classes",
                          "30", "--scores", "logits", "--class-axis", "-1", "--by-axis", "1",
                          "--ignore-index", "-100", "--metrics", "accuracy,nll,perplexity",
                          "--pred", str(tmp_path / "pred.npy"), "--target",
                          str(tmp_path / "target.npy"), "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    cli = json.loads(out)["by_axis"]
    py = gpueval.Classification("multiclass", num_classes=30, scores="logits", class_axis=-1,
                                ignore_index=-100, by_axis=1,
                                metrics=["accuracy", "nll", "perplexity"])(logits, t)
    assert cli == py.to_dict()["by_axis"]


def test_trainer_hook_streams_batches_and_shifts(rng):
    # transformers.Trainer(batch_eval_metrics=True) calls compute_metrics per batch with
    # EvalPrediction(predictions=logits [B, T, V], label_ids=[B, T]) and compute_result on the
    # last: the epoch's metrics over the shifted (next-token) pairs, then a fresh epoch.
    logits, t = _lm(rng, batch=6, seq=16, vocab=80)
    hook = gpueval.TokenMetrics(80, top_k=5, by_axis=1, device="cpu")
    for epoch in range(2):
        for k, (a, b) in enumerate([(0, 2), (2, 5), (5, 6)]):
            out = hook(types.SimpleNamespace(predictions=(logits[a:b], None), label_ids=t[a:b]),
                       compute_result=k == 2)
            assert (out == {}) == (k < 2)
        want = gpueval.Classification("multiclass", num_classes=80, scores="logits",
                                      class_axis=-1, ignore_index=-100, top_k=5, by_axis=1,
                                      metrics=list(out), device="cpu")(logits[:, :-1], t[:, 1:])
        assert out == {name: want[name] for name in out}
        assert set(out) == {"perplexity", "nll", "bits_per_token", "accuracy",
                            "top_k_accuracy", "ece"}
        assert hook.last_report.by_axis["count"].shape == (15,)
    nll = _reference_nll(logits[:, :-1], t[:, 1:])
    assert out["nll"] == pytest.approx(float(nll[t[:, 1:] != -100].mean()), rel=1e-12)


def test_language_model_example_runs():
    pytest.importorskip("transformers")
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python",
                           "language_model.py")
    out = subprocess.run([sys.executable, example, "--batches", "2", "--vocab", "500"],
                         check=True, capture_output=True, text=True).stdout
    assert "eval_perplexity" in out


def test_trainer_hook_any_length_failures_and_tuples(rng):
    # Dynamic padding: batches of different lengths mix without a breakdown (each read as
    # [B * T, V]); an evaluation that raised leaves nothing behind; the logits are found among
    # a model's outputs by their shape; a misspelt metric fails at construction.
    logits, t = _lm(rng, batch=4, seq=12, vocab=60)
    short, ts = _lm(rng, batch=3, seq=7, vocab=60)
    hook = gpueval.TokenMetrics(60, top_k=5, device="cpu")
    hook(types.SimpleNamespace(predictions=logits, label_ids=t), compute_result=False)
    aux = np.zeros(3)
    out = hook(types.SimpleNamespace(predictions=(aux, short), label_ids=ts), compute_result=True)
    x = np.concatenate([logits[:, :-1].reshape(-1, 60), short[:, :-1].reshape(-1, 60)])
    y = np.concatenate([t[:, 1:].reshape(-1), ts[:, 1:].reshape(-1)])
    keep = y != -100
    want = _reference_nll(x[keep][None], y[keep][None])[0].mean()
    assert out["nll"] == pytest.approx(float(want), rel=1e-12)
    assert hook.last_report.count == keep.sum()
    bad = t.copy()
    bad[0, 3] = 99  # outside the vocabulary: compute() raises
    with pytest.raises(ValueError):
        hook(types.SimpleNamespace(predictions=logits, label_ids=bad), compute_result=True)
    again = hook(types.SimpleNamespace(predictions=short, label_ids=ts), compute_result=True)
    assert hook.last_report.count == (ts[:, 1:] != -100).sum()  # nothing of the failed one
    assert set(again) == set(out)
    with pytest.raises(ValueError, match="perplexty"):
        gpueval.TokenMetrics(60, metrics=["perplexty"])


def test_binary_curves_round_trip_through_json_pickle_and_the_page(rng, tmp_path):
    import copy
    import pickle
    p = rng.random(500)
    t = (rng.random(500) < p).astype(np.int64)
    r = gpueval.Classification("binary", device="cpu")(p, t)
    for back in (gpueval.load_report(r.to_json()), pickle.loads(pickle.dumps(r)),
                 copy.deepcopy(r), gpueval.ClassificationReport.from_dict(r.to_dict())):
        assert back.to_dict() == r.to_dict()
        assert json.loads(back.to_json()) == json.loads(r.to_json())
        np.testing.assert_array_equal(back.roc["threshold"], r.roc["threshold"])
    assert r.to_dict()["roc"]["threshold"][0] is None  # +inf, as the JSON writes it
    pytest.importorskip("matplotlib")
    from gpueval import report as page
    (tmp_path / "run.json").write_text(gpueval.load_report(r.to_json()).to_json())
    assert page.main([str(tmp_path / "run.json"), "-o", str(tmp_path / "page.html")]) in (0, None)
    lm = gpueval.Classification("multiclass", num_classes=40, scores="logits", class_axis=-1,
                                by_axis=1, metrics=["perplexity", "accuracy"], device="cpu")(
        rng.normal(size=(3, 6, 40)), rng.integers(0, 40, (3, 6)))
    (tmp_path / "lm.json").write_text(lm.to_json())  # no per-class metrics: no bar chart
    assert page.main([str(tmp_path / "lm.json"), "-o", str(tmp_path / "lm.html")]) in (0, None)


@pytest.mark.skipif("GPUEVAL_CLI" not in os.environ, reason="needs the gpu-eval binary")
def test_cli_merges_breakdown_states(rng, tmp_path):
    # States saved by two Python evaluators merge in gpu-eval into the breakdown of both.
    logits, t = _lm(rng, batch=6, seq=8, vocab=30)
    make = lambda: gpueval.Classification(  # noqa: E731
        "multiclass", num_classes=30, scores="logits", class_axis=-1, ignore_index=-100,
        by_axis=1, metrics=["accuracy", "nll"], device="cpu")
    a, b, whole = make(), make(), make()
    a.update(logits[:2], t[:2])
    b.update(logits[2:], t[2:])
    whole.update(logits, t)
    (tmp_path / "a.state").write_bytes(bytes(a.state()))
    (tmp_path / "b.state").write_bytes(bytes(b.state()))
    out = subprocess.run([os.environ["GPUEVAL_CLI"], "merge", str(tmp_path / "a.state"),
                          str(tmp_path / "b.state"), "--metrics", "accuracy,nll", "--format",
                          "json"], check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["by_axis"] == whole.compute().to_dict()["by_axis"]
