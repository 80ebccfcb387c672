"""The seed's network setups with real daemons on loopback: passive clients, Lan Address, setip.

Loopback variant of the NAT picture (runs everywhere, no root): every daemon
listens on its own 127.x.y.z address; the two LAN daemons are reached by the
director through forwarding relays (bareos/testing/relay.py) that stand in for
the NAT's outside addresses.  For every file daemon x storage daemon pair, in
active and in passive mode, a backup and a restore must succeed, the job logs
must say which address the dialling daemon was told and that it dialled it, and
the relays must have seen exactly the connections the Lan Address rule implies
(their first packets, the hellos, tell control and data connections apart).
The same picture with network namespaces and nftables NAT is in
test_network_namespaces.py (root only).
"""

import re

import pytest

from bareos.testing.ports import free_port, free_port_on_all
from bareos.testing.relay import FaultyRelay
from bareos.testing.topology import Topology
from bareos.testing.trees import make_tree

from network_helpers import (
    COMBINATIONS, backup_and_restore, check_job_log, check_restored, client_name,
    expected_through_nat, hello_kinds)

DIRECTOR = "127.0.8.100"
OUTSIDE = {"FD_LAN": "127.0.8.10", "SD_LAN": "127.0.8.20", "FD_WAN": "127.0.8.30",
           "SD_WAN": "127.0.8.40"}
LAN = {"FD_LAN": "127.0.10.10", "SD_LAN": "127.0.10.20"}
WRONG_LAN = "127.0.10.99"          # nothing listens there


@pytest.fixture(scope="module")
def nat(tmp_path_factory):
    base = tmp_path_factory.mktemp("loopback-nat")
    source = make_tree(base / "source", big_file_mib=1, small_files=5)
    topology = Topology(base, director_host=DIRECTOR, director_port=free_port(DIRECTOR),
                        source=source)
    relays = {}
    for name in ("FD_LAN", "SD_LAN"):
        port = free_port_on_all(LAN[name], OUTSIDE[name])
        add = topology.add_fd if name.startswith("FD") else topology.add_sd
        extra = ["Compatible = no"] if name == "FD_LAN" else ["FD Connect Timeout = 2"]
        add(name, LAN[name], port, address=OUTSIDE[name], lan_address=LAN[name], extra=extra)
        relays[name] = FaultyRelay(port, target_host=LAN[name], listen_host=OUTSIDE[name],
                                   listen_port=port)
    topology.add_fd("FD_WAN", OUTSIDE["FD_WAN"], free_port(OUTSIDE["FD_WAN"]))
    topology.add_sd("SD_WAN", OUTSIDE["SD_WAN"], free_port(OUTSIDE["SD_WAN"]))
    # the LAN file daemon once more, with a Lan Address where nothing listens
    topology.add_client("FD_BADLAN-passive", topology.fds["FD_LAN"], lan_address=WRONG_LAN,
                        passive=True)
    topology.relays = relays
    topology.next_jobid = 1
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()
        for relay in relays.values():
            relay.stop()


@pytest.fixture
def topo(nat, request):
    """The module's topology; the daemons' log tails are printed when the test failed."""
    yield nat
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("\n=== daemons of the failed test ===")
        print(nat.describe())


def test_an_unreachable_passive_client_fails_the_job_and_the_next_job_runs(topo, tmp_path):
    nat = topo
    """SD_LAN is told the wrong Lan Address of the client; it gives up after its FD Connect
    Timeout; the job fails saying so; SD and director serve the next job."""
    port = nat.fds["FD_LAN"].port
    output = nat.console("run job=backup client=FD_BADLAN-passive storage=SD_LAN level=Full yes\n"
                         f"wait jobid={nat.next_jobid}\nmessages\n")
    nat.next_jobid += 1
    assert re.search(r"JobStatus=.*\(f\)", output), output
    assert (f"Storage daemon told to connect to File daemon at {WRONG_LAN}:{port} "
            f"(its Lan Address; passive client)") in output
    assert f"Failed to connect to File daemon: {WRONG_LAN}:{port} (Connection refused)" in output
    assert (f"Storage daemon SD_LAN could not connect to the passive File daemon "
            f"FD_BADLAN-passive at {WRONG_LAN}:{port}") in output
    assert f"3991 Bad passive client command: passive client address={WRONG_LAN} port={port} " \
           f"ssl=0" in output
    # both daemons are still up and take the next (passive) job
    assert nat.sds["SD_LAN"].process.running and nat.director.running
    output = backup_and_restore(nat, "FD_LAN", "SD_LAN", "passive", nat.next_jobid,
                                tmp_path / "after-failure")
    nat.next_jobid += 2
    check_restored(nat.source, tmp_path / "after-failure")


@pytest.mark.parametrize("fd_name, sd_name, mode", COMBINATIONS,
                         ids=[f"{f}-{s}-{m}" for f, s, m in COMBINATIONS])
def test_nat_picture_backup_and_restore(topo, tmp_path, fd_name, sd_name, mode):
    nat = topo
    relays = nat.relays
    seen = {name: len(relay.greetings) for name, relay in relays.items()}
    where = tmp_path / "restored"
    output = backup_and_restore(nat, fd_name, sd_name, mode, nat.next_jobid, where)
    nat.next_jobid += 2
    check_restored(nat.source, where)
    check_job_log(output, nat, fd_name, sd_name, mode)
    to_fd = hello_kinds(relays["FD_LAN"].greetings[seen["FD_LAN"]:])
    to_sd = hello_kinds(relays["SD_LAN"].greetings[seen["SD_LAN"]:])
    assert (to_fd, to_sd) == expected_through_nat(nat, fd_name, sd_name, mode), output
    assert len(re.findall(rf'  Client: +"{client_name(fd_name, mode)}"', output)) == 2, output


def test_setip_from_the_console_named_like_a_client(suite):
    """``setip``: the named console ``bareos-fd`` sets Client bareos-fd's Address to the
    address it connects from; others are refused with Bareos' texts."""
    suite.add_console("bareos-fd", full_access=False,
                      extra=("Command ACL = setip, show, status", "Client ACL = bareos-fd"))
    suite.add_console("lonely-fd", full_access=False, extra=("Command ACL = setip",))
    suite.add_console("operator")
    suite.start_fd()
    # the director's Client starts with an address where the file daemon is not
    client = (f'Client {{\n  Name = {suite.client_name}\n  Address = 127.0.0.99\n'
              f'  Port = {suite.fd_port}\n  Password = "{suite.fd_password}"\n'
              f'  TLS Enable = no\n  TLS Require = no\n}}\n')
    suite.start_director(extra_resources={f"client/{suite.client_name}.conf": client})

    output = suite.console("setip\nshow client=bareos-fd\nstatus client=bareos-fd\n",
                           console="bareos-fd")
    assert 'Client "bareos-fd" address set to 127.0.0.1' in output, output
    assert re.search(r"Address = \"127\.0\.0\.1\"", output), output
    assert "bareos-fd Version:" in output, output          # reached at the new address

    # consoles named like no client are refused, however privileged
    for console in ("lonely-fd", "operator", None):      # None: the default console
        refused = suite.console("setip\n", console=console)
        assert "No corresponding client found." in refused, refused
        assert "address set to" not in refused
    shown = suite.console("show client=bareos-fd\n", console="operator")
    assert re.search(r"Address = \"127\.0\.0\.1\"", shown), shown
