"""The backup streamer's framing and back-pressure, without sockets or a reactor loop."""

import queue
import threading

import pytest
from twisted.internet import defer

from bareos.filedaemon import datachannel
from bareos.filedaemon.walk import Record
from bareos.protocol.framing import PacketDecoder, Signal


def decode(data):
    return PacketDecoder().feed(data)


def test_frame_records_groups_by_file_and_stream():
    records = [Record(1, 1, b"attr1"), Record(1, 2, b"d1"), Record(1, 2, b"d2"), Record(1, 3, b"m"),
               Record(2, 1, b"attr2")]
    data = b"".join(b"".join(pieces) for pieces in datachannel.frame_records(records))
    assert decode(data) == [b"1 1 0", b"attr1", Signal.EOD, b"1 2 0", b"d1", b"d2", Signal.EOD,
                            b"1 3 0", b"m", Signal.EOD, b"2 1 0", b"attr2", Signal.EOD, Signal.EOD]
    empty = b"".join(b"".join(p) for p in datachannel.frame_records([]))
    assert decode(empty) == [Signal.EOD]


@pytest.fixture
def threads():
    """The file daemon's JobThreads, started, and stopped at the end as the daemon does."""
    job_threads = datachannel.JobThreads(4)
    job_threads.startService()
    yield job_threads
    if job_threads.running:
        job_threads.stopService()


class FakeReactor:
    """callFromThread queues; the test runs the calls on its own (reactor) thread."""

    def __init__(self):
        self.calls = queue.Queue()

    def callFromThread(self, fn, *args):
        self.calls.put((fn, args))

    def run_one(self, timeout=10):
        fn, args = self.calls.get(timeout=timeout)
        fn(*args)


class FakeTransport:
    def __init__(self):
        self.written = []
        self.producer = None

    def registerProducer(self, producer, streaming):
        assert streaming
        self.producer = producer

    def unregisterProducer(self):
        self.producer = None

    def write(self, data):
        self.written.append(data)

    def writeSequence(self, parts):
        self.written.append(b"".join(parts))


class FakeConn:
    def __init__(self):
        self.transport = FakeTransport()
        self.is_open = True


def test_streamer_blocks_the_thread_while_the_transport_is_paused(threads):
    reactor = FakeReactor()
    conn = FakeConn()
    produced = []
    release = threading.Event()

    def records():
        for i in range(1, 41):
            produced.append(i)
            yield Record(i, 2, b"x" * 1000)

    streamer = datachannel.BackupStreamer(reactor, conn, records, threads, batch_bytes=4000,
                                           max_pending=2)
    streamer.pauseProducing()       # the SD is congested from the start
    done = streamer.start()
    results = []
    done.addBoth(results.append)
    # Two batches may wait; the thread cannot make a third one.
    reactor.run_one()
    reactor.run_one()
    assert conn.transport.written == []
    assert reactor.calls.empty()
    made = len(produced)
    assert made <= 4 * 3   # 4 records per batch: two batches wait, a third is framed
    release.set()
    streamer.resumeProducing()   # both waiting batches go out, the thread goes on
    assert len(conn.transport.written) == 2
    while not results:
        reactor.run_one()
    assert results == [None]
    assert len(produced) == 40
    packets = decode(b"".join(conn.transport.written))
    assert packets[-2:] == [Signal.EOD, Signal.EOD]
    assert packets.count(Signal.EOD) == 41
    assert conn.transport.producer is None
    assert streamer.bytes_sent == sum(len(w) for w in conn.transport.written)


@pytest.mark.parametrize("stop, reason", [
    (lambda streamer, threads: streamer.stop("job canceled"), "job canceled"),
    # the daemon stopping: stopService returns once the waiting thread has ended
    (lambda streamer, threads: threads.stopService(), "the file daemon is stopping"),
], ids=["streamer-stopped", "job-threads-stopped"])
def test_a_stop_ends_a_waiting_thread_and_fails_the_deferred(threads, stop, reason):
    reactor = FakeReactor()
    conn = FakeConn()

    def endless():
        i = 0
        while True:
            i += 1
            yield Record(i, 2, b"y" * 5000)

    streamer = datachannel.BackupStreamer(reactor, conn, endless, threads, batch_bytes=4000,
                                           max_pending=1)
    streamer.pauseProducing()
    done = streamer.start()
    results = []
    done.addBoth(results.append)
    reactor.run_one()            # one batch waits, the thread blocks for room
    stop(streamer, threads)
    while not results:
        reactor.run_one()
    assert isinstance(results[0].value, datachannel.StreamStopped)
    assert str(results[0].value) == reason


def test_streamer_reports_an_exception_of_the_walk(threads):
    reactor = FakeReactor()
    conn = FakeConn()

    def broken():
        yield Record(1, 1, b"a")
        raise RuntimeError("disk on fire")

    done = datachannel.BackupStreamer(reactor, conn, broken, threads).start()
    results = []
    done.addBoth(results.append)
    while not results:
        reactor.run_one()
    assert results[0].check(RuntimeError)


def test_restore_worker_applies_batches_in_order_and_stops_at_a_failure(threads):
    reactor = FakeReactor()
    seen = []

    class Restorer:
        def record(self, file_index, stream, data):
            if data == b"boom":
                raise OSError("no space")
            seen.append((file_index, stream, data))

    worker = datachannel.RestoreWorker(reactor, Restorer(), threads)
    results = []
    for batch in ([(1, 1, b"a"), (1, 2, b"b")], [(2, 1, b"boom")], [(3, 1, b"c")]):
        worker.submit(batch).addBoth(results.append)
    while len(results) < 3:
        reactor.run_one()
    worker.close()
    assert seen == [(1, 1, b"a"), (1, 2, b"b")]
    assert results[0] is None
    assert results[1].check(OSError) and results[2].check(OSError)
    assert isinstance(defer.succeed(None), defer.Deferred)

