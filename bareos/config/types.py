"""Value types: each turns the tokens of a directive's value into a Python value.

A type's ``convert(tokens)`` raises ``BadValue`` with a message saying what was
expected; the binder adds the file, line and directive name. Types whose
``accumulates`` is true return lists, and repeating the directive extends it.
"""

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Callable

from .errors import ConfigError
from .lexer import STRING, Token

if TYPE_CHECKING:
    from .parser import DirectiveNode
    from .schema import SectionSchema


class BadValue(Exception):
    """A value that does not fit its directive's type."""


def raw_text(tokens: list[Token]) -> str:
    """The value as written, with quotes removed: ``a, "b c"`` -> ``a, b c``."""
    return _join(tokens, lambda token: token.value)


def source_text(tokens: list[Token]) -> str:
    """The value exactly as written, quotes included."""
    return _join(tokens, lambda token: token.text)


def _join(tokens: list[Token], part: Callable[[Token], str]) -> str:
    pieces: list[str] = []
    for token in tokens:
        if pieces and token.space_before:
            pieces.append(" ")
        pieces.append(part(token))
    return "".join(pieces)


def _split_on_commas(tokens: list[Token]) -> list[list[Token]]:
    items: list[list[Token]] = []
    current: list[Token] = []
    for token in tokens:
        if token.kind == ",":
            items.append(current)
            current = []
        else:
            current.append(token)
    items.append(current)
    if any(not item for item in items):
        raise BadValue("expected a comma-separated list without empty elements")
    return items


class ValueType:
    expected = "a value"
    accumulates = False

    def convert(self, tokens: list[Token]) -> Any:
        raise NotImplementedError

    def single(self, tokens: list[Token]) -> str:
        """The text of a value that must be one word or one quoted string."""
        if len(tokens) != 1 or tokens[0].kind not in ("word", STRING):
            raise BadValue(f"expected {self.expected} (quote a value that contains spaces)")
        return tokens[0].value


class _Pattern(ValueType):
    def __init__(self, expected: str, pattern: str, max_length: int) -> None:
        self.expected = expected
        self.pattern = re.compile(pattern)
        self.max_length = max_length

    def convert(self, tokens: list[Token]) -> str:
        text = self.single(tokens)
        if len(text) > self.max_length or not self.pattern.fullmatch(text):
            raise BadValue(f"expected {self.expected}")
        return text


NAME = _Pattern("a name (letters, digits, space and -_.:, at most 127 characters)",
                r"[A-Za-z0-9_.:\- ]+", 127)


class _String(ValueType):
    expected = "a string"

    def convert(self, tokens: list[Token]) -> str:
        return raw_text(tokens)


STRING_VALUE = _String()


@dataclass(frozen=True)
class Password:
    """A configured password; ``key`` (lowercase hex MD5, as bytes) is what
    CRAM-MD5 and TLS-PSK use. ``clear`` is None for the ``[md5]`` form."""

    clear: str | None
    key: bytes

    @classmethod
    def from_clear(cls, clear: str) -> "Password":
        return cls(clear, hashlib.md5(clear.encode("utf-8")).hexdigest().encode("ascii"))

    def __repr__(self) -> str:
        return "Password(<hidden>)"


class _Password(ValueType):
    expected = "a password"
    _MD5_PREFIX = "[md5]"

    def convert(self, tokens: list[Token]) -> Password:
        text = self.single(tokens)
        if not text.startswith(self._MD5_PREFIX):
            return Password.from_clear(text)
        digest = text[len(self._MD5_PREFIX):]
        if not re.fullmatch(r"[0-9a-fA-F]{32}", digest):
            raise BadValue("expected 32 hexadecimal digits after [md5]")
        return Password(None, digest.lower().encode("ascii"))


PASSWORD = _Password()

_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")


class _Address(ValueType):
    expected = "a host name, IPv4 or IPv6 address"

    def convert(self, tokens: list[Token]) -> str:
        text = self.single(tokens)
        if self._valid(text):
            return text
        raise BadValue(f"expected {self.expected}")

    @staticmethod
    def _valid(text: str) -> bool:
        looks_numeric = ":" in text or re.fullmatch(r"[0-9.]+", text)
        if not looks_numeric:
            return len(text) <= 253 and _HOSTNAME.fullmatch(text) is not None
        try:
            ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return False
        return True


ADDRESS = _Address()


