"""The console ACL rule (bareos.director.console.acl), as Bareos' ua_acl.cc applies it."""

import types

import pytest

from bareos.director.console.acl import acl_decision, acl_entries


@pytest.mark.parametrize("entries, value, allowed", [
    (["*all*"], "anything", True),
    (["*ALL*"], "anything", True),
    ([], "anything", False),                              # no ACL of a kind: nothing of it
    (["fd-one"], "fd-one", True),
    (["fd-one"], "FD-ONE", True),                         # names compare ignoring case
    (["fd-one"], "fd-two", False),
    (["!fd-two", "*all*"], "fd-two", False),              # the first match decides
    (["!fd-two", "*all*"], "fd-one", True),
    (["*all*", "!fd-two"], "fd-two", True),
    (["fd-one", "!*all*"], "fd-two", False),
    (["backup-.*"], "backup-fd", True),                   # a regular expression...
    (["backup-.*"], "my-backup-fd", False),               # ...matches the whole name
    (["backup"], "backup-fd", False),
    (["Backup-.*"], "backup-fd", True),                   # ...ignoring case
    (["!backup-one-copy", "backup-o.*"], "backup-one-copy", False),
    (["!backup-one-copy", "backup-o.*"], "backup-one", True),
    (["fd[", "fd-one"], "fd-one", True),                  # a bad expression only never matches
    (["fd.one"], "fdXone", True),                         # "." makes it an expression
    ([" fd-one "], "fd-one", True),
])
def test_first_matching_entry_decides(entries, value, allowed):
    assert acl_decision(entries, "client_acl", value) is allowed


@pytest.mark.parametrize("value", ["", " leading-blank", "semi;colon", "a" * 128, "tab\there"])
def test_names_that_cannot_be_resource_names_are_denied(value):
    assert acl_decision(["*all*"], "job_acl", value) is False


def test_where_and_plugin_options_take_any_text():
    assert acl_decision(["*all*"], "where_acl", "") is True
    assert acl_decision(["/.*/tmp/restores", "!*all*"], "where_acl", "/srv/tmp/restores") is True
    assert acl_decision(["/.*/tmp/restores", "!*all*"], "where_acl", "/tmp/INVALID") is False
    assert acl_decision(["/.*/tmp/restores", "!*all*"], "where_acl", "") is False
    assert acl_decision(["*all*"], "plugin_options_acl", "python:module=x;a=b") is True


def test_the_console_entries_come_before_those_of_its_profiles_in_order():
    console = types.SimpleNamespace(pool_acl=["!Full"], command_acl=None)
    operator = types.SimpleNamespace(pool_acl=["*all*"], command_acl=["!delete", "*all*"])
    other = types.SimpleNamespace(pool_acl=["Full"], command_acl=["delete"])
    assert acl_entries(console, [operator, other], "pool_acl") == ["!Full", "*all*", "Full"]
    assert acl_entries(console, [operator, other], "command_acl") == ["!delete", "*all*", "delete"]
    assert acl_decision(acl_entries(console, [operator], "pool_acl"), "pool_acl", "Full") is False
    assert acl_decision(acl_entries(console, [operator], "pool_acl"), "pool_acl", "Inc") is True
