"""The reading storage daemon's side of a copy: the ``replicate`` command and the records
framed as the file daemon's append stream (PROTOCOL.md §7.2, §7.4)."""

import struct

from bareos.protocol.framing import Signal
from bareos.storagedaemon.read import ReplicaSource
from bareos.storagedaemon.sd_replicate import parse_replicate
from bareos.volume import Record


def packets(parts):
    """Length-prefixed parts -> packets (bytes) and signals (ints)."""
    blob, out, at = b"".join(parts), [], 0
    while at < len(blob):
        (length,) = struct.unpack_from("!i", blob, at)
        at += 4
        if length < 0:
            out.append(length)
        else:
            out.append(blob[at:at + length])
            at += length
    return out


def test_a_header_per_piece_and_an_eod_between_pieces():
    source = ReplicaSource([], [])
    parts = []
    for session, record in [(1, Record(1, 1, b"attrs")), (1, Record(1, 2, b"data-a")),
                            (1, Record(1, 2, b"data-b")), (1, Record(1, 3, b"md5")),
                            (1, Record(2, 1, b"attrs2"))]:
        parts += source._frame(session, 99, record)
    assert packets(parts) == [
        b"1 1 0", b"attrs", Signal.EOD, b"1 2 0", b"data-a", b"data-b", Signal.EOD,
        b"1 3 0", b"md5", Signal.EOD, b"2 1 0", b"attrs2"]


def test_replicate_command():
    line = ("replicate JobId=7 Job=backup.2026-12-03_11.20.51_07 address=10.0.0.2 port=9103 "
            "ssl=4 Authorization=ABCD-EFGH\n")
    assert parse_replicate(line) == (7, "backup.2026-12-03_11.20.51_07", "10.0.0.2", 9103, 4,
                                     "ABCD-EFGH")
    assert parse_replicate("replicate JobId=7 Job=x address=a port=p ssl=0 Authorization=k") is None
