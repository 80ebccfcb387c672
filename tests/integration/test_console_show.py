"""``show``, ``configure export``, the dot commands, ``version``/``time``/``wait`` and api 2's
batch mode, against one in-process director on loopback (started once for the file)."""

import hashlib
import json
import re
import types

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from bareos.catalog.api import JobRecord
from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR
from bareos.console.client import ConsoleClient
from bareos.director.daemon import Director
from bareos.protocol import cram
from bareos.protocol.framing import Signal
from bareos.protocol.tls import TlsPolicy
from bareos.testing.ports import free_port

CONFIG = """
Director {{ Name = show-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}"; TLS Enable = no }}
Console {{ Name = admin; Password = "adminpw"; TLS Enable = no; Profile = everything }}
Console {{ Name = operator; Password = "operatorpw"; TLS Enable = no;
          Command ACL = .api, show, wait, .jobs, .clients, .pools, .defaults, .help, run;
          Job ACL = backup-one; Client ACL = fd-one; Pool ACL = Full; Storage ACL = *all* }}
Profile {{ Name = everything; Command ACL = *all*; Job ACL = *all*; Client ACL = *all*;
          Storage ACL = *all*; Pool ACL = *all*; FileSet ACL = *all*; Schedule ACL = *all*;
          Catalog ACL = *all* }}
Client {{ Name = fd-one; Address = 127.0.0.1; Password = "fd one pw"; Description = "first fd" }}
Client {{ Name = fd-two; Address = 127.0.0.2; Password = "[md5]0123456789abcdef0123456789abcdef";
         Enabled = no; Maximum Concurrent Jobs = 3 }}
Storage {{ Name = File; Address = 127.0.0.1; Password = "sdpw"; Device = FileStorage;
          Media Type = File }}
Messages {{ Name = Daemon; Console = all, !skipped; Append = "{workdir}/log" = all }}
Pool {{ Name = Full; Pool Type = Backup; Label Format = "Full-"; Volume Retention = 30 days;
       Maximum Volume Bytes = 10 g; Storage = File }}
Pool {{ Name = Scratch; Pool Type = Scratch }}
Catalog {{ Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos; DB Password = "dbsecret" }}
FileSet {{ Name = Set; Description = "the files";
          Include {{ Options {{ Signature = MD5 }}; File = /etc; File = "/srv/a b" }} }}
Schedule {{ Name = Nightly; Run = Full sun at 2:05; Run = Incremental mon-sat at 2:05 }}
JobDefs {{ Name = Defaults; Type = Backup; Client = fd-one; FileSet = Set; Pool = Full;
          Messages = Daemon; Storage = File; Priority = 11 }}
Job {{ Name = backup-one; JobDefs = Defaults; Schedule = Nightly }}
Job {{ Name = backup-two; JobDefs = Defaults; Client = fd-two; Enabled = no;
      Run After Job = "/bin/bash -c \\"echo Hallo\\"" }}
Job {{ Name = restore; Type = Restore; Client = fd-one; FileSet = Set; Pool = Full;
      Messages = Daemon; Storage = File; Where = /tmp/restores }}
"""


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("show")
    port = free_port()
    service = Director(parse_config_text(CONFIG.format(port=port, workdir=workdir), DIRECTOR),
                       reactor)
    service.port = port
    service.startService()
    pytest_twisted.blockon(service.catalog_ready())
    yield service
    pytest_twisted.blockon(defer.maybeDeferred(service.stopService))


