"""Batched greedy report generation with any model family.

Prompts are rendered with the family's chat template, left-padded into batches (so every prompt
ends where generation starts) and decoded greedily; only the generated continuation is returned.
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
