"""An in-process storage daemon on 127.0.0.1, and scripted director / file daemon peers.

The fake director answers the SD's catalog requests from a dict (volumes of
one pool, new ones named ``<pool>-NNNN`` when none is appendable, as the real
director does with a Label Format); the fake file daemon speaks the data
channel with BareosConnection packets.
"""

import os
import re
import struct
import types

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

import bareos
from bareos.config import parse_config_text
from bareos.config.schemas import STORAGEDAEMON
from bareos.protocol import cram, handshake
from bareos.protocol.framing import Signal
from bareos.protocol.hello import Hello, HelloKind
from bareos.protocol.tls import TlsPolicy
from bareos.storagedaemon.daemon import StorageDaemon
from bareos.testing.ports import free_port

SD_CONFIG = """
Storage {{ Name = test-sd; SDAddress = 127.0.0.1; SDPort = {port}; Working Directory = "{work}";
          TLS Enable = no; Client Connect Wait = {wait} }}
Director {{ Name = test-dir; Password = "sdpw"; TLS Enable = no }}
Director {{ Name = other-dir; Password = "otherpw"; TLS Enable = no }}
Device {{ Name = FileStorage; Archive Device = "{voldir}"; Media Type = File; Label Media = yes;
          Maximum Concurrent Jobs = 5 }}
Device {{ Name = TinyStorage; Archive Device = "{tinydir}"; Media Type = Tiny; Label Media = yes }}
Device {{ Name = ManualStorage; Archive Device = "{voldir}"; Media Type = Manual; Label Media = no }}
"""


@pytest.fixture(autouse=True)
def quick_refusals(monkeypatch):
    # A refused login waits 5 s before answering (slows down guessing); not needed here.
    monkeypatch.setattr(handshake, "FAILURE_DELAY", 0.05)


class SD:
    def __init__(self, tmp_path, wait=30, tinydir=None):
        self.port = free_port()
        self.voldir = tmp_path / "volumes"
        self.voldir.mkdir()
        if tinydir is None:
            tinydir = tmp_path / "tiny"
            tinydir.mkdir()
        self.tinydir = tinydir
        config = parse_config_text(SD_CONFIG.format(
            port=self.port, work=tmp_path, wait=wait, voldir=self.voldir, tinydir=self.tinydir),
            STORAGEDAEMON)
        self.daemon = StorageDaemon(config, reactor)
        self.daemon.startService()

    def stop(self):
        return self.daemon.stopService()


@pytest.fixture
def sd(tmp_path):
    server = SD(tmp_path)
    yield server
    pytest_twisted.blockon(defer.maybeDeferred(server.stop))


@pytest.fixture
def make_sd(tmp_path):
    servers = []

    def make(**options):
        base = tmp_path / f"sd{len(servers)}"
        base.mkdir()
        server = SD(base, **options)
        servers.append(server)
        return server
    yield make
    for server in servers:
        pytest_twisted.blockon(defer.maybeDeferred(server.stop))


# -- the director's side ------------------------------------------------------------

async def director_login(sd, name="test-dir", password="sdpw"):
    hello = Hello(HelloKind.DIRECTOR, name, version=bareos.VERSION)
    conn = await handshake.dial(reactor, "127.0.0.1", sd.port, hello, cram.password_key(password),
                                f"R_DIRECTOR::{name}", TlsPolicy.NONE)
    greeting = await conn.receive(10)
    assert greeting == b"3000 OK Hello\n"
    return conn


def job_command(job_id, job, job_type="B", level="F", client="client-fd", fileset="Full Set"):
    bash = cram.bash_spaces
    return (f"JobId={job_id} job={job} job_name={bash(job.rsplit('.', 3)[0])} "
            f"client_name={client} type={ord(job_type)} level={ord(level)} FileSet={bash(fileset)} "
            f"NoAttr=0 SpoolAttr=0 FileSetMD5=abcdef SpoolData=0 PreferMountedVols=1 SpoolSize=0 "
            f"rerunning=0 VolSessionId=0 VolSessionTime=0 Quota=0 Protocol=0 "
            f"BackupFormat=Native\n")


_MEDIA_FIELDS = ("VolName VolJobs VolFiles VolBlocks VolBytes VolMounts VolErrors VolWrites "
                 "MaxVolBytes VolCapacityBytes VolStatus Slot MaxVolJobs MaxVolFiles InChanger "
                 "VolReadTime VolWriteTime EndFile EndBlock LabelType MediaId EncryptionKey "
                 "MinBlocksize MaxBlocksize").split()


