"""In-process daemons on 127.0.0.1 driven by the real reactor (pytest-twisted)."""

import pytest
from twisted.logger import formatEvent, globalLogPublisher

from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR
from bareos.protocol import handshake
from bareos.testing.inprocess import serve_director
from bareos.testing.ports import free_port

DIRECTOR_CONFIG = """
Director {{ Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}"; TLS Enable = no;
           Maximum Console Connections = 3 }}
Console {{ Name = admin; Password = "adminpw"; TLS Enable = no;
          Command ACL = *all*; Client ACL = *all* }}
Console {{ Name = limited; Password = "limitedpw"; TLS Enable = no;
          Command ACL = status, list; Client ACL = fd-one }}
Console {{ Name = tlsonly; Password = "tlspw" }}
Client {{ Name = fd-one; Address = 127.0.0.1; Password = "fdpw" }}
Client {{ Name = fd-two; Address = 127.0.0.1; Password = "fdpw" }}
Messages {{ Name = Daemon; Console = all }}
Pool {{ Name = Full; Pool Type = Backup }}
Catalog {{ Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }}
"""


@pytest.fixture
def director(tmp_path):
    port = free_port()
    config = parse_config_text(DIRECTOR_CONFIG.format(port=port, workdir=tmp_path), DIRECTOR)
    yield from serve_director(config, port)


@pytest.fixture
def log_events():
    """Every log event emitted during the test (``"log_failure" in event``: a traceback)."""
    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


@pytest.fixture
def log_lines():
    """Every log event emitted during the test, formatted as one line each."""
    lines = []

    def observer(event):
        lines.append(formatEvent(event))
    globalLogPublisher.addObserver(observer)
    yield lines
    globalLogPublisher.removeObserver(observer)


@pytest.fixture
def quick_refusals(monkeypatch):
    """A refused login waits before answering (slows down guessing); not needed in tests
    whose subject is not that delay (``pytestmark = pytest.mark.usefixtures(...)``)."""
    monkeypatch.setattr(handshake, "FAILURE_DELAY", 0.05)
