"""``show``: the director's resources as configuration text (api 0/1) or Bareos' JSON (api 2).

Text is Bareos' configuration syntax, written by ``bareos.config.writer``; JSON has Bareos'
shape, ``{"clients": {"fd1": {"name": "fd1", "address": "...", ...}}}``: the resource
group, the resource by name, its directives by lower-case name without blanks.

As in Bareos, a plain ``show`` lists only what a resource's own file sets (not what a Job
takes from its JobDefs, not defaults); ``verbose`` adds those, as comments in text.  A
console that may not ``configure`` sees passwords as stars, and sees the resources no
ACL kind covers (Director, Messages, Console, Profile) only if it may ``configure``.
"""

from bareos.config import types as value_types
from bareos.config import writer
from bareos.config.types import Block as BlockType
from bareos.director.console.commands import command

HIDDEN_PASSWORD = "*" * 16

# (show keyword, resource type, ACL of its names): Bareos' order, in which a prefix is
# matched ("show job" is jobs, "show c" clients).  None as ACL: visible to consoles that
# may ``configure``.  A type the director's schema does not have shows nothing.
SHOW_TYPES = (
    ("directors", "Director", None), ("clients", "Client", "client_acl"),
    ("jobs", "Job", "job_acl"), ("jobdefs", "JobDefs", "job_acl"),
    ("storages", "Storage", "storage_acl"), ("catalogs", "Catalog", "catalog_acl"),
    ("schedules", "Schedule", "schedule_acl"), ("filesets", "FileSet", "fileset_acl"),
    ("pools", "Pool", "pool_acl"), ("messages", "Messages", None),
    ("counters", "Counter", None), ("profiles", "Profile", None),
    ("consoles", "Console", None), ("users", "User", None),
)
# What ``show disabled`` covers: (keyword, resource type, title in text).
DISABLED_TYPES = (("jobs", "Job", "Jobs"), ("clients", "Client", "Clients"),
                  ("schedules", "Schedule", "Schedules"))


def show_type(word):
    """The SHOW_TYPES entry a keyword (or a prefix of one) names, or None."""
    word = word.lower()
    return next((entry for entry in SHOW_TYPES if entry[0].startswith(word)), None)


def may_see(session, resource_type, name):
    """``resource_type`` as the schema spells it (``JobDefs``)."""
    acl = next((acl for _keyword, rtype, acl in SHOW_TYPES if rtype == resource_type), None)
    if acl is None:
        return session.acl_allows("command_acl", "configure")
    return session.acl_allows(acl, name)


def visible_resources(session, resource_type):
    """The resources of a type the console may see, in definition order."""
    config = session.director.config
    schema = config.schema.resource(resource_type)
    if schema is None:
        return []
    return [r for r in config.resources(schema.name) if may_see(session, schema.name, r.name)]


@command("show", "Show resource records",
         "directors | clients | jobs | jobdefs | storages | catalogs | schedules | filesets "
         "| pools | messages | profiles | consoles | all | <type>=<name> | disabled "
         "[jobs | clients | schedules] [verbose]")
async def show(session, reply, args):
    verbose = any(key.lower() == "verbose" and value is None for key, value in args)
    wanted = [(key, value) for key, value in args if key.lower() != "verbose"]
    if any(key.lower() == "help" for key, _value in wanted):
        reply.info("Keywords for the show command are:\n"
                   + "".join(f"{keyword}\n" for keyword, _type, _acl in SHOW_TYPES))
        return True
    hide_passwords = not session.acl_allows("command_acl", "configure")
    if not wanted or any(key.lower() == "all" for key, _value in wanted):
        for _keyword, resource_type, _acl in SHOW_TYPES:
            _show_resources(session, reply, visible_resources(session, resource_type),
                            hide_passwords, verbose)
        return True
    if wanted[0][0].lower() == "disabled":
        return _show_disabled(session, reply, wanted[1:])
    for key, name in wanted:
        entry = show_type(key)
        if entry is None:
            reply.error(f"Resource {key} not found")
            return False
        keyword, resource_type, _acl = entry
        shown = visible_resources(session, resource_type)
        if name is not None:
            shown = [r for r in shown if r.name == name]
            if not shown:
                reply.error(f"{keyword} resource {name} not found.")
                return False
        elif not shown:
            reply.info(f"No {resource_type} resource defined")
        _show_resources(session, reply, shown, hide_passwords, verbose)
    return True


