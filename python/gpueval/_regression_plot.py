"""The regression family's figures: Report.plot(), gpueval.plot.regression, and its parts of
the report page."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ._plot_common import _axes, _integer_ticks, _pick, pyplot

KINDS = ("channels", "by_axis", "heatmap")


def regression(report: Any, kind: str = "auto", metric: Optional[str] = None,
               per_channel: bool = False, channels: Optional[Sequence[int]] = None,
               ax: Any = None) -> Tuple[Any, Any]:
    if kind == "auto":
        kind = "by_axis" if report.by_axis_index is not None else "channels"
    if kind not in KINDS:
        raise ValueError(f"unknown regression plot {kind!r}; choose one of "
                         f"{', '.join(KINDS)}")
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


def page_headline(r: Any) -> Tuple[List[str], List[List[Any]]]:
    """The report page's headline table of one report: its header and rows."""
    return (["metric", "mean over channels", "flat"],
            [[n, r[n], r.flat[n]] for n in r.metric_names])


def page_figures(r: Any, metric: Optional[str]) -> List[Tuple[Any, str]]:
    """The report page's figures of one report, with their captions."""
    out = []
    name = _pick(r.metric_names, metric, ("rmse", "mse", "mae"))
    fig, _ = regression(r, "channels", metric=name)
    out.append((fig, f"{name} of each of the {r.channels} channels"))
    if r.by_axis_index is not None:
        per_channel = r.by_axis_per_channel is not None
        fig, _ = regression(r, "by_axis", metric=name, per_channel=per_channel)
        out.append((fig, f"{name} against the index of axis {r.by_axis_index}"
                           + (", each channel (dark: channel 0, light: the last) and their mean"
                              if per_channel else "")))
        if per_channel:
            fig, _ = regression(r, "heatmap", metric=name)
            out.append((fig, f"{name} by index and channel"))
    return out


def page_overlays(names: Sequence[str], reports: Sequence[Any], common: Sequence[str],
                  metric: Optional[str]) -> List[Tuple[Any, str]]:
    """The report page's figures that overlay several runs of this family, with captions."""
    plt = pyplot()
    out: List[Tuple[Any, str]] = []
    name = _pick(common, metric, ("rmse", "mse", "mae"))
    fig, ax = plt.subplots(figsize=(7.0, 3.4), layout="constrained")
    for label, r in zip(names, reports):
        ax.plot(np.arange(r.channels), r.per_channel[name], marker="o", markersize=3,
                label=label)
    _integer_ticks(ax.xaxis)
    ax.set_xlabel("channel")
    ax.set_ylabel(name)
    ax.set_title(f"{name} by channel, every run")
    ax.legend(fontsize="small")
    out.append((fig, f"{name} per channel, runs overlaid"))
    if all(r.by_axis_index is not None for r in reports):
        fig, ax = plt.subplots(figsize=(7.0, 3.4), layout="constrained")
        for label, r in zip(names, reports):
            ax.plot(np.arange(len(r.by_axis[name])), r.by_axis[name], label=label)
        ax.set_xlabel(f"index along axis {reports[0].by_axis_index}")
        ax.set_ylabel(name)
        ax.set_title(f"{name} by index, every run")
        ax.legend(fontsize="small")
        out.append((fig, f"{name} against the breakdown index, runs overlaid"))
    return out
