"""Shared fixtures: a local page server; nothing here reaches the internet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pageserver import PageServer
from tests.smtp_server import SmtpSink


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
