"""Typed values: passwords, sizes, durations, booleans, names, addresses, message types."""

import hashlib
import re

import pytest

from bareos.config import ConfigError, Password, parse_config_text
from bareos.config.schemas import DIRECTOR


def director(extra="", password="secret"):
    text = f'Director {{\n  Name = d\n  Password = "{password}"\n{extra}}}\n'
    return parse_config_text(text, DIRECTOR).only("director")


def pool(directive, value):
    text = f"Director {{ Name = d; Password = p }}\nPool {{\n  Name = p\n  {directive} = {value}\n}}\n"
    return parse_config_text(text, DIRECTOR).get("pool", "p")


def test_clear_password_key_is_lowercase_hex_md5():
    password = director(password="secret").password
    assert password == Password("secret", hashlib.md5(b"secret").hexdigest().encode())
    assert password.key == b"5ebe2294ecd0e0f08eab7690d2a6ee69"


def test_md5_password_is_used_verbatim_lowercased():
    password = director(password="[md5]5EBE2294ECD0E0F08EAB7690D2A6EE69").password
    assert password.clear is None
    assert password.key == b"5ebe2294ecd0e0f08eab7690d2a6ee69"


def test_password_repr_hides_the_secret():
    assert "secret" not in repr(director().password)


@pytest.mark.parametrize("value, expected", [
    ("4096", 4096), ("512k", 512 * 1024), ("512 kb", 512_000), ("10m", 10 * 1024 ** 2), ("10 MB", 10_000_000),
    ("2g", 2 * 1024 ** 3), ("2 GB", 2 * 10 ** 9), ("1t", 1024 ** 4), ("3 TB", 3 * 10 ** 12), ("1.5 g", 3 * 2 ** 29),
])
def test_sizes(value, expected):
    assert pool("Maximum Volume Bytes", value).maximum_volume_bytes == expected


@pytest.mark.parametrize("value, expected", [
    ("60", 60), ("90 s", 90), ("5 sec", 5), ("10 seconds", 10), ("5n", 300), ("5 min", 300), ("2 minutes", 120),
    ("3h", 3 * 3600), ("2 hours", 7200), ("1 day", 86400), ("2d", 172800), ("1 week 2 days", 9 * 86400),
    ("2h30min", 9000), ("2h 30 n", 9000), ("1m", 30 * 86400), ("2 months", 60 * 86400),
    ("1 quarter", 91 * 86400), ("1y", 365 * 86400), ("1 Year 1 Day", 366 * 86400),
])
def test_durations(value, expected):
    assert pool("Volume Use Duration", value).volume_use_duration == expected


@pytest.mark.parametrize("value, expected", [
    ("yes", True), ("Yes", True), ("TRUE", True), ("true", True), ("no", False), ("No", False), ("false", False),
])
def test_booleans(value, expected):
    assert pool("Recycle", value).recycle is expected


def test_enums_match_case_insensitively_and_give_canonical_spelling():
    assert pool("Pool Type", "scratch").pool_type == "Scratch"


@pytest.mark.parametrize("address", ["bareos.example.com", "10.0.0.10", "::1", "fe80::1%eth0", "2001:db8::5", "fd1"])
def test_addresses(address):
    assert director(f"  DirAddress = {address}\n").address == address


def test_quoted_names_may_contain_spaces():
    assert pool("Description", '"x"').name == "p"
    cfg = parse_config_text('Director { Name = "my dir: 1.0_a-b" ; Password = p }', DIRECTOR)
    assert cfg.only("director").name == "my dir: 1.0_a-b"


def test_message_types_honour_all_and_exclusions():
    text = ("Director { Name = d; Password = p }\n"
            "Messages { Name = m; Director = d = all, !skipped, !Restored; Mail = a@b.c = error, fatal\n"
            "  Catalog = all; Console = all, !skipped; File = \"/var/log/x\" = info }\n")
    messages = parse_config_text(text, DIRECTOR).get("messages", "m")
    kinds = [(d.kind, d.target) for d in messages.destinations]
    assert kinds == [("director", "d"), ("mail", "a@b.c"), ("catalog", None), ("console", None),
                     ("file", "/var/log/x")]
    director_types = messages.destinations[0].types
    assert director_types.wants("info") and director_types.wants("ERROR")
    assert not director_types.wants("skipped") and not director_types.wants("restored")
    mail_types = messages.destinations[1].types
    assert mail_types.wants("fatal") and not mail_types.wants("info")


def test_unknown_size_unit_is_rejected():
    with pytest.raises(ConfigError, match="unknown unit 'q'"):
        pool("Maximum Volume Bytes", "5 q")


def console_acl(value):
    text = f"Director {{ Name = d; Password = p }}\nConsole {{ Name = c; Password = p; Where ACL = {value} }}\n"
    return parse_config_text(text, DIRECTOR).get("console", "c").where_acl


def test_acl_entries_take_names_regular_expressions_and_denials():
    assert console_acl('"/.*/tmp/restores-op", "!*all*"') == ["/.*/tmp/restores-op", "!*all*"]
    assert console_acl("backup-(one|two)?, 'x'") == ["backup-(one|two)?", "'x'"]


@pytest.mark.parametrize("value, bad", [('"|!(){}"', "'{'"), ('"a b"', "' '"), ('"x=1"', "'='"),
                                        ('"^start"', "'^'")])
def test_acl_entries_refuse_what_bareos_refuses(value, bad):
    with pytest.raises(ConfigError, match=re.escape(f"character {bad} is not allowed in an ACL")):
        console_acl(value)
