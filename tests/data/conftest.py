"""Fixtures for the data tests: the demo set, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding one demo build (``<cache>/demo/<version>/organized_dataset``)."""
    from rrg.data.demo import build_demo

    cache = tmp_path_factory.mktemp("rrg-cache")
    build_demo(cache_dir=cache)
    return cache


@pytest.fixture(scope="session")
def demo_root(demo_cache: Path) -> Path:
    """The ``organized_dataset`` root of the demo set, built once per session."""
    from rrg.data.demo import build_demo

    return build_demo(cache_dir=demo_cache)
