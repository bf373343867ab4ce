"""Engines, transactions and the schema lock: the one place that knows SQLite from PostgreSQL.

SQLite connections turn on foreign keys and a busy timeout (so concurrent writers wait instead of
failing); WAL journaling, which is stored in the file, is switched on by :func:`use_wal_journal`
once the file is known to be an rrg registry (never on another application's database).
PostgreSQL connections are pre-pinged. :func:`transaction` is the only way the store talks to the
database: it commits on success, rolls back on any error, and always closes the session; a writing
transaction on SQLite starts with ``BEGIN IMMEDIATE`` (see :mod:`rrg_registry.store.retry`, which
also reruns a write that lost a race with another process).
:func:`lock_schema` serialises schema creation and migration between processes.

A SQLite file this process cannot write (the file, its folder or its file system is read-only) is
opened read-only (:func:`sqlite_read_only_reason`), so browsing works; a write then fails, and
:func:`explain_write_error` turns that, and a write lock held past the busy timeout, into one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from rrg_registry.errors import RegistryError, RegistryLocked, RegistryReadOnly, SchemaLocked

SQLITE_BUSY_TIMEOUT_MS = 30_000

SCHEMA_LOCK_TIMEOUT_S = 300.0
"""How long creating or migrating a registry waits for another process doing the same."""

SCHEMA_LOCK_KEY = -5405504560717816778
"""PostgreSQL advisory lock key of rrg's schema changes: the first 8 bytes, signed, of
sha256(b"rrg_alembic_version"). Advisory locks belong to a database, so the schemas of one database
share the key, which only serialises their migrations."""

SQLITE_BUSY = 5
"""SQLite's "database is locked" result code; its extended codes keep it in their low byte."""
_SQLITE_READONLY = 8  # SQLITE_READONLY (and its extended codes)
_POSTGRES_LOCK_NOT_AVAILABLE = "55P03"
_POSTGRES_READ_ONLY_TRANSACTION = "25006"
_POSTGRES_CONFLICTS = {"40001": "serialization failures", "40P01": "deadlocks", "23505": "a key taken by a concurrent write"}

READ_ONLY_HINT = (
    "browsing (runs list, runs show, compare) still works; to record, give --registry / "
    "RRG_REGISTRY_URL a registry you can write"
)


def _sqlite_on_connect(dbapi_connection, connection_record) -> None:  # noqa: ARG001 - event API
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def sqlite_read_only_reason(database: str | None) -> str | None:
    """Why this process cannot write (or create) the SQLite file ``database``; None when it can.

    None as well for ``:memory:`` and ``file:`` URIs (their flags are the caller's choice) and for
    a folder that does not exist (opening reports it). Root passes the permission checks, but not
    a read-only file system.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).expanduser()
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        return None
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is not writable by this user"
    if not os.access(folder, os.W_OK):
        return f"its folder {folder} is not writable by this user (SQLite keeps its journal there)"
    return None


def read_only_reason(engine: sa.Engine) -> str | None:
    """:func:`sqlite_read_only_reason` of a SQLite engine's file; None for PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return None
    return sqlite_read_only_reason(engine.url.database)


def _read_only_connector(path: Path):
    """Connections that only read ``path``: ``mode=ro``, plus ``immutable=1`` when SQLite could not
    create the ``-shm`` file a WAL database needs to be read (a read-only folder or file system)
    and no ``-wal`` file holds changes not yet in the database file (while any connection has the
    database open the ``-wal`` file exists, so no writer is working on it)."""
    import sqlite3
    from urllib.parse import quote

    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    if not Path(f"{path}-wal").exists() and not os.access(path.parent, os.W_OK):
        uri += "&immutable=1"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False)

    return connect


def create_sqlite_engine(url: sa.URL) -> sa.Engine:
    """An engine for a SQLite file (or ``:memory:``) with the registry's pragmas.

    A file this process cannot write is opened read-only (see :func:`_read_only_connector`), so
    it can be browsed; writes to it fail with ``SQLITE_READONLY`` (:func:`explain_write_error`).
    """
    database = url.database
    if sqlite_read_only_reason(database) is not None and Path(database).expanduser().is_file():
        engine = sa.create_engine(url, creator=_read_only_connector(Path(database).expanduser()))
    else:
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    return engine


POSTGRES_ISOLATION = "READ COMMITTED"
"""The isolation level of every registry transaction on PostgreSQL, whatever the server's or the
URL's default: the store's writes are made safe by row locks, compare-and-set updates and unique
constraints, which READ COMMITTED is enough for. Under a SERIALIZABLE default, 8 processes writing
at once kept failing on serialization failures even with 10 attempts of each write, and readers
failed too, for no gain."""


