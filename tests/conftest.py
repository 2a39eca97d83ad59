"""Shared fixtures: a local page server; nothing here reaches the internet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pageserver import PageServer
from tests.smtp_server import SmtpSink


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Config snapshots (tracker.config_snapshot) go to a folder of each test's own, never to
    the user's ~/.cache; `tracker` commands run as subprocesses inherit it."""
    monkeypatch.setenv("TRACKER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def page_server() -> Iterator[PageServer]:
    server = PageServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()
