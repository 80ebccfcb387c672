"""The configuration schemas: DIRECTOR, FILEDAEMON, STORAGEDAEMON, CONSOLE, TRAYMONITOR.

Directive names are Bareos' canonical spellings; Bareos' alternative spellings
are aliases. The one deliberate difference: a daemon's own listening resource
names its address directives ``Address``/``Port``/``Addresses``/``Source Address``
with Bareos' ``DirPort``, ``FdAddress``, ``SdAddresses``, ... as aliases, so that
every resource reads the same way (``res.address``, ``res.port``). Directives
built with ``_later`` are accepted for compatibility, warned about, and ignored.
"""

from dataclasses import replace
from functools import partial
from typing import Any

from .model import Resource
from .schema import AT_LEAST_ONE, EXACTLY_ONE, DaemonSchema, Directive, ResourceSchema, SectionSchema
from .types import (
    ACL_LIST, ADDRESS, ADDRESSES, BOOLEAN, DURATION, INTEGER, NAME, PASSWORD, PORT, POSITIVE,
    RAW_LIST, SIZE, STRING_LIST, STRING_VALUE, Block, DestinationType, DirectiveType, Enum,
    Integer, Ref, RefList,
)

DIR_PORT, FD_PORT, SD_PORT = 9101, 9102, 9103
PERCENT = Integer(0, 100, "a percentage from 0 to 100")

_ = Directive
_later = partial(Directive, acted_on=False)


def _required(name: str, kind: DirectiveType, **options: Any) -> Directive:
    return Directive(name, kind, required=True, **options)


def _later_all(kind: DirectiveType, *names: str) -> tuple[Directive, ...]:
    return tuple(_later(name, kind) for name in names)


IDENTITY = (_required("Name", NAME), _("Description", STRING_VALUE))

TLS = (
    _("TLS Enable", BOOLEAN, True),
    _("TLS Require", BOOLEAN, True),
    _("TLS Verify Peer", BOOLEAN, False),
    _later("TLS Authenticate", BOOLEAN, False),
    _("TLS CA Certificate File", STRING_VALUE),
    _("TLS CA Certificate Dir", STRING_VALUE),
    _("TLS Certificate", STRING_VALUE),
    _("TLS Key", STRING_VALUE),
    _("TLS Allowed CN", STRING_LIST),
    _("TLS Cipher List", STRING_VALUE),
    _("TLS Cipher Suites", STRING_VALUE),
    _("TLS Protocol", STRING_VALUE),
    _later("TLS DH File", STRING_VALUE),
    _("TLS Certificate Revocation List", STRING_VALUE),
    # Project extension (not Bareos): "no" leaves TLS-PSK out, so that only certificates
    # protect the connection (bareos/network/tls.py).
    _("TLS PSK Enable", BOOLEAN, True),
)

# Resources whose TLS is TLS-PSK only or whose peer's listener decides the certificates
# (a director's Consoles, a storage daemon's Directors): their
# TLS Enable and TLS Require are acted on, the certificate directives warned about.
TLS_POLICY_ONLY = tuple(
    directive if directive.name in ("TLS Enable", "TLS Require") else replace(directive, acted_on=False)
    for directive in TLS)

DAEMON_PATHS = (
    _("Working Directory", STRING_VALUE),
    _later("Pid Directory", STRING_VALUE),
    _later("Plugin Directory", STRING_VALUE),
    _later("Plugin Names", STRING_LIST),
    _later("Scripts Directory", STRING_VALUE),
    _later("Secure Erase Command", STRING_VALUE),
    _later("Log Timestamp Format", STRING_VALUE),
    _later("Absolute Job Timeout", DURATION),
)


def _listening(port: int, prefix: str) -> tuple[Directive, ...]:
    """Where a daemon listens; ``prefix`` is Bareos' spelling (Dir, Fd, Sd)."""
    return (
        _("Address", ADDRESS, aliases=(f"{prefix}Address",)),
        _("Port", PORT, port, aliases=(f"{prefix}Port",)),
        _("Addresses", ADDRESSES, aliases=(f"{prefix}Addresses",)),
        _later("Source Address", ADDRESS, aliases=(f"{prefix}SourceAddress",)),
    )


