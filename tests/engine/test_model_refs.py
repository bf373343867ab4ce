"""Recipes that start from a registered model version: ``model.adapter: model:NAME@VERSION|ALIAS``
and GRPO's ``stage.init_from: model:...``, resolved to the version's adapter with every file
checked against its registered sha256, and the run recording the version it started from.

One real zero-shot run and one real SFT run of the tiny twin (module-scoped) give the adapter.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import (
    STAGE_RECIPES,
    assert_one_line_error,
    load_recipe,
    snapshot,
    stage_overrides,
)
from rrg.cli import cli
from rrg.errors import RrgError


@dataclass(frozen=True)
class Trained:
    registry: object
    output_dir: Path
    zero_shot: object
    sft: object


@pytest.fixture(scope="module")
def trained(xdg_cache_home: Path, demo_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """A fresh registry holding a real zero-shot run and a real SFT run, the SFT run registered as
    ``iu-report`` version 1 with the alias ``paper``."""
    from rrg import registered_models
    from rrg_registry import Registry

    folder = tmp_path_factory.mktemp("model-refs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(xdg_cache_home))
        patch.setenv("HF_HUB_OFFLINE", "1")
        registry = Registry.from_url(f"sqlite:///{folder / 'rrg.db'}")
        zero_shot = load_recipe("zero_shot", registry).run(registry=registry, output_dir=folder / "runs")
        sft = load_recipe("sft", registry).run(registry=registry, output_dir=folder / "runs")
        assert sft.status == "succeeded", sft.error
        registered_models.register("iu-report", run=sft.id, registry=registry)
        registered_models.alias("iu-report@1", "paper", set_by="tester", registry=registry)
    yield Trained(registry, folder / "runs", zero_shot, sft)
    registry.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copied_version(trained: Trained, tmp_path: Path, name: str):
    """A version registered from a copy of the SFT adapter (so a test may damage the copy)."""
    from rrg.adapters import adapter_files

    copy = tmp_path / "adapter"
    shutil.copytree(trained.sft.adapter_path, copy)
    return trained.registry.register_model_version(
        name, base_model="tiny", base_revision=None, source=f"run:{trained.sft.id}", adapter_path=str(copy),
        files=adapter_files(copy), run_id=trained.sft.id,
    )


def test_the_registered_version_records_the_adapter_files_and_results(trained: Trained) -> None:
    version = trained.registry.get_model_version("iu-report", "paper")
    adapter = trained.sft.adapter_path
    assert (version.version, version.run_id, version.source) == (1, trained.sft.id, f"run:{trained.sft.id}")
    assert Path(version.adapter_path) == adapter
    assert version.base_model == "tiny"
    on_disk = {p.name for p in adapter.iterdir() if p.is_file()}
    assert "adapter_model.safetensors" in version.files and "adapter_config.json" in version.files
    assert "optimizer.pt" in on_disk and "optimizer.pt" not in version.files  # trainer state is not the adapter
    assert all(version.files[n] == _sha256(adapter / n) for n in version.files)
    assert version.results["green_flare"] == trained.sft.metrics["green_flare"]
    assert not any("/" in name for name in version.results)
    assert version.recipe_yaml == trained.sft.detail.recipe.yaml_text


def test_zero_shot_evaluates_a_registered_version_by_alias(trained: Trained, rrg_cache_env: Path) -> None:
    recipe = load_recipe("zero_shot", trained.registry, extra=["model.adapter=model:iu-report@paper", "version=11"])
    run = recipe.run(registry=trained.registry, output_dir=trained.output_dir)
    assert run.status == "succeeded", run.error
    recorded = run.detail.run
    assert recorded.adapter == "model:iu-report@1"  # the version the alias named when the run started
    assert run.parent_id == trained.sft.id  # the run behind the version, as a run link
    # the same adapter on the same samples scores what the SFT run scored after training
    assert run.metrics["green_flare"] == pytest.approx(trained.sft.metrics["green_flare"])


def test_grpo_starts_from_a_registered_version(trained: Trained, rrg_cache_env: Path) -> None:
    from rrg import registered_models

    recipe = load_recipe("grpo", trained.registry, extra=["stage.init_from=model:iu-report@1", "version=11"])
    run = recipe.run(registry=trained.registry, output_dir=trained.output_dir)
    assert run.status == "succeeded", run.error
    assert run.parent_id == trained.sft.id and run.detail.run.adapter == "model:iu-report@1"
    assert run.metrics["before/green_flare"] == pytest.approx(trained.sft.metrics["green_flare"])

    registered_models.register("iu-report-grpo", run=run.id, registry=trained.registry)
    lineage = registered_models.lineage("iu-report-grpo@1", registry=trained.registry)
    assert [d.run.id for d in lineage.runs] == [trained.sft.id, run.id]
    assert lineage.zero_shot is not None and lineage.zero_shot.id == trained.zero_shot.id
    steps = [(s.step, s.ref) for s in lineage.steps()]
    read = trained.sft.detail.dataset_version  # the dataset version the SFT run read, if registered
    assert lineage.dataset_version == read
    assert steps == [
        ("base model", "tiny"),
        ("dataset version", read.ref if read else "-"),
        ("zero-shot", trained.zero_shot.id),
        ("sft", trained.sft.id),
        ("grpo", run.id),
        ("registered", "iu-report-grpo@1"),
    ]
    assert lineage.steps()[4].detail == "started from model:iu-report@1"


@pytest.mark.parametrize("damage", ["changed", "missing"])
def test_a_changed_or_missing_file_is_refused_naming_it_and_both_hashes(
    damage: str, trained: Trained, rrg_cache_env: Path, tmp_path: Path
) -> None:
    version = _copied_version(trained, tmp_path, f"damaged-{damage}")
    weights = Path(version.adapter_path) / "adapter_model.safetensors"
    registered = version.files["adapter_model.safetensors"]
    if damage == "changed":
        with weights.open("ab") as handle:
            handle.write(b"\0")
        now = _sha256(weights)
    else:
        weights.unlink()
        now = "none"
    ref = f"model:{version.ref}"
    before = snapshot(trained.registry)
    with pytest.raises(RrgError) as caught:
        load_recipe("zero_shot", trained.registry, extra=[f"model.adapter={ref}", "version=12"]).run(
            registry=trained.registry, output_dir=trained.output_dir
        )
    message = str(caught.value)
    assert message.startswith("model.adapter: ") and str(weights) in message
    assert registered in message and now in message and "\n" not in message
    assert snapshot(trained.registry) == before  # nothing recorded

    args = ["run", str(STAGE_RECIPES["grpo"]), "--registry", trained.registry.url, "--output-dir", str(tmp_path / "runs")]
    for override in [*stage_overrides("grpo"), f"stage.init_from={ref}", "version=12"]:
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    assert_one_line_error(result, "stage.init_from: ", str(weights), registered, now)
    assert snapshot(trained.registry) == before


def test_an_unknown_alias_or_model_is_one_line(trained: Trained, rrg_cache_env: Path, tmp_path: Path) -> None:
    for ref, expected in (("model:iu-report@nope", "has no alias nope"), ("model:nobody@1", "no registered model named nobody")):
        args = ["run", str(STAGE_RECIPES["zero_shot"]), "--registry", trained.registry.url]
        for override in [*stage_overrides("zero_shot"), f"model.adapter={ref}", "version=13"]:
            args += ["--set", override]
        line = assert_one_line_error(CliRunner().invoke(cli, args), "model.adapter: ", expected)
        assert "paper" in line or "iu-report" in line  # the hint lists what is registered


def test_a_malformed_model_ref_is_refused_when_the_recipe_loads() -> None:
    from rrg.recipe import Recipe
    from rrg.recipe.errors import RecipeError

    with pytest.raises(RecipeError, match="model.adapter"):
        Recipe.load(STAGE_RECIPES["zero_shot"], overrides=["model.adapter=model:iu-report"])
    with pytest.raises(RecipeError, match="stage.init_from"):
        Recipe.load(STAGE_RECIPES["grpo"], overrides=["stage.init_from=model:iu report@1"])
    assert Recipe.load(STAGE_RECIPES["grpo"], overrides=["stage.init_from=model:iu-report@paper"]).spec.stage.init_from == "model:iu-report@paper"
