"""Retrying what SQLite answers "database is locked" to without waiting its busy timeout."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retry_locked(action: Callable[[], T], locked: Callable[[Exception], bool],
                 timeout: float) -> T:
    """Run ``action``; a "locked" answer is retried for up to ``timeout`` seconds.

    Processes setting up the same brand-new SQLite file (two cron jobs, the CLI and the daemon
    started together, a cycle's shards opening blobs.sqlite3) can get "database is locked" at
    once, without SQLite's busy timeout being applied: switching a file to WAL and creating
    its tables take locks the busy handler does not wait for. Setting up is idempotent, so
    waiting and trying again is safe; any other error, or the timeout running out, is raised.
    """
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            return action()
        except Exception as exc:
            if not locked(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def sqlite_locked(exc: Exception) -> bool:
    """Whether ``exc`` is sqlite3's "database is locked" (the answer worth waiting out)."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
