"""FileSet lines: option letters, parsing, matching (AcceptFile rules) and the director's lines."""

import types

import pytest

from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR
from bareos.filedaemon.fileset import FileSetError, FileSetSpec, Options, fileset_to_lines


def opts(letters):
    o = Options()
    o.apply_letters(letters)
    return o


@pytest.mark.parametrize("letters,attr,value", [
    ("M", "signature", "MD5"), ("S", "signature", "SHA1"), ("S1", "signature", "SHA1"),
    ("S2", "signature", "SHA256"), ("S3", "signature", "SHA512"), ("S4", "signature", "XXH128"),
    ("Z6", "compression", "GZIP"), ("Zo", "compression", "LZO"), ("Zff", "compression", "LZFAST"),
    ("Zf4", "compression", "LZ4"), ("Zfh", "compression", "LZ4HC"), ("f", "one_fs", False),
    ("h", "recurse", False), ("s", "sparse", True), ("H", "hardlinks", False), ("r", "read_fifo", True),
    ("p", "portable", True), ("m", "mtime_only", True), ("k", "keep_atime", True), ("e", "exclude", True),
    ("A", "acl", True), ("i", "ignore_case", True), ("R", "hfsplus", True), ("K", "no_atime", True),
    ("W", "enhanced_wild", True), ("c", "check_changes", True), ("N", "honor_nodump", True),
    ("X", "xattr", True), ("x", "no_autoexclude", True), ("w", "replace", "ifnewer"),
    ("n", "replace", "never"), ("d3", "shadowing", 3), ("P2:", "strip_path", 2),
    ("Vpins5:", "verify", "pins5"), ("Cmcs:", "accurate", "mcs"), ("z>10k:", "size_match", ">10k"),
])
def test_option_letters(letters, attr, value):
    assert getattr(opts(letters), attr) == value


def test_combined_options_string():
    o = opts("MZ9sfK0mAHX")
    assert (o.signature, o.compression, o.compression_level) == ("MD5", "GZIP", 9)
    assert (o.sparse, o.one_fs, o.no_atime, o.mtime_only, o.hardlinks, o.acl, o.xattr) == (
        True, False, True, True, False, True, True)
    assert o.unknown == []
    defaults = opts("")
    assert (defaults.one_fs, defaults.recurse, defaults.hardlinks, defaults.signature) == (True, True, True, None)
    # "S" followed by the "0" no-op is still SHA1, and the digits of V...: are not options
    assert opts("S0").signature == "SHA1"
    assert opts("Vpins1:m").mtime_only and opts("Vpins1:m").verify == "pins1"


LINES = [
    "I\n", "Z .nobackup\n",
    "O MZ6e\n", "WF *.o\n", "WD */cache\n", "R \\.tmp$\n", "N\n",
    "O S2fs\n", "RF \\.log$\n", "N\n",
    "O M\n", "N\n",
    "F /data", "F /srv/with space", "N\n", "P bpipe:x\n", "N\n",
    "I\n", "O Zf4\n", "N\n", "F /other", "N\n", "N\n",
    "E\n", "O W\n", "W */skip-*\n", "N\n", "F /data/excluded", "N\n", "N\n",
]


def test_parse_structure():
    spec = FileSetSpec.parse(LINES)
    assert len(spec.includes) == 2 and len(spec.excludes) == 1
    inc = spec.includes[0]
    assert inc.files == ["/data", "/srv/with space"]
    assert inc.ignore_dirs == [".nobackup"]
    assert inc.plugins == ["bpipe:x"]
    first, second, third = inc.options
    assert first.exclude and first.signature == "MD5" and first.compression_level == 6
    assert (first.wild_file, first.wild_dir, first.regex) == (["*.o"], ["*/cache"], ["\\.tmp$"])
    assert second.signature == "SHA256" and not second.one_fs and second.sparse
    assert second.regex_file == ["\\.log$"]
    assert spec.includes[1].options[0].compression == "LZ4"
    assert spec.excludes[0].files == ["/data/excluded"]
    assert spec.signatures() == {"MD5", "SHA256"}
    # bytes packets work too
    assert FileSetSpec.parse([line.encode() for line in LINES]).includes[0].files == inc.files


def test_decide_first_matching_block_wins_and_last_block_is_default():
    spec = FileSetSpec.parse(LINES)
    inc = spec.includes[0]
    assert spec.decide(b"/data/x.o", False) is None            # WF + exclude
    assert spec.decide(b"/data/dir.o", True) is not None       # WF is for files only
    assert spec.decide(b"/data/a/cache", True) is None         # WD + exclude
    assert spec.decide(b"/data/a/cache", False) is not None
    assert spec.decide(b"/data/f.tmp", False) is None          # R (any type) + exclude
    assert spec.decide(b"/data/app.log", False) is inc.options[1]   # RF in the 2nd block
    assert spec.decide(b"/data/app.log", True) is inc.options[2]    # dirs: no RF; last block
    assert spec.decide(b"/data/plain.c", False) is inc.options[2]   # no match: the last block
    assert spec.decide(b"/other/x.o", False) is spec.includes[1].options[0]
    # Exclude{}: File names and Wild patterns (fnmatch on the full path)
    assert spec.decide(b"/data/excluded", True) is None
    assert spec.decide(b"/data/a/skip-me", False) is None
    # Exclude{} wild never uses FNM_PATHNAME (even with W), so * crosses /
    assert spec.decide(b"/data/a/skip-me/child", False) is None
    assert spec.decide(b"/data/a/keep", False) is not None


