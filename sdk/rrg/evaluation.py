"""Evaluate a model on a FLARE split: batched greedy generation, then the report metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import datasets

    from rrg.generation import VllmGenerator
    from rrg.metrics.evaluation import Evaluation
    from rrg.models.base import VisionLanguageFamily
    from rrg.plan import Plan


IU_STUDY = re.compile(r"^(CXR\d+)_")
"""An IU_XRay image name: the study, then ``_`` and the view (``CXR1000_IM-0003-1001.png``, ``CXR12_frontal.png``)."""


def study_id(image_paths: Sequence[str]) -> str | None:
    """The imaging study a sample's images belong to, so the questions asked of one radiograph
    can be found together.

    IU_XRay names its images after the study (``CXR1000_IM-0003-1001.png`` in FLARE,
    ``CXR12_frontal.png`` in rrg's demo set): the part before the first ``_`` (``CXR1000``,
    ``CXR12``). Any other name: the first image's file name without its extension. No images: None.
    """
    if not image_paths:
        return None
    name = PurePath(image_paths[0]).name
    found = IU_STUDY.match(name)
    return found.group(1) if found else PurePath(name).stem


@dataclass(frozen=True)
class ModelEvaluation:
    """Generated reports for one split and their scores."""

    split: str
    sample_ids: list[str]
    questions: list[str]
    references: list[str]
    predictions: list[str]
    scores: Evaluation
    generation_seconds: float
    image_paths: list[list[str]] = field(default_factory=list)
    """Each sample's image paths as read (frontal view first); empty when not known."""

    @property
    def samples_per_second(self) -> float:
        return len(self.predictions) / self.generation_seconds if self.generation_seconds > 0 else float("inf")

    def prediction_rows(self) -> list[dict[str, Any]]:
        """One row per sample: id, question, prediction (as generated), reference, its scores, its
        image paths and the study they belong to (:func:`study_id`)."""
        rows = []
        for i, sample_id in enumerate(self.sample_ids):
            row = {
                "sample_id": sample_id,
                "question": self.questions[i],
                "prediction": self.predictions[i],
                "reference": self.references[i],
                "scores": _plain_scores(self.scores.per_sample[i]),
            }
            if self.image_paths:
                row["image_paths"] = list(self.image_paths[i])
                row["study_id"] = study_id(self.image_paths[i])
            rows.append(row)
        return rows


def _plain_scores(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}


def generate_for_split(
    model: Any,
    processor: Any,
    family: VisionLanguageFamily,
    data: datasets.Dataset,
    *,
    max_new_tokens: int,
    batch_size: int,
    num_beams: int = 1,
    progress: Callable[[int, int], None] | None = None,
    processes: Any = None,
) -> list[str]:
    """Generate one report per row of ``data`` (columns ``question``, ``image_paths``), loading
    each batch's images only when it is generated. ``model`` is a transformers model, or a
    :class:`~rrg.generation.VllmGenerator` (``hardware.generation: vllm``), which is handed
    ``batch_size`` prompts at a time.

    ``processes`` (accelerate's ``PartialState`` of a launched run) shares the work: the batches,
    cut as one process would cut them, are split into consecutive runs, one per process
    (``split_between_processes``), and the reports gathered back in sample order on every
    process. Each sample is generated in the same batch, with the same padding, as in one
    process, so the reports are the same."""
    from rrg.data.flare import load_images
    from rrg.generation import VllmGenerator, generate_reports

    questions: Sequence[str] = data["question"]
    image_paths: Sequence[list[str]] = data["image_paths"]
    total = len(questions)
    batches = [range(start, min(start + batch_size, total)) for start in range(0, total, batch_size)]
    shared = processes is not None and processes.num_processes > 1
    if shared:
        with processes.split_between_processes(batches) as own:
            batches = list(own)
    share = sum(len(batch) for batch in batches)
    predictions: list[str] = []
    for indices in batches:
        batch = [{"question": questions[i], "images": load_images(image_paths[i])} for i in indices]
        if isinstance(model, VllmGenerator):
            predictions.extend(model.generate(processor, family, batch, max_new_tokens=max_new_tokens))
        else:
            predictions.extend(
                generate_reports(model, processor, family, batch, max_new_tokens=max_new_tokens, batch_size=batch_size, num_beams=num_beams)
            )
        if progress is not None:  # a launched process counts its own share, scaled to the whole
            progress(min(total, round(len(predictions) * total / share)) if shared else len(predictions), total)
    if shared:
        from accelerate.utils import gather_object

        predictions = gather_object(predictions)  # concatenated in process order: sample order
    return predictions


