"""enable/disable, delete, update, configure add, reload and the console ACLs, against one
in-process director (started once for the module) whose configuration is a bareos-dir.d tree.

The scenarios follow Bareos' behaviour (``ua_cmds.cc``, ``ua_update.cc``, ``ua_configure.cc``,
``ua_acl.cc``) and its python-bareos system tests (test_delete, test_acl,
test_update_all_volumes_all_pools); their JSON shapes are checked in api 2.
"""

import json
import types
from datetime import datetime

import pytest_twisted
from twisted.internet import reactor

from bareos.catalog import JobRecord
from bareos.console.client import ConsoleClient
from bareos.protocol import cram
from bareos.protocol.framing import Signal
from bareos.protocol.tls import TlsPolicy
from bareos.testing.director_tree import module_director

FILES = {
    "director/test-dir.conf": """
Director { Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}"; TLS Enable = no;
           Subscriptions = 10 }""",
    "profile/profiles.conf": """
Profile { Name = all; Command ACL = *all*; Job ACL = *all*; Client ACL = *all*;
          Storage ACL = *all*; Pool ACL = *all*; FileSet ACL = *all*; Where ACL = *all*;
          Schedule ACL = *all*; Catalog ACL = *all* }
Profile { Name = operator; Command ACL = !delete, !configure; Command ACL = *all*;
          Job ACL = *all*; Client ACL = *all*; Storage ACL = *all*; Pool ACL = *all*;
          FileSet ACL = *all*; Where ACL = *all*; Schedule ACL = *all*; Catalog ACL = *all* }""",
    "console/consoles.conf": """
Console { Name = admin; Password = secret; TLS Enable = no; Profile = all }
Console { Name = limited; Password = secret; TLS Enable = no; Profile = operator;
          Command ACL = "!status";
          Where ACL = "/.*/restores-limited", "!*all*";
          Client ACL = "fd-one", "!*all*" }
Console { Name = jobs-backup-o; Password = secret; TLS Enable = no; Profile = all;
          Job ACL = "!backup-one-copy", "backup-o.*", "restore", "!*all*" }
Console { Name = fullonly; Password = secret; TLS Enable = no; Profile = all;
          Pool ACL = "Full", "!*all*" }""",
    "client/clients.conf": """
Client { Name = fd-one; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw" }
Client { Name = fd-two; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw" }""",
    "storage/File.conf": """
Storage { Name = File; Address = 127.0.0.1; Port = {dead_port}; Password = "sdpw";
          Device = FileStorage; Media Type = File }""",
    "fileset/Set.conf": "FileSet { Name = Set; Include { File = /nonexistent } }",
    "pool/pools.conf": """
Pool { Name = Full; Pool Type = Backup; Maximum Volume Bytes = 5G; Volume Retention = 30 days }
Pool { Name = Incremental; Pool Type = Backup; Maximum Volume Bytes = 1G }
Pool { Name = Scratch; Pool Type = Scratch }""",
    "schedule/Nightly.conf": 'Schedule { Name = Nightly; Run = Full daily at 23:05 }',
    "job/jobs.conf": """
Job { Name = backup-one; Type = Backup; Client = fd-one; FileSet = Set; Storage = File;
      Pool = Full; Messages = Standard; Schedule = Nightly }
Job { Name = backup-one-copy; Type = Backup; Client = fd-one; FileSet = Set; Storage = File;
      Pool = Full; Messages = Standard }
Job { Name = backup-two; Type = Backup; Client = fd-two; FileSet = Set; Storage = File;
      Pool = Full; Messages = Standard; Schedule = Nightly }
Job { Name = restore; Type = Restore; Client = fd-one; FileSet = Set; Storage = File;
      Pool = Full; Messages = Standard; Where = /tmp/bareos-restores }""",
    "messages/messages.conf": """
Messages { Name = Daemon; Console = all }
Messages { Name = Standard; Catalog = all }""",
    "catalog/MyCatalog.conf": "Catalog { Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }",
}

T0 = datetime(2026, 11, 30, 23, 5, 0)


director = module_director(FILES)


async def login(director, name="admin", password="secret"):
    target = types.SimpleNamespace(address="127.0.0.1", port=director.port)
    return await ConsoleClient.connect(reactor, target, name, cram.password_key(password),
                                       TlsPolicy.NONE)