def test_exclude_block_without_patterns_rejects_everything():
    spec = FileSetSpec.parse(["I\n", "O M\n", "W *.c\n", "N\n", "O e\n", "N\n", "F /src", "N\n", "N\n"])
    assert spec.decide(b"/src/a.c", False).signature == "MD5"
    assert spec.decide(b"/src/a.h", False) is None


def test_wildcards_without_and_with_pathname():
    plain = FileSetSpec.parse(["I\n", "O e\n", "W /src/*.c\n", "N\n", "F /src", "N\n", "N\n"])
    assert plain.decide(b"/src/deep/down/x.c", False) is None  # * crosses /
    enhanced = FileSetSpec.parse(["I\n", "O eW\n", "W /src/*.c\n", "N\n", "F /src", "N\n", "N\n"])
    assert enhanced.decide(b"/src/deep/x.c", False) is not None
    assert enhanced.decide(b"/src/x.c", False) is None
    base = FileSetSpec.parse(["I\n", "O eW\n", "WB *.c\n", "N\n", "F /src", "N\n", "N\n"])
    assert base.decide(b"/src/deep/x.c", False) is None  # WB: basename match
    assert base.decide(b"/src/deep/x.cc", False) is not None
    brackets = FileSetSpec.parse(["I\n", "O e\n", "W *[!a-c].txt\n", "W *[xyz]?.dat\n", "N\n",
                                  "F /s", "N\n", "N\n"])
    assert brackets.decide(b"/s/d.txt", False) is None and brackets.decide(b"/s/a.txt", False)
    assert brackets.decide(b"/s/x1.dat", False) is None and brackets.decide(b"/s/q1.dat", False)


def test_ignore_case_and_bytes_names():
    spec = FileSetSpec.parse(["I\n", "O ei\n", "W *.JPG\n", "R caf\xe9\n", "N\n", "F /p", "N\n", "N\n"])
    assert spec.decide(b"/p/holiday.jpg", False) is None
    assert spec.decide("/p/CAFÉ/menu".encode(), False) is not None  # fsencode(é) is UTF-8
    assert spec.decide("/p/café/menu".encode(), False) is None
    assert spec.decide(b"/p/\xff\xfe", False) is not None


def test_parse_errors():
    with pytest.raises(FileSetError):
        FileSetSpec.parse(["F /x"])
    with pytest.raises(FileSetError, match="compile"):
        FileSetSpec.parse(["I\n", "O \n", "R (unclosed\n", "N\n"])
    with pytest.raises(FileSetError):
        FileSetSpec.parse(["I\n", "Q what\n"])


CONFIG = """Director { Name = d; Password = p }
FileSet { Name = fs
  Include {
    File = /data
    File = "/srv/with space"
    Exclude Dir Containing = .nobackup
    Options { Signature = MD5; Compression = GZIP9; Wild File = "*.o"; Wild Dir = "*/cache"; Exclude = yes }
    Options { Signature = SHA1; One FS = no; Sparse = yes; Wild File = "/data/*.x"; Regex Dir = "^/data/r" }
    Options { Compression = LZ4; No Atime = yes; Mtime Only = yes; Recurse = no
              Regex = "a|b"; Regex File = "z$"; Wild = "*" }
  }
  Include { File = /other }
  Exclude { File = /data/tmp }
}
"""


def test_fileset_to_lines_from_config():
    fileset = parse_config_text(CONFIG, DIRECTOR).get("fileset", "fs")
    lines = fileset_to_lines(fileset)
    assert lines == [
        "I\n", "Z .nobackup\n",
        "O MZ9eAX\n", "WD */cache\n", "WF *.o\n", "N\n",
        "O SfsAX\n", "RD ^/data/r\n", "WF /data/*.x\n", "N\n",
        "O Zf4KmhAX\n", "R a|b\n", "RF z$\n", "W *\n", "N\n",
        "F /data", "F /srv/with space", "N\n", "N\n",
        "I\n", "O AX\n", "N\n", "F /other", "N\n", "N\n",
        "E\n", "O AX\n", "N\n", "F /data/tmp", "N\n", "N\n",
    ]
    spec = FileSetSpec.parse(lines)
    first, second, third = spec.includes[0].options
    assert (first.exclude, first.compression_level, first.wild_file) == (True, 9, ["*.o"])
    assert (second.signature, second.one_fs, second.sparse) == ("SHA1", False, True)
    assert (third.compression, third.no_atime, third.mtime_only, third.recurse) == ("LZ4", True, True, False)
    assert spec.includes[0].files == ["/data", "/srv/with space"]


def test_fileset_to_lines_from_plain_objects():
    options = types.SimpleNamespace(signature="SHA256", compression="GZIP", exclude=False, one_fs=True,
                                    sparse=False, no_atime=False, mtime_only=False, recurse=True,
                                    wild=[], wild_dir=[], wild_file=["*.bak"], regex=[], regex_dir=[],
                                    regex_file=[])
    include = types.SimpleNamespace(file=["/home"], options=[options], exclude_dir_containing=[])
    fileset = types.SimpleNamespace(include=[include], exclude=[])
    lines = fileset_to_lines(fileset)
    assert lines[0] == "I\n"
    assert lines[1].startswith("O S2Z6") and lines[1].endswith("AX\n")
    assert "WF *.bak\n" in lines and "F /home" in lines
    assert FileSetSpec.parse(lines).includes[0].options[0].signature == "SHA256"


def test_enhanced_wild_sends_wild_base():
    plain = types.SimpleNamespace(wild_file=["*.c"], enhanced_wild=True)
    include = types.SimpleNamespace(file=["/s"], options=[plain])
    lines = fileset_to_lines(types.SimpleNamespace(include=[include]))
    assert "WB *.c\n" in lines and any(line.startswith("O W") for line in lines)
