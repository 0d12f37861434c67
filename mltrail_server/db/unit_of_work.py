"""One transaction per request (STYLE 3).

Services and repositories only flush: an error raised anywhere in a request leaves nothing
behind. The request's boundary, the API route class (mltrail_server/routes/access.py),
commits once when the handler returned, and only then runs what had to wait for the commit:
invalidating cached pages, which a reader must not refill from the old rows. Code outside a
request (start-up, the CLI, background writers) opens its own `transaction`. One writer
works for requests: the group-commit writer of single points (services/point_writer.py) is
a unit of work of its own, committing the points of concurrent requests together in its own
transaction and answering each request only after that commit; the request's own session
then holds nothing to commit.
"""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["after_commit", "commit", "transaction"]

_AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[object]]) -> None:
    """Run `action` once the session's transaction is committed (never if it is not)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


async def commit(session: AsyncSession) -> None:
    """Commit the session's transaction, then run what waited for it, in order."""
    await session.commit()
    actions: list[Callable[[], Awaitable[object]]] = session.info.pop(_AFTER_COMMIT, [])
    for action in actions:
        await action()


@contextlib.asynccontextmanager
async def transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """`session` committed once when the block ends without an error, else rolled back."""
    async with session:
        try:
            yield session
        except BaseException:
            session.info.pop(_AFTER_COMMIT, None)
            raise
        await commit(session)
