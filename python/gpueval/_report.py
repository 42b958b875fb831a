"""What every family's report is in Python: a read-only mapping from metric name to its headline
value, and the JSON helpers the families' reports share."""

from __future__ import annotations

import copy
import json
import math
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

SCHEMA = "gpueval.report/1"


def _frozen(values: Any, dtype: Any) -> np.ndarray:
    a = np.array(values, dtype=dtype)
    a.flags.writeable = False
    return a


def _json_floats(values: List[Optional[float]]) -> np.ndarray:
    # JSON writes non-finite values as null.
    return _frozen([math.nan if v is None else v for v in values], np.float64)


def _json_float(v: Optional[float]) -> float:
    return math.nan if v is None else float(v)


class _MetricMapping(Mapping[str, float]):
    """What every family's report is: a read-only mapping from metric name to its headline value,
    in report order. Subclasses set ``_names`` (a tuple), ``_index`` (name -> position) and
    ``_headline`` (float64, one per name)."""

    __slots__ = ()

    def __getitem__(self, metric: str) -> float:
        i = self._index.get(metric)  # type: ignore[attr-defined]
        if i is None:
            raise KeyError(f"metric {metric!r} is not in this report; it has: "
                           f"{', '.join(self._names)}")  # type: ignore[attr-defined]
        return float(self._headline[i])  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self._names)  # type: ignore[attr-defined]

    @property
    def metric_names(self) -> List[str]:
        """The requested metrics, in report order."""
        return list(self._names)  # type: ignore[attr-defined]


class _DictReport(_MetricMapping):
    """A report kept as its JSON object (``_d``): what such reports read from it alike."""

    __slots__ = ()

    @property
    def device(self) -> str:
        return str(self._d["device"])  # type: ignore[attr-defined]

    @property
    def spec(self) -> Dict[str, Any]:
        return copy.deepcopy(self._d["spec"])  # type: ignore[attr-defined]

    @property
    def version(self) -> str:
        return str(self._d["version"])  # type: ignore[attr-defined]

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object of schema ``gpueval.report/1``."""
        return copy.deepcopy(self._d)  # type: ignore[attr-defined]

    def to_json(self, indent: Optional[int] = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)
