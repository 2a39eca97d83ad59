"""Shared fixtures: a local page server; nothing here reaches the internet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pageserver import PageServer


@pytest.fixture
def page_server() -> Iterator[PageServer]:
    server = PageServer().start()
    try:
        yield server
    finally:
        server.stop()
