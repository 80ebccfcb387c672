"""prune and purge at the console, against one in-process director (started once for the
module) on a SQLite catalog.  The jobs are recorded with times shifted into the past, so
retention periods have passed without waiting (the catalog-level rules are checked on both
backends in tests/integration/catalog/test_catalog_retention.py).
"""

import time
from datetime import datetime

import pytest_twisted

from bareos.catalog import JobRecord
from bareos.testing.director_tree import module_director
from tests.integration.test_console_admin import json_call, json_console, login, text

DAY = 86400

FILES = {
    "director/test-dir.conf": """
Director { Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}"; TLS Enable = no }""",
    "console/consoles.conf": """
Console { Name = admin; Password = secret; TLS Enable = no; Command ACL = *all*;
          Job ACL = *all*; Client ACL = *all*; Storage ACL = *all*; Pool ACL = *all*;
          Catalog ACL = *all*; FileSet ACL = *all* }
Console { Name = onejob; Password = secret; TLS Enable = no; Command ACL = *all*;
          Job ACL = backup-one; Client ACL = *all*; Storage ACL = *all*; Pool ACL = *all*;
          Catalog ACL = *all* }""",
    "client/clients.conf": """
Client { Name = fd-one; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw";
         File Retention = 10 days; Job Retention = 20 days; Auto Prune = yes }
Client { Name = fd-two; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw" }""",
    "storage/File.conf": """
Storage { Name = File; Address = 127.0.0.1; Port = {dead_port}; Password = "sdpw";
          Device = FileStorage; Media Type = File }""",
    "fileset/Set.conf": "FileSet { Name = Set; Include { File = /nonexistent } }",
    "pool/pools.conf": """
Pool { Name = Full; Pool Type = Backup; Volume Retention = 30 days }
Pool { Name = Short; Pool Type = Backup; Volume Retention = 1 day; File Retention = 1 day;
       Job Retention = 2 days }""",
    "job/jobs.conf": """
Job { Name = backup-one; Type = Backup; Client = fd-one; FileSet = Set; Storage = File;
      Pool = Full; Messages = Standard }""",
    "messages/messages.conf": """
Messages { Name = Daemon; Console = all }
Messages { Name = Standard; Catalog = all }""",
    "catalog/MyCatalog.conf": "Catalog { Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }",
}

director = module_director(FILES)
_count = [0]


async def backup(catalog, days_ago, client="fd-one", pool="Full", level="I", volume=None):
    """A backup job recorded ``days_ago`` days before now, with one file."""
    _count[0] += 1
    when = time.time() - days_ago * DAY
    start = datetime.fromtimestamp(int(when))
    pool_id = (await catalog.list_pools(name=pool))[0].pool_id
    job_id = await catalog.create_job(JobRecord(
        job=f"backup-one.{_count[0]}", name="backup-one", level=level, pool_id=pool_id,
        client_id=await catalog.ensure_client(client), job_status="T", start_time=start,
        end_time=start, job_tdate=int(when), job_files=1))
    await catalog.add_file_records(job_id, [(1, "/data/", "a.txt", "lstat", "md5", 0)])
    if volume is not None:
        media = await catalog.get_volume(volume)
        await catalog.create_jobmedia(job_id, media.media_id, 1, 1, 0, 0, 0, 10)
    return job_id


@pytest_twisted.ensureDeferred
async def test_prune_files_shows_the_retention_and_asks(director):
    catalog = await director.catalog_ready()
    old = await backup(catalog, 15)
    young = await backup(catalog, 5)
    client = await login(director)
    said = await text(client, "prune files client=fd-one", "no")
    assert "The current File retention period is: 10 days" in said
    assert len(await catalog.list_files(old)) == 1
    said = await text(client, "prune files client=fd-one", "mod", "20 days", "yes")
    assert "The current File retention period is: 20 days" in said
    assert len(await catalog.list_files(old)) == 1
    said = await text(client, "prune files client=fd-one yes")
    assert "Begin pruning Files." in said and "Pruned Files from 1 Jobs for client fd-one" in said
    assert await catalog.list_files(old) == [] and len(await catalog.list_files(young)) == 1
    client.close()


