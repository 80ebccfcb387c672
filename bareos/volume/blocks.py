"""BB02 blocks: packing records into blocks and getting them back.

Block layout (all integers big-endian)::

    uint32 CheckSum        CRC-32 (zlib's) over bytes [4:BlockSize]
    uint32 BlockSize       including this 24-byte header
    uint32 BlockNumber
    char[4] "BB02"
    uint32 VolSessionId    every block belongs to exactly one session
    uint32 VolSessionTime
    records...             12-byte header + data, repeated

How a record is split across blocks -- checked against Bareos'
``core/src/stored/record.cc`` (``WriteHeaderToBlock`` / ``WriteRecordToBlock``
/ ``ReadRecordFromBlock``), not only against PROTOCOL.md §8:

* Every record header carries the number of data bytes *still to be written*
  at the moment the header is written (Bareos serializes ``rec->remainder``).
  For the first header that is the whole record, so the first header's
  DataSize is the record's **total** size even when only part of the data
  follows it in this block; the data simply runs to the end of the block.
* The next block of the same session starts with a continuation header:
  the same FileIndex, **-Stream**, and DataSize = the bytes remaining (which
  may again be more than the block holds; then another continuation follows).
* A header is never split: if fewer than 12 bytes are left the block is
  written short.  If exactly 12 bytes are left, Bareos still writes the
  first header there with zero data bytes after it, and all the data goes
  into continuations; we do the same.
* Readers (Bareos' too) take ``min(DataSize, bytes left in block)`` after a
  header and expect the rest in continuations of the same session.
* One Bareos quirk we do not copy: for a *zero-length* record whose header
  ends exactly at the block end, Bareos also emits an empty continuation
  header in the next block.  Nothing is missing without it, and Bareos'
  reader treats a continuation with nothing pending as an ordinary record
  start, so our shorter form reads the same; our reader skips such empty
  orphans when they come from Bareos.
* Session and volume labels (negative FileIndex) are never split: if one does
  not fit into the rest of the block, the block is closed first.
* Bareos' reader discards any block whose record header says DataSize >=
  20,000,000, so records must stay below that; a Stream of 0 cannot be split
  (its continuation would be indistinguishable) and is refused if it must be.
"""

import struct
import zlib
from typing import BinaryIO, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from bareos.volume.errors import TruncatedVolume, VolumeError
from bareos.volume.records import (
    MAX_BLOCK_LENGTH,
    MAX_RECORD_DATA,
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    Record,
)

BLOCK_ID = b"BB02"
BLOCK_HEADER = struct.Struct(">III4sII")
BLOCK_HEADER_SIZE = BLOCK_HEADER.size  # 24
DEFAULT_BLOCK_SIZE = 64512  # 512 * 126, Bareos' DEFAULT_BLOCK_SIZE
# Smallest block that always holds a block header, a record header and at
# least one data byte (so every continuation makes progress).
MIN_BLOCK_SIZE = BLOCK_HEADER_SIZE + RECORD_HEADER_SIZE + 1

try:
    # ISA-L's CRC-32: the same polynomial and values as zlib's (a drop-in, start
    # value included), carry-less-multiply code that costs about a tenth of
    # zlib's instructions; the block CRC was most of the SD's user-space work.
    from isal.isal_zlib import crc32 as block_crc32
except ImportError:  # the "speed" extra is not installed (Debian has no python3-isal)
    block_crc32 = zlib.crc32

_REST_OF_HEADER = struct.Struct(">I4sII")  # BlockNumber, id, session id, time
_U32 = struct.Struct(">I")
_pack_rec = RECORD_HEADER.pack
_unpack_rec = RECORD_HEADER.unpack_from
_unpack_blk = BLOCK_HEADER.unpack_from


def seal_block(buf: bytearray, number: int, session_id: int, session_time: int) -> bytearray:
    """Fill in the 24-byte header of a one-piece block ``buf`` (records already in place)."""
    size = len(buf)
    BLOCK_HEADER.pack_into(buf, 0, 0, size, number, BLOCK_ID, session_id, session_time)
    with memoryview(buf) as view:
        crc = block_crc32(view[4:])
    _U32.pack_into(buf, 0, crc)
    return buf


