"""bareos-restapi 25.1.1, served by uvicorn on loopback, against our director.

One director, storage daemon, file daemon and REST API server for the whole file.  Before
the first test the catalog holds a Full (JobId 1) and an Incremental (JobId 2) of a small
tree, made with our own console; the REST API logs in as the named console ``restapi``
(TLS-PSK, as python-bareos does by default).  Each test reads what the REST API answers
over HTTP -- the same endpoints and answers Bareos' own restapi system test checks.

The tests run in file order: the ones that add jobs or volumes come after the ones that
count them.
"""

import re

import pytest

import bareos
from bareos.testing.daemons import TLS_ENABLED, Suite
from bareos.testing.restapi import RestApi

CONSOLE = "restapi"
MORE_RESOURCES = {
    "jobdefs/DefaultJob.conf": "JobDefs {\n  Name = DefaultJob\n  Type = Backup\n"
                               "  Client = bareos-fd\n  FileSet = TestSet\n  Storage = File\n"
                               "  Pool = Full\n  Messages = Standard\n}\n",
    "schedule/WeeklyCycle.conf": "Schedule {\n  Name = WeeklyCycle\n  Run = Full sun at 21:00\n}\n",
    "profile/operator.conf": "Profile {\n  Name = operator\n  Command ACL = status, list, llist\n}\n",
}


class Deployment:
    def __init__(self, suite, api, source):
        self.suite = suite
        self.api = api
        self.source = source

    def wait(self, jobid):
        """Wait (our console) for *jobid*; its status line."""
        output = self.suite.console(f"wait jobid={jobid}\n")
        status = re.search(r"JobStatus=\S+ \((\w)\)", output)
        assert status, output
        return status.group(1)

    def backup(self, level):
        output = self.suite.console(f"run job=backup level={level} yes\n")
        jobid = int(re.search(r"Job queued\. JobId=(\d+)", output).group(1))
        assert self.wait(jobid) == "T"
        return jobid


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, restapi_venv):
    base = tmp_path_factory.mktemp("restapi")
    source = base / "source"
    source.mkdir()
    (source / "hosts").write_text("127.0.0.1 localhost\n")
    suite = Suite(base)
    password = suite.add_console(CONSOLE, tls=TLS_ENABLED).password
    api = RestApi(base / "restapi", suite.director_name, suite.dir_port)
    try:
        suite.start_sd()
        suite.start_fd()
        suite.start_director(extra_resources=suite.backup_resources(source) | MORE_RESOURCES)
        deployment = Deployment(suite, api, source)
        assert deployment.backup("Full") == 1
        (source / "motd").write_text("welcome\n")
        assert deployment.backup("Incremental") == 2
        api.start()
        status, body = api.login(CONSOLE, password)
        assert status == 200, body
        yield deployment
    finally:
        api.stop()
        suite.stop()


@pytest.fixture
def api(deployment):
    return deployment.api


def ok(answer):
    status, body = answer
    assert status == 200, body
    return body


# -- login and the director ---------------------------------------------------------------

def test_a_named_console_logs_in_and_a_wrong_password_does_not(api, deployment):
    assert ok(api.get("users/me/")) == {"username": CONSOLE,
                                        "directorName": deployment.suite.director_name}
    status, body = api.login(CONSOLE, "not-the-password")
    assert status == 401, body


def test_director_version(api, deployment):
    version = ok(api.get("control/directors/version"))
    assert version["name"] == deployment.suite.director_name
    assert version["version"] == bareos.VERSION


def test_director_time(api):
    now = ok(api.get("control/directors/time"))
    assert {"full", "year", "month", "day", "hour", "minute", "second"} <= set(now)


def test_director_reload(api):
    assert ok(api.put("control/directors/reload")) == {"success": True}


# -- configuration reads (show <type>[=<name>] verbose) -----------------------------------

RESOURCES = [("clients", "bareos-fd"), ("jobs", "backup"), ("filesets", "TestSet"),
             ("pools", "Full"), ("storages", "File"), ("consoles", CONSOLE),
             ("schedules", "WeeklyCycle"), ("jobdefs", "DefaultJob"), ("profiles", "operator")]


