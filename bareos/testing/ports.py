"""Loopback ports for tests: pick a free one, wait until something listens.

Only 127.0.0.0/8 and ::1 are ever touched.  The waiting helpers poll with a
bounded timeout; the timeout is a safety net against hangs, never something a
test asserts on.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import random
import socket
import time
from pathlib import Path
from typing import Callable, Optional, Protocol

__all__ = [
    "DaemonNotListening",
    "free_port",
    "free_ports",
    "is_listening",
    "listening_socket_inodes",
    "log_tail",
    "refusing_port",
    "wait_for_port",
]

LOOPBACK = "127.0.0.1"


class DaemonNotListening(RuntimeError):
    """A process exited, or never started listening on its port in time."""


class _Process(Protocol):  # what we need from subprocess.Popen
    pid: int

    def poll(self) -> Optional[int]: ...


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"tests only use loopback addresses, not {host!r}")


#: Below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by default):
#: a port the kernel picked (bind to port 0) is also one it may give an outgoing connection a
#: moment later, which then takes it before the daemon listens.  With tests running on several
#: workers, that happened.  Ports here are only ever handed out by a bind that asks for them.
_PORTS_BELOW_EPHEMERAL = range(15000, 32768)


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bound_socket(host: str) -> socket.socket:
    """A socket bound to a free port of *host* below the ephemeral range."""
    _check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    candidates = range(_PORTS_BELOW_EPHEMERAL.start,
                       min(_PORTS_BELOW_EPHEMERAL.stop, _ephemeral_low()))
    for _ in range(200):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, random.choice(candidates)))
            return s
        except OSError:
            s.close()
    s = socket.socket(family, socket.SOCK_STREAM)          # a crowded range: any free port
    s.bind((host, 0))
    return s


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that was free on *host* a moment ago.

    Bind a random port below the ephemeral range, read it, close.  Another test could
    still take it in between (it would have to pick the same random port); the daemon
    then fails to listen and :func:`wait_for_port` reports that clearly.
    """
    with _bound_socket(host) as s:
        return s.getsockname()[1]


@contextlib.contextmanager
def refusing_port(host: str = LOOPBACK):
    """A port every connection to is refused while the block runs: bound but not listening,
    so no other process can take it (a port that was merely free a moment ago might be
    listened on by then, by a test running beside)."""
    _check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        yield s.getsockname()[1]


def free_port_on_all(*hosts: str) -> int:
    """A TCP port free on every one of *hosts* a moment ago (a daemon on one address and a
    relay standing in for it on another, both on the same port)."""
    while True:
        port = free_port(hosts[0])
        if all(_bindable(host, port) for host in hosts[1:]):
            return port


def _bindable(host: str, port: int) -> bool:
    _check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(n: int, host: str = LOOPBACK) -> list[int]:
    """*n* distinct free ports (all sockets held open until every port is read)."""
    socks = []
    try:
        for _ in range(n):
            socks.append(_bound_socket(host))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def log_tail(path, lines: int = 40) -> str:
    """The last *lines* lines of a text file, or a note that it does not exist."""
    if path is None:
        return "(no log file)"
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except FileNotFoundError:
        return f"(log file {p} does not exist)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log file {p} is empty)"


# --- who listens where: /proc/net/tcp{,6} -------------------------------------

_TCP_LISTEN = "0A"


