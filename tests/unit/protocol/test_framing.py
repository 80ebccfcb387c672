import struct

import pytest
from hypothesis import given, settings, strategies as st

from bareos.protocol import framing
from bareos.protocol.framing import FramingError, PacketDecoder, Signal


def test_vectors_of_the_protocol_reference():
    assert framing.encode_packet(b"autodisplay off") == b"\x00\x00\x00\x0fautodisplay off"
    assert framing.encode_signal(Signal.EOD) == b"\xff\xff\xff\xff"
    assert framing.encode_signal(Signal.MAIN_PROMPT) == b"\xff\xff\xff\xee"
    assert framing.encode_signal(Signal.TERMINATE) == b"\xff\xff\xff\xfc"


def test_decoder_returns_data_and_signals_in_order():
    stream = (framing.encode_packet(b"hello") + framing.encode_signal(Signal.EOD)
              + framing.encode_packet(b"") + framing.encode_signal(-99))
    assert PacketDecoder().feed(stream) == [b"hello", Signal.EOD, b"", -99]


def test_decoder_waits_for_incomplete_packets():
    decoder = PacketDecoder()
    stream = framing.encode_packet(b"abcdef")
    assert decoder.feed(stream[:3]) == []
    assert decoder.feed(stream[3:7]) == []
    assert decoder.feed(stream[7:]) == [b"abcdef"]
    assert decoder.buffered == 0


def test_packet_of_the_maximum_size_is_accepted_and_one_more_byte_is_not():
    decoder = PacketDecoder()
    assert decoder.feed(struct.pack("!i", framing.MAX_PACKET_SIZE)) == []
    with pytest.raises(FramingError, match="too big"):
        PacketDecoder().feed(struct.pack("!i", framing.MAX_PACKET_SIZE + 1))


def test_long_messages_are_split_into_acceptable_packets():
    payload = bytes(range(256)) * 8000          # 2,048,000 bytes
    packets = PacketDecoder().feed(framing.encode_message(payload))
    assert len(packets) == 3
    assert all(len(p) <= framing.MAX_MESSAGE_LEN for p in packets)
    assert b"".join(packets) == payload


def test_a_single_packet_refuses_oversized_payloads():
    with pytest.raises(ValueError):
        framing.encode_packet(b"x" * (framing.MAX_MESSAGE_LEN + 1))


@settings(max_examples=300)
@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_arbitrary_bytes_give_packets_or_a_framing_error(data, chunk):
    decoder = PacketDecoder(max_packet_size=1000)
    try:
        for i in range(0, len(data), chunk):
            for packet in decoder.feed(data[i:i + chunk]):
                assert isinstance(packet, (bytes, int))
    except FramingError:
        pass


@given(st.lists(st.one_of(st.binary(max_size=300), st.sampled_from(list(Signal)))),
       st.integers(min_value=1, max_value=50))
def test_encoding_then_decoding_in_any_chunking_is_the_identity(items, chunk):
    stream = b"".join(framing.encode_signal(i) if isinstance(i, Signal) else framing.encode_packet(i)
                      for i in items)
    decoder = PacketDecoder()
    received = []
    for i in range(0, len(stream), chunk):
        received += decoder.feed(stream[i:i + chunk])
    assert received == items
