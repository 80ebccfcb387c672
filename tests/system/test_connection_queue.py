"""Over Maximum Connections a connection waits for a place, as in Bareos, instead of being
refused: a real storage daemon with few places and many correct director logins.

Waiting connections get nothing at all until their turn, so "still waiting" is observed as
"nothing to read" at a moment when no place can be free (every place held by a session of
the test), never by waiting for time to pass.
"""

import collections
import select

from bareos.testing.quick_console import QuickDirector
from bareos.testing.waiting import wait_until

# Maximum Connections = 2 is raised, as in Bareos, to 2 x Maximum Concurrent Jobs + 2 places.
SMALL_LIMITS = ["Maximum Connections = 2", "Maximum Concurrent Jobs = 1"]
PLACES = 4


def session(suite, log_in=True):
    return QuickDirector(suite.sd_port, suite.sd_password, suite.director_name, host=suite.host,
                         log_in=log_in)


def nothing_to_read(sessions):
    """True if none of ``sessions`` got a byte or was closed by the daemon, as of now."""
    return select.select([s.sock for s in sessions], [], [], 0)[0] == []


def test_logins_over_maximum_connections_wait_and_are_served_in_order(suite):
    suite.start_sd(storage_extra=SMALL_LIMITS)
    held = collections.deque(session(suite) for _ in range(PLACES))
    waiting = [session(suite, log_in=False) for _ in range(10)]        # queued in this order
    try:
        for n, turn in enumerate(waiting):
            held.popleft().stop()                  # one place frees: the oldest waiting one's
            turn.log_in()
            assert turn.greeting.startswith(b"3000 OK Hello"), turn.greeting
            assert nothing_to_read(waiting[n + 1:]), f"others than #{n} let in"
            held.append(turn)
    finally:
        for s in [*held, *waiting]:
            s.stop()


def closed_by_the_daemon(connection):
    try:
        return connection.sock.recv(1) == b""
    except ConnectionResetError:
        return True


def queued(suite):
    """A connection that found a place in the queue, or None if it was refused.

    A probe connecting after it shows which: the daemon refuses at accept, in accept order,
    so once the probe is refused, a refused first connection has been closed too."""
    candidate = session(suite, log_in=False)
    with session(suite, log_in=False) as probe:
        assert closed_by_the_daemon(probe), "the queue was not full with the probe"
    if nothing_to_read([candidate]):
        return candidate
    candidate.stop()
    return None


def test_a_waiting_connection_that_hangs_up_frees_its_place_in_the_queue(suite):
    suite.start_sd(storage_extra=[*SMALL_LIMITS, "Maximum Waiting Connections = 2"])
    held = [session(suite) for _ in range(PLACES)]
    first, leaving = [session(suite, log_in=False) for _ in range(2)]   # the queue is full
    later = None
    try:
        assert queued(suite) is None
        leaving.stop()
        later = wait_until(lambda: queued(suite), 30,
                           "a place in the queue once a waiting connection hung up")
        for s in held:
            s.stop()
        for turn in (first, later):
            turn.log_in()
            assert turn.greeting.startswith(b"3000 OK Hello"), turn.greeting
    finally:
        for s in [*held, first, leaving, later]:
            if s is not None:
                s.stop()
