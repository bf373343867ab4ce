"""``rrg db copy``: moving runs between registries (SQLite <-> PostgreSQL, SQLite -> SQLite).

A source registry is filled with realistic content (lineage, checkpoints, training curves,
components, predictions with images, publications, external models, datasets, a registered dataset
version, registered models with aliases); after a copy, everything read back through ``Registry``
(``get_run``, ``search_runs``, ``compare``, ``predictions``, ``metric_history``, the model and
dataset registries) is equal, with database-local integer ids replaced by what they name.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from rrg.cli import cli
from rrg_registry import Registry, StaleSchema
from rrg_registry.copy import SPECS, CopyConflict, TableSpec, check_specs, copy_registry
from rrg_registry.entities import DatasetSplit
from rrg_registry.store import schema
from rrg_registry.store.tables import metadata

from .conftest import COMPONENTS, POSTGRES_ENV, POSTGRES_URL, Factory

REPO = Path(__file__).resolve().parents[2]


# -- databases -----------------------------------------------------------------------------------


@contextmanager
def database(dialect: str, tmp_path: Path, name: str) -> Iterator[str]:
    """The URL of an empty database: a SQLite file that does not exist yet, or a new PostgreSQL
    schema (dropped afterwards)."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(f"{POSTGRES_ENV} is not set (locally: eval \"$(bash .ci/postgres.sh)\")")
    schema_name = f"rrg_copy_{name}_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema_name}"'))
    try:
        yield (
            sa.make_url(POSTGRES_URL)
            .update_query_dict({"options": f"-csearch_path={schema_name}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


PG = pytest.mark.postgres
PAIRS = [
    pytest.param(("sqlite", "postgresql"), marks=PG, id="sqlite-to-postgresql"),
    pytest.param(("postgresql", "sqlite"), marks=PG, id="postgresql-to-sqlite"),
    pytest.param(("sqlite", "sqlite"), id="sqlite-to-sqlite"),
]


@pytest.fixture(params=PAIRS)
def pair(request, tmp_path) -> Iterator[tuple[str, str]]:
    """(source URL, destination URL): two empty databases of the parametrised dialects."""
    src_dialect, dst_dialect = request.param
    with database(src_dialect, tmp_path, "src") as src, database(dst_dialect, tmp_path, "dst") as dst:
        yield src, dst


# -- content -------------------------------------------------------------------------------------


def predictions(base: float, count: int = 12, images: bool = True) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        study = f"CXR{100 + i // 2}"
        rows.append({
            "sample_id": f"iu-{i:04d}", "question": "Describe the findings.", "prediction": f"Lungs clear {i}.",
            "reference": f"No acute disease {i}.", "green_flare": base + 0.013 * (i % 5),
            "scores": {"green_flare": base + 0.013 * (i % 5), "bleu4_flare": 0.01 * i, "ce": 0.5},
            **({"image_paths": [f"IU_XRay/{study}_frontal.png", f"IU_XRay/{study}_lateral.png"], "study_id": study}
               if images else {}),
        })
    return rows


def fill(url: str) -> dict[str, str]:
    """Record a realistic registry at ``url``; returns {name: run id}."""
    with Registry.from_url(url) as registry:
        f = Factory(registry)
        for name in ("zero-shot", "sft", "grpo", "pulled"):
            f.recipe(name, 1)
        f.recipe("sft", 2)
        validation = registry.record_dataset("IU_XRay", "validation-public", "f" * 40, 12)
        train = registry.record_dataset("IU_XRay", "train", "e" * 40, 2000)
        splits = [
            DatasetSplit(flare_dataset="IU_XRay", category="Xray", split="train", count=2000,
                         task_types=("report",), fingerprint="e" * 40),
            DatasetSplit(flare_dataset="IU_XRay", category="Xray", split="validation-public", count=12,
                         task_types=("report",), fingerprint="f" * 40),
        ]
        version, _ = registry.register_dataset_version("iu-xray", "/data/flare", splits, description="IU X-ray",
                                                      license="CC BY-NC-ND 4.0")
        hub = registry.record_external_model("someone/qwen3-vl-cxr", "0123abcd", "/cache/hub/qwen3-vl-cxr",
                                             recipe_yaml="schema: 1\nname: theirs\n")
        runs: dict[str, str] = {}

        zs = f.run("zero-shot@1", stage="zero_shot", status="running", tags=["paper", "zero-shot"],
                   datasets=[validation], dataset_version_id=version.id, seed=7, host="laptop",
                   package_versions={"rrg-sdk": "1.0", "torch": "2.5"}, plan={"device": "cpu", "batch": 4})
        registry.record_evaluation(zs.id, "validation-public", {"green_flare": 0.41, "bleu4_flare": 0.02, "ce": 0.3},
                                   components={**COMPONENTS, "overall": 0.41}, predictions=predictions(0.4),
                                   status="succeeded")
        runs["zs"] = zs.id

        sft = f.run("sft@1", status="running", tags=["paper"], datasets=[train, validation],
                    dataset_version_id=version.id, seed=7, plan={"lora": {"r": 16}})
        for step in (5, 10, 15, 20):
            registry.log_metrics(sft.id, {"train/loss": 2.0 / step, "train/learning_rate": 1e-4 * (1 - step / 20)},
                                 split="train", step=step)
        first = registry.record_checkpoint(sft.id, 10, f"rrg_runs/{sft.id}/checkpoint-10", "a" * 64, 40_000_000, 1.2)
        best = registry.record_checkpoint(sft.id, 20, f"rrg_runs/{sft.id}/checkpoint-20", "b" * 64, 40_000_000, 0.9,
                                          best=True)
        registry.log_metrics(sft.id, {"eval_loss": 1.2}, split="validation-public", checkpoint_id=first.id, step=10)
        registry.log_metrics(sft.id, {"before/green_flare": 0.41}, split="validation-public", n=12)
        registry.record_evaluation(sft.id, "validation-public", {"green_flare": 0.62, "bleu4_flare": 0.08, "ce": 0.6},
                                   components={**COMPONENTS, "entity_matching": 0.7, "overall": 0.62},
                                   predictions=predictions(0.6), checkpoint_id=best.id, status="succeeded")
        registry.record_publication(sft.id, "me/qwen3-vl-cxr-sft", "c0ffee1", "https://huggingface.co/me/qwen3-vl-cxr-sft")
        runs["sft"] = sft.id

        grpo = f.run("grpo@1", stage="grpo", status="running", parent_run_id=sft.id, adapter=f"run:{sft.id}",
                     tags=["paper"], datasets=[train])
        for step in (2, 4):
            registry.log_metrics(grpo.id, {"train/reward": 0.3 + step / 10, "train/loss": 0.01}, split="train", step=step)
            registry.log_metrics(grpo.id, {"eval/green_flare": 0.6 + step / 100}, split="validation-public", step=step, n=12)
        ckpt = registry.record_checkpoint(grpo.id, 4, f"rrg_runs/{grpo.id}/checkpoint-4", "c" * 64, 40_000_000)
        registry.record_evaluation(grpo.id, "validation-public", {"green_flare": 0.66, "bleu4_flare": 0.09, "ce": 0.62},
                                   components={**COMPONENTS, "overall": 0.66}, predictions=predictions(0.65),
                                   checkpoint_id=ckpt.id, status="succeeded")
        runs["grpo"] = grpo.id

        pulled = f.run("pulled@1", stage="zero_shot", status="running", external_model_id=hub.id,
                       adapter="hub:someone/cxr@0123abcd", datasets=[validation])
        registry.record_evaluation(pulled.id, "validation-public", {"green_flare": 0.5}, predictions=predictions(0.5, images=False),
                                   status="succeeded")
        runs["pulled"] = pulled.id

        runs["failed"] = f.run("sft@2", status="running").id
        registry.log_metrics(runs["failed"], {"train/loss": 3.0}, split="train", step=1)
        registry.finish_run(runs["failed"], "failed", error="CUDA out of memory")
        runs["live"] = f.run("sft@2", status="running", tags=["live"]).id
        registry.log_metrics(runs["live"], {"train/loss": 2.5}, split="train", step=1)

        registry.register_model_version("qwen3-vl-cxr", base_model="Qwen/Qwen3-VL-4B-Instruct", base_revision="main",
                                        source=f"run:{sft.id}", adapter_path=f"rrg_runs/{sft.id}/adapter",
                                        files={"adapter_model.safetensors": "b" * 64}, run_id=sft.id,
                                        dataset_version_id=version.id, results={"green_flare": 0.62})
        registry.register_model_version("qwen3-vl-cxr", base_model="Qwen/Qwen3-VL-4B-Instruct", base_revision="main",
                                        source=f"run:{grpo.id}", adapter_path=f"rrg_runs/{grpo.id}/adapter",
                                        files={"adapter_model.safetensors": "c" * 64}, run_id=grpo.id,
                                        results={"green_flare": 0.66}, description="GRPO on top of SFT")
        registry.register_model_version("theirs", base_model="Qwen/Qwen3-VL-4B-Instruct", base_revision=None,
                                        source="hub:someone/qwen3-vl-cxr@0123abcd", adapter_path="/cache/hub/qwen3-vl-cxr",
                                        files={"adapter_model.safetensors": "d" * 64}, external_model_id=hub.id)
        registry.set_model_alias("qwen3-vl-cxr", "production", 1, set_by="alice")
        registry.set_model_alias("qwen3-vl-cxr", "production", 2, set_by="bob")
        registry.set_model_alias("qwen3-vl-cxr", "candidate", 2, set_by="bob")
        registry.delete_model_alias("qwen3-vl-cxr", "candidate", set_by="bob")
    return runs


# -- reading everything back -----------------------------------------------------------------------


LOCAL_IDS = ("recipe_version_id", "checkpoint_id", "external_model_id", "dataset_version_id", "dataset_id", "metric_id")


def _scrub(value: Any, names: dict[str, dict[Any, str]]) -> Any:
    """``value`` with database-local integer ids replaced by what they name."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "id" and isinstance(item, int):
                continue
            if key in LOCAL_IDS and item is not None:
                out[key] = names[key][item]
            else:
                out[key] = _scrub(item, names)
        return out
    if isinstance(value, (list, tuple)):
        return [_scrub(v, names) for v in value]
    return value


def snapshot(url: str, run_ids: list[str] | None = None) -> dict[str, Any]:
    """Everything ``Registry`` reads of the registry (of ``run_ids``, default all), local ids scrubbed."""
    with Registry.from_url(url, create=False) as registry:
        summaries = registry.search_runs(sort="id", ascending=True)
        ids = [s.id for s in summaries if run_ids is None or s.id in run_ids]
        details = {i: registry.get_run(i) for i in ids}
        names: dict[str, dict[Any, str]] = {key: {} for key in LOCAL_IDS}
        names["recipe_version_id"] = {r.id: f"{r.name}@{r.version}" for r in registry.list_recipe_versions()}
        names["external_model_id"] = {e.id: f"{e.repo}@{e.revision}" for e in registry.list_external_models()}
        names["dataset_version_id"] = {d.id: d.ref for d in registry.list_dataset_versions()}
        for detail in details.values():
            names["checkpoint_id"].update({c.id: f"{c.run_id}:{c.step}" for c in detail.checkpoints})
            names["dataset_id"].update({d.id: f"{d.name}/{d.split}/{d.fingerprint}" for d in detail.datasets})
        out: dict[str, Any] = {
            "search": [s.model_dump(mode="json") for s in summaries if s.id in ids],
            "runs": {},
            "recipes": _scrub([r.model_dump(mode="json") for r in registry.list_recipe_versions()], names),
            "external_models": _scrub([e.model_dump(mode="json") for e in registry.list_external_models()], names),
            "dataset_versions": _scrub([d.model_dump(mode="json") for d in registry.list_dataset_versions()], names),
        }
        for run_id, detail in details.items():
            out["runs"][run_id] = {
                "detail": _scrub(detail.model_dump(mode="json"), names),
                "history": _scrub([m.model_dump(mode="json") for m in registry.metric_history(run_id)], names),
                "predictions": {
                    split: _scrub([p.model_dump(mode="json") for p in registry.predictions(run_id, split)], names)
                    for split in registry.prediction_splits(run_id)
                },
            }
        scored = [i for i in ids if details[i].prediction_counts]
        if len(scored) >= 2:
            out["compare"] = registry.compare(scored, resamples=200).model_dump(mode="json")
        if run_ids is None:
            models = {}
            for model in registry.list_registered_models():
                models[model.name] = {
                    "model": _scrub(model.model_dump(mode="json"), names),
                    "versions": _scrub([v.model_dump(mode="json") for v in registry.list_model_versions(model.name)], names),
                    "aliases": _scrub([e.model_dump(mode="json") for e in registry.alias_history(model.name)], names),
                }
            out["models"] = models
        return out


def row_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return {t.name: connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in metadata.sorted_tables}
    finally:
        engine.dispose()


def runs_alone(snap: dict[str, Any]) -> dict[str, Any]:
    """The snapshot's runs without their children lists (a partial copy lacks the children still to come)."""
    out = {}
    for run_id, run in snap["runs"].items():
        detail = {k: v for k, v in run["detail"].items() if k != "children"}
        out[run_id] = {**run, "detail": detail}
    return out


def without(snap: dict[str, Any], run_id: str) -> dict[str, Any]:
    """A snapshot with one run left out (the live run a copy skips)."""
    out = dict(snap)
    out["search"] = [s for s in snap["search"] if s["id"] != run_id]
    out["runs"] = {k: v for k, v in snap["runs"].items() if k != run_id}
    return out


# -- the spec covers every table -------------------------------------------------------------------


def test_every_table_of_the_metadata_has_a_copy_spec():
    check_specs()
    assert {t.name for t in metadata.sorted_tables} == set(SPECS)


def test_a_table_without_a_spec_or_an_unmapped_foreign_key_fails_the_check():
    extended = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(extended)
    sa.Table("run_notes", extended, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id")),
             sa.Column("checkpoint_id", sa.Integer, sa.ForeignKey("checkpoints.id")))
    with pytest.raises(RuntimeError, match="table run_notes has no copy spec"):
        check_specs(extended)
    forgetful = {**SPECS, "run_notes": TableSpec(key=("run_id",), surrogate="id", part_of=("runs", "run_id"))}
    with pytest.raises(RuntimeError, match=r"run_notes: copy spec remaps \{\}.*checkpoint_id"):
        check_specs(extended, forgetful)
    complete = {**forgetful, "run_notes": TableSpec(key=("run_id",), surrogate="id", part_of=("runs", "run_id"),
                                                    refs={"checkpoint_id": "checkpoints"})}
    check_specs(extended, complete)


# -- copies ----------------------------------------------------------------------------------------


def test_copy_keeps_every_row_and_copying_again_copies_nothing(pair):
    src, dst = pair
    runs = fill(src)
    before = snapshot(src)

    report = copy_registry(src, dst)

    assert report.destination_created
    assert sorted(report.runs_copied) == sorted(set(runs.values()) - {runs["live"]})
    assert [(s.table, s.key) for s in report.skipped] == [("runs", runs["live"])]
    assert "running" in report.skipped[0].reason and "--include-running" in report.skipped[0].reason
    copied = snapshot(dst)
    assert copied == without(before, runs["live"])
    assert copied["runs"][runs["grpo"]]["detail"]["parent"]["id"] == runs["sft"]
    assert copied["models"]["qwen3-vl-cxr"]["model"]["aliases"] == {"production": 2}
    assert len(copied["models"]["qwen3-vl-cxr"]["aliases"]) == 4
    counts_src, counts_dst = row_counts(src), row_counts(dst)
    assert counts_dst["runs"] == counts_src["runs"] - 1
    assert counts_dst["metrics"] == counts_src["metrics"] - 1  # the live run's one loss value
    for name in ("predictions", "checkpoints", "green_flare_components", "publications", "model_versions",
                 "model_alias_events", "dataset_version_splits", "recipe_versions"):
        assert counts_dst[name] == counts_src[name], name
    assert {name: c.copied for name, c in report.tables.items() if c.copied} == {
        name: n for name, n in counts_dst.items() if n}

    again = copy_registry(src, dst)
    assert again.copied_rows == 0 and not again.runs_copied
    assert sorted(again.runs_already_there) == sorted(report.runs_copied)
    assert {n: c.already_there for n, c in again.tables.items()} == {n: c.copied for n, c in report.tables.items()}
    assert row_counts(dst) == counts_dst


def test_a_publication_recorded_after_a_copy_is_added_by_the_next(tmp_path):
    with database("sqlite", tmp_path, "src") as src, database("sqlite", tmp_path, "dst") as dst:
        runs = fill(src)
        copy_registry(src, dst)
        with Registry.from_url(src) as registry:
            registry.record_publication(runs["grpo"], "me/grpo", "beef", "https://huggingface.co/me/grpo")
        report = copy_registry(src, dst)
        assert report.tables["publications"].copied == 1 and report.tables["publications"].already_there == 1
        assert report.runs_already_there and not report.runs_copied
        assert snapshot(dst) == without(snapshot(src), runs["live"])


def test_include_running_copies_a_live_run_as_it_is(tmp_path):
    with database("sqlite", tmp_path, "src") as src, database("sqlite", tmp_path, "dst") as dst:
        runs = fill(src)
        report = copy_registry(src, dst, include_running=True)
        assert runs["live"] in report.runs_copied and not report.skipped
        assert snapshot(dst) == snapshot(src)


@pytest.mark.parametrize("dst_dialect", ["sqlite", pytest.param("postgresql", marks=PG)])
def test_run_copies_its_ancestors_and_what_they_need_only(tmp_path, dst_dialect):
    with database("sqlite", tmp_path, "src") as src, database(dst_dialect, tmp_path, "dst") as dst:
        runs = fill(src)
        report = copy_registry(src, dst, [runs["grpo"][:6]])
        assert report.runs_copied == [runs["sft"], runs["grpo"]]  # the parent first
        copied, original = snapshot(dst), snapshot(src, [runs["sft"], runs["grpo"]])
        for part in ("search", "runs", "compare", "dataset_versions"):
            assert copied[part] == original[part], part
        with Registry.from_url(dst) as registry:
            assert [f"{r.name}@{r.version}" for r in registry.list_recipe_versions()] == ["grpo@1", "sft@1"]
            assert registry.list_external_models() == [] and registry.list_registered_models() == []
        assert any("registered_models" in note for note in report.notes)

        again = copy_registry(src, dst, [runs["sft"], runs["pulled"]])
        assert again.runs_copied == [runs["pulled"]] and again.runs_already_there == [runs["sft"]]
        with Registry.from_url(dst) as registry:
            assert [e.repo for e in registry.list_external_models()] == ["someone/qwen3-vl-cxr"]

        with pytest.raises(Exception, match=f"run {runs['live']} is running in the source.*--include-running"):
            copy_registry(src, dst, [runs["live"]])


def test_an_interrupted_copy_leaves_whole_runs_and_the_next_one_finishes(tmp_path, monkeypatch):
    from rrg_registry import copy as copy_module

    with database("sqlite", tmp_path, "src") as src, database("sqlite", tmp_path, "dst") as dst:
        runs = fill(src)
        real_merge = copy_module._Copier._merge
        seen: list[str] = []

        def failing_merge(self, connection, name, src_rows, dst_rows):
            if name == "runs":
                seen.append(src_rows[0]["id"])
            if name == "predictions" and len(seen) == 3:
                raise RuntimeError("the network went away")
            return real_merge(self, connection, name, src_rows, dst_rows)

        monkeypatch.setattr(copy_module._Copier, "_merge", failing_merge)
        with pytest.raises(RuntimeError, match="the network went away"):
            copy_registry(src, dst)
        monkeypatch.setattr(copy_module._Copier, "_merge", real_merge)

        whole = seen[:2]
        assert runs_alone(snapshot(dst)) == runs_alone(snapshot(src, whole))
        counts = row_counts(dst)
        engine = sa.create_engine(dst)
        with engine.connect() as connection:
            for table in ("runs", "metrics", "checkpoints", "run_tags", "latest_metrics"):
                column = "id" if table == "runs" else "run_id"
                left = connection.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :r"), {"r": seen[2]})
                assert left.scalar_one() == 0, table
        engine.dispose()
        assert counts["model_versions"] == 0

        report = copy_registry(src, dst)
        assert sorted(report.runs_already_there) == sorted(whole)
        assert snapshot(dst) == without(snapshot(src), runs["live"])


KILLED_COPY = """
import sys, time
from rrg_registry import copy as copy_module
real_merge = copy_module._Copier._merge
seen = []
def merge(self, connection, name, src_rows, dst_rows):
    if name == "runs":
        seen.append(src_rows[0]["id"])
    result = real_merge(self, connection, name, src_rows, dst_rows)
    if name == "predictions" and len(seen) == 3:  # the third run half-written, its transaction open
        print("KILL " + " ".join(seen), flush=True)
        time.sleep(120)
    return result
copy_module._Copier._merge = merge
copy_module.copy_registry(sys.argv[1], sys.argv[2])
"""


@pytest.mark.parametrize("dst_dialect", ["sqlite", pytest.param("postgresql", marks=PG)])
def test_a_copy_killed_mid_run_resumes(tmp_path, dst_dialect):
    with database("sqlite", tmp_path, "src") as src, database(dst_dialect, tmp_path, "dst") as dst:
        runs = fill(src)
        process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_COPY), src, dst],
                                   stdout=subprocess.PIPE, text=True, cwd=REPO)
        try:
            line = process.stdout.readline()
            assert line.startswith("KILL "), line
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(timeout=60)
            process.stdout.close()
        seen = line.split()[1:]
        assert runs_alone(snapshot(dst)) == runs_alone(snapshot(src, seen[:2]))

        report = copy_registry(src, dst)
        assert sorted(report.runs_already_there) == sorted(seen[:2])
        assert snapshot(dst) == without(snapshot(src), runs["live"])


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dst_dialect", ["sqlite", pytest.param("postgresql", marks=PG)])
def test_a_recipe_recorded_with_another_hash_is_refused_before_anything_is_written(tmp_path, dst_dialect):
    with database("sqlite", tmp_path, "src") as src, database(dst_dialect, tmp_path, "dst") as dst:
        fill(src)
        with Registry.from_url(dst) as registry:
            registry.record_recipe("sft", 1, "9" * 64, "schema: 1\nname: sft\nversion: 1\n")
        counts = row_counts(dst)
        with pytest.raises(CopyConflict) as raised:
            copy_registry(src, dst)
        message = str(raised.value)
        assert "\n" not in message
        assert "recipe_versions name=sft, version=1: hash is " in message
        assert "'7366742d31" in message and "'9999999999" in message  # both hashes (shortened)
        assert row_counts(dst) == counts


