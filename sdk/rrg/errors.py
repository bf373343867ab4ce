"""Errors a user can cause.

Every one of them is an :class:`RrgError`: one line saying what is wrong (naming the file, key,
line or sample), one hint saying what to do, and exit status 2 when it reaches the CLI. Anything
that is not an ``RrgError`` is a bug and propagates with its traceback.
"""

from __future__ import annotations

from rrg_registry.errors import UserError


class RrgError(UserError):
    """A problem the user can fix. Printed as one line plus a hint; the CLI exits with status 2.

    It shares :class:`rrg_registry.errors.UserError` with the registry's errors, so one
    ``except UserError`` handles both layers.
    """


class InputError(RrgError):
    """A data file the user handed in is malformed (bad JSON, missing field, empty file)."""


class MissingDependencyError(RrgError):
    """An optional package, model weight file or piece of hardware is not available."""
