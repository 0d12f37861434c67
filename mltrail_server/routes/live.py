"""/api/v1/.../events: live updates of runs as Server-Sent Events (what the web UI listens to).

A stream opens with `event: state` (everything it watches, as it is now), then sends
`event: runs` and `event: metrics` with only what changed, within about half a second of the
write; `event: gone` ends it when the run or experiment is deleted. A `: ping` comment every
10 s keeps proxies from closing an idle stream. The server ends a stream after 20 s (browsers
reconnect within a second and get the state again) and stops watching as soon as the client
disconnects.
"""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from mltrail_server.dependencies import LiveHubDep
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import NOT_FOUND
from mltrail_server.services.live import LiveHub, Topic, TopicKind

router = APIRouter(tags=["live"], route_class=AccessRoute)

# Browsers reconnect this many milliseconds after a stream drops.
RECONNECT_MS = 1000
STREAM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "A stream of events"}
}


async def _encode(hub: LiveHub, topic: Topic) -> AsyncIterator[bytes]:
    yield format_sse_event(retry=RECONNECT_MS, comment="live")
    async for item in hub.follow(topic):
        if item is None:
            yield KEEPALIVE_COMMENT
        else:
            data = "{}" if item.data is None else item.data.model_dump_json()
            yield format_sse_event(event=item.event, data_str=data)


async def _stream(hub: LiveHub, topic: Topic) -> StreamingResponse:
    await hub.check(topic)
    return StreamingResponse(
        _encode(hub, topic),
        media_type="text/event-stream",
        # No caching, and no buffering by a proxy such as nginx.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/runs/{run_id}/events",
    responses={**STREAM, **NOT_FOUND},
)
async def run_events(run_id: UUID, hub: LiveHubDep) -> StreamingResponse:
    """Live updates of one run: its status, and the latest point, min and max of each of its
    metrics as they are logged (`LiveState`, `RunsChanged`, `MetricsChanged` payloads)."""
    return await _stream(hub, Topic(TopicKind.RUN, run_id))


@router.get(
    "/experiments/{experiment_id}/events",
    responses={**STREAM, **NOT_FOUND},
)
async def experiment_events(experiment_id: UUID, hub: LiveHubDep) -> StreamingResponse:
    """Live updates of an experiment's runs table: runs that start, change status or are
    deleted, and the latest metrics of its running runs."""
    return await _stream(hub, Topic(TopicKind.EXPERIMENT, experiment_id))
