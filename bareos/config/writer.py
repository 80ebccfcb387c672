"""Writes configuration: resource descriptions -> Bareos resource text -> ``<daemon>.d`` trees.

The one place that writes configuration (the quickstart and the packages' postinst, the
test fixtures, the network-test topologies all use it); ``loader`` reads back what it writes.

A resource is its type and its directives, in order::

    Resource("Pool", {"Name": "Full", "Pool Type": "Backup", "Label Format": "Full-"})
    Resource("FileSet", {"Name": "TestSet",
                         "Include": {"Options": {"Signature": "MD5"},
                                     "File": [Path("/srv"), Path("/etc")]}})
    Resource("Client", [("Name", "fd1"), ("Password", Quoted(secret)), "Passive = yes"])

Directives are a mapping, or a sequence whose items are ``(name, value)`` pairs, ready
lines (``"Maximum Concurrent Jobs = 5"``, written as given) or mappings (their pairs, in
order), so that a caller's extra lines can follow a mapping: ``[{"Name": "fd1"}, *extra]``.
A value is written by its kind:

* ``str``: as it is when it reads back as that one word (``bareos-dir``, ``127.0.0.1``,
  ``50G``), otherwise as a quoted string (``"a b"``, ``"x#y"``, ``"say \\"hi\\""``);
* ``Quoted`` and paths (``os.PathLike``): always a quoted string, as Bareos' own
  configuration writes passwords and paths;
* ``int``: decimal; ``bool``: ``yes`` / ``no``;
* ``Verbatim``: exactly as given, for values of several tokens (``Run`` schedules,
  comma-separated lists, Messages destinations: see :func:`destination`);
* a mapping or a :class:`Block`: a nested block ``Name { ... }`` (``Include``, ``Options``);
* a list or tuple: the directive once for each element (``File``, ``Run``);
* ``None``: the directive is left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from .lexer import PUNCTUATION

__all__ = ["Block", "Quoted", "Resource", "Verbatim", "destination", "quote", "resource",
           "resource_files", "write_file", "write_tree"]

#: a directive's value; see the module's docstring for how each kind is written
Value = Any
Item = Union[tuple[str, Value], str, Mapping[str, Value]]
Directives = Union[Mapping[str, Value], Iterable[Item]]

INDENT = "  "
#: characters that end a word in the lexer, so a value holding one must be quoted; a
#: backslash too, so that no reader takes it for an escape; a word starting with "@"
#: would be read as an include
_NOT_IN_WORDS = frozenset('"#\\') | PUNCTUATION


class Quoted(str):
    """A value always written as a quoted string, even when it is one word."""


class Verbatim(str):
    """A value written exactly as given: the caller wrote its tokens (``Level=Full mon at 1:00``)."""


class Block(list):
    """A nested block given as a sequence of directive items (pairs or ready lines)."""


def quote(text: Union[str, os.PathLike]) -> str:
    """``text`` as a Bareos quoted string: backslash and double quote are escaped."""
    return '"' + os.fspath(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_word(text: str) -> bool:
    return (text != "" and not text.startswith("@")
            and not any(char in _NOT_IN_WORDS or char.isspace() for char in text))


def value_text(value: Value) -> str:
    """The text after ``=`` for a plain (not block, not repeated) value."""
    if isinstance(value, Verbatim):
        return str(value)
    if isinstance(value, (Quoted, os.PathLike)):
        return quote(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if _is_word(value) else quote(value)
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as a directive value")


def destination(target: Union[str, os.PathLike], types: str = "all") -> Verbatim:
    """A Messages destination with a target: ``Append = "/var/log/x.log" = all, !skipped``."""
    return Verbatim(f"{value_text(target)} = {types}")


def _items(directives: Directives) -> Iterator[Union[tuple[str, Value], str]]:
    """The pairs and ready lines of ``directives``, mappings taken apart."""
    for item in [directives] if isinstance(directives, Mapping) else directives:
        if isinstance(item, Mapping):
            yield from item.items()
        else:
            yield item


def _lines(directives: Directives, depth: int) -> Iterator[str]:
    pad = INDENT * depth
    for item in _items(directives):
        if isinstance(item, str):
            if "\n" in item:
                raise ValueError(f"a ready directive line must be one line: {item!r}")
            yield pad + item
            continue
        name, value = item
        yield from _directive(name, value, depth)


def _directive(name: str, value: Value, depth: int) -> Iterator[str]:
    pad = INDENT * depth
    if value is None:
        return
    if isinstance(value, (Mapping, Block)):
        yield f"{pad}{name} {{"
        yield from _lines(value, depth + 1)
        yield f"{pad}}}"
    elif isinstance(value, (list, tuple)):
        for element in value:
            yield from _directive(name, element, depth)
    else:
        yield f"{pad}{name} = {value_text(value)}"


@dataclass(frozen=True)
class Resource:
    """One resource: ``type`` (``Director``, ``FileSet``, ...) and its directives."""

    type: str
    directives: Directives

    @property
    def name(self) -> str:
        names = [value for name, value in self._pairs() if name == "Name"]
        if len(names) != 1:
            raise ValueError(f"{self.type} resource needs exactly one Name, has {names!r}")
        return str(names[0])

    @property
    def path(self) -> str:
        """Where Bareos' tree layout keeps it: ``<type>/<name>.conf`` inside ``<daemon>.d``."""
        return f"{self.type.lower()}/{self.name}.conf"

    def text(self) -> str:
        body = "".join(line + "\n" for line in _lines(self.directives, 1))
        return f"{self.type} {{\n{body}}}\n"

    def _pairs(self) -> Iterator[tuple[str, Value]]:
        for item in _items(self.directives):
            if isinstance(item, str):
                name, _, value = item.partition("=")
                yield name.strip(), value.strip()
            else:
                yield item


def resource(type_name: str, directives: Directives) -> str:
    """The text of one resource (see :class:`Resource`)."""
    return Resource(type_name, directives).text()


def resource_files(*resources: Resource) -> dict[str, str]:
    """``{"<type>/<name>.conf": text}`` for a ``<daemon>.d`` tree, in the given order."""
    return {item.path: item.text() for item in resources}


def write_file(path: Union[str, os.PathLike], text: str, *, mode: int = 0o640,
               group: Union[int, None] = None) -> Path:
    """Write ``text`` to ``path`` (parents made), replacing it whole: readers never see half.

    Configuration holds passwords: the file is made with ``mode`` (default 0640), and
    belongs to ``group`` (a gid) when one is given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".new")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(text)
    if group is not None:
        os.chown(staging, -1, group)
    os.chmod(staging, mode)
    os.replace(staging, path)
    return path


def write_tree(directory: Union[str, os.PathLike], files: Mapping[str, str], *,
               mode: int = 0o640, group: Union[int, None] = None) -> Path:
    """Write ``{"<type>/<name>.conf": text}`` under ``directory`` (a ``<daemon>.d``); return it.

    A relative path that would leave ``directory`` raises ``ValueError`` before anything
    is written.
    """
    directory = Path(directory)
    for relative in files:
        parts = Path(relative).parts
        if Path(relative).is_absolute() or ".." in parts or not parts:
            raise ValueError(f"configuration path must be relative and inside the tree: {relative!r}")
    directory.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        write_file(directory / relative, text, mode=mode, group=group)
    return directory
