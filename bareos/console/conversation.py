"""What a console says to the director after the hello, as conversations (see
``bareos.protocol.conversation``): the login greeting and one command."""

from bareos.console.login import ConsoleLoginFailed
from bareos.protocol.conversation import RECEIVE, Ask
from bareos.protocol.framing import Signal


def greeting_steps():
    """Read the director's greeting after CRAM; return its lines for the user."""
    lines = []
    while True:
        packet = yield RECEIVE
        if not isinstance(packet, bytes):
            raise ConsoleLoginFailed(f"unexpected {Signal(packet).name} during login")
        code, _, text = packet.decode("utf-8", "replace").partition("\x1e")
        if code == "1000":
            lines.append(f"1000 {text}")
        elif code == "1002":
            return lines + text.splitlines()
        elif code == "1001":
            raise ConsoleLoginFailed("the director asks for PAM authentication, "
                                     "which this console does not support")
        else:
            raise ConsoleLoginFailed(packet.decode("utf-8", "replace").strip())


def command_steps(line, on_text):
    """Send one command and pass its output to ``on_text``; sub-prompts become Ask steps.

    Returns False when the director ended the session.
    """
    yield line
    last_text = ""
    while True:
        packet = yield RECEIVE
        if isinstance(packet, bytes):
            # surrogateescape: file names that are not UTF-8 come as raw bytes and are
            # printed as such (main() sets the same error handler on stdout).
            last_text = packet.decode("utf-8", "surrogateescape")
            on_text(last_text)
        elif packet == Signal.SUB_PROMPT:
            answer = yield Ask(last_text)
            yield answer
            last_text = ""
        elif packet in (Signal.EOD, Signal.MAIN_PROMPT):
            return True
        elif packet == Signal.TERMINATE:
            return False