def _show_resources(session, reply, resources, hide_passwords, verbose):
    schema = session.director.config.schema
    for resource in resources:
        entries = directive_entries(resource, schema.resource(resource.type), hide_passwords,
                                    verbose)
        reply.send(resource_text(resource.type, entries) + "\n")
        group = _group_key(resource.type)
        reply.data.setdefault(group, {})[resource.name] = resource_json(entries)


def _group_key(resource_type):
    return next(keyword for keyword, rtype, _acl in SHOW_TYPES if rtype == resource_type)


def _show_disabled(session, reply, args):
    """``show disabled [jobs|clients|schedules]``: the names whose ``Enabled`` is off."""
    which = args[0][0].lower() if args else None
    disabled = {}
    for keyword, resource_type, title in DISABLED_TYPES:
        if which in (None, keyword):
            names = [r.name for r in visible_resources(session, resource_type) if not r.enabled]
            disabled[keyword] = names
            reply.send(f"Disabled {title}:\n" + "".join(f"   {n}\n" for n in names) if names
                       else f"No disabled {title}.\n")
    if which is not None and not disabled:
        reply.error(f"show disabled: {args[0][0]} is not jobs, clients or schedules.")
        return False
    reply.result("disabled", disabled)
    return True


# --- a resource as directives, text and JSON --------------------------------------------

class Entry:
    """One directive to show: its name as Bareos writes it, its value, and whether it is only
    inherited or a default (a comment in text)."""

    def __init__(self, directive, value, as_comment, spelling):
        self.directive = directive
        self.value = value
        self.as_comment = as_comment
        self.name = "".join(spelling.split())         # MaximumConcurrentJobs


def _spelling(schema, directive):
    # The Director's own Address, Port... are Bareos' DirAddress, DirPort... (the schema
    # keeps those as aliases so that every daemon's resource reads alike).
    if schema.name == "Director" and directive.aliases:
        return directive.aliases[0]
    return directive.name


def directive_entries(section, schema, hide_passwords, verbose):
    """The directives of a resource (or nested block) to show, in its schema's order.

    Set directives always; with ``verbose`` also inherited and default values, except
    empty ones and those this director does not act on.
    """
    entries = []
    for directive in schema.directives:
        value = getattr(section, directive.attr)
        if isinstance(directive.type, BlockType):
            value = [directive_entries(block, directive.type.schema, hide_passwords, verbose)
                     for block in value]
        elif _is_password(directive) and value is not None:
            value = _password_text(value, hide_passwords)
        if section.is_set(directive.attr):
            entries.append(Entry(directive, value, False, _spelling(schema, directive)))
        elif verbose and directive.acted_on and value not in (None, []):
            entries.append(Entry(directive, value, True, _spelling(schema, directive)))
    return entries


def _is_password(directive):
    # The Catalog's "DB Password" is a plain string, but as secret as the others.
    return directive.type is value_types.PASSWORD or directive.name.endswith("Password")


def _password_text(password, hide):
    if hide:
        return HIDDEN_PASSWORD
    if isinstance(password, str):
        return password
    return password.clear if password.clear is not None else "[md5]" + password.key.decode()


def configuration_text(schema, resource):
    """``resource`` as configuration text, the directives its own file sets, passwords hidden:
    what Bareos stores as a FileSet's text in the catalog."""
    entries = directive_entries(resource, schema.resource(resource.type), True, False)
    return resource_text(resource.type, entries)


def resource_text(resource_type, entries):
    """Configuration text, as Bareos' ``show`` prints it (and this director reads back)."""
    return writer.Resource(resource_type, _writer_items(entries)).text()


def _writer_items(entries):
    items = []
    for entry in entries:
        value = _writer_value(entry.directive.type, entry.value)
        if entry.as_comment:
            for element in value if isinstance(value, list) else [value]:
                items.append(f"# {entry.name} = {writer.value_text(element)}")
        else:
            items.append((entry.name, value))
    return items


def _writer_value(kind, value):
    if isinstance(kind, BlockType):
        return [writer.Block(_writer_items(block)) for block in value]
    if isinstance(kind, value_types.DestinationType):
        return [writer.Verbatim(_destination_text(d)) for d in value]
    if isinstance(kind, value_types.Addresses):
        return writer.Verbatim("{ " + " ".join(
            f"ip = {{ addr = {host}; port = {port} }}" if port else f"ip = {{ addr = {host} }}"
            for host, port in value) + " }")
    if kind is value_types.RAW_LIST:
        return [writer.Verbatim(text) for text in value]
    if kind is value_types.DURATION:
        return writer.Verbatim(duration_text(value))
    if kind is value_types.SIZE:
        return writer.Verbatim(size_text(value))
    if isinstance(value, list):
        return [writer.Quoted(element) for element in value]
    if isinstance(value, (bool, int)) or isinstance(kind, value_types.Enum):
        return value
    return writer.Quoted(value)


