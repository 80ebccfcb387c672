"""Restore side of the file daemon: records in, files out.

Blocking code for a worker thread; no Twisted.  Feed records in stream order::

    restorer = Restorer(where="/tmp/r", replace="always", on_message=log)
    for file_index, stream, data in records:
        restorer.record(file_index, stream, data)
    stats = restorer.finish()

Bareos behaviour followed (``filed/restore.cc``, ``findlib/create_file.cc``,
``lib/attr.cc`` BuildAttrOutputFnames, ``findlib/attribs.cc``):

* ``where`` is prefixed to every name (``/tmp/r`` + ``/etc/x``); hard-link targets
  (FT_LNKSAVED ``link``) get the prefix too, symlink targets only with
  ``prefix_links`` and only when absolute.
* replace: ``ifnewer`` skips a file whose existing copy has ``mtime >=`` the saved
  one, ``ifolder`` one whose existing copy has ``mtime <=``, ``never`` any that
  exists (directories this restore created itself are not "existing").
* FT_LNKSAVED is ``link(where + first name, where + name)``; the director selects
  the first name too when a hard link is selected (``dird/ua_tree.cc``), so the
  FD never restores data for it; if the first name is missing the link fails
  with an error, as in Bareos.
* Owner and group are set only when running as root (lchown), then the mode
  (not for symlinks), then atime/mtime (``follow_symlinks=False``).  Directory
  attributes are set in ``finish()``, deepest first, after every child exists.

Our additions: a regular file appears under its name only when it is complete,
owner, mode and times included (crash safety): a new file is written as an
unnamed ``O_TMPFILE`` in the target directory and linked into place; a file that
replaces an existing one (or where ``O_TMPFILE`` is unavailable) is written to a
temporary name and renamed over it.  Attributes of regular files are set through
the open descriptor.  With ``verify_digests=True`` a digest record is checked
against the restored data (Bareos does not check digests on restore; off by
default, as it costs about as much CPU as writing); ``ENOSPC`` stops the restore
with RestoreDiskFull.
"""

import errno
import os
import secrets
import stat as stat_mod
from dataclasses import dataclass

from .attributes import (
    FT_DIRBEGIN, FT_DIREND, FT_FIFO, FT_LNK, FT_LNKSAVED, FT_RAW, FT_REG, FT_REGE, FT_SPEC,
    AttributeRecord,
)
from .streams import (
    DATA_STREAMS, DIGEST_STREAMS, STREAM_TYPE_MASK, STREAM_UNIX_ATTRIBUTES, CompressionError,
    DigestUnavailable, decode_data_record, digest_for_stream,
)

REPLACE_CODES = {"a": "always", "w": "ifnewer", "o": "ifolder", "n": "never"}
_TEMP_PREFIX = b".bareos-restore-"
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)


class RestoreError(Exception):
    """A condition that ends the whole restore."""


class RestoreDiskFull(RestoreError):
    pass


@dataclass
class RestoreStats:
    files: int = 0          # files, links, directories created or updated
    bytes: int = 0          # data bytes written (after decompression)
    errors: int = 0
    skipped: int = 0
    digest_mismatches: int = 0


class _Current:
    """State of the file being restored."""

    __slots__ = ("attr", "stat", "target", "temp", "fd", "extract", "position", "sparse",
                 "digest", "digest_stream", "digest_ok", "wrote_hole", "is_root_owner", "unnamed",
                 "replacing")

    def __init__(self, attr, target):
        self.attr = attr
        self.stat = attr.stat
        self.target = target
        self.temp = None
        self.fd = None
        self.extract = False      # data records are expected and written
        self.position = 0         # bytes written sequentially so far (digest order)
        self.sparse = False
        self.digest = None        # running hash (algorithm guessed from earlier files)
        self.digest_stream = 0
        self.digest_ok = True     # False when the running hash is not usable (out-of-order data)
        self.wrote_hole = False
        self.unnamed = False      # fd is an O_TMPFILE, linked to target when complete
        self.replacing = False    # target existed when the file started


