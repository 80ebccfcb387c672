"""An independent reader of BB02 file volumes, written for the tests from PROTOCOL.md §8.

It shares no code with ``bareos.volume``: if both agree, the format is what the
reference describes, not merely what our writer and reader agree on.
"""

import struct
import zlib

RECORD_HEADER = struct.Struct(">iiI")
VOL_LABEL, SOS_LABEL, EOS_LABEL = -2, -4, -5


class CorruptVolume(Exception):
    pass


def blocks(path):
    """(offset, block number, VolSessionId, VolSessionTime, payload) for every block."""
    with open(path, "rb") as stream:
        data = stream.read()
    offset = 0
    while offset < len(data):
        checksum, size = struct.unpack_from(">II", data, offset)
        number, = struct.unpack_from(">I", data, offset + 8)
        magic = data[offset + 12:offset + 16]
        session_id, session_time = struct.unpack_from(">II", data, offset + 16)
        if magic != b"BB02":
            raise CorruptVolume(f"no BB02 block at offset {offset}")
        if size < 24 or offset + size > len(data):
            raise CorruptVolume(f"bad block size {size} at offset {offset}")
        block = data[offset:offset + size]
        if zlib.crc32(block[4:]) != checksum:
            raise CorruptVolume(f"CRC mismatch in block at offset {offset}")
        yield offset, number, session_id, session_time, block[24:]
        offset += size


def records(path):
    """(VolSessionId, VolSessionTime, FileIndex, Stream, data) with split records joined."""
    pending = {}                                   # session -> [file_index, stream, total, parts]
    for _offset, _number, session_id, session_time, payload in blocks(path):
        session = (session_id, session_time)
        position = 0
        while len(payload) - position >= RECORD_HEADER.size:
            file_index, stream, size = RECORD_HEADER.unpack_from(payload, position)
            position += RECORD_HEADER.size
            piece = payload[position:position + size]
            position += len(piece)
            if stream < 0:                         # continuation of the session's open record
                record = pending.get(session)
                if record is None or record[1] != -stream or record[0] != file_index:
                    raise CorruptVolume(f"continuation without a record in session {session}")
                record[3].append(piece)
            else:
                if session in pending:
                    raise CorruptVolume(f"new record while one is unfinished in {session}")
                record = [file_index, stream, size, [piece]]
                pending[session] = record
            if sum(len(p) for p in record[3]) >= record[2]:
                del pending[session]
                yield session_id, session_time, record[0], record[1], b"".join(record[3])
    if pending:
        raise CorruptVolume(f"volume ends inside a record of session(s) {sorted(pending)}")


def c_strings(data, count):
    values, position = [], 0
    for _ in range(count):
        end = data.index(b"\x00", position)
        values.append(data[position:end].decode("utf-8", "replace"))
        position = end + 1
    return values, position


def volume_label(data):
    """The fields of a volume label record (§8)."""
    if not data.startswith(b"Bareos 2.0 immortal\n\x00"):
        raise CorruptVolume("volume label has no Bareos id")
    position = len(b"Bareos 2.0 immortal\n\x00")
    version, = struct.unpack_from(">I", data, position)
    position += 4 + 8 + 8 + 8 + 8                # VerNum, label btime, write btime, 2 floats
    names, _ = c_strings(data[position:], 9)
    keys = ["volume_name", "prev_volume_name", "pool_name", "pool_type", "media_type",
            "host_name", "label_prog", "prog_version", "prog_date"]
    return {"version": version, **dict(zip(keys, names))}


def session_label(data):
    if not data.startswith(b"Bareos 2.0 immortal\n\x00"):
        raise CorruptVolume("session label has no Bareos id")
    position = len(b"Bareos 2.0 immortal\n\x00")
    version, job_id = struct.unpack_from(">II", data, position)
    position += 4 + 4 + 8 + 8
    names, _ = c_strings(data[position:], 6)
    keys = ["pool_name", "pool_type", "job_name", "client_name", "job", "fileset_name"]
    return {"version": version, "job_id": job_id, **dict(zip(keys, names))}


def attribute_name(data):
    """The file name of a stream-1 attribute record: ``"<FI> <type> <fname>\\0..."``."""
    header = data.split(b"\x00", 1)[0]
    _index, file_type, name = header.split(b" ", 2)
    return int(file_type), name
