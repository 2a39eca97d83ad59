"""Live HTTP fetching: polite, bounded, and never raising for what the network does.

A daemon that checks thousands of pages must survive every way a server can misbehave: refused
connections, TLS on the wrong port, resets mid-body, bodies that drip one byte a second, lying
Content-Length, gzip bombs, redirect loops. :meth:`Fetcher.fetch` therefore turns each of those
into a :class:`FetchResult` with a one-line ``error`` (or a non-2xx ``status``) that the caller
stores and the quality gate (:mod:`tracker.quality`) explains; it never raises for them.

Politeness is enforced here, not by callers: a global cap on requests in flight, a cap per
host, a minimum delay between request starts to one host, and Retry-After honored (it also
holds back every other request to that host). With ``per_host_delay=0`` and a large
concurrency the same code runs at full speed.

Requests go over :mod:`tracker.http11` (httptools in an asyncio protocol, HTTP/1.1 keep-alive),
several times cheaper per request than httpx in the check-cycle benchmark; httpx (with HTTP/2)
carries only the requests the environment sends through a proxy. URLs are read by
:mod:`tracker.urls` (httpx's reading, a pattern for the common case) and redirects joined by
httpx.URL; httpx itself is imported only when one of those needs it.
"""

from __future__ import annotations

import asyncio
import codecs
import importlib.util
import logging
import math
import os
import random
import socket
import ssl
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import http11
from .target_spec import DEFAULT_PORTS, politeness_key
from .urls import InvalidURL, WebURL, parse_url

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


def _remember_missing_sniffio() -> None:
    """Make httpcore's per-request ``import sniffio`` fail fast when sniffio is absent.

    httpcore imports sniffio inside a function called several times per request; when the
    package is not installed (newer anyio no longer pulls it in) every call repeats a failed
    search of sys.path, which cost ~40% of a request's CPU in the local benchmark. A None
    entry in sys.modules is Python's own "known missing" marker, and without sniffio httpcore
    assumes asyncio either way, so behaviour is unchanged. Installing sniffio makes this moot.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_remember_missing_sniffio()

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_WEB_SCHEMES = frozenset({"http", "https"})
# A redirect's or 304's body is read (up to this much) only so the connection can be reused.
_DISCARD_LIMIT = 65_536
# Only encodings we can inflate with a bound on the output; anything else a server sends
# anyway goes through httpx's own decoders (still capped, chunk by chunk).
_ACCEPT_ENCODING = "gzip, deflate"
_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,text/markdown;q=0.9,*/*;q=0.5"
_MAX_IDLE_GATES = 4096
# httpx parses every redirect's Location even when not following it, and raises on one it
# cannot parse (``javascript:...``) before we see the response. A response hook parks the
# header under this name, so httpx sees no redirect and we judge the target ourselves.
_PARKED_LOCATION = "x-policy-tracker-location"


@dataclass(frozen=True)
class FetchSettings:
    """How hard and how politely to fetch; the defaults suit real third-party sites."""

    timeout: float = 30.0  # per-request overall deadline, seconds (covers slow-drip bodies)
    concurrency: int = 16  # requests in flight overall
    per_host_concurrency: int = 1
    per_host_delay: float = 2.0  # min seconds between request starts to one host (0 = none)
    max_bytes: int = 10_000_000  # cap on the DECODED body, so gzip bombs stop too
    user_agent: str = "policy-tracker/0.1 (+https://github.com/)"
    retries: int = 3  # extra attempts on connection errors, 429, 5xx
    backoff: float = 1.0  # base seconds of exponential backoff with full jitter
    max_retry_after: float = 120.0  # a longer Retry-After: give up now and record it
    max_redirects: int = 10
    trust_env: bool = True  # honor HTTP(S)_PROXY / NO_PROXY / SSL_CERT_FILE from the env


@dataclass
class FetchResult:
    """What one fetch produced: a response (any status) or a one-line reason there is none."""

    url: str
    final_url: str
    status: int | None
    headers: dict[str, str]  # lowercase names; repeated headers joined with ", "
    content_type: str  # mime type only, lowercase ("" when the server sent none)
    charset: str | None  # declared in Content-Type, and only if Python knows the codec
    body: bytes  # decoded (Content-Encoding removed); empty when ``error`` is set
    fetched_at: datetime  # aware UTC, when the fetch began
    elapsed: float  # seconds for the whole fetch, politeness waits and retries included
    redirects: list[str] = field(default_factory=list)  # URLs that answered with a redirect
    not_modified: bool = False  # a 304 to a conditional request: the page is unchanged
    error: str | None = None
    attempts: int = 1
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds the server asked us to wait (429/503)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


@dataclass
class _Outcome:
    """One attempt's result before it becomes a :class:`FetchResult`."""

    final_url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    redirects: list[str] = field(default_factory=list)


