"""Where this server really listens, so that "auth on beyond loopback" follows the sockets.

`uvicorn mltrail_server.main:app --host 0.0.0.0`, gunicorn's `--bind` and `mltrail server
--host` all end with this process (or its parent, for workers) holding listening sockets; their
local addresses are read from the process's own file descriptors once the server has bound them.
A request that arrives on 127.0.0.1 of a server that also listens on 0.0.0.0 then still needs a
key, so a reverse proxy on the same host lets nobody in unauthenticated.
"""

import os
import socket

__all__ = ["listening_hosts"]

_FD_DIRECTORY = "/dev/fd"
_found: frozenset[str] | None = None


def _scan() -> frozenset[str]:
    hosts: set[str] = set()
    try:
        descriptors = [int(name) for name in os.listdir(_FD_DIRECTORY) if name.isdigit()]
    except OSError:
        return frozenset()
    for descriptor in descriptors:
        try:
            duplicate = os.dup(descriptor)
        except OSError:
            continue
        try:
            sock = socket.socket(fileno=duplicate)
        except OSError:  # not a socket
            os.close(duplicate)
            continue
        with sock:
            try:
                listening = sock.type == socket.SOCK_STREAM and sock.getsockopt(
                    socket.SOL_SOCKET, socket.SO_ACCEPTCONN
                )
                address = sock.getsockname() if listening else None
            except OSError:
                continue
        if address is None:
            continue
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            hosts.add(str(address[0]))
        else:
            hosts.add("localhost")  # a Unix socket: reachable only on this host
    return frozenset(hosts)


def listening_hosts() -> frozenset[str]:
    """The local addresses this process listens on for TCP (a Unix socket counts as
    "localhost"); empty until the server has bound its sockets, and then read only once."""
    global _found
    if _found is not None:
        return _found
    hosts = _scan()
    if hosts:
        _found = hosts
    return hosts
