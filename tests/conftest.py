"""Fixtures shared by several test packages: one rrg cache per session holding the demo set.

The cache is an ``XDG_CACHE_HOME`` folder (rrg's cache is ``<it>/rrg``), so code that finds the
demo set or the tiny twins through :func:`rrg.paths.cache_dir` finds this session's copies once
the variable points at it (see ``rrg_cache_env`` in tests/engine/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def xdg_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's ``XDG_CACHE_HOME``; rrg builds the demo set and tiny twins under ``<it>/rrg``."""
    return tmp_path_factory.mktemp("xdg-cache-home")


@pytest.fixture(scope="session")
def demo_cache(xdg_cache_home: Path) -> Path:
    """An rrg cache folder holding one demo build (``<cache>/demo/<version>/organized_dataset``)."""
    from rrg.data.demo import build_demo

    cache = xdg_cache_home / "rrg"
    build_demo(cache_dir=cache)
    return cache


@pytest.fixture(scope="session")
def demo_root(demo_cache: Path) -> Path:
    """The ``organized_dataset`` root of the demo set, built once per session."""
    from rrg.data.demo import build_demo

    return build_demo(cache_dir=demo_cache)
