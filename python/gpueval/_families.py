"""The families in Python: each registers its evaluator, its report type and its figures here (in
its own module, when the package is imported), so that from_state, load_report, metric_names and
the report page work for every family and name none. Tasks and options come from the engine's
registry (gpueval._core.families())."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Tuple

from . import _core


@dataclass(frozen=True)
class FamilyParts:
    name: str  # the engine's family name (_core.families())
    evaluator: type  # a StreamingEvaluator with from_state(state, metrics, device, threads)
    report: type  # its report type, with from_dict(d)
    figures: Any  # a module with page_headline, page_figures, page_overlays
    metric_table: Callable[[], List[Tuple[str, bool, str]]]  # (name, opt_in, description)


_FAMILIES: Dict[str, FamilyParts] = {}


def register(parts: FamilyParts) -> None:
    if parts.name in _FAMILIES:
        raise RuntimeError(f"family {parts.name!r} registered twice")
    if parts.name not in tasks_by_family():
        raise RuntimeError(f"family {parts.name!r} is not one of the engine's")
    _FAMILIES[parts.name] = parts


def tasks_by_family() -> Dict[str, List[str]]:
    return {name: list(tasks) for name, tasks, _ in _core.families()}


def names() -> List[str]:
    """The families, in the engine's order."""
    return [name for name in tasks_by_family() if name in _FAMILIES]


def named(name: str) -> FamilyParts:
    parts = _FAMILIES.get(name)
    if parts is None:
        raise ValueError(f"family must be one of {', '.join(map(repr, names()))}, not {name!r}")
    return parts


def of_task(task: str) -> FamilyParts:
    for name, tasks in tasks_by_family().items():
        if task in tasks:
            return named(name)
    every = [t for tasks in tasks_by_family().values() for t in tasks]
    raise ValueError(f"unknown task {task!r}: not one of {', '.join(every)}")


def of_report(report: Any) -> FamilyParts:
    for parts in _FAMILIES.values():
        if isinstance(report, parts.report):
            return parts
    raise TypeError(f"not a gpueval report: {type(report).__qualname__}")


def default_task() -> str:
    """The task of a report that names none (the first family's first task)."""
    return next(iter(tasks_by_family().values()))[0]


def report_from_dict(d: Mapping[str, Any]) -> Any:
    """A report of the family whose task the JSON object names."""
    task = d.get("task", default_task()) if isinstance(d, Mapping) else default_task()
    return of_task(str(task)).report.from_dict(d)
