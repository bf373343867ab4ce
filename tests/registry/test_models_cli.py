"""``rrg models``: register, alias, list, show and lineage of registered models, on SQLite and
PostgreSQL, with real tiny runs (a zero-shot run and an SFT run of the demo recipes per database),
and the SDK's :mod:`rrg.registered_models` returning the registry's entities.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_assertions import assert_one_line_error
from click.testing import CliRunner
from rrg.cli import cli
from rrg_registry import Registry

from .conftest import POSTGRES_ENV, POSTGRES_URL, _postgres_schema_url

_spec = importlib.util.spec_from_file_location(
    "models_cli_engine_helpers", Path(__file__).resolve().parents[1] / "engine" / "engine_helpers.py"
)
engine_helpers = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = engine_helpers  # its dataclasses look their module up there
_spec.loader.exec_module(engine_helpers)


@dataclass(frozen=True)
class Trained:
    """A registry (SQLite or PostgreSQL) holding a real zero-shot run, a real SFT run and a failed run."""

    url: str
    zero_shot: str
    sft: str
    failed: str
    adapter: Path


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def trained(request, tmp_path_factory, xdg_cache_home: Path, demo_cache: Path) -> Iterator[Trained]:
    folder = tmp_path_factory.mktemp(f"models-{request.param}")
    admin = schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'rrg.db'}"
    else:
        if not POSTGRES_URL:
            pytest.skip(f"{POSTGRES_ENV} is not set")
        schema = f"rrg_test_{secrets.token_hex(6)}"
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = _postgres_schema_url(schema)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("XDG_CACHE_HOME", str(xdg_cache_home))
            patch.setenv("HF_HUB_OFFLINE", "1")
            with Registry.from_url(url) as registry:
                runs = {
                    stage: engine_helpers.load_recipe(stage, registry).run(registry=registry, output_dir=folder / "runs")
                    for stage in ("zero_shot", "sft")
                }
                assert runs["sft"].status == "succeeded", runs["sft"].error
                version = registry.record_recipe("broken", 1, "f" * 64, "schema: 1\nname: broken\nversion: 1\n")
                failed = registry.create_run(version.id, "sft", "qwen2_5_vl", "tiny")
                registry.start_run(failed.id)
                registry.finish_run(failed.id, "failed", error="RuntimeError: boom")
        yield Trained(url, runs["zero_shot"].id, runs["sft"].id, failed.id, runs["sft"].adapter_path)
    finally:
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def rrg(trained: Trained, *args: str):
    result = CliRunner().invoke(cli, [*args, "--registry", trained.url])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def rrg_json(trained: Trained, *args: str):
    result = rrg(trained, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def registered_names(trained: Trained) -> list[str]:
    with Registry.from_url(trained.url) as registry:
        return [m.name for m in registry.list_registered_models()]


def test_register_a_run_records_its_adapter_files_and_results(trained: Trained) -> None:
    data = rrg_json(trained, "models", "register", "reg-files", "--run", trained.sft[:6], "--description", "first try")
    assert (data["name"], data["version"], data["ref"]) == ("reg-files", 1, "reg-files@1")
    assert (data["run_id"], data["source"], data["base_model"]) == (trained.sft, f"run:{trained.sft}", "tiny")
    assert data["adapter_path"] == str(trained.adapter) and data["description"] == "first try"
    with Registry.from_url(trained.url) as registry:
        read = registry.get_run(trained.sft).dataset_version  # the dataset version the run read
    assert data["dataset_version_id"] == (read.id if read else None)
    assert data["dataset_version"] == (read.ref if read else None)
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in trained.adapter.iterdir() if p.is_file()}
    assert data["files"] and all(on_disk[name] == sha for name, sha in data["files"].items())
    assert {"adapter_model.safetensors", "adapter_config.json"} <= set(data["files"])
    assert not {"optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"} & set(data["files"])
    with Registry.from_url(trained.url) as registry:
        run = registry.get_run(trained.sft)
        assert data["results"]["green_flare"] == run.metrics["green_flare"]
        assert "train/loss" in run.metrics and not any("/" in k for k in data["results"])
        assert data["recipe_yaml"] == run.recipe.yaml_text
    again = rrg_json(trained, "models", "register", "reg-files", "--run", trained.sft)
    assert again["version"] == 2 and again["files"] == data["files"]


def test_a_run_without_success_or_adapter_is_refused_in_one_line(trained: Trained) -> None:
    before = registered_names(trained)
    assert_one_line_error(rrg(trained, "models", "register", "refused", "--run", trained.failed),
                   f"run {trained.failed}", "is failed, not succeeded")
    assert_one_line_error(rrg(trained, "models", "register", "refused", "--run", trained.zero_shot),
                   f"run {trained.zero_shot}", "recorded no adapter")
    assert_one_line_error(rrg(trained, "models", "register", "refused", "--run", "ffffffffff"), "ffffffffff")
    assert_one_line_error(rrg(trained, "models", "register", "bad name", "--run", trained.sft), "'bad name'")
    both = rrg(trained, "models", "register", "refused", "--run", trained.sft, "--hub", "org/x")
    assert both.exit_code == 2 and "exactly one of --run" in both.output
    assert registered_names(trained) == before  # nothing half-recorded


def test_aliases_move_record_who_and_when_and_can_be_deleted(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(2):
        rrg_json(trained, "models", "register", "aliased", "--run", trained.sft)
    monkeypatch.setenv("USER", "alice")
    made = rrg_json(trained, "models", "alias", "aliased@1", "paper")
    assert (made["alias"], made["version"], made["set_by"]) == ("paper", 1, "alice")
    monkeypatch.setenv("USER", "bob")
    moved = rrg_json(trained, "models", "alias", "aliased@2", "paper")
    assert (moved["version"], moved["set_by"]) == (2, "bob")
    shown = rrg_json(trained, "models", "show", "aliased@paper")
    assert (shown["version"], shown["aliases"]) == (2, ["paper"])
    assert rrg_json(trained, "models", "show", "aliased@1")["aliases"] == []
    model = rrg_json(trained, "models", "show", "aliased")
    assert [v["version"] for v in model["versions"]] == [1, 2]
    history = [(e["alias"], e["old_version"], e["new_version"], e["set_by"]) for e in model["alias_history"]]
    assert history == [("paper", None, 1, "alice"), ("paper", 1, 2, "bob")]
    listed = {m["name"]: m for m in rrg_json(trained, "models", "list")}
    assert listed["aliased"]["latest_version"] == 2 and listed["aliased"]["aliases"] == {"paper": 2}

    assert_one_line_error(rrg(trained, "models", "alias", "aliased@1", "paper", "--delete"), "names version 2, not 1")
    assert_one_line_error(rrg(trained, "models", "alias", "aliased@1", "latest"), "latest")
    assert_one_line_error(rrg(trained, "models", "alias", "aliased@1", "7"), "'7'")
    assert_one_line_error(rrg(trained, "models", "alias", "aliased@9", "x"), "no version 9")
    deleted = rrg_json(trained, "models", "alias", "aliased", "paper", "--delete")
    assert (deleted["was"], deleted["deleted_by"]) == (2, "bob")
    assert_one_line_error(rrg(trained, "models", "show", "aliased@paper"), "no alias paper")
    table = rrg(trained, "models", "show", "aliased")
    assert table.exit_code == 0 and "alias history" in table.output and "alice" in table.output


def test_show_prints_files_results_and_history_as_tables(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    rrg_json(trained, "models", "register", "shown", "--run", trained.sft)
    rrg_json(trained, "models", "alias", "shown@1", "paper")
    result = rrg(trained, "models", "show", "shown@paper")
    assert result.exit_code == 0, result.output
    for text in ("model shown@1", "files", "adapter_model.safetensors", "results", "green_flare", "alias history", trained.sft):
        assert text in result.output, text
    csv = rrg(trained, "models", "show", "shown@1", "--csv")
    assert "files.adapter_model.safetensors" in csv.output and "results.green_flare" in csv.output
    listed = rrg(trained, "models", "list")
    assert "shown" in listed.output and "paper=1" in listed.output
    assert_one_line_error(rrg(trained, "models", "show", "nobody"), "no registered model named nobody")


def test_lineage_runs_from_the_base_model_to_the_hub(trained: Trained) -> None:
    rrg_json(trained, "models", "register", "traced", "--run", trained.sft)
    rrg_json(trained, "models", "alias", "traced@1", "paper")
    with Registry.from_url(trained.url) as registry:
        publication = registry.record_publication(trained.sft, "my-org/traced", "a" * 40, "https://huggingface.co/my-org/traced")
    data = rrg_json(trained, "models", "lineage", "traced@paper")
    steps = [(s["step"], s["ref"]) for s in data["steps"]]
    with Registry.from_url(trained.url) as registry:
        read = registry.get_run(trained.sft).dataset_version
    assert data["dataset_version"] == (read.ref if read else None)
    assert steps[:5] == [
        ("base model", "tiny"),
        ("dataset version", read.ref if read else "-"),
        ("zero-shot", trained.zero_shot),
        ("sft", trained.sft),
        ("registered", "traced@1"),
    ]
    assert ("published", f"my-org/traced@{publication.revision}") in steps
    assert data["zero_shot"] == trained.zero_shot and [r["id"] for r in data["runs"]] == [trained.sft]
    table = rrg(trained, "models", "lineage", "traced@1")
    assert table.exit_code == 0 and "zero-shot" in table.output and "my-org/traced" in table.output


def test_the_sdk_returns_the_registry_entities(trained: Trained) -> None:
    from rrg import registered_models as models
    from rrg_registry.entities import AliasEvent, ModelAlias, ModelVersion, RegisteredModel

    with Registry.from_url(trained.url) as registry:
        version = models.register("sdk-model", run=trained.sft, registry=registry)
        assert isinstance(version, ModelVersion) and version.ref == "sdk-model@1"
        made = models.alias("sdk-model@1", "paper", set_by="carol", registry=registry)
        assert isinstance(made, ModelAlias) and made.set_by == "carol"
        assert models.get("model:sdk-model@paper", registry=registry) == registry.get_model_version("sdk-model", 1)
        assert models.get("sdk-model", registry=registry).version == 1  # the latest
        assert all(isinstance(m, RegisteredModel) for m in models.list(registry=registry))
        assert [v.version for v in models.versions("sdk-model", registry=registry)] == [1]
        lineage = models.lineage("sdk-model@1", registry=registry)
        assert lineage.version.ref == "sdk-model@1" and lineage.runs[0].run.id == trained.sft
        removed = models.alias("sdk-model", "paper", delete=True, set_by="carol", registry=registry)
        assert isinstance(removed, AliasEvent) and removed.new_version is None
        with pytest.raises(Exception, match="exactly one of run= and hub="):
            models.register("sdk-model", registry=registry)
