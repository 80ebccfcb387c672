"""Schemas: aliases, defaults, addresses, inheritance, warnings and the resource API."""

import pytest

from bareos.config import parse_config_text
from bareos.config.schemas import CONSOLE, DIRECTOR, FILEDAEMON, STORAGEDAEMON

MINIMAL_DIRECTOR = "Director { Name = d; Password = p }\n"


def test_daemon_names():
    assert [s.daemon_name for s in (DIRECTOR, FILEDAEMON, STORAGEDAEMON, CONSOLE)] == [
        "bareos-dir", "bareos-fd", "bareos-sd", "bconsole"]


def test_director_defaults():
    director = parse_config_text(MINIMAL_DIRECTOR, DIRECTOR).only("director")
    assert director.addresses == [("", 9101)]
    assert (director.port, director.address) == (9101, None)
    assert (director.maximum_concurrent_jobs, director.maximum_console_connections) == (1, 20)
    assert (director.fd_connect_timeout, director.sd_connect_timeout, director.heartbeat_interval) == (180, 1800, 0)
    assert (director.tls_enable, director.tls_require, director.tls_verify_peer) == (True, True, False)
    assert director.tls_allowed_cn == [] and director.messages is None
    assert not director.is_set("port")


def test_director_listening_aliases():
    text = "Director { Name = d; Password = p; DirAddress = 127.0.0.1; DirPort = 9200; DirSourceAddress = ::1 }"
    director = parse_config_text(text, DIRECTOR).only("director")
    assert director.addresses == [("127.0.0.1", 9200)]
    assert director.items() == [("Name", "d"), ("Password", director.password), ("Address", "127.0.0.1"),
                                ("Port", 9200), ("Source Address", "::1")]


def test_dir_addresses_block():
    text = """Director {
  Name = d
  Password = p
  DirPort = 9300
  DirAddresses = {
    ip = { addr = 127.0.0.1; port = 9101 }
    ipv4 = { addr = 192.168.1.1 }
    ipv6 = { addr = ::1; port = 9105 }
  }
}"""
    director = parse_config_text(text, DIRECTOR).only("director")
    assert director.addresses == [("127.0.0.1", 9101), ("192.168.1.1", 9300), ("::1", 9105)]
    assert director.is_set("addresses")


def test_client_and_storage_defaults_and_aliases():
    cfg = parse_config_text(MINIMAL_DIRECTOR + """
Client { Name = c; FdAddress = fd.example.com; FdPort = 19102; Password = p }
Storage { Name = s; SdAddress = sd.example.com; Password = p; Device = a, b; Media Type = File }
""", DIRECTOR)
    client, storage = cfg.get("client", "c"), cfg.get("storage", "s")
    assert (client.address, client.port, client.passive, client.heartbeat_interval) == ("fd.example.com", 19102, False, 0)
    assert (client.connection_from_client_to_director, client.connection_from_director_to_client) == (False, True)
    assert (storage.address, storage.port, storage.device) == ("sd.example.com", 9103, ["a", "b"])


def test_file_daemon_client_aliases_and_defaults():
    cfg = parse_config_text("FileDaemon {\n  Name = fd\n  FdAddresses = { ipv4 = { addr = 0.0.0.0 } }\n"
                            "  FdPort = 9999\n}\n", FILEDAEMON)
    client = cfg.only("client")
    assert client.type == "Client"
    assert client.addresses == [("0.0.0.0", 9999)]
    assert (client.compatible, client.maximum_concurrent_jobs, client.sd_connect_timeout) == (False, 1000, 1800)
    assert (client.reconnect_min_interval, client.reconnect_max_interval) == (1, 60)


def test_fd_director_monitor_default():
    cfg = parse_config_text("Client { Name = fd }\nDirector { Name = mon; Password = p; Monitor = yes }\n"
                            "Director { Name = d; Password = p }\n", FILEDAEMON)
    assert [d.monitor for d in cfg.resources("director")] == [True, False]


def test_storage_daemon():
    cfg = parse_config_text("""
Storage { Name = sd; SdAddress = 10.0.0.20; SdPort = 9113 }
Director { Name = d; Password = p }
Device {
  Name = FileStorage
  Archive Device = /var/lib/bareos/storage
  Media Type = File
  Label Media = yes
  Maximum Block Size = 1 m
}
""", STORAGEDAEMON)
    storage, device = cfg.only("storage"), cfg.get("device", "FileStorage")
    assert storage.addresses == [("10.0.0.20", 9113)]
    assert (storage.client_connect_wait, storage.fd_connect_timeout, storage.maximum_concurrent_jobs) == (1800, 1800, 20)
    assert (device.device_type, device.label_media, device.random_access, device.maximum_block_size) == (
        "File", True, True, 1024 ** 2)
    assert cfg.get("director", "d").monitor is False


def test_bconsole():
    cfg = parse_config_text("Director { Name = d; Address = localhost; DirPort = 9111; Password = p }\n"
                            "Console { Name = admin; Password = q; Director = d }\n", CONSOLE)
    director = cfg.only("director")
    assert (director.address, director.port) == ("localhost", 9111)
    assert cfg.get("console", "admin").director == "d"


