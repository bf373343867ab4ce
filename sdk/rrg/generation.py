"""Batched greedy report generation with any model family.

Prompts are rendered with the family's chat template, left-padded into batches (so every prompt
ends where generation starts) and decoded greedily; only the generated continuation is returned.

With ``hardware.generation: vllm`` the same prompts go to vLLM instead (:class:`VllmGenerator`):
the base model in a ``vllm.LLM``, the adapter as a LoRA request, greedy sampling. vLLM is
imported only there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from rrg.models.base import VisionLanguageFamily


def generate_reports(
    model: Any,
    processor: Any,
    family: VisionLanguageFamily,
    samples: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    num_beams: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Generate one report per sample, in sample order.

    Each sample has ``"question"`` (str) and ``"images"`` (a list of PIL images). Decoding is
    greedy (``do_sample=False``; beam search when ``num_beams > 1``), in eval mode under
    ``torch.inference_mode``. Returns the decoded completions with special tokens skipped and
    surrounding whitespace stripped. ``progress`` is called with the number of samples finished
    after each batch.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    tokenizer = processor.tokenizer
    reports: list[str] = []
    try:
        with torch.inference_mode():
            for start in range(0, len(samples), batch_size):
                batch = samples[start : start + batch_size]
                prompts = [
                    family.prompt_text(processor, s["question"], len(s["images"])) for s in batch
                ]
                inputs = family.processor_inputs(
                    processor, prompts, [list(s["images"]) for s in batch]
                )
                inputs = inputs.to(device)
                output = model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=num_beams,
                    pad_token_id=tokenizer.pad_token_id,
                )
                completions = output[:, inputs["input_ids"].shape[1] :]
                texts = tokenizer.batch_decode(completions, skip_special_tokens=True)
                reports.extend(text.strip() for text in texts)
                if progress is not None:
                    progress(len(reports))
    finally:
        model.train(was_training)
    return reports


VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
"""The ``max_lora_rank`` values vLLM accepts; rrg asks for the smallest that holds the adapter."""


class VllmGenerator:
    """Greedy report generation with vLLM (``hardware.generation: vllm``).

    ``llm`` is a ``vllm.LLM`` holding the base model; ``lora_request`` a
    ``vllm.lora.request.LoRARequest`` naming the adapter every prompt is generated with (``None``:
    the model as loaded). Prompts are rendered by rrg's processor (the family's chat template), so
    both backends generate from the same text; vLLM's processor turns the images into its tokens.
    """

    def __init__(self, llm: Any, lora_request: Any = None) -> None:
        self.llm = llm
        self.lora_request = lora_request

    def generate(
        self, processor: Any, family: VisionLanguageFamily, samples: Sequence[dict[str, Any]], *, max_new_tokens: int
    ) -> list[str]:
        """One report per sample (``"question"``, ``"images"``), in sample order, stripped."""
        from vllm import SamplingParams

        params = SamplingParams(**vllm_sampling_settings(processor, family, max_new_tokens))
        outputs = self.llm.generate(
            vllm_prompts(processor, family, samples), params, lora_request=self.lora_request, use_tqdm=False
        )
        return [output.outputs[0].text.strip() for output in outputs]


def vllm_prompts(processor: Any, family: VisionLanguageFamily, samples: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """vLLM's prompt dicts: the rendered chat prompt (image placeholders included) and the images."""
    prompts = []
    for sample in samples:
        images = list(sample["images"])
        prompt: dict[str, Any] = {"prompt": family.prompt_text(processor, sample["question"], len(images))}
        if images:
            prompt["multi_modal_data"] = {"image": images}
        prompts.append(prompt)
    return prompts


def vllm_sampling_settings(processor: Any, family: VisionLanguageFamily, max_new_tokens: int) -> dict[str, Any]:
    """``SamplingParams`` of rrg's evaluation: greedy, ``max_new_tokens`` new tokens at most,
    stopping at the family's stop tokens, special tokens left out of the text."""
    return {
        "temperature": 0.0,
        "max_tokens": max_new_tokens,
        "stop_token_ids": family._stop_token_ids(processor.tokenizer),
        "skip_special_tokens": True,
    }


def vllm_engine_settings(
    model: str,
    *,
    revision: str | None,
    dtype: str,
    seed: int,
    batch_size: int,
    images_per_prompt: int,
    lora_rank: int | None = None,
    tower_lora: bool = False,
    quantization: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM`` for evaluating ``model`` (a folder or a Hub id).

    ``lora_rank`` turns LoRA on for one adapter of that rank (rounded up to a rank vLLM accepts);
    ``tower_lora`` lets it reach the vision tower and connector too (an adapter trained with
    ``adapter.vision``); ``quantization="bitsandbytes"`` quantises the base model to 4 bits as it
    loads (QLoRA runs). At most ``batch_size`` prompts run at once, each with at most
    ``images_per_prompt`` images.
    """
    settings: dict[str, Any] = {
        "model": model,
        "revision": revision,
        "dtype": dtype,
        "seed": seed,
        "max_num_seqs": batch_size,
        "limit_mm_per_prompt": {"image": max(images_per_prompt, 1)},
    }
    if quantization is not None:
        settings["quantization"] = quantization
    if lora_rank is not None:
        settings.update(
            enable_lora=True,
            max_loras=1,
            max_lora_rank=next((r for r in VLLM_LORA_RANKS if r >= lora_rank), lora_rank),
            enable_tower_connector_lora=tower_lora,
        )
    return settings
