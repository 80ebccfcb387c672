"""Bareos packets: a signed big-endian 32-bit length, then that many bytes.

A positive length announces a data packet, zero an empty data packet and a
negative value is a *signal* without payload.  Receivers refuse packets above
``MAX_PACKET_SIZE``; senders split longer messages into several packets.
"""

import enum
import struct

MAX_PACKET_SIZE = 1_000_000
MAX_MESSAGE_LEN = MAX_PACKET_SIZE - 4

_HEADER = struct.Struct("!i")


class Signal(enum.IntEnum):
    EOD = -1
    EOD_POLL = -2
    STATUS = -3
    TERMINATE = -4
    POLL = -5
    HEARTBEAT = -6
    HB_RESPONSE = -7
    PROMPT = -8
    BTIME = -9
    BREAK = -10
    START_SELECT = -11
    END_SELECT = -12
    INVALID_CMD = -13
    CMD_FAILED = -14
    CMD_OK = -15
    CMD_BEGIN = -16
    MSGS_PENDING = -17
    MAIN_PROMPT = -18
    SELECT_INPUT = -19
    WARNING_MSG = -20
    ERROR_MSG = -21
    INFO_MSG = -22
    RUN_CMD = -23
    YESNO = -24
    START_RTREE = -25
    END_RTREE = -26
    SUB_PROMPT = -27
    TEXT_INPUT = -28


class FramingError(Exception):
    """The peer sent something that is not a Bareos packet stream."""


# A received packet: data (bytes), or a signal (a Signal, or an int without a name here).
Packet = bytes | int


def encode_packet(payload: bytes) -> bytes:
    """One data packet; ``payload`` must fit in a single packet."""
    if len(payload) > MAX_MESSAGE_LEN:
        raise ValueError(f"packet payload of {len(payload)} bytes exceeds {MAX_MESSAGE_LEN}")
    return _HEADER.pack(len(payload)) + payload


def encode_message(payload: bytes) -> bytes:
    """A message of any length, split into packets the receiver accepts."""
    if len(payload) <= MAX_MESSAGE_LEN:
        return _HEADER.pack(len(payload)) + payload
    return b"".join(
        encode_packet(payload[i:i + MAX_MESSAGE_LEN])
        for i in range(0, len(payload), MAX_MESSAGE_LEN)
    )


def encode_signal(signal: int) -> bytes:
    return _HEADER.pack(int(signal))


def signal_name(value: int) -> str:
    try:
        return Signal(value).name
    except ValueError:
        return f"signal {value}"


class PacketDecoder:
    """Incremental decoder: feed bytes, get back data packets (bytes) and signals (Signal/int).

    Unknown negative values are passed on as plain ints so a receiver can name them.
    """

    def __init__(self, max_packet_size: int = MAX_PACKET_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_packet_size

    def feed(self, data: bytes) -> list[Packet]:
        """Return the complete packets in ``data`` plus what was buffered before.

        Raises FramingError on a length above the maximum; the caller must then
        close the connection, the stream cannot be resynchronised.

        Packets are parsed straight from ``data``; only an incomplete packet at
        its end is buffered, and a buffered packet is completed with just the
        bytes it still needs.  Each payload is copied once (into its ``bytes``).
        """
        packets: list[Packet] = []
        buffer = self._buffer
        view = memoryview(data)
        pos = 0
        if buffer:
            # complete the packet started earlier (header first, then its payload)
            if len(buffer) < 4:
                take = 4 - len(buffer)
                buffer += view[:take]
                pos = take
                if len(buffer) < 4:
                    return packets
            (length,) = _HEADER.unpack_from(buffer, 0)
            if length < 0:
                packets.append(_as_signal(length))
                buffer.clear()
            else:
                if length > self._max:
                    raise FramingError(
                        f"packet size too big ({length} bytes, limit {self._max})")
                take = length + 4 - len(buffer)
                buffer += view[pos:pos + take]
                pos += take
                if len(buffer) < length + 4:
                    return packets
                # one copy (slicing the bytearray first would copy twice)
                with memoryview(buffer) as whole:
                    packets.append(whole[4:].tobytes())
                buffer.clear()
        end = len(view)
        unpack = _HEADER.unpack_from
        limit = self._max
        while end - pos >= 4:
            (length,) = unpack(view, pos)
            if length < 0:
                packets.append(_as_signal(length))
                pos += 4
                continue
            if length > limit:
                raise FramingError(f"packet size too big ({length} bytes, limit {limit})")
            stop = pos + 4 + length
            if stop > end:
                break
            packets.append(bytes(view[pos + 4:stop]))
            pos = stop
        if pos < end:
            buffer += view[pos:]
        return packets

    @property
    def buffered(self) -> int:
        return len(self._buffer)


def _as_signal(value: int) -> int:
    try:
        return Signal(value)
    except ValueError:
        return value


def is_signal(packet: Packet) -> bool:
    return isinstance(packet, int)


#: The binary header before a file's record when it is forwarded for the catalog (the SD's
#: ``UpdCat ... FileAttributes``; a verify job's file reports of the FD): VolSessionId,
#: VolSessionTime, FileIndex, stream, record length.
ATTRIBUTE_HEADER = struct.Struct("!IIiiI")
