"""``status subscription``: the backup units the catalog's backups use against the Director's
``Subscriptions``, reported the way Bareos reports them.

Units are counted from the newest successful Full backup holding data of every client and
FileSet name: a client backed up without a plugin is one unit however many FileSets it has;
each FileSet backed up through a plugin is one unit more.  The data those backups hold counts
too: every started TB (10^12 bytes, the larger of the bytes read and the bytes written) is one
unit, and the larger of the two counts is what the installation uses.
"""

import hashlib
import math
import platform
import re
from collections import defaultdict
from datetime import datetime

import bareos
from bareos.director.console import acl
from bareos.director.console.commands import _keyword, format_table, refuse_unknown

NO_PLUGIN = "none (file data)"
GB = 10**9
GB_PER_SIZE_UNIT = 1000
#: Keywords that change the report; ``client=`` reports one client only.
KEYWORDS = {"all", "anonymize", "clients", "plugins", "client", "detail", "unknown"}
#: The catalog holds everything the report counts: a console that sees only part of it
#: would get a partial count, so Bareos refuses it.
UNRESTRICTED_ACLS = ("client_acl", "job_acl", "fileset_acl")
_CHECKSUM_SALT = "SECRETSALT"

# The plugin a FileSet's plugin line (``P <plugin>:<options>``) names, in the order Bareos
# tries them: a Python module (without its bareos-fd- or bareos- prefix), any other Python
# plugin, a gRPC plugin, any other plugin.
_GRPC_BRIDGE = re.compile(r"^grpc:bareos-grpc-fd-plugin-bridge:", re.IGNORECASE)
_PYTHON_PLUGIN = re.compile(r"^python3?(:|$)", re.IGNORECASE)
_PYTHON_MODULE = re.compile(r"(?:^|:)module_name=(?:bareos-fd-|bareos-)?([^:\s]+)", re.IGNORECASE)
_GRPC_PLUGIN = re.compile(r"^grpc:([^:\s]+)", re.IGNORECASE)
_ANY_PLUGIN = re.compile(r"^([^:\s]+)")


def plugin_of(fileset_text):
    """The plugin the FileSet's first plugin line names (lower case), None without one."""
    for line in fileset_text.splitlines():
        if not line.startswith("P "):
            continue
        spec = _GRPC_BRIDGE.sub("", line[2:].strip().replace('"', ""))
        if _PYTHON_PLUGIN.match(spec):
            module = _PYTHON_MODULE.search(spec)
            return module.group(1).lower() if module else "other python plugin"
        found = _GRPC_PLUGIN.match(spec) or _ANY_PLUGIN.match(spec)
        return found.group(1).lower() if found else None
    return None


def units_by_client_and_plugin(backups):
    """{(client id, client name, plugin or None): [units, size in GB]} of the backups."""
    units = defaultdict(lambda: [0, 0.0])
    for backup in backups:
        plugin = plugin_of(backup.fileset_text)
        entry = units[(backup.client_id, backup.client, plugin)]
        # All file-data FileSets of a client together are one unit; each plugin FileSet is one.
        entry[0] = 1 if plugin is None else entry[0] + 1
        entry[1] += max(backup.read_bytes, backup.job_bytes) / GB
    return units


def summary(units, configured):
    """Bareos' unit summary: the accounting mode, used, configured and remaining units."""
    count_units = sum(count for count, _size in units.values())
    size_units = math.ceil(sum(size for _count, size in units.values()) / GB_PER_SIZE_UNIT)
    if size_units >= count_units:
        mode = (f"volume-based ({size_units} volume-based units >= "
                f"{count_units} count-based units)")
    else:
        mode = f"count-based ({size_units} volume-based < {count_units} count-based)"
    used = max(count_units, size_units)
    return {"accounting_mode": mode, "used": used, "configured": configured,
            "remaining": configured - used}


def _gb(size):
    return f"{size:.2f}"


def _client_shown(client_id, name, anonymize):
    """The client's name, or ``Client <id>`` in an anonymized report."""
    return f"Client {client_id}" if anonymize else name


def _client_order(client_id, name, anonymize):
    """Clients are listed by name, or by id in an anonymized report."""
    return client_id if anonymize else name


def detail_rows(units, anonymize):
    ordered = sorted(units.items(), key=lambda item: (
        _client_order(item[0][0], item[0][1], anonymize), item[0][2] or NO_PLUGIN))
    rows = [{"client": _client_shown(cid, name, anonymize), "plugin": plugin or NO_PLUGIN,
             "count": count, "size_gb": _gb(size)}
            for (cid, name, plugin), (count, size) in ordered]
    return rows + [{"client": "TOTAL", "plugin": "", **_totals(units.values())}]


def client_rows(units, anonymize):
    per_client = defaultdict(list)
    for (cid, name, _plugin), value in units.items():
        per_client[(cid, name)].append(value)
    ordered = sorted(per_client.items(), key=lambda item: _client_order(*item[0], anonymize))
    rows = [{"client": _client_shown(cid, name, anonymize), **_totals(values)}
            for (cid, name), values in ordered]
    return rows + [{"client": "TOTAL", **_totals(units.values())}]


