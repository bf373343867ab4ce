"""Unsloth (``FastVisionModel``) on CUDA: faster LoRA/QLoRA training of the study's VLMs.

Unsloth cannot run vision models on the CPU and pins older transformers/TRL releases, so it is an
optional extra (``pip install 'rrg-sdk[gpu]'``) and this module is the only place that imports
it. The plan chooses this backend only on a CUDA machine with Unsloth installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rrg.errors import MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from rrg.plan import Plan


def _fast_vision_model() -> Any:
    import torch

    if not torch.cuda.is_available():
        raise MissingDependencyError(
            "the unsloth backend needs a CUDA GPU and this machine has none",
            hint="set hardware.backend: transformers, or run on a GPU machine",
        )
    try:
        from unsloth import FastVisionModel
    except ImportError as exc:
        raise MissingDependencyError(f"the unsloth backend is not installed ({exc})", hint="pip install 'rrg-sdk[gpu]'") from None
    return FastVisionModel


def load_unsloth_model(plan: Plan) -> tuple[Any, Any]:
    """Load the base model (4-bit when the plan's adapter is QLoRA) and wrap it with LoRA."""
    import torch

    fast = _fast_vision_model()
    adapter = plan.adapter
    model, processor = fast.from_pretrained(
        plan.model.source,
        revision=plan.model.revision,
        load_in_4bit=bool(adapter and adapter.kind == "qlora" and adapter.bits == 4),
        load_in_8bit=bool(adapter and adapter.kind == "qlora" and adapter.bits == 8),
        dtype={"bf16": torch.bfloat16, "fp16": torch.float16}.get(plan.precision, torch.float32),
        use_gradient_checkpointing="unsloth" if (plan.trainer or {}).get("activation_checkpointing") else False,
        trust_remote_code=plan.model.trust_remote_code,
    )
    if adapter is not None:
        model = fast.get_peft_model(
            model,
            finetune_vision_layers=adapter.vision,
            finetune_language_layers=True,
            finetune_attention_modules=True,
            finetune_mlp_modules=True,
            r=adapter.r,
            lora_alpha=adapter.alpha,
            lora_dropout=adapter.dropout,
            bias="none",
            random_state=plan.seed,
            modules_to_save=adapter.modules_to_save or None,
        )
    return model, processor
