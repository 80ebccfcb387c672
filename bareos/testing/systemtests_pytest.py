"""pytest for Bareos' system tests; run INSIDE the python-bareos venv only.

Executed as a script by :mod:`bareos.testing.systemtests` (``<venv>/bin/python
systemtests_pytest.py <pytest args>``), never imported: python-bareos's package
is also called ``bareos``.  It runs pytest with one plugin that marks the tests
named in ``$BAREOS_SYSTEMTESTS_SKIPS`` (JSON ``{"<file>::<test>": reason}``) as
skipped with their reason, so the test files themselves run unchanged.
"""

import json
import os
import sys

import pytest


class SkipNamedTests:
    def __init__(self, reasons):
        self.reasons = reasons

    def pytest_collection_modifyitems(self, items):
        for item in items:
            key = f"{item.path.name}::{getattr(item, 'originalname', None) or item.name}"
            if key in self.reasons:
                item.add_marker(pytest.mark.skip(reason=f"needs a file daemon plugin: {self.reasons[key]}"))


if __name__ == "__main__":
    # the script's own directory (bareos/testing) must not shadow the tests' imports
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    reasons = json.loads(os.environ.get("BAREOS_SYSTEMTESTS_SKIPS") or "{}")
    sys.exit(pytest.main(sys.argv[1:], plugins=[SkipNamedTests(reasons)]))
