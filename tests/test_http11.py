"""The lean HTTP/1.1 client under real protocol variety: TLS, chunked, gzip, 1xx, HTTP/1.0."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile_server import HostileServer, RawRequest, head
from tests.hostile_server import hostile_server as start_hostile_server
from tracker import http11
from tracker.fetch import Fetcher, FetchSettings

FAST = FetchSettings(timeout=3.0, per_host_delay=0.0, retries=0, backoff=0.01)
PAGE = b"<html><body><main><h1>Privacy</h1>" + b"<p>We keep logs for a year.</p>" * 200


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with start_hostile_server() as server:
        yield server


def raw_route(data: bytes, keep_open: bool = True):  # type: ignore[no-untyped-def]
    async def route(_request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        await writer.drain()
        return keep_open

    return route


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
             for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


@pytest.mark.anyio
async def test_chunked_gzip_bodies_on_one_kept_alive_connection(hostile: HostileServer) -> None:
    packed = gzip.compress(PAGE)
    hostile.routes["/chunked-gzip"] = raw_route(
        head(200, {"Content-Type": "text/html", "Transfer-Encoding": "chunked",
                   "Content-Encoding": "gzip"}) + chunked(packed))
    before = hostile.connections
    async with Fetcher(FAST) as fetcher:
        results = [await fetcher.fetch(hostile.url("/chunked-gzip")) for _ in range(3)]
    assert [(r.ok, r.body == PAGE) for r in results] == [(True, True)] * 3
    assert hostile.connections - before == 1


@pytest.mark.anyio
async def test_informational_response_is_skipped(hostile: HostileServer) -> None:
    hostile.routes["/early-hints"] = raw_route(
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        + head(200, {"Content-Type": "text/html"}, len(PAGE)) + PAGE)
    async with Fetcher(FAST) as fetcher:
        result = await fetcher.fetch(hostile.url("/early-hints"))
    assert result.ok and result.status == 200 and result.body == PAGE


@pytest.mark.anyio
async def test_http10_body_ends_when_the_connection_closes(hostile: HostileServer) -> None:
    hostile.routes["/old-server"] = raw_route(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + PAGE, keep_open=False)
    async with Fetcher(FAST) as fetcher:
        first = await fetcher.fetch(hostile.url("/old-server"))
        second = await fetcher.fetch(hostile.url("/old-server"))  # needs a new connection
    assert first.ok and first.body == PAGE and second.ok and second.body == PAGE


@pytest.mark.anyio
async def test_repeated_headers_are_joined(hostile: HostileServer) -> None:
    hostile.routes["/cookies"] = raw_route(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
        b"Content-Length: %d\r\n\r\n" % len(PAGE) + PAGE)
    async with Fetcher(FAST) as fetcher:
        result = await fetcher.fetch(hostile.url("/cookies"))
    assert result.headers["set-cookie"] == "a=1, b=2"


@pytest.mark.anyio
async def test_bytes_after_a_response_are_not_taken_for_the_next(hostile: HostileServer) -> None:
    # A server that sends a second, unasked-for response: the connection is not reused, so
    # the next request cannot receive it as its answer.
    stale = head(200, {"Content-Type": "text/html"}, 5) + b"STALE"
    hostile.routes["/double"] = raw_route(
        head(200, {"Content-Type": "text/html"}, len(PAGE)) + PAGE + stale)
    hostile.routes["/fresh"] = raw_route(head(200, {"Content-Type": "text/html"}, 5) + b"fresh")
    before = hostile.connections
    async with Fetcher(FAST) as fetcher:
        first = await fetcher.fetch(hostile.url("/double"))
        second = await fetcher.fetch(hostile.url("/fresh"))
    assert first.ok and first.body == PAGE
    assert second.ok and second.body == b"fresh"
    assert hostile.connections - before == 2


@pytest.mark.anyio
async def test_a_stored_validator_cannot_add_request_headers(hostile: HostileServer) -> None:
    # ETags come back from servers; one with CR/LF in it must not become headers of its own.
    hostile.routes["/page"] = raw_route(head(200, {"Content-Type": "text/html"}, 5) + b"hello")
    seen = len(hostile.requests)
    async with Fetcher(FAST) as fetcher:
        result = await fetcher.fetch(hostile.url("/page"), etag='"a"\r\nX-Injected: 1')
    assert result.error is not None and result.error.startswith("invalid request")
    assert all("x-injected" not in r.headers for r in hostile.requests[seen:])


@pytest.mark.anyio
async def test_a_big_body_arrives_whole_through_back_pressure(hostile: HostileServer) -> None:
    big = b"<p>" + b"x" * 3_000_000 + b"</p>"  # far over the buffer that pauses reading
    hostile.routes["/big"] = raw_route(head(200, {"Content-Type": "text/html"}, len(big)) + big)
    async with Fetcher(FAST) as fetcher:
        result = await fetcher.fetch(hostile.url("/big"))
        again = await fetcher.fetch(hostile.url("/big"))  # the connection is reusable after
    assert result.ok and result.body == big and again.ok and again.body == big


@pytest.mark.anyio
async def test_endless_headers_are_cut_off(hostile: HostileServer) -> None:
    # h11 capped a response's head at 16 KB; llhttp keeps whatever it is sent, so we cap it.
    hostile.routes["/headers"] = raw_route(
        b"HTTP/1.1 200 OK\r\nX-Junk: " + b"a" * (http11.MAX_HEAD_BYTES + 10_000))
    hostile.routes["/many"] = raw_route(
        b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 20_000 + b"Content-Length: 2\r\n\r\nok")
    async with Fetcher(FAST) as fetcher:
        one = await fetcher.fetch(hostile.url("/headers"))
        many = await fetcher.fetch(hostile.url("/many"))
    for result in (one, many):
        assert result.error is not None and "headers over" in result.error, result.error


# --- TLS -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[tuple[int, Path, list[str]]]:
    """An HTTPS server on 127.0.0.1 with a fresh self-signed certificate for "localhost"."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    loop = asyncio.new_event_loop()
    requests: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (line := await reader.readline()):
                host = ""
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    if header.lower().startswith(b"host:"):
                        host = header.split(b":", 1)[1].strip().decode()
                requests.append(f"{line.split()[1].decode()} {host}")
                writer.write(head(200, {"Content-Type": "text/html"}, len(PAGE)) + PAGE)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = loop.run_until_complete(asyncio.start_server(serve, "127.0.0.1", 0, ssl=context))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server.sockets[0].getsockname()[1], cert, requests
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.mark.anyio
async def test_https_verifies_against_ssl_cert_file(tls_server, monkeypatch) -> None:
    port, cert, requests = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    async with Fetcher(FAST) as fetcher:
        results = [await fetcher.fetch(f"https://localhost:{port}/p?x=1") for _ in range(2)]
    assert [(r.ok, r.body == PAGE) for r in results] == [(True, True)] * 2
    assert requests[-1] == f"/p?x=1 localhost:{port}"  # target with query, Host with port


