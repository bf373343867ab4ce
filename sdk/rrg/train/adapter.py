"""The recipe's adapter as PEFT's own ``LoraConfig`` and bitsandbytes' ``BitsAndBytesConfig``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from rrg.plan import Plan


def lora_config(plan: Plan) -> Any:
    """PEFT ``LoraConfig`` for the plan's adapter (PEFT validates the combination itself)."""
    from peft import LoraConfig

    adapter = plan.adapter
    if adapter is None:
        raise ValueError("the plan trains no adapter")
    return LoraConfig(
        r=adapter.r,
        lora_alpha=adapter.alpha,
        lora_dropout=adapter.dropout,
        target_modules=adapter.target_modules,
        modules_to_save=adapter.modules_to_save or None,
        bias="none",
        task_type="CAUSAL_LM",
    )


def quantization_config(plan: Plan) -> Any:
    """``BitsAndBytesConfig`` for a QLoRA plan, ``None`` otherwise (the plan has checked CUDA)."""
    adapter = plan.adapter
    if adapter is None or adapter.kind != "qlora" or not adapter.bits:
        return None
    import torch
    from transformers import BitsAndBytesConfig

    compute = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(plan.precision, torch.float32)
    if adapter.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=adapter.quant_type or "nf4",
        bnb_4bit_use_double_quant=bool(adapter.double_quant),
        bnb_4bit_compute_dtype=compute,
    )
