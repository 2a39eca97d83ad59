"""Shared fixtures: a local page server; nothing here reaches the internet."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from tests.pageserver import PageServer
from tests.smtp_server import SmtpSink


def _address(host: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host))
    except ValueError:
        return None


def _loopback(host: object) -> bool:
    address = _address(host)
    return host in (None, "localhost", b"localhost") or bool(address and address.is_loopback)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test stays on 127.0.0.1: a name other than localhost does not resolve (no DNS
    query leaves the machine) and a connection elsewhere is refused, whichever client tries.

    Tests of unresolvable hosts (``*.invalid``) get the resolver's own "unknown name" answer.
    The fetcher's event loop may be uvloop, which resolves in C: its connections are opened
    through :func:`tracker.http11.open_connection`, guarded the same way.
    """
    import tracker.http11

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    real_open = tracker.http11.open_connection

    def unknown(host: object) -> socket.gaierror:
        return socket.gaierror(socket.EAI_NONAME, f"Name or service not known (tests resolve "
                                                  f"only localhost, not {host!r})")

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not _loopback(host) and _address(host) is None:  # an address needs no DNS query
            raise unknown(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock: socket.socket, address) -> None:  # type: ignore[no-untyped-def]
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise ConnectionRefusedError(f"tests connect only to loopback, not {address!r}")
        real_connect(sock, address)

    async def open_connection(host: str, port: int, **options: object):  # type: ignore[no-untyped-def]
        if not _loopback(host):
            if _address(host) is None:
                raise unknown(host)
            raise ConnectionRefusedError(f"tests connect only to loopback, not {host!r}")
        return await real_open(host, port, **options)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(tracker.http11, "open_connection", open_connection)


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Config snapshots (tracker.config_snapshot) go to a folder of each test's own, never to
    the user's ~/.cache; `tracker` commands run as subprocesses inherit it."""
    monkeypatch.setenv("TRACKER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(params=[pytest.param(("asyncio", {}), id="asyncio"),
                        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop")])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict]:
    """Async tests run on both loops the fetcher runs on: asyncio's (libraries, the daemon's
    tests) and uvloop (every check). A module that needs only one defines its own."""
    return request.param


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
