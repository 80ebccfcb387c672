"""Console command lines: splitting them into arguments, and the numbers in them.

Everything a console sends is hostile until checked here: a line is split in
time linear in its length and refused above ``MAX_COMMAND_LINE`` characters,
and a number (a JobId, a limit, a priority) reaches a command, and through it
the catalog, only as an ``int`` inside the range the catalog can store.
"""

import re

# Longer lines are refused before they are parsed.  Bareos itself takes any
# line up to its packet limit (1,000,000 bytes, over which it hangs up); ours
# keeps the session and answers with an error.  64 KiB leaves room for a
# restore naming many files; no command needs more.
MAX_COMMAND_LINE = 65_536

# Catalog ids are 32-bit signed integers in PostgreSQL (serial columns), and so
# are the counts a console may give; SQLite would take 64 bits, PostgreSQL not.
MAX_NUMBER = 2**31 - 1

_SHOWN_CHARACTERS = 40        # of a bad value, in the error message


class BadArgument(Exception):
    """A console argument no command can take; the text is the error the console sees."""


def check_line_length(line):
    if len(line) > MAX_COMMAND_LINE:
        raise BadArgument(f"Command line too long ({len(line)} characters, "
                          f"limit {MAX_COMMAND_LINE}); nothing was run.")


# One piece of a word: unquoted characters, a backslash escape, a '...' or "..." string;
# whitespace ends a word.  A quote or backslash no alternative matches is unterminated.
_PIECE = re.compile(r"""
      (?P<space>[ \t\r\n]+)
    | (?P<plain>[^ \t\r\n'"\\]+)
    | \\(?P<escaped>.)
    | '(?P<single>[^']*)'
    | "(?P<double>(?:[^"\\]|\\.)*)"
    | (?P<unterminated>['"\\])
""", re.VERBOSE | re.DOTALL)
_DOUBLE_QUOTED_ESCAPE = re.compile(r'\\(.)', re.DOTALL)


def parse_command_line(line):
    """Split a command into ``(keyword, value)`` pairs, Bareos style.

    Words are separated by blanks; quotes and backslashes work as in a POSIX
    shell (``where="/tmp/a b"``, ``file=a\\ b``).  ``key=value`` gives
    ``(key, value)``, a bare word ``(word, None)``.  The values of FILE_NAME_KEYWORDS
    keep undecodable bytes as the catalog's names do (``bareos.catalog.api.name_text``);
    everything else is text (``as_text``).  Raises BadArgument for an
    unterminated quote or a trailing backslash.  Each character is looked at a
    bounded number of times: a line of a million characters costs no more than
    a million short ones.
    """
    check_line_length(line)
    words = []
    pieces = None                       # the word being built, None between words
    for match in _PIECE.finditer(line):
        kind = match.lastgroup
        if kind == "space":
            if pieces is not None:
                words.append("".join(pieces))
                pieces = None
            continue
        if kind == "unterminated":
            raise BadArgument("Invalid command line: "
                              + ("no escaped character" if match[kind] == "\\"
                                 else "no closing quotation"))
        if pieces is None:
            pieces = []
        text = match[kind]
        if kind == "double":
            text = _DOUBLE_QUOTED_ESCAPE.sub(_unescape_in_double_quotes, text)
        pieces.append(text)
    if pieces is not None:
        words.append("".join(pieces))
    result = []
    for word in words:
        key, sep, value = word.partition("=")
        key = as_text(key)
        if sep and key.lower() not in FILE_NAME_KEYWORDS:
            value = as_text(value)
        result.append((key, value if sep else None))
    return result


#: Keywords whose value is a file name: bytes, kept exactly (see as_text).
FILE_NAME_KEYWORDS = ("file", "directory")


def as_text(word):
    """A console word that is not a file name, as text: a byte that is not UTF-8
    (a surrogateescape code point of the decoded line) becomes U+FFFD."""
    if word.isascii():
        return word
    return word.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unescape_in_double_quotes(match):
    # Inside double quotes only \" and \\ are escapes; other backslashes stay.
    char = match[1]
    return char if char in '"\\' else "\\" + char


_DECIMAL = re.compile(r"[0-9]{1,10}")       # ASCII digits only: int() takes "٣" and "1_0"


def parse_number(text, name, minimum=1, maximum=MAX_NUMBER):
    """The ``int`` that console argument ``name=text`` gives, range-checked.

    None when the argument is absent (``text`` is None); BadArgument for
    anything else than a decimal number from ``minimum`` to ``maximum``.
    """
    if text is None:
        return None
    number = int(text) if _DECIMAL.fullmatch(text) else None
    if number is None or not minimum <= number <= maximum:
        shown = text if len(text) <= _SHOWN_CHARACTERS else text[:_SHOWN_CHARACTERS] + "..."
        raise BadArgument(f'{name}="{shown}" is not valid: give a number from {minimum} '
                          f"to {maximum}.")
    return number


def parse_number_list(text, name):
    """``1,2,3`` -> [1, 2, 3] (each as ``parse_number``); None when absent."""
    if text is None:
        return None
    return [parse_number(part, name) for part in text.split(",") if part]
