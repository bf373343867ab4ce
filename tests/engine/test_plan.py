"""``rrg plan``: every shipped recipe resolves without loading weights; GPU recipes stop with one
line on this CPU machine and resolve with ``--device cpu``; TRL's own validation surfaces at plan
time; the demo SFT plan matches a golden file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import DEMO, RECIPES
from rrg.cli import cli
from rrg.recipe import Recipe

DEMO_RECIPES = sorted(DEMO.glob("*.yaml"))
PAPER_RECIPES = sorted((RECIPES / "paper").glob("*/*.yaml"))
GOLDEN = Path(__file__).parent / "golden" / "plan-demo-sft.json"
REGENERATE = "RRG_REGENERATE_GOLDEN=1 python -m pytest tests/engine/test_plan.py -k golden"

# The paper recipes with the tiny twin of their family and the demo data: nothing to download.
# DeepSeek-OCR pins the revision of its weights; the tiny twin has none. The recipes expect the
# benchmark's 1,945 validation questions (data.expect), and MedGemma's SFT trains on the 19 FLARE
# data sets: on the demo data, no expectation and the demo's own data sets (data.train=all).
TINY = ("--set", "model.id=tiny", "--set", "data.root=demo", "--set", "data.expect=null")
TINY_DEEPSEEK = (*TINY, "--set", "model.revision=null")
TINY_MEDGEMMA_SFT = (*TINY, "--set", "data.train=all")
GPU_REQUESTS = {
    "--device cpu: hardware.accelerator h100 ignored",
    "--device cpu: precision bf16 → fp32",
    "--device cpu: backend unsloth → transformers + PEFT",
}


@pytest.fixture
def no_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything loads model weights or a processor."""
    import peft  # noqa: F401 - imported before the patch, so it keeps the real load_file it binds at import
    from rrg.models.base import VisionLanguageFamily

    def refuse(*args, **kwargs):
        raise AssertionError("a plan loaded weights")

    for name in ("load", "_load_model", "_load_processor", "load_adapter"):
        monkeypatch.setattr(VisionLanguageFamily, name, refuse)
    monkeypatch.setattr("safetensors.torch.load_file", refuse)


