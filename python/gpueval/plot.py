"""Figures of a report, drawn with matplotlib (the optional ``gpueval[plot]`` extra).

``Report.plot(kind, ...)`` and ``ClassificationReport.plot(kind, ...)`` call these and return
``(fig, ax)`` as TorchMetrics' ``plot()`` does. Every function draws the report's own values,
nothing recomputed, and takes an ``ax`` to draw into (a new figure otherwise).

Regression kinds: ``"channels"`` (one metric per channel, bars, the headline as a line),
``"by_axis"`` (one metric against the breakdown index, e.g. the error against the forecast
step: the headline, and with ``per_channel=True`` every channel's curve) and ``"heatmap"`` (one
metric per breakdown index and channel).
Classification kinds: ``"confusion_matrix"`` (a heatmap, counts or row-normalised),
``"calibration"`` (the reliability diagram from the calibration bins), ``"roc"`` and ``"pr"``
(binary reports with auroc / average_precision), ``"per_class"`` (one metric per class, bars).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

REGRESSION_KINDS = ("channels", "by_axis", "heatmap")
CLASSIFICATION_KINDS = ("confusion_matrix", "calibration", "roc", "pr", "per_class")


def pyplot() -> Any:
    """matplotlib.pyplot, or an ImportError that says what to install."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("gpueval's plots need matplotlib: pip install 'gpueval[plot]' (or "
                          "pip install matplotlib; Debian: apt install python3-matplotlib)") \
            from None
    return plt


def _axes(ax: Any, figsize: Tuple[float, float]) -> Tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = pyplot().subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _integer_ticks(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(integer=True))


def _pick(names: Sequence[str], metric: Optional[str], preferred: Sequence[str]) -> str:
    if metric is not None:
        if metric not in names:
            raise KeyError(f"metric {metric!r} is not in this report; it has {list(names)}")
        return metric
    for name in preferred:
        if name in names:
            return name
    return names[0]


# ---- regression -------------------------------------------------------------------------------

def regression(report: Any, kind: str = "auto", metric: Optional[str] = None,
               per_channel: bool = False, channels: Optional[Sequence[int]] = None,
               ax: Any = None) -> Tuple[Any, Any]:
    if kind == "auto":
        kind = "by_axis" if report.by_axis_index is not None else "channels"
    if kind not in REGRESSION_KINDS:
        raise ValueError(f"unknown regression plot {kind!r}; choose one of "
                         f"{', '.join(REGRESSION_KINDS)}")
    name = _pick(report.metric_names, metric, ("rmse", "mse", "mae"))
    if kind == "channels":
        values = report.per_channel[name]
        index = np.arange(len(values))
        fig, ax = _axes(ax, (max(4.0, 0.35 * len(values) + 2), 3.2))
        ax.bar(index, values, color="#4c78a8", label=f"{name} per channel")
        ax.axhline(report[name], color="#e45756", linewidth=1.2,
                   label=f"headline {report[name]:.4g}")
        ax.set_xlabel("channel")
        ax.set_ylabel(name)
        if len(values) <= 40:
            ax.set_xticks(index)
        else:
            _integer_ticks(ax.xaxis)
        ax.set_title(f"{name} by channel")
        ax.legend(loc="best", fontsize="small")
        return fig, ax
    if report.by_axis_index is None:
        raise ValueError("this report has no breakdown: evaluate with by_axis to plot a metric "
                         "against it")
    if kind == "heatmap":
        grid = report.by_axis_per_channel[name]  # [index, channel]
        fig, ax = _axes(ax, (7.5, 3.6))
        image = ax.imshow(grid.T, aspect="auto", cmap="magma", interpolation="nearest",
                          origin="lower")
        fig.colorbar(image, ax=ax, label=name)
        ax.set_xlabel(f"index along axis {report.by_axis_index}")
        ax.set_ylabel("channel")
        _integer_ticks(ax.xaxis)
        _integer_ticks(ax.yaxis)
        ax.set_title(f"{name} by index and channel")
        return fig, ax
    curve = report.by_axis[name]
    steps = np.arange(len(curve))
    fig, ax = _axes(ax, (7.0, 3.4))
    if per_channel:
        grid = report.by_axis_per_channel[name]  # [index, channel]
        picked = range(grid.shape[1]) if channels is None else channels
        cmap = pyplot().get_cmap("viridis")
        for i, c in enumerate(picked):
            ax.plot(steps, grid[:, c], linewidth=0.7, alpha=0.55,
                    color=cmap(i / max(1, len(picked) - 1)),
                    label=f"channel {c}" if len(picked) <= 8 else None)
    ax.plot(steps, curve, color="#e45756", linewidth=2.0, label="mean over channels")
    _integer_ticks(ax.xaxis)
    ax.set_xlabel(f"index along axis {report.by_axis_index}")
    ax.set_ylabel(name)
    ax.set_title(f"{name} by index of axis {report.by_axis_index}")
    ax.legend(loc="best", fontsize="small")
    return fig, ax


