"""The same samples side by side across runs: the study's table of example outputs.

:func:`side_by_side` reads the predictions several runs recorded on one evaluation split and lines
them up by sample: the question, the reference, the sample's image paths and imaging study, and
each run's prediction with its per-sample green_flare and scores. Which samples:

* ``sample_ids``: those samples, in the order given;
* ``study``: every sample of one imaging study (the same radiograph asked several questions);
* ``question``: samples whose question contains the text (any case);
* then ``worst`` / ``best`` N: the N samples with the lowest / highest mean green_flare over the
  runs; ``disagree`` N: the N with the widest spread (highest − lowest) of green_flare between
  the runs;
* with none of ``sample_ids``, ``study``, ``worst``, ``best``, ``disagree``: the first
  :data:`DEFAULT_SAMPLES` samples (by sample id, numbers in ids compared as numbers).

Only samples every run predicted are shown, on a split every run has predictions on (``split``,
else the first such split by name). Runs that recorded different references for the same sample
id were evaluated on different data and are refused rather than lined up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry import Registry
    from rrg_registry.entities import Prediction, RunDetail

DEFAULT_SAMPLES = 5
"""Samples shown when none are named, studied or ranked."""

GREEN = "green_flare"


@dataclass(frozen=True)
class RunColumn:
    """One run of the side-by-side: its id, the label shown ("model, stage (run id)"), the model's
    display name and its stage code."""

    run_id: str
    label: str
    model: str
    stage: str


@dataclass(frozen=True)
class RunOutput:
    """One run's prediction for one sample, its per-sample green_flare and every per-sample score
    (green_flare, the seven components, severity_correlation, bleu4_flare, ce, ...)."""

    prediction: str
    green_flare: float | None
    scores: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleRow:
    """One sample: what was asked, the reference, its images and study, and each run's output
    (in the order of :attr:`SideBySide.runs`)."""

    sample_id: str
    question: str | None
    reference: str | None
    image_paths: list[str]
    study_id: str | None
    outputs: list[RunOutput]

    def green_flares(self) -> list[float]:
        """The runs' per-sample green_flare values that were recorded."""
        return [o.green_flare for o in self.outputs if o.green_flare is not None]

    @property
    def mean_green_flare(self) -> float | None:
        values = self.green_flares()
        return sum(values) / len(values) if values else None

    @property
    def spread(self) -> float | None:
        """Highest minus lowest green_flare between the runs (None with fewer than two values)."""
        values = self.green_flares()
        return max(values) - min(values) if len(values) > 1 else None


@dataclass(frozen=True)
class SideBySide:
    """The runs (in the order asked) and the chosen samples, on one split."""

    split: str
    runs: list[RunColumn]
    rows: list[SampleRow]
    selection: str
    """How the samples were chosen, in words (``the 5 with the lowest mean green_flare``)."""


