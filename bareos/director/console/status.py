"""``status director``: one data structure, rendered as Bareos' text or as Bareos' JSON."""

import platform

import bareos
from bareos.catalog.api import JOB_LEVELS, JOB_TYPES
from bareos.daemon.service import format_datetime
from bareos.protocol.jobstatus import JobStatus

RULE = "=" * 100
CLIENT_CONNECTION_ROW = "{:<20}{:<20}{:<20}{:<40}"


def director_status(director):
    """Everything the report shows, as plain data."""
    running = director.running_jobs()
    return {
        "header": {
            "name": director.name,
            "version": bareos.VERSION,
            "date": bareos.VERSION_DATE,
            "os": f"{platform.system().lower()}",
            "started": format_datetime(director.started_at),
            "jobs_run": director.jobs_run,
            "jobs_running": len(running),
            "db": director.catalog_driver,
            "config_warnings": bool(director.config.warnings),
        },
        "scheduled": director.scheduled_jobs(),
        "running": running,
        "consoles": [format_datetime(c.connected_at) for c in director.consoles],
        "terminated": director.terminated_jobs(),
        "client-connection": [
            {"connecttime": format_datetime(c.connected_at),
             "protocol_version": c.protocol_version,
             "authenticated": 1,
             "name": c.name}
            for c in director.waiting_client_connections()],
    }


# How Bareos names a running job's state, in the text and the JSON report alike (a terminated
# job's end is JobStatus.ending).
_RUNNING_STATES = {
    JobStatus.RUNNING: "is running", JobStatus.CREATED: "is waiting execution",
    JobStatus.BLOCKED: "is blocked", JobStatus.WAIT_FD: "is waiting on Client",
    JobStatus.WAIT_SD: "is waiting on Storage",
    JobStatus.WAIT_STORE_RES: "is waiting on max Storage jobs",
    JobStatus.WAIT_CLIENT_RES: "is waiting on max Client jobs",
    JobStatus.WAIT_JOB_RES: "is waiting on max Job jobs",
    JobStatus.WAIT_MAX_JOBS: "is waiting on max total jobs",
    JobStatus.WAIT_START_TIME: "is waiting for its start time",
    JobStatus.WAIT_PRIORITY: "is waiting for higher priority jobs to finish",
    JobStatus.WAIT_MEDIA: "is waiting for an appendable Volume",
    JobStatus.WAIT_MOUNT: "is waiting for a mount request",
}


def running_state(status):
    return _RUNNING_STATES.get(status, "is " + JobStatus(status).text.lower())


def json_part(status, part):
    """A part of the report (header, scheduled, running, terminated, client-connection) with
    Bareos' JSON keys and words."""
    rows = status[part]
    if part == "header":
        return {"director": rows["name"], "version": rows["version"],
                "release_date": rows["date"], "os": rows["os"],
                "binary_info": "bareos-twisted", "daemon_started": rows["started"],
                "jobs_run": rows["jobs_run"], "jobs_running": rows["jobs_running"],
                "config_warnings": rows["config_warnings"]}
    if part == "scheduled":
        return [{"name": j["name"], "type": j["type"], "level": j["level"],
                 "priority": j["priority"], "scheduled": j["scheduled"],
                 "volume": j.get("volume", "")} for j in rows]
    if part == "running":
        return [{**_job_row(j), "status": running_state(j["status"])} for j in rows]
    if part == "terminated":
        return [{**_job_row(j), "status": JobStatus(j["status"]).ending,
                 "finished": j["finished"]} for j in rows]
    return rows


def _job_row(job):
    return {"jobid": job["jobid"], "name": job["name"], "level": JOB_LEVELS.get(job["level"], ""),
            "type": JOB_TYPES.get(job["type"], ""), "files": job["jobfiles"],
            "bytes": job["jobbytes"]}


def render_text(status):
    lines = header_lines(status["header"])
    lines += scheduled_lines(status["scheduled"])
    lines += ["", "Running Jobs:"]
    lines += [f"Console connected at {when}" for when in status["consoles"]]
    lines += running_lines(status["running"])
    lines += terminated_lines(status["terminated"])
    lines += ["", "Client Initiated Connections (waiting for jobs):",
              CLIENT_CONNECTION_ROW.format("Connect time", "Protocol", "Authenticated", "Name"),
              RULE]
    lines += [CLIENT_CONNECTION_ROW.format(c["connecttime"], c["protocol_version"],
                                           c["authenticated"], c["name"])
              for c in status["client-connection"]]
    lines.append("====")
    return "\n".join(lines) + "\n"


def header_lines(header):
    return [
        f"{header['name']} Version: {header['version']} ({header['date']}) {header['os']}",
        f"Daemon started {header['started']}. Jobs: run={header['jobs_run']}, "
        f"running={header['jobs_running']} db:{header['db']}, bareos-twisted binary",
        "",
    ]


def scheduled_lines(jobs):
    if not jobs:
        return ["No Scheduled Jobs.", "===="]
    rows = ["Scheduled Jobs:",
            "Level          Type     Pri  Scheduled          Job Name           Volume",
            "=" * 87]
    rows += [f"{j['level']:<14} {j['type']:<8} {j['priority']:>3}  {j['scheduled']:<18} "
             f"{j['name']:<18} {j.get('volume', '*unknown*')}" for j in jobs]
    return rows + ["===="]


def running_lines(jobs):
    if not jobs:
        return ["No Jobs running.", "===="]
    rows = [" JobId  Type Level     Files     Bytes  Name              Status",
            "=" * 70]
    rows += [f"{j['jobid']:>6}  {j['type']:<4} {j['level']:<5} {j['jobfiles']:>9} "
             f"{j['jobbytes']:>9}  {j['name']:<17} {running_state(j['status'])}" for j in jobs]
    return rows + ["===="]


def terminated_lines(jobs):
    if not jobs:
        return ["No Terminated Jobs.", "===="]
    rows = ["", "Terminated Jobs:",
            " JobId  Level      Files    Bytes   Status   Finished        Name ",
            "=" * 68]
    rows += [f"{j['jobid']:>6}  {j['level']:<5} {j['jobfiles']:>9} {j['jobbytes']:>9}   "
             f"{JobStatus(j['status']).ending:<8} {j['finished']:<15} {j['name']}" for j in jobs]
    return rows + ["===="]
