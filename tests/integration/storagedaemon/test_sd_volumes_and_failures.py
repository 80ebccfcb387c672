"""Volume changes, refusals, cancel, timeouts, label, status and a full disk."""

import os

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from bareos.protocol.connection import BareosConnection, ConnectionClosed
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import AuthenticationFailed
from bareos.testing.filesystems import small_tmpfs
from bareos.testing.waiting import wait_until_in_reactor
from bareos.volume import EOS_LABEL, PRE_LABEL, VOL_LABEL, FileVolume


def records_of(total, size=50_000):
    count = total // size
    return [(i + 1, 2, [os.urandom(size)]) for i in range(count)]


@pytest_twisted.ensureDeferred
async def test_max_vol_bytes_continues_on_a_second_volume(sd, peers):
    records = records_of(1_000_000, 45_000) + [(23, 2, [os.urandom(150_000)])]   # split records
    director = await peers.FakeDirector(sd, max_vol_bytes=400_000).start(
        5, "big.2026-01-01_10.00.00_05")
    ended = director.run()
    close = await peers.fd_backup(sd, director, records)
    assert close == b"3000 OK close Status = 84\n"
    await ended
    assert director.end_fields().status == "T"

    names = sorted(director.volumes)
    assert len(names) >= 3
    for name in names[:-1]:
        assert director.volumes[name]["VolStatus"] == "Full"
        assert os.path.getsize(sd.voldir / name) <= 400_000
    assert director.volumes[names[-1]]["VolStatus"] == "Append"
    assert len(director.jobmedia) == len(names)
    assert [jm["MediaId"] for jm in director.jobmedia] == list(range(1, len(names) + 1))
    # consecutive JobMedia share the FileIndex of a record split at the volume boundary
    for before, after in zip(director.jobmedia, director.jobmedia[1:]):
        assert after["FirstIndex"] in (before["LastIndex"], before["LastIndex"] + 1)
    assert any("maximum volume bytes reached" in m for m in director.jmsgs)
    assert any(f'New volume "{names[1]}" mounted' in m for m in director.jmsgs)

    # each volume reads on its own; the EOS label is on the last one only
    labels = []
    for name in names:
        for sid, stime, record in peers.volume_records(str(sd.voldir / name)):
            if record.file_index < 0:
                labels.append((name, record.file_index))
    assert labels[-1] == (names[-1], EOS_LABEL)
    assert sum(1 for _, fi in labels if fi == EOS_LABEL) == 1

    restore = await peers.FakeDirector(sd).start(6, "restore.2026-01-01_10.00.00_06", job_type="R")
    restore.volumes = director.volumes
    assert await restore.bootstrap(director.bsr()) == b"3000 OK bootstrap\n"
    ended = restore.run()
    got = await peers.fd_restore(sd, restore)
    await ended
    assert [(fi, st, data) for _, _, fi, st, data in got] == [
        (fi, st, data) for fi, st, pieces in records for data in pieces]


@pytest_twisted.ensureDeferred
async def test_a_hello_for_an_unknown_job_is_refused_like_a_wrong_password(sd, peers):
    with pytest.raises(AuthenticationFailed):
        await peers.fd_connect(sd, "nosuchjob.2026-01-01_10.00.00_99", "AAAA-BBBB-CCCC-DDDD")
    assert sd.daemon.jobs == {}


