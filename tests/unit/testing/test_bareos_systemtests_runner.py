"""scripts/bareos-systemtests without a Bareos checkout: the template renderer on a tiny fake
checkout made here, the configuration it renders loaded by our loader, the skip driver, and
the report."""

import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from bareos.config import load_config
from bareos.config.schemas import DIRECTOR, FILEDAEMON
from bareos.testing.systemtests import (
    CONFIG_SOURCE, PYTEST_DRIVER, TEST_SOURCE, Layout, Ports, SystemTestsError, UnknownPlaceholder,
    choose_test_files, placeholder_values, read_junit, render_template, render_tree, summary)

VALUES = {"dir_port": "9101", "working_dir": "/var/lib/bareos", "basename": "python-bareos"}


def test_placeholders_are_replaced_and_everything_else_stays():
    text = ('Port = @dir_port@\nWorking Directory = "@working_dir@"\n'
            'mail = root@localhost = all\nFile = "${HOME}" # @ alone\n')
    assert render_template(text, VALUES) == (
        'Port = 9101\nWorking Directory = "/var/lib/bareos"\n'
        'mail = root@localhost = all\nFile = "${HOME}" # @ alone\n')


def test_a_placeholder_without_a_value_is_refused_by_name():
    with pytest.raises(UnknownPlaceholder) as caught:
        render_template("Name = @basename@-fd\nPlugin Directory = @FD_PLUGINS@\n", VALUES, "client.conf.in")
    assert caught.value.name == "FD_PLUGINS"
    assert str(caught.value).startswith("client.conf.in: placeholder @FD_PLUGINS@ has no value here")


def fake_checkout(root: Path) -> Path:
    """The python-bareos test's configuration layout, cut down to what the daemons need, with
    the constructs Bareos' own files use: templates and plain files, a Plugin line split over
    lines, a Counter and a User resource."""
    etc = root / CONFIG_SOURCE
    files = {
        "bareos-dir.d/director/bareos-dir.conf.in":
            'Director {\n  Name = bareos-dir\n  Password = "@dir_password@"\n  Port = @dir_port@\n'
            '  Working Directory = "@working_dir@"\n  # Plugin Directory = "@python_plugin_module_src_dir@"\n}\n',
        "bareos-dir.d/catalog/MyCatalog.conf.in": 'Catalog {\n  Name = MyCatalog\n  dbname = "@db_name@"\n}\n',
        "bareos-dir.d/fileset/Plugins.conf.in":
            'FileSet {\n  Name = Plugins\n  Include {\n    Plugin = "@dir_python_module_name@"\n'
            '             ":module_path=@python_plugin_module_src_test_dir@"\n             ":a=b"\n  }\n}\n',
        "bareos-dir.d/counter/random-counter.conf": 'Counter {\n  name = "random-counter"\n}\n',
        "bareos-dir.d/user/random-user.conf": 'User {\n  name = "random-user"\n}\n',
        "bareos-dir.d/schedule/README.txt": "not a resource\n",
        "bareos-fd.d/client/myself.conf.in":
            'Client {\n  Name = @basename@-fd\n  Working Directory = "@working_dir@"\n  Port = @fd_port@\n}\n',
        "bareos-fd.d/director/bareos-dir.conf.in": 'Director {\n  Name = bareos-dir\n  Password = "@fd_password@"\n}\n',
    }
    for name, text in files.items():
        (etc / name).parent.mkdir(parents=True, exist_ok=True)
        (etc / name).write_text(text)
    return root


