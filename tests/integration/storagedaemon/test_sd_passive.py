"""``passive client`` (PROTOCOL.md §5.4): the storage daemon dials a (scripted) file daemon.

The scripted file daemon listens like a real one: it sniffs TLS, reads the hello
``Hello Storage calling Start Job <Job>``, challenges first, and then speaks the
FD side of the data channel on the connection it accepted.
"""

import re

import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.protocol import Factory

from bareos.protocol import cram, handshake
from bareos.protocol.connection import BareosConnection, SniffingServerFactory
from bareos.protocol.hello import HelloKind, parse_hello
from bareos.protocol.tls import PskServerContextFactory, TlsPolicy, negotiated_psk_identity
from bareos.testing.ports import free_port

from test_sd_backup_restore import flat, sample_records


class PassiveFileDaemon:
    """Accepts the storage daemon's connection and hands it to ``accepted`` (a Deferred)."""

    def __init__(self):
        self.key = None
        self.accepted = defer.Deferred()
        self.hello = None
        self.identity = None
        self.sd_challenge = None
        wrapped = Factory.forProtocol(lambda: BareosConnection(reactor, self._accepted))
        factory = SniffingServerFactory(wrapped, PskServerContextFactory(self._psk), clock=reactor)
        self.port_object = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.port = self.port_object.getHost().port

    def _psk(self, kind, name):
        return self.key.encode() if kind == "R_JOB" else None

    def _accepted(self, conn):
        defer.ensureDeferred(self._serve(conn)).addErrback(self.accepted.errback)

    async def _serve(self, conn):
        self.hello = parse_hello(await conn.receive(10))
        if conn.is_tls:
            self.identity = negotiated_psk_identity(conn.transport)
        key = self.key.encode()
        await handshake.challenge_peer(conn, key, "R_CLIENT::client-fd", TlsPolicy.NONE, reactor)
        self.sd_challenge = await conn.receive(10)
        token, _policy, compatible = cram.parse_challenge(self.sd_challenge)
        conn.send(cram.response_for(key, token, compatible) + b"\x00")
        assert await conn.receive(10) == cram.OK_AUTH
        self.accepted.callback(conn)

    def stop(self):
        return self.port_object.stopListening()


async def passive_backup(sd, peers, ssl):
    fd = PassiveFileDaemon()
    try:
        director = await peers.FakeDirector(sd).start(11, "passive.2026-01-01_10.00.00_11")
        fd.key = director.key
        director.conn.send(f"passive client address=127.0.0.1 port={fd.port} ssl={ssl}\n")
        assert await director.conn.receive(30) == b"2000 OK passive client\n"
        conn = await fd.accepted
        ended = director.run()
        ticket = await peers.fd_open_append(conn)
        records = sample_records()
        peers.fd_send_records(conn, records)
        assert await peers.fd_finish_append(conn, ticket) == b"3000 OK close Status = 84\n"
        await ended
        end = director.end_fields()
        assert (end.status, end.files) == ("T", 3)
        assert end.bytes == sum(len(d) for _, _, d in flat(records))
        return fd, director
    finally:
        await fd.stop()


@pytest_twisted.ensureDeferred
async def test_the_storage_daemon_dials_the_file_daemon_and_takes_its_data(sd, peers):
    fd, director = await passive_backup(sd, peers, ssl=0)
    assert fd.hello.kind is HelloKind.STORAGE_START_JOB and fd.hello.name == director.job
    assert b"@File\x01daemon>" in fd.sd_challenge          # Bareos' literal own-name, bashed
    connected = [m for m in director.jmsgs if "Storage daemon connected to File daemon" in m]
    assert connected and f"at 127.0.0.1:{fd.port} (passive client" in connected[0]
    assert "encryption: Cleartext" in connected[0]


@pytest_twisted.ensureDeferred
async def test_ssl_4_starts_tls_psk_with_the_job_identity_and_session_key(sd, peers):
    fd, director = await passive_backup(sd, peers, ssl=4)
    assert fd.identity == ("R_JOB", director.job)
    assert any("encryption: TLS-PSK" in m for m in director.jmsgs)


@pytest_twisted.ensureDeferred
async def test_an_unreachable_file_daemon_fails_the_job_and_the_daemon_serves_the_next(sd, peers):
    sd.daemon.resource.override("fd_connect_timeout", 1)
    sd.daemon.fd_retry_interval = 0.3
    port = free_port()                                    # nobody listens there
    director = await peers.FakeDirector(sd).start(12, "gone.2026-01-01_10.00.00_12")
    command = f"passive client address=127.0.0.1 port={port} ssl=0"
    director.conn.send(command + "\n")
    packets = []
    while True:
        packet = await director.conn.receive(30)
        packets.append(packet)
        if isinstance(packet, bytes) and packet.startswith(b"3991"):
            break
    assert packets[-1] == f"3991 Bad passive client command: {command}\n".encode()
    fatal = [p.decode() for p in packets if isinstance(p, bytes) and p.startswith(b"Jmsg")]
    assert any(re.search(rf"Fatal error: .*Failed to connect to File daemon: 127\.0\.0\.1:{port} "
                         rf"\(Connection refused\)", m) for m in fatal), fatal
    # the session ends; the job is gone; the daemon takes the next job
    assert await director.conn.receive(10) == -4
    assert "gone.2026-01-01_10.00.00_12" not in sd.daemon.jobs
    await passive_backup(sd, peers, ssl=0)


@pytest_twisted.ensureDeferred
async def test_a_malformed_command_is_refused(sd, peers):
    director = await peers.FakeDirector(sd).start(13, "bad.2026-01-01_10.00.00_13")
    director.conn.send(b"passive client address=127.0.0.1\n")
    packets = []
    while True:
        packet = await director.conn.receive(10)
        packets.append(packet)
        if isinstance(packet, bytes) and packet.startswith(b"3991"):
            break
    assert packets[-1] == b"3991 Bad passive client command: passive client address=127.0.0.1\n"
