"""Blocking work off the reactor, in order: the thread of a catalog backend or of an SD job."""

from twisted.internet import defer, threads
from twisted.python.threadpool import ThreadPool


class SerialWorker:
    """A one-thread ``ThreadPool``: ``call`` runs blocking calls one after the other, in the
    order given, and returns a Deferred that fires on the reactor (``deferToThreadPool``).

    The thread is made at the first call.  ``stop`` lets the calls already handed over
    finish, then ends the thread without making the reactor wait; if the owner never
    stops it, the reactor's shutdown does.
    """

    def __init__(self, reactor, name):
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=0, maxthreads=1, name=name)
        self._pool.start()
        self._pending = 0
        self._stopping = False
        self._shutdown = reactor.addSystemEventTrigger("during", "shutdown", self._at_shutdown)

    def call(self, fn, *args, **kwargs):
        if self._stopping:
            return defer.fail(RuntimeError(f"the {self._pool.name} thread is stopped"))
        self._pending += 1
        d = threads.deferToThreadPool(self._reactor, self._pool, fn, *args, **kwargs)
        d.addBoth(self._returned)
        return d

    def stop(self):
        """No more calls; the thread ends once those already handed over have returned."""
        self._stopping = True
        if not self._pending:
            self._end()

    def _returned(self, result):
        self._pending -= 1
        if self._stopping and not self._pending:
            self._end()
        return result

    def _end(self):
        trigger, self._shutdown = self._shutdown, None
        if trigger is not None:
            self._reactor.removeSystemEventTrigger(trigger)
            self._pool.stop()

    def _at_shutdown(self):
        self._stopping = True
        if self._shutdown is not None:       # fired, so no longer registered
            self._shutdown = None
            self._pool.stop()