def _admission(max_connections: int) -> tuple[Directive, ...]:
    """Which accepted connections a daemon serves (``bareos.protocol.admission``).

    ``Maximum Connections`` is Bareos': how many connections are handled at once (Bareos
    raises it to fit its other limits; so does ``Daemon.admission_limits``); connections over it
    wait, up to ``Maximum Waiting Connections``; while that queue is full the daemon accepts
    nothing, and new connections wait in the kernel's ``Listen Backlog`` (Bareos: 50; the
    kernel caps it at ``net.core.somaxconn``).  The others are
    project extensions (not Bareos) against password guessing and floods of connections that
    never log in.
    """
    return (
        _("Maximum Connections", POSITIVE, max_connections),
        _("Maximum Waiting Connections", POSITIVE, 1000),
        _("Listen Backlog", POSITIVE, 1024),
        _("Maximum Unauthenticated Connections", POSITIVE, 64),
        _("Maximum Unauthenticated Connections Per Address", POSITIVE, 10),
        _("Maximum Failed Logins Per Address", POSITIVE, 10),
        _("Failed Login Window", DURATION, 60),
    )


def _listen_addresses(resource: Resource) -> dict[str, Any]:
    """Derived ``addresses``: (host, port) pairs to listen on; host "" = all interfaces."""
    if resource.is_set("addresses"):
        return {"addresses": [(host, port or resource.port) for host, port in resource.addresses]}
    return {"addresses": [(resource.address or "", resource.port)]}


def _peer(port: int, prefix: str, *, address_required: bool = True) -> tuple[Directive, ...]:
    """How to reach another daemon (Client or Storage in the director, Director elsewhere)."""
    return (_("Address", ADDRESS, required=address_required, aliases=(f"{prefix}Address",)),
            _("Port", PORT, port, aliases=(f"{prefix}Port",)))


CONNECTION_DIRECTIONS = (
    _("Connection From Client To Director", BOOLEAN, False),
    _("Connection From Director To Client", BOOLEAN, True),
)

# --- Messages (all four daemons) -------------------------------------------

_DESTINATIONS = (
    # (directive, target: "required" / "optional" / "none", acted on)
    ("Append", "required", True),
    ("File", "required", True),
    ("Director", "required", True),
    ("Console", "none", True),
    ("Catalog", "none", True),
    ("Stdout", "none", True),
    ("Stderr", "none", True),
    ("Syslog", "optional", False),
    ("Mail", "required", False),
    ("Mail On Error", "required", False),
    ("Mail On Success", "required", False),
    ("Operator", "required", False),
)


def _collect_destinations(resource: Resource) -> dict[str, Any]:
    return {"destinations": [destination
                             for name, value in resource.items()
                             if (directive := MESSAGES.directive(name)) is not None
                             and isinstance(directive.type, DestinationType)
                             for destination in value]}


MESSAGES = ResourceSchema("Messages", IDENTITY + (
    _later("Mail Command", STRING_VALUE),
    _later("Operator Command", STRING_VALUE),
    _later("Timestamp Format", STRING_VALUE),
) + tuple(_(name, DestinationType(name.lower(), target), acted_on=acted)
          for name, target, acted in _DESTINATIONS), finalize=_collect_destinations)

# --- Director ---------------------------------------------------------------

DIR_DIRECTOR = ResourceSchema("Director", IDENTITY + DAEMON_PATHS + _listening(DIR_PORT, "Dir") + _admission(30) + (
    _required("Password", PASSWORD),
    _("Messages", Ref("Messages")),
    _("Query File", STRING_VALUE),
    _("Maximum Concurrent Jobs", POSITIVE, 1),
    _("Maximum Console Connections", POSITIVE, 20),
    _("FD Connect Timeout", DURATION, 180),
    _("SD Connect Timeout", DURATION, 1800),
    _("Heartbeat Interval", DURATION, 0),
    _later("Statistics Retention", DURATION),
    _later("Statistics Collect Interval", DURATION),
    _later("Auditing", BOOLEAN, False),
    _later("Audit Events", STRING_LIST),
    _("Subscriptions", INTEGER, 0),
    _later("Optimize For Size", BOOLEAN),
    _later("Optimize For Speed", BOOLEAN),
    _later("Omit Defaults", BOOLEAN),
    _later("Key Encryption Key", PASSWORD),
    _later("NDMP Snooping", BOOLEAN),
    _later("NDMP Log Level", INTEGER),
    _later("Maximum Reload Requests", INTEGER),
    _later("Backend Directory", STRING_LIST),
) + TLS, count=EXACTLY_ONE, finalize=_listen_addresses)

