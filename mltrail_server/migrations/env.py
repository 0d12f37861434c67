"""Alembic environment. Migrations run on a connection handed in by `mltrail_server.db.migrate`, or,
from the `alembic` command line, on one opened from the application's settings."""

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy.engine import Connection

from mltrail_server.db.tables import Base

target_metadata = Base.metadata
logger = logging.getLogger("mltrail_server.migrations")


def log_step(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """One line per migration applied: what the operator sees at start, and what the tests
    count to check that workers starting together migrate once."""
    direction = "upgraded" if step.is_upgrade else "downgraded"
    logger.info(
        "migration applied: %s the schema to %s",
        direction,
        ", ".join(step.destination_revision_ids) or "base",
    )


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        on_version_apply=log_step,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from mltrail_server.config import get_settings
    from mltrail_server.db.engine import Database

    database = Database(get_settings().resolved_database_url, pooled=False)
    async with database.engine.connect() as connection:
        await connection.run_sync(run_on)
        await connection.commit()
    await database.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    asyncio.run(run_from_settings())
