"""Reading prediction/reference pairs from a JSON Lines file.

One JSON object per line with string fields ``prediction`` and ``reference`` and an optional
``id`` (string or integer; the 0-based pair index when absent). Other keys are ignored, blank
lines are skipped. Every problem is an :class:`~rrg.errors.InputError` naming ``file:line``.
:func:`iter_pairs` reads a file of any size one line at a time; :func:`read_pairs` returns a list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rrg.errors import InputError

__all__ = ["ReportPair", "count_lines", "iter_pairs", "read_pairs"]

_FORMAT_HINT = 'one JSON object per line: {"id": ..., "prediction": "...", "reference": "..."}'


@dataclass(frozen=True)
class ReportPair:
    """One generated report and its reference, with where it came from."""

    id: str | int
    prediction: str
    reference: str
    line: int


def _type_name(value: object) -> str:
    return {dict: "object", list: "array", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def iter_pairs(path: str | Path) -> Iterator[ReportPair]:
    """The pairs of ``path`` in file order, read one line at a time (memory does not grow with
    the file). A problem is raised when its line is reached, so a consumer may already have
    seen the pairs before it; an empty file raises once the end is reached."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise InputError(
            f"{path}: is a directory, expected a JSON Lines file", hint=_FORMAT_HINT
        ) from None
    except PermissionError:
        raise InputError(
            f"{path}: cannot be read (permission denied)", hint="check the file's permissions"
        ) from None

    count = 0
    number = 0
    with handle:
        for chunk in handle:
            # the lines of bytes.splitlines(): "\n", "\r\n" and a lone "\r" all end one
            for line_bytes in chunk.splitlines() if b"\r" in chunk else (chunk.rstrip(b"\n"),):
                number += 1
                pair = _parse_line(path, number, line_bytes, count)
                if pair is not None:
                    count += 1
                    yield pair
    if not count:
        raise InputError(f"{path}:1: no pairs, the file is empty", hint=_FORMAT_HINT)


def read_pairs(path: str | Path) -> list[ReportPair]:
    """All pairs of ``path``, in file order (:func:`iter_pairs` as a list)."""
    return list(iter_pairs(path))


def count_lines(path: str | Path, block_bytes: int = 1 << 20) -> int:
    """The number of lines of ``path`` (an upper bound on its pairs), counted without parsing.

    ``"\n"`` ends a line (a final line without one counts too); for progress display only.
    """
    lines = 0
    last = b"\n"
    with Path(path).open("rb") as handle:
        while block := handle.read(block_bytes):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _parse_line(path: Path, number: int, line_bytes: bytes, index: int) -> ReportPair | None:
    """The pair on line ``number`` (``index`` pairs before it), ``None`` for a blank line."""
    where = f"{path}:{number}"
    try:
        line = line_bytes.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{where}: not UTF-8 text (byte {err.start + 1})", hint=_FORMAT_HINT
        ) from None
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{where}: not valid JSON ({err.msg}, column {err.colno})", hint=_FORMAT_HINT
        ) from None
    if not isinstance(record, dict):
        raise InputError(
            f"{where}: expected a JSON object, got {_type_name(record)}", hint=_FORMAT_HINT
        )
    for key in ("prediction", "reference"):
        if key not in record:
            raise InputError(f"{where}: missing field {key!r}", hint=_FORMAT_HINT)
        if not isinstance(record[key], str):
            raise InputError(
                f"{where}: field {key!r} must be a string, got {_type_name(record[key])}",
                hint=_FORMAT_HINT,
            )
    pair_id = record.get("id", index)
    if isinstance(pair_id, bool) or not isinstance(pair_id, (str, int)):
        raise InputError(
            f"{where}: field 'id' must be a string or an integer, got {_type_name(pair_id)}",
            hint=_FORMAT_HINT,
        )
    return ReportPair(pair_id, record["prediction"], record["reference"], number)
