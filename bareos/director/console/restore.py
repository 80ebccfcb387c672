"""``restore``: choose a point in time, choose files, run the Restore job (Bareos
``ua_restore`` and ``ua_tree``).

The point in time is a list of backup jobs: given (``jobid=``), the latest or one before a
time of a client (``client= current`` / ``before=``), a restore list made with
``.bvfs_restore`` (``file=?b2<n>``), or chosen from Bareos' numbered menu.  The files are
chosen on the file tree of those jobs (``bareos.director.restoretree``): all of them
(``all``), named ones (``file=``, ``directory=``), or interactively at the ``$`` prompt
(``cd``, ``ls``, ``mark`` ... ``done``) when the command line says neither ``done`` nor
which files.  Only the marked files are restored.
"""

from __future__ import annotations

from datetime import datetime

from bareos.catalog import bvfs as catalog_bvfs
from bareos.catalog.api import name_text
from bareos.director.console.arguments import BadArgument, parse_command_line, parse_number_list
from bareos.director.console.commands import _keyword, command, format_table
from bareos.director.console.jobcommands import _authorized, _catalog, _resource, _run_summary
from bareos.director.console.output import API_JSON, API_TEXT
from bareos.director.jobs.manager import new_job
from bareos.director.restoretree import RestoreTree, long_line
from bareos.protocol.framing import Signal

#: Keywords ``restore`` acts on.
KEYWORDS = {"jobid", "client", "select", "current", "before", "file", "directory", "all",
            "done", "yes", "where", "replace", "restoreclient", "restorejob", "storage",
            "fileset"}
#: Bareos keywords this director does not act on: refused by name.
NOT_SUPPORTED = {"pool", "fileregex", "bootstrap", "strip_prefix", "add_prefix", "add_suffix",
                 "regexwhere", "copies", "archive", "pluginoptions", "comment"}

MENU = [
    # (label, supported)
    ("List last 20 Jobs run", True),
    ("List Jobs where a given File is saved", True),
    ("Enter list of comma separated JobIds to select", True),
    ("Enter SQL list command", False),
    ("Select the most recent backup for a client", True),
    ("Select backup for a client before a specified time", True),
    ("Enter a list of files to restore", True),
    ("Enter a list of files to restore before a specified time", True),
    ("Find the JobIds of the most recent backup for a client", True),
    ("Find the JobIds for a backup for a client before a specified time", True),
    ("Enter a list of directories to restore for found JobIds", True),
    ("Select full restore to a specified Job date", True),
    ("Cancel", True),
]

_INTRO = ("\nFirst you select one or more JobIds that contain files\n"
          "to be restored. You will be presented several methods\n"
          "of specifying the JobIds. Then you will be allowed to\n"
          "select which files from those JobIds are to be restored.\n\n")
_TREE_INTRO = ("\nYou are now entering file selection mode where you add (mark) and\n"
               "remove (unmark) files to be restored. No files are initially added, unless\n"
               "you used the \"all\" keyword on the command line.\n"
               "Enter \"done\" to leave this mode.\n\n")
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H", "%Y-%m-%d")


class Canceled(Exception):
    """The console answered a prompt with ``.`` (or hung up): nothing is done."""


class Choice:
    """What the selection steps decided: the jobs, and the files named on the way."""

    def __init__(self, job_ids, files=(), directories=()):
        self.job_ids = list(job_ids)
        self.files = list(files)
        self.directories = list(directories)


@command("restore", "Restore files",
         "[jobid=<id>[,<id>...] | client=<name> [select] [current | before=<time>] | "
         "file=?b2<n>] [all | file=<path> ... | directory=<dir> ...] [fileset=<name>] "
         "[where=<dir>] [replace=<how>] [restoreclient=<name>] [restorejob=<name>] "
         "[storage=<name>] [done] [yes]")