# Directives of a Client or Storage in the director that we do not act on.
_REMOTE_LATER = (
    _later("Protocol", Enum("Native", "NDMPv2", "NDMPv3", "NDMPv4")),
    _later("Auth Type", Enum("None", "Clear", "MD5")),
    _later("Username", STRING_VALUE),
    _later("Maximum Bandwidth Per Job", SIZE),
)

DIR_CLIENT = ResourceSchema("Client", IDENTITY + _peer(FD_PORT, "Fd") + CONNECTION_DIRECTIONS + (
    _("Lan Address", ADDRESS),
    _required("Password", PASSWORD),
    _("Passive", BOOLEAN, False),
    _("Heartbeat Interval", DURATION, 0),
    _("Maximum Concurrent Jobs", POSITIVE, 1),
    _("Enabled", BOOLEAN, True),
    _later("Catalog", Ref("Catalog")),
    _("File Retention", DURATION, 60 * 86400),
    _("Job Retention", DURATION, 180 * 86400),
    _("Auto Prune", BOOLEAN, False),
    _later("Hard Quota", SIZE),
    _later("Soft Quota", SIZE),
    _later("Soft Quota Grace Period", DURATION),
    _later("Strict Quotas", BOOLEAN),
    _later("Quota Include Failed Jobs", BOOLEAN),
    _later("NDMP Log Level", INTEGER),
    _later("NDMP Block Size", SIZE),
    _later("NDMP Use LMDB", BOOLEAN),
) + _REMOTE_LATER + TLS)

DIR_STORAGE = ResourceSchema("Storage", IDENTITY + _peer(SD_PORT, "Sd") + (
    _("Lan Address", ADDRESS),
    _required("Password", PASSWORD),
    _required("Device", STRING_LIST),
    _required("Media Type", STRING_VALUE),
    _("Maximum Concurrent Jobs", POSITIVE, 1),
    _("Heartbeat Interval", DURATION, 0),
    _("Enabled", BOOLEAN, True),
    _later("Allow Compression", BOOLEAN, True),
    _later("Auto Changer", BOOLEAN, False),
    _later("Maximum Concurrent Read Jobs", INTEGER),
    _later("Paired Storage", Ref("Storage")),
    _later("Collect Statistics", BOOLEAN),
    _later("Cache Status Interval", DURATION),
) + _REMOTE_LATER + TLS)

_ACLS = tuple(_(f"{kind} ACL", ACL_LIST) for kind in (
    "Job", "Client", "Storage", "Schedule", "Pool", "Command", "FileSet", "Catalog", "Where",
    "Plugin Options"))

DIR_CONSOLE = ResourceSchema("Console", IDENTITY + _ACLS + (
    _required("Password", PASSWORD),
    _("Profile", RefList("Profile")),
    _later("Use Pam Authentication", BOOLEAN, False),
) + TLS_POLICY_ONLY)

PROFILE = ResourceSchema("Profile", IDENTITY + _ACLS)

# A User gives the ACLs of a console user who logs in through PAM; we have no PAM logins.
USER = ResourceSchema("User", IDENTITY + _ACLS + (_("Profile", RefList("Profile")),),
                      not_acted_on="a User only serves PAM logins, which are not supported")

# A Counter is a variable for ``${...}`` expansion (e.g. in Label Format), which we do not do.
COUNTER = ResourceSchema("Counter", IDENTITY + (
    _("Minimum", INTEGER, 0),
    _("Maximum", POSITIVE, 2147483647),
    _("Wrap Counter", Ref("Counter")),
    _("Catalog", Ref("Catalog")),
), not_acted_on="counters are only read by variable expansion, which is not supported")

RUN_SCRIPT = SectionSchema("Run Script", (
    _("Command", STRING_LIST),
    _("Console", STRING_LIST),
    _("Runs When", Enum("Before", "After", "AfterVSS", "Always", "Never")),
    _("Runs On Client", BOOLEAN, True),
    _("Runs On Success", BOOLEAN, True),
    _("Runs On Failure", BOOLEAN, False),
    _("Fail Job On Error", BOOLEAN, True),
))

