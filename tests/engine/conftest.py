"""Fixtures for the engine tests: the session's rrg cache in the environment, fresh registries,
and one zero-shot → SFT → GRPO chain shared by the fast tests (see engine_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import FAST_FAMILY, Chain, run_chain


@pytest.fixture
def rrg_cache_env(xdg_cache_home: Path, demo_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point rrg's cache at the session's (demo set built, tiny twins built on first use) and
    work in ``tmp_path`` so no default ``rrg.db`` or ``rrg_runs/`` lands in the repository."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg_cache_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return demo_cache


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[object]:
    """A fresh SQLite registry in ``tmp_path``."""
    from rrg_registry import Registry

    with Registry.from_url(f"sqlite:///{tmp_path / 'rrg.db'}") as opened:
        yield opened


@pytest.fixture(scope="session")
def demo_chain(xdg_cache_home: Path, demo_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """The fast family's chain, run once per session and shared by the tests that only read it."""
    from rrg_registry import Registry

    folder = tmp_path_factory.mktemp("demo-chain")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(xdg_cache_home))
        patch.setenv("HF_HUB_OFFLINE", "1")
        opened = Registry.from_url(f"sqlite:///{folder / 'rrg.db'}")
        chain = run_chain(FAST_FAMILY, opened, folder / "runs")
    yield chain  # the environment is restored: only the runs needed the session cache
    opened.close()
