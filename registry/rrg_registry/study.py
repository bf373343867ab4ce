"""The study's tables, built from whatever the registry holds.

* Table 1 (``study_rows``): one row per (stage, model) — zero_shot, sft, grpo, each for every
  model that has an eligible run — with columns green_flare, bleu4_flare and ce.
* Table 2 (``components_rows``): one row per green_flare component, one column per
  (model, stage).

A row's model is the run's model as a person names it, so two models of one family (Qwen3-VL-4B
and Qwen3-VL-8B) get two rows. This package does not know the study's model names: the caller
passes a naming function ``model_name(family, model_id) -> str`` (``rrg.results.names.model_name``
is the SDK's, giving ``Qwen3-VL-4B``); without one a model is named by its recorded model id
(:func:`model_id_name`). Runs of one family whose models get the same name share a row.

Which run fills a row is decided by :func:`choose_rows`, by one stated rule:

1. **Candidates**: the succeeded runs of that stage and model (carrying every tag asked for).
2. **Zero-shot rows take base models only**: a zero-shot run that starts from an adapter (its
   ``adapter`` or parent run is set, e.g. an evaluation of a pulled SFT adapter) is not a zero-shot
   baseline and is passed over.
3. **The recipe named for the row**: a recipe named by the caller (``recipes``, ``--recipe``) whose
   runs fall in the row, else the first of the study's recipes for that row
   (:data:`STUDY_RECIPES`, by stage and model family: the shipped paper recipe, then the demo's)
   that has a run there. Runs of other recipes are passed over. Where no recipe is named or none
   of the named ones has a run, every candidate stays in.
4. **The pick** among what is left: ``latest`` (the default: the run that ended last, so re-running
   a recipe replaces its row) or ``best`` (the highest green_flare; runs without one last, ties to
   the latest). ``latest`` is the default because picking the best of several runs on the split
   the table reports is an optimistic selection; ``best`` is there when asked for.

Every row carries the run id used, its recipe and the candidates passed over with the reason, so
a table can say why a number is there (:func:`selection_notes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from rrg_registry.entities import GREEN_FLARE_COMPONENTS, GreenFlareComponents, RunSummary
from rrg_registry.errors import InvalidQuery

STAGE_ORDER: tuple[str, ...] = ("zero_shot", "sft", "grpo")
FAMILY_ORDER: tuple[str, ...] = ("deepseek_ocr", "deepseek_ocr2", "qwen2_5_vl", "qwen3_vl", "medgemma")
STUDY_METRICS: tuple[str, ...] = ("green_flare", "bleu4_flare", "ce")

PICKS: tuple[str, ...] = ("latest", "best")
DEFAULT_PICK = "latest"
PICK_METRIC = "green_flare"
"""The metric ``--pick best`` ranks on."""

ModelNamer = Callable[[str, str], str]
"""``(model family, model id) -> the name a row shows`` (``rrg.results.names.model_name``)."""


def model_id_name(family: str, model_id: str) -> str:
    """The naming used when the caller passes none: the model id as recorded."""
    return model_id


STUDY_RECIPES: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("zero_shot", "deepseek_ocr"): ("deepseek-ocr-zero-shot",),
    ("sft", "deepseek_ocr"): ("deepseek-ocr-sft",),
    ("zero_shot", "qwen2_5_vl"): ("qwen2.5-vl-7b-zero-shot", "demo-zero-shot", "demo-zero-shot-registered", "demo-base"),
    ("sft", "qwen2_5_vl"): ("qwen2.5-vl-7b-sft", "demo-sft", "demo-multi-dataset"),
    ("grpo", "qwen2_5_vl"): ("demo-grpo",),
    ("zero_shot", "qwen3_vl"): ("qwen3-vl-4b-zero-shot",),
    ("sft", "qwen3_vl"): ("qwen3-vl-4b-sft", "qwen3-vl-4b-sft-registered"),
    ("grpo", "qwen3_vl"): ("qwen3-vl-4b-grpo",),
    ("zero_shot", "medgemma"): ("medgemma-4b-zero-shot",),
    ("sft", "medgemma"): ("medgemma-4b-sft",),
}
"""For each (stage, model family) row, the recipes named for it, in order of preference: the
shipped paper recipe of that cell (then its variant reading a registered dataset), then the CPU
demo's (tests check these against ``recipes/``)."""

