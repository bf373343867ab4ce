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


def _load_study_fixture():
    import importlib.util
    import sys

    path = Path(__file__).parent / "fixtures" / "study_registry.py"
    spec = importlib.util.spec_from_file_location("rrg_test_study_registry", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def study_registry_template(tmp_path_factory: pytest.TempPathFactory, demo_root: Path) -> tuple[Path, dict[str, str]]:
    """A SQLite registry holding the study's nine rows (``tests/fixtures/study_registry.py``),
    built once per session; tests use copies (:func:`study_registry`)."""
    path = tmp_path_factory.mktemp("study-registry") / "study.db"
    run_ids = _load_study_fixture().build_study_registry(f"sqlite:///{path}", demo_root)
    return path, run_ids


class StudyRegistry:
    """A test's own copy of the study registry: its URL, file and ``{row key: run id}``."""

    def __init__(self, path: Path, run_ids: dict[str, str]) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.run_ids = dict(run_ids)


@pytest.fixture
def study_registry(study_registry_template: tuple[Path, dict[str, str]], tmp_path: Path) -> StudyRegistry:
    """A copy of the study registry for one test (keys like ``qwen3_vl/grpo``)."""
    import shutil

    template, run_ids = study_registry_template
    path = tmp_path / "study.db"
    shutil.copyfile(template, path)
    return StudyRegistry(path, run_ids)
