"""A real FileDaemon on loopback, driven by the scripted director and storage daemon of
``fd_peers``."""

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from bareos.config import parse_config_text
from bareos.config.schemas import FILEDAEMON
from bareos.filedaemon.daemon import FileDaemon
from bareos.protocol import handshake
from bareos.testing.ports import free_port

from fd_peers import FD_CONFIG, FakeStorage


@pytest.fixture(autouse=True)
def quick_refusals(monkeypatch):
    monkeypatch.setattr(handshake, "FAILURE_DELAY", 0.05)


@pytest.fixture
def fd(tmp_path):
    port = free_port()
    workdir = tmp_path / "fd-work"
    workdir.mkdir()
    config = parse_config_text(FD_CONFIG.format(port=port, workdir=workdir), FILEDAEMON)
    daemon = FileDaemon(config, reactor)
    daemon.port = port
    daemon.sd_retry_interval = 0.2
    daemon.startService()
    yield daemon
    pytest_twisted.blockon(defer.maybeDeferred(daemon.stopService))


@pytest.fixture
def storage():
    stores = []

    def make(*args, **kwargs):
        store = FakeStorage(*args, **kwargs).listen()
        stores.append(store)
        return store
    yield make
    for store in stores:
        pytest_twisted.blockon(defer.maybeDeferred(store.stop))
