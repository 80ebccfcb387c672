"""The configuration writer: what it writes reads back, through our own loader, as given."""

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bareos.config import Password, load_config, parse_config_text
from bareos.config.lexer import tokenize
from bareos.config.parser import parse
from bareos.config.schemas import DIRECTOR, FILEDAEMON
from bareos.config.writer import (
    Block, Quoted, Resource, Verbatim, destination, resource, resource_files, write_file, write_tree)

#: values that must be quoted, and must come back unchanged
AWKWARD = [
    'say "hi"', "back\\slash", "trailing\\", "two  spaces", "not # a comment", "x#y",
    "a=b", "{braces}", "semi;colon", "comma, list", "@not-an-include", "", " ", "tab\there",
    "new\nline", "\\\"", "ünïcödé wörds", "non\u00a0breaking",
]


def read_back(text):
    """The value tokens of the one directive in the one resource of ``text``."""
    (node,) = parse(tokenize(text))
    (directive,) = node.directives
    return directive.tokens


def test_plain_words_stay_bare_and_everything_else_is_quoted():
    text = resource("Job", {"Name": "backup-fd1", "Where": "/srv/restores", "Client": "fd 1",
                            "Level": "Full"})
    assert text == ('Job {\n  Name = backup-fd1\n  Where = /srv/restores\n  Client = "fd 1"\n'
                    "  Level = Full\n}\n")


def test_value_kinds():
    text = resource("Device", [
        ("Name", "FileStorage"), ("Archive Device", Path("/var/lib/bareos")),
        ("Password", Quoted("one-word")), ("Maximum Concurrent Jobs", 5),
        ("Label Media", True), ("Removable Media", False), ("Lan Address", None),
        ("Run", Verbatim("Level=Full sun at 2:05")), "Media Type = File"])
    assert text.splitlines()[1:-1] == [
        "  Name = FileStorage", '  Archive Device = "/var/lib/bareos"', '  Password = "one-word"',
        "  Maximum Concurrent Jobs = 5", "  Label Media = yes", "  Removable Media = no",
        "  Run = Level=Full sun at 2:05", "  Media Type = File"]


def test_nested_blocks_and_repeated_directives():
    text = resource("FileSet", {"Name": "fs", "Include": {
        "Options": Block(["Signature = MD5", ("Wild", "*.o")]), "File": [Path("/a b"), "/c"]}})
    assert text == ('FileSet {\n  Name = fs\n  Include {\n    Options {\n      Signature = MD5\n'
                    '      Wild = *.o\n    }\n    File = "/a b"\n    File = /c\n  }\n}\n')


def test_a_mapping_item_is_followed_by_ready_lines():
    text = resource("Client", [{"Name": "fd1", "Address": "h"}, "TLS Enable = no"])
    assert text == "Client {\n  Name = fd1\n  Address = h\n  TLS Enable = no\n}\n"


def test_values_it_cannot_write_are_refused():
    with pytest.raises(TypeError):
        resource("Pool", {"Name": "p", "Volume Retention": 1.5})
    with pytest.raises(ValueError):
        resource("Pool", ["Name = p\nPool Type = Backup"])


@pytest.mark.parametrize("value", AWKWARD)
def test_awkward_values_read_back_unchanged(value):
    (token,) = read_back(resource("X", {"Value": value}))
    assert token.value == value
    (token,) = read_back(resource("X", {"Value": Path(value or ".")}))
    assert token.value == (value or ".")


@settings(max_examples=300, deadline=None)
@given(value=st.text())
def test_any_text_reads_back_as_one_token_with_that_value(value):
    assert [token.value for token in read_back(resource("X", {"Value": value}))] == [value]


@pytest.mark.parametrize("value", [v for v in AWKWARD if v.strip()])
def test_round_trip_through_the_loader(value):
    director = resource_files(
        Resource("Director", {"Name": "dir", "Password": value, "Description": value,
                              "Working Directory": Path(value)}),
        Resource("Messages", {"Name": "Daemon", "Console": "all",
                              "Append": destination(Path(value), "all, !skipped")}),
        Resource("Job", {"Name": "restore", "Type": "Restore", "Client": "fd", "FileSet": "fs",
                         "Storage": "sd", "Pool": "Full", "Messages": "Daemon", "Where": value}),
        Resource("FileSet", {"Name": "fs", "Include": {"File": [value, "/etc"]}}),
        Resource("Schedule", {"Name": "nightly", "Run": [Verbatim("Level=Full sun at 2:05"),
                                                         Verbatim("Level=Incremental mon-sat")]}),
        Resource("Client", {"Name": "fd", "Address": "10.0.0.1", "Password": Quoted("p")}),
        Resource("Storage", {"Name": "sd", "Address": "::1", "Password": "p",
                             "Device": "FileStorage", "Media Type": "File"}),
        Resource("Pool", {"Name": "Full", "Label Format": Quoted("Full-"),
                          "Maximum Volume Bytes": "10G"}),
        Resource("Catalog", {"Name": "MyCatalog", "DB Driver": "sqlite3", "DB Name": "bareos"}),
    )
    config = parse_config_text("".join(director.values()), DIRECTOR)
    me = config.only("director")
    assert me.password == Password.from_clear(value)
    assert me.description == value and me.working_directory == value
    (append,) = config.get("messages", "Daemon").append
    assert append.target == value and not append.types.wants("skipped")
    assert config.get("job", "restore").where == value
    (include,) = config.get("fileset", "fs").include
    assert include.file == [value, "/etc"]
    assert config.get("schedule", "nightly").run == ["Level=Full sun at 2:05",
                                                      "Level=Incremental mon-sat"]
    assert config.get("pool", "Full").label_format == "Full-"
    assert config.get("pool", "Full").maximum_volume_bytes == 10 * 1024 ** 3


def test_a_written_tree_loads(tmp_path):
    files = resource_files(
        Resource("Client", {"Name": "fd 1", "Working Directory": tmp_path}),
        Resource("Director", {"Name": "dir", "Password": Quoted('p"w')}),
        Resource("Messages", {"Name": "Standard", "Director": destination("dir", "all, !skipped")}),
    )
    assert list(files) == ["client/fd 1.conf", "director/dir.conf", "messages/Standard.conf"]
    tree = write_tree(tmp_path / "bareos-fd.d", files)
    config = load_config(tmp_path, FILEDAEMON)
    assert config.only("client").name == "fd 1"
    assert config.get("director", "dir").password == Password.from_clear('p"w')
    assert {stat.S_IMODE(os.stat(path).st_mode) for path in tree.rglob("*.conf")} == {0o640}
    assert not list(tree.rglob("*.new"))


def test_write_tree_refuses_paths_outside_it_before_writing(tmp_path):
    for bad in ("../escape.conf", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            write_tree(tmp_path / "tree", {"client/ok.conf": "x", bad: "y"})
    assert not (tmp_path / "tree").exists()


def test_write_file_replaces_the_whole_file(tmp_path):
    path = write_file(tmp_path / "etc" / "bconsole.conf", "old text that is longer\n", mode=0o600)
    write_file(path, "new\n", mode=0o600)
    assert path.read_text() == "new\n" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_resource_needs_one_name_for_its_path():
    assert Resource("JobDefs", [("Name", "DefaultJob")]).path == "jobdefs/DefaultJob.conf"
    assert Resource("Console", ["Name = admin"]).path == "console/admin.conf"
    with pytest.raises(ValueError, match="exactly one Name"):
        resource_files(Resource("Pool", {"Pool Type": "Backup"}))
