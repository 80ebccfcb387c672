"""The verdict of a monitoring plugin (Nagios/Icinga convention) from the model's states.

Exit status and the word in the status line:

* 0 OK: every daemon answered ``status`` and no director lists a job that failed in the
  last 24 hours;
* 1 WARNING: every daemon answered, but a director lists failed jobs of the last 24 hours;
* 2 CRITICAL: a daemon could not be reached, refused the monitor's login, or did not give
  its status (the line names each);
* 3 UNKNOWN: the monitor could not check (bad configuration or arguments; see ``main``).

One line, then perfdata: daemons reachable (of all), running jobs (distinct jobs, though
each shows on its director, file daemon and storage daemon), failed jobs in the last 24 h.
"""

import dataclasses

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
WORDS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
PREFIX = "BAREOS"


@dataclasses.dataclass(frozen=True)
class Verdict:
    code: int
    line: str


def running_job_names(states) -> list[str]:
    """The distinct running jobs of all daemons, by unique Job name, in first-seen order."""
    return list(dict.fromkeys(job.name for state in states for job in state.running_jobs))


def failed_job_names(states) -> list[str]:
    return list(dict.fromkeys(job.name for state in states for job in state.failed_jobs))


def verdict(states) -> Verdict:
    states = list(states)
    down = [state for state in states if not state.reachable]
    running = running_job_names(states)
    failed = failed_job_names(states)
    reachable = len(states) - len(down)
    if down:
        code = CRITICAL
        summary = "; ".join(f"{s.target.label} unreachable ({s.reason or 'not polled'})"
                            for s in down)
    elif failed:
        code = WARNING
        summary = f"{_count(len(failed), 'job')} failed in the last 24 h: {', '.join(failed)}"
    else:
        code = OK
        summary = "all daemons reachable"
    details = (f"{reachable}/{len(states)} daemons reachable, {_count(len(running), 'job')} "
               f"running{': ' + ', '.join(running) if running else ''}, "
               f"{len(failed)} failed in the last 24 h")
    perfdata = (f"reachable={reachable};;{len(states)};0;{len(states)} running={len(running)};;;0 "
                f"failed_24h={len(failed)};1;;0")
    return Verdict(code, f"{PREFIX} {WORDS[code]} - {summary}; {details} | {perfdata}")


def unknown(reason: str) -> Verdict:
    return Verdict(UNKNOWN, f"{PREFIX} {WORDS[UNKNOWN]} - {reason}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
