"""kill -9 in the middle of every migration, on SQLite and PostgreSQL.

For each revision a child process opens (0001) or upgrades (0002, 0003) a registry and is killed with
SIGKILL while that revision's ``upgrade()`` has run and its transaction is still open. The
registry must then read as the revision before it, data intact, and be completed to head by
``Registry.from_url`` / ``rrg db upgrade`` with no hand-written SQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from rrg.cli import cli
from rrg_registry import Registry, RunStatus, StaleSchema
from rrg_registry.store import schema

# Wraps the upgrade() of revision REVISION as Alembic loads it: after the original body has run
# (its DDL executed, its transaction open), write the marker and wait to be killed.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    import alembic.util

    from rrg_registry import Registry

    url, revision, marker, how = sys.argv[1:5]
    load = alembic.util.load_python_file

    def load_and_stall(directory, filename):
        module = load(directory, filename)
        if getattr(module, "revision", None) == revision:
            upgrade = module.upgrade

            def upgrade_then_stall():
                upgrade()
                Path(marker + ".part").write_text(str(os.getpid()))
                os.replace(marker + ".part", marker)  # the parent never reads a half-written marker
                time.sleep(600)

            module.upgrade = upgrade_then_stall
        return module

    alembic.util.load_python_file = load_and_stall
    if how == "open":
        Registry.from_url(url)
    else:
        Registry.upgrade_schema(url)
    sys.exit("the migration finished: it was not stalled")
    """
)

REV1_TABLES = {
    "recipe_versions", "datasets", "runs", "run_tags", "run_datasets", "checkpoints", "metrics",
    "latest_metrics", "green_flare_components", "predictions", "publications", schema.VERSION_TABLE,
}

REV1_DATA = [
    "INSERT INTO recipe_versions (id, name, version, hash, yaml_text, created_at) "
    "VALUES (1, 'demo-sft', 1, 'abc', 'name: demo-sft', '2025-01-01 10:00:00.000000')",
    "INSERT INTO runs (id, recipe_version_id, stage, model_family, model_id, status, package_versions, "
    "created_at, started_at, ended_at, heartbeat_at) VALUES ('0a0b0c0d', 1, 'sft', 'qwen3_vl', 'Qwen/X', "
    "'succeeded', '{}', '2025-01-01 10:00:00.000000', '2025-01-01 10:00:01.000000', "
    "'2025-01-01 11:00:00.000000', '2025-01-01 11:00:00.000000')",
    "INSERT INTO run_tags (run_id, tag) VALUES ('0a0b0c0d', 'paper')",
    "INSERT INTO metrics (id, run_id, split, name, value, n, logged_at) "
    "VALUES (1, '0a0b0c0d', 'validation', 'green_flare', 0.77, 1945, '2025-01-01 11:00:00.000000')",
    "INSERT INTO latest_metrics (run_id, name, value, split, metric_id) "
    "VALUES ('0a0b0c0d', 'green_flare', 0.77, 'validation', 1)",
]


def _engine(database) -> sa.Engine:
    return sa.create_engine(database.url)


def _state(database) -> tuple[set[str], str | None, set[str], list[tuple]]:
    """(tables, recorded revision, columns of runs, the runs with their tags and metrics)."""
    engine = _engine(database)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            tables = set(inspector.get_table_names())
            revision = schema._read_revision(connection)
            columns = {c["name"] for c in inspector.get_columns("runs")} if "runs" in tables else set()
            rows = []
            if "runs" in tables:
                rows = connection.execute(sa.text(
                    "SELECT r.id, r.status, t.tag, m.name, m.value FROM runs r "
                    "JOIN run_tags t ON t.run_id = r.id JOIN latest_metrics m ON m.run_id = r.id ORDER BY r.id"
                )).all()
    finally:
        engine.dispose()
    return tables, revision, columns, [tuple(row) for row in rows]


def _kill_during(database, revision: str, how: str, tmp_path: Path) -> None:
    """Run the child until it stalls inside ``revision``'s migration, then SIGKILL it."""
    marker = tmp_path / f"in-{revision}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, database.url, revision, str(marker), how],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if child.poll() is not None:
                pytest.fail(f"the child ended before stalling in {revision}: {child.stdout.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the child never reached revision {revision}'s migration")
            time.sleep(0.02)
        assert int(marker.read_text()) == child.pid
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()


