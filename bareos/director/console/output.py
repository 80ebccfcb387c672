"""One command's reply, rendered for the console's api mode.

A command writes text (``send``), messages (``info``/``warning``/``error``)
and, for JSON consoles, structured data (``result``).  In api 0 and 1 text is
streamed as it comes; in api 2 (JSON) everything is collected and sent as one
JSON-RPC document at the end.

File names that are not UTF-8 are str with surrogateescape code points (see
``bareos.catalog.api.name_text``).  Text modes send them as their raw bytes, as
Bareos does (``BareosConnection.send``); JSON is ASCII (``json.dumps`` escapes
every non-ASCII character), so such a byte appears as the escape of a code point
U+DC80..U+DCFF: a JSON client in Python gets the same str back, and ``os.fsencode``
gives the exact bytes.
"""

import json
import re

from bareos.protocol.framing import Signal

API_TEXT, API_SIGNALS, API_JSON = 0, 1, 2

# A console client (python-bareos) takes a line starting "dddd OK" as the end
# of a response; such lines must never appear inside one.
_FALSE_TERMINATOR = re.compile(r"^(\d{4}) OK", re.MULTILINE)


def defuse_terminators(text):
    return _FALSE_TERMINATOR.sub(r"\1 ok", text)


class Reply:
    def __init__(self, conn, api, compact=False):
        self._conn = conn
        self.api = api
        self.compact = compact
        self.data = {}
        self.messages = {}
        self.failed = False

    def send(self, text):
        """Plain output (ignored by JSON consoles unless the command has no data)."""
        if not text:
            return
        if self.api == API_JSON:
            self.messages.setdefault("normal", []).append(text)
        else:
            self._conn.send(defuse_terminators(text))

    def info(self, text):
        self._message("info", Signal.INFO_MSG, text)

    def warning(self, text):
        self._message("warning", Signal.WARNING_MSG, text)

    def error(self, text):
        self.failed = True
        self._message("error", Signal.ERROR_MSG, text)

    def result(self, key, value):
        """Structured data for JSON consoles."""
        self.data[key] = value

    def _message(self, kind, signal, text):
        if not text.endswith("\n"):
            text += "\n"
        if self.api == API_JSON:
            self.messages.setdefault(kind, []).append(text)
            return
        if self.api == API_SIGNALS:
            self._conn.send_signal(signal)
        self._conn.send(defuse_terminators(text))

    def switch_mode(self, api, compact):
        """``.api`` changes the mode while it runs; its own reply uses the new one."""
        self.api = api
        self.compact = compact

    def begin(self):
        if self.api != API_TEXT:
            self._conn.send_signal(Signal.CMD_BEGIN)

    def finish(self, ok=True):
        """End of the command's output, as the api mode wants it."""
        ok = ok and not self.failed
        if self.api == API_TEXT:
            self._conn.send_signal(Signal.EOD)
            return
        self._conn.send_signal(Signal.CMD_OK if ok else Signal.CMD_FAILED)
        if self.api == API_JSON:
            self._conn.send(self.json_document(ok))

    def json_document(self, ok):
        if ok:
            document = {"jsonrpc": "2.0", "id": None, "result": self.data}
        else:
            document = {"jsonrpc": "2.0", "id": None, "error": {
                "code": 1, "message": "failed",
                "data": {"result": self.data, "messages": self.messages}}}
        if self.compact:
            return json.dumps(document, separators=(",", ":"))
        return json.dumps(document, indent=2)
