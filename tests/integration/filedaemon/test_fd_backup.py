"""Backups through a real FileDaemon: director commands in, records to a scripted SD."""

import hashlib
import os
import time

import pytest_twisted
from twisted.internet import defer

from bareos.filedaemon.attributes import FT_DIREND, FT_LNK, FT_REG, AttributeRecord
from bareos.protocol.framing import Signal
from bareos.testing.waiting import wait_until_in_reactor

from fd_peers import FakeDirector, end_job_fields, fileset_lines

JOB = "backup-test-fd.2026-11-26_05.39.00_04"


def make_tree(root):
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello world\n" * 100)
    (root / "sub" / "b.bin").write_bytes(os.urandom(200_000))
    (root / "sub" / "empty").write_bytes(b"")
    os.symlink("a.txt", root / "link")
    return root


def by_file(records):
    files = {}
    for file_index, stream, data, _count in records:
        files.setdefault(file_index, []).append((stream, data))
    return files


@pytest_twisted.ensureDeferred
async def test_full_backup_streams_every_file_in_order(fd, storage, tmp_path):
    tree = make_tree(tmp_path / "src")
    sd = storage("backup")
    director = await FakeDirector.connect(fd)
    await director.setup_job(JOB, sd.port, fileset=fileset_lines(tree))
    assert await director.command(b"backup FileIndex=0\n") == b"2000 OK backup\n"
    packets = await director.until_terminate()
    await sd.done
    end = end_job_fields(packets[-2])
    assert packets[-1] == Signal.TERMINATE

    # The SD saw the exact session dialogue, then TERMINATE.
    assert sd.commands == [b"append open session\n", b"append data 7\n",
                           b"append end session 7\n", b"append close session 7\n"]
    assert sd.saw_terminate
    assert sd.tls is False

    # FileIndex from 1, +1 per file; per file: attributes, data, digest.
    files = by_file(sd.records)
    assert sorted(files) == list(range(1, len(files) + 1))
    indexes = [r[0] for r in sd.records]
    assert indexes == sorted(indexes)
    names = {}
    for file_index, streams in files.items():
        assert streams[0][0] == 1
        attr = AttributeRecord.decode(streams[0][1])
        assert attr.file_index == file_index
        names[os.fsdecode(attr.fname)] = (attr, streams[1:])
    root = str(tree)
    assert set(names) == {root + "/", root + "/a.txt", root + "/link", root + "/sub/",
                          root + "/sub/b.bin", root + "/sub/empty"}
    # directories come after their contents
    order = [os.fsdecode(AttributeRecord.decode(s[0][1]).fname) for _, s in sorted(files.items())]
    assert order.index(root + "/sub/b.bin") < order.index(root + "/sub/")
    assert order[-1] == root + "/"

    for name in ("a.txt", "sub/b.bin"):
        attr, rest = names[f"{root}/{name}"]
        content = (tree / name).read_bytes()
        assert attr.file_type == FT_REG
        assert [stream for stream, _ in rest] == [2, 3]
        assert rest[0][1] == content
        assert rest[1][1] == hashlib.md5(content).digest()
    attr, rest = names[f"{root}/sub/empty"]
    assert [stream for stream, _ in rest] == [3]
    assert rest[0][1] == hashlib.md5(b"").digest()
    attr, rest = names[f"{root}/link"]
    assert attr.file_type == FT_LNK and attr.link == b"a.txt" and rest == []
    assert names[root + "/sub/"][0].file_type == FT_DIREND

    content_bytes = 1200 + 200_000
    assert end == {"TermCode": ord("T"), "JobFiles": 6, "ReadBytes": content_bytes,
                   "JobBytes": content_bytes, "Errors": 0, "VSS": 0, "Encrypt": 0}
    # the job is in the terminated table now
    assert fd.running_jobs == {}
    assert fd.terminated_jobs[0].job == JOB
    assert "Connected Storage daemon" in "".join(director.jmsgs)
    assert all(m.startswith(f"Jmsg Job={JOB} type=") for m in director.jmsgs)


@pytest_twisted.ensureDeferred
async def test_backup_over_tls_psk_when_director_says_ssl_4(fd, storage, tmp_path):
    tree = tmp_path / "src"
    tree.mkdir()
    (tree / "f").write_bytes(b"x" * 5000)
    sd = storage("backup")
    director = await FakeDirector.connect(fd)
    await director.setup_job(JOB, sd.port, fileset=fileset_lines(tree), ssl=4)
    assert await director.command(b"backup FileIndex=0\n") == b"2000 OK backup\n"
    packets = await director.until_terminate()
    await sd.done
    assert sd.tls is True
    assert end_job_fields(packets[-2])["TermCode"] == ord("T")
    assert [r[1] for r in sd.records] == [1, 2, 3, 1]


