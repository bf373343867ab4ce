"""DeepSeek-OCR's user errors stop ``rrg run`` with one line, exit 2 and nothing recorded: a folder
that is not DeepSeek-OCR, an attention variant the config cannot select, an unreadable image, a
training prompt longer than ``training.max_length`` once its image tokens are counted."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import STAGE_RECIPES, stage_overrides
from rrg.cli import cli
from rrg.models import get_family

FAMILY = "deepseek_ocr"


def rrg_run(registry, stage: str, *extra: str):
    args = ["run", str(STAGE_RECIPES[stage]), "--registry", registry.url]
    for override in stage_overrides(stage, family=FAMILY, extra=extra):
        args += ["--set", override]
    return CliRunner().invoke(cli, args)


def assert_refused(result, registry, *parts: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "(hint: " in lines[0], result.output
    for part in parts:
        assert part in lines[0], lines[0]
    assert registry.search_runs() == [] and registry.list_recipe_versions() == []
    return lines[0]


def test_a_folder_that_is_not_deepseek_ocr(rrg_cache_env: Path, registry) -> None:
    qwen = get_family("qwen2_5_vl").tiny_path()
    result = rrg_run(registry, "zero_shot", f"model.id={qwen}")
    assert_refused(result, registry, f"{qwen}/config.json: not a DeepSeek-OCR checkpoint", "qwen2_5_vl")


def test_an_attention_variant_the_config_cannot_select(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    folder = tmp_path / "dsocr"
    shutil.copytree(get_family(FAMILY).tiny_path(), folder)
    config = json.loads((folder / "config.json").read_text())
    config["use_mla"] = "sparse"
    (folder / "config.json").write_text(json.dumps(config))
    result = rrg_run(registry, "zero_shot", f"model.id={folder}")
    assert_refused(result, registry, f"{folder}/config.json: use_mla: 'sparse' is not an attention variant")


def test_an_unreadable_config(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    folder = tmp_path / "dsocr"
    shutil.copytree(get_family(FAMILY).tiny_path(), folder)
    (folder / "config.json").write_text("{not json")
    result = rrg_run(registry, "zero_shot", f"model.id={folder}")
    assert_refused(result, registry, f"{folder}/config.json: cannot be read (", "restore the model folder's config.json")


def test_an_unreadable_image(rrg_cache_env: Path, demo_root: Path, registry, tmp_path: Path) -> None:
    root = tmp_path / "organized_dataset"
    shutil.copytree(demo_root / "validation-public", root / "validation-public", copy_function=os.link)
    dataset = root / "validation-public" / "Xray" / "IU_XRay"
    first = json.loads((dataset / "IU_XRay_questions_val.json").read_text())[0]
    image = first["ImageName"][0] if isinstance(first["ImageName"], list) else first["ImageName"]
    (dataset / image).unlink()
    (dataset / image).write_bytes(b"not a PNG")
    result = rrg_run(registry, "zero_shot", f"data.root={root}", "data.image_policy=fail")
    assert_refused(result, registry, Path(image).name)


def test_a_prompt_longer_than_max_length_with_its_image_tokens(rrg_cache_env: Path, registry) -> None:
    # a 256 px global view takes 4 rows x (4 + newline) + separator = 21 image tokens
    result = rrg_run(registry, "sft", "model.image_size=256", "training.max_length=16")
    line = assert_refused(result, registry, "IU_XRay_questions_train.json: sample ", "more than training.max_length 16")
    assert "raise training.max_length to at least" in line


def _plan(stage: str, *overrides: str, hardware=None):
    from rrg.plan import resolve_plan
    from rrg.recipe import Recipe

    recipe = Recipe.load(STAGE_RECIPES[stage], overrides=list(overrides))
    return resolve_plan(recipe, device=None if hardware else "cpu", hardware=hardware, count_parameters=False)


def test_the_plan_names_the_implementation_and_refuses_what_cannot_run(rrg_cache_env: Path) -> None:
    from rrg.hardware import Hardware
    from rrg.plan import PlanError

    plan = _plan("zero_shot", "model.family=deepseek_ocr", "model.image_mode=tiled")
    assert plan.model.implementation.startswith("rrg native DeepSeek-OCR") and plan.model.image_mode == "tiled"
    assert _plan("zero_shot").model.implementation == "transformers Qwen2_5_VLForConditionalGeneration"
    with pytest.raises(PlanError, match="family qwen2_5_vl has no image modes"):
        _plan("zero_shot", "model.image_mode=base")
    with pytest.raises(PlanError, match="tiled is not supported in GRPO"):
        _plan("grpo", "model.family=deepseek_ocr", "model.image_mode=tiled")
    gpu = Hardware(cuda=True, gpu_count=1, gpu_name="H100", gpu_memory_gib=80.0, bf16=True, bitsandbytes=True, unsloth=True, cpu_count=16, system="Linux")
    with pytest.raises(PlanError, match="unsloth does not train the DeepSeek-OCR rrg runs"):
        _plan("sft", "model.family=deepseek_ocr", "hardware.accelerator=cuda", "hardware.backend=unsloth", hardware=gpu)
    assert _plan("sft", "model.family=deepseek_ocr", "hardware.accelerator=cuda", "hardware.backend=auto", hardware=gpu).backend == "transformers"


@pytest.mark.slow
def test_tiled_mode_trains_and_evaluates(rrg_cache_env: Path, registry, tmp_path: Path) -> None:
    from engine_helpers import load_recipe

    recipe = load_recipe("sft", registry, family=FAMILY, extra=("model.image_mode=tiled", "evaluation.before_training=false"))
    run = recipe.run(registry=registry, output_dir=tmp_path / "runs")
    assert run.status == "succeeded" and 0.0 <= run.metrics["green_flare"] <= 1.0
    assert registry.get_run(run.id).run.plan["model"]["image_mode"] == "tiled"