async def text(client, line, *answers):
    """The api 0 output of a command; ``answers`` answer its questions in turn."""
    output, replies = [], iter(answers)
    await client.command(line, output.append, lambda prompt: next(replies))
    return "".join(output)


async def until_prompt(client, line):
    """What python-bareos' DirectorConsole.call returns: the text up to the end of the
    command or up to the director's question (its sub-prompt)."""
    client.conn.send(line)
    output = []
    while True:
        packet = await client.conn.receive(timeout=10)
        if isinstance(packet, bytes):
            output.append(packet.decode())
        elif packet in (Signal.EOD, Signal.SUB_PROMPT):
            return "".join(output)


async def json_call(client, line):
    """The JSON-RPC document answering ``line`` (the console is in api 2)."""
    client.conn.send(line)
    while True:
        packet = await client.conn.receive(timeout=10)
        if isinstance(packet, bytes) and packet.startswith(b"{"):
            document = json.loads(packet)
        elif packet == Signal.MAIN_PROMPT:
            return document


async def json_console(director, name="admin"):
    client = await login(director, name)
    await json_call(client, ".api 2")
    return client


async def backup_job(catalog, name="backup-one", client="fd-one", n=1, volume=None):
    client_id = await catalog.ensure_client(client)
    job_id = await catalog.create_job(JobRecord(
        job=f"{name}.2026-11-30_23.05.00_{n:02d}", name=name, client_id=client_id,
        job_status="T", sched_time=T0, start_time=T0, end_time=T0, job_tdate=1))
    await catalog.add_file_records(job_id, [(1, "/data/", "a.txt", "lstat", "md5", 0)])
    if volume is not None:
        media = await catalog.get_volume(volume)
        await catalog.create_jobmedia(job_id, media.media_id, 1, 1, 0, 0, 0, 10)
    return job_id


def scheduled_names(director):
    return {row["name"] for row in director.scheduler.upcoming()}


# -- enable / disable ------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_disable_and_enable_a_job_a_client_and_a_schedule(director):
    client = await login(director)
    assert scheduled_names(director) == {"backup-one", "backup-two"}

    said = await text(client, "disable job=backup-two")
    assert said.startswith('Job "backup-two" disabled\n')
    assert "until the director reloads" in said
    assert scheduled_names(director) == {"backup-one"}
    assert (await text(client, "enable job=backup-two")).startswith('Job "backup-two" enabled\n')

    await text(client, "disable client=fd-two")
    assert scheduled_names(director) == {"backup-one"}
    assert 'Client "fd-two" is disabled; skipping status call' in \
        await text(client, "status client=fd-two")
    await text(client, "enable client=fd-two")

    await text(client, "disable schedule=Nightly")
    assert scheduled_names(director) == set()
    await text(client, "enable schedule=Nightly")
    assert scheduled_names(director) == {"backup-one", "backup-two"}
    client.close()


@pytest_twisted.ensureDeferred
async def test_disable_without_a_name_offers_the_enabled_ones_and_api_2_answers_json(director):
    client = await login(director)
    said = await text(client, "disable", "3")       # backup-one, backup-one-copy, backup-two, restore
    assert "The defined Job resources are:\n" in said
    assert 'Job "backup-two" disabled' in said
    assert director.config.get("job", "backup-two").enabled is False

    offered = await text(client, "enable")          # the only disabled job: no question
    assert 'Automatically selected Job: backup-two' in offered
    assert 'Job "backup-two" enabled' in offered
    client.close()

    console = await json_console(director)
    assert (await json_call(console, "disable job=backup-one-copy"))["result"] == \
        {"disable": {"jobs": ["backup-one-copy"]}}
    assert (await json_call(console, "enable job=backup-one-copy"))["result"] == \
        {"enable": {"jobs": ["backup-one-copy"]}}
    refused = await json_call(console, "disable")
    assert "batch mode" in refused["error"]["data"]["messages"]["error"][0]
    refused = await json_call(console, "disable job=nosuch")
    assert refused["error"]["data"]["messages"]["error"] == ['Job "nosuch" not found.\n']
    refused = await json_call(console, "disable volume=x")
    assert refused["error"]["data"]["messages"]["error"] == ["disable: unknown keyword 'volume'.\n"]
    console.close()


