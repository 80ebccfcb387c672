"""Programs a file daemon job runs: ``|command`` items of a FileSet, client RunScripts.

As in Bareos (``lib/bpipe.cc``), no shell is involved: the daemon splits the command
line into words itself (``split_command``) and executes the first word, looked up on
``PATH``.  Shell features (pipes, redirections, variables) need an explicit
``sh -c '...'``, as the Bareos manual shows for ``File = "\\\\|..."``.  The program's
standard error is read as part of its output, as Bareos joins the two; its standard
input is closed.

The process is run by the reactor (``spawnProcess``): no thread waits for it.
"""

import dataclasses
import errno
import os
import shutil
from typing import Optional

from twisted.internet import defer, error, protocol


def split_command(line):
    """The words of ``line`` the way Bareos splits a program's command line.

    Words are separated by blanks; a word that starts with ``"`` or ``'`` runs to the
    next such quote (the quotes are dropped; there is no escaping).  Blanks inside an
    unquoted word are spaces only, as in Bareos: a tab there stays part of the word.
    """
    words = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return words
        if line[i] in "\"'":
            end = line.find(line[i], i + 1)
            start, i = i + 1, (n if end < 0 else end)
        else:
            end = line.find(" ", i)
            start, i = i, (n if end < 0 else end)
        words.append(line[start:i])
        i += 1


@dataclasses.dataclass
class ProgramResult:
    """How a program ended: its output, and ``exit_code`` or ``signal``."""

    output: bytes
    exit_code: Optional[int] = None
    signal: Optional[int] = None

    @property
    def ok(self):
        return self.exit_code == 0

    @property
    def status(self):
        """The number Bareos reports as ``status=``: exit code, or the signal."""
        return self.exit_code if self.exit_code is not None else self.signal

    def reason(self):
        """Bareos' ``ERR=`` text for a program that did not succeed."""
        if self.exit_code is not None:
            return f"Child exited with code {self.exit_code}"
        return f"Child died from signal {self.signal}"

    def lines(self):
        """The output as text lines, trailing blanks stripped (Bareos' StripTrailingJunk)."""
        return [line.rstrip() for line in os.fsdecode(self.output).splitlines()]


class ProgramNotFound(Exception):
    """The command's program does not exist or cannot be executed (text: the reason)."""


class _Collector(protocol.ProcessProtocol):
    """Output (stdout and stderr, in the order they arrive) until the process ends."""

    def __init__(self):
        self.output = []
        self.ended = defer.Deferred()

    def connectionMade(self):
        self.transport.closeStdin()

    def outReceived(self, data):
        self.output.append(data)

    errReceived = outReceived

    def processEnded(self, reason):
        output = b"".join(self.output)
        if reason.check(error.ProcessDone):
            self.ended.callback(ProgramResult(output, exit_code=0))
        else:  # ProcessTerminated
            ended = reason.value
            self.ended.callback(ProgramResult(output, exit_code=ended.exitCode,
                                              signal=ended.signal))


def run_program(reactor, command):
    """Run ``command`` (split as Bareos does); a Deferred firing with a ProgramResult.

    Fails with ProgramNotFound when there is no program to execute.
    """
    argv = split_command(command)
    environment = dict(os.environ)
    executable = shutil.which(argv[0], path=environment.get("PATH", os.defpath)) if argv else None
    if executable is None:
        return defer.fail(ProgramNotFound(os.strerror(errno.ENOENT)))
    collector = _Collector()
    reactor.spawnProcess(collector, executable, argv, env=environment)
    return collector.ended
