"""Fixtures of the registry tests: a fresh registry per test, on SQLite and (when
``RRG_TEST_POSTGRES_URL`` is set) on PostgreSQL, plus factories for recipes and runs.

SQLite: a database migrated once per session is copied into ``tmp_path`` for each test.
PostgreSQL: each test gets its own schema (selected with ``search_path``), dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from rrg_registry import GREEN_FLARE_COMPONENTS, Registry
from rrg_registry.store import sql_store

POSTGRES_ENV = "RRG_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_ENV)


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    """A SQLite registry migrated to head, copied by each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "registry.db"
    Registry.from_url(_sqlite_url(path)).close()
    return path


@dataclass
class Database:
    """An empty database (or PostgreSQL schema) for one test."""

    dialect: str
    url: str
    engine_url: str
    schema: str | None = None


def _postgres_schema_url(schema: str) -> str:
    base = sa.make_url(POSTGRES_URL)
    return base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path) -> Iterator[Database]:
    """An empty database: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        path = tmp_path / "registry.db"
        yield Database("sqlite", _sqlite_url(path), _sqlite_url(path))
        return
    if not POSTGRES_URL:
        pytest.skip(f"{POSTGRES_ENV} is not set (CI sets it; locally: eval \"$(bash .ci/postgres.sh)\")")
    schema = f"rrg_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database("postgresql", _postgres_schema_url(schema), POSTGRES_URL, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def registry_url(empty_database, migrated_sqlite_template) -> str:
    """The URL of a migrated, empty registry."""
    if empty_database.dialect == "sqlite":
        shutil.copyfile(migrated_sqlite_template, sa.make_url(empty_database.url).database)
    else:
        Registry.from_url(empty_database.url).close()
    return empty_database.url


@pytest.fixture
def registry(registry_url) -> Iterator[Registry]:
    """An open, empty registry (SQLite, or PostgreSQL when configured)."""
    with Registry.from_url(registry_url) as reg:
        yield reg


COMPONENTS = dict(zip(GREEN_FLARE_COMPONENTS, (0.8, 0.6, 0.97, 0.9, 0.99, 0.6, 0.8)))


class Factory:
    """Builds recipes and runs with sensible defaults; every argument can be overridden."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._recipes: dict[tuple[str, int], int] = {}

    def recipe(self, name: str = "demo-sft", version: int = 1, hash: str | None = None, yaml_text: str | None = None):
        digest = hash or f"{name}-{version}".encode().hex().ljust(64, "0")[:64]
        text = yaml_text or f"schema: 1\nname: {name}\nversion: {version}\n"
        recorded = self.registry.record_recipe(name, version, digest, text)
        self._recipes[(name, version)] = recorded.id
        return recorded

    def run(self, recipe: str = "demo-sft@1", stage: str = "sft", model_family: str = "qwen3_vl",
            model_id: str = "Qwen/Qwen3-VL-4B-Instruct", status: str = "pending", metrics: dict[str, float] | None = None,
            split: str = "validation", **kwargs: Any):
        """A run of ``recipe`` moved to ``status`` (through the allowed transitions), with ``metrics``."""
        name, _, version = recipe.partition("@")
        key = (name, int(version or 1))
        if key not in self._recipes:
            self.recipe(*key)
        run = self.registry.create_run(self._recipes[key], stage, model_family, model_id, **kwargs)
        if status != "pending":
            self.registry.start_run(run.id)
        if metrics:
            self.registry.log_metrics(run.id, metrics, split)
        if status not in ("pending", "running"):
            self.registry.finish_run(run.id, status)
        return self.registry.get_run(run.id).run


@pytest.fixture
def factory(registry) -> Factory:
    """Recipe and run factories on the test's registry."""
    return Factory(registry)


@pytest.fixture
def clock(monkeypatch):
    """Set the registry's clock: ``clock(datetime)`` freezes it there, ``clock(None)`` releases it."""

    def set_time(moment: datetime | None) -> None:
        if moment is None:
            monkeypatch.setattr(sql_store, "now", lambda: datetime.now(timezone.utc))
        else:
            monkeypatch.setattr(sql_store, "now", lambda: moment)

    return set_time


def hours_ago(hours: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=hours)
