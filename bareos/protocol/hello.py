"""The hello line: the first message an initiator sends on every connection.

One ``Hello`` value describes all connection types of the Bareos network
(consoles, director to daemons, client-initiated file daemons and the data
channels of jobs); ``format_hello`` and ``parse_hello`` are inverses.
Names are "bashed" on the wire (spaces become ``\\x01``).
"""

import dataclasses
import enum
import re
from typing import Optional

from bareos.protocol.cram import bash_spaces, unbash_spaces

FD_PROTOCOL_VERSION = 54
MAX_NAME_LENGTH = 127
MAX_HELLO_LENGTH = 500


class HelloKind(enum.Enum):
    CONSOLE = "console"                       # bconsole, python-bareos, tray monitor -> director
    DIRECTOR = "director"                     # director (or tray monitor) -> FD / SD
    CLIENT = "client"                         # client-initiated FD -> director
    START_JOB = "start job"                   # FD -> SD data channel
    STORAGE_START_JOB = "storage start job"   # SD -> passive FD data channel
    START_STORAGE_JOB = "start storage job"   # reading SD -> writing SD

    @property
    def psk_type(self) -> str:
        """The TLS-PSK identity type an initiator of this kind presents."""
        return _PSK_TYPES.get(self, "R_JOB")


_PSK_TYPES = {
    HelloKind.CONSOLE: "R_CONSOLE",
    HelloKind.DIRECTOR: "R_DIRECTOR",
    HelloKind.CLIENT: "R_CLIENT",
}


class HelloError(Exception):
    """The first message is not a hello we understand."""


@dataclasses.dataclass(frozen=True)
class Hello:
    kind: HelloKind
    name: str
    version: Optional[str] = None               # "M.m.p" from Version="..."
    calling_version: Optional[str] = None       # console: the token after "calling version"
    fd_protocol_version: Optional[int] = None

    @property
    def console_version(self) -> Optional[int]:
        """major*100+minor of a console's ``calling version`` token, or None."""
        if self.calling_version is None:
            return None
        parts = self.calling_version.split(".")
        try:
            if len(parts) == 1:
                return int(parts[0])
            return int(parts[0]) * 100 + int(parts[1])
        except ValueError:
            return 0

    @property
    def is_console_18_2(self) -> bool:
        """Consoles from Bareos 18.2 on get the newer greeting and TLS rules."""
        return self.console_version is not None and self.console_version >= 1802


_VERSION = r'(?: Version="(?P<version>\d+\.\d+\.\d+)")?'
_PATTERNS = [
    (HelloKind.STORAGE_START_JOB, rf"Hello Storage calling Start Job (?P<name>\S+){_VERSION}"),
    (HelloKind.START_STORAGE_JOB, rf"Hello Start Storage Job (?P<name>\S+){_VERSION}"),
    (HelloKind.START_JOB, rf"Hello Start Job (?P<name>\S+){_VERSION}"),
    (HelloKind.DIRECTOR, rf"Hello Director (?P<name>\S+) calling{_VERSION}"),
    (HelloKind.CLIENT,
     rf"Hello Client (?P<name>\S+)(?: FdProtocolVersion=(?P<fdproto>\d+))? calling{_VERSION}"),
    # Any "Hello <name> calling ..." is a console, whatever follows (Bareos' consoles add
    # "version M.m.p", Bacula 9.x's bconsole "100"); console names may arrive unbashed
    # (python-bareos 25.1.1): take all up to " calling".
    (HelloKind.CONSOLE,
     r"Hello (?P<name>.+?) calling(?P<console_tail>(?: [^\n\x00]*)?)"),
]
_COMPILED = [(kind, re.compile(pattern + r"\n?\x00?$", re.DOTALL)) for kind, pattern in _PATTERNS]
_DIRECTOR_VERSION = re.compile(r'Version="(?P<version>\d+\.\d+\.\d+)"')
# "Hello Director x ..." in a form the daemon patterns do not match is not a console "Director x"
_DAEMON_HELLO_WORDS = {"Director", "Client", "Storage", "Start"}


def parse_hello(message: object) -> Hello:
    if not isinstance(message, bytes):
        raise HelloError("expected a hello message, got a signal")
    if len(message) > MAX_HELLO_LENGTH:
        raise HelloError(f"hello of {len(message)} bytes is too long")
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise HelloError("hello is not valid UTF-8") from None
    for kind, pattern in _COMPILED:
        match = pattern.match(text)
        if match:
            return _build(kind, match)
    raise HelloError(f"unknown hello {text[:60]!r}")


def _build(kind: HelloKind, match: re.Match[str]) -> Hello:
    name = unbash_spaces(match["name"])
    if (not name or len(name) > MAX_NAME_LENGTH or name != name.strip(" ")
            or "\x00" in name or "\n" in name):
        raise HelloError(f"invalid name in hello ({len(name)} characters)")
    groups = match.groupdict()
    if kind is HelloKind.CONSOLE:
        if match["name"].split(" ", 1)[0] in _DAEMON_HELLO_WORDS and " " in match["name"]:
            raise HelloError("a daemon's hello in a form we do not know")
        groups = _console_versions(groups["console_tail"])
    return Hello(
        kind=kind,
        name=name,
        version=groups.get("version"),
        calling_version=groups.get("cversion"),
        fd_protocol_version=int(groups["fdproto"]) if groups.get("fdproto") else None,
    )


def _console_versions(tail: str) -> dict[str, str]:
    """What a console says after "calling": like Bareos, the second word is its version
    ("calling version 25.1.1"); a Version="M.m.p" anywhere is the director-style one.  Other
    words (Bacula 9.x's "calling 100") leave the version unknown: a pre-18.2 console."""
    found = {}
    words = tail.split(" ")             # tail is "" or starts with a blank: words[0] == ""
    if len(words) > 2 and words[2]:
        found["cversion"] = words[2]
    version = _DIRECTOR_VERSION.search(tail)
    if version:
        found["version"] = version["version"]
    return found


def format_hello(hello: Hello) -> bytes:
    name = bash_spaces(hello.name)
    version = f' Version="{hello.version}"' if hello.version else ""
    kind = hello.kind
    if kind is HelloKind.CONSOLE:
        cversion = f" version {hello.calling_version}" if hello.calling_version else ""
        line = f"Hello {name} calling{cversion}{version}"
    elif kind is HelloKind.DIRECTOR:
        line = f"Hello Director {name} calling{version}"
    elif kind is HelloKind.CLIENT:
        proto = hello.fd_protocol_version or FD_PROTOCOL_VERSION
        line = f"Hello Client {name} FdProtocolVersion={proto} calling{version}"
    elif kind is HelloKind.START_JOB:
        line = f"Hello Start Job {name}{version}"
    elif kind is HelloKind.STORAGE_START_JOB:
        line = f"Hello Storage calling Start Job {name}{version}"
    else:
        line = f"Hello Start Storage Job {name}{version}"
    return (line + "\n").encode("utf-8")
