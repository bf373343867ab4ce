"""The study's tables, built from whatever the registry holds.

* Table 1 (``study_table``): one row per (stage, model family) — zero_shot, sft, grpo, each for
  every model family that has a succeeded run — with columns green_flare, bleu4_flare and ce.
* Table 2 (``components_table``): one row per green_flare component, one column per
  (model family, stage).

For each (stage, model family) the table takes the succeeded run that **ended last** (optionally
among runs carrying given tags), so re-running an experiment replaces its row; the run id is part
of each Table 1 row so every number can be traced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rrg_registry.entities import GREEN_FLARE_COMPONENTS, GreenFlareComponents, RunSummary

STAGE_ORDER: tuple[str, ...] = ("zero_shot", "sft", "grpo")
FAMILY_ORDER: tuple[str, ...] = ("deepseek_ocr", "deepseek_ocr2", "qwen2_5_vl", "qwen3_vl", "medgemma")
STUDY_METRICS: tuple[str, ...] = ("green_flare", "bleu4_flare", "ce")


def _rank(order: Sequence[str], value: str) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), value)


def ordered_keys(keys: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(stage, family) pairs in the study's order: stages, then model families, unknown ones last."""
    return sorted(keys, key=lambda k: (_rank(STAGE_ORDER, k[0]), _rank(FAMILY_ORDER, k[1])))


def study_rows(chosen: Mapping[tuple[str, str], RunSummary], metrics: Sequence[str] = STUDY_METRICS) -> list[dict[str, Any]]:
    """Table 1 rows: ``stage``, ``model``, ``run`` and one key per metric (None when not logged)."""
    rows = []
    for stage, family in ordered_keys(list(chosen)):
        run = chosen[(stage, family)]
        row: dict[str, Any] = {"stage": stage, "model": family, "run": run.id}
        row.update({name: run.metrics.get(name) for name in metrics})
        rows.append(row)
    return rows


def component_column(stage: str, family: str) -> str:
    """The Table 2 column name of a (stage, model family): ``family/stage``."""
    return f"{family}/{stage}"


def components_rows(
    chosen: Mapping[tuple[str, str], RunSummary], components: Mapping[str, GreenFlareComponents]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Table 2: the column names and one row per component (``component`` plus one key per column).

    Only (stage, family) pairs whose run logged components get a column; columns go model family by
    model family, stages in study order within each.
    """
    keys = [k for k in chosen if chosen[k].id in components]
    keys.sort(key=lambda k: (_rank(FAMILY_ORDER, k[1]), _rank(STAGE_ORDER, k[0])))
    columns = [component_column(stage, family) for stage, family in keys]
    rows = []
    for name in GREEN_FLARE_COMPONENTS:
        row: dict[str, Any] = {"component": name}
        for (stage, family), column in zip(keys, columns):
            row[column] = getattr(components[chosen[(stage, family)].id], name)
        rows.append(row)
    return columns, rows
