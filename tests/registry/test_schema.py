"""Migrations: an empty database reaches head, a rev-1 database with data upgrades, stale and
unknown revisions are refused, the migrated schema matches the tables, and the SQLite golden."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from rrg_registry import Registry, RunStatus, StaleSchema
from rrg_registry.store import schema
from rrg_registry.store.tables import metadata

GOLDEN = Path(__file__).parent / "schemas" / "sqlite.sql"
REGENERATE = "RRG_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/registry/test_schema.py -k golden"


def _engine(database) -> sa.Engine:
    return sa.create_engine(database.url)


def test_one_head_and_it_is_the_one_the_code_expects():
    scripts = ScriptDirectory.from_config(schema.alembic_config())
    assert scripts.get_heads() == [schema.HEAD_REVISION]
    assert {s.revision for s in scripts.walk_revisions()} == schema.known_revisions_fast()


def test_empty_database_is_built_by_migrations(empty_database):
    with Registry.from_url(empty_database.url):
        pass
    engine = _engine(empty_database)
    try:
        assert schema.current_revision(engine) == schema.HEAD_REVISION
        tables = set(sa.inspect(engine).get_table_names())
        assert {"runs", "metrics", "latest_metrics", "green_flare_components", "external_models",
                schema.VERSION_TABLE} <= tables
        assert "alembic_version" not in tables
    finally:
        engine.dispose()


def test_migrated_database_matches_the_tables(registry_url, empty_database):
    engine = _engine(empty_database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True, "version_table": schema.VERSION_TABLE})
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == [], f"the migrations and rrg_registry/store/tables.py disagree: {diff}"


def test_status_check_constraint_is_in_the_database(registry, factory, empty_database):
    run = factory.run()
    engine = _engine(empty_database)
    try:
        with pytest.raises(sa.exc.IntegrityError, match="ck_runs_status"):
            with engine.begin() as connection:
                connection.execute(sa.text("UPDATE runs SET status = 'done' WHERE id = :id"), {"id": run.id})
    finally:
        engine.dispose()
    assert registry.get_run(run.id).run.status is RunStatus.PENDING


REV1_DATA = [
    "INSERT INTO recipe_versions (id, name, version, hash, yaml_text, created_at) "
    "VALUES (1, 'demo-sft', 1, 'abc', 'name: demo-sft', '2025-01-01 10:00:00.000000')",
    "INSERT INTO runs (id, recipe_version_id, stage, model_family, model_id, status, package_versions, "
    "created_at, started_at, ended_at) VALUES ('0a0b0c0d', 1, 'sft', 'qwen3_vl', 'tiny', 'succeeded', '{}', "
    "'2025-01-01 10:00:00.000000', '2025-01-01 10:01:00.000000', '2025-01-01 11:00:00.000000')",
    "INSERT INTO runs (id, recipe_version_id, stage, model_family, model_id, status, package_versions, "
    "created_at, started_at, heartbeat_at) VALUES ('0a0b0c0e', 1, 'sft', 'qwen3_vl', 'tiny', 'running', '{}', "
    "'2025-01-01 10:00:00.000000', '2025-01-01 10:01:00.000000', '2025-01-01 10:02:00.000000')",
    "INSERT INTO run_tags (run_id, tag) VALUES ('0a0b0c0d', 'paper')",
    "INSERT INTO checkpoints (id, run_id, step, path, sha256, size, eval_loss, best, created_at) "
    "VALUES (1, '0a0b0c0d', 100, '/c', 'f', 10, 0.5, true, '2025-01-01 10:30:00.000000')",
    "INSERT INTO metrics (id, run_id, split, name, value, n, logged_at) "
    "VALUES (1, '0a0b0c0d', 'validation', 'green_flare', 0.77, 1945, '2025-01-01 11:00:00.000000')",
    "INSERT INTO latest_metrics (run_id, name, value, split, metric_id) "
    "VALUES ('0a0b0c0d', 'green_flare', 0.77, 'validation', 1)",
    "INSERT INTO predictions (id, run_id, split, sample_id, prediction, green_flare, scores) "
    "VALUES (1, '0a0b0c0d', 'validation', 's1', 'Normal heart.', 0.9, '{\"green_flare\": 0.9}')",
]


def test_upgrade_from_revision_1_keeps_the_data(empty_database):
    assert Registry.upgrade_schema(empty_database.url, "0001") == (None, "0001")
    engine = _engine(empty_database)
    try:
        with engine.begin() as connection:
            for statement in REV1_DATA:
                connection.execute(sa.text(statement))
    finally:
        engine.dispose()

    with pytest.raises(StaleSchema) as caught:
        Registry.from_url(empty_database.url)
    message = str(caught.value)
    assert f"has schema revision 0001; this rrg needs {schema.HEAD_REVISION}" in message
    assert "run `rrg db upgrade --registry " in message and "\n" not in message

    assert Registry.upgrade_schema(empty_database.url) == ("0001", schema.HEAD_REVISION)
    with Registry.from_url(empty_database.url) as registry:
        detail = registry.get_run("0a0b0c0d")
        assert detail.run.recipe == "demo-sft@1" and detail.run.status is RunStatus.SUCCEEDED
        assert detail.run.tags == ("paper",) and detail.run.external_model_id is None
        assert detail.metrics == {"green_flare": 0.77}
        assert detail.checkpoints[0].best and detail.checkpoints[0].eval_loss == 0.5
        old = registry.predictions("0a0b0c0d", "validation")[0]
        assert old.scores == {"green_flare": 0.9} and (old.image_paths, old.study_id) == (None, None)
        assert [s.id for s in registry.search_runs(sort="green_flare", limit=1)] == ["0a0b0c0d"]
        # the old running run has been silent since 2025: reaping uses the new index
        assert registry.reap_stale_runs() == ["0a0b0c0e"]
        model = registry.record_external_model("org/a", "r1", "/cache")
        run = registry.create_run(detail.run.recipe_version_id, "zero_shot", "qwen3_vl", "tiny",
                                  external_model_id=model.id)
        assert run.external_model_id == model.id
    assert Registry.upgrade_schema(empty_database.url) == (schema.HEAD_REVISION, schema.HEAD_REVISION)


def test_rrg_db_upgrade_from_revision_2_keeps_predictions_and_adds_their_images(empty_database):
    """0002 -> 0003 through `rrg db upgrade` on a registry with predictions: they keep every value
    and have no images or study (nothing is guessed); new predictions record both, and a study's
    samples are found by its id."""
    from click.testing import CliRunner

    from rrg.cli import cli

    assert Registry.upgrade_schema(empty_database.url, "0002") == (None, "0002")
    engine = _engine(empty_database)
    try:
        with engine.begin() as connection:
            for statement in REV1_DATA:
                connection.execute(sa.text(statement))
    finally:
        engine.dispose()
    result = CliRunner().invoke(cli, ["db", "upgrade", "--registry", empty_database.url])
    assert result.exit_code == 0, result.output
    assert result.output == f"registry upgraded from 0002 to {schema.HEAD_REVISION}\n"
    with Registry.from_url(empty_database.url) as registry:
        (old,) = registry.predictions("0a0b0c0d", "validation")
        assert (old.sample_id, old.prediction, old.green_flare, old.scores) == ("s1", "Normal heart.", 0.9, {"green_flare": 0.9})
        assert (old.image_paths, old.study_id) == (None, None)
        rows = [
            {"sample_id": f"s{i}", "prediction": "Normal heart.", "image_paths": [f"/d/CXR{i // 2}_frontal.png"],
             "study_id": f"CXR{i // 2}", "scores": {"green_flare": 0.5}}
            for i in range(4)
        ]
        registry.log_predictions("0a0b0c0d", "validation", rows)
        assert [p.sample_id for p in registry.predictions("0a0b0c0d", "validation", study_id="CXR1")] == ["s2", "s3"]
        assert registry.predictions("0a0b0c0d", "validation")[3].image_paths == ("/d/CXR1_frontal.png",)
    engine = _engine(empty_database)
    try:
        indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes("predictions")}
    finally:
        engine.dispose()
    assert indexes["ix_predictions_study_id"] == ["study_id"]


def test_every_older_revision_is_refused(empty_database):
    scripts = ScriptDirectory.from_config(schema.alembic_config())
    older = sorted(s.revision for s in scripts.walk_revisions() if s.revision != schema.HEAD_REVISION)
    assert older
    for revision in older:
        Registry.upgrade_schema(empty_database.url, revision)
        with pytest.raises(StaleSchema, match=f"has schema revision {revision}"):
            Registry.from_url(empty_database.url)


def test_unknown_revision_and_foreign_tables_are_refused(registry_url, empty_database):
    engine = _engine(empty_database)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999'"))
        with pytest.raises(StaleSchema, match="which this rrg does not know .*upgrade rrg"):
            Registry.from_url(registry_url)
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE {schema.VERSION_TABLE}"))
        with pytest.raises(StaleSchema, match=f"has tables but no {schema.VERSION_TABLE} table"):
            Registry.from_url(registry_url)
    finally:
        engine.dispose()


def sqlite_schema_text(path: str) -> str:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                "ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, name"
            )).all()
    finally:
        engine.dispose()
    return "\n\n".join(f"-- {kind} {name}\n{_normalized(sql)};" for kind, name, sql in rows) + "\n"


def _normalized(sql: str) -> str:
    """The statement with its CONSTRAINT lines sorted: SQLite batch migrations re-create a table
    with its constraints in no fixed order, and that order means nothing."""
    lines = [line.rstrip() for line in sql.strip().splitlines()]
    if len(lines) < 3:
        return "\n".join(lines)
    body = [line.rstrip(",") for line in lines[1:-1]]
    columns = [line for line in body if not line.strip().startswith("CONSTRAINT")]
    constraints = sorted(line for line in body if line.strip().startswith("CONSTRAINT"))
    return "\n".join([lines[0], ",\n".join(columns + constraints), lines[-1]])


def test_sqlite_schema_golden(tmp_path):
    path = tmp_path / "golden.db"
    Registry.from_url(str(path)).close()
    actual = sqlite_schema_text(str(path))
    if os.environ.get("RRG_UPDATE_GOLDEN"):
        GOLDEN.write_text(actual)
    expected = GOLDEN.read_text() if GOLDEN.exists() else ""
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "expected", "actual"))
        pytest.fail(
            f"the migrated SQLite schema differs from {GOLDEN.name}:\n{diff}\n"
            f"HOW TO FIX: if the change is intended (a new migration), regenerate with:\n  {REGENERATE}"
        )


def test_sqlite_pragmas(tmp_path):
    path = tmp_path / "pragmas.db"
    with Registry.from_url(f"sqlite:///{path}") as reg:
        with reg._store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
