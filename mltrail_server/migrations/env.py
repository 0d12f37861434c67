"""Alembic environment. Migrations run on a connection handed in by `mltrail_server.db.migrate`, or,
from the `alembic` command line, on one opened from the application's settings."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from mltrail_server.db.tables import Base

target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
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
