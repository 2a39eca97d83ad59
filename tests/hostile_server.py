"""A deliberately misbehaving HTTP/1.1 server on 127.0.0.1, for fetcher fault tests.

:class:`tests.pageserver.PageServer` speaks correct HTTP; real servers do not. This one writes
raw bytes on an asyncio socket server, so a route can reset the connection mid-body, drip one
byte at a time, lie in Content-Length, stream 50 MB, serve a gzip bomb or answer a TLS
handshake with plain text. It runs its own event loop in a daemon thread, so tests drive it
from any event loop (or none) and it never shares one with the code under test.

A route is ``async (request, writer) -> bool``: it writes whatever it likes and returns True to
keep the connection open for the next request. The helpers below build the usual ones.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import socket
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]
    received_at: float  # time.monotonic() when the request line arrived
    connection: int  # which TCP connection carried it (1, 2, ...)


Route = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[bool]]

_REASONS = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found",
            304: "Not Modified", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class HostileServer:
    """Serve ``routes`` (exact path, or a prefix ending in ``*``) on an ephemeral port."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[RawRequest] = field(default_factory=list)
    connections: int = 0

    def start(self) -> HostileServer:
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def _route(self, path: str) -> Route:
        bare = path.split("?")[0]
        if bare in self.routes:
            return self.routes[bare]
        for key, route in self.routes.items():
            if key.endswith("*") and bare.startswith(key[:-1]):
                return route
        return respond(404, {"Content-Type": "text/plain"}, b"not found")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        connection = next(self._ids)
        try:
            while True:
                first = await reader.read(1)
                if not first:
                    return
                if first == b"\x16":  # a TLS ClientHello on a plain port: answer in plain text
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                    await writer.drain()
                    return
                line = first + await reader.readline()
                parts = line.decode("latin-1").split()
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                if len(parts) < 2:
                    return
                request = RawRequest(parts[0], parts[1], headers, time.monotonic(), connection)
                self.requests.append(request)
                if not await self._route(request.path)(request, writer):
                    return
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # a client hanging up, or the server stopping: both are normal here
        finally:
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.close()


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    """Start a server for the duration of a ``with`` block (or a fixture)."""
    server = HostileServer().start()
    try:
        yield server
    finally:
        server.stop()


# --- writing raw responses -------------------------------------------------------------------


def head(status: int, headers: dict[str, str] | None = None,
         content_length: int | None = None) -> bytes:
    """A status line and headers; Content-Length only when given (it may be a lie)."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Whatever')}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def respond(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Route:
    """A well-formed response with a true Content-Length; keeps the connection alive."""

    async def route(_request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        await _send(writer, head(status, headers, len(body)) + body)
        return True

    return route


def html(body: str, status: int = 200, charset: str | None = "utf-8",
         headers: dict[str, str] | None = None, encoding: str = "utf-8") -> Route:
    content_type = "text/html" + (f"; charset={charset}" if charset else "")
    return respond(status, {"Content-Type": content_type, **(headers or {})},
                   body.encode(encoding))


def sequence(routes: Sequence[Route]) -> Route:
    """Answer with each route in turn; the last one repeats (e.g. 503, 503, then 200)."""
    calls = itertools.count()

    async def route(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        return await routes[min(next(calls), len(routes) - 1)](request, writer)

    return route


def reset_mid_body(declared: int = 100_000, sent: int = 2_000) -> Route:
    """Send headers and part of the body, then reset the connection (RST, not FIN)."""

    async def route(_request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        await _send(writer, head(200, {"Content-Type": "text/html"}, declared) + b"x" * sent)
        await asyncio.sleep(0.05)  # let the partial body reach the client first
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False

    return route


def truncated(declared: int = 10_000, sent: int = 4_000,
              headers: dict[str, str] | None = None, body: bytes | None = None) -> Route:
    """Claim ``declared`` bytes, send fewer, then close cleanly (FIN): a lying Content-Length."""

    async def route(_request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        payload = body if body is not None else b"<p>word</p>" * (sent // 11)
        await _send(writer, head(200, {"Content-Type": "text/html", **(headers or {})},
                                 declared) + payload[:sent])
        return False

    return route


def truncated_chunked(chunks: int = 3) -> Route:
    """A chunked body that stops without the terminating zero-length chunk."""

    async def route(_request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        data = head(200, {"Content-Type": "text/html", "Transfer-Encoding": "chunked"})
        for _ in range(chunks):
            data += b"400\r\n" + b"y" * 0x400 + b"\r\n"
        await _send(writer, data)
        return False

    return route


def drip(interval: float = 0.1, declared: int | None = 1_000_000) -> Route:
    """Send the headers, then one byte every ``interval`` seconds, for ever."""

    async def route(_request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        await _send(writer, head(200, {"Content-Type": "text/html"}, declared))
        while True:
            await _send(writer, b"a")
            await asyncio.sleep(interval)

    return route


def silent() -> Route:
    """Accept the request and never answer."""

    async def route(_request: RawRequest, _writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(3600)
        return False

    return route


def endless(total: int = 50_000_000, declare_length: bool = True) -> Route:
    """Stream ``total`` bytes of HTML-ish filler (until the client hangs up)."""
    chunk = b"<p>" + b"lorem ipsum " * 5_000 + b"</p>\n"

    async def route(_request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        await _send(writer, head(200, {"Content-Type": "text/html"},
                                 total if declare_length else None))
        sent = 0
        while sent < total:
            piece = chunk[: total - sent]
            await _send(writer, piece)
            sent += len(piece)
        return False

    return route


@functools.lru_cache(maxsize=4)
def gzip_bomb_bytes(decoded_size: int) -> bytes:
    """``decoded_size`` bytes of zeros, gzip-compressed (about 1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * 1_000_000
    parts = [compressor.compress(block) for _ in range(decoded_size // len(block))]
    parts.append(compressor.compress(b"\0" * (decoded_size % len(block))))
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb(decoded_size: int = 200_000_000) -> Route:
    """A small gzip body that inflates to ``decoded_size`` bytes, labelled text/html."""
    return respond(200, {"Content-Type": "text/html", "Content-Encoding": "gzip"},
                   gzip_bomb_bytes(decoded_size))


def redirect(location: str, status: int = 302) -> Route:
    return respond(status, {"Location": location}, b"")


def redirect_forever(prefix: str) -> Route:
    """``{prefix}N`` redirects to ``{prefix}N+1``: an infinite chain with no loop."""

    async def route(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        tail = request.path[len(prefix):]
        number = int(tail) if tail.isdigit() else 0
        await _send(writer, head(302, {"Location": f"{prefix}{number + 1}"}, 0))
        return True

    return route
