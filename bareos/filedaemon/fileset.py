"""FileSet lines: parsing them in the file daemon and producing them in the director.

The director sends, per Include block ``I``, ``Z <dir>`` (Exclude Dir Containing),
per Options block ``O <opts>`` then ``R|RD|RF|W|WD|WF|WB|X|XD <pattern>``, ``G``/``D``/``T``
and ``N``; then ``F <file>`` lines, ``N``, ``P <plugin>`` lines, ``N``; per Exclude block
``E`` and the same.  Every line is one packet ending in ``\\n`` except ``F``/``P`` lines
(``dird/fd_sendfileset.cc``); the FD strips trailing whitespace from each
(``StripTrailingJunk`` in ``filed/dir_cmd.cc``).

Option letters (``dird/inc_conf.cc`` FS_options, ``filed/fileset.cc`` SetOptionsAndFlags):
``M`` md5, ``S``/``S1`` sha1, ``S2`` sha256, ``S3`` sha512, ``S4`` xxh128,
``Z0``..``Z9`` gzip level, ``Zo`` lzo, ``Zff`` lzfast, ``Zf4`` lz4, ``Zfh`` lz4hc,
``f`` onefs=no (cross file systems), ``h`` recurse=no, ``s`` sparse, ``H`` hardlinks=no,
``a``/``w``/``n`` replace always/ifnewer/never, ``r`` readfifo, ``p`` portable,
``m`` mtimeonly, ``k`` keepatime, ``e`` exclude, ``A`` acl, ``i`` ignorecase,
``R`` hfsplus, ``K`` noatime, ``W`` enhancedwild, ``c`` checkfilechanges, ``N`` honor
nodump, ``X`` xattr, ``x`` autoexclude=no, ``d1``..``d4`` shadowing, ``Ef`` force
encryption, ``E<cipher>``, ``V<opts>:`` verify, ``C<opts>:`` accurate, ``P<n>:`` strip
path, ``z<size>:`` size match, ``0`` a "yes"/"no" that sets nothing.

Matching (``findlib/find.cc`` AcceptFile): the Options blocks of the file's Include
are tried in order; for a directory WildDir then Wild then RegexDir then Regex, for
anything else WildFile, WildBase (basename) then Wild then RegexFile then Regex.
The first match decides: rejected when that block has ``exclude``, otherwise the
file is taken with that block's options.  A block with ``exclude`` and no pattern
rejects everything that reaches it.  With no match the file is taken with the
options of the *last* block.  Then Exclude{} blocks reject by their ``File``
names and Wild patterns (fnmatch on the full path).  Top-level ``File`` entries
are always taken.  Wildcards are fnmatch without FNM_PATHNAME (``*`` crosses
``/``) unless ``W`` (enhanced wild); regexes are POSIX ERE searched anywhere in
the path.
"""

import os
import re
from dataclasses import dataclass, field


