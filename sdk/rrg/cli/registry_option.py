"""The ``--registry URL`` option of every command that reads or writes the registry.

The URL comes from ``--registry``, else ``$RRG_REGISTRY_URL`` (read here, at the entry point),
else ``sqlite:///rrg.db`` in the working directory. Commands receive an open ``Registry``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

REGISTRY_HELP = "Registry database URL (sqlite:///PATH, a file path, or postgresql://...). Default: $RRG_REGISTRY_URL, else sqlite:///rrg.db."


def registry_url_option(func: Callable) -> Callable:
    """Add ``--registry`` and pass the resolved URL as ``registry_url``."""

    @click.option("--registry", "registry_url", envvar="RRG_REGISTRY_URL", default=None, metavar="URL", help=REGISTRY_HELP)
    @functools.wraps(func)
    def wrapper(*args, registry_url: str | None, **kwargs):
        from rrg_registry.registry import resolve_url

        return func(*args, registry_url=resolve_url(registry_url, environ={}), **kwargs)

    return wrapper


def registry_option(func: Callable) -> Callable:
    """Add ``--registry`` and pass an open ``Registry`` as ``registry`` (closed after the command)."""

    @registry_url_option
    @functools.wraps(func)
    def wrapper(*args, registry_url: str, **kwargs):
        from rrg_registry import Registry

        with Registry.from_url(registry_url) as registry:
            return func(*args, registry=registry, **kwargs)

    return wrapper