class FakeDirector:
    """One job's director side: start, reserve, run; then answer the SD until it terminates."""

    def __init__(self, sd, pool="Full", media_type="File", max_vol_bytes=0, no_media=False):
        self.sd = sd
        self.pool = pool
        self.media_type = media_type
        self.max_vol_bytes = max_vol_bytes
        self.no_media = no_media
        self.volumes = {}
        self.next_media_id = 1
        self.conn = None
        self.packets = []            # everything the SD sent after run (bytes / signals)
        self.catreqs = []
        self.jobmedia = []
        self.attributes = []
        self.jmsgs = []
        self.statuses = []
        self.end = None

    def add_volume(self, name, **fields):
        record = {key: 0 for key in _MEDIA_FIELDS}
        record.update(VolName=name, VolStatus="Append", MaxVolBytes=self.max_vol_bytes,
                      MediaId=self.next_media_id, EncryptionKey="", LabelType=0)
        record.update(fields)
        self.next_media_id += 1
        self.volumes[name] = record
        return record

    def media_reply(self, record):
        return "1000 OK " + " ".join(f"{k}={record[k]}" for k in _MEDIA_FIELDS) + "\n"

    async def start(self, job_id, job, job_type="B", level="F", device="FileStorage"):
        self.job = job
        self.conn = await director_login(self.sd)
        self.conn.send(job_command(job_id, job, job_type, level))
        reply = (await self.conn.receive(10)).decode()
        match = re.match(r"3000 OK Job SDid=(\d+) SDtime=(\d+) Authorization=(\S+)\n$", reply)
        assert match, reply
        self.sid, self.stime, self.key = int(match[1]), int(match[2]), match[3]
        self.conn.send(b"getSecureEraseCmd\n")
        assert await self.conn.receive(10) == b"2000 OK SDSecureEraseCmd *None* \n"
        append = 1 if job_type == "B" else 0
        self.conn.send(f"use storage=File media_type={self.media_type} pool_name={self.pool} "
                       f"pool_type=Backup append={append} copy=0 stripe=0\n")
        self.conn.send(f"use device={device}\n")
        self.conn.send_signal(Signal.EOD)
        self.conn.send_signal(Signal.EOD)
        self.use_reply = await self.conn.receive(10)
        return self

    async def bootstrap(self, text):
        self.conn.send(b"bootstrap\n")
        for line in text.splitlines():
            self.conn.send(line + "\n")
        self.conn.send_signal(Signal.EOD)
        return await self.conn.receive(10)

    def run(self):
        """Send ``run`` and serve the SD until TERMINATE; a Deferred firing with the 3099 line."""
        self.conn.send(b"run")
        return defer.ensureDeferred(self._serve())

    async def _serve(self):
        conn = self.conn
        while True:
            try:
                packet = await conn.receive(60)
            except Exception:
                break
            self.packets.append(packet)
            if packet == Signal.TERMINATE:
                break
            if not isinstance(packet, bytes):
                continue
            if packet.startswith(b"UpdCat Job="):
                prefix = f"UpdCat Job={self.job} FileAttributes ".encode()
                assert packet.startswith(prefix), packet[:80]
                sid, stime, fi, stream, length = struct.unpack_from(">IIiiI", packet, len(prefix))
                data = packet[len(prefix) + 20:]
                assert len(data) == length
                self.attributes.append((sid, stime, fi, stream, data))
                continue
            text = packet.decode()
            if text.startswith("CatReq"):
                self.catreqs.append(text)
                conn.send(self.catalog(text))
            elif text.startswith("Jmsg"):
                self.jmsgs.append(text)
            elif text.startswith("Status"):
                self.statuses.append(text)
            elif text.startswith("3099"):
                self.end = text
        conn.close(terminate=False)
        return self.end

    def catalog(self, text):
        fields = dict(re.findall(r"(\w+)=(\S*)", text))
        assert fields["Job"] == self.job
        if "FindMedia" in fields:
            if self.no_media:
                return "1901 No Media.\n"
            unwanted = set(filter(None, fields["unwanted_volumes"].split(",")))
            for record in self.volumes.values():
                if record["VolStatus"] in ("Append", "Recycle") and record["VolName"] not in unwanted:
                    return self.media_reply(record)
            return self.media_reply(self.add_volume(f"{self.pool}-{len(self.volumes) + 1:04d}"))
        if " UpdateMedia " in text:
            # a volume only a fuzzed reply named: answered as the director answers
            if fields["VolName"] not in self.volumes:
                return f'1997 Volume "{fields["VolName"]}" not in catalog.\n'
            record = self.volumes[fields["VolName"]]
            for key in ("VolJobs", "VolFiles", "VolBlocks", "VolBytes", "VolMounts", "VolErrors",
                        "VolWrites", "VolStatus"):
                record[key] = fields[key] if key == "VolStatus" else int(fields[key])
            return self.media_reply(record)
        if " CreateJobMedia " in text:
            self.jobmedia.append({k: int(v) for k, v in fields.items() if k != "Job"})
            return "1000 OK CreateJobMedia\n"
        return "1990 Invalid Catalog Request\n"

    def volume_name(self, media_id):
        return next(r["VolName"] for r in self.volumes.values() if r["MediaId"] == media_id)

    def bsr(self):
        """A bootstrap for everything this job wrote, from its JobMedia records."""
        lines = []
        for jm in self.jobmedia:
            start = (jm["StartFile"] << 32) | jm["StartBlock"]
            end = (jm["EndFile"] << 32) | jm["EndBlock"]
            lines += [f'Volume="{self.volume_name(jm["MediaId"])}"', f'MediaType="{self.media_type}"',
                      f"VolSessionId={self.sid}", f"VolSessionTime={self.stime}",
                      f"VolAddr={start}-{end}", f"FileIndex={jm['FirstIndex']}-{jm['LastIndex']}",
                      f"Count={jm['LastIndex'] - jm['FirstIndex'] + 1}"]
        return "\n".join(lines) + "\n"

    def end_fields(self):
        match = re.match(r"3099 Job (\S+) end JobStatus=(\d+) JobFiles=(\d+) JobBytes=(\d+) "
                         r"JobErrors=(\d+)\n$", self.end)
        assert match, self.end
        return types.SimpleNamespace(job=match[1], status=chr(int(match[2])), files=int(match[3]),
                                     bytes=int(match[4]), errors=int(match[5]))


