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
Geometry kinds: ``"per_key"`` (one metric per key, bars: the error by joint) and ``"pck"`` (the
PCK curve behind auc_pck).
"""

from __future__ import annotations

from ._classification_plot import KINDS as CLASSIFICATION_KINDS
from ._classification_plot import classification
from ._geometry_plot import KINDS as GEOMETRY_KINDS
from ._geometry_plot import geometry
from ._plot_common import _axes, _integer_ticks, _pick, pyplot
from ._regression_plot import KINDS as REGRESSION_KINDS
from ._regression_plot import regression

__all__ = ["CLASSIFICATION_KINDS", "GEOMETRY_KINDS", "REGRESSION_KINDS", "classification",
           "geometry", "pyplot", "regression"]
