"""``rrg table`` and ``rrg components``: the study's Table 1 and Table 2 from the registry.

Both choose the run of each (stage, model) row by one rule (:mod:`rrg_registry.study`):
succeeded runs carrying every ``--tag``; zero-shot rows take base models only (a run starting
from an adapter is no zero-shot baseline); runs of the recipe named for the row (``--recipe``,
else the study's own recipe for it); of those the latest (default) or, with ``--pick best``, the
highest green_flare. The table shows the run used and, under it, what was passed over and why.

Models are shown by name (:func:`rrg.results.names.model_name`: ``Qwen3-VL-4B``), so two models
of one family are two rows. ``--reference study`` sets the study's published numbers
(:mod:`rrg.results.reference`) and the difference registry − paper beside the registry's.
Tables show stages by name (``zero-shot``, ``SFT``); JSON and CSV keep the codes (``zero_shot``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from rrg.cli.output import emit_notes, emit_rows, output_options
from rrg.cli.registry_option import existing_registry_option
from rrg.errors import RrgError

PICK_HELP = "Which run of a row's recipe: the one that ended last, or the highest green_flare."
RECIPE_HELP = "The recipe whose runs fill the row they fall in (repeatable); default: the study's recipe for each row."
REFERENCE_HELP = "Set the study's published numbers (shared/specs/paper.md) and the difference registry - paper beside the registry's."
STAGES = ("zero_shot", "sft", "grpo")


def _gain_text(value: float | None) -> str | None:
    """A relative gain as a table shows it: ``+262.0 %``."""
    return None if value is None else f"{value * 100:+.1f} %"


def _table_view(rows: Sequence[dict[str, Any]], gains: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows as a table prints them: stages by name, relative gains in percent."""
    from rrg.results.names import stage_name

    out = []
    for row in rows:
        shown = dict(row)
        if "stage" in shown:
            shown["stage"] = stage_name(shown["stage"])
        for key in gains:
            if key in shown:
                shown[key] = _gain_text(shown[key])
        out.append(shown)
    return out


@click.command("table")
@click.option("--layout", type=click.Choice(["study"]), default="study", show_default=True,
              help="study: rows stage x model, columns green_flare, bleu4_flare, ce (the study's Table 1).")
@click.option("--tag", "tags", multiple=True, help="Consider only runs carrying this tag (repeatable).")
@click.option("--pick", type=click.Choice(["latest", "best"]), default="latest", show_default=True, help=PICK_HELP)
@click.option("--recipe", "recipes", multiple=True, metavar="NAME[@VERSION]", help=RECIPE_HELP)
@click.option("--reference", type=click.Choice(["study"]), default=None, help=REFERENCE_HELP)
@output_options
@existing_registry_option
def table(registry, layout, tags, pick, recipes, reference, output_format) -> None:
    """The study's results table from the registry.

    One row per (stage, model) with an eligible run: its recipe, its id, and its green_flare,
    bleu4_flare and ce. Models are named as the study names them (DeepSeek-OCR, Qwen3-VL-4B, ...;
    a tiny twin as "Qwen3-VL (tiny)"), so two models of one family are two rows. The run is
    chosen by a stated rule: succeeded, carrying every --tag; for zero-shot rows a base model with
    no adapter (a run starting from an adapter or a parent run is not a zero-shot baseline); of
    the recipe named for the row (--recipe, else the study's recipe for that stage and model,
    where one has runs); and of those the latest (--pick latest, the default: a re-run replaces
    its row) or the highest green_flare (--pick best). A note under the table names every
    candidate passed over and why.

    --reference study adds, after each metric, the study's published value (METRIC_paper) and
    the difference registry - paper (METRIC_delta); the study's rows the registry has no run for
    follow with empty registry values.

    JSON keys: stage (zero_shot, sft, grpo), model, run, green_flare, bleu4_flare, ce (each
    followed by METRIC_paper and METRIC_delta with --reference), recipe, passed_over (a list of
    {run, recipe, reason}, reason one of adapter, other_recipe, earlier, lower_green_flare).

    \b
    Examples:
      rrg table --layout study --tag paper
      rrg table --reference study --csv
      rrg table --pick best --recipe demo-sft
    """
    from rrg_registry import study

    from rrg.results.names import model_name

    registry.reap_stale_runs(strict=False)  # browsing still lists a read-only or locked registry
    choices = registry.study_choices(tags=list(tags), pick=pick, recipes=list(recipes), model_name=model_name)
    rows = study.study_rows(choices)
    metrics: list[str] = list(study.STUDY_METRICS)
    title = f"Table 1: green_flare, BLEU-4 (FLARE) and clinical efficacy ({pick} run per row)"
    if reference == "study":
        from rrg.results.reference import study_rows_with_reference

        rows = study_rows_with_reference(rows)
        metrics = [key for name in study.STUDY_METRICS for key in (name, f"{name}_paper", f"{name}_delta")]
        title += ", beside the study's published values"
    columns = ("stage", "model", "recipe", "run", *metrics)
    if output_format == "table":
        emit_rows(_table_view(rows), output_format, columns=columns, title=title)
        notes = study.selection_notes(choices)
        if reference == "study":
            notes.append("METRIC_paper: the study's Table 1 (IU_XRay validation, n = 1,945); "
                         "METRIC_delta: registry - paper")
        emit_notes(notes)
    else:
        emit_rows(rows, output_format, columns=columns)