def natural_key(text: str) -> tuple:
    """Sort key comparing the digit runs of ``text`` as numbers (``IU/val/9`` before ``IU/val/10``)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)


def run_label(model: str, stage: str, run_id: str) -> str:
    """``DeepSeek-OCR, SFT (3d109cd6)``."""
    from rrg.results.names import stage_name

    return f"{model}, {stage_name(stage)} ({run_id})"


def _count(option: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise RrgError(f"--{option} takes a number of samples of 1 or more, got {value}", hint=f"e.g. --{option} 5")


def side_by_side(
    registry: Registry,
    run_ids: Sequence[str],
    *,
    sample_ids: Sequence[str] = (),
    worst: int | None = None,
    best: int | None = None,
    disagree: int | None = None,
    question: str | None = None,
    split: str | None = None,
    study: str | None = None,
) -> SideBySide:
    """The runs' predictions of the same samples side by side (see the module docstring for which
    samples). Raises an :class:`~rrg.errors.RrgError` (one line naming the run, split or sample)
    for an unknown run id, a run given twice, a run without predictions (on ``split``), runs that
    share no split or no sample, runs evaluated on different data, a sample id, question or study
    that matches nothing, more than one of ``worst``/``best``/``disagree``, or a count under 1."""
    from rrg.results.names import model_name, stage_name

    if not run_ids:
        raise RrgError("no runs to show side by side", hint="give one or more run ids from `rrg runs list`")
    ranking = [(name, n) for name, n in (("worst", worst), ("best", best), ("disagree", disagree)) if n is not None]
    if len(ranking) > 1:
        raise RrgError(f"--{ranking[0][0]} and --{ranking[1][0]} choose samples in two ways",
                       hint="give one of --worst, --best, --disagree")
    for name, n in ranking:
        _count(name, n)
    ids = [registry.resolve_run_id(r) for r in run_ids]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise RrgError(f"run {repeated[0]} is given twice", hint="name each run once")
    details = [registry.get_run(i) for i in ids]
    chosen_split = _common_split(details, split)
    columns = []
    for detail in details:
        run = detail.run
        name = model_name(run.model_family, run.model_id)
        columns.append(RunColumn(run.id, run_label(name, run.stage, run.id), name, run.stage))
    predictions = [{p.sample_id: p for p in registry.predictions(i, chosen_split, study_id=study)} for i in ids]
    if study is not None:
        empty = next((c for c, found in zip(columns, predictions) if not found), None)
        if empty is not None:
            raise RrgError(
                f"run {empty.run_id} ({empty.model}, {stage_name(empty.stage)}) has no prediction of study "
                f"{study!r} on {chosen_split}",
                hint=f"study ids look like CXR1000; `rrg samples {empty.run_id} --json` shows each sample's study_id",
            )
    shared = set(predictions[0]).intersection(*predictions[1:])
    if not shared:
        raise RrgError(
            f"runs {', '.join(c.run_id for c in columns)} share no sample on {chosen_split}",
            hint="compare runs evaluated on the same data set (`rrg runs show RUN` lists its datasets)",
        )
    order = sorted(shared, key=natural_key)
    if sample_ids:
        missing = [s for s in sample_ids if s not in shared]
        if missing:
            raise RrgError(
                f"sample {missing[0]!r} is not among the samples every run predicted on {chosen_split}",
                hint=f"sample ids look like {order[0]!r}; `rrg samples {' '.join(ids)} --json` lists some",
            )
        order = list(dict.fromkeys(sample_ids))
    if question is not None:
        folded = question.casefold()
        kept = [s for s in order if folded in (_first(predictions, s).question or "").casefold()]
        if not kept:
            example = next((q for q in (_first(predictions, s).question for s in order) if q), None)
            raise RrgError(f"no question on {chosen_split} contains {question!r} among the samples every run predicted",
                           hint=f"match a part of a question, e.g. of {example!r}" if example else "no sample has a question")
        order = kept
    rows = [_row(s, predictions, columns) for s in order]
    rows, selection = _select(rows, worst, best, disagree, len(columns), named=bool(sample_ids), study=study)
    if question is not None:
        selection += f" whose question contains {question!r}"
    return SideBySide(split=chosen_split, runs=columns, rows=rows, selection=selection)


def _common_split(details: Sequence[RunDetail], split: str | None) -> str:
    for detail in details:
        counts = detail.prediction_counts
        if not counts:
            raise RrgError(
                f"run {detail.run.id} ({detail.run.recipe}) has no predictions recorded",
                hint="runs record them with evaluation.save_predictions: true (the default)",
            )
        if split is not None and split not in counts:
            raise RrgError(
                f"run {detail.run.id} ({detail.run.recipe}) has no predictions on split {split}",
                hint=f"its predictions are on {', '.join(sorted(counts))}",
            )
    if split is not None:
        return split
    common = sorted(set(details[0].prediction_counts).intersection(*(d.prediction_counts for d in details[1:])))
    if not common:
        shown = "; ".join(f"{d.run.id}: {', '.join(sorted(d.prediction_counts))}" for d in details)
        raise RrgError(f"the runs share no evaluation split ({shown})",
                       hint="show runs evaluated on the same split together")
    return common[0]


def _first(predictions: Sequence[dict[str, Prediction]], sample_id: str) -> Prediction:
    return predictions[0][sample_id]


def _row(sample_id: str, predictions: Sequence[dict[str, Prediction]], columns: Sequence[RunColumn]) -> SampleRow:
    found = [p[sample_id] for p in predictions]
    reference = next((p.reference for p in found if p.reference is not None), None)
    for column, prediction in zip(columns, found):
        if prediction.reference is not None and prediction.reference != reference:
            raise RrgError(
                f"runs {columns[0].run_id} and {column.run_id} recorded different references for sample "
                f"{sample_id}: they were evaluated on different data",
                hint="show runs evaluated on the same data set together (`rrg runs show RUN` lists its datasets)",
            )
    images = next((list(p.image_paths) for p in found if p.image_paths), [])
    study_id = next((p.study_id for p in found if p.study_id), None)
    question = next((p.question for p in found if p.question is not None), None)
    outputs = [
        RunOutput(p.prediction, p.green_flare if p.green_flare is not None else p.scores.get(GREEN), dict(p.scores))
        for p in found
    ]
    return SampleRow(sample_id, question, reference, images, study_id, outputs)


def _select(
    rows: list[SampleRow], worst: int | None, best: int | None, disagree: int | None, runs: int, *, named: bool,
    study: str | None,
) -> tuple[list[SampleRow], str]:
    if worst is not None or best is not None:
        n = worst if worst is not None else best
        scored = [r for r in rows if r.mean_green_flare is not None]
        if not scored:
            raise RrgError("no sample has a per-sample green_flare recorded, so none can be ranked",
                           hint="name samples with --sample instead")
        # stable sorts keep the sample order among ties
        ranked = sorted(scored, key=lambda r: r.mean_green_flare, reverse=best is not None)
        word = "lowest" if worst is not None else "highest"
        return ranked[:n], f"the {min(n, len(ranked))} samples{_of(study)} with the {word} mean green_flare over the runs"
    if disagree is not None:
        if runs < 2:
            raise RrgError("--disagree compares runs, and one run was given", hint="give two or more run ids")
        spread = [r for r in rows if r.spread is not None]
        if not spread:
            raise RrgError("no sample has a per-sample green_flare from two runs, so none can be ranked",
                           hint="name samples with --sample instead")
        ranked = sorted(spread, key=lambda r: r.spread, reverse=True)
        count = min(disagree, len(ranked))
        return ranked[:disagree], f"the {count} samples{_of(study)} with the widest spread of green_flare between the runs"
    if named:
        return rows, "the samples named"
    if study is not None:
        return rows, f"every sample{_of(study)}"
    return rows[:DEFAULT_SAMPLES], f"the first {min(DEFAULT_SAMPLES, len(rows))} samples"


def _of(study: str | None) -> str:
    return "" if study is None else f" of study {study}"
