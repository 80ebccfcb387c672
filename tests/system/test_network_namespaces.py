"""The seed's network setups rebuilt with network namespaces (root only; CI runs them).

1. The NAT picture ("Using different IP Adresses for SD - FD Communication"): a LAN
   namespace with FD_LAN (10.0.0.10) and SD_LAN (10.0.0.20); a NAT namespace whose
   nftables DNAT forwards its outside addresses 203.0.113.10 / .20 to them and
   masquerades the LAN's outgoing connections; an outside namespace with the
   director (203.0.113.100), FD_WAN (.30) and SD_WAN (.40).  Backups and restores
   of every FD x SD pair, in active and passive mode, must succeed; the NAT's
   counters (one count per new connection) must show exactly the connections the
   Lan Address rule implies, and the job logs who dialled which address.
   A second storage daemon in the LAN, SD_LAN2 (10.0.0.21, outside .21), makes the
   picture's SD-to-SD column: copies read on one storage daemon and written on
   another, LAN to WAN, WAN to LAN and LAN to LAN, through Storage resources with
   and without a Lan Address.  The NAT forwards its outside addresses from either
   side (hairpin), counts the LAN's connections to the outside, and rejects (and
   counts) any connection from outside to a LAN address: the director never makes one.
2. A passive client that cannot open any connection: the file daemon's namespace
   rejects every outbound connection it initiates (nftables, ``ct state new`` in
   the output hook, with a counter).  Passive backup and restore (TLS-PSK on the
   SD -> FD connection) succeed and the counter stays 0; an active job, the
   negative control, fails and is counted.

Only documentation and private addresses are used, inside the namespaces; the
namespaces have no link to the host's network.  Without root (or where
namespaces cannot be made) the tests skip with the reason; with CI=true they fail.
"""

import collections
import os
import re
import sqlite3
import subprocess
from dataclasses import dataclass

import pytest

from bareos.config.writer import Quoted, Resource, resource_files
from bareos.testing.daemons import default_python
from bareos.testing.netns import NetworkLab, unavailable_reason
from bareos.testing.topology import Topology
from bareos.testing.trees import make_tree

from network_helpers import (
    COMBINATIONS, backup_and_restore, check_job_log, check_restored, expected_copy_dial,
    expected_through_nat)

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


#: The NAT's outside addresses and the counter of the LAN daemon each is forwarded to.
FORWARDED = {"203.0.113.10": "to_fd_lan", "203.0.113.20": "to_sd_lan", "203.0.113.21": "to_sd_lan2"}

