"""Tokenizer for the Bareos resource syntax, with ``@include`` expansion.

Includes are lexical in Bareos (``@path`` may appear anywhere a token may), so
they are expanded here: the tokens of each included file are spliced in place.
"""

import glob
import os
from dataclasses import dataclass

from .errors import ConfigError

WORD = "word"
STRING = "string"
NEWLINE = "newline"
EOF = "eof"
PUNCTUATION = frozenset("{}=;,")

# Characters that end an unquoted word.
_WORD_END = frozenset(' \t\r\n\f\v"#') | PUNCTUATION
_MAX_INCLUDE_DEPTH = 32
_MAX_FILE_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, STRING, NEWLINE, EOF or the punctuation character itself
    value: str  # unescaped content for strings, the source text otherwise
    text: str  # exactly as written in the source
    file: str
    line: int
    space_before: bool  # whitespace separates it from the previous token


def tokenize(text: str, filename: "str | os.PathLike[str]" = "<string>", depth: int = 0) -> list[Token]:
    """Return the tokens of *text*, ending with one EOF token on its last line."""
    tokens = _Lexer(text, str(filename), depth).run()
    last_line = max(1, text.count("\n") + (not text.endswith("\n")))
    return tokens + [Token(EOF, "", "", str(filename), last_line, True)]


def tokenize_file(path: "str | os.PathLike[str]", depth: int = 0) -> list[Token]:
    return tokenize(read_text(path), path, depth)


def read_text(path: "str | os.PathLike[str]") -> str:
    try:
        if os.stat(path).st_size > _MAX_FILE_SIZE:
            raise ConfigError(path, None, f"configuration file larger than {_MAX_FILE_SIZE} bytes")
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(path, None, f"cannot read configuration file: {error}") from None


class _Lexer:
    def __init__(self, text: str, filename: str, depth: int) -> None:
        self.text = text
        self.filename = filename
        self.depth = depth
        self.pos = 0
        self.line = 1
        self.space_before = True
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        while self.pos < len(self.text):
            self._step()
        return self.tokens

    def _step(self) -> None:
        char = self.text[self.pos]
        if char == "\n":
            self._emit(NEWLINE, "\n")
            self.pos += 1
            self.line += 1
            self.space_before = True
        elif char.isspace():
            self.pos += 1
            self.space_before = True
        elif char == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end
        elif char == '"':
            self._quoted_string()
        elif char in PUNCTUATION:
            self._emit(char, char)
            self.pos += 1
        elif char == "@":
            self._include()
        else:
            self._emit(WORD, self._word())

    def _emit(self, kind: str, value: str, text: str | None = None, line: int | None = None) -> None:
        token = Token(kind, value, value if text is None else text, self.filename,
                      self.line if line is None else line, self.space_before)
        self.tokens.append(token)
        self.space_before = False

    def _word(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _WORD_END:
            self.pos += 1
        return self.text[start:self.pos]

    def _read_quoted(self) -> str:
        """Consume a quoted string at pos; return its unescaped value."""
        start_line = self.line
        chars: list[str] = []
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(chars)
            if char == "\\" and self.pos < len(self.text):
                char = self.text[self.pos]
                self.pos += 1
            if char == "\n":
                self.line += 1
            chars.append(char)
        raise ConfigError(self.filename, start_line, "unterminated quoted string")

    def _quoted_string(self) -> None:
        """One STRING token; quoted strings that follow each other are joined into it (as in
        Bareos): on the same line (``"a" "b"``), or the next line starting with a quote
        right after a line that ends with one, so a long value can be split over lines."""
        start, start_line = self.pos, self.line
        parts = [self._read_quoted()]
        while (following := self._next_quote()) is not None:
            self.line += self.text.count("\n", self.pos, following)
            self.pos = following
            parts.append(self._read_quoted())
        self._emit(STRING, "".join(parts), self.text[start:self.pos], start_line)

    def _next_quote(self) -> "int | None":
        """Where a continuing quoted string starts, if one does (only blanks before it)."""
        pos = self._skip_blanks(self.pos)
        if self.text.startswith("\n", pos):
            pos = self._skip_blanks(pos + 1)
        return pos if self.text.startswith('"', pos) else None

    def _skip_blanks(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in " \t\r":
            pos += 1
        return pos

    def _include(self) -> None:
        line = self.line
        self.pos += 1
        if self.text.startswith('"', self.pos):
            pattern = self._read_quoted()
        else:
            pattern = self._word()
        if not pattern:
            raise ConfigError(self.filename, line, "'@' must be followed by a file name to include")
        for path in self._include_paths(pattern, line):
            self.tokens.extend(tokenize_file(path, self.depth + 1)[:-1])
        self.space_before = True

    def _include_paths(self, pattern: str, line: int) -> list[str]:
        if self.depth >= _MAX_INCLUDE_DEPTH:
            raise ConfigError(self.filename, line, f"includes nested deeper than {_MAX_INCLUDE_DEPTH} levels")
        if not os.path.isabs(pattern):
            base = "." if self.filename.startswith("<") else os.path.dirname(self.filename)
            pattern = os.path.join(base, pattern)
        try:
            paths = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        except (OSError, ValueError):
            paths = []
        if not paths:
            raise ConfigError(self.filename, line, f"include '{pattern}' matches no file")
        return paths
