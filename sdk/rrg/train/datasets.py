"""FLARE samples in the shapes TRL's trainers read.

Images stay paths on disk and are decoded (as RGB) only when a batch is collated, through the
``datasets`` ``Image`` feature: a split never holds its pixels in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import datasets

    from rrg.models.base import VisionLanguageFamily


def _with_images(data: datasets.Dataset, keep: tuple[str, ...], to_row: Any) -> datasets.Dataset:
    import datasets as hf_datasets

    drop = [c for c in data.column_names if c not in keep]
    converted = data.map(to_row, remove_columns=drop, desc=None)
    return converted.cast_column("images", hf_datasets.List(hf_datasets.Image(mode="RGB")))


def sft_dataset(data: datasets.Dataset, family: VisionLanguageFamily) -> datasets.Dataset:
    """TRL's conversational prompt/completion format with images.

    ``prompt`` holds the user turn (image placeholders + question), ``completion`` the assistant
    turn with the reference answer; TRL's vision collator masks everything but the completion.
    Every FLARE task type trains this way, as in the FLARE baselines: the question as asked (a
    classification question lists its options itself) and the answer as the reader wrote it for its
    task type (:func:`rrg.data.tasks.answer_text`: a label, labels joined, a number as written,
    boxes as JSON text, report text). ``data`` may mix several data sets (a ``data.train`` mixture).
    """

    def to_row(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "prompt": [family.user_message(row["question"], len(row["image_paths"]))],
            "completion": [family.assistant_message(row["answer"])],
            "images": row["image_paths"],
        }

    return _with_images(data, ("sample_id",), to_row)


def grpo_dataset(data: datasets.Dataset, family: VisionLanguageFamily) -> datasets.Dataset:
    """Prompts with images for GRPO; ``answer`` stays a column so reward functions receive it.

    GRPO's rewards score report text, so its training data is report generation only (the plan
    refuses other task types)."""

    def to_row(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "prompt": [family.user_message(row["question"], len(row["image_paths"]))],
            "images": row["image_paths"],
        }

    return _with_images(data, ("sample_id", "answer"), to_row)
