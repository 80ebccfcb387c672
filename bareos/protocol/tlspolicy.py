"""The TLS policy of a resource, without pyOpenSSL or Twisted (cheap to import).

:mod:`bareos.protocol.tls` re-exports both names; programs that only need the
policy (bconsole deciding whether it may talk cleartext) import this module.
"""

import enum


class TlsPolicy(enum.IntEnum):
    """A resource's TLS policy, as sent in the CRAM challenge's ``ssl=`` field."""

    NONE = 0
    ENABLED = 1
    REQUIRED = 2


def tls_policy(tls_enable: bool, tls_require: bool) -> TlsPolicy:
    """Map the ``TLS Enable``/``TLS Require`` directives to a policy.

    ``TLS Require`` only matters when TLS is enabled at all.
    """
    if not tls_enable:
        return TlsPolicy.NONE
    if not tls_require:
        return TlsPolicy.ENABLED
    return TlsPolicy.REQUIRED
