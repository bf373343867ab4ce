"""Registered models: named, numbered adapter versions with aliases (``rrg models``, ``model:NAME@VERSION``).

A registered model is a name (``iu-report``) whose versions (1, 2, …) each freeze one adapter: the
run it came from (or the Hub commit it was pulled at), its base model and revision, every file of
the adapter with its sha256, the recipe, the dataset version the run read and its evaluation
results. Aliases (``paper``, ``production``) name one version each and can be moved; every move is
recorded with who made it and when. Recipes name a version as ``model.adapter: model:NAME@VERSION``
or ``model:NAME@ALIAS`` (GRPO: ``stage.init_from``), and every file is checked against its
registered sha256 before a run starts from it.

This module is ``rrg.registered_models``, not ``rrg.models``: ``rrg.models`` is the index of model
families (Qwen2.5-VL, Qwen3-VL, MedGemma, DeepSeek-OCR) that recipes name in ``model.family``, and
a module cannot be both. Every function returns the registry's entities
(:class:`rrg_registry.entities.ModelVersion`, ``RegisteredModel``, ``ModelAlias``, ``AliasEvent``)
or, for :func:`lineage`, a :class:`ModelLineage` made of them.

    from rrg import registered_models as models
    version = models.register("iu-report", run="3fa2")
    models.alias("iu-report@1", "paper")
    models.get("iu-report@paper").files
"""

from __future__ import annotations

import builtins
import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.adapters import (
    MODEL_NAME,
    adapter_files,
    model_version_folder,
    parse_model_ref,
    run_adapter,
)
from rrg.artifacts import is_url
from rrg.errors import RrgError

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry import Registry
    from rrg_registry.entities import (
        AliasEvent,
        DatasetVersion,
        ExternalModel,
        ModelAlias,
        ModelVersion,
        Publication,
        RegisteredModel,
        RunDetail,
        RunSummary,
    )

RUN_LEVEL_METRICS = ("wall_seconds", "peak_rss_gib", "generation_samples_per_second")
"""Metrics of the machine a run ran on, not of the model: not registered as results."""
MAX_LINEAGE = 16


# ------------------------------------------------------------------------------------------ helpers


@contextmanager
def _opened(registry: Registry | None) -> Iterator[Registry]:
    """``registry``, or the default one (``$RRG_REGISTRY_URL``, else ``./rrg.db``) opened and closed here."""
    if registry is not None:
        yield registry
        return
    from rrg_registry import Registry as RegistryClass

    with RegistryClass.default() as opened:
        yield opened