async def restore(session, reply, args):
    for key, _value in args:
        key = key.lower()
        if key in NOT_SUPPORTED:
            reply.error(f"restore: {key} is not supported by this director.")
            return False
        if key not in KEYWORDS:
            reply.error(f"Unknown keyword: {key}")
            return False
    parse_number_list(_keyword(args, "jobid"), "jobid")      # a bad JobId is the first error
    catalog = await _catalog(session)
    restore_job = _restore_job_resource(session, reply, _keyword(args, "restorejob"))
    if restore_job is None:
        return False
    replace = (_keyword(args, "replace") or restore_job.replace or "always").lower()
    if replace not in ("always", "ifnewer", "ifolder", "never"):
        reply.error(f"Invalid replace option: {replace}")
        return False
    where = _keyword(args, "where")                 # refused before any file is chosen
    if where is not None and not session.acl_allows("where_acl", where):
        reply.error('"where" specification not authorized.')
        return False
    try:
        chosen = await _chosen_files(session, reply, args, catalog)
    except Canceled:
        reply.info("Selection aborted, nothing done.")
        return False
    if chosen is None:
        return False
    count = sum(len(indexes) for indexes in chosen.values())
    if not count:
        reply.error("No files selected to be restored.")
        return False
    reply.send(f"\n{count} file{'s' if count != 1 else ''} selected to be restored.\n\n")
    return await _run_restore(session, reply, args, restore_job, replace, chosen, count)


async def _run_restore(session, reply, args, restore_job, replace, chosen, count):
    director = session.director
    target_name = _keyword(args, "restoreclient") or _keyword(args, "client")
    target = director.config.get("client", target_name) if target_name else None
    storage = None
    if _keyword(args, "storage"):           # where the volumes are, when not the Restore job's
        storage = _resource(session, reply, "storage", _keyword(args, "storage"), "storage_acl")
        if storage is None:
            return False
    where = _keyword(args, "where")
    job = new_job(director, restore_job, client=target, storage=storage, options={
        "selection": chosen, "where": restore_job.where if where is None else where,
        "replace": replace, "replace_name": replace.capitalize()})
    if not _authorized(session, reply, job):
        return False
    if _keyword(args, "yes") is None and not await session.confirm(
            _run_summary(job) + f"Where:    {job.options['where'] or '(original location)'}\n"
                                f"OK to run? (yes/no): ", reply):
        reply.send("Restore not run.\n")
        return False
    await director.jobs.submit(job)
    reply.send(f"Job queued. JobId={job.jobid}\n")
    reply.result("run", {"jobid": str(job.jobid), "files": count})     # a string, as Bareos
    return True


def _restore_job_resource(session, reply, name):
    jobs = [j for j in session.director.config.resources("job")
            if j.job_type.lower() == "restore" and (name is None or j.name == name)]
    if not jobs:
        reply.error("No Restore Job resource found" + (f" named {name}." if name else "."))
        return None
    return jobs[0]


# --- which files ---------------------------------------------------------------------

async def _chosen_files(session, reply, args, catalog):
    """{JobId: set of FileIndexes} to restore, or None after an error was replied."""
    files = [v for k, v in args if k.lower() == "file" and v]
    restore_lists = [f[1:] for f in files if f.startswith("?")]
    if restore_lists:
        return await _from_restore_lists(reply, catalog, restore_lists, len(files))
    choice = await _choose_jobs(session, reply, args, catalog)
    if choice is None:
        return None
    job_ids = await _permitted_jobs(session, reply, catalog, choice.job_ids)
    if not job_ids:
        return None
    tree = await build_tree(reply, catalog, job_ids)
    choice.files += files
    choice.directories += [v for k, v in args if k.lower() == "directory" and v]
    if choice.files or choice.directories:
        for path in choice.files + [d.rstrip("/") + "/" for d in choice.directories]:
            if not tree.mark_path(path):
                reply.warning(f"No database record found for: {path}")
        return tree.selection()
    if _keyword(args, "all") is not None:
        tree.mark_all()
    if _keyword(args, "done") is None and session.api != API_JSON:
        await select_in_tree(session, reply, tree)
    return tree.selection()


async def _from_restore_lists(reply, catalog, tables, file_count):
    if len(tables) != file_count:
        reply.error("restore: file=?b2<n> (a .bvfs_restore list) cannot be mixed with file names.")
        return None
    chosen = {}
    for table in tables:
        listed = await catalog.run_operation(catalog_bvfs.op_bvfs_restore_list, table)
        if listed is None:
            reply.error(f"No restore list {table} (make it with .bvfs_restore path={table}).")
            return None
        for job_id, indexes in listed.items():
            chosen.setdefault(job_id, set()).update(indexes)
    return chosen


