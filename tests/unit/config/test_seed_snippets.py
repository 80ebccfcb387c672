"""The configuration examples of the seed document (spec/bareos-network-setup.txt)."""

from bareos.config import load_config, parse_config_text
from bareos.config.schemas import DIRECTOR, FILEDAEMON

DIRECTOR_TREE = {
    "director/bareos-dir.conf": "Director {\n  Name = bareos-dir\n  Password = dirpw\n}\n",
    "client/FD_LAN.conf": "Client {\n   Name = FD_LAN\n   Address = 8.8.8.10\n   LanAddress = 10.0.0.10\n"
                          "   Password = pw\n}\n",
    # The seed files its Storage examples under client/ too; any <type>/<name>.conf is read.
    "client/SD_LAN.conf": "Storage {\n   Name = SD_LAN\n   Address = 8.8.8.20\n   LanAddress = 10.0.0.20\n"
                          "   Password = pw\n   Device = FileStorage\n   Media Type = File\n}\n",
    "client/FD_WAN.conf": "Client {\n   Name = FD_WAN\n   Address = 8.8.8.30\n   Password = pw\n}\n",
    "client/SD_WAN.conf": "Storage {\n   Name = SD_WAN\n   Address = 8.8.8.40\n   Password = pw\n"
                          "   Device = FileStorage\n   Media Type = File\n}\n",
    "client/client1-fd.conf": 'Client {\n   Name = client1-fd\n   Address = client1\n'
                              '   Password = "secretpassword"\n   Passive = yes\n}\n',
}


def write_tree(root, files):
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_lan_address_topology(tmp_path):
    write_tree(tmp_path / "bareos-dir.d", DIRECTOR_TREE)
    cfg = load_config(tmp_path, DIRECTOR)
    fd_lan, sd_lan = cfg.get("client", "FD_LAN"), cfg.get("storage", "SD_LAN")
    assert (fd_lan.address, fd_lan.lan_address, fd_lan.port) == ("8.8.8.10", "10.0.0.10", 9102)
    assert (sd_lan.address, sd_lan.lan_address, sd_lan.port) == ("8.8.8.20", "10.0.0.20", 9103)
    fd_wan, sd_wan = cfg.get("client", "FD_WAN"), cfg.get("storage", "SD_WAN")
    assert fd_wan.lan_address is None and not fd_wan.is_set("lan_address")
    assert sd_wan.address == "8.8.8.40" and sd_wan.lan_address is None


def test_passive_client(tmp_path):
    write_tree(tmp_path / "bareos-dir.d", DIRECTOR_TREE)
    cfg = load_config(tmp_path, DIRECTOR)
    client = cfg.get("client", "client1-fd")
    assert client.passive is True
    assert client.password.clear == "secretpassword"
    assert cfg.get("client", "FD_LAN").passive is False


FD_CONF = """\
Director {
  Name = bareos-dir
  Password = "secretpassword"
}

Director {
  Name = bareos-dir-ci
  Password = "other"
  Address = bareos.example.com
  Connection From Client To Director = yes
}

Client {
   Name = client1-fd
   Compatible = no
   Messages = Standard
}

Messages {
  Name = Standard
  Director = bareos-dir = all, !skipped, !restored
  Append = "/var/log/bareos/bareos-fd.log" = all, !skipped, !restored
}
"""


def test_fd_compatible_director_and_client_initiated_connection():
    cfg = parse_config_text(FD_CONF, FILEDAEMON, filename="bareos-fd.conf")
    client = cfg.only("client")
    assert client.compatible is False and client.is_set("compatible")
    assert client.addresses == [("", 9102)]
    plain, initiating = cfg.resources("director")
    assert plain.connection_from_client_to_director is False
    assert plain.connection_from_director_to_client is True
    assert initiating.connection_from_client_to_director is True
    assert (initiating.address, initiating.port) == ("bareos.example.com", 9101)


def test_fd_messages_append_to_local_log():
    messages = parse_config_text(FD_CONF, FILEDAEMON).get("messages", "Standard")
    director, append = messages.destinations
    assert (director.kind, director.target) == ("director", "bareos-dir")
    assert (append.kind, append.target) == ("append", "/var/log/bareos/bareos-fd.log")
    assert append.types.wants("error") and not append.types.wants("skipped")
    assert not append.types.wants("restored")
