"""Engines, transactions and the schema lock: the one place that knows SQLite from PostgreSQL.

SQLite connections turn on foreign keys and a busy timeout (so concurrent writers wait instead of
failing); WAL journaling, which is stored in the file, is switched on by :func:`use_wal_journal`
once the file is known to be an rrg registry (never on another application's database).
PostgreSQL connections are pre-pinged. :func:`transaction` is the only way the store talks to the
database: it commits on success, rolls back on any error, and always closes the session.
:func:`lock_schema` serialises schema creation and migration between processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from rrg_registry.errors import SchemaLocked

SQLITE_BUSY_TIMEOUT_MS = 30_000

SCHEMA_LOCK_TIMEOUT_S = 300.0
"""How long creating or migrating a registry waits for another process doing the same."""

SCHEMA_LOCK_KEY = -5405504560717816778
"""PostgreSQL advisory lock key of rrg's schema changes: the first 8 bytes, signed, of
sha256(b"rrg_alembic_version"). Advisory locks belong to a database, so the schemas of one database
share the key, which only serialises their migrations."""

_SQLITE_BUSY = 5  # SQLITE_BUSY; extended codes keep it in their low byte
_POSTGRES_LOCK_NOT_AVAILABLE = "55P03"


def _sqlite_on_connect(dbapi_connection, connection_record) -> None:  # noqa: ARG001 - event API
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def create_sqlite_engine(url: sa.URL) -> sa.Engine:
    """An engine for a SQLite file (or ``:memory:``) with the registry's pragmas."""
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def create_postgresql_engine(url: sa.URL) -> sa.Engine:
    """An engine for a PostgreSQL server."""
    return sa.create_engine(url, pool_pre_ping=True)


def use_wal_journal(engine: sa.Engine) -> None:
    """Switch a SQLite registry to WAL journaling (readers never wait for the writer).

    The mode is stored in the file, so this writes only the first time; it is called once the
    database is known to be an rrg registry, so another application's file is never switched.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        if connection.exec_driver_sql("PRAGMA journal_mode").scalar() not in ("wal", "memory"):
            connection.exec_driver_sql("PRAGMA journal_mode = WAL")


def lock_schema(connection: sa.Connection) -> None:
    """Take the lock that serialises creating and migrating the registry's schema between processes.

    Call it first in a transaction (``with connection.begin():``); the lock is held until that
    transaction commits or rolls back, so a crash releases it.

    - SQLite: ``BEGIN EXCLUSIVE``, so the check of the revision, every migration and the version
      row are one transaction that no other writer can interleave (SQLite's DDL is transactional).
    - PostgreSQL: ``pg_advisory_xact_lock(SCHEMA_LOCK_KEY)``; the migration runs in the same
      transaction (PostgreSQL's DDL is transactional too).

    Waits up to :data:`SCHEMA_LOCK_TIMEOUT_S` (SQLite's busy timeout, PostgreSQL's ``lock_timeout``,
    both for this one statement), then raises :class:`~rrg_registry.errors.SchemaLocked`.
    """
    timeout_ms = max(1, round(SCHEMA_LOCK_TIMEOUT_S * 1000))
    try:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {timeout_ms}")
            try:
                connection.exec_driver_sql("BEGIN EXCLUSIVE")
            finally:
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        else:
            previous = connection.execute(sa.select(sa.func.current_setting("lock_timeout"))).scalar_one()
            connection.execute(sa.select(sa.func.set_config("lock_timeout", f"{timeout_ms}ms", True)))
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
            connection.execute(sa.select(sa.func.set_config("lock_timeout", previous, True)))
    except sa.exc.OperationalError as error:
        if not _is_lock_timeout(error):
            raise
        url = connection.engine.url.render_as_string(hide_password=True)
        raise SchemaLocked(
            f"another process has been creating or migrating the registry at {url} "
            f"for over {SCHEMA_LOCK_TIMEOUT_S:g} s",
            hint="try again when it has finished (on SQLite, any long write to the file holds this lock too)",
        ) from None


def _is_lock_timeout(error: sa.exc.OperationalError) -> bool:
    orig = error.orig
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return sqlite_code & 0xFF == _SQLITE_BUSY
    return getattr(orig, "sqlstate", None) == _POSTGRES_LOCK_NOT_AVAILABLE


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are converted to entities then)."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception (re-raised), always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