def _matching_model(wanted: str, choices: Sequence[Any]) -> str | None:
    """The row model ``wanted`` names: its display name or its runs' model id, in any case."""
    folded = wanted.casefold()
    return next((c.model for c in choices if folded in (c.model.casefold(), c.run.model_id.casefold())), None)


def _filtered(choices: Sequence[Any], models: Sequence[str], stages: Sequence[str]) -> list[Any]:
    """The chosen rows of the ``models`` (names or model ids, any case) and ``stages`` asked for;
    a model or stage the registry has no row of is an error naming what there is."""
    from rrg.results.names import stage_name

    filled = [c for c in choices if c.run is not None]
    names = list(dict.fromkeys(c.model for c in filled))
    kept_models = []
    for wanted in models:
        found = _matching_model(wanted, filled)
        if found is None:
            raise RrgError(
                f"no run of a model named {wanted!r} fills a row of the table",
                hint=("models with a row: " + ", ".join(names)) if names else "record runs with `rrg run`",
            )
        kept_models.append(found)
    present = {c.stage for c in choices if c.run is not None}
    for stage in stages:
        if stage not in present:
            shown = ", ".join(s for s in STAGES if s in present) or "none"
            raise RrgError(f"no run of stage {stage} ({stage_name(stage)}) fills a row of the table",
                           hint=f"stages with a row: {shown}")
    return [
        c for c in choices
        if (not kept_models or c.model in kept_models) and (not stages or c.stage in stages)
    ]


def _component_values(choices: Sequence[Any], components: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {c.key: components[c.run.id].values() for c in choices if c.run is not None and c.run.id in components}


@click.command("components")
@click.option("--tag", "tags", multiple=True, help="Consider only runs carrying this tag (repeatable).")
@click.option("--pick", type=click.Choice(["latest", "best"]), default="latest", show_default=True, help=PICK_HELP)
@click.option("--recipe", "recipes", multiple=True, metavar="NAME[@VERSION]", help=RECIPE_HELP)
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="Only this model's columns, by the name the table shows (DeepSeek-OCR) or its model id (repeatable).")
@click.option("--stage", "stages", multiple=True, type=click.Choice(STAGES),
              help="Only this stage's columns (repeatable).")
