"""Console command lines: splitting (linear, as a POSIX shell splits words) and numbers."""

import shlex

import pytest
from hypothesis import given, settings, strategies as st

from bareos.director.console.arguments import (
    MAX_COMMAND_LINE, MAX_NUMBER, BadArgument, parse_command_line, parse_number,
    parse_number_list)


def shlex_words(line):
    """What the console parsed with before: shlex, POSIX mode, split at blanks only."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    return [(key, value if sep else None) for key, sep, value in
            (token.partition("=") for token in lexer)]


@settings(max_examples=1000)
@given(st.text(alphabet=" \t\r\n'\"\\=ab\x00\u00e9", max_size=30))
def test_lines_split_as_shlex_split_them(line):
    try:
        expected = shlex_words(line)
    except ValueError:
        expected = BadArgument
    try:
        got = parse_command_line(line)
    except BadArgument:
        got = BadArgument
    assert got == expected


@pytest.mark.parametrize("line, words", [
    ('restore where="/tmp/a b" file=a\\ b yes',
     [("restore", None), ("where", "/tmp/a b"), ("file", "a b"), ("yes", None)]),
    ("show 'x\"y'", [("show", None), ('x"y', None)]),
    ('a "\\q\\"" b=', [("a", None), ('\\q"', None), ("b", "")]),
])
def test_quotes_and_escapes(line, words):
    assert parse_command_line(line) == words


@pytest.mark.parametrize("line, error", [
    ('list "jobs', "no closing quotation"), ("list jobs\\", "no escaped character")])
def test_unterminated_quotes_and_escapes_are_refused(line, error):
    with pytest.raises(BadArgument, match=error):
        parse_command_line(line)


def test_a_line_above_the_limit_is_refused_before_it_is_split():
    assert len(parse_command_line("help " + "x " * ((MAX_COMMAND_LINE - 5) // 2))) > 1
    with pytest.raises(BadArgument, match=f"too long \\({MAX_COMMAND_LINE + 1} characters"):
        parse_command_line("x" * (MAX_COMMAND_LINE + 1))


@pytest.mark.parametrize("text, number", [
    (None, None), ("1", 1), ("00042", 42), (str(MAX_NUMBER), MAX_NUMBER)])
def test_numbers_in_range(text, number):
    assert parse_number(text, "jobid") == number


@pytest.mark.parametrize("text", [
    "", "0", "-1", "+1", " 1", "1 ", "1_0", "1e3", "0x10", "1.0", "\u0663", "\u00b2",
    str(MAX_NUMBER + 1), "9" * 10_000])
def test_anything_else_is_a_bad_argument_naming_it(text):
    with pytest.raises(BadArgument) as raised:
        parse_number(text, "jobid")
    assert str(raised.value).startswith('jobid="')
    assert len(str(raised.value)) < 120                     # a long value is cut in the message


def test_limits_may_allow_zero():
    assert parse_number("0", "limit", minimum=0) == 0


def test_number_lists():
    assert parse_number_list(None, "jobid") is None
    assert parse_number_list("1,2,,3", "jobid") == [1, 2, 3]
    with pytest.raises(BadArgument, match='jobid="99999999999"'):
        parse_number_list("1,99999999999", "jobid")
