"""python-bareos 25.1.1 against our daemons running as separate twistd processes.

Issue 2, "Must show": DirectorConsole with the default and a named console,
cleartext and TLS-PSK; ``status director``; DirectorConsoleJson ``list
clients``; wrong password -> AuthenticationError; 100 failed logins and the
director still serves a good one; FileDaemon ``status`` names the director.

python-bareos runs in its own venv, in a subprocess (bareos.testing.pybareos);
PROTOCOL.md §12-13 are the facts these tests hold the daemons to.
"""

import re

import pytest

from bareos.testing.daemons import TLS_ENABLED, TLS_NONE, TLS_REQUIRED
from bareos.testing.pybareos import (
    director_console,
    director_console_json,
    failed_logins,
    file_daemon,
)

pytestmark = pytest.mark.usefixtures("pybareos_venv")

CLIENT_WAITING_SECTION = "Client Initiated Connections (waiting for jobs):"
PROTOCOL_18_2 = 2  # python-bareos ProtocolVersions.bareos_18_2 (its newest)


def _show(answer: dict) -> str:
    """An answer, trimmed for assertion messages."""
    keys = ("ok", "error_type", "message", "tls", "protocol_version", "results", "log")
    return repr({k: answer.get(k) for k in keys if k in answer}) + "\n" + answer.get("stderr", "")[-3000:]


def _start_director(suite, console: str, tls: str):
    """Start a director whose login target (default or named console) has TLS policy *tls*.

    Returns (name for python-bareos or None, password).
    """
    if console == "default":
        suite.start_director(tls=tls)
        return None, suite.dir_password
    spec = suite.add_console("admin", tls=tls)
    suite.start_director(tls=TLS_NONE)
    return spec.name, spec.password


# (id, resource TLS policy, tls_psk_enable, tls_psk_require)
TRANSPORTS = [
    pytest.param(TLS_NONE, False, False, id="cleartext"),
    pytest.param(TLS_ENABLED, True, True, id="tls-psk-resource-tls-enabled"),
    pytest.param(TLS_REQUIRED, True, True, id="tls-psk-resource-tls-required"),
]
CONSOLES = [pytest.param("default", id="default-console"), pytest.param("named", id="named-console")]


@pytest.mark.parametrize("console", CONSOLES)
@pytest.mark.parametrize("tls, psk_enable, psk_require", TRANSPORTS)
def test_director_console_status_director(suite, console, tls, psk_enable, psk_require):
    name, password = _start_director(suite, console, tls)

    answer = director_console(
        suite.dir_port,
        password,
        name=name,
        tls_psk_enable=psk_enable,
        tls_psk_require=psk_require,
        calls=["status director"],
    )

    assert answer["ok"], _show(answer)
    # the >= 18.2 console protocol was accepted (not python's fallback to the old one)
    assert answer["protocol_version"] == PROTOCOL_18_2, _show(answer)
    if psk_require:
        assert answer["tls"] is not None and "PSK" in answer["tls"][0], _show(answer)
    else:
        assert answer["tls"] is None, _show(answer)
    (status,) = answer["results"]
    assert suite.director_name in status, status
    assert CLIENT_WAITING_SECTION in status, status
    # python-bareos ends a response at a line "dddd OK..."; nothing may look like one
    assert not re.search(r"(?m)^\d{4} OK", status), status


@pytest.mark.parametrize("console", CONSOLES)
def test_cleartext_login_refused_when_tls_required(suite, console):
    """TLS Require = yes: a cleartext python-bareos login is denied (no silent downgrade)."""
    name, password = _start_director(suite, console, TLS_REQUIRED)

    answer = director_console(suite.dir_port, password, name=name, tls_psk_enable=False)

    assert not answer["ok"], _show(answer)
    assert answer["authentication_error"], _show(answer)


