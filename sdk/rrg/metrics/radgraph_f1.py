"""radgraph_f1: F1 between the RadGraph graphs of a prediction and its reference.

Computed with the ``radgraph`` package (Stanford AIMI): a DyGIE++ model annotates entities
(anatomy, observations with their certainty) and relations in each report, and
``radgraph.rewards.compute_reward`` compares the two annotations at one of three levels:

* ``simple``: F1 over (entity tokens, label);
* ``partial``: F1 over (entity tokens, label, has-a-relation);
* ``complete``: F1 over (entity tokens, label) for entities without relations plus
  (entity tokens, label, relation, target tokens) for every relation.

An empty prediction or reference scores 0.0, as in ``radgraph.F1RadGraph``.

The model weights are an archive in the Hub repository ``StanfordAIMI/RRG_scorers``
(``radgraph-xl.tar.gz`` for the RadGraph-XL model the study uses), which the radgraph package
downloads on first use into ``<user cache>/radgraph/<version>/``, and a BERT encoder the model's
config names, which transformers loads from the Hugging Face cache. rrg never downloads them
while scoring: when they are not already there, :class:`RadGraphF1` raises a one-line
:class:`~rrg.errors.MissingDependencyError` that names the file and the folder it looked in.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tarfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from rrg.errors import MissingDependencyError

__all__ = [
    "RADGRAPH_ARCHIVES",
    "RADGRAPH_HUB_REPO",
    "RadGraphF1",
    "RadGraphModelType",
    "RewardLevel",
    "f1_from_annotations",
    "locate_radgraph_model",
    "radgraph_cache_dir",
    "require_radgraph_package",
]

RADGRAPH_HUB_REPO = "StanfordAIMI/RRG_scorers"
RADGRAPH_ARCHIVES: dict[str, str] = {
    "radgraph": "radgraph.tar.gz",
    "radgraph-xl": "radgraph-xl.tar.gz",
    "modern-radgraph-xl": "modern-radgraph-xl.tar.gz",
}
RadGraphModelType = Literal["radgraph", "radgraph-xl", "modern-radgraph-xl"]
RewardLevel = Literal["simple", "partial", "complete"]
REWARD_LEVELS: tuple[str, ...] = ("simple", "partial", "complete")

Annotation = Mapping[str, Any]
"""One report's RadGraph annotation: ``{"entities": {id: {"tokens", "label", "relations"}}, ...}``."""
Annotator = Callable[[list[str]], Mapping[str, Annotation]]
"""Annotates a list of reports; returns ``{"0": annotation, "1": ...}`` like ``radgraph.RadGraph``."""

_INSTALL_HINT = "pip install 'rrg-sdk[radgraph]'"
_RADGRAPH_IMPORTS = ("radgraph", "appdirs", "requests")
"""The package, the module rrg reads its cache folder from, and one it imports undeclared."""


def _radgraph_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("radgraph")
    except PackageNotFoundError:
        raise _radgraph_missing(ModuleNotFoundError(name="radgraph")) from None


def require_radgraph_package() -> None:
    """Raise the one-line install hint unless the radgraph package and what it imports are here.

    Cheap: looks the modules up without importing them (importing radgraph loads torch). Checked
    first, before anything that needs one of radgraph's own dependencies (``appdirs``), so a
    default install (no ``radgraph`` extra) gets the hint, not a ``No module named`` traceback.
    """
    from importlib.util import find_spec

    _radgraph_version()
    for module in _RADGRAPH_IMPORTS:
        if find_spec(module) is None:
            raise _radgraph_missing(ModuleNotFoundError(name=module))


def radgraph_cache_dir() -> Path:
    """Where the radgraph package keeps its models: ``<user cache>/radgraph/<radgraph version>``
    (``appdirs.user_cache_dir``, i.e. ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux)."""
    version = _radgraph_version()  # the install hint before appdirs, which comes with radgraph
    try:
        import appdirs
    except ImportError as exc:
        raise _radgraph_missing(exc) from None
    return Path(appdirs.user_cache_dir("radgraph")) / version


def _radgraph_missing(exc: ImportError) -> MissingDependencyError:
    """The radgraph package, or a module it imports, is not installed: say which."""
    missing = getattr(exc, "name", None) or "radgraph"
    if missing == "radgraph":
        return MissingDependencyError(
            "radgraph_f1 needs the 'radgraph' package, which is not installed", hint=_INSTALL_HINT
        )
    return MissingDependencyError(
        f"radgraph_f1 cannot import {missing!r} (needed by the radgraph package)",
        hint=_INSTALL_HINT,
    )


def f1_from_annotations(
    hypothesis: Annotation, reference: Annotation, reward_level: RewardLevel = "partial"
) -> float:
    """RadGraph F1 of two annotations, through ``radgraph.rewards.compute_reward``.

    0.0 when either annotation has no entity.
    """
    if reward_level not in REWARD_LEVELS:
        raise ValueError(f"reward_level must be one of {REWARD_LEVELS}, got {reward_level!r}")
    try:
        from radgraph.rewards import compute_reward
    except ImportError as exc:
        raise _radgraph_missing(exc) from None
    return float(compute_reward(hypothesis, reference, reward_level))


