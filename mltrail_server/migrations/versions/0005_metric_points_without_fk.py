"""metric points without a per-row foreign key; a trigger deletes a series' points

Revision ID: 0005_points_no_fk
Revises: 0004_metric_blocks
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_points_no_fk"
down_revision: str | None = "0004_metric_blocks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_metric_series_id_latest_metric"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(FK, "metric", type_="foreignkey")
        # One statement-level trigger: a purge of many series deletes their points in one go.
        op.execute(
            """
            CREATE FUNCTION exptrack_delete_series_points() RETURNS trigger AS $$
            BEGIN
                DELETE FROM metric USING gone WHERE metric.series_id = gone.id;
                RETURN NULL;
            END $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            """
            CREATE TRIGGER trg_latest_metric_delete_points
            AFTER DELETE ON latest_metric REFERENCING OLD TABLE AS gone
            FOR EACH STATEMENT EXECUTE FUNCTION exptrack_delete_series_points()
            """
        )
    else:
        with op.batch_alter_table("metric", recreate="always") as batch:
            batch.drop_constraint(FK, type_="foreignkey")
        op.execute(
            """
            CREATE TRIGGER trg_latest_metric_delete_points AFTER DELETE ON latest_metric
            BEGIN DELETE FROM metric WHERE series_id = OLD.id; END
            """
        )


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER trg_latest_metric_delete_points"
        + (" ON latest_metric" if op.get_bind().dialect.name == "postgresql" else "")
    )
    # Points of series deleted meanwhile would violate the key: drop them first.
    op.execute("DELETE FROM metric WHERE series_id NOT IN (SELECT id FROM latest_metric)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION exptrack_delete_series_points()")
        op.create_foreign_key(
            FK, "metric", "latest_metric", ["series_id"], ["id"], ondelete="CASCADE"
        )
    else:
        with op.batch_alter_table("metric", recreate="always") as batch:
            batch.create_foreign_key(FK, "latest_metric", ["series_id"], ["id"], ondelete="CASCADE")
