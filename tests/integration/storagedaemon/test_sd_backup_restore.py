"""Backup and restore sessions through an in-process storage daemon (channels 5a and 6)."""

import hashlib
import os
import re

import pytest_twisted
from twisted.internet import defer

from bareos.testing.waiting import wait_until_in_reactor
from bareos.volume import EOS_LABEL, SOS_LABEL, VOL_LABEL, SessionLabel, VolumeLabel


def sample_records():
    big = os.urandom(200 * 1024)             # > 64 KiB: split across blocks
    attrs = [b"1 3 /etc/a\x00IGk A\x00\x00\x00\x000\x00", b"2 3 /etc/b\x00IGk B\x00\x00\x00\x000\x00",
             b"3 3 /etc/empty\x00IGk C\x00\x00\x00\x000\x00"]
    return [
        (1, 1, [attrs[0]]),
        (1, 2, [b"hello world\n" * 100, big]),
        (1, 3, [hashlib.md5(b"x").digest()]),
        (2, 1, [attrs[1]]),
        (2, 2, [os.urandom(70000)]),
        (2, 3, [hashlib.md5(b"y").digest()]),
        (3, 1, [attrs[2]]),
        (3, 2, [b""]),
    ]


def flat(records):
    return [(fi, stream, data) for fi, stream, pieces in records for data in pieces]


@pytest_twisted.ensureDeferred
async def test_backup_labels_a_new_volume_and_restore_returns_the_same_records(sd, peers):
    records = sample_records()
    director = await peers.FakeDirector(sd).start(7, "backup-client.2026-01-01_10.00.00_07")
    assert director.use_reply == b"3000 OK use device device=FileStorage\n"
    ended = director.run()
    close = await peers.fd_backup(sd, director, records)
    assert close == b"3000 OK close Status = 84\n"
    await ended

    end = director.end_fields()
    assert (end.status, end.files, end.errors) == ("T", 3, 0)
    assert end.bytes == sum(len(d) for _, _, d in flat(records))
    assert director.packets[-2:] == [-1, -4]              # 3099 ..., EOD, TERMINATE
    assert any(p == b"3010 Job %s start\n" % director.job.encode() for p in director.packets)
    assert f"Status Job={director.job} JobStatus={ord('R')}\n" in director.statuses

    # FindMedia -> a new volume, labelled here and reported with UpdateMedia relabel=1
    assert director.catreqs[0] == (f"CatReq Job={director.job} FindMedia=1 pool_name=Full "
                                   f"media_type=File unwanted_volumes=\n")
    assert any('Labeled new Volume "Full-0001" on device "FileStorage"' in m for m in director.jmsgs)
    updates = [c for c in director.catreqs if " UpdateMedia " in c]
    assert "relabel=1" in updates[0] and "VolStatus=Append" in updates[0]
    assert "relabel=0" in updates[-1] and "VolStatus=Append" in updates[-1]
    volume_path = os.path.join(sd.voldir, "Full-0001")
    assert director.volumes["Full-0001"]["VolBytes"] == os.path.getsize(volume_path)
    assert director.volumes["Full-0001"]["VolJobs"] == 1

    # one JobMedia covering the whole session
    (jm,) = director.jobmedia
    assert (jm["FirstIndex"], jm["LastIndex"], jm["MediaId"]) == (1, 3, 1)
    assert re.search(r"CreateJobMedia FirstIndex=1 LastIndex=3 StartFile=0 EndFile=0 "
                     r"StartBlock=\d+ EndBlock=\d+ Copy=0 Strip=0 MediaId=1\n$",
                     [c for c in director.catreqs if "CreateJobMedia" in c][0])

    # attributes and digests forwarded, file data not
    assert [(a[2], a[3]) for a in director.attributes] == [(1, 1), (1, 3), (2, 1), (2, 3), (3, 1)]
    assert all(a[0] == director.sid and a[1] == director.stime for a in director.attributes)
    assert director.attributes[0][4] == records[0][2][0]

    # the volume as bareos.volume reads it: label, SOS, the records, EOS
    on_volume = peers.volume_records(volume_path)
    label = VolumeLabel.from_record(on_volume[0][2])
    assert on_volume[0][2].file_index == VOL_LABEL
    assert (label.volume_name, label.pool_name, label.media_type, label.label_prog) == (
        "Full-0001", "Full", "File", "test-sd")
    session = [(sid, stime, r) for sid, stime, r in on_volume[1:]]
    assert all((sid, stime) == (director.sid, director.stime) for sid, stime, _ in session)
    assert session[0][2].file_index == SOS_LABEL and session[-1][2].file_index == EOS_LABEL
    sos = SessionLabel.from_record(session[0][2])
    eos = SessionLabel.from_record(session[-1][2])
    assert (sos.job_id, sos.job, sos.pool_name, sos.client_name) == (7, director.job, "Full", "client-fd")
    assert (eos.job_files, eos.job_bytes, eos.job_status) == (3, end.bytes, ord("T"))
    assert [tuple(r) for _, _, r in session[1:-1]] == flat(records)

    # restore through a bootstrap built from the JobMedia
    restore = await peers.FakeDirector(sd).start(8, "restore.2026-01-01_10.05.00_08", job_type="R")
    assert restore.use_reply == b"3000 OK use device device=FileStorage\n"
    assert await restore.bootstrap(director.bsr()) == b"3000 OK bootstrap\n"
    ended = restore.run()
    got = await peers.fd_restore(sd, restore)
    await ended
    assert [(fi, stream, data) for _, _, fi, stream, data in got] == flat(records)
    assert all((sid, stime) == (director.sid, director.stime) for sid, stime, *_ in got)
    rend = restore.end_fields()
    assert (rend.status, rend.files, rend.bytes) == ("T", 3, end.bytes)


