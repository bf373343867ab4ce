"""The dataset half of the registry store: versions by content, links from runs, reads, errors,
the 0003 -> 0004 migration and concurrent registration from several processes (SQLite and
PostgreSQL)."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa

from rrg_registry import DatasetSplit, InvalidName, NotFound, Registry
from rrg_registry.store import schema
from rrg_registry.store.sql_store import dataset_content_hash


def _split(split: str = "validation-public", count: int = 3, fingerprint: str = "a" * 64, dataset: str = "IU_XRay"):
    return DatasetSplit(flare_dataset=dataset, category="Xray", split=split, count=count,
                        task_types=("Report_Generation",), fingerprint=fingerprint)


SPLITS = [_split("training", 10, "b" * 64), _split()]


def test_same_content_is_one_version_and_changed_content_the_next(registry):
    first, created = registry.register_dataset_version("iu", "/data/a", SPLITS, description="IU X-ray", license="CC BY-NC-ND 4.0")
    assert created and first.ref == "iu@1" and first.version == 1
    assert first.splits == tuple(sorted(SPLITS, key=lambda s: (s.flare_dataset, s.category, s.split)))
    assert first.content_hash == dataset_content_hash(SPLITS)
    assert (first.root, first.description, first.license, first.credentialed) == ("/data/a", "IU X-ray", "CC BY-NC-ND 4.0", False)
    # the same splits in another order, from another root: the same content, nothing new
    again, created = registry.register_dataset_version("iu", "/elsewhere", list(reversed(SPLITS)))
    assert not created and again == first
    changed = [_split("training", 10, "b" * 64), _split(fingerprint="c" * 64)]
    second, created = registry.register_dataset_version("iu", "/data/a", changed, credentialed=True)
    assert created and second.ref == "iu@2" and second.credentialed
    recount = [_split("training", 11, "b" * 64), _split(fingerprint="c" * 64)]
    assert registry.register_dataset_version("iu", "/data/a", recount)[0].version == 3
    # back to the first content: that version again
    assert registry.register_dataset_version("iu", "/data/a", SPLITS) == (first, False)
    other, created = registry.register_dataset_version("mimic", "/data/m", SPLITS)
    assert created and other.ref == "mimic@1"
    assert [v.ref for v in registry.list_dataset_versions()] == ["iu@1", "iu@2", "iu@3", "mimic@1"]
    assert [v.ref for v in registry.list_dataset_versions("iu")] == ["iu@1", "iu@2", "iu@3"]
    assert registry.get_dataset_version("iu").ref == "iu@3"
    assert registry.get_dataset_version("iu", 2) == second
    assert second.split("IU_XRay", "validation-public").fingerprint == "c" * 64
    assert second.split("IU_XRay", "testing") is None


def test_unknown_names_and_versions_are_one_line_errors_listing_what_exists(registry):
    with pytest.raises(NotFound) as caught:
        registry.get_dataset_version("iu")
    assert str(caught.value) == (
        "no dataset named iu is registered (hint: register it with `rrg datasets register NAME ROOT`)"
    )
    registry.register_dataset_version("iu", "/data", SPLITS)
    registry.register_dataset_version("mimic", "/m", SPLITS)
    with pytest.raises(NotFound) as caught:
        registry.get_dataset_version("iu", 4)
    assert str(caught.value) == "dataset iu has no version 4 (hint: registered versions: iu@1)"
    with pytest.raises(NotFound, match=r"no dataset named chexpert is registered \(hint: registered datasets: iu, mimic; or register"):
        registry.get_dataset_version("chexpert")


@pytest.mark.parametrize("name", ["", "iu@2", "a/b", "-x", "x" * 101, "naïve"])
def test_names_that_references_could_not_hold_are_refused(registry, name):
    with pytest.raises(InvalidName) as caught:
        registry.register_dataset_version(name, "/data", SPLITS)
    assert "\n" not in str(caught.value)
    assert registry.list_dataset_versions() == []


def test_a_registration_without_splits_or_with_a_split_twice_is_refused(registry):
    from rrg_registry import InvalidQuery

    with pytest.raises(InvalidQuery, match="dataset iu: no split to register"):
        registry.register_dataset_version("iu", "/data", [])
    with pytest.raises(InvalidQuery, match="split IU_XRay/Xray/training is given twice"):
        registry.register_dataset_version("iu", "/data", [_split("training"), _split("training", fingerprint="d" * 64)])
    assert registry.list_dataset_versions() == []


def test_runs_link_to_the_version_they_read_and_the_best_per_model_is_found(registry, factory):
    version, _ = registry.register_dataset_version("iu", "/data", SPLITS)
    other, _ = registry.register_dataset_version("iu", "/data", [_split(fingerprint="e" * 64)])
    a = factory.run(status="succeeded", metrics={"green_flare": 0.7}, dataset_version_id=version.id)
    b = factory.run(status="succeeded", metrics={"green_flare": 0.9}, dataset_version_id=version.id)
    c = factory.run(status="succeeded", stage="zero_shot", metrics={"green_flare": 0.4}, dataset_version_id=version.id)
    d = factory.run(status="succeeded", model_id="google/medgemma-4b-it", model_family="medgemma",
                    metrics={"green_flare": 0.8}, dataset_version_id=version.id)
    factory.run(status="failed", metrics={"green_flare": 0.99}, dataset_version_id=version.id)  # not succeeded
    factory.run(status="succeeded", metrics={"green_flare": 0.95}, dataset_version_id=other.id)  # other version
    factory.run(status="succeeded", metrics={"green_flare": 0.97})  # not linked
    assert a.dataset_version_id == version.id
    detail = registry.get_run(a.id)
    assert detail.dataset_version_id == version.id and detail.dataset_version == version
    assert registry.get_run(factory.run().id).dataset_version is None
    assert len(registry.runs_of_dataset_version(version.id)) == 5
    assert {r.id for r in registry.runs_of_dataset_version(version.id)} >= {a.id, b.id, c.id, d.id}
    assert registry.best_by_model_on_dataset_version(version.id) == [
        ("Qwen/Qwen3-VL-4B-Instruct", "sft", 0.9, b.id),
        ("Qwen/Qwen3-VL-4B-Instruct", "zero_shot", 0.4, c.id),
        ("google/medgemma-4b-it", "sft", 0.8, d.id),
    ]
    with pytest.raises(NotFound, match="no dataset version with id 999"):
        factory.run(dataset_version_id=999)


REV3_DATA = [
    "INSERT INTO recipe_versions (id, name, version, hash, yaml_text, created_at) "
    "VALUES (1, 'demo-sft', 1, 'abc', 'name: demo-sft', '2025-01-01 10:00:00.000000')",
    "INSERT INTO runs (id, recipe_version_id, stage, model_family, model_id, status, package_versions, "
    "created_at, started_at, ended_at) VALUES ('0a0b0c0d', 1, 'sft', 'qwen3_vl', 'tiny', 'succeeded', '{}', "
    "'2025-01-01 10:00:00.000000', '2025-01-01 10:01:00.000000', '2025-01-01 11:00:00.000000')",
    "INSERT INTO datasets (id, name, split, fingerprint, size, created_at) "
    "VALUES (1, 'IU_XRay', 'validation-public', 'f00d', 3, '2025-01-01 10:00:00.000000')",
    "INSERT INTO run_datasets (run_id, dataset_id) VALUES ('0a0b0c0d', 1)",
    "INSERT INTO metrics (id, run_id, split, name, value, n, logged_at) "
    "VALUES (1, '0a0b0c0d', 'validation', 'green_flare', 0.77, 3, '2025-01-01 11:00:00.000000')",
    "INSERT INTO latest_metrics (run_id, name, value, split, metric_id) "
    "VALUES ('0a0b0c0d', 'green_flare', 0.77, 'validation', 1)",
]


def test_upgrade_from_0003_keeps_runs_and_adds_the_dataset_and_model_registry(empty_database):
    assert Registry.upgrade_schema(empty_database.url, "0003") == (None, "0003")
    engine = sa.create_engine(empty_database.url)
    try:
        with engine.begin() as connection:
            for statement in REV3_DATA:
                connection.execute(sa.text(statement))
    finally:
        engine.dispose()
    assert Registry.upgrade_schema(empty_database.url) == ("0003", "0004") and schema.HEAD_REVISION == "0004"
    with Registry.from_url(empty_database.url) as registry:
        detail = registry.get_run("0a0b0c0d")
        assert detail.run.dataset_version_id is None and detail.dataset_version is None
        assert [(d.name, d.fingerprint) for d in detail.datasets] == [("IU_XRay", "f00d")]
        assert detail.metrics == {"green_flare": 0.77}
        version, _ = registry.register_dataset_version("iu", "/data", SPLITS)
        run = registry.create_run(detail.run.recipe_version_id, "zero_shot", "qwen3_vl", "tiny", dataset_version_id=version.id)
        assert registry.runs_of_dataset_version(version.id)[0].id == run.id
        model = registry.register_model_version(
            "iu-model", base_model="tiny", base_revision=None, source="run:0a0b0c0d", adapter_path="/a",
            files={"adapter_model.safetensors": "0" * 64}, run_id="0a0b0c0d", dataset_version_id=version.id,
        )
        registry.set_model_alias("iu-model", "production", model.version, set_by="ana")
        assert registry.get_model_version("iu-model", "production").run_id == "0a0b0c0d"
    engine = sa.create_engine(empty_database.url)
    try:
        inspector = sa.inspect(engine)
        assert {"dataset_versions", "dataset_version_splits", "registered_models", "model_versions", "model_aliases",
                "model_alias_events"} <= set(inspector.get_table_names())
        assert "ix_runs_dataset_version_id" in {ix["name"] for ix in inspector.get_indexes("runs")}
    finally:
        engine.dispose()
    # and back: the downgrade removes what 0004 added and keeps the runs
    from alembic import command

    engine = sa.create_engine(empty_database.url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            command.downgrade(schema.alembic_config(connection), "0003")
        assert schema.current_revision(engine) == "0003"
        assert "dataset_versions" not in sa.inspect(engine).get_table_names()
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 2
    finally:
        engine.dispose()


def _register_in_process(url: str, content: int, barrier, queue) -> None:
    splits = [_split(fingerprint=f"{content:064x}")]
    with Registry.from_url(url) as registry:
        barrier.wait()
        version, created = registry.register_dataset_version("shared", "/data", splits)
        queue.put((content, version.version, created))


def test_concurrent_registrations_of_one_name_never_collide(registry_url):
    """Six processes register `shared` at once: three the same content, three each their own.
    The same content gets one version (created once); versions are 1..4 with none shared."""
    contents = [0, 0, 0, 1, 2, 3]
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(len(contents)), context.Queue()
    processes = [
        context.Process(target=_register_in_process, args=(registry_url, content, barrier, queue)) for content in contents
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0] * len(contents)
    results = [queue.get(timeout=5) for _ in contents]
    same = [(version, created) for content, version, created in results if content == 0]
    assert len({version for version, _ in same}) == 1 and sorted(created for _, created in same) == [False, False, True]
    others = [version for content, version, created in results if content != 0]
    assert sorted(others + [same[0][0]]) == [1, 2, 3, 4]
    with Registry.from_url(registry_url) as registry:
        recorded = registry.list_dataset_versions("shared")
        assert [v.version for v in recorded] == [1, 2, 3, 4]
        assert len({v.content_hash for v in recorded}) == 4
