"""Reading prediction/reference pairs from a JSON Lines file.

One JSON object per line with string fields ``prediction`` and ``reference`` and an optional
``id`` (string or integer; the 0-based pair index when absent). Other keys are ignored, blank
lines are skipped. Every problem is an :class:`~rrg.errors.InputError` naming ``file:line``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rrg.errors import InputError

__all__ = ["ReportPair", "read_pairs"]

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


def read_pairs(path: str | Path) -> list[ReportPair]:
    """All pairs of ``path``, in file order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise InputError(
            f"{path}: is a directory, expected a JSON Lines file", hint=_FORMAT_HINT
        ) from None

    pairs: list[ReportPair] = []
    for number, line_bytes in enumerate(raw.splitlines(), start=1):
        where = f"{path}:{number}"
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(
                f"{where}: not UTF-8 text (byte {err.start + 1})", hint=_FORMAT_HINT
            ) from None
        if not line.strip():
            continue
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
        pair_id = record.get("id", len(pairs))
        if isinstance(pair_id, bool) or not isinstance(pair_id, (str, int)):
            raise InputError(
                f"{where}: field 'id' must be a string or an integer, got {_type_name(pair_id)}",
                hint=_FORMAT_HINT,
            )
        pairs.append(ReportPair(pair_id, record["prediction"], record["reference"], number))
    if not pairs:
        raise InputError(f"{path}:1: no pairs, the file is empty", hint=_FORMAT_HINT)
    return pairs
