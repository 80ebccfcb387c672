"""Network namespaces for a test: private networks with no route to the host's network.

:class:`NetworkLab` creates namespaces with names unique to this test process,
joins them with veth pairs created directly inside them (nothing appears in
the host's namespace), gives them addresses, routes and nftables rulesets, and
deletes everything again in :meth:`NetworkLab.close` (which also removes what
a crashed earlier run of the same PID left behind).  Use documentation or
private address ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 10/8)
only; they exist inside the namespaces only.

:func:`unavailable_reason` says why namespaces cannot be used here (not root,
no ``ip``/``nft`` even after trying to install them), or None.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional

PACKAGES = {"ip": "iproute2", "nft": "nftables"}


def _install(tools) -> None:
    """``apt-get install`` what provides the missing *tools* (root, Debian only)."""
    packages = sorted({PACKAGES[t] for t in tools})
    if not shutil.which("apt-get"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], capture_output=True, env=env,
                   timeout=600)


def unavailable_reason() -> Optional[str]:
    """None if this process can build network namespaces, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (run the suite as root, as CI does)"
    missing = [tool for tool in PACKAGES if shutil.which(tool) is None]
    if missing:
        _install(missing)
        missing = [tool for tool in PACKAGES if shutil.which(tool) is None]
        if missing:
            return f"{', '.join(missing)} missing and could not be installed " \
                   f"({', '.join(PACKAGES[t] for t in missing)})"
    probe = f"btprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    try:
        nft = subprocess.run(["ip", "netns", "exec", probe, "nft", "list", "ruleset"],
                             capture_output=True, text=True)
        if nft.returncode != 0:
            return f"nftables does not work in a namespace: {nft.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class NetworkLab:
    """The namespaces and links of one test; always :meth:`close` it (a fixture does)."""

    def __init__(self, tag: str):
        self.tag = f"bt{os.getpid()}{tag}"
        self.namespaces: list[str] = []
        self._links = 0
        self._cleanup_leftovers()

    # -- building -------------------------------------------------------------

    def namespace(self, name: str) -> str:
        """A new namespace ``<tag>-<name>`` with its loopback up; returns its full name."""
        ns = f"{self.tag}-{name}"
        self._ip("netns", "add", ns)
        self.namespaces.append(ns)
        self.run(ns, "ip", "link", "set", "lo", "up")
        return ns

    def link(self, ns_a: str, ns_b: str) -> tuple[str, str]:
        """A veth pair between two namespaces, both ends up; returns the interface names."""
        self._links += 1
        a, b = f"ve{self._links}a", f"ve{self._links}b"
        self._ip("link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b,
                 "netns", ns_b)
        self.run(ns_a, "ip", "link", "set", a, "up")
        self.run(ns_b, "ip", "link", "set", b, "up")
        return a, b

    def address(self, ns: str, interface: str, *cidrs: str) -> None:
        for cidr in cidrs:
            self.run(ns, "ip", "addr", "add", cidr, "dev", interface)

    def route(self, ns: str, *spec: str) -> None:
        self.run(ns, "ip", "route", "add", *spec)

    def forwarding(self, ns: str) -> None:
        self.run(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")

    def nft(self, ns: str, ruleset: str) -> None:
        """Load an nftables ruleset (``nft -f -`` text) into the namespace."""
        result = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset,
                                text=True, capture_output=True)
        if result.returncode != 0:
            raise RuntimeError(f"nft in {ns} failed: {result.stderr.strip()}\n{ruleset}")

    def counter(self, ns: str, family: str, table: str, name: str) -> int:
        """Packets counted by the named counter ``name`` of ``table``."""
        out = self.run(ns, "nft", "list", "counter", family, table, name)
        for token, value in zip(out.split(), out.split()[1:]):
            if token == "packets":
                return int(value)
        raise AssertionError(f"no packet count in {out!r}")

    def run(self, ns: str, *argv: str) -> str:
        result = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} in {ns} failed: {result.stderr.strip()}")
        return result.stdout

    def prefix(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    # -- tearing down -----------------------------------------------------------

    def close(self) -> None:
        """Delete every namespace (their veths go with them); safe to call twice."""
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces.clear()

    def _cleanup_leftovers(self) -> None:
        listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(f"{self.tag}-"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)

    def _ip(self, *argv: str) -> None:
        result = subprocess.run(["ip", *argv], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ip {' '.join(argv)} failed: {result.stderr.strip()}")

    def __enter__(self) -> "NetworkLab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
