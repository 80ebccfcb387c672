"""Client-initiated connections (channel 4): file daemons that dial us and wait.

A file daemon behind NAT connects, authenticates as ``Hello Client <name>``
and waits.  The director keeps such connections in a pool, newest first per
client, and hands one out when a job, ``status client`` or ``cancel`` needs
that client; the file daemon then opens a fresh waiting connection.  Dead
connections are dropped from the pool: closed ones, ones that sent something
other than a heartbeat while waiting, and silent ones (see ``WaitingConnection``).

Heartbeats: a waiting file daemon of this suite sends ``BNET_HEARTBEAT`` as soon
as it is greeted and then every heartbeat interval; the pool answers each with
``BNET_HB_RESPONSE`` (as Bareos' tray monitor does), so that the file daemon
sees that we are alive.  A Bareos file daemon sends nothing while it waits.
"""

import dataclasses

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

import bareos
from bareos.daemon.acceptor import authenticate_peer
from bareos.network.tls import resource_policy, session_kind
from bareos.protocol.connection import ConnectionClosed, InvalidPacketStream, ReceiveTimeout
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import AuthenticationFailed, RefusedBeforeChallenge
from bareos.protocol.keepalive import enable_keepalive

log = Logger(namespace="bareos.director.clients")

NOT_AUTHORIZED = b"1999 You are not authorized.\n"
# Seconds between sweeps dropping closed or out-of-turn waiting connections.  A sweep looks at
# every waiting connection (with 10,000 waiting, every 0.5 s was a third of the director's CPU
# during a flood of logins); a heartbeating client's silence is watched by a timer of its own,
# and ``take`` and ``entries`` check what they return at once.
CHECK_INTERVAL = 5
# A heartbeating client is dead when its next heartbeat is this late (in intervals).
SILENCE_LIMIT = 1.5
# The interval assumed for a heartbeating client before two heartbeats have shown its own
# (the file daemon's default in this mode), unless its Client resource names one.
DEFAULT_CLIENT_HEARTBEAT = 60
GAPS_KEPT = 3


@dataclasses.dataclass(eq=False)
class WaitingConnection:
    name: str
    conn: object
    protocol_version: int
    heartbeat_interval: int
    heartbeats: int = 0
    last_heartbeat_at: float = None
    gaps: list = dataclasses.field(default_factory=list)
    silence_watch: object = None       # the pool's DelayedCall, once it heartbeats

    def silent_for_too_long_in(self, now):
        """Seconds until a heartbeating client's silence makes it dead (see ``is_dead``)."""
        last = self.conn.last_received_at or self.conn.connected_at
        return last + SILENCE_LIMIT * self.interval() - now

    @property
    def connected_at(self):
        return self.conn.connected_at

    def heartbeat(self, now):
        """The client sent BNET_HEARTBEAT: note its rhythm, and answer."""
        if self.last_heartbeat_at is not None:
            self.gaps = (self.gaps + [now - self.last_heartbeat_at])[-GAPS_KEPT:]
        self.last_heartbeat_at = now
        self.heartbeats += 1
        self.conn.send_signal(Signal.HB_RESPONSE)

    def interval(self):
        """The client's heartbeat interval: the longest of its last gaps, else the Client
        resource's Heartbeat Interval, else the file daemon's default."""
        if self.gaps:
            return max(self.gaps)
        return self.heartbeat_interval or DEFAULT_CLIENT_HEARTBEAT

    def is_dead(self, now):
        """Closed, spoke out of turn, or a heartbeating client whose heartbeat is overdue
        by half an interval.  A client that never sent a heartbeat (a Bareos file daemon
        waits in silence) is only dropped when its connection closes (TCP keepalive, with
        the Client resource's Heartbeat Interval, finds a vanished host)."""
        if not self.conn.is_open or self.conn.has_pending_packets():
            return True
        if self.heartbeats:
            return self.silent_for_too_long_in(now) < 0
        return False


