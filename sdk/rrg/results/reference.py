"""The study's published numbers, to stand beside what the registry holds.

:data:`STUDY_TABLE1` is the study's Table 1 (green_flare, BLEU-4 and clinical efficacy on the
IU_XRay validation split, n = 1,945) and :data:`STUDY_COMPONENTS` its Table 2 (the seven
green_flare components), both keyed ``(stage, model name)`` with rrg's stage codes and the
paper's model names (:mod:`rrg.results.names`): ``("sft", "DeepSeek-OCR")``,
``("grpo", "Qwen3-VL-4B")``. The values are copied as printed (three decimals).

The relative gains the paper quotes (location accuracy of DeepSeek-OCR after SFT, ...) are not
stored: :func:`relative_gain` and :func:`stage_gains` derive them from the same tables, so a
gain measured on the registry and the paper's are computed alike. :func:`study_rows_with_reference`
and :func:`component_rows_with_reference` put the registry's values and the paper's side by side
with their difference (registry − paper), for ``rrg table --reference study`` and
``rrg components --reference study``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rrg_registry.entities import GREEN_FLARE_COMPONENTS

STUDY_METRICS: tuple[str, ...] = ("green_flare", "bleu4_flare", "ce")
"""The columns of Table 1, as the registry names them (GREEN in its FLARE form, BLEU-4, CE)."""

COMPONENTS: tuple[str, ...] = GREEN_FLARE_COMPONENTS
"""The rows of Table 2, in the paper's order."""

STUDY_TABLE1: dict[tuple[str, str], dict[str, float]] = {
    ("zero_shot", "DeepSeek-OCR"): {"green_flare": 0.498, "bleu4_flare": 0.002, "ce": 0.851},
    ("zero_shot", "Qwen2.5-VL-7B"): {"green_flare": 0.505, "bleu4_flare": 0.000, "ce": 0.936},
    ("zero_shot", "Qwen3-VL-4B"): {"green_flare": 0.695, "bleu4_flare": 0.003, "ce": 0.327},
    ("zero_shot", "MedGemma-4B"): {"green_flare": 0.691, "bleu4_flare": 0.000, "ce": 0.850},
    ("sft", "DeepSeek-OCR"): {"green_flare": 0.846, "bleu4_flare": 0.176, "ce": 0.957},
    ("sft", "Qwen2.5-VL-7B"): {"green_flare": 0.824, "bleu4_flare": 0.117, "ce": 0.953},
    ("sft", "Qwen3-VL-4B"): {"green_flare": 0.769, "bleu4_flare": 0.050, "ce": 0.843},
    ("sft", "MedGemma-4B"): {"green_flare": 0.791, "bleu4_flare": 0.050, "ce": 0.900},
    ("grpo", "Qwen3-VL-4B"): {"green_flare": 0.793, "bleu4_flare": 0.066, "ce": 0.836},
}
"""The study's Table 1: ``(stage, model name) -> {green_flare, bleu4_flare, ce}``, in the paper's row order."""


def _components(*values: float) -> dict[str, float]:
    return dict(zip(COMPONENTS, values, strict=True))


STUDY_COMPONENTS: dict[tuple[str, str], dict[str, float]] = {
    ("zero_shot", "DeepSeek-OCR"): _components(0.248, 0.218, 0.964, 0.899, 0.998, 0.083, 0.742),
    ("sft", "DeepSeek-OCR"): _components(0.819, 0.789, 0.986, 0.932, 1.000, 0.577, 0.875),
    ("zero_shot", "Qwen3-VL-4B"): _components(0.746, 0.236, 0.974, 0.763, 0.996, 0.677, 0.694),
    ("sft", "Qwen3-VL-4B"): _components(0.767, 0.538, 0.980, 0.894, 0.997, 0.566, 0.770),
    ("grpo", "Qwen3-VL-4B"): _components(0.813, 0.564, 0.977, 0.898, 0.996, 0.625, 0.767),
}
"""The study's Table 2: ``(stage, model name) -> {component: value}`` for its five columns
(DeepSeek-OCR base and SFT; Qwen3-VL base, SFT and RL), in the paper's column order."""

GAIN_STEPS: tuple[tuple[str, str], ...] = (("zero_shot", "sft"), ("sft", "grpo"))
"""The stage changes the paper quotes relative gains for: SFT over zero-shot, GRPO over SFT."""


def relative_gain(before: float | None, after: float | None) -> float | None:
    """``(after - before) / before``: 0.789 after 0.218 is a gain of 2.62 (+262 %).

    None when either value is missing or ``before`` is 0 (no relative change of nothing).
    """
    if before is None or after is None or before == 0:
        return None
    return (after - before) / before


