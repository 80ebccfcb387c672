"""The resource syntax: comments, quoting, separators, nesting, name matching."""

import pytest

from bareos.config import ConfigError, parse_config_text
from bareos.config.lexer import NEWLINE, STRING, WORD, tokenize
from bareos.config.schemas import CONSOLE, DIRECTOR


def console(body):
    return parse_config_text("Director {\n  Name = d\n  Address = h\n  Password = p\n" + body + "}\n", CONSOLE)


def test_tokens_keep_values_text_and_lines():
    tokens = tokenize('Name = "a \\"b\\"" # comment\nx;', "f.conf")
    assert [(t.kind, t.value, t.line) for t in tokens] == [
        (WORD, "Name", 1), ("=", "=", 1), (STRING, 'a "b"', 1), (NEWLINE, "\n", 1),
        (WORD, "x", 2), (";", ";", 2), ("eof", "", 2),
    ]
    assert tokens[2].text == '"a \\"b\\""'


def test_hash_inside_quotes_is_not_a_comment():
    assert console('  Description = "a # b" # real comment\n').only("director").description == "a # b"


def test_backslash_escapes_next_character():
    assert console('  Description = "C:\\\\dir \\"x\\""\n').only("director").description == 'C:\\dir "x"'


def test_semicolons_and_one_line_resources():
    cfg = parse_config_text("Director { Name = d; Address = h; Password = p; Port = 1234; }", CONSOLE)
    assert cfg.only("director").port == 1234


def test_multi_line_quoted_string_counts_lines():
    with pytest.raises(ConfigError) as caught:
        parse_config_text('Director {\n  Description = "a\nb"\n  Bogus = 1\n}\n', CONSOLE, filename="f")
    assert str(caught.value).startswith("f:4: unknown directive 'Bogus'")


def test_quoted_strings_that_follow_each_other_are_one_value():
    text = ('  Description = "plugin"\n'
            '     ":module_path=/x" ":name=y"\n'
            '  Bogus = 1\n')
    with pytest.raises(ConfigError) as caught:
        console(text)
    assert str(caught.value).startswith("<string>:7: unknown directive 'Bogus'")
    assert console(text.replace("  Bogus = 1\n", "")).only("director").description == "plugin:module_path=/x:name=y"


def test_quoted_list_items_stay_separate():
    cfg = parse_config_text('Director { Name = d; Password = p }\n'
                            'Console { Name = c; Password = p\n  Job ACL = "a", "b"\n}\n', DIRECTOR)
    assert cfg.get("console", "c").job_acl == ["a", "b"]


@pytest.mark.parametrize("spelling", ["LanAddress", "Lan Address", "lanaddress", "LAN   ADDRESS", "lAn aDDress"])
def test_directive_names_ignore_case_and_spaces(spelling):
    text = ("Director { Name = d; Password = p }\n"
            f"Client {{ Name = c; Address = h; Password = p; {spelling} = 10.0.0.10 }}\n")
    assert parse_config_text(text, DIRECTOR).get("client", "c").lan_address == "10.0.0.10"


@pytest.mark.parametrize("spelling", ["Director", "director", "DIRECTOR", "Dir ector"])
def test_resource_type_names_ignore_case_and_spaces(spelling):
    cfg = parse_config_text(f"{spelling} {{ Name = d; Password = p }}", DIRECTOR)
    assert cfg.only("Director").name == "d"
    assert cfg.resources("di rector") == cfg.resources("DIRECTOR")


def test_list_continues_after_trailing_comma():
    cfg = parse_config_text("Director { Name = d; Password = p }\n"
                            "Console { Name = c; Password = p\n  Job ACL = a,\n    b, c\n  Job ACL = d }\n", DIRECTOR)
    assert cfg.get("console", "c").job_acl == ["a", "b", "c", "d"]


def test_nested_blocks_with_and_without_equals():
    cfg = parse_config_text("""
Director { Name = d; Password = p }
FileSet {
  Name = "Full Set"
  Include {
    Options { Signature = SHA256; Compression = LZ4; One FS = no; Wild File = "*.tmp"; Exclude = yes }
    Options = { Signature = md5 }
    File = /etc
    File = "/srv/with space", /opt
    Exclude Dir Containing = .nobackup
  }
  Exclude { File = /tmp; File = /var/tmp }
}
""", DIRECTOR)
    fileset = cfg.get("fileset", "Full Set")
    include, = fileset.include
    assert include.file == ["/etc", "/srv/with space", "/opt"]
    assert include.exclude_dir_containing == [".nobackup"]
    first, second = include.options
    assert (first.signature, first.compression, first.one_fs, first.wild_file, first.exclude) == (
        "SHA256", "LZ4", False, ["*.tmp"], True)
    assert (second.signature, second.compression, second.one_fs, second.recurse) == ("MD5", None, True, True)
    assert fileset.exclude[0].file == ["/tmp", "/var/tmp"]


def test_schedule_run_keeps_text_after_equals():
    cfg = parse_config_text("""
Director { Name = d; Password = p }
Schedule {
  Name = WeeklyCycle
  Run = Level=Full sun at 2:05
  Run = Full 1st sat at 21:00   # comment dropped
  Run = Level=Incremental Pool="Inc Pool" mon-fri at 23:10
}
""", DIRECTOR)
    assert cfg.get("schedule", "WeeklyCycle").run == [
        "Level=Full sun at 2:05", "Full 1st sat at 21:00", 'Level=Incremental Pool="Inc Pool" mon-fri at 23:10']


def test_empty_configuration_text_is_an_error_not_a_crash():
    with pytest.raises(ConfigError, match="no Director resource defined"):
        parse_config_text("# nothing\n", DIRECTOR)
