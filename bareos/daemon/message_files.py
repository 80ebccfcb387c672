"""``Append`` / ``File`` destinations of a Messages resource: lines appended off the reactor.

A write may block (a slow or full disk, a FIFO nobody reads), so the lines go to one
:class:`~bareos.daemon.threads.SerialWorker` thread per daemon: those for one file arrive
in the order they were given.  Each write is ``spawn``-ed, so a stopping daemon waits
for the pending ones (step 3 of its stop) before this service stops the thread.

A failing destination (missing directory, disk full, ...) is logged once per file and
kind of failure, not once per message; the job that produced the message never sees it.
"""

import errno

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from bareos.daemon.threads import SerialWorker

log = Logger(namespace="bareos.daemon.message_files")


def append_line(path, line):
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")


def failure_kind(exc):
    """What went wrong, coarsely enough that repeats of one problem share it."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__


class MessageFiles(service.Service):
    """A daemon's child service; ``append(path, line)`` hands one message line over."""

    def __init__(self, daemon, thread_name):
        self._daemon = daemon
        self._thread_name = thread_name
        self._worker = None              # made at the first line: most daemons write none
        self._reported = set()           # (path, failure kind) already logged

    def append(self, path, line):
        if self._worker is None:
            self._worker = SerialWorker(self._daemon.reactor, self._thread_name)
        written = self._worker.call(append_line, path, line)
        written.addErrback(self._not_written, path)
        self._daemon.spawn(written, f"Writing a message to {path}")

    def written(self):
        """A Deferred firing once the lines handed over so far are written (or failed)."""
        if self._worker is None:
            return defer.succeed(None)
        return self._worker.call(lambda: None)

    def stopService(self):
        super().stopService()
        if self._worker is not None:
            self._worker.stop()

    def _not_written(self, failure, path):
        kind = failure_kind(failure.value)
        if (path, kind) not in self._reported:
            self._reported.add((path, kind))
            log.warn("Cannot write messages to {path}: {error} (not logged again for this "
                     "file and error)", path=path, error=failure.value)
