"""Backup side of the file daemon: walk a FileSet and turn files into records.

Blocking code for a worker thread; no Twisted.  Bareos behaviour followed
(``findlib/find.cc``, ``findlib/find_one.cc``, ``filed/backup.cc``):

* Include blocks in order, their ``File`` entries in order; a top-level entry is
  always taken (patterns apply below it).
* A directory is examined first (matching, ``Exclude Dir Containing``, one-fs,
  recursion), its contents follow, and the directory's own record (FT_DIREND, name
  with a trailing ``/``) comes *after* its contents, so a restore sets its mode and
  times after creating the children.  We list directories sorted by name (Bareos
  uses readdir order).
* The second and later names of an inode with ``st_nlink > 1`` (regular files and
  specials, not directories or symlinks) become FT_LNKSAVED with ``link`` = the
  first name and LStat LinkFI = the first FileIndex; their digest record repeats
  the first file's digest.  ``H`` (Hard Links = no) turns this off.
* Regular files: FT_REGE when empty and readable by everybody, else FT_REG; a
  fifo is FT_SPEC (FT_FIFO only for a top-level entry with ReadFifo); sockets are
  skipped; devices are FT_SPEC.
* Incremental/differential ``since``: a non-directory is skipped when
  ``mtime < since`` and (MtimeOnly or ``ctime < since``).  Bareos also skips
  unchanged directories (FT_DIRNOCHG); we send every directory by default
  (``unchanged_dirs=True``) so a restore of any point in time has them all.
* Records per file: attributes (stream 1); data (2/6/29/30, or legacy 4/7) for a
  regular non-empty file; the digest (3/10/17/18) for a regular file (empty ones
  too) when a Signature is set.

Differences from Bareos, on purpose: a directory we cannot list is still sent
(Bareos drops it with FT_NOOPEN); file-changed checks run always (Bareos only with
``CheckFileChanges``); ACL/xattr, plugins, encryption, ReadFifo data and raw
devices are not done here.
"""

import os
import stat as stat_mod
from dataclasses import dataclass, field

from .attributes import (
    FT_DIREND, FT_FIFO, FT_LNK, FT_LNKSAVED, FT_REG, FT_REGE, FT_SPEC, AttributeRecord, encode_lstat,
)
from .fileset import DEFAULT_OPTIONS, Options
from .streams import (
    STREAM_UNIX_ATTRIBUTES, CompressionError, Compressor, DigestUnavailable, new_digest,
    pack_offset, select_data_stream,
)