async def _choose_jobs(session, reply, args, catalog):
    ids = parse_number_list(_keyword(args, "jobid"), "jobid")
    if ids:
        return Choice(ids)
    client_name = _keyword(args, "client")
    before = _keyword(args, "before")
    # `select` chooses the newest backups before a time (now without before=), as Bareos:
    # bareos-restapi restores with "client=X select all done"
    by_date = any(_keyword(args, k) is not None for k in ("current", "select", "before"))
    if client_name and by_date:
        client = _resource(session, reply, "client", client_name, "client_acl")
        if client is None:
            return None
        when = _parse_date(before) if before is not None else None
        if before is not None and when is None:
            reply.error("before= takes a time as YYYY-MM-DD HH:MM:SS")
            return None
        return await _client_chain(reply, catalog, client.name, when,
                                   _keyword(args, "fileset"))
    if session.api == API_JSON:
        reply.error("restore: give jobid=, client= with current or before=, or file=?b2<n>: "
                    "the selection menu is not offered in api mode 2 (batch mode).")
        return None
    return await _menu(session, reply, args, catalog)


async def _client_chain(reply, catalog, client, before, fileset=None):
    job_ids = await catalog.restore_job_ids(client, fileset, before)
    if not job_ids:
        reply.error(f"No Full backup of client {client} found in the catalog"
                    + (f" before {before}." if before else "."))
        return None
    return Choice(job_ids)


async def _permitted_jobs(session, reply, catalog, job_ids):
    """The backup jobs among ``job_ids`` this console may read, oldest first."""
    records = []
    for job_id in dict.fromkeys(job_ids):
        record = await catalog.get_job(job_id)
        if record is None or record.type not in ("B", "C"):      # a copy restores too
            reply.error(f"JobId {job_id} is not a backup job in the catalog.")
            return None
        # Bareos selects a JobId by its Job ACL only, not by the Client ACL; the
        # restore's target client is checked before the restore runs.
        if not session.acl_allows("job_acl", record.name):
            reply.error(f'Access to JobId={job_id} (Job "{record.name}") not authorized. '
                          f"Not selected.")
            continue
        records.append(record)
    if not records:
        reply.warning("No Jobs selected.")
        return None
    records.sort(key=lambda r: (r.start_time or datetime.min, r.job_id))
    job_ids = [r.job_id for r in records]
    plural = "s" if len(job_ids) > 1 else ""
    reply.info(f"You have selected the following JobId{plural}: "
               f"{','.join(map(str, job_ids))}")
    return job_ids


async def build_tree(reply, catalog, job_ids):
    """The file tree of the jobs (oldest first): the newest version of each name."""
    reply.send(f"\nBuilding directory tree for JobId(s) {','.join(map(str, job_ids))} ...\n")
    tree = RestoreTree()
    for job_id in job_ids:
        next_page = catalog.run_operation(catalog_bvfs.op_tree_rows, job_id)
        while rows := await next_page:
            # the catalog reads the next page while this one goes into the tree
            path_id, name = rows[-1][4], rows[-1][1]
            next_page = catalog.run_operation(catalog_bvfs.op_tree_rows, job_id, (path_id, name))
            tree.add_rows(job_id, rows)
    reply.send(f"{tree.file_count} files inserted into the tree.\n")
    return tree


def _parse_date(text):
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


# --- the menu ------------------------------------------------------------------------

async def _ask(session, prompt):
    """One answer at a sub-prompt; ``.`` (or a hang-up) cancels the command."""
    answer = await session.ask(prompt)
    if answer is None or answer.strip() == ".":
        raise Canceled()
    return answer.strip()


async def _pick(session, reply, heading, items, question, automatic):
    """Bareos' numbered prompt: the index chosen among ``items``."""
    if len(items) == 1:
        reply.send(f"Automatically selected {automatic}: {items[0]}\n")
        return 0
    reply.send(heading + "".join(f"{n:6d}: {item}\n" for n, item in enumerate(items, 1)))
    while True:
        answer = await _ask(session, f"{question} (1-{len(items)}): ")
        if answer.isdigit() and 1 <= int(answer) <= len(items):
            return int(answer) - 1
        reply.warning(f"Please enter a number between 1 and {len(items)}")


