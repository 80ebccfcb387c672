"""python-bareos 25.1.1's DirectorConsoleJson reads show, the dot commands, version, time,
wait and runs jobs without ``yes`` (api 2 is batch mode) from our director (one twistd for
the file), in the shapes Bareos' own python-bareos tests read (test_show.py,
test_json_config.py, bareos_unittest.Json)."""

import pytest

from bareos.testing.daemons import Suite
from bareos.testing.pybareos import director_console_json

pytestmark = pytest.mark.usefixtures("pybareos_venv")

OPERATOR_ACLS = ("Command ACL = .api, show, .jobs, .clients", "Job ACL = backup",
                 "Client ACL = bareos-fd")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    suite = Suite(tmp_path_factory.mktemp("pybareos-show"))
    suite.add_console("admin")
    suite.add_console("operator", extra=OPERATOR_ACLS, full_access=False)
    try:
        suite.start_director(
            clients=[{"name": "other-fd", "port": 1, "password": "other-secret"}],
            extra_resources=suite.backup_resources(suite.base / "data"))
        yield suite
    finally:
        suite.stop()


def calls(suite, console, *lines):
    spec = suite.consoles[console]
    answer = director_console_json(suite.dir_port, spec.password, name=spec.name,
                                   tls_psk_enable=False, calls=lines)
    assert answer["ok"], answer
    return answer["results"]


def test_show_resources_as_bareos_test_show_reads_them(suite):
    groups = ("directors", "clients", "jobs", "storages", "catalogs", "filesets", "pools",
              "messages", "consoles")
    results = calls(suite, "admin", *(f"show {group}" for group in groups),
                    "show all", "show all verbose", "show client=other-fd",
                    "show client=other-fd verbose", "show fileset=TestSet",
                    "show jobs=backup")
    for group, result in zip(groups, results):
        assert len(result[group]) > 0, (group, result)
    show_all, show_all_verbose, client, client_verbose, fileset, job = results[len(groups):]
    assert set(groups) <= set(show_all) and set(groups) <= set(show_all_verbose)
    assert list(client) == ["clients"] and list(client["clients"]) == ["other-fd"]
    shown = client["clients"]["other-fd"]
    assert {key: shown[key] for key in ("name", "address", "port", "password")} == {
        "name": "other-fd", "address": "127.0.0.1", "port": 1, "password": "other-secret"}
    assert shown["tlsenable"] is False            # the suite writes TLS Enable = no
    assert client_verbose["clients"]["other-fd"]["maximumconcurrentjobs"] == 1
    assert fileset["filesets"]["TestSet"]["include"][0]["options"] == [{"signature": "MD5"}]
    assert job["jobs"]["backup"]["accurate"] is True


def test_show_of_a_missing_resource_is_an_error(suite):
    spec = suite.consoles["admin"]
    answer = director_console_json(suite.dir_port, spec.password, name=spec.name,
                                   tls_psk_enable=False, calls=["show client=test-client-fd"])
    assert not answer["ok"] and "JsonRpcErrorReceived" in answer["error_type"], answer


def test_dot_commands_as_bareos_unittest_check_resource_reads_them(suite):
    (jobs, clients, pools, filesets, storages, schedules, messages, consoles, levels, types,
     defaults) = calls(suite, "admin", ".jobs", ".clients", ".pools", ".filesets", ".storages",
                       ".schedule", ".msgs", ".consoles", ".levels", ".types",
                       ".defaults job=backup")
    # the configuration tree is read file by file, in the order of their names
    assert jobs == {"jobs": [{"name": "RestoreFiles", "enabled": True},
                             {"name": "backup", "enabled": True}]}
    assert sorted(c["name"] for c in clients["clients"]) == ["bareos-fd", "other-fd"]
    assert sorted(p["name"] for p in pools["pools"]) == ["Differential", "Full", "Incremental"]
    assert filesets == {"filesets": [{"name": "TestSet"}]}
    assert storages == {"storages": [{"name": "File", "enabled": True}]}
    assert schedules == {"schedules": []}
    assert {"text": "Standard"} in messages["messages"]
    assert {"name": "operator"} in consoles["consoles"]
    assert {"name": "Incremental", "level": ord("I"), "jobtype": ord("B")} in levels["levels"]
    assert {"name": "Backup"} in types["jobtypes"]
    assert defaults["defaults"]["client"] == "bareos-fd"


def test_acls_limit_what_show_and_dot_commands_give(suite):
    show_all, jobs, clients = calls(suite, "operator", "show all", ".jobs", ".clients")
    assert set(show_all) == {"clients", "jobs"}
    assert set(show_all["clients"]) == {"bareos-fd"}
    assert show_all["clients"]["bareos-fd"]["password"] == "*" * 16
    assert jobs == {"jobs": [{"name": "backup", "enabled": True}]}
    assert clients == {"clients": [{"name": "bareos-fd", "enabled": True}]}


def test_version_time_and_a_run_without_yes_then_wait(suite):
    version, now, run, _cancel, waited = calls(
        suite, "admin", "version", "time", "run job=backup", "cancel job=backup",
        "wait jobid=1")
    assert version["version"]["type"] == "bareos-director"
    assert version["version"]["name"] == suite.director_name
    assert set(now["time"]) == {"full", "year", "month", "day", "hour", "minute", "second"}
    assert run == {"run": {"jobid": "1"}}          # a string, as Bareos sends it
    # bareos_unittest.Json.wait_job reads result["job"]["jobstatuslong"]
    assert waited == {"job": {"jobid": 1, "jobstatuslong": "Canceled", "jobstatus": "A",
                              "exitstatus": 2}}
