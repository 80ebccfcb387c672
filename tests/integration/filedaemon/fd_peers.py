"""The scripted peers of a real FileDaemon: a director and a storage daemon.

Both fakes speak through ``BareosConnection`` and follow the lines of
PROTOCOL.md §5 / §7.2 literally, so the tests read like the wire conversation.
(A module of its own, not conftest.py: test modules import from it by name.)
"""

import os

from twisted.internet import defer, reactor
from twisted.internet.protocol import Factory

from bareos.protocol import handshake
from bareos.protocol.connection import BareosConnection, ConnectionClosed, SniffingServerFactory
from bareos.protocol.cram import password_key
from bareos.protocol.framing import Signal
from bareos.protocol.hello import Hello, HelloKind, parse_hello
from bareos.protocol.tls import PskServerContextFactory, TlsPolicy

FD_CONFIG = """
Client {{ Name = test-fd; FdAddress = 127.0.0.1; FdPort = {port}; Working Directory = "{workdir}";
         SD Connect Timeout = 1 }}
Director {{ Name = test-dir; Password = "dirpw"; TLS Enable = no }}
Director {{ Name = other-dir; Password = "otherpw"; TLS Enable = no }}
"""

SESSION_KEY = "JMJH-ANIF-HAJM-FDCA-HFHN-BHNF-HLHD-AGLF"
TIMEOUT = 30


class FakeDirector:
    """The director's side of one FD session: commands out, replies and Jmsgs in."""

    def __init__(self, conn):
        self.conn = conn
        self.jmsgs = []

    @classmethod
    async def connect(cls, fd, name="test-dir", password="dirpw"):
        conn = await handshake.dial(reactor, "127.0.0.1", fd.port,
                                    Hello(HelloKind.DIRECTOR, name, version="25.1.1"),
                                    password_key(password), f"R_DIRECTOR::{name}", TlsPolicy.NONE)
        greeting = await conn.receive(TIMEOUT)
        assert greeting == b"2000 OK Hello 54\n"
        return cls(conn)

    def send(self, line):
        self.conn.send(line)

    async def reply(self):
        """The next packet that is not a job message (those are collected)."""
        while True:
            packet = await self.conn.receive(TIMEOUT)
            if isinstance(packet, bytes) and packet.startswith(b"Jmsg "):
                self.jmsgs.append(packet.decode())
                continue
            return packet

    async def command(self, line):
        self.send(line)
        return await self.reply()

    async def setup_job(self, job, sd_port=None, level=b"level = full  mtime_only=0 \n",
                        fileset=(), ssl=0, job_id=1):
        reply = await self.command(
            f"JobId={job_id} Job={job} SDid=1 SDtime=1700000000 Authorization={SESSION_KEY} "
            f"ssl={ssl}\n")
        assert reply.startswith(b"2000 OK Job "), reply
        if level is not None:
            assert await self.command(level) == b"2000 OK level\n"
        self.send(b"fileset\n")
        for line in fileset:
            self.send(line)
        self.conn.send_signal(Signal.EOD)
        assert await self.reply() == b"2000 OK include\n"
        if sd_port is not None:
            reply = await self.command(f"storage address=127.0.0.1 port={sd_port} ssl={ssl}\n")
            assert reply == b"2000 OK storage\n", (reply, self.jmsgs)

    async def until_terminate(self):
        """Packets until TERMINATE (the FD closes after it)."""
        packets = []
        while True:
            packet = await self.reply()
            packets.append(packet)
            if packet == Signal.TERMINATE:
                return packets

    def close(self):
        if self.conn.is_open:
            self.conn.close()


def fileset_lines(*paths, options="M"):
    lines = [b"I\n", f"O {options}\n".encode(), b"N\n"]
    lines += [b"F " + os.fsencode(p) for p in paths]
    lines += [b"N\n", b"N\n"]
    return lines


def end_job_fields(line):
    assert line.startswith(b"2800 End Job "), line
    fields = dict(item.split("=") for item in line.decode().split()[3:])
    return {k: int(v) for k, v in fields.items()}


