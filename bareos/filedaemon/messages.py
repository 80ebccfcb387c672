"""The file daemon's own messages, delivered where its Messages resource says.

The Messages resource is the one the Client resource names, else the first one
(as Bareos does).  Destinations acted on:

* ``Append`` / ``File``: a line ``<time> <fd>: <text>`` appended to the file, for
  daemon messages (e.g. "cannot reach director X") and job messages alike;
* ``Director = <name>``: job messages go to the director of the job on its own
  connection anyway; daemon messages have no connection to travel on, so they are
  kept (the newest ``QUEUED_PER_DIRECTOR``) and sent to that director as job
  messages of its next job on this client;
* ``Stdout`` / ``Stderr`` / ``Console``: the daemon's log.

Types follow Bareos' names (``error``, ``warning``, ``info``, ``skipped``,
``restored``, ...), so ``all, !skipped, !restored`` works as in the seed.
"""

import collections
import time

from twisted.logger import Logger

from bareos.daemon.message_files import MessageFiles
from bareos.filedaemon import jobs
from bareos.filedaemon.jobs import M_ERROR, M_FATAL

log = Logger(namespace="bareos.filedaemon.messages")
job_log = Logger(namespace="bareos.filedaemon")  # job messages, as they always were logged

QUEUED_PER_DIRECTOR = 50

# Message type numbers of ``Jmsg`` lines (lib/message.h).
TYPE_NAMES = {
    1: "abort", 2: "debug", 3: "fatal", 4: "error", 5: "warning", 6: "info", 7: "saved",
    8: "notsaved", 9: "skipped", 10: "mount", 11: "error", 12: "terminate", 13: "restored",
    14: "security", 15: "alert", 16: "volmgmt", 17: "audit",
}
TYPE_NUMBERS = {"fatal": 3, "error": 4, "warning": 5, "info": 6}


def message_time(timestamp=None):
    return time.strftime("%d-%b %H:%M", time.localtime(timestamp))


QueuedMessage = collections.namedtuple("QueuedMessage", "type_name text when")


class FileDaemonMessages:
    def __init__(self, daemon):
        self.daemon = daemon
        self._for_director = collections.defaultdict(
            lambda: collections.deque(maxlen=QUEUED_PER_DIRECTOR))
        self.files = MessageFiles(daemon, "bareos-fd-message-files")   # Append / File
        self.files.setServiceParent(daemon)

    def resource(self):
        config = self.daemon.config
        name = getattr(self.daemon.resource, "messages", None)
        if name:
            return config.get("messages", name)
        resources = config.resources("messages")
        return resources[0] if resources else None

    # -- producing ---------------------------------------------------------------------
    def daemon_message(self, type_name, text):
        """A message of the daemon itself (no job): connection problems, mostly."""
        text = text.rstrip("\n")
        when = self.daemon.reactor.seconds()
        line = f"{message_time(when)} {self.daemon.name}: {text}"
        for destination in self._destinations(type_name):
            if destination.kind == "director":
                self._for_director[destination.target].append(QueuedMessage(type_name, text, when))
            else:
                self._deliver_locally(destination, line)

    def job_message(self, type_number, job_id, text):
        """A job message the director is also sent: the local destinations get it too."""
        type_name = TYPE_NAMES.get(type_number, "info")
        line = f"{message_time()} {self.daemon.name} JobId {job_id}: {text.rstrip()}"
        for destination in self._destinations(type_name):
            if destination.kind != "director":
                self._deliver_locally(destination, line)

    # -- consuming ----------------------------------------------------------------------
    def take_for_director(self, director_name):
        """Daemon messages kept for ``director_name``, oldest first (and forgotten here)."""
        queued = self._for_director.pop(director_name, None)
        return list(queued) if queued else []

    # -- plumbing -----------------------------------------------------------------------
    def _destinations(self, type_name):
        resource = self.resource()
        if resource is None:
            return []
        return [d for d in resource.destinations if d.types.wants(type_name)]

    def _deliver_locally(self, destination, line):
        if destination.kind in ("append", "file"):
            self.files.append(destination.target, line)
        elif destination.kind in ("stdout", "stderr", "console"):
            log.info("{line}", line=line)


# -- job messages to the director --------------------------------------------------------
def send_jmsg(session, job, msg_type, text, count=True):
    """A job message to the director on the job's own connection (lib/message.cc).

    ``count``: let the message count as Bareos' Jmsg does (errors, fatal status);
    False for problems the walk has counted already."""
    if count:
        job.note_message(msg_type)
    conn = session.conn
    daemon = session.daemon
    if job.job_id:
        line = jobs.jmsg_line(job.job, msg_type, text, daemon.name, job.job_id,
                              daemon.reactor.seconds())
    else:  # no JobId: Bareos sends the bare text
        line = text.encode("utf-8", "surrogateescape")
    log_method = job_log.error if msg_type in (M_FATAL, M_ERROR) else job_log.info
    log_method("{fd} {job}: {text}", fd=daemon.name, job=job.job, text=text.rstrip("\n"))
    messages = getattr(daemon, "messages", None)
    if messages is not None:              # the local destinations (Append = ...) of Messages
        messages.job_message(msg_type, job.job_id, text)
    if conn.is_open:
        conn.send(line)


def jmsg_from_thread(session, job, msg_type, text, count=True):
    """Thread-safe ``send_jmsg``."""
    session.daemon.reactor.callFromThread(send_jmsg, session, job, msg_type, text, count)
