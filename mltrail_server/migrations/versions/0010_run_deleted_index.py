"""A partial index of the soft-deleted runs, for garbage collection and its backlog.

Revision ID: 0010_run_deleted_index
Revises: 0009_artifact_purge_queue
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_run_deleted_index"
down_revision: str | None = "0009_artifact_purge_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELETED = sa.text("lifecycle = 'deleted'")


def upgrade() -> None:
    op.create_index(
        "ix_run_deleted",
        "run",
        ["deleted_at"],
        unique=False,
        sqlite_where=DELETED,
        postgresql_where=DELETED,
    )


def downgrade() -> None:
    op.drop_index("ix_run_deleted", table_name="run")
