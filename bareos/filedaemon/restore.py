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

Our additions: a file that replaces an existing one is written to a temporary
name and renamed over it once complete, owner, mode and times included, so a
restore that is interrupted never leaves the old copy half overwritten.  A new
file is written under its own name, as Bareos and tar do (an ``O_TMPFILE``
linked into place when complete costs about as much again as writing a small
file on ext4); if the restore stops with an error or is canceled, the file it was
writing is removed, and only a killed daemon can leave a partial new file behind.
In a directory this restore created, a file is not looked up first with
``replace=always`` (nothing else can be there).  Attributes of regular files are
set through the open descriptor; the owner is not set when the new file has it
already (a file of root's restored as root).  With ``verify_digests=True`` a
digest record is checked against the restored data (Bareos does not check digests
on restore; off by default, as it costs about as much CPU as writing); ``ENOSPC``
stops the restore with RestoreDiskFull.

All of it runs in one thread.  Handing small files to extra writer threads, so
the kernel could create several at once, was measured slower: the hand-offs of
the GIL cost more CPU than the overlap saved.
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
    DATA_STREAMS, DIGEST_STREAMS, STREAM_FILE_DATA, STREAM_TYPE_MASK, STREAM_UNIX_ATTRIBUTES,
    CompressionError,
    DigestUnavailable, decode_data_record, digest_for_stream,
)

REPLACE_CODES = {"a": "always", "w": "ifnewer", "o": "ifolder", "n": "never"}
_TEMP_PREFIX = b".bareos-restore-"