@click.option("--reference", type=click.Choice(["study"]), default=None, help=REFERENCE_HELP)
@output_options
@existing_registry_option
def components(registry, tags, pick, recipes, models, stages, reference, output_format) -> None:
    """The study's Table 2: the seven green_flare components per model and stage.

    Rows are the components; columns are MODEL/STAGE for every (stage, model) whose run, chosen
    by the same rule as `rrg table` (see its --help), logged components. Where a model has both
    stages of a step the study quotes relative gains for (SFT over zero-shot, GRPO over SFT), the
    column "MODEL/STAGE gain" after the later stage holds (later - earlier) / earlier per
    component (a fraction in JSON and CSV, in percent in the table). --model and --stage keep only
    those columns; a gain still compares with the earlier stage's run. The runs used and the
    candidates passed over are noted under the table.

    --reference study prints one row per (model, stage, component) instead: value (the
    registry's), paper (the study's Table 2, where it has that column), delta (value - paper),
    gain (over the earlier stage, as above) and gain_paper (the paper's).

    JSON: a list of {"component": ..., "MODEL/STAGE": value, "MODEL/STAGE gain": ..., ...}, or with
    --reference, of {model, stage, component, value, paper, delta, gain, gain_paper};
    `rrg table --json` names the runs.

    \b
    Examples:
      rrg components --format csv
      rrg components --model Qwen3-VL-4B --reference study
      rrg components --stage sft --reference study --json
    """
    from rrg_registry import study

    from rrg.results.names import model_name
    from rrg.results.reference import component_rows_with_reference

    registry.reap_stale_runs(strict=False)  # browsing still lists a read-only or locked registry
    choices = registry.study_choices(tags=list(tags), pick=pick, recipes=list(recipes), model_name=model_name)
    shown = _filtered(choices, models, stages)
    found = registry.latest_components([c.run.id for c in choices if c.run is not None])
    values = _component_values(choices, found)
    kept = study.component_choices(shown, found)
    used = [f"{study.component_column(*c.key)}: run {c.run.id} ({c.run.recipe})" for c in kept]
    notes = used + study.selection_notes(shown)
    if reference == "study":
        rows = component_rows_with_reference([(c.stage, c.model) for c in kept], values)
        columns = ("model", "stage", "component", "value", "paper", "delta", "gain", "gain_paper")
        title = f"Table 2: green_flare components beside the study's ({pick} run per column)"
        if output_format == "table":
            emit_rows(_table_view(rows, gains=("gain", "gain_paper")), output_format, columns=columns,
                      title=title, name_column="component")
            legend = ("paper: the study's Table 2; delta: value - paper; gain: (stage - earlier stage) / "
                      "earlier stage, SFT over zero-shot and GRPO over SFT")
            emit_notes([*notes, legend])
        else:
            emit_rows(rows, output_format, columns=columns)
        return
    _wide_components(kept, found, values, pick, output_format, notes)


def _wide_components(kept: Sequence[Any], found: dict[str, Any], values: dict[tuple[str, str], dict[str, Any]],
                     pick: str, output_format: str, notes: list[str]) -> None:
    """Table 2 as the study prints it (components x MODEL/STAGE), a gain column after each later
    stage whose earlier stage the model has (``values`` holds every chosen run's components)."""
    from rrg_registry import study

    from rrg.results.names import stage_name
    from rrg.results.reference import GAIN_STEPS, stage_gains

    columns, rows = study.components_rows(kept, found)
    previous = {after: before for before, after in GAIN_STEPS}
    ordered: list[str] = []
    labels: dict[str, str] = {"component": "component"}
    gain_columns: list[str] = []
    for choice, column in zip(kept, columns):
        ordered.append(column)
        labels[column] = f"{choice.model} {stage_name(choice.stage)}"
        before = previous.get(choice.stage)
        if before is None or (before, choice.model) not in values:
            continue
        gains = stage_gains(values, choice.model, before, choice.stage)
        name = f"{column} gain"
        ordered.append(name)
        gain_columns.append(name)
        labels[name] = f"{labels[column]} gain"
        for row in rows:
            row[name] = gains.get(row["component"])
    rows = [{key: row.get(key) for key in ("component", *ordered)} for row in rows]
    if output_format != "table":
        emit_rows(rows, output_format, columns=("component", *ordered))
        return
    shown = [{labels[key]: value for key, value in row.items()} for row in _table_view(rows, gains=gain_columns)]
    emit_rows(shown, output_format, columns=[labels[key] for key in ("component", *ordered)],
              title=f"Table 2: green_flare components ({pick} run per column)")
    emit_notes(notes)
