"""Predictions carry their images: ``predictions.image_paths`` and ``predictions.study_id``.

``image_paths`` is the JSON list of the sample's image paths (frontal view first), ``study_id``
the imaging study they belong to (IU_XRay ``CXR1000``), indexed so that every question asked of
one radiograph can be found. Both are nullable: predictions recorded before this revision have
neither, and nothing is guessed for them.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("image_paths", sa.JSON, nullable=True))
        batch.add_column(sa.Column("study_id", sa.String(200), nullable=True))
        batch.create_index("ix_predictions_study_id", ["study_id"])


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_index("ix_predictions_study_id")
        batch.drop_column("study_id")
        batch.drop_column("image_paths")