# --- options ------------------------------------------------------------------------
@dataclass
class Options:
    """One Options block as sent by the director (``O`` line + patterns)."""

    opts: str = ""
    signature: str = None       # MD5 SHA1 SHA256 SHA512 XXH128
    compression: str = None     # GZIP LZO LZFAST LZ4 LZ4HC
    compression_level: int = 0
    one_fs: bool = True
    recurse: bool = True
    sparse: bool = False
    hardlinks: bool = True
    replace: str = None         # always ifnewer never (restore-side option; unused by the FD)
    read_fifo: bool = False
    portable: bool = False
    mtime_only: bool = False
    keep_atime: bool = False
    exclude: bool = False
    acl: bool = False
    xattr: bool = False
    ignore_case: bool = False
    hfsplus: bool = False
    no_atime: bool = False
    enhanced_wild: bool = False
    check_changes: bool = False
    honor_nodump: bool = False
    no_autoexclude: bool = False
    force_encryption: bool = False
    encryption: str = None
    shadowing: int = 0
    strip_path: int = 0
    size_match: str = None
    verify: str = None
    accurate: str = None
    regex: list = field(default_factory=list)
    regex_dir: list = field(default_factory=list)
    regex_file: list = field(default_factory=list)
    wild: list = field(default_factory=list)
    wild_dir: list = field(default_factory=list)
    wild_file: list = field(default_factory=list)
    wild_base: list = field(default_factory=list)
    fstype: list = field(default_factory=list)
    drivetype: list = field(default_factory=list)
    plugin: str = None
    reader: str = None
    writer: str = None
    unknown: list = field(default_factory=list)  # letters we did not understand

    def __post_init__(self):
        self._compiled = None

    @property
    def has_patterns(self):
        return bool(self.regex or self.regex_dir or self.regex_file or self.wild or self.wild_dir
                    or self.wild_file or self.wild_base)

    def apply_letters(self, opts):
        """Set flags from an ``O`` option string (SetOptionsAndFlags)."""
        self.opts += opts
        i, n = 0, len(opts)

        def upto_colon(start):
            end = opts.find(":", start)
            return (opts[start:], n) if end < 0 else (opts[start:end], end + 1)

        while i < n:
            ch = opts[i]
            nxt = opts[i + 1] if i + 1 < n else ""
            i += 1
            if ch in "0a":
                if ch == "a":
                    self.replace = "always"
            elif ch == "A":
                self.acl = True
            elif ch == "C":
                self.accurate, i = upto_colon(i)
            elif ch == "c":
                self.check_changes = True
            elif ch == "d":
                if nxt in "1234" and nxt:
                    self.shadowing = int(nxt)
                    i += 1
            elif ch == "e":
                self.exclude = True
            elif ch == "E":
                if nxt == "f":
                    self.force_encryption = True
                    i += 1
                elif nxt in ("3", "b"):
                    self.encryption = "E" + nxt
                    i += 1
                elif nxt in ("a", "c", "h") and i + 1 < n and opts[i + 1] in "123":
                    self.encryption = "E" + opts[i:i + 2]
                    i += 2
            elif ch == "f":
                self.one_fs = False
            elif ch == "H":
                self.hardlinks = False
            elif ch == "h":
                self.recurse = False
            elif ch == "i":
                self.ignore_case = True
            elif ch == "K":
                self.no_atime = True
            elif ch == "k":
                self.keep_atime = True
            elif ch == "M":
                self.signature = "MD5"
            elif ch == "m":
                self.mtime_only = True
            elif ch == "N":
                self.honor_nodump = True
            elif ch == "n":
                self.replace = "never"
            elif ch == "P":
                text, i = upto_colon(i)
                self.strip_path = int(text) if text.isdigit() else 0
            elif ch == "p":
                self.portable = True
            elif ch == "R":
                self.hfsplus = True
            elif ch == "r":
                self.read_fifo = True
            elif ch == "S":
                choice = {"1": "SHA1", "2": "SHA256", "3": "SHA512", "4": "XXH128"}.get(nxt)
                if choice:
                    i += 1
                self.signature = choice or "SHA1"
            elif ch == "s":
                self.sparse = True
            elif ch == "V":
                self.verify, i = upto_colon(i)
            elif ch == "W":
                self.enhanced_wild = True
            elif ch == "w":
                self.replace = "ifnewer"
            elif ch == "x":
                self.no_autoexclude = True
            elif ch == "X":
                self.xattr = True
            elif ch == "Z":
                if nxt.isdigit() and nxt:
                    self.compression, self.compression_level = "GZIP", int(nxt)
                    i += 1
                elif nxt == "o":
                    self.compression, self.compression_level = "LZO", 1
                    i += 1
                elif nxt == "f":
                    sub = opts[i + 1] if i + 1 < n else ""
                    algo = {"f": "LZFAST", "4": "LZ4", "h": "LZ4HC"}.get(sub)
                    if algo:
                        self.compression, self.compression_level = algo, 1
                    i += 2
            elif ch == "z":
                self.size_match, i = upto_colon(i)
            else:
                self.unknown.append(ch)

    # -- matching --
    def _matchers(self):
        if self._compiled is None:
            flags = re.IGNORECASE if self.ignore_case else 0
            wild = lambda pats: [wildcard_to_regex(p, self.enhanced_wild, self.ignore_case) for p in pats]
            regex = lambda pats: [re.compile(os.fsencode(p), flags) for p in pats]
            self._compiled = {
                "wild": wild(self.wild), "wild_dir": wild(self.wild_dir), "wild_file": wild(self.wild_file),
                "wild_base": wild(self.wild_base), "regex": regex(self.regex),
                "regex_dir": regex(self.regex_dir), "regex_file": regex(self.regex_file),
            }
        return self._compiled

    def match(self, path, is_dir):
        """True/False if a pattern of this block matches ``path`` (bytes), else None."""
        m = self._matchers()
        if is_dir:
            if any(p.fullmatch(path) for p in m["wild_dir"]):
                return True
        else:
            if any(p.fullmatch(path) for p in m["wild_file"]):
                return True
            if m["wild_base"]:
                base = path.rsplit(b"/", 1)[-1] if self.enhanced_wild else path
                if any(p.fullmatch(base) for p in m["wild_base"]):
                    return True
        if any(p.fullmatch(path) for p in m["wild"]):
            return True
        for p in (m["regex_dir"] if is_dir else m["regex_file"]):
            if p.search(path):
                return True
        if any(p.search(path) for p in m["regex"]):
            return True
        return None