def test_kill_during_the_first_migration_leaves_an_empty_database(empty_database, tmp_path):
    _kill_during(empty_database, "0001", "open", tmp_path)

    assert Registry.schema_revision(empty_database.url) == (None, schema.HEAD_REVISION)
    assert _state(empty_database) == (set(), None, set(), [])

    with Registry.from_url(empty_database.url) as registry:  # completes it, no manual step
        assert registry.search_runs() == []
        recipe = registry.record_recipe("after-kill", 1, "a" * 64, "name: after-kill\n")
        registry.create_run(recipe.id, "sft", "qwen3_vl", "tiny")
    assert _state(empty_database)[1] == schema.HEAD_REVISION


def test_kill_during_the_second_migration_leaves_revision_1_with_its_data(empty_database, tmp_path):
    assert Registry.upgrade_schema(empty_database.url, "0001") == (None, "0001")
    engine = _engine(empty_database)
    try:
        with engine.begin() as connection:
            for statement in REV1_DATA:
                connection.execute(sa.text(statement))
    finally:
        engine.dispose()
    before = _state(empty_database)
    assert before[0] == REV1_TABLES and before[1] == "0001"
    assert before[3] == [("0a0b0c0d", "succeeded", "paper", "green_flare", 0.77)]

    _kill_during(empty_database, "0002", "upgrade", tmp_path)

    assert _state(empty_database) == before  # no external_models, no half-copied runs table
    assert Registry.schema_revision(empty_database.url) == ("0001", schema.HEAD_REVISION)
    with pytest.raises(StaleSchema, match="has schema revision 0001"):
        Registry.from_url(empty_database.url)

    result = CliRunner().invoke(cli, ["db", "upgrade", "--registry", empty_database.url])
    assert result.exit_code == 0, result.output
    assert result.output == f"registry upgraded from 0001 to {schema.HEAD_REVISION}\n"
    with Registry.from_url(empty_database.url) as registry:
        detail = registry.get_run("0a0b0c0d")
        assert detail.run.status is RunStatus.SUCCEEDED and detail.run.tags == ("paper",)
        assert detail.metrics == {"green_flare": 0.77}
        model = registry.record_external_model("org/a", "r1", "/cache")
        assert registry.create_run(detail.run.recipe_version_id, "zero_shot", "qwen3_vl", "tiny",
                                   external_model_id=model.id).external_model_id == model.id


def test_kill_during_the_third_migration_leaves_revision_2_with_its_predictions(empty_database, tmp_path):
    assert Registry.upgrade_schema(empty_database.url, "0002") == (None, "0002")
    prediction = ("INSERT INTO predictions (id, run_id, split, sample_id, prediction, green_flare, scores) "
                  "VALUES (1, '0a0b0c0d', 'validation', 's1', 'Normal heart.', 0.9, '{\"green_flare\": 0.9}')")
    engine = _engine(empty_database)
    try:
        with engine.begin() as connection:
            for statement in [*REV1_DATA, prediction]:
                connection.execute(sa.text(statement))
    finally:
        engine.dispose()

    def predictions() -> tuple[set[str], list[tuple]]:
        engine = _engine(empty_database)
        try:
            with engine.connect() as connection:
                columns = {c["name"] for c in sa.inspect(connection).get_columns("predictions")}
                rows = connection.execute(sa.text("SELECT sample_id, prediction, green_flare FROM predictions")).all()
        finally:
            engine.dispose()
        return columns, [tuple(row) for row in rows]

    before = _state(empty_database), predictions()
    assert "study_id" not in before[1][0] and before[1][1] == [("s1", "Normal heart.", 0.9)]

    _kill_during(empty_database, "0003", "upgrade", tmp_path)

    assert (_state(empty_database), predictions()) == before  # no half-added columns, the rows intact
    assert Registry.schema_revision(empty_database.url) == ("0002", schema.HEAD_REVISION)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--registry", empty_database.url])
    assert result.exit_code == 0, result.output
    assert result.output == f"registry upgraded from 0002 to {schema.HEAD_REVISION}\n"
    with Registry.from_url(empty_database.url) as registry:
        (kept,) = registry.predictions("0a0b0c0d", "validation")
        assert (kept.prediction, kept.green_flare, kept.image_paths, kept.study_id) == ("Normal heart.", 0.9, None, None)
