"""Restore and estimate through a real FileDaemon."""

import itertools
import os
import stat

import pytest_twisted
from twisted.internet import defer

from bareos.protocol.framing import Signal
from bareos.testing.filesystems import small_tmpfs
from bareos.testing.waiting import wait_until_in_reactor

from fd_peers import SESSION_KEY, FakeDirector, end_job_fields, fileset_lines

BACKUP_JOB = "backup-test-fd.2026-11-26_05.39.00_04"
RESTORE_JOB = "RestoreFiles.2026-11-26_06.00.00_05"


def make_tree(root):
    (root / "dir with space" / "deep").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha\n" * 1000)
    (root / "dir with space" / "big.bin").write_bytes(os.urandom(300_000))
    (root / "dir with space" / "deep" / "small").write_bytes(b"s")
    (root / "empty").write_bytes(b"")
    (root / "empty-dir").mkdir()
    os.symlink("a.txt", root / "link")
    os.chmod(root / "dir with space" / "deep" / "small", 0o640)
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i), follow_symlinks=False)
    return root


def snapshot(root):
    result = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        rel = str(path.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            result[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            result[rel] = ("dir", stat.S_IMODE(st.st_mode), int(st.st_mtime))
        else:
            result[rel] = ("file", stat.S_IMODE(st.st_mode), int(st.st_mtime), path.read_bytes())
    return result


async def backup(fd, storage, tree):
    sd = storage("backup")
    director = await FakeDirector.connect(fd)
    await director.setup_job(BACKUP_JOB, sd.port, fileset=fileset_lines(tree))
    assert await director.command(b"backup FileIndex=0\n") == b"2000 OK backup\n"
    packets = await director.until_terminate()
    await sd.done
    assert end_job_fields(packets[-2])["TermCode"] == ord("T")
    return sd.raw_records


async def restore_job(fd, sd, jobid):
    """A director that set up a restore job of one part (no second key: the FD ends
    the job right after it) with the storage daemon *sd*."""
    director = await FakeDirector.connect(fd)
    reply = await director.command(
        f"JobId={jobid} Job={RESTORE_JOB} SDid=0 SDtime=0 Authorization={SESSION_KEY} ssl=0\n")
    assert reply.startswith(b"2000 OK Job ")
    assert await director.command(f"storage address=127.0.0.1 port={sd.port} ssl=0\n") == \
        b"2000 OK storage\n"
    return director


async def single_part_restore(fd, sd, jobid, restore_options):
    """Run a restore job of one part and wait for its end: (director, end fields)."""
    director = await restore_job(fd, sd, jobid)
    assert await director.command(f"restore {restore_options}\n") == b"2000 OK restore\n"
    packets = await director.until_terminate()
    return director, end_job_fields(packets[-2])


@pytest_twisted.ensureDeferred
async def test_restore_recreates_the_tree_under_where(fd, storage, tmp_path):
    tree = make_tree(tmp_path / "src")
    records = await backup(fd, storage, tree)
    before = snapshot(tree)

    sd = storage("restore", serve_records=records)
    target = tmp_path / "restored here"
    director = await FakeDirector.connect(fd)
    reply = await director.command(
        f"JobId=6 Job={RESTORE_JOB} SDid=0 SDtime=0 Authorization=FIRST-KEY ssl=0\n")
    assert reply.startswith(b"2000 OK Job ")
    assert await director.command(b"getSecureEraseCmd\n") == b"2000 OK FDSecureEraseCmd *None*\n"
    reply = await director.command(
        f"storage address=127.0.0.1 port={sd.port} ssl=0 Authorization={SESSION_KEY}\n")
    assert reply == b"2000 OK storage\n"
    where = str(target).replace(" ", "\x01")
    assert await director.command(
        f"restore replace=a prelinks=0 where={where}\n") == b"2000 OK restore\n"
    assert await director.reply() == b"2000 OK storage end\n"
    await sd.done
    assert sd.commands[0] == b"read open session = DummyVolume 0 0 0 0 0 0\n"
    assert sd.commands[1:] == [b"read data 3\n", b"read close session 3\n"]
    assert sd.saw_terminate
    director.send(b"endrestore")
    packets = await director.until_terminate()
    end = end_job_fields(packets[-2])
    assert end["TermCode"] == ord("T"), director.jmsgs
    assert end["JobFiles"] == len(before) + 1  # + the top directory itself
    assert end["Errors"] == 0
    content = sum(len(v[3]) for v in before.values() if v[0] == "file")
    assert end["JobBytes"] == content

    restored_root = target / str(tree).lstrip("/")
    assert snapshot(restored_root) == before
    assert fd.terminated_jobs[0].job == RESTORE_JOB


@pytest_twisted.ensureDeferred
async def test_restore_with_regexwhere_and_never_replace(fd, storage, tmp_path):
    tree = make_tree(tmp_path / "src")
    records = await backup(fd, storage, tree)
    target = tmp_path / "moved"
    sd = storage("restore", serve_records=records)
    director, end = await single_part_restore(
        fd, sd, 7, f"replace=n prelinks=0 regexwhere=!{tree}!{target}!")
    await sd.done
    assert end["TermCode"] == ord("T"), director.jmsgs
    assert snapshot(target) == snapshot(tree)


@pytest_twisted.ensureDeferred
async def test_a_malformed_record_stream_fails_the_restore_with_a_clear_message(fd, storage, tmp_path):
    tree = make_tree(tmp_path / "src")
    records = await backup(fd, storage, tree)
    broken_streams = [
        ({"serve_records": [(1, 1, b"not an attributes record")] + records},
         "bad attributes record from the storage daemon"),
        ({"serve_records": records, "trailing_packets": [b"rechdr 1 1700000000 99 2 10"]},
         "record header without data"),
        ({"serve_records": records[:2], "trailing_packets": [b"no header"]},
         "bad record header from the storage daemon"),
    ]
    for jobid, (script, expected) in enumerate(broken_streams, start=8):
        sd = storage("restore", **script)
        director, end = await single_part_restore(
            fd, sd, jobid, f"replace=a prelinks=0 where={tmp_path / 'r'}")
        assert end["TermCode"] == ord("f"), director.jmsgs
        assert any(expected in m for m in director.jmsgs), director.jmsgs
    # the file daemon goes on serving
    director = await FakeDirector.connect(fd)
    reply = await director.command(
        f"JobId=20 Job={RESTORE_JOB} SDid=0 SDtime=0 Authorization={SESSION_KEY} ssl=0\n")
    assert reply.startswith(b"2000 OK Job ")
    director.close()


@pytest_twisted.ensureDeferred
async def test_a_full_disk_ends_the_restore_with_one_clear_message(fd, storage, tmp_path):
    tree = tmp_path / "src"
    tree.mkdir()
    for i in range(30):  # 6 MiB in several batches, onto a 2 MiB file system
        (tree / f"f{i:02}").write_bytes(os.urandom(200 * 1024))
    records = await backup(fd, storage, tree)
    target = tmp_path / "small"
    target.mkdir()
    with small_tmpfs(target, "2m"):
        sd = storage("restore", serve_records=records)
        director, end = await single_part_restore(fd, sd, 8, f"replace=a prelinks=0 where={target}")
        assert end["TermCode"] == ord("f"), director.jmsgs
        full = [m for m in director.jmsgs if "no space left" in m]
        assert len(full) == 1, director.jmsgs
        restored = target / str(tree).lstrip("/")
        assert all(p.stat().st_size == 200 * 1024 for p in restored.iterdir())  # no partial file


@pytest_twisted.ensureDeferred
async def test_a_canceled_restore_leaves_no_partly_written_file(fd, storage, tmp_path):
    tree = tmp_path / "src"
    tree.mkdir()
    (tree / "big.bin").write_bytes(os.urandom(8 << 20))
    records = await backup(fd, storage, tree)
    sd = storage("restore", serve_records=records)
    sent = itertools.count(1)
    gate = sd.gate = defer.Deferred()  # opened at the end: the SD stalls half-way through big.bin
    sd.gate_after = lambda file_index: next(sent) == len(records) // 2
    target = tmp_path / "r"
    partial = target / str(tree / "big.bin").lstrip("/")
    director = await restore_job(fd, sd, 9)
    director.send(f"restore replace=a prelinks=0 where={target}\n".encode())
    await wait_until_in_reactor(partial.exists, 30, "the first part of the file is written")
    other = await FakeDirector.connect(fd, "other-dir", "otherpw")
    assert await other.command(f"cancel Job={RESTORE_JOB}\n".encode()) == \
        f"2001 Job {RESTORE_JOB} marked to be canceled.\n".encode()
    other.close()
    packets = await director.until_terminate()
    assert end_job_fields(packets[-2])["TermCode"] == ord("A")
    assert not partial.exists()
    gate.callback(None)


@pytest_twisted.ensureDeferred
async def test_estimate_lists_files_and_counts_bytes(fd, tmp_path):
    tree = make_tree(tmp_path / "src")
    director = await FakeDirector.connect(fd)
    await director.setup_job(BACKUP_JOB, None, fileset=fileset_lines(tree))
    director.send(b"estimate listing=1\n")
    lines = []
    while True:
        packet = await director.reply()
        if packet == Signal.EOD:
            break
        lines.append(packet.decode())
    summary = lines.pop()
    before = snapshot(tree)
    content = sum(len(v[3]) for v in before.values() if v[0] == "file")
    files = len(before) + 1
    assert summary == f"2000 OK estimate files={files:,} bytes={content:,}\n"
    assert len(lines) == files
    assert any(line.startswith("-rw-r-----   1 ") and line.endswith("/deep/small\n")
               for line in lines)
    assert any(line.startswith("l") and line.endswith("/link -> a.txt\n") for line in lines)
    assert any(line.startswith("d") and line.endswith(f"{tree}/\n") for line in lines)
    director.conn.close()
