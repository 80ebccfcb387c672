"""Property: any text gives a Configuration or a ConfigError, never another exception."""

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bareos.config import ConfigError, parse_config_text
from bareos.config.model import Configuration
from bareos.config.schemas import CONSOLE, DIRECTOR, FILEDAEMON, STORAGEDAEMON

VALID_DIRECTOR = """\
Director {                       # the daemon itself
  Name = bareos-dir
  Password = "secret"
  DirAddresses = { ip = { addr = 127.0.0.1; port = 9101 } }
  Messages = Daemon
}
Messages { Name = Daemon; Console = all, !skipped; Append = "/tmp/x.log" = all }
Client { Name = fd1; Address = 10.0.0.1; Lan Address = 10.0.0.2; Password = "[md5]5ebe2294ecd0e0f08eab7690d2a6ee69" }
Storage { Name = sd1; Address = sd; Password = p; Device = FileStorage; Media Type = File }
Pool { Name = Full; Maximum Volume Bytes = 10 G; Volume Use Duration = 1 week 2 days }
FileSet { Name = fs; Include { File = /etc; Options { Signature = MD5; Wild = "*.o" } } }
Schedule { Name = nightly; Run = Level=Full sun at 2:05 }
Job { Name = j; Type = Backup; Client = fd1; FileSet = fs; Pool = Full; Storage = sd1; Messages = Daemon }
"""

SYNTAX_CHARACTERS = '{}=;,"#@\\\n !\t[]:.'
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def empty_cwd(tmp_path):
    """Relative @includes in random text resolve inside an empty directory."""
    with contextlib.chdir(tmp_path):
        yield


def parses_or_fails_cleanly(text, schema):
    try:
        assert isinstance(parse_config_text(text, schema), Configuration)
    except ConfigError as error:
        assert str(error).startswith("<string>")


def test_valid_seed_config_parses():
    assert parse_config_text(VALID_DIRECTOR, DIRECTOR).get("job", "j").client == "fd1"


@PROPERTY_SETTINGS
@given(text=st.text(), schema=st.sampled_from([DIRECTOR, FILEDAEMON, STORAGEDAEMON, CONSOLE]))
def test_arbitrary_text(empty_cwd, text, schema):
    parses_or_fails_cleanly(text, schema)


@PROPERTY_SETTINGS
@given(text=st.lists(st.sampled_from(list(SYNTAX_CHARACTERS) + ["Name", "Director", "Client", "Password", "x"]),
                     max_size=60).map("".join))
def test_text_made_of_syntax_pieces(empty_cwd, text):
    parses_or_fails_cleanly(text, DIRECTOR)


@st.composite
def mutated_config(draw):
    """The valid config with a few characters replaced, inserted or deleted."""
    text = VALID_DIRECTOR
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        replacement = draw(st.text(alphabet=SYNTAX_CHARACTERS + "az09", max_size=3))
        deleted = draw(st.integers(0, 3))
        text = text[:position] + replacement + text[position + deleted:]
    return text


@PROPERTY_SETTINGS
@given(text=mutated_config())
def test_mutations_of_a_valid_config(empty_cwd, text):
    parses_or_fails_cleanly(text, DIRECTOR)
