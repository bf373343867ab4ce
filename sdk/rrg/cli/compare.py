"""``rrg compare``: runs side by side, differences from the first run, and a paired bootstrap test."""

from __future__ import annotations

import click

from rrg.cli.output import emit_rows, output_options
from rrg.cli.registry_option import registry_option


@click.command("compare")
@click.argument("run_ids", metavar="RUN RUN...", nargs=-1, required=True)
@click.option("--split", default=None, help="Split whose per-sample green_flare is tested (default: the first split both runs have).")
@click.option("--resamples", type=click.IntRange(min=100), default=10_000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resampling.")
@output_options
@registry_option
def compare(registry, run_ids, split, resamples, seed, output_format) -> None:
    """Compare runs: metrics side by side, differences against the first RUN, and a paired
    bootstrap test of per-sample green_flare (each run against the first) where both runs scored
    the same samples.

    JSON output: {"runs": [...as in runs list...], "metrics": [{"metric", RUN..., "RUN-FIRST"...}],
    "paired_tests": [...], "skipped_tests": [...]}.

    \b
    Example:
      rrg compare 3fa2 9b1c --split validation
    """
    if len(run_ids) < 2:
        raise click.UsageError("compare needs at least two runs")
    comparison = registry.compare(list(run_ids), split=split, resamples=resamples, seed=seed)
    rows = comparison.rows()
    tests = [t.model_dump() for t in comparison.paired_tests]
    if output_format == "json":
        emit_rows(rows, "json", json_data={
            "runs": [r.to_row() for r in comparison.runs],
            "metrics": rows,
            "paired_tests": tests,
            "skipped_tests": list(comparison.skipped_tests),
        })
        return
    columns = ["metric", *(r.id for r in comparison.runs), *(f"{r.id}-{comparison.runs[0].id}" for r in comparison.runs[1:])]
    emit_rows(rows, output_format, columns=columns, title="metrics (differences against the first run)")
    if output_format == "csv":
        return
    if tests:
        emit_rows(tests, "table", columns=(
            "run_id", "baseline_run_id", "split", "n", "baseline_mean", "run_mean", "mean_difference",
            "ci_low", "ci_high", "p_value",
        ), title=f"paired bootstrap of per-sample green_flare ({resamples} resamples, seed {seed}, 95% CI)")
    for reason in comparison.skipped_tests:
        click.echo(f"no paired test: {reason}")
