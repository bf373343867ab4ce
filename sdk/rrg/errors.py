"""Errors a user can cause.

Every one of them is an :class:`RrgError`: one line saying what is wrong (naming the file, key,
line or sample), one hint saying what to do, and exit status 2 when it reaches the CLI. Anything
that is not an ``RrgError`` is a bug and propagates with its traceback.
"""

from __future__ import annotations

import click


class RrgError(click.ClickException):
    """A problem the user can fix. Printed as one line plus a hint; the CLI exits with status 2."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def format_message(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message

    def __str__(self) -> str:
        return self.format_message()

    def show(self, file=None) -> None:  # noqa: D401 - click API
        click.echo(f"Error: {self.format_message()}", file=file, err=True)


class InputError(RrgError):
    """A data file the user handed in is malformed (bad JSON, missing field, empty file)."""


class MissingDependencyError(RrgError):
    """An optional package, model weight file or piece of hardware is not available."""