async def _ask_client(session, reply, args):
    name = _keyword(args, "client")
    if name:
        client = _resource(session, reply, "client", name, "client_acl")
        if client is None:
            raise Canceled()
        return client.name
    names = [c.name for c in session.director.config.resources("client")
             if session.acl_allows("client_acl", c.name)]
    if not names:
        reply.error("No Client resources defined (or none permitted to this console).")
        raise Canceled()
    return names[await _pick(session, reply, "Defined Clients:\n", names, "Select the Client",
                             "Client")]


async def _ask_date(session, reply):
    reply.send("The restored files will the most current backup\n"
               "BEFORE the date you specify below.\n\n")
    while True:
        when = _parse_date(await _ask(session, "Enter date as YYYY-MM-DD HH:MM:SS :"))
        if when is not None:
            return when
        reply.error("Improper date format.")


async def _ask_lines(session, reply, intro, prompt):
    """Names until an empty line."""
    reply.send(intro)
    lines = []
    while True:
        line = await session.ask(prompt)
        if line is None:
            raise Canceled()
        if not line.strip():
            return lines
        lines.append(line.strip())


async def _ask_job_ids(session):
    answer = await _ask(session, "Enter JobId(s), comma separated, to restore: ")
    try:
        return parse_number_list(answer.replace(" ", ""), "JobId") or []
    except BadArgument:
        return []


async def _menu(session, reply, args, catalog):
    reply.send(_INTRO)
    found = []                                  # JobIds of items 9 and 10, for item 11
    while True:
        item = await _pick(session, reply,
                           "To select the JobIds, you have the following choices:\n",
                           [label for label, _ in MENU], "Select item: ", "item")
        label, supported = MENU[item]
        if item in (0, 3) and not session.acl_allows("command_acl", "sqlquery"):
            # Bareos lists these through its sqlquery command and asks for its permission
            reply.error("SQL query not authorized.")
            return None
        if not supported:
            reply.error(f'Item {item + 1} ("{label}") is not offered by this director.')
            continue
        if item == 0:
            await _list_last_jobs(session, reply, catalog)
            continue
        if item == 1:
            await _list_jobs_with_file(session, reply, args, catalog)
            continue
        if item == 2:
            job_ids = await _ask_job_ids(session)
            if not job_ids:
                reply.error("Invalid JobId in list.")
                continue
            return Choice(job_ids)
        if item in (4, 5, 8, 9):
            when = await _ask_date(session, reply) if item in (5, 9) else None
            client = await _ask_client(session, reply, args)
            choice = await _client_chain(reply, catalog, client, when,
                                         _keyword(args, "fileset"))
            if choice is None or item in (4, 5):
                return choice
            found = choice.job_ids
            reply.send(f"You have selected the following JobIds: "
                       f"{','.join(map(str, found))}\n")
            continue
        if item in (6, 7):
            when = await _ask_date(session, reply) if item == 7 else None
            client = await _ask_client(session, reply, args)
            files = await _ask_lines(
                session, reply, "Enter file names with paths, and terminate them with a "
                                "blank line.\n", "Enter full filename: ")
            choice = await _client_chain(reply, catalog, client, when,
                                         _keyword(args, "fileset"))
            if choice is not None:
                choice.files = files
            return choice
        if item == 10:
            if found:
                reply.send(f"You have already selected the following JobIds: "
                           f"{','.join(map(str, found))}\n")
                job_ids = found
            else:
                job_ids = await _ask_job_ids(session)
            if not job_ids:
                return None
            directories = await _ask_lines(
                session, reply, "Enter full directory names, and terminate them with a "
                                "blank line.\n", "Enter directory name: ")
            return Choice(job_ids, directories=directories)
        if item == 11:
            answer = await _ask(session, "Enter JobId to get the state to restore: ")
            job_ids = await catalog.job_chain(int(answer)) if answer.isdigit() else []
            if not job_ids:
                reply.error(f"No backup with JobId {answer} in the catalog.")
                return None
            return Choice(job_ids)
        raise Canceled()                        # Cancel


