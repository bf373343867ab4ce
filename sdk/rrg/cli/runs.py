"""``rrg runs``: list, show and reap the runs in the registry.

``list`` and ``show`` read through :class:`rrg_registry.read.RegistryReader` (plain dicts, no
database layer to import on a SQLite registry); ``reap`` writes through
:class:`rrg_registry.Registry`. Rows are rendered by :mod:`rrg.cli.output`. Listing commands first
mark stale runs interrupted (see ``rrg runs reap``).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import click

from rrg.cli.output import emit_mapping, emit_rows, output_options
from rrg.cli.registry_option import existing_registry_option, registry_reader_option

PREFERRED_METRICS = ("green_flare", "bleu4_flare", "ce")
LIST_COLUMNS = ("id", "recipe", "stage", "model", "status", "created")
CSV_COLUMNS = ("id", "recipe", "stage", "model", "model_id", "adapter", "status", "tags", "parent", "created", "started", "ended")


def short_time(value: datetime | None) -> str | None:
    """``YYYY-MM-DD HH:MM`` (UTC) for tables."""
    return None if value is None else value.strftime("%Y-%m-%d %H:%M")


def metric_columns(rows: list[dict[str, Any]], also: tuple[str, ...] = (), every: bool = True) -> list[str]:
    """Metric names present in ``rows``: green_flare, bleu4_flare, ce first, then (with ``every``)
    the rest by name; ``also`` (sorted-on or filtered metrics) are always included."""
    names = {name for row in rows for name in row["metrics"]} | set(also)
    rest = sorted(names - set(PREFERRED_METRICS)) if every else [m for m in dict.fromkeys(also) if m not in PREFERRED_METRICS]
    return [m for m in PREFERRED_METRICS if m in names] + rest


@click.group()
def runs() -> None:
    """Browse the runs in the registry.

    \b
    Examples:
      rrg runs list --stage sft --sort green_flare --limit 10
      rrg runs list --where "green_flare>0.8" --where "ce>=0.9" --json
      rrg runs show 3fa2
      rrg runs reap --older-than 30
    """


@runs.command("list")
@click.option("--recipe", help="Recipe NAME or NAME@VERSION.")
@click.option("--stage", help="zero_shot, sft or grpo.")
@click.option("--model", help="Model family (e.g. qwen3_vl) or model id.")
@click.option("--status", "statuses", multiple=True, help="Run status; repeat for several.")
@click.option("--tag", "tags", multiple=True, help="Keep runs carrying this tag; repeat to require several.")
@click.option("--where", "where", multiple=True, metavar="METRIC OP NUMBER",
              help="Metric threshold such as 'green_flare>0.8' (> >= < <= = !=); repeat to combine.")
@click.option("--sort", "sort", default=None, metavar="METRIC_OR_FIELD",
              help="A metric name, or id/created/started/ended/stage/model/status/recipe (default: created).")
@click.option("--asc/--desc", "ascending", default=None,
              help="Sort direction (default: descending for metrics and times, ascending for text).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Most runs to show.")
@output_options
@registry_reader_option
def list_runs(reader, recipe, stage, model, statuses, tags, where, sort, ascending, limit, output_format) -> None:
    """List runs with filters, metric thresholds and sorting.

    JSON output is a list of objects with keys id, recipe (name@version), stage, model (family),
    model_id, adapter, status, tags, parent, created, started, ended and metrics (name -> value).

    \b
    Example:
      rrg runs list --stage sft --where "green_flare>0.8" --sort green_flare --limit 5
    """
    reader.reap_stale_runs()  # browsing still lists a read-only or locked registry
    rows = reader.search_runs(
        recipe=recipe, stage=stage, model=model, status=statuses, tag=tags,
        where=where, sort=sort, ascending=ascending, limit=limit,
    )
    if output_format == "json":
        emit_rows(rows, "json")
        return
    from rrg_registry.filters import RUN_FIELDS, MetricFilter

    also = tuple(MetricFilter.parse(w).metric for w in where)
    if sort and sort not in RUN_FIELDS:
        also += (sort,)
    # A terminal table keeps to the headline metrics; CSV carries every metric logged.
    metrics = metric_columns(rows, also, every=output_format != "table")
    flat = []
    for row in rows:
        item = {k: v for k, v in row.items() if k != "metrics"}
        item.update({name: row["metrics"].get(name) for name in metrics})
        if output_format == "table":
            item.update(created=short_time(row["created"]))
        else:
            item.update({k: (None if row[k] is None else row[k].isoformat()) for k in ("created", "started", "ended")})
            item["tags"] = " ".join(row["tags"])
        flat.append(item)
    columns = (LIST_COLUMNS if output_format == "table" else CSV_COLUMNS) + tuple(metrics)
    emit_rows(flat, output_format, columns=columns, title=None if flat else "no runs match")


@runs.command("show")
@click.argument("run_id", metavar="RUN")
@output_options
@registry_reader_option
def show_run(reader, run_id, output_format) -> None:
    """Show one run: recipe, lineage, datasets, checkpoints, metrics, green_flare components, publications.

    RUN is a run id or a unique prefix of one.

    \b
    Example:
      rrg runs show 3fa2 --json
    """
    from rrg_registry.read import GREEN_FLARE_COMPONENTS, GREEN_FLARE_EXTRA, entity_json

    reader.reap_stale_runs()  # browsing still lists a read-only or locked registry
    detail = reader.run_detail(run_id, history=output_format == "json")
    if output_format == "json":
        emit_mapping(entity_json(detail), "json")
        return
    run = detail["run"]
    summary: dict[str, Any] = {
        "id": run["id"],
        "recipe": f"{run['recipe_name']}@{run['recipe_version']}",
        "recipe_hash": detail["recipe"]["hash"],
        "stage": run["stage"],
        "model": run["model_family"],
        "model_id": run["model_id"],
        "model_revision": run["model_revision"],
        "adapter": run["adapter"],
        "status": run["status"],
        "host": run["host"],
        "seed": run["seed"],
        "tags": " ".join(run["tags"]),
        "parent": detail["parent"]["id"] if detail["parent"] else None,
        "children": " ".join(c["id"] for c in detail["children"]),
        "created": run["created_at"].isoformat(),
        "started": run["started_at"].isoformat() if run["started_at"] else None,
        "ended": run["ended_at"].isoformat() if run["ended_at"] else None,
        "heartbeat": run["heartbeat_at"].isoformat() if run["heartbeat_at"] else None,
        "error": run["error"],
    }
    if output_format == "csv":
        flat = dict(summary)
        flat.update({f"metrics.{name}": value for name, value in detail["metrics"].items()})
        emit_mapping(flat, "csv")
        return
    emit_mapping(summary, "table", title=f"run {run['id']}")
    lineage = [{"relation": "parent", **detail["parent"]}] if detail["parent"] else []
    lineage += [{"relation": "child", **link} for link in detail["children"]]
    if lineage:
        emit_rows(lineage, "table", columns=("relation", "id", "recipe", "stage", "status"), title="lineage")
    if detail["datasets"]:
        emit_rows(detail["datasets"], "table", columns=("name", "split", "fingerprint", "size"), title="datasets")
    if detail["checkpoints"]:
        emit_rows(detail["checkpoints"], "table",
                  columns=("id", "step", "eval_loss", "best", "size", "sha256", "path"), title="checkpoints")
    if detail["metrics"]:
        emit_rows([{"metric": k, "value": v} for k, v in detail["metrics"].items()], "table", title="metrics")
    if detail["components"]:
        latest = detail["components"][-1]
        emit_rows([{"component": k, "value": latest[k]} for k in (*GREEN_FLARE_COMPONENTS, *GREEN_FLARE_EXTRA)],
                  "table", title=f"green_flare components ({latest['split']}, n={latest['n']})")
    if detail["publications"]:
        emit_rows(detail["publications"], "table", columns=("repo", "revision", "url", "published_at"),
                  title="publications")
    if detail["prediction_counts"]:
        emit_rows([{"split": k, "predictions": v} for k, v in detail["prediction_counts"].items()], "table",
                  title="predictions")


MAX_AGE_MINUTES = 60 * 24 * 365 * 100
"""The oldest age ``rrg runs reap --older-than`` accepts: a century."""


def _not_nan(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if math.isnan(value):
        raise click.BadParameter("nan is not a number of minutes", ctx=ctx, param=param)
    return value


@runs.command("reap")
@click.option("--older-than", "minutes", type=click.FloatRange(min=0, max=MAX_AGE_MINUTES), default=15.0,
              show_default=True, callback=_not_nan,
              help="Minutes without a heartbeat (running) or since creation (pending) before a run counts as dead.")
@existing_registry_option
def reap_runs(registry, minutes) -> None:
    """Mark runs whose process died as interrupted.

    A running run with no heartbeat for --older-than minutes, or a pending run created longer ago,
    becomes interrupted. Listing commands do this automatically with the default.

    \b
    Example:
      rrg runs reap --older-than 30
    """
    reaped = registry.reap_stale_runs(timedelta(minutes=minutes))
    if not reaped:
        click.echo("no stale runs")
        return
    for run_id in reaped:
        click.echo(f"interrupted {run_id}")