@pytest_twisted.ensureDeferred
async def test_a_job_the_job_acl_hides_cannot_be_disabled(director):
    console = await json_console(director, "jobs-backup-o")
    refused = await json_call(console, "disable job=backup-two")
    assert refused["error"]["data"]["messages"]["error"] == ['Job "backup-two" not found.\n']
    assert director.config.get("job", "backup-two").enabled is not False
    console.close()


# -- delete ----------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_delete_jobid_lists_and_ranges(director):
    catalog = await director.catalog_ready()
    kept = await backup_job(catalog, n=10)
    first = await backup_job(catalog, n=11)
    second = await backup_job(catalog, n=12)
    console = await json_console(director)

    answer = await json_call(console, f"delete jobid={first},9001-9003 jobid={second}")
    assert answer["result"] == {"deleted": {"jobids": [
        str(first), "9001", "9002", "9003", str(second)]}}     # as Bareos: unknown ids too
    assert [j.job_id for j in await catalog.list_jobs() if j.job_id in (kept, first, second)] \
        == [kept]
    refused = await json_call(console, "delete jobid=1000_INVALID")
    assert refused["error"]["data"]["messages"]["error"] == [
        'jobid="1000_INVALID" is not valid: give a number from 1 to 2147483647. '
        'JobId 1000_INVALID ignored.\n']
    refused = await json_call(console, "delete jobid=9-3")
    assert "Illegal JobId range 9-3" in refused["error"]["data"]["messages"]["error"][0]
    console.close()

    client = await login(director)      # api 0: a range of more than 25 JobIds is confirmed
    said = await text(client, f"delete jobid={kept}-{kept + 30}", "no")
    assert "Are you sure you want to delete 30 JobIds ? (yes/no): " in said
    assert await catalog.get_job(kept) is not None
    client.close()


@pytest_twisted.ensureDeferred
async def test_delete_volume_deletes_the_jobs_on_it(director):
    catalog = await director.catalog_ready()
    await catalog.create_volume("Del-0001", "Full", "File")
    await catalog.create_volume("Del-0002", "Full", "File")
    on_first = await backup_job(catalog, n=20, volume="Del-0001")
    on_second = await backup_job(catalog, n=21, volume="Del-0002")

    client = await login(director)
    said = await text(client, "delete volume=Del-0002", "no")
    assert 'Are you sure you want to delete Volume "Del-0002"? (yes/no): ' in said
    assert await catalog.get_volume("Del-0002") is not None
    client.close()

    console = await json_console(director)
    answer = await json_call(console, "delete volume=Del-0001")     # api 2: batch, no question
    assert answer["result"] == {"deleted": {"jobids": [str(on_first)], "volumes": ["Del-0001"]}}
    assert await catalog.get_job(on_first) is None
    assert await catalog.get_job(on_second) is not None
    refused = await json_call(console, "delete volume=nosuch")
    assert refused["error"]["data"]["messages"]["error"] == [
        'Volume "nosuch" not found in the catalog.\n']
    console.close()


@pytest_twisted.ensureDeferred
async def test_delete_pool_is_refused_in_batch_mode_and_asked_in_api_0(director):
    catalog = await director.catalog_ready()
    await catalog.ensure_pool("Leftover")
    console = await json_console(director)
    refused = await json_call(console, "delete pool=Leftover")
    assert "not supported in batch mode" in refused["error"]["data"]["messages"]["error"][0]
    console.close()

    client = await login(director)
    assert "Nothing deleted." in await text(client, "delete pool=Leftover", "no")
    assert "Leftover" in [p.name for p in await catalog.list_pools()]
    said = await text(client, "delete pool=Leftover yes")
    assert 'Pool "Leftover"' in said
    assert "Leftover" not in [p.name for p in await catalog.list_pools()]
    client.close()