def test_a_run_that_changed_after_it_was_copied_is_refused(tmp_path):
    with database("sqlite", tmp_path, "src") as src, database("sqlite", tmp_path, "dst") as dst:
        runs = fill(src)
        copy_registry(src, dst)
        with Registry.from_url(src) as registry:
            registry.resume_run(runs["failed"], after_step=0)
            registry.log_metrics(runs["failed"], {"train/loss": 1.0}, split="train", step=1)
            registry.finish_run(runs["failed"], "succeeded")
        counts = row_counts(dst)
        result = CliRunner().invoke(cli, ["db", "copy", src, dst])
        assert result.exit_code == 2
        error = result.output.strip()
        assert error.startswith(f"Error: runs id={runs['failed']}: status is 'succeeded' in the source")
        assert "'failed' in the destination" in error and len(error.splitlines()) == 1
        assert row_counts(dst) == counts


@pytest.mark.parametrize("behind", ["source", "destination"])
def test_registries_at_different_schema_revisions_are_refused(tmp_path, behind):
    with database("sqlite", tmp_path, "src") as src, database("sqlite", tmp_path, "dst") as dst:
        old = src if behind == "source" else dst
        Registry.upgrade_schema(old, "0003")
        if behind == "destination":
            fill(src)
        with pytest.raises(StaleSchema) as raised:
            copy_registry(src, dst)
        text = str(raised.value)
        assert f"the {behind} registry {old} is at schema revision 0003, behind" in text
        assert f"rrg db upgrade --registry {old}" in text
        assert schema.current_revision(sa.create_engine(old)) == "0003"


