"""AdmissionControl on a task.Clock: which accepted connections a daemon serves."""

import pytest
from twisted.internet import task
from twisted.logger import globalLogPublisher

from bareos.protocol.admission import AdmissionControl, AdmissionLimits
from bareos.protocol.conversation import RECEIVE, RefusalDelay, challenge_steps

LIMITS = AdmissionLimits(max_connections=6, max_unauthenticated=4,
                         max_unauthenticated_per_address=2, max_failed_logins_per_address=3,
                         failed_login_window=60)


@pytest.fixture
def refusals():
    lines = []

    def observer(event):
        if event.get("log_namespace") == "bareos.admission":
            lines.append(event["text"])
    globalLogPublisher.addObserver(observer)
    yield lines
    globalLogPublisher.removeObserver(observer)


def control(limits=LIMITS):
    clock = task.Clock()
    return AdmissionControl(limits, clock, "test-dir"), clock


def failed_login(admissions, address):
    admission = admissions.admit(address)
    admission.session_started()
    admission.failed()
    admission.session_ended()


def test_unauthenticated_connections_are_capped_in_total():
    admissions, _ = control()
    first = [admissions.admit(f"10.0.0.{n}") for n in range(4)]
    assert None not in first
    assert admissions.admit("10.0.1.1") is None
    first[0].authenticated()                                # no longer counts as unauthenticated
    assert admissions.admit("10.0.1.1") is not None


def test_an_address_without_failures_may_open_many_connections_at_once():
    admissions, _ = control()
    assert None not in [admissions.admit("10.0.0.1") for _ in range(4)]


def test_after_a_failure_an_address_may_hold_few_unauthenticated_connections():
    admissions, _ = control()
    guessing = admissions.admit("10.0.0.1")
    guessing.session_started()
    guessing.failed()                         # its delay before the refusal runs
    assert admissions.admit("10.0.0.1") is not None
    assert admissions.admit("10.0.0.1") is None             # 2 per address
    assert admissions.admit("10.0.0.2") is not None         # others are served


def test_maximum_connections_counts_authenticated_connections_until_their_handler_ends():
    admissions, _ = control()
    served = []
    for n in range(6):
        admission = admissions.admit(f"10.0.0.{n}")
        admission.session_started()
        admission.authenticated()
        served.append(admission)
    assert admissions.admit("10.0.1.1") is None
    served[0].session_ended()                 # e.g. a client-initiated link now waits in a pool
    assert admissions.admit("10.0.1.1") is not None


def test_a_failed_login_keeps_its_place_until_its_handler_ends_even_if_the_peer_left():
    admissions, _ = control()
    admission = admissions.admit("10.0.0.1")
    admission.session_started()
    admission.failed()
    admission.connection_closed()             # the guesser hung up; the failure delay runs on
    admissions.admit("10.0.0.1")
    assert admissions.admit("10.0.0.1") is None
    admission.failed()                        # (the refusal itself: counted once)
    admission.session_ended()
    assert admissions.admit("10.0.0.1") is not None
    assert admissions.recent_failures("10.0.0.1") == 1


def test_the_delay_before_refusing_a_wrong_answer_is_a_step_of_its_own():
    # (the moment the daemon's converse() counts the failure, before the delay)
    steps = challenge_steps(b"k" * 32, "test-dir", 0, 5)
    assert steps.send(None).startswith(b"auth cram-md5") and steps.send(None) is RECEIVE
    assert steps.send(b"wrong\x00") == RefusalDelay(5)


def test_a_connection_closed_before_its_handler_started_frees_its_slots():
    admissions, _ = control()
    for _ in range(10):
        admissions.admit("10.0.0.1").connection_closed()
    assert (admissions.served, sum(admissions.unauthenticated.values())) == (0, 0)


def test_too_many_failed_logins_lock_the_address_out_for_the_window(refusals):
    admissions, clock = control()
    for _ in range(3):
        failed_login(admissions, "10.0.0.1")
        clock.advance(10)
    assert admissions.admit("10.0.0.1") is None
    assert admissions.admit("10.0.0.2") is not None      # other addresses are served
    clock.advance(31)                                    # the first failure leaves the window
    assert admissions.admit("10.0.0.1") is not None
    assert len(refusals) == 1


def test_refusals_are_logged_once_per_window_and_reason_with_a_count(refusals):
    admissions, clock = control()
    for _ in range(3):
        failed_login(admissions, "10.0.0.1")
    for _ in range(100):
        assert admissions.admit("10.0.0.1") is None
    assert len(refusals) == 1
    assert "10.0.0.1" in refusals[0] and "3 failed logins" in refusals[0]
    clock.advance(60)
    for _ in range(3):
        failed_login(admissions, "10.0.0.1")
    assert admissions.admit("10.0.0.1") is None
    assert len(refusals) == 2 and "99 more like it" in refusals[1]


def test_memory_is_bounded_under_failures_from_many_addresses():
    admissions, clock = control()
    for n in range(5000):
        failed_login(admissions, f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
        clock.advance(0.1)
    assert len(admissions._failures) <= 1024 + 600          # about one window's worth
    assert admissions.served == 0 and not admissions.unauthenticated
