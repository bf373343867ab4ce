"""Errors the registry raises for problems a user can fix.

Each is a :class:`RegistryError`, a :class:`UserError`: one line saying what is wrong, one hint
saying what to do, and exit status 2 when it reaches the command line (it is a
``click.ClickException``, so the CLI prints it without a traceback). ``UserError`` lives here, in
the lower layer, because ``rrg_registry`` never imports the ``rrg`` package; ``rrg.RrgError``
derives from it, so ``except UserError`` catches the problems of both. Anything else that escapes
the registry is a bug and propagates with its traceback.
"""

from __future__ import annotations

import click


class UserError(click.ClickException):
    """A problem the user can fix. One line plus a hint; the CLI exits with status 2."""

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

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", file=file, err=True)


class RegistryError(UserError):
    """A registry problem the user can fix."""


class RecipeVersionConflict(RegistryError):
    """A recipe name+version is already recorded with a different content hash."""


class RunNotFound(RegistryError):
    """No run has the given id, or an id prefix matches no run."""


class AmbiguousRunId(RegistryError):
    """An id prefix matches more than one run."""


class InvalidTransition(RegistryError):
    """A run's status cannot move from its current status to the requested one."""


class StaleSchema(RegistryError):
    """The database schema is older (or newer) than this version of rrg expects."""


class UnknownRevision(RegistryError):
    """A schema revision asked for (``rrg db upgrade --revision``) is not one of this rrg's migrations."""


class NotARegistry(RegistryError):
    """A database holds another application's tables and no rrg registry; rrg leaves it alone."""


class SchemaLocked(RegistryError):
    """Another process held the lock on the registry's schema (creating or migrating it) too long."""


class RegistryLocked(RegistryError):
    """Another process held the registry's write lock longer than the busy timeout while rrg wrote."""


class RegistryReadOnly(RegistryError):
    """The registry cannot be written (a read-only file, folder, mount or connection); browsing works."""


class InvalidQuery(RegistryError):
    """A filter, sort key or other query argument cannot be understood."""


class UnsupportedUrl(RegistryError):
    """A registry URL names a database rrg does not support."""


class NotFound(RegistryError):
    """A recipe version, checkpoint or other record named by the caller does not exist."""


class DuplicateRecord(RegistryError):
    """A record that may exist once (a checkpoint step of a run) is recorded a second time."""


class InvalidName(RegistryError):
    """A dataset, model or alias name that the registry cannot use (characters, length, reserved words)."""


class CopyConflict(RegistryError):
    """``rrg db copy``: the destination holds a row under the same natural key as a source row, with
    other content."""