def test_the_same_registry_twice_and_a_missing_source_are_refused(tmp_path):
    with database("sqlite", tmp_path, "src") as src:
        fill(src)
        result = CliRunner().invoke(cli, ["db", "copy", src, str(tmp_path / "src.db")])
        assert result.exit_code == 2 and "the source and the destination are the same registry" in result.output
        result = CliRunner().invoke(cli, ["db", "copy", str(tmp_path / "none.db"), src])
        assert result.exit_code == 2 and "no registry at" in result.output
        assert not (tmp_path / "none.db").exists()


# -- the command line ------------------------------------------------------------------------------


def test_cli_dry_run_writes_nothing_then_json_summary(tmp_path):
    with database("sqlite", tmp_path, "src") as src:
        runs = fill(src)
        dst = tmp_path / "team.db"
        result = CliRunner().invoke(cli, ["db", "copy", src, str(dst), "--dry-run"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert not dst.exists()
        assert "would be created" in result.output and "dry run: nothing written" in result.output
        assert f"skipped runs {runs['live']}: running" in result.output

        result = CliRunner().invoke(cli, ["db", "copy", src, str(dst), "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["destination_created"] is True and data["dry_run"] is False
        assert sorted(data["runs"]["copied"]) == sorted(set(runs.values()) - {runs["live"]})
        assert data["tables"]["predictions"] == {"copied": row_counts(f"sqlite:///{dst}")["predictions"], "already_there": 0}
        assert data["skipped"] == [{"table": "runs", "key": runs["live"], "reason": data["skipped"][0]["reason"]}]

        result = CliRunner().invoke(cli, ["db", "copy", src, str(dst)], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "runs: 0 copied, 5 already there, 1 skipped" in result.output
        assert "nothing to copy" in result.output


# -- the study registry, there and back ---------------------------------------------------------------


@pytest.mark.postgres
def test_the_study_registry_goes_to_postgresql_and_back_unchanged(study_registry, tmp_path):
    with database("postgresql", tmp_path, "team") as team, database("sqlite", tmp_path, "back") as back:
        first = copy_registry(study_registry.url, team)
        assert len(first.runs_copied) == 9
        grpo = study_registry.run_ids["qwen3_vl/grpo"]
        assert first.runs_copied.index(study_registry.run_ids["qwen3_vl/sft"]) < first.runs_copied.index(grpo)
        copy_registry(team, back)
        original = snapshot(study_registry.url)
        assert snapshot(team) == original
        assert snapshot(back) == original
        tables = []
        for url in (study_registry.url, team, back):
            with Registry.from_url(url, create=False) as registry:
                tables.append((registry.study_table(), registry.components_table()))
        assert tables[0] == tables[1] == tables[2]


def test_cli_ctrl_c_says_how_far_it_got_and_the_next_copy_finishes(tmp_path, monkeypatch):
    from rrg_registry import copy as copy_module

    with database("sqlite", tmp_path, "src") as src, database("sqlite", tmp_path, "dst") as dst:
        runs = fill(src)
        real_merge = copy_module._Copier._merge
        seen: list[str] = []

        def interrupted_merge(self, connection, name, src_rows, dst_rows):
            if name == "runs":
                seen.append(src_rows[0]["id"])
            if name == "metrics" and len(seen) == 3:
                raise KeyboardInterrupt
            return real_merge(self, connection, name, src_rows, dst_rows)

        monkeypatch.setattr(copy_module._Copier, "_merge", interrupted_merge)
        result = CliRunner().invoke(cli, ["db", "copy", src, dst])
        assert result.exit_code == 130
        assert "Interrupted: stopped by Ctrl-C after 2 of 5 runs" in result.output
        assert "run the same command again to continue" in result.output
        monkeypatch.setattr(copy_module._Copier, "_merge", real_merge)
        assert sorted(copy_registry(src, dst).runs_already_there) == sorted(seen[:2])
        assert snapshot(dst) == without(snapshot(src), runs["live"])
