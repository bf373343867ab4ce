"""The registry under load, on SQLite (WAL) and PostgreSQL: 8 writer processes each create runs and
record 500 metric rows, checkpoints, heartbeats, components and predictions, while 2 reader processes
list and compare runs through the browsing paths (``Registry.search_runs`` / ``compare`` and
:class:`rrg_registry.read.RegistryReader`) in a loop, each round first marking interrupted the runs
of processes that died (a write, which both readers race to do).

Nothing may be lost or duplicated, no lock error may reach a writer or a reader, every run ends in
a final state, and a reader never sees a finished run without the evaluation recorded with it.

Below that, the retry machinery (:mod:`rrg_registry.store.retry`) on its own: which errors rerun a
write, how often and after which pauses, the one-line error after the last attempt, SQLite's write
lock taken before a write's first read, every writing store method opted in; and, on PostgreSQL,
real races brought about with a second connection (a deadlock, two writers replacing a metric's
latest value, a run id drawn twice), each rerun and recorded once.
"""

from __future__ import annotations

import inspect
import logging
import multiprocessing
import re
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from rrg_registry import GREEN_FLARE_COMPONENTS, DuplicateRecord, Registry, RegistryLocked
from rrg_registry.read import RegistryReader
from rrg_registry.store import retry as retries
from rrg_registry.store import sql_store
from rrg_registry.status import REAPED_PREFIX
from rrg_registry.store.sql_store import SqlStore

from .conftest import Factory, hours_ago

WRITERS = 8
READERS = 2
RUNS_PER_WRITER = 2
CRASHED = 4  # runs left running by processes that died, for the readers to mark interrupted
STEPS = 50
TRAIN_METRICS = ("train/loss", "train/learning_rate", "train/grad_norm", "train/reward", "train/eval_loss")
METRIC_ROWS_PER_WRITER = RUNS_PER_WRITER * STEPS * len(TRAIN_METRICS)  # 500
CHECKPOINT_STEPS = (10, 20, 30, 40, 50)
BEST_STEP = 30
SAMPLES = 20
SPLIT = "test"
TIMEOUT_S = 300
READ_PAUSE_S = 0.02  # between a reader's rounds, so two readers do not take both CPUs of a small machine
COMPARE_RESAMPLES = 1000  # the bootstrap's arithmetic is not what is under test here
COMPONENTS = dict(zip(GREEN_FLARE_COMPONENTS, (0.8, 0.6, 0.97, 0.9, 0.99, 0.6, 0.8)))


def metric_value(writer: int, run: int, step: int, column: int) -> float:
    """The value writer ``writer`` logs for its run ``run`` at ``step`` (a different one per row)."""
    return ((writer * 131 + run * 31 + step * 7 + column) % 997) / 997


def sample_score(writer: int, run: int, sample: int) -> float:
    return ((writer * 17 + run * 5 + sample * 3) % 101) / 101


def expected_status(run: int) -> str:
    """Even runs end through ``record_evaluation(status=...)``, odd ones through ``finish_run``."""
    return "succeeded" if run % 2 == 0 else "failed"