class Console:
    """One logged-in console; ``text(line)`` in api 0, ``call(line)`` in api 2."""

    PASSWORDS = {"admin": "adminpw", "operator": "operatorpw"}

    def __init__(self, client):
        self.conn = client.conn
        self.api = 0

    @classmethod
    async def login(cls, director, name="admin"):
        target = types.SimpleNamespace(address="127.0.0.1", port=director.port)
        client = await ConsoleClient.connect(reactor, target, name,
                                             cram.password_key(cls.PASSWORDS[name]),
                                             TlsPolicy.NONE)
        return cls(client)

    async def _packets(self, line, end):
        self.conn.send(line)
        packets = []
        while (packet := await self.conn.receive(timeout=20)) != end:
            packets.append(packet)
        return packets

    async def text(self, line):
        await self._set_api(0)
        return "".join(p.decode() for p in await self._packets(line, Signal.EOD)
                       if isinstance(p, bytes))

    async def call(self, line):
        """The JSON-RPC document of a command in api 2."""
        await self._set_api(2)
        packets = await self._packets(line, Signal.MAIN_PROMPT)
        return json.loads(packets[-1])

    async def result(self, line):
        document = await self.call(line)
        assert "result" in document, document
        return document["result"]

    async def _set_api(self, api):
        if self.api != api:
            await self._packets(f".api {api}", Signal.MAIN_PROMPT if api else Signal.EOD)
            self.api = api

    def close(self):
        self.conn.close()


async def console(director, name="admin"):
    return await Console.login(director, name)


# --- show -----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_show_client_in_configuration_syntax(director):
    admin = await console(director)
    text = await admin.text("show client=fd-one")
    assert text == ('Client {\n  Name = "fd-one"\n  Description = "first fd"\n'
                    '  Address = "127.0.0.1"\n  Password = "fd one pw"\n}\n\n')
    text = await admin.text("show clients")
    assert text.count("Client {") == 2
    assert '  Password = "[md5]0123456789abcdef0123456789abcdef"\n' in text
    assert "  Enabled = no\n  MaximumConcurrentJobs = 3\n" in text or \
           "  MaximumConcurrentJobs = 3\n" in text and "  Enabled = no\n" in text
    admin.close()


@pytest_twisted.ensureDeferred
async def test_show_text_reads_back_as_the_same_configuration(director):
    """Everything ``show all`` prints is configuration this director loads again."""
    admin = await console(director)
    text = await admin.text("show all")
    again = parse_config_text(text, DIRECTOR)
    for resource in director.config:
        copy = again.get(resource.type, resource.name)
        assert copy is not None, (resource.type, resource.name)
        assert _directives(copy) == _directives(resource), (resource.type, resource.name)
    admin.close()


def _directives(section):
    """A section's directives as plain data (nested blocks included), in no order."""
    def plain(value):
        if isinstance(value, list):
            return [plain(element) for element in value]
        return _directives(value) if hasattr(value, "items") else value
    return {name: plain(value) for name, value in section.items()}


@pytest_twisted.ensureDeferred
async def test_show_json_has_bareos_groups_and_lower_case_keys(director):
    admin = await console(director)
    result = await admin.result("show clients")
    assert result == {"clients": {
        "fd-one": {"name": "fd-one", "description": "first fd", "address": "127.0.0.1",
                   "password": "fd one pw"},
        "fd-two": {"name": "fd-two", "address": "127.0.0.2",
                   "password": "[md5]0123456789abcdef0123456789abcdef",
                   "maximumconcurrentjobs": 3, "enabled": False}}}
    fileset = (await admin.result("show fileset=Set"))["filesets"]["Set"]
    assert fileset == {"name": "Set", "description": "the files", "include": [
        {"file": ["/etc", "/srv/a b"], "options": [{"signature": "MD5"}]}]}
    pool = (await admin.result("show pool=Full"))["pools"]["Full"]
    assert pool["volumeretention"] == "1 months"           # as Bareos writes 30 days
    assert pool["maximumvolumebytes"] == "10 g"
    assert pool["storage"] == ["File"]
    messages = (await admin.result("show messages"))["messages"]["Daemon"]
    assert messages["console"] == {"what": "all,!skipped"}
    assert messages["append"]["what"] == "all"
    shown_director = (await admin.result("show director"))["directors"]["show-dir"]
    assert shown_director["diraddress"] == "127.0.0.1"
    assert shown_director["dirport"] == director.port
    schedule = (await admin.result("show schedules"))["schedules"]["Nightly"]
    assert schedule["run"] == ["Full sun at 2:05", "Incremental mon-sat at 2:05"]
    admin.close()


