"""Interop tests: the official python-bareos client against our daemons (the
``pybareos_venv`` fixture is in tests/conftest.py: system tests use python-bareos too).

python-bareos lives in ``.venv-pybareos`` (``scripts/pybareos-venv``) and is
driven in a subprocess (``bareos.testing.pybareos``).  If that venv cannot be
made, the interop tests are skipped with the reason, except in CI
(``CI=true``), where that is a failure.
"""
