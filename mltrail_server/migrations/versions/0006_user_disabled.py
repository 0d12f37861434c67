"""users can be disabled by an admin: app_user.disabled_at

Revision ID: 0006_user_disabled
Revises: 0005_points_no_fk
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_user_disabled"
down_revision: str | None = "0005_points_no_fk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("app_user", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by rebuilding the table; batch mode does that on both dialects.
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("disabled_at")
