"""TCP keepalive for long-lived idle connections (client-initiated director links).

Application heartbeats find a dead peer behind a relay or NAT that still
acknowledges at the TCP level; TCP keepalive finds the peer whose host is gone
without either side writing, and ``TCP_USER_TIMEOUT`` makes a write that is never
acknowledged fail after a bounded time instead of after the kernel's ~15 minutes
of retransmissions.  Options the platform lacks are skipped.
"""

from __future__ import annotations

import socket

from twisted.internet import tcp
from twisted.internet.interfaces import ITransport


def tcp_socket(transport: ITransport | None) -> socket.socket | None:
    """The socket under ``transport`` (also under a TLS layer), or None."""
    seen = 0
    while transport is not None and seen < 5:
        if isinstance(transport, tcp.Connection):
            return transport.getHandle()
        transport = getattr(transport, "transport", None)
        seen += 1
    return None


def enable_keepalive(transport: ITransport, interval: float, user_timeout: float | None = None) -> bool:
    """Probe an idle connection after ``interval`` seconds, every ``interval / 3`` after that,
    and give up after three unanswered probes; with ``user_timeout`` (seconds) also abort
    when sent data stays unacknowledged that long.  Returns True if the options were set."""
    sock = tcp_socket(transport)
    if sock is None or interval <= 0:
        return False
    interval = max(1, int(interval))
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", interval), ("TCP_KEEPINTVL", max(1, interval // 3)),
                        ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    if user_timeout is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
        options.append((socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(user_timeout * 1000)))
    try:
        for level, option, value in options:
            sock.setsockopt(level, option, value)
    except OSError:
        return False
    return True


def clear_user_timeout(transport: ITransport) -> None:
    """Back to the kernel's default for unacknowledged data (a link taken for a job)."""
    sock = tcp_socket(transport)
    if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 0)
        except OSError:
            pass
