"""First use of a registry: many processes creating it at once, another application's SQLite file,
unknown revisions asked for or found, and a schema lock held too long. On SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from rrg.cli import cli
from rrg_registry import NotARegistry, Registry, RegistryError, SchemaLocked, StaleSchema, UnknownRevision
from rrg_registry.store import engine as engines
from rrg_registry.store import schema

PROCESSES = 8


def _open_and_record(url: str, barrier, results, index: int) -> None:
    """One process: wait for the others, open the registry (creating it) and record a run."""
    try:
        barrier.wait(timeout=120)
        with Registry.from_url(url) as registry:
            recipe = registry.record_recipe("first-use", 1, "f" * 64, "name: first-use\nversion: 1\n")
            run = registry.create_run(recipe.id, "sft", "qwen3_vl", f"model-{index}")
        results.put((index, "ok", run.id))
    except Exception as error:  # noqa: BLE001 - every failure goes back to the test, which shows it
        results.put((index, "failed", f"{type(error).__name__}: {error}"))


def test_processes_creating_a_new_registry_at_once_all_succeed(empty_database):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [context.Process(target=_open_and_record, args=(empty_database.url, barrier, results, i))
                 for i in range(PROCESSES)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    failures = {index: message for index, outcome, message in outcomes if outcome != "ok"}
    assert failures == {}, f"{len(failures)} of {PROCESSES} processes failed: {failures}"
    assert [process.exitcode for process in processes] == [0] * PROCESSES

    with Registry.from_url(empty_database.url) as registry:
        runs = registry.search_runs()
        assert sorted(run.id for run in runs) == sorted(run_id for _, _, run_id in outcomes)
        assert {run.recipe for run in runs} == {"first-use@1"}
        assert len(registry.list_recipe_versions()) == 1
    engine = sa.create_engine(empty_database.url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(f"SELECT version_num FROM {schema.VERSION_TABLE}")).all()
    finally:
        engine.dispose()
    assert rows == [(schema.HEAD_REVISION,)]


# -- another application's SQLite database ---------------------------------------------------


@pytest.fixture
def notes_db(tmp_path) -> Path:
    """A SQLite database of another application: a table ``notes`` with a row, rollback journal."""
    path = tmp_path / "notes.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        connection.execute("INSERT INTO notes (text) VALUES ('buy milk')")
        connection.commit()
    return path


def _sqlite_state(path: Path) -> tuple[bytes, list[str], str]:
    content = path.read_bytes()
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master ORDER BY name")]
        journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    return content, tables, journal


def test_a_registry_another_process_creates_between_two_reads_is_accepted(empty_database, monkeypatch):
    """The first look at a database reads the version table, then lists the tables. Another
    process committing a new registry between those two reads (seen by the second, not the first)
    is a registry at the head revision, not tables without a version table."""
    engine = sa.create_engine(empty_database.url)
    real = schema._read_revision
    calls = []

    def read_then_another_creates(connection):
        revision = real(connection)
        calls.append(revision)
        if len(calls) == 1:
            monkeypatch.setattr(schema, "_read_revision", real)
            Registry.from_url(empty_database.url).close()  # another process: commits tables and version row
            monkeypatch.setattr(schema, "_read_revision", read_then_another_creates)
        return revision

    monkeypatch.setattr(schema, "_read_revision", read_then_another_creates)
    try:
        assert schema.checked_revision(engine) == schema.HEAD_REVISION
    finally:
        engine.dispose()
    assert calls == [None, schema.HEAD_REVISION]


def test_another_applications_sqlite_database_is_refused_and_left_alone(notes_db):
    before = _sqlite_state(notes_db)
    assert before[1:] == (["notes"], "delete")
    url = f"sqlite:///{notes_db}"

    with pytest.raises(NotARegistry) as opened:
        Registry.from_url(url)
    message = str(opened.value)
    assert message == (
        f"the SQLite database {notes_db} is not an rrg registry: it holds other tables (notes) "
        "(hint: give --registry / RRG_REGISTRY_URL a new file or an existing rrg registry)"
    )
    with pytest.raises(NotARegistry):
        Registry.upgrade_schema(url)
    with pytest.raises(NotARegistry):
        Registry.schema_revision(url)

    assert _sqlite_state(notes_db) == before
    assert sorted(p.name for p in notes_db.parent.iterdir()) == ["notes.db"]


@pytest.mark.parametrize("command", [["runs", "list"], ["db", "current"], ["db", "upgrade"]])
def test_another_applications_sqlite_database_is_one_line_on_the_cli(notes_db, command):
    before = _sqlite_state(notes_db)
    result = CliRunner().invoke(cli, [*command, "--registry", f"sqlite:///{notes_db}"])
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"Error: the SQLite database {notes_db} is not an rrg registry: it holds other tables (notes) "
        "(hint: give --registry / RRG_REGISTRY_URL a new file or an existing rrg registry)\n"
    )
    assert _sqlite_state(notes_db) == before


def test_an_empty_sqlite_file_becomes_a_registry_in_wal_mode(tmp_path):
    path = tmp_path / "touched.db"
    path.touch()
    with Registry.from_url(str(path)) as registry:
        assert registry.search_runs() == []
    assert _sqlite_state(path)[2] == "wal"
    assert schema.VERSION_TABLE in _sqlite_state(path)[1]


# -- revisions rrg does not know ---------------------------------------------------------------


def rrg(url: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--registry", url])


def _tables(database) -> set[str]:
    engine = sa.create_engine(database.url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrading_to_an_unknown_revision_is_one_line_and_changes_nothing(empty_database):
    result = rrg(empty_database.url, "db", "upgrade", "--revision", "bogus")
    assert result.exit_code == 2, result.output
    assert result.output == (
        "Error: rrg knows no schema revision 'bogus' "
        f"(hint: give --revision head or one of {', '.join(sorted(schema.known_revisions_fast()))})\n"
    )
    assert _tables(empty_database) == set()
    with pytest.raises(UnknownRevision):
        Registry.upgrade_schema(empty_database.url, "+1")


def test_a_registry_written_by_a_newer_rrg_asks_for_a_newer_rrg(registry_url, empty_database):
    engine = sa.create_engine(empty_database.url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999'"))
    finally:
        engine.dispose()
    shown = sa.make_url(registry_url).render_as_string(hide_password=True)
    expected = (
        f"the registry at {shown} has schema revision 9999, which this rrg does not know (it needs {schema.HEAD_REVISION}) "
        "(hint: the database was written by a newer rrg; upgrade rrg)"
    )
    for args in (["db", "upgrade"], ["db", "upgrade", "--revision", "0001"], ["runs", "list"]):
        result = rrg(registry_url, *args)
        assert result.exit_code == 2, result.output
        assert result.output == f"Error: {expected}\n"
    with pytest.raises(StaleSchema):
        Registry.upgrade_schema(registry_url)

    current = rrg(registry_url, "db", "current")
    assert current.exit_code == 0, current.output
    assert current.output == f"revision 9999 (this rrg needs {schema.HEAD_REVISION}): written by a newer rrg; upgrade rrg\n"


def test_db_commands_refuse_tables_without_a_version_table(registry_url, empty_database):
    engine = sa.create_engine(empty_database.url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE {schema.VERSION_TABLE}"))
    finally:
        engine.dispose()
    for command in (["db", "upgrade"], ["db", "current"]):
        result = rrg(registry_url, *command)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1
        assert f"has tables but no {schema.VERSION_TABLE} table" in result.output


# -- the schema lock ---------------------------------------------------------------------------


def test_a_schema_lock_held_too_long_is_one_line(empty_database, monkeypatch):
    """Another process holds the lock that serialises schema changes; opening gives up after the timeout."""
    monkeypatch.setattr(engines, "SCHEMA_LOCK_TIMEOUT_S", 0.5)
    if empty_database.dialect == "sqlite":
        path = sa.make_url(empty_database.url).database
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # a writer: readers go on, a second writer waits
        release = holder.close
    else:
        holder_engine = sa.create_engine(empty_database.url)
        holder = holder_engine.connect()
        holder.execute(sa.select(sa.func.pg_advisory_lock(engines.SCHEMA_LOCK_KEY)))

        def release() -> None:
            holder.close()
            holder_engine.dispose()
    try:
        with pytest.raises(SchemaLocked) as caught:
            Registry.from_url(empty_database.url)
    finally:
        release()
    assert "\n" not in str(caught.value)
    assert "another process has been creating or migrating the registry" in str(caught.value)
    assert isinstance(caught.value, RegistryError)
    with Registry.from_url(empty_database.url) as registry:
        assert registry.search_runs() == []
