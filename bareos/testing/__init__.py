"""Fakes, fixtures and process harnesses shared by the tests.

* :mod:`bareos.testing.ports` -- free loopback ports, waiting for listeners
* :mod:`bareos.testing.daemons` -- real ``twistd`` daemons from config trees (``Suite``)
* :mod:`bareos.testing.pybareos` -- the official python-bareos client, driven in a subprocess
"""
