"""``rrg score``: score predictions against references from a JSON Lines file."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, Self

import click

from rrg.cli.output import emit_rows, output_options
from rrg.interrupts import sigterm_as_interrupt

PROGRESS_MIN_PAIRS = 2000
"""Show a progress bar (on stderr, when it is a terminal) for files of this many lines or more."""


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
    from rrg.metrics import DEFAULT_METRICS
    from rrg.metrics.pairs_file import iter_pairs
    from rrg.metrics.streaming import StreamingEvaluator

    names = _metric_list(metrics) or list(DEFAULT_METRICS)
    # unknown names, and metrics that cannot run here (radgraph_f1 without the radgraph extra or
    # its weights), fail as one line before the file is read
    evaluator = StreamingEvaluator(names, truncate_chars)

    # per-pair lines go to a temporary file beside the target, renamed over it only once every
    # pair has been read and scored: a bad line late in the file leaves no partial output
    rows_out = _PerSampleFile(per_sample_path) if per_sample_path is not None else None
    try:
        with sigterm_as_interrupt(), _Progress(pairs) as progress:

            def on_chunk(chunk, rows) -> None:
                if rows_out is not None:
                    rows_out.write(chunk, rows)
                progress.advance(chunk[-1].line, len(chunk))

            evaluation = evaluator.consume(
                iter_pairs(pairs), on_chunk=on_chunk, rows=rows_out is not None
            )
        if rows_out is not None:
            rows_out.commit()
    finally:
        if rows_out is not None:
            rows_out.discard()

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


class _PerSampleFile:
    """The ``--per-sample`` output: written to a hidden temporary file in the target's folder,
    moved onto the target by :meth:`commit`, removed by :meth:`discard` otherwise."""

    def __init__(self, target: Path) -> None:
        from rrg.errors import InputError

        self.target = target
        self.temporary = target.with_name(
            f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        )
        try:
            # O_EXCL: never another file; mode 0o666 less the umask, as open("w") would give
            fd = os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as error:
            raise InputError(
                f"{target}: cannot write the per-sample file ({error.strerror or error})",
                hint="give --per-sample a path in an existing, writable folder",
            ) from None
        self._file = open(fd, "w", encoding="utf-8")  # noqa: SIM115 - closed by commit/discard
        self._done = False

    def write(self, chunk: list[Any], rows: list[dict[str, Any]]) -> None:
        """Append one line per pair of ``chunk``: its id and its row."""
        from rrg.cli.output import dumps_json
        from rrg.errors import InputError

        text = "".join(
            dumps_json({"id": pair.id, **row}, indent=None) + "\n"
            for pair, row in zip(chunk, rows, strict=True)
        )
        try:
            self._file.write(text)
        except OSError as error:  # a full disk, a quota
            raise InputError(
                f"{self.target}: cannot write the per-sample file ({error.strerror or error})",
                hint="free some space there or give --per-sample a path on another disk",
            ) from None

    def commit(self) -> None:
        """Move the complete file onto the target."""
        from rrg.errors import InputError

        try:
            self._file.close()  # flushes: a full disk shows here at the latest
            os.replace(self.temporary, self.target)
        except OSError as error:
            raise InputError(
                f"{self.target}: cannot write the per-sample file ({error.strerror or error})",
                hint="free some space there or give --per-sample another path",
            ) from None
        self._done = True

    def discard(self) -> None:
        """Remove the temporary file unless :meth:`commit` moved it."""
        if self._done:
            return
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temporary)


class _Progress:
    """A progress bar on stderr while pairs are scored: only when stderr is a terminal and the
    file has at least PROGRESS_MIN_PAIRS lines (counted first, without parsing)."""

    def __init__(self, pairs: Path) -> None:
        self.pairs = pairs
        self._progress = None
        self._task = None
        self._scored = 0

    def __enter__(self) -> Self:
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            return self
        from rrg.metrics.pairs_file import count_lines

        try:
            lines = count_lines(self.pairs)
        except OSError:
            return self  # the reader reports the file's problem as one line
        if lines < PROGRESS_MIN_PAIRS:
            return self
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("scoring: {task.fields[scored]:,} pairs"),
            BarColumn(),
            TextColumn("line {task.completed:,.0f}/{task.total:,.0f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("score", total=lines, scored=0)
        return self

    def advance(self, line: int, pairs: int) -> None:
        """Pairs up to file line ``line`` are scored, ``pairs`` more than before."""
        self._scored += pairs
        if self._progress is not None:
            self._progress.update(self._task, completed=line, scored=self._scored)

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()
