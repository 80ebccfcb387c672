"""Passive client (channel 7, PROTOCOL.md §5.4) through a real FileDaemon.

A scripted storage daemon dials the file daemon with ``Hello Storage calling
Start Job <Job>`` (TLS-PSK ``R_JOB`` first when asked), the file daemon
challenges first, and then ``backup`` / ``restore`` from the scripted director
use that connection as if the file daemon had opened it.
"""

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

import bareos
from bareos.protocol import cram, handshake
from bareos.protocol.connection import ConnectionClosed
from bareos.protocol.framing import Signal
from bareos.protocol.hello import Hello, HelloKind
from bareos.protocol.tls import TlsPolicy

from fd_peers import SESSION_KEY, FakeDirector, FakeStorage, end_job_fields, fileset_lines

JOB = "backup-passive.2026-11-26_05.39.00_07"
RESTORE_JOB = "RestoreFiles.2026-11-26_06.00.00_08"


async def storage_dials(fd, job, key=SESSION_KEY, tls=False):
    """What the storage daemon does after ``passive client``: dial, hello, authenticate."""
    hello = Hello(HelloKind.STORAGE_START_JOB, job, version=bareos.VERSION)
    return await handshake.dial(reactor, "127.0.0.1", fd.port, hello, key.encode(), "File daemon",
                                TlsPolicy.ENABLED if tls else TlsPolicy.NONE)


@pytest.mark.parametrize("tls", [False, True], ids=["cleartext", "tls-psk"])
@pytest_twisted.ensureDeferred
async def test_backup_over_the_connection_the_storage_daemon_opened(fd, tmp_path, tls):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"passive\n" * 100)
    director = await FakeDirector.connect(fd)
    await director.setup_job(JOB, sd_port=None, fileset=fileset_lines(tmp_path / "src"),
                             ssl=4 if tls else 0)
    sd_conn = await storage_dials(fd, JOB, tls=tls)
    assert sd_conn.is_tls is tls       # TLS-PSK: identity R_JOB\x1e<Job>, the job's session key
    sd = FakeStorage("backup")
    serving = defer.ensureDeferred(sd._append(sd_conn))
    assert await director.command(b"backup FileIndex=0\n") == b"2000 OK backup\n"
    packets = await director.until_terminate()
    await serving
    fields = end_job_fields(packets[-2])
    assert fields["TermCode"] == ord("T") and fields["JobFiles"] == 2
    assert [r[:2] for r in sd.records][:2] == [(1, 1), (1, 2)]
    assert any("Storage daemon connected from 127.0.0.1:" in m and "(passive client)" in m
               for m in director.jmsgs), director.jmsgs


@pytest_twisted.ensureDeferred
async def test_restore_after_setauthorization(fd, tmp_path):
    """Restore: the director sends the key with ``setauthorization`` (§5.4), then the SD dials."""
    attrs = b"1 3 /x/b.txt\x00IGk B A A A A A A A A A A A A A A\x00\x00\x00\x000\x00"
    director = await FakeDirector.connect(fd)
    reply = await director.command(
        f"JobId=2 Job={RESTORE_JOB} SDid=1 SDtime=1700000000 Authorization={SESSION_KEY} "
        f"ssl=0\n")
    assert reply.startswith(b"2000 OK Job ")
    assert await director.command(f"setauthorization Authorization={SESSION_KEY}\n") == \
        b"2000 OK Authorization\n"
    sd_conn = await storage_dials(fd, RESTORE_JOB)
    sd = FakeStorage("restore", serve_records=[(1, 1, attrs), (1, 2, b"restored\n")])
    serving = defer.ensureDeferred(sd._read(sd_conn))
    where = tmp_path / "where"
    reply = await director.command(f"restore replace=a prelinks=0 where={where}\n")
    assert reply == b"2000 OK restore\n"
    await serving
    assert await director.reply() == b"2000 OK storage end\n"
    director.send(b"endrestore")
    packets = await director.until_terminate()
    assert end_job_fields(packets[-2])["TermCode"] == ord("T")
    assert (where / "x" / "b.txt").read_bytes() == b"restored\n"


@pytest_twisted.ensureDeferred
async def test_a_wrong_key_or_an_unknown_job_is_refused(fd, tmp_path):
    (tmp_path / "src").mkdir()
    director = await FakeDirector.connect(fd)
    await director.setup_job(JOB, sd_port=None, fileset=fileset_lines(tmp_path / "src"))
    with pytest.raises(handshake.AuthenticationFailed):
        await storage_dials(fd, JOB, key="AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH")
    with pytest.raises((handshake.AuthenticationFailed, ConnectionClosed)):
        await storage_dials(fd, "no-such-job.2026-11-26_05.39.00_99")
    # the right key still works afterwards, and only once
    sd_conn = await storage_dials(fd, JOB)
    with pytest.raises((handshake.AuthenticationFailed, ConnectionClosed)):
        await storage_dials(fd, JOB)
    sd_conn.close()
    director.close()


@pytest_twisted.ensureDeferred
async def test_the_file_daemon_challenges_first_and_the_storage_daemon_names_itself(fd, tmp_path):
    """Raw wire order of channel 7: hello from the SD, then the FD's challenge."""
    (tmp_path / "src").mkdir()
    director = await FakeDirector.connect(fd)
    await director.setup_job(JOB, sd_port=None, fileset=fileset_lines(tmp_path / "src"))
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from bareos.protocol.connection import BareosConnection
    conn = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", fd.port),
                                 BareosConnection(clock=reactor))
    conn.send(f'Hello Storage calling Start Job {JOB} Version="{bareos.VERSION}"\n')
    challenge = await conn.receive(10)
    assert challenge.startswith(b"auth cram-md5 <") and b"@R_CLIENT::test-fd>" in challenge
    token, _policy, compatible = cram.parse_challenge(challenge)
    conn.send(cram.response_for(SESSION_KEY.encode(), token, compatible) + b"\x00")
    assert await conn.receive(10) == cram.OK_AUTH
    await handshake.challenge_peer(conn, SESSION_KEY.encode(), "File daemon", TlsPolicy.NONE,
                                   reactor)
    conn.send_signal(Signal.TERMINATE)
    conn.close()
    director.close()