# Why a candidate was passed over (``PassedOver.reason``), and how a note says it.
FROM_ADAPTER = "adapter"
OTHER_RECIPE = "other_recipe"
EARLIER = "earlier"
LOWER = "lower_green_flare"
REASONS: Mapping[str, str] = {
    FROM_ADAPTER: "starting from an adapter (not a zero-shot baseline)",
    OTHER_RECIPE: "of another recipe than {recipe}",
    EARLIER: "that ended earlier",
    LOWER: f"with a lower {PICK_METRIC}",
}


def _rank(order: Sequence[str], value: str) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), value)


def ordered_keys(keys: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """(stage, family[, model]) keys in the study's order: stages, then model families (unknown
    ones last), then model names."""
    return sorted(keys, key=lambda k: (_rank(STAGE_ORDER, k[0]), _rank(FAMILY_ORDER, k[1]), *k[2:]))


@dataclass(frozen=True)
class PassedOver:
    """A candidate of a row that was not used, and why."""

    run: str
    recipe: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"run": self.run, "recipe": self.recipe, "reason": self.reason}


class Candidate(NamedTuple):
    """What choosing a row needs of one succeeded run (read for every candidate without building
    full summaries; the chosen runs are read in full afterwards)."""

    id: str
    recipe: str
    stage: str
    model_family: str
    model_id: str
    adapter: str | None
    parent_run_id: str | None
    created_at: datetime
    ended_at: datetime | None
    pick_value: float | None

    @property
    def metrics(self) -> dict[str, float]:
        return {} if self.pick_value is None else {PICK_METRIC: self.pick_value}


@dataclass(frozen=True)
class RowChoice:
    """The run chosen for one (stage, model) row, or None when no candidate is eligible."""

    stage: str
    family: str
    run: RunSummary | None
    pick: str
    recipe: str | None = None
    """The recipe name the row was narrowed to (named by the caller or the study), if any."""
    passed_over: tuple[PassedOver, ...] = ()
    model: str = ""
    """The row's model as the caller's naming function names it (the model id by default)."""

    @property
    def key(self) -> tuple[str, str]:
        """``(stage, model)``: what Table 1 rows are keyed by."""
        return (self.stage, self.model or self.family)

    def note(self) -> str | None:
        """One line on what was passed over and why (None when the run was the only candidate),
        e.g. ``sft Qwen2.5-VL (tiny): used 3fa2c1d0 (demo-sft@1, the latest); passed over 1 run of
        another recipe than demo-sft: 9b1c2d3e (toy-sft@1)``."""
        if not self.passed_over:
            return None
        groups: dict[str, list[PassedOver]] = {}
        for item in self.passed_over:
            groups.setdefault(item.reason, []).append(item)
        parts = []
        for reason, items in groups.items():
            phrase = REASONS.get(reason, reason).format(recipe=self.recipe)
            if reason in (EARLIER, LOWER):
                ids = ", ".join(i.run for i in items)
            else:
                ids = ", ".join(f"{i.run} ({i.recipe})" for i in items)
            parts.append(f"{len(items)} run{'s' if len(items) > 1 else ''} {phrase}: {ids}")
        head = f"{self.stage} {self.model or self.family}: "
        used = "no eligible run" if self.run is None else f"used {self.run.id} ({self.run.recipe}, the {self.pick})"
        return head + used + "; passed over " + "; ".join(parts)


def _ended(run: RunSummary) -> tuple[datetime, datetime, str]:
    floor = datetime.min.replace(tzinfo=UTC)
    return (run.ended_at or floor, run.created_at, run.id)


def _recipe_name(run: RunSummary) -> str:
    return run.recipe.rpartition("@")[0] or run.recipe


def _matches(run: RunSummary, named: str) -> bool:
    return run.recipe == named if "@" in named else _recipe_name(run) == named


def _starts_from_adapter(run: RunSummary) -> bool:
    return run.adapter is not None or run.parent_run_id is not None


def choose_rows(
    candidates: Iterable[RunSummary],
    pick: str = DEFAULT_PICK,
    recipes: Sequence[str] = (),
    model_name: ModelNamer | None = None,
) -> list[RowChoice]:
    """One :class:`RowChoice` per (stage, model) of ``candidates`` (succeeded runs), in the study's
    order, by the rule in the module docstring. ``recipes`` names recipes (``NAME`` or
    ``NAME@VERSION``) that fill the rows their runs fall in, before the study's own names.
    ``model_name`` names each run's model (default :func:`model_id_name`)."""
    if pick not in PICKS:
        raise InvalidQuery(f"cannot pick runs by {pick!r}", hint=f"use one of {', '.join(PICKS)}")
    name = model_name or model_id_name
    rows: dict[tuple[str, str, str], list[RunSummary]] = {}
    for run in candidates:
        rows.setdefault((run.stage, run.model_family, name(run.model_family, run.model_id)), []).append(run)
    choices = []
    for key in ordered_keys(list(rows)):
        choices.append(_choose(key, rows[key], pick, recipes))
    return choices


