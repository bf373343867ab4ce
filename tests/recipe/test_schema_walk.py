"""No recipe field is accepted and ignored.

The test walks the whole recipe schema (every leaf of every section, the variants of the
discriminated sections included) from each stage's demo recipe. For each leaf it writes another
valid value and resolves the recipe again. Each change must either

* change what the run does: the resolved plan (which carries the TRL config's keyword arguments,
  the data, the scorer and reward settings, generation, hardware, logging and publishing), or the
  TRL config object TRL builds from it; or
* be refused at load or plan time, one line per problem, naming the key or its section.

Only fields whose effect lies outside a plan by design are listed in ``RECORDED_ONLY``, each with
where it takes effect (and the test that proves it).
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from rrg.errors import RrgError
from rrg.recipe import Recipe
from rrg.recipe.errors import RecipeError
from rrg.recipe.schema import SECTION_MODELS, RecipeSpec

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recipes" / "demo"
STAGE_RECIPES = {"zero_shot": DEMO / "zero-shot.yaml", "sft": DEMO / "sft.yaml", "grpo": DEMO / "grpo.yaml"}

RECORDED_ONLY: dict[str, str] = {
    "description": "recorded with the recipe version and written into the model card (tests/hub)",
    "tags": "recorded as the run's tags, which `rrg runs list --tag` and `rrg table --tag` filter on (tests/registry)",
    "extends": "consumed at load time: the base recipe is merged in (tests/recipe/test_extends*)",
    "schema": "the recipe format version; version 1 is the only one this rrg reads",
}
"""Top-level fields that take effect outside the plan."""

SPECIAL_VALUES: dict[str, list[Any]] = {
    "model.id": ["Qwen/Qwen2.5-VL-7B-Instruct"],
    "model.revision": ["0123456789abcdef0123456789abcdef01234567"],
    "model.adapter": ["hub:org/adapter", "run:abcd1234"],
    "model.family": ["qwen3_vl", "deepseek_ocr"],
    "adapter.target_modules": ["all-linear", ["q_proj", "v_proj"]],
    "adapter.modules_to_save": [["lm_head"]],
    "data.root": ["/nonexistent/organized_dataset"],
    "data.category": ["CT"],
    "data.dataset": ["Other_Set"],
    "data.train_split": ["other-training"],
    "data.eval_split": ["other-validation"],
    "data.license": ["CC-BY-4.0"],
    "data.train": ["all"],
    "data.expect": [{"validation-public": 3}],
    "evaluation.metrics": [["green_flare"], ["bleu4", "rouge_l"]],
    "evaluation.split": ["training"],
    "reward.clip": [[-1.0, 1.0]],
    "stage.init_from": ["base", "demo-sft@9"],
    "publish.repo": ["org/other"],
    "publish.license": ["apache-2.0"],
    "logging.report_to": [["tensorboard"]],
    "logging.project": ["other-project"],
    "hardware.num_threads": [1],
    "hardware.gpus": [1],
}
"""Alternatives for leaves whose type alone does not give a meaningful valid value."""


def _literal_choices(annotation: Any) -> list[Any] | None:
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    return None


def _unwrap(annotation: Any) -> list[Any]:
    """The members of a union (``X | None``), annotations unwrapped."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        out = []
        for arg in typing.get_args(annotation):
            out += _unwrap(arg)
        return out
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def alternatives(key: str, annotation: Any, current: Any) -> list[Any]:
    """Other values a leaf may take (not all of them need be valid: invalid ones must be refused)."""
    if key in SPECIAL_VALUES:
        return [v for v in SPECIAL_VALUES[key] if v != current]
    values: list[Any] = []
    for member in _unwrap(annotation):
        choices = _literal_choices(member)
        if choices is not None:
            values += [c for c in choices if c != current]
        elif member is bool:
            values.append(not current)
        elif member is int:
            values.append((current or 0) + 1 if isinstance(current, int) and current >= 0 else 7)
        elif member is float:
            other = round((current or 0.0) * 0.5 + 0.05, 6)
            values.append(other if other != current else round((current or 0.0) + 0.25, 6))
        elif member is type(None):
            if current is not None:
                values.append(None)
    return values


def leaves(spec: RecipeSpec) -> list[tuple[str, Any, Any]]:
    """``(dotted key, annotation, current value)`` of every leaf of the recipe's schema, sections
    that are null included (their fields are offered too: setting one creates the section)."""
    out: list[tuple[str, Any, Any]] = []
    for name, field in RecipeSpec.model_fields.items():
        alias = field.alias or name
        if name in SECTION_MODELS:
            value = getattr(spec, name)
            models = SECTION_MODELS[name]
            model = type(value) if isinstance(value, BaseModel) else (models[0] if isinstance(models, tuple) else models)
            if isinstance(models, tuple) and value is None:
                model = models[0]
            for leaf, leaf_field in model.model_fields.items():
                current = getattr(value, leaf) if value is not None else leaf_field.get_default(call_default_factory=True)
                out.append((f"{alias}.{leaf}", leaf_field.annotation, current))
        else:
            out.append((alias, field.annotation, getattr(spec, name)))
    return out


def effect(recipe: Recipe) -> str:
    """Everything the run does, as resolved before any weights load: the plan and TRL's config."""
    plan = recipe.plan(device="cpu")
    data = plan.model_dump(mode="json", exclude={"recipe_hash"})
    if plan.trainer is not None:
        config = plan.trl_config("walk").to_dict()
        data["trl_config"] = {k: v for k, v in config.items() if k not in ("output_dir", "logging_dir")}
    return json.dumps(data, sort_keys=True, default=str)


@pytest.fixture
def rrg_cache_env(xdg_cache_home: Path, demo_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """rrg's cache holds the session's demo set (the plan counts its questions); work in tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg_cache_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return demo_cache


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value)}"


@pytest.mark.parametrize("stage", sorted(STAGE_RECIPES))
def test_every_field_takes_effect_or_is_refused(stage: str, rrg_cache_env: Path) -> None:
    base = Recipe.load(STAGE_RECIPES[stage])
    baseline = effect(base)
    ignored: list[str] = []
    tried = 0
    for key, annotation, current in leaves(base.spec):
        if key in RECORDED_ONLY:
            continue
        for value in alternatives(key, annotation, current):
            tried += 1
            try:
                changed = Recipe.load(STAGE_RECIPES[stage], overrides=[_override(key, value)])
                after = effect(changed)
            except (RecipeError, RrgError) as exc:
                lines = str(exc).strip().splitlines()
                section = key.split(".")[0]
                assert any(section in line for line in lines), f"{key}={value!r}: the refusal does not name {section}: {lines}"
                continue
            if after == baseline:
                ignored.append(f"{key}={value!r}")
    assert tried > 80
    assert not ignored, f"{stage}: accepted and ignored: {', '.join(ignored)}"


def test_the_walk_sees_every_section() -> None:
    spec = Recipe.load(STAGE_RECIPES["grpo"]).spec
    sections = {key.split(".")[0] for key, _, _ in leaves(spec)}
    assert set(SECTION_MODELS) <= sections
