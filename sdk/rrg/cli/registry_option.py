"""The ``--registry URL`` option of every command that reads or writes the registry.

The URL comes from ``--registry``, else ``$RRG_REGISTRY_URL`` (read here, at the entry point),
else ``sqlite:///rrg.db`` in the working directory. Commands receive an open ``Registry``.

Commands that only read (browsing, tables, comparisons) use :func:`existing_registry_option`:
they never create a registry, and a SQLite file that does not exist is one line saying where
none was found and how to point at one. Commands that write (``rrg run``, ``rrg pull``,
``rrg db upgrade``) create it on first use. The browsing commands (``rrg runs list``,
``rrg runs show``, ``rrg compare``) use :func:`registry_reader_option` and receive a
:class:`rrg_registry.read.RegistryReader`, which starts without the database layer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

REGISTRY_HELP = "Registry database URL (sqlite:///PATH, a file path, or postgresql://...). Default: $RRG_REGISTRY_URL, else sqlite:///rrg.db."


_registry_flag = click.option(
    "--registry", "registry_url", envvar="RRG_REGISTRY_URL", default=None, metavar="URL", help=REGISTRY_HELP
)


def registry_url_option(func: Callable) -> Callable:
    """Add ``--registry`` and pass the resolved URL as ``registry_url``."""

    @_registry_flag
    @functools.wraps(func)
    def wrapper(*args, registry_url: str | None, **kwargs):
        from rrg_registry.registry import resolve_url

        return func(*args, registry_url=resolve_url(registry_url, environ={}), **kwargs)

    return wrapper


def _opened_registry_option(func: Callable, create: bool) -> Callable:
    @registry_url_option
    @functools.wraps(func)
    def wrapper(*args, registry_url: str, **kwargs):
        from rrg_registry import Registry

        with Registry.from_url(registry_url, create=create) as registry:
            return func(*args, registry=registry, **kwargs)

    return wrapper


def registry_option(func: Callable) -> Callable:
    """Add ``--registry`` and pass an open ``Registry`` as ``registry`` (closed after the command);
    a registry that does not exist yet is created. For commands that write."""
    return _opened_registry_option(func, create=True)


def existing_registry_option(func: Callable) -> Callable:
    """:func:`registry_option` for commands that only read: a SQLite registry that does not exist
    is an error (exit status 2), never created."""
    return _opened_registry_option(func, create=False)


def registry_reader_option(func: Callable) -> Callable:
    """Add ``--registry`` and pass an open :class:`rrg_registry.read.RegistryReader` as ``reader``
    (closed after the command): for the browsing commands, which only read. A registry that does
    not exist is an error (exit status 2), never created; a plain SQLite registry is read without
    importing SQLAlchemy, pydantic or Alembic."""

    @_registry_flag
    @functools.wraps(func)
    def wrapper(*args, registry_url: str | None, **kwargs):
        from rrg_registry.read import DEFAULT_URL, RegistryReader

        with RegistryReader.open(registry_url or DEFAULT_URL) as reader:
            return func(*args, reader=reader, **kwargs)

    return wrapper
