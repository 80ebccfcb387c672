"""``list`` / ``llist`` on a catalog with backups, a restore, several levels, clients, pools and
volumes: every filter of ``list jobs`` returns exactly the right jobs, the other keywords
answer in Bareos' JSON shapes, and a console sees only what its ACLs grant.

One in-process director for the whole file (its catalog filled once); each test logs in
over loopback and asks in api 2 (JSON) or api 0 (text).
"""

import json
import types
from datetime import datetime, timedelta

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from bareos.catalog import open_catalog
from bareos.catalog.api import JobRecord
from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR
from bareos.console.client import ConsoleClient
from bareos.protocol import cram
from bareos.protocol.framing import Signal
from bareos.protocol.tls import TlsPolicy
from bareos.testing.inprocess import serve_director
from bareos.testing.ports import free_port

CONFIG = """
Director {{ Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}"; TLS Enable = no }}
Console {{ Name = admin; Password = "adminpw"; TLS Enable = no; Command ACL = *all*;
          Job ACL = *all*; Client ACL = *all*; Pool ACL = *all*; Storage ACL = *all*;
          FileSet ACL = *all* }}
Console {{ Name = one-only; Password = "onepw"; TLS Enable = no; Command ACL = list, llist, .api;
          Job ACL = backup-one, restore-one; Client ACL = fd-one; Pool ACL = Incremental;
          Storage ACL = File; FileSet ACL = SetOne }}
Client {{ Name = fd-one; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw" }}
Client {{ Name = fd-two; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw" }}
Storage {{ Name = File; Address = 127.0.0.1; Port = {dead_port}; Password = "sdpw";
          Device = FileStorage; Media Type = File }}
FileSet {{ Name = SetOne; Include {{ File = /one }} }}
FileSet {{ Name = SetTwo; Include {{ File = /two }} }}
Pool {{ Name = Full; Pool Type = Backup; Label Format = "Full-" }}
Pool {{ Name = Incremental; Pool Type = Backup }}
Pool {{ Name = Empty; Pool Type = Backup }}
Job {{ Name = backup-one; Type = Backup; Client = fd-one; FileSet = SetOne; Storage = File;
      Pool = Full; Messages = Standard }}
Job {{ Name = backup-two; Type = Backup; Client = fd-two; FileSet = SetTwo; Storage = File;
      Pool = Full; Messages = Standard }}
Job {{ Name = restore-one; Type = Restore; Client = fd-one; FileSet = SetOne; Storage = File;
      Pool = Full; Messages = Standard }}
Messages {{ Name = Daemon; Console = all }}
Messages {{ Name = Standard; Catalog = all }}
Catalog {{ Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }}
"""

NOW = datetime.now().replace(microsecond=0)

# name, type, level, client, fileset, pool, status, scheduled (ago), volume, errors
JOBS = [
    ("backup-one", "B", "F", "fd-one", "SetOne", "Full", "T", timedelta(days=10), "Full-0001", 0),
    ("backup-one", "B", "I", "fd-one", "SetOne", "Incremental", "T", timedelta(days=2),
     "Incr-0001", 0),
    ("restore-one", "R", "F", "fd-one", "SetOne", None, "T", timedelta(days=1), None, 0),
    ("backup-two", "B", "F", "fd-two", "SetTwo", "Full", "E", timedelta(hours=3), "Full-0002", 3),
    ("backup-two", "B", "D", "fd-two", "SetTwo", "Full", "A", timedelta(hours=1), None, 0),
    ("backup-one", "B", "I", "fd-one", "SetOne", "Incremental", "W", timedelta(minutes=30),
     "Incr-0001", 0),
]
ALL = [1, 2, 3, 4, 5, 6]