# -- update ----------------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_update_volume_parameters(director):
    catalog = await director.catalog_ready()
    await catalog.create_volume("Upd-0001", "Full", "File")
    client = await login(director)
    said = await text(client, 'update volume=Upd-0001 volstatus=used maxvolbytes=10G '
                              'volretention="30 days" recycle=no maxvoljobs=3 pool=Incremental')
    assert said.splitlines() == [
        "New Volume status is: Used", "New retention period is: 1 month", "New max jobs is: 3",
        "New Max bytes is: 10737418240", "New Recycle flag is: no", "New Pool is: Incremental"]
    volume = await catalog.get_volume("Upd-0001")
    assert (volume.vol_status, volume.max_vol_bytes, volume.vol_retention, volume.recycle,
            volume.max_vol_jobs, volume.pool) == ("Used", 10 * 2**30, 30 * 86400, 0, 3,
                                                  "Incremental")
    assert "Invalid VolStatus specified: Sleeping" in \
        await text(client, "update volume=Upd-0001 volstatus=Sleeping")
    assert "actiononpurge= is not supported" in \
        await text(client, "update volume=Upd-0001 actiononpurge=truncate")
    assert "unknown keyword 'colour'" in await text(client, "update volume=Upd-0001 colour=red")
    said = await text(client, "update volume=Upd-0001 frompool")
    assert 'Volume defaults updated from "Incremental" Pool record.' in said
    assert (await catalog.get_volume("Upd-0001")).max_vol_bytes == 2**30
    client.close()


@pytest_twisted.ensureDeferred
async def test_update_all_volumes_of_a_pool_through_the_menu(director):
    """Bareos' test_update_all_volumes_all_pools: menu entry 13, then the pool's number."""
    client = await login(director)
    assert "Select parameter to modify (1-19): " in await until_prompt(client, "update volume")
    assert "     2: Incremental\n" in await until_prompt(client, "13")
    # Full, Incremental, Scratch (sorted regardless of case): 2 is Incremental
    assert await until_prompt(client, "2") == \
        'All Volume defaults updated from "Incremental" Pool record.\n'
    said = await text(client, "update volume", "14")
    assert said.count("All Volume defaults updated from") >= 3
    client.close()

    console = await json_console(director)
    answer = await json_call(console, "update volume allfrompool=Full")
    assert answer["result"] == {"pools": ["Full"]}
    answer = await json_call(console, "update volume fromallpools")
    assert {"Full", "Incremental", "Scratch"} <= set(answer["result"]["pools"])
    refused = await json_call(console, "update volume")
    assert "batch mode" in refused["error"]["data"]["messages"]["error"][0]
    console.close()

    console = await json_console(director, "fullonly")       # Pool ACL: Full only
    answer = await json_call(console, "update volume fromallpools")
    assert answer["result"] == {"pools": ["Full"]}
    console.close()


@pytest_twisted.ensureDeferred
async def test_update_one_volume_through_the_menu_until_done(director):
    catalog = await director.catalog_ready()
    await catalog.create_volume("Menu-0001", "Full", "File")
    client = await login(director)
    await until_prompt(client, "update volume=Menu-0001")
    said = await until_prompt(client, "1")                      # Volume Status
    assert 'Updating Volume "Menu-0001"' in said and "     4: Full\n" in said
    said = await until_prompt(client, "4")
    assert "New Volume status is: Full\n" in said
    assert said.endswith("Select parameter to modify (1-19): ")    # the menu again
    await until_prompt(client, "7")                             # Recycle Flag
    assert "New Recycle flag is: no\n" in await until_prompt(client, "no")
    assert await until_prompt(client, "19") == "Selection terminated.\n"
    volume = await catalog.get_volume("Menu-0001")
    assert (volume.vol_status, volume.recycle) == ("Full", 0)
    client.close()


@pytest_twisted.ensureDeferred
async def test_update_pool_takes_the_resource_into_the_catalog(director):
    catalog = await director.catalog_ready()
    await catalog.ensure_pool("Full", max_volume_bytes=1, volume_retention=2)
    console = await json_console(director)
    answer = await json_call(console, "update pool=Full")
    (row,) = answer["result"]["pools"]
    assert (row["name"], row["maxvolbytes"], row["volretention"]) == \
        ("Full", str(5 * 2**30), str(30 * 86400))
    refused = await json_call(console, "update pool=Full maxvolbytes=1G")
    assert refused["error"]["data"]["messages"]["error"] == [
        "update pool: unknown keyword 'maxvolbytes'.\n"]
    refused = await json_call(console, "update stats")
    assert "update stats" in refused["error"]["data"]["messages"]["error"][0]
    console.close()