def wildcard_to_regex(pattern, pathname=False, ignore_case=False):
    """A compiled bytes regex equivalent to fnmatch(3) with FNM_PATHNAME when ``pathname``."""
    pat = os.fsencode(pattern) if isinstance(pattern, str) else bytes(pattern)
    any_char = b"[^/]" if pathname else b"(?s:.)"
    out = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i:i + 1]
        i += 1
        if c == b"*":
            out.append(any_char + b"*")
        elif c == b"?":
            out.append(any_char)
        elif c == b"\\" and i < n:
            out.append(re.escape(pat[i:i + 1]))
            i += 1
        elif c == b"[":
            j = i
            if j < n and pat[j:j + 1] in (b"!", b"^"):
                j += 1
            if j < n and pat[j:j + 1] == b"]":
                j += 1
            while j < n and pat[j:j + 1] != b"]":
                j += 1
            if j >= n:
                out.append(b"\\[")
            else:
                body = pat[i:j]
                i = j + 1
                negate = body[:1] in (b"!", b"^")
                if negate:
                    body = body[1:]
                body = body.replace(b"\\", b"\\\\")
                if pathname:
                    out.append(b"(?!/)")
                out.append(b"[" + (b"^" if negate else b"") + body + b"]")
        else:
            out.append(re.escape(c))
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(b"".join(out), flags)


# --- include / exclude blocks ---------------------------------------------------------
@dataclass
class IncludeExclude:
    options: list = field(default_factory=list)     # [Options]
    files: list = field(default_factory=list)       # [str] as sent (F lines)
    plugins: list = field(default_factory=list)     # [str] (P lines)
    ignore_dirs: list = field(default_factory=list)  # [str] (Z lines: Exclude Dir Containing)

    def _exclude_matchers(self):
        cache = getattr(self, "_exc", None)
        if cache is None:
            ignore_case = any(o.ignore_case for o in self.options)
            cache = [wildcard_to_regex(f, False, ignore_case) for f in self.files]
            cache += [wildcard_to_regex(w, False, o.ignore_case) for o in self.options for w in o.wild]
            self._exc = cache
        return cache


DEFAULT_OPTIONS = Options()


class FileSetError(ValueError):
    pass


