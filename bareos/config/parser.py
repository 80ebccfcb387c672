"""Turns tokens into a syntax tree of resources, directives and nested blocks.

The grammar (``;`` and line ends both end a directive)::

    config    := resource*
    resource  := words '{' body '}'
    body      := directive*
    directive := words '=' value | words '=' '{' body '}' | words '{' body '}'
    value     := tokens up to the end of the line, ';' or '}'

A value may continue on the next line after a trailing comma. The tree is
schema-free: names and values are checked later by the binder.
"""

from dataclasses import dataclass, field
from typing import NoReturn, Optional

from .errors import ConfigError
from .lexer import EOF, NEWLINE, STRING, WORD, Token

_MAX_BLOCK_DEPTH = 16


@dataclass
class DirectiveNode:
    name: str
    file: str
    line: int
    tokens: Optional[list[Token]] = None  # value tokens, for a plain directive
    block: Optional[list["DirectiveNode"]] = None  # DirectiveNodes, for a nested block


@dataclass
class ResourceNode:
    type_name: str
    file: str
    line: int
    directives: list[DirectiveNode] = field(default_factory=list)


def parse(tokens: list[Token]) -> list[ResourceNode]:
    """Return the ResourceNodes described by *tokens* (which end with EOF)."""
    return _Parser(tokens).resources()


def describe(token: Token) -> str:
    if token.kind == EOF:
        return "end of file"
    if token.kind == NEWLINE:
        return "end of line"
    if token.kind == STRING:
        return f"string {token.text}"
    return f"'{token.text}'"


def _fail(token: Token, message: str) -> NoReturn:
    raise ConfigError(token.file, token.line, message)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def _peek(self) -> Token:
        return self.tokens[self.pos]

    def _next(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != EOF:
            self.pos += 1
        return token

    def _skip_separators(self) -> None:
        while self._peek().kind in (NEWLINE, ";"):
            self.pos += 1

    def resources(self) -> list[ResourceNode]:
        resources: list[ResourceNode] = []
        while True:
            self._skip_separators()
            if self._peek().kind == EOF:
                return resources
            resources.append(self._resource())

    def _resource(self) -> ResourceNode:
        first = self._peek()
        type_name = self._words("resource type")
        opener = self._next()
        if opener.kind != "{":
            _fail(opener, f"expected '{{' after resource type '{type_name}', found {describe(opener)}")
        directives = self._body(f"{type_name} resource", opener, depth=1)
        return ResourceNode(type_name, first.file, first.line, directives)

    def _words(self, what: str) -> str:
        """Consume a name made of one or more words on one line (``Lan Address``)."""
        words = []
        while self._peek().kind == WORD:
            words.append(self._next().value)
        if not words:
            _fail(self._peek(), f"expected a {what}, found {describe(self._peek())}")
        return " ".join(words)

    def _body(self, context: str, opener: Token, depth: int) -> list[DirectiveNode]:
        directives: list[DirectiveNode] = []
        while True:
            self._skip_separators()
            token = self._peek()
            if token.kind == "}":
                self._next()
                return directives
            if token.kind == EOF:
                _fail(token, f"unexpected end of file: missing '}}' to close the {context}"
                             f" opened at {opener.file}:{opener.line}")
            directives.append(self._directive(depth))

    def _directive(self, depth: int) -> DirectiveNode:
        first = self._peek()
        name = self._words("directive name")
        node = DirectiveNode(name, first.file, first.line)
        token = self._next()
        if token.kind == "=" and self._peek().kind == "{":
            token = self._next()
        if token.kind == "{":
            if depth >= _MAX_BLOCK_DEPTH:
                _fail(token, f"blocks nested deeper than {_MAX_BLOCK_DEPTH} levels")
            node.block = self._body(f"'{name}' block", token, depth + 1)
        elif token.kind == "=":
            node.tokens = self._value(name, first)
        else:
            _fail(token, f"expected '=' after '{name}', found {describe(token)}")
        return node

    def _value(self, name: str, first: Token) -> list[Token]:
        tokens: list[Token] = []
        while True:
            token = self._peek()
            if token.kind == NEWLINE and tokens and tokens[-1].kind == ",":
                self.pos += 1  # a trailing comma continues the list on the next line
                continue
            if token.kind in (NEWLINE, ";", "}", EOF):
                break
            if token.kind == "{":
                _fail(token, f"unexpected '{{' in the value of '{name}'")
            tokens.append(self._next())
        if not tokens:
            _fail(first, f"missing value for '{name}'")
        return tokens
