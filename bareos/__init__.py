"""A network backup suite on Twisted that speaks the Bareos protocol.

Layout (see ARCHITECTURE in the project's shared docs):

- ``protocol``: wire framing, hello lines, CRAM-MD5, TLS-PSK and the Twisted connection.
- ``config``: the Bareos resource-file parser and one schema per program.
- ``network``: pure connection planning (Lan Address rule, client-initiated order).
- ``director``, ``filedaemon``, ``storagedaemon``: the three daemons.
- ``console``: bconsole.
"""

VERSION = "25.1.1"
VERSION_DATE = "26 November 2026"
