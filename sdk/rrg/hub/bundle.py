"""The folder ``rrg publish`` uploads: adapter, processor files, card, recipe and results.

Contents (nothing else is ever copied):

- ``adapter_config.json`` (``base_model_name_or_path`` set to the card's Hub ``base_model``, so no
  local path leaves the machine) and ``adapter_model.safetensors``;
- the processor and tokenizer files saved with the adapter (``*.json``, ``*.jinja``, ``*.txt``,
  ``*.model``), never the trainer's state (optimizer, scheduler, RNG state, trainer state,
  training arguments) nor pickled weights;
- ``README.md``: the model card (:mod:`rrg.hub.card`);
- ``rrg_recipe.yaml``: the recipe exactly as the registry recorded it;
- ``rrg_results.json``: run, metrics, green_flare components, lineage and the size and sha256 of
  every other file, which ``rrg pull`` checks.

The folder depends only on the run record, so assembling the same run twice gives the same bytes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError
from rrg.provenance import file_sha256

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry import Registry

    from rrg.hub.card import RenderedCard
    from rrg.hub.run_record import PublishableRun

RESULTS_FILE = "rrg_results.json"
RECIPE_FILE = "rrg_recipe.yaml"
CARD_FILE = "README.md"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
PROCESSOR_SUFFIXES = (".json", ".jinja", ".txt", ".model")
TRAINER_STATE_FILES = frozenset(
    {
        "optimizer.pt",
        "scheduler.pt",
        "rng_state.pth",
        "trainer_state.json",
        "training_args.bin",
        "scaler.pt",
    }
)
"""Files a transformers checkpoint holds for resuming training; never uploaded."""
RESULTS_FORMAT = 1


class BundleError(RrgError):
    """The upload folder cannot be assembled."""


@dataclass(frozen=True)
class BundleFile:
    """One file of the upload folder."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Bundle:
    """An assembled upload folder and what it holds."""

    folder: Path
    files: tuple[BundleFile, ...]
    """Every file, ``rrg_results.json`` included, sorted by name."""
    record: PublishableRun
    card: RenderedCard
    repo: str
    results: dict[str, Any]

    @property
    def card_path(self) -> Path:
        return self.folder / CARD_FILE

    def listing(self) -> list[dict[str, Any]]:
        """Rows for ``rrg publish --dry-run``: file, bytes, sha256."""
        return [{"file": f.name, "bytes": f.size, "sha256": f.sha256} for f in self.files]