@pytest_twisted.ensureDeferred
async def test_a_wrong_session_key_fails_the_job(sd, peers):
    director = await peers.FakeDirector(sd).start(9, "wrongkey.2026-01-01_10.00.00_09")
    ended = director.run()
    with pytest.raises(AuthenticationFailed):
        await peers.fd_connect(sd, director.job, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA")
    await ended
    assert director.end_fields().status == "E"
    assert any("Unable to authenticate File daemon" in m and "type=3 " in m for m in director.jmsgs)
    # the right key no longer works either: the job is gone
    with pytest.raises(AuthenticationFailed):
        await peers.fd_connect(sd, director.job, director.key)


@pytest_twisted.ensureDeferred
async def test_the_job_fails_when_the_file_daemon_never_connects(make_sd, peers):
    sd = make_sd(wait=1)
    director = await peers.FakeDirector(sd).start(10, "nofd.2026-01-01_10.00.00_10")
    await director.run()
    end = director.end_fields()
    assert (end.status, end.files, end.bytes) == ("E", 0, 0)
    assert any("No connection from the File daemon within 1 seconds" in m for m in director.jmsgs)
    assert f"Status Job={director.job} JobStatus={ord('F')}\n" in director.statuses
    assert sd.daemon.devices.in_use["FileStorage"] == 0


@pytest_twisted.ensureDeferred
async def test_cancel_stops_a_running_backup(sd, peers):
    director = await peers.FakeDirector(sd).start(11, "cancel.2026-01-01_10.00.00_11")
    ended = director.run()
    fd = await peers.fd_connect(sd, director.job, director.key)
    await peers.fd_open_append(fd)
    peers.fd_send_records(fd, records_of(300_000))      # and then nothing: the FD stalls
    job = sd.daemon.find_job(director.job)
    await wait_until_in_reactor(lambda: (job.files, job.bytes) == (6, 300_000), 10,
                                "the SD has received every record")

    other = await peers.director_login(sd)
    other.send(b"status")
    status = []
    while (packet := await other.receive(10)) != Signal.EOD:
        status.append(packet)
    text = b"".join(status).decode()
    assert f"Writing: Full Backup job {director.job} JobId=11" in text
    assert "Files=6 Bytes=300,000" in text
    assert 'Device "FileStorage"' in text and "is mounted with:" in text

    other.send(f"cancel Job={director.job}\n")
    assert await other.receive(10) == f'3000 JobId=11 Job="{director.job}" marked to be canceled.\n'.encode()
    assert await other.receive(10) == Signal.EOD
    other.send(b"cancel Job=nosuch.2026\n")
    assert await other.receive(10) == b"3904 Job nosuch.2026 not found.\n"
    assert await other.receive(10) == Signal.EOD
    other.close()

    await ended
    end = director.end_fields()
    assert (end.status, end.files) == ("A", 6)
    await fd.closed
    # the volume ends with the session's EOS label (status A), readable
    *_, (sid, stime, last) = peers.volume_records(str(sd.voldir / "Full-0001"))
    assert last.file_index == EOS_LABEL
    assert director.volumes["Full-0001"]["VolStatus"] == "Append"


async def append_fails(sd, peers, director):
    """Run ``director``'s job: the SD refuses ``append data`` and the job ends failed."""
    ended = director.run()
    fd = await peers.fd_connect(sd, director.job, director.key)
    fd.send(b"append open session\n")
    assert await fd.receive(10) == b"3000 OK open ticket = %d\n" % director.sid
    fd.send(b"append data %d\n" % director.sid)
    assert await fd.receive(10) == b"3903 Error append data\n"
    await ended
    assert director.end_fields().status == "f"


@pytest_twisted.ensureDeferred
async def test_no_media_fails_the_job_with_a_clear_message(sd, peers):
    director = await peers.FakeDirector(sd, no_media=True).start(12, "nomedia.2026-01-01_10.00.00_12")
    await append_fails(sd, peers, director)
    assert any('No appendable Volume in Pool "Full"' in m and "1901 No Media." in m
               for m in director.jmsgs)


@pytest_twisted.ensureDeferred
async def test_a_find_media_answer_naming_only_a_volume_fails_the_job(sd, peers):
    # "1000 OK VolName=x" lacks the counters, limits and MediaId the SD writes and
    # reports by: refused by name (as Bareos' SD refuses a reply its scan does not
    # fill), never taken with defaults (that labelled a new volume Full-0009).
    director = await peers.FakeDirector(sd).start(15, "short.2026-01-01_10.00.00_15")
    answer_for_the_record = director.catalog
    director.catalog = lambda text: ("1000 OK VolName=Full-0009\n" if "FindMedia" in text
                                     else answer_for_the_record(text))
    await append_fails(sd, peers, director)
    assert [c for c in director.catreqs if "FindMedia" in c] == director.catreqs   # nothing updated
    assert any("incomplete answer to FindMedia" in m and "VolJobs, VolFiles," in m
               and "MaxBlocksize missing" in m and "Full-0009" in m for m in director.jmsgs)
    assert not os.listdir(sd.voldir)


@pytest_twisted.ensureDeferred
async def test_a_device_with_label_media_no_does_not_label_new_volumes(sd, peers):
    director = await peers.FakeDirector(sd, media_type="Manual").start(
        14, "manual.2026-01-01_10.00.00_14", device="ManualStorage")
    await append_fails(sd, peers, director)
    assert any("Label Media = no" in m for m in director.jmsgs)
    assert not os.listdir(sd.voldir)


@pytest_twisted.ensureDeferred
async def test_use_storage_with_an_unknown_media_type_is_refused(sd, peers):
    director = await peers.FakeDirector(sd, media_type="LTO9").start(13, "lto.2026-01-01_10.00.00_13",
                                                                     device="Drive-1")
    assert director.use_reply == (b'3924 Device "Drive-1" not in SD Device resources or no matching '
                                  b"Media Type.\n")


@pytest_twisted.ensureDeferred
async def test_bad_job_command(sd, peers):
    conn = await peers.director_login(sd)
    conn.send(b"JobId=1 job=x job_name=y\n")
    reply = await conn.receive(10)
    assert reply.startswith(b"3915 Bad Job command. stat=3 CMD: JobId=1 job=x")


@pytest_twisted.ensureDeferred
async def test_label_command_then_a_backup_writes_to_the_prelabeled_volume(sd, peers):
    conn = await peers.director_login(sd)
    conn.send(b"label FileStorage VolumeName=Manual-1 PoolName=Full MediaType=File Slot=0 drive=0 "
              b"MinBlocksize=0 MaxBlocksize=0")
    reply = await conn.receive(10)
    size = os.path.getsize(sd.voldir / "Manual-1")
    assert reply == (f'3000 OK label. VolBytes={size} Volume="Manual-1" Device="FileStorage" '
                     f"({sd.voldir})\n").encode()
    assert await conn.receive(10) == Signal.EOD
    conn.send(b"label storage=File volume=Manual-1 pool=Full")
    assert await conn.receive(10) == b'3920 Cannot label Volume because it is already labeled: "Manual-1"\n'
    assert await conn.receive(10) == Signal.EOD
    conn.send(b"mount FileStorage drive=0")
    assert (await conn.receive(10)).startswith(b'3906 File device "FileStorage"')
    assert await conn.receive(10) == Signal.EOD
    conn.close()
    with FileVolume.open(sd.voldir, "Manual-1", writable=False) as volume:
        assert volume.label_type == PRE_LABEL and volume.label.pool_name == "Full"

    director = peers.FakeDirector(sd)
    director.add_volume("Manual-1", VolBytes=size, VolBlocks=1)
    await director.start(14, "manual.2026-01-01_10.00.00_14")
    ended = director.run()
    await peers.fd_backup(sd, director, [(1, 2, [b"data"])])
    await ended
    assert director.end_fields().status == "T"
    assert any('Wrote label to prelabeled Volume "Manual-1"' in m for m in director.jmsgs)
    with FileVolume.open(sd.voldir, "Manual-1", writable=False) as volume:
        assert volume.label_type == VOL_LABEL


@pytest_twisted.ensureDeferred
async def test_a_volume_shorter_than_the_catalog_says_is_not_appended_to(sd, peers):
    """Data the catalog counts on is missing: the SD refuses the volume and takes another."""
    director = await peers.FakeDirector(sd).start(15, "short.2026-01-01_10.00.00_15")
    ended = director.run()
    await peers.fd_backup(sd, director, [(1, 2, [b"data" * 1000])])
    await ended
    (name,) = director.volumes
    size = os.path.getsize(sd.voldir / name)
    director = peers.FakeDirector(sd)
    director.add_volume(name, VolBytes=size + 64512, VolBlocks=5)
    await director.start(16, "short.2026-01-01_10.00.00_16")
    ended = director.run()
    await peers.fd_backup(sd, director, [(1, 2, [b"more"])])
    await ended
    assert director.end_fields().status == "T"
    assert os.path.getsize(sd.voldir / name) == size           # nothing appended after the gap
    assert any(f'Cannot use Volume "{name}"' in m and "the sizes do not match" in m
               for m in director.jmsgs), director.jmsgs


TINY_GRANTED = b"3000 OK use device device=TinyStorage\n"


async def occupy_the_tiny_device(peers, sd):
    """A job holding TinyStorage (Maximum Concurrent Jobs = 1): its FakeDirector."""
    director = await peers.FakeDirector(sd, media_type="Tiny").start(
        15, "tiny1.2026-01-01_10.00.00_15", device="TinyStorage")
    assert director.use_reply == TINY_GRANTED
    return director


async def start_waiting(peers, sd, job_id):
    """A job of a FakeDirector asking for the busy TinyStorage: (director, its start, the
    heartbeats the SD sends it meanwhile)."""
    director = peers.FakeDirector(sd, media_type="Tiny")
    starting = defer.ensureDeferred(director.start(
        job_id, f"tiny{job_id}.2026-01-01_10.00.00_{job_id}", device="TinyStorage"))
    await wait_until_in_reactor(lambda: director.conn is not None, 10, "the director logged in")
    heartbeats = []
    director.conn.on_heartbeat = lambda: heartbeats.append(reactor.seconds())
    return director, starting, heartbeats


@pytest_twisted.ensureDeferred
async def test_a_job_on_a_busy_device_waits_for_its_slot_and_heartbeats_meanwhile(
        sd, peers, monkeypatch):
    """As in Bareos the wait has no end of its own (the director's reply timeout once failed
    jobs queued behind a device with Maximum Concurrent Jobs = 1 for 300 s); the heartbeats
    tell the director that the storage daemon is alive."""
    from bareos.storagedaemon import dir_commands
    monkeypatch.setattr(dir_commands, "DEVICE_HEARTBEAT", 0.05)
    first = await occupy_the_tiny_device(peers, sd)
    second, starting, heartbeats = await start_waiting(peers, sd, 16)
    await wait_until_in_reactor(lambda: len(heartbeats) >= 3, 10, "three heartbeats")
    assert not starting.called
    first.conn.close()                       # the first job's director leaves before run
    await starting
    assert second.use_reply == TINY_GRANTED


@pytest_twisted.ensureDeferred
async def test_a_waiting_job_whose_director_leaves_takes_no_slot(sd, peers):
    first = await occupy_the_tiny_device(peers, sd)
    second, starting, _ = await start_waiting(peers, sd, 16)
    second.conn.close()
    with pytest.raises(ConnectionClosed):
        await starting
    first.conn.close()                       # the slot goes to the next job that asks
    await occupy_the_tiny_device(peers, sd)


@pytest_twisted.ensureDeferred
async def test_a_job_canceled_while_it_waits_for_a_device_is_answered_at_once(sd, peers):
    await occupy_the_tiny_device(peers, sd)
    second, starting, _ = await start_waiting(peers, sd, 16)
    other = await peers.director_login(sd)
    other.send(f"cancel Job={second.job}\n")
    assert (await other.receive(10)).startswith(b"3000 JobId=16")
    await starting                           # not after the first job, nor a minute later
    assert second.use_reply.startswith(b"3924 ")


# -- a full disk -------------------------------------------------------------------------

@pytest.fixture
def tiny_fs(tmp_path):
    (tmp_path / "tiny").mkdir()
    with small_tmpfs(tmp_path / "tiny", "2m") as directory:
        yield str(directory)


@pytest_twisted.ensureDeferred
async def test_disk_full_is_fatal_and_the_sd_serves_the_next_job(make_sd, peers, tiny_fs):
    sd = make_sd(tinydir=tiny_fs)
    records = records_of(4_000_000, 100_000)
    director = await peers.FakeDirector(sd, media_type="Tiny", pool="Small").start(
        17, "diskfull.2026-01-01_10.00.00_17", device="TinyStorage")
    ended = director.run()
    fd = await peers.fd_connect(sd, director.job, director.key)
    await peers.fd_open_append(fd)
    peers.fd_send_records(fd, records)
    fd.send_signal(Signal.EOD)
    replies = []
    try:
        while True:
            replies.append(await fd.receive(30))
    except ConnectionClosed:
        pass
    assert b"3999 Failed append\n" in replies
    await ended
    end = director.end_fields()
    assert end.status == "f" and end.errors >= 1
    fatal = [m for m in director.jmsgs if "type=3 " in m]
    assert any("Disk full on device \"TinyStorage\"" in m for m in fatal), director.jmsgs
    assert director.volumes["Small-0001"]["VolStatus"] == "Full"
    (jm,) = director.jobmedia
    assert jm["FirstIndex"] == 1 and jm["LastIndex"] >= 1

    # readable up to its last complete block; every complete record is intact
    on_volume = peers.volume_records(os.path.join(tiny_fs, "Small-0001"))
    data = [r for _, _, r in on_volume if r.file_index > 0]
    assert data and all(r.data == records[r.file_index - 1][2][0] for r in data)
    assert os.path.getsize(os.path.join(tiny_fs, "Small-0001")) == director.volumes["Small-0001"]["VolBytes"]

    # the SD is still up and serves the next job
    nxt = await peers.FakeDirector(sd).start(18, "after.2026-01-01_10.00.00_18")
    ended = nxt.run()
    assert await peers.fd_backup(sd, nxt, [(1, 2, [b"still working"])]) == b"3000 OK close Status = 84\n"
    await ended
    assert nxt.end_fields().status == "T"
    assert sd.daemon.devices.in_use["TinyStorage"] == 0


@pytest_twisted.ensureDeferred
async def test_disk_full_under_tls_closes_the_data_channel_of_an_fd_still_sending(
        make_sd, peers, tiny_fs, monkeypatch):
    """Issue 17 item 9: the FD has far more queued for the SD than the SD reads, so the SD's
    side is paused for back-pressure when the disk fills.  Its close must still complete:
    left paused, the TLS close waited for ever for the FD's close alert, and the FD, whose
    writes the SD no longer read, for ever for its own close (the job never ended)."""
    # a small queue: the SD's side is paused whenever it stops reading, as on a busy machine
    monkeypatch.setattr(BareosConnection, "high_water_bytes", 256 * 1024)
    sd = make_sd(tinydir=tiny_fs)
    director = await peers.FakeDirector(sd, media_type="Tiny", pool="Small").start(
        19, "tlsfull.2026-01-01_10.00.00_19", device="TinyStorage")
    ended = director.run()
    fd = await peers.fd_connect(sd, director.job, director.key, tls=True)
    assert fd.is_tls
    await peers.fd_open_append(fd)
    peers.fd_send_records(fd, records_of(24_000_000, 100_000))     # 12 times the tmpfs
    fd.send_signal(Signal.EOD)
    await ended
    assert director.end_fields().status == "f"
    await wait_until_in_reactor(lambda: fd.closed.called, 60,
                                "the data channel closes after the SD failed the job")


@pytest_twisted.ensureDeferred
async def test_relabel_rewrites_only_the_named_volume_and_never_onto_another(sd, peers):
    conn = await peers.director_login(sd)

    async def ask(command):
        conn.send(command.encode())
        reply = await conn.receive(10)
        assert await conn.receive(10) == Signal.EOD
        return reply

    for name in ("Old-1", "Other-1"):
        assert (await ask(f"label FileStorage VolumeName={name} PoolName=Full")).startswith(
            b"3000 OK label.")
    # A file whose label names another volume (a copy of Old-1) is not relabelled.
    (sd.voldir / "Copy-1").write_bytes((sd.voldir / "Old-1").read_bytes())
    refused = await ask("relabel FileStorage OldName=Copy-1 NewName=New-1 PoolName=Full")
    assert refused.startswith(b"3912 Failed to label Volume: ") and b"'Old-1'" in refused
    assert not (sd.voldir / "New-1").exists()
    assert (await ask("relabel FileStorage OldName=Old-1 NewName=Other-1 PoolName=Full")) == \
        b'3920 Cannot label Volume because it is already labeled: "Other-1"\n'

    reply = await ask("relabel FileStorage OldName=Old-1 NewName=New-1 PoolName=Full")
    conn.close()
    assert reply.startswith(b"3000 OK label. VolBytes=")
    assert not (sd.voldir / "Old-1").exists()
    with FileVolume.open(sd.voldir, "New-1", writable=False) as volume:
        assert (volume.label_type, volume.label.volume_name) == (VOL_LABEL, "New-1")