#: Bareos' Selection Types of Copy and Migrate jobs.
SELECTION_TYPES = ("SmallestVolume", "OldestVolume", "PoolOccupancy", "PoolTime",
                   "PoolUncopiedJobs", "Client", "Volume", "Job", "SQLQuery")

_JOB_DIRECTIVES = IDENTITY + (
    _required("Type", Enum("Backup", "Restore", "Verify", "Admin", "Migrate", "Copy", "Consolidate"),
              attribute="job_type"),  # "type" is the resource type of every resource
    _("Level", Enum("Full", "Incremental", "Differential", "VirtualFull", "Base", "InitCatalog",
                    "Catalog", "VolumeToCatalog", "DiskToCatalog")),
    _("Client", Ref("Client")),
    _("FileSet", Ref("FileSet")),
    _("Storage", RefList("Storage")),
    _required("Pool", Ref("Pool")),
    _("Full Backup Pool", Ref("Pool")),
    _("Incremental Backup Pool", Ref("Pool")),
    _("Differential Backup Pool", Ref("Pool")),
    _("Schedule", Ref("Schedule")),
    _required("Messages", Ref("Messages")),
    _("JobDefs", Ref("JobDefs")),
    _("Verify Job", Ref("Job")),
    _("Where", STRING_VALUE),
    _("Replace", Enum("Always", "IfNewer", "IfOlder", "Never"), "Always"),
    _("Priority", POSITIVE, 10),
    _("Maximum Concurrent Jobs", POSITIVE, 1),
    _("Write Bootstrap", STRING_VALUE),
    _("Run On Incoming Connect Interval", DURATION, 0),
    _("Accurate", BOOLEAN, False),
    _("Enabled", BOOLEAN, True),
    _later("Run Script", Block(RUN_SCRIPT)),
    _("Next Pool", Ref("Pool")),
    _("Selection Type", Enum(*SELECTION_TYPES)),
    _("Selection Pattern", STRING_VALUE),
    _("Purge Migration Job", BOOLEAN, False),
    # how many copy/migrate jobs one run spawns (Bareos' name; Bacula's is the alias)
    _("Max Concurrent Copies", INTEGER, 100, aliases=("Maximum Spawned Jobs",)),
    _later("Virtual Full Backup Pool", Ref("Pool")),
    _later("Catalog", Ref("Catalog")),
    _later("Bootstrap", STRING_VALUE),
    _later("Max Run Time", DURATION),
    _later("Max Wait Time", DURATION),
    _later("Max Start Delay", DURATION),
    _later("Max Full Interval", DURATION),
    _later("Maximum Bandwidth", SIZE),
    _later("Spool Size", SIZE),
    _later("Reschedule Interval", DURATION),
    _later("Reschedule Times", INTEGER),
    _later("Protocol", STRING_VALUE),
    _later("Backup Format", STRING_VALUE),
) + _later_all(STRING_LIST, "Run Before Job", "Run After Job", "Run After Failed Job",
               "Client Run Before Job", "Client Run After Job", "Plugin Options") \
  + _later_all(STRING_VALUE, "Add Prefix", "Add Suffix", "Strip Prefix", "Regex Where") \
  + _later_all(BOOLEAN, "Spool Data", "Spool Attributes", "Prefer Mounted Volumes", "Prune Jobs",
               "Prune Files", "Prune Volumes", "Reschedule On Error", "Allow Duplicate Jobs",
               "Cancel Lower Level Duplicates", "Cancel Queued Duplicates", "Cancel Running Duplicates",
               "Prefix Links", "Rerun Failed Levels", "Allow Mixed Priority", "Save File History",
               "Always Incremental")

JOB = ResourceSchema("Job", _JOB_DIRECTIVES, inherit_via="jobdefs")
# JobDefs carries the same directives, but only its name is required.
JOBDEFS = ResourceSchema("JobDefs", IDENTITY + tuple(
    replace(directive, required=False) for directive in _JOB_DIRECTIVES[len(IDENTITY):]
), inherit_via="jobdefs")