# Bareos' JSON lists a job's scripts given the short way (``Run After Job = cmd``) in its
# "runscript" list, next to its RunScript blocks: [{"runafterjob": "cmd"}, {"command": ...}].
SHORT_RUN_SCRIPTS = ("Run Before Job", "Run After Job", "Run After Failed Job",
                     "Client Run Before Job", "Client Run After Job")


def resource_json(entries):
    """``{directive: value}`` with Bareos' keys: lower case, no blanks."""
    shown = {}
    run_scripts = []
    for entry in entries:
        value = _json_value(entry.directive.type, entry.value)
        if entry.directive.name in SHORT_RUN_SCRIPTS:
            run_scripts += [{entry.name.lower(): escape_command(command)} for command in value]
        elif entry.directive.name == "Run Script":
            run_scripts += value
        else:
            shown[entry.name.lower()] = value
    if run_scripts:
        shown["runscript"] = run_scripts
    return shown


_COMMAND_ESCAPES = {"'": "''", "\\": "\\\\", **{char: "\\" + char for char in '()<>"'}}


def escape_command(command):
    """A script's command line as Bareos shows it: quotes, backslashes, parentheses and
    angle brackets escaped (``echo "x"`` -> ``echo \\"x\\"``)."""
    return "".join(_COMMAND_ESCAPES.get(char, char) for char in command)


def _json_value(kind, value):
    if isinstance(kind, BlockType):
        return [resource_json(block) for block in value]
    if isinstance(kind, value_types.DestinationType):
        # Bareos keeps one object per destination kind (the last one written).
        destination = value[-1]
        shown = {"what": message_types_text(destination.types)}
        if destination.target is not None:
            shown = {"where": destination.target, **shown}
        return shown
    if isinstance(kind, value_types.Addresses):
        return [{"addr": host, "port": port} for host, port in value]
    if kind is value_types.DURATION:
        return duration_text(value)
    if kind is value_types.SIZE:
        return size_text(value)
    return value


def _destination_text(destination):
    types = message_types_text(destination.types)
    if destination.target is None:
        return types
    return f"{writer.value_text(writer.Quoted(destination.target))} = {types}"


def message_types_text(types):
    """``all,!skipped``: the included message types, then the excluded ones (Bareos'
    spelling, without blanks)."""
    included = sorted(types.included, key=lambda name: (name != "all", name))
    return ",".join(included + [f"!{name}" for name in sorted(types.excluded)])


_DURATION_UNITS = (("years", 365 * 86400), ("months", 30 * 86400), ("weeks", 7 * 86400),
                   ("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1))
_SIZE_UNITS = (("t", 1024 ** 4), ("g", 1024 ** 3), ("m", 1024 ** 2), ("k", 1024))


def duration_text(seconds):
    """``5184000`` -> ``2 months``: the largest units first, as Bareos writes a time."""
    if not seconds:
        return "0"
    parts = []
    for unit, length in _DURATION_UNITS:
        count, seconds = divmod(seconds, length)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts)


def size_text(size):
    """A size in the largest binary unit that holds it exactly: ``10737418240`` -> ``10 g``."""
    for unit, length in _SIZE_UNITS:
        if size and size % length == 0:
            return f"{size // length} {unit}"
    return str(size)


# --- configure export -------------------------------------------------------------------

async def configure_export(session, reply, args):
    """``configure export client=X``: the Director resource client X's file daemon needs
    (this director's name and the client's password), printed for the administrator to
    install as ``bareos-fd.d/director/<director>.conf``.  Unlike Bareos, nothing is
    written on the director's host."""
    name = next((value for key, value in args if key.lower() == "client" and value), None)
    client = session.director.config.get("client", name) if name else None
    if client is None or not session.acl_allows("client_acl", client.name):
        reply.error("usage: configure export client=<clientname>")
        return False
    director_name = session.director.name
    content = writer.resource("Director", [
        ("Name", writer.Quoted(director_name)),
        ("Password", writer.Quoted(_password_text(client.password, hide=False)))])
    reply.send(content)
    reply.result("configure", {"export": {
        "clientname": client.name, "component": "bareos-fd", "resource": "director",
        "name": director_name, "content": content}})
    return True