# -- the file daemon's side ------------------------------------------------------------

async def fd_connect(sd, job, key, tls=False):
    hello = Hello(HelloKind.START_JOB, job, version=bareos.VERSION)
    return await handshake.dial(reactor, "127.0.0.1", sd.port, hello, key.encode(),
                                "R_CLIENT::client-fd", TlsPolicy.ENABLED if tls else TlsPolicy.NONE)


async def fd_open_append(conn):
    conn.send(b"append open session\n")
    reply = (await conn.receive(10)).decode()
    ticket = int(re.match(r"3000 OK open ticket = (\d+)\n$", reply)[1])
    conn.send(f"append data {ticket}\n")
    assert await conn.receive(30) == b"3000 OK data\n"
    return ticket


def fd_send_records(conn, records):
    """records: (FileIndex, Stream, [data packets]) as the FD streams them."""
    for file_index, stream, pieces in records:
        conn.send(f"{file_index} {stream} 0")
        for piece in pieces:
            conn.send(piece)
        conn.send_signal(Signal.EOD)


async def fd_finish_append(conn, ticket):
    conn.send_signal(Signal.EOD)
    assert await conn.receive(60) == b"3000 OK append data\n"
    conn.send(f"append end session {ticket}\n")
    assert await conn.receive(10) == b"3000 OK end\n"
    conn.send(f"append close session {ticket}\n")
    close = await conn.receive(10)
    assert await conn.receive(10) == Signal.EOD
    conn.close()
    return close


async def fd_backup(sd, director, records, tls=False):
    conn = await fd_connect(sd, director.job, director.key, tls)
    ticket = await fd_open_append(conn)
    fd_send_records(conn, records)
    return await fd_finish_append(conn, ticket)


async def fd_restore(sd, director):
    """All records the SD sends: [(sid, stime, FileIndex, Stream, data)]."""
    conn = await fd_connect(sd, director.job, director.key)
    conn.send(b"read open session = DummyVolume 0 0 0 0 0 0\n")
    reply = (await conn.receive(10)).decode()
    ticket = int(re.match(r"3000 OK open ticket = (\d+)\n$", reply)[1])
    conn.send(f"read data {ticket}\n")
    assert await conn.receive(30) == b"3000 OK data\n"
    records = []
    while True:
        header = await conn.receive(30)
        if header == Signal.EOD:
            break
        match = re.match(rb"rechdr (\d+) (\d+) (-?\d+) (-?\d+) (\d+)$", header)
        assert match, header
        data = await conn.receive(30)
        assert isinstance(data, bytes) and len(data) == int(match[5])
        records.append((int(match[1]), int(match[2]), int(match[3]), int(match[4]), data))
    conn.send(f"read close session {ticket}\n")
    close = await conn.receive(10)
    assert close.startswith(b"3000 OK close Status = ")
    assert await conn.receive(10) == Signal.EOD
    conn.close()
    return records


def volume_records(path):
    """(sid, stime, Record) of a volume file, read with bareos.volume."""
    from bareos.volume import FileVolume
    with FileVolume.open(os.path.dirname(path), os.path.basename(path), writable=False) as volume:
        return list(volume.records())


@pytest.fixture
def peers():
    return types.SimpleNamespace(
        FakeDirector=FakeDirector, director_login=director_login, job_command=job_command,
        fd_connect=fd_connect, fd_open_append=fd_open_append, fd_send_records=fd_send_records,
        fd_finish_append=fd_finish_append, fd_backup=fd_backup, fd_restore=fd_restore,
        volume_records=volume_records)
