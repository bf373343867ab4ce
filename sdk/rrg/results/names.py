"""How a model is named in tables, figures and reports.

Runs record a model family (``qwen3_vl``) and a model id (a Hub id, a local folder or ``tiny``).
People read the study's names: ``Qwen3-VL-4B``, not ``qwen3_vl``. Two models of one family (a 4B
and an 8B Qwen3-VL) get two names, so rows keyed by name do not collide.
"""

from __future__ import annotations

from pathlib import PurePath

FAMILY_NAMES: dict[str, str] = {
    "deepseek_ocr": "DeepSeek-OCR",
    "deepseek_ocr2": "DeepSeek-OCR-2",
    "qwen2_5_vl": "Qwen2.5-VL",
    "qwen3_vl": "Qwen3-VL",
    "medgemma": "MedGemma",
}
"""Display name of each model family (as ``rrg.models`` families call themselves)."""

STUDY_MODELS: dict[str, str] = {
    "deepseek-ai/DeepSeek-OCR": "DeepSeek-OCR",
    "Qwen/Qwen2.5-VL-7B-Instruct": "Qwen2.5-VL-7B",
    "Qwen/Qwen3-VL-4B-Instruct": "Qwen3-VL-4B",
    "google/medgemma-4b-it": "MedGemma-4B",
}
"""The study's four models by Hub id, with the names the paper gives them."""

STUDY_ORDER: tuple[str, ...] = ("DeepSeek-OCR", "Qwen2.5-VL-7B", "Qwen3-VL-4B", "MedGemma-4B")
"""The order the study lists its models in."""

STAGE_NAMES: dict[str, str] = {"zero_shot": "zero-shot", "sft": "SFT", "grpo": "GRPO"}
"""How the stages are named in the study's tables and figures."""


COMPONENT_LABELS: dict[str, str] = {
    "entity_matching": "Entity matching",
    "location_accuracy": "Location accuracy",
    "negation_handling": "Negation handling",
    "temporal_accuracy": "Temporal accuracy",
    "measurement_accuracy": "Measurement accuracy",
    "clinical_significance": "Clinical significance",
    "structure_completeness": "Structure completeness",
}
"""The seven green_flare components as the study's Table 2 names them, in its order."""


def family_name(family: str) -> str:
    """``qwen3_vl`` → ``Qwen3-VL``; an unknown family is shown as recorded."""
    return FAMILY_NAMES.get(family, family)


def model_name(family: str, model_id: str) -> str:
    """The name a person reads for a run's model.

    The study's Hub ids get the paper's names; ``tiny`` is the family's tiny twin
    (``Qwen3-VL (tiny)``); another Hub id keeps its repository name (``Qwen3-VL-8B-Instruct``);
    a local folder its last path component. Case and spelling of ids are kept.
    """
    if model_id in STUDY_MODELS:
        return STUDY_MODELS[model_id]
    if model_id == "tiny":
        return f"{family_name(family)} (tiny)"
    name = PurePath(model_id.rstrip("/")).name
    return name or family_name(family)


def stage_name(stage: str) -> str:
    """``zero_shot`` → ``zero-shot``, ``sft`` → ``SFT``, ``grpo`` → ``GRPO``."""
    return STAGE_NAMES.get(stage, stage)
