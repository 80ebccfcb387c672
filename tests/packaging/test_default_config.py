"""The configuration the packages' postinst scripts write (bareos.quickstart config).

Each daemon package writes its own part when it is configured; the parts must fit
together whatever order the packages are configured in, and a second run (an
upgrade) must leave everything alone.
"""

import itertools
import os
import re
import stat

import pytest

from bareos.config import load_config
from bareos.config.schemas import CONSOLE, DIRECTOR, FILEDAEMON, STORAGEDAEMON
from bareos.quickstart import (SYSTEM_LAYOUT, config_main, shared_passwords,
                               single_host_resources, write_system_config)

SCHEMAS = {"bareos-dir": DIRECTOR, "bareos-fd": FILEDAEMON, "bareos-sd": STORAGEDAEMON}


def passwords_in(tree):
    return {re.search(r'Password = "([^"]+)"', p.read_text()).group(1)
            for p in tree.rglob("*.conf") if "Password" in p.read_text()}


def written_passwords(etc):
    return {
        "dir-console": passwords_in(etc / "bareos-dir.d" / "director"),
        "dir-client": passwords_in(etc / "bareos-dir.d" / "client"),
        "dir-storage": passwords_in(etc / "bareos-dir.d" / "storage"),
        "fd": passwords_in(etc / "bareos-fd.d" / "director"),
        "sd": passwords_in(etc / "bareos-sd.d" / "director"),
        "bconsole": {re.search(r'Password = "([^"]+)"', (etc / "bconsole.conf").read_text())
                     .group(1)},
    }


@pytest.mark.parametrize("order", list(itertools.permutations(["dir", "fd", "sd", "bconsole"]))[::5])
def test_parts_written_one_by_one_in_any_order_match(tmp_path, order):
    etc = tmp_path / "etc"
    for part in order:
        assert write_system_config(etc, (part,), **SYSTEM_LAYOUT)
    pw = written_passwords(etc)
    assert all(len(v) == 1 for v in pw.values()), pw
    assert pw["dir-console"] == pw["bconsole"]
    assert pw["dir-client"] == pw["fd"]
    assert pw["dir-storage"] == pw["sd"]
    assert len(pw["dir-console"] | pw["dir-client"] | pw["dir-storage"]) == 3
    assert stat.S_IMODE(os.stat(etc / ".passwords").st_mode) == 0o600
    for name, schema in SCHEMAS.items():
        config = load_config(str(etc), schema)
        assert config.resources("director")
    assert load_config(str(etc / "bconsole.conf"), CONSOLE).resources("director")


def test_a_second_run_changes_nothing(tmp_path):
    etc = tmp_path / "etc"
    write_system_config(etc, **SYSTEM_LAYOUT)
    before = {p: p.read_bytes() for p in etc.rglob("*") if p.is_file()}
    (etc / "bareos-fd.d" / "client" / "bareos-fd.conf").write_text("# edited by the admin\n")
    assert write_system_config(etc, **SYSTEM_LAYOUT) == []
    after = {p: p.read_bytes() for p in etc.rglob("*") if p.is_file()}
    assert set(after) == set(before)
    assert after[etc / "bareos-fd.d" / "client" / "bareos-fd.conf"] == b"# edited by the admin\n"


def test_system_layout_places(tmp_path):
    etc = tmp_path / "etc"
    write_system_config(etc, **SYSTEM_LAYOUT)
    director = load_config(str(etc), DIRECTOR)
    assert director.only("director").working_directory == "/var/lib/bareos"
    text = "".join(p.read_text() for p in etc.rglob("*.conf"))
    assert 'Archive Device = "/var/lib/bareos/storage"' in text
    assert '"/var/log/bareos/bareos.log"' in text and '"/var/log/bareos/bareos-fd.log"' in text
    assert 'Where = "/tmp/bareos-restores"' in text
    assert "DB Driver = sqlite3" in text
    assert str(tmp_path) not in text.replace(str(etc), "")
    for mode in {stat.S_IMODE(p.stat().st_mode) for p in etc.rglob("*.conf")}:
        assert mode == 0o640


def test_missing_keys_are_added_and_existing_ones_kept(tmp_path):
    path = tmp_path / ".passwords"
    path.write_text("DIRECTOR_PASSWORD=kept\n")
    passwords = shared_passwords(path)
    assert passwords["dir"] == "kept" and passwords["fd"] and passwords["sd"]
    assert shared_passwords(path) == passwords


def test_quickstart_defaults_are_unchanged(tmp_path):
    trees, bconsole, work, volumes = single_host_resources(tmp_path)
    assert work["dir"] == tmp_path / "var" / "dir"
    assert volumes == tmp_path / "var" / "volumes"
    assert f'Append = "{tmp_path}/var/dir/bareos.log"' in trees["dir"]["messages/Daemon.conf"]
    assert f'Where = "{tmp_path}/restore"' in trees["dir"]["job/RestoreFiles.conf"]


def test_command_line(tmp_path, capsys):
    etc = tmp_path / "etc"
    assert config_main(["-c", str(etc), "--system", "--daemon", "sd", "-d", "bconsole"]) == 0
    assert sorted(p.name for p in etc.iterdir()) == [".passwords", "bareos-sd.d", "bconsole.conf"]
    assert "wrote" in capsys.readouterr().out
