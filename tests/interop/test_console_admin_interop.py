"""python-bareos 25.1.1 against the admin commands of an in-process director: the JSON
shapes its users read (``deleted.jobids``, ``configure.add.name``, ``enable``/``disable``),
and the api 0 dialogue of Bareos' test_update_all_volumes_all_pools (configure add pool,
reload, ``update volume`` / ``13`` / ``1``, ``delete pool=... yes``), and the report of
Bareos' test_status_subscription_admin (``status subscription all``).
"""

import pytest
import pytest_twisted
from twisted.internet import threads

from bareos.testing import pybareos
from bareos.testing.director_tree import module_director

pytestmark = pytest.mark.usefixtures("pybareos_venv")

FILES = {
    "director/test-dir.conf": """
Director { Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}"; TLS Enable = no;
           Subscriptions = 10 }""",
    "console/admin.conf": """
Console { Name = admin; Password = secret; TLS Enable = no; Command ACL = *all*;
          Job ACL = *all*; Client ACL = *all*; Pool ACL = *all*; Storage ACL = *all*;
          FileSet ACL = *all*; Schedule ACL = *all*; Where ACL = *all* }""",
    "client/fd.conf": 'Client { Name = fd; Address = 127.0.0.1; Port = {dead_port}; Password = p }',
    "storage/File.conf": """
Storage { Name = File; Address = 127.0.0.1; Port = {dead_port}; Password = p;
          Device = FileStorage; Media Type = File }""",
    "fileset/Set.conf": "FileSet { Name = Set; Include { File = /nonexistent } }",
    "pool/Full.conf": "Pool { Name = Full; Pool Type = Backup }",
    "pool/Scratch.conf": "Pool { Name = Scratch; Pool Type = Scratch }",
    "job/backup.conf": """
Job { Name = backup; Type = Backup; Client = fd; FileSet = Set; Storage = File; Pool = Full;
      Messages = Standard }""",
    "messages/messages.conf": """
Messages { Name = Daemon; Console = all }
Messages { Name = Standard; Catalog = all }""",
    "catalog/MyCatalog.conf": "Catalog { Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }",
}


director = module_director(FILES)


def python_bareos(director, calls, json_mode):
    """The answers python-bareos gets for ``calls`` in one session (run in a thread: the
    director runs on this process' reactor)."""
    return threads.deferToThread(
        pybareos.director_console, director.port, "secret", name="admin", calls=calls,
        tls_psk_enable=False, json_mode=json_mode)


@pytest_twisted.ensureDeferred
async def test_json_answers_of_delete_configure_add_enable_and_disable(director):
    answer = await python_bareos(director, [
        "delete jobid=1001,1002,1101-1103 jobid=2001",
        "configure add job name=backup-copy client=fd fileset=Set storage=File pool=Full "
        "messages=Standard type=Backup",
        "disable job=backup-copy",
        "enable job=backup-copy",
        "reload",
    ], json_mode=True)
    assert answer["ok"], answer
    deleted, added, disabled, enabled, reloaded = answer["results"]
    assert deleted == {"deleted": {"jobids": ["1001", "1002", "1101", "1102", "1103", "2001"]}}
    assert added["configure"]["add"]["name"] == "backup-copy"
    assert added["configure"]["add"]["resource"] == "Job"
    assert disabled == {"disable": {"jobs": ["backup-copy"]}}
    assert enabled == {"enable": {"jobs": ["backup-copy"]}}
    assert reloaded == {"reload": {"success": True}}


@pytest_twisted.ensureDeferred
async def test_update_all_volumes_of_a_new_pool_through_the_menu(director):
    answer = await python_bareos(director, ["configure add pool=arandompool"], json_mode=True)
    assert answer["ok"], answer
    answer = await python_bareos(director, [
        "reload", "update volume", "13", "1", "delete pool=arandompool yes"], json_mode=False)
    assert answer["ok"], answer
    assert answer["results"][3] == 'All Volume defaults updated from "arandompool" Pool record.\n'
    catalog = await director.catalog_ready()
    assert "arandompool" not in [p.name for p in await catalog.list_pools()]


@pytest_twisted.ensureDeferred
async def test_status_subscription_all_as_bareos_test_acl_reads_it(director):
    answer = await python_bareos(director, ["status subscription all"], json_mode=True)
    assert answer["ok"], answer
    (report,) = answer["results"]
    assert report["unit-summary"]["configured"] == "10"        # test_acl's very check
    assert report["unit-summary"]["used"] == "0"
    assert {"version", "os", "binary-info", "report-time", "unit-detail", "unit-clients",
            "unit-plugins", "checksum"} <= set(report)
