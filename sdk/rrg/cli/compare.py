"""``rrg compare``: runs side by side, differences from the first run, and a paired bootstrap test.

What it leads with: the evaluation metrics (green_flare, bleu4_flare, ce, then the others by
name), the seven green_flare components after training, each beside its value before training
(``before/<name>``) where the run measured it, then what the run cost (wall time, memory,
generation speed), then the paired test. Training logs (``train/*``) and ``before/`` values with
no metric to stand beside come only with ``--all``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from rrg.cli.output import emit_notes, emit_rows, output_options
from rrg.cli.registry_option import registry_reader_option

PREFERRED_METRICS = ("green_flare", "bleu4_flare", "ce")
RUN_COSTS = ("wall_seconds", "peak_rss_gib", "generation_samples_per_second")
BEFORE = "before/"
TRAINING = "train/"


def _section(name: str, components: Sequence[str]) -> str:
    if name.startswith(TRAINING):
        return "training"
    if name.startswith(BEFORE):
        return "before"
    if name in components:
        return "component"
    if name in RUN_COSTS:
        return "run"
    return "evaluation"


def comparison_view(
    runs: Sequence[Mapping[str, Any]], components: Mapping[str, Mapping[str, Any]], everything: bool = False
) -> tuple[list[dict[str, Any]], list[str], int]:
    """(rows, columns, number of values left out) of the comparison table of ``runs`` (rows as
    ``rrg runs list --json`` prints them: ``id``, ``metrics``, ...).

    Rows, in order: evaluation metrics (green_flare, bleu4_flare, ce first), the seven green_flare
    components (when any run logged them; values from ``components``, a run id -> its latest
    components by name), run costs, and with ``everything`` the training logs and unpaired
    ``before/`` values. Each row has ``metric``, ``section``, a value per run, ``RUN before`` (the
    run's ``before/<metric>``) for runs that measured any, and ``RUN-FIRST`` differences.
    """
    from rrg_registry.read import GREEN_FLARE_COMPONENTS

    base = runs[0]
    names = {name for run in runs for name in run["metrics"]}
    has_components = any(run["id"] in components for run in runs) or any(
        c in names or BEFORE + c in names for c in GREEN_FLARE_COMPONENTS
    )
    sections: dict[str, list[str]] = {"evaluation": [], "component": [], "run": [], "before": [], "training": []}
    for name in sorted(names):
        sections[_section(name, GREEN_FLARE_COMPONENTS)].append(name)
    evaluation = [m for m in PREFERRED_METRICS if m in names] + [
        m for m in sections["evaluation"] if m not in PREFERRED_METRICS
    ]
    shown = evaluation + (list(GREEN_FLARE_COMPONENTS) if has_components else []) + [m for m in RUN_COSTS if m in names]
    unpaired = [m for m in sections["before"] if m[len(BEFORE):] not in shown]
    rest = sections["training"] + unpaired
    if everything:
        shown += rest

    def value(run: Mapping[str, Any], name: str) -> float | None:
        found = components.get(run["id"])
        if name in GREEN_FLARE_COMPONENTS and found is not None and found.get(name) is not None:
            return found[name]
        return run["metrics"].get(name)

    with_before = {
        run["id"] for run in runs
        if any(BEFORE + name in run["metrics"] for name in shown if not name.startswith(BEFORE))
    }
    columns = ["metric"]
    for run in runs:
        if run["id"] in with_before:
            columns.append(f"{run['id']} before")
        columns.append(run["id"])
    columns += [f"{run['id']}-{base['id']}" for run in runs[1:]]
    rows = []
    for name in shown:
        row: dict[str, Any] = {"metric": name, "section": _section(name, GREEN_FLARE_COMPONENTS)}
        for run in runs:
            if run["id"] in with_before:
                row[f"{run['id']} before"] = run["metrics"].get(BEFORE + name)
            row[run["id"]] = value(run, name)
        for run in runs[1:]:
            a, b = row[base["id"]], row[run["id"]]
            row[f"{run['id']}-{base['id']}"] = None if a is None or b is None else b - a
        rows.append(row)
    return rows, columns, 0 if everything else len(rest)


@click.command("compare")
@click.argument("run_ids", metavar="RUN RUN...", nargs=-1, required=True)
@click.option("--split", default=None, help="Split whose per-sample green_flare is tested (default: the first split both runs have).")
@click.option("--resamples", type=click.IntRange(min=100), default=10_000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resampling.")
@click.option("--all", "everything", is_flag=True,
              help="Also the training logs (train/*) and before/ values with no metric beside them.")
@output_options
@registry_reader_option
def compare(reader, run_ids, split, resamples, seed, everything, output_format) -> None:
    """Compare runs: evaluation metrics and the seven green_flare components side by side (with
    each run's values before training beside them, where it measured them), what each run cost,
    differences against the first RUN, and a paired bootstrap test of per-sample green_flare (each
    run against the first) where both runs scored the same samples. Training logs (train/*) only
    with --all.

    JSON output: {"runs": [...as in runs list, every metric...], "metrics": [{"metric", "section",
    RUN..., "RUN before"..., "RUN-FIRST"...}] (the rows of the table), "paired_tests": [...],
    "skipped_tests": [...]}.

    \b
    Examples:
      rrg compare 3fa2 9b1c --split validation
      rrg compare 3fa2 9b1c --all --csv
    """
    if len(run_ids) < 2:
        raise click.UsageError("compare needs at least two runs")
    comparison = reader.compare(list(run_ids), split=split, resamples=resamples, seed=seed)
    components = reader.latest_components([r["id"] for r in comparison["runs"]])
    rows, columns, left_out = comparison_view(comparison["runs"], components, everything)
    tests = comparison["paired_tests"]
    if output_format == "json":
        emit_rows(rows, "json", json_data={
            "runs": comparison["runs"],
            "metrics": rows,
            "paired_tests": tests,
            "skipped_tests": comparison["skipped_tests"],
        })
        return
    emit_rows(rows, output_format, columns=columns, title="metrics (differences against the first run)")
    if output_format == "csv":
        return
    if tests:
        emit_rows(tests, "table", columns=(
            "run_id", "baseline_run_id", "split", "n", "baseline_mean", "run_mean", "mean_difference",
            "ci_low", "ci_high", "p_value",
        ), title=f"paired bootstrap of per-sample green_flare ({resamples} resamples, seed {seed}, 95% CI)")
    for reason in comparison["skipped_tests"]:
        click.echo(f"no paired test: {reason}")
    if left_out:
        emit_notes([f"{left_out} training log value{'s' if left_out > 1 else ''} (train/*, unpaired before/*) not shown; --all shows them"])
