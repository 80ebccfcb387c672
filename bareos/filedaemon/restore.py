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
  ``prefix_links`` and only when absolute.  No ``where`` (or ``where=/``) restores
  in place, following symbolic links in the path as Bareos does (``/lib -> usr/lib``).
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

Our additions: a restore with a ``where`` is confined to it.  ``where`` must be an
absolute path without ``..`` (RestoreWhereRefused otherwise: Bareos would take a
relative one from the daemon's working directory).  Below it no symbolic link is
followed: every name is reached from a descriptor of ``where`` one directory at a
time (``openat`` with ``O_NOFOLLOW``), and every file is created, linked, renamed
or changed relative to the descriptor of its own directory.  A name with a ``.`` or
``..`` component, or whose path crosses a symbolic link (restored earlier, or put
there by someone else), is not restored: an error names it, and the link is left
as it is whatever ``replace`` says (``replace`` concerns the restored name itself,
as in Bareos, never the directories above it).  A hard link is made only to a file
reached the same way.  ``where`` itself, and the path leading to it, are the
administrator's choice and are followed.  The directories on the way to the current
file stay open (``O_PATH``: like a path walk, they need search permission only), so
a directory costs one ``openat`` for all of its files and the small-file restore
is as fast as with full path names; ``openat2`` with ``RESOLVE_BENEATH`` would need
ctypes and a kernel of 5.6 or later, and still resolve every name from ``where``.
In place a symbolic link to a directory where the backup has a directory is kept
and followed (replacing it would hide what was restored through it).

A file that replaces an existing one is written to a temporary
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


class RestoreWhereRefused(RestoreError):
    """A ``where`` that cannot confine a restore (relative, or with a ``..``)."""


class _Refused(Exception):
    """A name that would lead out of ``where``: that file is not restored."""


def check_where(where):
    """Refuse a ``where`` that is relative (it would depend on the daemon's working
    directory) or has a ``..`` component (it would name a place other than it says)."""
    shown = os.fsdecode(where)
    if not where.startswith(b"/"):
        raise RestoreWhereRefused(f"Restore refused: where={shown} is not an absolute path "
                                  f"(where=/ restores in place)")
    if b".." in where.split(b"/"):
        raise RestoreWhereRefused(f"Restore refused: where={shown} has a '..' component")


class _Level:
    """One open directory on the way from the base to the file being restored."""

    __slots__ = ("name", "path", "fd", "group")

    def __init__(self, name, path, fd, group):
        self.name = name      # its component (None for the base)
        self.path = path      # its full path (names in messages; keys of _created_dirs)
        self.fd = fd          # O_PATH descriptor: relative calls only, like a path walk
        self.group = group    # the group a new file gets in it (when we are root)


@dataclass
class RestoreStats:
    files: int = 0          # files, links, directories created or updated
    bytes: int = 0          # data bytes written (after decompression)
    errors: int = 0
    skipped: int = 0
    digest_mismatches: int = 0


class _Current:
    """State of the file being restored."""

    __slots__ = ("attr", "stat", "target", "dir_fd", "name", "temp", "fd", "extract",
                 "position", "sparse", "digest", "digest_stream", "digest_ok", "in_place",
                 "mode_is_final", "owner_is_final")

    def __init__(self, attr, target, dir_fd, name):
        self.attr = attr
        self.stat = attr.stat
        self.target = target      # full name (messages)
        self.dir_fd = dir_fd      # its directory: every call on the file is relative to it
        self.name = name
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
        if where.rstrip(b"/"):
            check_where(where)
        where = where.rstrip(b"/")
        self.where = where                # b"" = in place (no where, or where=/)
        self.base = where or b"/"         # every restored name is reached from here
        # below where no symbolic link is followed; in place they are (/lib -> usr/lib)
        self._nofollow = os.O_NOFOLLOW if where else 0
        self._dir_flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | self._nofollow
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
        self._chain = []              # _Level from the base to the current file's directory
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
            self._set_directory_attributes(target, self._dir_attrs[target])
        self._dir_attrs.clear()
        self._leave(0)
        return self.stats

    def abort(self):
        """Drop the file being written (its temporary or new name) without finishing it."""
        cur, self._current = self._current, None
        if cur is not None:
            self._discard(cur)

    # -- starting a file --
    def _start_file(self, attr):
        target = self.output_name(attr.fname)
        try:
            dir_fd, name = self._locate(target)
        except _Refused as exc:
            self._error(f"Not restored: {os.fsdecode(target)}: {exc}")
            return
        except OSError as exc:
            self._os_error(exc, f"Could not create {os.fsdecode(target)}")
            return
        cur = _Current(attr, target, dir_fd, name)
        self._current = cur
        ftype = attr.file_type
        try:
            lst = None if self._surely_new(target) else os.stat(name, dir_fd=dir_fd,
                                                                 follow_symlinks=False)
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
                self._make_dir(cur, lst)
            elif ftype in (FT_REG, FT_REGE):
                self._start_regular(cur, lst)
            else:
                self._start_other(cur, ftype)
        except _Refused as exc:
            self._error(f"Not restored: {os.fsdecode(target)}: {exc}")
            self._current = None
        except OSError as exc:
            self._os_error(exc, f"Could not create {os.fsdecode(target)}", cur)
            self._current = None

    def _start_other(self, cur, ftype):
        """Symbolic links, hard links and special files."""
        attr = cur.attr
        if ftype == FT_LNK:
            self._make_special(cur, lambda tmp, dir_fd: os.symlink(self._link_name(attr), tmp,
                                                                   dir_fd=dir_fd))
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

    # -- reaching names: every directory from the base, one component at a time --
    def _locate(self, target, create=True):
        """The open directory of *target* (created as needed when *create*) and its name
        in it."""
        if target == self.base:
            return self._enter(target), b"."  # the record of where itself (or of /)
        parent, name = self._split(target)
        chain = self._chain
        if not chain or chain[-1].path != parent:
            self._enter(parent, create)
        return chain[-1].fd, name

    def _split(self, target):
        cut = target.rfind(b"/")
        parent, name = (target[:cut], target[cut + 1:]) if cut >= 0 else (b"", target)
        if self.where and name in (b".", b".."):
            raise _Refused(self._dots_refused())
        return parent, name

    def _components(self, path):
        """The names leading from the base to *path* (which is below it with a where)."""
        names = [name for name in path[len(self.where):].split(b"/") if name]
        if self.where and (b".." in names or b"." in names):
            raise _Refused(self._dots_refused())
        return names

    def _dots_refused(self):
        return (f"its name has a '.' or '..' component (a restore is confined to "
                f"where={os.fsdecode(self.where)})")

    def _enter(self, path, create=True):
        """Make the chain of open directories lead to *path* and return its descriptor:
        the directories it shares with the current chain stay open, the others are
        opened one component at a time (and created if missing and *create*)."""
        chain = self._chain
        if not chain:
            chain.append(self._open_base())
        names = self._components(path)
        keep = 1
        while keep < len(chain) and keep <= len(names) and chain[keep].name == names[keep - 1]:
            keep += 1
        self._leave(keep)
        for name in names[keep - 1:]:
            chain.append(self._open_child(chain[-1], name, create))
        return chain[-1].fd

    def _leave(self, keep):
        """Close the open directories after the first *keep* of the chain."""
        chain = self._chain
        while len(chain) > keep:
            os.close(chain.pop().fd)

    def _open_base(self):
        created = False
        try:
            fd = os.open(self.base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            os.makedirs(self.base)  # where itself: the path the director named is followed
            created = True
            fd = os.open(self.base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        if created:
            self._created_dirs.add(self.base)
        return _Level(None, self.base, fd, self._new_file_group(fd))

    def _open_child(self, parent, name, create):
        """Open directory *name* in *parent* (an _Level) without following a symbolic
        link when confined; create it (default mode until its own record) if missing."""
        path = parent.path + b"/" + name if parent.path != b"/" else b"/" + name
        try:
            fd = os.open(name, self._dir_flags, dir_fd=parent.fd)
            return _Level(name, path, fd, self._new_file_group(fd))
        except FileNotFoundError:
            if not create:
                raise
        except NotADirectoryError:
            self._refuse_symlink(parent.fd, name, path)
            raise
        try:
            os.mkdir(name, dir_fd=parent.fd)
            self._created_dirs.add(path)
        except FileExistsError:
            pass  # created meanwhile (by whom, the open below tells)
        try:
            fd = os.open(name, self._dir_flags, dir_fd=parent.fd)
        except NotADirectoryError:
            self._refuse_symlink(parent.fd, name, path)
            raise
        # a new directory passes its parent's group on (set-group-ID)
        return _Level(name, path, fd, parent.group if path in self._created_dirs
                      else self._new_file_group(fd))

    def _refuse_symlink(self, dir_fd, name, path):
        if self.where and stat_mod.S_ISLNK(os.stat(name, dir_fd=dir_fd,
                                                   follow_symlinks=False).st_mode):
            raise _Refused(f"{os.fsdecode(path)} is a symbolic link, not followed (a restore "
                           f"is confined to where={os.fsdecode(self.where)})")

    def _open_parent(self, target):
        """A descriptor of the existing directory of *target* and its name there, reached
        like _enter but without moving the chain (for the first name of a hard link)."""
        parent, name = self._split(target)
        level = self._chain[0]
        fd = os.dup(level.fd)
        try:
            for component in self._components(parent):
                level = self._open_child(level, component, create=False)
                os.close(fd)
                fd = level.fd
        except BaseException:
            os.close(fd)
            raise
        return fd, name

    def _new_file_group(self, dir_fd):
        """The group a file created in this directory gets (when we are root)."""
        if self._gid is None:
            return None
        st = os.fstat(dir_fd)
        return st.st_gid if st.st_mode & stat_mod.S_ISGID else self._gid

    def _make_dir(self, cur, lst):
        if lst is not None and not stat_mod.S_ISDIR(lst.st_mode) and not self._followed_in_place(cur):
            os.unlink(cur.name, dir_fd=cur.dir_fd)  # a file or symbolic link of that name
        self._enter(cur.target)
        # make sure we can write children into it until finish()
        if not self.is_root and not os.access(cur.name, os.W_OK | os.X_OK, dir_fd=cur.dir_fd):
            os.chmod(cur.name, 0o700, dir_fd=cur.dir_fd)
        self._dir_attrs[cur.target] = cur.stat
        self.stats.files += 1
        self._current = None

    def _followed_in_place(self, cur):
        """In place, a symbolic link to a directory where the backup had a directory is
        kept and followed, as Bareos does (``/lib -> usr/lib``, a moved ``/home``):
        replacing it would hide what was just restored through it."""
        if self.where:
            return False
        try:
            return stat_mod.S_ISDIR(os.stat(cur.name, dir_fd=cur.dir_fd).st_mode)
        except OSError:
            return False

    @staticmethod
    def _temp_name():
        return _TEMP_PREFIX + secrets.token_hex(6).encode()

    def _start_regular(self, cur, lst):
        if lst is not None and stat_mod.S_ISDIR(lst.st_mode):
            raise IsADirectoryError(errno.EISDIR, "a directory is in the way", cur.target)
        st = cur.stat
        cur.mode_is_final = self._created_with_final_mode(st.mode)
        cur.owner_is_final = self._uid == st.uid and self._chain[-1].group == st.gid
        mode = stat_mod.S_IMODE(st.mode) if cur.mode_is_final else 0o600
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL  # O_EXCL: a symbolic link is not followed
        if lst is None:
            try:
                cur.fd = os.open(cur.name, flags, mode, dir_fd=cur.dir_fd)
                cur.in_place = True
            except FileExistsError:
                pass  # it appeared after all: replace it like an existing file
        if cur.fd is None:
            cur.temp = self._temp_name()
            cur.fd = os.open(cur.temp, flags, mode, dir_fd=cur.dir_fd)
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
        """*create* makes the entry under a temporary name in the file's directory."""
        cur.temp = self._temp_name()
        create(cur.temp, cur.dir_fd)
        self._commit_name(cur)

    def _make_hardlink(self, cur):
        source = self._link_name(cur.attr)
        failed = f"Could not hard link {os.fsdecode(cur.target)} -> {os.fsdecode(source)}"
        cur.temp = self._temp_name()
        try:
            source_dir, source_name = self._open_parent(source)
            try:
                os.link(source_name, cur.temp, src_dir_fd=source_dir, dst_dir_fd=cur.dir_fd,
                        follow_symlinks=False)
            finally:
                os.close(source_dir)
        except (OSError, _Refused) as exc:
            cur.temp = None
            self._error(f"{failed}: {exc}" if isinstance(exc, _Refused)
                        else f"{failed}: ERR={exc.strerror}")
            self._current = None
            return
        self._commit_name(cur)
        self.stats.files += 1
        self._current = None  # a hard link has no attributes of its own to set

    def _make_node(self, cur):
        mode = cur.stat.mode
        if stat_mod.S_ISFIFO(mode):
            self._make_special(cur, lambda tmp, dir_fd: os.mkfifo(tmp, 0o600, dir_fd=dir_fd))
        elif stat_mod.S_ISCHR(mode) or stat_mod.S_ISBLK(mode):
            self._make_special(cur, lambda tmp, dir_fd: os.mknod(
                tmp, stat_mod.S_IFMT(mode) | 0o600, cur.stat.rdev, dir_fd=dir_fd))
        elif stat_mod.S_ISSOCK(mode):
            self._message("info", f"Socket not restored: {os.fsdecode(cur.target)}")
            self._current = None
        else:
            self._error(f"Unknown special file {os.fsdecode(cur.target)}")
            self._current = None

    def _commit_name(self, cur):
        """Rename the temporary name into place (replacing what is there)."""
        dir_fd = cur.dir_fd
        try:
            os.replace(cur.temp, cur.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except IsADirectoryError:
            os.rmdir(cur.name, dir_fd=dir_fd)  # only an empty directory can be replaced
            self._created_dirs.discard(cur.target)
            os.replace(cur.temp, cur.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
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
                self._set_fd_attributes(fd, cur.target, cur.stat, chown=not cur.owner_is_final,
                                        chmod=not cur.mode_is_final)
                cur.fd = None
                os.close(fd)
                if cur.temp is not None:
                    self._commit_name(cur)
            else:
                self._set_attributes(cur)
            self.stats.files += 1
        except OSError as exc:
            self._os_error(exc, f"Could not complete {os.fsdecode(cur.target)}", cur)

    def _set_fd_attributes(self, fd, target, st, chown=True, chmod=True):
        """Owner, mode, times of a regular file or a directory through its descriptor."""
        try:
            if self.is_root and chown:
                os.fchown(fd, st.uid, st.gid)
            if chmod:
                os.fchmod(fd, stat_mod.S_IMODE(st.mode))
            os.utime(fd, ns=(st.atime * 1_000_000_000, st.mtime * 1_000_000_000))
        except OSError as exc:
            self._error(f"Cannot set attributes of {os.fsdecode(target)}: ERR={exc.strerror}")

    def _set_directory_attributes(self, target, st):
        try:
            parent_fd, name = self._locate(target, create=False)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | self._nofollow,
                         dir_fd=parent_fd)
        except FileNotFoundError:
            self._error(f"Cannot set attributes of {os.fsdecode(target)}: it vanished")
            return
        except _Refused as exc:
            self._error(f"Cannot set attributes of {os.fsdecode(target)}: {exc}")
            return
        except OSError as exc:
            self._error(f"Cannot set attributes of {os.fsdecode(target)}: ERR={exc.strerror}")
            return
        try:
            self._set_fd_attributes(fd, target, st)
        finally:
            os.close(fd)

    def _set_attributes(self, cur):
        """Owner, mode, times of a symbolic link or special file, by its name."""
        st, name, dir_fd = cur.stat, cur.name, cur.dir_fd
        try:
            if self.is_root:
                os.chown(name, st.uid, st.gid, dir_fd=dir_fd, follow_symlinks=False)
            if cur.attr.file_type != FT_LNK:
                os.chmod(name, stat_mod.S_IMODE(st.mode), dir_fd=dir_fd)
            os.utime(name, ns=(st.atime * 1_000_000_000, st.mtime * 1_000_000_000),
                     dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            self._error(f"Cannot set attributes of {os.fsdecode(cur.target)}: it vanished")
        except OSError as exc:
            self._error(f"Cannot set attributes of {os.fsdecode(cur.target)}: ERR={exc.strerror}")

    def _discard(self, cur):
        """Drop an incomplete file: its descriptor, and its temporary or new name."""
        if cur.fd is not None:
            try:
                os.close(cur.fd)
            except OSError:
                pass
            cur.fd = None
        partial = cur.temp if cur.temp is not None else cur.name if cur.in_place else None
        cur.temp, cur.in_place = None, False
        if partial is not None:
            try:
                os.unlink(partial, dir_fd=cur.dir_fd)
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
