"""The classification family's figures: ClassificationReport.plot(),
gpueval.plot.classification, and its parts of the report page."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ._plot_common import _axes, _integer_ticks, _pick, pyplot

KINDS = ("confusion_matrix", "calibration", "roc", "pr", "per_class", "by_axis")


def classification(report: Any, kind: str = "auto", metric: Optional[str] = None,
                   normalize: Any = False, ax: Any = None) -> Tuple[Any, Any]:
    if kind == "auto":
        kind = "confusion_matrix" if report.confusion_matrix is not None else "per_class"
    if kind not in KINDS:
        raise ValueError(f"unknown classification plot {kind!r}; choose one of "
                         f"{', '.join(KINDS)}")
    if kind == "confusion_matrix":
        cm = report.confusion_matrix
        if cm is None:
            raise ValueError("this report has no confusion matrix (multilabel reports have "
                             "per-label counts: plot 'per_class')")
        if normalize is True:
            normalize = "true"
        shown = (report.normalized_confusion_matrix(normalize) if normalize else
                 cm.astype(np.float64))
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
            if report.class_names is not None:
                ax.set_xticklabels(report.class_names, rotation=45, ha="right")
                ax.set_yticklabels(report.class_names)
        ax.set_xlabel("prediction")
        ax.set_ylabel("target")
        ax.set_title("confusion matrix" + {"true": " (rows normalised)",
                                           "pred": " (columns normalised)",
                                           "all": " (normalised)"}.get(normalize or "", ""))
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
    if kind == "by_axis":
        return _by_axis(report, metric, ax)
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
        if report.class_names is not None:
            ax.set_xticklabels(report.class_names, rotation=45, ha="right")
    ax.set_title(f"{name} per {'label' if report.task == 'multilabel' else 'class'}")
    return fig, ax


def _by_axis(report: Any, metric: Optional[str], ax: Any) -> Tuple[Any, Any]:
    """A per-sample metric against the index of the breakdown axis: loss or accuracy by
    sequence position, the long-context curve."""
    by = report.by_axis
    if by is None:
        raise ValueError("this report has no breakdown: evaluate with by_axis= to plot a metric "
                         "against it")
    names = [n for n in by if n not in ("axis", "count")]
    name = _pick(names, metric, ("perplexity", "nll", "log_loss", "accuracy"))
    curve = by[name]
    fig, ax = _axes(ax, (7.0, 3.4))
    ax.plot(np.arange(len(curve)), curve, color="#4c78a8", linewidth=1.6)
    _integer_ticks(ax.xaxis)
    ax.set_xlabel(f"index along axis {by['axis']}")
    ax.set_ylabel(name)
    ax.set_title(f"{name} by index of axis {by['axis']}")
    return fig, ax


def page_headline(r: Any) -> Tuple[List[str], List[List[Any]]]:
    """The report page's headline table of one report: its header and rows."""
    return ["metric", "value"], [[n, r[n]] for n in r.metric_names]


def page_figures(r: Any, metric: Optional[str]) -> List[Tuple[Any, str]]:
    """The report page's figures of one report, with their captions."""
    out = []
    if r.confusion_matrix is not None:
        fig, _ = classification(r, "confusion_matrix", normalize=r.classes > 2)
        out.append((fig, "confusion matrix" +
                           (", each row normalised" if r.classes > 2 else "")))
    if r.calibration is not None:
        fig, _ = classification(r, "calibration")
        out.append((fig, "reliability diagram from the calibration bins"))
    for kind in ("roc", "pr"):
        if (r.roc if kind == "roc" else r.pr) is not None:
            fig, _ = classification(r, kind)
            out.append((fig, "ROC curve" if kind == "roc" else "precision-recall curve"))
    per_class = [n for n in r.per_class if n != "support" and not n.endswith("_bound")]
    if r.task != "binary" and per_class and r.classes <= 100:  # a vocabulary: no bar chart
        fig, _ = classification(r, "per_class", metric=metric if metric in per_class else None)
        out.append((fig, "per class"))
    if r.by_axis is not None:
        shown = metric if metric in r.by_axis else None
        fig, _ = classification(r, "by_axis", metric=shown)
        out.append((fig, f"by index of axis {r.by_axis['axis']}"))
    return out


def page_overlays(names: Sequence[str], reports: Sequence[Any], common: Sequence[str],
                  metric: Optional[str]) -> List[Tuple[Any, str]]:
    """The report page's figures that overlay several runs of this family, with captions."""
    out: List[Tuple[Any, str]] = []
    if any(r.roc is None for r in reports):
        return out
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4), layout="constrained")
    for label, r in zip(names, reports):
        ax.plot(r.roc["fpr"], r.roc["tpr"], label=f"{label} ({r['auroc']:.4f})")
    ax.plot([0, 1], [0, 1], "--", color="gray", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curves")
    ax.legend(fontsize="small", loc="lower right")
    out.append((fig, "ROC curves, runs overlaid"))
    return out