async def fill_catalog(config, workdir):
    """The JOBS, their volumes (two in Full, one in Incremental) and job logs."""
    catalog = await open_catalog(config.resources("catalog")[0], str(workdir), reactor)
    storage_id = await catalog.ensure_storage("File")
    for pool in ("Full", "Incremental", "Empty"):
        await catalog.ensure_pool(pool)
    media = {}
    for name, pool in (("Full-0001", "Full"), ("Full-0002", "Full"), ("Incr-0001", "Incremental")):
        media[name] = await catalog.create_volume(name, pool, "File", storage_id=storage_id,
                                                  vol_bytes=1_000_000, vol_jobs=1)
    for number, (name, type_, level, client, fileset, pool, status, ago, volume,
                 errors) in enumerate(JOBS, 1):
        started = NOW - ago
        job_id = await catalog.create_job(JobRecord(
            job=f"{name}.{number:02d}", name=name, type=type_, level=level,
            client_id=await catalog.ensure_client(client),
            fileset_id=await catalog.ensure_fileset(fileset, "", fileset),
            pool_id=(await catalog.list_pools(name=pool))[0].pool_id if pool else None,
            job_status=status, sched_time=started, start_time=started,
            end_time=started + timedelta(seconds=65), job_files=10 * number,
            job_bytes=1000 * number, job_errors=errors, job_tdate=1))
        if volume:
            await catalog.create_jobmedia(job_id, media[volume], 1, 10 * number, 0, 0, 0, 100)
        await catalog.add_log(job_id, started, f"{name} job {number} says hello\n")
    await catalog.add_file_records(1, [(1, "/one/", "a.txt", "lstat", "0"),
                                       (2, "/one/", "b.txt", "lstat", "0")])
    await catalog.close()


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("listing")
    port = free_port()
    config = parse_config_text(CONFIG.format(port=port, dead_port=free_port(), workdir=workdir),
                               DIRECTOR)
    pytest_twisted.blockon(defer.ensureDeferred(fill_catalog(config, workdir)))
    yield from serve_director(config, port)


class Console:
    """A logged-in console that asks in api 2 (``json``) or api 0 (``text``)."""

    def __init__(self, client):
        self.client = client
        self.api = 0

    async def json(self, line):
        """The JSON-RPC document of one command: its "result", or the "error" as an exception."""
        conn = self.client.conn
        if self.api != 2:
            conn.send(".api json compact=yes")
            await packets_until(conn, Signal.MAIN_PROMPT)
            self.api = 2
        conn.send(line)
        packets = await packets_until(conn, Signal.MAIN_PROMPT)
        document = json.loads(packets[2])
        if "error" in document:
            raise ListFailed(document["error"]["data"]["messages"])
        return document["result"]

    async def text(self, line):
        assert self.api == 0
        output = []
        await self.client.command(line, output.append, None)
        return "".join(output)


class ListFailed(Exception):
    pass


async def packets_until(conn, terminator):
    received = []
    while True:
        packet = await conn.receive(timeout=10)
        received.append(packet)
        if packet == terminator:
            return received


async def login(director, name="admin", password="adminpw"):
    target = types.SimpleNamespace(address="127.0.0.1", port=director.port)
    client = await ConsoleClient.connect(reactor, target, name, cram.password_key(password),
                                         TlsPolicy.NONE)
    return Console(client)


@pytest.fixture
def console(director):
    console = pytest_twisted.blockon(defer.ensureDeferred(login(director)))
    yield console
    console.client.close()


def jobids(result, key="jobs"):
    return [int(job["jobid"]) for job in result[key]]


@pytest.mark.parametrize("filters, expected", [
    ("", ALL),
    ("jobtype=B", [1, 2, 4, 5, 6]),
    ("jobtype=R", [3]),
    ("jobtype=Restore", [3]),
    ("jobtype=B,R", ALL),
    ("level=I", [2, 6]),
    ("joblevel=F", [1, 3, 4]),
    ("level=Full,Differential", [1, 3, 4, 5]),
    ("client=fd-two", [4, 5]),
    ("pool=Incremental", [2, 6]),
    ("pool=nosuch", []),
    ("volume=Incr-0001", [2, 6]),
    ("volume=Full-0002", [4]),
    ("volume=nosuch", []),
    ("jobstatus=T", [1, 2, 3]),
    ("jobstatus=E,A", [4, 5]),
    ("jobstatus=terminated,warnings", [1, 2, 3, 6]),
    ("jobstatus=R", []),
    ("days=3", [2, 3, 4, 5, 6]),
    ("hours=2", [5, 6]),
    ("days=30 hours=2", [5, 6]),
    ("job=backup-two", [4, 5]),
    ("jobname=restore-one", [3]),
    ("job=nosuch", []),
    ("jobid=4", [4]),
    ("ujobid=backup-one.02", [2]),
    ("last", [3, 5, 6]),
    ("last jobstatus=T", [2, 3]),
    ("last level=F", [1, 3, 4]),
    ("limit=2", [1, 2]),
    ("limit=2 offset=2", [3, 4]),
    ("limit=2 offset=5", [6]),
    ("limit=99999999999999999999999999 offset=99999999999999999999999999", []),
    ("order=desc", [6, 5, 4, 3, 2, 1]),
    ("order=asc limit=1", [1]),
    ("reverse limit=2", [6, 5]),
    ("client=fd-one jobtype=B level=I jobstatus=T", [2]),
    ("current", ALL),
])
@pytest_twisted.ensureDeferred
async def test_every_filter_of_list_jobs_selects_exactly_its_jobs(console, filters, expected):
    assert jobids(await console.json(f"list jobs {filters}")) == expected
    assert jobids(await console.json(f"llist jobs {filters}")) == expected


