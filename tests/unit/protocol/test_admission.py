"""AdmissionControl on a task.Clock: which accepted connections a daemon serves."""

import dataclasses

import pytest
from twisted.internet import task
from twisted.logger import globalLogPublisher

from bareos.protocol.admission import AdmissionControl, AdmissionLimits
from bareos.protocol.conversation import RECEIVE, RefusalDelay, challenge_steps

LIMITS = AdmissionLimits(max_connections=6, max_waiting=10, max_unauthenticated=4,
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


def serve_authenticated(admissions, address):
    admission = admissions.admit(address)
    admission.session_started()
    admission.authenticated()
    return admission


def wait_in_queue(admissions, address, outcomes):
    """Admit a connection that must wait; ``outcomes`` gets (address, "in"/"refused")."""
    admission = admissions.admit(address)
    assert admission is not None and admission.waiting
    admission.wait_for_turn(lambda: outcomes.append((address, "in")),
                            lambda: outcomes.append((address, "refused")))
    return admission


def test_over_maximum_connections_a_connection_waits_until_a_handler_ends():
    admissions, _ = control()
    served = [serve_authenticated(admissions, f"10.0.0.{n}") for n in range(6)]
    outcomes = []
    waiting = wait_in_queue(admissions, "10.0.1.1", outcomes)
    assert (admissions.served, len(admissions.waiting), outcomes) == (6, 1, [])
    served[0].session_ended()                 # e.g. a client-initiated link now waits in a pool
    assert outcomes == [("10.0.1.1", "in")] and not waiting.waiting
    assert (admissions.served, len(admissions.waiting)) == (6, 0)


def test_waiting_connections_are_let_in_oldest_first_as_places_free():
    admissions, _ = control(dataclasses.replace(LIMITS, max_connections=2))
    served = [serve_authenticated(admissions, "10.0.0.1") for _ in range(2)]
    outcomes = []
    waiting = [wait_in_queue(admissions, f"10.0.1.{n}", outcomes) for n in range(10)]
    for admission in served:
        admission.session_ended()
    assert outcomes == [("10.0.1.0", "in"), ("10.0.1.1", "in")]
    for n, admission in enumerate(waiting):   # each handler in turn ends, the next comes in
        admission.session_started()
        admission.authenticated()
        admission.session_ended()
        admission.connection_closed()
        assert len(outcomes) == min(n + 3, 10)
    assert outcomes == [(f"10.0.1.{n}", "in") for n in range(10)]
    assert (admissions.served, len(admissions.waiting), admissions.unauthenticated) == (0, 0, {})


def test_waiting_connections_do_not_count_as_unauthenticated_until_let_in():
    admissions, _ = control(dataclasses.replace(LIMITS, max_connections=2,
                                                max_unauthenticated=2))
    first = [admissions.admit("10.0.0.1") for _ in range(2)]   # logging in: 2 unauthenticated
    outcomes = []
    for _ in range(5):
        wait_in_queue(admissions, "10.0.0.2", outcomes)      # waits, is not refused
    assert sum(admissions.unauthenticated.values()) == 2
    first[0].connection_closed()
    assert outcomes == [("10.0.0.2", "in")]
    assert admissions.unauthenticated == {"10.0.0.1": 1, "10.0.0.2": 1}


def test_a_locked_out_address_is_refused_at_once_rather_than_waiting(refusals):
    admissions, _ = control(dataclasses.replace(LIMITS, max_connections=1))
    for _ in range(3):
        failed_login(admissions, "10.0.0.1")
    serve_authenticated(admissions, "10.0.0.2")
    assert admissions.admit("10.0.0.1") is None
    assert not admissions.waiting
    assert any("3 failed logins" in line for line in refusals)


def test_a_waiting_connection_locked_out_meanwhile_is_refused_when_its_turn_comes():
    admissions, _ = control(dataclasses.replace(LIMITS, max_connections=2,
                                                max_failed_logins_per_address=1))
    guessing = admissions.admit("10.0.0.1")
    guessing.session_started()
    serve_authenticated(admissions, "10.0.0.2")
    outcomes = []
    wait_in_queue(admissions, "10.0.0.1", outcomes)
    wait_in_queue(admissions, "10.0.0.3", outcomes)
    guessing.failed()
    guessing.session_ended()
    assert outcomes == [("10.0.0.1", "refused"), ("10.0.0.3", "in")]


def test_a_waiting_connection_whose_peer_hung_up_leaves_the_queue():
    admissions, _ = control(dataclasses.replace(LIMITS, max_connections=1))
    served = serve_authenticated(admissions, "10.0.0.1")
    outcomes = []
    hung_up = wait_in_queue(admissions, "10.0.1.1", outcomes)
    wait_in_queue(admissions, "10.0.1.2", outcomes)
    hung_up.connection_closed()
    assert len(admissions.waiting) == 1
    served.session_ended()
    assert outcomes == [("10.0.1.2", "in")]


def test_the_queue_is_bounded_above_it_connections_are_refused(refusals):
    admissions, _ = control(dataclasses.replace(LIMITS, max_connections=1, max_waiting=3))
    serve_authenticated(admissions, "10.0.0.1")
    for _ in range(3):
        wait_in_queue(admissions, "10.0.1.1", [])
    assert admissions.admit("10.0.1.1") is None
    assert admissions.admit("10.0.1.2") is None
    assert len(admissions.waiting) == 3
    assert [line for line in refusals if "refused" in line] == [
        "test-dir: connection from 10.0.1.1 refused: 1 connections are being served "
        "(Maximum Connections) and 3 wait (Maximum Waiting Connections)"]


def test_a_full_queue_pauses_the_intake_until_it_is_down_to_half():
    admissions, _ = control(dataclasses.replace(LIMITS, max_connections=1, max_waiting=4))
    intake = []
    admissions.pause_intake_with(lambda: intake.append("pause"), lambda: intake.append("resume"))
    served = serve_authenticated(admissions, "10.0.0.1")
    outcomes = []
    queued = [wait_in_queue(admissions, "10.0.1.1", outcomes) for _ in range(4)]
    assert intake == ["pause"] and admissions.intake_paused
    queued.append(wait_in_queue(admissions, "10.0.1.2", outcomes))   # accepted in that batch
    queued[0].connection_closed()
    queued[1].connection_closed()                 # 3 wait: more than half
    assert intake == ["pause"]
    served.session_ended()                        # one let in: 2 wait, half
    assert intake == ["pause", "resume"] and not admissions.intake_paused
    assert outcomes == [("10.0.1.1", "in")]


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