async def _list_last_jobs(session, reply, catalog):
    records = await catalog.list_jobs(type="B", limit=20)
    rows = [{"jobid": str(r.job_id), "client": r.client or "", "level": r.level,
             "jobfiles": str(r.job_files), "jobbytes": str(r.job_bytes),
             "starttime": str(r.start_time or "")}
            for r in records if session.acl_allows("job_acl", r.name)]
    reply.send(format_table(["jobid", "client", "level", "jobfiles", "jobbytes", "starttime"],
                            rows))


async def _list_jobs_with_file(session, reply, args, catalog):
    client = await _ask_client(session, reply, args)
    name = await _ask(session, "Enter Filename (no path):")
    found = await catalog.run_operation(catalog_bvfs.op_jobs_with_file, client, name)
    rows = [{"jobid": str(job_id), "name": name_text(full_name), "starttime": str(start or ""),
             "jobtype": job_type, "jobstatus": status, "jobfiles": str(files),
             "jobbytes": str(size)}
            for job_id, full_name, start, job_type, status, files, size in found]
    reply.send(format_table(["jobid", "name", "starttime", "jobtype", "jobstatus", "jobfiles",
                             "jobbytes"], rows))


# --- the file selection prompt -------------------------------------------------------

def _count_text(count, what, verb):
    if count == 0:
        return f"No {what}s newly {verb}.\n"
    if count == 1:
        return f"1 {what} newly {verb}.\n"
    return f"{count:,} {what}s newly {verb}.\n"


def _tree_mark(marked):
    def run(reply, tree, words):
        if len(words) < 2 or not tree.cwd.children:
            reply.send("No files marked.\n" if marked else "No files newly unmarked.\n")
            return True
        count = sum(tree.mark(spec, marked) for spec in words[1:])
        reply.send(_count_text(count, "file", "marked" if marked else "unmarked"))
        return True
    return run


def _tree_markdir(marked):
    def run(reply, tree, words):
        count = 0
        for spec in words[1:]:
            for node in tree.listing(spec.rstrip("/")):
                if node.is_dir and tree.mark_directory_only(node, marked):
                    count += 1
        reply.send(_count_text(count, "directory", "marked" if marked else "unmarked")
                   .replace("directorys", "directories"))
        return True
    return run


def _tree_cd(reply, tree, words):
    if len(words) != 2:
        reply.error("Too few or too many arguments. Try using double quotes.")
        return True
    if not tree.cd(words[1]):
        reply.warning("Invalid path given.")
    return _tree_pwd(reply, tree, words)


def _tree_pwd(reply, tree, words):
    reply.send(f"cwd is: {tree.pwd()}\n" if reply.api == API_TEXT else tree.pwd())
    return True


def _pattern(words):
    return words[1] if len(words) > 1 else None


def _tree_ls(reply, tree, words):
    for node in tree.listing(_pattern(words)):
        reply.send(f"{node.tag}{node.display_name}\n")
    return True


def _tree_dot_listing(wanted):
    """``.ls``, ``.lsdir``, ``.lsmark``: the names of the current directory's ``wanted``
    entries, untagged (for programs)."""
    def run(reply, tree, words):
        for node in tree.listing(_pattern(words)):
            if wanted(node):
                reply.send(f"{node.display_name}\n")
        return True
    return run


def _tree_dir(reply, tree, words):
    if not tree.cwd.children:
        reply.send(f"Node {tree.cwd.name or '/'} has no children.\n")
        return True
    for node in tree.listing(_pattern(words)):
        reply.send(long_line(tree, node) + "\n")
    return True


def _tree_lsmark(reply, tree, words):
    for line in tree.marked_lines(pattern=_pattern(words)):
        reply.send(line + "\n")
    return True


def _tree_find(reply, tree, words):
    if len(words) == 1:
        reply.send("No file specification given.\n")
        return True
    for spec in words[1:]:
        for node in tree.find(spec):
            reply.send(f"{node.tag}{tree.full_path(node)}\n")
    return True


def _tree_count(reply, tree, words):
    total, marked = tree.count()
    reply.send(f"{total:,} total files/dirs. {marked:,} marked to be restored.\n")
    return True


