"""Everything a model card and an upload need from one recorded run, read from the registry.

:func:`publishable_run` checks that the run can be published (succeeded, trained an adapter saved
as safetensors, evaluated with green_flare, a base model with a Hub id) and gathers its recipe,
base model, data, metrics, green_flare components, lineage and example outputs. It reads the
registry only; nothing here touches the network or imports torch.

The tiny random-weight twins (``model.id: tiny``) have no Hub checkpoint of their own. A tiny run's
card names the family's reference checkpoint (``family.reference_ids[0]``) as ``base_model``, the
architecture it copies, tags it ``tiny-random-twin`` and says in its first lines that it is a
test artifact that loads only onto rrg's tiny twin; such runs may only go to private repositories
(see :mod:`rrg.hub.publish`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry import Registry
    from rrg_registry.entities import DatasetVersion, ModelVersion, RunDetail

    from rrg.recipe.schema import RecipeSpec

RUN_LEVEL_METRICS = ("wall_seconds", "peak_rss_gib", "generation_samples_per_second")
"""Metrics that describe the machine a run ran on, not the model; kept out of the card's results."""
REPO_ID_HINT = "use org/name (letters, digits, '-', '_' and '.', no '--' or '..'), e.g. my-org/qwen3-vl-4b-iu-xray-sft"
MAX_EXAMPLES = 3
MAX_LINEAGE = 16


class NotPublishable(RrgError):
    """The run cannot be published as it stands."""


def is_hub_id(value: str) -> bool:
    """Whether ``value`` is a Hub repository id ``org/name``, by huggingface_hub's own rules."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if value.count("/") != 1:
        return False
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


@dataclass(frozen=True)
class LineageStep:
    """One run in the chain that led to the published adapter (oldest first)."""

    run_id: str
    recipe: str
    stage: str
    model_id: str
    green_flare: float | None
    split: str | None
    n: int | None
    before_green_flare: float | None = None
    """green_flare of the model the run started from, scored on the same samples before training."""
    started_from: str | None = None
    """What the run started from when it was not another recorded run (``hub:org/name@rev``)."""
    published: str | None = None
    """``org/name@commit`` of an ancestor's latest publication, if any (never set for the run itself)."""


@dataclass(frozen=True)
class Example:
    """One generated report next to its reference, for the card."""

    sample_id: str
    question: str
    prediction: str
    reference: str


@dataclass(frozen=True)
class PublishableRun:
    """A run as a model card and an upload see it."""

    detail: RunDetail
    spec: RecipeSpec
    adapter_dir: Path
    base_model: str
    """The Hub id the adapter applies to (for a tiny twin: the family's reference checkpoint)."""
    base_revision: str | None
    tiny: bool
    family: str
    family_display: str
    trust_remote_code: bool
    split: str
    n: int
    metrics: dict[str, float]
    """Evaluation metrics on ``split`` (green_flare, bleu4_flare, ce, rouge_l, ...)."""
    components: dict[str, float | None]
    """The seven green_flare components, severity_correlation and overall."""
    before: dict[str, float]
    """The starting model's scores on the same samples (``before/<metric>``), if measured."""
    training: dict[str, float]
    """The trainer's last logged values (``train/<name>``)."""
    lineage: tuple[LineageStep, ...]
    examples: tuple[Example, ...] = field(default=())
    registered_model: ModelVersion | None = None
    """The registered model version being published (``rrg publish model:NAME@VERSION``), if named so."""
    dataset_version: DatasetVersion | None = None
    """The registered dataset version the run read, if it read one."""

    @property
    def run_id(self) -> str:
        return self.detail.run.id

    @property
    def stage(self) -> str:
        return self.detail.run.stage

    @property
    def recipe_ref(self) -> str:
        return self.detail.recipe.ref

    @property
    def recipe_yaml(self) -> str:
        return self.detail.recipe.yaml_text

    @property
    def _planned_data(self) -> dict[str, Any]:
        """The data section of the run's recorded plan: what ``data`` resolved to (a registered
        dataset version's FLARE data set, licence and credentialed flag included)."""
        return (self.detail.run.plan or {}).get("data") or {}

    @property
    def dataset(self) -> str:
        """The FLARE data set the run was evaluated on (``data.dataset``, or the one a registered
        dataset version named there holds)."""
        return self._planned_data.get("dataset") or self.spec.data.dataset

    @property
    def data_license(self) -> str | None:
        """The data's licence: the recipe's ``data.license``, else the registered version's."""
        return self.spec.data.license or self._planned_data.get("license")

    @property
    def credentialed(self) -> bool:
        return bool(self.spec.data.credentialed or self._planned_data.get("credentialed"))

    @property
    def demo_data(self) -> bool:
        from rrg.datasets import DEMO_NAME

        registered = self.dataset_version is not None and self.dataset_version.name == DEMO_NAME
        return self.spec.data.root == "demo" or registered


