"""Initial schema: recipes, datasets, runs, checkpoints, metrics, green_flare components,
predictions, publications.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = "('pending', 'running', 'succeeded', 'failed', 'interrupted')"


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _run_id(name: str = "run_id", **kwargs) -> sa.Column:
    return sa.Column(name, sa.String(32), **kwargs)


def upgrade() -> None:
    op.create_table(
        "recipe_versions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("yaml_text", sa.Text, nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_recipe_versions"),
        sa.UniqueConstraint("name", "version", name="uq_recipe_versions_name_version"),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("split", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("name", "split", "fingerprint", name="uq_datasets_name_split_fingerprint"),
    )
    op.create_table(
        "runs",
        _run_id("id", nullable=False),
        sa.Column("recipe_version_id", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("model_family", sa.String(64), nullable=False),
        sa.Column("model_id", sa.String(300), nullable=False),
        sa.Column("model_revision", sa.String(100), nullable=True),
        sa.Column("adapter", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("host", sa.String(200), nullable=True),
        sa.Column("seed", sa.Integer, nullable=True),
        sa.Column("package_versions", sa.JSON, nullable=False),
        sa.Column("plan", sa.JSON, nullable=True),
        _run_id("parent_run_id", nullable=True),
        _when("created_at"),
        _when("started_at", nullable=True),
        _when("ended_at", nullable=True),
        _when("heartbeat_at", nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.CheckConstraint(f"status IN {STATUSES}", name="ck_runs_status"),
        sa.ForeignKeyConstraint(
            ["recipe_version_id"], ["recipe_versions.id"], name="fk_runs_recipe_version_id_recipe_versions"
        ),
        sa.ForeignKeyConstraint(["parent_run_id"], ["runs.id"], name="fk_runs_parent_run_id_runs"),
    )
    op.create_index("ix_runs_recipe_version_id", "runs", ["recipe_version_id"])
    op.create_index("ix_runs_parent_run_id", "runs", ["parent_run_id"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])

    op.create_table(
        "run_tags",
        _run_id(nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "tag", name="pk_run_tags"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_tags_run_id_runs"),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag"])
    op.create_table(
        "run_datasets",
        _run_id(nullable=False),
        sa.Column("dataset_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "dataset_id", name="pk_run_datasets"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_datasets_run_id_runs"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name="fk_run_datasets_dataset_id_datasets"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer, nullable=False),
        _run_id(nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("eval_loss", sa.Double, nullable=True),
        sa.Column("best", sa.Boolean, nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_checkpoints"),
        sa.UniqueConstraint("run_id", "step", name="uq_checkpoints_run_id_step"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_checkpoints_run_id_runs"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, nullable=False),
        _run_id(nullable=False),
        sa.Column("checkpoint_id", sa.Integer, nullable=True),
        sa.Column("split", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("n", sa.Integer, nullable=True),
        sa.Column("step", sa.Integer, nullable=True),
        _when("logged_at"),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_metrics_run_id_runs"),
        sa.ForeignKeyConstraint(["checkpoint_id"], ["checkpoints.id"], name="fk_metrics_checkpoint_id_checkpoints"),
    )
    op.create_index("ix_metrics_run_id_name", "metrics", ["run_id", "name"])
    op.create_table(
        "latest_metrics",
        _run_id(nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("split", sa.String(100), nullable=False),
        sa.Column("metric_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_latest_metrics"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_latest_metrics_run_id_runs"),
        sa.ForeignKeyConstraint(["metric_id"], ["metrics.id"], name="fk_latest_metrics_metric_id_metrics"),
    )
    op.create_index("ix_latest_metrics_name_value", "latest_metrics", ["name", "value"])
    op.create_table(
        "green_flare_components",
        sa.Column("id", sa.Integer, nullable=False),
        _run_id(nullable=False),
        sa.Column("checkpoint_id", sa.Integer, nullable=True),
        sa.Column("split", sa.String(100), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        *(
            sa.Column(name, sa.Double, nullable=True)
            for name in (
                "entity_matching",
                "location_accuracy",
                "negation_handling",
                "temporal_accuracy",
                "measurement_accuracy",
                "clinical_significance",
                "structure_completeness",
                "severity_correlation",
                "overall",
            )
        ),
        _when("logged_at"),
        sa.PrimaryKeyConstraint("id", name="pk_green_flare_components"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_green_flare_components_run_id_runs"),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"], ["checkpoints.id"], name="fk_green_flare_components_checkpoint_id_checkpoints"
        ),
    )
    op.create_index("ix_green_flare_components_run_id", "green_flare_components", ["run_id"])
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer, nullable=False),
        _run_id(nullable=False),
        sa.Column("checkpoint_id", sa.Integer, nullable=True),
        sa.Column("split", sa.String(100), nullable=False),
        sa.Column("sample_id", sa.String(200), nullable=False),
        sa.Column("question", sa.Text, nullable=True),
        sa.Column("prediction", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=True),
        sa.Column("green_flare", sa.Double, nullable=True),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
        sa.UniqueConstraint("run_id", "split", "sample_id", name="uq_predictions_run_id_split_sample_id"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_predictions_run_id_runs"),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"], ["checkpoints.id"], name="fk_predictions_checkpoint_id_checkpoints"
        ),
    )
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer, nullable=False),
        _run_id(nullable=False),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("revision", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        _when("published_at"),
        sa.PrimaryKeyConstraint("id", name="pk_publications"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_publications_run_id_runs"),
    )
    op.create_index("ix_publications_run_id", "publications", ["run_id"])


def downgrade() -> None:
    for table in (
        "publications",
        "predictions",
        "green_flare_components",
        "latest_metrics",
        "metrics",
        "checkpoints",
        "run_datasets",
        "run_tags",
        "runs",
        "datasets",
        "recipe_versions",
    ):
        op.drop_table(table)
