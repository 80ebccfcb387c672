"""Verify jobs on the file daemon: report files to the director, which compares them.

Each file is reported as its attribute record and its digest record, framed as the
storage daemon forwards attributes (``ATTRIBUTE_HEADER`` with VolSessionId 0, then the
record), on the director connection.  The disk levels (InitCatalog, Catalog,
DiskToCatalog) report the FileSet walked as a backup walks it; VolumeToCatalog
reports what the SD reads back from the volumes, with the digest recomputed from the
data read (so a damaged volume shows as a changed digest).
"""

import hashlib

from bareos.filedaemon.attributes import AttributeRecord
from bareos.filedaemon.streams import (
    DATA_STREAMS, DIGEST_STREAMS, DIGESTS, STREAM_FILE_DATA, STREAM_MD5_DIGEST, STREAM_TYPE_MASK,
    STREAM_UNIX_ATTRIBUTES, CompressionError, decode_data_record)
from bareos.filedaemon.restore import RestoreStats
from bareos.filedaemon.walk import backup_records
from bareos.protocol.framing import ATTRIBUTE_HEADER

#: ``verify level=`` words that walk the FileSet on disk.
DISK_LEVELS = ("init", "catalog", "disk_to_catalog")
#: ... that read the volumes: ``volume`` reports, ``data`` checks the digests itself.
VOLUME_LEVELS = ("volume", "data")
_ZEROS = bytes(1 << 16)


def report_packet(file_index, stream, data):
    return ATTRIBUTE_HEADER.pack(0, 0, file_index, stream, len(data)) + bytes(data)


def disk_reports(spec, on_error, on_info, stats):
    """(a thread) The report packets of the files of FileSet ``spec`` on disk."""
    for record in backup_records(spec, None, on_error, on_info, stats=stats):
        kind = record.stream & STREAM_TYPE_MASK
        if kind == STREAM_UNIX_ATTRIBUTES or kind in DIGEST_STREAMS:
            yield report_packet(record.file_index, kind, record.data)


class VolumeVerifier:
    """Takes the records a restore would write (in a Restorer's place) and reports each
    file with the digest of the data read back.

    The digest algorithm is the one the previous file's digest record named (MD5 at
    first); a file whose digest record names another, or that had no data on the volume
    (a hard link to a file saved before, an empty file), is reported with the stored
    digest, unrecomputed.  ``report(packet)`` is called in the worker thread; without it
    (level Data) nothing is reported, and ``on_error`` names each file whose recomputed
    digest differs from the one stored on the volume.
    """

    def __init__(self, report, on_error):
        self.report = report
        self.on_error = on_error
        self.stats = RestoreStats()
        self._guess = STREAM_MD5_DIGEST
        self._attributes = None          # the current file's AttributeRecord
        self._hash = None
        self._position = 0
        self._digest = None              # (stream, digest bytes) to report for it
        self._readable = True            # its data could be decoded and hashed

    def record(self, file_index, stream, data):
        kind = stream & STREAM_TYPE_MASK
        if kind == STREAM_UNIX_ATTRIBUTES:
            self._end_file()
            attributes = data if data.__class__ is AttributeRecord else AttributeRecord.decode(data)
            self._attributes = attributes
            self._hash = hashlib.new(DIGESTS[DIGEST_STREAMS[self._guess]][0])
            self._position, self._digest, self._readable = 0, None, True
        elif self._attributes is None:
            return
        elif kind in DATA_STREAMS:
            self._data(kind, data)
        elif kind in DIGEST_STREAMS:
            stored = bytes(data)
            if kind == self._guess and self._readable and self._position:
                computed = self._hash.digest()
                if self.report is None and computed != stored:
                    self.stats.digest_mismatches += 1
                    self.on_error(f"{self._name()}: {DIGEST_STREAMS[kind]} digest mismatch: "
                                  f"stored {stored.hex()}, read back {computed.hex()}")
                self._digest = (kind, computed)
            else:
                self._digest = (kind, stored)
            self._guess = kind

    def _name(self):
        return self._attributes.fname.decode(errors="replace")

    def _data(self, kind, data):
        try:
            offset, plain = (None, data) if kind == STREAM_FILE_DATA else decode_data_record(kind, data)
        except CompressionError as exc:
            self.on_error(f"Cannot decode the data of {self._name()} read from the volume: {exc}")
            self._readable = False
            return
        if offset is not None:
            while self._position < offset:          # a hole of a sparse file hashes as zeros
                gap = min(offset - self._position, len(_ZEROS))
                self._hash.update(_ZEROS[:gap])
                self._position += gap
        self._hash.update(plain)
        self._position += len(plain)
        self.stats.bytes += len(plain)

    def _end_file(self):
        attributes, self._attributes = self._attributes, None
        if attributes is None:
            return
        self.stats.files += 1
        if self.report is None:
            return
        self.report(report_packet(attributes.file_index, STREAM_UNIX_ATTRIBUTES, attributes.encode()))
        if self._digest is not None:
            stream, digest = self._digest
            self.report(report_packet(attributes.file_index, stream, digest))

    def finish(self, complete=True):
        """Report the last file, also when its data was cut short (``complete`` False):
        it then has no digest, which the director reports."""
        self._end_file()
        return self.stats

    def abort(self):
        self._attributes = None
