import pytest
from hypothesis import given, strategies as st

from bareos.protocol.hello import Hello, HelloError, HelloKind, format_hello, parse_hello


@pytest.mark.parametrize("line, expected", [
    (b"Hello admin calling version 25.1.1\n",
     Hello(HelloKind.CONSOLE, "admin", calling_version="25.1.1")),
    (b"Hello *UserAgent* calling\n", Hello(HelloKind.CONSOLE, "*UserAgent*")),
    (b'Hello my\x01console calling version 18.2.0 Version="18.2.0"\n',
     Hello(HelloKind.CONSOLE, "my console", version="18.2.0", calling_version="18.2.0")),
    (b"Hello my console calling version 2501\n",
     Hello(HelloKind.CONSOLE, "my console", calling_version="2501")),
    (b'Hello Director bareos-dir calling Version="25.1.1"\n',
     Hello(HelloKind.DIRECTOR, "bareos-dir", version="25.1.1")),
    (b"Hello Director bareos-dir calling\n", Hello(HelloKind.DIRECTOR, "bareos-dir")),
    (b'Hello Client fd1 FdProtocolVersion=54 calling Version="23.0.1"\n',
     Hello(HelloKind.CLIENT, "fd1", version="23.0.1", fd_protocol_version=54)),
    (b'Hello Start Job Backup.2026-11-26_05.00.00_03 Version="25.1.1"\n',
     Hello(HelloKind.START_JOB, "Backup.2026-11-26_05.00.00_03", version="25.1.1")),
    (b'Hello Storage calling Start Job j1 Version="25.1.1"\n',
     Hello(HelloKind.STORAGE_START_JOB, "j1", version="25.1.1")),
    (b'Hello Start Storage Job j2 Version="25.1.1"\n',
     Hello(HelloKind.START_STORAGE_JOB, "j2", version="25.1.1")),
])
def test_every_connection_type_parses(line, expected):
    assert parse_hello(line) == expected


@pytest.mark.parametrize("line, name", [
    (b"Hello admin calling 100\n", "admin"),                     # Bacula 9.6's bconsole
    (b"Hello *UserAgent* calling 100\n", "*UserAgent*"),
    (b"Hello admin calling 100 tlspsk=0\n", "admin"),            # Bacula 11's
])
def test_any_console_hello_is_a_console_before_18_2(line, name):
    hello = parse_hello(line)
    assert (hello.kind, hello.name, hello.is_console_18_2) == (HelloKind.CONSOLE, name, False)


def test_console_version_is_the_word_after_version_whatever_follows():
    hello = parse_hello(b'Hello a calling version 25.1.1 something Version="25.1.1"\n')
    assert (hello.calling_version, hello.version, hello.is_console_18_2) == ("25.1.1", "25.1.1", True)


def test_a_daemon_hello_in_an_unknown_form_is_not_a_console():
    with pytest.raises(HelloError):
        parse_hello(b"Hello Director bareos-dir calling now\n")


def test_console_protocol_version():
    assert parse_hello(b"Hello a calling version 25.1.1\n").is_console_18_2
    assert parse_hello(b"Hello a calling version 1802\n").is_console_18_2
    assert not parse_hello(b"Hello a calling version 17.2.7\n").is_console_18_2
    assert not parse_hello(b"Hello a calling\n").is_console_18_2


def test_psk_identity_types():
    assert HelloKind.CONSOLE.psk_type == "R_CONSOLE"
    assert HelloKind.DIRECTOR.psk_type == "R_DIRECTOR"
    assert HelloKind.CLIENT.psk_type == "R_CLIENT"
    assert {HelloKind.START_JOB.psk_type, HelloKind.STORAGE_START_JOB.psk_type,
            HelloKind.START_STORAGE_JOB.psk_type} == {"R_JOB"}


@pytest.mark.parametrize("line", [
    b"", b"Hello", b"GET / HTTP/1.1\r\n", b"Hello Director  calling\n",
    b"Hello " + b"x" * 10000 + b" calling\n", b"Hello a\x00b calling\n", b"\xff\xfe",
])
def test_bad_hellos_raise_our_error(line):
    with pytest.raises(HelloError):
        parse_hello(line)


names = st.text(st.characters(whitelist_categories=("L", "N", "P", "S")),
                min_size=1, max_size=60).map(lambda s: s.replace("calling", "x"))


@given(st.sampled_from(list(HelloKind)), names, st.sampled_from([None, "25.1.1"]))
def test_format_then_parse_is_the_identity(kind, name, version):
    hello = Hello(kind, name, version=version,
                  fd_protocol_version=54 if kind is HelloKind.CLIENT else None)
    assert parse_hello(format_hello(hello)) == hello


@given(st.binary(max_size=600))
def test_arbitrary_bytes_give_a_hello_or_our_error(data):
    try:
        parse_hello(data)
    except HelloError:
        pass