def test_the_fake_checkouts_configuration_renders_and_loads(tmp_path):
    checkout = fake_checkout(tmp_path / "bareos")
    layout = Layout(tmp_path / "run")
    layout.make()
    values = placeholder_values(checkout, layout, Ports(dir=30001, fd=30002, sd=30003))
    written = render_tree(checkout / CONFIG_SOURCE, layout.confdir, values)

    assert sorted(p.relative_to(layout.confdir).as_posix() for p in written) == [
        "bareos-dir.d/catalog/MyCatalog.conf", "bareos-dir.d/counter/random-counter.conf",
        "bareos-dir.d/director/bareos-dir.conf", "bareos-dir.d/fileset/Plugins.conf",
        "bareos-dir.d/schedule/README.txt", "bareos-dir.d/user/random-user.conf",
        "bareos-fd.d/client/myself.conf", "bareos-fd.d/director/bareos-dir.conf"]
    assert (checkout / CONFIG_SOURCE / "bareos-dir.d/director/bareos-dir.conf.in").is_file()  # source untouched

    director = load_config(layout.confdir, DIRECTOR)
    assert director.only("director").port == 30001
    assert director.only("director").working_directory == str(layout.working)
    assert director.get("catalog", "MyCatalog").db_name == "regress_python_bareos"
    include, = director.get("fileset", "Plugins").include
    assert include.plugin == [f"python3:module_path={checkout / TEST_SOURCE / 'python-modules'}:a=b"]
    assert director.get("counter", "random-counter").maximum == 2147483647
    assert any("Counter resource 'random-counter' is accepted but not acted on yet" in w
               for w in director.warnings)
    assert any("User resource 'random-user' is accepted but not acted on yet" in w for w in director.warnings)

    client = load_config(layout.confdir, FILEDAEMON).only("client")
    assert (client.name, client.port) == ("python-bareos-fd", 30002)


def test_default_files_leave_out_an_absent_optional_file_and_a_named_one_must_exist(tmp_path):
    tests = tmp_path / TEST_SOURCE
    tests.mkdir(parents=True)
    assert "test_list_jobs.py" not in choose_test_files(tmp_path, [])
    (tests / "test_list_jobs.py").write_text("")
    assert "test_list_jobs.py" in choose_test_files(tmp_path, [])
    with pytest.raises(SystemTestsError, match="no such test file .*: test_nosuch.py"):
        choose_test_files(tmp_path, ["test_nosuch.py"])


def test_the_driver_skips_the_named_tests_with_their_reason(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        "import unittest\n\n"
        "class Sample(unittest.TestCase):\n"
        "    def test_needs_plugin(self):\n        self.fail('ran')\n\n"
        "    def test_plain(self):\n        pass\n\n"
        "    def test_broken(self):\n        self.assertEqual(1, 2)\n")
    report = tmp_path / "report.xml"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    subprocess.run(
        [sys.executable, str(PYTEST_DRIVER), "-q", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"),
         f"--rootdir={tmp_path}", f"--junitxml={report}", str(tmp_path / "test_sample.py")],
        cwd=tmp_path, capture_output=True, timeout=120,
        env={"BAREOS_SYSTEMTESTS_SKIPS": '{"test_sample.py::test_needs_plugin": "uses bpipe"}',
             "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})

    result = read_junit(report, "test_sample.py")
    assert (result.passed, result.failed, result.skipped) == (1, 1, 1)
    assert result.skips[0].test == "Sample::test_needs_plugin"
    assert result.skips[0].message.endswith("needs a file daemon plugin: uses bpipe")
    assert result.failures[0].test == "Sample::test_broken"
    assert "AssertionError: 1 != 2" in result.failures[0].message

    text = summary([result])
    assert "test_sample.py       1       1        1" in text
    assert "total                1       1        1" in text
    assert "  test_sample.py::Sample::test_broken: AssertionError: 1 != 2" in text


def test_a_report_counts_errors_as_failures(tmp_path):
    report = tmp_path / "r.xml"
    suite = ElementTree.Element("testsuite")
    for name, child in (("a", None), ("b", "error"), ("c", "skipped")):
        case = ElementTree.SubElement(suite, "testcase", classname="test_x.X", name=name)
        if child:
            ElementTree.SubElement(case, child, message=f"{child} in {name}")
    ElementTree.ElementTree(suite).write(report)
    result = read_junit(report, "test_x.py")
    assert (result.passed, result.failed, result.skipped) == (1, 1, 1)
    assert result.failures[0].test == "X::b"
