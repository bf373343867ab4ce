"""Retrying a write that lost a race with another process, so no lock error reaches the user.

A store method that writes is one *unit*: it is decorated with :func:`retried` and does its
writing in one transaction (reads before that transaction are allowed; a second committed write
would be repeated by a retry, so such a method must not be decorated), never opens a transaction
while another is open (on SQLite the second would wait for the first one's write lock), and reads its
arguments again when rerun (they are sequences and mappings, not one-shot iterators). Inside a
unit:

- on SQLite, every transaction starts with ``BEGIN IMMEDIATE`` (:func:`in_write_unit`, read by
  :meth:`rrg_registry.store.sql_store.SqlStore.transaction`): the write lock is taken, waiting up
  to the busy timeout, before the first read, so the unit's reads and writes see one state of the
  database (no other process writes between its check of a key and its insert);
- a *transient* error rolls the whole unit back and runs it again after a jittered exponential
  backoff: SQLite's ``SQLITE_BUSY`` (and its extended codes), PostgreSQL's serialization failures
  (``40001``) and deadlocks (``40P01``), and, for the constraints a method names in ``races``, a
  unique violation another transaction caused between the unit's check and its insert (a run id
  drawn twice, a latest-metric row replaced by two writers at once);
- after :data:`MAX_ATTEMPTS` attempts, or once :func:`retry_window_s` has passed (a SQLite write
  lock held past the busy timeout is therefore reported at once, not waited out again), the error
  becomes the one-line :class:`~rrg_registry.errors.RegistryLocked`
  (:func:`rrg_registry.store.engine.explain_write_error`); any other error propagates as it is.

Each retry is logged at DEBUG level on the ``rrg_registry.store.retry`` logger.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa

from rrg_registry.store import engine as engines

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
"""How many times a unit is tried before its error is reported."""

BASE_DELAY_S = 0.01
"""The backoff before the second attempt is drawn from [0, BASE_DELAY_S]; it doubles each time."""

MAX_DELAY_S = 1.0
"""The longest backoff between two attempts."""

POSTGRES_TRANSIENT = {"40001": "serialization failure", "40P01": "deadlock"}
"""PostgreSQL errors that a rerun of the whole transaction resolves, by SQLSTATE."""

_POSTGRES_UNIQUE_VIOLATION = "23505"

_sleep = time.sleep  # the pause between attempts (tests record it instead)

_write_unit: ContextVar[set[str] | None] = ContextVar("rrg_registry_write_unit", default=None)
"""Inside a unit: the unique constraints whose violation reruns it (its own and those of the units
it calls); None outside."""

F = TypeVar("F", bound=Callable[..., Any])


def in_write_unit() -> bool:
    """Whether the caller runs inside a :func:`retried` method (so its transactions write)."""
    return _write_unit.get() is not None


def retry_window_s() -> float:
    """How long after a unit's first attempt began another attempt may start: SQLite's busy
    timeout, which a write waiting for the lock has already spent when its error comes."""
    return engines.SQLITE_BUSY_TIMEOUT_MS / 1000


def transient_reason(error: BaseException, races: Iterable[str] = ()) -> str | None:
    """Why ``error`` is worth a rerun of the whole transaction (e.g. ``"deadlock"``), or None.

    ``races``: names of unique constraints whose violation means another transaction inserted the
    same key after this one looked (PostgreSQL names the constraint; on SQLite a unit holds the
    write lock from its first read, so such a race cannot happen there).
    """
    if not isinstance(error, sa.exc.DBAPIError):
        return None
    orig = error.orig
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return "database is locked" if sqlite_code & 0xFF == engines.SQLITE_BUSY else None
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in POSTGRES_TRANSIENT:
        return POSTGRES_TRANSIENT[sqlstate]
    if sqlstate == _POSTGRES_UNIQUE_VIOLATION:
        constraint = getattr(getattr(orig, "diag", None), "constraint_name", None)
        if constraint is not None and constraint in set(races):
            return f"{constraint} taken by a concurrent write"
    return None


def backoff_s(attempt: int, rng: random.Random | None = None) -> float:
    """The pause after failed attempt number ``attempt`` (1-based): "full jitter", uniform in
    [0, min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempt - 1))], so writers that collided spread out."""
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempt - 1))
    return (rng or random).uniform(0, ceiling)


def retried(method: F | None = None, *, races: Iterable[str] = ()) -> Any:
    """Decorate a store method that writes (``@retried`` or ``@retried(races=(...))``); see the
    module's docstring. A unit called from inside another runs as part of it (the outer one is
    rerun, its ``races`` included). The method's object must have an ``engine`` (the store)."""
    raced = frozenset(races)

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def unit(store: Any, *args: Any, **kwargs: Any) -> Any:
            active = _write_unit.get()
            if active is not None:
                active.update(raced)
                return function(store, *args, **kwargs)
            active = set(raced)
            token = _write_unit.set(active)
            try:
                return _attempts(function, store, args, kwargs, active)
            finally:
                _write_unit.reset(token)

        unit.rrg_write_unit = True  # type: ignore[attr-defined]  # what the tests look for
        return unit  # type: ignore[return-value]

    return decorate if method is None else decorate(method)


def _attempts(function: Callable[..., Any], store: Any, args: tuple, kwargs: dict, races: set[str]) -> Any:
    started = time.monotonic()
    attempt = 1
    while True:
        try:
            return function(store, *args, **kwargs)
        except sa.exc.DBAPIError as error:
            reason = transient_reason(error, races)
            if reason is None:
                raise
            pause = backoff_s(attempt)
            if attempt >= MAX_ATTEMPTS or time.monotonic() - started + pause >= retry_window_s():
                explained = engines.explain_write_error(error, store.engine, attempts=attempt)
                if explained is None:
                    raise
                raise explained from None
            logger.debug("%s: attempt %d failed (%s); retrying in %.3f s", function.__qualname__, attempt, reason, pause)
            _sleep(pause)
            attempt += 1