class ClientConnectionPool(service.Service):
    """A service of the director: checks the waiting connections while it runs, and closes
    them when it stops."""

    name = "client-connections"

    def __init__(self, clock):
        self.clock = clock
        # the waiting connections, oldest first, in all and per client (dicts as ordered
        # sets: taking or forgetting one costs the same with 10 or 10,000 clients waiting)
        self._waiting = {}
        self._by_name = {}
        self._wanted = {}                    # client name -> [Deferred] of jobs waiting for it
        self._checker = task.LoopingCall(self.drop_dead)
        self._checker.clock = clock

    def startService(self):
        super().startService()
        self._checker.start(CHECK_INTERVAL, now=False).addErrback(
            lambda failure: log.failure("Checking the waiting client connections failed", failure))

    def stopService(self):
        super().stopService()
        if self._checker.running:
            self._checker.stop()
        for entry in list(self._waiting):
            self._remove(entry)
            entry.conn.close()

    def add(self, entry):
        waiters = self._wanted.get(entry.name)
        if waiters:
            waiters.pop(0).callback(entry)
            return
        self._waiting[entry] = None
        self._by_name.setdefault(entry.name, {})[entry] = None
        entry.conn.on_heartbeat = lambda: self._heard(entry)
        entry.conn.closed.addBoth(lambda _: self._forget(entry))

    def _heard(self, entry):
        """A heartbeat: answer it, and watch for the silence after it."""
        now = self.clock.seconds()
        entry.heartbeat(now)
        self._watch_silence(entry, now)

    def _watch_silence(self, entry, now):
        delay = max(0.0, entry.silent_for_too_long_in(now)) + 0.001   # just past the limit
        if entry.silence_watch is None:
            entry.silence_watch = self.clock.callLater(delay, self._silence_check, entry)
        else:
            entry.silence_watch.reset(delay)

    def _silence_check(self, entry):
        entry.silence_watch = None
        now = self.clock.seconds()
        if entry in self._waiting and not self._drop_if_dead(entry, now):
            self._watch_silence(entry, now)       # heard from it since (other traffic)

    def _remove(self, entry):
        """Take ``entry`` out of the pool; False if it was not in it."""
        if entry not in self._waiting:
            return False
        del self._waiting[entry]
        of_client = self._by_name[entry.name]
        del of_client[entry]
        if not of_client:
            del self._by_name[entry.name]
        entry.conn.on_heartbeat = None
        if entry.silence_watch is not None:
            entry.silence_watch.cancel()
            entry.silence_watch = None
        return True

    def _forget(self, entry):
        if self._remove(entry):
            log.info("Client-initiated connection of {name} closed", name=entry.name)

    def _drop_if_dead(self, entry, now):
        if not entry.is_dead(now):
            return False
        log.warn("Dropping dead client-initiated connection of {name} from {peer}",
                 name=entry.name, peer=entry.conn.peer_text())
        self._remove(entry)
        entry.conn.abort("dead client-initiated connection")  # no FIN handshake
        return True

    def drop_dead(self):
        now = self.clock.seconds()
        for entry in list(self._waiting):
            self._drop_if_dead(entry, now)

    def close_unless(self, allowed):
        """After a reload: close the waiting connections of clients for which
        ``allowed(name)`` is false (removed, or no longer allowed to connect)."""
        for entry in [e for e in self._waiting if not allowed(e.name)]:
            log.info("Closing the client-initiated connection of {name}: the reloaded "
                     "configuration does not allow it", name=entry.name)
            entry.conn.close()

    def entries(self):
        self.drop_dead()
        return list(self._waiting)

    def take(self, name):
        """The newest live waiting connection of client ``name``, or None."""
        now = self.clock.seconds()
        for entry in reversed(list(self._by_name.get(name, ()))):
            if not self._drop_if_dead(entry, now):
                self._remove(entry)                 # the job's conversation owns it now
                return entry
        return None

    def wait_for(self, name, timeout):
        """A Deferred firing with a connection of ``name``: the one waiting now (as ``take``),
        else the next to arrive, or None after ``timeout``.  One call for both, so that no
        caller misses a connection that came while it was busy elsewhere (issue 17 item 1:
        one that arrived while the director was dialling the client was left unused).

        Canceling it (a canceled job) withdraws the wish: the next connection waits in the pool.
        """
        waiting = self.take(name)
        if waiting is not None:
            return defer.succeed(waiting)
        def withdraw(waiter):
            if waiter in self._wanted.get(name, ()):
                self._wanted[name].remove(waiter)

        waiter = defer.Deferred(withdraw)
        self._wanted.setdefault(name, []).append(waiter)

        def expire():
            if not waiter.called:
                withdraw(waiter)
                waiter.callback(None)
        call = self.clock.callLater(timeout, expire)
        waiter.addBoth(lambda result: (call.active() and call.cancel(), result)[1])
        return waiter


def may_connect_to_director(config, client_name):
    """Whether the Client ``client_name`` may dial the director (client-initiated)."""
    client = config.get("client", client_name)
    return client is not None and bool(client.connection_from_client_to_director)


async def accept_client_connection(director, conn, hello):
    """Authenticate a file daemon that dialled us and keep its connection waiting."""
    client = director.config.get("client", hello.name)
    allowed = may_connect_to_director(director.config, hello.name)
    key = client.password.key if allowed else None
    policy = resource_policy(client) if allowed else None
    try:
        await authenticate_peer(conn, hello, key, policy, director.qualified_name, director.reactor)
    except InvalidPacketStream:
        return                                      # closed and logged by the connection
    except ConnectionClosed as exc:
        log.info("Client-initiated connection from {peer} ended during authentication: {reason}",
                 peer=conn.peer_text(), reason=exc)
        return
    except (AuthenticationFailed, ReceiveTimeout) as exc:
        reason = exc if client is None or allowed else \
            "its Client resource does not allow Connection From Client To Director"
        log.warn("Client-initiated connection from {peer} refused: {reason}",
                 peer=conn.peer_text(), reason=reason)
        if not isinstance(exc, RefusedBeforeChallenge):
            conn.send(NOT_AUTHORIZED)
        conn.close()
        return
    conn.send(f"1000 OK: {director.name} Version: {bareos.VERSION} ({bareos.VERSION_DATE})\n")
    log.info("Client {name} connected from {peer} and waits for jobs ({protection})",
             name=client.name, peer=conn.peer_text(), protection=session_kind(conn))
    if client.heartbeat_interval:
        enable_keepalive(conn.transport, client.heartbeat_interval)
    director.client_connections.add(WaitingConnection(
        client.name, conn, hello.fd_protocol_version or 0, client.heartbeat_interval or 0))
    director.client_connected(client)
