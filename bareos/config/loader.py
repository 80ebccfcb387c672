"""Entry points: load a daemon's configuration from a file, a directory or text."""

import os
from pathlib import Path

from .binder import build
from .errors import ConfigError
from .lexer import tokenize, tokenize_file
from .model import Configuration
from .parser import parse
from .schema import DaemonSchema


def parse_config_text(text: str, schema: DaemonSchema, filename: str = "<string>") -> Configuration:
    """Parse configuration *text*; relative ``@includes`` resolve from the current directory."""
    return build(parse(tokenize(text, filename)), schema, filename)


def load_config(path: "str | os.PathLike[str]", schema: DaemonSchema) -> Configuration:
    """Load the configuration at *path* (a file or a directory, see ``config_files``)."""
    nodes = [node for file in config_files(path, schema.daemon_name) for node in parse(tokenize_file(file))]
    return build(nodes, schema, Path(path))


def resource_tree(path: "str | os.PathLike[str]", daemon_name: str) -> "Path | None":
    """The ``<daemon>.d`` directory of the configuration at *path*, or None when it is
    a single file (what ``configure add`` writes new resource files into)."""
    path = Path(path)
    if path.is_dir() and not (path / f"{daemon_name}.conf").is_file():
        tree = path / f"{daemon_name}.d"
        if tree.is_dir():
            return tree
        if path.name == f"{daemon_name}.d":
            return path
    return None


def config_files(path: "str | os.PathLike[str]", daemon_name: str) -> list[Path]:
    """The files making up a configuration, as Bareos finds them.

    *path* may be the file itself; a directory holding ``<daemon>.conf``; a
    directory holding the ``<daemon>.d/`` tree; or that tree itself. A tree
    contributes ``<resource type>/<name>.conf`` files in sorted order.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(path, None, "no such configuration file or directory")
    single_file = path / f"{daemon_name}.conf"
    if single_file.is_file():
        return [single_file]
    tree = resource_tree(path, daemon_name)
    if tree is None:
        raise ConfigError(path, None, f"found neither {daemon_name}.conf nor {daemon_name}.d/")
    files = sorted(file for file in tree.glob("*/*.conf") if file.is_file())
    if not files:
        raise ConfigError(tree, None, "no configuration files (<type>/<name>.conf) found")
    return files
