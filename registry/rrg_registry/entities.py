"""The plain records the registry hands out: recipes, datasets, runs, checkpoints, metrics, ...

These are frozen pydantic models with no database behind them; the store converts its rows into
them at its edge, so the SDK and the CLI never see a session or a table class. Times are
timezone-aware UTC. ``to_row()`` gives the flat dict the CLI prints (stable keys, documented in
docs/registry.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rrg_registry.status import RunStatus

GREEN_FLARE_COMPONENTS: tuple[str, ...] = (
    "entity_matching",
    "location_accuracy",
    "negation_handling",
    "temporal_accuracy",
    "measurement_accuracy",
    "clinical_significance",
    "structure_completeness",
)
"""The seven weighted components of green_flare, in the study's Table 2 order."""

GREEN_FLARE_EXTRA: tuple[str, ...] = ("severity_correlation", "overall")
"""Also stored per evaluation: severity_correlation (reported, unweighted) and the overall score."""


class Entity(BaseModel):
    """Base of every registry record: frozen, no extra fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RecipeVersion(Entity):
    """One recorded version of a recipe: its YAML text and the hash of its resolved content."""

    id: int
    name: str
    version: int
    hash: str = Field(description="sha256 (hex) of the resolved recipe's canonical JSON.")
    yaml_text: str
    created_at: datetime

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"


class Dataset(Entity):
    """A dataset split a run used, identified by a fingerprint of its content."""

    id: int
    name: str
    split: str
    fingerprint: str
    size: int
    created_at: datetime


class DatasetSplit(Entity):
    """One FLARE split of a registered dataset version (``<root>/<split>/<category>/<flare_dataset>``)."""

    flare_dataset: str = Field(description="FLARE data set folder, e.g. IU_XRay.")
    category: str = Field(description="FLARE modality folder, e.g. Xray.")
    split: str = Field(description="Split folder, e.g. validation-public.")
    count: int = Field(description="Samples in the split (after any skipped for image problems).")
    task_types: tuple[str, ...] = Field(default=(), description="Task types of its questions, as written.")
    fingerprint: str = Field(description="The split's content fingerprint, as a run reading all of it records it.")

    def content_key(self) -> tuple[str, str, str, int, str]:
        """What a dataset version's content is made of: (flare_dataset, category, split, count, fingerprint)."""
        return (self.flare_dataset, self.category, self.split, self.count, self.fingerprint)


class DatasetVersion(Entity):
    """A named, versioned dataset: where it lives and the fingerprinted splits it stands for."""

    id: int
    name: str
    version: int
    root: str = Field(description="Folder or fsspec URL of the FLARE organized_dataset.")
    description: str | None = None
    license: str | None = None
    credentialed: bool = False
    content_hash: str = Field(description="sha256 over the splits' (flare_dataset, category, split, count, fingerprint).")
    splits: tuple[DatasetSplit, ...] = ()
    created_at: datetime

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def flare_datasets(self) -> tuple[str, ...]:
        """The FLARE data set folders it holds, by name."""
        return tuple(sorted({s.flare_dataset for s in self.splits}))

    def split(self, flare_dataset: str, split: str, category: str | None = None) -> DatasetSplit | None:
        """The registered split ``flare_dataset``/``split`` (of ``category``, if given), or None."""
        for entry in self.splits:
            if entry.flare_dataset == flare_dataset and entry.split == split and category in (None, entry.category):
                return entry
        return None

    def to_row(self) -> dict[str, Any]:
        """The JSON object ``rrg datasets list --json`` prints for this version."""
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "root": self.root,
            "flare_datasets": list(self.flare_datasets),
            "splits": [s.model_dump(mode="json") for s in self.splits],
            "samples": sum(s.count for s in self.splits),
            "license": self.license,
            "credentialed": self.credentialed,
            "description": self.description,
            "content_hash": self.content_hash,
            "created": self.created_at,
        }


