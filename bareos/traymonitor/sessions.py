"""The monitor's sessions with the daemons (channels 9, 10, 11): log in, ask ``status``.

To a director the monitor is a named console (hello and TLS-PSK identity of a console, the
Monitor resource's name and password); to a file or storage daemon it is a director of
the Monitor's name, which those daemons know from a Director resource with
``Monitor = yes``.  The existing console client and director links do the talking.
"""

import types

from twisted.internet import defer

from bareos.console.client import ConsoleClient
from bareos.director.links import connect_daemon, query_status
from bareos.protocol.framing import Signal
from bareos.traymonitor.config import Target
from bareos.traymonitor.statustext import CLIENT, DIRECTOR, refusal

GREETINGS = {CLIENT: b"2000 OK Hello", "storage": b"3000 OK Hello"}
DIRECTOR_STATUS_COMMAND = "status director"


class StatusRefused(Exception):
    """The daemon let the monitor in but did not give its status."""


class DirectorSession:
    """A named console session with a director."""

    def __init__(self, client: ConsoleClient) -> None:
        self.client = client

    async def query(self) -> str:
        chunks: list[str] = []
        if not await self.client.command(DIRECTOR_STATUS_COMMAND, chunks.append, _no_questions):
            raise StatusRefused("the director ended the session")
        return _checked("".join(chunks))

    def close(self) -> None:
        self.client.close()


class DaemonSession:
    """A file or storage daemon's session with the monitor as its (monitor) director."""

    def __init__(self, link) -> None:
        self.link = link

    async def query(self) -> str:
        return _checked(await query_status(self.link))

    def close(self) -> None:
        self.link.close()


def _checked(text: str) -> str:
    reason = refusal(text)
    if reason is not None:
        raise StatusRefused(f"status refused: {reason}")
    return text


def _no_questions(prompt: str) -> str:
    raise StatusRefused(f"the director asked a question: {prompt.strip()!r}")


def answer_heartbeats(conn) -> None:
    """Answer the daemon's heartbeats, as Bareos' tray monitor does."""
    conn.on_heartbeat = lambda: conn.send_signal(Signal.HB_RESPONSE)


async def open_session(reactor, monitor_name: str, target: Target):
    """Log in to ``target`` as the monitor ``monitor_name``; a session with ``query()``
    (the status text) and ``close()``.  One attempt: the model retries."""
    if target.kind == DIRECTOR:
        client = await ConsoleClient.connect(reactor, target, monitor_name, target.key,
                                             target.connection_tls, timeout=target.timeout)
        answer_heartbeats(client.conn)
        return DirectorSession(client)
    identity = types.SimpleNamespace(reactor=reactor, name=monitor_name,
                                     qualified_name=f"R_DIRECTOR::{monitor_name}")
    resource = types.SimpleNamespace(
        name=target.name, address=target.address, port=target.port,
        password=types.SimpleNamespace(key=target.key))
    link = await connect_daemon(identity, target.kind, resource, GREETINGS[target.kind],
                                timeout=0, tls=target.connection_tls)
    answer_heartbeats(link.conn)
    return DaemonSession(link)


def session_opener(reactor, monitor_name: str):
    """``open(target) -> Deferred[session]`` for the model."""
    return lambda target: defer.ensureDeferred(open_session(reactor, monitor_name, target))
