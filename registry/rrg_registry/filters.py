"""Query arguments of run searches: metric thresholds (``green_flare>0.8``) and sort keys.

Parsing happens here, once, for the Python API and the CLI alike; a malformed filter raises
:class:`InvalidQuery` naming the text and the accepted form.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rrg_registry.errors import InvalidQuery

OPERATORS: tuple[str, ...] = (">=", "<=", "!=", ">", "<", "=")
"""Comparison operators of a metric filter (``==`` is accepted as ``=``)."""

_FILTER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-/]*)\s*(>=|<=|!=|==|>|<|=)\s*(\S+)\s*$")

RUN_FIELDS: dict[str, str] = {
    "id": "id",
    "created": "created_at",
    "started": "started_at",
    "ended": "ended_at",
    "stage": "stage",
    "model": "model_family",
    "model_id": "model_id",
    "status": "status",
    "recipe": "recipe",
}
"""Sort keys that name a run field rather than a metric (CLI name -> run attribute)."""

TIME_FIELDS = frozenset({"created", "started", "ended"})


@dataclass(frozen=True)
class MetricFilter:
    """``metric <op> value``: keeps runs whose latest value of ``metric`` satisfies the comparison."""

    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    @classmethod
    def parse(cls, text: str) -> MetricFilter:
        """Read ``name OP number`` (OP one of > >= < <= = !=)."""
        match = _FILTER.match(text)
        if not match:
            raise InvalidQuery(
                f"cannot read the filter {text!r}",
                hint="write METRIC OP NUMBER with OP one of > >= < <= = !=, e.g. --where 'green_flare>0.8'",
            )
        name, op, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            raise InvalidQuery(
                f"the filter {text!r} compares {name} with {raw!r}, which is not a number",
                hint="metric filters compare with a number, e.g. --where 'green_flare>=0.75'",
            ) from None
        if not math.isfinite(value):
            raise InvalidQuery(f"the filter {text!r} compares with {raw}", hint="use a finite number")
        return cls(metric=name, op="=" if op == "==" else op, value=value)


@dataclass(frozen=True)
class SortKey:
    """What to order runs by: a run field (see :data:`RUN_FIELDS`) or a metric name."""

    key: str
    descending: bool

    @property
    def is_metric(self) -> bool:
        return self.key not in RUN_FIELDS

    @classmethod
    def parse(cls, key: str | None, ascending: bool | None = None) -> SortKey:
        """``key`` (default ``created``). Metrics and times sort descending unless ``ascending``;
        text fields sort ascending unless ``ascending`` is False."""
        key = (key or "created").strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-/]*", key):
            raise InvalidQuery(
                f"cannot sort by {key!r}",
                hint=f"sort by a metric name or one of {', '.join(RUN_FIELDS)}",
            )
        default_descending = key not in RUN_FIELDS or key in TIME_FIELDS
        descending = default_descending if ascending is None else not ascending
        return cls(key=key, descending=descending)


def parse_filters(filters: list[str | MetricFilter] | tuple[str | MetricFilter, ...]) -> list[MetricFilter]:
    """Every item as a :class:`MetricFilter` (strings are parsed)."""
    return [f if isinstance(f, MetricFilter) else MetricFilter.parse(f) for f in filters]
