"""Scoring predictions against references with several metrics at once.

>>> result = evaluate(["No pneumothorax."], ["No pneumothorax."], metrics=["green_flare", "ce"])
>>> result.summary["n"], result.summary["ce"]
(1, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rrg.metrics.registry import DEFAULT_METRICS, METRICS, MetricRegistry

__all__ = ["Evaluation", "evaluate", "truncate"]

STUDY_TRUNCATE_CHARS = 500
"""The study scores generated reports truncated to their first 500 characters."""


def truncate(text: str, max_chars: int | None) -> str:
    """The first ``max_chars`` characters (code points) of ``text``; unchanged for ``None``."""
    if max_chars is None:
        return text
    if max_chars < 0:
        raise ValueError(f"max_chars must be >= 0, got {max_chars}")
    return text[:max_chars]


@dataclass(frozen=True)
class Evaluation:
    """The scores of one set of predictions.

    ``summary`` is flat: ``n``, ``green_flare`` (mean overall), the seven green_flare components
    and ``severity_correlation`` by name (means), ``bleu4_flare``, ``bleu4``, ``ce``, ``rouge_l``
    (and any other metric asked for). ``per_sample`` has one dict per pair with the per-pair
    values (``green_flare``, the components, ``severity_correlation``, ``entity_details``, ``ce``,
    ``ce_prediction``, ``ce_reference``, ``rouge_l``, ...). ``details`` holds per-metric extras:
    the full green_flare aggregate (std/min/max, entity statistics), the sacreBLEU signature,
    the RadGraph model type.
    """

    metrics: tuple[str, ...]
    summary: dict[str, float]
    per_sample: list[dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)
    truncate_chars: int | None = None

    @property
    def n(self) -> int:
        return int(self.summary["n"])

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape of ``rrg score --json``: ``n``, ``green_flare`` as an object
        (``overall``, the seven components, ``severity_correlation``), the other metrics as
        numbers, and ``truncate_chars``."""
        from rrg.metrics.green_flare import COMPONENTS

        out: dict[str, Any] = {"n": self.n}
        for name in self.metrics:
            if name == "green_flare":
                out["green_flare"] = {
                    "overall": self.summary["green_flare"],
                    **{key: self.summary[key] for key in (*COMPONENTS, "severity_correlation")},
                }
            elif name in self.summary:
                out[name] = self.summary[name]
            if name == "radgraph_f1" and "radgraph_f1" in self.details:
                out["radgraph_f1_config"] = self.details["radgraph_f1"]
        out["truncate_chars"] = self.truncate_chars
        return out


def evaluate(
    predictions: Sequence[str],
    references: Sequence[str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    truncate_chars: int | None = None,
    *,
    registry: MetricRegistry | None = None,
    on_metric_done: Callable[[str], None] | None = None,
) -> Evaluation:
    """Score ``predictions`` against ``references`` with each of ``metrics``.

    ``truncate_chars`` cuts every prediction (not the references) to that many characters
    first, as the study does with 500. ``registry`` supplies the metric specs (default
    :data:`~rrg.metrics.registry.METRICS`); ``on_metric_done`` is called with each metric's name
    when it finishes (progress display).
    """
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; they must pair up"
        )
    # every metric's availability first: a missing package or model fails before any scoring
    specs = (registry if registry is not None else METRICS).check(list(metrics))
    preds = [truncate(p, truncate_chars) for p in predictions]
    refs = list(references)

    summary: dict[str, float] = {"n": len(preds)}
    per_sample: list[dict[str, Any]] = [{} for _ in preds]
    details: dict[str, Any] = {}
    for spec in specs:
        values = spec.compute(preds, refs)
        summary.update(values.summary)
        if values.per_sample is not None:
            for row, extra in zip(per_sample, values.per_sample, strict=True):
                row.update(extra)
        details.update(values.details)
        if on_metric_done is not None:
            on_metric_done(spec.name)
    return Evaluation(
        metrics=tuple(s.name for s in specs),
        summary=summary,
        per_sample=per_sample,
        details=details,
        truncate_chars=truncate_chars,
    )