@pytest.mark.parametrize("line", ["list jobid=99", "llist ujobid=nosuch", "list jobs jobid=99"])
@pytest_twisted.ensureDeferred
async def test_a_job_that_does_not_exist_is_an_empty_object_as_in_bareos(console, line):
    assert await console.json(line) == {"jobs": {}}


@pytest.mark.parametrize("filters, expected", [
    ("", 6), ("jobtype=B", 5), ("client=fd-two", 2), ("pool=nosuch", 0), ("last", 3),
    ("volume=Incr-0001", 2)])
@pytest_twisted.ensureDeferred
async def test_the_count_modifier_counts_what_the_filters_select(console, filters, expected):
    assert (await console.json(f"list jobs count {filters}")) == {"jobs": [{"count": str(expected)}]}


@pytest_twisted.ensureDeferred
async def test_a_client_the_catalog_does_not_know_is_an_error_as_in_bareos(console):
    with pytest.raises(ListFailed, match="invalid client argument: nosuch"):
        await console.json("list jobs client=nosuch")


@pytest_twisted.ensureDeferred
async def test_job_columns_are_bareos_columns(console):
    (short,) = (await console.json("list jobid=2"))["jobs"]
    assert short == {"jobid": "2", "name": "backup-one", "client": "fd-one",
                     "starttime": short["starttime"], "duration": "00:01:05", "type": "B",
                     "level": "I", "jobfiles": "20", "jobbytes": "2000", "jobstatus": "T"}
    (long,) = (await console.json("llist jobid=4"))["jobs"]
    assert list(long) == [
        "jobid", "job", "name", "purgedfiles", "type", "level", "clientid", "client",
        "jobstatus", "schedtime", "starttime", "endtime", "realendtime", "duration", "jobtdate",
        "volsessionid", "volsessiontime", "jobfiles", "jobbytes", "joberrors",
        "jobmissingfiles", "poolid", "poolname", "priorjobid", "filesetid", "fileset"]
    assert (long["job"], long["poolname"], long["fileset"], long["joberrors"]) == \
        ("backup-two.04", "Full", "SetTwo", "3")


@pytest.mark.parametrize("line, error", [
    ("list", "list command requires a keyword"),
    ("list frobnicate", "Unknown list keyword: frobnicate"),
    ("list jobs=x", "'list jobs' takes no value"),
    ("list job", "Missing job parameter"),
    ("list jobid", "Missing jobid parameter"),
    ("list jobs jobstatus=nonsense", "invalid jobstatus parameter"),
    ("list jobs level=Sometimes", "invalid joblevel parameter"),
    ("list jobs jobtype=Nonsense", "invalid jobtype parameter"),
    ("list jobs colour=red", 'list jobs: unknown argument "colour"'),
    ("list jobs order=sideways", 'order="sideways" is not valid'),
    ("list jobs offset=3", "offset= needs limit="),
    ("list files jobid=99", "jobid not found in db"),
    ("list files", "list files: give jobid=<id> or ujobid=<name>"),
    ("list volumes pool=nosuch", "Pool nosuch doesn't exist."),
    ("list backups", "missing parameter: client"),
    ("list fileset", "or no filesetid= given"),
    ("list basefiles jobid=1", "list basefiles: this director runs no Base jobs"),
    ("llist jobstats jobid=1", "llist jobstats: this director collects no job statistics"),
])
@pytest_twisted.ensureDeferred
async def test_wrong_list_commands_are_refused_by_name(console, line, error):
    with pytest.raises(ListFailed) as failure:
        await console.json(line)
    assert any(error in message for message in failure.value.args[0]["error"])