@pytest.mark.parametrize("kind, name", RESOURCES, ids=[kind for kind, _ in RESOURCES])
def test_configuration_of_every_resource_type(api, kind, name):
    every = ok(api.get(f"configuration/{kind}"))
    assert name in every[kind]
    assert every["totalItems"] == len(every[kind])
    one = ok(api.get(f"configuration/{kind}/{name}"))
    assert list(one) == [name] and isinstance(one[name], dict)


# -- clients and pools in the catalog -----------------------------------------------------

def test_clients_from_the_catalog(api):
    clients = ok(api.get("control/clients"))
    assert clients["totalItems"] == 1
    (client,) = clients["clients"]
    assert client["name"] == "bareos-fd"
    assert ok(api.get(f"control/clients/{client['clientid']}"))["name"] == "bareos-fd"
    status, body = api.get("control/clients/99")
    assert status == 404, body


def test_pools_from_the_catalog(api):
    pools = ok(api.get("control/pools"))
    names = {pool["name"]: pool for pool in pools["pools"]}
    assert set(names) == {"Full", "Incremental", "Differential"}
    assert pools["totalItems"] == 3
    full = ok(api.get(f"control/pools/{names['Full']['poolid']}"))
    assert full["name"] == "Full" and full["pooltype"] == "Backup"


def test_one_pool_by_name(api):
    pools = ok(api.get("control/pools?name=Full"))
    assert [pool["name"] for pool in pools["pools"]] == ["Full"]


# -- jobs: list, status, log, files --------------------------------------------------------

def test_job_list(api):
    jobs = ok(api.get("control/jobs"))
    assert [(job["jobid"], job["level"], job["jobstatus"]) for job in jobs["jobs"]] == [
        ("1", "F", "T"), ("2", "I", "T")]


def test_job_list_counts_with_the_count_modifier(api):
    jobs = ok(api.get("control/jobs"))
    assert jobs["totalItems"] == "2"      # as Bareos' catalog answers it: every SQL value is a string


def test_job_list_filters(api):
    def jobids(query):
        status, body = api.get("control/jobs", query)
        return [job["jobid"] for job in body["jobs"]] if status == 200 else status
    assert jobids({"joblevel": "F"}) == ["1"]
    assert jobids({"joblevel": "I"}) == ["2"]
    assert jobids({"jobstatus": "T", "job": "backup"}) == ["1", "2"]
    # Bareos refuses a client its catalog does not know; the REST API reports the error
    status, body = api.get("control/jobs", {"client": "nosuch"})
    assert status == 500 and "invalid client argument: nosuch" in str(body), body


def test_job_status(api):
    job = ok(api.get("control/jobs/1"))
    assert (job["jobid"], job["name"], job["level"], job["jobstatus"]) == ("1", "backup", "F", "T")


def test_job_status_of_no_such_job(api):
    # Bareos answers `llist jobid=` of a missing job with an empty "jobs" object; bareos-restapi
    # 25.1.1 indexes [0] into it and fails, against Bareos as here.  No job is made up.
    status, body = api.get("control/jobs/999999")
    assert status == 500 and "jobid" not in str(body), body


def test_job_totals(api):
    assert "jobtotals" in ok(api.get("control/jobs/totals"))


def test_job_log(api):
    log = ok(api.get("control/jobs/logs/1"))
    assert log["totalItems"] == len(log["joblog"])
    assert any("Backup OK" in row["logtext"] for row in log["joblog"]), log


def test_files_of_a_job(api, deployment):
    full = ok(api.get("control/jobs/files/1"))
    assert f"{deployment.source}/hosts" in {row["filename"] for row in full["filenames"]}
    incremental = ok(api.get("control/jobs/files/2"))
    names = {row["filename"] for row in incremental["filenames"]}
    assert f"{deployment.source}/motd" in names and f"{deployment.source}/hosts" not in names


# -- volumes ----------------------------------------------------------------------------------

