"""Recipes, datasets, run creation, status transitions, heartbeats and reaping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rrg_registry import (
    AmbiguousRunId,
    InvalidTransition,
    NotFound,
    RecipeVersionConflict,
    RunNotFound,
    RunStatus,
)
from rrg_registry.store import sql_store

from .conftest import hours_ago


def test_record_recipe_is_idempotent_for_the_same_hash(registry):
    first = registry.record_recipe("demo-sft", 1, "a" * 64, "name: demo-sft\n")
    again = registry.record_recipe("demo-sft", 1, "a" * 64, "name: demo-sft\n")
    assert again == first
    assert first.ref == "demo-sft@1"
    assert [r.ref for r in registry.list_recipe_versions()] == ["demo-sft@1"]


def test_record_recipe_with_another_hash_is_refused(registry):
    registry.record_recipe("demo-sft", 1, "abc123" + "0" * 58, "a: 1\n")
    with pytest.raises(RecipeVersionConflict) as caught:
        registry.record_recipe("demo-sft", 1, "def456" + "0" * 58, "a: 2\n")
    assert str(caught.value) == (
        "recipe demo-sft@1 is already recorded with hash abc123000000…; this one hashes def456000000… "
        "(hint: bump `version:` in the recipe)"
    )
    assert caught.value.exit_code == 2
    # the original stays, and a new version is accepted
    assert registry.get_recipe_version("demo-sft", 1).yaml_text == "a: 1\n"
    assert registry.record_recipe("demo-sft", 2, "def456" + "0" * 58, "a: 2\n").version == 2


def test_get_recipe_version(registry):
    assert registry.get_recipe_version("missing", 1) is None
    recorded = registry.record_recipe("base", 3, "f" * 64, "schema: 1\n")
    found = registry.get_recipe_version("base", 3)
    assert (found.name, found.version, found.hash, found.yaml_text) == ("base", 3, "f" * 64, "schema: 1\n")
    assert found.id == recorded.id
    assert [r.version for r in registry.list_recipe_versions("base")] == [3]


def test_record_dataset_is_idempotent(registry):
    first = registry.record_dataset("iu_xray", "validation", "fp1", 1945)
    assert registry.record_dataset("iu_xray", "validation", "fp1", 1945) == first
    other = registry.record_dataset("iu_xray", "validation", "fp2", 1000)
    assert other.id != first.id and other.size == 1000


def test_create_run_records_everything(registry, factory):
    recipe = factory.recipe("demo-sft", 1)
    train = registry.record_dataset("iu_xray", "train", "fp-train", 7797)
    parent = factory.run(status="succeeded")
    run = registry.create_run(
        recipe.id, "grpo", "qwen3_vl", "Qwen/Qwen3-VL-4B-Instruct", model_revision="abc", adapter="lora",
        seed=7, host="node1", package_versions={"trl": "1.10"}, plan={"backend": "transformers"},
        parent_run_id=parent.id, tags=["paper", "rl"], datasets=[train],
    )
    assert len(run.id) == 8 and int(run.id, 16) >= 0
    assert run.status is RunStatus.PENDING
    assert run.recipe == "demo-sft@1"
    assert (run.stage, run.model_family, run.model_revision, run.adapter, run.seed, run.host) == (
        "grpo", "qwen3_vl", "abc", "lora", 7, "node1")
    assert run.package_versions == {"trl": "1.10"} and run.plan == {"backend": "transformers"}
    assert run.tags == ("paper", "rl") and run.parent_run_id == parent.id
    assert run.started_at is None and run.ended_at is None
    detail = registry.get_run(run.id)
    assert [d.split for d in detail.datasets] == ["train"]
    assert detail.parent.id == parent.id
    assert [c.id for c in registry.get_run(parent.id).children] == [run.id]


def test_create_run_with_unknown_references_is_refused(registry, factory):
    recipe = factory.recipe()
    with pytest.raises(NotFound):
        registry.create_run(9999, "sft", "qwen3_vl", "m")
    with pytest.raises(RunNotFound):
        registry.create_run(recipe.id, "sft", "qwen3_vl", "m", parent_run_id="deadbeef")
    with pytest.raises(NotFound):
        registry.create_run(recipe.id, "sft", "qwen3_vl", "m", datasets=[12345])
    assert registry.search_runs() == []


def test_lifecycle_sets_times(registry, factory):
    run = factory.run()
    started = registry.start_run(run.id)
    assert started.status is RunStatus.RUNNING and started.started_at is not None
    assert started.heartbeat_at == started.started_at
    beat = registry.heartbeat(run.id)
    assert registry.get_run(run.id).run.heartbeat_at == beat
    done = registry.finish_run(run.id, "failed", error="CUDA out of memory")
    assert done.status is RunStatus.FAILED and done.error == "CUDA out of memory" and done.ended_at is not None


ALLOWED = [
    ("pending", "running"), ("pending", "failed"), ("pending", "interrupted"),
    ("running", "succeeded"), ("running", "failed"), ("running", "interrupted"),
]
REFUSED = [
    ("pending", "succeeded"), ("running", "running"), ("succeeded", "running"), ("succeeded", "failed"),
    ("failed", "succeeded"), ("interrupted", "running"), ("pending", "pending"),
]


def _at(registry, factory, status):
    run = factory.run()
    if status == "pending":
        return run
    registry.start_run(run.id)
    if status != "running":
        registry.finish_run(run.id, status)
    return run


@pytest.mark.parametrize(("current", "new"), ALLOWED)
def test_allowed_transitions(registry, factory, current, new):
    run = _at(registry, factory, current)
    if new == "running":
        moved = registry.start_run(run.id)
    else:
        moved = registry.finish_run(run.id, new)
    assert moved.status.value == new


@pytest.mark.parametrize(("current", "new"), REFUSED)
def test_refused_transitions_change_nothing(registry, factory, current, new):
    run = _at(registry, factory, current)
    with pytest.raises(InvalidTransition) as caught:
        if new == "running":
            registry.start_run(run.id)
        else:
            registry.finish_run(run.id, new)
    assert f"run {run.id} cannot move from {current} to {new}" in str(caught.value) or "final status" in str(caught.value)
    assert registry.get_run(run.id).run.status.value == current


def test_unknown_status_and_unknown_run(registry, factory):
    run = factory.run(status="running")
    with pytest.raises(InvalidTransition, match="unknown run status 'done'"):
        registry.finish_run(run.id, "done")
    with pytest.raises(RunNotFound):
        registry.start_run("00000000")


def test_heartbeat_needs_a_running_run(registry, factory):
    run = factory.run()
    with pytest.raises(InvalidTransition, match="is pending, not running"):
        registry.heartbeat(run.id)


def test_reap_marks_silent_runs_interrupted(registry, factory, clock):
    clock(hours_ago(2))
    silent = factory.run(status="running")
    never_started = factory.run()
    clock(None)
    alive = factory.run(status="running")
    fresh_pending = factory.run()
    finished = factory.run(status="succeeded")

    assert registry.reap_stale_runs(older_than=timedelta(hours=3)) == []
    reaped = registry.reap_stale_runs(older_than=timedelta(hours=1))
    assert reaped == sorted([silent.id, never_started.id])
    for run_id in reaped:
        run = registry.get_run(run_id).run
        assert run.status is RunStatus.INTERRUPTED and run.ended_at is not None
        assert "marked interrupted" in run.error
    for run in (alive, fresh_pending, finished):
        assert registry.get_run(run.id).run.status == run.status
    assert registry.reap_stale_runs(older_than=timedelta(hours=1)) == []


def test_heartbeat_keeps_a_run_alive(registry, factory, clock):
    clock(hours_ago(2))
    run = factory.run(status="running")
    clock(None)
    registry.heartbeat(run.id)
    assert registry.reap_stale_runs(older_than=timedelta(hours=1)) == []
    assert registry.reap_stale_runs(older_than=timedelta(0)) == [run.id]


def test_run_id_prefixes(registry, factory, monkeypatch):
    ids = iter(["abc00001", "abc00002", "ffff0000"])
    monkeypatch.setattr(sql_store.secrets, "token_hex", lambda n: next(ids))
    a, b, c = factory.run(), factory.run(), factory.run()
    assert registry.resolve_run_id("fff") == c.id
    assert registry.resolve_run_id("abc00002") == b.id
    assert registry.get_run("abc00001").run.id == a.id
    with pytest.raises(AmbiguousRunId, match=r"run id prefix 'abc' matches several runs \(abc00001, abc00002\)"):
        registry.get_run("abc")
    with pytest.raises(RunNotFound, match="no run matches '0123'"):
        registry.get_run("0123")
    with pytest.raises(RunNotFound):
        registry.resolve_run_id("a%")  # LIKE wildcards are escaped


def test_run_ids_never_collide(registry, factory, monkeypatch):
    ids = iter(["00000001", "00000001", "00000002"])
    monkeypatch.setattr(sql_store.secrets, "token_hex", lambda n: next(ids))
    assert [factory.run().id, factory.run().id] == ["00000001", "00000002"]


def test_latest_successful_run(registry, factory, clock):
    assert registry.latest_successful_run("demo-sft") is None
    clock(hours_ago(3))
    older = factory.run(status="succeeded")
    clock(hours_ago(2))
    newer = factory.run(status="succeeded")
    clock(None)
    factory.run(status="failed")
    factory.run(recipe="demo-sft@2", status="succeeded", stage="grpo")
    assert registry.latest_successful_run("demo-sft", version=1).id == newer.id
    assert registry.latest_successful_run("demo-sft", stage="grpo").recipe == "demo-sft@2"
    assert registry.latest_successful_run("demo-sft", version=1, stage="zero_shot") is None
    assert older.id != newer.id
