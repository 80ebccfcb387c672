"""The man pages in man/: lint-clean, complete, and describing every option."""

import os
import re
import subprocess

import pytest

from packaging_helpers import (MAN, SYSTEM_PATH, console_scripts, daemon_plugins, man_page_for,
                      mentions_option, program_options, roff_to_text, sections)

PAGES = sorted(p for p in MAN.iterdir() if re.fullmatch(r".+\.[1-8]", p.name))
PROGRAMS = sorted(set(daemon_plugins()) | set(console_scripts()))
REQUIRED_SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "FILES", "EXIT STATUS",
                     "EXAMPLES", "SEE ALSO"]


def page_id(page):
    return page.name


def test_there_are_pages():
    assert {p.name for p in PAGES} >= {"bareos-dir.8", "bareos-fd.8", "bareos-sd.8",
                                       "bconsole.1"}


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_program_has_a_page(program):
    assert man_page_for(program) is not None, f"man/{program}.8 or man/{program}.1 is missing"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_mandoc_lint_is_clean(page, man_tools):
    result = subprocess.run(["mandoc", "-Tlint", "-W", "all", str(page)],
                            capture_output=True, text=True, env=dict(os.environ, PATH=SYSTEM_PATH))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_man_warnings_are_clean(page, man_tools):
    env = dict(os.environ, PATH=SYSTEM_PATH, MANWIDTH="80", MANPAGER="cat", PAGER="cat",
               LC_ALL="C.UTF-8")
    result = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(page)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "NAME" in result.stdout


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_has_the_sections_and_an_iso_date(page):
    text = page.read_text()
    th = re.search(r"^\.TH (\S+) (\d) (\S+) ", text, re.M)
    assert th, "no .TH line"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", th.group(3)), f".TH date {th.group(3)!r} is not ISO"
    assert page.name.endswith("." + th.group(2))
    # every required section, in order; a page may add its own (SIGNALS, CONNECTION LIMITS)
    assert [name for name in sections(page) if name in REQUIRED_SECTIONS] == REQUIRED_SECTIONS


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_examples_show_the_three_network_modes(page):
    examples = roff_to_text(sections(page)["EXAMPLES"])
    assert "Connection From Client To Director = yes" in examples
    assert "Passive = yes" in examples
    assert "Lan Address" in examples


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_option_is_described(program):
    page = man_page_for(program)
    assert page is not None
    described = roff_to_text(sections(page)["OPTIONS"])
    undocumented = sorted(o for o in program_options(program)
                          if not mentions_option(described, o))
    assert undocumented == [], f"{page.name} does not describe {undocumented}"


@pytest.mark.parametrize("program", sorted(daemon_plugins()))
def test_documented_twistd_options_exist(program):
    from twisted.scripts.twistd import ServerOptions

    from packaging_helpers import usage_options

    options = roff_to_text(sections(man_page_for(program))["OPTIONS"])
    twistd_part = options.split(f"options (after {program})")[0]
    documented = set(re.findall(r"^\.(?:B|BR|BI) (--?[a-z][\w-]*)", twistd_part, re.M))
    assert documented
    assert documented - usage_options(ServerOptions) == set()


def test_option_check_notices_a_missing_option():
    described = roff_to_text('.TP\n.BR \\-c ", " \\-\\-config\n')
    assert mentions_option(described, "--config") and mentions_option(described, "-c")
    assert not mentions_option(described, "--conf")
    assert not mentions_option(described, "-t")


def test_option_check_notices_an_undescribed_option():
    from bareos.director.tap import Options

    from packaging_helpers import usage_options

    class Extended(Options):
        optFlags = Options.optFlags + [["dry-run", "y", "not in the page"]]

    described = roff_to_text(sections(man_page_for("bareos-dir"))["OPTIONS"])
    missing = {o for o in usage_options(Extended) if not mentions_option(described, o)}
    assert missing == {"--dry-run", "-y"}
