"""``rrg score``: score predictions against references from a JSON Lines file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rrg.cli.output import dumps_json, emit_rows, output_options

PROGRESS_MIN_PAIRS = 2000
"""Show a progress bar (on stderr, when it is a terminal) from this many pairs on."""


def _metric_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def _table_rows(evaluation: Any) -> list[dict[str, Any]]:
    from rrg.metrics import METRICS
    from rrg.metrics.green_flare import COMPONENT_WEIGHTS

    rows: list[dict[str, Any]] = []
    for name in evaluation.metrics:
        summary = evaluation.summary
        if name == "green_flare":
            rows.append(
                {
                    "metric": name,
                    "value": summary[name],
                    "about": "overall: weighted sum of the components",
                }
            )
            for key, weight in COMPONENT_WEIGHTS.items():
                rows.append(
                    {"metric": f"  {key}", "value": summary[key], "about": f"weight {weight:.2f}"}
                )
            rows.append(
                {
                    "metric": "  severity_correlation",
                    "value": summary["severity_correlation"],
                    "about": "not in overall",
                }
            )
        elif name in summary:
            rows.append(
                {"metric": name, "value": summary[name], "about": METRICS[name].description}
            )
    return rows


@click.command("score")
@click.argument("pairs", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--per-sample",
    "per_sample_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write one JSON line per pair (its id and per-pair values) to this file.",
)
@click.option(
    "--metrics",
    "metrics",
    metavar="NAMES",
    help="Comma-separated metrics (default: green_flare,bleu4_flare,bleu4,ce,rouge_l; also radgraph_f1).",
)
@click.option(
    "--truncate",
    "truncate_chars",
    type=click.IntRange(min=0),
    default=None,
    metavar="CHARS",
    help="Cut each prediction to its first CHARS characters before scoring (the study uses 500).",
)
@output_options
def score(
    pairs: Path,
    per_sample_path: Path | None,
    metrics: str | None,
    truncate_chars: int | None,
    output_format: str,
) -> None:
    """Score generated reports against references.

    PAIRS is a JSON Lines file with one object per line: "prediction" and "reference" (strings)
    and an optional "id". Prints the corpus scores; green_flare is the FLARE 2025 lexical score,
    not the LLM-judged GREEN of Ostmeier et al. (see docs/metrics.md).

    \b
    Examples:
      rrg score sdk/rrg/assets/sample_pairs.jsonl
      rrg score preds.jsonl --truncate 500 --json
      rrg score preds.jsonl --metrics green_flare,ce --per-sample scores.jsonl
    """
    from rrg.errors import InputError
    from rrg.metrics import DEFAULT_METRICS, METRICS, evaluate
    from rrg.metrics.pairs_file import read_pairs

    names = _metric_list(metrics) or list(DEFAULT_METRICS)
    # unknown names, and metrics that cannot run here (radgraph_f1 without the radgraph extra or
    # its weights), fail as one line before the file is read
    METRICS.check(names)
    records = read_pairs(pairs)
    predictions = [r.prediction for r in records]
    references = [r.reference for r in records]

    evaluation = _evaluate_with_progress(evaluate, predictions, references, names, truncate_chars)

    if per_sample_path is not None:
        try:
            out = per_sample_path.open("w", encoding="utf-8")
        except OSError as error:
            raise InputError(
                f"{per_sample_path}: cannot write the per-sample file ({error.strerror or error})",
                hint="give --per-sample a path in an existing, writable folder",
            ) from None
        with out:
            for record, row in zip(records, evaluation.per_sample):
                out.write(dumps_json({"id": record.id, **row}, indent=None) + "\n")

    title = f"{evaluation.n} pairs from {pairs}"
    if truncate_chars is not None:
        title += f", predictions truncated to {truncate_chars} characters"
    emit_rows(
        _table_rows(evaluation),
        output_format,
        columns=["metric", "value", "about"],
        title=title,
        json_data=evaluation.to_json(),
    )


def _evaluate_with_progress(evaluate, predictions, references, names, truncate_chars):
    from rich.console import Console

    console = Console(stderr=True)
    if len(predictions) < PROGRESS_MIN_PAIRS or not console.is_terminal:
        return evaluate(predictions, references, names, truncate_chars)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("scoring {task.fields[metric]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        remaining = iter(names[1:])
        task = progress.add_task("score", total=len(names), metric=names[0])

        def done(name: str) -> None:
            progress.update(task, advance=1, metric=next(remaining, name))

        return evaluate(predictions, references, names, truncate_chars, on_metric_done=done)
