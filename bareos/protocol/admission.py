"""Which accepted connections a daemon serves: failed logins cost the attacker, not us.

One ``AdmissionControl`` per daemon, shared by all its listening ports, decides at accept
time, before a byte is processed, whether a connection is served, waits, or is refused::

    admission = control.admit(host)      # None: refused, close the socket at once
    admission.wait_for_turn(let_in, refuse)  # when admission.waiting: called back once, later
    admission.session_started()          # the daemon runs its handler for the connection
    admission.authenticated()            # the peer proved its key (CRAM-MD5 succeeded)
    admission.failed()                   # it did not (said as soon as the answer is found
                                         # wrong): counts against its address
    admission.session_ended()            # the handler returned (the connection may stay
                                         # open, e.g. a waiting client-initiated link)
    admission.connection_closed()

A connection over ``max_connections`` (Bareos' ``Maximum Connections``: the connections being
handled at once) waits, as in Bareos, whose extra connections wait for a thread: its bytes are
kept, not processed, and the oldest waiting connection is let in when a served one ends.  Up
to ``max_waiting`` wait (``Maximum Waiting Connections``, over all the daemon's listening
ports; each holds a socket and at most a few kilobytes of its first bytes).  Once the queue
is full the daemon stops accepting (``pause_intake_with``): new connections wait in the
kernel's listen backlog, at no cost to the daemon, until the queue is down to half.  The rest
of the batch the daemon was accepting when the queue filled still joins it (at most the
listen backlog more).  A daemon that cannot pause its intake refuses a connection over a full
queue.  A waiting connection does not count
as unauthenticated until it is let in, and one whose peer hangs up leaves the queue.

A connection is refused when ``max_connections`` are served and the queue is full (and the
intake cannot be paused), when
``max_unauthenticated`` connections
(from anywhere) have not authenticated yet, when its address failed to log in
``max_failed_logins_per_address`` times within the last ``failed_login_window`` seconds, or when
a login from its address failed within the window and ``max_unauthenticated_per_address`` from
there have not authenticated yet.  (An address without failures may open many connections at
once: a director starting twenty jobs opens forty to its storage daemon.)  A connection counts
as unauthenticated until it authenticates or its handler ends: a wrong password keeps its
place during the delay before the refusal even when the peer hangs up at once, so a guesser
gets at most ``max_failed_logins_per_address`` guesses evaluated per window, plus those already
in flight when it reached that number.  An address locked out by its failures is refused at
once, before it would wait; the limits on unauthenticated connections are checked again when a
waiting connection is let in.

Refusals are logged once per window and reason (and address), with the number refused since
the last such line, so a flood does not flood the log.  Pure: the time comes from an injected
clock.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
from typing import Callable, Optional

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

log = Logger(namespace="bareos.admission")

@dataclasses.dataclass(frozen=True)
class AdmissionLimits:
    max_connections: int
    max_waiting: int
    max_unauthenticated: int
    max_unauthenticated_per_address: int
    max_failed_logins_per_address: int
    failed_login_window: float


class ThrottledLog:
    """Log a warning at most once per ``interval`` seconds per key; the next line says how
    many were left out in between."""

    def __init__(self, log: Logger, clock: IReactorTime, interval: float) -> None:
        self._log = log
        self._clock = clock
        self._interval = interval
        self._last: dict[object, tuple[float, int]] = {}   # key -> (logged at, left out since)

    def warn(self, key: object, text: str) -> None:
        now = self._clock.seconds()
        if key in self._last:
            logged_at, left_out = self._last[key]
            if now - logged_at < self._interval:
                self._last[key] = (logged_at, left_out + 1)
                return
            if left_out:
                text += f" ({left_out} more like it in the last {now - logged_at:.0f} s not logged)"
        self._log.warn("{text}", text=text)
        self._last[key] = (now, 0)
        if len(self._last) > _SWEEP_ABOVE:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self._interval}


_SWEEP_ABOVE = 1024        # tracked addresses above which expired entries are dropped


class AdmissionControl:
    """See the module docstring."""

    def __init__(self, limits: AdmissionLimits, clock: IReactorTime, daemon_name: str) -> None:
        self.limits = limits
        self.clock = clock
        self.daemon_name = daemon_name
        self.served = 0
        self.unauthenticated: collections.Counter[str] = collections.Counter()
        self.waiting: dict[Admission, None] = {}      # an ordered set: the oldest first
        self._letting_in = False
        self._pause_intake: Optional[Callable[[], object]] = None     # None: cannot pause
        self._resume_intake: Callable[[], object] = lambda: None
        self._intake_paused = False
        self._failures: dict[str, collections.deque[float]] = {}   # address -> times
        self._refusals = ThrottledLog(log, clock, limits.failed_login_window)

    def pause_intake_with(self, pause: Callable[[], object],
                          resume: Callable[[], object]) -> None:
        """``pause()`` is called when the queue becomes full (stop accepting connections),
        ``resume()`` when it is down to half of ``max_waiting`` again."""
        self._pause_intake, self._resume_intake = pause, resume

    @property
    def intake_paused(self) -> bool:
        return self._intake_paused

    def admit(self, address: str) -> Optional[Admission]:
        """An ``Admission`` for a connection just accepted from ``address`` (it may have to
        wait, see ``Admission.waiting``), or None: the caller closes the connection at once
        (the refusal is logged here)."""
        reason = self._lockout_reason(address)
        if reason is None and self.served >= self.limits.max_connections:
            # while the intake is paused only connections accepted in the same batch come
            if len(self.waiting) < self.limits.max_waiting or self._intake_paused:
                admission = Admission(self, address, waiting=True)
                self.waiting[admission] = None
                if (len(self.waiting) >= self.limits.max_waiting and not self._intake_paused
                        and self._pause_intake is not None):
                    self._intake_paused = True
                    self._pause_intake()
                self._refusals.warn("waiting", f"{self.daemon_name}: {self.limits.max_connections}"
                                               f" connections are being served (Maximum "
                                               f"Connections): new ones wait for a free place")
                return admission
            reason = ("connections", f"{self.limits.max_connections} connections are being "
                                     f"served (Maximum Connections) and "
                                     f"{self.limits.max_waiting} wait (Maximum Waiting "
                                     f"Connections)")
        if reason is None:
            reason = self._unauthenticated_reason(address)
        if reason is not None:
            self._refuse(address, reason)
            return None
        admission = Admission(self, address, waiting=False)
        self._count_served(address)
        return admission

    def _refuse(self, address: str, reason: tuple[object, str]) -> None:
        key, text = reason
        self._refusals.warn(key, f"{self.daemon_name}: connection from {address} refused: {text}")

    def _lockout_reason(self, address: str) -> Optional[tuple[object, str]]:
        limits = self.limits
        if self.recent_failures(address) >= limits.max_failed_logins_per_address:
            return (("failures", address),
                    f"{limits.max_failed_logins_per_address} failed logins from it within "
                    f"{limits.failed_login_window:g} s")
        return None

    def _unauthenticated_reason(self, address: str) -> Optional[tuple[object, str]]:
        limits = self.limits
        if (self.recent_failures(address)
                and self.unauthenticated[address] >= limits.max_unauthenticated_per_address):
            return (("unauthenticated", address),
                    f"{limits.max_unauthenticated_per_address} connections from it are not "
                    f"authenticated yet, and a login from it failed within "
                    f"{limits.failed_login_window:g} s")
        if sum(self.unauthenticated.values()) >= limits.max_unauthenticated:
            return ("unauthenticated", f"{limits.max_unauthenticated} connections are not "
                                       f"authenticated yet")
        return None

    def _count_served(self, address: str) -> None:
        self.served += 1
        self.unauthenticated[address] += 1

    def _let_in_waiting(self) -> None:
        """Let the oldest waiting connections in while places are free.  Letting one in runs
        its handler, which may end at once and free its place again: the outer call goes on."""
        if self._letting_in:
            return
        self._letting_in = True
        try:
            while self.waiting and self.served < self.limits.max_connections:
                admission = next(iter(self.waiting))
                del self.waiting[admission]
                reason = (self._lockout_reason(admission.address)
                          or self._unauthenticated_reason(admission.address))
                if reason is None:
                    self._count_served(admission.address)
                    admission._let_in()
                else:
                    self._refuse(admission.address, reason)
                    admission._refuse()
        finally:
            self._letting_in = False
        self._queue_shrank()

    def _queue_shrank(self) -> None:
        if self._intake_paused and len(self.waiting) <= self.limits.max_waiting // 2:
            self._intake_paused = False
            self._resume_intake()

    def recent_failures(self, address: str) -> int:
        """Failed logins from ``address`` within the window (older ones are forgotten)."""
        times = self._failures.get(address)
        if times is None:
            return 0
        horizon = self.clock.seconds() - self.limits.failed_login_window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[address]
        return len(times)

    def _record_failure(self, address: str) -> None:
        self._failures.setdefault(address, collections.deque()).append(self.clock.seconds())
        if len(self._failures) > _SWEEP_ABOVE:
            for known in list(self._failures):
                self.recent_failures(known)

    def _release_unauthenticated(self, address: str) -> None:
        self.unauthenticated[address] -= 1
        if not self.unauthenticated[address]:
            del self.unauthenticated[address]


class _Turn(enum.Enum):
    WAITING = "waiting"             # over Maximum Connections: in the queue, not read
    SERVED = "served"               # counts for Maximum Connections until released
    DONE = "done"                   # released, refused after waiting, or gone while waiting


class Admission:
    """One accepted connection's claim on the limits; see the module docstring."""

    def __init__(self, control: AdmissionControl, address: str, waiting: bool) -> None:
        self._control = control
        self.address = address
        self._turn = _Turn.WAITING if waiting else _Turn.SERVED
        self._unauthenticated = not waiting
        self._session_running = False
        self._failed = False
        self._on_let_in: Optional[Callable[[], object]] = None
        self._on_refused: Optional[Callable[[], object]] = None

    @property
    def waiting(self) -> bool:
        """True while the connection waits for a place under Maximum Connections: nothing of
        it may be processed until ``let_in`` is called back."""
        return self._turn is _Turn.WAITING

    def wait_for_turn(self, let_in: Callable[[], object],
                      refused: Callable[[], object]) -> None:
        """Once its turn comes, either ``let_in()`` (serve it now) or ``refused()`` (close it:
        over a limit on unauthenticated connections by then) is called."""
        self._on_let_in = let_in
        self._on_refused = refused

    def session_started(self) -> None:
        self._session_running = True

    def authenticated(self) -> None:
        self._leave_unauthenticated()

    def failed(self) -> None:
        """The login failed (counted once per connection, however often it is said)."""
        if not self._failed:
            self._failed = True
            self._control._record_failure(self.address)

    def session_ended(self) -> None:
        self._session_running = False
        self._release()

    def connection_closed(self) -> None:
        """The transport is gone.  A waiting connection leaves the queue; a running handler
        keeps the claim until it ends (a failed login still waits out its delay)."""
        if self._turn is _Turn.WAITING:
            del self._control.waiting[self]
            self._turn = _Turn.DONE
            self._control._queue_shrank()
        elif not self._session_running:
            self._release()

    def _let_in(self) -> None:
        self._turn = _Turn.SERVED
        self._unauthenticated = True
        assert self._on_let_in is not None, "a waiting admission without wait_for_turn()"
        self._on_let_in()

    def _refuse(self) -> None:
        self._turn = _Turn.DONE
        assert self._on_refused is not None, "a waiting admission without wait_for_turn()"
        self._on_refused()

    def _leave_unauthenticated(self) -> None:
        if self._unauthenticated:
            self._unauthenticated = False
            self._control._release_unauthenticated(self.address)

    def _release(self) -> None:
        self._leave_unauthenticated()
        if self._turn is _Turn.SERVED:
            self._turn = _Turn.DONE
            self._control.served -= 1
            self._control._let_in_waiting()
