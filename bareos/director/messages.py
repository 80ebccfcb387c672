"""Job and daemon messages, delivered where the Messages resources say.

Destinations acted on: ``Console`` (queued for the ``messages`` command),
``Catalog`` (the Log table), ``Append`` and ``File`` (a local file), ``Stdout``
(the director's own log).  Each message has a Bareos type name (``info``,
``warning``, ``error``, ``fatal``, ``skipped``, ...), which the destinations
filter on.
"""

import time
from datetime import datetime

from twisted.logger import Logger

from bareos.catalog.api import CatalogError
from bareos.daemon.message_files import MessageFiles

log = Logger(namespace="bareos.director.messages")

# Message type numbers on the wire (``Jmsg Job=... type=<n>``).
TYPE_NAMES = {
    1: "abort", 2: "debug", 3: "fatal", 4: "error", 5: "warning", 6: "info", 7: "saved",
    8: "notsaved", 9: "skipped", 10: "mount", 11: "error", 12: "terminate", 13: "restored",
    14: "security", 15: "alert", 16: "volmgmt", 17: "audit",
}
TYPE_NUMBERS = {"fatal": 3, "error": 4, "warning": 5, "info": 6, "terminate": 12}


def message_time(timestamp=None):
    return time.strftime("%d-%b %H:%M", time.localtime(timestamp))


class MessageRouter:
    def __init__(self, director):
        self.director = director
        self.console_queue = []
        self.files = MessageFiles(director, "bareos-dir-message-files")   # Append / File
        self.files.setServiceParent(director)

    def job_message(self, job, type_name, text, origin=None, timestamp=None, catalog=None):
        """Deliver one job message; ``origin`` is the daemon that produced it.

        ``catalog`` takes a Catalog destination's messages when it is not the director's
        (at start, before the director takes its catalog into use).
        """
        text = text.rstrip("\n")
        line = f"{message_time(timestamp)} {origin or self.director.name} JobId {job.jobid}: {text}"
        job.log.append(line)
        resource = job.messages or self._default_resource()
        self._deliver(resource, type_name, line, job, catalog or self.director.catalog)

    def daemon_message(self, type_name, text):
        line = f"{message_time()} {self.director.name}: {text.rstrip()}"
        self._deliver(self._default_resource(), type_name, line, None, None)

    def take_console_messages(self):
        messages, self.console_queue = self.console_queue, []
        return messages

    def _default_resource(self):
        name = self.director.resource.messages
        return self.director.config.get("messages", name) if name else None

    def _deliver(self, resource, type_name, line, job, catalog):
        if resource is None:
            log.info("{line}", line=line)
            return
        for destination in resource.destinations:
            if not destination.types.wants(type_name):
                continue
            kind = destination.kind
            if kind == "console":
                self.console_queue.append(line)
            elif kind == "catalog" and job is not None and catalog is not None:
                # spawned: a stopping director closes its catalog only after these writes
                self.director.spawn(
                    catalog.add_log(job.jobid, datetime.now(), line).addErrback(self._not_stored),
                    f"Storing a message of JobId {job.jobid} in the catalog")
            elif kind in ("append", "file"):
                self.files.append(destination.target, line)
            elif kind == "stdout":
                log.info("{line}", line=line)

    @staticmethod
    def _not_stored(failure):
        if failure.check(CatalogError):
            log.warn("A job message was not stored in the catalog: {error}", error=failure.value)
        else:
            log.failure("Storing a job message failed", failure)
