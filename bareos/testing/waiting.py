"""Waiting for something observable to happen, for tests that drive real processes.

A test that must wait for an event (a daemon's log line, a catalog row, a status
listing, a packet crossing a relay) polls for that event with :func:`wait_until`
instead of sleeping for a time that usually suffices.  The timeout is then only a
hang guard, or the bound the feature under test promises; it is never tuned.
"""

import time

#: How often a condition is polled (seconds).  Short enough not to matter.
POLL_INTERVAL = 0.05


def wait_until(condition, timeout, what, step=POLL_INTERVAL):
    """Poll ``condition()`` until it returns something true, and return that.

    Raises ``AssertionError("not within <timeout> s: <what>")`` when ``timeout``
    seconds pass first.  ``what`` says, in words, what the test waited for.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(step)


async def wait_until_in_reactor(condition, timeout, what, clock=None, step=POLL_INTERVAL):
    """:func:`wait_until` for tests that run inside the reactor (pytest-twisted): polls
    on ``clock`` (the reactor by default) without blocking it."""
    from twisted.internet import task
    if clock is None:
        from twisted.internet import reactor as clock
    deadline = clock.seconds() + timeout
    while True:
        result = condition()
        if result:
            return result
        if clock.seconds() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await task.deferLater(clock, step, lambda: None)
