"""The official python-bareos client, driven in a subprocess.

python-bareos's top-level package is also named ``bareos``; it is therefore
never imported here.  It lives in ``<repo>/.venv-pybareos`` (made by
``scripts/pybareos-venv``) and :func:`run_job` runs
``bareos/testing/pybareos_driver.py`` there with ``python -I`` (isolated: no
PYTHONPATH, no script directory on sys.path) from a neutral working
directory, so our package can never shadow theirs.

Example::

    answer = director_console(port, password, name="admin", calls=["status director"])
    assert answer["ok"], answer
    text = answer["results"][0]
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from bareos.testing.daemons import REPO_ROOT

__all__ = [
    "DRIVER",
    "PYBAREOS_VENV",
    "PyBareosUnavailable",
    "PyBareosDriverError",
    "director_console",
    "director_console_json",
    "ensure_client_venv",
    "ensure_venv",
    "failed_logins",
    "file_daemon",
    "run_job",
    "venv_python",
]

PYBAREOS_VENV = Path(os.environ.get("PYBAREOS_VENV") or REPO_ROOT / ".venv-pybareos")
SETUP_SCRIPT = REPO_ROOT / "scripts" / "pybareos-venv"
DRIVER = Path(__file__).resolve().with_name("pybareos_driver.py")


class PyBareosUnavailable(RuntimeError):
    """The python-bareos venv could not be made (e.g. PyPI unreachable)."""


class PyBareosDriverError(RuntimeError):
    """The driver did not answer with JSON (crashed, hung, ...)."""


def venv_python() -> Path:
    return PYBAREOS_VENV / "bin" / "python"


_ready: set[Path] = set()


def ensure_venv(timeout: float = 600.0) -> Path:
    """Run ``scripts/pybareos-venv`` (idempotent, serialised by a file lock).

    Returns the venv's python; raises :class:`PyBareosUnavailable` with the
    script's output if it fails.
    """
    return ensure_client_venv("pybareos", PYBAREOS_VENV, "PYBAREOS_VENV", timeout)


def ensure_client_venv(flavour: str, venv: Path, variable: str, timeout: float = 600.0) -> Path:
    """``scripts/pybareos-venv <flavour>`` making *venv* (its directory also passed in the
    environment *variable*); the venv's python, or :class:`PyBareosUnavailable`."""
    if venv in _ready:
        return venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    # the lock lives outside the work tree (nothing to ignore or clean up there)
    digest = hashlib.sha1(str(venv).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"pybareos-venv-{digest}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers: one builds, others wait
        env = dict(os.environ, **{variable: str(venv)})
        try:
            proc = subprocess.run(
                [str(SETUP_SCRIPT), flavour],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PyBareosUnavailable(f"{SETUP_SCRIPT} could not run: {e}") from e
    if proc.returncode != 0:
        raise PyBareosUnavailable(
            f"{SETUP_SCRIPT} {flavour} failed with status {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    _ready.add(venv)
    return venv / "bin" / "python"


def run_job(job: dict, timeout: float = 300.0) -> dict:
    """Run one driver job (see ``pybareos_driver.py``) and return its JSON answer.

    The subprocess is killed by PID if it exceeds *timeout* (a hang guard).
    """
    python = ensure_venv()
    with tempfile.TemporaryDirectory(prefix="pybareos-") as cwd:
        proc = subprocess.Popen(
            [str(python), "-I", str(DRIVER), "-"],
            cwd=cwd,
            env=clean_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        try:
            out, err = proc.communicate(json.dumps(job), timeout=timeout)
        except BaseException:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
            raise
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise PyBareosDriverError(
            f"python-bareos driver exited {proc.returncode} without a JSON answer\n"
            f"--- stdout\n{out}\n--- stderr\n{err}"
        ) from None
    answer["stderr"] = err[-20000:]
    return answer


def clean_env() -> dict:
    """The environment for a client's interpreter: none of our PYTHON* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _job(kind, port, password, *, name, address, calls, tls_psk_enable, tls_psk_require, protocolversion, **extra):
    job = {
        "kind": kind,
        "address": address,
        "port": int(port),
        "name": name,
        "password": password,
        "tls_psk_enable": tls_psk_enable,
        "tls_psk_require": tls_psk_require,
        "protocolversion": protocolversion,
        "calls": list(calls),
    }
    job.update({k: v for k, v in extra.items() if v is not None})
    return job


def director_console(
    port: int,
    password: str,
    *,
    name: Optional[str] = None,
    calls: Sequence[str] = (),
    address: str = "127.0.0.1",
    tls_psk_enable: bool = True,
    tls_psk_require: bool = False,
    protocolversion: Optional[int] = None,
    json_mode: bool = False,
    timeout: float = 300.0,
) -> dict:
    """``DirectorConsole`` (or ``DirectorConsoleJson`` with *json_mode*) + calls.

    ``name=None`` uses python-bareos's default console (``*UserAgent*``).
    """
    kind = "DirectorConsoleJson" if json_mode else "DirectorConsole"
    return run_job(
        _job(
            kind, port, password, name=name, address=address, calls=calls,
            tls_psk_enable=tls_psk_enable, tls_psk_require=tls_psk_require,
            protocolversion=protocolversion,
        ),
        timeout=timeout,
    )


def director_console_json(port: int, password: str, **kw) -> dict:
    return director_console(port, password, json_mode=True, **kw)


def file_daemon(
    port: int,
    password: str,
    *,
    name: str,
    calls: Sequence[str] = (),
    address: str = "127.0.0.1",
    tls_psk_enable: bool = True,
    tls_psk_require: bool = False,
    timeout: float = 300.0,
) -> dict:
    """``FileDaemon`` (logs in as the Director *name*) + calls."""
    return run_job(
        _job(
            "FileDaemon", port, password, name=name, address=address, calls=calls,
            tls_psk_enable=tls_psk_enable, tls_psk_require=tls_psk_require, protocolversion=None,
        ),
        timeout=timeout,
    )


def failed_logins(
    port: int,
    password: str,
    *,
    logins: int = 100,
    concurrency: int = 20,
    name: Optional[str] = None,
    kind: str = "DirectorConsole",
    address: str = "127.0.0.1",
    tls_psk_enable: bool = False,
    tls_psk_require: bool = False,
    timeout: float = 900.0,
) -> dict:
    """Attempt *logins* logins with *concurrency* threads; count the failures.

    Answer: ``{"ok": True, "attempts", "succeeded", "authentication_errors",
    "errors": {type: count}, "messages": [non-auth error texts]}``.
    """
    return run_job(
        _job(
            kind, port, password, name=name, address=address, calls=(),
            tls_psk_enable=tls_psk_enable, tls_psk_require=tls_psk_require,
            protocolversion=None, logins=logins, concurrency=concurrency,
        ),
        timeout=timeout,
    )
