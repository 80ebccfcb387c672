"""The Lan Address rule (PROTOCOL.md §5.5) as a table: every combination, every mode.

Rows: {first daemon has a Lan Address or not} x {second daemon has one or not} x
{active client, passive client, SD-to-SD replication}.  "First" is the Client
(or, for replication, the reading Storage), "second" the Storage (the writing
Storage).  The answer is the address the *initiating* daemon is told: the
Lan Address of the daemon it dials when both have one, else that daemon's
Address.  The director itself always dials Address (not a function of the rule).
"""

from types import SimpleNamespace

import pytest

from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR
from bareos.network.addresses import (
    both_in_lan, client_address_for_storage, storage_address_for_client,
    storage_address_for_storage, which_address)


def daemon(address, lan_address):
    return SimpleNamespace(address=address, lan_address=lan_address)


FD = ("203.0.113.10", "10.0.0.10")         # (Address, Lan Address) of the client / reading SD
SD = ("203.0.113.20", "10.0.0.20")         # of the storage / writing SD

#        first LAN  second LAN  mode       dialer  told
TABLE = [
    (True,  True,  "active",  "FD", SD[1]),
    (True,  False, "active",  "FD", SD[0]),
    (False, True,  "active",  "FD", SD[0]),
    (False, False, "active",  "FD", SD[0]),
    (True,  True,  "passive", "SD", FD[1]),
    (True,  False, "passive", "SD", FD[0]),
    (False, True,  "passive", "SD", FD[0]),
    (False, False, "passive", "SD", FD[0]),
    (True,  True,  "sd-to-sd", "reading SD", SD[1]),
    (True,  False, "sd-to-sd", "reading SD", SD[0]),
    (False, True,  "sd-to-sd", "reading SD", SD[0]),
    (False, False, "sd-to-sd", "reading SD", SD[0]),
]


@pytest.mark.parametrize("first_lan, second_lan, mode, dialer, expected", TABLE)
def test_the_initiating_daemon_is_told_the_address_of_the_rule(first_lan, second_lan, mode, dialer,
                                                               expected):
    first = daemon(FD[0], FD[1] if first_lan else None)
    second = daemon(SD[0], SD[1] if second_lan else None)
    if mode == "active":            # the FD dials the SD
        told = storage_address_for_client(first, second)
    elif mode == "passive":         # the SD dials the FD
        told = client_address_for_storage(first, second)
    else:                           # the reading SD dials the writing SD
        reading = daemon(FD[0], FD[1] if first_lan else None)
        told = storage_address_for_storage(reading, second)
    assert told == expected
    assert both_in_lan(first, second) == (first_lan and second_lan)
    assert which_address(first, second) == ("Lan Address" if first_lan and second_lan
                                             else "Address")


def test_the_rule_reads_the_directors_configuration():
    """Lan Address parsed from Client and Storage resources (the seed's snippet, with
    documentation addresses instead of its public example addresses)."""
    config = parse_config_text("""
Director { Name = dir; Password = "x" }
Client { Name = FD_LAN; Address = 203.0.113.10; LanAddress = 10.0.0.10; Password = "p" }
Client { Name = FD_WAN; Address = 203.0.113.30; Password = "p" }
Storage { Name = SD_LAN; Address = 203.0.113.20; LanAddress = 10.0.0.20; Password = "p";
          Device = FileStorage; Media Type = File }
Storage { Name = SD_WAN; Address = 203.0.113.40; Password = "p"; Device = FileStorage;
          Media Type = File }
""", DIRECTOR)
    fd_lan, fd_wan = config.get("client", "FD_LAN"), config.get("client", "FD_WAN")
    sd_lan, sd_wan = config.get("storage", "SD_LAN"), config.get("storage", "SD_WAN")
    assert storage_address_for_client(fd_lan, sd_lan) == "10.0.0.20"
    assert client_address_for_storage(fd_lan, sd_lan) == "10.0.0.10"
    assert storage_address_for_client(fd_lan, sd_wan) == "203.0.113.40"
    assert client_address_for_storage(fd_wan, sd_lan) == "203.0.113.30"
    assert storage_address_for_storage(sd_lan, sd_wan) == "203.0.113.40"
    assert storage_address_for_storage(sd_wan, sd_lan) == "203.0.113.20"
    assert config.get("client", "FD_LAN").passive is False
