"""The seed's network setups rebuilt with network namespaces (root only; CI runs them).

1. The NAT picture ("Using different IP Adresses for SD - FD Communication"): a LAN
   namespace with FD_LAN (10.0.0.10) and SD_LAN (10.0.0.20); a NAT namespace whose
   nftables DNAT forwards its outside addresses 203.0.113.10 / .20 to them and
   masquerades the LAN's outgoing connections; an outside namespace with the
   director (203.0.113.100), FD_WAN (.30) and SD_WAN (.40).  Backups and restores
   of every FD x SD pair, in active and passive mode, must succeed; the NAT's
   counters (one count per new connection) must show exactly the connections the
   Lan Address rule implies, and the job logs who dialled which address.
2. A passive client that cannot open any connection: the file daemon's namespace
   rejects every outbound connection it initiates (nftables, ``ct state new`` in
   the output hook, with a counter).  Passive backup and restore (TLS-PSK on the
   SD -> FD connection) succeed and the counter stays 0; an active job, the
   negative control, fails and is counted.

Only documentation and private addresses are used, inside the namespaces; the
namespaces have no link to the host's network.  Without root (or where
namespaces cannot be made) the tests skip with the reason; with CI=true they fail.
"""

import os
import re
import subprocess

import pytest

from bareos.testing.daemons import default_python
from bareos.testing.netns import NetworkLab, unavailable_reason
from bareos.testing.topology import Topology
from bareos.testing.trees import make_tree

from network_helpers import (
    COMBINATIONS, backup_and_restore, check_job_log, check_restored, expected_through_nat)

# every setup of both pictures, with real daemons in namespaces made as root: for CI
pytestmark = pytest.mark.slow

DIR_PORT, FD_PORT, SD_PORT = 9101, 9102, 9103


@pytest.fixture(scope="module")
def namespaces_usable():
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but network namespace tests cannot run: {reason}")
        pytest.skip(reason)


NAT_RULES = """
table ip bt_nat {{
  counter to_fd_lan {{ }}
  counter to_sd_lan {{ }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "{outside}" ip daddr 203.0.113.10 counter name "to_fd_lan" dnat to 10.0.0.10
    iifname "{outside}" ip daddr 203.0.113.20 counter name "to_sd_lan" dnat to 10.0.0.20
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{outside}" masquerade
  }}
}}
"""


@pytest.fixture(scope="module")
def nat_picture(namespaces_usable, tmp_path_factory):
    base = tmp_path_factory.mktemp("netns-nat")
    source = make_tree(base / "source", big_file_mib=1, small_files=5)
    lab = NetworkLab("nat")
    topology = None
    try:
        lan, nat, out = lab.namespace("lan"), lab.namespace("nat"), lab.namespace("out")
        lan_if, nat_inside = lab.link(lan, nat)
        nat_outside, out_if = lab.link(nat, out)
        lab.address(lan, lan_if, "10.0.0.10/24", "10.0.0.20/24")
        lab.route(lan, "default", "via", "10.0.0.1")
        lab.address(nat, nat_inside, "10.0.0.1/24")
        lab.address(nat, nat_outside, "203.0.113.1/24", "203.0.113.10/24", "203.0.113.20/24")
        lab.address(out, out_if, "203.0.113.100/24", "203.0.113.30/24", "203.0.113.40/24")
        lab.forwarding(nat)
        lab.nft(nat, NAT_RULES.format(outside=nat_outside))

        topology = Topology(base, director_host="203.0.113.100", director_port=DIR_PORT,
                            director_netns=out, source=source)
        topology.add_fd("FD_LAN", "10.0.0.10", FD_PORT, address="203.0.113.10",
                        lan_address="10.0.0.10", netns=lan)
        topology.add_sd("SD_LAN", "10.0.0.20", SD_PORT, address="203.0.113.20",
                        lan_address="10.0.0.20", netns=lan)
        topology.add_fd("FD_WAN", "203.0.113.30", FD_PORT, netns=out)
        topology.add_sd("SD_WAN", "203.0.113.40", SD_PORT, netns=out)
        topology.lab, topology.nat_ns, topology.next_jobid = lab, nat, 1
        topology.start()
        yield topology
    finally:
        if topology is not None:
            topology.stop()
        lab.close()


@pytest.fixture
def nat_topology(nat_picture, request):
    yield nat_picture
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("\n=== daemons of the failed test ===")
        print(nat_picture.describe())