@pytest_twisted.ensureDeferred
async def test_restore_selects_file_indexes_of_one_session(sd, peers):
    first = await peers.FakeDirector(sd).start(1, "one.2026-01-01_10.00.00_01")
    ended = first.run()
    await peers.fd_backup(sd, first, [(i, 2, [f"file {i}".encode() * 1000]) for i in range(1, 6)])
    await ended
    second = await peers.FakeDirector(sd).start(2, "two.2026-01-01_10.00.00_02")
    second.volumes = first.volumes                 # same catalog: appends to Full-0001
    ended = second.run()
    await peers.fd_backup(sd, second, [(1, 2, [b"other job"])])
    await ended
    assert len(os.listdir(sd.voldir)) == 1
    assert any('Volume "Full-0001" previously written' in m for m in second.jmsgs)
    assert first.volumes["Full-0001"]["VolJobs"] == 2

    restore = await peers.FakeDirector(sd).start(3, "restore.2026-01-01_10.00.00_03", job_type="R")
    bsr = (f'Volume="Full-0001"\nMediaType="File"\nVolSessionId={first.sid}\n'
           f"VolSessionTime={first.stime}\nFileIndex=2\nFileIndex=4-5\n")
    assert await restore.bootstrap(bsr) == b"3000 OK bootstrap\n"
    ended = restore.run()
    got = await peers.fd_restore(sd, restore)
    await ended
    assert [(fi, data) for _, _, fi, _, data in got] == [
        (i, f"file {i}".encode() * 1000) for i in (2, 4, 5)]


@pytest_twisted.ensureDeferred
async def test_backup_over_tls_psk_with_the_session_key(sd, peers):
    director = await peers.FakeDirector(sd).start(4, "tls.2026-01-01_10.00.00_04")
    ended = director.run()
    close = await peers.fd_backup(sd, director, [(1, 2, [b"secret data"])], tls=True)
    assert close == b"3000 OK close Status = 84\n"
    await ended
    assert director.end_fields().status == "T"


