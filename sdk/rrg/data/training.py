"""Several FLARE data sets read as one training set (a recipe's ``data.train``).

A recipe trains on one data set (``data.dataset``) or on several: ``data.train: all`` (every data
set folder under ``<root>/<train_split>/<category>/`` that has a question file) or a list of
entries, each a data set with its own task filter, cap and weight. :class:`TrainingSource` is one
such data set, resolved; :func:`find_training_datasets` expands ``all``.

Each data set is read with :func:`rrg.data.flare.load_flare` on its own (its own fingerprint,
its own checks); :func:`mix_training` then puts them into one ``datasets.Dataset`` with the same
columns (``dataset`` says where each row comes from). A data set's **weight** is an oversampling
factor: its rows appear ``weight`` times per epoch, whole copies for the integer part and, for the
fraction, a subset of that share of its rows drawn with the recipe seed (weight 2: every sample
twice; 0.5: half of them, the same half on every run with that seed). Weight 1 keeps a data set
as read. The trainer shuffles the mixture.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rrg.data.layout import locate_split
from rrg.errors import RrgError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

    from rrg.data.flare import FlareSplit


@dataclass(frozen=True)
class TrainingSource:
    """One training data set: where it is, which of its samples, and its weight in the mix."""

    dataset: str
    category: str
    task_types: tuple[str, ...] | None = None
    max_samples: int | None = None
    weight: float = 1.0


def find_training_datasets(root: str | Path, split: str) -> list[tuple[str, str]]:
    """``(category, dataset)`` of every ``<root>/<split>/<category>/<dataset>`` folder that has a
    question file, sorted by category then data set."""
    base = Path(root) / split
    found: list[tuple[str, str]] = []
    if not base.is_dir():
        return found
    for category_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for dataset_dir in sorted(p for p in category_dir.iterdir() if p.is_dir()):
            try:
                locate_split(root, dataset_dir.name, split, category_dir.name)
            except RrgError:  # no question file (or no image folder): not a data set
                continue
            found.append((category_dir.name, dataset_dir.name))
    return found


def weighted_rows(size: int, weight: float) -> int:
    """Rows a data set of ``size`` samples contributes per epoch at ``weight``."""
    whole = math.floor(weight)
    return whole * size + round((weight - whole) * size)


def _fraction_seed(seed: int, dataset: str) -> list[int]:
    return [seed, int(hashlib.sha256(dataset.encode()).hexdigest()[:8], 16)]


def mix_training(parts: list[FlareSplit], weights: list[float], seed: int) -> datasets.Dataset:
    """One training ``datasets.Dataset`` from several read data sets and their weights (see the
    module docstring). One data set at weight 1 is returned as read."""
    import datasets as hf_datasets
    import numpy as np

    if len(parts) != len(weights) or not parts:
        raise ValueError("mix_training needs one weight per data set, and at least one data set")
    if len(parts) == 1 and weights[0] == 1:
        return parts[0].dataset
    pieces = []
    for part, weight in zip(parts, weights):
        size = part.size
        whole = math.floor(weight)
        extra = weighted_rows(size, weight) - whole * size
        if whole == 1 and extra == 0:
            pieces.append(part.dataset)
            continue
        indices = [i for _ in range(whole) for i in range(size)]
        if extra:
            rng = np.random.default_rng(_fraction_seed(seed, part.name))
            indices += sorted(int(i) for i in rng.choice(size, size=extra, replace=False))
        if indices:
            pieces.append(part.dataset.select(indices))
    return hf_datasets.concatenate_datasets(pieces)


@dataclass(frozen=True)
class TrainingData:
    """The training data of a run: each data set as read, and the mixture the trainer sees."""

    parts: tuple[FlareSplit, ...]
    weights: tuple[float, ...]
    dataset: datasets.Dataset
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def mix(cls, parts: list[FlareSplit], weights: list[float], seed: int) -> TrainingData:
        """Mix ``parts`` with their ``weights`` (see :func:`mix_training`)."""
        return cls(
            parts=tuple(parts),
            weights=tuple(weights),
            dataset=mix_training(parts, weights, seed),
            skipped=[entry for part in parts for entry in part.skipped],
        )

    @property
    def size(self) -> int:
        """Samples read, over all data sets (before weighting)."""
        return sum(part.size for part in self.parts)

    @property
    def rows(self) -> int:
        """Rows of the mixture per epoch."""
        return len(self.dataset)
