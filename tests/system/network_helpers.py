"""What the network-setup tests share: the seed's NAT picture as a Topology, and one
backup + restore of a file daemon x storage daemon pair in active or passive mode.

The picture (seed "Using different IP Adresses for SD - FD Communication"): FD_LAN
and SD_LAN sit in a LAN behind a NAT; the director, FD_WAN and SD_WAN outside.
Every director resource's Address is where the director reaches the daemon (the
NAT's outside address for the LAN daemons); the LAN daemons also have a Lan
Address.  The Lan Address rule (PROTOCOL §5.5) then gives, for each pair and
mode, the address the dialling daemon is told; :func:`expected_dial` (and
:func:`expected_copy_dial` for two storage daemons) computes it independently of
the code under test.
"""

import re
from dataclasses import dataclass

from bareos.testing.trees import differences, snapshot

COMBINATIONS = [(fd, sd, mode) for fd in ("FD_LAN", "FD_WAN") for sd in ("SD_LAN", "SD_WAN")
                for mode in ("active", "passive")]

_QUEUED = re.compile(r"Job queued\. JobId=(\d+)")
_STATUS = re.compile(r"JobId=(\d+)\nJobStatus=.*\((\w)\)")


@dataclass
class Dial:
    dialer: str          # "FD" (active) or "SD" (passive)
    address: str
    port: int
    which: str           # "Lan Address" or "Address"


def expected_dial(fd, sd, mode):
    """The Lan Address rule, written out: who dials which address for this pair."""
    both_lan = bool(fd.lan_address) and bool(sd.lan_address)
    if mode == "active":
        return Dial("FD", sd.lan_address if both_lan else sd.address, sd.port,
                    "Lan Address" if both_lan else "Address")
    return Dial("SD", fd.lan_address if both_lan else fd.address, fd.port,
                "Lan Address" if both_lan else "Address")


def expected_copy_dial(reading, writing):
    """The Lan Address rule for a storage pair: the address of the writing storage the
    reading storage daemon dials for a copy."""
    both_lan = bool(reading.lan_address) and bool(writing.lan_address)
    return Dial("SD", writing.lan_address if both_lan else writing.address, writing.port,
                "Lan Address" if both_lan else "Address")


def client_name(fd_name, mode):
    return fd_name if mode == "active" else f"{fd_name}-passive"


def backup_and_restore(topology, fd_name, sd_name, mode, backup_jobid, where):
    """One console session: a Full backup of the pair, then its restore into *where*.

    JobIds are predicted (the director numbers jobs 1, 2, ...): ``backup_jobid`` and the
    next one.  Returns the console output (with the job logs from ``messages``).
    """
    client = client_name(fd_name, mode)
    restore_jobid = backup_jobid + 1
    output = topology.console(
        f"run job=backup client={client} storage={sd_name} level=Full yes\n"
        f"wait jobid={backup_jobid}\n"
        f"restore jobid={backup_jobid} client={client} storage={sd_name} all done yes "
        f"where={where}\n"
        f"wait jobid={restore_jobid}\n"
        "messages\n")
    assert [int(j) for j in _QUEUED.findall(output)] == [backup_jobid, restore_jobid], output
    statuses = dict((int(j), s) for j, s in _STATUS.findall(output))
    assert statuses == {backup_jobid: "T", restore_jobid: "T"}, output
    return output


def check_restored(source, where):
    restored = snapshot(str(where) + str(source))
    assert differences(snapshot(source), restored) == []


def check_job_log(output, topology, fd_name, sd_name, mode):
    """Both jobs' logs say which address the dialling daemon was told, and that it dialled it."""
    fd, sd = topology.fds[fd_name], topology.sds[sd_name]
    dial = expected_dial(fd, sd, mode)
    target = f"{dial.address}:{dial.port}"
    if dial.dialer == "FD":
        told = f"File daemon told to connect to Storage daemon at {target} (its {dial.which})"
        dialled = f"Connected Storage daemon at {target}, encryption:"
    else:
        told = (f"Storage daemon told to connect to File daemon at {target} "
                f"(its {dial.which}; passive client)")
        dialled = f"Storage daemon connected to File daemon at {target} (passive client"
    assert output.count(told) == 2, f"{told!r} not in both job logs:\n{output}"
    assert output.count(dialled) == 2, f"{dialled!r} not in both job logs:\n{output}"
    if mode == "passive":
        assert "File daemon told to connect" not in output, output
        assert "Connected Storage daemon at" not in output, output    # the FD never dialled
    else:
        assert "passive client" not in output, output
    return dial


def hello_kinds(greetings):
    """Classify the first packets of connections: director control, FD->SD, SD->FD data."""
    kinds = []
    for data in greetings:
        if b"Hello Director " in data:
            kinds.append("director")
        elif b"Hello Storage calling Start Job " in data:
            kinds.append("sd->fd")
        elif b"Hello Start Job " in data:
            kinds.append("fd->sd")
        else:
            kinds.append(f"other {data[:40]!r}")
    return sorted(kinds)


def expected_through_nat(topology, fd_name, sd_name, mode):
    """Connections that pass the NAT to each LAN daemon during one backup + restore.

    The director always dials Address (through the NAT for LAN daemons): one control
    connection per job and daemon.  The data channel passes the NAT only when the
    rule gave the dialler the other daemon's Address and that daemon is in the LAN.
    """
    fd, sd = topology.fds[fd_name], topology.sds[sd_name]
    dial = expected_dial(fd, sd, mode)
    to_fd, to_sd = [], []
    if fd.lan_address:
        to_fd += ["director"] * 2
        if dial.dialer == "SD" and dial.address == fd.address:
            to_fd += ["sd->fd"] * 2
    if sd.lan_address:
        to_sd += ["director"] * 2
        if dial.dialer == "FD" and dial.address == sd.address:
            to_sd += ["fd->sd"] * 2
    return sorted(to_fd), sorted(to_sd)
