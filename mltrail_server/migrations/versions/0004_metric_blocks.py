"""Metric blocks: a rollup of each series per 256 steps, for fast downsampling

Revision ID: 0004_metric_blocks
Revises: 0003_mlflow

`metric_block` holds, per series and block of 256 steps (`block = step >> 8`), the number
of points, their min and max (NaN excluded) and the last point by (step, timestamp). The
upgrade fills it from the points already stored, in one INSERT ... SELECT.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_metric_blocks"
down_revision: str | None = "0003_mlflow"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One GROUP BY (series, block) of every point, then each block's last point: the greatest
# step's greatest timestamp ((series_id, step, timestamp) is the primary key of `metric`, so
# that point is unique). The same SQL on PostgreSQL and SQLite; both shift right
# arithmetically, so `step >> 8` is floor(step / 256) for negative steps too. The shift is
# mltrail_server.db.tables.BLOCK_SHIFT, written out: a migration must not change with the code.
_BACKFILL = """
INSERT INTO metric_block (
    series_id, block, count, min_value, max_value,
    last_step, last_timestamp, last_value, last_is_nan
)
SELECT b.series_id, b.block, b.points, b.min_value, b.max_value,
       m.step, m.timestamp, m.value, m.is_nan
FROM (
    SELECT series_id, (step >> 8) AS block, count(*) AS points,
           min(CASE WHEN is_nan THEN NULL ELSE value END) AS min_value,
           max(CASE WHEN is_nan THEN NULL ELSE value END) AS max_value,
           max(step) AS last_step
    FROM metric
    GROUP BY series_id, (step >> 8)
) AS b
JOIN metric AS m
  ON m.series_id = b.series_id AND m.step = b.last_step
 AND m.timestamp = (
     SELECT max(t.timestamp) FROM metric AS t
     WHERE t.series_id = b.series_id AND t.step = b.last_step
 )
"""


def upgrade() -> None:
    op.create_table(
        "metric_block",
        sa.Column(
            "series_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("min_value", sa.Float(precision=53), nullable=True),
        sa.Column("max_value", sa.Float(precision=53), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("last_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_value", sa.Float(precision=53), nullable=False),
        sa.Column("last_is_nan", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["latest_metric.id"],
            name=op.f("fk_metric_block_series_id_latest_metric"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "block", name=op.f("pk_metric_block")),
    )
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_table("metric_block")
