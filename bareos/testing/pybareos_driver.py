"""Drive the official python-bareos client; run INSIDE .venv-pybareos only.

This file is executed as a script (``<venv>/bin/python -I pybareos_driver.py``),
never imported by our test process: python-bareos's top-level package is also
called ``bareos`` and would clash with ours.  It uses only the standard
library and python-bareos.

Input: one JSON job, from ``argv[1]`` or, if absent (or ``-``), from stdin::

    {"kind": "DirectorConsole" | "DirectorConsoleJson" | "FileDaemon",
     "address": "127.0.0.1", "port": 9101,
     "name": "admin" | null,          # null: python-bareos's default (*UserAgent*)
     "password": "secret",
     "tls_psk_enable": true, "tls_psk_require": false,
     "protocolversion": null,          # optional (DirectorConsole*)
     "timeout": null,                  # optional socket timeout (DirectorConsole*)
     "calls": ["status director", ...],
     # optional: many logins at once instead of one session with calls
     "logins": 100, "concurrency": 20}

Output: one line of JSON on stdout::

    {"ok": true, "results": [...], "tls": [cipher, version, bits] | null,
     "protocol_version": 2, "log": [...]}
    {"ok": false, "error_type": "AuthenticationError",
     "error_types": ["AuthenticationError", "ConnectionError", "Error", ...],
     "authentication_error": true, "message": "...", "traceback": "...", "log": [...]}

With "logins": ``{"ok": true, "attempts": N, "succeeded": n,
"authentication_errors": n, "errors": {"<type>": count}, "messages": [...]}``.
Exit status is 0 whenever a JSON answer was printed.
"""

import json
import logging
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []
        self._lock2 = threading.Lock()

    def emit(self, record):
        try:
            line = "%s %s: %s" % (record.levelname, record.threadName, record.getMessage())
        except Exception:  # pragma: no cover
            line = repr(record)
        with self._lock2:
            self.records.append(line)


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decode(v) for v in value]
    return value


def _error(exc):
    try:
        from bareos.exceptions import AuthenticationError
    except ImportError:  # python-bareos itself is broken: still answer in JSON
        AuthenticationError = ()

    types = [c.__name__ for c in type(exc).__mro__ if c not in (object, BaseException)]
    return {
        "ok": False,
        "error_type": type(exc).__name__,
        "error_types": types,
        "authentication_error": bool(AuthenticationError) and isinstance(exc, AuthenticationError),
        "message": str(exc),
        "traceback": traceback.format_exc(),
    }


def _connect(job):
    import bareos.bsock
    from bareos.util.password import Password

    kind = job.get("kind", "DirectorConsole")
    kwargs = {
        "address": job.get("address", "127.0.0.1"),
        "port": int(job["port"]),
        "password": Password(job["password"]),
        "tls_psk_enable": bool(job.get("tls_psk_enable", True)),
        "tls_psk_require": bool(job.get("tls_psk_require", False)),
    }
    if kind in ("DirectorConsole", "DirectorConsoleJson"):
        if job.get("name") is not None:
            kwargs["name"] = job["name"]
        if job.get("protocolversion") is not None:
            kwargs["protocolversion"] = int(job["protocolversion"])
        if job.get("timeout") is not None:
            kwargs["timeout"] = job["timeout"]
        cls = getattr(bareos.bsock, kind)
    elif kind == "FileDaemon":
        kwargs["name"] = job["name"]
        cls = bareos.bsock.FileDaemon
    else:
        raise ValueError("unknown kind %r" % (kind,))
    return cls(**kwargs)


def run_session(job):
    conn = _connect(job)
    try:
        results = [_decode(conn.call(cmd)) for cmd in job.get("calls", [])]
        cipher = conn.get_cipher()
        return {
            "ok": True,
            "results": results,
            "tls": list(cipher) if cipher else None,
            "protocol_version": int(conn.get_protocol_version()),
        }
    finally:
        try:
            conn.close()
        except Exception:
            pass


def run_logins(job):
    attempts = int(job["logins"])
    concurrency = max(1, int(job.get("concurrency", 20)))

    def one(_):
        try:
            conn = _connect(job)
        except Exception as exc:  # noqa: BLE001 - classified below
            return _error(exc)
        try:
            conn.close()
        except Exception:
            pass
        return {"ok": True}

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(one, range(attempts)))
    errors = {}
    messages = []
    for o in outcomes:
        if not o["ok"]:
            errors[o["error_type"]] = errors.get(o["error_type"], 0) + 1
            if not o["authentication_error"] and len(messages) < 20:
                messages.append("%s: %s" % (o["error_type"], o["message"]))
    return {
        "ok": True,
        "attempts": attempts,
        "concurrency": concurrency,
        "succeeded": sum(1 for o in outcomes if o["ok"]),
        "authentication_errors": sum(1 for o in outcomes if not o["ok"] and o["authentication_error"]),
        "errors": errors,
        "messages": messages,
    }


def main(argv):
    raw = argv[1] if len(argv) > 1 and argv[1] != "-" else sys.stdin.read()
    job = json.loads(raw)
    handler = _ListHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if job.get("debug") else logging.INFO)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # keep stdout for our one JSON line
    try:
        if job.get("logins"):
            answer = run_logins(job)
        else:
            answer = run_session(job)
    except Exception as exc:  # noqa: BLE001 - reported as JSON
        answer = _error(exc)
    finally:
        sys.stdout = real_stdout
    answer["log"] = handler.records[-200:]
    real_stdout.write(json.dumps(answer) + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
