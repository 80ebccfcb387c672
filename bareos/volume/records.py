"""Volume records: what a storage daemon stores for every piece of a file.

A record is ``(FileIndex, Stream, data)``.  On a BB02 volume it is preceded by
a 12-byte big-endian header ``int32 FileIndex, int32 Stream, uint32 DataSize``
(the session id and time live in the block header, not in the record).
A negative FileIndex marks a label; a negative Stream in a header marks the
continuation of a record that did not fit into the previous block of its
session (see :mod:`bareos.volume.blocks`).
"""

import struct
from typing import NamedTuple

# Label types, stored in the FileIndex field of a label record.
PRE_LABEL = -1  # volume labelled but never written
VOL_LABEL = -2  # volume label
EOM_LABEL = -3  # end of medium
SOS_LABEL = -4  # start of session (Stream = JobId)
EOS_LABEL = -5  # end of session (Stream = JobId)
EOT_LABEL = -6  # end of tape
SOB_LABEL = -7  # start of object
EOB_LABEL = -8  # end of object

LABEL_NAMES = {
    PRE_LABEL: "PRE_LABEL",
    VOL_LABEL: "VOL_LABEL",
    EOM_LABEL: "EOM_LABEL",
    SOS_LABEL: "SOS_LABEL",
    EOS_LABEL: "EOS_LABEL",
    EOT_LABEL: "EOT_LABEL",
    SOB_LABEL: "SOB_LABEL",
    EOB_LABEL: "EOB_LABEL",
}

RECORD_HEADER = struct.Struct(">iiI")
RECORD_HEADER_SIZE = RECORD_HEADER.size  # 12

# Bareos' readers discard a block whose record header announces
# DataSize >= MAX_BLOCK_LENGTH ("Sanity check failed"), and the first header
# of a split record carries the record's total size, so no record may reach it.
MAX_BLOCK_LENGTH = 20_000_000
MAX_RECORD_DATA = MAX_BLOCK_LENGTH - 1


class Record(NamedTuple):
    """One record: a FileIndex, a Stream and its bytes."""

    file_index: int
    stream: int
    data: bytes

    @property
    def is_label(self) -> bool:
        return self.file_index < 0

    def __repr__(self) -> str:
        fi = LABEL_NAMES.get(self.file_index, self.file_index)
        return f"Record(file_index={fi}, stream={self.stream}, len={len(self.data)})"
