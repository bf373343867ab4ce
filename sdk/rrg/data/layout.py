"""Where things are in a FLARE 2025 Task 5 ``organized_dataset`` folder.

::

    organized_dataset/
      training/<category>/<dataset>/imagesTr/            + <dataset>_questions_train.json
      validation-public/<category>/<dataset>/imagesVal/  + <dataset>_questions_val.json
      validation-hidden/<category>/<dataset>/imagesVal/  + <dataset>_questions_val_withGT.json
                                                           (or _questions_val.json)
      testing/<category>/<dataset>/imagesTs/             + <dataset>_questions_test.json

Naming variants accepted, as found in the benchmark and its baselines: ``_withGT`` is preferred
over the plain name when both exist; an image folder named plain ``images`` is used when the
split's own name is absent; when none of the expected question file names exists, the one file
matching ``<dataset>_questions*.json`` is used (several are an error listing them). Split
aliases ``train`` and ``test`` mean ``training`` and ``testing``; any other split folder whose
name starts with ``train``, ``val`` or ``test`` is read like those.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rrg.errors import RrgError

SPLITS = ("training", "validation-public", "validation-hidden", "testing")
SPLIT_ALIASES = {"train": "training", "test": "testing"}
# Folder names an ImageName may start with; the reader strips one of them.
IMAGE_FOLDER_NAMES = ("imagesTr", "imagesVal", "imagesTs", "images", "Images")


@dataclass(frozen=True)
class SplitLayout:
    """The image folder and question file names a split kind uses, most preferred first."""

    images_folder: str
    question_suffixes: tuple[str, ...]


_LAYOUTS = {
    "train": SplitLayout("imagesTr", ("_questions_train.json",)),
    "val": SplitLayout("imagesVal", ("_questions_val_withGT.json", "_questions_val.json")),
    "test": SplitLayout("imagesTs", ("_questions_test_withGT.json", "_questions_test.json")),
}


def split_layout(split: str) -> SplitLayout:
    """The layout of a split folder name (``training``, ``validation-public``, ...)."""
    for prefix, layout in _LAYOUTS.items():
        if split.lower().startswith(prefix):
            return layout
    raise RrgError(
        f"unknown split {split!r}",
        hint=f"use one of {', '.join(SPLITS)} (split folders start with train, val or test)",
    )


@dataclass(frozen=True)
class SplitLocation:
    """One dataset split on disk."""

    root: Path
    split: str
    category: str
    dataset: str
    dataset_dir: Path
    questions_file: Path
    images_dir: Path


def find_datasets(root: Path) -> list[str]:
    """Every ``<split>/<category>/<dataset>`` folder under ``root``, sorted."""
    found = []
    if root.is_dir():
        for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for category_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
                for dataset_dir in sorted(p for p in category_dir.iterdir() if p.is_dir()):
                    found.append(f"{split_dir.name}/{category_dir.name}/{dataset_dir.name}")
    return found


def _found_hint(root: Path) -> str:
    found = find_datasets(root)
    if not found:
        return f"{root} holds no <split>/<category>/<dataset> folders; point it at a FLARE organized_dataset folder"
    shown = ", ".join(found[:12]) + (f" and {len(found) - 12} more" if len(found) > 12 else "")
    return f"found: {shown}"


def locate_split(
    root: str | Path, dataset: str, split: str, category: str = "Xray"
) -> SplitLocation:
    """Find the question file and image folder of ``<root>/<split>/<category>/<dataset>``."""
    root = Path(root).expanduser()
    split = SPLIT_ALIASES.get(split, split)
    layout = split_layout(split)
    dataset_dir = root / split / category / dataset
    if not dataset_dir.is_dir():
        raise RrgError(f"{root}: no {split}/{category}/{dataset} folder", hint=_found_hint(root))
    questions_file = next(
        (
            dataset_dir / f"{dataset}{suffix}"
            for suffix in layout.question_suffixes
            if (dataset_dir / f"{dataset}{suffix}").is_file()
        ),
        None,
    )
    if questions_file is None:
        candidates = sorted(
            p for p in dataset_dir.glob(f"{dataset}_questions*.json") if p.is_file()
        )
        expected = " or ".join(f"{dataset}{s}" for s in layout.question_suffixes)
        if len(candidates) != 1:
            listing = (
                ", ".join(p.name for p in candidates)
                or ", ".join(sorted(p.name for p in dataset_dir.iterdir()))
                or "nothing"
            )
            raise RrgError(
                f"{dataset_dir}: no question file {expected}"
                + (" and several other question files" if candidates else ""),
                hint=f"found: {listing}",
            )
        questions_file = candidates[0]
    images_dir = next(
        (
            dataset_dir / name
            for name in (layout.images_folder, "images")
            if (dataset_dir / name).is_dir()
        ),
        None,
    )
    if images_dir is None:
        raise RrgError(
            f"{dataset_dir}: no image folder {layout.images_folder}/",
            hint="found: "
            + (", ".join(sorted(p.name for p in dataset_dir.iterdir())) or "nothing"),
        )
    return SplitLocation(root, split, category, dataset, dataset_dir, questions_file, images_dir)


def resolve_data_root(root: str | Path, dataset: str = "IU_XRay", category: str = "Xray") -> Path:
    """The ``organized_dataset`` folder a recipe's ``data.root`` names.

    ``"demo"`` builds (or finds) the bundled demo set and returns its root. Anything else is a
    path; a folder holding an ``organized_dataset`` folder is accepted for it. The folder must
    hold ``<split>/<category>/<dataset>`` for at least one split.
    """
    if str(root) == "demo":
        from rrg.data.demo import build_demo

        return build_demo()
    path = Path(root).expanduser()
    if not path.is_dir():
        raise RrgError(
            f"data.root: folder {path} does not exist",
            hint="set data.root to a FLARE organized_dataset folder, or to 'demo' for the bundled demo set",
        )
    if (path / "organized_dataset").is_dir() and not any((path / s).is_dir() for s in SPLITS):
        path = path / "organized_dataset"
    if not any(entry.endswith(f"/{category}/{dataset}") for entry in find_datasets(path)):
        raise RrgError(
            f"data.root: {path} has no {category}/{dataset} data set in any split",
            hint=_found_hint(path),
        )
    return path.resolve()