class _Failure(Exception):
    """Why an exchange produced no usable response, and whether trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


#: Holds from this many seconds on are logged (shorter ones pass unnoticed anyway).
_SAY_HOLDS_FROM = 10.0


@dataclass
class _HostGate:
    """Per-host politeness state: a concurrency slot and the earliest next request start."""

    slot: asyncio.Semaphore
    next_start: float = 0.0
    users: int = 0  # requests waiting for or holding the slot: a gate without any is idle


def _environment_proxies() -> dict[str, str]:
    """The proxies the environment names (HTTP_PROXY, ...), as urllib reads them.

    urllib.request, and the http.client and email packages it loads, cost ~10 ms at every
    start: imported only when some ``*_proxy`` variable is set (else it finds none either).
    """
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return {}
    import urllib.request

    return urllib.request.getproxies_environment()


class Fetcher:
    """Fetch pages over shared keep-alive connections (httpx with HTTP/2 for proxied URLs).

    Use as an async context manager so the connections are closed at the end.
    """

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings = settings or FetchSettings()
        self._headers = (("User-Agent", settings.user_agent), ("Accept", _ACCEPT),
                         ("Accept-Encoding", _ACCEPT_ENCODING))
        self._pool = http11.ConnectionPool(max_idle_per_origin=settings.concurrency,
                                           trust_env=settings.trust_env)
        self._proxies = _environment_proxies() if settings.trust_env else {}
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._gates: dict[str, _HostGate] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._pool.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def fetch(self, url: str, etag: str | None = None,
                    last_modified: str | None = None) -> FetchResult:
        """Fetch ``url``; network and HTTP problems become ``error`` or a non-2xx ``status``."""
        fetched_at = datetime.now(UTC)
        started = time.monotonic()
        conditional: dict[str, str] = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        attempts = 0
        while True:
            attempts += 1
            try:
                outcome = await self._follow(url, conditional)
            except Exception as exc:  # a bug must not kill the daemon's check loop
                log.exception("unexpected error fetching %s", url)
                outcome = _Outcome(url, error=f"internal error: {type(exc).__name__}: {exc}")
            delay = self._retry_delay(outcome, attempts)
            if delay is None:
                break
            await asyncio.sleep(delay)
        return self._result(url, outcome, conditional, fetched_at, started, attempts)

    # --- retries -------------------------------------------------------------------------

    def _retry_delay(self, outcome: _Outcome, attempts: int) -> float | None:
        """Seconds to wait before the next attempt, or None to stop here."""
        settings = self.settings
        if attempts > settings.retries:
            return None
        if outcome.error is not None:
            if not outcome.retryable:
                return None
        elif not _retryable_status(outcome.status):
            return None
        elif outcome.retry_after is not None:
            if outcome.retry_after > settings.max_retry_after:
                return None  # recorded in the result; the scheduler decides when to return
            return outcome.retry_after
        ceiling = min(settings.max_retry_after, settings.backoff * 2 ** (attempts - 1))
        return random.uniform(0.0, ceiling)  # "full jitter": spreads retries of many clients

    # --- redirects -----------------------------------------------------------------------

    async def _follow(self, url: str, conditional: dict[str, str]) -> _Outcome:
        """One attempt: request ``url`` and follow its redirects by hand, recording them."""
        redirects: list[str] = []
        seen: set[str] = set()
        current = url
        while True:
            try:
                target = parse_url(current)
            except InvalidURL as exc:
                return _Outcome(current, error=f"invalid URL {current!r}: {exc}",
                                redirects=redirects)
            if target.scheme not in _WEB_SCHEMES or not target.host:
                return _Outcome(current, error=f"not an http(s) URL: {current!r}",
                                redirects=redirects)
            seen.add(str(target))
            outcome = await self._request(target, conditional)
            outcome.final_url = current
            outcome.redirects = redirects
            location = outcome.headers.get("location", "").strip()
            if outcome.error or outcome.status not in _REDIRECT_STATUSES or not location:
                return outcome
            redirects.append(current)
            problem, following = _redirect_target(target, location)
            if following is not None and following in seen and "set-cookie" not in outcome.headers:
                problem = f"redirect loop: back to {following}"
            elif following is not None and len(redirects) > self.settings.max_redirects:
                problem = f"too many redirects (more than {self.settings.max_redirects})"
            if problem or following is None:
                outcome.error, outcome.body = problem, b""
                return outcome
            current = following

    # --- politeness ----------------------------------------------------------------------

    async def _request(self, target: WebURL, conditional: dict[str, str]) -> _Outcome:
        """One HTTP exchange under the per-host and global limits."""
        gate = self._gate(target)
        gate.users += 1
        try:
            async with gate.slot:
                await self._take_turn(gate)
                try:
                    outcome = await self._exchange(target, conditional)
                finally:
                    self._slots.release()
        finally:
            gate.users -= 1
        if outcome.retry_after is not None:
            # Retry-After speaks for the whole host, not just this URL.
            hold = min(outcome.retry_after, self.settings.max_retry_after)
            if hold >= _SAY_HOLDS_FROM and time.monotonic() + hold > gate.next_start:
                # Said once per hold: otherwise a cycle just seems to hang on this host.
                log.warning("%s asked us to wait %.0f s (Retry-After): its pages wait %.0f s",
                            target.host, outcome.retry_after, hold)
            gate.next_start = max(gate.next_start, time.monotonic() + hold)
        return outcome

    async def _take_turn(self, gate: _HostGate) -> None:
        """Wait for the host's next start time, then hold a global slot (caller releases).

        The start time is checked again once the global slot is held, so a long wait for a
        slot never lets two requests to one host start closer together than the delay.
        """
        while True:
            wait = gate.next_start - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._slots.acquire()
            now = time.monotonic()
            if now >= gate.next_start:
                gate.next_start = now + self.settings.per_host_delay
                return
            self._slots.release()

    def _gate(self, target: WebURL) -> _HostGate:
        key = politeness_key(target.scheme, target.host, target.port)
        gate = self._gates.get(key)
        if gate is None:
            if len(self._gates) >= _MAX_IDLE_GATES:
                self._forget_idle_gates()
            slot = asyncio.Semaphore(self.settings.per_host_concurrency)
            gate = self._gates[key] = _HostGate(slot)
        return gate

    def _forget_idle_gates(self) -> None:
        """Keep the gate table bounded in a long-running daemon that sees many hosts."""
        now = time.monotonic()
        for key, gate in list(self._gates.items()):
            if gate.users == 0 and gate.next_start <= now:
                del self._gates[key]

    # --- one exchange --------------------------------------------------------------------

    async def _exchange(self, target: WebURL, conditional: dict[str, str]) -> _Outcome:
        """Send one request and read its body within the overall deadline."""
        url = str(target)
        status: int | None = None
        headers: dict[str, str] = {}
        trace: dict[str, bool] = {}
        try:
            async with asyncio.timeout(self.settings.timeout):
                response = await self._send(target, conditional, trace)
                try:
                    status = response.status_code
                    headers = dict(response.headers)
                    if _PARKED_LOCATION in headers:
                        headers["location"] = headers.pop(_PARKED_LOCATION)
                    if status in _REDIRECT_STATUSES or status == 304:
                        await _discard(response)
                        body = b""
                    else:
                        body = await self._read_body(response)
                finally:
                    await response.aclose()
        except _Failure as failure:
            return _Outcome(url, status, headers, error=failure.message,
                            retryable=failure.retryable)
        except Exception as exc:  # what the network did; anything else is a bug: re-raised
            if _timed_out(exc):
                phase = "while reading the body" if status is not None \
                    else "waiting for a response"
                if _connect_timeout(exc) or (status is None and trace
                                             and not trace.get("connected")):
                    return _Outcome(url, error=f"connect timeout to {_hostport(target)}",
                                    retryable=True)
                return _Outcome(url, status, headers,
                                error=f"timed out after {self.settings.timeout:g} s {phase}")
            if not _transport_failure(exc):
                raise
            message, retryable = _describe(exc, target, in_body=status is not None)
            return _Outcome(url, status, headers, error=message, retryable=retryable)
        retry_after = None
        if _retryable_status(status):
            retry_after = parse_retry_after(headers.get("retry-after"))
        return _Outcome(url, status, headers, body, retry_after=retry_after)

    async def _send(self, target: WebURL, conditional: dict[str, str],
                    trace: dict[str, bool]) -> http11.Response | httpx.Response:
        """Open a response: over the lean HTTP/1.1 pool, or through httpx when proxied."""
        if self._proxied(target):
            request = self._httpx().build_request("GET", target.text, headers=conditional)
            return await self._httpx().send(request, stream=True)
        headers = [*self._headers, *conditional.items()]
        trace["connected"] = False
        # raw_host: internationalized names in their ASCII (IDNA) form, for DNS and Host.
        return await self._pool.request(target.scheme, target.raw_host, target.port,
                                        target.raw_path, headers, trace)

    def _proxied(self, target: WebURL) -> bool:
        """True when the environment routes this URL through a proxy (HTTP(S)_PROXY)."""
        proxies = self._proxies
        if not proxies or (target.scheme not in proxies and "all" not in proxies):
            return False
        import urllib.request

        return not urllib.request.proxy_bypass_environment(target.host, proxies)

    def _httpx(self) -> httpx.AsyncClient:
        """The httpx client, created on first use (its TLS setup alone costs ~25 ms)."""
        if self._client is None:
            import httpx

            settings = self.settings
            self._client = httpx.AsyncClient(
                http2=True,
                follow_redirects=False,  # followed by hand, so the chain is recorded and checked
                timeout=httpx.Timeout(settings.timeout),
                limits=httpx.Limits(max_connections=settings.concurrency,
                                    max_keepalive_connections=settings.concurrency),
                headers=dict(self._headers),
                trust_env=settings.trust_env,
                event_hooks={"response": [_park_location]},
            )
        return self._client

    async def _read_body(self, response: http11.Response | httpx.Response) -> bytes:
        """Stream the body, decoding it ourselves so the cap applies to decoded bytes."""
        cap = self.settings.max_bytes
        encoding = response.headers.get("content-encoding", "").strip().lower()
        declared = _content_length(response.headers.get("content-length"))
        chunks: list[bytes] = []
        size = 0
        if encoding in ("", "identity"):
            if declared is not None and declared > cap:
                raise _Failure(f"body exceeds {cap} bytes (Content-Length {declared})", False)
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > cap:
                    raise _Failure(f"body exceeds {cap} bytes", False)
                chunks.append(chunk)
            if declared is not None and size < declared:
                raise _Failure(f"truncated body: {size} of {declared} bytes", True)
        elif encoding in ("gzip", "x-gzip", "deflate"):
            inflater = _Inflater(encoding)
            async for chunk in response.aiter_raw():
                out = inflater.feed(chunk, cap - size + 1)
                size += len(out)
                if size > cap:
                    raise _Failure(f"body exceeds {cap} bytes (decompressed {encoding})", False)
                chunks.append(out)
            if not inflater.complete:
                raise _Failure(f"truncated body: the {encoding} stream ends early", True)
        elif isinstance(response, http11.Response):
            raise _Failure(f"undecodable body: unsupported Content-Encoding {encoding!r}", False)
        else:  # an encoding we did not ask for (br, zstd, chains): httpx decodes, we still cap
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise _Failure(f"body exceeds {cap} bytes (decompressed {encoding})", False)
                chunks.append(chunk)
        return b"".join(chunks)

    # --- result --------------------------------------------------------------------------

    def _result(self, url: str, outcome: _Outcome, conditional: dict[str, str],
                fetched_at: datetime, started: float, attempts: int) -> FetchResult:
        headers = outcome.headers
        content_type, charset = parse_content_type(headers.get("content-type", ""))
        not_modified = outcome.status == 304 and bool(conditional) and outcome.error is None
        etag = headers.get("etag")
        last_modified = headers.get("last-modified")
        if not_modified:  # a 304 may omit the validators; the ones we sent still hold
            etag = etag or conditional.get("If-None-Match")
            last_modified = last_modified or conditional.get("If-Modified-Since")
        return FetchResult(
            url=url,
            final_url=outcome.final_url,
            status=outcome.status,
            headers=headers,
            content_type=content_type,
            charset=charset,
            body=b"" if outcome.error else outcome.body,
            fetched_at=fetched_at,
            elapsed=time.monotonic() - started,
            redirects=outcome.redirects,
            not_modified=not_modified,
            error=outcome.error,
            attempts=attempts,
            etag=etag,
            last_modified=last_modified,
            retry_after=outcome.retry_after,
        )


class _Inflater:
    """gzip/deflate decoding that never produces more than asked for (gzip bombs stop)."""

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        # gzip: wbits 16+MAX; deflate: zlib-wrapped per the RFC, raw deflate in practice.
        wbits = zlib.MAX_WBITS if self._deflate else 16 + zlib.MAX_WBITS
        self._decoder = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes, limit: int) -> bytes:
        """Inflate ``data``; returning ``limit`` bytes means "at least that much" (over cap)."""
        if not data:
            return b""
        if self._deflate and not self._started:
            self._started = True
            try:
                return self._decoder.decompress(data, limit)
            except zlib.error:
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
        self._started = True
        return self._decoder.decompress(data, limit)

    @property
    def complete(self) -> bool:
        """True when the stream ended properly (an empty body counts as complete)."""
        return self._decoder.eof or not self._started


async def _park_location(response: httpx.Response) -> None:
    if "location" in response.headers:
        response.headers[_PARKED_LOCATION] = response.headers["location"]
        del response.headers["location"]


async def _discard(response: http11.Response | httpx.Response) -> None:
    """Read a small body we do not need, so HTTP/1.1 can reuse the connection."""
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > _DISCARD_LIMIT:
            break


def _redirect_target(base: WebURL, location: str) -> tuple[str | None, str | None]:
    """(problem, absolute URL) for a Location header; only http(s) targets are followed."""
    import httpx

    try:
        following = httpx.URL(base.text).join(location)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return f"redirect to an invalid URL {location!r}: {exc}", None
    if following.scheme not in _WEB_SCHEMES:
        return f"redirect to a non-HTTP URL: {location[:200]!r}", None
    if not following.host:
        return f"redirect to a URL without a host: {location[:200]!r}", None
    return None, str(following.copy_with(fragment=None))


def parse_content_type(value: str) -> tuple[str, str | None]:
    """(lowercase mime type, charset) from a Content-Type; an unknown charset is None."""
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, raw = param.partition("=")
        if name.strip().lower() == "charset":
            candidate = raw.strip().strip("\"'").strip().lower()
            try:
                codecs.lookup(candidate)
            except (LookupError, ValueError):
                continue
            charset = candidate
    return mime.strip().lower(), charset


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        length = int(value.split(",")[0].strip())
    except ValueError:
        return None
    return length if length >= 0 else None


def _retryable_status(status: int | None) -> bool:
    return status is not None and (status == 429 or 500 <= status <= 599)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    import email.utils  # an HTTP date here is rare; the email package costs ~4 ms to load

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _hostport(target: WebURL) -> str:
    port = target.port or DEFAULT_PORTS.get(target.scheme)
    return f"{target.host}:{port}"


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _httpx_error(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is one of httpx's exceptions ``names``; False when httpx never loaded
    (then none of its requests can have raised)."""
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, tuple(getattr(httpx, n) for n in names))


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or _httpx_error(exc, "TimeoutException")


