"""``rrg table`` and ``rrg components``: the study's Table 1 and Table 2 from the registry.

Both choose the run of each (stage, model family) row by one rule (:mod:`rrg_registry.study`):
succeeded runs carrying every ``--tag``; zero-shot rows take base models only (a run starting
from an adapter is no zero-shot baseline); runs of the recipe named for the row (``--recipe``,
else the study's own recipe for it); of those the latest (default) or, with ``--pick best``, the
highest green_flare. The table shows the run used and, under it, what was passed over and why.
"""

from __future__ import annotations

import click

from rrg.cli.output import emit_notes, emit_rows, output_options
from rrg.cli.registry_option import existing_registry_option


@click.command("table")
@click.option("--layout", type=click.Choice(["study"]), default="study", show_default=True,
              help="study: rows stage x model, columns green_flare, bleu4_flare, ce (the study's Table 1).")
@click.option("--tag", "tags", multiple=True, help="Consider only runs carrying this tag (repeatable).")
@click.option("--pick", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
              help="Which run of a row's recipe: the one that ended last, or the highest green_flare.")
@click.option("--recipe", "recipes", multiple=True, metavar="NAME[@VERSION]",
              help="The recipe whose runs fill the row they fall in (repeatable); default: the study's recipe for each row.")
@output_options
@existing_registry_option
def table(registry, layout, tags, pick, recipes, output_format) -> None:
    """The study's results table from the registry.

    One row per (stage, model family) with an eligible run: its recipe, its id, and its
    green_flare, bleu4_flare and ce. The run is chosen by a stated rule: succeeded, carrying every
    --tag; for zero-shot rows a base model with no adapter (a run starting from an adapter or a
    parent run is not a zero-shot baseline); of the recipe named for the row (--recipe, else the
    study's recipe for that stage and model, where one has runs); and of those the latest
    (--pick latest, the default: a re-run replaces its row) or the highest green_flare
    (--pick best). A note under the table names every candidate passed over and why.

    JSON keys: stage, model, run, green_flare, bleu4_flare, ce, recipe, passed_over (a list of
    {run, recipe, reason}, reason one of adapter, other_recipe, earlier, lower_green_flare).

    \b
    Examples:
      rrg table --layout study --tag paper
      rrg table --pick best --recipe demo-sft
    """
    from rrg_registry import study

    registry.reap_stale_runs(strict=False)  # browsing still lists a read-only or locked registry
    choices = registry.study_choices(tags=list(tags), pick=pick, recipes=list(recipes))
    rows = study.study_rows(choices)
    emit_rows(rows, output_format, columns=("stage", "model", "recipe", "run", "green_flare", "bleu4_flare", "ce"),
              title=f"Table 1: green_flare, BLEU-4 (FLARE) and clinical efficacy ({pick} run per row)")
    if output_format == "table":
        emit_notes(study.selection_notes(choices))


@click.command("components")
@click.option("--tag", "tags", multiple=True, help="Consider only runs carrying this tag (repeatable).")
@click.option("--pick", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
              help="Which run of a row's recipe: the one that ended last, or the highest green_flare.")
@click.option("--recipe", "recipes", multiple=True, metavar="NAME[@VERSION]",
              help="The recipe whose runs fill the row they fall in (repeatable); default: the study's recipe for each row.")
@output_options
@existing_registry_option
def components(registry, tags, pick, recipes, output_format) -> None:
    """The study's Table 2: the seven green_flare components per model and stage.

    Rows are the components; columns are MODEL/STAGE for every (stage, model family) whose run,
    chosen by the same rule as `rrg table` (see its --help), logged components. The runs used and
    the candidates passed over are noted under the table. JSON: a list of
    {"component": ..., "MODEL/STAGE": value, ...}; `rrg table --json` names the runs.

    \b
    Example:
      rrg components --format csv
    """
    from rrg_registry import study

    registry.reap_stale_runs(strict=False)  # browsing still lists a read-only or locked registry
    choices = registry.study_choices(tags=list(tags), pick=pick, recipes=list(recipes))
    columns, rows = registry.components_table(choices=choices)
    emit_rows(rows, output_format, columns=("component", *columns),
              title=f"Table 2: green_flare components ({pick} run per column)")
    if output_format == "table":
        used = {study.component_column(c.stage, c.family): c.run for c in choices if c.run is not None}
        emit_notes([f"{column}: run {used[column].id} ({used[column].recipe})" for column in columns]
                   + study.selection_notes(choices))
