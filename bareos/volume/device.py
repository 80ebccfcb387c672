"""A File device: volumes as files ``<ArchiveDevice>/<VolumeName>``.

All of this is blocking I/O meant to run in a worker thread.  A
:class:`FileVolume` may be shared by several :class:`SessionWriter` objects
(jobs writing to one volume at the same time); appends go through a
per-volume lock, which also hands out the per-volume block numbers.  Each
``SessionWriter`` itself belongs to one thread.

Writes go straight to the OS with ``os.pwritev`` (one block per system call,
its pieces gathered from where they are: no user-space buffer), so everything
a writer has committed is in the OS when the call returns; nothing calls fsync.

Addresses are byte offsets into the volume file, as Bareos uses them for
disk volumes in JobMedia and bootstrap records (``VolAddr=start-end``;
StartFile/EndFile hold the high 32 bits, StartBlock/EndBlock the low 32).
Bareos' end address is *inclusive*: the last byte of the last block.
"""

import errno
import os
import threading
from typing import Any, BinaryIO, Iterator, Optional, Sequence, Tuple, Type

from bareos.protocol.jobstatus import JobStatus
from bareos.volume.blocks import (
    BLOCK_HEADER_SIZE,
    Block,
    DEFAULT_BLOCK_SIZE,
    BlockWriter,
    OutBlock,
    RecordAssembler,
    iter_blocks,
    parse_block_header,
)
from bareos.volume.errors import LabelError, TruncatedVolume, VolumeError, VolumeFull
from bareos.volume.labels import SessionLabel, VolumeLabel
from bareos.volume.records import EOS_LABEL, PRE_LABEL, SOS_LABEL, VOL_LABEL, Record

# errno values that mean "no more room here": continue on another volume.
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_IOV_MAX = 512


def split_address(address: int) -> Tuple[int, int]:
    """A 64-bit volume address as Bareos' (file, block) = (high 32 bits, low 32 bits)."""
    return address >> 32, address & 0xFFFFFFFF


def _check_name(volume_name: str) -> None:
    if not volume_name or "/" in volume_name or volume_name in (".", "..") or "\0" in volume_name:
        raise ValueError(f"bad volume name {volume_name!r}")