@pytest_twisted.ensureDeferred
async def test_show_all_names_every_resource_group(director):
    admin = await console(director)
    result = await admin.result("show all")
    assert set(result) == {"directors", "clients", "jobs", "jobdefs", "storages", "catalogs",
                           "schedules", "filesets", "pools", "messages", "profiles", "consoles"}
    assert set(result["jobs"]) == {"backup-one", "backup-two", "restore"}
    assert result == await admin.result("show")
    admin.close()


@pytest_twisted.ensureDeferred
async def test_show_job_leaves_out_what_jobdefs_gives_unless_verbose(director):
    admin = await console(director)
    plain = (await admin.result("show job=backup-one"))["jobs"]["backup-one"]
    assert plain == {"name": "backup-one", "schedule": "Nightly", "jobdefs": "Defaults"}
    two = (await admin.result("show job=backup-two"))["jobs"]["backup-two"]
    # Bareos' JSON: a script given the short way is in "runscript", escaped as Bareos does
    assert two["runscript"] == [{"runafterjob": '/bin/bash -c \\"echo Hallo\\"'}]
    text = await admin.text("show job=backup-two")
    assert 'RunAfterJob = "/bin/bash -c \\"echo Hallo\\""' in text
    verbose = (await admin.result("show job=backup-one verbose"))["jobs"]["backup-one"]
    assert verbose["client"] == "fd-one" and verbose["priority"] == 11
    assert verbose["replace"] == "Always"           # a default
    text = await admin.text("show job=backup-one verbose")
    assert '  # Client = "fd-one"\n' in text and "  # Priority = 11\n" in text
    assert '  Schedule = "Nightly"\n' in text
    admin.close()


@pytest_twisted.ensureDeferred
async def test_show_keyword_prefixes_and_errors(director):
    admin = await console(director)
    assert set(await admin.result("show stor")) == {"storages"}
    assert set(await admin.result("show job")) == {"jobs"}          # jobs before jobdefs
    assert set(await admin.result("show jobd")) == {"jobdefs"}
    assert set(await admin.result("show clients pools")) == {"clients", "pools"}
    missing = await admin.call("show client=nosuch")
    assert missing["error"]["data"]["messages"]["error"] == ["clients resource nosuch not found.\n"]
    unknown = await admin.call("show frobs")
    assert unknown["error"]["data"]["messages"]["error"] == ["Resource frobs not found\n"]
    assert "No Counter resource defined" in await admin.text("show counters")
    admin.close()


@pytest_twisted.ensureDeferred
async def test_show_disabled(director):
    admin = await console(director)
    assert await admin.result("show disabled") == {"disabled": {
        "jobs": ["backup-two"], "clients": ["fd-two"], "schedules": []}}
    assert await admin.text("show disabled clients") == "Disabled Clients:\n   fd-two\n"
    assert await admin.text("show disabled schedules") == "No disabled Schedules.\n"
    admin.close()


@pytest_twisted.ensureDeferred
async def test_acls_filter_show_and_hide_passwords_without_configure(director):
    operator = await console(director, "operator")
    result = await operator.result("show all")
    assert set(result) == {"clients", "jobs", "storages", "pools"}
    assert set(result["clients"]) == {"fd-one"}
    assert set(result["jobs"]) == {"backup-one"}
    assert set(result["pools"]) == {"Full"}
    assert result["storages"]["File"]["password"] == "*" * 16     # may not configure
    hidden = await operator.call("show client=fd-two")
    assert "error" in hidden
    operator.close()


# --- configure export -----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_configure_export_prints_the_file_daemons_director_resource(director):
    admin = await console(director)
    content = 'Director {\n  Name = "show-dir"\n  Password = "fd one pw"\n}\n'
    assert await admin.text("configure export client=fd-one") == content
    assert await admin.result("configure export client=fd-one") == {"configure": {"export": {
        "clientname": "fd-one", "component": "bareos-fd", "resource": "director",
        "name": "show-dir", "content": content}}}
    assert "error" in await admin.call("configure export client=nosuch")
    assert "error" in await admin.call("configure export")
    admin.close()


