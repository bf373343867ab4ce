"""SQLModel tables of the registry, and their conversion to entities.

The tables live in their own SQLAlchemy ``MetaData`` (with a naming convention), not SQLModel's
process-wide one. Every constraint and index has an explicit name so migrations can address it on
SQLite and PostgreSQL alike. These classes never leave the store: each has ``to_entity()``.

The schema is changed only through the Alembic revisions in ``rrg_registry/migrations``; a test
checks that migrating an empty database reproduces exactly these tables (no drift).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry as sa_registry
from sqlmodel import Field, SQLModel

from rrg_registry import entities
from rrg_registry.status import STATUS_VALUES, RunStatus

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
"""The registry's tables (``target_metadata`` for Alembic). Check constraints are named by hand."""

RUN_ID_LENGTH = 32
"""Room in the ``runs.id`` column; ids handed out are 8 hex characters."""


def utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (SQLite returns naive datetimes, stored as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _when(nullable: bool = False) -> Any:
    return Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=nullable))


class Table(SQLModel, registry=sa_registry(metadata=metadata)):
    """Base of the registry's table classes (binds them to :data:`metadata`)."""


class RecipeVersionRow(Table, table=True):
    __tablename__ = "recipe_versions"
    __table_args__ = (sa.UniqueConstraint("name", "version", name="uq_recipe_versions_name_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    yaml_text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = _when()

    def to_entity(self) -> entities.RecipeVersion:
        return entities.RecipeVersion(
            id=self.id, name=self.name, version=self.version, hash=self.hash,
            yaml_text=self.yaml_text, created_at=utc(self.created_at),
        )


class DatasetRow(Table, table=True):
    __tablename__ = "datasets"
    __table_args__ = (
        sa.UniqueConstraint("name", "split", "fingerprint", name="uq_datasets_name_split_fingerprint"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    split: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    fingerprint: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    size: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    created_at: datetime = _when()

    def to_entity(self) -> entities.Dataset:
        return entities.Dataset(
            id=self.id, name=self.name, split=self.split, fingerprint=self.fingerprint,
            size=self.size, created_at=utc(self.created_at),
        )


class ExternalModelRow(Table, table=True):
    __tablename__ = "external_models"
    __table_args__ = (sa.UniqueConstraint("repo", "revision", name="uq_external_models_repo_revision"),)

    id: int | None = Field(default=None, primary_key=True)
    repo: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    revision: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    local_path: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    recipe_yaml: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    registered_at: datetime = _when()

    def to_entity(self) -> entities.ExternalModel:
        return entities.ExternalModel(
            id=self.id, repo=self.repo, revision=self.revision, local_path=self.local_path,
            recipe_yaml=self.recipe_yaml, registered_at=utc(self.registered_at),
        )


class RunRow(Table, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUS_VALUES) + ")", name="ck_runs_status"
        ),
        sa.Index("ix_runs_recipe_version_id", "recipe_version_id"),
        sa.Index("ix_runs_parent_run_id", "parent_run_id"),
        sa.Index("ix_runs_created_at", "created_at"),
        sa.Index("ix_runs_status_heartbeat_at", "status", "heartbeat_at"),
        sa.Index("ix_runs_dataset_version_id", "dataset_version_id"),
    )

    id: str = Field(sa_column=sa.Column(sa.String(RUN_ID_LENGTH), primary_key=True))
    recipe_version_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("recipe_versions.id", name="fk_runs_recipe_version_id_recipe_versions"),
            nullable=False,
        )
    )
    stage: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    model_family: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    model_id: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    model_revision: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    adapter: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    host: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    seed: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    package_versions: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    plan: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    parent_run_id: str | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.id", name="fk_runs_parent_run_id_runs"), nullable=True
        ),
    )
    external_model_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("external_models.id", name="fk_runs_external_model_id_external_models"),
            nullable=True,
        ),
    )
    dataset_version_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("dataset_versions.id", name="fk_runs_dataset_version_id_dataset_versions"),
            nullable=True,
        ),
    )
    created_at: datetime = _when()
    started_at: datetime | None = _when(nullable=True)
    ended_at: datetime | None = _when(nullable=True)
    heartbeat_at: datetime | None = _when(nullable=True)
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class RunTagRow(Table, table=True):
    __tablename__ = "run_tags"
    __table_args__ = (sa.Index("ix_run_tags_tag", "tag"),)

    run_id: str = Field(
        sa_column=sa.Column(
            sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.id", name="fk_run_tags_run_id_runs"), primary_key=True
        )
    )
    tag: str = Field(sa_column=sa.Column(sa.String(200), primary_key=True))


class RunDatasetRow(Table, table=True):
    __tablename__ = "run_datasets"

    run_id: str = Field(
        sa_column=sa.Column(
            sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.id", name="fk_run_datasets_run_id_runs"), primary_key=True
        )
    )
    dataset_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("datasets.id", name="fk_run_datasets_dataset_id_datasets"), primary_key=True
        )
    )


