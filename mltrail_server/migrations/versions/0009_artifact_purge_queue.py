"""purges queue the deletion of their artifacts in the same transaction: artifact_purge

Revision ID: 0009_artifact_purge_queue
Revises: 0008_logged_model_metrics
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_artifact_purge_queue"
down_revision: str | None = "0008_logged_model_metrics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifact_purge",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact_purge")),
    )
    op.create_index(
        "ix_artifact_purge_next_attempt_at", "artifact_purge", ["next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_artifact_purge_next_attempt_at", table_name="artifact_purge")
    op.drop_table("artifact_purge")