OPTIONS = SectionSchema("Options", (
    _("Signature", Enum("MD5", "SHA1", "SHA256", "SHA512", "XXH128")),
    _("Compression", Enum("GZIP", *(f"GZIP{level}" for level in range(1, 10)),
                          "LZO", "LZFAST", "LZ4", "LZ4HC")),
    _("Exclude", BOOLEAN, False),
    _("One FS", BOOLEAN, True),
    _("Sparse", BOOLEAN, False),
    _("No Atime", BOOLEAN, False),
    _("Mtime Only", BOOLEAN, False),
    _("Recurse", BOOLEAN, True),
) + tuple(_(name, STRING_LIST) for name in (
    "Wild", "Wild Dir", "Wild File", "Regex", "Regex Dir", "Regex File",
)) + _later_all(BOOLEAN, "Portable", "ACL Support", "XAttr Support", "Honor No Dump Flag", "Ignore Case",
                "HFS Plus Support", "Read Fifo", "Keep Atime", "Hard Links", "Auto Exclude",
                "Check File Changes", "Encryption")
  + _later_all(STRING_LIST, "FS Type", "Drive Type", "Meta")
  + (_("Verify", STRING_VALUE),)
  + _later_all(STRING_VALUE, "Accurate", "Base Job", "Size", "Shadowing", "Strip Path"))

INCLUDE = SectionSchema("Include", (
    _("File", STRING_LIST),
    _("Exclude Dir Containing", STRING_LIST),
    _("Options", Block(OPTIONS)),
    _later("Plugin", STRING_LIST),
))

EXCLUDE = SectionSchema("Exclude", (_("File", STRING_LIST),))

FILESET = ResourceSchema("FileSet", IDENTITY + (
    _("Include", Block(INCLUDE)),
    _("Exclude", Block(EXCLUDE)),
    _("Ignore FileSet Changes", BOOLEAN, False),
    _later("Enable VSS", BOOLEAN, True),
))

SCHEDULE = ResourceSchema("Schedule", IDENTITY + (
    _("Run", RAW_LIST),  # kept as written; the scheduler parses "Level=Full sun at 2:05"
    _("Enabled", BOOLEAN, True),
))

POOL = ResourceSchema("Pool", IDENTITY + (
    _("Pool Type", Enum("Backup", "Archive", "Cloned", "Migration", "Copy", "Save", "Scratch"), "Backup"),
    _("Label Format", STRING_VALUE),
    _("Maximum Volume Bytes", SIZE),
    _("Volume Use Duration", DURATION),
    _("Maximum Volume Jobs", INTEGER),
    _("Maximum Volumes", INTEGER),
    _("Volume Retention", DURATION, 365 * 86400),
    _("Auto Prune", BOOLEAN, True),
    _("Recycle", BOOLEAN, True),
    _("Storage", RefList("Storage")),
    _later("Catalog", Ref("Catalog")),
    _("Recycle Pool", Ref("Pool")),
    _("Scratch Pool", Ref("Pool")),
    _("Next Pool", Ref("Pool")),
    _("Maximum Volume Files", INTEGER),
    _("File Retention", DURATION),
    _("Job Retention", DURATION),
    _later("Label Type", STRING_VALUE),
    _("Action On Purge", Enum("None", "Truncate"), "None"),
    _later("Cleaning Prefix", STRING_VALUE),
    _later("Maximum Block Size", SIZE),
    _later("Minimum Block Size", SIZE),
    _("Migration Time", DURATION),
    _("Migration High Bytes", SIZE),
    _("Migration Low Bytes", SIZE),
    _("Recycle Oldest Volume", BOOLEAN, False),
    _("Purge Oldest Volume", BOOLEAN, False),
    _("Recycle Current Volume", BOOLEAN, False),
) + _later_all(BOOLEAN, "Use Catalog"))

CATALOG = ResourceSchema("Catalog", IDENTITY + (
    # Bareos defaults to postgresql; our default when omitted is the embedded sqlite3.
    _("DB Driver", Enum("sqlite3", "postgresql"), "sqlite3"),
    _required("DB Name", STRING_VALUE),
    _("DB User", STRING_VALUE, aliases=("User",)),
    _("DB Password", STRING_VALUE, aliases=("Password",)),
    _("DB Address", ADDRESS, aliases=("Address",)),
    _("DB Port", PORT, aliases=("Port",)),
    _("DB Socket", STRING_VALUE),
) + _later_all(BOOLEAN, "Disable Batch Insert", "Reconnect", "Exit On Fatal", "Multiple Connections")
  + _later_all(INTEGER, "Min Connections", "Max Connections", "Inc Connections")
  + _later_all(DURATION, "Idle Timeout", "Validate Timeout"))

