import pytest
from hypothesis import given, strategies as st

from bareos.protocol import cram

TOKEN = b"<1234567890.1700000000@R_DIRECTOR::bareos-dir>"


def test_password_key_is_the_md5_hex_of_the_password():
    assert cram.password_key("secret") == b"5ebe2294ecd0e0f08eab7690d2a6ee69"


def test_reference_vector_in_both_base64_flavours():
    key = cram.password_key("secret")
    assert cram.digest(key, TOKEN).hex() == "c06452e19309c10ed3d212dd6f13d648"
    assert cram.response_for(key, TOKEN) == b"wGRS45MJwQ/T0h/dbx/WSA"
    assert cram.response_for(key, TOKEN, compatible=True) == b"wGRS4ZMJwQ7T0hLdbxPWSA"


@pytest.mark.parametrize("answer", [b"wGRS45MJwQ/T0h/dbx/WSA", b"wGRS45MJwQ/T0h/dbx/WSA\x00",
                                    b"wGRS4ZMJwQ7T0hLdbxPWSA", b"wGRS4ZMJwQ7T0hLdbxPWSA\x00"])
def test_verifier_accepts_either_flavour_with_or_without_nul(answer):
    assert cram.verify_response(cram.password_key("secret"), TOKEN, answer)


@pytest.mark.parametrize("answer", [b"wGRS45MJwQ/T0h/dbx/WSB", b"", b"x" * 22, -1])
def test_verifier_refuses_wrong_answers(answer):
    assert not cram.verify_response(cram.password_key("secret"), TOKEN, answer)


def test_compatible_flavour_is_rfc_base64_without_padding():
    import base64
    for data in (b"", b"\x00", b"\xff\xfe", b"abc", bytes(range(200, 216))):
        assert cram.bareos_base64(data, True) == base64.b64encode(data).decode().rstrip("=")


def test_challenge_round_trip():
    message, token = cram.make_challenge("R_DIRECTOR::my dir", 2)
    assert message.startswith(b"auth cram-md5 <") and message.endswith(b" ssl=2\n")
    assert b" " not in token
    assert cram.parse_challenge(message) == (token, 2, False)


def test_challenge_parser_accepts_extra_fields_and_the_compatible_variant():
    assert cram.parse_challenge(b"auth cram-md5c <1.2@x> ssl=0 qualified-name=x\n") == (b"<1.2@x>", 0, True)
    assert cram.parse_challenge(b"auth cram-md5 <1.2@x> ssl=1\n\x00") == (b"<1.2@x>", 1, False)


def test_a_challenge_may_name_a_console_with_plain_spaces():
    # python-bareos 25.1.1 challenges with the console's name unbashed
    assert cram.parse_challenge(b"auth cram-md5 <4017411815.1796296674@admin tls> ssl=0\n") == (
        b"<4017411815.1796296674@admin tls>", 0, False)


@pytest.mark.parametrize("bad", [b"", b"auth cram-md5", b"auth cram-md5 <1.2@x>", b"hello", -4,
                                 b"auth cram-md5 1.2@x ssl=0\n"])
def test_malformed_challenges_raise_our_error(bad):
    with pytest.raises(cram.CramError):
        cram.parse_challenge(bad)


def test_a_challenge_naming_ourselves_is_a_reflection():
    assert cram.is_reflected(b"<1.2@R_DIRECTOR::bareos-dir>", "R_DIRECTOR::bareos-dir")
    assert not cram.is_reflected(b"<1.2@R_CONSOLE::admin>", "R_DIRECTOR::bareos-dir")
    assert not cram.is_reflected(b"<1.2@R_STORAGE::sd>", "R_STORAGE::sd")


@given(st.binary(max_size=200))
def test_parse_challenge_never_raises_anything_but_its_own_error(data):
    try:
        cram.parse_challenge(data)
    except cram.CramError:
        pass
