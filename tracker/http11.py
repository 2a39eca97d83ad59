"""A lean HTTP/1.1 client for the check loop: asyncio streams, h11 for the protocol.

Why not httpx here: in `benchmarks/check_cycle.py` httpx spent ~1.05 ms of CPU per 40 KB
request against a local nginx (some 3,000 Python calls through httpx, httpcore and anyio),
more than parsing the page. The same requests over asyncio streams with h11, the sans-IO
HTTP/1.1 state machine httpcore itself uses, cost ~0.16 ms. Parsing and framing (chunked
bodies, Content-Length, keep-alive rules, header validation) stay h11's job; this module only
does I/O and keeps idle connections per origin. :mod:`tracker.fetch` keeps httpx for requests
that must go through a proxy.

Errors surface as the standard exceptions (``socket.gaierror``, ``ssl.SSLError``,
``ConnectionRefusedError``, other ``OSError``) or as :class:`ProtocolError` /
:class:`ConnectionClosed`, which the fetcher turns into one-line reasons.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import h11

#: Idle connections older than this are closed rather than reused (servers drop them anyway).
KEEPALIVE_EXPIRY = 5.0
_READ_SIZE = 65_536
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ProtocolError(Exception):
    """The server broke HTTP/1.1 framing (bad status line, bad chunk, body cut short)."""


class ConnectionClosed(Exception):
    """The server closed the connection; ``in_body`` says whether a response had started."""

    def __init__(self, message: str, in_body: bool) -> None:
        super().__init__(message)
        self.in_body = in_body


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0
    reused: bool = False

    def usable(self, now: float) -> bool:
        """Still worth reusing: recent, and the server has not closed its end."""
        return (now - self.idle_since < KEEPALIVE_EXPIRY and not self.reader.at_eof()
                and not self.writer.is_closing())

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


class Response:
    """Status and headers of a response whose body is read with :meth:`aiter_raw`.

    The body arrives exactly as sent (Content-Encoding is the caller's business, so a size cap
    can apply to decoded bytes). Always :meth:`aclose`: a fully read body returns the
    connection to the pool, anything else closes it.
    """

    def __init__(self, pool: ConnectionPool, origin: tuple[str, str, int],
                 connection: _Connection, status_code: int, headers: dict[str, str]) -> None:
        self._pool = pool
        self._origin = origin
        self._connection: _Connection | None = connection
        self.status_code = status_code
        self.headers = headers
        self._done = False

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None or self._done:
            return
        while True:
            event = await _next_event(connection, in_body=True)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
                return

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._done and connection.protocol.our_state is h11.DONE \
                and connection.protocol.their_state is h11.DONE:
            connection.protocol.start_next_cycle()
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
        authority = _authority(host, port, scheme)
        request = h11.Request(method="GET", target=target,
                              headers=[("Host", authority), *headers])
        connection = self._take_idle(origin)
        if connection is not None:
            if trace is not None:
                trace["connected"] = True
            try:
                return await self._exchange(origin, connection, request)
            except (ConnectionClosed, OSError) as exc:
                # A kept-alive connection the server dropped meanwhile: normal, try a new one.
                connection.close()
                if isinstance(exc, ConnectionClosed) and exc.in_body:
                    raise
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
                        request: h11.Request) -> Response:
        try:
            connection.writer.write(connection.protocol.send(request))
            connection.writer.write(connection.protocol.send(h11.EndOfMessage()))
            await connection.writer.drain()
            while True:
                event = await _next_event(connection, in_body=False)
                if isinstance(event, h11.Response):
                    break  # InformationalResponse (1xx) events are skipped
        except BaseException:
            connection.close()
            raise
        headers: dict[str, str] = {}
        for raw_name, raw_value in event.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return Response(self, origin, connection, event.status_code, headers)

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now):
                connection.reused = True
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
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if context else None,
            limit=_READ_SIZE)
        return _Connection(reader, writer)

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


async def _next_event(connection: _Connection, in_body: bool) -> object:
    """The next h11 event, reading from the socket as needed."""
    protocol = connection.protocol
    while True:
        try:
            event = protocol.next_event()
        except h11.RemoteProtocolError as exc:
            if in_body:
                raise ProtocolError(f"malformed body: {exc}") from exc
            raise ProtocolError(f"malformed response: {exc}") from exc
        if event is not h11.NEED_DATA:
            if isinstance(event, h11.ConnectionClosed):
                raise ConnectionClosed("server closed the connection", in_body)
            return event
        data = await connection.reader.read(_READ_SIZE)
        if not data and in_body:
            # h11 raises on the next event if the framing says more was due.
            try:
                protocol.receive_data(b"")
                event = protocol.next_event()
            except h11.RemoteProtocolError as exc:
                raise ProtocolError(f"body cut short: {exc}") from exc
            if isinstance(event, h11.ConnectionClosed):
                raise ConnectionClosed("server closed the connection", in_body)
            return event
        if not data:
            raise ConnectionClosed("server closed the connection without a response", False)
        protocol.receive_data(data)


def _authority(host: str, port: int | None, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return shown
    return f"{shown}:{port}"