def plugin_rows(units):
    per_plugin = defaultdict(list)
    for (_cid, _name, plugin), value in units.items():
        per_plugin[plugin or NO_PLUGIN].append(value)
    rows = [{"plugin": plugin, **_totals(values)} for plugin, values in sorted(per_plugin.items())]
    return rows + [{"plugin": "TOTAL", **_totals(units.values())}]


def _totals(values):
    values = list(values)
    return {"count": sum(count for count, _size in values),
            "size_gb": _gb(sum(size for _count, size in values))}


def _json_rows(rows):
    return [{column: str(value) for column, value in row.items()} for row in rows]


def _table(rows):
    right = {"count", "size_gb"}
    return format_table(list(rows[0]), rows, right_aligned=right)


def _vertical(row):
    width = max(len(column) for column in row)
    return "".join(f" {column:>{width}}: {value}\n" for column, value in row.items())


def checksum(report_time, summary_text):
    """A salted digest of the summary and its time, so a report's figures can be checked."""
    source = f"{_CHECKSUM_SALT}\n{report_time}\n{summary_text}"
    return "{SHA256}" + hashlib.sha256(source.encode("utf-8")).hexdigest()


def unrestricted(session, acl_name):
    """True when the console's ``acl_name`` allows everything: it reaches ``*all*`` before
    any denying entry (the default console has no ACLs)."""
    if session.is_default:
        return True
    for entry in acl.acl_entries(session.resource, session.profiles, acl_name):
        entry = entry.strip()
        if entry.startswith("!"):
            return False
        if entry.lower() == "*all*":
            return True
    return False


async def status_subscription(session, reply, args):
    command_name = f"status {args[0][0]}"
    if any(not unrestricted(session, name) for name in UNRESTRICTED_ACLS):
        reply.error(f"{command_name}: needs access to all client, job and fileset resources.")
        return False
    session.name_catalog(reply)
    options = args[1:]
    if refuse_unknown(reply, command_name, options, KEYWORDS):
        return False

    def given(name):
        return _keyword(options, name) is not None

    if given("unknown"):
        reply.error("Parameter 'unknown' ignored. There is no unknown data anymore.")
    elif given("detail"):
        reply.error("Parameter 'detail' ignored. This is now the default.")
    backups = await (await session.director.catalog_ready()).subscription_backups()
    one_client = _keyword(options, "client")
    if one_client:
        return _client_report(session, reply, options, one_client, backups)

    units = units_by_client_and_plugin(backups)
    everything, anonymize = given("all"), given("anonymize")
    clients, plugins = given("clients"), given("plugins")
    report_time = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    if everything or not (clients or plugins):
        version = f"{bareos.VERSION} ({bareos.VERSION_DATE})"
        os_info = platform.system().lower()
        reply.send(f"Bareos version: {version} ({os_info})\nBinary info: bareos-twisted\n"
                   f"Report time: {report_time}\n")
        for key, value in (("version", version), ("os", os_info),
                           ("binary-info", "bareos-twisted"), ("report-time", report_time)):
            reply.result(key, value)
        _section(reply, "\nDetailed backup unit report:\n", "unit-detail",
                 detail_rows(units, anonymize))
    if everything or clients:
        _section(reply, "\nBackup unit report aggregated by client:\n", "unit-clients",
                 client_rows(units, anonymize))
        reply.send("For a detailed per-client report run "
                   "'status subscriptions client=<client-name>'\n")
    if everything or plugins:
        _section(reply, "\nBackup unit report aggregated by plugin:\n", "unit-plugins",
                 plugin_rows(units))
    totals = summary(units, session.director.resource.subscriptions)
    summary_text = _vertical(totals)
    reply.send("\nBackup unit summary:\n" + summary_text)
    reply.result("unit-summary", {key: str(value) for key, value in totals.items()})
    digest = checksum(report_time, summary_text)
    reply.send(f"Checksum: {digest}\n")
    reply.result("checksum", digest)
    return True


def _client_report(session, reply, options, client, backups):
    if any(_keyword(options, name) is not None
           for name in ("clients", "plugins", "anonymize", "all")):
        reply.error("Parameter 'client=' provided. Ignoring other parameters.")
    if not acl.is_valid_name(client):
        reply.error(f"Client name invalid: {client!r}")
        return False
    rows = [{"fileset": b.fileset, "plugin": plugin_of(b.fileset_text) or NO_PLUGIN,
             "size_gb": _gb(max(b.read_bytes, b.job_bytes) / GB)}
            for b in backups if b.client == client]
    _section(reply, f"\nDetailed backup unit report for client '{client}':\n", "unit-detail", rows)
    reply.send("All plugin jobs and the first non-plugin job are counted.\n")
    return True


def _section(reply, title, key, rows):
    reply.send(title + (_table(rows) if rows else "No results to list.\n"))
    reply.result(key, _json_rows(rows))
