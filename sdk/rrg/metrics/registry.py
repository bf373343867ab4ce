"""The metrics rrg knows by name, and how to add one.

Each metric is a :class:`MetricSpec`: a name, a one-line description and a function from
(predictions, references) to :class:`MetricValues` (summary values, optionally one row per pair,
optionally details to record). :data:`METRICS` holds the built-ins; it is read-only. To add or
replace a scorer (for instance the LLM-judged GREEN, ``green_llm``), copy it and register on the
copy, then pass the copy to :func:`rrg.metrics.evaluate`::

    registry = METRICS.copy()
    registry.register(MetricSpec("green_llm", "GREEN (Ostmeier et al. 2024)", my_green), replace=True)
    evaluate(predictions, references, metrics=["green_llm"], registry=registry)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rrg.errors import MissingDependencyError, RrgError

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "METRIC_NAMES",
    "MetricRegistry",
    "MetricSpec",
    "MetricValues",
]


@dataclass
class MetricValues:
    """What one metric contributes to an :class:`~rrg.metrics.evaluation.Evaluation`.

    ``summary``: flat name -> value over the corpus; ``per_sample``: one dict per pair (or
    ``None`` for purely corpus-level metrics); ``details``: anything else worth recording (the
    full green_flare aggregate, the sacreBLEU signature, the RadGraph model type).
    """

    summary: dict[str, float]
    per_sample: list[dict[str, Any]] | None = None
    details: dict[str, Any] = field(default_factory=dict)


MetricFunction = Callable[[Sequence[str], Sequence[str]], MetricValues]
MetricCheck = Callable[[], None]


@dataclass(frozen=True)
class MetricSpec:
    """A named metric: ``compute(predictions, references) -> MetricValues``."""

    name: str
    description: str
    compute: MetricFunction
    default: bool = False
    """Part of the default set of ``evaluate`` and ``rrg score``."""
    check: MetricCheck | None = None
    """Raises a one-line :class:`~rrg.errors.RrgError` when the metric cannot run here (a
    package or model weights missing), cheaply and without scoring anything; ``None`` when it
    always can. Called before any scoring, and by ``rrg run`` before a run is recorded."""


def _green_flare(predictions: Sequence[str], references: Sequence[str]) -> MetricValues:
    from rrg.metrics import green_flare

    results = green_flare.score_pairs(predictions, references)
    aggregate = green_flare.aggregate(results)
    summary = {"green_flare": aggregate["overall_mean"]}
    for key in (*green_flare.COMPONENTS, "severity_correlation"):
        summary[key] = aggregate[f"{key}_mean"]
    per_sample = []
    for r in results:
        row: dict[str, Any] = {"green_flare": r.overall}
        for key in (*green_flare.COMPONENTS, "severity_correlation"):
            row[key] = getattr(r, key)
        row["entity_details"] = r.entity_details.as_dict()
        per_sample.append(row)
    return MetricValues(summary, per_sample, {"green_flare": aggregate})


def _bleu4_flare(predictions: Sequence[str], references: Sequence[str]) -> MetricValues:
    from rrg.metrics.bleu import bleu4_flare

    return MetricValues({"bleu4_flare": bleu4_flare(predictions, references)})


def _bleu4(predictions: Sequence[str], references: Sequence[str]) -> MetricValues:
    from rrg.metrics.bleu import bleu4_with_signature

    score, signature = bleu4_with_signature(predictions, references)
    return MetricValues(
        {"bleu4": score},
        details={"bleu4": {"signature": signature, "scale": "0-1 (sacreBLEU score / 100)"}},
    )


def _ce(predictions: Sequence[str], references: Sequence[str]) -> MetricValues:
    from rrg.metrics.clinical_efficacy import _agreement, ce_category

    categories: dict[str, str] = {}

    def category(text: str) -> str:
        if text not in categories:
            categories[text] = ce_category(text)
        return categories[text]

    rows = []
    total = 0.0
    for p, r in zip(predictions, references):
        cp, cr = category(p), category(r)
        value = _agreement(cp, cr)
        total += value
        rows.append({"ce": value, "ce_prediction": cp, "ce_reference": cr})
    return MetricValues({"ce": total / len(predictions) if predictions else 0.0}, rows)


def _rouge_l(predictions: Sequence[str], references: Sequence[str]) -> MetricValues:
    from rrg.metrics.rouge import rouge_l_pairs

    values = rouge_l_pairs(predictions, references)
    mean = sum(values) / len(values) if values else 0.0
    return MetricValues({"rouge_l": mean}, [{"rouge_l": v} for v in values])


def _radgraph_f1_check() -> None:
    from rrg.metrics.radgraph_f1 import RadGraphF1

    RadGraphF1().check()


def _radgraph_f1(predictions: Sequence[str], references: Sequence[str]) -> MetricValues:
    from rrg.metrics.radgraph_f1 import RadGraphF1

    scorer = RadGraphF1()
    values = scorer.score_pairs(predictions, references)
    mean = sum(values) / len(values) if values else 0.0
    return MetricValues(
        {"radgraph_f1": mean},
        [{"radgraph_f1": v} for v in values],
        {"radgraph_f1": scorer.config()},
    )


GREEN_LLM_EXPLANATION = (
    "green_llm, the LLM-judged GREEN of Ostmeier et al. (2024), is not built into rrg: it needs a "
    "judge model from the Hugging Face Hub and the green-score package, which pins Python 3.12.1 "
    "and torch 2.2.2 and so cannot be a dependency (green_flare is the lexical FLARE score, a "
    "different metric)"
)


def _green_llm_missing() -> MissingDependencyError:
    return MissingDependencyError(
        GREEN_LLM_EXPLANATION,
        hint=(
            "register your own scorer on a copy of rrg.metrics.METRICS under the name green_llm "
            "and pass it to evaluate(registry=...); see docs/metrics.md"
        ),
    )


def _green_llm_check() -> None:
    raise _green_llm_missing()


def _green_llm(predictions: Sequence[str], references: Sequence[str]) -> MetricValues:
    raise _green_llm_missing()


class MetricRegistry(Mapping[str, MetricSpec]):
    """Metric specs by name, in registration order."""

    def __init__(self, specs: Sequence[MetricSpec] = (), *, read_only: bool = False) -> None:
        self._specs: dict[str, MetricSpec] = {}
        for spec in specs:
            self.register(spec)
        self._read_only = read_only

    def __getitem__(self, name: str) -> MetricSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def register(self, spec: MetricSpec, *, replace: bool = False) -> None:
        """Add ``spec``; ``replace=True`` to override an existing name (e.g. ``green_llm``)."""
        if getattr(self, "_read_only", False):
            raise TypeError("this registry is read-only; register on a copy: METRICS.copy()")
        if spec.name in self._specs and not replace:
            raise ValueError(f"metric {spec.name!r} is already registered; pass replace=True")
        self._specs[spec.name] = spec

    def copy(self) -> MetricRegistry:
        """A writable copy."""
        return MetricRegistry(list(self._specs.values()))

    def resolve(self, names: Sequence[str]) -> list[MetricSpec]:
        """The specs for ``names`` (duplicates dropped), or an RrgError naming the unknown one."""
        specs = []
        for name in dict.fromkeys(names):
            spec = self._specs.get(name)
            if spec is None:
                raise RrgError(
                    f"unknown metric {name!r}",
                    hint=f"choose from {', '.join(self._specs)}",
                )
            specs.append(spec)
        return specs

    def check(self, names: Sequence[str]) -> list[MetricSpec]:
        """:meth:`resolve` ``names``, then run each one's :attr:`MetricSpec.check`: the first
        metric that cannot run here raises its one-line error before anything is scored."""
        specs = self.resolve(names)
        for spec in specs:
            if spec.check is not None:
                spec.check()
        return specs

    def defaults(self) -> tuple[str, ...]:
        return tuple(name for name, spec in self._specs.items() if spec.default)


METRICS = MetricRegistry(
    [
        MetricSpec(
            "green_flare",
            "FLARE 2025 lexical seven-component report score (not the LLM-judged GREEN)",
            _green_flare,
            default=True,
        ),
        MetricSpec(
            "bleu4_flare",
            "FLARE 2025 BLEU-4: per-sample n-gram precisions averaged over samples",
            _bleu4_flare,
            default=True,
        ),
        MetricSpec("bleu4", "corpus BLEU-4 by sacreBLEU, on a 0-1 scale", _bleu4, default=True),
        MetricSpec(
            "ce",
            "keyword clinical efficacy: critical/abnormal/normal/uncertain agreement",
            _ce,
            default=True,
        ),
        MetricSpec("rouge_l", "ROUGE-L F1 (rouge-score), mean over pairs", _rouge_l, default=True),
        MetricSpec(
            "radgraph_f1",
            "RadGraph F1 (radgraph package, RadGraph-XL, partial level); needs the model weights",
            _radgraph_f1,
            check=_radgraph_f1_check,
        ),
        MetricSpec(
            "green_llm",
            "GREEN of Ostmeier et al. (2024), LLM-judged; not built in, register a scorer",
            _green_llm,
            check=_green_llm_check,
        ),
    ],
    read_only=True,
)
"""The built-in metrics (read-only; ``METRICS.copy()`` to register more)."""

METRIC_NAMES: tuple[str, ...] = tuple(METRICS)
DEFAULT_METRICS: tuple[str, ...] = METRICS.defaults()
