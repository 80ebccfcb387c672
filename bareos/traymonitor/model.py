"""The monitor's model: the state of every watched daemon, kept fresh by polling.

Each daemon is watched by its own loop on the injected clock: open a session (the
login), then ask ``status`` every Refresh Interval over it.  Both steps are bounded by
the daemon's connect timeout; a failure marks the daemon unreachable (with the reason),
drops the session, and the next login follows the one backoff policy
(``bareos.network.retry.backoff``, from 1 s up to the refresh interval).  The loops are
independent, so a daemon that hangs or is down never delays the others.

The network is injected (``open_session(target) -> Deferred[session]``, a session has
``query() -> Deferred[str]`` and ``close()``), so the model is tested on a
``task.Clock`` with fake sessions.  Views subscribe to changes and read ``states``.
"""

import dataclasses
from typing import Callable, Optional

from twisted.internet import defer, task
from twisted.logger import Logger

from bareos.network.retry import backoff
from bareos.protocol.handshake import connect_failure_reason
from bareos.traymonitor import statustext
from bareos.traymonitor.config import Target
from bareos.traymonitor.statustext import DIRECTOR, Job

log = Logger(namespace="bareos.traymonitor")

FAILED_JOBS_WINDOW = 24 * 3600
FIRST_RETRY_DELAY = 1.0


@dataclasses.dataclass(frozen=True)
class DaemonState:
    """What the monitor knows about one daemon."""

    target: Target
    reachable: Optional[bool] = None        # None: not polled yet
    reason: str = ""                        # why it is unreachable
    running_jobs: tuple[Job, ...] = ()
    failed_jobs: tuple[Job, ...] = ()       # directors: failed in the last 24 h
    status_text: str = ""
    polled_at: Optional[float] = None


class MonitorModel:
    def __init__(self, targets, refresh_interval: float, open_session: Callable, clock,
                 failed_jobs_window: float = FAILED_JOBS_WINDOW) -> None:
        self.targets = tuple(targets)
        self.refresh_interval = refresh_interval
        self.open_session = open_session
        self.clock = clock
        self.failed_jobs_window = failed_jobs_window
        self.retry_delay = backoff(FIRST_RETRY_DELAY, max(FIRST_RETRY_DELAY, refresh_interval))
        self.states = {target: DaemonState(target) for target in self.targets}
        self._listeners: list[Callable[["MonitorModel"], object]] = []
        self._loops: list[defer.Deferred] = []
        self._sessions: dict[Target, object] = {}

    # -- for views -----------------------------------------------------------------

    def subscribe(self, listener: Callable[["MonitorModel"], object]) -> None:
        """Call ``listener(model)`` after every poll result."""
        self._listeners.append(listener)

    def snapshot(self) -> list[DaemonState]:
        return [self.states[target] for target in self.targets]

    # -- polling -------------------------------------------------------------------

    def start(self) -> None:
        """Watch every daemon until ``stop()``."""
        self._loops = []
        for target in self.targets:
            loop = defer.ensureDeferred(self._watch(target))
            loop.addErrback(self._watch_failed, target)
            self._loops.append(loop)

    def _watch_failed(self, failure, target: Target) -> None:
        """A cancel is ``stop()``; anything else is a bug that ended the daemon's polling."""
        if not failure.check(defer.CancelledError):
            log.failure("Watching {kind} {name} failed; it is no longer polled", failure,
                        kind=target.kind, name=target.name)

    def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        self._loops = []
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    async def poll_once(self) -> list[DaemonState]:
        """Poll every daemon once, all at the same time; the states afterwards.
        Sessions are closed again."""
        try:
            await defer.gatherResults(
                [defer.ensureDeferred(self._poll(target)) for target in self.targets])
        finally:
            self.stop()
        return self.snapshot()

    async def _watch(self, target: Target) -> None:
        failures = 0
        while True:
            if await self._poll(target):
                failures = 0
                delay = self.refresh_interval
            else:
                failures += 1
                delay = self.retry_delay(failures)
            await task.deferLater(self.clock, delay, lambda: None)

    async def _poll(self, target: Target) -> bool:
        """One status query (after a login if there is no session); True if it worked."""
        try:
            session = self._sessions.get(target)
            if session is None:
                session = await self._bounded(self.open_session(target), target)
                self._sessions[target] = session
            text = await self._bounded(defer.ensureDeferred(session.query()), target)
        except defer.CancelledError:
            raise
        except Exception as exc:
            stale = self._sessions.pop(target, None)
            if stale is not None:
                stale.close()
            self._update(DaemonState(target, reachable=False, reason=_reason(exc),
                                     polled_at=self.clock.seconds()))
            return False
        failed = (statustext.failed_jobs(text, self.clock.seconds(), self.failed_jobs_window)
                  if target.kind == DIRECTOR else ())
        self._update(DaemonState(target, reachable=True,
                                 running_jobs=statustext.running_jobs(target.kind, text),
                                 failed_jobs=failed, status_text=text,
                                 polled_at=self.clock.seconds()))
        return True

    def _bounded(self, deferred: defer.Deferred, target: Target) -> defer.Deferred:
        return deferred.addTimeout(target.timeout, self.clock)

    def _update(self, state: DaemonState) -> None:
        previous = self.states[state.target]
        if previous.reachable is not False and state.reachable is False:
            log.warn("{daemon} is unreachable: {reason}", daemon=state.target.label,
                     reason=state.reason)
        self.states[state.target] = state
        for listener in list(self._listeners):
            listener(self)


def _reason(exc: Exception) -> str:
    if isinstance(exc, defer.TimeoutError):
        return "no answer in time"
    return connect_failure_reason(exc)
