"""Waiting for something observable to happen, for tests that drive real processes.

A test that must wait for an event (a daemon's log line, a catalog row, a status
listing, a packet crossing a relay) polls for that event with :func:`wait_until`
(or, inside the reactor, :func:`wait_until_in_reactor`) instead of sleeping for a
time that usually suffices.  The timeout is then only a hang guard, or the bound the
feature under test promises; it is never tuned.
"""

import time

#: How often a condition is polled (seconds).  Short enough not to matter.
POLL_INTERVAL = 0.05


class _Deadline:
    def __init__(self, timeout, what, now):
        self.timeout, self.what, self.now = timeout, what, now
        self.at = now() + timeout

    def check(self):
        if self.now() > self.at:
            raise AssertionError(f"not within {self.timeout:g} s: {self.what}")


def wait_until(condition, timeout, what, step=POLL_INTERVAL):
    """Poll ``condition()`` until it returns something true, and return that.

    Raises ``AssertionError("not within <timeout> s: <what>")`` when ``timeout``
    seconds pass first.  ``what`` says, in words, what the test waited for.
    """
    deadline = _Deadline(timeout, what, time.monotonic)
    while not (result := condition()):
        deadline.check()
        time.sleep(step)
    return result


async def wait_until_in_reactor(condition, timeout, what, clock=None, step=POLL_INTERVAL):
    """:func:`wait_until` for tests that run inside the reactor (pytest-twisted): polls
    on ``clock`` (the reactor by default) without blocking it."""
    from twisted.internet import task
    if clock is None:
        from twisted.internet import reactor as clock
    deadline = _Deadline(timeout, what, clock.seconds)
    while not (result := condition()):
        deadline.check()
        await task.deferLater(clock, step, lambda: None)
    return result