class Integer(ValueType):
    def __init__(self, minimum: int = 0, maximum: int | None = None, expected: str | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.expected = expected or f"a whole number of at least {minimum}"

    def convert(self, tokens: list[Token]) -> int:
        text = self.single(tokens)
        if not re.fullmatch(r"[0-9]+", text):
            raise BadValue(f"expected {self.expected}")
        number = int(text)
        if number < self.minimum or (self.maximum is not None and number > self.maximum):
            raise BadValue(f"expected {self.expected}")
        return number


INTEGER = Integer()
POSITIVE = Integer(1)
PORT = Integer(1, 65535, "a port number from 1 to 65535")


_NUMBER_AND_UNIT = r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*,?"


class _Scaled(ValueType):
    """A number followed by a unit (``10 MB``), or for durations a sequence of
    them (``1 week 2 days``), converted to an int by summing number * unit."""

    def __init__(self, expected: str, multiplier: Callable[[str], int], allow_sequence: bool) -> None:
        self.expected = expected
        self.multiplier = multiplier  # unit text -> int, raising KeyError if unknown
        # An atomic group keeps a failing match linear ("1111...x" cannot be re-split).
        self.whole = re.compile(f"(?>{_NUMBER_AND_UNIT})" + ("+" if allow_sequence else ""))

    def convert(self, tokens: list[Token]) -> int:
        text = raw_text(tokens).strip()
        if not self.whole.fullmatch(text):
            raise BadValue(f"expected {self.expected}")
        total = Fraction(0)
        for number, unit in re.findall(_NUMBER_AND_UNIT, text):
            try:
                total += Fraction(number) * self.multiplier(unit.lower())
            except KeyError:
                raise BadValue(f"unknown unit '{unit}': expected {self.expected}") from None
        return int(total)


_DAY = 24 * 3600
# Bareos matches a duration unit by prefix, first match in this order wins,
# so "m" means months while "n", "mi" and "min" mean minutes.
_DURATION_UNITS = (
    ("n", 60), ("seconds", 1), ("months", 30 * _DAY), ("minutes", 60), ("mins", 60),
    ("hours", 3600), ("days", _DAY), ("weeks", 7 * _DAY), ("quarters", 91 * _DAY),
    ("years", 365 * _DAY),
)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "m": 1024 ** 2, "mb": 1000 ** 2,
               "g": 1024 ** 3, "gb": 1000 ** 3, "t": 1024 ** 4, "tb": 1000 ** 4}


def _duration_multiplier(unit: str) -> int:
    if not unit:
        return 1
    for name, seconds in _DURATION_UNITS:
        if name.startswith(unit):
            return seconds
    raise KeyError(unit)


DURATION = _Scaled("a duration such as 90, 30 min, 2h30min or 1 week 2 days",
                   _duration_multiplier, allow_sequence=True)
SIZE = _Scaled("a size such as 4096, 512k, 10 MB or 2 g", _SIZE_UNITS.__getitem__,
               allow_sequence=False)


class Enum(ValueType):
    """One of fixed words, matched case-insensitively; the value is the canonical spelling."""

    def __init__(self, *choices: str) -> None:
        self.choices = {choice.lower(): choice for choice in choices}
        self.expected = "one of " + ", ".join(choices)

    def convert(self, tokens: list[Token]) -> str:
        try:
            return self.choices[self.single(tokens).lower()]
        except KeyError:
            raise BadValue(f"expected {self.expected}") from None


class _Boolean(ValueType):
    expected = "yes or no"
    _WORDS = {"yes": True, "true": True, "no": False, "false": False}

    def convert(self, tokens: list[Token]) -> bool:
        try:
            return self._WORDS[self.single(tokens).lower()]
        except KeyError:
            raise BadValue("expected yes or no (or true/false)") from None


BOOLEAN = _Boolean()


class _StringList(ValueType):
    expected = "a comma-separated list"
    accumulates = True

    def convert(self, tokens: list[Token]) -> list[str]:
        return [raw_text(item) for item in _split_on_commas(tokens)]


STRING_LIST = _StringList()


class _AclList(_StringList):
    """A console ACL (``Job ACL = backup-.*, !*all*``): names, regular expressions and
    ``!`` denials, in the characters Bareos allows in an ACL entry."""

    expected = "a comma-separated list of ACL entries"
    _ENTRY = re.compile(r"[A-Za-z0-9!()\[\]|+?*.:_\-'/]{1,127}")

    def convert(self, tokens: list[Token]) -> list[str]:
        entries = super().convert(tokens)
        for entry in entries:
            if not self._ENTRY.fullmatch(entry):
                bad = next((c for c in entry if not self._ENTRY.fullmatch(c)), None)
                raise BadValue(f"ACL entry {entry!r}: " + (
                    f"character {bad!r} is not allowed in an ACL" if bad
                    else "an ACL entry has 1 to 127 characters"))
        return entries


ACL_LIST = _AclList()


class Ref(ValueType):
    """The name of another resource of type ``ref_type``, checked after loading."""

    def __init__(self, ref_type: str) -> None:
        self.ref_type = ref_type
        self.expected = f"the name of a {ref_type} resource"

    def convert(self, tokens: list[Token]) -> Any:   # a name; a list of them in RefList
        return NAME.convert(tokens)


