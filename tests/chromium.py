"""Finding and starting the system Chromium for the browser tests and benchmarks."""

from __future__ import annotations

import shutil

# Headless as root, and no background connections: this machine's network is closed and
# Chromium's update, sync and Google look-ups would be refused, many at a time.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """The Chromium executable on PATH (Debian's package installs /usr/bin/chromium)."""
    return next(filter(None, (shutil.which(name) for name in
                              ("chromium", "chromium-browser", "google-chrome"))), None)