def _write(url: str, writer: int, barrier, results) -> None:
    """One writer process: record its runs from start to finish, as the engine does."""
    try:
        with Registry.from_url(url) as registry:
            barrier.wait(timeout=TIMEOUT_S)
            recipe = registry.record_recipe("load-sft", 1, "a" * 64, "schema: 1\nname: load-sft\nversion: 1\n")
            dataset = registry.record_dataset("load-data", SPLIT, "f" * 64, SAMPLES)
            created = []
            for run_index in range(RUNS_PER_WRITER):
                run = registry.create_run(
                    recipe.id, "sft", "qwen3_vl", f"writer-{writer}", seed=run_index,
                    tags=["load", f"writer-{writer}"], datasets=[dataset],
                )
                registry.start_run(run.id)
                for step in range(1, STEPS + 1):
                    values = {name: metric_value(writer, run_index, step, j) for j, name in enumerate(TRAIN_METRICS)}
                    registry.log_metrics(run.id, values, "train", step=step)
                    if step in CHECKPOINT_STEPS:
                        registry.record_checkpoint(run.id, step, f"/checkpoints/{run.id}/{step}", f"{step:064x}",
                                                   step * 1000, eval_loss=values["train/eval_loss"],
                                                   best=step == BEST_STEP)
                        registry.heartbeat(run.id)
                scores = [sample_score(writer, run_index, k) for k in range(SAMPLES)]
                predictions = [
                    {"sample_id": f"s{k:03d}", "prediction": f"report {writer}/{run_index}/{k}",
                     "reference": f"reference {k}", "scores": {"green_flare": scores[k]}}
                    for k in range(SAMPLES)
                ]
                metrics = {"green_flare": sum(scores) / SAMPLES, "bleu4_flare": 0.1 + writer / 100}
                if expected_status(run_index) == "succeeded":
                    registry.record_evaluation(run.id, SPLIT, metrics, COMPONENTS, predictions, status="succeeded")
                else:
                    registry.log_predictions(run.id, SPLIT, predictions)
                    registry.log_green_flare_components(run.id, COMPONENTS, SPLIT, SAMPLES)
                    registry.log_metrics(run.id, metrics, SPLIT, n=SAMPLES)
                    registry.finish_run(run.id, "failed", error="the load test fails odd runs")
                created.append((run.id, run_index))
        results.put(("writer", writer, "ok", created))
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the test, which shows it
        results.put(("writer", writer, "failed", f"{type(error).__name__}: {error}"))


def _read(url: str, reader: int, barrier, writers_done, results) -> None:
    """One reader process: list, compare and show runs, through both browsing paths, until the
    writers are done (and once more after), pausing :data:`READ_PAUSE_S` between rounds. Reports
    what it saw."""
    try:
        seen_counts: list[int] = []
        unfinished_seen = 0
        torn: list[str] = []
        queries = 0
        with Registry.from_url(url) as registry, RegistryReader.open(url) as browse:
            barrier.wait(timeout=TIMEOUT_S)
            while True:
                last = writers_done.is_set()
                runs = registry.search_runs(tag="load", sort="green_flare")
                queries += 1
                seen_counts.append(len(runs))
                unfinished_seen += sum(not run.status.is_final for run in runs)
                torn += [f"{run.id} {run.status.value} without green_flare" for run in runs
                         if run.status.is_final and "green_flare" not in run.metrics]
                if len(runs) >= 2:
                    registry.compare([runs[0].id, runs[-1].id], resamples=COMPARE_RESAMPLES)
                    queries += 1
                registry.reap_stale_runs(strict=False)  # what `rrg table` and `rrg plot` do first
                browse.reap_stale_runs()  # what `rrg runs list` does first
                rows = browse.search_runs(tag="load", sort="created")
                queries += 1
                torn += [f"{row['id']} {row['status']} without green_flare" for row in rows
                         if row["status"] in ("succeeded", "failed") and "green_flare" not in row["metrics"]]
                if len(rows) >= 2:
                    browse.compare([rows[0]["id"], rows[-1]["id"]], resamples=COMPARE_RESAMPLES)
                    browse.run_detail(rows[0]["id"])
                    queries += 2
                if last:
                    break
                time.sleep(READ_PAUSE_S)
        results.put(("reader", reader, "ok", {"queries": queries, "counts": seen_counts,
                                              "unfinished_seen": unfinished_seen, "torn": torn}))
    except BaseException as error:  # noqa: BLE001
        results.put(("reader", reader, "failed", f"{type(error).__name__}: {error}"))


