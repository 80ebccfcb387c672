"""Accurate mode (``filed/accurate.cc``): the director's file list decides what is saved.

The director sends, after ``accurate files=N``, one packet per file of the
backup chain: ``<fname>\\0<lstat>\\0<digest>\\0<delta_seq>``.  During the
backup a file is saved when it is not in the list or when its mtime, ctime or
size differ from the listed LStat (Bareos' default accurate options ``mcs``;
with ``mtime_only`` ctime is not looked at); the since time is not used.
Directories are always sent (as the walk does).  After the walk every listed
name that was not seen is sent as an FT_DELETED attribute record with the
listed LStat, so a restore of this point in time leaves it out.

FileIndexes stay dense: the walk numbers every file it finds, so the records
of skipped files are renumbered here (hard links follow their first name).
"""

from .attributes import FT_DELETED, FT_DIREND, FT_LNKSAVED, AttributeRecord, decode_lstat
from .streams import STREAM_UNIX_ATTRIBUTES


def parse_entry(packet):
    """``(fname, lstat_text)`` of one accurate list packet, or None."""
    parts = bytes(packet).split(b"\0")
    if len(parts) < 2 or not parts[0]:
        return None
    return parts[0], parts[1].decode("ascii", "replace")


def changed(st, lstat_text, mtime_only=False):
    """True when the file on disk differs from the listed LStat (``mcs``)."""
    try:
        saved = decode_lstat(lstat_text)
    except ValueError:
        return True
    if int(st.st_mtime) != saved.mtime or st.st_size != saved.size:
        return True
    return not mtime_only and int(st.st_ctime) != saved.ctime


def accurate_records(spec, listed, on_error=None, on_info=None, stats=None, first_index=1,
                     mtime_only=False, chunk_size=None):
    """The Records of an accurate backup: changed and new files, then the deleted ones."""
    from .walk import DEFAULT_CHUNK_SIZE, Record, file_records, walk

    chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
    seen = set()
    renumber = {}
    link_digests = {}
    next_index = first_index
    for item in walk(spec, None, on_error, on_info, first_index, True, stats):
        fname = item.fname
        saved = listed.get(fname)
        if saved is not None:
            seen.add(fname)
            if item.file_type != FT_DIREND and not changed(item.stat, saved, mtime_only):
                continue
        renumber[item.file_index] = next_index
        item.file_index = next_index
        next_index += 1
        if item.file_type == FT_LNKSAVED:
            item.link_fi = renumber.get(item.link_fi, 0)
        for stream, data in file_records(item, chunk_size, on_error, stats, link_digests):
            yield Record(item.file_index, stream, data)
    for fname, lstat_text in listed.items():
        if fname in seen:
            continue
        record = AttributeRecord(next_index, FT_DELETED, fname, lstat_text)
        if stats is not None:
            stats.files += 1
            stats.last_fname = fname
        yield Record(next_index, STREAM_UNIX_ATTRIBUTES, record.encode())
        next_index += 1
