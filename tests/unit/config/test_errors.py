"""A table of bad configurations, each with the exact message it must produce."""

import pytest

from bareos.config import ConfigError, parse_config_text
from bareos.config.schemas import DIRECTOR, FILEDAEMON, STORAGEDAEMON

# Lines 1-4; snippets appended to it start at line 5.
DIRECTOR_BASE = "Director {\n  Name = dir\n  Password = secret\n}\n"
CLIENT = "Client {\n  Name = c\n  Address = h\n  Password = p\n"  # lines 5-8, then 9...
JOB_BASE = DIRECTOR_BASE + (
    "Messages { Name = m }\n"  # 5
    "Pool { Name = p }\n"  # 6
)

BAD_DIRECTOR_CONFIGS = [
    pytest.param(DIRECTOR_BASE + CLIENT + "  Colour = red\n}\n",
                 "dir.conf:9: unknown directive 'Colour' in Client resource", id="unknown directive"),
    pytest.param(DIRECTOR_BASE + "Clinet {\n  Name = c\n}\n",
                 "dir.conf:5: unknown resource type 'Clinet' for bareos-dir (expected one of Director, Client,"
                 " Storage, Console, Job, JobDefs, FileSet, Schedule, Pool, Catalog, Messages, Profile, User, Counter)",
                 id="unknown resource type"),
    pytest.param(DIRECTOR_BASE + CLIENT + "  Port = 70000\n}\n",
                 "dir.conf:9: invalid value '70000' for 'Port': expected a port number from 1 to 65535",
                 id="port out of range"),
    pytest.param(DIRECTOR_BASE + CLIENT + "  Passive = maybe\n}\n",
                 "dir.conf:9: invalid value 'maybe' for 'Passive': expected yes or no (or true/false)",
                 id="bad boolean"),
    pytest.param(DIRECTOR_BASE + CLIENT + "  Heartbeat Interval = 5 fortnights\n}\n",
                 "dir.conf:9: invalid value '5 fortnights' for 'Heartbeat Interval': unknown unit 'fortnights':"
                 " expected a duration such as 90, 30 min, 2h30min or 1 week 2 days",
                 id="bad duration unit"),
    pytest.param(DIRECTOR_BASE + CLIENT + "  Heartbeat Interval = soon\n}\n",
                 "dir.conf:9: invalid value 'soon' for 'Heartbeat Interval':"
                 " expected a duration such as 90, 30 min, 2h30min or 1 week 2 days",
                 id="bad duration"),
    pytest.param(DIRECTOR_BASE + "Pool {\n  Name = p\n  Maximum Volume Bytes = 10 XB\n}\n",
                 "dir.conf:7: invalid value '10 XB' for 'Maximum Volume Bytes': unknown unit 'XB':"
                 " expected a size such as 4096, 512k, 10 MB or 2 g",
                 id="bad size unit"),
    pytest.param(DIRECTOR_BASE + "Pool {\n  Name = p\n  Pool Type = Sometimes\n}\n",
                 "dir.conf:7: invalid value 'Sometimes' for 'Pool Type': expected one of Backup, Archive,"
                 " Cloned, Migration, Copy, Save, Scratch",
                 id="bad enum"),
    pytest.param(DIRECTOR_BASE + "Pool {\n  Name = my pool\n}\n",
                 "dir.conf:6: invalid value 'my pool' for 'Name': expected a name (letters, digits, space and"
                 " -_.:, at most 127 characters) (quote a value that contains spaces)",
                 id="unquoted name with a space"),
    pytest.param(DIRECTOR_BASE + 'Pool {\n  Name = "a/b"\n}\n',
                 "dir.conf:6: invalid value 'a/b' for 'Name': expected a name (letters, digits, space and"
                 " -_.:, at most 127 characters)",
                 id="bad name character"),
    pytest.param(DIRECTOR_BASE + f"Pool {{\n  Name = {'x' * 128}\n}}\n",
                 f"dir.conf:6: invalid value '{'x' * 128}' for 'Name': expected a name (letters, digits,"
                 " space and -_.:, at most 127 characters)",
                 id="name too long"),
    pytest.param(DIRECTOR_BASE + "Client {\n  Name = c\n  Address = h\n  Password = [md5]abc\n}\n",
                 "dir.conf:8: invalid value '[md5]abc' for 'Password': expected 32 hexadecimal digits after [md5]",
                 id="bad md5 password"),
    pytest.param(DIRECTOR_BASE + "Client {\n  Name = c\n  Address = 1.2.3.999\n  Password = p\n}\n",
                 "dir.conf:7: invalid value '1.2.3.999' for 'Address': expected a host name, IPv4 or IPv6"
                 " address", id="bad address"),
    pytest.param(DIRECTOR_BASE + "Client {\n  Name = c\n  Address = h\n}\n",
                 "dir.conf:5: Client resource 'c': missing required directive 'Password'",
                 id="missing required directive"),
    pytest.param(DIRECTOR_BASE + "Client {\n  Address = h\n}\n",
                 "dir.conf:5: Client resource: missing required directive 'Name'", id="missing name"),
    pytest.param(DIRECTOR_BASE + CLIENT + "}\n" + CLIENT + "}\n",
                 "dir.conf:10: duplicate Client resource 'c' (first defined at dir.conf:5)",
                 id="duplicate name"),
    pytest.param(DIRECTOR_BASE + DIRECTOR_BASE.replace("dir", "dir2"),
                 "dir.conf:5: only one Director resource is allowed (first defined at dir.conf:1)",
                 id="second director"),
    pytest.param("Pool { Name = p }\n", "dir.conf: no Director resource defined", id="no director"),
    pytest.param(DIRECTOR_BASE + CLIENT,
                 "dir.conf:8: unexpected end of file: missing '}' to close the Client resource opened at"
                 " dir.conf:5", id="missing closing brace"),
    pytest.param(DIRECTOR_BASE + 'Client {\n  Name = "c\n}\n',
                 "dir.conf:6: unterminated quoted string", id="unterminated string"),
    pytest.param(DIRECTOR_BASE + "@/nonexistent/bareos-*.conf\n",
                 "dir.conf:5: include '/nonexistent/bareos-*.conf' matches no file", id="include not found"),
    pytest.param(JOB_BASE + "Job {\n  Name = j\n  Type = Backup\n  Pool = p\n  Messages = m\n"
                 "  Client = nosuch\n}\n",
                 "dir.conf:12: Job resource 'j': 'Client' names Client 'nosuch', which is not defined",
                 id="unresolved reference"),
    pytest.param(JOB_BASE + "Job {\n  Name = j\n  Type = Backup\n  Messages = m\n}\n",
                 "dir.conf:7: Job resource 'j': missing required directive 'Pool'",
                 id="job without pool"),
    pytest.param(JOB_BASE + "JobDefs {\n  Name = a\n  JobDefs = b\n}\nJobDefs {\n  Name = b\n  JobDefs = a\n}\n",
                 "dir.conf:9: JobDefs resource 'a': 'JobDefs' inherits from itself", id="jobdefs loop"),
    pytest.param(DIRECTOR_BASE + CLIENT + "  Address = other\n}\n",
                 "dir.conf:9: 'Address' is set twice (first at dir.conf:7)", id="directive set twice"),
    pytest.param(DIRECTOR_BASE + "Client {\n  Name c\n}\n",
                 "dir.conf:6: expected '=' after 'Name c', found end of line", id="missing equals"),
    pytest.param(DIRECTOR_BASE + "}\n", "dir.conf:5: expected a resource type, found '}'",
                 id="stray closing brace"),
    pytest.param(DIRECTOR_BASE + "Client\n{ Name = c }\n",
                 "dir.conf:5: expected '{' after resource type 'Client', found end of line",
                 id="resource without brace on its line"),
    pytest.param(DIRECTOR_BASE + "Client {\n  Name = {\n  }\n}\n",
                 "dir.conf:6: 'Name' takes a value, not a { ... } block", id="block instead of value"),
    pytest.param(DIRECTOR_BASE + "FileSet {\n  Name = fs\n  Include = /etc\n}\n",
                 "dir.conf:7: 'Include' expects a { ... } block", id="value instead of block"),
    pytest.param(DIRECTOR_BASE + CLIENT + "  Lan Address =\n}\n",
                 "dir.conf:9: missing value for 'Lan Address'", id="missing value"),
    pytest.param(DIRECTOR_BASE + "Messages {\n  Name = m\n  Append = all\n}\n",
                 "dir.conf:7: invalid value 'all' for 'Append': expected 'target = message types',"
                 ' e.g. "/var/log/x.log" = all, !skipped', id="append without file"),
    pytest.param(DIRECTOR_BASE + "Messages {\n  Name = m\n  Console = all, !bogus\n}\n",
                 "dir.conf:7: invalid value 'all, !bogus' for 'Console': unknown message type 'bogus':"
                 " expected some of alert, all, audit, debug, error, events, fatal, info, mount, notsaved,"
                 " restored, saved, security, skipped, terminate, volmgmt, warning",
                 id="unknown message type"),
    pytest.param(DIRECTOR_BASE + "Messages {\n  Name = m\n  Console = x = all\n}\n",
                 "dir.conf:7: invalid value 'x = all' for 'Console': expected message types only"
                 " (this destination takes no target)", id="console with target"),
    pytest.param("Director {\n  Name = dir\n  Password = s\n  DirAddresses = {\n    tcp = { addr = ::1 }\n  }\n}\n",
                 "dir.conf:5: expected 'ip', 'ipv4' or 'ipv6' = { addr = ...; port = ... }, found 'tcp'",
                 id="bad address family"),
    pytest.param("Director {\n  Name = dir\n  Password = s\n  DirAddresses = {\n    ip = { port = 0 }\n  }\n}\n",
                 "dir.conf:5: invalid value '0' for 'port': expected a port number from 1 to 65535",
                 id="bad port in addresses"),
    pytest.param(DIRECTOR_BASE + "Console {\n  Name = c\n  Password = p\n  Job ACL = a,,b\n}\n",
                 "dir.conf:8: invalid value 'a,,b' for 'Job ACL': expected a comma-separated list without"
                 " empty elements", id="empty list element"),
]