# Data pieces shorter than this are copied into the block's own buffer;
# longer ones are kept by reference and handed to the OS as they are
# (``os.pwritev``), so bulk file data is never copied on its way to disk.
_SMALL_PIECE = 4096


class OutBlock:
    """A complete block waiting to be written, kept as a list of pieces.

    ``parts[0]`` is the 24-byte header (filled in by :meth:`seal`); the other
    parts are bytes-like pieces of record headers and data.
    """

    __slots__ = ("header", "parts", "size", "first_index", "last_index")

    def __init__(self) -> None:
        self.header = bytearray(BLOCK_HEADER_SIZE)
        self.parts: list[bytes | bytearray | memoryview] = [self.header]
        self.size = BLOCK_HEADER_SIZE
        self.first_index = 0  # first positive FileIndex of a header in this block
        self.last_index = 0

    def seal(self, number: int, session_id: int, session_time: int) -> None:
        """Write number, session and CRC-32 (over bytes [4:size]) into the header."""
        header = self.header
        BLOCK_HEADER.pack_into(header, 0, 0, self.size, number, BLOCK_ID, session_id, session_time)
        crc32 = block_crc32
        with memoryview(header) as view:
            crc = crc32(view[4:])
        for part in self.parts[1:]:
            crc = crc32(part, crc)
        _U32.pack_into(header, 0, crc)

    def tobytes(self) -> bytes:
        return b"".join(self.parts)


