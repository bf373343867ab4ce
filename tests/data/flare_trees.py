"""Build small FLARE 2025 Task 5 trees for the reader tests."""

from __future__ import annotations

import json
from pathlib import Path


def write_png(path: Path, value: int = 128, size: int = 8) -> Path:
    """A small valid grey PNG."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (size, size), value).save(path, format="PNG")
    return path


def make_split(
    root: Path,
    items: list[dict],
    split: str = "training",
    questions_name: str = "IU_XRay_questions_train.json",
    images_folder: str = "imagesTr",
    images: tuple[str, ...] = (),
    dataset: str = "IU_XRay",
    category: str = "Xray",
) -> Path:
    """Write ``root/<split>/<category>/<dataset>/`` with a question file and valid PNG images."""
    dataset_dir = root / split / category / dataset
    (dataset_dir / images_folder).mkdir(parents=True, exist_ok=True)
    for name in images:
        write_png(dataset_dir / images_folder / name)
    (dataset_dir / questions_name).write_text(json.dumps(items, indent=1))
    return dataset_dir


def item(
    image_name,
    question: str = "Write the part of the radiology report that describes the heart.",
    answer="Heart size normal.",
    task_type: str = "Report_Generation",
) -> dict:
    """One FLARE question item."""
    entry = {
        "TaskType": task_type,
        "Modality": "Xray",
        "ImageName": image_name,
        "Question": question,
        "Split": "train",
    }
    if answer is not None:
        entry["Answer"] = answer
    return entry