def _choose(key: tuple[str, str, str], runs: list[RunSummary], pick: str, recipes: Sequence[str]) -> RowChoice:
    stage, family, model = key
    passed: list[PassedOver] = []
    pool = list(runs)
    if stage == "zero_shot":
        passed += [PassedOver(r.id, r.recipe, FROM_ADAPTER) for r in pool if _starts_from_adapter(r)]
        pool = [r for r in pool if not _starts_from_adapter(r)]
    named = [n for n in recipes if any(_matches(r, n) for r in pool)]
    if not named:
        named = [n for n in STUDY_RECIPES.get((stage, family), ()) if any(_matches(r, n) for r in pool)][:1]
    recipe = None
    if named:
        recipe = " or ".join(named)
        kept = [r for r in pool if any(_matches(r, n) for n in named)]
        passed += [PassedOver(r.id, r.recipe, OTHER_RECIPE) for r in pool if r not in kept]
        pool = kept
    if not pool:
        return RowChoice(stage, family, None, pick, recipe, tuple(passed), model)
    if pick == "best":
        def score(r: RunSummary) -> tuple[bool, float, tuple]:
            value = r.metrics.get(PICK_METRIC)
            return (value is not None, value if value is not None else 0.0, _ended(r))

        ranked = sorted(pool, key=score, reverse=True)
        reason = LOWER
    else:
        ranked = sorted(pool, key=_ended, reverse=True)
        reason = EARLIER
    passed += [PassedOver(r.id, r.recipe, reason) for r in ranked[1:]]
    return RowChoice(stage, family, ranked[0], pick, recipe, tuple(passed), model)


def selection_notes(choices: Sequence[RowChoice]) -> list[str]:
    """The note lines of the rows where candidates were passed over (see :meth:`RowChoice.note`)."""
    return [note for note in (c.note() for c in choices) if note]


def study_rows(choices: Sequence[RowChoice], metrics: Sequence[str] = STUDY_METRICS) -> list[dict[str, Any]]:
    """Table 1 rows: ``stage``, ``model`` (the row's model name), ``run``, one key per metric (None
    when not logged), ``recipe`` (the run's name@version) and ``passed_over`` (a list of {run,
    recipe, reason})."""
    rows = []
    for choice in choices:
        run = choice.run
        if run is None:
            continue
        row: dict[str, Any] = {"stage": choice.stage, "model": choice.key[1], "run": run.id}
        row.update({name: run.metrics.get(name) for name in metrics})
        row["recipe"] = run.recipe
        row["passed_over"] = [p.to_dict() for p in choice.passed_over]
        rows.append(row)
    return rows


def component_column(stage: str, model: str) -> str:
    """The Table 2 column name of a (stage, model): ``model/stage`` (``Qwen3-VL-4B/sft``)."""
    return f"{model}/{stage}"


def component_choices(
    choices: Sequence[RowChoice], components: Mapping[str, GreenFlareComponents]
) -> list[RowChoice]:
    """The chosen rows whose run logged components, model by model (families in the study's
    order), stages in study order within each: the columns of Table 2."""
    kept = [c for c in choices if c.run is not None and c.run.id in components]
    return sorted(kept, key=lambda c: (_rank(FAMILY_ORDER, c.family), c.key[1], _rank(STAGE_ORDER, c.stage)))


def components_rows(
    choices: Sequence[RowChoice], components: Mapping[str, GreenFlareComponents]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Table 2: the column names and one row per component (``component`` plus one key per column).

    Only rows whose run logged components get a column (see :func:`component_choices`).
    """
    kept = component_choices(choices, components)
    columns = [component_column(*c.key) for c in kept]
    rows = []
    for name in GREEN_FLARE_COMPONENTS:
        row: dict[str, Any] = {"component": name}
        for choice, column in zip(kept, columns):
            row[column] = getattr(components[choice.run.id], name)
        rows.append(row)
    return columns, rows
