"""SerialWorker (the catalog's and the SD jobs' blocking-work thread) on the real reactor."""

import threading

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from bareos.daemon.threads import SerialWorker


def pool_threads(name):
    return [t for t in threading.enumerate() if name in t.name]


@pytest_twisted.ensureDeferred
async def test_calls_run_in_order_in_one_thread_and_return_on_the_reactor():
    worker = SerialWorker(reactor, "test-serial-order")
    done, seen_threads = [], set()
    release = threading.Event()

    def step(n):
        if n == 0:
            release.wait(5)           # the first call holds the thread while the others queue
        seen_threads.add(threading.get_ident())
        done.append(n)
        return n * 10

    calls = [worker.call(step, n) for n in range(50)]
    release.set()
    results = await defer.gatherResults(calls)
    worker.stop()
    assert done == list(range(50))
    assert results == [n * 10 for n in range(50)]
    assert len(seen_threads) == 1 and threading.get_ident() not in seen_threads


@pytest_twisted.ensureDeferred
async def test_an_exception_in_the_thread_fails_that_call_only():
    worker = SerialWorker(reactor, "test-serial-errors")

    def boom():
        raise ValueError("disk says no")

    with pytest.raises(ValueError, match="disk says no"):
        await worker.call(boom)
    assert await worker.call(lambda: "still working") == "still working"
    worker.stop()


@pytest_twisted.ensureDeferred
async def test_stop_lets_handed_over_calls_finish_then_ends_the_thread():
    name = "test-serial-stop"
    worker = SerialWorker(reactor, name)
    release = threading.Event()
    running = worker.call(lambda: release.wait(5) and "finished")
    assert pool_threads(name)
    worker.stop()                                 # does not wait: the call is still running
    with pytest.raises(RuntimeError, match="stopped"):
        await worker.call(lambda: None)
    release.set()
    assert await running == "finished"
    assert not [t for t in pool_threads(name) if t.is_alive()]
