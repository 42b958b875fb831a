"""What every family's figures share: matplotlib on demand, axes, integer ticks, the metric a
figure shows."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple


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
