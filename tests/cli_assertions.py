"""Assertions on what the ``rrg`` command line printed, shared by every test package (``tests/``
is on ``sys.path`` through its conftest)."""

from __future__ import annotations


def assert_one_line_error(result, *parts: str) -> str:
    """A CLI result that is one ``Error: ... (hint: ...)`` line with exit status 2, containing ``parts``."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith("Error: ") and "(hint: " in line, line
    for part in parts:
        assert part in line, line
    return line