def test_eight_writers_and_two_readers_lose_nothing_and_see_no_lock_error(registry_url, clock):
    # runs of processes that died an hour ago: the readers' browsing marks them interrupted
    clock(hours_ago(1))
    with Registry.from_url(registry_url) as registry:
        crashed = [Factory(registry).run("crashed@1", status="running", tags=["crashed"]).id for _ in range(CRASHED)]
    clock(None)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS + READERS)
    writers_done = context.Event()
    results = context.Queue()
    writers = [context.Process(target=_write, args=(registry_url, i, barrier, results)) for i in range(WRITERS)]
    readers = [context.Process(target=_read, args=(registry_url, i, barrier, writers_done, results))
               for i in range(READERS)]
    for process in writers + readers:
        process.start()
    outcomes = {}
    try:
        for _ in writers:
            kind, index, outcome, detail = results.get(timeout=TIMEOUT_S)
            outcomes[(kind, index)] = (outcome, detail)
        writers_done.set()
        for _ in readers:
            kind, index, outcome, detail = results.get(timeout=TIMEOUT_S)
            outcomes[(kind, index)] = (outcome, detail)
    finally:
        writers_done.set()
        for process in writers + readers:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    failures = {key: detail for key, (outcome, detail) in outcomes.items() if outcome != "ok"}
    assert failures == {}, f"{len(failures)} of {WRITERS + READERS} processes failed: {failures}"
    assert [p.exitcode for p in writers + readers] == [0] * (WRITERS + READERS)

    # the readers ran while the writers wrote, and never saw a half-recorded evaluation
    for index in range(READERS):
        seen = outcomes[("reader", index)][1]
        assert seen["torn"] == [], f"reader {index} saw runs finished without their evaluation: {seen['torn'][:5]}"
        assert seen["queries"] >= 4
    assert any(outcomes[("reader", i)][1]["unfinished_seen"] > 0 or min(outcomes[("reader", i)][1]["counts"])
               < WRITERS * RUNS_PER_WRITER for i in range(READERS)), "the readers never overlapped the writers"

    created = {run_id: (writer, run_index) for (kind, writer), (_, runs) in outcomes.items() if kind == "writer"
               for run_id, run_index in runs}
    assert len(created) == WRITERS * RUNS_PER_WRITER

    with Registry.from_url(registry_url) as registry:
        runs = registry.search_runs()
        assert sorted(run.id for run in runs) == sorted([*created, *crashed])
        for run_id in crashed:
            run = registry.get_run(run_id).run
            assert run.status.value == "interrupted"
            assert run.error.startswith(REAPED_PREFIX)
        assert [(v.name, v.version) for v in registry.list_recipe_versions()] == [("crashed", 1), ("load-sft", 1)]
        for run_id, (writer, run_index) in created.items():
            detail = registry.get_run(run_id)
            assert detail.run.status.value == expected_status(run_index)
            assert detail.run.ended_at is not None
            assert [d.name for d in detail.datasets] == ["load-data"]
            assert sorted(detail.run.tags) == ["load", f"writer-{writer}"]
            train = [m for m in detail.metric_history if m.split == "train"]
            assert len(train) == STEPS * len(TRAIN_METRICS)
            assert Counter((m.name, m.step) for m in train) == Counter(
                {(name, step): 1 for name in TRAIN_METRICS for step in range(1, STEPS + 1)})
            assert all(m.value == pytest.approx(metric_value(writer, run_index, m.step, TRAIN_METRICS.index(m.name)))
                       for m in train)
            assert {name: detail.metrics[name] for name in TRAIN_METRICS} == pytest.approx(
                {name: metric_value(writer, run_index, STEPS, j) for j, name in enumerate(TRAIN_METRICS)})
            assert [c.step for c in detail.checkpoints] == list(CHECKPOINT_STEPS)
            assert [c.step for c in detail.checkpoints if c.best] == [BEST_STEP]
            assert detail.prediction_counts == {SPLIT: SAMPLES}
            assert len(detail.components) == 1
            scores = [sample_score(writer, run_index, k) for k in range(SAMPLES)]
            assert detail.metrics["green_flare"] == pytest.approx(sum(scores) / SAMPLES)
        # one dataset row, shared by every run
        engine = registry._store.engine
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM datasets")).scalar_one() == 1
            assert connection.execute(sa.text("SELECT count(*) FROM metrics WHERE split = 'train'")).scalar_one() == (
                WRITERS * METRIC_ROWS_PER_WRITER)


