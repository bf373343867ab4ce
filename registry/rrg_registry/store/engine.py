"""Engines and transactions: the one place that knows SQLite from PostgreSQL.

SQLite connections turn on foreign keys, WAL journaling and a busy timeout (so concurrent writers
wait instead of failing); PostgreSQL connections are pre-pinged. :func:`transaction` is the only
way the store talks to the database: it commits on success, rolls back on any error, and always
closes the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_on_connect(dbapi_connection, connection_record) -> None:  # noqa: ARG001 - event API
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
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