# --- dot commands ---------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_dot_commands_list_resources(director):
    admin = await console(director)
    assert await admin.text(".jobs") == "backup-one\nbackup-two\nrestore\n"
    assert await admin.result(".jobs type=B") == {"jobs": [
        {"name": "backup-one", "enabled": True}, {"name": "backup-two", "enabled": False}]}
    assert await admin.result(".jobs type=R disabled") == {"jobs": []}
    assert await admin.result(".clients enabled") == {"clients": [
        {"name": "fd-one", "enabled": True}]}
    assert await admin.result(".pools type=scratch") == {"pools": [{"name": "Scratch"}]}
    assert await admin.result(".pools") == {"pools": [{"name": "Full"}, {"name": "Scratch"}]}
    assert await admin.result(".filesets") == {"filesets": [{"name": "Set"}]}
    assert await admin.result(".storages") == {"storages": [{"name": "File", "enabled": True}]}
    assert await admin.result(".schedule") == {"schedules": [{"name": "Nightly",
                                                              "enabled": True}]}
    assert await admin.result(".msgs") == {"messages": [{"text": "Daemon"}]}
    assert await admin.text(".msgs") == "Daemon\n"
    assert await admin.result(".catalogs") == {"catalogs": [{"name": "MyCatalog"}]}
    assert await admin.result(".consoles") == {"consoles": [{"name": "admin"},
                                                            {"name": "operator"}]}
    assert await admin.result(".profiles") == {"profiles": [{"name": "everything"}]}
    assert await admin.result(".jobdefs") == {"jobdefs": [{"name": "Defaults"}]}
    for line, keyword in ((".jobs frob", "frob"), (".clients type=B", "type"),
                          (".catalogs all", "all"), (".defaults jobs=x", "jobs")):
        refused = await admin.call(line)
        assert refused["error"]["data"]["messages"]["error"] == [
            f"{line.split()[0]}: unknown keyword {keyword!r}.\n"], line
    admin.close()


@pytest_twisted.ensureDeferred
async def test_dot_types_and_levels(director):
    admin = await console(director)
    assert (await admin.text(".types")).split() == [
        "Backup", "Admin", "Archive", "Verify", "Restore", "Migrate", "Copy", "Consolidate"]
    levels = (await admin.result(".levels backup"))["levels"]
    assert levels[0] == {"name": "Full", "level": ord("F"), "jobtype": ord("B")}
    assert [level["name"] for level in levels] == [
        "Full", "Base", "Incremental", "Differential", "Since", "VirtualFull"]
    assert await admin.result(".levels nosuchtype") == {"levels": []}
    admin.close()


@pytest_twisted.ensureDeferred
async def test_dot_defaults(director):
    admin = await console(director)
    assert (await admin.result(".defaults job=backup-one"))["defaults"] == {
        "job": "backup-one", "pool": "Full", "messages": "Daemon", "client": "fd-one",
        "storage": "File", "where": "", "level": "", "type": "Backup", "fileset": "Set",
        "enabled": 1, "catalog": "MyCatalog"}
    restore = (await admin.result(".defaults job=restore"))["defaults"]
    assert restore["where"] == "/tmp/restores" and restore["replace"] == "always"
    text = await admin.text(".defaults client=fd-one")
    assert text.startswith("client=fd-one\naddress=127.0.0.1\nport=9102\n")
    storage = (await admin.result(".defaults storage=File"))["defaults"]
    assert storage == {"storage": "File", "address": "127.0.0.1", "port": 9103, "enabled": 1,
                       "media_type": "File", "device": "FileStorage"}
    pool = (await admin.result(".defaults pool=Full"))["defaults"]
    assert pool["label_format"] == "Full-" and pool["vol_retention"] == str(30 * 86400)
    assert await admin.result(".defaults job=nosuch") == {"defaults": {}}
    assert "error" in await admin.call(".defaults")
    admin.close()