@pytest_twisted.ensureDeferred
async def test_volumes_are_listed_grouped_by_pool(console):
    result = await console.json("list volumes")
    assert list(result["volumes"]) == ["full", "incremental", "empty"]
    assert [v["volumename"] for v in result["volumes"]["full"]] == ["Full-0001", "Full-0002"]
    assert result["volumes"]["empty"] == []
    assert sorted(result["volumes"]["incremental"][0]) == sorted([
        "mediaid", "volumename", "volstatus", "enabled", "volbytes", "volfiles", "volretention",
        "recycle", "slot", "inchanger", "mediatype", "lastwritten", "storage",
        "hasencryptionkey"])
    assert [v["volumename"] for v in (await console.json("list volumes pool=Full"))["volumes"]] \
        == ["Full-0001", "Full-0002"]
    assert (await console.json("list volumes count"))["volumes"]["full"] == [{"count": "2"}]
    assert (await console.json("list volumes jobid=99")) == {}
    assert [v["volumename"] for v in (await console.json("list volumes jobid=2"))["volumes"]] \
        == ["Incr-0001"]
    (volume,) = (await console.json("llist volumes all limit=1 offset=2"))["volumes"]
    assert (volume["volumename"], volume["pool"], volume["storage"]) == \
        ("Incr-0001", "Incremental", "File")
    one = (await console.json("list volume=Full-0002"))["volume"]
    assert (one["volumename"], one["volbytes"]) == ("Full-0002", "1000000")
    assert (await console.json(f"llist volumeid={one['mediaid']}"))["volume"]["volumename"] == \
        "Full-0002"
    assert (await console.json("list media=nosuch")) == {"volume": {}}


@pytest_twisted.ensureDeferred
async def test_pools_clients_storages_and_filesets(console):
    pools = (await console.json("list pools"))["pools"]
    assert [p["name"] for p in pools] == ["Full", "Incremental", "Empty"]
    assert list(pools[0]) == ["poolid", "name", "numvols", "maxvols", "pooltype", "labelformat"]
    assert (pools[0]["numvols"], pools[0]["labelformat"]) == ("2", "Full-")
    (incremental,) = (await console.json("llist pool=Incremental"))["pools"]
    assert "acceptanyvolume" in incremental and incremental["numvols"] == "1"
    assert (await console.json(f"list poolid={pools[1]['poolid']}"))["pools"][0]["name"] == \
        "Incremental"
    clients = (await console.json("list clients"))["clients"]
    assert [list(c) for c in clients] == [["clientid", "name", "fileretention", "jobretention"]] * 2
    assert [c["name"] for c in clients] == ["fd-one", "fd-two"]
    assert "uname" in (await console.json("llist clients"))["clients"][0]
    assert [c["name"] for c in (await console.json("list client=fd-two"))["clients"]] == ["fd-two"]
    assert (await console.json("list storages"))["storages"][0]["name"] == "File"
    filesets = (await console.json("list filesets"))["filesets"]
    assert [(f["fileset"], sorted(f)) for f in filesets] == [
        (name, ["createtime", "fileset", "filesetid", "filesettext", "md5"])
        for name in ("SetOne", "SetTwo")]
    assert [f["fileset"] for f in (await console.json("list fileset jobid=4 limit=1"))["filesets"]] \
        == ["SetTwo"]
    assert [f["fileset"] for f in (await console.json(
        f"list fileset filesetid={filesets[0]['filesetid']}"))["filesets"]] == ["SetOne"]


