"""The BB02 volume format (blocks, records, labels) and the File device.

Pure encode/decode lives in :mod:`records`, :mod:`labels` and :mod:`blocks`;
:mod:`device` stores volumes as files of a File device directory.
"""

from bareos.volume.blocks import (
    BLOCK_HEADER_SIZE,
    DEFAULT_BLOCK_SIZE,
    Block,
    BlockReader,
    BlockWriter,
    RecordAssembler,
    decode_records,
    encode_records,
    iter_blocks,
)
from bareos.volume.device import FileVolume, SessionWriter, split_address
from bareos.volume.errors import LabelError, TruncatedVolume, VolumeError, VolumeFull
from bareos.volume.labels import SessionLabel, VolumeLabel, btime_now
from bareos.volume.records import (
    EOM_LABEL,
    EOS_LABEL,
    EOT_LABEL,
    PRE_LABEL,
    SOS_LABEL,
    VOL_LABEL,
    Record,
)

__all__ = [
    "BLOCK_HEADER_SIZE", "DEFAULT_BLOCK_SIZE", "Block", "BlockReader", "BlockWriter",
    "RecordAssembler", "decode_records", "encode_records", "iter_blocks",
    "FileVolume", "SessionWriter", "split_address",
    "LabelError", "TruncatedVolume", "VolumeError", "VolumeFull",
    "SessionLabel", "VolumeLabel", "btime_now",
    "EOM_LABEL", "EOS_LABEL", "EOT_LABEL", "PRE_LABEL", "SOS_LABEL", "VOL_LABEL", "Record",
]