def _tree_estimate(reply, tree, words):
    total, marked, size = tree.estimate()
    reply.send(f"{total} total files; {marked} marked to be restored; {size:,} bytes.\n")
    return True


def _tree_help(reply, tree, words):
    reply.send("  Command    Description\n  =======    ===========\n"
               + "".join(f"  {name:<10} {text}\n" for name, _run, text in TREE_COMMANDS
                         if not name.startswith("."))
               + "\n")
    return True


def _tree_dot_help(reply, tree, words):
    reply.send("".join(f"{name}\n" for name, _run, _text in TREE_COMMANDS
                       if not name.startswith(".")))
    return True


def _tree_done(reply, tree, words):
    return False


def _tree_quit(reply, tree, words):
    raise Canceled()


# Bareos' table order, which decides what a prefix means ("d" is "delete").
TREE_COMMANDS = [
    ("abort", _tree_quit, "abort and do not do restore"),
    ("add", _tree_mark(True), "add dir/file to be restored recursively, wildcards allowed"),
    ("cd", _tree_cd, "change current directory"),
    ("count", _tree_count, "count marked files in and below the cd"),
    ("delete", _tree_mark(False), "delete dir/file to be restored recursively in dir"),
    ("dir", _tree_dir, "long list current directory, wildcards allowed"),
    ("done", _tree_done, "leave file selection mode"),
    ("estimate", _tree_estimate, "estimate restore size"),
    ("exit", _tree_done, "same as done command"),
    ("find", _tree_find, "find files, wildcards allowed"),
    ("help", _tree_help, "print help"),
    ("ls", _tree_ls, "list current directory, wildcards allowed"),
    (".ls", _tree_dot_listing(lambda node: True), "list current directory, wildcards allowed"),
    (".lsdir", _tree_dot_listing(lambda node: bool(node.children)), "list subdir in current directory, wildcards allowed"),
    ("lsmark", _tree_lsmark, "list the marked files in and below the cd"),
    (".lsmark", _tree_dot_listing(lambda node: node.marked), "list the marked files in"),
    ("mark", _tree_mark(True), "mark dir/file to be restored recursively, wildcards allowed"),
    ("markdir", _tree_markdir(True), "mark directory name to be restored (no files)"),
    ("pwd", _tree_pwd, "print current working directory"),
    (".pwd", _tree_pwd, "print current working directory"),
    ("unmark", _tree_mark(False), "unmark dir/file to be restored recursively in dir"),
    ("unmarkdir", _tree_markdir(False), "unmark directory name only no recursion"),
    ("quit", _tree_quit, "quit and do not do restore"),
    (".help", _tree_dot_help, "print help"),
    ("?", _tree_help, "print help"),
]


def _tree_words(line):
    """The words of a ``$`` line: quotes and backslashes as on the command line, and
    ``=`` is part of a file name here."""
    return [key if value is None else f"{key}={value}" for key, value in parse_command_line(line)]


async def select_in_tree(session, reply, tree):
    """The ``$`` prompt until ``done`` (Canceled on ``quit``)."""
    conn = session.conn
    reply.send(_TREE_INTRO)
    conn.send_signal(Signal.START_RTREE)
    reply.send(f"cwd is: {tree.pwd()}\n")
    try:
        while True:
            line = await session.ask("$ ")
            if line is None:
                raise Canceled()
            if session.api != API_TEXT:
                conn.send_signal(Signal.CMD_BEGIN)
            try:
                words = _tree_words(line)
            except BadArgument as exc:
                reply.error(str(exc))
                words = None
            entry = _tree_command(words[0]) if words else None
            if entry is None:
                if words and words[0].startswith("."):
                    continue                    # Bareos ignores unknown dot commands here
                if words is not None:
                    reply.warning(f'Invalid command "{line.strip()}". Enter "done" to exit.')
                if session.api != API_TEXT:
                    conn.send_signal(Signal.CMD_FAILED)
                continue
            keep_going = entry[1](reply, tree, words)
            if session.api != API_TEXT:
                conn.send_signal(Signal.CMD_OK)
            if not keep_going:
                return
    finally:
        conn.send_signal(Signal.END_RTREE)


def _tree_command(word):
    word = word.lower()
    for entry in TREE_COMMANDS:
        if entry[0].startswith(word):
            return entry
    return None