@pytest_twisted.ensureDeferred
async def test_job_details_logs_media_files_totals_and_backups(console):
    log = (await console.json("list joblog jobid=3"))["joblog"]
    assert [entry["logtext"] for entry in log] == ["restore-one job 3 says hello\n"]
    assert sorted(log[0]) == ["logtext", "time"]
    assert (await console.json("list joblog jobid=3 count")) == {"joblog": [{"count": "1"}]}
    assert (await console.json("list jobmedia jobid=4"))["jobmedia"] == [
        {"jobid": "4", "volumename": "Full-0002", "firstindex": "1", "lastindex": "40"}]
    assert [m["jobid"] for m in (await console.json("list jobmedia"))["jobmedia"]] == \
        ["1", "2", "4", "6"]
    assert (await console.json("list files jobid=1")) == {
        "filenames": [{"filename": "/one/a.txt"}, {"filename": "/one/b.txt"}]}
    totals = await console.json("llist jobtotals")
    assert totals["jobtotals"] == {"jobs": "5", "files": "180", "bytes": "18000"}
    assert totals["jobs"] == [
        {"jobs": "3", "files": "90", "bytes": "9000", "job": "backup-one"},
        {"jobs": "2", "files": "90", "bytes": "9000", "job": "backup-two"}]
    # backups: Terminated (T) and with Warnings (W) unless jobstatus= says otherwise
    assert jobids(await console.json("list backups client=fd-one"), "backups") == [1, 2, 6]
    assert jobids(await console.json("list backups client=fd-one jobstatus=W order=desc"),
                  "backups") == [6]
    assert jobids(await console.json("list backups client=fd-one fileset=SetTwo"),
                  "backups") == []
    # list log: the newest five entries, oldest first (reverse: newest first)
    assert [e["jobname"] for e in (await console.json("list log"))["log"]] == [
        "backup-one", "restore-one", "backup-two", "backup-two", "backup-one"]
    assert [e["logtext"] for e in (await console.json("list log client=fd-two"))["log"]] == [
        "backup-two job 4 says hello\n", "backup-two job 5 says hello\n"]
    (newest,) = (await console.json("list log reverse limit=1"))["log"]
    assert sorted(newest) == ["clientname", "jobname", "logid", "logtext", "time"]
    assert newest["logtext"] == "backup-one job 6 says hello\n"
    assert (await console.json("list copies")) == {}
    assert (await console.json("list nextvol job=backup-one"))["nextvol"]["volume"] == "Full-0001"


@pytest_twisted.ensureDeferred
async def test_text_answers_are_bareos_tables_and_blocks(console):
    # the first catalog command of an api 0 session names the catalog, as Bareos does
    assert await console.text("list files jobid=1") == \
        'Using Catalog "MyCatalog"\n/one/a.txt\n/one/b.txt\n'
    table = await console.text("list jobs jobid=4")
    assert "| jobid | name       | client | starttime" in table
    assert "|     4 | backup-two | fd-two |" in table and "|    4,000 | E " in table
    block = await console.text("llist jobid=4")
    assert "           jobid: 4\n" in block and "        jobbytes: 4,000\n" in block
    volumes = await console.text("list volumes")
    assert volumes.startswith("Pool: Full\n+") and "\nPool: Empty\n" in volumes
    assert await console.text("list jobs client=nosuch") == "invalid client argument: nosuch\n"
    assert await console.text("list log limit=2") == \
        "backup-two job 5 says hello\nbackup-one job 6 says hello\n"


@pytest_twisted.ensureDeferred
async def test_a_restricted_console_sees_only_rows_its_acls_grant(director):
    console = await login(director, "one-only", "onepw")
    try:
        assert jobids(await console.json("list jobs")) == [1, 2, 3, 6]
        # llist also checks the Pool and FileSet ACLs: job 1 was written to pool Full
        assert jobids(await console.json("llist jobs")) == [2, 3, 6]
        assert jobids(await console.json("list jobs limit=2 offset=1")) == [2, 3]
        assert await console.json("list jobs count") == {"jobs": [{"count": "4"}]}
        assert await console.json("list jobid=4") == {"jobs": {}}
        assert [c["name"] for c in (await console.json("list clients"))["clients"]] == ["fd-one"]
        assert [p["name"] for p in (await console.json("list pools"))["pools"]] == ["Incremental"]
        assert list((await console.json("list volumes"))["volumes"]) == ["incremental"]
        assert (await console.json("list volume=Full-0001")) == {"volume": {}}
        assert [f["fileset"] for f in (await console.json("list filesets"))["filesets"]] == \
            ["SetOne"]
        assert [t["job"] for t in (await console.json("list jobtotals"))["jobs"]] == ["backup-one"]
        assert [m["jobid"] for m in (await console.json("list jobmedia"))["jobmedia"]] == \
            ["1", "2", "6"]
        assert [e["logtext"][:15] for e in (await console.json("list log limit=2"))["log"]] == \
            ["restore-one job", "backup-one job "]
        with pytest.raises(ListFailed):
            await console.json("list joblog jobid=4")
        # the short "all" form has no pool column: refused while a pool is hidden
        with pytest.raises(ListFailed):
            await console.json("list media all")
        assert [v["pool"] for v in (await console.json("llist media all"))["volumes"]] == \
            ["Incremental"]
    finally:
        console.client.close()