def process_umask():
    """This process's umask (from /proc: setting it to read it would race other threads),
    or None when it cannot be known."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _write_all(fd, data, offset=None):
    """write()/pwrite() until all of *data* is written: a nearly full disk takes part of
    it and fails only on the next call (ENOSPC)."""
    done = os.write(fd, data) if offset is None else os.pwrite(fd, data, offset)
    if done < len(data):
        view = memoryview(data)
        while done < len(data):
            rest = view[done:]
            done += os.write(fd, rest) if offset is None else os.pwrite(fd, rest, offset + done)


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
                 "digest", "digest_stream", "digest_ok", "in_place", "mode_is_final",
                 "owner_is_final")

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
        self.in_place = False     # fd is a new file created under the target name
        self.mode_is_final = False  # created with its saved mode: no chmod needed
        self.owner_is_final = False  # created with its saved owner and group: no chown needed


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
        self._uid = os.geteuid() if self.is_root else None
        self._gid = os.getegid() if self.is_root else None
        self._umask = process_umask()
        self._current = None
        self._dir_attrs = {}          # target dir -> LStat, applied in finish()
        self._created_dirs = set()    # directories this restore created
        self._known_dirs = {}         # directories known to exist -> group new files get there
        self._digest_guess = None     # digest stream seen last (to hash while writing)
        self._finished = False

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
        """Consume one record (stream 1 starts a file; data and digest records follow).

        An attributes record may come already decoded (an AttributeRecord): the caller
        can decode them in another thread, off the thread that writes the files."""
        if self._finished:
            raise RestoreError("record() after finish()")
        kind = stream & STREAM_TYPE_MASK
        if kind == STREAM_UNIX_ATTRIBUTES:
            self._end_file()
            self._start_file(data if data.__class__ is AttributeRecord else AttributeRecord.decode(data))
        elif kind in DATA_STREAMS:
            self._data(kind, data)
        elif kind in DIGEST_STREAMS:
            if self.verify_digests:
                self._check_digest(kind, bytes(data))
        # ACL, xattr and other streams are ignored

    def finish(self, complete=True):
        """Complete the last file, then set directory modes and times (deepest first).

        ``complete=False`` after the restore failed or was canceled: the last file is
        dropped instead (its data may be cut short)."""
        if self._finished:
            return self.stats
        self._finished = True
        if complete:
            self._end_file()
        else:
            self.abort()
        for target in sorted(self._dir_attrs, key=lambda p: p.count(b"/"), reverse=True):
            self._set_attributes(target, self._dir_attrs[target], FT_DIREND)
        self._dir_attrs.clear()
        return self.stats

    def abort(self):
        """Drop the file being written (its temporary or new name) without finishing it."""
        cur, self._current = self._current, None
        if cur is not None:
            self._discard(cur)

    # -- starting a file --
    def _start_file(self, attr):
        target = self.output_name(attr.fname)
        cur = _Current(attr, target)
        self._current = cur
        ftype = attr.file_type
        try:
            lst = None if self._surely_new(target) else os.lstat(target)
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
                self._start_regular(cur, lst)
            else:
                self._start_other(cur, ftype)
        except OSError as exc:
            self._os_error(exc, f"Could not create {os.fsdecode(target)}", cur)
            self._current = None

    def _start_other(self, cur, ftype):
        """Symbolic links, hard links and special files."""
        attr = cur.attr
        if ftype == FT_LNK:
            self._make_special(cur, lambda tmp: os.symlink(self._link_name(attr), tmp))
        elif ftype == FT_LNKSAVED:
            self._make_hardlink(cur)
        elif ftype in (FT_SPEC, FT_FIFO, FT_RAW):
            self._make_node(cur)
        else:
            self._error(f"Unknown file type {ftype}; not restored: {os.fsdecode(attr.fname)}")
            self._current = None

    def _surely_new(self, target):
        """True when *target* needs no lstat: replace=always, and its directory was created
        by this restore, so nothing but this restore can have put a name there (should the
        stream repeat a name, creating the file fails and it is replaced like an existing one)."""
        return self.replace == "always" and target[:target.rfind(b"/")] in self._created_dirs

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
        parent = target[:target.rfind(b"/")]
        if parent and parent not in self._known_dirs:
            self._makedirs(parent)

    def _makedirs(self, path):
        """Create missing directories (default mode until their own record, applied in finish())."""
        missing = []
        known = self._known_dirs
        while path and path not in known:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            if st is not None and stat_mod.S_ISDIR(st.st_mode):
                known[path] = self._new_file_group(st)
                break
            missing.append(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        group = known.get(path)
        for p in reversed(missing):
            try:
                os.mkdir(p)
            except FileExistsError:
                if not os.path.isdir(p):
                    raise
                group = self._new_file_group(os.stat(p))
            self._created_dirs.add(p)
            known[p] = group  # a new directory passes its parent's group on (set-group-ID)

    def _new_file_group(self, dir_stat):
        """The group a file created in this directory gets (when we are root)."""
        if self._gid is None:
            return None
        return dir_stat.st_gid if dir_stat.st_mode & stat_mod.S_ISGID else self._gid

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

    def _start_regular(self, cur, lst):
        self._make_parent(cur.target)
        if lst is not None and stat_mod.S_ISDIR(lst.st_mode):
            raise IsADirectoryError(errno.EISDIR, "a directory is in the way", cur.target)
        st = cur.stat
        cur.mode_is_final = self._created_with_final_mode(st.mode)
        cur.owner_is_final = (self._uid == st.uid
                              and self._known_dirs.get(cur.target[:cur.target.rfind(b"/")]) == st.gid)
        mode = stat_mod.S_IMODE(st.mode) if cur.mode_is_final else 0o600
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
        if lst is None:
            try:
                cur.fd = os.open(cur.target, flags, mode)
                cur.in_place = True
            except FileExistsError:
                pass  # it appeared after all: replace it like an existing file
        if cur.fd is None:
            cur.temp = self._temp_name(cur.target)
            cur.fd = os.open(cur.temp, flags, mode)
        cur.extract = True
        if self.verify_digests and self._digest_guess:
            try:
                cur.digest = digest_for_stream(self._digest_guess)
                cur.digest_stream = self._digest_guess
            except DigestUnavailable:
                cur.digest = None

    def _created_with_final_mode(self, mode):
        """Whether a new file can be created with its saved mode straight away (saving a
        chmod): the umask removes none of its bits, and it has no set-id or sticky bit
        (chown clears set-id bits, so those need the chmod after it)."""
        return self._umask is not None and not mode & (self._umask | 0o7000)

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
            self._known_dirs.pop(cur.target, None)
            self._created_dirs.discard(cur.target)
            os.replace(cur.temp, cur.target)
        cur.temp = None

    # -- data --
    def _data(self, kind, data):
        cur = self._current
        if cur is None or not cur.extract:
            return
        try:
            offset, plain = (None, data) if kind == STREAM_FILE_DATA else decode_data_record(kind, data)
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
                _write_all(cur.fd, plain, offset)
                cur.position = offset + len(plain)
            else:
                _write_all(cur.fd, plain)
                cur.position += len(plain)
        except OSError as exc:
            self._os_error(exc, f"Write error on {os.fsdecode(cur.target)}", cur)
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
        # attributes, then the name: a regular file through its descriptor, others by name
        try:
            if cur.fd is not None:
                fd = cur.fd
                if cur.sparse and os.fstat(fd).st_size != cur.stat.size:
                    os.ftruncate(fd, cur.stat.size)
                self._set_fd_attributes(fd, cur)
                cur.fd = None
                os.close(fd)
                if cur.temp is not None:
                    self._commit_name(cur)
            else:
                self._set_attributes(cur.target, cur.stat, cur.attr.file_type)
            self.stats.files += 1
        except OSError as exc:
            self._os_error(exc, f"Could not complete {os.fsdecode(cur.target)}", cur)

    def _set_fd_attributes(self, fd, cur):
        """Owner, mode, times of a regular file through its descriptor."""
        st = cur.stat
        try:
            if self.is_root and not cur.owner_is_final:
                os.fchown(fd, st.uid, st.gid)
            if not cur.mode_is_final:
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
        """Drop an incomplete file: its descriptor, and its temporary or new name."""
        if cur.fd is not None:
            try:
                os.close(cur.fd)
            except OSError:
                pass
            cur.fd = None
        partial = cur.temp if cur.temp is not None else cur.target if cur.in_place else None
        cur.temp, cur.in_place = None, False
        if partial is not None:
            try:
                os.unlink(partial)
            except OSError:
                pass

    def _os_error(self, exc, text, cur=None):
        """Report a failed system call (dropping *cur*, the file it was for); a full disk
        ends the restore (RestoreDiskFull)."""
        if cur is not None:
            self._discard(cur)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            message = f"{text}: ERR={exc.strerror}. Restore stopped: no space left on the target"
            self.stats.errors += 1
            self._message("fatal", message)
            raise RestoreDiskFull(message) from exc
        self._error(f"{text}: ERR={exc.strerror}")
