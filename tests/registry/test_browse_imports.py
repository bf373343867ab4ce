"""The browsing commands (``rrg runs list``, ``rrg runs show``, ``rrg compare``, ``rrg datasets
list``, ``rrg datasets show``) start light and answer as the registry does.

In a fresh process on a SQLite registry none of them imports the ML stack, pydantic, SQLAlchemy,
SQLModel, Alembic, numpy, pandas or matplotlib (``compare`` imports numpy only to run a paired
bootstrap); on PostgreSQL, which is opened through the registry's engine, none imports the ML
stack, Alembic or numpy. :class:`rrg_registry.read.RegistryReader` gives the same runs, details
and comparisons as :class:`rrg_registry.Registry` through :mod:`sqlite3`, and through the
registry's engine on PostgreSQL and on SQLite files it leaves to :meth:`Registry.from_url`.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from rrg.cli import cli
from rrg_registry import DatasetSplit, Registry
from rrg_registry.read import RegistryReader, entity_json, plain_sqlite_file

from .conftest import COMPONENTS, Factory
from .test_imports import _modules_after

ML_STACK = {"torch", "transformers", "trl", "peft", "datasets", "accelerate"}
HEAVY_ELSEWHERE = {"alembic", "numpy", "pandas", "matplotlib"}
DATABASE_LAYER = {"sqlalchemy", "sqlmodel", "pydantic"}
DENIED = {"sqlite": ML_STACK | HEAVY_ELSEWHERE | DATABASE_LAYER, "postgresql": ML_STACK | HEAVY_ELSEWHERE}
"""Top-level packages a browsing command must not import, per database."""


def _predictions(base: float) -> list[dict]:
    return [{"sample_id": f"s{i:02d}", "prediction": "x", "reference": "y", "green_flare": base + 0.01 * (i % 5)}
            for i in range(12)]


def _fill(registry: Registry) -> dict[str, str]:
    """Something in every section ``rrg runs show`` prints: a run with a dataset, a checkpoint,
    training logs, a before-training value, components, predictions and a publication; its child
    (a GRPO run with predictions); a failed run with nothing logged; a zero-shot run with two
    metrics and no predictions, reading the registered dataset ``flare-iu-xray@1``. Nothing is
    stale. Returns the run ids by role."""
    factory = Factory(registry)
    dataset = registry.record_dataset("iu_xray", "validation", "f" * 16, 12)
    parent = factory.run(recipe="demo-sft@1", status="running", tags=["paper", "best"], datasets=[dataset], seed=3,
                         host="node-1", package_versions={"torch": "2.6.0"}, plan={"batch_size": 4})
    checkpoint = registry.record_checkpoint(parent.id, 10, "/ckpt/10", "0" * 64, 1234, eval_loss=1.5, best=True)
    registry.log_metrics(parent.id, {"train/loss": 2.0, "train/learning_rate": 5e-06}, "train", step=10)
    registry.log_metrics(parent.id, {"before/green_flare": 0.2, "wall_seconds": 2261.0}, "validation")
    registry.record_evaluation(parent.id, "validation", {"green_flare": 0.7, "bleu4_flare": 0.05, "ce": 0.8},
                               components=COMPONENTS, predictions=_predictions(0.6), checkpoint_id=checkpoint.id,
                               status="succeeded")
    registry.record_publication(parent.id, "org/demo-sft", "a" * 40, "https://huggingface.co/org/demo-sft")
    child = factory.run(recipe="grpo@1", stage="grpo", status="running", parent_run_id=parent.id)
    registry.record_evaluation(child.id, "validation", {"green_flare": 0.75, "ce": 0.82},
                               predictions=_predictions(0.65), status="succeeded")
    failed = factory.run(recipe="zs@1", stage="zero_shot", model_family="medgemma", status="failed")
    version, _ = registry.register_dataset_version("flare-iu-xray", "/data/iu", [DatasetSplit(
        flare_dataset="IU_XRay", category="Xray", split="validation-public", count=12,
        task_types=("Report_Generation",), fingerprint="f" * 64,
    )])
    zero_shot = factory.run(recipe="zs@1", stage="zero_shot", status="succeeded",
                            metrics={"green_flare": 0.6, "ce": 0.5}, dataset_version_id=version.id)
    return {"parent": parent.id, "child": child.id, "failed": failed.id, "zero_shot": zero_shot.id}


@pytest.fixture
def browsable(registry) -> dict[str, str]:
    """The test's registry filled by :func:`_fill` (SQLite, or PostgreSQL when configured)."""
    return _fill(registry)


@pytest.fixture
def sqlite_file(tmp_path, migrated_sqlite_template) -> tuple[Path, dict[str, str]]:
    """(a SQLite registry filled by :func:`_fill` and closed, its run ids), alone in its folder."""
    path = tmp_path / "registry.db"
    shutil.copyfile(migrated_sqlite_template, path)
    with Registry.from_url(str(path)) as registry:
        runs = _fill(registry)
    return path, runs


def _loaded_by(url: str, args: list[str]) -> set[str]:
    """The modules ``rrg ARGS --registry URL`` loads in a fresh process (it must succeed)."""
    return _modules_after(f"from rrg.cli import cli\ncli.main({[*args, '--registry', url]!r}, standalone_mode=False)")