def test_catalog_defaults_to_sqlite():
    cfg = parse_config_text(MINIMAL_DIRECTOR + "Catalog { Name = MyCatalog; DB Name = bareos }\n"
                            "Catalog { Name = pg; DB Driver = PostgreSQL; dbname = b; DB Port = 5433 }\n", DIRECTOR)
    assert cfg.get("catalog", "MyCatalog").db_driver == "sqlite3"
    assert (cfg.get("catalog", "pg").db_driver, cfg.get("catalog", "pg").db_port) == ("postgresql", 5433)


def test_console_acls_and_profile():
    cfg = parse_config_text(MINIMAL_DIRECTOR + """
Profile { Name = operator; Command ACL = status, .api; Job ACL = *all* }
Console { Name = ops; Password = p; Profile = operator; Client ACL = fd1, fd2; Where ACL = "/tmp" }
""", DIRECTOR)
    console = cfg.get("console", "ops")
    assert console.profile == ["operator"] and console.client_acl == ["fd1", "fd2"] and console.where_acl == ["/tmp"]
    assert cfg.get("profile", "operator").command_acl == ["status", ".api"]


JOBS = MINIMAL_DIRECTOR + """
Messages { Name = Standard }
Pool { Name = Full }
Pool { Name = Other }
FileSet { Name = fs }
Client { Name = fd1; Address = h; Password = p }
JobDefs { Name = base; Type = Backup; Pool = Full; Messages = Standard; Priority = 5; Level = Incremental }
JobDefs { Name = derived; JobDefs = base; FileSet = fs }
Job { Name = j; JobDefs = derived; Client = fd1; Pool = Other }
"""


def test_job_inherits_unset_directives_from_jobdefs_chain():
    job = parse_config_text(JOBS, DIRECTOR).get("job", "j")
    assert (job.name, job.job_type, job.pool, job.fileset, job.priority, job.level) == (
        "j", "Backup", "Other", "fs", 5, "Incremental")
    assert job.is_set("pool") and not job.is_set("job_type") and job.type == "Job"
    assert job.replace == "Always" and job.maximum_concurrent_jobs == 1


def test_not_acted_on_directives_warn_with_location():
    cfg = parse_config_text(MINIMAL_DIRECTOR + """Job {
  Name = j
  Type = Backup
  Pool = p
  Messages = m
  Spool Data = yes
  Run Script { Command = "/bin/true"; Runs When = Before }
}
FileSet { Name = fs; Include { Options { Portable = yes } } }
Pool { Name = p }
Messages { Name = m }
""", DIRECTOR, filename="d.conf")
    assert cfg.warnings == [
        "d.conf:7: warning: 'Spool Data' in Job resource 'j' is accepted but not acted on yet",
        "d.conf:8: warning: 'Run Script' in Job resource 'j' is accepted but not acted on yet",
        "d.conf:10: warning: 'Portable' in FileSet resource 'fs' is accepted but not acted on yet",
    ]
    assert cfg.get("job", "j").run_script[0].runs_when == "Before"


def test_configuration_api():
    cfg = parse_config_text(JOBS, DIRECTOR, filename="d.conf")
    assert [pool.name for pool in cfg.resources("pool")] == ["Full", "Other"]
    assert cfg.get("Pool", "Other").location == ("d.conf", 5)
    assert cfg.get("pool", "nope") is None
    assert [resource.type for resource in cfg][:3] == ["Director", "Messages", "Pool"]
    with pytest.raises(KeyError):
        cfg.resources("nosuchtype")
    with pytest.raises(LookupError):
        cfg.only("pool")
    with pytest.raises(AttributeError):
        cfg.get("pool", "Full").no_such_directive  # noqa: B018 (the lookup is what raises)
    assert dict(cfg.get("pool", "Full").items()) == {"Name": "Full"}
    assert cfg.warnings == []


def test_retention_directives_are_acted_on_and_the_rest_warned_by_name():
    cfg = parse_config_text(MINIMAL_DIRECTOR + """Client { Name = c; Address = h; Password = p; File Retention = 10 days; Job Retention = 1 month
         Auto Prune = yes }
Pool { Name = p; Volume Retention = 1 year; Auto Prune = yes; Recycle = yes
       Recycle Oldest Volume = yes; Purge Oldest Volume = no; Maximum Volume Files = 10
       File Retention = 5 days; Job Retention = 9 days; Scratch Pool = s; Recycle Pool = s
       Recycle Current Volume = yes
       Action On Purge = Truncate }
Pool { Name = s; Pool Type = Scratch }
""", DIRECTOR, filename="d.conf")
    assert cfg.warnings == []
    client, pool = cfg.get("client", "c"), cfg.get("pool", "p")
    assert (client.file_retention, client.job_retention, client.auto_prune) == \
        (10 * 86400, 30 * 86400, True)
    assert (pool.recycle_oldest_volume, pool.purge_oldest_volume, pool.scratch_pool,
            pool.recycle_pool, pool.file_retention) == (True, False, "s", "s", 5 * 86400)
    assert (pool.action_on_purge, cfg.get("pool", "s").action_on_purge) == ("Truncate", "None")
    assert (pool.recycle_current_volume, cfg.get("pool", "s").recycle_current_volume) == \
        (True, False)
