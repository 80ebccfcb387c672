"""The one exception type of the configuration layer."""

import os


class ConfigError(Exception):
    """A configuration problem, located at ``file:line``.

    ``str(error)`` is ``"<file>:<line>: <message>"`` (``"<file>: <message>"``
    when no line applies, e.g. a missing configuration directory).
    """

    def __init__(self, file: "str | os.PathLike[str]", line: int | None, message: str) -> None:
        self.file = str(file)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"