class FileSetSpec:
    """The parsed fileset of one job."""

    def __init__(self):
        self.includes = []   # [IncludeExclude]
        self.excludes = []   # [IncludeExclude]

    @classmethod
    def parse(cls, lines):
        """Parse the packets the director sent after ``fileset`` (str or bytes, one per packet)."""
        spec = cls()
        current = None
        options = None  # the Options block being filled, until its N
        for raw in lines:
            if isinstance(raw, (bytes, bytearray)):
                raw = os.fsdecode(bytes(raw))
            line = raw.rstrip(" \t\r\n")
            if not line:
                continue
            code = line[0]
            rest = line[1:]
            sub = " "
            if rest and rest[0] != " ":
                sub, rest = rest[0], rest[1:]
            if rest.startswith(" "):
                rest = rest[1:]
            if code in "IE":
                current = IncludeExclude()
                (spec.includes if code == "I" else spec.excludes).append(current)
                options = None
                continue
            if current is None:
                raise FileSetError(f"fileset line before I or E: {line!r}")
            if code == "N":
                options = None
            elif code == "F":
                if rest:
                    current.files.append(rest)
            elif code == "P":
                current.plugins.append(rest)
            elif code == "Z":
                current.ignore_dirs.append(rest)
            elif code in "ORWXGDT":
                if options is None:
                    options = Options()
                    current.options.append(options)
                if code == "O":
                    options.apply_letters(rest)
                elif code == "R":
                    target = {" ": options.regex, "D": options.regex_dir, "F": options.regex_file}.get(sub)
                    if target is None:
                        raise FileSetError(f"bad regex line {line!r}")
                    try:
                        re.compile(os.fsencode(rest))
                    except re.error as exc:
                        raise FileSetError(f"REGEX {rest} compile error. ERR={exc}") from None
                    target.append(rest)
                elif code == "W":
                    target = {" ": options.wild, "D": options.wild_dir, "F": options.wild_file,
                              "B": options.wild_base}.get(sub)
                    if target is None:
                        raise FileSetError(f"bad wild line {line!r}")
                    target.append(rest)
                elif code == "X":
                    (options.fstype if sub == " " else options.drivetype).append(rest)
                elif code == "G":
                    options.plugin = rest
                elif code == "D":
                    options.reader = rest
                elif code == "T":
                    options.writer = rest
            else:
                raise FileSetError(f"Invalid FileSet command: {line}")
        return spec

    # -- matching --
    def include_for(self, path):
        """The Include block whose File entry is the longest prefix of ``path``."""
        path = os.fsencode(path)
        best, best_len = None, -1
        for inc in self.includes:
            for top in inc.files:
                top_b = os.fsencode(top).rstrip(b"/")
                if (path == top_b or path.startswith(top_b + b"/") or top_b == b"") and len(top_b) > best_len:
                    best, best_len = inc, len(top_b)
        return best if best is not None else (self.includes[0] if self.includes else None)

    def decide(self, path, is_dir, include=None):
        """The Options that apply to ``path``, or None when the fileset excludes it."""
        path = os.fsencode(path)
        if include is None:
            include = self.include_for(path)
        chosen = DEFAULT_OPTIONS
        if include is not None:
            for opts in include.options:
                chosen = opts
                hit = opts.match(path, is_dir)
                if hit:
                    return None if opts.exclude else opts
                if opts.exclude and not opts.has_patterns:
                    return None
        if self.is_excluded(path):
            return None
        return chosen

    def is_excluded(self, path):
        """True if an Exclude{} block names ``path`` (fnmatch on the full path)."""
        path = os.fsencode(path)
        for block in self.excludes:
            if any(p.fullmatch(path) for p in block._exclude_matchers()):
                return True
        return False

    def top_options(self, include):
        """Options for a top-level File entry: the last block of its Include (Bareos' sticky flags)."""
        return include.options[-1] if include.options else DEFAULT_OPTIONS

    def signatures(self):
        return {o.signature for inc in self.includes for o in inc.options if o.signature}