class FileVolume:
    """One volume file of a File device."""

    def __init__(self, path: str, fd: int, label: VolumeLabel, label_type: int, size: int, *,
                 max_volume_bytes: Optional[int] = None, max_block_size: int = DEFAULT_BLOCK_SIZE,
                 next_block_number: Optional[int] = None, writable: bool = True) -> None:
        self.path = path
        self.name = label.volume_name
        self.label = label
        self.label_type = label_type
        self.max_volume_bytes = max_volume_bytes
        self.max_block_size = max_block_size
        self.writable = writable
        self._fd: Optional[int] = fd
        self._size = size
        self._next_block = next_block_number  # None until the tail was scanned
        self._lock = threading.Lock()
        self.repaired_bytes = 0  # bytes of a torn last block cut off on open

    # -- creation and opening ---------------------------------------------
    @classmethod
    def create(cls, directory: "str | os.PathLike[str]", volume_name: str, label: VolumeLabel, *, label_type: int = VOL_LABEL,
               max_volume_bytes: Optional[int] = None, max_block_size: int = DEFAULT_BLOCK_SIZE,
               overwrite: bool = False) -> "FileVolume":
        """Create ``directory/volume_name`` holding block 0 with the volume label."""
        _check_name(volume_name)
        if label.volume_name != volume_name:
            raise ValueError(f"label names volume {label.volume_name!r}, file is {volume_name!r}")
        if label_type not in (VOL_LABEL, PRE_LABEL):
            raise ValueError("label_type must be VOL_LABEL or PRE_LABEL")
        path = os.path.join(os.fspath(directory), volume_name)
        writer = BlockWriter(max(DEFAULT_BLOCK_SIZE, max_block_size), 0, 0, 0)
        writer.write(label.to_record(label_type))
        (block,) = writer.flush()
        if max_volume_bytes is not None and len(block) > max_volume_bytes:
            raise ValueError(f"max_volume_bytes {max_volume_bytes} is smaller than the label block")
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        flags |= getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o640)
        except FileExistsError:
            raise VolumeError(f"volume file {path} already exists", volume=volume_name) from None
        except OSError as exc:
            raise VolumeError(f"cannot create {path}: {exc.strerror}", volume=volume_name) from exc
        try:
            written = 0
            while written < len(block):
                written += os.pwrite(fd, memoryview(block)[written:], written)
        except OSError as exc:
            os.close(fd)
            try:
                os.unlink(path)
            except OSError:
                pass
            kind: Type[VolumeError] = VolumeFull if exc.errno in _FULL_ERRNOS else VolumeError
            raise kind(f"cannot write the label of {path}: {exc.strerror}", volume=volume_name) from exc
        return cls(path, fd, label, label_type, len(block), max_volume_bytes=max_volume_bytes,
                   max_block_size=max_block_size, next_block_number=1)

    @classmethod
    def open(cls, directory: "str | os.PathLike[str]", volume_name: str, *, writable: bool = True,
             max_volume_bytes: Optional[int] = None, max_block_size: int = DEFAULT_BLOCK_SIZE) -> "FileVolume":
        """Open an existing volume, reading and validating its label."""
        _check_name(volume_name)
        path = os.path.join(os.fspath(directory), volume_name)
        flags = (os.O_RDWR if writable else os.O_RDONLY) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise VolumeError(f"no volume file {path}", volume=volume_name) from None
        except OSError as exc:
            raise VolumeError(f"cannot open {path}: {exc.strerror}", volume=volume_name) from exc
        try:
            label, label_type = cls._read_label(fd, volume_name)
            size = os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, label, label_type, size, max_volume_bytes=max_volume_bytes,
                   max_block_size=max_block_size, writable=writable)

    @staticmethod
    def _read_label(fd: int, volume_name: str) -> Tuple[VolumeLabel, int]:
        with open(fd, "rb", buffering=0, closefd=False) as f:
            try:
                block = next(iter_blocks(f, volume=volume_name), None)
            except TruncatedVolume as exc:
                raise LabelError(f"no complete label block: {exc.reason}", volume=volume_name, offset=0) from None
        if block is None:
            raise LabelError("empty volume file: no label", volume=volume_name, offset=0)
        if block.session_id or block.session_time:
            pass  # Bareos writes the label with the labelling job's session; accept it
        pieces = list(block.pieces())
        if not pieces:
            raise LabelError("label block holds no record", volume=volume_name, offset=0)
        fi, stream, size, data = pieces[0]
        if fi not in (VOL_LABEL, PRE_LABEL):
            raise LabelError(f"first record is FileIndex {fi}, not a volume label", volume=volume_name, offset=0)
        if len(data) != size:
            raise LabelError("volume label record is split", volume=volume_name, offset=0)
        try:
            label = VolumeLabel.decode(data)
        except LabelError as exc:
            raise LabelError(exc.reason, volume=volume_name, offset=0) from None
        if label.volume_name != volume_name:
            raise LabelError(f"wrong volume: the label says {label.volume_name!r}", volume=volume_name, offset=0)
        return label, fi

    # -- state -------------------------------------------------------------
    @property
    def size(self) -> int:
        """Bytes on the volume (complete blocks only)."""
        return self._size

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "FileVolume":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FileVolume {self.name!r} size={self._size}>"

    def _fileno(self) -> int:
        if self._fd is None:
            raise VolumeError("volume is closed", volume=self.name)
        return self._fd

    def _scan_tail(self) -> int:
        """Find the last block number and the end of the last complete block; return the next number.

        Walks the block headers only (no CRC).  A torn last block -- a valid
        header but the file ends inside it, as an interrupted write leaves it
        -- is cut off (``repaired_bytes``); any other garbage is an error.
        """
        fd = self._fileno()
        offset, number, file_size = 0, 0, os.fstat(fd).st_size
        while offset < file_size:
            header = os.pread(fd, BLOCK_HEADER_SIZE, offset)
            if len(header) < BLOCK_HEADER_SIZE:
                break
            _, size, block_number, _, _ = parse_block_header(header, offset, self.name)
            if offset + size > file_size:
                break                   # torn: its number is not taken either
            offset += size
            number = block_number
        if offset < file_size:
            if not self.writable:
                raise TruncatedVolume("the volume ends inside a block", volume=self.name, offset=offset)
            os.ftruncate(fd, offset)
            self.repaired_bytes = file_size - offset
        self._size = offset
        self._next_block = number + 1
        return self._next_block

    def find_end(self) -> Tuple[int, int]:
        """``(bytes, blocks)`` up to the end of the last complete block: what appending
        starts after (a torn last block is cut off, see ``_scan_tail``).  Blocks are
        numbered from 0 on a volume, so the next number is the count."""
        with self._lock:
            if self._next_block is None:
                self._scan_tail()
            assert self._next_block is not None
            return self._size, self._next_block

    # -- writing -----------------------------------------------------------
    def append_session(self, session_id: int, session_time: int, *, batch_bytes: int = 1 << 20) -> "SessionWriter":
        """A writer appending the blocks of one session (job) to this volume."""
        self._fileno()
        if not self.writable:
            raise VolumeError("volume is open read-only", volume=self.name)
        return SessionWriter(self, session_id, session_time, batch_bytes=batch_bytes)

    def _append(self, writer: "SessionWriter", blocks: Sequence[OutBlock]) -> None:
        """Write unsealed blocks (:class:`OutBlock`) for ``writer``.

        Seals (numbers, CRC) and writes as many as fit; the rest become the
        writer's overflow and VolumeFull is raised.
        """
        with self._lock:
            fd = self._fileno()
            next_block = self._scan_tail() if self._next_block is None else self._next_block
            start = self._size
            limit = self.max_volume_bytes
            fit = len(blocks)
            if limit is not None:
                total = start
                for i, blk in enumerate(blocks):
                    total += blk.size
                    if total > limit:
                        fit = i
                        break
            number = next_block
            sid, stime = writer.session_id, writer.session_time
            for blk in blocks[:fit]:
                blk.seal(number, sid, stime)
                number += 1
            written_blocks, error = self._write_blocks(fd, start, blocks[:fit])
            # account for what is really on the volume
            offset = start
            for blk in blocks[:written_blocks]:
                writer._account(offset, blk.size, blk.first_index, blk.last_index)
                offset += blk.size
            self._size = offset
            self._next_block = next_block + written_blocks
            if written_blocks < len(blocks):
                writer._overflow = list(blocks[written_blocks:])
                if error is None:
                    raise VolumeFull(
                        f"maximum volume size {limit} bytes reached at {offset} bytes; "
                        f"{len(blocks) - written_blocks} block(s) wait for the next volume",
                        volume=self.name, offset=offset)
                if error.errno in _FULL_ERRNOS:
                    raise VolumeFull(
                        f"file system full ({error.strerror}) writing {self.path}; volume ends at "
                        f"the last complete block, {len(blocks) - written_blocks} block(s) wait for "
                        "the next volume", volume=self.name, offset=offset) from error
                raise VolumeError(f"write error on {self.path}: {error.strerror}; volume ends at the "
                                  "last complete block", volume=self.name, offset=offset) from error

    def _write_blocks(self, fd: int, start: int, blocks: Sequence[OutBlock]
                      ) -> Tuple[int, Optional[OSError]]:
        """pwritev the blocks at ``start``; return (complete blocks written, OSError or None).

        One system call per block, as Bareos writes them: the kernel sizes the page-cache
        folios it allocates by the length of each write, and on this VM (free page
        reporting) the large folios of a 1 MiB write cost about eight times the system
        time per GiB of 64,512-byte writes (``bench/stream_cpu.py --path write-size``).
        On a short write or an error, a partly written block is truncated away so the
        volume stays readable up to its last complete block.
        """
        offset = start
        for complete, blk in enumerate(blocks):
            size = blk.size
            pieces: Sequence[bytes | bytearray | memoryview] = (
                blk.parts if len(blk.parts) <= _IOV_MAX else [blk.tobytes()])
            done = 0
            try:
                while done < size:
                    n = os.pwritev(fd, pieces, offset + done)
                    if n == 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    done += n
                    if done < size:  # short write (a nearly full disk): the rest in one piece
                        pieces = [memoryview(blk.tobytes())[done:]]
            except OSError as exc:
                if done:
                    try:
                        os.ftruncate(fd, offset)
                    except OSError:
                        pass
                return complete, exc
            offset += size
        return len(blocks), None

    # -- reading -----------------------------------------------------------
    def _reader(self) -> BinaryIO:
        return open(self.path, "rb", buffering=0)

    def iter_blocks(self, start: int = 0, end: Optional[int] = None, verify: bool = True
                    ) -> Iterator[Block]:
        """Blocks of the volume from ``start`` up to the block holding byte ``end``."""
        with self._reader() as f:
            yield from iter_blocks(f, start, end, self.name, verify)

    def records(self, start: int = 0, end: Optional[int] = None, assembler: Optional[RecordAssembler] = None
                ) -> Iterator[Tuple[int, int, Record]]:
        """Every record of every session: (session_id, session_time, Record), like ``bls``."""
        assembler = assembler or RecordAssembler(self.name)
        for block in self.iter_blocks(start, end):
            yield from assembler.feed(block)

    def read_session(self, session_id: int, session_time: int, start_address: int = 0,
                     end_address: Optional[int] = None, file_index_range: Optional[Tuple[int, int]] = None,
                     include_labels: bool = False, assembler: Optional[RecordAssembler] = None
                     ) -> Iterator[Record]:
        """The records of one session, reading from ``start_address`` (a block boundary).

        ``end_address`` is inclusive (Bareos' JobMedia/bootstrap convention):
        blocks starting after it are not read.  ``file_index_range`` is an
        inclusive (first, last) pair; labels (negative FileIndex) come only if
        ``include_labels``.  Pass the same ``assembler`` when a job continues
        on the next volume, so a record split across the boundary is joined.
        """
        key = (session_id, session_time)
        if assembler is None:
            assembler = RecordAssembler(self.name, sessions={key})
        elif assembler.sessions is None:
            assembler.sessions = {key}
        else:
            assembler.sessions.add(key)
        for block in self.iter_blocks(start_address, end_address):
            if block.session_id != session_id or block.session_time != session_time:
                continue
            for _, _, record in assembler.feed(block):
                fi = record.file_index
                if fi < 0:
                    if include_labels:
                        yield record
                    continue
                if file_index_range is not None:
                    first, last = file_index_range
                    if fi < first:
                        continue
                    if fi > last:
                        return  # FileIndex never decreases within a session
                yield record

    def read_label_records(self) -> Iterator[Tuple[int, int, Record]]:
        """Only the label records (volume, SOS, EOS) of the volume."""
        for sid, stime, record in self.records():
            if record.file_index < 0:
                yield sid, stime, record


