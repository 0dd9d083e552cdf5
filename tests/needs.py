"""What a test needs of the machine: under CI a missing program fails the test, elsewhere it
skips, saying so loudly."""

from __future__ import annotations

import os
import shutil

import pytest


def bwrap(what: str) -> None:
    """Bubblewrap, which job code runs in (``executors/ray/sandbox.py``)."""
    if shutil.which("bwrap") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bubblewrap (bwrap) is required under CI: apt-get install bubblewrap")
        pytest.skip(f"SKIPPING {what}: bubblewrap (bwrap) is not installed")
