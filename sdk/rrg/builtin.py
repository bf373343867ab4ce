"""The one index of what rrg ships: recipes (``recipes/``) and model card templates (``cards/``).

``rrg recipes ls``, ``rrg recipes cp``, ``Recipe.load("demo/sft")``, the card renderer and the
tests read only this index, so they agree on what ships. A built-in recipe's name is its path under
``recipes/`` without ``.yaml``.

The assets live at the top of the source tree; a wheel carries them under ``rrg/assets/``, which
is looked at first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rrg.paths import PACKAGE_DIR


def _asset_dir(name: str) -> Path:
    packaged = PACKAGE_DIR / "assets" / name
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent.parent / name


RECIPES_DIR = _asset_dir("recipes")
CARDS_DIR = _asset_dir("cards")


@dataclass(frozen=True)
class BuiltinRecipe:
    """A shipped recipe: its short name and its file under ``recipes/``."""

    name: str
    file: str
    summary: str

    @property
    def path(self) -> Path:
        return RECIPES_DIR / self.file


@dataclass(frozen=True)
class CardTemplate:
    """A shipped model card template under ``cards/``."""

    name: str
    file: str
    summary: str

    @property
    def path(self) -> Path:
        return CARDS_DIR / self.file


def _recipe(name: str, summary: str) -> BuiltinRecipe:
    return BuiltinRecipe(name=name, file=f"{name}.yaml", summary=summary)


BUILTIN_RECIPES: tuple[BuiltinRecipe, ...] = (
    _recipe("demo/base", "shared settings of the CPU demos (tiny Qwen2.5-VL, demo data); runs as a zero-shot evaluation"),
    _recipe("demo/zero-shot", "CPU demo: zero-shot evaluation of the tiny model"),
    _recipe("demo/sft", "CPU demo: LoRA SFT of the tiny model on the demo set"),
    _recipe("demo/grpo", "CPU demo: GRPO from the demo SFT adapter with clinical rewards"),
    _recipe("demo/multi-dataset", "CPU demo: LoRA SFT on two demo data sets at once (reports and labels)"),
    _recipe("demo/zero-shot-dataset-ref", "CPU demo: zero-shot evaluation reading the registered demo set (demo-iu-xray@latest)"),
    _recipe("paper/deepseek-ocr/zero-shot", "study: DeepSeek-OCR zero-shot"),
    _recipe("paper/deepseek-ocr/sft", "study: DeepSeek-OCR LoRA SFT"),
    _recipe("paper/qwen2.5-vl-7b/zero-shot", "study: Qwen2.5-VL-7B zero-shot"),
    _recipe("paper/qwen2.5-vl-7b/sft", "study: Qwen2.5-VL-7B LoRA SFT"),
    _recipe("paper/qwen3-vl-4b/zero-shot", "study: Qwen3-VL-4B zero-shot"),
    _recipe("paper/qwen3-vl-4b/sft", "study: Qwen3-VL-4B LoRA SFT"),
    _recipe("paper/qwen3-vl-4b/sft-registered", "study: Qwen3-VL-4B LoRA SFT on the registered dataset flare-iu-xray"),
    _recipe("paper/qwen3-vl-4b/grpo", "study: Qwen3-VL-4B GRPO from the SFT adapter"),
    _recipe("paper/medgemma-4b/zero-shot", "study: MedGemma-4B zero-shot"),
    _recipe("paper/medgemma-4b/sft", "study: MedGemma-4B QLoRA SFT"),
)

CARD_TEMPLATES: tuple[CardTemplate, ...] = (
    CardTemplate(
        name="adapter",
        file="adapter.md.j2",
        summary="model card of a trained LoRA adapter: Hub metadata, recipe, lineage, metrics, licence, how to load",
    ),
)


def builtin_recipe(name: str) -> BuiltinRecipe | None:
    """The shipped recipe called ``name`` (``demo/sft``; a trailing ``.yaml`` is accepted)."""
    name = name.removesuffix(".yaml")
    for recipe in BUILTIN_RECIPES:
        if recipe.name == name:
            return recipe
    return None


def card_template(name: str) -> CardTemplate | None:
    """The shipped card template called ``name``."""
    for template in CARD_TEMPLATES:
        if template.name == name:
            return template
    return None
