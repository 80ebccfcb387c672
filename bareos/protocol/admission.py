"""Which accepted connections a daemon serves: failed logins cost the attacker, not us.

One ``AdmissionControl`` per daemon, shared by all its listening ports, decides at accept
time, before a byte is read, whether a connection is served at all::

    admission = control.admit(host)      # None: refused, close the socket at once
    admission.session_started()          # the daemon runs its handler for the connection
    admission.authenticated()            # the peer proved its key (CRAM-MD5 succeeded)
    admission.failed()                   # it did not (said as soon as the answer is found
                                         # wrong): counts against its address
    admission.session_ended()            # the handler returned (the connection may stay
                                         # open, e.g. a waiting client-initiated link)
    admission.connection_closed()

A connection is refused when the daemon already serves ``max_connections`` (Bareos' ``Maximum
Connections``: the connections being handled at once), when ``max_unauthenticated`` connections
(from anywhere) have not authenticated yet, when its address failed to log in
``max_failed_logins_per_address`` times within the last ``failed_login_window`` seconds, or when
a login from its address failed within the window and ``max_unauthenticated_per_address`` from
there have not authenticated yet.  (An address without failures may open many connections at
once: a director starting twenty jobs opens forty to its storage daemon.)  A connection counts
as unauthenticated until it authenticates or its handler ends: a wrong password keeps its
place during the delay before the refusal even when the peer hangs up at once, so a guesser
gets at most ``max_failed_logins_per_address`` guesses evaluated per window, plus those already
in flight when it reached that number.

Refusals are logged once per window and reason (and address), with the number refused since
the last such line, so a flood does not flood the log.  Pure: the time comes from an injected
clock.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Optional

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

log = Logger(namespace="bareos.admission")

@dataclasses.dataclass(frozen=True)
class AdmissionLimits:
    max_connections: int
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
        self._failures: dict[str, collections.deque[float]] = {}   # address -> times
        self._refusals = ThrottledLog(log, clock, limits.failed_login_window)

    def admit(self, address: str) -> Optional[Admission]:
        """An ``Admission`` for a connection just accepted from ``address``, or None (the
        caller closes the connection at once; the refusal is logged here)."""
        reason = self._refusal_reason(address)
        if reason is not None:
            key, text = reason
            self._refusals.warn(key, f"{self.daemon_name}: connection from {address} refused: "
                                     f"{text}")
            return None
        self.served += 1
        self.unauthenticated[address] += 1
        return Admission(self, address)

    def _refusal_reason(self, address: str) -> Optional[tuple[object, str]]:
        limits = self.limits
        failures = self.recent_failures(address)
        if failures >= limits.max_failed_logins_per_address:
            return (("failures", address),
                    f"{limits.max_failed_logins_per_address} failed logins from it within "
                    f"{limits.failed_login_window:g} s")
        if self.served >= limits.max_connections:
            return ("connections", f"{limits.max_connections} connections are being served "
                                   f"(Maximum Connections)")
        if failures and self.unauthenticated[address] >= limits.max_unauthenticated_per_address:
            return (("unauthenticated", address),
                    f"{limits.max_unauthenticated_per_address} connections from it are not "
                    f"authenticated yet, and a login from it failed within "
                    f"{limits.failed_login_window:g} s")
        if sum(self.unauthenticated.values()) >= limits.max_unauthenticated:
            return ("unauthenticated", f"{limits.max_unauthenticated} connections are not "
                                       f"authenticated yet")
        return None

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


class Admission:
    """One admitted connection's claim on the limits; see the module docstring."""

    def __init__(self, control: AdmissionControl, address: str) -> None:
        self._control = control
        self.address = address
        self._unauthenticated = True
        self._served = True
        self._session_running = False
        self._failed = False

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
        """The transport is gone.  A running handler keeps the claim until it ends (a failed
        login still waits out its delay)."""
        if not self._session_running:
            self._release()

    def _leave_unauthenticated(self) -> None:
        if self._unauthenticated:
            self._unauthenticated = False
            self._control._release_unauthenticated(self.address)

    def _release(self) -> None:
        self._leave_unauthenticated()
        if self._served:
            self._served = False
            self._control.served -= 1
