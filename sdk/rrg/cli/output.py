"""Output options shared by every listing command: ``--format table|json|csv``.

A command produces plain dict rows (stable keys, documented in docs/cli.md) and calls
:func:`emit_rows`; rendering happens here and nowhere else.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

FORMATS = ("table", "json", "csv")


def output_options(func: Callable) -> Callable:
    """Add ``--format`` (and the ``--json``/``--csv`` shorthands) to a click command."""

    @click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format (default: table).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Shorthand for --format json.")
    @click.option("--csv", "as_csv", is_flag=True, help="Shorthand for --format csv.")
    @functools.wraps(func)
    def wrapper(*args, output_format: str | None, as_json: bool, as_csv: bool, **kwargs):
        chosen = [f for f, on in (("json", as_json), ("csv", as_csv)) if on]
        if output_format:
            chosen.append(output_format)
        if len(set(chosen)) > 1:
            raise click.UsageError("choose one of --format, --json, --csv")
        kwargs["output_format"] = chosen[0] if chosen else "table"
        return func(*args, **kwargs)

    return wrapper


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def dumps_json(data: Any, indent: int | None = 2) -> str:
    """JSON text with NaN/inf turned into null and dates as ISO strings."""
    return json.dumps(_json_safe(data), indent=indent, default=_json_default, ensure_ascii=False)


LEARNING_RATE = "learning_rate"
COUNT = "count"
DURATION = "duration"
NUMBER = "number"

COUNT_NAMES = frozenset({
    "n", "step", "steps", "global_step", "max_steps", "size", "samples", "predictions", "resamples", "seed",
    "train_size", "eval_size", "batch_size", "num_generations", "gradient_accumulation_steps",
})


def number_kind(name: str | None) -> str:
    """How a number called ``name`` prints, from its last ``/`` part: ``learning_rate``
    (``learning_rate``, ``lr``, ``*_lr``), ``duration`` (``*seconds``, ``*_runtime``), ``count``
    (``n``, ``step``, ``size``, ``num_*``, ``*_count``, ``*_steps``, ``*_tokens``, ...) or ``number``."""
    if not name:
        return NUMBER
    leaf = str(name).rsplit("/", 1)[-1].strip().lower()
    if leaf in ("learning_rate", "lr") or leaf.endswith(("_learning_rate", "_lr")):
        return LEARNING_RATE
    if leaf in ("seconds", "runtime") or leaf.endswith(("_seconds", "_runtime")):
        return DURATION
    if leaf in COUNT_NAMES or leaf.startswith("num_") or leaf.endswith(("_count", "_steps", "_tokens")):
        return COUNT
    return NUMBER


def format_scientific(value: float) -> str:
    """Three significant digits in scientific notation, trailing zeros dropped: ``5e-06``, ``1.5e-04``."""
    if value == 0:
        return "0"
    mantissa, _, exponent = f"{value:.2e}".partition("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def format_duration(seconds: float) -> str:
    """``37 m 41 s``, ``2 h 5 m 0 s``, ``41 s``; under ten seconds with one decimal (``4.2 s``)."""
    sign = "-" if seconds < 0 else ""
    left = abs(seconds)
    if left < 10:
        return f"{sign}{left:.1f} s" if left != int(left) else f"{sign}{int(left)} s"
    hours, rest = divmod(round(left), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours} h {minutes} m {secs} s"
    if minutes:
        return f"{sign}{minutes} m {secs} s"
    return f"{sign}{secs} s"


def format_number(value: float, name: str | None = None) -> str:
    """One rule for every number a table prints, by the kind of quantity ``name`` is
    (:func:`number_kind`): learning rates in scientific notation (``5e-06``), counts as integers,
    durations as ``37 m 41 s``; other numbers with four decimals (scores: ``0.8460``), in
    scientific notation when smaller than 0.001 or from a million up (``5e-04``, ``1.2e+09``);
    integers as they are."""
    kind = number_kind(name)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if kind == LEARNING_RATE:
        return format_scientific(float(value))
    if kind == DURATION:
        return format_duration(float(value))
    if isinstance(value, int):
        return str(value)
    if kind == COUNT and value.is_integer():
        return str(int(value))
    magnitude = abs(value)
    if magnitude and (magnitude < 1e-3 or magnitude >= 1e6):
        return format_scientific(value)
    return f"{value:.4f}"


def format_cell(value: Any, name: str | None = None) -> str:
    """A table cell: ``-`` for nothing, numbers by :func:`format_number` (``name`` says what the
    number is), lists comma-separated, anything else as text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return format_number(value, name)
    if isinstance(value, (list, tuple)):
        return ", ".join(format_cell(v, name) for v in value)
    return str(value)


NAME_COLUMNS = ("metric", "key", "component")
"""Columns whose value names the quantity of the other cells of their row (``compare``, ``runs show``)."""


def emit_rows(
    rows: Sequence[dict[str, Any]],
    output_format: str,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    json_data: Any = None,
    name_column: str | None = None,
) -> None:
    """Print ``rows`` as a rich table, JSON (a list of objects) or CSV.

    ``columns`` picks and orders the table/CSV columns (default: keys of the first row). ``json_data``
    replaces ``rows`` for JSON output when the JSON shape carries more than the table (nested metrics).
    A table prints each number by its kind (:func:`format_number`), named by its column, or, in a
    row with a ``name_column`` (default: the first of :data:`NAME_COLUMNS` among ``columns``), by that
    column's value (the row's metric); JSON and CSV carry the values unchanged.
    """
    if output_format == "json":
        click.echo(dumps_json(rows if json_data is None else json_data))
        return
    cols = list(columns) if columns else (list(rows[0].keys()) if rows else [])
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in cols])
        click.echo(buffer.getvalue(), nl=False)
        return
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    label = name_column or next((c for c in NAME_COLUMNS if c in cols), None)
    cells = [
        [format_cell(row.get(c), c if label is None or c == label else row.get(label)) for c in cols] for row in rows
    ]
    whole: dict[int, int] = {}
    for i, c in enumerate(cols):
        values = [row.get(c) for row in rows]
        numeric = any(v is not None for v in values) and all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
        )
        table.add_column(c, overflow="fold", justify="right" if numeric else "left")
        if cells and (numeric or c == "id"):
            whole[i] = max(len(row[i]) for row in cells)
    for row in cells:
        table.add_row(*row)
    print_table(table, whole)


def print_table(table: Any, whole: dict[int, int] | None = None) -> None:
    """Print a rich table: at its natural width when piped or redirected or when it fits the
    terminal; otherwise fitted to the terminal, where the columns in ``whole`` (index -> width
    of their values: ids, numbers) keep that width and the other columns and headers fold."""
    from rich.console import Console

    console = Console()
    natural = console.measure(table, options=console.options.update(max_width=100_000)).maximum
    if not console.is_terminal:
        console = Console(width=max(console.width, natural))
    elif natural > console.width:
        for index, width in (whole or {}).items():
            table.columns[index].width = width
    console.print(table)


def emit_notes(lines: Iterable[str]) -> None:
    """Print note lines under a table (``note: ...``)."""
    for line in lines:
        click.echo(f"note: {line}")


def emit_mapping(data: dict[str, Any], output_format: str, title: str | None = None) -> None:
    """Print one record: key/value table, JSON object or two-column CSV."""
    if output_format == "json":
        click.echo(dumps_json(data))
        return
    rows = [{"key": k, "value": v} for k, v in data.items()]
    emit_rows(rows, output_format, columns=["key", "value"], title=title)


def iter_chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
