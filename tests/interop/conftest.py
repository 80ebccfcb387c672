"""Interop tests: official Bareos clients against our daemons (the ``pybareos_venv`` and
``restapi_venv`` fixtures are in tests/conftest.py: system tests use python-bareos too).

python-bareos lives in ``.venv-pybareos`` (``scripts/pybareos-venv``), bareos-restapi in
``.venv-restapi`` (``scripts/pybareos-venv restapi``); both are driven in subprocesses
(``bareos.testing.pybareos``, ``bareos.testing.restapi``).  If a venv cannot be made, its
tests are skipped with the reason, except in CI (``CI=true``), where that is a failure.
"""