DIRECTOR = DaemonSchema("bareos-dir", (
    DIR_DIRECTOR, DIR_CLIENT, DIR_STORAGE, DIR_CONSOLE, JOB, JOBDEFS, FILESET, SCHEDULE, POOL, CATALOG,
    MESSAGES, PROFILE, USER, COUNTER,
))

# --- File daemon ------------------------------------------------------------

_BANDWIDTH_LATER = (
    _later("Maximum Bandwidth Per Job", SIZE),
    _later("Allow Bandwidth Bursting", BOOLEAN, False),
    _later("Maximum Network Buffer Size", SIZE),
)

FD_CLIENT = ResourceSchema("Client", IDENTITY + DAEMON_PATHS + _listening(FD_PORT, "Fd") + _admission(42) + (
    _("Maximum Concurrent Jobs", POSITIVE, 1000),
    _("Heartbeat Interval", DURATION, 0),
    _("SD Connect Timeout", DURATION, 1800),
    _("Compatible", BOOLEAN, False),
    _("Messages", Ref("Messages")),
    # Project extensions (not Bareos): backoff of the client-initiated director link
    # (bareos/filedaemon/director_link.py).  Retry n waits min(Max, Min * 2^(n-1)),
    # shortened by a random part of up to Jitter Percent of it; Bareos waits a fixed 60 s.
    _("Reconnect Min Interval", DURATION, 1),
    _("Reconnect Max Interval", DURATION, 60),
    _("Reconnect Jitter Percent", PERCENT, 20),
    _later("Allowed Script Dir", STRING_LIST),
    _later("Allowed Job Command", STRING_LIST),
    _later("Always Use LMDB", BOOLEAN),
    _later("LMDB Threshold", INTEGER),
    _later("Ver Id", STRING_VALUE),
) + _later_all(STRING_VALUE, "PKI Key Pair", "PKI Cipher")
  + _later_all(STRING_LIST, "PKI Signer", "PKI Master Key")
  + _later_all(BOOLEAN, "PKI Signatures", "PKI Encryption")
  + _BANDWIDTH_LATER + TLS,
    aliases=("FileDaemon",), count=EXACTLY_ONE, finalize=_listen_addresses)

FD_DIRECTOR = ResourceSchema("Director", IDENTITY + _peer(DIR_PORT, "Dir", address_required=False)
                             + CONNECTION_DIRECTIONS + (
    _required("Password", PASSWORD),
    _("Monitor", BOOLEAN, False),
    # Project extension (not Bareos): on a waiting client-initiated connection, send
    # BNET_HEARTBEAT every Heartbeat Interval (of the Client resource; 60 s if 0) and expect
    # BNET_HB_RESPONSE, which this suite's director sends.  Set "no" for a Bareos director:
    # its connection pool drops a waiting connection that sends anything.
    _("Heartbeat While Waiting", BOOLEAN, True),
    _later("Allowed Script Dir", STRING_LIST),
    _later("Allowed Job Command", STRING_LIST),
    _later("Maximum Bandwidth Per Job", SIZE),
) + TLS)

FILEDAEMON = DaemonSchema("bareos-fd", (FD_CLIENT, FD_DIRECTOR, MESSAGES))

# --- Storage daemon ---------------------------------------------------------

SD_STORAGE = ResourceSchema("Storage", IDENTITY + DAEMON_PATHS + _listening(SD_PORT, "Sd") + _admission(42) + (
    _("Maximum Concurrent Jobs", POSITIVE, 20),
    _("Client Connect Wait", DURATION, 1800),
    _("FD Connect Timeout", DURATION, 1800),
    _("SD Connect Timeout", DURATION, 1800),
    _("Heartbeat Interval", DURATION, 0),
    _("Messages", Ref("Messages")),
    _later("Compatible", BOOLEAN, False),
    _later("Statistics Collect Interval", DURATION),
    _later("Backend Directory", STRING_LIST),
) + _later_all(BOOLEAN, "Collect Device Statistics", "Collect Job Statistics",
               "Device Reserve By Media Type", "File Device Concurrent Read", "Just In Time Reservation")
  + _BANDWIDTH_LATER + TLS, count=EXACTLY_ONE, finalize=_listen_addresses)