def test_volumes(api):
    """Every pool is a key of the answer, one without volumes too (as in Bareos)."""
    volumes = ok(api.get("control/volumes"))
    by_pool = {pool: [volume["volumename"] for volume in rows]
               for pool, rows in volumes["volumes"].items()}
    # Bareos' JSON keys are lower case, pool names included
    assert by_pool == {"differential": [], "full": ["Full-0001"], "incremental": ["Incremental-0001"]}
    assert volumes["totalItems"] == 2
    full = volumes["volumes"]["full"]
    assert ok(api.get(f"control/volumes/{full[0]['mediaid']}"))["volumename"] == "Full-0001"
    in_full = ok(api.get("control/volumes", {"pool": "Full"}))
    # filtered by pool, Bareos answers a flat list, which the REST API files under the
    # pool's name as its rows spell it
    assert [volume["volumename"] for volume in in_full["volumes"]["Full"]] == ["Full-0001"]
    assert (list(in_full["volumes"]), in_full["totalItems"]) == (["Full"], 1)
    status, body = api.get("control/volumes/188")
    assert status == 404 and "No volume" in body["message"], body


def test_label_a_volume(api, deployment):
    ok(api.post("control/volumes", {"volume": "Manual-0001", "pool": "Full", "storage": "File"}))
    assert "| Manual-0001 " in deployment.suite.console("list volumes\n")


def test_update_and_delete_a_volume(api):
    ok(api.post("control/volumes", {"volume": "Manual-0002", "pool": "Full", "storage": "File"}))
    updated = ok(api.patch("control/volumes/Manual-0002", {"pool": "Full", "volstatus": "Recycle"}))
    (volume,) = updated["volumes"]["Full"]
    assert (volume["volumename"], volume["volstatus"]) == ("Manual-0002", "Recycle")
    status, body = api.delete("control/volumes/Manual-0002")
    assert status == 204, body
    status, body = api.get("control/volumes", {"volume": "Manual-0002"})
    assert status == 404, body


# -- enable / disable -----------------------------------------------------------------------

SWITCHABLE = [("clients", "clients", "bareos-fd"), ("jobs", "jobs", "backup"),
              ("schedules", "schedules", "WeeklyCycle")]


@pytest.mark.parametrize("control, kind, name", SWITCHABLE, ids=[kind for _, kind, _ in SWITCHABLE])
def test_disable_and_enable(api, control, kind, name):
    ok(api.put(f"control/{control}/disable/{name}"))
    assert ok(api.get(f"configuration/{kind}/{name}"))[name]["enabled"] is False
    ok(api.put(f"control/{control}/enable/{name}"))
    assert ok(api.get(f"configuration/{kind}/{name}"))[name]["enabled"] is True


def test_disabling_no_such_client_fails(api):
    status, body = api.put("control/clients/disable/nosuch")
    assert status == 500 and "nosuch" in body["message"], body
    assert "invalid command" not in body["message"], body


# -- running and restoring ------------------------------------------------------------------

def test_run_a_job(api, deployment):
    run = ok(api.post("control/jobs/run", {"jobControl": {"job": "backup", "level": "Full"}}))
    assert deployment.wait(run["jobid"]) == "T"
    job = ok(api.get(f"control/jobs/{run['jobid']}"))
    assert (job["level"], job["jobstatus"]) == ("F", "T")


def test_restore_everything_of_a_client(api, deployment, tmp_path):
    restore = ok(api.post("control/jobs/restore", {"jobControl": {
        "client": "bareos-fd", "selectAllDone": "yes", "where": str(tmp_path)}}))
    assert deployment.wait(restore["jobid"]) == "T"
    restored = tmp_path / str(deployment.source).lstrip("/")
    assert (restored / "hosts").read_text() == "127.0.0.1 localhost\n"
    assert (restored / "motd").read_text() == "welcome\n"


def test_delete_a_job(api, deployment):
    jobid = deployment.backup("Full")
    # After `delete jobid=` bareos-restapi 25.1.1 reads the job back with `llist jobid=` and
    # fails on the empty "jobs" object Bareos (and we) answer for it, so its status is 500
    # against Bareos too; what counts is that the job is gone.
    api.delete(f"control/jobs/{jobid}")
    remaining = [job["jobid"] for job in ok(api.get("control/jobs"))["jobs"]]
    assert remaining and str(jobid) not in remaining
    status, _ = api.delete("control/jobs/63535")      # the same empty "jobs" object
    assert status == 500