class SessionWriter:
    """Appends the records of one session to a volume.

    ``write(record)`` packs records into blocks and writes complete blocks in
    batches of about ``batch_bytes``; ``flush()`` also writes the partly
    filled block (short); ``close()`` flushes and ends the session on this
    volume.  After VolumeFull (raised by write, flush or close) nothing is
    lost: call ``continue_on(new_volume)`` and go on with the writer it
    returns; a record split at the boundary continues with a continuation
    header in the first block of this session on the new volume.
    """

    def __init__(self, volume: FileVolume, session_id: int, session_time: int, *,
                 batch_bytes: int = 1 << 20, _blocks: Optional[BlockWriter] = None,
                 _overflow: Sequence[OutBlock] = ()) -> None:
        self.volume = volume
        self.session_id = session_id
        self.session_time = session_time
        self.batch_bytes = batch_bytes
        self._blocks = _blocks or BlockWriter(volume.max_block_size, session_id, session_time)
        self._overflow: list[OutBlock] = []  # blocks that did not fit on this volume
        self._carry = list(_overflow)  # blocks taken over from the previous volume
        self.closed = False
        # what this session put on this volume
        self.opened_at = volume.size  # volume address when the session began here
        self.start_address: Optional[int] = None  # offset of its first block
        self.end_offset: Optional[int] = None  # offset just past its last block
        self.first_index = 0  # first positive FileIndex in its blocks here (0: none)
        self.last_index = 0
        self.blocks_written = 0
        self.bytes_written = 0  # block bytes, headers included
        self.data_bytes = 0  # record data accepted (for JobBytes)
        self.records_written = 0

    @property
    def end_address(self) -> Optional[int]:
        """Inclusive address of the last byte of this session's last block (Bareos' EndBlock)."""
        return None if self.end_offset is None else self.end_offset - 1

    def tell(self) -> int:
        """Volume address where this session's open block will land.

        That is the end of the volume plus the complete blocks this writer
        still holds, assuming no other session writes in between (the same
        assumption Bareos makes for the EOS label's end address).
        """
        return self.volume.size + self._blocks.completed_bytes

    def jobmedia(self) -> dict[str, Any]:
        """The JobMedia fields for this session on this volume (disk addressing)."""
        start = self.start_address or 0
        end = self.end_address or 0
        sf, sb = split_address(start)
        ef, eb = split_address(end)
        return {"FirstIndex": self.first_index, "LastIndex": self.last_index,
                "StartFile": sf, "StartBlock": sb, "EndFile": ef, "EndBlock": eb,
                "VolAddr": (start, end)}

    def _account(self, offset: int, size: int, first: int, last: int) -> None:
        if self.start_address is None:
            self.start_address = offset
        self.end_offset = offset + size
        if first:
            if not self.first_index:
                self.first_index = first
            self.last_index = last
        self.blocks_written += 1
        self.bytes_written += size

    def _check(self) -> None:
        if self.closed:
            raise VolumeError("session writer is closed", volume=self.volume.name)
        if self._overflow:
            raise VolumeError("volume is full: continue with continue_on(new_volume)",
                              volume=self.volume.name, offset=self.volume.size)

    def _commit(self) -> None:
        blocks = self._blocks.take_unsealed()
        if blocks:
            self.volume._append(self, blocks)

    def _commit_carry(self) -> None:
        if self._carry:
            blocks, self._carry = self._carry, []
            self.volume._append(self, blocks)

    def write(self, record: Record) -> None:
        """Accept one record; raises VolumeFull when the volume has no room (the record is kept)."""
        self._check()
        self._blocks.write(record)
        self.data_bytes += len(record.data)
        self.records_written += 1
        # from here on the record is accepted, whatever VolumeFull says
        self._commit_carry()  # first write after continue_on: the blocks that did not fit before
        if self._blocks.completed_bytes >= self.batch_bytes:
            self._commit()

    def write_session_label(self, label_type: int, label: SessionLabel) -> None:
        """Write a SOS or EOS label (never split: it starts a new block if needed).

        For an EOS label whose start/end fields are None, they are filled in
        from this writer's addresses (disk addressing: file = high 32 bits,
        block = low 32 bits).
        """
        if label_type == EOS_LABEL:
            start = self.opened_at if self.start_address is None else self.start_address
            end = self.tell()
            if label.start_block is None:
                label.start_file, label.start_block = split_address(start)
            if label.end_block is None:
                label.end_file, label.end_block = split_address(end)
            for field in ("job_files", "job_bytes", "job_errors"):
                if getattr(label, field) is None:
                    setattr(label, field, 0)
            if label.job_status is None:
                label.job_status = ord(JobStatus.TERMINATED)
        elif label_type != SOS_LABEL:
            raise ValueError("label_type must be SOS_LABEL or EOS_LABEL")
        self.write(label.to_record(label_type))

    def flush(self) -> None:
        """Write everything accepted so far, the partly filled block included."""
        self._check()
        self._commit_carry()
        self._blocks.finish_block()
        self._commit()

    def close(self) -> None:
        """Flush and finish this session on this volume (the volume stays open)."""
        if self.closed:
            return
        self.flush()
        self.closed = True

    def continue_on(self, volume: FileVolume) -> "SessionWriter":
        """After VolumeFull: a writer for the same session on ``volume``.

        It takes over the blocks that did not fit and the partly filled
        block; they are written by its first write/flush/close.  This writer
        is closed; its addresses describe the full volume.
        """
        if self.closed:
            raise VolumeError("session writer is closed", volume=self.volume.name)
        if volume.max_block_size != self.volume.max_block_size:
            raise ValueError("the new volume must use the same block size")
        if not volume.writable:
            raise VolumeError("volume is open read-only", volume=volume.name)
        nxt = SessionWriter(volume, self.session_id, self.session_time, batch_bytes=self.batch_bytes,
                            _blocks=self._blocks, _overflow=self._overflow)
        self._overflow = []
        del self._blocks  # the new writer owns them now
        self.closed = True
        return nxt

    def __enter__(self) -> "SessionWriter":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
