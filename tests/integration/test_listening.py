"""A director listening on every address of its ``DirAddresses`` block, IPv4 and IPv6, and
logging in a console on each; stopping it closes every port."""

import types

import pytest_twisted
from twisted.internet import defer, reactor

from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR
from bareos.console.client import ConsoleClient
from bareos.director.daemon import Director
from bareos.protocol import cram
from bareos.protocol.tls import TlsPolicy
from bareos.testing.ports import free_port, is_listening

CONFIG = """
Director {{ Name = test-dir; Password = "dirpw"; Working Directory = "{workdir}"; TLS Enable = no
  DirAddresses = {{
    ipv4 = {{ addr = 127.0.0.1; port = {port4} }}
    ipv6 = {{ addr = ::1; port = {port6} }}
  }}
}}
Catalog {{ Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }}
"""


@pytest_twisted.ensureDeferred
async def test_a_director_serves_consoles_on_each_ipv4_and_ipv6_address(tmp_path):
    port4, port6 = free_port("127.0.0.1"), free_port("::1")
    config = parse_config_text(CONFIG.format(workdir=tmp_path, port4=port4, port6=port6),
                               DIRECTOR)
    director = Director(config, reactor)
    director.startService()
    try:
        for address, port in (("127.0.0.1", port4), ("::1", port6)):
            target = types.SimpleNamespace(address=address, port=port)
            client = await defer.ensureDeferred(ConsoleClient.connect(
                reactor, target, "*UserAgent*", cram.password_key("dirpw"), TlsPolicy.NONE))
            assert "You are connected using the default console" in client.greeting
            client.conn.close()
    finally:
        await director.stopService()
    assert not is_listening(port4, host="127.0.0.1")
    assert not is_listening(port6, host="::1")


def test_the_queue_holds_every_client_that_may_dial_the_director_at_once(tmp_path):
    clients = "".join(
        f'Client {{ Name = fd{n}; Address = 127.0.0.1; Password = "pw"; '
        f'Connection From Client To Director = {"yes" if n < 1500 else "no"} }}\n'
        for n in range(1600))
    config = parse_config_text(CONFIG.format(workdir=tmp_path, port4=1, port6=1) + clients,
                               DIRECTOR)
    # Maximum Waiting Connections (default 1000) is raised to the 1500 that dial in
    assert Director(config, reactor).admission.limits.max_waiting == 1500