@pytest.mark.parametrize(
    "console, tls, psk_enable, psk_require",
    [
        pytest.param("default", TLS_NONE, False, False, id="default-console-cleartext"),
        pytest.param("named", TLS_REQUIRED, True, True, id="named-console-tls-psk"),
    ],
)
def test_director_console_json_list_clients(suite, console, tls, psk_enable, psk_require):
    second_client = {"name": "second-fd", "port": 1, "password": "another-secret"}
    if console == "default":
        suite.start_director(tls=tls, clients=[second_client])
        name, password = None, suite.dir_password
    else:
        # a name with a space, as Bareos' own tests' "admin tls": python-bareos 25.1.1 sends it
        # unbashed in its hello and in its CRAM-MD5 challenge
        spec = suite.add_console("admin tls", tls=tls)
        suite.start_director(clients=[second_client])
        name, password = spec.name, spec.password

    answer = director_console_json(
        suite.dir_port,
        password,
        name=name,
        tls_psk_enable=psk_enable,
        tls_psk_require=psk_require,
        calls=["list clients"],
    )

    assert answer["ok"], _show(answer)
    (result,) = answer["results"]
    assert isinstance(result, dict), _show(answer)
    assert isinstance(result.get("clients"), list), _show(answer)
    names = {c.get("name") for c in result["clients"]}
    assert {suite.client_name, "second-fd"} <= names, _show(answer)


@pytest.mark.parametrize("console", CONSOLES)
@pytest.mark.parametrize(
    "psk_enable",
    [
        pytest.param(False, id="cleartext"),
        # python tries TLS-PSK first, the handshake fails on the wrong key, it
        # falls back to cleartext, and CRAM-MD5 then fails
        pytest.param(True, id="tls-psk-then-cleartext-fallback"),
    ],
)
def test_wrong_password_raises_authentication_error(suite, console, psk_enable):
    name, _password = _start_director(suite, console, TLS_NONE)

    answer = director_console(
        suite.dir_port, "not-the-password", name=name, tls_psk_enable=psk_enable, calls=["status director"]
    )

    assert not answer["ok"], _show(answer)
    assert answer["error_type"] == "AuthenticationError", _show(answer)


def test_unknown_console_raises_authentication_error(suite):
    suite.add_console("admin")
    suite.start_director()

    answer = director_console(suite.dir_port, "whatever", name="nobody", tls_psk_enable=False)

    assert not answer["ok"], _show(answer)
    assert answer["authentication_error"], _show(answer)


def test_director_serves_good_login_after_100_failed_logins(suite):
    spec = suite.add_console("admin")
    # All 100 from this address are to be evaluated, and the good logins after them come from
    # it too: the per-address limits are lifted (tests/system/test_login_limits.py checks them)
    director = suite.start_director(director_extra=[
        "Maximum Failed Logins Per Address = 1000",
        "Maximum Unauthenticated Connections = 40",
        "Maximum Unauthenticated Connections Per Address = 40"])

    # 20 at a time: the director holds many refusals at once (each waits the failed-login
    # delay, which the suite shortens; the real one is checked in test_bconsole.py)
    flood = failed_logins(suite.dir_port, "wrong-password", logins=100, concurrency=20, tls_psk_enable=False)

    assert flood["ok"], _show(flood)
    assert flood["succeeded"] == 0, flood
    assert flood["authentication_errors"] == 100, flood
    assert director.running, director.describe()

    for name, password in ((None, suite.dir_password), (spec.name, spec.password)):
        answer = director_console(
            suite.dir_port, password, name=name, tls_psk_enable=False, calls=["status director"]
        )
        assert answer["ok"], _show(answer)
        assert suite.director_name in answer["results"][0]


PROTOCOL_12_4 = 1  # python-bareos ProtocolVersions.bareos_12_4: the hello names no version

# What Bareos' own test_tlspsk.py and test_protocol_124.py expect of a director with a console
# "admin notls" (TLS Enable = no) and "admin tls" (TLS Enable = yes, TLS Require = no):
# (console, tls_psk_enable, tls_psk_require, protocolversion) -> logged in over TLS-PSK / in
# cleartext / refused (AuthenticationError), and the protocol python-bareos ends up speaking.
CONSOLE_TRANSPORTS = [
    ("admin notls", False, False, None, "cleartext", PROTOCOL_18_2),
    # python-bareos falls back to the 12.4 protocol, which cannot do TLS, and gets in
    ("admin tls", False, False, None, "cleartext", PROTOCOL_12_4),
    # ... but not when its protocol is fixed to the current one
    ("admin tls", False, False, PROTOCOL_18_2, "refused", None),
    # a TLS-PSK console gets TLS even where the console resource says TLS Enable = no
    ("admin notls", True, False, None, "tls", PROTOCOL_18_2),
    ("admin tls", True, True, None, "tls", PROTOCOL_18_2),
    ("admin tls", True, True, PROTOCOL_18_2, "tls", PROTOCOL_18_2),
    ("admin notls", False, False, PROTOCOL_12_4, "cleartext", PROTOCOL_12_4),
    ("admin tls", False, False, PROTOCOL_12_4, "cleartext", PROTOCOL_12_4),
]


