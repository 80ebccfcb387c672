"""The Bareos wire protocol: pure codecs plus one thin Twisted protocol.

- ``framing``: length-prefixed packets and signals.
- ``hello``: the first line of every connection type.
- ``cram``: two-way CRAM-MD5 and the password-to-key step.
- ``tls``: TLS-PSK context factories.
- ``connection``: the Twisted protocol that turns bytes into messages, and the
  acceptor that decides cleartext or TLS from the first bytes.
- ``handshake``: the authentication conversations, as coroutines over a connection.
"""