class FakeStorage:
    """A storage daemon that accepts one data connection per job and follows a script.

    ``mode="backup"``: accepts an append session and records what arrives in
    ``records`` as ``(FileIndex, Stream, b"data")`` (data packets of one record
    group joined).  ``mode="restore"``: serves ``serve_records`` in a read session,
    then ``trailing_packets`` (raw packets, to break the stream) before the EOD.
    ``gate``: a Deferred awaited before the data stream is read further once
    ``gate_after(records)`` is true (to stall the stream).
    """

    def __init__(self, mode="backup", serve_records=(), keep_data=True, trailing_packets=()):
        self.mode = mode
        self.serve_records = list(serve_records)
        self.trailing_packets = list(trailing_packets)
        self.keep_data = keep_data
        self.records = []
        self.raw_records = []     # one entry per data packet (= one SD record)
        self.commands = []
        self.data_bytes = 0
        self.packets = 0
        self.saw_terminate = False
        self.tls = None
        self.done = defer.Deferred()
        self.gate = None
        self.gate_after = None
        self.gate_bytes = 0
        self.closed_early = False
        self.port = None
        self._listening = None
        self.keys = {}

    def listen(self):
        wrapped = Factory.forProtocol(lambda: BareosConnection(reactor, self._accepted))
        factory = SniffingServerFactory(wrapped, PskServerContextFactory(self._psk), clock=reactor)
        self._listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.port = self._listening.getHost().port
        return self

    def stop(self):
        if self._listening is not None:
            return self._listening.stopListening()

    def _psk(self, kind, name):
        return SESSION_KEY.encode() if kind == "R_JOB" else None

    def _accepted(self, conn):
        d = defer.ensureDeferred(self._serve(conn))
        d.addErrback(self._failed, conn)

    def _failed(self, failure, conn):
        if not self.done.called:
            self.done.errback(failure)
        conn.close(terminate=False)

    async def _serve(self, conn):
        hello = parse_hello(await conn.receive(TIMEOUT))
        assert hello.kind is HelloKind.START_JOB
        self.job = hello.name
        self.tls = conn.is_tls
        await handshake.authenticate_as_acceptor(conn, SESSION_KEY.encode(), "R_STORAGE::test-sd",
                                                 TlsPolicy.ENABLED if conn.is_tls else TlsPolicy.NONE,
                                                 reactor)
        if self.mode == "backup":
            await self._append(conn)
        else:
            await self._read(conn)
        try:
            last = await conn.receive(TIMEOUT)
            self.saw_terminate = last == Signal.TERMINATE
        except ConnectionClosed:
            pass
        conn.close(terminate=False)
        if not self.done.called:
            self.done.callback(self)

    async def _command(self, conn):
        packet = await conn.receive(TIMEOUT)
        self.commands.append(packet)
        return packet

    async def _append(self, conn):
        assert await self._command(conn) == b"append open session\n"
        conn.send(b"3000 OK open ticket = 7\n")
        assert await self._command(conn) == b"append data 7\n"
        conn.send(b"3000 OK data\n")
        try:
            await self._read_stream(conn)
        except ConnectionClosed:
            self.closed_early = True
            if not self.done.called:
                self.done.callback(self)
            return
        conn.send(b"3000 OK append data\n")
        assert await self._command(conn) == b"append end session 7\n"
        conn.send(b"3000 OK end\n")
        assert await self._command(conn) == b"append close session 7\n"
        conn.send(b"3000 OK close Status = 84\n")
        conn.send_signal(Signal.EOD)

    async def _read_stream(self, conn):
        receive = conn.receive
        while True:
            header = await receive(TIMEOUT)
            self.packets += 1
            if header == Signal.EOD:
                return
            assert isinstance(header, bytes), header
            file_index, stream, zero = (int(x) for x in header.split(b" "))
            assert zero == 0
            pieces = []
            raw = self.raw_records
            while True:
                packet = await receive(TIMEOUT)
                self.packets += 1
                if packet == Signal.EOD:
                    break
                if packet == Signal.TERMINATE:  # the FD gave up (cancel)
                    raise ConnectionClosed("TERMINATE in the data stream")
                assert isinstance(packet, bytes), packet
                self.data_bytes += len(packet)
                if self.keep_data or stream == 1:
                    pieces.append(packet)
                    raw.append((file_index, stream, packet))
                if self.gate is not None and self.gate_bytes and self.data_bytes >= self.gate_bytes:
                    gate, self.gate = self.gate, None
                    await gate
            self.records.append((file_index, stream, b"".join(pieces), len(pieces)))
            if self.gate is not None and self.gate_after and self.gate_after(self.records):
                gate, self.gate = self.gate, None
                await gate

    async def _read(self, conn):
        command = await self._command(conn)
        assert command.startswith(b"read open session = DummyVolume "), command
        conn.send(b"3000 OK open ticket = 3\n")
        assert await self._command(conn) == b"read data 3\n"
        conn.send(b"3000 OK data\n")
        for file_index, stream, data in self.serve_records:
            conn.send(f"rechdr 1 1700000000 {file_index} {stream} {len(data)}".encode())
            conn.send(data)
            if self.gate is not None and self.gate_after(file_index):
                gate, self.gate = self.gate, None
                await gate
        for packet in self.trailing_packets:
            conn.send(packet)
        conn.send_signal(Signal.EOD)
        command = await self._command(conn)
        if command == Signal.TERMINATE:
            self.saw_terminate = True
            return  # the FD gave up on the stream
        assert command == b"read close session 3\n"
        conn.send(b"3000 OK close Status = 84\n")
        conn.send_signal(Signal.EOD)
