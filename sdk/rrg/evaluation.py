"""Evaluate a model on a FLARE split: batched greedy generation, then the report metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

    from rrg.metrics.evaluation import Evaluation
    from rrg.models.base import VisionLanguageFamily


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

    @property
    def samples_per_second(self) -> float:
        return len(self.predictions) / self.generation_seconds if self.generation_seconds > 0 else float("inf")

    def prediction_rows(self) -> list[dict[str, Any]]:
        """One row per sample: id, question, prediction (as generated), reference and its scores."""
        rows = []
        for i, sample_id in enumerate(self.sample_ids):
            rows.append(
                {
                    "sample_id": sample_id,
                    "question": self.questions[i],
                    "prediction": self.predictions[i],
                    "reference": self.references[i],
                    "scores": _plain_scores(self.scores.per_sample[i]),
                }
            )
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
) -> list[str]:
    """Generate one report per row of ``data`` (columns ``question``, ``image_paths``), loading
    each batch's images only when it is generated."""
    from rrg.data.flare import load_images
    from rrg.generation import generate_reports

    questions: Sequence[str] = data["question"]
    image_paths: Sequence[list[str]] = data["image_paths"]
    total = len(questions)
    predictions: list[str] = []
    for start in range(0, total, batch_size):
        batch = [
            {"question": questions[i], "images": load_images(image_paths[i])}
            for i in range(start, min(start + batch_size, total))
        ]
        predictions.extend(
            generate_reports(model, processor, family, batch, max_new_tokens=max_new_tokens, batch_size=batch_size, num_beams=num_beams)
        )
        if progress is not None:
            progress(len(predictions), total)
    return predictions


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
) -> ModelEvaluation:
    """Generate a report for every sample of ``data`` and score it against the sample's answer.

    Predictions are kept as generated; the scores see them cut to ``truncate_chars`` characters
    (the study's protocol, 500).
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
        model, processor, family, data, max_new_tokens=max_new_tokens, batch_size=batch_size, num_beams=num_beams, progress=progress
    )
    seconds = time.perf_counter() - started
    scores = evaluate(predictions, list(answers), metrics=list(metrics), truncate_chars=truncate_chars)
    return ModelEvaluation(
        split=split,
        sample_ids=list(data["sample_id"]),
        questions=list(data["question"]),
        references=list(answers),
        predictions=predictions,
        scores=scores,
        generation_seconds=seconds,
    )