SD_DIRECTOR = ResourceSchema("Director", IDENTITY + (
    _required("Password", PASSWORD),
    _("Monitor", BOOLEAN, False),
    _later("Maximum Bandwidth Per Job", SIZE),
    _later("Key Encryption Key", PASSWORD),
) + TLS_POLICY_ONLY)

DEVICE = ResourceSchema("Device", IDENTITY + (
    _required("Archive Device", STRING_VALUE),
    _required("Media Type", STRING_VALUE),
    _("Device Type", Enum("File", "Tape", "Fifo", "GFAPI", "Droplet"), "File"),
    _("Label Media", BOOLEAN, False),
    _("Random Access", BOOLEAN, True),
    _("Automatic Mount", BOOLEAN, False),
    _("Removable Media", BOOLEAN, True),
    _("Always Open", BOOLEAN, True),
    _("Maximum Concurrent Jobs", POSITIVE, 1),
    _("Maximum Block Size", SIZE),
    _later("Minimum Block Size", SIZE),
    _later("Maximum File Size", SIZE),
    _later("Maximum Volume Size", SIZE),
    _later("Maximum Spool Size", SIZE),
    _later("Count", POSITIVE),
    _later("Drive Index", INTEGER),
) + _later_all(BOOLEAN, "Auto Select", "Autochanger", "Requires Mount", "Collect Statistics")
  + _later_all(STRING_VALUE, "Device Options", "Diagnostic Device", "Changer Device", "Changer Command",
               "Spool Directory", "Mount Point", "Mount Command", "Unmount Command", "Label Type"))

STORAGEDAEMON = DaemonSchema("bareos-sd", (SD_STORAGE, SD_DIRECTOR, DEVICE, MESSAGES))

# --- bconsole ---------------------------------------------------------------

CONSOLE_DIRECTOR = ResourceSchema("Director", IDENTITY + _peer(DIR_PORT, "Dir") + (
    _required("Password", PASSWORD),
    _("Heartbeat Interval", DURATION, 0),
) + TLS, count=AT_LEAST_ONE)

CONSOLE_CONSOLE = ResourceSchema("Console", IDENTITY + (
    _("Password", PASSWORD),
    _("Director", STRING_VALUE),
    _("History File", STRING_VALUE),
    _("History Length", INTEGER, 100),
    _("Heartbeat Interval", DURATION, 0),
    _later("Rc File", STRING_VALUE),
) + TLS)

CONSOLE = DaemonSchema("bconsole", (CONSOLE_DIRECTOR, CONSOLE_CONSOLE))

# --- bareos-tray-monitor ----------------------------------------------------
# Bareos' tray monitor configuration (tray-monitor.conf or tray-monitor.d/): its own name
# and the password of the director's Console for it, and the daemons to watch.  Directors
# get no Password: the monitor logs in to them as the named console of the Monitor resource.

TRAY_MONITOR = ResourceSchema("Monitor", IDENTITY + (
    _required("Password", PASSWORD),
    _("Refresh Interval", DURATION, 60),
    _("Dir Connect Timeout", DURATION, 10),
    _("FD Connect Timeout", DURATION, 10),
    _("SD Connect Timeout", DURATION, 10),
    # Connections follow the TLS directives of each Director/Client/Storage resource.
) + tuple(replace(directive, acted_on=False) for directive in TLS), count=EXACTLY_ONE)

TRAY_DIRECTOR = ResourceSchema("Director", IDENTITY + _peer(DIR_PORT, "Dir") + TLS)

TRAY_CLIENT = ResourceSchema("Client", IDENTITY + _peer(FD_PORT, "Fd") + (
    _required("Password", PASSWORD),
) + TLS)

TRAY_STORAGE = ResourceSchema("Storage", IDENTITY + _peer(SD_PORT, "Sd") + (
    _required("Password", PASSWORD, aliases=("SdPassword",)),
) + TLS)

CONSOLE_FONT = ResourceSchema("ConsoleFont", IDENTITY + (_later("Font", STRING_VALUE),))

TRAYMONITOR = DaemonSchema("tray-monitor", (
    TRAY_MONITOR, TRAY_DIRECTOR, TRAY_CLIENT, TRAY_STORAGE, CONSOLE_FONT))