@pytest_twisted.ensureDeferred
async def test_dot_status_of_the_director(director):
    admin = await console(director)
    assert (await admin.text(".status dir header")).startswith("show-dir Version: ")
    assert await admin.text(".status dir running") == "No Jobs running.\n====\n"
    header = (await admin.result(".status dir header"))["header"]
    assert set(header) == {"director", "version", "release_date", "os", "binary_info",
                           "daemon_started", "jobs_run", "jobs_running", "config_warnings"}
    assert header["director"] == "show-dir"
    assert "scheduled" in await admin.result(".status dir scheduled")
    assert "error" in await admin.call(".status dir nonsense")
    assert "error" in await admin.call(".status")
    admin.close()


@pytest_twisted.ensureDeferred
async def test_dot_commands_follow_acls(director):
    operator = await console(director, "operator")
    assert await operator.result(".jobs") == {"jobs": [{"name": "backup-one", "enabled": True}]}
    assert await operator.result(".clients") == {"clients": [{"name": "fd-one",
                                                              "enabled": True}]}
    assert await operator.result(".pools") == {"pools": [{"name": "Full"}]}
    assert await operator.result(".defaults job=backup-two") == {"defaults": {}}
    helped = await operator.result(".help")
    # the commands its Command ACL names, and those every console may run
    assert set(helped) == {".api", ".clients", ".defaults", ".help", ".jobs", ".pools", "run",
                           "show", "wait", "exit", "quit", "whoami"}
    assert helped["show"]["permission"] is True
    full = await operator.result(".help all full")
    assert full["list"]["permission"] is False and not any(k.startswith(".") for k in full)
    assert (await operator.text(".help all")).split() == [
        "exit", "quit", "run", "show", "wait", "whoami"]
    assert await operator.text(".help item=show") == helped["show"]["arguments"] + "\n"
    assert ".help Print parsable information about a command -- " in \
        await operator.text(".help")
    refused = await operator.call(".help full=yes")
    assert refused["error"]["data"]["messages"]["error"] == [
        "The full option does not take a value.\n"]
    operator.close()


# --- version, time, batch mode --------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_version_and_time(director):
    admin = await console(director)
    version = (await admin.result("version"))["version"]
    assert set(version) == {"name", "type", "version", "bdate", "operatingsystem", "distname",
                            "distversion", "customversionid"}
    assert version["name"] == "show-dir" and version["type"] == "bareos-director"
    assert (await admin.text("version")).startswith(
        f"show-dir Version: {version['version']} ({version['bdate']}) ")
    assert re.fullmatch(r"\w{3} \d\d-\w{3}-\d{4} \d\d:\d\d:\d\d\n", await admin.text("time"))
    now = (await admin.result("time"))["time"]
    assert set(now) == {"full", "year", "month", "day", "hour", "minute", "second"}
    assert now["full"].split("-")[2].startswith(now["year"])
    admin.close()


@pytest_twisted.ensureDeferred
async def test_api_2_is_batch_mode_and_wait_answers_as_bareos(director):
    """``run`` without ``yes`` asks in api 0 and just runs in api 2 (Bareos' batch mode)."""
    admin = await console(director)
    await admin._set_api(0)
    asked = await admin._packets("run job=backup-one", Signal.SUB_PROMPT)
    assert asked[-1].decode().endswith("OK to run? (yes/no): ")
    assert b"Job not run.\n" in b"".join(await admin._packets("no", Signal.EOD))
    queued = (await admin.result("run job=backup-one"))["run"]["jobid"]
    assert isinstance(queued, str)          # run's JobId is a string in Bareos' JSON, wait's a number
    jobid = int(queued)
    await admin.result(f"cancel jobid={jobid}")
    assert await admin.result(f"wait jobid={jobid}") == {"job": {
        "jobid": jobid, "jobstatuslong": "Canceled", "jobstatus": "A", "exitstatus": 2}}
    assert await admin.text(f"wait jobid={jobid}") == f"JobId={jobid}\nJobStatus=Canceled (A)\n"
    assert (await admin.result("wait job=backup-one"))["job"]["jobid"] == jobid
    ended = (await admin.result(".status dir terminated"))["terminated"]
    assert {"jobid": jobid, "level": "Full", "type": "Backup", "status": "Cancel"}.items() <= \
        next(row for row in ended if row["jobid"] == jobid).items()
    admin.close()