# -- the retry machinery -------------------------------------------------------------------------

RETRY_LOGGER = "rrg_registry.store.retry"


def _transient_error(dialect: str, kind: str) -> Exception:
    """A DBAPI error as the driver raises it for a write that lost a race."""
    if dialect == "sqlite":
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = 517  # SQLITE_BUSY_SNAPSHOT: busy without waiting
        return error
    import psycopg.errors

    if kind == "deadlock":
        return psycopg.errors.DeadlockDetected("deadlock detected")
    return psycopg.errors.SerializationFailure("could not serialize access due to concurrent update")


@contextmanager
def failing(engine: sa.Engine, prefix: str, times: int, make: Callable[[int], Exception]) -> Iterator[dict[str, int]]:
    """Make the first ``times`` statements starting with ``prefix`` fail with ``make(n)`` (the
    driver's error, which SQLAlchemy wraps as it wraps a real one); counts every such statement."""
    calls = {"n": 0}

    def before(connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(prefix):
            calls["n"] += 1
            if calls["n"] <= times:
                raise make(calls["n"])

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield calls
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The backoff pauses the retries take (not slept)."""
    taken: list[float] = []
    monkeypatch.setattr(retries, "_sleep", taken.append)
    return taken


def _dialect(registry: Registry) -> str:
    return registry._store.engine.dialect.name


def test_a_write_that_loses_races_is_rerun_whole_and_recorded_once(registry, factory, pauses, caplog):
    caplog.set_level(logging.DEBUG, logger=RETRY_LOGGER)
    run = factory.run(status="running")
    dialect = _dialect(registry)
    kinds = ["busy"] if dialect == "sqlite" else ["serialization", "deadlock", "serialization"]

    def lost(n: int) -> Exception:
        return _transient_error(dialect, kinds[(n - 1) % len(kinds)])

    values = {"train/loss": 0.5, "train/reward": 0.25}
    with failing(registry._store.engine, "INSERT INTO LATEST_METRICS", 3, lost) as calls:
        logged = registry.log_metrics(run.id, values, "train", step=7)
    assert calls["n"] == 4
    expected = [("train/loss", 0.5, 7), ("train/reward", 0.25, 7)]
    assert [(m.name, m.value, m.step) for m in logged] == expected
    assert [(m.name, m.value, m.step) for m in registry.metric_history(run.id)] == expected
    assert registry.get_run(run.id).metrics == {"train/loss": 0.5, "train/reward": 0.25}
    retried = [r.getMessage() for r in caplog.records if r.name == RETRY_LOGGER]
    assert len(retried) == 3 and all("SqlStore.log_metrics" in m for m in retried)
    assert len(pauses) == 3
    assert all(0 <= pause <= retries.BASE_DELAY_S * 2 ** i for i, pause in enumerate(pauses))


def test_a_write_that_keeps_losing_is_one_line_and_leaves_nothing(registry, factory, pauses):
    run = factory.run(status="running")
    dialect = _dialect(registry)
    with (
        failing(registry._store.engine, "INSERT INTO LATEST_METRICS", 10**6,
                lambda n: _transient_error(dialect, "serialization")) as calls,
        pytest.raises(RegistryLocked) as caught,
    ):
        registry.record_evaluation(run.id, "test", {"green_flare": 0.7}, status="succeeded")
    assert calls["n"] == retries.MAX_ATTEMPTS
    assert len(pauses) == retries.MAX_ATTEMPTS - 1
    assert all(pause <= retries.MAX_DELAY_S for pause in pauses)
    if dialect == "sqlite":
        expected = (
            f"the registry at {registry.url} is locked: another process kept its write lock through "
            f"{retries.MAX_ATTEMPTS} attempts of this write (hint: try again when it has finished "
            "writing; an open transaction in another program, such as a sqlite3 shell, holds the lock too)"
        )
    else:
        expected = (
            f"the registry at {registry.url} is locked: this write lost {retries.MAX_ATTEMPTS} times in "
            "a row to other processes' writes (serialization failures) (hint: try again when the other "
            "writers have finished)"
        )
    assert str(caught.value) == expected
    detail = registry.get_run(run.id)
    assert detail.run.status.value == "running"
    assert detail.metric_history == () and detail.metrics == {}


def test_errors_that_a_rerun_cannot_fix_are_not_retried(registry, factory, pauses):
    run = factory.run(status="running")
    registry.record_checkpoint(run.id, 10, "/ckpt/10", "0" * 64, 1)
    with (
        failing(registry._store.engine, "INSERT INTO CHECKPOINTS", 0, RuntimeError) as calls,
        pytest.raises(DuplicateRecord),
    ):
        registry.record_checkpoint(run.id, 10, "/ckpt/10-again", "1" * 64, 1)
    assert calls["n"] == 1
    with pytest.raises(ValueError, match="sample ids repeat"):
        registry.log_predictions(run.id, "test", [{"sample_id": "a", "prediction": "x"}] * 2)
    sqlite = _dialect(registry) == "sqlite"

    def broken(n: int) -> Exception:  # an error with no sqlite_errorcode / another SQLSTATE
        if sqlite:
            return sqlite3.OperationalError("disk I/O error")
        import psycopg.errors

        return psycopg.errors.UndefinedTable("relation does not exist")

    with (
        failing(registry._store.engine, "INSERT INTO METRICS", 1, broken) as calls,
        pytest.raises(sa.exc.DBAPIError),
    ):
        registry.log_metrics(run.id, {"train/loss": 1.0}, "train", step=1)
    assert calls["n"] == 1
    assert pauses == []
    assert registry.metric_history(run.id) == []


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_a_sqlite_write_holds_the_write_lock_from_its_first_read(registry, factory):
    recipe = factory.recipe()
    path = sa.make_url(registry.url).database
    probes: list[str] = []

    def probe(connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT") and not probes:
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                probes.append("free")
            except sqlite3.OperationalError as error:
                probes.append(str(error))
            finally:
                other.close()

    engine = registry._store.engine
    sa.event.listen(engine, "before_cursor_execute", probe)
    try:
        registry.create_run(recipe.id, "sft", "qwen3_vl", "tiny")  # its first statement checks the recipe
        assert probes == ["database is locked"]
        probes.clear()
        registry.search_runs()  # a read takes no write lock
        assert probes == ["free"]
    finally:
        sa.event.remove(engine, "before_cursor_execute", probe)


WRITES = re.compile(r"session\.(add|add_all|delete|merge)\(|sa\.(insert|update|delete)\(|self\._(move|reopen|log_\w+)\(")


def test_every_store_method_that_writes_is_a_retried_unit():
    """A new write method opts in with ``@retried`` (see rrg_registry.store.retry)."""
    writers = {name: getattr(member, "rrg_write_unit", False)
               for name, member in inspect.getmembers(SqlStore, inspect.isfunction)
               if not name.startswith("_") and WRITES.search(inspect.getsource(inspect.unwrap(member)))}
    assert {"create_run", "log_metrics", "record_evaluation", "record_checkpoint", "heartbeat"} <= set(writers)
    unguarded = [name for name, unit in writers.items() if not unit]
    assert unguarded == [], f"SqlStore methods that write without @retried: {unguarded}"


def test_transient_reasons_and_backoff():
    import psycopg.errors

    def wrapped(orig: Exception) -> sa.exc.DBAPIError:
        return sa.exc.OperationalError("INSERT ...", {}, orig)

    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5
    other = sqlite3.OperationalError("no such table: runs")
    other.sqlite_errorcode = 1

    class Taken(psycopg.errors.UniqueViolation):
        diag = SimpleNamespace(constraint_name="pk_runs")

    assert retries.transient_reason(wrapped(busy)) == "database is locked"
    assert retries.transient_reason(wrapped(other)) is None
    assert retries.transient_reason(wrapped(psycopg.errors.SerializationFailure("x"))) == "serialization failure"
    assert retries.transient_reason(wrapped(psycopg.errors.DeadlockDetected("x"))) == "deadlock"
    assert retries.transient_reason(wrapped(psycopg.errors.LockNotAvailable("x"))) is None  # lock_timeout: waited out
    assert retries.transient_reason(wrapped(Taken("x"))) is None
    assert retries.transient_reason(wrapped(Taken("x")), races=("pk_runs",)) == "pk_runs taken by a concurrent write"
    assert retries.transient_reason(RuntimeError("x")) is None
    for attempt in range(1, 12):
        ceiling = min(retries.MAX_DELAY_S, retries.BASE_DELAY_S * 2 ** (attempt - 1))
        assert all(0 <= retries.backoff_s(attempt) <= ceiling for _ in range(50))


def test_a_unit_inside_another_is_rerun_with_the_outer_one(pauses):
    import psycopg.errors

    class Taken(psycopg.errors.UniqueViolation):
        diag = SimpleNamespace(constraint_name="uq_inner")

    calls: Counter[str] = Counter()

    class Store:
        engine = sa.create_engine("sqlite://")

        @retries.retried
        def outer(self) -> str:
            calls["outer"] += 1
            assert retries.in_write_unit()
            return self.inner()

        @retries.retried(races=("uq_inner",))
        def inner(self) -> str:
            calls["inner"] += 1
            if calls["inner"] == 1:
                raise sa.exc.IntegrityError("INSERT INTO inner ...", {}, Taken("duplicate key"))
            return "done"

    assert not retries.in_write_unit()
    assert Store().outer() == "done"
    assert calls == {"outer": 2, "inner": 2}
    assert len(pauses) == 1
    assert not retries.in_write_unit()


# -- real races on PostgreSQL --------------------------------------------------------------------


def _named(url: str, name: str) -> str:
    """``url`` with ``application_name``, so the test can see when its connections wait for a lock."""
    return sa.make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def _wait_until_blocked(engine: sa.Engine, name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND wait_event_type = 'Lock'"
            ), {"name": name}).scalar_one():
                return
        time.sleep(0.02)
    raise AssertionError(f"the registry's connection ({name}) never waited for the lock")


class Worker(threading.Thread):
    """A call on another thread, with its result or error."""

    def __init__(self, call: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self._call, self.result, self.error = call, None, None
        self.start()

    def run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            self.error = error

    def outcome(self) -> Any:
        self.join(timeout=60)
        assert not self.is_alive(), "the registry call did not finish"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def contended(registry_url, caplog):
    """(a registry whose connections are named, another connection to the same schema, the
    engine that watches them, the name)."""
    caplog.set_level(logging.DEBUG, logger=RETRY_LOGGER)
    name = f"rrg-race-{secrets.token_hex(4)}"
    other = sa.create_engine(registry_url)
    with Registry.from_url(_named(registry_url, name)) as registry:
        yield registry, other, name
    other.dispose()


def _retry_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == RETRY_LOGGER]


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_a_deadlock_on_postgresql_is_rerun(contended, caplog):
    registry, other, name = contended
    run = Factory(registry).run(status="running")
    with other.connect() as connection:
        connection.execute(sa.text("SET LOCAL deadlock_timeout = '10s'"))  # the registry's side detects it
        connection.execute(sa.text("SELECT id FROM runs WHERE id = :id FOR KEY SHARE"), {"id": run.id})
        # the evaluation's metric rows take the same share of the run's row, then its status change
        # waits for this transaction's share ...
        worker = Worker(lambda: registry.record_evaluation(run.id, "test", {"green_flare": 0.75}, status="succeeded"))
        _wait_until_blocked(other, name)
        # ... while this transaction waits for the evaluation's: a deadlock, which PostgreSQL breaks
        # by failing the evaluation's transaction (40P01)
        connection.execute(sa.text("SELECT id FROM runs WHERE id = :id FOR UPDATE"), {"id": run.id})
        connection.commit()
    finished = worker.outcome()
    assert finished.status.value == "succeeded"
    detail = registry.get_run(run.id)
    assert [(m.name, m.value) for m in detail.metric_history] == [("green_flare", 0.75)]
    assert any("deadlock" in message for message in _retry_messages(caplog))


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_two_writers_replacing_a_latest_metric_at_once_on_postgresql(contended, caplog):
    registry, other, name = contended
    run = Factory(registry).run(status="running")
    registry.log_metrics(run.id, {"train/loss": 0.9}, "train", step=1)
    with other.connect() as connection:  # another writer logs step 2, not committed yet
        metric_id = connection.execute(sa.text(
            "INSERT INTO metrics (run_id, split, name, value, step, logged_at) "
            "VALUES (:id, 'train', 'train/loss', 0.5, 2, now()) RETURNING id"), {"id": run.id}).scalar_one()
        connection.execute(sa.text("DELETE FROM latest_metrics WHERE run_id = :id AND name = 'train/loss'"), {"id": run.id})
        connection.execute(sa.text(
            "INSERT INTO latest_metrics (run_id, name, value, split, metric_id) "
            "VALUES (:id, 'train/loss', 0.5, 'train', :metric)"), {"id": run.id, "metric": metric_id})
        worker = Worker(lambda: registry.log_metrics(run.id, {"train/loss": 0.3}, "train", step=3))
        _wait_until_blocked(other, name)
        connection.commit()  # the registry's insert of the latest value now meets the other's row
    worker.outcome()
    assert [(m.step, m.value) for m in registry.metric_history(run.id)] == [(1, 0.9), (2, 0.5), (3, 0.3)]
    assert registry.get_run(run.id).metrics == {"train/loss": 0.3}
    assert any("pk_latest_metrics" in message for message in _retry_messages(caplog))


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_two_runs_drawing_the_same_id_at_once_on_postgresql(contended, caplog, monkeypatch):
    registry, other, name = contended
    recipe = Factory(registry).recipe()
    drawn = iter(["deadbeef", "deadbeef", "cafef00d"])
    monkeypatch.setattr(sql_store, "secrets", SimpleNamespace(token_hex=lambda size: next(drawn)))
    with other.connect() as connection:  # another process creates run deadbeef, not committed yet
        connection.execute(sa.text(
            "INSERT INTO runs (id, recipe_version_id, stage, model_family, model_id, status, package_versions, created_at) "
            "VALUES ('deadbeef', :recipe, 'sft', 'qwen3_vl', 'other', 'pending', '{}', now())"), {"recipe": recipe.id})
        worker = Worker(lambda: registry.create_run(recipe.id, "sft", "qwen3_vl", "mine"))
        _wait_until_blocked(other, name)
        connection.commit()
    created = worker.outcome()
    assert created.id == "cafef00d"
    assert sorted((r.id, r.model_id) for r in registry.search_runs()) == [("cafef00d", "mine"), ("deadbeef", "other")]
    assert any("pk_runs" in message for message in _retry_messages(caplog))


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_registry_transactions_are_read_committed_whatever_the_server_default(registry_url):
    strict = sa.make_url(registry_url)
    options = f"{strict.query['options']} -cdefault_transaction_isolation=serializable"
    url = strict.update_query_dict({"options": options}).render_as_string(hide_password=False)
    with Registry.from_url(url) as registry, registry._store.transaction() as session:
        assert session.execute(sa.text("SHOW default_transaction_isolation")).scalar_one() == "serializable"
        assert session.execute(sa.text("SHOW transaction_isolation")).scalar_one() == "read committed"
