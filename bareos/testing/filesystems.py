"""A small file system to fill up: full-disk tests mount a tmpfs of a few MiB (root only)."""

import contextlib
import os
import shutil
import subprocess

import pytest


@contextlib.contextmanager
def small_tmpfs(directory, size="2m"):
    """Mount a tmpfs of *size* on *directory* (an existing, empty directory) for the block.

    Skips the test where this cannot work (not root, no mount); under CI (``CI=true``,
    where the suite runs as root) that is a failure instead, so the test is not lost.
    """
    reason = None
    if os.geteuid() != 0 or shutil.which("mount") is None:
        reason = f"mounting a {size} tmpfs needs root"
    else:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                 str(directory)], capture_output=True, text=True)
        if result.returncode != 0:
            reason = f"cannot mount a tmpfs: {result.stderr.strip()}"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)