def stage_gains(
    table: Mapping[tuple[str, str], Mapping[str, float | None]], model: str, before: str, after: str
) -> dict[str, float | None]:
    """For each value of ``model`` at stage ``before`` that it also has at stage ``after``, its
    relative gain (:func:`relative_gain`). ``table`` is keyed ``(stage, model name)``, as
    :data:`STUDY_COMPONENTS` (the paper's gains) or rows read from the registry are.

    ``stage_gains(STUDY_COMPONENTS, "DeepSeek-OCR", "zero_shot", "sft")["location_accuracy"]``
    is 2.619... (0.789 over 0.218). Empty when the model lacks either stage.
    """
    first, second = table.get((before, model)), table.get((after, model))
    if first is None or second is None:
        return {}
    return {name: relative_gain(first[name], second[name]) for name in first if name in second}


def _delta(registry_value: float | None, paper_value: float | None) -> float | None:
    if registry_value is None or paper_value is None:
        return None
    return registry_value - paper_value


def study_rows_with_reference(
    rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = STUDY_METRICS
) -> list[dict[str, Any]]:
    """Table 1 rows (``stage``, ``model`` as a display name, one key per metric, ...) with, for each
    metric, ``<metric>_paper`` (the study's value, None where the paper has no such row) and
    ``<metric>_delta`` (registry − paper) after it. The paper's rows the registry has no run for
    follow in the study's order, with the registry's values, ``run`` and ``recipe`` None (and no
    ``passed_over``), so a missing row shows as missing."""
    out = []
    seen = set()
    for row in rows:
        key = (row["stage"], row["model"])
        seen.add(key)
        out.append(_with_reference(row, STUDY_TABLE1.get(key, {}), metrics))
    for (stage, model), values in STUDY_TABLE1.items():
        if (stage, model) not in seen:
            empty = {"stage": stage, "model": model, "run": None, **{m: None for m in metrics}, "recipe": None,
                     "passed_over": []}
            out.append(_with_reference(empty, values, metrics))
    return out


def _with_reference(row: Mapping[str, Any], paper: Mapping[str, float], names: Sequence[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in row.items():
        result[key] = value
        if key in names:
            result[f"{key}_paper"] = paper.get(key)
            result[f"{key}_delta"] = _delta(value, paper.get(key))
    for name in names:  # a metric the row lacks still gets its three keys
        if name not in result:
            result[name] = None
            result[f"{name}_paper"] = paper.get(name)
            result[f"{name}_delta"] = None
    return result


def component_rows_with_reference(
    columns: Sequence[tuple[str, str]],
    values: Mapping[tuple[str, str], Mapping[str, float | None]],
    *,
    reference: bool = True,
    stage_label: Callable[[str], str] = str,
) -> list[dict[str, Any]]:
    """Table 2 in long form: one row per (model, stage, component) of ``columns`` (``(stage, model
    name)`` pairs in display order; ``values`` maps each to its seven components), with ``model``,
    ``stage`` (as ``stage_label`` names it), ``component`` and ``value``; with ``reference``, also
    ``paper`` (:data:`STUDY_COMPONENTS`, None where the paper has no such column) and ``delta``
    (value − paper).

    Where the model has the stage before it in :data:`GAIN_STEPS` among ``columns`` (SFT and its
    zero-shot; GRPO and its SFT), ``gain`` is the relative gain over that stage
    (:func:`relative_gain`) and, with ``reference``, ``gain_paper`` the paper's (None where the
    paper has not both stages); rows without an earlier stage have both None.
    """
    previous = {after: before for before, after in GAIN_STEPS}
    rows = []
    for stage, model in columns:
        before = previous.get(stage)
        has_before = before is not None and (before, model) in values
        gains = stage_gains(values, model, before, stage) if has_before else {}
        paper_gains = stage_gains(STUDY_COMPONENTS, model, before, stage) if has_before else {}
        paper = STUDY_COMPONENTS.get((stage, model), {})
        for name in COMPONENTS:
            value = values[(stage, model)].get(name)
            row: dict[str, Any] = {"model": model, "stage": stage_label(stage), "component": name, "value": value}
            if reference:
                row["paper"] = paper.get(name)
                row["delta"] = _delta(value, paper.get(name))
            row["gain"] = gains.get(name)
            if reference:
                row["gain_paper"] = paper_gains.get(name)
            rows.append(row)
    return rows
