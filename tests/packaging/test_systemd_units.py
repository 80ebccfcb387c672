"""The daemons' systemd units in debian/: what they run, and systemd-analyze verify."""

import os
import re
import shlex
import shutil
import subprocess

import pytest

from packaging_helpers import DEBIAN, MAN, SYSTEM_PATH

UNITS = {
    "bareos-twisted-director.service": ("bareos-dir", "bareos"),
    "bareos-twisted-filedaemon.service": ("bareos-fd", None),
    "bareos-twisted-storage.service": ("bareos-sd", "bareos"),
}


def unit_settings(path):
    """``{key: [values]}`` of a unit file (all sections together)."""
    settings = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_units_are_the_packages_units():
    assert sorted(p.name for p in DEBIAN.glob("*.service")) == sorted(UNITS)


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_unit_runs_the_daemon_in_the_foreground_and_checks_before_reload(unit):
    plugin, user = UNITS[unit]
    settings = unit_settings(DEBIAN / unit)
    assert settings["ExecStart"] == [
        f"/usr/bin/twistd3 --nodaemon --pidfile= {plugin} -c /etc/bareos"]
    assert settings["Type"] == ["simple"]
    assert settings.get("User") == ([user] if user else None)
    reload = settings["ExecReload"]
    assert shlex.split(reload[0]) == ["/usr/bin/twistd3", plugin, "-t", "-c", "/etc/bareos"]
    assert reload[1:] == ["/bin/kill -HUP $MAINPID"]          # the daemon reloads itself
    assert settings["ExecStartPre"] == reload[:1]


def _verifiable_copies(tmp_path):
    """The units, and a MANPATH holding the pages their Documentation= names.

    Where Debian's twistd3 is not installed, the copies run a stand-in of the same
    name, so that verify checks everything else instead of failing on the path.
    """
    units = tmp_path / "units"
    units.mkdir()
    stand_in = None
    if not os.access("/usr/bin/twistd3", os.X_OK):
        stand_in = tmp_path / "bin" / "twistd3"
        stand_in.parent.mkdir()
        stand_in.write_text("#!/bin/sh\nexit 0\n")
        stand_in.chmod(0o755)
    for unit in UNITS:
        text = (DEBIAN / unit).read_text()
        if stand_in:
            text = text.replace("/usr/bin/twistd3", str(stand_in))
        (units / unit).write_text(text)
    manpath = tmp_path / "man"
    for page in MAN.glob("*.[18]"):
        section = manpath / f"man{page.suffix[1:]}"
        section.mkdir(parents=True, exist_ok=True)
        shutil.copy(page, section / page.name)
    return units, manpath


@pytest.mark.skipif(shutil.which("systemd-analyze", path=SYSTEM_PATH) is None,
                    reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    units, manpath = _verifiable_copies(tmp_path)
    env = dict(os.environ, PATH=SYSTEM_PATH, MANPATH=str(manpath), SYSTEMD_LOG_LEVEL="notice")
    result = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(units / u) for u in UNITS)],
        capture_output=True, text=True, env=env, timeout=120)
    # verify also reports problems of unrelated units on the machine it loads for
    # dependencies; only lines about our units count.
    ours = [line for line in (result.stdout + result.stderr).splitlines()
            if re.search(r"bareos-twisted-", line)]
    assert ours == [], "\n".join(ours)
    assert result.returncode == 0, result.stdout + result.stderr
