"""The geometry family's figures: GeometryReport.plot(), gpueval.plot.geometry, and its parts of
the report page."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ._plot_common import _axes, _integer_ticks, _pick, pyplot

KINDS = ("per_key", "by_axis", "pck")


def geometry(report: Any, kind: str = "auto", metric: Optional[str] = None,
             ax: Any = None) -> Tuple[Any, Any]:
    if kind == "auto":
        kind = ("by_axis" if report.by_axis is not None else
                "per_key" if report.key_axis is not None else "pck")
    if kind not in KINDS:
        raise ValueError(f"unknown geometry plot {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "pck":
        curve = report.pck_curve
        if curve is None:
            raise ValueError("this report has no PCK curve: evaluate with auc_pck in the metrics")
        fig, ax = _axes(ax, (5.0, 3.6))
        ax.plot(curve["thresholds"], curve["pck"], color="#4c78a8",
                label=f"auc_pck {report['auc_pck']:.4f}" if "auc_pck" in report else None)
        ax.set_xlabel("threshold")
        ax.set_ylabel("PCK")
        ax.set_ylim(0, 1.02)
        ax.set_title("PCK curve")
        ax.legend(loc="lower right", fontsize="small")
        return fig, ax
    if kind == "by_axis":
        by = report.by_axis
        if by is None:
            raise ValueError("this report has no breakdown: evaluate with by_axis to plot a metric "
                             "against it")
        name = _pick([n for n in report.metric_names], metric, ("mpjpe", "fde"))
        fig, ax = _axes(ax, (7.0, 3.4))
        ax.plot(np.arange(len(by[name])), by[name], marker="o", markersize=3, color="#4c78a8",
                label=name)
        ax.axhline(report[name], color="#e45756", linewidth=1.2, label=f"all {report[name]:.4g}")
        ax.set_xlabel(f"index along axis {by['axis']}")
        ax.set_ylabel(name)
        _integer_ticks(ax.xaxis)
        ax.set_title(f"{name} by index of axis {by['axis']}")
        ax.legend(loc="best", fontsize="small")
        return fig, ax
    name = _pick([n for n in report.metric_names], metric, ("mpjpe", "pa_mpjpe"))
    values = report.per_key[name]
    index = np.arange(len(values))
    fig, ax = _axes(ax, (max(4.0, 0.35 * len(values) + 2), 3.2))
    ax.bar(index, values, color="#4c78a8", label=f"{name} per key")
    ax.axhline(report[name], color="#e45756", linewidth=1.2, label=f"all {report[name]:.4g}")
    axis = report.key_axis
    ax.set_xlabel("key" if axis is None else f"index along axis {axis}")
    ax.set_ylabel(name)
    if len(values) <= 40:
        ax.set_xticks(index)
    else:
        _integer_ticks(ax.xaxis)
    ax.set_title(f"{name} by key")
    ax.legend(loc="best", fontsize="small")
    return fig, ax


def page_headline(r: Any) -> Tuple[List[str], List[List[Any]]]:
    """The report page's headline table of one report: its header and rows."""
    return ["metric", "value"], [[n, r[n]] for n in r.metric_names]


def page_figures(r: Any, metric: Optional[str]) -> List[Tuple[Any, str]]:
    """The report page's figures of one report, with their captions."""
    out = []
    if r.by_axis is not None:
        fig, _ = geometry(r, "by_axis", metric=metric if metric in r.metric_names else None)
        out.append((fig, f"by index of axis {r.by_axis['axis']}"))
    if r.key_axis is not None:
        fig, _ = geometry(r, "per_key", metric=metric if metric in r.metric_names else None)
        out.append((fig, f"per index of axis {r.key_axis}"))
    if r.pck_curve is not None:
        fig, _ = geometry(r, "pck")
        out.append((fig, "PCK curve (auc_pck is its mean)"))
    return out


def page_overlays(names: Sequence[str], reports: Sequence[Any], common: Sequence[str],
                  metric: Optional[str]) -> List[Tuple[Any, str]]:
    """The report page's figures that overlay several runs of this family, with captions."""
    out: List[Tuple[Any, str]] = []
    if any(r.pck_curve is None for r in reports):
        return out
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.6), layout="constrained")
    for label, r in zip(names, reports):
        ax.plot(r.pck_curve["thresholds"], r.pck_curve["pck"], label=label)
    ax.set_xlabel("threshold")
    ax.set_ylabel("PCK")
    ax.set_title("PCK curves")
    ax.legend(fontsize="small", loc="lower right")
    out.append((fig, "PCK curves, runs overlaid"))
    return out
