"""What keeps ``rrg plan`` fast: parameter counts and TRL's verdict on the settings, cached.

A plan counts parameters on the meta device and lets TRL validate its config; both need seconds of
imports (torch, transformers' modelling code, TRL). The counts of a config and the settings TRL
accepted are kept in rrg's cache, so planning again imports none of that. The cached counts are
those of the meta device; a changed config, or changed modelling code, is counted afresh; a
damaged cache file is ignored; TRL's rejections are never cached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import DEMO, RECIPES
from rrg.models import FAMILY_NAMES, get_family
from rrg.models.inventory import count_on_meta_device, parameter_inventory

TINY = ["model.id=tiny", "data.root=demo", "data.expect=null"]

PLAN_IN_A_CHILD = """
import json, sys
from rrg.plan import resolve_plan
from rrg.recipe import Recipe
device = sys.argv[1] if sys.argv[1] != "auto" else None
plan = resolve_plan(Recipe.load(sys.argv[2], overrides=sys.argv[3:]), device=device)
heavy = sorted(m for m in ("torch", "transformers", "trl", "peft") if m in sys.modules)
print(json.dumps({"plan": json.loads(plan.to_json()), "heavy": heavy}))
"""


@pytest.fixture
def fresh_plan_cache(xdg_cache_home: Path, demo_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An rrg cache with the session's demo set and tiny twins but no plan facts yet."""
    for family in FAMILY_NAMES:  # build the twins in the session cache, once
        monkeypatch.setenv("XDG_CACHE_HOME", str(xdg_cache_home))
        get_family(family).tiny_path()
    cache = tmp_path / "xdg" / "rrg"
    cache.mkdir(parents=True)
    for part in ("demo", "tiny"):
        (cache / part).symlink_to(demo_cache / part)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return cache


def plan_in_a_child(recipe: Path, *overrides: str, device: str = "cpu") -> dict:
    done = subprocess.run([sys.executable, "-c", PLAN_IN_A_CHILD, device, str(recipe), *overrides], capture_output=True, text=True, env=os.environ.copy(), check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "recipe",
    [RECIPES / "paper" / "qwen3-vl-4b" / "grpo.yaml", RECIPES / "paper" / "medgemma-4b" / "zero-shot.yaml"],
    ids=["qwen3-vl-grpo", "medgemma-zero-shot"],
)
def test_a_second_plan_imports_no_torch_transformers_or_trl(recipe: Path, fresh_plan_cache: Path) -> None:
    first = plan_in_a_child(recipe, *TINY)
    assert "torch" in first["heavy"]  # counted on the meta device
    second = plan_in_a_child(recipe, *TINY)
    assert second["heavy"] == []
    assert second["plan"] == first["plan"] and second["plan"]["parameters"]["total"] > 0
    kinds = sorted(p.name.split("-")[0] for p in (fresh_plan_cache / "plan").iterdir())
    assert kinds == (["inventory", "trl"] if "grpo" in recipe.name else ["inventory"])


def test_a_demo_plan_on_a_machine_without_a_gpu_imports_no_torch(fresh_plan_cache: Path) -> None:
    from rrg.hardware import cuda_impossible

    plan_in_a_child(DEMO / "sft.yaml", device="auto")
    second = plan_in_a_child(DEMO / "sft.yaml", device="auto")
    assert second["plan"]["device"] == "cpu"
    # where a GPU may be present, torch is asked whether it is
    assert second["heavy"] == ([] if cuda_impossible() else ["torch"])


@pytest.mark.parametrize("family_name", FAMILY_NAMES)
def test_cached_counts_are_the_meta_device_counts(family_name: str, fresh_plan_cache: Path) -> None:
    family = get_family(family_name)
    source = str(family.tiny_path())
    counted = count_on_meta_device(family, source)
    assert parameter_inventory(family, source) == counted  # counted, then cached
    assert list((fresh_plan_cache / "plan").glob("inventory-*.json"))
    assert parameter_inventory(family, source) == counted  # read back
    assert counted.total > 0 and counted.linears and counted.params_by_leaf["lm_head"] > 0


