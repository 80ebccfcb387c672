"""What the packaging tests share: the checkout's paths, the programs and their man
pages, and getting Debian tools onto the machine (imported as a plain module, like
tests/system/backup_helpers.py: ``conftest`` is not a unique module name).

Tools missing from the machine are installed with apt-get when the tests run as
root (they are Debian packages: mandoc, man-db, debhelper, lintian, ...).  When
they cannot be installed the test is skipped with the reason, except under CI
(CI=true), where a missing tool is a failure.
"""

import configparser
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAN = REPO / "man"
DEBIAN = REPO / "debian"
IN_CI = os.environ.get("CI", "").lower() == "true"
IS_ROOT = os.geteuid() == 0
#: A PATH without pyenv shims or virtual environments: Debian's tools use Debian's python3.
SYSTEM_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"

_apt_updated = False


def debian_packages_missing(packages):
    missing = []
    for package in packages:
        result = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package],
                                capture_output=True, text=True)
        if result.stdout.strip() != "installed":
            missing.append(package)
    return missing


def apt_get(*args, check=True, timeout=900, cwd=None):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", PATH=SYSTEM_PATH)
    command = ["apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=300", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                            cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def require_debian_packages(*packages):
    """Install ``packages`` when missing (as root), else skip, or fail under CI."""
    global _apt_updated
    missing = debian_packages_missing(packages)
    if not missing:
        return
    if not IS_ROOT:
        reason = f"needs the Debian packages {' '.join(missing)} (install them as root)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    if not _apt_updated:
        apt_get("update")
        _apt_updated = True
    apt_get("install", "--no-install-recommends", *missing)
    still = debian_packages_missing(missing)
    assert not still, f"apt-get did not install {still}"


# -- the programs and their options ------------------------------------------------

def daemon_plugins():
    """``{tapname: tap module}`` of the twistd dropins in twisted/plugins/."""
    plugins = {}
    for path in sorted((REPO / "twisted" / "plugins").glob("*.py")):
        text = path.read_text()
        for tapname, module in re.findall(
                r'ServiceMaker\(\s*"([^"]+)",\s*"([^"]+)"', text):
            plugins[tapname] = module
    return plugins


def console_scripts():
    """``{name: "module:function"}`` of setup.cfg's console_scripts."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    scripts = {}
    text = config.get("options.entry_points", "console_scripts", fallback="")
    for line in text.splitlines():
        if "=" in line:
            name, target = (part.strip() for part in line.split("=", 1))
            scripts[name] = target
    return scripts


def man_page_for(program):
    """The page documenting ``program``: daemons in section 8, commands in section 1."""
    for section in ("8", "1"):
        path = MAN / f"{program}.{section}"
        if path.exists():
            return path
    return None


def usage_options(options_class):
    """Long and short options of a ``twisted.python.usage.Options`` class."""
    options = options_class()
    longs = {"--" + name.rstrip("=") for name in options.longOpt}
    shorts = {"-" + char for char in options.shortOpt.replace(":", "")}
    return longs | shorts


def argparse_options(build):
    """Option strings of the ArgumentParser that ``build()`` creates and parses with."""
    import argparse

    captured = []
    original = argparse.ArgumentParser.parse_args

    def capture(self, args=None, namespace=None):
        captured.append(self)
        return original(self, args, namespace)

    argparse.ArgumentParser.parse_args = capture
    try:
        build()
    finally:
        argparse.ArgumentParser.parse_args = original
    assert captured, "no ArgumentParser was used"
    return {s for action in captured[0]._actions for s in action.option_strings}


def program_options(program):
    """Every option ``program`` accepts (the twistd plugin's own, or the script's)."""
    import importlib

    plugins = daemon_plugins()
    if program in plugins:
        return usage_options(importlib.import_module(plugins[program]).Options)
    module, _, function = console_scripts()[program].partition(":")
    module = importlib.import_module(module)
    # scripts with an argparse parser: arguments it accepts as a complete command line
    argv = {"bconsole": [], "bareos-tray-monitor": ["--check"]}
    if program in argv:
        return argparse_options(lambda: module.parse_arguments(argv[program]))
    raise AssertionError(f"do not know how to read the options of {program}")


# -- reading man pages ----------------------------------------------------------------

def roff_to_text(roff):
    """Plain text of roff source, enough to look for option names."""
    text = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", roff)
    text = text.replace("\\-", "-").replace("\\(en", "-").replace("\\&", "")
    return text


def sections(page):
    """``{section name: roff text}`` of a man page."""
    result, name, lines = {}, None, []
    for line in page.read_text().splitlines():
        if line.startswith(".SH "):
            if name is not None:
                result[name] = "\n".join(lines)
            name, lines = line[4:].strip().strip('"'), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        result[name] = "\n".join(lines)
    return result


def mentions_option(text, option):
    return re.search(r"(?<![\w-])" + re.escape(option) + r"(?![\w-])", text) is not None