# -- configure add, reload -------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_configure_add_writes_the_resource_and_uses_it_at_once(director):
    console = await json_console(director)
    answer = await json_call(console, "configure add pool=NewPool pooltype=Backup "
                                      "maximumvolumebytes=2G")
    added = answer["result"]["configure"]["add"]
    path = director.tree / "pool" / "NewPool.conf"
    assert (added["resource"], added["name"], added["filename"]) == ("Pool", "NewPool", str(path))
    assert path.read_text() == added["content"] == (
        "Pool {\n  Name = NewPool\n  Pool Type = Backup\n  Maximum Volume Bytes = 2G\n}\n")
    assert director.config.get("pool", "NewPool").maximum_volume_bytes == 2 * 2**30
    catalog = await director.catalog_ready()
    assert "NewPool" in [p.name for p in await catalog.list_pools()]

    refusals = {
        "configure add pool=NewPool": 'Resource "Pool" with name "NewPool" already exists.\n',
        "configure add pool=Other colour=red":
            'Resource "Pool" does not permit directive "colour".\n',
        "configure add pool=Other labelformat=a;b":
            "Could not add directive \"labelformat\": character ';' (end of directive) is "
            "forbidden.\n",
        "configure add pool pooltype=Backup": 'Resource "Pool": missing name parameter.\n',
        "configure add director=other": "Only one Director resource allowed.\n",
        "configure add gadget=x": "invalid resource type gadget.\n",
    }
    for line, error in refusals.items():
        refused = await json_call(console, line)
        assert refused["error"]["data"]["messages"]["error"] == [error], line
    # a job naming a client that does not exist: the file does not stay, nothing changes
    refused = await json_call(console, "configure add job name=broken type=Backup "
                                       "client=nosuch fileset=Set storage=File pool=Full "
                                       "messages=Standard")
    assert refused["error"]["data"]["messages"]["error"][0].startswith("configure error: ")
    assert not (director.tree / "job" / "broken.conf").exists()
    assert director.config.get("job", "broken") is None
    console.close()


@pytest_twisted.ensureDeferred
async def test_a_console_added_by_configure_add_logs_in_with_its_acls(director):
    console = await json_console(director)
    await json_call(console, "configure add console=added password=secret profile=operator "
                             "poolacl=!Full,*all* tlsenable=no")
    console.close()
    added = await json_console(director, "added")
    refused = await json_call(added, "update pool=Full")
    assert refused["error"]["data"]["messages"]["error"] == ['Pool resource "Full" not found.\n']
    assert "result" in await json_call(added, "update pool=Incremental")
    refused = await json_call(added, "delete jobid=1")
    assert refused["error"]["data"]["messages"]["error"] == ["delete: is an invalid command.\n"]
    added.close()


@pytest_twisted.ensureDeferred
async def test_reload_keeps_the_running_configuration_when_the_new_one_is_broken(director):
    client = await login(director)
    await text(client, "disable job=backup-one-copy")
    broken = director.tree / "job" / "zz-broken.conf"
    broken.write_text("Job { Name = zz; Type = Backup; Client = nosuch }\n")
    try:
        said = await text(client, "reload")
        assert said.startswith("reload failed, the configuration in use stays: ")
        assert "zz-broken.conf" in said
        assert director.config.get("job", "backup-one-copy").enabled is False
    finally:
        broken.unlink()
    (director.tree / "client" / "fd-three.conf").write_text(
        'Client { Name = fd-three; Address = 127.0.0.1; Password = "fdpw" }\n')
    running = director.config
    assert await text(client, "reload") == "reloaded\n"
    assert director.config is not running
    assert director.config.get("client", "fd-three") is not None
    assert director.config.get("job", "backup-one-copy").enabled is True   # run-time setting gone
    catalog = await director.catalog_ready()
    assert "fd-three" in [c.name for c in await catalog.list_clients()]
    client.close()

    console = await json_console(director)
    assert (await json_call(console, "reload"))["result"] == {"reload": {"success": True}}
    console.close()