def _run_fk(table: str) -> Any:
    return Field(
        sa_column=sa.Column(
            sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.id", name=f"fk_{table}_run_id_runs"), nullable=False
        )
    )


def _checkpoint_fk(table: str) -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("checkpoints.id", name=f"fk_{table}_checkpoint_id_checkpoints"), nullable=True
        ),
    )


class CheckpointRow(Table, table=True):
    __tablename__ = "checkpoints"
    __table_args__ = (sa.UniqueConstraint("run_id", "step", name="uq_checkpoints_run_id_step"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = _run_fk("checkpoints")
    step: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    path: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    eval_loss: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    best: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False))
    created_at: datetime = _when()

    def to_entity(self) -> entities.Checkpoint:
        return entities.Checkpoint(
            id=self.id, run_id=self.run_id, step=self.step, path=self.path, sha256=self.sha256,
            size=self.size, eval_loss=self.eval_loss, best=self.best, created_at=utc(self.created_at),
        )


class MetricRow(Table, table=True):
    """Every metric value ever logged (history)."""

    __tablename__ = "metrics"
    __table_args__ = (sa.Index("ix_metrics_run_id_name", "run_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = _run_fk("metrics")
    checkpoint_id: int | None = _checkpoint_fk("metrics")
    split: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    value: float = Field(sa_column=sa.Column(sa.Double, nullable=False))
    n: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    step: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    logged_at: datetime = _when()

    def to_entity(self) -> entities.Metric:
        return entities.Metric(
            id=self.id, run_id=self.run_id, checkpoint_id=self.checkpoint_id, split=self.split,
            name=self.name, value=self.value, n=self.n, step=self.step, logged_at=utc(self.logged_at),
        )


class LatestMetricRow(Table, table=True):
    """The most recently logged value of each metric of each run: what listings filter and sort on."""

    __tablename__ = "latest_metrics"
    __table_args__ = (sa.Index("ix_latest_metrics_name_value", "name", "value"),)

    run_id: str = Field(
        sa_column=sa.Column(
            sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.id", name="fk_latest_metrics_run_id_runs"), primary_key=True
        )
    )
    name: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    value: float = Field(sa_column=sa.Column(sa.Double, nullable=False))
    split: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    metric_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("metrics.id", name="fk_latest_metrics_metric_id_metrics"), nullable=False
        )
    )


class GreenFlareComponentsRow(Table, table=True):
    __tablename__ = "green_flare_components"
    __table_args__ = (sa.Index("ix_green_flare_components_run_id", "run_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = _run_fk("green_flare_components")
    checkpoint_id: int | None = _checkpoint_fk("green_flare_components")
    split: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    n: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    entity_matching: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    location_accuracy: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    negation_handling: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    temporal_accuracy: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    measurement_accuracy: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    clinical_significance: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    structure_completeness: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    severity_correlation: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    overall: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    logged_at: datetime = _when()

    def to_entity(self) -> entities.GreenFlareComponents:
        values = {name: getattr(self, name) for name in (*entities.GREEN_FLARE_COMPONENTS, *entities.GREEN_FLARE_EXTRA)}
        return entities.GreenFlareComponents(
            id=self.id, run_id=self.run_id, checkpoint_id=self.checkpoint_id, split=self.split, n=self.n,
            logged_at=utc(self.logged_at), **values,
        )


class PredictionRow(Table, table=True):
    __tablename__ = "predictions"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "split", "sample_id", name="uq_predictions_run_id_split_sample_id"),
        sa.Index("ix_predictions_study_id", "study_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = _run_fk("predictions")
    checkpoint_id: int | None = _checkpoint_fk("predictions")
    split: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    sample_id: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    question: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    prediction: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    reference: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    green_flare: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    scores: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    image_paths: list | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    study_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))

    def to_entity(self) -> entities.Prediction:
        return entities.Prediction(
            run_id=self.run_id, split=self.split, sample_id=self.sample_id, question=self.question,
            prediction=self.prediction, reference=self.reference, green_flare=self.green_flare,
            scores=dict(self.scores or {}), checkpoint_id=self.checkpoint_id,
            image_paths=None if self.image_paths is None else tuple(self.image_paths), study_id=self.study_id,
        )


