"""What the end-to-end backup tests share: running jobs through bconsole, reading the catalog,
pacing the file daemon."""

import contextlib
import re

from bareos.testing.ports import free_port
from bareos.testing.quick_console import QuickDirector
from bareos.testing.topology import Topology
from bareos.testing.trees import make_tree

_JOBID = re.compile(r"Job queued\. JobId=(\d+)")
_STATUS = re.compile(r"JobStatus=.*\((\w)\)")

#: The password of "ops", a second Director resource of the file daemon (``start_fd(monitors=
#: [OPS_DIRECTOR])``) that the tests use to pace it.
OPS_PASSWORD = "ops-secret"
OPS_DIRECTOR = {"name": "ops", "password": OPS_PASSWORD, "monitor": False}


@contextlib.contextmanager
def small_site(base, host, extra_resources):
    """A started director, file daemon "FD" and storage daemon "SD" on ``host``, with a
    small source tree (a 1 MiB file, 5 small ones) and ``extra_resources``; stopped after."""
    source = make_tree(base / "source", big_file_mib=1, small_files=5)
    topology = Topology(base, director_host=host, director_port=free_port(host), source=source)
    topology.add_fd("FD", host, free_port(host))
    topology.add_sd("SD", host, free_port(host))
    try:
        topology.start(extra_resources=extra_resources)
        yield topology
    finally:
        topology.stop()


def run_job(suite, command):
    """Run a console command that queues a job, wait for it; return (jobid, status letter, output)."""
    output = suite.console(f"{command}\n")
    match = _JOBID.search(output)
    assert match, f"no job was queued by {command!r}:\n{output}"
    jobid = int(match.group(1))
    waited = suite.console(f"wait jobid={jobid}\nmessages\n")
    status = _STATUS.search(waited)
    assert status, waited
    return jobid, status.group(1), output + waited


def queue(suite, command):
    """Run a console command that queues a job; its JobId (the job is not waited for)."""
    output = suite.console(command + "\n")
    return int(output.split("Job queued. JobId=")[1].split()[0])


def job_status(suite, jobid):
    """The job's status letter, as ``llist jobid=`` shows it."""
    return re.search(r"^\s*jobstatus: (\S+)$", suite.console(f"llist jobid={jobid}\n"),
                     re.MULTILINE).group(1)


def set_fd_pace(suite, bytes_per_second, job=""):
    """``setbandwidth=`` in the file daemon, as "ops": for the job named ``job``, or (empty)
    for the jobs it starts from now on."""
    with QuickDirector(suite.fd_port, OPS_PASSWORD, "ops") as ops:
        reply = ops.command(f"setbandwidth={bytes_per_second} Job={job}")
    assert reply.startswith(b"2000 OK"), reply


def volume_bytes(suite):
    """The bytes of all volume files of the storage daemon."""
    return sum(path.stat().st_size for path in suite.storage_dir.iterdir() if path.is_file())