def nat_counts(topology):
    lab, ns = topology.lab, topology.nat_ns
    return (lab.counter(ns, "ip", "bt_nat", "to_fd_lan"),
            lab.counter(ns, "ip", "bt_nat", "to_sd_lan"))


@pytest.mark.parametrize("fd_name, sd_name, mode", COMBINATIONS,
                         ids=[f"{f}-{s}-{m}" for f, s, m in COMBINATIONS])
def test_nat_picture_in_namespaces(nat_topology, tmp_path, fd_name, sd_name, mode):
    topology = nat_topology
    before = nat_counts(topology)
    where = tmp_path / "restored"
    output = backup_and_restore(topology, fd_name, sd_name, mode, topology.next_jobid, where)
    topology.next_jobid += 2
    check_restored(topology.source, where)
    check_job_log(output, topology, fd_name, sd_name, mode)
    after = nat_counts(topology)
    to_fd, to_sd = expected_through_nat(topology, fd_name, sd_name, mode)
    assert (after[0] - before[0], after[1] - before[1]) == (len(to_fd), len(to_sd)), output


FIREWALL = """
table inet bt_fw {
  counter outbound { }
  chain output {
    type filter hook output priority filter; policy accept;
    ct state new counter name "outbound" reject
  }
}
"""


@pytest.fixture
def firewalled_client(namespaces_usable, tmp_path):
    source = make_tree(tmp_path / "source", big_file_mib=1, small_files=5)
    lab = NetworkLab("fw")
    topology = None
    try:
        srv, fdns = lab.namespace("srv"), lab.namespace("fd")
        srv_if, fd_if = lab.link(srv, fdns)
        lab.address(srv, srv_if, "192.0.2.1/24")
        lab.address(fdns, fd_if, "192.0.2.2/24")
        lab.nft(fdns, FIREWALL)
        topology = Topology(tmp_path, director_host="192.0.2.1", director_port=DIR_PORT,
                            director_netns=srv, source=source)
        topology.add_fd("FD_FW", "192.0.2.2", FD_PORT, netns=fdns, tls=True,
                        extra=["SD Connect Timeout = 1", "Compatible = no"])
        topology.add_sd("SD_SRV", "192.0.2.1", SD_PORT, netns=srv, tls=True)
        topology.lab, topology.fd_ns = lab, fdns
        topology.start()
        yield topology
    finally:
        if topology is not None:
            topology.stop()
        lab.close()


def test_passive_client_opens_no_connection(firewalled_client, tmp_path, request):
    topology = firewalled_client
    lab, fdns = topology.lab, topology.fd_ns
    try:
        output = backup_and_restore(topology, "FD_FW", "SD_SRV", "passive", 1, tmp_path / "r")
        check_restored(topology.source, tmp_path / "r")
        connected = re.findall(r"Storage daemon connected to File daemon at 192\.0\.2\.2:9102 "
                               r"\(passive client, from 192\.0\.2\.1\), encryption: TLS-PSK",
                               output)
        assert len(connected) == 2, output
        assert output.count("Storage daemon connected from 192.0.2.1:") == 2, output  # FD's view
        fd_log = topology.fds["FD_FW"].process.log_text()
        assert fd_log.count("(passive client), encryption: TLS-PSK") == 2, fd_log
        # not one connection attempt left the file daemon's namespace
        assert lab.counter(fdns, "inet", "bt_fw", "outbound") == 0

        # the firewall does catch outbound connections: a probe, and an active job
        probe = subprocess.run(
            lab.prefix(fdns) + [default_python(), "-c",
                                "import socket; socket.create_connection(('192.0.2.1', 9103), 3)"],
            capture_output=True, text=True)
        assert probe.returncode != 0 and "ConnectionRefusedError" in probe.stderr, probe.stderr
        assert lab.counter(fdns, "inet", "bt_fw", "outbound") == 1
        active = topology.console("run job=backup client=FD_FW storage=SD_SRV level=Full yes\n"
                                  "wait jobid=3\nmessages\n")
        assert re.search(r"JobStatus=.*\(f\)", active), active
        assert "Failed to connect to Storage daemon: 192.0.2.1:9103" in active, active
        assert lab.counter(fdns, "inet", "bt_fw", "outbound") > 1
    except BaseException:
        print("\n=== daemons of the failed test ===")
        print(topology.describe())
        raise