@pytest.mark.parametrize("text, message", BAD_DIRECTOR_CONFIGS)
def test_bad_director_config(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, DIRECTOR, filename="dir.conf")
    assert str(caught.value) == message


@pytest.mark.parametrize("schema, text, message", [
    (FILEDAEMON, "Director {\n  Name = d\n  Password = p\n}\n", "fd.conf: no Client resource defined"),
    (STORAGEDAEMON, "Director {\n  Name = d\n  Password = p\n}\n", "fd.conf: no Storage resource defined"),
    (FILEDAEMON, "FileDaemon {\n  Name = a\n}\nClient {\n  Name = b\n}\n",
     "fd.conf:4: only one Client resource is allowed (first defined at fd.conf:1)"),
    (FILEDAEMON, "Client {\n  Name = a\n  Messages = nosuch\n}\n",
     "fd.conf:3: Client resource 'a': 'Messages' names Messages 'nosuch', which is not defined"),
])
def test_bad_daemon_config(schema, text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, schema, filename="fd.conf")
    assert str(caught.value) == message


def test_error_carries_file_and_line():
    with pytest.raises(ConfigError) as caught:
        parse_config_text(DIRECTOR_BASE + CLIENT + "  Colour = red\n}\n", DIRECTOR, filename="x.conf")
    assert (caught.value.file, caught.value.line) == ("x.conf", 9)