NAT_RULES = """
table ip bt_nat {{
  counter to_fd_lan {{ }}
  counter to_sd_lan {{ }}
  counter to_sd_lan2 {{ }}
  counter lan_to_wan {{ }}
  counter outside_to_lan {{ }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 203.0.113.10 counter name "to_fd_lan" dnat to 10.0.0.10
    ip daddr 203.0.113.20 counter name "to_sd_lan" dnat to 10.0.0.20
    ip daddr 203.0.113.21 counter name "to_sd_lan2" dnat to 10.0.0.21
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{outside}" counter name "lan_to_wan" masquerade
    oifname "{inside}" ip saddr 10.0.0.0/24 masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname "{outside}" ct direction original ct original ip daddr 10.0.0.0/24 \\
      counter name "outside_to_lan" reject
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
        lab.address(lan, lan_if, "10.0.0.10/24", "10.0.0.20/24", "10.0.0.21/24")
        lab.route(lan, "default", "via", "10.0.0.1")
        lab.address(nat, nat_inside, "10.0.0.1/24")
        lab.address(nat, nat_outside, "203.0.113.1/24", "203.0.113.10/24", "203.0.113.20/24",
                    "203.0.113.21/24")
        lab.address(out, out_if, "203.0.113.100/24", "203.0.113.30/24", "203.0.113.40/24")
        # a dial from outside to a LAN address reaches the NAT, which counts and rejects it
        lab.route(out, "10.0.0.0/24", "via", "203.0.113.1")
        lab.forwarding(nat)
        # hairpin: no ICMP redirect may send a LAN daemon past the NAT to its neighbour
        for interface in ("all", nat_inside):
            lab.run(nat, "sysctl", "-q", "-w", f"net.ipv4.conf.{interface}.send_redirects=0")
        lab.nft(nat, NAT_RULES.format(outside=nat_outside, inside=nat_inside))

        topology = Topology(base, director_host="203.0.113.100", director_port=DIR_PORT,
                            director_netns=out, source=source)
        topology.add_fd("FD_LAN", "10.0.0.10", FD_PORT, address="203.0.113.10",
                        lan_address="10.0.0.10", netns=lan)
        topology.add_sd("SD_LAN", "10.0.0.20", SD_PORT, address="203.0.113.20",
                        lan_address="10.0.0.20", netns=lan)
        topology.add_fd("FD_WAN", "203.0.113.30", FD_PORT, netns=out)
        # SD Connect Timeout = 0: one attempt, so its copy to a LAN address is refused once
        topology.add_sd("SD_WAN", "203.0.113.40", SD_PORT, netns=out,
                        extra=["SD Connect Timeout = 0"])
        topology.add_sd("SD_LAN2", "10.0.0.21", SD_PORT, address="203.0.113.21",
                        lan_address="10.0.0.21", netns=lan)
        topology.lab, topology.nat_ns, topology.lan_ns, topology.next_jobid = lab, nat, lan, 1
        topology.start(extra_resources=copy_resources(topology))
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


def every_nat_count(topology):
    lab, ns = topology.lab, topology.nat_ns
    return {name: lab.counter(ns, "ip", "bt_nat", name)
            for name in (*FORWARDED.values(), "lan_to_wan", "outside_to_lan")}


@pytest.mark.parametrize("fd_name, sd_name, mode", COMBINATIONS,
                         ids=[f"{f}-{s}-{m}" for f, s, m in COMBINATIONS])
def test_nat_picture_in_namespaces(nat_topology, tmp_path, fd_name, sd_name, mode):
    topology = nat_topology
    before, outside_to_lan = nat_counts(topology), every_nat_count(topology)["outside_to_lan"]
    where = tmp_path / "restored"
    output = backup_and_restore(topology, fd_name, sd_name, mode, topology.next_jobid, where)
    topology.next_jobid += 2
    check_restored(topology.source, where)
    check_job_log(output, topology, fd_name, sd_name, mode)
    after = nat_counts(topology)
    to_fd, to_sd = expected_through_nat(topology, fd_name, sd_name, mode)
    assert (after[0] - before[0], after[1] - before[1]) == (len(to_fd), len(to_sd)), output
    assert every_nat_count(topology)["outside_to_lan"] == outside_to_lan  # no Lan Address dialled


# -- the SD-to-SD column: copies between two storage daemons across the NAT -------------------

@dataclass
class CopyCase:
    name: str
    reading: str          # the Storage resource the copy reads with (its pool's backup)
    writing: str          # the Next Pool's Storage resource
    succeeds: bool = True


#: Storage resources besides each daemon's own (SD_LAN and SD_LAN2 have a Lan Address,
#: SD_WAN has none): the LAN daemons without theirs, SD_WAN with one.
STORAGE_ALIASES = {"SD_LAN-nolan": ("SD_LAN", None), "SD_LAN2-nolan": ("SD_LAN2", None),
                   "SD_WAN-lan": ("SD_WAN", "203.0.113.40")}

COPY_CASES = [
    CopyCase("lan-to-wan", "SD_LAN", "SD_WAN"),
    CopyCase("lan-to-wan-no-lan", "SD_LAN-nolan", "SD_WAN"),
    CopyCase("lan-to-wan-both-lan", "SD_LAN", "SD_WAN-lan"),
    CopyCase("wan-to-lan", "SD_WAN", "SD_LAN"),
    CopyCase("wan-to-lan-no-lan", "SD_WAN", "SD_LAN-nolan"),
    # both with a Lan Address: SD_WAN is told SD_LAN's, which it cannot reach from outside
    CopyCase("wan-to-lan-both-lan", "SD_WAN-lan", "SD_LAN", succeeds=False),
    CopyCase("lan-to-lan", "SD_LAN", "SD_LAN2"),
    CopyCase("lan-to-lan-no-lan", "SD_LAN-nolan", "SD_LAN2-nolan"),     # hairpin at the NAT
    CopyCase("lan-to-lan-one-lan", "SD_LAN", "SD_LAN2-nolan"),
]


def daemon_of(topology, storage):
    """The storage daemon (Node) a Storage resource names."""
    return topology.sds.get(storage) or topology.storage_aliases[storage].sd


def copy_resources(topology):
    """The storage aliases, one source pool per daemon that is read, and per case a Copy
    job (Selection Type Job: the backup of its source pool) into a pool of its own."""
    for alias, (sd, lan_address) in STORAGE_ALIASES.items():
        topology.add_storage(alias, topology.sds[sd], lan_address=lan_address)
    pool = lambda name, storage=None: Resource("Pool", {  # noqa: E731
        "Name": name, "Pool Type": "Backup", "Label Format": Quoted(f"{name}-"), "Storage": storage})
    return resource_files(
        *(pool(f"Src-{sd}") for sd in ("SD_LAN", "SD_WAN")),
        *(pool(f"To-{case.name}", case.writing) for case in COPY_CASES),
        *(Resource("Job", {"Name": f"copy-{case.name}", "Type": "Copy",
                           "Pool": f"Src-{daemon_of(topology, case.reading).name}",
                           "Storage": case.reading,
                           "Next Pool": f"To-{case.name}", "Selection Type": "Job",
                           "Selection Pattern": Quoted("^backup$"), "Messages": "Standard"})
          for case in COPY_CASES))


def last_jobid(topology):
    with sqlite3.connect(topology.base / "work-dir" / "bareos.db") as db:
        return db.execute("SELECT MAX(JobId) FROM Job").fetchone()[0]


@pytest.fixture(scope="module")
def copy_sources(nat_picture):
    """One backup on SD_LAN and one on SD_WAN, in the pools the copies read."""
    topology = nat_picture
    for fd, sd in (("FD_LAN", "SD_LAN"), ("FD_WAN", "SD_WAN")):
        output = topology.console(f"run job=backup client={fd} storage={sd} pool=Src-{sd} "
                                  f"level=Full yes\nwait\nmessages\n")
        assert "Backup OK" in output, output
    topology.next_jobid = last_jobid(topology) + 1
    return topology


def nat_counter(topology, dialler_netns, address):
    """The NAT counter that the first packet of a connection from namespace ``dialler_netns``
    to ``address`` passes, or None when it does not pass the NAT."""
    if address in FORWARDED:                       # the NAT's outside address, from either side
        return FORWARDED[address]
    to_lan = address.startswith("10.0.0.")
    if dialler_netns == topology.lan_ns:
        return None if to_lan else "lan_to_wan"
    return "outside_to_lan" if to_lan else None


@pytest.mark.parametrize("case", COPY_CASES, ids=[case.name for case in COPY_CASES])
def test_copy_between_storage_daemons_across_the_nat(copy_sources, case):
    topology = copy_sources
    reading, writing = topology.storage(case.reading), topology.storage(case.writing)
    reading_sd = daemon_of(topology, case.reading)
    before = every_nat_count(topology)
    output = topology.console(f"run job=copy-{case.name} yes\nwait\nwait\nmessages\n")
    after = every_nat_count(topology)
    topology.next_jobid = last_jobid(topology) + 1

    dial = expected_copy_dial(reading, writing)
    target = f"{dial.address}:{dial.port}"
    assert (f"Storage daemon {case.reading} told to connect to Storage daemon {case.writing} "
            f"at {target} (its {dial.which})") in output, output
    # the director dials both storage daemons at their Address; the reading one dials the
    # writing one where the rule says
    expected = collections.Counter(nat_counter(topology, topology.director_netns, storage.address)
                                   for storage in (reading, writing))
    expected[nat_counter(topology, reading_sd.netns, dial.address)] += 1
    expected.pop(None, None)
    assert {name: after[name] - before[name] for name in after} == \
        {name: expected.get(name, 0) for name in after}, output
    if case.succeeds:
        assert f"Storage daemon connected to Storage daemon at {target} to copy" in output, output
        assert output.count("Copy OK") == 2, output        # the control job and the copy
    else:
        assert f"Failed to connect to Storage daemon: {target}" in output, output
        assert "*** Copy Error ***" in output, output


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
