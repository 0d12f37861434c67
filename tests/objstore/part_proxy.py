"""A TCP proxy between an HTTP client and the tracking server (or the S3 endpoint) that drops
the connection of the first PUT of one part of a multipart upload in the middle of its body,
and passes everything else through: the network failing one part, with no help from the
server. A part is `.../mpu/part/<id>/<n>/...` on the tracking server (`SERVER_PART`), or
`...?partNumber=<n>&...` on S3 (`S3_PART`, a presigned `upload_part` URL).

The proxy reads the request line of each connection's first request only; the mlflow client
sends each part with `requests.put`, on a connection of its own."""

import contextlib
import re
import socket
import threading

from tests.objstore.s3 import pipe
from tests.sdk.live_server import free_port

__all__ = ["S3_PART", "SERVER_PART", "PartDroppingProxy"]

SERVER_PART = re.compile(rb"^PUT \S*/mpu/part/[0-9a-f]{32}/(\d+)/")
S3_PART = re.compile(rb"^PUT \S*[?&]partNumber=(\d+)[& ]")
_HEAD_LIMIT = 64 * 1024
_BODY_BEFORE_DROP = 256 * 1024  # the server has part of the part when the connection goes


class PartDroppingProxy:
    """127.0.0.1:`port` → 127.0.0.1:`target_port`. `parts` lists the part number of every
    part PUT seen, in order; the first PUT of part `drop_part` is cut mid-body (none when
    `drop_part` is None)."""

    def __init__(
        self, target_port: int, drop_part: int | None, part: re.Pattern[bytes] = SERVER_PART
    ) -> None:
        self.target_port = target_port
        self.drop_part = drop_part
        self.part = part
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.parts: list[int] = []
        self.dropped = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def reset(self, drop_part: int | None) -> None:
        """Forget the parts seen; drop the first PUT of `drop_part` from now on."""
        with self._lock:
            self.parts = []
            self.dropped = 0
            self.drop_part = drop_part

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        try:
            first = self._read_request_line(client)
        except OSError:
            self._close(client, upstream)
            return
        part = self.part.match(first)
        drop = False
        if part is not None:
            with self._lock:
                number = int(part.group(1))
                self.parts.append(number)
                drop = number == self.drop_part and self.dropped == 0
                if drop:
                    self.dropped += 1
        if drop:
            self._forward_some_then_drop(client, upstream, first)
            return
        try:
            upstream.sendall(first)
        except OSError:
            self._close(client, upstream)
            return
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _read_request_line(client: socket.socket) -> bytes:
        data = b""
        while b"\r\n" not in data and len(data) < _HEAD_LIMIT:
            chunk = client.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def _forward_some_then_drop(
        self, client: socket.socket, upstream: socket.socket, first: bytes
    ) -> None:
        sent = len(first)
        try:
            upstream.sendall(first)
            while sent < _BODY_BEFORE_DROP:
                chunk = client.recv(65536)
                if not chunk:
                    break
                upstream.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        self._close(client, upstream)

    @staticmethod
    def _close(*sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