@pytest_twisted.ensureDeferred
async def test_two_concurrent_jobs_share_one_volume_and_restore_separately(sd, peers):
    catalog = {}
    directors, runs, sent = [], [], {}
    for n in (1, 2):
        director = peers.FakeDirector(sd)
        director.volumes = catalog                     # one catalog: both get Full-0001
        await director.start(20 + n, f"conc{n}.2026-01-01_10.00.00_2{n}")
        directors.append(director)
        runs.append(director.run())
        sent[n] = [(i, 2, [os.urandom(30_000) for _ in range(5)]) for i in range(1, 9)]
    await defer.gatherResults([defer.ensureDeferred(peers.fd_backup(sd, d, sent[n]))
                               for n, d in zip((1, 2), directors)])
    await defer.gatherResults(runs)
    assert [d.end_fields().status for d in directors] == ["T", "T"]
    assert sorted(os.listdir(sd.voldir)) == ["Full-0001"]
    assert catalog["Full-0001"]["VolJobs"] == 2
    assert os.path.getsize(sd.voldir / "Full-0001") == catalog["Full-0001"]["VolBytes"]
    sessions = {(sid, stime) for sid, stime, _ in peers.volume_records(str(sd.voldir / "Full-0001"))
                if sid}
    assert len(sessions) == 2

    for n, director in zip((1, 2), directors):
        restore = peers.FakeDirector(sd)
        restore.volumes = catalog
        await restore.start(30 + n, f"rest{n}.2026-01-01_10.00.00_3{n}", job_type="R")
        assert await restore.bootstrap(director.bsr()) == b"3000 OK bootstrap\n"
        ended = restore.run()
        got = await peers.fd_restore(sd, restore)
        await ended
        assert [(fi, st, data) for _, _, fi, st, data in got] == flat(sent[n])


@pytest_twisted.ensureDeferred
async def test_a_volume_being_written_on_another_device_is_not_labelled_there_again(sd, peers):
    catalog = {}
    first = peers.FakeDirector(sd)
    second = peers.FakeDirector(sd, media_type="Tiny")
    for director in (first, second):
        director.volumes = catalog                     # one catalog: both are offered Full-0001
    await first.start(50, "dev1.2026-01-01_10.00.00_50")
    await second.start(51, "dev2.2026-01-01_10.00.00_51", device="TinyStorage")
    runs = [first.run(), second.run()]
    fd = await peers.fd_connect(sd, first.job, first.key)
    ticket = await peers.fd_open_append(fd)           # Full-0001 open on FileStorage
    await peers.fd_backup(sd, second, [(1, 2, [b"second job"])])
    peers.fd_send_records(fd, [(1, 2, [b"first job"])])
    await peers.fd_finish_append(fd, ticket)
    await defer.gatherResults(runs)
    assert [d.end_fields().status for d in (first, second)] == ["T", "T"]
    assert os.listdir(sd.voldir) == ["Full-0001"]
    assert os.listdir(sd.tinydir) == ["Full-0002"]
    assert any('Volume "Full-0001" is being written on device "FileStorage"' in m
               for m in second.jmsgs)
    for directory, name in ((sd.voldir, "Full-0001"), (sd.tinydir, "Full-0002")):
        assert catalog[name]["VolJobs"] == 1
        assert catalog[name]["VolBytes"] == os.path.getsize(directory / name)


@pytest_twisted.ensureDeferred
async def test_a_file_daemon_killed_mid_backup_fails_the_job_and_keeps_the_volume_readable(sd, peers):
    director = await peers.FakeDirector(sd).start(40, "killed.2026-01-01_10.00.00_40")
    ended = director.run()
    fd = await peers.fd_connect(sd, director.job, director.key)
    await peers.fd_open_append(fd)
    sent = [(i, 2, [os.urandom(20_000)]) for i in range(1, 6)]
    peers.fd_send_records(fd, sent)
    fd.send(b"6 2 0")
    fd.send(b"partial")
    job = sd.daemon.find_job(director.job)
    await wait_until_in_reactor(lambda: job.bytes == 5 * 20_000 + len(b"partial"), 10,
                                "the SD has received the partial record")
    fd.abort("killed mid-backup")
    await ended
    end = director.end_fields()
    assert end.status == "f" and end.files == 6
    assert any("Network error reading from FD" in m for m in director.jmsgs)
    on_volume = [r for _, _, r in peers.volume_records(str(sd.voldir / "Full-0001"))]
    assert on_volume[-1].file_index == EOS_LABEL
    assert SessionLabel.from_record(on_volume[-1]).job_status == ord("f")
    assert [tuple(r) for r in on_volume if r.file_index > 0] == flat(sent) + [(6, 2, b"partial")]
    (jm,) = director.jobmedia
    assert (jm["FirstIndex"], jm["LastIndex"]) == (1, 6)