def create_postgresql_engine(url: sa.URL) -> sa.Engine:
    """An engine for a PostgreSQL server (transactions at :data:`POSTGRES_ISOLATION`)."""
    return sa.create_engine(url, pool_pre_ping=True, isolation_level=POSTGRES_ISOLATION)


def use_wal_journal(engine: sa.Engine) -> None:
    """Switch a SQLite registry to WAL journaling (readers never wait for the writer).

    The mode is stored in the file, so this writes only the first time; it is called once the
    database is known to be an rrg registry, so another application's file is never switched.
    """
    if engine.dialect.name != "sqlite" or read_only_reason(engine) is not None:
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
        return sqlite_code & 0xFF == SQLITE_BUSY
    return getattr(orig, "sqlstate", None) == _POSTGRES_LOCK_NOT_AVAILABLE


def read_only_error(url: str, reason: str, verb: str = "write") -> RegistryReadOnly:
    """The one line for the registry at ``url`` (as shown) that cannot be written (``verb``: write or create)."""
    return RegistryReadOnly(f"cannot {verb} the registry at {url}: {reason}", hint=READ_ONLY_HINT)


def explain_write_error(error: sa.exc.DBAPIError, engine: sa.Engine, attempts: int | None = None) -> RegistryError | None:
    """:class:`RegistryLocked` for a write that waited out the lock another process holds
    (SQLite's busy timeout, PostgreSQL's ``lock_timeout``), :class:`RegistryReadOnly` for one the
    database refused as read-only (SQLite ``SQLITE_READONLY``, PostgreSQL read-only transaction);
    None for any other error, which the caller re-raises.

    ``attempts``: how often :func:`rrg_registry.store.retry.retried` tried the write before giving
    up; then PostgreSQL's serialization failures, deadlocks and unique keys taken by a concurrent
    write (which are otherwise not explained, so that the retry sees them) are
    :class:`RegistryLocked` as well."""
    orig = error.orig
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    sqlstate = getattr(orig, "sqlstate", None)
    url = engine.url.render_as_string(hide_password=True)
    if attempts is not None and sqlstate in _POSTGRES_CONFLICTS:
        return RegistryLocked(
            f"the registry at {url} is locked: this write lost {attempts} times in a row to other processes' "
            f"writes ({_POSTGRES_CONFLICTS[sqlstate]})",
            hint="try again when the other writers have finished",
        )
    if sqlite_code is not None and sqlite_code & 0xFF == SQLITE_BUSY or sqlstate == _POSTGRES_LOCK_NOT_AVAILABLE:
        if sqlite_code is None:
            held = "holds a lock this write needs (lock_timeout ran out)"
        elif attempts is not None and attempts > 1:
            held = f"kept its write lock through {attempts} attempts of this write"
        else:
            held = f"has held its write lock for over {SQLITE_BUSY_TIMEOUT_MS / 1000:g} s"
        return RegistryLocked(
            f"the registry at {url} is locked: another process {held}",
            hint="try again when it has finished writing; an open transaction in another program, "
            "such as a sqlite3 shell, holds the lock too",
        )
    if sqlite_code is not None and sqlite_code & 0xFF == _SQLITE_READONLY or sqlstate == _POSTGRES_READ_ONLY_TRANSACTION:
        reason = read_only_reason(engine) or str(orig).strip().splitlines()[0]
        return read_only_error(url, reason)
    return None


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are converted to entities then)."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session], write: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception (re-raised), always close.

    ``write`` (a transaction that will write): on SQLite it begins with ``BEGIN IMMEDIATE``, which
    takes the write lock before the first read, waiting for another writer up to the busy timeout,
    so its reads and writes see one state of the database. (Left to itself the driver begins the
    transaction at the first data-changing statement: the reads before it run outside, and another
    process may write between them and the write, e.g. take the run id just checked free; a
    transaction begun deferred that reads and then writes would instead fail with ``SQLITE_BUSY``
    at once, without waiting, when another process wrote in between.) PostgreSQL needs nothing
    here: its row locks are taken as the transaction goes, at READ COMMITTED.
    """
    session = factory()
    try:
        if write and session.get_bind().dialect.name == "sqlite":
            # The driver (pysqlite) opens a transaction only before a data-changing statement and
            # leaves one begun here alone, committing or rolling it back when the session does.
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