def assemble_bundle(
    registry: Registry,
    run_id: str,
    repo: str,
    folder: str | Path,
    *,
    license: str | None = None,
    data_license_id: str | None = None,
    registered_model: Any = None,
) -> Bundle:
    """Check run ``run_id``, render and validate its card, and write the upload folder to ``folder``.

    ``folder`` must not exist, be empty, or hold an earlier bundle (which is replaced).
    ``registered_model`` is the registered version of the run being published, if named so.
    """
    from rrg.hub.card import render_card
    from rrg.hub.run_record import publishable_run

    record = publishable_run(registry, run_id, registered_model)
    card = render_card(record, repo, license=license, data_license_id=data_license_id)
    adapter_config = _adapter_config(record)
    target = _prepare_folder(Path(folder))
    for name in _files_to_copy(record.adapter_dir):
        if name == "adapter_config.json":
            (target / name).write_text(
                json.dumps(adapter_config, indent=2) + "\n", encoding="utf-8"
            )
        else:
            shutil.copyfile(record.adapter_dir / name, target / name)
    (target / RECIPE_FILE).write_text(record.recipe_yaml, encoding="utf-8")
    (target / CARD_FILE).write_text(card.text, encoding="utf-8")
    listed = [_describe(target / p.name) for p in sorted(target.iterdir())]
    results = results_document(record, card, repo, listed)
    (target / RESULTS_FILE).write_text(
        json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    files = tuple(sorted([*listed, _describe(target / RESULTS_FILE)], key=lambda f: f.name))
    return Bundle(folder=target, files=files, record=record, card=card, repo=repo, results=results)


def _files_to_copy(adapter_dir: Path) -> list[str]:
    names = []
    for path in sorted(adapter_dir.iterdir()):
        if not path.is_file() or path.name in TRAINER_STATE_FILES or path.name == CARD_FILE:
            continue
        if path.name in ADAPTER_FILES or (
            path.suffix in PROCESSOR_SUFFIXES and not path.name.startswith("adapter_")
        ):
            names.append(path.name)
    return names


def _prepare_folder(folder: Path) -> Path:
    if folder.exists():
        if not folder.is_dir():
            raise BundleError(
                f"{folder} is a file, not a folder", hint="give --out a new or empty folder"
            )
        entries = list(folder.iterdir())
        if entries and not (folder / RESULTS_FILE).is_file():
            raise BundleError(
                f"{folder} is not empty and holds no earlier rrg bundle",
                hint="give --out a new or empty folder",
            )
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(
            f"cannot create the folder {folder}: {exc.strerror}",
            hint="give --out a new or empty folder in a writable place",
        ) from exc
    return folder.resolve()


def _adapter_config(record: PublishableRun) -> dict[str, Any]:
    """The run's ``adapter_config.json`` with the card's Hub ``base_model`` (and revision) in it."""
    source = record.adapter_dir / "adapter_config.json"
    try:
        config = json.loads(source.read_text(encoding="utf-8"))
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise BundleError(
            f"run {record.run_id}: {source} is not a PEFT adapter config (not a JSON object)",
            hint="rerun the recipe, or restore the run's output folder",
        )
    config["base_model_name_or_path"] = record.base_model
    if "revision" in config or record.base_revision:
        config["revision"] = record.base_revision
    return config


def _describe(path: Path) -> BundleFile:
    return BundleFile(name=path.name, size=path.stat().st_size, sha256=file_sha256(path))


def results_document(
    record: PublishableRun, card: RenderedCard, repo: str, files: list[BundleFile]
) -> dict[str, Any]:
    """What ``rrg_results.json`` holds: the run, its evaluation and the files' sha256 sums."""
    run = record.detail.run
    document = {
        "format": RESULTS_FORMAT,
        "repo": repo,
        "run": {
            "id": run.id,
            "recipe": record.recipe_ref,
            "recipe_hash": record.detail.recipe.hash,
            "stage": run.stage,
            "model": {
                "family": record.family,
                "id": run.model_id,
                "revision": run.model_revision,
                "base_model": record.base_model,
                "tiny": record.tiny,
            },
            "seed": run.seed,
            "started": run.started_at.isoformat() if run.started_at else None,
            "ended": run.ended_at.isoformat() if run.ended_at else None,
            "package_versions": dict(sorted(run.package_versions.items())),
        },
        "lineage": [
            {
                "run": s.run_id,
                "recipe": s.recipe,
                "stage": s.stage,
                "green_flare": s.green_flare,
                "started_from": s.started_from,
                "published": s.published,
            }
            for s in record.lineage
        ],
        "data": {
            "datasets": [
                {"name": d.name, "split": d.split, "size": d.size, "fingerprint": d.fingerprint}
                for d in record.detail.datasets
            ],
            "license": card.license.data.id,
            "credentialed": record.credentialed,
        },
        "license": {
            "id": card.license.adapter.id,
            "name": card.license.adapter.name,
            "reason": card.license.reason,
        },
        "evaluation": {
            "split": record.split,
            "n": record.n,
            "metrics": record.metrics,
            "components": record.components,
            "before": record.before,
        },
        "training": record.training,
        "files": {f.name: {"size": f.size, "sha256": f.sha256} for f in files},
    }
    if record.registered_model is not None:
        document["registered_model"] = {"name": record.registered_model.name, "version": record.registered_model.version}
    if record.dataset_version is not None:
        document["data"]["dataset_version"] = record.dataset_version.ref
    return document