@pytest_twisted.ensureDeferred
async def test_a_backup_stores_its_fileset_as_configuration_text(director):
    """As Bareos, the catalog keeps the FileSet resource as ``show`` writes it (Description
    included), and its MD5 is that text's: a changed FileSet is a new catalog FileSet."""
    admin = await console(director)
    jobid = int((await admin.result("run job=backup-one"))["run"]["jobid"])
    await admin.result(f"cancel jobid={jobid}")
    (stored,) = (await admin.result(f"list fileset jobid={jobid} limit=1"))["filesets"]
    assert stored["filesettext"] + "\n" == await admin.text("show fileset=Set")
    assert 'Description = "the files"' in stored["filesettext"]
    assert stored["md5"] == hashlib.md5(stored["filesettext"].encode()).hexdigest()
    admin.close()


@pytest_twisted.ensureDeferred
async def test_dot_sql_runs_the_query_on_the_catalog_and_refuses_with_the_databases_error(
        director):
    catalog = await director.catalog_ready()
    jobid = await catalog.create_job(JobRecord(
        job="backup-one.2026-02-01_00.00.00_00", name="backup-one", job_status="T"))
    admin = await console(director)
    insert = f"INSERT INTO Log (JobId, Time, LogText) VALUES ({jobid}, '2099-01-01 00:00:00', 'hi')"
    assert await admin.result(f'.sql query="{insert}"') == {"query": []}
    select = f"SELECT JobId AS jobid, LogText AS logtext, NULL AS missing FROM Log WHERE JobId = {jobid}"
    assert await admin.result(f'.sql query="{select}"') == {
        "query": [{"jobid": str(jobid), "logtext": "hi", "missing": None}]}
    table = await admin.text(f'.sql query="{select}"')
    assert re.search(rf"\| jobid +\| logtext +\| missing +\|\n.*\n\| {jobid} +\| hi +\| NULL +\|",
                     table), table
    await admin._set_api(1)
    rows = [p for p in await admin._packets(f'.sql query="{select}"', Signal.MAIN_PROMPT)
            if isinstance(p, bytes)]
    assert rows == [f"{jobid}\thi\t*None*\t".encode()]
    refused = await admin.call('.sql query="SELEC nonsense"')
    assert "Query failed: SELEC nonsense. ERR=" in refused["error"]["data"]["messages"]["error"][0]
    assert "syntax error" in refused["error"]["data"]["messages"]["error"][0]
    assert (await admin.call(".sql"))["error"]["data"]["messages"]["error"] == \
        ["query keyword not found.\n"]
    admin.close()
    operator = await console(director, "operator")         # no .sql in its Command ACL
    assert (await operator.call(f'.sql query="{select}"'))["error"]["data"]["messages"][
        "error"] == [".sql: is an invalid command.\n"]
    operator.close()


@pytest_twisted.ensureDeferred
async def test_wait_for_a_job_only_the_catalog_knows(director):
    catalog = await director.catalog_ready()
    jobid = await catalog.create_job(JobRecord(
        job="backup-two.2026-01-01_00.00.00_00", name="backup-two", job_status="T"))
    admin = await console(director)
    assert await admin.result(f"wait jobid={jobid}") == {"job": {
        "jobid": jobid, "jobstatuslong": "OK", "jobstatus": "T", "exitstatus": 0}}
    for line, error in (("wait jobid=99999", "ERR: Job was not found\n"),
                        ("wait job=nosuch", "ERR: Job was not found\n"),
                        ("wait mount", "wait: unknown keyword 'mount'.\n")):
        answer = await admin.call(line)
        assert answer["error"]["data"]["messages"]["error"] == [error], line
    operator = await console(director, "operator")
    assert "error" in await operator.call(f"wait jobid={jobid}")     # not its Job ACL's
    admin.close()
    operator.close()