def test_plan_counts_do_not_change_when_read_from_the_cache(fresh_plan_cache: Path) -> None:
    from rrg.plan import resolve_plan
    from rrg.recipe import Recipe

    recipe = Recipe.load(RECIPES / "paper" / "qwen2.5-vl-7b" / "sft.yaml", overrides=TINY)
    cold = resolve_plan(recipe, device="cpu").parameters
    warm = resolve_plan(recipe, device="cpu").parameters
    assert warm == cold and cold.trainable > cold.lora_modules > 0


def test_a_changed_config_is_counted_afresh(fresh_plan_cache: Path, tmp_path: Path) -> None:
    family = get_family("qwen2_5_vl")
    folder = tmp_path / "my-model"
    folder.mkdir()
    shutil.copy(family.tiny_path() / "config.json", folder / "config.json")
    before = parameter_inventory(family, str(folder))
    config = json.loads((folder / "config.json").read_text())
    config["text_config"]["intermediate_size"] *= 2
    (folder / "config.json").write_text(json.dumps(config))
    after = parameter_inventory(family, str(folder))
    assert after == count_on_meta_device(family, str(folder))
    layers, width = before.num_layers, before.hidden_size
    assert after.total - before.total == layers * 3 * width * config["text_config"]["intermediate_size"] // 2


def test_changed_modelling_code_is_counted_afresh(fresh_plan_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    family = get_family("qwen2_5_vl")
    source = str(family.tiny_path())
    parameter_inventory(family, source)
    monkeypatch.setattr(type(family), "model_code_version", lambda self: "transformers 99.0")
    parameter_inventory(family, source)
    assert len(list((fresh_plan_cache / "plan").glob("inventory-*.json"))) == 2


def test_a_damaged_cache_file_is_counted_again(fresh_plan_cache: Path) -> None:
    family = get_family("qwen3_vl")
    source = str(family.tiny_path())
    counted = parameter_inventory(family, source)
    [cached] = (fresh_plan_cache / "plan").glob("inventory-*.json")
    cached.write_text('{"format": 1, "total": ')
    assert parameter_inventory(family, source) == counted
    assert json.loads(cached.read_text())["total"] == counted.total


def test_native_deepseek_ocr_code_is_part_of_the_key() -> None:
    native = get_family("deepseek_ocr").model_code_version()
    assert native.startswith(get_family("qwen2_5_vl").model_code_version() + ", rrg native ")


def test_trl_rejections_are_never_cached(fresh_plan_cache: Path) -> None:
    from rrg.plan import PlanError, resolve_plan
    from rrg.recipe import Recipe

    bad = Recipe.load(DEMO / "grpo.yaml", overrides=["training.per_device_batch_size=3"])
    for _ in range(2):
        with pytest.raises(PlanError, match="TRL rejects the grpo settings: generation_batch_size"):
            resolve_plan(bad, count_parameters=False)
    assert not list((fresh_plan_cache / "plan").glob("trl-accepted-*.json"))
    resolve_plan(Recipe.load(DEMO / "grpo.yaml"), count_parameters=False)
    assert len(list((fresh_plan_cache / "plan").glob("trl-accepted-*.json"))) == 1


@pytest.mark.parametrize("family_name", FAMILY_NAMES)
def test_the_plan_names_the_model_class_without_importing_it(family_name: str) -> None:
    family = get_family(family_name)
    assert family._model_class().__name__ == family.model_class_name


def test_hardware_probed_without_torch_matches_torchs_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # where no GPU can be present the probe skips importing torch; its facts are torch's own
    from rrg import hardware

    probed = hardware.detect_hardware()
    monkeypatch.setattr(hardware, "cuda_impossible", lambda: False)
    assert hardware.detect_hardware() == probed