@pytest_twisted.ensureDeferred
async def test_incremental_polls_the_director_clock_and_saves_only_changes(fd, storage, tmp_path):
    tree = tmp_path / "src"
    tree.mkdir()
    old, new = tree / "old.txt", tree / "new.txt"
    old.write_bytes(b"old")
    new.write_bytes(b"new")
    past = time.time() - 3600
    os.utime(old, (past, past))
    since = int(time.time()) - 60
    # ctime of old.txt is recent too (utime changes ctime): judge by mtime only.
    sd = storage("backup")
    director = await FakeDirector.connect(fd)
    reply = await director.command(
        f"JobId=2 Job={JOB} SDid=1 SDtime=1 Authorization=KEY-A ssl=0\n")
    assert reply.startswith(b"2000 OK Job ")
    director.send(b"level = incremental  mtime_only=0 \n")
    director.send(f"level = since_utime {since} mtime_only=1 prev_job=previous.job\n".encode())
    polls = 0
    while True:
        packet = await director.reply()
        if packet == Signal.BTIME:
            polls += 1
            director.send(f"btime {int(time.time() * 1_000_000)}\n".encode())
            continue
        break
    assert polls == 10
    assert packet == Signal.EOD
    assert await director.reply() == b"2000 OK level\n"
    director.send(b"fileset\n")
    for line in fileset_lines(tree):
        director.send(line)
    director.conn.send_signal(Signal.EOD)
    assert await director.reply() == b"2000 OK include\n"
    assert await director.command(
        f"storage address=127.0.0.1 port={sd.port} ssl=0 Authorization=JMJH-ANIF-HAJM-FDCA-HFHN-BHNF-HLHD-AGLF\n"
    ) == b"2000 OK storage\n"
    assert await director.command(b"backup FileIndex=0\n") == b"2000 OK backup\n"
    packets = await director.until_terminate()
    await sd.done
    saved = [os.fsdecode(AttributeRecord.decode(data).fname)
             for _, stream, data, _ in sd.records if stream == 1]
    assert saved == [f"{tree}/new.txt", f"{tree}/"]
    end = end_job_fields(packets[-2])
    assert end["TermCode"] == ord("T") and end["JobFiles"] == 2
    job = fd.terminated_jobs[0]
    assert job.level == "I" and job.prev_job == "previous.job" and job.mtime_only
    assert abs(job.since - since) <= 1


@pytest_twisted.ensureDeferred
async def test_storage_unreachable_fails_the_job_with_a_fatal_message(fd, tmp_path):
    from bareos.testing.ports import free_port
    port = free_port()  # nobody listens there
    tree = tmp_path / "src"
    tree.mkdir()
    director = await FakeDirector.connect(fd)
    await director.setup_job(JOB, None, fileset=fileset_lines(tree))
    reply = await director.command(f"storage address=127.0.0.1 port={port} ssl=0\n")
    assert reply == b"2902 Bad storage\n"
    packets = await director.until_terminate()
    end = end_job_fields(packets[-2])
    assert end["TermCode"] == ord("f") and end["Errors"] == 1
    fatal = [m for m in director.jmsgs if " type=3 " in m]
    assert len(fatal) == 1
    assert f"Failed to connect to Storage daemon: 127.0.0.1:{port} (Connection refused)" in fatal[0]
    assert "test-fd JobId 1: Fatal error: " in fatal[0]


@pytest_twisted.ensureDeferred
async def test_storage_refusing_the_key_fails_the_job(fd, storage, tmp_path):
    sd = storage("backup")
    sd._psk = lambda kind, name: None
    director = await FakeDirector.connect(fd)
    reply = await director.command(f"JobId=3 Job={JOB} SDid=1 SDtime=1 Authorization=WRONG-KEY ssl=0\n")
    assert reply.startswith(b"2000 OK Job ")
    reply = await director.command(f"storage address=127.0.0.1 port={sd.port} ssl=0\n")
    assert reply == b"2902 Bad storage\n"
    packets = await director.until_terminate()
    assert end_job_fields(packets[-2])["TermCode"] == ord("f")
    assert any("authentication failed" in m for m in director.jmsgs)
    sd.done.addErrback(lambda f: None)


