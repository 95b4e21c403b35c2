"""Headless Chromium for the page tests: Debian's /usr/bin/chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"

needs_chromium = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and shutil.which("chromium")),
    reason="no Chromium: apt-get install chromium fonts-wqy-microhei to run the browser tests",
)


def launch_options() -> dict[str, Any]:
    """Headless, no downloads, no calls home: this machine has no network beyond loopback."""
    return {
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }
