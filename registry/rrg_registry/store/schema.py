"""Schema versions: build a fresh database by migrating, refuse a stale one, upgrade on request.

Opening a registry checks its revision with one query against ``rrg_alembic_version`` and
compares it with :data:`HEAD_REVISION` (a test keeps that constant equal to Alembic's head), so
browsing commands never import Alembic. Alembic is imported only to migrate, and every migration
(building a new registry included) runs in one transaction holding the schema lock
(:func:`rrg_registry.store.engine.lock_schema`), so concurrent first uses build the schema once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from rrg_registry.errors import NotARegistry, StaleSchema, UnknownRevision

if TYPE_CHECKING:  # pragma: no cover
    from alembic.config import Config

VERSION_TABLE = "rrg_alembic_version"
HEAD_REVISION = "0004"
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
        return _read_revision(connection)


def _read_revision(connection: sa.Connection) -> str | None:
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def checked_revision(engine: sa.Engine) -> str | None:
    """:func:`current_revision`, refusing a database without a version table that is not empty
    (see :func:`_refuse_unversioned`): what ``rrg db current`` reports."""
    with engine.connect() as connection:
        revision = _read_revision(connection)
        if revision is None:
            try:
                _refuse_unversioned(connection)
            except StaleSchema:
                # Another process may have committed a new registry (its tables and version row
                # together) between the two reads, which each see the database as of their own
                # start on PostgreSQL: read the version again before refusing.
                revision = _read_revision(connection)
                if revision is None:
                    raise
    return revision


def _refuse_unversioned(connection: sa.Connection) -> None:
    """Refuse a database without ``rrg_alembic_version`` that rrg must not build its tables in.

    Registry tables without the version table: a registry of unknown version. On SQLite, any
    other table or view: the file is another application's database (nothing is written to it,
    not even the WAL journal mode). A PostgreSQL database may hold other tools' tables; rrg's own
    version table keeps them apart.
    """
    inspector = sa.inspect(connection)
    tables = inspector.get_table_names()
    if "runs" in tables:
        raise StaleSchema(
            f"the registry at {display_url(connection.engine)} has tables but no {VERSION_TABLE} table, "
            "so its schema version is unknown",
            hint="point --registry at an rrg registry, or start a new one with another URL",
        )
    if connection.dialect.name != "sqlite":
        return
    others = sorted(tables) + sorted(inspector.get_view_names())
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise NotARegistry(
            f"the SQLite database {connection.engine.url.database} is not an rrg registry: "
            f"it holds other tables ({shown})",
            hint="give --registry / RRG_REGISTRY_URL a new file or an existing rrg registry",
        )


def _refuse_unknown(url: str, revision: str) -> None:
    if revision not in known_revisions_fast():
        raise StaleSchema(
            f"the registry at {url} has schema revision {revision}, which this rrg does not know "
            f"(it needs {HEAD_REVISION})",
            hint="the database was written by a newer rrg; upgrade rrg",
        )


def upgrade(engine: sa.Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database to ``revision`` (default: the newest); returns (revision before, after).

    Refuses a revision this rrg does not ship (:class:`UnknownRevision`), a database written by a
    newer rrg (:class:`StaleSchema`) and another application's SQLite file (:class:`NotARegistry`)
    before changing anything. Holds the schema lock while migrating (see :func:`_migrate`); a new
    SQLite registry is switched to WAL journaling afterwards.
    """
    known = known_revisions_fast()
    if revision not in known | {"head", "heads"}:
        raise UnknownRevision(
            f"rrg knows no schema revision {revision!r}",
            hint=f"give --revision head or one of {', '.join(sorted(known))}",
        )
    from rrg_registry.store.engine import read_only_error, read_only_reason, use_wal_journal

    reason = read_only_reason(engine)
    if reason is not None:
        raise read_only_error(display_url(engine), reason)
    before = checked_revision(engine)  # refuse what can be refused before taking the lock
    if before is not None:
        _refuse_unknown(display_url(engine), before)
    revisions = _migrate(engine, revision, create_only=False)
    use_wal_journal(engine)
    return revisions


def _migrate(engine: sa.Engine, revision: str, create_only: bool) -> tuple[str | None, str | None]:
    """Migrate under the schema lock: read the revision again once the lock is held (another
    process may have just created or migrated the database), check it, migrate, all in one
    transaction. With ``create_only``, only a database without a version table is migrated.

    On SQLite, batch migrations copy a table and drop the original, which the tables referring to
    it would block; foreign keys are therefore off while migrating (SQLite's documented procedure
    for schema changes; the pragma cannot change inside a transaction), and
    ``PRAGMA foreign_key_check`` must come back empty afterwards.
    """
    from alembic import command

    from rrg_registry.store.engine import lock_schema

    url = display_url(engine)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            connection.commit()
        try:
            with connection.begin():
                lock_schema(connection)
                before = after = _read_revision(connection)
                if before is None:
                    _refuse_unversioned(connection)
                else:
                    _refuse_unknown(url, before)
                if before is None or not create_only:
                    command.upgrade(alembic_config(connection), revision)
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"migration to {revision} left broken foreign keys: {broken[:5]}")
                    after = _read_revision(connection)
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()
    return before, after


def ensure_schema(engine: sa.Engine) -> None:
    """Accept a database at :data:`HEAD_REVISION`, build an empty one, refuse anything else.

    An up-to-date database costs a few catalog queries (no lock, no Alembic import). An empty
    database (no version table; on SQLite, no tables at all) is migrated to the head revision
    under the schema lock, so processes opening a new registry at the same moment build it once.
    A database at an older revision raises :class:`StaleSchema` with the command that upgrades
    it; one at a revision this rrg does not know, :class:`StaleSchema` asking for a newer rrg;
    another application's SQLite file, :class:`NotARegistry`, and it is left as it was.
    """
    from rrg_registry.store.engine import use_wal_journal

    revision = checked_revision(engine)
    if revision is None:
        revision = _migrate(engine, "head", create_only=True)[1]
    url = display_url(engine)
    if revision == HEAD_REVISION:
        use_wal_journal(engine)
        return
    _refuse_unknown(url, revision)
    raise StaleSchema(
        f"the registry at {url} has schema revision {revision}; this rrg needs {HEAD_REVISION}",
        hint=f"take a backup, then run `rrg db upgrade --registry {url}`",
    )


def known_revisions_fast() -> set[str]:
    """Revision ids of the shipped migrations, read from the file names (no Alembic import)."""
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py")}
