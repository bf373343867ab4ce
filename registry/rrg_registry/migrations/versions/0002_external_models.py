"""External models (adapters pulled from the Hub), runs.external_model_id, and an index for reaping.

A run that evaluates a pulled adapter points at its ``external_models`` row. The
``(status, heartbeat_at)`` index serves the stale-run sweep that listing commands run.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_models",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("revision", sa.String(100), nullable=False),
        sa.Column("local_path", sa.Text, nullable=False),
        sa.Column("recipe_yaml", sa.Text, nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_external_models"),
        sa.UniqueConstraint("repo", "revision", name="uq_external_models_repo_revision"),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("external_model_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_runs_external_model_id_external_models", "external_models", ["external_model_id"], ["id"]
        )
        batch.create_index("ix_runs_status_heartbeat_at", ["status", "heartbeat_at"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_status_heartbeat_at")
        batch.drop_constraint("fk_runs_external_model_id_external_models", type_="foreignkey")
        batch.drop_column("external_model_id")
    op.drop_table("external_models")
