"""The suite's own guard (tests/conftest.py): nothing a test does can leave 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from tracker.fetch import Fetcher, FetchSettings


def test_names_other_than_localhost_do_not_resolve() -> None:
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)
    assert socket.getaddrinfo("localhost", 80)


def test_connections_elsewhere_are_refused() -> None:
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("192.0.2.1", 80), 1):
        pass


@pytest.mark.anyio
async def test_the_fetcher_on_either_loop_stays_home() -> None:
    async with Fetcher(FetchSettings(retries=0, per_host_delay=0)) as fetcher:
        result = await fetcher.fetch("https://example.com/privacy")
    assert result.error is not None and result.error.startswith("DNS lookup failed")