DEFAULT_CHUNK_SIZE = 64 * 1024
_O_NOATIME = getattr(os, "O_NOATIME", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_MODE_RALL = stat_mod.S_IRUSR | stat_mod.S_IRGRP | stat_mod.S_IROTH


@dataclass
class FileItem:
    """One file to back up, as the walk found it."""

    path: bytes                 # the name as on disk (no trailing slash)
    stat: os.stat_result        # lstat taken when the walk reached it
    file_type: int              # FT_*
    options: Options = field(default_factory=lambda: DEFAULT_OPTIONS)
    link: bytes = b""           # symlink target, or the first name of a hard link (FT_LNKSAVED)
    link_fi: int = 0            # FileIndex of that first name (FT_LNKSAVED)
    file_index: int = 0         # assigned by walk(), 1, 2, 3, ...
    top_level: bool = False

    @property
    def fname(self):
        """The name sent in the attribute record (directories end with one ``/``)."""
        if self.file_type == FT_DIREND:
            stripped = self.path.rstrip(b"/")
            return stripped + b"/"
        return self.path

    @property
    def has_data(self):
        return self.file_type in (FT_REG, FT_REGE)


@dataclass
class Record:
    """One record for the SD: ``"<file_index> <stream> 0"`` header + ``data``.

    Consecutive records with the same (file_index, stream) belong to one header
    (one data packet each); a new header starts when either changes."""

    file_index: int
    stream: int
    data: bytes


@dataclass
class BackupStats:
    files: int = 0          # records of stream 1 (JobFiles)
    read_bytes: int = 0     # bytes read from files (ReadBytes)
    job_bytes: int = 0      # data payload bytes sent, after compression (JobBytes)
    errors: int = 0
    last_fname: bytes = b""
    skipped: dict = field(default_factory=dict)


def _report(callback, path, message):
    if callback is not None:
        callback(path, message)


def _err_text(exc):
    return exc.strerror or str(exc)


class _Walker:
    def __init__(self, spec, since, on_error, on_info, first_index, unchanged_dirs, stats):
        self.spec = spec
        self.since = since
        self.on_error = on_error
        self.on_info = on_info
        self.next_index = first_index
        self.unchanged_dirs = unchanged_dirs
        self.links = {}  # (dev, ino) -> (first path, first FileIndex)
        self.stats = stats

    def error(self, path, message):
        if self.stats is not None:
            self.stats.errors += 1
        _report(self.on_error, path, message)

    def info(self, path, message):
        _report(self.on_info, path, message)

    def number(self, item):
        item.file_index = self.next_index
        self.next_index += 1
        return item

    def unchanged(self, st, options):
        if self.since is None:
            return False
        since = self.since
        return st.st_mtime < since and (options.mtime_only or st.st_ctime < since)

    def examine(self, path, parent_dev, top_level, include):
        """``(item or None, children or None, stat)``; children: sorted names to descend into.

        Items that are not descended into come back numbered; a directory to descend
        into is numbered when its contents are done."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if top_level:
                self.error(path, f'Could not stat "{os.fsdecode(path)}": ERR=No such file or directory')
            else:
                self.error(path, f'"{os.fsdecode(path)}" vanished during backup: not saved')
            return None, None, None
        except OSError as exc:
            self.error(path, f'Could not stat "{os.fsdecode(path)}": ERR={_err_text(exc)}')
            return None, None, None
        mode = st.st_mode
        is_dir = stat_mod.S_ISDIR(mode)
        if top_level:
            options = self.spec.top_options(include)
        else:
            options = self.spec.decide(path, is_dir, include)
            if options is None:
                return None, None, None
        if is_dir:
            return self.examine_dir(path, st, options, parent_dev, top_level, include)
        if self.unchanged(st, options):
            return None, None, None
        if options.hardlinks and st.st_nlink > 1 and not stat_mod.S_ISLNK(mode):
            key = (st.st_dev, st.st_ino)
            first = self.links.get(key)
            if first is not None:
                if first[0] == path:
                    return None, None, None
                return self.number(FileItem(path, st, FT_LNKSAVED, options, first[0], first[1],
                                            top_level=top_level)), None, st
        if stat_mod.S_ISREG(mode):
            ftype = FT_REGE if st.st_size == 0 and (mode & _MODE_RALL) == _MODE_RALL else FT_REG
            item = FileItem(path, st, ftype, options, top_level=top_level)
        elif stat_mod.S_ISLNK(mode):
            try:
                target = os.readlink(path)
            except OSError as exc:
                self.error(path, f'Could not follow link "{os.fsdecode(path)}": ERR={_err_text(exc)}')
                return None, None, None
            item = FileItem(path, st, FT_LNK, options, target, top_level=top_level)
        elif stat_mod.S_ISSOCK(mode):
            self.info(path, f"Socket file skipped: {os.fsdecode(path)}")
            return None, None, None
        elif stat_mod.S_ISFIFO(mode) and top_level and options.read_fifo:
            item = FileItem(path, st, FT_FIFO, options, top_level=top_level)
        else:
            item = FileItem(path, st, FT_SPEC, options, top_level=top_level)
        self.number(item)
        if options.hardlinks and st.st_nlink > 1 and not stat_mod.S_ISLNK(mode):
            self.links[(st.st_dev, st.st_ino)] = (path, item.file_index)
        return item, None, st

    def examine_dir(self, path, st, options, parent_dev, top_level, include):
        for ignore in include.ignore_dirs if include is not None else ():
            marker = os.path.join(path, os.fsencode(ignore))
            if os.path.lexists(marker):
                return None, None, None
        send = self.unchanged_dirs or not self.unchanged(st, options)
        item = FileItem(path, st, FT_DIREND, options, top_level=top_level) if send else None
        if not top_level and not options.recurse:
            self.info(path, f"Recursion turned off. Will not descend into {os.fsdecode(path)}")
            return (self.number(item) if item else None), None, st
        if not top_level and st.st_dev != parent_dev and options.one_fs:
            self.info(path, f"{os.fsdecode(path)} is a different filesystem. Will not descend into it.")
            return (self.number(item) if item else None), None, st
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            self.error(path, f'Could not open directory "{os.fsdecode(path)}": ERR={_err_text(exc)}')
            names = []
        return item, names, st

    def walk_top(self, top, include):
        top = os.fsencode(top)
        item, names, st = self.examine(top, None, True, include)
        if names is None:
            if item is not None:
                yield item
            return
        stack = [(item, top, st.st_dev, iter(names))]
        while stack:
            dir_item, dir_path, dev, names_iter = stack[-1]
            name = next(names_iter, None)
            if name is None:
                stack.pop()
                if dir_item is not None:
                    yield self.number(dir_item)
                continue
            child = dir_path + name if dir_path.endswith(b"/") else dir_path + b"/" + name
            item, names, st = self.examine(child, dev, False, include)
            if names is not None:
                stack.append((item, child, st.st_dev, iter(names)))
            elif item is not None:
                yield item


def walk(spec, since=None, on_error=None, on_info=None, first_index=1, unchanged_dirs=True,
         stats=None):
    """Yield the FileItems of a FileSetSpec in Bareos order, numbered from ``first_index``.

    ``since``: unix time of the previous backup for Incremental/Differential.
    ``on_error(path, message)``: files that vanished or could not be read or listed
    (they are skipped, the walk goes on).  ``on_info(path, message)``: notes such as
    "different filesystem" or "socket skipped".
    """
    walker = _Walker(spec, since, on_error, on_info, first_index, unchanged_dirs, stats)
    for include in spec.includes:
        for top in include.files:
            yield from walker.walk_top(top, include)


# --- reading ------------------------------------------------------------------------
_compressors = {}


def compressor_for(options, on_error=None, path=b""):
    """The Compressor for an Options block (cached), or None."""
    if not options.compression:
        return None
    key = (options.compression, options.compression_level)
    if key not in _compressors:
        try:
            _compressors[key] = Compressor(options.compression, options.compression_level or 6)
        except CompressionError as exc:
            _report(on_error, path, f"{exc}; file saved uncompressed")
            _compressors[key] = None
    return _compressors[key]


def data_stream_for(options):
    return select_data_stream(compressor_for(options), options.sparse)


def _digest_for(options, on_error, path):
    if not options.signature:
        return None, 0
    try:
        return new_digest(options.signature)
    except DigestUnavailable as exc:
        _report(on_error, path, str(exc))
        return None, 0


def _open_for_read(path, options):
    flags = os.O_RDONLY | _O_NOFOLLOW
    if options.no_atime and _O_NOATIME:
        try:
            return os.open(path, flags | _O_NOATIME)
        except PermissionError:
            pass  # O_NOATIME needs ownership or CAP_FOWNER
    return os.open(path, flags)


def read_file_chunks(item, options=None, chunk_size=DEFAULT_CHUNK_SIZE, on_error=None, stats=None,
                     digest_sink=None):
    """Yield ``(stream, payload)``: the data records of one regular file, then its digest.

    Data is read in ``chunk_size`` pieces, compressed per piece when asked, with
    all-zero pieces skipped and the 8-byte offset prefixed when sparse; the digest
    is over the original bytes.  A file that cannot be opened or read, or that
    changed while it was read, is reported through ``on_error(path, message)``.
    ``digest_sink(digest_stream, digest)`` receives the digest too (hard links).
    """
    options = options or item.options
    path = item.path
    size = item.stat.st_size
    digest, digest_stream = _digest_for(options, on_error, path)
    compressor = compressor_for(options, on_error, path)
    data_stream = select_data_stream(compressor, options.sparse)
    if size > 0 or item.file_type == FT_FIFO:
        try:
            fd = _open_for_read(path, options)
        except OSError as exc:
            if stats is not None:
                stats.errors += 1
            _report(on_error, path, f'Cannot open "{os.fsdecode(path)}": ERR={_err_text(exc)}.')
            return
        try:
            yield from _read_data(fd, item, options, chunk_size, digest, compressor, data_stream,
                                  on_error, stats)
        finally:
            os.close(fd)
        if options.keep_atime:
            try:
                os.utime(path, ns=(item.stat.st_atime_ns, item.stat.st_mtime_ns), follow_symlinks=False)
            except OSError:
                pass
    if digest is not None:
        value = digest.digest()
        if digest_sink is not None:
            digest_sink(digest_stream, value)
        yield digest_stream, value


def _read_data(fd, item, options, chunk_size, digest, compressor, data_stream, on_error, stats):
    path, size = item.path, item.stat.st_size
    read = os.read
    update = digest.update if digest is not None else None
    compress = compressor.compress if compressor is not None else None
    sparse = options.sparse
    zero = bytes(chunk_size) if sparse else None
    offset = 0
    sent = 0
    while True:
        try:
            chunk = read(fd, chunk_size)
        except OSError as exc:
            if stats is not None:
                stats.errors += 1
            _report(on_error, path, f"Read error on file {os.fsdecode(path)}. ERR={_err_text(exc)}")
            break
        if not chunk:
            break
        n = len(chunk)
        if update is not None:
            update(chunk)
        if sparse:
            if n == chunk_size and offset + n < size and chunk == zero:
                offset += n
                continue
            payload = pack_offset(offset) + (compress(chunk) if compress else chunk)
        else:
            payload = compress(chunk) if compress else chunk
        offset += n
        sent += len(payload)
        yield data_stream, payload
    if stats is not None:
        stats.read_bytes += offset
        stats.job_bytes += sent
    try:
        now = os.fstat(fd)
    except OSError:
        return
    before = item.stat
    if (now.st_mtime_ns != before.st_mtime_ns or now.st_size != before.st_size
            or now.st_ctime_ns != before.st_ctime_ns or offset != before.st_size):
        if stats is not None:
            stats.errors += 1
        _report(on_error, path, f"{os.fsdecode(path)}: file changed during backup")


def file_records(item, chunk_size=DEFAULT_CHUNK_SIZE, on_error=None, stats=None, link_digests=None):
    """Yield ``(stream, payload)`` for one FileItem: attributes, data, digest."""
    options = item.options
    data_stream = data_stream_for(options)
    lstat = encode_lstat(item.stat, item.link_fi, data_stream)
    record = AttributeRecord(item.file_index, item.file_type, item.fname, lstat, item.link)
    if stats is not None:
        stats.files += 1
        stats.last_fname = item.path
    yield STREAM_UNIX_ATTRIBUTES, record.encode()
    key = (item.stat.st_dev, item.stat.st_ino)
    if item.has_data:
        sink = None
        if link_digests is not None and options.hardlinks and item.stat.st_nlink > 1:
            sink = lambda stream, value: link_digests.__setitem__(key, (stream, value))
        yield from read_file_chunks(item, options, chunk_size, on_error, stats, sink)
    elif item.file_type == FT_LNKSAVED and link_digests is not None:
        saved = link_digests.get(key)
        if saved is not None:
            yield saved


def backup_records(spec, since=None, on_error=None, on_info=None, chunk_size=DEFAULT_CHUNK_SIZE,
                   stats=None, first_index=1, unchanged_dirs=True):
    """Every Record of a backup, in stream order, one file after the other."""
    link_digests = {}
    for item in walk(spec, since, on_error, on_info, first_index, unchanged_dirs, stats):
        for stream, data in file_records(item, chunk_size, on_error, stats, link_digests):
            yield Record(item.file_index, stream, data)