class RefList(Ref):
    accumulates = True

    def convert(self, tokens: list[Token]) -> list[str]:
        return [NAME.convert(item) for item in _split_on_commas(tokens)]


class _RawList(ValueType):
    """The text after ``=`` exactly as written, for values parsed elsewhere (Schedule Run)."""

    expected = "a value"
    accumulates = True

    def convert(self, tokens: list[Token]) -> list[str]:
        return [source_text(tokens)]


RAW_LIST = _RawList()


class Block:
    """A nested ``{ ... }`` block bound against its own schema; each occurrence
    becomes a Section, and the value is the list of them."""

    accumulates = True

    def __init__(self, schema: "SectionSchema") -> None:
        self.schema = schema


# --- Messages destinations -------------------------------------------------

MESSAGE_TYPES = frozenset({
    "all", "debug", "info", "warning", "error", "fatal", "terminate", "saved", "notsaved",
    "skipped", "mount", "restored", "security", "alert", "volmgmt", "audit", "events",
})


@dataclass(frozen=True)
class MessageTypes:
    included: frozenset[str]
    excluded: frozenset[str]

    def wants(self, type_name: str) -> bool:
        name = type_name.lower()
        if name in self.excluded:
            return False
        return "all" in self.included or name in self.included


@dataclass(frozen=True)
class Destination:
    kind: str  # lower-case directive name: "append", "director", "mail on error", ...
    target: str | None  # file, director name or mail address; None for console, syslog, ...
    types: MessageTypes


def parse_message_types(tokens: list[Token]) -> MessageTypes:
    included: set[str] = set()
    excluded: set[str] = set()
    for item in _split_on_commas(tokens):
        word = raw_text(item).strip().lower()
        negated = word.startswith("!")
        name = word[1:] if negated else word
        if name not in MESSAGE_TYPES:
            raise BadValue(f"unknown message type '{name}': expected some of {', '.join(sorted(MESSAGE_TYPES))}")
        (excluded if negated else included).add(name)
    return MessageTypes(frozenset(included), frozenset(excluded))


class DestinationType(ValueType):
    """``[target =] type, !type, ...``; ``target`` is "required", "optional" or "none"."""

    accumulates = True

    def __init__(self, kind: str, target: str) -> None:
        self.kind = kind
        self.target = target
        self.expected = "'target = message types'" if target == "required" else "message types"

    def convert(self, tokens: list[Token]) -> list[Destination]:
        target, types = self._split_target(tokens)
        return [Destination(self.kind, target, parse_message_types(types))]

    def _split_target(self, tokens: list[Token]) -> tuple[str | None, list[Token]]:
        equals = next((i for i, token in enumerate(tokens) if token.kind == "="), None)
        if equals is None:
            if self.target == "required":
                raise BadValue(f"expected {self.expected}, e.g. \"/var/log/x.log\" = all, !skipped")
            return None, tokens
        if self.target == "none":
            raise BadValue("expected message types only (this destination takes no target)")
        if equals == 0 or equals == len(tokens) - 1:
            raise BadValue(f"expected {self.expected}")
        return raw_text(tokens[:equals]), tokens[equals + 1:]


# --- Listening addresses ----------------------------------------------------

class Addresses:
    """``{ ip = { addr = X; port = N } ipv4 = {...} ipv6 = {...} }`` as (host, port) pairs;
    a missing port is None (the resource's Port fills it in), a missing addr is ""."""

    accumulates = False
    _FAMILIES = ("ip", "ipv4", "ipv6")

    def convert_block(self, nodes: list["DirectiveNode"]) -> list[tuple[str, int | None]]:
        return [self._host_port(node) for node in nodes]

    def _host_port(self, node: "DirectiveNode") -> tuple[str, int | None]:
        if "".join(node.name.split()).lower() not in self._FAMILIES or node.block is None:
            raise ConfigError(node.file, node.line,
                              f"expected 'ip', 'ipv4' or 'ipv6' = {{ addr = ...; port = ... }}, found '{node.name}'")
        fields: dict[str, Any] = {"addr": "", "port": None}
        for item in node.block:
            key = "".join(item.name.split()).lower()
            if key not in fields or item.tokens is None:
                raise ConfigError(item.file, item.line, f"expected 'addr = ...' or 'port = ...', found '{item.name}'")
            converter = ADDRESS if key == "addr" else PORT
            try:
                fields[key] = converter.convert(item.tokens)
            except BadValue as error:
                raise ConfigError(item.file, item.line,
                                  f"invalid value '{raw_text(item.tokens)}' for '{key}': {error}") from None
        return fields["addr"], fields["port"]


ADDRESSES = Addresses()

# What a Directive's type may be.
DirectiveType = ValueType | Block | Addresses