VLLM_MEMORY_SHARE = 0.9
"""Share of the GPU memory free when evaluation starts that vLLM may claim (weights, KV cache)."""


def vllm_generator(plan: Plan, family: VisionLanguageFamily, data: datasets.Dataset, *, weights: Path | None = None) -> VllmGenerator:
    """The vLLM generator evaluating ``plan``'s model (``hardware.generation: vllm``) on ``data``.

    ``weights`` is what the run evaluates on top of the base model: an adapter folder (passed as a
    LoRA request; ``adapter_config.json`` must have no ``modules_to_save``, which vLLM cannot
    load), or a folder holding a whole fine-tuned model (loaded instead of the base); ``None``: the
    base model. CUDA memory the run's transformers models left cached is freed first, and vLLM may
    claim :data:`VLLM_MEMORY_SHARE` of what is then free (a GRPO run's colocated engine may still
    hold its part).
    """
    import gc
    import json

    import torch
    from vllm import LLM
    from vllm.lora.request import LoRARequest

    from rrg.generation import VllmGenerator, vllm_engine_settings

    adapter = weights if weights is not None and (weights / "adapter_config.json").is_file() else None
    model = str(weights) if weights is not None and adapter is None else plan.model.source
    lora_rank = None
    tower_lora = False
    if adapter is not None:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
        if config.get("modules_to_save"):
            raise RrgError(
                f"adapter {adapter}: vLLM loads a LoRA adapter only without modules_to_save ({', '.join(config['modules_to_save'])})",
                hint="evaluate it with hardware.generation: transformers",
            )
        lora_rank = int(config["r"])
        targets = config.get("target_modules")
        tower_lora = plan.adapter.vision if plan.adapter is not None else isinstance(targets, str) and (targets == "all-linear" or family.vision_prefix in targets)
    settings = vllm_engine_settings(
        model,
        revision=plan.model.revision if model == plan.model.source else None,
        dtype=plan.dtype,
        seed=plan.seed,
        batch_size=plan.generation["batch_size"],
        images_per_prompt=max((len(paths) for paths in data["image_paths"]), default=1),
        lora_rank=lora_rank,
        tower_lora=tower_lora,
        quantization="bitsandbytes" if plan.adapter is not None and plan.adapter.kind == "qlora" else None,
    )
    gc.collect()
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info()
    settings["gpu_memory_utilization"] = round(VLLM_MEMORY_SHARE * free / total, 3)
    llm = LLM(**settings)
    return VllmGenerator(llm, LoRARequest("adapter", 1, str(adapter)) if adapter is not None else None)


def evaluate_model(
    model: Any,
    processor: Any,
    family: VisionLanguageFamily,
    data: datasets.Dataset,
    *,
    split: str,
    metrics: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    num_beams: int = 1,
    truncate_chars: int | None = 500,
    progress: Callable[[int, int], None] | None = None,
    processes: Any = None,
) -> ModelEvaluation | None:
    """Generate a report for every sample of ``data`` and score it against the sample's answer.

    Predictions are kept as generated; the scores see them cut to ``truncate_chars`` characters
    (the study's protocol, 500). With ``processes`` (a launched run), every process generates
    its share (:func:`generate_for_split`) and the main process scores them all; the others
    return None.
    """
    from rrg.metrics import evaluate

    answers = data["answer"]
    missing = [sid for sid, a in zip(data["sample_id"], answers) if a is None]
    if missing:
        raise RrgError(
            f"split {split}: {len(missing)} samples have no reference answer (first: {missing[0]})",
            hint="evaluate on a labelled split (e.g. validation-public, or validation-hidden with _withGT)",
        )
    started = time.perf_counter()
    predictions = generate_for_split(
        model, processor, family, data, max_new_tokens=max_new_tokens, batch_size=batch_size, num_beams=num_beams, progress=progress,
        processes=processes,
    )
    seconds = time.perf_counter() - started
    if processes is not None and not processes.is_main_process:
        return None
    scores = evaluate(predictions, list(answers), metrics=list(metrics), truncate_chars=truncate_chars)
    return ModelEvaluation(
        split=split,
        sample_ids=list(data["sample_id"]),
        questions=list(data["question"]),
        references=list(answers),
        predictions=predictions,
        scores=scores,
        generation_seconds=seconds,
        image_paths=[list(paths) for paths in data["image_paths"]],
    )
