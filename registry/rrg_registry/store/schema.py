"""Schema versions: build a fresh database by migrating, refuse a stale one, upgrade on request.

Opening a registry checks its revision with one query against ``rrg_alembic_version`` and
compares it with :data:`HEAD_REVISION` (a test keeps that constant equal to Alembic's head), so
browsing commands never import Alembic. Alembic is imported only to migrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from rrg_registry.errors import StaleSchema

if TYPE_CHECKING:  # pragma: no cover
    from alembic.config import Config

VERSION_TABLE = "rrg_alembic_version"
HEAD_REVISION = "0002"
"""The newest migration; a database at any other revision is refused until upgraded."""

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def display_url(engine: sa.Engine) -> str:
    """The engine's URL with any password hidden, as messages show it."""
    return engine.url.render_as_string(hide_password=True)


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for the registry's migrations, bound to ``connection`` (or ``url`` offline)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(engine: sa.Engine) -> str | None:
    """The revision recorded in the database, or ``None`` when it has no version table."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest).

    On SQLite, batch migrations copy a table and drop the original, which the tables referring to
    it would block; foreign keys are therefore off while migrating (SQLite's documented procedure
    for schema changes), and ``PRAGMA foreign_key_check`` must come back empty afterwards.
    """
    from alembic import command

    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            connection.commit()
        try:
            with connection.begin():
                command.upgrade(alembic_config(connection), revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration to {revision} left broken foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()


def _has_registry_tables(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        return sa.inspect(connection).has_table("runs")


def ensure_schema(engine: sa.Engine) -> None:
    """Accept a database at :data:`HEAD_REVISION`, build an empty one, refuse anything else.

    An empty database (no version table, no registry tables) is migrated to the head revision.
    A database at an older revision raises :class:`StaleSchema` with the command that upgrades it.
    """
    revision = current_revision(engine)
    if revision == HEAD_REVISION:
        return
    url = display_url(engine)
    if revision is None:
        if _has_registry_tables(engine):
            raise StaleSchema(
                f"the registry at {url} has tables but no {VERSION_TABLE} table, so its schema version is unknown",
                hint="point --registry at an rrg registry, or start a new one with another URL",
            )
        upgrade(engine)
        return
    if revision in known_revisions_fast():
        raise StaleSchema(
            f"the registry at {url} has schema revision {revision}; this rrg needs {HEAD_REVISION}",
            hint=f"take a backup, then run `rrg db upgrade --registry {url}`",
        )
    raise StaleSchema(
        f"the registry at {url} has schema revision {revision}, which this rrg does not know (it needs {HEAD_REVISION})",
        hint="the database was written by a newer rrg; upgrade rrg",
    )


def known_revisions_fast() -> set[str]:
    """Revision ids of the shipped migrations, read from the file names (no Alembic import)."""
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py")}