# --- the director side: config FileSet -> lines -------------------------------------------
COMPRESSION_LETTERS = {
    "GZIP": "Z6", **{f"GZIP{n}": f"Z{n}" for n in range(1, 10)},
    "LZO": "Zo", "LZFAST": "Zff", "LZ4": "Zf4", "LZ4HC": "Zfh",
}
SIGNATURE_LETTERS = {"MD5": "M", "SHA1": "S", "SHA256": "S2", "SHA512": "S3", "XXH128": "S4"}

# attribute -> (letters for yes, letters for no); "0" is Bareos' explicit no-op
BOOLEAN_LETTERS = {
    "one_fs": ("0", "f"), "recurse": ("0", "h"), "sparse": ("s", "0"), "hard_links": ("0", "H"),
    "read_fifo": ("r", "0"), "portable": ("p", "0"), "mtime_only": ("m", "0"),
    "keep_atime": ("k", "0"), "exclude": ("e", "0"), "acl_support": ("A", "0"),
    "ignore_case": ("i", "0"), "hfs_plus_support": ("R", "0"), "no_atime": ("K", "0"),
    "enhanced_wild": ("W", "0"), "check_file_changes": ("c", "0"),
    "honor_no_dump_flag": ("N", "0"), "xattr_support": ("X", "0"), "auto_exclude": ("0", "x"),
}
# Bareos appends these when the directive is not written (inc_conf.cc OptionsDefaultValues:
# AclSupport=yes "A", XattrSupport=yes "X", HardLinks=no "H").  We keep A and X but
# not H: this suite handles hard links unless "Hard Links = no" is written.
DEFAULT_LETTERS = (("acl_support", "A"), ("xattr_support", "X"))
SHADOWING_LETTERS = {"none": "0", "localwarn": "d1", "localremove": "d2", "globalwarn": "d3",
                     "globalremove": "d4"}
REPLACE_LETTERS = {"always": "a", "ifnewer": "w", "never": "n"}


def _get(obj, attr, default=None):
    try:
        value = getattr(obj, attr)
    except (AttributeError, KeyError):
        return default
    return default if value is None else value


def _is_set(obj, attr):
    checker = getattr(obj, "is_set", None)
    if callable(checker):
        try:
            return checker(attr)
        except Exception:
            pass
    return _get(obj, attr) is not None


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [value]
    return list(value)


def options_letters(block):
    """The ``O`` string for one config Options block (in directive order, like inc_conf.cc)."""
    letters = []
    order = _directive_order(block)
    for attr in order:
        if not _is_set(block, attr):
            continue
        value = _get(block, attr)
        if attr == "signature":
            letters.append(SIGNATURE_LETTERS[str(value).upper()])
        elif attr == "compression":
            letters.append(COMPRESSION_LETTERS[str(value).upper()])
        elif attr in BOOLEAN_LETTERS:
            yes, no = BOOLEAN_LETTERS[attr]
            letters.append(yes if value else no)
        elif attr == "verify":
            letters.append(f"V{value}:")
        elif attr == "accurate":
            letters.append(f"C{value}:")
        elif attr == "strip_path":
            letters.append(f"P{value}:")
        elif attr == "size":
            letters.append(f"z{value}:")
        elif attr == "shadowing":
            letters.append(SHADOWING_LETTERS.get(str(value).lower(), "0"))
        elif attr == "replace":
            letters.append(REPLACE_LETTERS.get(str(value).lower(), "0"))
    for attr, letter in DEFAULT_LETTERS:
        if not _is_set(block, attr):
            letters.append(letter)
    return "".join(letters)


