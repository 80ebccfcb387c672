"""The one retry policy and retry loop of every dial, on an injected Clock."""

from hypothesis import given, strategies as st
from twisted.internet import defer
from twisted.internet.task import Clock

from bareos.network.retry import backoff, every, retrying


# -- the policy -------------------------------------------------------------------------------

def test_backoff_doubles_from_the_minimum_up_to_the_maximum():
    delays = [backoff(1, 60)(n) for n in range(1, 10)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_every_is_a_fixed_interval():
    assert [every(10)(n) for n in (1, 2, 50)] == [10, 10, 10]


def test_backoff_jitter_only_shortens():
    assert backoff(1, 60, jitter=0.25, rand=lambda: 0.0)(3) == 4
    assert backoff(1, 60, jitter=0.25, rand=lambda: 1.0)(3) == 3
    assert backoff(1, 60, jitter=0.5, rand=lambda: 1.0)(30) == 30


def test_backoff_survives_huge_retry_numbers_and_odd_settings():
    assert backoff(1, 60)(10 ** 9) == 60
    assert backoff(5, 2)(1) == 5                       # max below min: min wins
    assert backoff(0, 10)(4) == 0
    assert backoff(1, 60)(0) == 1                      # counted from 1; 0 is taken as 1


@given(retry=st.integers(1, 200), minimum=st.integers(0, 100), maximum=st.integers(0, 3600),
       jitter=st.floats(0, 1), rand=st.floats(0, 1))
def test_backoff_is_bounded(retry, minimum, maximum, jitter, rand):
    delay = backoff(minimum, maximum, jitter=jitter, rand=lambda: rand)(retry)
    step = min(max(minimum, maximum), minimum * 2 ** min(retry - 1, 64))
    assert (1 - jitter) * step - 1e-9 <= delay <= max(minimum, maximum)


# -- the loop ---------------------------------------------------------------------------------

class Down(Exception):
    pass


class Flaky:
    """An attempt that fails ``failures`` times, noting when (on the clock) it was called
    and how much time it was told was left."""

    def __init__(self, clock, failures, error=Down):
        self.clock = clock
        self.failures = failures
        self.error = error
        self.calls = []

    async def __call__(self, remaining):
        self.calls.append((self.clock.seconds(), remaining))
        if len(self.calls) <= self.failures:
            raise self.error("down")
        return "up"


def failure_of(d):
    failures = []
    d.addErrback(failures.append)
    assert failures, f"no failure: {d.result!r}"
    return failures[0]


def test_retrying_waits_the_policy_between_attempts_and_returns_the_result():
    clock = Clock()
    attempt = Flaky(clock, 3)
    told = []
    d = defer.ensureDeferred(retrying(clock, attempt, backoff(1, 60),
                                      on_retry=lambda exc, n, delay: told.append((n, delay))))
    clock.pump([0.5] * 20)
    assert [at for at, _ in attempt.calls] == [0, 1, 3, 7]
    assert told == [(1, 1), (2, 2), (3, 4)]
    assert d.result == "up"


def test_retrying_makes_a_last_attempt_at_the_deadline_then_gives_up():
    clock = Clock()
    attempt = Flaky(clock, 99)
    d = defer.ensureDeferred(retrying(clock, attempt, every(10), timeout=25))
    clock.pump([1] * 40)
    assert attempt.calls == [(0, 25), (10, 15), (20, 5), (25, 0)]
    assert failure_of(d).check(Down)


def test_retrying_stops_after_the_number_of_attempts():
    clock = Clock()
    attempt = Flaky(clock, 99)
    d = defer.ensureDeferred(retrying(clock, attempt, every(1), attempts=3))
    clock.pump([1] * 10)
    assert len(attempt.calls) == 3
    assert failure_of(d).check(Down)


def test_retrying_raises_a_refused_failure_at_once():
    clock = Clock()
    attempt = Flaky(clock, 1, error=ValueError)
    d = defer.ensureDeferred(retrying(clock, attempt, every(1),
                                      should_retry=lambda exc: isinstance(exc, Down)))
    assert len(attempt.calls) == 1
    assert failure_of(d).check(ValueError)
    assert not clock.getDelayedCalls()


def test_retrying_without_a_timeout_tells_the_attempt_that_time_is_unlimited():
    clock = Clock()
    attempt = Flaky(clock, 0)
    d = defer.ensureDeferred(retrying(clock, attempt, every(1)))
    assert attempt.calls == [(0, float("inf"))]
    assert d.result == "up"