def test_console_tls_and_protocol_combinations_as_bareos_own_tests_expect(suite):
    specs = {spec.name: spec for spec in (suite.add_console("admin notls", tls=TLS_NONE),
                                          suite.add_console("admin tls", tls=TLS_ENABLED))}
    suite.start_director()

    for name, psk_enable, psk_require, protocol, outcome, spoken in CONSOLE_TRANSPORTS:
        case = f"{name}, tls_psk_enable={psk_enable}, require={psk_require}, protocolversion={protocol}"
        answer = director_console(suite.dir_port, specs[name].password, name=name, tls_psk_enable=psk_enable,
                                  tls_psk_require=psk_require, protocolversion=protocol, calls=["whoami"])

        if outcome == "refused":
            assert answer.get("error_type") == "AuthenticationError", (case, _show(answer))
            continue
        assert answer["ok"], (case, _show(answer))
        assert answer["results"][0].strip() == name, (case, _show(answer))
        assert answer["protocol_version"] == spoken, (case, _show(answer))
        if outcome == "tls":
            assert answer["tls"] is not None and "PSK" in answer["tls"][0], (case, _show(answer))
        else:
            assert answer["tls"] is None, (case, _show(answer))


FD_CONNECTED = r"bareos-dir \(director\) connected at:"


@pytest.mark.parametrize(
    "tls, psk_enable, psk_require",
    [
        pytest.param(TLS_NONE, False, False, id="cleartext"),
        pytest.param(TLS_REQUIRED, True, True, id="tls-psk"),
    ],
)
def test_file_daemon_status_names_connected_director(suite, tls, psk_enable, psk_require):
    suite.start_fd(director_tls=tls)

    answer = file_daemon(
        suite.fd_port,
        suite.fd_password,
        name=suite.director_name,
        tls_psk_enable=psk_enable,
        tls_psk_require=psk_require,
        calls=["status"],
    )

    assert answer["ok"], _show(answer)
    if psk_require:
        assert answer["tls"] is not None and "PSK" in answer["tls"][0], _show(answer)
    (status,) = answer["results"]
    assert re.search(FD_CONNECTED, status), status


def test_file_daemon_wrong_password_raises_authentication_error(suite):
    suite.start_fd()

    answer = file_daemon(
        suite.fd_port, "not-the-password", name=suite.director_name, tls_psk_enable=False, calls=["status"]
    )

    assert not answer["ok"], _show(answer)
    assert answer["authentication_error"], _show(answer)


def test_file_daemon_refuses_a_cleartext_director_with_an_authentication_error(suite):
    """Its Director resource enables TLS: the FD answers a cleartext hello with TERMINATE
    alone, as Bareos does (a "2999" text there made python-bareos fail with IndexError)."""
    suite.start_fd(director_tls=TLS_ENABLED)

    answer = file_daemon(
        suite.fd_port, suite.fd_password, name=suite.director_name, tls_psk_enable=False, calls=["status"]
    )

    assert not answer["ok"], _show(answer)
    assert answer["authentication_error"], _show(answer)


def test_file_daemon_monitor_director_gets_status_only(suite):
    """A Director resource with Monitor = yes may run status, nothing else (PROTOCOL.md §11)."""
    suite.start_fd(monitor=True)

    status = file_daemon(
        suite.fd_port, suite.fd_password, name=suite.director_name, tls_psk_enable=False, calls=["status"]
    )
    assert status["ok"], _show(status)
    assert re.search(FD_CONNECTED, status["results"][0]), status["results"][0]

    refused = file_daemon(
        suite.fd_port,
        suite.fd_password,
        name=suite.director_name,
        tls_psk_enable=False,
        calls=["setdebug level=0 trace=0"],
    )
    assert refused["ok"], _show(refused)
    assert "2997 Invalid command for a Director with Monitor directive enabled." in refused["results"][0]