_OPTION_ATTRS = ("signature", "compression", "verify", "accurate", "one_fs", "recurse", "sparse",
                 "hard_links", "read_fifo", "replace", "portable", "mtime_only", "keep_atime",
                 "exclude", "acl_support", "ignore_case", "hfs_plus_support", "no_atime",
                 "enhanced_wild", "check_file_changes", "strip_path", "honor_no_dump_flag",
                 "xattr_support", "size", "shadowing", "auto_exclude")


def _directive_order(block):
    """Attributes in the order they were written (config Section), else a fixed order."""
    items = getattr(block, "items", None)
    order = []
    if callable(items):
        try:
            for name, _value in items():
                attr = name.lower().replace(" ", "_")
                if attr in _OPTION_ATTRS:
                    order.append(attr)
        except Exception:
            order = []
    order += [attr for attr in _OPTION_ATTRS if attr not in order]
    return order


def _send_item(code, item):
    """One F/P packet; ``\\`` escapes a leading ``|``/``<`` (SendListItem)."""
    item = str(item)
    if item.startswith("\\"):
        item = item[1:]
    return code + item


def fileset_to_lines(fileset_resource):
    """The packets the director sends for a FileSet (after ``fileset\\n``, before EOD).

    Works on a ``bareos.config`` FileSet resource (``include``/``exclude`` lists of
    blocks; Options attributes as in ``bareos/config/schemas.py``) or on plain
    objects with the same attribute names.  ``|command`` and ``<file`` items are
    sent verbatim (the FD expands them).
    """
    lines = []
    for code, blocks in (("I", _as_list(_get(fileset_resource, "include"))),
                         ("E", _as_list(_get(fileset_resource, "exclude")))):
        for block in blocks:
            lines.append(f"{code}\n")
            for ignore in _as_list(_get(block, "exclude_dir_containing")):
                lines.append(f"Z {ignore}\n")
            option_blocks = _as_list(_get(block, "options"))
            if not option_blocks:
                option_blocks = [None]  # Bareos adds a default Options block
            for opts in option_blocks:
                if opts is None:
                    lines.append("O " + "".join(letter for _attr, letter in DEFAULT_LETTERS) + "\n")
                    lines.append("N\n")
                    continue
                letters = options_letters(opts)
                lines.append(f"O {letters}\n")
                for pattern in _as_list(_get(opts, "regex")):
                    lines.append(f"R {pattern}\n")
                for pattern in _as_list(_get(opts, "regex_dir")):
                    lines.append(f"RD {pattern}\n")
                for pattern in _as_list(_get(opts, "regex_file")):
                    lines.append(f"RF {pattern}\n")
                for pattern in _as_list(_get(opts, "wild")):
                    lines.append(f"W {pattern}\n")
                for pattern in _as_list(_get(opts, "wild_dir")):
                    lines.append(f"WD {pattern}\n")
                wild_file = _as_list(_get(opts, "wild_file"))
                # WildFile with a slash is a wildfile (WF); without, a wildbase, sent as
                # WB with EnhancedWild and as WF otherwise (inc_conf.cc StoreWild).
                for pattern in wild_file:
                    if "/" in pattern or "\\" in pattern:
                        lines.append(f"WF {pattern}\n")
                enhanced = "W" in letters
                for pattern in wild_file:
                    if "/" not in pattern and "\\" not in pattern:
                        lines.append(f"W{'B' if enhanced else 'F'} {pattern}\n")
                for fstype in _as_list(_get(opts, "fs_type")):
                    lines.append(f"X {fstype}\n")
                for drivetype in _as_list(_get(opts, "drive_type")):
                    lines.append(f"XD {drivetype}\n")
                plugin = _get(opts, "plugin")
                if plugin and isinstance(plugin, str):
                    lines.append(f"G {plugin}\n")
                lines.append("N\n")
            for item in _as_list(_get(block, "file")):
                lines.append(_send_item("F ", item))
            lines.append("N\n")
            if code == "I":
                for item in _as_list(_get(block, "plugin")):
                    lines.append(_send_item("P ", item))
            lines.append("N\n")
    return lines
