"""How the file daemon splits a program's command line (Bareos' rules, no shell)."""

import pytest

from bareos.filedaemon.programs import ProgramResult, split_command


@pytest.mark.parametrize("line, words", [
    ("ls -l /tmp", ["ls", "-l", "/tmp"]),
    (" \t ls  \t-l /tmp  ", ["ls", "-l", "/tmp"]),      # blanks between words: spaces, tabs
    ('sh -c "echo a; echo b"', ["sh", "-c", "echo a; echo b"]),
    ("prog 'one two' three", ["prog", "one two", "three"]),
    ('prog "a b"c', ["prog", "a b", "c"]),            # a closing quote ends the word
    ('prog "unterminated quote', ["prog", "unterminated quote"]),
    ("prog it's", ["prog", "it's"]),                   # a quote inside a word is a character
    ("prog a\tb", ["prog", "a\tb"]),                   # only a space ends an unquoted word
    ("echo $HOME | cat", ["echo", "$HOME", "|", "cat"]),
    ('prog ""', ["prog", ""]),
    ("", []),
])
def test_split_command(line, words):
    assert split_command(line) == words


def test_result_reasons_are_bareos_texts():
    assert ProgramResult(b"", exit_code=2).reason() == "Child exited with code 2"
    killed = ProgramResult(b"", signal=9)
    assert killed.reason() == "Child died from signal 9" and killed.status == 9 and not killed.ok
    assert ProgramResult(b"a  \nb\r\n\n").lines() == ["a", "b", ""]
