"""The file daemon's listening port (none when no director may connect); its Messages resource
(Append files, the Director destination) is tested on the real reactor in
tests/integration/test_message_files.py."""

from twisted.application.internet import StreamServerEndpointService
from twisted.internet.task import Clock

from bareos.config import parse_config_text
from bareos.config.schemas import FILEDAEMON
from bareos.filedaemon.daemon import FileDaemon
from bareos.filedaemon.director_link import DirectorLink

CONFIG = """
Client {{ Name = fd1; FdAddress = 127.0.0.1; FdPort = 1; Working Directory = "{work}" }}
Director {{ Name = dir1; Password = pw; Address = 127.0.0.1;
           Connection From Client To Director = yes; Connection From Director To Client = {incoming} }}
Messages {{
  Name = Standard
  Director = dir1 = all, !skipped, !restored
  Append = "{log}" = all, !skipped, !restored
}}
"""


def file_daemon(tmp_path, incoming="no"):
    config = parse_config_text(CONFIG.format(work=tmp_path, log=tmp_path / "fd.log",
                                             incoming=incoming), FILEDAEMON)
    return FileDaemon(config, Clock())


def test_a_file_daemon_that_only_dials_out_opens_no_port(tmp_path):
    fd = file_daemon(tmp_path, incoming="no")
    assert not any(isinstance(s, StreamServerEndpointService) for s in fd.intake)
    assert [type(s) for s in fd.intake] == [DirectorLink]


def test_a_file_daemon_that_also_accepts_directors_listens(tmp_path):
    fd = file_daemon(tmp_path, incoming="yes")
    assert sum(isinstance(s, StreamServerEndpointService) for s in fd.intake) == 1
    assert len(fd.director_links) == 1


def test_a_director_to_dial_without_address_is_a_configuration_warning(tmp_path):
    config = parse_config_text(
        f'Client {{ Name = fd1; Working Directory = "{tmp_path}" }}\n'
        "Director { Name = d; Password = p; Connection From Client To Director = yes }\n",
        FILEDAEMON)
    fd = FileDaemon(config, Clock())
    assert fd.director_links == []
    assert any("needs its Address" in warning for warning in config.warnings)