@pytest_twisted.ensureDeferred
async def test_prune_jobs_with_the_pools_retention(director):
    catalog = await director.catalog_ready()
    await backup(catalog, 1, pool="Short", level="F")
    old_inc = await backup(catalog, 3, pool="Short")
    in_full_pool = await backup(catalog, 3, level="D")
    console = await json_console(director)
    answer = await json_call(console, "prune jobs client=fd-one pool=Short")
    assert "yes= is missing" in str(answer)                # api 2 cannot ask
    assert await catalog.get_job(old_inc) is not None
    answer = await json_call(console, "prune jobs client=fd-one pool=Short yes")
    assert answer["result"] == {}
    # The Short pool's 2 days hold (not the client's 20), for its jobs only.
    assert await catalog.get_job(old_inc) is None
    assert await catalog.get_job(in_full_pool) is not None
    console.close()


@pytest_twisted.ensureDeferred
async def test_prune_and_purge_volume(director):
    catalog = await director.catalog_ready()
    await catalog.create_volume("Ret-0001", "Full", "File", vol_status="Full",
                                first_written=datetime(2020, 1, 1), last_written=datetime(2020, 1, 1))
    await catalog.create_volume("Ret-0002", "Full", "File", vol_status="Append",
                                first_written=datetime.now(), last_written=datetime.now())
    expired = await backup(catalog, 40, volume="Ret-0001")
    retained = await backup(catalog, 1, volume="Ret-0002")
    client = await login(director)
    said = await text(client, "prune volume=Ret-0001 yes")
    assert "Pruning volume Ret-0001: 1 Jobs have expired and can be pruned." in said
    assert 'Volume "Ret-0001" contains no jobs after pruning.' in said
    assert (await catalog.get_volume("Ret-0001")).vol_status == "Purged"
    assert await catalog.get_job(expired) is None
    said = await text(client, "prune volume=Ret-0002 yes")
    assert "cannot prune as Volstatus is Append but needs to be Full or Used" in said
    said = await text(client, "purge volume=Ret-0002", "yes")
    assert "This command can be DANGEROUS" in said
    assert f"Purging the following 1 JobIds: {retained}" in said
    assert (await catalog.get_volume("Ret-0002")).vol_status == "Purged"
    said = await text(client, "purge volume=Ret-0002 yes")
    assert 'has VolStatus "Purged" and cannot be purged' in said
    client.close()


@pytest_twisted.ensureDeferred
async def test_purge_jobs_and_files_of_a_client(director):
    catalog = await director.catalog_ready()
    mine = await backup(catalog, 0, client="fd-two")
    client = await login(director)
    said = await text(client, "purge files client=fd-two yes")
    assert await catalog.list_files(mine) == [] and (await catalog.get_job(mine)).purged_files
    said = await text(client, "purge jobs client=fd-two yes")
    assert "1 Job on client \"fd-two\" purged from catalog." in said
    assert await catalog.get_job(mine) is None
    client.close()


@pytest_twisted.ensureDeferred
async def test_refusals(director):
    client = await login(director)
    said = await text(client, "prune stats yes")
    assert "prune stats is not supported" in said
    said = await text(client, "prune files client=fd-one yes frobnicate")
    assert "unknown keyword 'frobnicate'" in said
    said = await text(client, "purge volume=Ret-0001 action=truncate yes")
    assert "purge: action is not supported yet" in said
    client.close()
    limited = await login(director, "onejob")
    said = await text(limited, "prune files client=fd-one yes")
    assert "Permission denied: need full job permission." in said
    said = await text(limited, "purge volume=Ret-0001 yes")
    assert "Permission denied: need full job permission." in said
    limited.close()