# -- ACLs on the job commands ----------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_command_acl_of_console_and_profile(director):
    console = await json_console(director, "limited")
    for line in ("status director", "stat", "delete jobid=1", "del jobid=1", "configure add x"):
        refused = await json_call(console, line)
        word = line.split()[0]
        assert refused["error"]["data"]["messages"]["error"] == \
            [f"{word}: is an invalid command.\n"], line
    assert "result" in await json_call(console, "whoami")
    console.close()


@pytest_twisted.ensureDeferred
async def test_run_and_restore_check_the_client_and_where_acls(director):
    catalog = await director.catalog_ready()
    job_id = await backup_job(catalog, n=30)
    client = await login(director, "limited")
    assert 'No authorization. Client "fd-two".' in await text(client, "run job=backup-two")
    assert 'No authorization. Client "fd-two".' in await text(client, "estimate job=backup-two")
    assert 'Client "fd-two" not found.' in \
        await text(client, "run job=backup-one client=fd-two")
    assert "OK to run?" in await text(client, "run job=backup-one", "no")

    restore = f"restore jobid={job_id} all done client=fd-one"
    for where in ("/tmp/INVALID", '""'):
        assert '"where" specification not authorized.' in \
            await text(client, f"{restore} where={where}"), where
    assert "Restore not run." in \
        await text(client, f"{restore} where=/srv/restores-limited", "no")
    assert "Restore not run." in await text(client, restore, "no")     # the job's own Where
    client.close()


@pytest_twisted.ensureDeferred
async def test_restore_selects_a_jobid_by_the_job_acl_only_as_bareos(director):
    """A console whose Client ACL hides fd-two still selects a backup of fd-two by its JobId
    (Bareos checks only the Job ACL there) and enters the tree; it restores to its own client."""
    catalog = await director.catalog_ready()
    job_id = await backup_job(catalog, name="backup-two", client="fd-two", n=31)
    client = await login(director, "limited")
    said = await text(client, "restore client=fd-one", "3", str(job_id), "find *", "mark *",
                      "done", "no")
    assert f"You have selected the following JobId: {job_id}" in said
    assert "/data/a.txt" in said and "is an invalid command" not in said
    assert "Restore not run." in said
    client.close()


@pytest_twisted.ensureDeferred
async def test_job_acl_with_regular_expression_and_denial(director):
    client = await login(director, "jobs-backup-o")
    assert "OK to run?" in await text(client, "run job=backup-one", "no")
    assert 'Job "backup-one-copy" not found.' in await text(client, "run job=backup-one-copy")
    assert 'Job "backup-two" not found.' in await text(client, "run job=backup-two")
    client.close()


@pytest_twisted.ensureDeferred
async def test_a_named_console_session_sees_its_acls_from_profiles(director):
    console = await json_console(director, "limited")
    await json_call(console, "whoami")
    (session,) = [s for s in director.consoles if s.name == "limited"]
    assert session.acl_allows("client_acl", "fd-one")
    assert not session.acl_allows("client_acl", "fd-two")
    assert session.acl_allows("pool_acl", "Full")           # from the profile
    assert not session.acl_allows("command_acl", "delete")
    console.close()


@pytest_twisted.ensureDeferred
async def test_status_and_help_show_only_what_the_acls_allow(director):
    console = await json_console(director, "jobs-backup-o")
    scheduled = (await json_call(console, "status director"))["result"]["scheduled"]
    assert {row["name"] for row in scheduled} == {"backup-one"}
    console.close()
    console = await json_console(director, "limited")
    commands = (await json_call(console, "help"))["result"]["commands"]
    assert "list" in commands and "update" in commands
    assert not {"delete", "configure", "status"} & set(commands)
    refused = await json_call(console, "help delete")
    assert refused["error"]["data"]["messages"]["error"] == ["delete: no such command.\n"]
    console.close()


@pytest_twisted.ensureDeferred
async def test_a_session_keeps_the_acls_of_its_login_over_a_reload(director):
    before = await json_console(director, "limited")
    profiles = director.tree / "profile" / "profiles.conf"
    original = profiles.read_text()
    profiles.write_text(original.replace("Command ACL = !delete, !configure;",
                                         "Command ACL = !delete, !configure, !update;"))
    try:
        client = await login(director)
        assert await text(client, "reload") == "reloaded\n"
        after = await json_console(director, "limited")
        refused = await json_call(after, "update pool=Incremental")
        assert refused["error"]["data"]["messages"]["error"] == ["update: is an invalid command.\n"]
        assert "result" in await json_call(before, "update pool=Incremental")
        after.close()
    finally:
        profiles.write_text(original)
        assert await text(client, "reload") == "reloaded\n"
        client.close()
        before.close()


