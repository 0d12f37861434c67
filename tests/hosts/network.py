"""API hosts of the test's own: one network namespace per host, each linked by a veth pair
to a bridge on this machine. This machine holds the bridge's first address; the hosts hold
the next ones. Traffic only goes over those links: a namespace has no other route, and
what runs on this machine for the hosts (Redis, the S3 store, the load balancer's backends)
listens on the bridge's address alone. Everything is removed on `close()`, and names carry
this process's id, so two test runs side by side do not meet.
"""

import ipaddress
import os
import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Network", "NetworkUnavailable", "netns_available"]


class NetworkUnavailable(RuntimeError):
    """This machine cannot make network namespaces (not root, or no `ip`)."""


def _ip(*arguments: str, namespace: str | None = None) -> None:
    command = ["ip", *arguments] if namespace is None else ["ip", "-n", namespace, *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")


def netns_available() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    return None


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.231.0.0/16 that no route of this machine covers."""
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True, timeout=30
    ).stdout
    used = {
        ipaddress.ip_network(word, strict=False)
        for line in routes.splitlines()
        for word in line.split()[:2]
        if "/" in word and word[0].isdigit()
    }
    candidates = list(ipaddress.ip_network("10.231.0.0/16").subnets(new_prefix=24))
    random.shuffle(candidates)
    for subnet in candidates:
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise NetworkUnavailable("no free /24 in 10.231.0.0/16")


@dataclass
class Network:
    """A bridge on this machine and `hosts` namespaces on it."""

    hosts: int
    tag: str = field(default_factory=lambda: f"mlt{os.getpid() % 100000}")
    subnet: ipaddress.IPv4Network = field(default_factory=_free_subnet)
    namespaces: list[str] = field(default_factory=list)
    _links: list[str] = field(default_factory=list)
    _bridge: str | None = None

    @property
    def gateway(self) -> str:
        """This machine's address on the bridge."""
        return str(self.subnet[1])

    def address(self, host: int) -> str:
        return str(self.subnet[10 + host])

    def open(self) -> "Network":
        reason = netns_available()
        if reason is not None:
            raise NetworkUnavailable(reason)
        try:
            bridge = f"{self.tag}br"
            _ip("link", "add", bridge, "type", "bridge")
            self._bridge = bridge
            _ip("addr", "add", f"{self.gateway}/24", "dev", bridge)
            _ip("link", "set", bridge, "up")
            for host in range(self.hosts):
                namespace = f"{self.tag}h{host}"
                _ip("netns", "add", namespace)
                self.namespaces.append(namespace)
                link = f"{self.tag}v{host}"
                _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
                self._links.append(link)
                _ip("link", "set", link, "master", bridge, "up")
                _ip("link", "set", "lo", "up", namespace=namespace)
                _ip("addr", "add", f"{self.address(host)}/24", "dev", "eth0", namespace=namespace)
                _ip("link", "set", "eth0", "up", namespace=namespace)
        except BaseException:
            self.close()
            raise
        return self

    def command(self, host: int, command: Sequence[str]) -> list[str]:
        """`command` run inside host `host`'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[host], *command]

    def close(self) -> None:
        # Deleting a namespace removes its end of the veth pair, and so the pair.
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        for link in self._links:
            subprocess.run(["ip", "link", "del", link], capture_output=True, timeout=30)
        if self._bridge is not None:
            subprocess.run(["ip", "link", "del", self._bridge], capture_output=True, timeout=30)
        self.namespaces.clear()
        self._links.clear()
        self._bridge = None
