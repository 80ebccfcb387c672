"""Configuration in the Bareos resource syntax, for all four programs.

Use::

    from bareos.config import load_config, parse_config_text, ConfigError, Password
    from bareos.config.schemas import DIRECTOR, FILEDAEMON, STORAGEDAEMON, CONSOLE

    cfg = load_config("/etc/bareos", DIRECTOR)   # a file, a dir with bareos-dir.conf, or a bareos-dir.d tree
    cfg.only("director").addresses               # [("", 9101)]: host "" = all interfaces
    cfg.get("client", "fd1").lan_address         # canonical directive name in snake_case
    cfg.warnings                                 # directives accepted but not acted on yet

Every problem raises ConfigError, whose str() is ``"<file>:<line>: <message>"``.

Modules, in the order data flows through them:

``lexer``    text -> tokens; quoted strings, ``#`` comments, ``@include`` (globs) expansion
``parser``   tokens -> syntax tree of resources, directives and nested ``{ }`` blocks
``types``    value types: name, string, password, address, port, size, duration, boolean,
             enums, lists, resource references, Messages destinations, listening addresses
``schema``   building blocks: Directive, SectionSchema, ResourceSchema, DaemonSchema
``schemas``  the director, file daemon, storage daemon and bconsole schemas (tables)
``binder``   syntax tree + schema -> Configuration; references, counts, required, warnings
``model``    Configuration and Section/Resource (attribute access, defaults, JobDefs inheritance)
``loader``   load_config (file or directory layout) and parse_config_text
``errors``   ConfigError
``writer``   the other way: resource descriptions -> text and ``<daemon>.d`` trees, for the
             quickstart, the packages' postinst and the test harness; the loader reads it back
"""

from .errors import ConfigError
from .loader import load_config, parse_config_text
from .types import Destination, MessageTypes, Password

__all__ = ["ConfigError", "Destination", "MessageTypes", "Password", "load_config", "parse_config_text"]