# ---- classification ---------------------------------------------------------------------------

def classification(report: Any, kind: str = "auto", metric: Optional[str] = None,
                   normalize: bool = False, ax: Any = None) -> Tuple[Any, Any]:
    if kind == "auto":
        kind = "confusion_matrix" if report.confusion_matrix is not None else "per_class"
    if kind not in CLASSIFICATION_KINDS:
        raise ValueError(f"unknown classification plot {kind!r}; choose one of "
                         f"{', '.join(CLASSIFICATION_KINDS)}")
    if kind == "confusion_matrix":
        cm = report.confusion_matrix
        if cm is None:
            raise ValueError("this report has no confusion matrix (multilabel reports have "
                             "per-label counts: plot 'per_class')")
        shown = cm.astype(np.float64)
        if normalize:
            rows = shown.sum(axis=1, keepdims=True)
            shown = np.divide(shown, rows, out=np.zeros_like(shown), where=rows > 0)
        side = min(9.0, 2.5 + 0.45 * cm.shape[0])
        fig, ax = _axes(ax, (side + 1.0, side))
        image = ax.imshow(shown, cmap="Blues", interpolation="nearest")
        fig.colorbar(image, ax=ax, shrink=0.8)
        if cm.shape[0] <= 20:
            top = shown.max() if shown.size else 0
            for (i, j), v in np.ndenumerate(shown):
                ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center",
                        va="center", fontsize="x-small",
                        color="white" if v > 0.6 * top else "black")
            ax.set_xticks(range(cm.shape[1]))
            ax.set_yticks(range(cm.shape[0]))
        ax.set_xlabel("prediction")
        ax.set_ylabel("target")
        ax.set_title("confusion matrix" + (" (rows normalised)" if normalize else ""))
        return fig, ax
    if kind == "calibration":
        cal = report.calibration
        if cal is None:
            raise ValueError("this report has no calibration bins (they need scores, binary or "
                             "multiclass)")
        bins = cal["bins"]
        edges = np.linspace(0, 1, bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        filled = cal["count"] > 0
        fig, ax = _axes(ax, (4.6, 4.4))
        ax.bar(centres[filled], cal["accuracy"][filled], width=1.0 / bins, color="#4c78a8",
               edgecolor="white", label="accuracy")
        ax.plot(cal["confidence"][filled], cal["accuracy"][filled], "o", color="#f58518",
                markersize=4, label="(mean confidence, accuracy)")
        ax.plot([0, 1], [0, 1], "--", color="gray", linewidth=1, label="calibrated")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ece = f", ece {report['ece']:.4f}" if "ece" in report else ""
        ax.set_title(f"reliability diagram{ece}")
        ax.legend(loc="upper left", fontsize="small")
        return fig, ax
    if kind in ("roc", "pr"):
        curve = report.roc if kind == "roc" else report.pr
        if curve is None:
            raise ValueError(f"this report has no {kind.upper()} curve (binary reports with "
                             f"{'auroc' if kind == 'roc' else 'average_precision'} have one)")
        fig, ax = _axes(ax, (4.6, 4.4))
        if kind == "roc":
            ax.plot(curve["fpr"], curve["tpr"], color="#4c78a8", linewidth=1.6,
                    label=f"auroc {report['auroc']:.4f}" if "auroc" in report else None)
            ax.plot([0, 1], [0, 1], "--", color="gray", linewidth=1)
            ax.set_xlabel("false positive rate")
            ax.set_ylabel("true positive rate")
            ax.set_title("ROC curve")
        else:
            ax.plot(curve["recall"], curve["precision"], color="#4c78a8", linewidth=1.6,
                    label=(f"average precision {report['average_precision']:.4f}"
                           if "average_precision" in report else None))
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.set_title("precision-recall curve")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right" if kind == "roc" else "lower left", fontsize="small")
        return fig, ax
    per = report.per_class
    names = [n for n in per if n != "support" and not n.endswith("_bound")]
    if not names:
        raise ValueError("this report has no per-class metrics")
    name = _pick(names, metric, ("f1", "recall", "precision"))
    values = per[name]
    index = np.arange(len(values))
    fig, ax = _axes(ax, (max(4.0, 0.35 * len(values) + 2), 3.2))
    ax.bar(index, values, color="#4c78a8")
    ax.set_xlabel("class" if report.task != "multilabel" else "label")
    ax.set_ylabel(name)
    if len(values) <= 40:
        ax.set_xticks(index)
    ax.set_title(f"{name} per {'label' if report.task == 'multilabel' else 'class'}")
    return fig, ax
