"""The dataset and model registry: named, versioned datasets and registered models with aliases.

``dataset_versions`` holds one row per registered version of a named dataset (its root, licence,
credentialed flag and a hash of its content), ``dataset_version_splits`` the fingerprinted FLARE
splits each version stands for; ``(name, version)`` and ``(name, content_hash)`` are unique, so
concurrent registrations can neither reuse a version number nor give the same content two
versions. ``runs.dataset_version_id`` links a run to the version it read (nullable: runs recorded
before this revision, and runs of unregistered data, have none).

``registered_models`` names models, ``model_versions`` holds their numbered versions (an adapter,
its files' sha256, where it came from, its results), ``model_aliases`` the alias -> version
pointers and ``model_alias_events`` every change of them.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("root", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("license", sa.String(200), nullable=True),
        sa.Column("credentialed", sa.Boolean, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.UniqueConstraint("name", "version", name="uq_dataset_versions_name_version"),
        sa.UniqueConstraint("name", "content_hash", name="uq_dataset_versions_name_content_hash"),
    )
    op.create_table(
        "dataset_version_splits",
        sa.Column("dataset_version_id", sa.Integer, nullable=False),
        sa.Column("flare_dataset", sa.String(200), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("split", sa.String(100), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("task_types", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"], ["dataset_versions.id"],
            name="fk_dataset_version_splits_dataset_version_id_dataset_versions",
        ),
        sa.PrimaryKeyConstraint("dataset_version_id", "flare_dataset", "category", "split", name="pk_dataset_version_splits"),
    )
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_registered_models"),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("registered_model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("base_model", sa.String(300), nullable=False),
        sa.Column("base_revision", sa.String(100), nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("external_model_id", sa.Integer, nullable=True),
        sa.Column("adapter_path", sa.Text, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("recipe_yaml", sa.Text, nullable=True),
        sa.Column("dataset_version_id", sa.Integer, nullable=True),
        sa.Column("results", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["registered_model_id"], ["registered_models.id"],
            name="fk_model_versions_registered_model_id_registered_models",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_model_versions_run_id_runs"),
        sa.ForeignKeyConstraint(
            ["external_model_id"], ["external_models.id"], name="fk_model_versions_external_model_id_external_models"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"], ["dataset_versions.id"], name="fk_model_versions_dataset_version_id_dataset_versions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("registered_model_id", "version", name="uq_model_versions_registered_model_id_version"),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_table(
        "model_aliases",
        sa.Column("registered_model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        _when("set_at"),
        sa.ForeignKeyConstraint(
            ["registered_model_id"], ["registered_models.id"],
            name="fk_model_aliases_registered_model_id_registered_models",
        ),
        sa.PrimaryKeyConstraint("registered_model_id", "alias", name="pk_model_aliases"),
    )
    op.create_table(
        "model_alias_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("registered_model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("old_version", sa.Integer, nullable=True),
        sa.Column("new_version", sa.Integer, nullable=True),
        sa.Column("set_by", sa.String(200), nullable=False),
        _when("set_at"),
        sa.ForeignKeyConstraint(
            ["registered_model_id"], ["registered_models.id"],
            name="fk_model_alias_events_registered_model_id_registered_models",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_alias_events"),
    )
    op.create_index("ix_model_alias_events_registered_model_id", "model_alias_events", ["registered_model_id"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("dataset_version_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_runs_dataset_version_id_dataset_versions", "dataset_versions", ["dataset_version_id"], ["id"]
        )
        batch.create_index("ix_runs_dataset_version_id", ["dataset_version_id"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_dataset_version_id")
        batch.drop_constraint("fk_runs_dataset_version_id_dataset_versions", type_="foreignkey")
        batch.drop_column("dataset_version_id")
    op.drop_index("ix_model_alias_events_registered_model_id", table_name="model_alias_events")
    op.drop_table("model_alias_events")
    op.drop_table("model_aliases")
    op.drop_index("ix_model_versions_run_id", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("registered_models")
    op.drop_table("dataset_version_splits")
    op.drop_table("dataset_versions")