def publishable_run(registry: Registry, run_id: str, registered_model: ModelVersion | None = None) -> PublishableRun:
    """Check that run ``run_id`` (id or unique prefix) can be published and gather what the card needs.

    ``registered_model`` is the registered version of that run being published (its files already
    verified): the card names it and the adapter is taken from its folder."""
    from rrg.models import get_family
    from rrg.recipe import Recipe

    detail = registry.get_run(run_id)
    run = detail.run
    label = f"run {run.id} ({run.recipe}, {run.stage})"
    if run.status.value != "succeeded":
        raise NotPublishable(
            f"{label} is {run.status.value}, not succeeded",
            hint="publish a succeeded run (rrg runs list --status succeeded)",
        )
    if run.stage == "zero_shot":
        raise NotPublishable(f"{label} trained no adapter", hint="publish an sft or grpo run")
    if registered_model is not None and registered_model.run_id != run.id:
        raise NotPublishable(
            f"model {registered_model.ref} is not an adapter of {label} (it comes from {registered_model.source})",
            hint=f"publish model:{registered_model.ref} itself",
        )
    adapter_dir = _adapter_dir(detail, label, _local_adapter(registry, detail, label, registered_model))
    spec = Recipe.from_yaml(detail.recipe.yaml_text).spec
    credentialed = bool(spec.data.credentialed or ((run.plan or {}).get("data") or {}).get("credentialed"))
    family = get_family(run.model_family)
    plan_model = (run.plan or {}).get("model", {})
    base_model, tiny = _base_model(
        family, run.model_id, plan_model.get("source", run.model_id), label
    )
    if not detail.components or "green_flare" not in detail.metrics:
        raise NotPublishable(
            f"{label} has no green_flare evaluation",
            hint="evaluate with green_flare (evaluation.metrics) before publishing",
        )
    last = detail.components[-1]
    metrics = {
        name: value
        for name, value in detail.metrics.items()
        if "/" not in name and name not in RUN_LEVEL_METRICS
    }
    return PublishableRun(
        detail=detail,
        spec=spec,
        adapter_dir=adapter_dir,
        base_model=base_model,
        base_revision=None if tiny else run.model_revision,
        tiny=tiny,
        family=family.name,
        family_display=family.display_name,
        trust_remote_code=bool(plan_model.get("trust_remote_code", False)),
        split=last.split,
        n=last.n,
        metrics=dict(sorted(metrics.items())),
        components=last.values(),
        before={
            name.removeprefix("before/"): value
            for name, value in sorted(detail.metrics.items())
            if name.startswith("before/")
        },
        training={
            name.removeprefix("train/"): value
            for name, value in sorted(detail.metrics.items())
            if name.startswith("train/")
        },
        lineage=_lineage(registry, detail),
        examples=() if credentialed else _examples(registry, run.id, last.split),
        registered_model=registered_model,
        dataset_version=getattr(detail, "dataset_version", None),
    )


def _local_adapter(registry: Registry, detail: RunDetail, label: str, registered_model: ModelVersion | None) -> Path | None:
    """The folder of the registered version being published (its files verified), or of the run's
    best checkpoint when it is kept on shared storage (fetched and verified); None: the run's own
    local folder."""
    from rrg.adapters import model_version_folder, run_adapter
    from rrg.artifacts import is_url

    best = [c for c in detail.checkpoints if c.best]
    try:
        if registered_model is not None:
            return model_version_folder(registry, registered_model, what=label)
        if best and is_url(best[-1].path):
            return run_adapter(registry, detail.run.id, what=label).path
    except RrgError as error:
        raise NotPublishable(error.message, hint=error.hint) from None
    return None


def _adapter_dir(detail: RunDetail, label: str, registered: Path | None = None) -> Path:
    """The run's best checkpoint (or ``registered``, the folder of its registered version), checked."""
    best = [c for c in detail.checkpoints if c.best]
    if not best:
        raise NotPublishable(
            f"{label} recorded no adapter",
            hint="publish an sft or grpo run that saved a checkpoint",
        )
    path = registered if registered is not None else Path(best[-1].path)
    if not (path / "adapter_config.json").is_file():
        raise NotPublishable(
            f"{label}: its adapter is gone from {path}",
            hint="rerun the recipe, or restore the run's output folder",
        )
    if not (path / "adapter_model.safetensors").is_file():
        raise NotPublishable(
            f"{label}: {path} holds no adapter_model.safetensors",
            hint="rrg publishes LoRA adapters saved as safetensors; full fine-tunes and pickled weights are not uploaded",
        )
    return path


def _base_model(family: Any, model_id: str, source: str, label: str) -> tuple[str, bool]:
    """The Hub id for ``base_model``, and whether the run used the tiny twin."""
    if model_id == "tiny":
        return family.reference_ids[0], True
    if source != model_id or not is_hub_id(model_id):
        raise NotPublishable(
            f"{label}: its base model is the local folder {model_id!r}, and a card's base_model must be a Hub id",
            hint=f"rerun the recipe with model.id set to the Hub id that folder copies (e.g. {family.reference_ids[0]})",
        )
    return model_id, False


def _lineage(registry: Registry, detail: RunDetail) -> tuple[LineageStep, ...]:
    """The run and its recorded ancestors (GRPO → SFT → ...), oldest first."""
    steps: list[LineageStep] = []
    current: RunDetail | None = detail
    seen: set[str] = set()
    while current is not None and current.run.id not in seen and len(steps) < MAX_LINEAGE:
        seen.add(current.run.id)
        run = current.run
        last = current.components[-1] if current.components else None
        # An ancestor's publication, never the run's own: publishing must not change what is published.
        published = (
            current.publications[-1] if (current.publications and current is not detail) else None
        )
        steps.append(
            LineageStep(
                run_id=run.id,
                recipe=run.recipe,
                stage=run.stage,
                model_id=run.model_id,
                green_flare=current.metrics.get("green_flare"),
                split=last.split if last else None,
                n=last.n if last else None,
                before_green_flare=current.metrics.get("before/green_flare"),
                started_from=run.adapter if (run.adapter and run.parent_run_id is None) else None,
                published=f"{published.repo}@{published.revision}" if published else None,
            )
        )
        current = registry.get_run(current.parent.id) if current.parent is not None else None
    return tuple(reversed(steps))


def _examples(registry: Registry, run_id: str, split: str) -> tuple[Example, ...]:
    rows = registry.predictions(run_id, split)[:MAX_EXAMPLES]
    return tuple(
        Example(
            sample_id=p.sample_id,
            question=p.question or "",
            prediction=p.prediction,
            reference=p.reference or "",
        )
        for p in rows
    )