def _browsing_commands(runs: dict) -> list[list[str]]:
    return [
        ["runs", "list", "--sort", "green_flare", "--limit", "20"],
        ["runs", "list", "--where", "green_flare>0.5", "--stage", "sft", "--json"],
        ["runs", "list", "--tag", "paper", "--csv"],
        ["runs", "show", runs["parent"][:6]],
        ["runs", "show", runs["child"], "--json"],
        ["runs", "show", runs["parent"], "--csv"],
        ["compare", runs["zero_shot"], runs["failed"]],
        ["compare", runs["zero_shot"], runs["failed"], "--json"],
        ["datasets", "list"],
        ["datasets", "list", "flare-iu-xray", "--json"],
        ["datasets", "show", "flare-iu-xray"],
        ["datasets", "show", "flare-iu-xray@1", "--json"],
        ["datasets", "show", "flare-iu-xray@latest", "--csv"],
    ]


def test_browsing_commands_import_nothing_heavy(browsable, registry_url, empty_database):
    denied = DENIED[empty_database.dialect]
    for args in _browsing_commands(browsable):
        loaded = _loaded_by(registry_url, args)
        assert "rrg_registry.read" in loaded, args
        assert not loaded & denied, (args, sorted(loaded & denied))


def test_compare_imports_numpy_only_for_a_paired_test(browsable, registry_url, empty_database):
    loaded = _loaded_by(registry_url, ["compare", browsable["parent"], browsable["child"], "--resamples", "200"])
    assert "numpy" in loaded
    assert not loaded & (DENIED[empty_database.dialect] - {"numpy"}), sorted(loaded & DENIED[empty_database.dialect])


def test_browsing_a_sqlite_registry_writes_nothing(sqlite_file, tmp_path):
    path, runs = sqlite_file
    before = path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.db"]
    for args in _browsing_commands(runs):
        result = CliRunner().invoke(cli, [*args, "--registry", f"sqlite:///{path}"])
        assert result.exit_code == 0, result.output
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.db"]


def _same_answers(reader: RegistryReader, registry: Registry, runs: dict) -> None:
    queries = [
        {},
        {"sort": "green_flare", "limit": 2},
        {"sort": "green_flare", "ascending": True},
        {"sort": "ce", "limit": 3, "where": ["green_flare>=0.6"]},
        {"sort": "recipe"},
        {"sort": "status", "ascending": False},
        {"stage": "zero_shot", "status": ["failed", "succeeded"]},
        {"recipe": "zs@1", "model": "medgemma"},
        {"tag": ["paper", "best"]},
        {"where": ["green_flare!=0.7", "ce<0.9"]},
    ]
    for query in queries:
        assert reader.search_runs(**query) == [s.to_row() for s in registry.search_runs(**query)], query
    for run_id in runs.values():
        assert entity_json(reader.run_detail(run_id)) == registry.get_run(run_id).model_dump(mode="json")
    ids = [runs["parent"], runs["child"], runs["zero_shot"], runs["failed"]]
    ours = reader.compare(ids, resamples=300, seed=1)
    theirs = registry.compare(ids, resamples=300, seed=1)
    assert ours["runs"] == [r.to_row() for r in theirs.runs]
    assert ours["metric_names"] == list(theirs.metric_names)
    assert ours["paired_tests"] == [t.model_dump() for t in theirs.paired_tests] and ours["paired_tests"]
    assert ours["skipped_tests"] == list(theirs.skipped_tests) and ours["skipped_tests"]
    assert reader.latest_components(ids) == {k: v.model_dump() for k, v in registry.latest_components(ids).items()}


def test_the_reader_answers_as_the_registry(browsable, registry, registry_url, empty_database):
    with RegistryReader.open(registry_url) as reader:
        assert reader.light == (empty_database.dialect == "sqlite")
        _same_answers(reader, registry, browsable)


def test_a_sqlite_file_read_the_full_way_answers_the_same(sqlite_file):
    path, runs = sqlite_file
    with Registry.from_url(str(path)) as registry, \
            RegistryReader.open(f"sqlite:///file:{path}?mode=ro&uri=true") as reader:
        assert not reader.light
        _same_answers(reader, registry, runs)


def test_a_registry_not_in_wal_mode_is_opened_in_full_and_switched(sqlite_file):
    path, runs = sqlite_file
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    with RegistryReader.open(str(path)) as reader:
        assert not reader.light and len(reader.search_runs()) == len(runs)
    with RegistryReader.open(str(path)) as reader:
        assert reader.light
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("reg.db", "reg.db"),
        (" /data/reg.db ", "/data/reg.db"),
        ("sqlite:///reg.db", "reg.db"),
        ("sqlite:////data/reg.db", "/data/reg.db"),
        ("sqlite:///~/reg.db", str(Path("~/reg.db").expanduser())),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:reg.db?mode=ro&uri=true", None),
        ("sqlite:///reg.db?timeout=5", None),
        ("sqlite:///my%20reg.db", None),
        ("sqlite+pysqlite:///reg.db", None),
        ("postgresql://rrg@db.example/rrg", None),
    ],
)
def test_plain_sqlite_files(url, file):
    assert plain_sqlite_file(url) == (None if file is None else Path(file))


def test_the_values_the_reader_repeats_stay_equal_to_their_originals():
    from rrg_registry import entities, read, registry
    from rrg_registry.store import engine, schema

    assert read.DEFAULT_URL == registry.DEFAULT_URL
    assert read.STALE_AFTER == registry.STALE_AFTER
    assert read.PREFERRED_METRICS == registry.PREFERRED_METRICS
    assert read.SQLITE_BUSY_TIMEOUT_S * 1000 == engine.SQLITE_BUSY_TIMEOUT_MS
    assert read.GREEN_FLARE_COMPONENTS == entities.GREEN_FLARE_COMPONENTS
    assert read.GREEN_FLARE_EXTRA == entities.GREEN_FLARE_EXTRA
    assert read.VERSION_TABLE == schema.VERSION_TABLE
    assert read.head_revision() == schema.HEAD_REVISION
