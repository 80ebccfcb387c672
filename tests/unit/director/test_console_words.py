"""Console command lines: file names keep their bytes, every other word is text."""

from bareos.director.console.arguments import parse_command_line


def test_file_and_directory_values_keep_bytes_that_are_not_utf8():
    # the line as the director decodes it: b"\xe9" and b"\xff" as surrogateescape code points
    line = 'restore file="/d/caf\udce9 x" Directory=/d\udcff/ client=fd\udcff where=/r\udce9 yes'
    assert parse_command_line(line) == [
        ("restore", None), ("file", "/d/caf\udce9 x"), ("Directory", "/d\udcff/"),
        ("client", "fd\ufffd"), ("where", "/r\ufffd"), ("yes", None)]


def test_other_words_are_text_whatever_bytes_came():
    assert parse_command_line("li\udcffst jobs client=caf\u00e9") == [
        ("li\ufffdst", None), ("jobs", None), ("client", "caf\u00e9")]
    for key, value in parse_command_line("list jobs client=\udcff\udcfe job=\udce9"):
        for word in (key, value or ""):
            word.encode("utf-8")          # strict: nothing a catalog or a peer could not take
