"""An in-process Director on the real reactor, for tests run under pytest-twisted."""

import pytest_twisted
from twisted.internet import reactor

from bareos.director.daemon import Director


def serve_director(config, port):
    """Start a Director on ``config`` (its DirPort ``port``), yield it once its catalog is
    open, and stop it: the body of a fixture (``yield from serve_director(...)``)."""
    service = Director(config, reactor)
    service.port = port
    service.startService()
    pytest_twisted.blockon(service.catalog_ready())
    yield service
    pytest_twisted.blockon(service.stopService())
