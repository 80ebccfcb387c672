"""Over Maximum Connections a connection waits for a place, as in Bareos, instead of being
refused, and over a full queue it waits in the kernel's listen backlog: a real storage daemon
with few places and many correct director logins.

Waiting connections get nothing at all until their turn, so "still waiting" is observed as
"nothing to read" at a moment when no place can be free (every place held by a session of
the test), never by waiting for time to pass.
"""

import collections
import select

from bareos.testing.quick_console import QuickDirector

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


def test_over_a_full_queue_connections_wait_in_the_listen_backlog_not_refused(suite):
    suite.start_sd(storage_extra=[*SMALL_LIMITS, "Maximum Waiting Connections = 2"])
    held = [session(suite) for _ in range(PLACES)]
    first, leaving = [session(suite, log_in=False) for _ in range(2)]   # the queue is full:
    later = session(suite, log_in=False)        # the daemon accepts no more; the kernel holds it
    try:
        assert nothing_to_read([first, leaving, later]), "a connection was refused"
        leaving.stop()                          # the queue is down to half: accepting again
        for s in held:
            s.stop()
        for turn in (first, later):
            turn.log_in()
            assert turn.greeting.startswith(b"3000 OK Hello"), turn.greeting
    finally:
        for s in [*held, first, leaving, later]:
            s.stop()
