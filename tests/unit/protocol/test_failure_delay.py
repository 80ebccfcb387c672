"""The test-only shortening of the delay before a failed login is refused."""

import pytest

from bareos.protocol import conversation, handshake


@pytest.fixture(autouse=True)
def restore_delay(monkeypatch):
    monkeypatch.setattr(handshake, "FAILURE_DELAY", conversation.FAILURE_DELAY)


def test_without_the_variable_the_delay_stays_bareos_five_seconds():
    assert handshake.shorten_failure_delay_for_tests({}) is None
    assert handshake.FAILURE_DELAY == conversation.FAILURE_DELAY == 5


def test_the_variable_sets_the_delay_every_handshake_uses():
    environ = {handshake.TEST_FAILURE_DELAY_ENV: "0.25"}
    assert handshake.shorten_failure_delay_for_tests(environ) == 0.25
    assert handshake.FAILURE_DELAY == 0.25


@pytest.mark.parametrize("value", ["", "soon", "-1", "nan"])
def test_a_value_that_is_not_seconds_is_refused(value):
    with pytest.raises(ValueError, match=handshake.TEST_FAILURE_DELAY_ENV):
        handshake.shorten_failure_delay_for_tests({handshake.TEST_FAILURE_DELAY_ENV: value})
    assert handshake.FAILURE_DELAY == conversation.FAILURE_DELAY
