"""Every recipe that ships validates, and the built-in index matches the files on disk."""

from __future__ import annotations

import pytest

from rrg.builtin import BUILTIN_RECIPES, CARD_TEMPLATES, RECIPES_DIR, builtin_recipe
from rrg.recipe import Recipe

SHIPPED_FILES = sorted(RECIPES_DIR.rglob("*.yaml"))


def test_index_lists_exactly_the_files_under_recipes():
    indexed = sorted(r.path for r in BUILTIN_RECIPES)
    assert indexed == SHIPPED_FILES
    assert len({r.name for r in BUILTIN_RECIPES}) == len(BUILTIN_RECIPES)


def test_card_templates_in_the_index_exist():
    for template in CARD_TEMPLATES:
        assert template.path.is_file(), template


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=[str(p.relative_to(RECIPES_DIR)) for p in SHIPPED_FILES])
def test_shipped_recipe_validates(path):
    recipe = Recipe.load(path)
    assert recipe.spec.schema_version == 1
    assert len(recipe.hash) == 64


def test_shipped_recipes_have_distinct_identities():
    recipes = [Recipe.load(r.path) for r in BUILTIN_RECIPES]
    assert len({r.ref for r in recipes}) == len(recipes)
    assert len({r.hash for r in recipes}) == len(recipes)


def test_builtin_names_load_like_paths():
    assert Recipe.load("demo/sft") == Recipe.load(RECIPES_DIR / "demo" / "sft.yaml")
    assert builtin_recipe("demo/sft.yaml") == builtin_recipe("demo/sft")
    assert builtin_recipe("demo/nothing") is None


def test_grpo_recipes_start_from_a_shipped_sft_recipe():
    refs = {Recipe.load(r.path).ref: Recipe.load(r.path) for r in BUILTIN_RECIPES}
    for recipe in refs.values():
        if recipe.stage == "grpo":
            parent = refs[recipe.spec.stage.init_from]
            assert parent.stage == "sft"
            assert parent.spec.model == recipe.spec.model
            assert parent.spec.adapter == recipe.spec.adapter


def test_demo_recipes_run_on_cpu_with_the_tiny_model_and_demo_data():
    for name in ("demo/base", "demo/zero-shot", "demo/sft", "demo/grpo", "demo/multi-dataset"):
        spec = Recipe.load(name).spec
        assert (spec.model.id, spec.data.root, spec.hardware.accelerator, spec.hardware.precision) == ("tiny", "demo", "cpu", "fp32")
        assert spec.evaluation.max_new_tokens <= 64
    sft = Recipe.load("demo/sft").spec
    assert 0 < sft.training.max_steps <= 1500 and sft.training.early_stopping_patience is not None
    assert sft.evaluation.before_training
    assert Recipe.load("demo/grpo").spec.stage.init_from == "demo-sft@2"


def test_paper_recipes_carry_the_study_settings():
    deepseek = Recipe.load("paper/deepseek-ocr/sft").spec
    # rrg's native DeepSeek-OCR on the pinned weights, Base mode; no remote code, no Unsloth
    assert not deepseek.model.trust_remote_code and len(deepseek.model.revision) == 40
    assert (deepseek.model.image_mode, deepseek.model.image_size, deepseek.version) == ("base", 1024, 3)
    assert (deepseek.adapter.r, deepseek.adapter.alpha, deepseek.adapter.dropout) == (16, 32, 0.05)
    for name in ("paper/qwen2.5-vl-7b/sft", "paper/qwen3-vl-4b/sft"):
        spec = Recipe.load(name).spec
        assert (spec.adapter.kind, spec.adapter.r, spec.adapter.alpha, spec.adapter.dropout) == ("lora", 16, 16, 0)
        assert spec.adapter.target_modules == "all-linear" and spec.adapter.vision
        assert spec.adapter.modules_to_save == ["lm_head", "embed_tokens"]
    medgemma = Recipe.load("paper/medgemma-4b/sft").spec
    assert (medgemma.adapter.kind, medgemma.adapter.bits) == ("qlora", 4)
    assert medgemma.training.gradient_checkpointing
    for model in ("deepseek-ocr", "qwen2.5-vl-7b", "qwen3-vl-4b", "medgemma-4b"):
        sft = Recipe.load(f"paper/{model}/sft").spec
        t = sft.training
        assert t.per_device_batch_size == 1 and 4 <= t.gradient_accumulation_steps <= 8
        assert 1e-4 <= t.learning_rate <= 2e-4 and t.warmup_steps == 5 and t.lr_scheduler == "linear"
        assert (t.optimizer, t.early_stopping_patience, sft.hardware.precision) == ("adamw_8bit", 3, "bf16")
        backend = "auto" if model == "deepseek-ocr" else "unsloth"
        assert (sft.hardware.accelerator, sft.hardware.backend) == ("h100", backend)
        zero_shot = Recipe.load(f"paper/{model}/zero-shot").spec
        assert zero_shot.evaluation.truncate_chars == 500 and zero_shot.evaluation.num_beams == 1
    grpo = Recipe.load("paper/qwen3-vl-4b/grpo").spec
    assert (grpo.training.learning_rate, grpo.training.per_device_batch_size, grpo.training.gradient_accumulation_steps) == (5e-6, 1, 8)
    assert (grpo.training.max_steps, grpo.training.save_steps, grpo.training.early_stopping_patience) == (300, 100, None)
    assert (grpo.grpo.num_generations, grpo.grpo.loss_type, grpo.grpo.importance_sampling_level) == (2, "dr_grpo", "sequence")
    assert (grpo.reward.clinical, grpo.reward.format, grpo.reward.rouge) == (0.7, 0.2, 0.1)
    assert (grpo.reward.clinical_scorer, grpo.reward.clip) == ("radgraph_f1", (-2.0, 2.0))
    assert grpo.stage.init_from == "qwen3-vl-4b-sft@2"
