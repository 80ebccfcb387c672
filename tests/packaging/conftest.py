"""Fixtures of the packaging tests (helpers: packaging_helpers.py)."""

import shutil

import pytest

from packaging_helpers import SYSTEM_PATH, require_debian_packages


@pytest.fixture(scope="session")
def man_tools():
    require_debian_packages("mandoc", "man-db", "groff-base")
    for tool in ("mandoc", "man"):
        assert shutil.which(tool, path=SYSTEM_PATH), f"{tool} missing after install"