def _hex_to_addr(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/tcp6: four host-order 32-bit words
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    return socket.inet_ntop(socket.AF_INET6, b"".join(words))


def listening_socket_inodes(
    port: int, host: Optional[str] = None, net_of_pid: Optional[int] = None
) -> set[int]:
    """Inodes of TCP sockets in LISTEN state on *port* (optionally on *host*).

    Reads ``/proc/net/tcp`` and ``/proc/net/tcp6`` (``/proc/<net_of_pid>/net/...``:
    the tables of that process's network namespace); a wildcard listener
    (0.0.0.0 or ::) counts for every host.  Returns an empty set where /proc is
    not available.
    """
    inodes: set[int] = set()
    base = "/proc/net" if net_of_pid is None else f"/proc/{net_of_pid}/net"
    for table in (f"{base}/tcp", f"{base}/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) < 10 or fields[3] != _TCP_LISTEN:
                        continue
                    addr_hex, port_hex = fields[1].split(":")
                    if int(port_hex, 16) != port:
                        continue
                    addr = _hex_to_addr(addr_hex)
                    if host is not None and addr not in (host, "0.0.0.0", "::"):
                        # ::ffff:127.0.0.1 style mapped addresses
                        if not addr.endswith(host):
                            continue
                    inodes.add(int(fields[9]))
        except OSError:
            continue
    return inodes


def _socket_inodes_of(pid: int) -> set[int]:
    found: set[int] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return found
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def is_listening(port: int, host: str = LOOPBACK, pid: Optional[int] = None) -> bool:
    """True if a socket listens on *host*:*port* (owned by *pid*, if given).

    Uses /proc so that the check does not open a connection to the daemon
    (which would show up in its log).  Where /proc is missing, falls back to a
    connect() probe and ignores *pid*.
    """
    if os.path.exists("/proc/net/tcp"):
        inodes = listening_socket_inodes(port, host)
        if not inodes:
            return False
        if pid is None:
            return True
        return bool(inodes & _socket_inodes_of(pid))
    return _connect_probe(host, port)


def _connect_probe(host: str, port: int, timeout: float = 1.0) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((host, port))
        except OSError as e:
            if e.errno in (errno.ECONNREFUSED, errno.ETIMEDOUT, errno.ECONNRESET) or isinstance(
                e, socket.timeout
            ):
                return False
            raise
        return True


def wait_for_port(
    port: int,
    host: str = LOOPBACK,
    *,
    timeout: float = 30.0,
    process: Optional[_Process] = None,
    log_path=None,
    name: Optional[str] = None,
    connect: bool = False,
    poll_interval: float = 0.05,
    describe: Optional[Callable[[], str]] = None,
    own_namespace: bool = False,
) -> None:
    """Wait until *host*:*port* accepts TCP connections.

    *process* (a ``subprocess.Popen``) is watched: if it exits first, or if
    nothing listens within *timeout* seconds, :class:`DaemonNotListening` is
    raised with the exit status and the tail of *log_path* (and of whatever
    *describe()* returns, e.g. captured stdout/stderr).

    By default readiness is read from /proc (the listening socket must belong
    to *process* when one is given), so no probe connection reaches the
    daemon.  ``connect=True`` uses a real connect() instead.  ``own_namespace=True``:
    *process* runs in a network namespace a test made (``ip netns exec``), so its
    sockets are looked up in ``/proc/<pid>/net`` and *host* need not be loopback.
    """
    if own_namespace:
        # *process* runs in a network namespace of its own (a test's, never the host's
        # network): its listening socket is found in that namespace's /proc tables.
        if process is None:
            raise ValueError("own_namespace needs the process")
    else:
        _check_loopback(host)
    label = name or (f"pid {process.pid}" if process is not None else "server")
    deadline = time.monotonic() + timeout
    pid = process.pid if process is not None else None

    def details() -> str:
        parts = [f"--- log tail ({log_path}) ---", log_tail(log_path)]
        if describe is not None:
            parts.append(describe())
        return "\n".join(parts)

    while True:
        if process is not None:
            rc = process.poll()
            if rc is not None:
                raise DaemonNotListening(
                    f"{label} exited with status {rc} before listening on "
                    f"{host}:{port}\n{details()}"
                )
        if own_namespace:
            inodes = listening_socket_inodes(port, host, net_of_pid=pid)
            ready = bool(inodes & _socket_inodes_of(pid))
        elif connect:
            ready = _connect_probe(host, port)
        else:
            ready = is_listening(port, host, pid)
        if ready:
            return
        if time.monotonic() >= deadline:
            raise DaemonNotListening(
                f"{label} did not listen on {host}:{port} within {timeout:g} s"
                f"\n{details()}"
            )
        time.sleep(poll_interval)
