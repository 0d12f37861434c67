"""The media of one live run: each item uploaded as it is logged, then the run's index.

The index is rewritten (one upload) per logging call. If that upload fails the call raises,
and the index is uploaded again by the next call or when the run finishes. A resumed run's
index is read from the server before its first item, so earlier items stay listed.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mltrail import artifacts, media
from mltrail.config import Settings
from mltrail.errors import MltrailError, NotFound
from mltrail.media import MediaItem, MediaKind
from mltrail.transport import Transport

__all__ = ["RunMedia"]


class RunMedia:
    """Uploads a run's images, tables and histograms and keeps its `media/index.json`."""

    def __init__(self, run_id: str, settings: Settings) -> None:
        self._run_id = run_id
        self._settings = settings
        self._lock = threading.Lock()
        self._items: dict[tuple[MediaKind, str, int], MediaItem] | None = None
        self._index_stale = False

    def add(
        self,
        kind: MediaKind,
        key: str,
        step: int,
        suffix: str,
        write: Callable[[Path], object],
        caption: str | None = None,
    ) -> MediaItem:
        """Write the item with `write(local file)`, upload it, then the index."""
        item = MediaItem(key, kind, step, media.item_path(kind, key, step, suffix), caption)
        directory, name = item.path.rsplit("/", 1)
        with tempfile.TemporaryDirectory(prefix="mltrail-media-") as scratch:
            local = Path(scratch, name)
            write(local)
            with self._lock, Transport(self._settings) as transport:
                items = self._loaded(transport)
                artifacts.upload_file(transport, self._run_id, local, directory)
                items[(kind, key, step)] = item
                self._index_stale = True
                self._upload_index(transport, items)
        return item

    def items(self) -> list[MediaItem]:
        """What the index lists (as uploaded, or still to upload)."""
        with self._lock:
            return sorted((self._items or {}).values(), key=lambda i: (i.kind, i.key, i.step))

    def finish(self) -> None:
        """Upload the index if its last upload failed; raise if it fails again."""
        with self._lock:
            if self._items is None or not self._index_stale:
                return
            with Transport(self._settings) as transport:
                self._upload_index(transport, self._items)

    def _loaded(self, transport: Transport) -> dict[tuple[MediaKind, str, int], MediaItem]:
        if self._items is None:
            found: dict[tuple[MediaKind, str, int], MediaItem] = {}
            with tempfile.TemporaryDirectory(prefix="mltrail-media-") as scratch:
                local = Path(scratch, "index.json")
                try:
                    artifacts.download_artifact(transport, self._run_id, media.INDEX_PATH, local)
                except NotFound:
                    pass
                else:
                    for item in media.parse_index(local.read_text()):
                        found[(item.kind, item.key, item.step)] = item
            self._items = found
        return self._items

    def _upload_index(
        self, transport: Transport, items: dict[tuple[Any, str, int], MediaItem]
    ) -> None:
        directory, name = media.INDEX_PATH.rsplit("/", 1)
        with tempfile.TemporaryDirectory(prefix="mltrail-media-") as scratch:
            local = Path(scratch, name)
            local.write_bytes(media.index_body(items.values()))
            try:
                artifacts.upload_file(transport, self._run_id, local, directory)
            except MltrailError:
                self._index_stale = True
                raise
        self._index_stale = False
