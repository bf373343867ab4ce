"""``rrg table`` and ``rrg components``: the study's Table 1 and Table 2 from the registry.

For each (stage, model family) both take the succeeded run that ended last (``--tag`` narrows
the candidates), so the tables follow the latest results.
"""

from __future__ import annotations

import click

from rrg.cli.output import emit_rows, output_options
from rrg.cli.registry_option import registry_option


@click.command("table")
@click.option("--layout", type=click.Choice(["study"]), default="study", show_default=True,
              help="study: rows stage x model, columns green_flare, bleu4_flare, ce (the study's Table 1).")
@click.option("--tag", "tags", multiple=True, help="Consider only runs carrying this tag (repeatable).")
@output_options
@registry_option
def table(registry, layout, tags, output_format) -> None:
    """The study's results table from the registry.

    One row per (stage, model family) with a succeeded run: the run that ended last, its id, and
    its green_flare, bleu4_flare and ce. JSON keys: stage, model, run, green_flare, bleu4_flare, ce.

    \b
    Example:
      rrg table --layout study --tag paper
    """
    registry.reap_stale_runs(strict=False)  # browsing still lists a read-only or locked registry
    rows = registry.study_table(tags=list(tags))
    emit_rows(rows, output_format, columns=("stage", "model", "run", "green_flare", "bleu4_flare", "ce"),
              title="Table 1: green_flare, BLEU-4 (FLARE) and clinical efficacy")


@click.command("components")
@click.option("--tag", "tags", multiple=True, help="Consider only runs carrying this tag (repeatable).")
@output_options
@registry_option
def components(registry, tags, output_format) -> None:
    """The study's Table 2: the seven green_flare components per model and stage.

    Rows are the components; columns are MODEL/STAGE for every (stage, model family) whose latest
    succeeded run logged components. JSON: a list of {"component": ..., "MODEL/STAGE": value, ...}.

    \b
    Example:
      rrg components --format csv
    """
    registry.reap_stale_runs(strict=False)  # browsing still lists a read-only or locked registry
    columns, rows = registry.components_table(tags=list(tags))
    emit_rows(rows, output_format, columns=("component", *columns), title="Table 2: green_flare components")
