"""The test relay itself: when the far side drops a connection in the middle of a request, the
client sending through the relay must see its connection fail, not wait for ever. (A relay
that only shut its sockets down kept taking the client's bytes until the buffers were full,
and an mlflow upload whose part the S3 proxy dropped hung a loaded run for half an hour.)"""

import select
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.objstore.s3 import Relay

# Only a hang reaches this; a reset comes at once.
SEND_TIMEOUT_SECONDS = 120
# A send buffer that does not drain for this long is taken as full: every buffer on the way
# (client, relay, upstream) holds bytes nobody reads.
STALLED_SECONDS = 2


def _fill(client: socket.socket) -> None:
    """Send until nothing more leaves: the relay is blocked on the upstream that stopped
    reading, and its own receive buffer from the client is full."""
    client.setblocking(False)
    chunk = b"x" * 65536
    while True:
        try:
            client.send(chunk)
        except BlockingIOError:
            _, writable, _ = select.select([], [client], [], STALLED_SECONDS)
            if not writable:
                return


@pytest.fixture
def stalling_upstream() -> Iterator[tuple[int, threading.Event]]:
    """A server that reads a little of the first connection, then stops reading until told
    to go, and then closes it with the rest unread (the S3 proxy dropping a part)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    go = threading.Event()

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                go.wait(timeout=SEND_TIMEOUT_SECONDS)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, go
    go.set()
    thread.join(timeout=10)


def test_a_dropped_connection_fails_the_sender_through_the_relay(
    stalling_upstream: tuple[int, threading.Event],
) -> None:
    port, go = stalling_upstream
    relay = Relay(port)
    relay.start()
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as client:
            _fill(client)
            go.set()  # the upstream drops the connection
            client.settimeout(SEND_TIMEOUT_SECONDS)
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                while True:
                    client.sendall(b"x" * 65536)
    finally:
        relay.stop()
