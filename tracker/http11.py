"""A lean HTTP/1.1 client for the check loop: an asyncio protocol, httptools for parsing.

Why not httpx here: in `benchmarks/check_cycle.py` httpx spent ~1.05 ms of CPU per 40 KB
request against a local nginx (some 3,000 Python calls through httpx, httpcore and anyio),
more than parsing the page. h11 on asyncio streams, the pure-Python state machine httpcore
uses, brought that to ~0.4 ms on a slow day, still a third of a cycle of unchanged pages.
Here the response is parsed by httptools (llhttp, the parser of Node.js, as uvicorn uses it)
inside an :class:`asyncio.Protocol`: bytes go from the socket to the parser with no stream
layer in between, and framing (chunked bodies, Content-Length, bodies that end with the
connection, 1xx responses, keep-alive rules) is llhttp's job. This module does the I/O,
keeps idle connections per origin and applies back-pressure to large bodies.
:mod:`tracker.fetch` keeps httpx for requests that must go through a proxy.

Errors surface as the standard exceptions (``socket.gaierror``, ``ssl.SSLError``,
``ConnectionRefusedError``, other ``OSError``) or as :class:`ProtocolError` /
:class:`ConnectionClosed`, which the fetcher turns into one-line reasons.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator

import httptools

#: Idle connections older than this are closed rather than reused (servers drop them anyway).
KEEPALIVE_EXPIRY = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Body bytes buffered before the socket stops being read (a slow consumer, a huge page).
_PAUSE_ABOVE, _RESUME_BELOW = 1 << 18, 1 << 16
#: What may not appear in a request line or header: CR/LF would split it, NUL ends it early.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_NO_BODY_STATUSES = frozenset({204, 304})
_SECOND_RESPONSE = "the server sent more than one response"
#: Bytes a response may take before its headers end (h11's cap was 16 KB; real ones are a few
#: KB, a few sites' cookies and policies run to tens): more is a hostile or broken server.
MAX_HEAD_BYTES = 65_536


class ProtocolError(Exception):
    """The server broke HTTP/1.1 framing (bad status line, bad chunk, body cut short)."""


class InvalidRequest(ValueError):
    """A request this client refuses to send (a control character in a header, say)."""


class ConnectionClosed(Exception):
    """The server closed the connection; ``in_body`` says whether a response had started."""

    def __init__(self, message: str, in_body: bool) -> None:
        super().__init__(message)
        self.in_body = in_body


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the response being parsed on it.

    llhttp calls back as bytes arrive (``on_header``, ``on_body``, ...); the coroutine that
    waits for the response's head or its next body bytes is woken through one future.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._lost: BaseException | None = None  # what connection_lost said, if anything
        self._error: Exception | None = None
        self._paused = False
        self._head_bytes = 0  # received while the current response's head is incomplete
        self._start_response()
        self._keep_alive = False  # llhttp's verdict, read as the response completes

    def _start_response(self) -> None:
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.complete = False
        self.until_close = False  # no Content-Length, not chunked: the body ends with the EOF
        self.received = 0
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._informational = False

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._error is not None:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("the server switched protocols (not HTTP/1.1)"))
        except httptools.HttpParserCallbackError:  # on_message_begin: a second response
            self._fail(ProtocolError(_SECOND_RESPONSE))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(_parser_message(exc)))
        else:
            if self.status is None:  # llhttp keeps a header it has not seen the end of
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._fail(ProtocolError(f"headers over {MAX_HEAD_BYTES} bytes"))

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc
        self._wake()

    def pause_writing(self) -> None:  # a GET is a few hundred bytes: nothing to hold back
        pass

    def resume_writing(self) -> None:
        pass

    # --- llhttp callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # unasked-for bytes after the response: llhttp stops here
            raise ProtocolError(_SECOND_RESPONSE)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue, 103 Early Hints: the real response follows
            self._informational = True
            self._raw_headers = []
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in self._raw_headers:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self._raw_headers = []
        self.status, self.headers = status, headers
        self._head_bytes = 0
        self.until_close = (status not in _NO_BODY_STATUSES and "content-length" not in headers
                            and "chunked" not in headers.get("transfer-encoding", "").lower())
        self._wake()

    def on_body(self, body: bytes) -> None:
        if not body:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        self.received += len(body)
        if self._buffered > _PAUSE_ABOVE and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self.complete = True
        self._keep_alive = self._parser.should_keep_alive()  # reset once the next one begins
        self._wake()

    # --- for the pool and the response ---------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionClosed("the connection is closed", False)
        self.transport.write(data)

    async def head(self) -> None:
        """Wait until the response's status and headers have arrived."""
        while self.status is None:
            if self._error is not None:
                raise ProtocolError(f"malformed response: {self._error}") from self._error
            if self._eof:
                if self._lost is not None:
                    raise self._lost
                raise ConnectionClosed("server closed the connection without a response", False)
            await self._wait()

    async def body_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises if the connection ends before the body does."""
        while True:
            while self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < _RESUME_BELOW and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield chunk
            if self.complete:
                return
            if self._error is not None:
                raise ProtocolError(f"malformed body: {self._error}") from self._error
            if self._eof:
                if self.until_close and self._lost is None:
                    self.complete = True  # an HTTP/1.0-style body: the close is its end
                    return
                if self._lost is not None:
                    raise self._lost
                expected = self.headers.get("content-length")
                of = f" of {expected}" if expected is not None else ""
                raise ProtocolError(f"body cut short: the connection closed after "
                                    f"{self.received}{of} bytes")
            await self._wait()

    def reusable(self) -> bool:
        """The response was read in full and both sides agreed to keep the connection."""
        return (self.complete and not self.until_close and self._error is None
                and not self._eof and self._keep_alive)

    def recycle(self) -> None:
        self._start_response()

    def usable(self, now: float) -> bool:
        """Still worth reusing: recent, and the server has not closed its end."""
        return (now - self.idle_since < KEEPALIVE_EXPIRY and not self._eof
                and self._error is None and self.transport is not None
                and not self.transport.is_closing())

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # --- internals -----------------------------------------------------------------------

    def _fail(self, error: Exception) -> None:
        self._error = error
        self._wake()
        if self.transport is not None:
            self.transport.close()

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield  # an async generator that yields nothing


def _parser_message(exc: Exception) -> str:
    """llhttp's reason on one line (it names what it expected: "Expected HTTP/")."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class Response:
    """Status and headers of a response whose body is read with :meth:`aiter_raw`.

    Header names are lowercase; repeated headers are joined with ", ". The body arrives
    exactly as sent (Content-Encoding is the caller's business, so a size cap can apply to
    decoded bytes). Always :meth:`aclose`: a fully read body returns the connection to the
    pool, anything else closes it.
    """

    def __init__(self, pool: ConnectionPool, origin: tuple[str, str, int],
                 connection: _Connection) -> None:
        self._pool = pool
        self._origin = origin
        self._connection: _Connection | None = connection
        self.status_code: int = connection.status or 0
        self.headers = connection.headers

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (the connection's own iterator, not a wrapper)."""
        if self._connection is None:
            return _nothing()
        return self._connection.body_chunks()

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if connection.reusable():
            connection.recycle()
            self._pool._release(self._origin, connection)
        else:
            connection.close()


class ConnectionPool:
    """Keep-alive HTTP/1.1 connections, at most ``max_idle_per_origin`` idle per origin.

    Concurrency limits are the caller's (the fetcher's semaphores); the pool only decides
    whether a request gets an idle connection or a new one.
    """

    def __init__(self, max_idle_per_origin: int = 8, trust_env: bool = True) -> None:
        self._max_idle = max(1, max_idle_per_origin)
        self._trust_env = trust_env
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def request(self, scheme: str, host: str, port: int | None, target: bytes,
                      headers: list[tuple[str, str]],
                      trace: dict[str, bool] | None = None) -> Response:
        """Send a GET and return once the response head has arrived.

        ``trace["connected"]`` is set once a connection is up, so a caller's deadline can
        tell a connect timeout (worth retrying) from a server that never answers.
        """
        origin = (scheme, host, port or _DEFAULT_PORTS[scheme])
        request = _request_bytes(target, _authority(host, port, scheme), headers)
        connection = self._take_idle(origin)
        if connection is not None:
            if trace is not None:
                trace["connected"] = True
            try:
                return await self._exchange(origin, connection, request)
            except (ConnectionClosed, OSError):
                # A kept-alive connection the server dropped meanwhile: normal, try a new one.
                # (No response had started: a failure after the head comes from aiter_raw.)
                connection.close()
        connection = await self._connect(origin)
        if trace is not None:
            trace["connected"] = True
        return await self._exchange(origin, connection, request)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # --- internals -----------------------------------------------------------------------

    async def _exchange(self, origin: tuple[str, str, int], connection: _Connection,
                        request: bytes) -> Response:
        try:
            connection.send(request)
            await connection.head()
        except BaseException:
            connection.close()
            raise
        return Response(self, origin, connection)

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now):
                return connection
            connection.close()
        return None

    def _release(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self._max_idle:
            connection.close()
        else:
            idle.append(connection)

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        context = self._ssl_context() if scheme == "https" else None
        return await open_connection(host, port, ssl=context,
                                     server_hostname=host if context else None)

    def _ssl_context(self) -> ssl.SSLContext:
        """Verified TLS with httpx's trust roots: SSL_CERT_FILE/DIR when set, else certifi."""
        if self._ssl is None:
            cafile = os.environ.get("SSL_CERT_FILE") if self._trust_env else None
            capath = os.environ.get("SSL_CERT_DIR") if self._trust_env else None
            if not cafile and not capath:
                import certifi

                cafile = certifi.where()
            self._ssl = ssl.create_default_context(cafile=cafile, capath=capath)
        return self._ssl


async def open_connection(host: str, port: int, **options: object) -> _Connection:
    """A new connection (``options`` as :meth:`asyncio.loop.create_connection` takes them)."""
    loop = asyncio.get_running_loop()
    _, connection = await loop.create_connection(_Connection, host, port, **options)
    return connection


def _request_bytes(target: bytes, authority: str, headers: list[tuple[str, str]]) -> bytes:
    """A GET's request line and headers; control characters anywhere are refused.

    Header values come from the configuration and from earlier responses (ETag and
    Last-Modified): a CR or LF in one would otherwise let it add headers of its own.
    """
    path = target.decode("latin-1")
    if not path.startswith("/") or " " in path or _UNSAFE.search(path):
        raise InvalidRequest(f"invalid request target {path[:200]!r}")
    lines = [f"GET {path} HTTP/1.1", f"Host: {authority}"]
    for name, value in headers:
        if not name or ":" in name or _UNSAFE.search(name) or _UNSAFE.search(value):
            raise InvalidRequest(f"invalid request header {name[:100]!r}")
        lines.append(f"{name}: {value}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidRequest("a request header is not Latin-1 text") from None


def _authority(host: str, port: int | None, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return shown
    return f"{shown}:{port}"