class ModelVersion(Entity):
    """One version of a registered model: an adapter, its base model, its source and its results."""

    id: int
    name: str
    version: int
    base_model: str
    base_revision: str | None = None
    source: str = Field(description='"run:<id>" or "hub:<repo>@<rev>".')
    run_id: str | None = None
    external_model_id: int | None = None
    adapter_path: str
    files: dict[str, str] = Field(default_factory=dict, description="Relative path -> sha256 of the adapter's files.")
    recipe_yaml: str | None = None
    dataset_version_id: int | None = None
    results: dict[str, float] = Field(default_factory=dict, description="Evaluation metrics at registration.")
    description: str | None = None
    created_at: datetime
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"


class ModelAlias(Entity):
    """An alias naming one version of a registered model."""

    name: str
    alias: str
    version: int
    set_by: str
    set_at: datetime


class AliasEvent(Entity):
    """One change of a model alias: set (old None), moved, or deleted (new None)."""

    name: str
    alias: str
    old_version: int | None = None
    new_version: int | None = None
    set_by: str
    set_at: datetime


class RegisteredModel(Entity):
    """A registered model name with its newest version number and its aliases."""

    name: str
    description: str | None = None
    created_at: datetime
    latest_version: int
    aliases: dict[str, int] = Field(default_factory=dict, description="Alias -> version.")


class NewRun(Entity):
    """What a caller says about a run it is about to start; the store adds id, status and times."""

    recipe_version_id: int
    stage: str
    model_family: str
    model_id: str
    model_revision: str | None = None
    adapter: str | None = None
    seed: int | None = None
    host: str | None = None
    package_versions: dict[str, str] = Field(default_factory=dict)
    plan: dict[str, Any] | None = None
    parent_run_id: str | None = None
    tags: tuple[str, ...] = ()
    dataset_ids: tuple[int, ...] = ()
    external_model_id: int | None = None
    dataset_version_id: int | None = None


class Run(Entity):
    """One execution of a recipe stage."""

    id: str = Field(description="Short hex id; any unique prefix names the run on the command line.")
    recipe_version_id: int
    recipe_name: str
    recipe_version: int
    stage: str
    model_family: str
    model_id: str
    model_revision: str | None = None
    adapter: str | None = None
    status: RunStatus
    host: str | None = None
    seed: int | None = None
    package_versions: dict[str, str] = Field(default_factory=dict)
    plan: dict[str, Any] | None = None
    parent_run_id: str | None = None
    external_model_id: int | None = None
    dataset_version_id: int | None = Field(default=None, description="The registered dataset version the run read.")
    tags: tuple[str, ...] = ()
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    heartbeat_at: datetime | None = None
    error: str | None = None

    @property
    def recipe(self) -> str:
        """``name@version`` of the recipe this run executed."""
        return f"{self.recipe_name}@{self.recipe_version}"


class Checkpoint(Entity):
    """A saved checkpoint of a run (adapter weights on disk)."""

    id: int
    run_id: str
    step: int
    path: str
    sha256: str
    size: int
    eval_loss: float | None = None
    best: bool = False
    created_at: datetime


class Metric(Entity):
    """One logged metric value."""

    id: int
    run_id: str
    checkpoint_id: int | None = None
    split: str
    name: str
    value: float
    n: int | None = None
    step: int | None = None
    logged_at: datetime


class GreenFlareComponents(Entity):
    """The green_flare components of one evaluation (run, checkpoint, split)."""

    id: int
    run_id: str
    checkpoint_id: int | None = None
    split: str
    n: int
    entity_matching: float | None = None
    location_accuracy: float | None = None
    negation_handling: float | None = None
    temporal_accuracy: float | None = None
    measurement_accuracy: float | None = None
    clinical_significance: float | None = None
    structure_completeness: float | None = None
    severity_correlation: float | None = None
    overall: float | None = None
    logged_at: datetime

    def values(self) -> dict[str, float | None]:
        """The seven components, then severity_correlation and overall, by name."""
        return {name: getattr(self, name) for name in (*GREEN_FLARE_COMPONENTS, *GREEN_FLARE_EXTRA)}