def plan(*args: str) -> tuple[int, str]:
    """Exit code and stdout of ``rrg plan`` (stderr may carry a tiny twin's first build)."""
    result = CliRunner().invoke(cli, ["plan", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def tiny_args(recipe: Path) -> tuple[str, ...]:
    if "medgemma" in recipe.parent.name and recipe.name == "sft.yaml":
        return TINY_MEDGEMMA_SFT
    args = TINY_DEEPSEEK if "deepseek" in recipe.parent.name else TINY
    if "@" in Recipe.load(recipe).spec.data.dataset:  # a registered dataset brings its root: the demo's, here
        args = tuple("data.dataset=demo-iu-xray@latest" if a == "data.root=demo" else a for a in args)
    return args


@pytest.mark.parametrize("recipe", DEMO_RECIPES, ids=lambda p: f"demo/{p.name}")
def test_demo_recipes_plan_on_the_cpu(recipe: Path, rrg_cache_env: Path, no_weights: None) -> None:
    code, output = plan(str(recipe), "--json")
    assert code == 0, output
    resolved = json.loads(output)
    assert (resolved["device"], resolved["backend"], resolved["precision"]) == ("cpu", "transformers", "fp32")
    assert resolved["notes"] == [] and resolved["parameters"]["total"] > 0
    # the demos score the same 200 validation questions; the multi-dataset demo, a quick 16
    assert resolved["data"]["eval_size"] == (16 if recipe.name == "multi-dataset.yaml" else 200)


@pytest.mark.parametrize("recipe", PAPER_RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_paper_recipes_stop_on_the_cpu_with_one_line(recipe: Path, rrg_cache_env: Path, no_weights: None) -> None:
    code, output = plan(str(recipe))
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == (
        f"Error: {recipe}: hardware.accelerator: h100 needs a CUDA GPU and this machine has none "
        "(hint: run it on a GPU machine, or pass --device cpu to run on the CPU (tiny models only))"
    )


@pytest.mark.parametrize("recipe", PAPER_RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_paper_recipes_resolve_with_device_cpu(recipe: Path, rrg_cache_env: Path, no_weights: None) -> None:
    code, output = plan(str(recipe), "--device", "cpu", "--json", *tiny_args(recipe))
    assert code == 0, output
    resolved = json.loads(output)
    assert (resolved["device"], resolved["backend"], resolved["precision"], resolved["dtype"]) == (
        "cpu", "transformers", "fp32", "float32",
    )
    notes = set(resolved["notes"])
    # DeepSeek-OCR asks for backend auto: Unsloth trains it only through its remote code
    unsloth = "--device cpu: backend unsloth → transformers + PEFT"
    assert (GPU_REQUESTS - {unsloth} if "deepseek" in recipe.parent.name else GPU_REQUESTS) <= notes
    assert (unsloth in notes) == ("deepseek" not in recipe.parent.name)
    trains = resolved["stage"] != "zero_shot"
    assert ("--device cpu: optimizer adamw_8bit → adamw_torch" in notes) == trains
    assert resolved["optimizer"] == ("adamw_torch" if trains else None)
    if trains:
        trainer = resolved["trainer"]
        assert trainer["use_cpu"] and not trainer["bf16"] and trainer["optim"] == "adamw_torch"
        assert resolved["adapter"]["kind"] == "lora" and resolved["adapter"]["bits"] is None
    if "medgemma" in recipe.parent.name and trains:
        assert "--device cpu: qlora (4-bit) → lora on an unquantised fp32 base" in notes
    assert resolved["parameters"]["total"] > 0 and resolved["memory"]["total_gib"] > 0


@pytest.mark.parametrize("recipe", PAPER_RECIPES[:2], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_paper_recipes_plan_offline_without_their_weights(recipe: Path, rrg_cache_env: Path, no_weights: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the real Hub ids, with an empty Hugging Face cache and the Hub cut off: the plan still
    # resolves, saying it could not count parameters rather than downloading a config
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    code, output = plan(str(recipe), "--device", "cpu", "--json", "--set", "data.root=demo", "--set", "data.expect=null")
    assert code == 0, output
    resolved = json.loads(output)
    assert resolved["model"]["source"] == resolved["model"]["id"] != "tiny"
    assert resolved["parameters"]["total"] is None and "not available offline" in resolved["parameters"]["note"]
    assert resolved["memory"] is None


def test_a_missing_paper_data_root_is_one_line(rrg_cache_env: Path, no_weights: None) -> None:
    recipe = RECIPES / "paper" / "qwen3-vl-4b" / "sft.yaml"
    code, output = plan(str(recipe), "--device", "cpu", "--set", "model.id=tiny")
    assert code == 2
    expected = (
        f"Error: {recipe}: data.root: folder data/organized_dataset does not exist "
        "(hint: set data.root to a FLARE organized_dataset folder, or to 'demo' for the bundled demo set)"
    )
    assert output.strip().splitlines() == [expected]


@pytest.mark.parametrize(
    ("overrides", "message", "hint"),
    [
        (
            ["training.per_device_batch_size=3"],
            (
                "TRL rejects the grpo settings: generation_batch_size (3) must be divisible by num_generations (2). "
                "(recipe keys: training.per_device_batch_size, training.gradient_accumulation_steps, grpo.num_generations)"
            ),
            "change training.per_device_batch_size or training.gradient_accumulation_steps or grpo.num_generations",
        ),
        (
            ["grpo.num_generations=3", "training.per_device_batch_size=4"],
            "TRL rejects the grpo settings: generation_batch_size (4) must be divisible by num_generations (3).",
            None,
        ),
    ],
    ids=["batch-not-divisible", "generations-not-dividing"],
)
def test_trl_validation_surfaces_at_plan_time(overrides: list[str], message: str, hint: str | None, rrg_cache_env: Path, no_weights: None) -> None:
    args = [arg for o in overrides for arg in ("--set", o)]
    code, output = plan(str(DEMO / "grpo.yaml"), *args)
    assert code == 2
    lines = [line for line in output.strip().splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and output.strip().splitlines()[-1] == lines[0]
    assert lines[0].startswith(f"Error: {DEMO / 'grpo.yaml'}: {message}")
    assert "grpo.num_generations" in lines[0] and "training.per_device_batch_size" in lines[0]
    if hint is not None:
        assert lines[0].endswith(f"(hint: {hint})")


def normalised_plan(demo_cache: Path) -> dict:
    """The demo SFT plan with the machine's own facts (the hardware, where the cache lives)
    replaced by placeholders."""
    from rrg.plan import resolve_plan
    from rrg.recipe import Recipe

    resolved = json.loads(resolve_plan(Recipe.load(DEMO / "sft.yaml")).to_json())
    resolved["hardware"] = "<hardware>"
    cache = str(demo_cache)
    resolved["model"]["source"] = resolved["model"]["source"].replace(cache, "<cache>")
    resolved["data"]["root"] = resolved["data"]["root"].replace(cache, "<cache>")
    return resolved


def test_demo_sft_plan_matches_golden(rrg_cache_env: Path, no_weights: None) -> None:
    actual = normalised_plan(rrg_cache_env)
    assert actual["model"]["source"].startswith("<cache>/tiny/") and actual["data"]["root"].startswith("<cache>/demo/")
    text = json.dumps(actual, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("RRG_REGENERATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    assert text == expected, (
        f"the plan of recipes/demo/sft.yaml differs from {GOLDEN.relative_to(Path.cwd()) if GOLDEN.is_relative_to(Path.cwd()) else GOLDEN}.\n"
        f"If the change is intended, regenerate it with:\n    {REGENERATE}\nand review the diff."
    )


def test_a_local_model_folder_is_not_taken_for_a_hub_id(rrg_cache_env: Path, no_weights: None) -> None:
    from rrg.models import get_family

    folder = get_family("qwen2_5_vl").tiny_path()
    code, output = plan(str(DEMO / "sft.yaml"), "--json", "--set", f"model.id={folder}")
    assert code == 0, output
    resolved = json.loads(output)
    assert resolved["model"]["source"] == str(folder) and resolved["notes"] == []


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_a_model_folder_without_a_model_is_one_line(kind: str, rrg_cache_env: Path, no_weights: None, tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    if kind == "empty":
        folder.mkdir()
    code, output = plan(str(DEMO / "sft.yaml"), "--set", f"model.id={folder}")
    assert code == 2
    problem = "does not exist" if kind == "missing" else "holds no model (no config.json)"
    assert output.strip().splitlines() == [f"Error: {DEMO / 'sft.yaml'}: model.id: folder {folder} {problem} (hint: {'check the path, or give a Hub id such as Qwen/Qwen3-VL-4B-Instruct' if kind == 'missing' else 'point model.id at a folder written by save_pretrained, or give a Hub id'})"]
