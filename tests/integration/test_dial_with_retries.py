"""dial_with_retries (FD -> SD, SD -> passive FD) against a closed port on loopback, and the
endpoint every dial uses."""

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint

from bareos.protocol.handshake import dial_with_retries, tcp_endpoint
from bareos.protocol.hello import Hello, HelloKind
from bareos.protocol.tls import TlsPolicy
from bareos.testing.ports import free_port


class ChannelFailed(Exception):
    pass


def dial_closed_port(timeout, is_canceled=lambda: False):
    hello = Hello(HelloKind.START_JOB, "job.1", version="1")
    return dial_with_retries(reactor, "127.0.0.1", free_port(), hello, b"key", "test-fd",
                             TlsPolicy.NONE, timeout, 0.2, "storage daemon", ChannelFailed,
                             is_canceled)


@pytest_twisted.ensureDeferred
async def test_a_refused_address_is_retried_until_the_timeout_then_named():
    attempts = []

    def never_canceled():               # asked before each attempt and after each refusal
        attempts.append(reactor.seconds())
        return False

    with pytest.raises(ChannelFailed, match="^Connection refused$"):
        await dial_closed_port(2, never_canceled)
    assert len(attempts) >= 2 * 2         # at least one retry


@pytest_twisted.ensureDeferred
async def test_a_cancel_while_retrying_ends_the_dial_saying_so():
    asked = []

    def canceled_during_the_first_wait():
        # asked before the first attempt and when judging its refusal: no; then yes
        asked.append(None)
        return len(asked) > 2

    with pytest.raises(ChannelFailed, match="^job canceled$"):
        await dial_closed_port(30, canceled_during_the_first_wait)


@pytest.mark.parametrize("host, endpoint", [("127.0.0.1", TCP4ClientEndpoint),
                                            ("::1", TCP6ClientEndpoint),
                                            ("localhost", HostnameEndpoint)])
def test_only_a_name_is_looked_up_before_dialling(host, endpoint):
    # a literal address needs no thread of the reactor's pool (thousands of file daemons
    # dialling one director at once would queue on its ten threads)
    assert type(tcp_endpoint(reactor, host, 9101, timeout=5)) is endpoint
