"""The console command table.

Commands are matched by case-insensitive prefix in table order (``stat`` is
``status``), as Bareos does.  Each command is a coroutine
``run(session, reply, args)`` where ``args`` are ``(keyword, value)`` pairs;
returning False marks the command as failed.
"""

import dataclasses
import platform
from datetime import datetime

from twisted.logger import Logger

import bareos
from bareos.director.console.output import API_JSON, API_SIGNALS, API_TEXT


@dataclasses.dataclass
class Command:
    name: str
    help: str
    usage: str
    run: object
    always_allowed: bool = False
    changes_api: bool = False


# Bareos' table order, which decides what a prefix means ("s" is "status").
ORDER = [".api", ".bvfs_update", ".bvfs_lsdirs", ".bvfs_lsfiles", ".bvfs_versions",
         ".bvfs_get_jobids", ".bvfs_restore", ".bvfs_cleanup", ".bvfs_clear_cache",
         ".catalogs", ".clients", ".consoles", ".defaults", ".filesets", ".help", ".jobdefs", ".jobs", ".levels", ".msgs", ".pools", ".profiles", ".sql", ".schedule", ".status",
         ".storages", ".types",
         "autodisplay", "cancel", "configure", "delete", "disable", "enable", "estimate", "exit",
         "help", "label", "list", "llist", "messages", "prune", "purge", "quit", "restore", "relabel", "reload", "run",
         "status", "setip", "show", "time", "truncate", "update", "version", "wait", "whoami"]
TABLE = []
log = Logger(namespace="bareos.director.console")


def command(name, help, usage="", always_allowed=False, changes_api=False):
    def register(function):
        TABLE.append(Command(name, help, usage, function, always_allowed, changes_api))
        TABLE.sort(key=lambda entry: ORDER.index(entry.name))
        return function
    return register


def lookup(word):
    word = word.lower()
    for entry in TABLE:
        if entry.name == word:
            return entry
    for entry in TABLE:
        if entry.name.startswith(word):
            return entry
    return None


def _keyword(args, *names):
    """The value of the first ``name=value`` (or bare ``name``) among ``args``."""
    for key, value in args:
        if key.lower() in names:
            return value if value is not None else ""
    return None


def refuse_unknown(reply, command_name, args, known):
    """True (and the error sent) when ``args`` hold a keyword not in ``known``: a keyword
    a command does not act on is refused by name, never ignored."""
    unknown = [key for key, _value in args if key.lower() not in known]
    if unknown:
        reply.error(f"{command_name}: unknown keyword {unknown[0]!r}.")
        return True
    return False


@command("autodisplay", "Automatically display job messages", "on | off")
async def autodisplay(session, reply, args):
    if not args or args[0][0].lower() not in ("on", "off"):
        reply.error("Usage: autodisplay on | off")
        return False
    session.autodisplay = args[0][0].lower() == "on"
    return True


@command("exit", "Terminate the console session", always_allowed=True)
async def exit_(session, reply, args):
    return True


@command("help", "Print help on a command, or list all commands", "[command]")
async def help_(session, reply, args):
    allowed = [c for c in TABLE if c.always_allowed or session.acl_allows("command_acl", c.name)]
    wanted = [c for c in allowed if not c.name.startswith(".")]
    if args:
        match = lookup(args[0][0])
        wanted = [match] if match in allowed else []
        if not wanted:
            reply.error(f"{args[0][0]}: no such command.")
            return False
    reply.send("  Command       Description\n  =======       ===========\n")
    for entry in wanted:
        reply.send(f"  {entry.name:<13} {entry.help}\n")
        if args and entry.usage:
            reply.send(f"\nArguments:\n\t{entry.usage}\n")
    reply.result("commands", {c.name: {"description": c.help, "arguments": c.usage} for c in wanted})
    reply.send("\nWhen at a prompt, entering a period (.) cancels the command.\n")
    return True


@command("quit", "Terminate the console session", always_allowed=True)
async def quit_(session, reply, args):
    return True


@command("setip", "Sets new client address -- if authorized")
async def setip(session, reply, args):
    """A client that logs in as a named console of its own name sets its Client ``Address``
    to the address it connects from (PROTOCOL §10; Bareos ``SetipCmd``).  In memory only."""
    director = session.director
    client = None if session.is_default else director.config.get("client", session.name)
    if client is None:
        reply.error("No corresponding client found.")
        return False
    if not session.acl_allows("client_acl", client.name):
        reply.error(f'Client "{client.name}" not found.')
        return False
    address = session.conn.peer_host()
    client.override("address", address)
    log.info("setip: Client {name} address set to {address} (console {console})",
             name=client.name, address=address, console=session.name)
    reply.send(f'Client "{client.name}" address set to {address}\n')
    reply.result("setip", {"client": client.name, "address": address})
    return True


@command("version", "Print Director version")
async def version(session, reply, args):
    facts = {"name": session.director.name, "type": "bareos-director",
             "version": bareos.VERSION, "bdate": bareos.VERSION_DATE,
             "operatingsystem": platform.system(), "distname": "bareos-twisted",
             "distversion": platform.release(), "customversionid": ""}
    reply.send("{name} Version: {version} ({bdate}) {operatingsystem} {distname} "
               "{distversion}\n".format(**facts))
    reply.result("version", facts)
    return True


@command("time", "Print current time")
async def time_(session, reply, args):
    now = datetime.now()
    reply.send(now.strftime("%a %d-%b-%Y %H:%M:%S") + "\n")
    reply.result("time", {"full": now.strftime("%a %d-%b-%Y %H:%M:%S"),
                          **{part: now.strftime(code) for part, code in _TIME_PARTS}})
    return True


_TIME_PARTS = (("year", "%Y"), ("month", "%m"), ("day", "%d"), ("hour", "%H"),
               ("minute", "%M"), ("second", "%S"))


@command("whoami", "Print the name of the console you are logged in with", always_allowed=True)
async def whoami(session, reply, args):
    reply.send(f"{session.display_name}\n")
    reply.result("whoami", session.display_name)
    return True


@command(".api", "Switch the api mode", "[0 | 1 | 2 | off | on | json] [compact=yes|no]",
         changes_api=True)
async def dot_api(session, reply, args):
    modes = {"0": API_TEXT, "off": API_TEXT, "1": API_SIGNALS, "on": API_SIGNALS,
             "2": API_JSON, "json": API_JSON}
    mode = API_SIGNALS
    compact = False
    for key, value in args:
        if key.lower() == "compact":
            compact = (value or "").lower() in ("yes", "true", "1")
        elif key.lower() in modes:
            mode = modes[key.lower()]
        else:
            reply.error(f".api: unknown mode {key!r}")
            return False
    session.api, session.compact = mode, compact
    reply.switch_mode(mode, compact)
    reply.result("api", mode)
    reply.send(f"api: {mode}\n")
    return True


def format_table(columns, rows, right_aligned=()):
    """Bareos' boxed table for list output; the ``right_aligned`` columns (numbers) are
    aligned right, the others left."""
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    aligns = [">" if c in right_aligned else "<" for c in columns]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"
    head = "|" + "|".join(f" {c:<{w}} " for c, w in zip(columns, widths)) + "|\n"
    body = "".join(
        "|" + "|".join(f" {str(r.get(c, '')):{a}{w}} " for c, a, w in zip(columns, aligns, widths))
        + "|\n"
        for r in rows)
    return rule + head + rule + body + rule
