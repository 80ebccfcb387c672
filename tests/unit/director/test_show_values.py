"""Durations and sizes as ``show`` writes them read back as the same number."""

from hypothesis import given, strategies as st

from bareos.config.lexer import tokenize
from bareos.config.types import DURATION, SIZE
from bareos.director.console.show import duration_text, escape_command, size_text


def read_back(value_type, text):
    """``text`` read as the configuration reads a directive's value."""
    tokens = [token for token in tokenize(text) if token.kind != "eof"]
    return value_type.convert(tokens)


@given(st.integers(min_value=0, max_value=20 * 365 * 86400))
def test_a_duration_reads_back_as_the_same_seconds(seconds):
    assert read_back(DURATION, duration_text(seconds)) == seconds


@given(st.integers(min_value=0, max_value=2**50))
def test_a_size_reads_back_as_the_same_bytes(size):
    assert read_back(SIZE, size_text(size)) == size


def test_duration_and_size_in_the_largest_units():
    assert duration_text(0) == "0"
    assert duration_text(60 * 86400 + 90) == "2 months 1 minutes 30 seconds"
    assert size_text(10 * 1024 ** 3) == "10 g"
    assert size_text(1000) == "1000"


def test_a_command_is_escaped_as_bareos_shows_it():
    assert escape_command("sh -c 'echo \"(a) <b>\"' \\") == \
        "sh -c ''echo \\\"\\(a\\) \\<b\\>\\\"'' \\\\"