class PublicationRow(Table, table=True):
    __tablename__ = "publications"
    __table_args__ = (sa.Index("ix_publications_run_id", "run_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = _run_fk("publications")
    repo: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    revision: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    url: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    published_at: datetime = _when()

    def to_entity(self) -> entities.Publication:
        return entities.Publication(
            id=self.id, run_id=self.run_id, repo=self.repo, revision=self.revision, url=self.url,
            published_at=utc(self.published_at),
        )


class DatasetVersionRow(Table, table=True):
    """A registered dataset version: a name, its version number and the content it stands for."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        sa.UniqueConstraint("name", "version", name="uq_dataset_versions_name_version"),
        sa.UniqueConstraint("name", "content_hash", name="uq_dataset_versions_name_content_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    root: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    license: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    credentialed: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False))
    content_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = _when()

    def to_entity(self, splits: list[DatasetVersionSplitRow]) -> entities.DatasetVersion:
        ordered = sorted(splits, key=lambda s: (s.flare_dataset, s.category, s.split))
        return entities.DatasetVersion(
            id=self.id, name=self.name, version=self.version, root=self.root, description=self.description,
            license=self.license, credentialed=self.credentialed, content_hash=self.content_hash,
            splits=tuple(s.to_entity() for s in ordered), created_at=utc(self.created_at),
        )


class DatasetVersionSplitRow(Table, table=True):
    """One FLARE split of a registered dataset version: its sample count, task types and fingerprint."""

    __tablename__ = "dataset_version_splits"

    dataset_version_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("dataset_versions.id", name="fk_dataset_version_splits_dataset_version_id_dataset_versions"),
            primary_key=True,
        )
    )
    flare_dataset: str = Field(sa_column=sa.Column(sa.String(200), primary_key=True))
    category: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    split: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    task_types: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    fingerprint: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))

    def to_entity(self) -> entities.DatasetSplit:
        return entities.DatasetSplit(
            flare_dataset=self.flare_dataset, category=self.category, split=self.split, count=self.count,
            task_types=tuple(self.task_types or ()), fingerprint=self.fingerprint,
        )


class RegisteredModelRow(Table, table=True):
    """A registered model name; its versions are :class:`ModelVersionRow` rows."""

    __tablename__ = "registered_models"
    __table_args__ = (sa.UniqueConstraint("name", name="uq_registered_models_name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = _when()


class ModelVersionRow(Table, table=True):
    """One version of a registered model: an adapter, where it came from and what it scored."""

    __tablename__ = "model_versions"
    __table_args__ = (
        sa.UniqueConstraint("registered_model_id", "version", name="uq_model_versions_registered_model_id_version"),
        sa.Index("ix_model_versions_run_id", "run_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    registered_model_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("registered_models.id", name="fk_model_versions_registered_model_id_registered_models"),
            nullable=False,
        )
    )
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    base_model: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    base_revision: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    source: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    run_id: str | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.String(RUN_ID_LENGTH), sa.ForeignKey("runs.id", name="fk_model_versions_run_id_runs"), nullable=True
        ),
    )
    external_model_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("external_models.id", name="fk_model_versions_external_model_id_external_models"),
            nullable=True,
        ),
    )
    adapter_path: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    files: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    recipe_yaml: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    dataset_version_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("dataset_versions.id", name="fk_model_versions_dataset_version_id_dataset_versions"),
            nullable=True,
        ),
    )
    results: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = _when()

    def to_entity(self, name: str, aliases: list[str]) -> entities.ModelVersion:
        return entities.ModelVersion(
            id=self.id, name=name, version=self.version, base_model=self.base_model,
            base_revision=self.base_revision, source=self.source, run_id=self.run_id,
            external_model_id=self.external_model_id, adapter_path=self.adapter_path, files=dict(self.files or {}),
            recipe_yaml=self.recipe_yaml, dataset_version_id=self.dataset_version_id,
            results=dict(self.results or {}), description=self.description, created_at=utc(self.created_at),
            aliases=tuple(sorted(aliases)),
        )


class ModelAliasRow(Table, table=True):
    """An alias (``production``, ``candidate``) pointing at one version of a registered model."""

    __tablename__ = "model_aliases"

    registered_model_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("registered_models.id", name="fk_model_aliases_registered_model_id_registered_models"),
            primary_key=True,
        )
    )
    alias: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    set_by: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    set_at: datetime = _when()


class ModelAliasEventRow(Table, table=True):
    """Every change of a model's aliases (set, moved, deleted): who, when, from which version to which."""

    __tablename__ = "model_alias_events"
    __table_args__ = (sa.Index("ix_model_alias_events_registered_model_id", "registered_model_id"),)

    id: int | None = Field(default=None, primary_key=True)
    registered_model_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("registered_models.id", name="fk_model_alias_events_registered_model_id_registered_models"),
            nullable=False,
        )
    )
    alias: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    old_version: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    new_version: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    set_by: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    set_at: datetime = _when()


def run_entity(row: RunRow, recipe: RecipeVersionRow, tags: list[str]) -> entities.Run:
    """A :class:`entities.Run` from its row, its recipe's row and its tags."""
    return entities.Run(
        id=row.id, recipe_version_id=row.recipe_version_id, recipe_name=recipe.name,
        recipe_version=recipe.version, stage=row.stage, model_family=row.model_family,
        model_id=row.model_id, model_revision=row.model_revision, adapter=row.adapter,
        status=RunStatus(row.status), host=row.host, seed=row.seed,
        package_versions=dict(row.package_versions or {}), plan=row.plan,
        parent_run_id=row.parent_run_id, external_model_id=row.external_model_id,
        dataset_version_id=row.dataset_version_id, tags=tuple(sorted(tags)), created_at=utc(row.created_at), started_at=utc(row.started_at),
        ended_at=utc(row.ended_at), heartbeat_at=utc(row.heartbeat_at), error=row.error,
    )
