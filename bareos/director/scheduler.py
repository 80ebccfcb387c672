"""Starts the jobs whose Schedule says so.

Once a minute (on the minute, from an injected clock) every Job with a
Schedule is checked against its ``Run`` lines; a matching line starts the
job with the line's level and overrides.  ``upcoming`` feeds the
"Scheduled Jobs" list of ``status director``.
"""

import time
from datetime import datetime, timedelta

from twisted.application import service
from twisted.logger import Logger

from bareos.catalog.api import CatalogError
from bareos.config import ConfigError
from bareos.director.schedule import ScheduleError, parse_run, upcoming

log = Logger(namespace="bareos.director")


def parse_schedules(config):
    """``{schedule name: [RunSpec]}``; a bad Run line is a ConfigError naming its file and line."""
    schedules = {}
    for schedule in config.resources("schedule"):
        specs = []
        for text in schedule.run or []:
            try:
                specs.append(parse_run(text))
            except ScheduleError as exc:
                file, line = schedule.line_of("run")
                raise ConfigError(file, line, f"Schedule {schedule.name}: Run = {text}: {exc}") from None
        schedules[schedule.name] = specs
    return schedules


class Scheduler(service.Service):
    """A service of the director's intake: it stops first when the director stops."""

    name = "scheduler"

    def __init__(self, director, clock):
        self.director = director
        self.clock = clock
        self.schedules = parse_schedules(director.config)
        self._call = None

    def startService(self):
        super().startService()
        self._arm()

    def stopService(self):
        super().stopService()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _arm(self):
        now = self.clock.seconds()
        self._call = self.clock.callLater(60 - now % 60 + 0.5, self._tick)

    def _tick(self):
        minute = datetime.fromtimestamp(self.clock.seconds()).replace(second=0, microsecond=0)
        for job_resource, spec in self._runs():
            if spec.matches(minute):
                self.director.spawn(self._start(job_resource, spec),
                                    f"Scheduled start of job {job_resource.name}")
        self._arm()

    def _runs(self):
        """(job, RunSpec) of each job the scheduler starts: the job, its Schedule and its
        Client enabled (by the configuration or, until a reload, ``enable``/``disable``)."""
        config = self.director.config
        for job_resource in config.resources("job"):
            if not job_resource.schedule or job_resource.enabled is False:
                continue
            schedule = config.get("schedule", job_resource.schedule)
            client = config.get("client", job_resource.client) if job_resource.client else None
            if (schedule is not None and schedule.enabled is False) or \
                    (client is not None and client.enabled is False):
                continue
            for spec in self.schedules.get(job_resource.schedule, []):
                yield job_resource, spec

    async def _start(self, job_resource, spec):
        from bareos.director.jobs.manager import new_job
        config = self.director.config
        overrides = spec.overrides

        def resource(kind, key):
            return config.get(kind, overrides[key]) if key in overrides else None
        try:
            await self.director.catalog_ready()
            job = new_job(self.director, job_resource, level=spec.level,
                          pool=resource("pool", "Pool"), storage=resource("storage", "Storage"),
                          priority=overrides.get("Priority"),
                          options={"triggered_by": "Scheduler"})
            await self.director.jobs.submit(job)
        except CatalogError as exc:
            log.error("Scheduled start of job {name} failed: {problem}", name=job_resource.name,
                      problem=self.director.catalog_problem(exc))

    def upcoming(self, hours=24):
        """Rows for the "Scheduled Jobs" section: each Run line's next start within ``hours``."""
        now = datetime.fromtimestamp(self.clock.seconds())
        # Jobs sharing a Schedule share its RunSpecs: each spec's next start is computed once,
        # not once per job (10,000 jobs on one Schedule).
        next_starts = {}
        rows = []
        for job_resource, spec in self._runs():
            if id(spec) not in next_starts:
                next_starts[id(spec)] = upcoming([spec], now, now + timedelta(hours=hours), first_only=True)
            for when, _ in next_starts[id(spec)]:
                rows.append({
                    "level": spec.level or job_resource.level or "", "type": job_resource.job_type,
                    "priority": spec.overrides.get("Priority", job_resource.priority),
                    "scheduled": when.strftime("%d-%b-%y %H:%M"), "name": job_resource.name,
                    "sort": time.mktime(when.timetuple())})
        rows.sort(key=lambda row: row.pop("sort"))
        return rows