@pytest.mark.anyio
async def test_https_with_an_untrusted_certificate_fails_clearly(tls_server,
                                                                 monkeypatch) -> None:
    port, _, _ = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with Fetcher(FAST) as fetcher:  # certifi's roots do not know our test certificate
        result = await fetcher.fetch(f"https://localhost:{port}/p")
    assert result.error is not None
    assert result.error.startswith(f"TLS certificate error from localhost:{port}")
    assert result.attempts == 1 and not result.ok


@pytest.mark.anyio
async def test_internationalized_host_is_sent_in_ascii(hostile: HostileServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Every connection goes to the local server; the host the client asked for is recorded.
    connected: list[str] = []
    real_open = http11.open_connection

    async def to_local(host: str, port: int, **kwargs):  # type: ignore[no-untyped-def]
        connected.append(host)
        return await real_open("127.0.0.1", hostile.port, **kwargs)

    monkeypatch.setattr(http11, "open_connection", to_local)
    hostile.routes["/idn"] = raw_route(head(200, {"Content-Type": "text/html"}, len(PAGE)) + PAGE)
    async with Fetcher(FAST) as fetcher:
        result = await fetcher.fetch("http://bücher.example/idn")
    assert result.ok and result.body == PAGE
    assert connected == ["xn--bcher-kva.example"]
    assert hostile.requests[-1].headers["host"] == "xn--bcher-kva.example"