# -- status subscription ---------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_status_subscription_counts_units_against_the_configured_subscriptions(director):
    catalog = await director.catalog_ready()
    file_data = await catalog.ensure_fileset("Set", "I\nF /srv\nN\n", "md5-set")
    postgres = await catalog.ensure_fileset(
        "Pg", "I\nP python3:module_name=bareos-fd-postgresql:dbname=x\nN\n", "md5-pg")
    pipe = await catalog.ensure_fileset("Pipe", "I\nP bpipe:file=/x:reader=cat:writer=cat\nN\n",
                                        "md5-pipe")
    job_ids = []
    for n, (client, fileset, written) in enumerate([
            ("fd-one", file_data, 1500 * 10**9),     # 1.5 TB: two volume-based units
            ("fd-two", postgres, 2 * 10**9), ("fd-two", pipe, 10**9)]):
        client_id = await catalog.ensure_client(client)
        job_ids.append(await catalog.create_job(JobRecord(
            job=f"sub.2026-11-30_23.05.00_{n:02d}", name="sub", client_id=client_id,
            fileset_id=fileset, job_status="T", job_bytes=written, sched_time=T0,
            start_time=T0, end_time=T0, job_tdate=1)))
    try:
        console = await json_console(director)
        answer = (await json_call(console, "status subscription all"))["result"]
        assert answer["unit-summary"] == {
            "accounting_mode": "count-based (2 volume-based < 3 count-based)",
            "used": "3", "configured": "10", "remaining": "7"}
        assert answer["unit-detail"] == [
            {"client": "fd-one", "plugin": "none (file data)", "count": "1", "size_gb": "1500.00"},
            {"client": "fd-two", "plugin": "bpipe", "count": "1", "size_gb": "1.00"},
            {"client": "fd-two", "plugin": "postgresql", "count": "1", "size_gb": "2.00"},
            {"client": "TOTAL", "plugin": "", "count": "3", "size_gb": "1503.00"}]
        assert answer["unit-clients"][-1] == {"client": "TOTAL", "count": "3",
                                              "size_gb": "1503.00"}
        assert [row["plugin"] for row in answer["unit-plugins"]] == [
            "bpipe", "none (file data)", "postgresql", "TOTAL"]
        assert answer["checksum"].startswith("{SHA256}")

        plugins_only = (await json_call(console, "status subscriptions plugins anonymize"))["result"]
        assert "unit-detail" not in plugins_only and "unit-clients" not in plugins_only
        one = (await json_call(console, "status subscription client=fd-two"))["result"]
        assert [row["fileset"] for row in one["unit-detail"]] == ["Pg", "Pipe"]
        ignored = await json_call(console, "status subscription detail")
        assert ignored["error"]["data"]["messages"]["error"] == [
            "Parameter 'detail' ignored. This is now the default.\n"]
        refused = await json_call(console, "status subscription bogus")
        assert "unknown keyword 'bogus'" in refused["error"]["data"]["messages"]["error"][0]
        console.close()

        client = await login(director)
        said = await text(client, "status subscription clients anonymize")
        assert "Backup unit report aggregated by client:" in said
        fd_two = await catalog.ensure_client("fd-two")
        assert f"| Client {fd_two} |     2 |    3.00 |" in said
        assert "   configured: 10\n" in said and "Detailed backup unit report" not in said
        client.close()

        # Only a console that sees every client, job and fileset may count them; the
        # Pool ACL does not matter.
        for name, allowed in (("jobs-backup-o", False), ("fullonly", True)):
            console = await json_console(director, name)
            answer = await json_call(console, "status subscription")
            assert ("result" in answer) is allowed
            if not allowed:
                assert answer["error"]["data"]["messages"]["error"] == [
                    "status subscription: needs access to all client, job and fileset "
                    "resources.\n"]
            console.close()
    finally:
        for job_id in job_ids:
            await catalog.delete_job(job_id)
