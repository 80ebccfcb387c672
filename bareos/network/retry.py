"""How every dial with retries waits between attempts, and the loop that retries it.

One policy for all of them (the director dialling a file or storage daemon, a file
daemon dialling a storage daemon, a storage daemon dialling a passive file daemon,
the director opening its catalog, a client-initiated file daemon keeping its link):
``backoff`` is Twisted's ``backoffPolicy`` (delay = minimum * factor ** n, capped at
maximum), with the jitter of ``Reconnect Jitter Percent`` as a *fraction* of the
step that shortens it, where ``backoffPolicy``'s own jitter adds seconds on top.
A fixed retry interval (Bareos' "retry every 10 s until the connect timeout") is the
same policy with ``factor`` 1.

``retrying`` runs an attempt until it succeeds, waiting on an injected clock, so
tests drive it with ``twisted.internet.task.Clock``.
"""

import math
import random
from typing import Awaitable, Callable, Optional, TypeVar

from twisted.application.internet import backoffPolicy
from twisted.internet import task
from twisted.internet.interfaces import IReactorTime

T = TypeVar("T")
RetryPolicy = Callable[[int], float]       # retry number (1, 2, ...) -> seconds to wait first


def backoff(minimum: float, maximum: float, factor: float = 2.0, jitter: float = 0.0,
            rand: Callable[[], float] = random.random) -> RetryPolicy:
    """Seconds to wait before retry number ``n`` (1, 2, ...).

    ``min(maximum, minimum * factor ** (n - 1))``, less a random part of up to
    ``jitter`` (a fraction, 0..1) of it: never more than ``maximum``, never below
    ``(1 - jitter)`` times the step.  A maximum below the minimum counts as the minimum.
    """
    minimum = max(0.0, float(minimum))
    maximum = max(minimum, float(maximum))
    jitter = min(max(float(jitter), 0.0), 1.0)
    step = backoffPolicy(initialDelay=minimum, maxDelay=maximum, factor=factor,
                         jitter=lambda: 0.0)

    def delay(retry: int) -> float:
        return step(max(retry, 1) - 1) * (1.0 - jitter * rand())
    return delay


def every(seconds: float) -> RetryPolicy:
    """A fixed interval between attempts."""
    return backoff(seconds, seconds, factor=1.0)


async def retrying(clock: IReactorTime, attempt: Callable[[float], Awaitable[T]],
                   policy: RetryPolicy, timeout: Optional[float] = None,
                   attempts: Optional[int] = None,
                   should_retry: Callable[[Exception], bool] = lambda exc: True,
                   on_retry: Optional[Callable[[Exception, int, float], None]] = None) -> T:
    """Await ``attempt(remaining)`` until it returns, and return its result.

    ``remaining`` is the time left before ``timeout`` (infinite without one).  After a
    failure that ``should_retry(exc)`` accepts, wait ``policy(n)`` seconds (n = failures
    so far), but never past the deadline, where one last attempt is made; ``on_retry(exc,
    n, delay)`` is told first.  The failure is raised again when ``should_retry`` refuses
    it, when the time is up, or after ``attempts`` attempts (None: no limit).
    """
    deadline = math.inf if timeout is None else clock.seconds() + max(0.0, timeout)
    failures = 0
    while True:
        try:
            return await attempt(deadline - clock.seconds())
        except Exception as exc:
            failures += 1
            remaining = deadline - clock.seconds()
            if (not should_retry(exc) or remaining <= 0
                    or (attempts is not None and failures >= attempts)):
                raise
            delay = min(policy(failures), remaining)
            if on_retry is not None:
                on_retry(exc, failures, delay)
        await task.deferLater(clock, delay, lambda: None)
