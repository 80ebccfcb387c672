"""bareos-restapi 25.1.1 (FastAPI on python-bareos) served by uvicorn against a director.

The REST API lives in ``<repo>/.venv-restapi`` (``scripts/pybareos-venv restapi``); like
python-bareos it is never imported here.  It reads ``api.ini`` (the director's name,
address and port, and the JWT settings) from its working directory, so every server gets a
directory of its own.  Logins are named consoles: ``POST /token`` with the console's name
and password opens a DirectorConsoleJson session the server keeps for that user.

Example::

    with RestApi(workdir, "bareos-dir", dir_port) as api:
        api.login("restapi", password)
        status, body = api.get("configuration/clients")
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional

from bareos.testing.daemons import REPO_ROOT
from bareos.testing.ports import LOOPBACK, DaemonNotListening, free_port, wait_for_port
from bareos.testing.pybareos import clean_env, ensure_client_venv

RESTAPI_VENV = Path(os.environ.get("RESTAPI_VENV") or REPO_ROOT / ".venv-restapi")
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 120.0


def ensure_venv(timeout: float = 600.0) -> Path:
    """The REST API's venv python (made on first use); raises PyBareosUnavailable."""
    return ensure_client_venv("restapi", RESTAPI_VENV, "RESTAPI_VENV", timeout)


class RestApi:
    """One uvicorn process serving bareos-restapi on loopback; stop() ends it by its PID."""

    def __init__(self, workdir: Path, director_name: str, director_port: int,
                 director_address: str = LOOPBACK):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.log_path = self.workdir / "uvicorn.log"
        self.token: Optional[str] = None
        self.proc: Optional[subprocess.Popen] = None
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "api.ini").write_text(
            f"[Director]\nName={director_name}\nAddress={director_address}\nPort={director_port}\n\n"
            f"[JWT]\nsecret_key = {secrets.token_hex(32)}\nalgorithm = HS256\n"
            f"access_token_expire_minutes = 30\n")

    def start(self) -> "RestApi":
        python = ensure_venv()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(python), "-I", "-m", "uvicorn", "bareos_restapi:app",
                 "--host", LOOPBACK, "--port", str(self.port), "--log-level", "warning"],
                cwd=self.workdir, env=clean_env(), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, timeout=START_TIMEOUT, process=self.proc,
                          log_path=self.log_path, name="uvicorn (bareos-restapi)")
        except DaemonNotListening:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def __enter__(self) -> "RestApi":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- HTTP ------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> tuple[int, Any]:
        """``POST /token`` (OAuth2 password form); keeps the bearer token when it is granted."""
        form = urllib.parse.urlencode({"username": username, "password": password}).encode()
        status, body = self._request("POST", "token", form, "application/x-www-form-urlencoded")
        if status == 200:
            self.token = body["access_token"]
        return status, body

    def get(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call("GET", path, body)

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call("POST", path, body)

    def put(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call("PUT", path, body)

    def patch(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call("PATCH", path, body)

    def delete(self, path: str) -> tuple[int, Any]:
        return self.call("DELETE", path)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(HTTP status, decoded JSON answer or None) of one request with the bearer token."""
        data = json.dumps(body).encode() if body is not None else None
        return self._request(method, path, data, "application/json")

    def _request(self, method, path, data, content_type):
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(f"{self.base_url}/{path}", data=data, headers=headers,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read())


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