class Restorer:
    def __init__(self, where=None, replace="always", on_message=None, prefix_links=False,
                 verify_digests=False):
        replace = REPLACE_CODES.get(replace, replace)
        if replace not in ("always", "ifnewer", "ifolder", "never"):
            raise ValueError(f"bad replace policy {replace!r}")
        where = os.fsencode(where) if where else b""
        self.where = where.rstrip(b"/") if where.rstrip(b"/") else b""  # "/" = in place
        self.replace = replace
        self.on_message = on_message
        self.prefix_links = prefix_links
        self.verify_digests = verify_digests
        self.stats = RestoreStats()
        self.is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self._current = None
        self._dir_attrs = {}          # target dir -> LStat, applied in finish()
        self._created_dirs = set()    # directories this restore created
        self._digest_guess = None     # digest stream seen last (to hash while writing)
        self._finished = False
        self._tmpfile = bool(_O_TMPFILE)  # O_TMPFILE + linkat usable (probed on first use)
        self._tmpfile_probed = False
        self._root_fd = None          # a directory fd: linkat() needs one to follow /proc links

    # -- messages --
    def _message(self, level, text):
        if self.on_message is not None:
            self.on_message(level, text)

    def _error(self, text):
        self.stats.errors += 1
        self._message("error", text)

    # -- names --
    def output_name(self, fname):
        fname = fname.rstrip(b"/") or b"/"
        if not self.where:
            return fname
        if fname == b"/":
            return self.where
        if self.where.endswith(b"/") or fname.startswith(b"/"):
            return self.where + fname
        return self.where + b"/" + fname

    def _link_name(self, attr):
        link = attr.link
        if attr.file_type == FT_LNKSAVED:
            return self.output_name(link) if self.where else link
        if self.where and self.prefix_links and link.startswith(b"/"):
            return self.output_name(link)
        return link

    # -- the record interface --
    def record(self, file_index, stream, data):
        """Consume one record (stream 1 starts a file; data and digest records follow)."""
        if self._finished:
            raise RestoreError("record() after finish()")
        kind = stream & STREAM_TYPE_MASK
        if kind == STREAM_UNIX_ATTRIBUTES:
            self._end_file()
            self._start_file(AttributeRecord.decode(data))
        elif kind in DATA_STREAMS:
            self._data(kind, data)
        elif kind in DIGEST_STREAMS:
            self._check_digest(kind, bytes(data))
        # ACL, xattr and other streams are ignored

    def finish(self):
        """Complete the last file, then set directory modes and times (deepest first)."""
        if self._finished:
            return self.stats
        self._end_file()
        for target in sorted(self._dir_attrs, key=lambda p: p.count(b"/"), reverse=True):
            self._set_attributes(target, self._dir_attrs[target], FT_DIREND)
        self._dir_attrs.clear()
        self._finished = True
        self._close_root_fd()
        return self.stats

    def abort(self):
        """Drop the file being written (its temporary file) without finishing it."""
        cur, self._current = self._current, None
        if cur is not None:
            self._discard(cur)
        self._close_root_fd()

    def _close_root_fd(self):
        if self._root_fd is not None:
            try:
                os.close(self._root_fd)
            except OSError:
                pass
            self._root_fd = None

    # -- starting a file --
    def _start_file(self, attr):
        target = self.output_name(attr.fname)
        cur = _Current(attr, target)
        self._current = cur
        ftype = attr.file_type
        try:
            lst = os.lstat(target)
        except FileNotFoundError:
            lst = None
        except OSError as exc:
            self._error(f"Cannot stat {os.fsdecode(target)}: ERR={exc.strerror}")
            self._current = None
            return
        is_dir = ftype in (FT_DIREND, FT_DIRBEGIN)
        if lst is not None and not (is_dir and target in self._created_dirs):
            if not self._replace_ok(attr, lst, target):
                self.stats.skipped += 1
                self._current = None
                return
        try:
            if is_dir:
                self._make_dir(target, attr)
            elif ftype in (FT_REG, FT_REGE):
                self._open_regular(cur, lst)
            elif ftype == FT_LNK:
                self._make_special(cur, lambda tmp: os.symlink(self._link_name(attr), tmp))
            elif ftype == FT_LNKSAVED:
                self._make_hardlink(cur)
            elif ftype in (FT_SPEC, FT_FIFO, FT_RAW):
                self._make_node(cur)
            else:
                self._error(f"Unknown file type {ftype}; not restored: {os.fsdecode(attr.fname)}")
                self._current = None
        except OSError as exc:
            self._os_error(exc, f"Could not create {os.fsdecode(target)}")
            self._discard(cur)
            self._current = None

    def _replace_ok(self, attr, lst, target):
        name = os.fsdecode(target)
        saved_mtime = attr.stat.mtime
        if self.replace == "ifnewer" and saved_mtime <= int(lst.st_mtime):
            self._message("info", f"File skipped. Not newer: {name}")
            return False
        if self.replace == "ifolder" and saved_mtime >= int(lst.st_mtime):
            self._message("info", f"File skipped. Not older: {name}")
            return False
        if self.replace == "never":
            self._message("info", f"File skipped. Already exists: {name}")
            return False
        return True

    def _make_parent(self, target):
        parent = os.path.dirname(target)
        if parent and not os.path.isdir(parent):
            self._makedirs(parent)

    def _makedirs(self, path):
        """Create missing directories (default mode until their own record, applied in finish())."""
        missing = []
        while path and not os.path.isdir(path):
            missing.append(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        for p in reversed(missing):
            try:
                os.mkdir(p)
            except FileExistsError:
                if not os.path.isdir(p):
                    raise
            self._created_dirs.add(p)

    def _make_dir(self, target, attr):
        if os.path.lexists(target) and not os.path.isdir(target) or os.path.islink(target):
            os.unlink(target)
        self._makedirs(target)
        # make sure we can write children into it until finish()
        if not os.access(target, os.W_OK | os.X_OK) and not self.is_root:
            os.chmod(target, 0o700)
        self._dir_attrs[target] = attr.stat
        self.stats.files += 1
        self._current = None

    def _temp_name(self, target):
        parent, _ = os.path.split(target)
        return os.path.join(parent, _TEMP_PREFIX + secrets.token_hex(6).encode())

    def _open_regular(self, cur, lst):
        self._make_parent(cur.target)
        if lst is not None and stat_mod.S_ISDIR(lst.st_mode):
            raise IsADirectoryError(errno.EISDIR, "a directory is in the way", cur.target)
        cur.replacing = lst is not None
        if lst is None and self._tmpfile and self._open_unnamed(cur):
            pass
        else:
            cur.temp = self._temp_name(cur.target)
            cur.fd = os.open(cur.temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        cur.extract = True
        if self.verify_digests and self._digest_guess:
            try:
                cur.digest = digest_for_stream(self._digest_guess)
                cur.digest_stream = self._digest_guess
            except DigestUnavailable:
                cur.digest = None

    def _open_unnamed(self, cur):
        """Open an O_TMPFILE in the target's directory; False if this system cannot."""
        parent = os.path.dirname(cur.target) or b"."
        try:
            fd = os.open(parent, _O_TMPFILE | os.O_RDWR, 0o600)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise
            self._tmpfile = False  # EOPNOTSUPP, EISDIR (old kernel), EINVAL, ...
            return False
        if not self._tmpfile_probed:
            # linking an unnamed file goes through /proc/self/fd: make sure that works here
            # (with a file of its own: a linked and unlinked O_TMPFILE cannot be linked again)
            self._tmpfile_probed = True
            probe = self._temp_name(cur.target)
            try:
                self._root_fd = os.open("/", os.O_RDONLY)
                probe_fd = os.open(parent, _O_TMPFILE | os.O_RDWR, 0o600)
                try:
                    self._link_fd(probe_fd, probe)
                finally:
                    os.close(probe_fd)
                os.unlink(probe)
            except OSError:
                self._tmpfile = False
                self._close_root_fd()
                os.close(fd)
                return False
        cur.fd = fd
        cur.unnamed = True
        return True

    def _link_fd(self, fd, name):
        # linkat(AT_SYMLINK_FOLLOW) on the /proc link; os.link uses linkat only with a dir fd
        os.link(f"/proc/self/fd/{fd}", name, src_dir_fd=self._root_fd, follow_symlinks=True)

    def _make_special(self, cur, create):
        self._make_parent(cur.target)
        cur.temp = self._temp_name(cur.target)
        create(cur.temp)
        self._commit_name(cur)

    def _make_hardlink(self, cur):
        source = self._link_name(cur.attr)
        self._make_parent(cur.target)
        cur.temp = self._temp_name(cur.target)
        try:
            os.link(source, cur.temp)
        except OSError as exc:
            cur.temp = None
            self._error(f"Could not hard link {os.fsdecode(cur.target)} -> {os.fsdecode(source)}: "
                        f"ERR={exc.strerror}")
            self._current = None
            return
        self._commit_name(cur)
        self.stats.files += 1
        self._current = None  # a hard link has no attributes of its own to set

    def _make_node(self, cur):
        mode = cur.stat.mode
        if stat_mod.S_ISFIFO(mode):
            self._make_special(cur, lambda tmp: os.mkfifo(tmp, 0o600))
        elif stat_mod.S_ISCHR(mode) or stat_mod.S_ISBLK(mode):
            self._make_special(cur, lambda tmp: os.mknod(tmp, stat_mod.S_IFMT(mode) | 0o600,
                                                          cur.stat.rdev))
        elif stat_mod.S_ISSOCK(mode):
            self._message("info", f"Socket not restored: {os.fsdecode(cur.target)}")
            self._current = None
        else:
            self._error(f"Unknown special file {os.fsdecode(cur.target)}")
            self._current = None

    def _commit_name(self, cur):
        """Rename the temporary name into place (replacing what is there)."""
        try:
            os.replace(cur.temp, cur.target)
        except IsADirectoryError:
            os.rmdir(cur.target)  # only an empty directory can be replaced
            os.replace(cur.temp, cur.target)
        cur.temp = None

    # -- data --
    def _data(self, kind, data):
        cur = self._current
        if cur is None or not cur.extract:
            return
        try:
            offset, plain = decode_data_record(kind, data)
        except CompressionError as exc:
            self._error(f"Uncompression error on file {os.fsdecode(cur.target)}. ERR={exc}")
            self._discard(cur)
            self._current = None
            return
        try:
            if offset is not None:
                cur.sparse = True
                if offset != cur.position:
                    if offset > cur.position and cur.digest is not None:
                        self._hash_zeros(cur, offset - cur.position)
                    elif offset < cur.position:
                        cur.digest_ok = False
                    cur.wrote_hole = True
                os.pwrite(cur.fd, plain, offset)
                cur.position = offset + len(plain)
            else:
                os.write(cur.fd, plain)
                cur.position += len(plain)
        except OSError as exc:
            self._os_error(exc, f"Write error on {os.fsdecode(cur.target)}")
            self._discard(cur)
            self._current = None
            return
        if cur.digest is not None:
            cur.digest.update(plain)
        self.stats.bytes += len(plain)

    @staticmethod
    def _hash_zeros(cur, count):
        zero = bytes(min(count, 1 << 20))
        while count > 0:
            step = min(count, len(zero))
            cur.digest.update(zero[:step] if step != len(zero) else zero)
            count -= step

    def _check_digest(self, kind, expected):
        if not self.verify_digests:
            return
        self._digest_guess = kind
        cur = self._current
        if cur is None or not cur.extract:
            return
        name = os.fsdecode(cur.target)
        try:
            if cur.digest is not None and cur.digest_stream == kind and cur.digest_ok:
                actual = cur.digest.copy().digest()
            else:
                actual = self._hash_written(cur, kind)
        except DigestUnavailable:
            return
        except OSError as exc:
            self._error(f"Cannot verify {name}: ERR={exc.strerror}")
            return
        if actual != expected:
            self.stats.digest_mismatches += 1
            self._error(f"{DIGEST_STREAMS[kind]} digest mismatch on {name}: "
                        f"restored {actual.hex()}, saved {expected.hex()}")

    @staticmethod
    def _hash_written(cur, kind):
        """Hash what was written so far (a sparse file's unwritten tail counts as zeros)."""
        h = digest_for_stream(kind)
        size = max(cur.position, cur.stat.size) if cur.sparse else cur.position
        offset = 0
        while offset < size:
            want = min(1 << 20, size - offset)
            chunk = os.pread(cur.fd, want, offset) or bytes(want)
            h.update(chunk)
            offset += len(chunk)
        return h.digest()

    # -- completing a file --
    def _end_file(self):
        cur, self._current = self._current, None
        if cur is None:
            return
        try:
            if cur.fd is not None:
                fd = cur.fd
                if cur.sparse and os.fstat(fd).st_size != cur.stat.size:
                    os.ftruncate(fd, cur.stat.size)
                self._set_fd_attributes(fd, cur)
                if cur.unnamed:
                    self._link_unnamed(cur)
                cur.fd = None
                os.close(fd)
                if cur.temp is not None:
                    self._commit_name(cur)
            else:
                self._set_attributes(cur.target, cur.stat, cur.attr.file_type)
            self.stats.files += 1
        except OSError as exc:
            self._os_error(exc, f"Could not complete {os.fsdecode(cur.target)}")
            self._discard(cur)

    def _link_unnamed(self, cur):
        """Give the complete unnamed file its name (via a temporary name if one appeared)."""
        try:
            self._link_fd(cur.fd, cur.target)
        except FileExistsError:
            cur.temp = self._temp_name(cur.target)
            self._link_fd(cur.fd, cur.temp)  # then renamed over the newcomer by the caller

    def _set_fd_attributes(self, fd, cur):
        """Owner, mode, times of a regular file through its descriptor (before it is named)."""
        st = cur.stat
        try:
            if self.is_root:
                os.fchown(fd, st.uid, st.gid)
            os.fchmod(fd, stat_mod.S_IMODE(st.mode))
            os.utime(fd, ns=(st.atime * 1_000_000_000, st.mtime * 1_000_000_000))
        except OSError as exc:
            self._error(f"Cannot set attributes of {os.fsdecode(cur.target)}: ERR={exc.strerror}")

    def _set_attributes(self, target, st, ftype):
        is_link = ftype == FT_LNK
        name = os.fsdecode(target)
        try:
            if self.is_root:
                os.lchown(target, st.uid, st.gid)
            if not is_link:
                os.chmod(target, stat_mod.S_IMODE(st.mode))
            os.utime(target, ns=(st.atime * 1_000_000_000, st.mtime * 1_000_000_000),
                     follow_symlinks=False)
        except FileNotFoundError:
            self._error(f"Cannot set attributes of {name}: it vanished")
        except OSError as exc:
            self._error(f"Cannot set attributes of {name}: ERR={exc.strerror}")

    def _discard(self, cur):
        if cur.fd is not None:
            try:
                os.close(cur.fd)
            except OSError:
                pass
            cur.fd = None
        if cur.temp is not None:
            try:
                os.unlink(cur.temp)
            except OSError:
                pass
            cur.temp = None

    def _os_error(self, exc, text):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            message = f"{text}: ERR={exc.strerror}. Restore stopped: no space left on the target"
            self.stats.errors += 1
            self._message("fatal", message)
            cur, self._current = self._current, None
            if cur is not None:
                self._discard(cur)
            raise RestoreDiskFull(message) from exc
        self._error(f"{text}: ERR={exc.strerror}")
