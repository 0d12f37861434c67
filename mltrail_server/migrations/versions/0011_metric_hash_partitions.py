"""PostgreSQL: the metric points in hash partitions of their series id.

Each partition holds a sixteenth of the points with its own primary-key index, vacuumed and
analyzed on its own: at a billion points no one index, and no one autovacuum pass, spans
them all. A series' points are in one partition (the key starts with `series_id`), so an
ingest statement, a history read and a purge of a series each touch one partition's index.

The points are copied over, and the key built once per partition after the copy (faster than
keeping it up to date row by row). On a large table this takes minutes (the README's
"Billions of points" section); the server's start runs it under the migration lock, before
serving.

SQLite has no partitioning: its table stays as it is.

Revision ID: 0011_metric_partitions
Revises: 0010_run_deleted_index
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_metric_partitions"
down_revision: str | None = "0010_run_deleted_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTITIONS = 16
COLUMNS = 'series_id, step, "timestamp", value, is_nan'
KEY = 'PRIMARY KEY (series_id, step, "timestamp")'


def partition_names() -> list[str]:
    return [f"metric_p{remainder:02d}" for remainder in range(PARTITIONS)]


def _replace_metric(partitioned: bool) -> None:
    """`metric` rebuilt, hash-partitioned or plain, with its points and its key."""
    op.execute("ALTER TABLE metric RENAME TO metric_before")
    op.execute("ALTER TABLE metric_before RENAME CONSTRAINT pk_metric TO pk_metric_before")
    op.execute(
        "CREATE TABLE metric (LIKE metric_before INCLUDING DEFAULTS)"
        + (" PARTITION BY HASH (series_id)" if partitioned else "")
    )
    if partitioned:
        for remainder, name in enumerate(partition_names()):
            op.execute(
                f"CREATE TABLE {name} PARTITION OF metric "
                f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})"
            )
    op.execute(f"INSERT INTO metric ({COLUMNS}) SELECT {COLUMNS} FROM metric_before")
    op.execute("DROP TABLE metric_before")
    op.execute(f"ALTER TABLE metric ADD CONSTRAINT pk_metric {KEY}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _replace_metric(partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _replace_metric(partitioned=False)
