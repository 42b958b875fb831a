"""Hugging Face ``transformers.Trainer``'s ``compute_metrics`` for language models, streamed.

    args = TrainingArguments(..., batch_eval_metrics=True)
    trainer = Trainer(model, args, eval_dataset=...,
                      compute_metrics=gpueval.TokenMetrics(vocab_size))
    trainer.evaluate()   # {"eval_perplexity": ..., "eval_accuracy": ..., ...}

With ``batch_eval_metrics=True`` the Trainer hands ``compute_metrics`` each evaluation batch's
logits and labels (as tensors, on the model's device) and asks for the result after the last
one (``compute_result=True``), instead of concatenating every batch's logits on the host
([batches x B, T, V] float32: gigabytes for a real vocabulary). ``TokenMetrics`` folds each batch
into a gpueval evaluator (one log-sum-exp a token, exact fixed-point sums, nothing kept) and
returns the epoch's metrics at the end. It imports nothing from ``transformers``: any caller
that passes an object with ``predictions`` and ``label_ids`` works.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from ._classification import Classification
from ._classification_report import ClassificationReport

DEFAULT_METRICS = ("perplexity", "nll", "bits_per_token", "accuracy", "top_k_accuracy", "ece")


class TokenMetrics:
    """``compute_metrics`` for ``Trainer(..., args=TrainingArguments(batch_eval_metrics=True))``.

    Args:
        vocab_size: the logits' last axis (``model.config.vocab_size``).
        metrics: gpueval classification metric names (``top_k_accuracy`` needs ``top_k``);
            checked here, not at the first evaluation batch.
        top_k: k of ``top_k_accuracy`` (None: leave it out).
        shift: causal language models: position t's logits predict token t + 1, so each label
            moves one position left (the last becomes ``ignore_index``), what the model's own
            loss does. False for masked language models and token classifiers.
        ignore_index: labels equal to it are not counted (-100: the Trainer's padding; the
            Trainer pads labels across processes with -100 whatever this is).
        by_axis: None, or 1 for the metrics by token position (``last_report.by_axis``); a
            breakdown needs every batch padded to one length (``padding="max_length"``).
            Without it, batches of any length mix (each is read as ``[B * T, V]``).
        device, threads: the evaluator's (``"auto"``: the logits' device).

    After each evaluation, ``last_report`` holds the full :class:`ClassificationReport`
    (calibration bins, counts, the breakdown). The next evaluation starts from zero, also after
    one that raised; ``reset()`` drops the batches of an evaluation the caller abandoned.
    """

    def __init__(self, vocab_size: int, metrics: Sequence[str] = DEFAULT_METRICS,
                 top_k: Optional[int] = 5, shift: bool = True, ignore_index: int = -100,
                 by_axis: Optional[int] = None, device: Any = "auto", threads: int = 0) -> None:
        names = [m for m in metrics if top_k is not None or m != "top_k_accuracy"]
        self._vocab = int(vocab_size)
        self._ignore = int(ignore_index)
        self._spec = dict(task="multiclass", num_classes=self._vocab, scores="logits",
                          class_axis=-1, ignore_index=self._ignore, top_k=top_k,
                          metrics=names, by_axis=by_axis, device=device, threads=threads)
        self._by_axis = by_axis is not None
        self._shift = bool(shift)
        self._ev: Optional[Classification] = Classification(**self._spec)  # checks the spec
        self.last_report: Optional[ClassificationReport] = None

    def reset(self) -> None:
        """Forget the batches of an evaluation in progress."""
        self._ev = None

    def _logits(self, predictions: Any) -> Any:
        """The logits among what the model returned: the [B, T, vocab_size] array."""
        if not isinstance(predictions, (tuple, list)):
            return predictions
        for p in predictions:
            shape = getattr(p, "shape", ())
            if len(shape) == 3 and shape[-1] == self._vocab:
                return p
        raise ValueError(f"no [batch, length, {self._vocab}] logits among the predictions "
                         f"(shapes {[tuple(getattr(p, 'shape', ())) for p in predictions]})")

    def __call__(self, eval_pred: Any, compute_result: bool = True) -> Dict[str, float]:
        logits, labels = self._logits(eval_pred.predictions), eval_pred.label_ids
        if self._shift and self._by_axis:  # one length: the positions line up
            logits, labels = logits[:, :-1], labels[:, 1:]
        elif self._shift:  # the labels moved, the logits read in place as [B * T, V]
            moved = labels.clone() if hasattr(labels, "clone") else labels.copy()
            moved[:, :-1] = labels[:, 1:]
            moved[:, -1] = self._ignore
            logits, labels = logits.reshape(-1, logits.shape[-1]), moved.reshape(-1)
        elif not self._by_axis:
            logits, labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
        if self._ev is None:
            self._ev = Classification(**self._spec)
        try:
            self._ev.update(logits, labels)
            if not compute_result:
                return {}
            report = self._ev.compute()
        except BaseException:
            self._ev = None  # the next evaluation starts clean
            raise
        self._ev = None
        self.last_report = report
        return {name: float(report[name]) for name in report.metric_names}
