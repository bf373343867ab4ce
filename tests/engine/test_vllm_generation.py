"""``hardware.generation: vllm``: what can be checked without a GPU or the vllm package.

The plan refuses it where it cannot run (the CPU, vllm not installed, families vLLM does not run,
settings a LoRA request cannot carry) in one line, maps it onto TRL's vLLM integration for GRPO,
and records ``generation.backend``. The generation code is run against a stand-in ``vllm`` module
that records what it is handed: the prompts rrg renders, greedy sampling, the adapter as a LoRA
request, the engine settings; and a zero-shot run through the engine generates with it without
loading the transformers model.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner
from engine_helpers import DEMO, RECIPES, load_recipe
from rrg.cli import cli
from rrg.errors import MissingDependencyError, RrgError
from rrg.hardware import Hardware
from rrg.plan import PlanError, resolve_plan
from rrg.recipe import Recipe, RecipeError

GPU = Hardware(cuda=True, gpu_count=1, gpu_name="H100", gpu_memory_gib=80.0, bf16=True, bitsandbytes=True, unsloth=True, cpu_count=16, system="Linux", vllm=True)
QWEN3_GRPO = RECIPES / "paper" / "qwen3-vl-4b" / "grpo.yaml"
# The study's GRPO recipe on a (pretended) GPU with vLLM: fp32, since TRL checks bf16 against this
# machine's real hardware; no modules_to_save, which a vLLM LoRA request cannot carry.
ON_GPU = ("hardware.generation=vllm", "hardware.precision=fp32", "data.root=demo", "data.expect=null", "adapter.modules_to_save=[]")


def gpu_plan(recipe: Path, *overrides: str, hardware: Hardware = GPU):
    return resolve_plan(Recipe.load(recipe, overrides=list(overrides)), hardware=hardware, count_parameters=False)


def one_line(exc: RrgError) -> str:
    text = exc.format_message()
    assert "\n" not in text
    return text


# ---------------------------------------------------------------- the recipe and the plan


def test_generation_defaults_to_transformers_and_the_plan_records_it(rrg_cache_env: Path) -> None:
    plan = resolve_plan(Recipe.load(DEMO / "grpo.yaml"), count_parameters=False)
    assert plan.generation["backend"] == "transformers"
    assert not any(key.startswith(("use_vllm", "vllm_")) for key in plan.trainer)


def test_accelerator_cpu_with_vllm_is_a_recipe_error() -> None:
    with pytest.raises(RecipeError) as caught:
        Recipe.load(DEMO / "grpo.yaml", overrides=["hardware.generation=vllm"])
    assert "generation=vllm needs CUDA (accelerator is cpu)" in str(caught.value)


def test_vllm_on_the_cpu_is_refused_in_one_line(rrg_cache_env: Path) -> None:
    recipe = DEMO / "grpo.yaml"
    result = CliRunner().invoke(cli, ["plan", str(recipe), "--set", "hardware.accelerator=auto", "--set", "hardware.generation=vllm"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        (
            f"Error: {recipe}: hardware.generation: vllm needs a CUDA GPU; this run is on the CPU "
            "(hint: set hardware.generation: transformers, run it on a GPU machine, or pass --device cpu)"
        )
    ]


def test_device_cpu_falls_back_to_transformers_with_a_note(rrg_cache_env: Path) -> None:
    plan = resolve_plan(Recipe.load(QWEN3_GRPO, overrides=list(ON_GPU)), device="cpu", count_parameters=False)
    assert plan.generation["backend"] == "transformers"
    assert "--device cpu: generation vllm → transformers" in plan.notes
    assert "use_vllm" not in plan.trainer


def test_vllm_not_installed_names_the_extra(rrg_cache_env: Path) -> None:
    with pytest.raises(MissingDependencyError) as caught:
        gpu_plan(QWEN3_GRPO, *ON_GPU, "hardware.backend=auto", hardware=replace(GPU, vllm=False))
    assert one_line(caught.value) == (
        f"{QWEN3_GRPO}: hardware.generation: vllm needs the vllm package, which is not installed (hint: pip install 'rrg-sdk[vllm]')"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ("hardware.backend=auto", "model.family=deepseek_ocr", "model.id=deepseek-ai/DeepSeek-OCR"),
            "hardware.generation: vllm does not run the DeepSeek-OCR rrg loads (rrg's native implementation)",
        ),
        (
            ("hardware.backend=auto", "model.family=deepseek_ocr2", "model.id=deepseek-community/DeepSeek-OCR-2"),
            "hardware.generation: vllm does not run the DeepSeek-OCR-2 rrg loads",
        ),
        (
            ("hardware.backend=unsloth",),
            "hardware.generation: vllm runs with the transformers backend (Unsloth brings its own vLLM engine, which rrg does not drive)",
        ),
        (("hardware.backend=auto", "evaluation.num_beams=3"), "evaluation.num_beams: 3: with hardware.generation: vllm rrg generates greedily"),
        (
            ("hardware.backend=auto", "adapter.modules_to_save=[lm_head]"),
            "adapter.modules_to_save: vLLM loads a LoRA adapter only without modules_to_save (lm_head)",
        ),
        (
            ("hardware.backend=auto", "model.image_size=448"),
            "model.image_size: 448: rrg sets it on its own processor, and vLLM runs the checkpoint's",
        ),
    ],
    ids=["deepseek-ocr-native", "deepseek-ocr-2", "unsloth", "beam-search", "modules-to-save", "image-size"],
)
def test_what_vllm_cannot_run_is_refused_in_one_line(overrides: tuple[str, ...], message: str, rrg_cache_env: Path) -> None:
    with pytest.raises(PlanError) as caught:
        gpu_plan(QWEN3_GRPO, *ON_GPU, *overrides)
    line = one_line(caught.value)
    assert line.startswith(f"{QWEN3_GRPO}: {message} (hint: ")
    assert "hardware.generation: transformers" in line


def test_8_bit_qlora_is_refused_and_4_bit_is_taken(rrg_cache_env: Path) -> None:
    qlora = (*ON_GPU, "hardware.backend=auto", "adapter.kind=qlora")
    with pytest.raises(PlanError) as caught:
        gpu_plan(QWEN3_GRPO, *qlora, "adapter.bits=8")
    assert one_line(caught.value).startswith(f"{QWEN3_GRPO}: adapter.bits: 8: vLLM does not run 8-bit bitsandbytes base weights (hint: ")
    plan = gpu_plan(QWEN3_GRPO, *qlora, "adapter.bits=4")
    assert (plan.adapter.kind, plan.adapter.bits, plan.generation["backend"]) == ("qlora", 4, "vllm")


def test_backend_auto_picks_transformers_for_vllm(rrg_cache_env: Path) -> None:
    # the study's recipe asks for Unsloth; with vLLM generation auto resolves to transformers + PEFT
    plan = gpu_plan(QWEN3_GRPO, *ON_GPU, "hardware.backend=auto")
    assert (plan.backend, plan.generation["backend"]) == ("transformers", "vllm")
    assert any(note.startswith("backend auto → transformers + PEFT: hardware.generation vllm") for note in plan.notes)


def test_grpo_generates_through_trls_vllm_integration(rrg_cache_env: Path, tmp_path: Path) -> None:
    plan = gpu_plan(QWEN3_GRPO, *ON_GPU, "hardware.backend=auto", "training.max_length=1536")
    assert {k: v for k, v in plan.trainer.items() if k.startswith(("use_vllm", "vllm_"))} == {
        "use_vllm": True,
        "vllm_mode": "colocate",
        "vllm_max_model_length": 1536,
    }
    config = plan.trl_config(tmp_path)  # TRL's own GRPOConfig takes them
    assert (config.use_vllm, config.vllm_mode, config.vllm_max_model_length) == (True, "colocate", 1536)
    assert config.num_generations == 2 and config.loss_type == "dr_grpo"


def test_sft_and_zero_shot_keep_trls_generation_settings_alone(rrg_cache_env: Path) -> None:
    sft = gpu_plan(RECIPES / "paper" / "qwen3-vl-4b" / "sft.yaml", *ON_GPU, "hardware.backend=auto")
    assert sft.generation["backend"] == "vllm" and not any(k.startswith(("use_vllm", "vllm_")) for k in sft.trainer)
    zero_shot = gpu_plan(RECIPES / "paper" / "qwen3-vl-4b" / "zero-shot.yaml", "hardware.generation=vllm", "hardware.backend=auto", "data.root=demo", "data.expect=null")
    assert zero_shot.generation["backend"] == "vllm" and zero_shot.trainer is None


# ---------------------------------------------------------------- generation, with a stand-in vllm


class FakeLLM:
    """Records what ``vllm.LLM`` is built with and asked; answers ``report <n>`` per prompt."""

    instances: ClassVar[list[FakeLLM]] = []

    def __init__(self, **settings):
        self.settings = settings
        self.calls: list[tuple[list, object, object]] = []
        FakeLLM.instances.append(self)

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        self.calls.append((prompts, params, lora_request))
        done = sum(len(p) for p, _, _ in self.calls[:-1])
        return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f" report {done + i} ")]) for i in range(len(prompts))]


class FakeSamplingParams:
    def __init__(self, **settings):
        self.settings = settings


class FakeLoRARequest:
    def __init__(self, name, lora_id, path):
        self.name, self.lora_id, self.path = name, lora_id, path


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> type[FakeLLM]:
    """A ``vllm`` module standing in for the real one (and a CUDA with 60 of 80 GiB free)."""
    import torch

    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = FakeSamplingParams
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = FakeLoRARequest
    for name, value in {"vllm": module, "vllm.lora": lora, "vllm.lora.request": request}.items():
        value.__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, value)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *args: (60 * 2**30, 80 * 2**30))
    FakeLLM.instances = []
    return FakeLLM


def test_engine_settings_size_lora_and_quantisation() -> None:
    from rrg.generation import vllm_engine_settings

    base = vllm_engine_settings("Qwen/Qwen3-VL-4B-Instruct", revision="abc", dtype="bfloat16", seed=3, batch_size=8, images_per_prompt=2)
    assert base == {
        "model": "Qwen/Qwen3-VL-4B-Instruct",
        "revision": "abc",
        "dtype": "bfloat16",
        "seed": 3,
        "max_num_seqs": 8,
        "limit_mm_per_prompt": {"image": 2},
    }
    lora = vllm_engine_settings("m", revision=None, dtype="bfloat16", seed=3, batch_size=8, images_per_prompt=0, lora_rank=12, tower_lora=True, quantization="bitsandbytes")
    assert lora["limit_mm_per_prompt"] == {"image": 1}
    assert (lora["enable_lora"], lora["max_loras"], lora["max_lora_rank"], lora["enable_tower_connector_lora"]) == (True, 1, 16, True)
    assert lora["quantization"] == "bitsandbytes"
    assert vllm_engine_settings("m", revision=None, dtype="float16", seed=0, batch_size=1, images_per_prompt=1, lora_rank=64)["max_lora_rank"] == 64


def test_the_generator_sends_rrgs_prompts_greedily_with_the_adapter(rrg_cache_env: Path, fake_vllm: type[FakeLLM]) -> None:
    from PIL import Image
    from rrg.generation import VllmGenerator
    from rrg.models import get_family

    family = get_family("qwen2_5_vl")
    processor = family.load_processor("tiny")
    image = Image.new("RGB", (56, 56))
    samples = [{"question": "Describe the findings.", "images": [image, image]}, {"question": "Any effusion?", "images": []}]
    adapter = FakeLoRARequest("adapter", 1, "/runs/x/checkpoint-4")
    generator = VllmGenerator(FakeLLM(), adapter)
    assert generator.generate(processor, family, samples, max_new_tokens=32) == ["report 0", "report 1"]
    [(prompts, params, lora_request)] = generator.llm.calls
    assert prompts[0] == {"prompt": family.prompt_text(processor, "Describe the findings.", 2), "multi_modal_data": {"image": [image, image]}}
    assert prompts[1] == {"prompt": family.prompt_text(processor, "Any effusion?", 0)}
    assert prompts[0]["prompt"].count("<|image_pad|>") == 2
    stops = [processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    assert params.settings == {"temperature": 0.0, "max_tokens": 32, "stop_token_ids": stops, "skip_special_tokens": True}
    assert lora_request is adapter


def write_adapter(folder: Path, **config) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 16, "target_modules": "model\\.language_model.*", "modules_to_save": None, **config}))
    return folder


def test_vllm_generator_loads_the_base_with_the_adapter_as_a_lora_request(rrg_cache_env: Path, fake_vllm: type[FakeLLM], tmp_path: Path) -> None:
    from rrg.engine import prepare_run
    from rrg.evaluation import vllm_generator
    from rrg.models import get_family
    from rrg_registry import Registry

    with Registry.from_url(f"sqlite:///{tmp_path / 'rrg.db'}") as registry:
        prepared = prepare_run(load_recipe("sft", registry), registry=registry, device="cpu")
    plan = prepared.plan.model_copy(update={"generation": {**prepared.plan.generation, "backend": "vllm"}})
    adapter = write_adapter(tmp_path / "checkpoint-4", r=12)
    generator = vllm_generator(plan, get_family("qwen2_5_vl"), prepared.evaluation.dataset, weights=adapter)
    [llm] = fake_vllm.instances
    assert llm.settings["model"] == plan.model.source and llm.settings["dtype"] == "float32"
    assert (llm.settings["enable_lora"], llm.settings["max_lora_rank"], llm.settings["enable_tower_connector_lora"]) == (True, 16, False)
    assert llm.settings["gpu_memory_utilization"] == 0.675  # 0.9 of the 60 GiB free of 80
    assert llm.settings["max_num_seqs"] == plan.generation["batch_size"]
    assert (generator.lora_request.lora_id, generator.lora_request.path) == (1, str(adapter))


def test_an_adapter_with_modules_to_save_is_refused_before_vllm_starts(rrg_cache_env: Path, fake_vllm: type[FakeLLM], tmp_path: Path) -> None:
    from rrg.engine import prepare_run
    from rrg.evaluation import vllm_generator
    from rrg.models import get_family
    from rrg_registry import Registry

    with Registry.from_url(f"sqlite:///{tmp_path / 'rrg.db'}") as registry:
        prepared = prepare_run(load_recipe("zero_shot", registry), registry=registry, device="cpu")
    adapter = write_adapter(tmp_path / "hub-adapter", modules_to_save=["lm_head", "embed_tokens"])
    with pytest.raises(RrgError) as caught:
        vllm_generator(prepared.plan, get_family("qwen2_5_vl"), prepared.evaluation.dataset, weights=adapter)
    assert one_line(caught.value) == (
        f"adapter {adapter}: vLLM loads a LoRA adapter only without modules_to_save (lm_head, embed_tokens) "
        "(hint: evaluate it with hardware.generation: transformers)"
    )
    assert fake_vllm.instances == []


def test_a_zero_shot_run_evaluates_with_vllm_without_loading_the_transformers_model(
    rrg_cache_env: Path, fake_vllm: type[FakeLLM], registry: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import rrg.engine
    from rrg.models.base import VisionLanguageFamily

    resolve = rrg.engine.resolve_plan

    def with_vllm(recipe, **kwargs):  # the plan a GPU machine with vllm would resolve
        plan = resolve(recipe, **kwargs)
        return plan.model_copy(update={"generation": {**plan.generation, "backend": "vllm"}})

    def refuse(*args, **kwargs):
        raise AssertionError("the transformers model was loaded")

    monkeypatch.setattr(rrg.engine, "resolve_plan", with_vllm)
    monkeypatch.setattr(VisionLanguageFamily, "load", refuse)
    run = load_recipe("zero_shot", registry).run(registry=registry, output_dir=tmp_path / "runs")
    assert run.status == "succeeded", run.error
    [llm] = fake_vllm.instances
    assert "enable_lora" not in llm.settings and llm.settings["model"].endswith("qwen2_5_vl-v1")
    predictions = sorted(p.prediction for p in run.predictions())
    assert predictions == sorted(f"report {i}" for i in range(len(predictions))) and len(predictions) == 4
    assert all(lora is None for _, _, lora in llm.calls)
    assert run.plan["generation"]["backend"] == "vllm"
