"""Model families: which vision-language architectures rrg can train, and their tiny CPU twins.

This index is light: it maps family names to the classes that implement them and imports a
family's module only when asked for it (the modules themselves import torch and transformers only
inside methods).

>>> from rrg.models import FAMILY_NAMES, get_family
>>> get_family("qwen2_5_vl").display_name
'Qwen2.5-VL'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rrg.errors import RrgError

if TYPE_CHECKING:  # pragma: no cover
    from rrg.models.base import VisionLanguageFamily

FAMILIES: dict[str, str] = {
    "deepseek_ocr": "rrg.models.deepseek_ocr:DeepseekOcrFamily",
    "deepseek_ocr2": "rrg.models.deepseek_ocr:DeepseekOcr2Family",
    "qwen2_5_vl": "rrg.models.qwen2_5_vl:Qwen25VLFamily",
    "qwen3_vl": "rrg.models.qwen3_vl:Qwen3VLFamily",
    "medgemma": "rrg.models.medgemma:MedGemmaFamily",
}
"""Family name → ``"module:Class"`` of its implementation."""

FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)
"""Every family name a recipe may use in ``model.family``."""

__all__ = ["FAMILIES", "FAMILY_NAMES", "get_family"]


def get_family(name: str) -> VisionLanguageFamily:
    """The family called ``name``; an :class:`RrgError` listing the valid names otherwise."""
    target = FAMILIES.get(name)
    if target is None:
        raise RrgError(
            f"unknown model family {name!r}",
            hint="use one of " + ", ".join(FAMILY_NAMES),
        )
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)()