def current_user() -> str:
    """Who sets an alias: ``$USER``, else the login name, else ``unknown``."""
    user = os.environ.get("USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def check_name(name: str, what: str = "model name") -> str:
    """A registered model's name or an alias: letters, digits, ``.``, ``_``, ``-`` (refs split on ``:`` and ``@``)."""
    import re

    if not re.fullmatch(MODEL_NAME, name or ""):
        raise RrgError(
            f"{what} {name!r} is not a valid name",
            hint="use letters, digits, '.', '_' and '-', starting with a letter or digit, e.g. iu-report",
        )
    return name


def evaluation_results(metrics: dict[str, float]) -> dict[str, float]:
    """The evaluation metrics of a run's latest values: green_flare, bleu4_flare, ce, ... (not the
    training logs ``train/*``, the before-training scores ``before/*`` nor machine measures)."""
    return {
        name: value for name, value in sorted(metrics.items()) if "/" not in name and name not in RUN_LEVEL_METRICS
    }


def dataset_version_by_id(registry: Registry, dataset_version_id: int | None) -> DatasetVersion | None:
    """The registered dataset version with this id (None for None)."""
    if dataset_version_id is None:
        return None
    return next((d for d in registry.list_dataset_versions() if d.id == dataset_version_id), None)


def external_model_by_id(registry: Registry, external_model_id: int | None) -> ExternalModel | None:
    if external_model_id is None:
        return None
    return next((e for e in registry.list_external_models() if e.id == external_model_id), None)


# ------------------------------------------------------------------------------------------ registering


def register_run(registry: Registry, name: str, run: str, *, description: str | None = None) -> ModelVersion:
    """The next version of model ``name`` from run ``run`` (id or unique prefix): the adapter it
    handed on (its best checkpoint), every file's sha256, its base model, recipe, dataset version
    and latest evaluation metrics. A run that did not succeed or has no adapter is refused."""
    check_name(name)
    run_id = registry.resolve_run_id(run)
    what = f"rrg models register {name}"
    detail = registry.get_run(run_id)
    label = f"run {run_id} ({detail.run.recipe}, {detail.run.stage})"
    if detail.run.status.value != "succeeded":
        raise RrgError(
            f"{what}: {label} is {detail.run.status.value}, not succeeded",
            hint="register a succeeded run (rrg runs list --status succeeded)",
        )
    if not any(c.best for c in detail.checkpoints):
        raise RrgError(f"{what}: {label} recorded no adapter", hint="register an sft or grpo run")
    source = run_adapter(registry, run_id, what=what)
    files = adapter_files(source.path)
    best = [c for c in detail.checkpoints if c.best][-1]
    if best.sha256 not in files.values():
        raise RrgError(
            f"{what}: the weights in {source.path} changed since run {run_id} recorded them "
            f"(recorded sha256 {best.sha256}, none of the folder's files has it)",
            hint="restore the run's output folder, or register another run",
        )
    run_entity = detail.run
    return registry.register_model_version(
        name,
        base_model=run_entity.model_id,
        base_revision=run_entity.model_revision,
        source=f"run:{run_id}",
        adapter_path=best.path if is_url(best.path) else str(source.path),
        files=files,
        run_id=run_id,
        recipe_yaml=detail.recipe.yaml_text,
        dataset_version_id=getattr(run_entity, "dataset_version_id", None),
        results=evaluation_results(detail.metrics),
        description=description,
    )


def register_hub(registry: Registry, name: str, hub: str, *, description: str | None = None) -> ModelVersion:
    """The next version of model ``name`` from a Hub adapter ``org/name[@revision]`` (``hub:`` in
    front or not): the registered pull of it (``rrg pull``), pulled now if it is not registered yet."""
    import json

    from rrg.hub.bundle import RESULTS_FILE
    from rrg.hub.pull import pull_adapter, verify_snapshot

    check_name(name)
    repo, _, revision = hub.removeprefix("hub:").partition("@")
    external = registry.get_external_model(repo, revision or None)
    if external is None or not Path(external.local_path).is_dir():
        pulled = pull_adapter(repo, revision=revision or None, registry=registry)
        external = registry.get_external_model(repo, pulled.revision)
    folder = Path(external.local_path)
    verify_snapshot(folder, f"{repo}@{external.revision}")
    results_path = folder / RESULTS_FILE
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.is_file() else {}
    model = (results.get("run") or {}).get("model") or {}
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    base_model = model.get("id") or config.get("base_model_name_or_path")
    if not base_model:
        raise RrgError(
            f"rrg models register {name}: {repo}@{external.revision} names no base model "
            "(no rrg_results.json and no base_model_name_or_path in adapter_config.json)",
            hint="register an adapter published with rrg publish, or one whose adapter_config.json names its base model",
        )
    metrics = (results.get("evaluation") or {}).get("metrics") or {}
    return registry.register_model_version(
        name,
        base_model=base_model,
        base_revision=model.get("revision") if model else config.get("revision"),
        source=f"hub:{repo}@{external.revision}",
        adapter_path=str(folder),
        files=adapter_files(folder),
        external_model_id=external.id,
        recipe_yaml=external.recipe_yaml,
        results=evaluation_results({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}),
        description=description,
    )


def resolve(registry: Registry, ref: str) -> ModelVersion:
    """The version ``NAME``, ``NAME@VERSION``, ``NAME@ALIAS`` or ``NAME@latest`` names (``model:`` optional)."""
    name, selector = parse_model_ref(ref)
    return registry.get_model_version(name, selector)


def verified(registry: Registry, ref: str, *, what: str) -> ModelVersion:
    """:func:`resolve`, then every registered file checked against its sha256 (one line naming a
    missing or changed file and both hashes)."""
    version = resolve(registry, ref)
    model_version_folder(registry, version, what=what)
    return version


def set_alias(registry: Registry, ref: str, alias: str, *, set_by: str | None = None) -> ModelAlias:
    """Point ``alias`` at the version ``ref`` names (``NAME@VERSION``, or another alias's version)."""
    version = resolve(registry, ref)
    return registry.set_model_alias(version.name, check_name(alias, "alias"), version.version, set_by or current_user())


def delete_alias(registry: Registry, ref: str, alias: str, *, set_by: str | None = None) -> AliasEvent:
    """Remove ``alias`` of model ``ref`` (``NAME``, or ``NAME@VERSION`` when it must name that version)."""
    name, selector = parse_model_ref(ref)
    if selector is not None:
        named = registry.get_model_version(name, alias).version
        wanted = resolve(registry, ref).version
        if named != wanted:
            raise RrgError(
                f"alias {alias} of {name} names version {named}, not {wanted}",
                hint=f"rrg models alias {name}@{named} {alias} --delete, or leave out the version",
            )
    return registry.delete_model_alias(name, alias, set_by or current_user())


# ------------------------------------------------------------------------------------------ lineage


@dataclass(frozen=True)
class LineageStep:
    """One link of a version's lineage, as ``rrg models lineage`` prints it."""

    step: str
    """``base model``, ``dataset version``, ``zero-shot``, ``sft``, ``grpo``, ``pulled``, ``registered`` or ``published``."""
    ref: str
    recipe: str | None = None
    status: str | None = None
    green_flare: float | None = None
    detail: str | None = None

    def to_row(self) -> dict[str, Any]:
        return {
            "step": self.step, "ref": self.ref, "recipe": self.recipe, "status": self.status,
            "green_flare": self.green_flare, "detail": self.detail,
        }


@dataclass(frozen=True)
class ModelLineage:
    """Where a registered version comes from: base model → dataset version → zero-shot → SFT →
    GRPO → the version → its Hub publications."""

    version: ModelVersion
    dataset_version: DatasetVersion | None
    zero_shot: RunSummary | None
    """The latest succeeded zero-shot run of the same base model on the same evaluation samples."""
    runs: tuple[RunDetail, ...]
    """The version's run and its recorded ancestors (``init_from`` / ``model.adapter`` parents), oldest first."""
    external_model: ExternalModel | None
    """The Hub pull the version (or its oldest run) started from, if any."""
    publications: tuple[Publication, ...]
    """Hub publications of the runs above, oldest first."""

    def steps(self) -> list[LineageStep]:
        version = self.version
        steps = [
            LineageStep(
                "base model",
                version.base_model + (f"@{version.base_revision}" if version.base_revision else ""),
                detail=f"family {self.runs[0].run.model_family}" if self.runs else None,
            )
        ]
        if self.dataset_version is not None:
            dataset = self.dataset_version
            steps.append(
                LineageStep(
                    "dataset version", dataset.ref,
                    detail=f"content {dataset.content_hash[:12]}, {sum(s.count for s in dataset.splits)} samples, root {dataset.root}",
                )
            )
        else:
            steps.append(LineageStep("dataset version", "-", detail="none recorded (the run read data not registered with rrg datasets)"))
        if self.zero_shot is not None:
            run = self.zero_shot
            steps.append(LineageStep("zero-shot", run.id, run.recipe, run.status.value, run.metrics.get("green_flare")))
        elif self.runs and "before/green_flare" in self.runs[0].metrics:
            first = self.runs[0]
            steps.append(
                LineageStep(
                    "zero-shot", first.run.id, first.run.recipe, None, first.metrics["before/green_flare"],
                    detail="scored by that run before training",
                )
            )
        if self.external_model is not None and (not self.runs or self.runs[0].run.external_model_id is not None):
            external = self.external_model
            steps.append(LineageStep("pulled", f"hub:{external.repo}@{external.revision}", detail=external.local_path))
        for detail in self.runs:
            run = detail.run
            started = run.adapter if run.adapter else None
            steps.append(
                LineageStep(
                    run.stage, run.id, run.recipe, run.status.value, detail.metrics.get("green_flare"),
                    detail=f"started from {started}" if started else None,
                )
            )
        aliases = ", ".join(version.aliases)
        steps.append(
            LineageStep(
                "registered", version.ref, status=None, green_flare=version.results.get("green_flare"),
                detail=f"aliases {aliases}" if aliases else None,
            )
        )
        for publication in self.publications:
            steps.append(
                LineageStep(
                    "published", f"{publication.repo}@{publication.revision}",
                    detail=f"run {publication.run_id}, {publication.url}",
                )
            )
        return steps

    def to_json(self) -> dict[str, Any]:
        """What ``rrg models lineage --json`` prints."""
        return {
            "model": self.version.ref,
            "aliases": builtins.list(self.version.aliases),
            "base_model": self.version.base_model,
            "base_revision": self.version.base_revision,
            "dataset_version": self.dataset_version.ref if self.dataset_version is not None else None,
            "zero_shot": self.zero_shot.id if self.zero_shot is not None else None,
            "runs": [{"id": d.run.id, "stage": d.run.stage, "recipe": d.run.recipe, "adapter": d.run.adapter} for d in self.runs],
            "pulled": f"hub:{self.external_model.repo}@{self.external_model.revision}" if self.external_model else None,
            "publications": [p.model_dump(mode="json") for p in self.publications],
            "steps": [s.to_row() for s in self.steps()],
        }


def lineage_of(registry: Registry, ref: str) -> ModelLineage:
    """The lineage of the version ``ref`` names (see :class:`ModelLineage`)."""
    version = resolve(registry, ref)
    runs: list[RunDetail] = []
    seen: set[str] = set()
    current = registry.get_run(version.run_id) if version.run_id else None
    while current is not None and current.run.id not in seen and len(runs) < MAX_LINEAGE:
        seen.add(current.run.id)
        runs.append(current)
        current = registry.get_run(current.parent.id) if current.parent is not None else None
    runs.reverse()
    dataset_id = version.dataset_version_id
    dataset = next((d.dataset_version for d in runs if getattr(d, "dataset_version", None) and d.dataset_version.id == dataset_id), None)
    if dataset is None:
        dataset = dataset_version_by_id(registry, dataset_id)
    external_id = version.external_model_id or (runs[0].run.external_model_id if runs else None)
    publications = tuple(p for d in runs for p in d.publications)
    return ModelLineage(
        version=version,
        dataset_version=dataset,
        zero_shot=_zero_shot(registry, runs[0]) if runs else None,
        runs=tuple(runs),
        external_model=external_model_by_id(registry, external_id),
        publications=tuple(sorted(publications, key=lambda p: (p.published_at, p.id))),
    )


def _zero_shot(registry: Registry, first: RunDetail) -> RunSummary | None:
    """The latest succeeded zero-shot run of ``first``'s base model (no adapter) that scored the same
    evaluation samples (a dataset split of the same fingerprint) as ``first``."""
    run = first.run
    wanted = {d.id for d in first.datasets}
    if not wanted:
        return None
    candidates = registry.search_runs(stage="zero_shot", model=run.model_id, status="succeeded", limit=200)
    for candidate in candidates:
        if candidate.adapter is not None or candidate.model_family != run.model_family or candidate.id == run.id:
            continue
        if {d.id for d in registry.get_run(candidate.id).datasets} & wanted:
            return candidate
    return None


# ------------------------------------------------------------------------------------------ the SDK's short names


def register(
    name: str, *, run: str | None = None, hub: str | None = None, description: str | None = None,
    registry: Registry | None = None,
) -> ModelVersion:
    """Register the next version of ``name`` from ``run`` (a run id or prefix) or ``hub``
    (``org/name[@revision]``, a pulled adapter); exactly one of them."""
    if (run is None) == (hub is None):
        raise RrgError(f"register {name}: give exactly one of run= and hub=", hint="e.g. register('iu-report', run='3fa2')")
    with _opened(registry) as opened:
        if run is not None:
            return register_run(opened, name, run, description=description)
        return register_hub(opened, name, hub, description=description)


def get(ref: str, *, registry: Registry | None = None) -> ModelVersion:
    """The version ``NAME``, ``NAME@VERSION`` or ``NAME@ALIAS`` names (``model:`` in front or not)."""
    with _opened(registry) as opened:
        return resolve(opened, ref)


def alias(
    ref: str, alias: str, *, delete: bool = False, set_by: str | None = None, registry: Registry | None = None
) -> ModelAlias | AliasEvent:
    """Point ``alias`` at the version ``ref`` names (``NAME@VERSION``); with ``delete``, remove it."""
    with _opened(registry) as opened:
        if delete:
            return delete_alias(opened, ref, alias, set_by=set_by)
        return set_alias(opened, ref, alias, set_by=set_by)


def list(*, registry: Registry | None = None) -> builtins.list[RegisteredModel]:
    """Every registered model, by name, with its latest version and aliases."""
    with _opened(registry) as opened:
        return opened.list_registered_models()


def versions(name: str, *, registry: Registry | None = None) -> builtins.list[ModelVersion]:
    """Every version of the registered model ``name``, oldest first."""
    with _opened(registry) as opened:
        return opened.list_model_versions(name)


def lineage(ref: str, *, registry: Registry | None = None) -> ModelLineage:
    """Base model → dataset version → zero-shot → SFT → GRPO → the version → its Hub publications."""
    with _opened(registry) as opened:
        return lineage_of(opened, ref)
