"""What the end-to-end backup tests share: running jobs through bconsole, reading the catalog."""

import re

_JOBID = re.compile(r"Job queued\. JobId=(\d+)")
_STATUS = re.compile(r"JobStatus=.*\((\w)\)")


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