def locate_radgraph_model(
    model_type: str = "radgraph-xl", model_cache_dir: Path | None = None
) -> Path:
    """The folder of the extracted RadGraph model ``model_type``, without touching the network.

    Looks for the extracted model (``config.json`` and ``weights.th``) in
    ``<model_cache_dir>/<model_type>``; otherwise for the archive in the Hugging Face cache layout
    under ``model_cache_dir`` (where the radgraph package downloads it), which it then extracts
    as the package would. ``model_cache_dir`` defaults to :func:`radgraph_cache_dir`.
    """
    if model_type not in RADGRAPH_ARCHIVES:
        raise ValueError(
            f"model_type must be one of {tuple(RADGRAPH_ARCHIVES)}, got {model_type!r}"
        )
    cache = Path(model_cache_dir) if model_cache_dir is not None else radgraph_cache_dir()
    model_dir = cache / model_type
    if (model_dir / "config.json").is_file() and (model_dir / "weights.th").is_file():
        return model_dir

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    filename = RADGRAPH_ARCHIVES[model_type]
    try:
        archive = hf_hub_download(
            repo_id=RADGRAPH_HUB_REPO, filename=filename, cache_dir=cache, local_files_only=True
        )
    except LocalEntryNotFoundError:
        raise MissingDependencyError(
            f"radgraph_f1 needs the {model_type} weights, file {filename} of the Hugging Face Hub "
            f"repository {RADGRAPH_HUB_REPO}; found neither the extracted model in {model_dir} "
            f"nor the archive in the Hugging Face cache under {cache}",
            hint=(
                f"on a machine with network access run `hf download {RADGRAPH_HUB_REPO} {filename} "
                f"--cache-dir {cache}` (or copy that folder here)"
            ),
        ) from None
    model_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(path=model_dir, filter="data")
    if not (model_dir / "config.json").is_file():
        raise MissingDependencyError(
            f"the RadGraph archive {archive} has no config.json at its top level",
            hint=f"delete {model_dir} and the archive, then download {filename} again",
        )
    return model_dir


def _encoder_name(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    return config["model"]["embedder"]["token_embedders"]["bert"]["model_name"]


def _check_encoder_cached(model_dir: Path, hf_cache_dir: Path | None) -> None:
    from huggingface_hub import constants, try_to_load_from_cache

    encoder = _encoder_name(model_dir)
    if Path(encoder).is_dir():
        return
    cached = try_to_load_from_cache(encoder, "config.json", cache_dir=hf_cache_dir)
    if not isinstance(cached, str):
        where = hf_cache_dir if hf_cache_dir is not None else constants.HF_HUB_CACHE
        raise MissingDependencyError(
            f"radgraph_f1 needs the encoder {encoder} named by {model_dir / 'config.json'}; "
            f"it is not in the Hugging Face cache {where}",
            hint=f"on a machine with network access run `hf download {encoder}` and copy {where} here",
        )


class RadGraphF1:
    """RadGraph F1 per pair, with the model loaded on first use.

    ``model_type`` is recorded with every score (the study uses ``radgraph-xl``); ``reward_level``
    picks the comparison (see the module docstring). ``annotator`` replaces the RadGraph model
    with any callable of the same shape (used in tests, or to share one loaded model).
    """

    name = "radgraph_f1"

    def __init__(
        self,
        model_type: RadGraphModelType = "radgraph-xl",
        reward_level: RewardLevel = "partial",
        *,
        model_cache_dir: Path | None = None,
        hf_cache_dir: Path | None = None,
        annotator: Annotator | None = None,
    ) -> None:
        if model_type not in RADGRAPH_ARCHIVES:
            raise ValueError(
                f"model_type must be one of {tuple(RADGRAPH_ARCHIVES)}, got {model_type!r}"
            )
        if reward_level not in REWARD_LEVELS:
            raise ValueError(f"reward_level must be one of {REWARD_LEVELS}, got {reward_level!r}")
        self.model_type = model_type
        self.reward_level = reward_level
        self.model_cache_dir = model_cache_dir
        self.hf_cache_dir = hf_cache_dir
        self._annotator = annotator

    def config(self) -> dict[str, str]:
        """What to record next to the scores."""
        return {"model_type": self.model_type, "reward_level": self.reward_level}

    def check(self) -> None:
        """Raise a one-line :class:`~rrg.errors.MissingDependencyError` unless this scorer can
        run here: the radgraph package installed, the model and its encoder on disk. Nothing is
        downloaded and no model is loaded (``rrg run`` calls this before it records a run). A
        scorer given an ``annotator`` needs none of it."""
        if self._annotator is None:
            self._model_dir()

    def _model_dir(self) -> Path:
        require_radgraph_package()
        model_dir = locate_radgraph_model(self.model_type, self.model_cache_dir)
        _check_encoder_cached(model_dir, self.hf_cache_dir)
        return model_dir

    def _load(self) -> Annotator:
        model_dir = self._model_dir()
        try:
            from radgraph import RadGraph
        except ImportError as exc:
            raise _radgraph_missing(exc) from None
        with contextlib.redirect_stdout(sys.stderr):  # the package prints its device to stdout
            return RadGraph(model_type=self.model_type, model_cache_dir=str(model_dir.parent))

    def annotate(self, texts: Sequence[str]) -> list[Annotation]:
        """RadGraph annotations of ``texts`` (loads the model on first use)."""
        if self._annotator is None:
            self._annotator = self._load()
        if not texts:
            return []
        annotations = self._annotator(list(texts))
        return [annotations[str(i)] for i in range(len(texts))]

    def score_pairs(self, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
        """F1 of each pair; 0.0 where either text is empty. Each distinct text is annotated once."""
        if len(predictions) != len(references):
            raise ValueError(
                f"{len(predictions)} predictions but {len(references)} references; they must pair up"
            )
        distinct = list(
            dict.fromkeys(t for p, r in zip(predictions, references) if p and r for t in (p, r))
        )
        annotation_of = dict(zip(distinct, self.annotate(distinct)))
        return [
            f1_from_annotations(annotation_of[p], annotation_of[r], self.reward_level)
            if p and r
            else 0.0
            for p, r in zip(predictions, references)
        ]

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
        return self.score_pairs(predictions, references)