class Prediction(Entity):
    """One generated report for one sample, with its reference and per-sample scores."""

    run_id: str
    split: str
    sample_id: str
    question: str | None = None
    prediction: str
    reference: str | None = None
    green_flare: float | None = Field(default=None, description="Per-sample green_flare overall (copied from scores).")
    scores: dict[str, Any] = Field(default_factory=dict)
    checkpoint_id: int | None = None
    image_paths: tuple[str, ...] | None = Field(
        default=None, description="The sample's image paths as the run read them (frontal view first); None if not recorded."
    )
    study_id: str | None = Field(
        default=None, description="The imaging study the images belong to (IU_XRay: ``CXR1000``); None if not recorded."
    )


class Publication(Entity):
    """A run's adapter published to the Hugging Face Hub."""

    id: int
    run_id: str
    repo: str
    revision: str = Field(description="The Hub commit sha of the upload.")
    url: str
    published_at: datetime


class ExternalModel(Entity):
    """An adapter pulled from the Hub and registered locally."""

    id: int
    repo: str
    revision: str
    local_path: str
    recipe_yaml: str | None = None
    registered_at: datetime


class RunLink(Entity):
    """A run named in another run's lineage."""

    id: str
    recipe: str
    stage: str
    status: RunStatus


class RunSummary(Entity):
    """A run as the listing shows it: identity, status, times and its current metric values."""

    id: str
    recipe: str
    stage: str
    model_family: str
    model_id: str
    adapter: str | None = None
    status: RunStatus
    tags: tuple[str, ...] = ()
    parent_run_id: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    metrics: dict[str, float] = Field(
        default_factory=dict, description="For each metric name, the value most recently logged for the run."
    )

    def to_row(self) -> dict[str, Any]:
        """The JSON object ``rrg runs list --json`` prints for this run."""
        return {
            "id": self.id,
            "recipe": self.recipe,
            "stage": self.stage,
            "model": self.model_family,
            "model_id": self.model_id,
            "adapter": self.adapter,
            "status": self.status.value,
            "tags": list(self.tags),
            "parent": self.parent_run_id,
            "created": self.created_at,
            "started": self.started_at,
            "ended": self.ended_at,
            "metrics": dict(self.metrics),
        }


class RunDetail(Entity):
    """Everything recorded about one run."""

    run: Run
    recipe: RecipeVersion
    parent: RunLink | None = None
    children: tuple[RunLink, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    checkpoints: tuple[Checkpoint, ...] = ()
    metrics: dict[str, float] = Field(default_factory=dict, description="Latest value per metric name.")
    metric_history: tuple[Metric, ...] = ()
    components: tuple[GreenFlareComponents, ...] = ()
    publications: tuple[Publication, ...] = ()
    prediction_counts: dict[str, int] = Field(default_factory=dict, description="Number of predictions per split.")
    dataset_version: DatasetVersion | None = Field(default=None, description="The registered dataset version the run read.")

    @property
    def dataset_version_id(self) -> int | None:
        """Id of the registered dataset version the run read (None: not linked)."""
        return self.run.dataset_version_id


class PairedTest(Entity):
    """A paired bootstrap test of per-sample green_flare between two runs on the same samples."""

    baseline_run_id: str
    run_id: str
    split: str
    metric: str = "green_flare"
    n: int = Field(description="Samples scored by both runs.")
    baseline_mean: float
    run_mean: float
    mean_difference: float = Field(description="run_mean - baseline_mean.")
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float = Field(description="Two-sided bootstrap p-value for 'no difference'.")
    resamples: int
    seed: int


class Comparison(Entity):
    """Runs side by side: metrics, differences against the first run, paired tests."""

    runs: tuple[RunSummary, ...]
    metric_names: tuple[str, ...]
    paired_tests: tuple[PairedTest, ...] = ()
    skipped_tests: tuple[str, ...] = Field(default=(), description="Why a paired test could not be run, per pair.")

    def rows(self) -> list[dict[str, Any]]:
        """One row per metric: its value per run and the difference of each later run from the first."""
        base = self.runs[0]
        out: list[dict[str, Any]] = []
        for name in self.metric_names:
            row: dict[str, Any] = {"metric": name}
            for run in self.runs:
                row[run.id] = run.metrics.get(name)
            for run in self.runs[1:]:
                a, b = base.metrics.get(name), run.metrics.get(name)
                row[f"{run.id}-{base.id}"] = None if a is None or b is None else b - a
            out.append(row)
        return out