def _connect_timeout(exc: BaseException) -> bool:
    return _httpx_error(exc, "ConnectTimeout")


def _transport_failure(exc: BaseException) -> bool:
    """What the network or the server did to a request (as opposed to a bug of ours)."""
    return isinstance(exc, (OSError, zlib.error, http11.ProtocolError, http11.ConnectionClosed,
                            http11.InvalidRequest)) \
        or _httpx_error(exc, "HTTPError", "InvalidURL")


def _describe(exc: BaseException, target: WebURL, in_body: bool) -> tuple[str, bool]:
    """A one-line reason for a transport failure, and whether a retry could help."""
    chain = _causes(exc)
    root = chain[-1]
    detail = _one_line(root) or _one_line(exc) or type(exc).__name__
    where = _hostport(target)
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            # EAI_AGAIN is a resolver hiccup worth retrying; "no such name" is not.
            again = cause.errno == getattr(socket, "EAI_AGAIN", None)
            return f"DNS lookup failed for {target.host}: {_one_line(cause)}", again
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate error from {where}: {_one_line(cause)}", False
        if isinstance(cause, ssl.SSLError):
            return f"TLS error from {where}: {_one_line(cause)}", False
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {where}", True
    if _httpx_error(exc, "ConnectError"):
        return f"cannot connect to {where}: {detail}", True
    if isinstance(exc, http11.InvalidRequest):
        return f"invalid request: {detail}", False
    if isinstance(exc, http11.ProtocolError):
        if in_body:
            return f"truncated body: {detail}", True
        return f"invalid response from {where}: {detail}", True
    if isinstance(exc, http11.ConnectionClosed):
        if in_body:
            return f"connection reset mid-body: {detail}", True
        return f"connection closed before a response from {where}: {detail}", True
    if _httpx_error(exc, "DecodingError"):
        return f"undecodable body: {detail}", False
    if isinstance(exc, zlib.error):
        return f"undecodable compressed body: {detail}", False
    if _httpx_error(exc, "InvalidURL", "UnsupportedProtocol"):
        return f"invalid URL {str(target)!r}: {detail}", False
    if _httpx_error(exc, "LocalProtocolError"):
        return f"invalid request: {detail}", False
    if in_body:
        if _httpx_error(exc, "RemoteProtocolError"):
            return f"truncated body: {detail}", True
        return f"connection reset mid-body: {detail}", True
    if isinstance(exc, OSError) or _httpx_error(exc, "NetworkError", "RemoteProtocolError"):
        return f"connection closed before a response from {where}: {detail}", True
    return f"{type(exc).__name__}: {detail}", False


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