@pytest_twisted.ensureDeferred
async def test_vanished_file_is_a_warning_and_the_job_ends_ok(fd, storage, tmp_path):
    tree = tmp_path / "src"
    tree.mkdir()
    big = tree / "a_big"
    with open(big, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    victim = tree / "z_victim"
    victim.write_bytes(b"soon gone")
    sd = storage("backup", keep_data=False)
    gate = defer.Deferred()
    sd.gate = gate
    sd.gate_after = lambda records: any(r[1] == 1 for r in records)  # a_big's attributes
    director = await FakeDirector.connect(fd)
    await director.setup_job(JOB, sd.port, fileset=fileset_lines(tree))
    assert await director.command(b"backup FileIndex=0\n") == b"2000 OK backup\n"
    # The SD stalls after a_big's attributes; the walk listed the directory already.
    await wait_until_in_reactor(lambda: gate.called or sd.records, 30,
                                "the SD has a_big's attributes")
    victim.unlink()
    gate.callback(None)
    packets = await director.until_terminate()
    await sd.done
    end = end_job_fields(packets[-2])
    assert end["TermCode"] == ord("T")
    assert end["Errors"] == 1
    warnings = [m for m in director.jmsgs if " type=5 " in m]
    assert len(warnings) == 1 and "z_victim" in warnings[0] and "vanished" in warnings[0]
    assert "Warning: " in warnings[0]
    saved = [AttributeRecord.decode(data).fname for _, stream, data, _ in sd.records if stream == 1]
    assert os.fsencode(victim) not in saved


@pytest_twisted.ensureDeferred
async def test_cancel_from_another_director_connection_stops_the_backup(fd, storage, tmp_path):
    tree = tmp_path / "src"
    tree.mkdir()
    with open(tree / "huge-sparse", "wb") as f:
        f.truncate(20 * 1024 * 1024 * 1024)
    sd = storage("backup", keep_data=False)
    gate = defer.Deferred()   # never opened: the SD stops reading after some data
    sd.gate = gate
    sd.gate_bytes = 8 * 1024 * 1024
    director = await FakeDirector.connect(fd)
    await director.setup_job(JOB, sd.port, fileset=fileset_lines(tree))
    assert await director.command(b"backup FileIndex=0\n") == b"2000 OK backup\n"
    await wait_until_in_reactor(lambda: sd.gate is None, 30, "the SD stops reading")

    other = await FakeDirector.connect(fd, "other-dir", "otherpw")
    other.send(b"status\n")
    status = b""
    while True:
        packet = await other.reply()
        if packet == Signal.EOD:
            break
        status += packet
    assert f"JobId 1 Job {JOB} is running.".encode() in status
    assert b"Full Backup Job started:" in status
    assert b"test-dir (director) connected at:" in status

    assert await other.command(b"cancel Job=no-such-job\n") == b"2901 Job no-such-job not found.\n"
    assert await other.reply() == Signal.EOD
    assert await other.command(f"cancel Job={JOB}\n".encode()) == \
        f"2001 Job {JOB} marked to be canceled.\n".encode()
    assert await other.reply() == Signal.EOD
    packets = await director.until_terminate()
    end = end_job_fields(packets[-2])
    assert end["TermCode"] == ord("A")
    other.close()
    gate.callback(None)
    await sd.done
    assert fd.running_jobs == {}
    assert fd.terminated_jobs[0].status == "A"


@pytest_twisted.ensureDeferred
async def test_accurate_incremental_saves_changes_and_reports_deleted_files(fd, storage, tmp_path):
    from bareos.filedaemon.attributes import FT_DELETED, encode_lstat
    tree = tmp_path / "src"
    tree.mkdir()
    for name in ("same", "changed", "new"):
        (tree / name).write_bytes(name.encode())
    stale = os.lstat(tree / "changed")
    (tree / "changed").write_bytes(b"changed and longer")
    sd = storage("backup")
    director = await FakeDirector.connect(fd)
    await director.setup_job(JOB, None, level=None, fileset=fileset_lines(tree))
    director.send(b"accurate files=4\n")
    for name, st in (("same", os.lstat(tree / "same")), ("changed", stale),
                     ("gone", os.lstat(tree / "same")), ("", os.lstat(tree))):
        path = f"{tree}/{name}".encode()
        director.send(path + b"\0" + encode_lstat(st).encode() + b"\0\0" + b"0")
    director.conn.send_signal(Signal.EOD)
    assert await director.command(
        f"storage address=127.0.0.1 port={sd.port} ssl=0\n".encode()) == b"2000 OK storage\n"
    assert await director.command(b"backup FileIndex=0\n") == b"2000 OK backup\n"
    packets = await director.until_terminate()
    await sd.done
    attrs = [AttributeRecord.decode(data) for _, stream, data, _ in sd.records if stream == 1]
    assert [(a.file_index, os.fsdecode(a.fname), a.file_type) for a in attrs] == [
        (1, f"{tree}/changed", FT_REG), (2, f"{tree}/new", FT_REG), (3, f"{tree}/", FT_DIREND),
        (4, f"{tree}/gone", FT_DELETED)]
    assert end_job_fields(packets[-2])["JobFiles"] == 4