class BlockWriter:
    """Packs the records of one session into BB02 blocks.

    ``write(record)`` appends; complete blocks accumulate until ``take()``
    (which seals them: header, block numbers from ``next_block_number`` and
    CRC).  ``finish_block()`` closes the partly filled block, so that the
    next ``take()`` returns it too (written short, as Bareos does).

    Record data that is not ``bytes`` is copied on entry, because large
    pieces are kept by reference until the block is written.
    """

    def __init__(self, max_block_size: int = DEFAULT_BLOCK_SIZE, session_id: int = 0,
                 session_time: int = 0, first_block_number: int = 0):
        if not MIN_BLOCK_SIZE <= max_block_size <= MAX_BLOCK_LENGTH:
            raise ValueError(f"max_block_size must be in [{MIN_BLOCK_SIZE}, {MAX_BLOCK_LENGTH}]")
        self.max_block_size = max_block_size
        self.session_id = session_id
        self.session_time = session_time
        self.next_block_number = first_block_number
        self._cur = OutBlock()
        self._tail = bytearray()  # small pieces of the current block, not yet in its parts
        self._done: List[OutBlock] = []
        self.completed_bytes = 0

    # -- writing -----------------------------------------------------------
    def _close_block(self) -> None:
        blk = self._cur
        if blk.size > BLOCK_HEADER_SIZE:
            if self._tail:
                blk.parts.append(self._tail)
                self._tail = bytearray()
            self._done.append(blk)
            self.completed_bytes += blk.size
            self._cur = OutBlock()

    def finish_block(self) -> None:
        """Close the current block even though it is not full."""
        self._close_block()

    def _put_data(self, blk: OutBlock, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if n < _SMALL_PIECE:
            self._tail += data
        else:
            if self._tail:
                blk.parts.append(self._tail)
                self._tail = bytearray()
            blk.parts.append(data)
        blk.size += n

    def _put_header(self, blk: OutBlock, file_index: int, stream: int, size: int) -> None:
        self._tail += _pack_rec(file_index, stream, size)
        blk.size += RECORD_HEADER_SIZE
        if file_index > 0:
            if not blk.first_index:
                blk.first_index = file_index
            blk.last_index = file_index

    def write(self, record: Record) -> None:
        file_index, stream, data = record
        if type(data) is not bytes:
            data = bytes(data)
        size = len(data)
        if size > MAX_RECORD_DATA:
            raise ValueError(f"record of {size} bytes: Bareos readers refuse records of {MAX_BLOCK_LENGTH} bytes or more")
        limit = self.max_block_size
        blk = self._cur
        if file_index < 0:
            # labels are never split
            need = RECORD_HEADER_SIZE + size
            if need > limit - BLOCK_HEADER_SIZE:
                raise ValueError(f"label record of {size} bytes does not fit into a {limit}-byte block")
            if blk.size + need > limit:
                self._close_block()
                blk = self._cur
            self._put_header(blk, file_index, stream, size)
            if size:
                self._put_data(blk, data)
            return
        room = limit - blk.size
        if room < RECORD_HEADER_SIZE:
            self._close_block()
            blk = self._cur
            room = limit - BLOCK_HEADER_SIZE
        if stream == 0 and size > room - RECORD_HEADER_SIZE:
            raise ValueError("a record with Stream 0 cannot be split across blocks")
        # first header: DataSize = total size of the record
        self._put_header(blk, file_index, stream, size)
        room -= RECORD_HEADER_SIZE
        if size <= room:
            if size:
                self._put_data(blk, data)
            return
        view = memoryview(data)
        if room:
            self._put_data(blk, view[:room])
        done = room
        per_block = limit - BLOCK_HEADER_SIZE - RECORD_HEADER_SIZE
        while True:
            self._close_block()
            blk = self._cur
            remaining = size - done
            # continuation header: -Stream, DataSize = bytes still to come
            self._put_header(blk, file_index, -stream, remaining)
            if remaining <= per_block:
                self._put_data(blk, view[done:])
                return
            self._put_data(blk, view[done:done + per_block])
            done += per_block

    def fits_in_current_block(self, record: Record) -> bool:
        """True if the whole record (header and data) fits into the open block."""
        return self._cur.size + RECORD_HEADER_SIZE + len(record.data) <= self.max_block_size

    @property
    def open_block_bytes(self) -> int:
        """Bytes in the open (unfinished) block, header included; 0 if empty."""
        n = self._cur.size
        return n if n > BLOCK_HEADER_SIZE else 0

    # -- taking blocks out -------------------------------------------------
    def take_unsealed(self) -> List[OutBlock]:
        """Complete blocks, headers not yet filled in."""
        done, self._done = self._done, []
        self.completed_bytes = 0
        return done

    def take(self) -> List[bytes]:
        """Complete blocks as bytes, sealed and numbered from ``next_block_number``."""
        blocks = []
        for blk in self.take_unsealed():
            blk.seal(self.next_block_number, self.session_id, self.session_time)
            self.next_block_number += 1
            blocks.append(blk.tobytes())
        return blocks

    def flush(self) -> List[bytes]:
        """Finish the open block and take everything."""
        self.finish_block()
        return self.take()


def encode_records(records: Iterable[Record], max_block_size: int = DEFAULT_BLOCK_SIZE, session_id: int = 0,
                   session_time: int = 0, first_block_number: int = 0) -> bytes:
    """Convenience: pack records into a byte string of complete blocks."""
    writer = BlockWriter(max_block_size, session_id, session_time, first_block_number)
    for record in records:
        writer.write(record)
    return b"".join(writer.flush())


# -- reading ---------------------------------------------------------------

class Block(NamedTuple):
    """One block as read: where it was and its bytes (header included)."""

    offset: int
    number: int
    session_id: int
    session_time: int
    data: memoryview

    @property
    def size(self) -> int:
        return len(self.data)

    def pieces(self) -> Iterator[Tuple[int, int, int, memoryview]]:
        """Raw record pieces: (FileIndex, Stream, DataSize, bytes present in this block).

        Stream is negative for a continuation; the bytes present may be fewer
        than DataSize for the last piece of a block.
        """
        data = self.data
        end = len(data)
        pos = BLOCK_HEADER_SIZE
        while end - pos >= RECORD_HEADER_SIZE:
            fi, stream, size = _unpack_rec(data, pos)
            pos += RECORD_HEADER_SIZE
            stop = min(pos + size, end)
            yield fi, stream, size, data[pos:stop]
            pos = stop


def parse_block_header(header: bytes | memoryview, offset: int = 0,
                       volume: Optional[str] = None) -> Tuple[int, int, int, int, int]:
    """Check a 24-byte header; return (checksum, size, number, session_id, session_time)."""
    crc, size, number, ident, sid, stime = _unpack_blk(header, 0)
    if ident != BLOCK_ID:
        raise VolumeError(f"not a BB02 block (id {bytes(ident)!r})", volume=volume, offset=offset)
    if size < BLOCK_HEADER_SIZE or size > MAX_BLOCK_LENGTH:
        raise VolumeError(f"insane block size {size}", volume=volume, offset=offset)
    return crc, size, number, sid, stime


class BlockReader:
    """Iterates the blocks of a volume file from ``start`` (a block boundary).

    Reads in large chunks and hands out memoryviews into them (only a block
    straddling two chunks is copied).  Every block's CRC is verified unless
    ``verify=False``.
    Raises :class:`VolumeError` (naming volume and offset) on a bad id, an
    insane size or a checksum mismatch, and :class:`TruncatedVolume` if the
    file ends inside a block.  Iteration stops at EOF or after the block that
    contains byte ``end`` (inclusive).
    """

    def __init__(self, fileobj: BinaryIO, start: int = 0, end: Optional[int] = None,
                 volume: Optional[str] = None, verify: bool = True, chunk_size: int = 4 << 20):
        self.fileobj = fileobj
        self.start = start
        self.end = end
        self.volume = volume
        self.verify = verify
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[Block]:
        f = self.fileobj
        f.seek(self.start)
        volume = self.volume
        verify = self.verify
        end = self.end
        chunk = self.chunk_size
        crc32 = block_crc32
        data = memoryview(b"")  # a chunk read from the file
        pos = 0  # next block in data
        base = self.start  # file offset of data[0]

        def read_exactly(n: int) -> bytes:
            parts = []
            while n > 0:
                more = f.read(n)
                if not more:
                    break
                parts.append(more)
                n -= len(more)
            return b"".join(parts)

        while True:
            offset = base + pos
            if end is not None and offset > end:
                return
            avail = len(data) - pos
            if avail >= BLOCK_HEADER_SIZE:
                crc, size, number, sid, stime = parse_block_header(
                    data[pos:pos + BLOCK_HEADER_SIZE], offset, volume)
                if avail >= size:
                    view = data[pos:pos + size]
                    pos += size
                else:
                    view = None
            else:
                view = None
            if view is None:
                # The next block is not wholly in this chunk.  Complete just
                # that block (copying only its first part), then go on with
                # a fresh chunk: bulk data is never copied in user space.
                head = bytes(data[pos:])
                if not head:
                    more = f.read(chunk)
                    if not more:
                        return
                    data, pos, base = memoryview(more), 0, offset
                    continue
                if len(head) < BLOCK_HEADER_SIZE:
                    head += read_exactly(BLOCK_HEADER_SIZE - len(head))
                    if len(head) < BLOCK_HEADER_SIZE:
                        raise TruncatedVolume(f"file ends {len(head)} bytes into a block header",
                                              volume=volume, offset=offset)
                    crc, size, number, sid, stime = parse_block_header(head, offset, volume)
                block = head + read_exactly(size - len(head))
                if len(block) < size:
                    raise TruncatedVolume(f"file ends inside a block of {size} bytes ({len(block)} present)",
                                          volume=volume, offset=offset)
                view = memoryview(block)
                data, pos, base = memoryview(b""), 0, offset + size
            if verify:
                actual = crc32(view[4:])
                if actual != crc:
                    raise VolumeError(
                        f"block checksum mismatch in block {number} of {size} bytes: "
                        f"stored {crc:#010x}, computed {actual:#010x}",
                        volume=volume, offset=offset)
            yield Block(offset, number, sid, stime, view)


def iter_blocks(fileobj: BinaryIO, start: int = 0, end: Optional[int] = None, volume: Optional[str] = None,
                verify: bool = True) -> Iterator[Block]:
    """Iterate the blocks of an open binary file (see :class:`BlockReader`)."""
    return iter(BlockReader(fileobj, start, end, volume, verify))


class _Partial:
    __slots__ = ("file_index", "stream", "remaining", "pieces")

    def __init__(self, file_index: int, stream: int, remaining: int,
                 pieces: list[memoryview]) -> None:
        self.file_index = file_index
        self.stream = stream
        self.remaining = remaining
        self.pieces = pieces


class RecordAssembler:
    """Reassembles records split across blocks, per (VolSessionId, VolSessionTime).

    Feed it blocks in volume order (and, for a job spanning volumes, the
    blocks of the next volume after those of the previous one); it yields
    ``(session_id, session_time, Record)`` for every complete record.
    Sessions written alternately to one volume are kept apart by the session
    id and time in each block header.

    Inconsistent continuations raise :class:`VolumeError`.  Tolerated and
    counted: a continuation with nothing pending (``orphans``: reading began
    in the middle of a record, or Bareos' empty continuation), and a record
    that was never finished because its session went on with a new record
    (``abandoned``: a writer that died mid-record).
    """

    def __init__(self, volume: Optional[str] = None,
                 sessions: Optional[set[tuple[int, int]]] = None) -> None:
        self.volume = volume
        self.sessions = sessions  # None, or a set of (id, time) to keep
        self._pending: dict[tuple[int, int], _Partial] = {}
        self.orphans = 0
        self.abandoned = 0

    @property
    def pending(self) -> int:
        """Number of sessions with a record still waiting for continuations."""
        return len(self._pending)

    def feed(self, block: Block) -> Iterator[Tuple[int, int, Record]]:
        sid, stime = block.session_id, block.session_time
        key = (sid, stime)
        if self.sessions is not None and key not in self.sessions:
            return
        pending = self._pending
        partial = pending.get(key)
        data = block.data
        end = len(data)
        pos = BLOCK_HEADER_SIZE
        while end - pos >= RECORD_HEADER_SIZE:
            fi, stream, size = _unpack_rec(data, pos)
            pos += RECORD_HEADER_SIZE
            stop = pos + size
            if stop > end:
                stop = end
            if stream < 0 and fi >= 0:
                # continuation of a record begun in an earlier block
                if partial is None:
                    if size:
                        self.orphans += 1
                    pos = stop
                    continue
                if partial.file_index != fi or partial.stream != -stream or partial.remaining != size:
                    raise VolumeError(
                        f"continuation FileIndex={fi} Stream={stream} DataSize={size} does not continue "
                        f"FileIndex={partial.file_index} Stream={partial.stream} "
                        f"(remaining {partial.remaining}) of session {sid}/{stime}",
                        volume=self.volume, offset=block.offset + pos - RECORD_HEADER_SIZE)
                piece = data[pos:stop]
                partial.pieces.append(piece)
                partial.remaining -= stop - pos
                pos = stop
                if partial.remaining == 0:
                    del pending[key]
                    yield sid, stime, Record(fi, partial.stream, b"".join(partial.pieces))
                    partial = None
                continue
            if partial is not None:
                self.abandoned += 1
                del pending[key]
                partial = None
            if stop - pos == size:
                yield sid, stime, Record(fi, stream, bytes(data[pos:stop]))
            else:
                partial = _Partial(fi, stream, size - (stop - pos), [data[pos:stop]])
                pending[key] = partial
            pos = stop

    def feed_all(self, blocks: Iterable[Block]) -> Iterator[Tuple[int, int, Record]]:
        for block in blocks:
            yield from self.feed(block)


def decode_records(data: bytes | bytearray | memoryview, volume: Optional[str] = None) -> List[Tuple[int, int, Record]]:
    """Convenience: all records of a byte string of blocks."""
    import io

    assembler = RecordAssembler(volume)
    return list(assembler.feed_all(iter_blocks(io.BytesIO(bytes(data)), volume=volume)))
