"""Wayback Machine client: list a URL's captures (CDX) and fetch their bytes (mementos).

Every request goes through the process-wide :class:`~tracker.wayback_limits.ArchiveLimiter`
for its base URL, so however many clients and tasks run, the archive sees at most
``cdx_rate`` searches and ``memento_rate`` memento requests a second, and nothing at all
during the pause after a 429. Transient failures (5xx, connection errors) are retried with
exponential backoff and jitter; every other outcome is a :class:`Memento` or one of the
:class:`WaybackError` subclasses with a message a user can read.

Usage::

    async with WaybackClient() as wayback:
        captures = await wayback.list_captures("https://example.com/privacy", every="day")
        async for result in wayback.fetch_mementos(captures):
            ...  # result.memento or result.error, in completion order
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from types import TracebackType
from typing import Self
from urllib.parse import urljoin

import httpx

from tracker.fetch import parse_retry_after
from tracker.wayback_cdx import (
    FIELDS,
    PERIODS,
    Capture,
    Period,
    format_timestamp,
    normalize_resume_key,
    parse_cdx_json,
    parse_cdx_text,
    select_captures,
)
from tracker.wayback_errors import (
    Blocked,
    Excluded,
    NotArchived,
    OutsideWindow,
    RateLimited,
    RedirectLoop,
    TooLarge,
    UnexpectedResponse,
    WaybackError,
    WaybackUnavailable,
)
from tracker.wayback_limits import ArchiveLimiter, Kind, Ticket, shared_limiter
from tracker.wayback_memento import (
    Memento,
    Redirect,
    content_codings,
    decode_body,
    link_original,
    original_headers,
    parse_archive_url,
    parse_memento_datetime,
    timestamp_datetime,
    wayback_error,
)

__all__ = [
    "ArchiveLimiter", "Blocked", "Capture", "Excluded", "Memento", "MementoResult",
    "NotArchived", "OutsideWindow", "RateLimited", "Redirect", "RedirectLoop", "TooLarge",
    "UnexpectedResponse", "WaybackClient", "WaybackError", "WaybackUnavailable",
    "parse_cdx_json", "parse_cdx_text", "select_captures", "shared_limiter",
]

DEFAULT_USER_AGENT = "policy-tracker/0.1 (privacy-policy history; polite Wayback client)"
# Statuses that mean "try again later" when the archive itself (no Memento-Datetime) sends them.
_TRANSIENT = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ERROR_BODY_LIMIT = 65_536
_MAX_BACKOFF = 60.0


@dataclass
class MementoResult:
    """One capture's outcome in :meth:`WaybackClient.fetch_mementos`: a memento or an error."""

    capture: Capture
    memento: Memento | None = None
    error: WaybackError | None = None

    @property
    def ok(self) -> bool:
        return self.memento is not None


@dataclass
class _Answer:
    """A response read as far as needed: status, headers, (capped) body."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def archived(self) -> bool:
        return "memento-datetime" in self.headers


class WaybackClient:
    """Async client for the CDX search API and ``id_`` mementos, polite by construction.

    ``limiter`` defaults to the process-wide one for ``base_url``; pass an
    :class:`ArchiveLimiter` only to isolate a client deliberately (e.g. in a test).
    """

    def __init__(
        self,
        base_url: str = "https://web.archive.org",
        cdx_rate: float = 0.4,
        memento_rate: float = 8.0,
        timeout: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        max_bytes: int = 10_000_000,
        pause_on_429: float = 60.0,
        retries: int = 4,
        closest_window: timedelta = timedelta(hours=24),
        *,
        backoff: float = 1.0,
        max_hops: int = 10,
        cdx_page_size: int = 5000,
        cdx_filters: Sequence[str] = ("!statuscode:(5..|429)",),
        max_cdx_pages: int = 1000,
        concurrency: int = 16,
        limiter: ArchiveLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_bytes = max_bytes
        self.retries = retries
        self.closest_window = closest_window
        self.backoff = backoff
        self.max_hops = max_hops
        self.cdx_page_size = cdx_page_size
        self.cdx_filters = tuple(cdx_filters)
        self.max_cdx_pages = max_cdx_pages
        self.concurrency = concurrency
        self.limiter = limiter or shared_limiter(
            self.base_url, cdx_rate, memento_rate, pause_on_429)
        self._http = httpx.AsyncClient(
            http2=True, timeout=timeout, follow_redirects=False, transport=transport,
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=max(concurrency, 4),
                                max_keepalive_connections=max(concurrency, 4)),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- transport: limiter, retries, 429 ---------------------------------------------------

    async def _read(self, response: httpx.Response, limit: int, url: str,
                    strict: bool) -> bytes:
        """The decoded body, at most ``limit`` bytes; beyond it TooLarge if ``strict``.

        Content-Encoding is undone here rather than by httpx, because captures of gzipped
        pages may declare the coding twice, and httpx would then gunzip twice and fail.
        """
        declared = response.headers.get("content-length", "")
        if strict and declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"{url}: capture is {declared} bytes, over the {limit} byte cap", url)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > limit:
                if strict:
                    raise TooLarge(f"{url}: capture is over the {limit} byte cap", url)
                chunks.append(chunk[: limit - (size - len(chunk))])
                break
            chunks.append(chunk)
        codings = content_codings(response.headers.get_list("content-encoding"))
        return decode_body(b"".join(chunks), codings, limit, url, truncate=not strict)

    async def _request(self, kind: Kind, url: str, params: dict[str, str | list[str]] | None,
                       body_limit: int) -> _Answer:
        """GET through the limiter; retry transient failures and wait out 429 pauses.

        The payload (a CDX page, an archived capture) is capped strictly at ``body_limit``;
        the archive's own answers and redirects are read only far enough to classify them.
        """
        failures = 0
        throttles = 0
        while True:
            ticket: Ticket = await self.limiter.acquire(kind)
            try:
                async with self._http.stream("GET", url, params=params) as response:
                    archived = "memento-datetime" in response.headers
                    status = response.status_code
                    if not archived and status == 429:
                        # Every request of this process now waits in acquire() for the pause.
                        self.limiter.report_429(
                            ticket, parse_retry_after(response.headers.get("retry-after")))
                        throttles += 1
                        if throttles > self.retries:
                            raise RateLimited(
                                f"{url}: the archive kept answering 429 (rate limited)", url)
                        continue
                    if not archived and status in _TRANSIENT:
                        raise _Transient(f"HTTP {status}")
                    is_redirect = status in _REDIRECTS and "location" in response.headers
                    payload = (status == 200) if kind == "cdx" else (
                        archived and not is_redirect)
                    body = await self._read(response, body_limit if payload
                                            else _ERROR_BODY_LIMIT, url, strict=payload)
                    return _Answer(str(response.url), status, response.headers, body)
            except (httpx.TransportError, _Transient) as error:
                failures += 1
                if failures > self.retries:
                    raise WaybackUnavailable(
                        f"{url}: the Wayback Machine is unavailable after {failures} attempts "
                        f"({_describe(error)})", url) from error
                delay = min(_MAX_BACKOFF, self.backoff * 2 ** (failures - 1))
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    # -- CDX search -------------------------------------------------------------------------

    def _cdx_params(self, url: str, from_: date | None, to: date | None,
                    resume_key: str | None) -> dict[str, str | list[str]]:
        params: dict[str, str | list[str]] = {"url": url, "output": "json"}
        if from_ is not None:
            params["from"] = format_timestamp(from_)
        if to is not None:
            params["to"] = format_timestamp(to)
        if self.cdx_filters:
            params["filter"] = list(self.cdx_filters)
        params.update({"collapse": "digest", "fl": ",".join(FIELDS),
                       "showResumeKey": "true", "limit": str(self.cdx_page_size)})
        if resume_key is not None:
            params["resumeKey"] = resume_key
        return params

    async def search(self, url: str, from_: date | None = None, to: date | None = None) \
            -> list[Capture]:
        """Every CDX row for ``url`` (repaired, unsorted), following resume keys to the end."""
        endpoint = f"{self.base_url}/cdx/search/cdx"
        captures: list[Capture] = []
        resume_key: str | None = None
        seen_keys: set[str] = set()
        for _ in range(self.max_cdx_pages):
            answer = await self._request(
                "cdx", endpoint, self._cdx_params(url, from_, to, resume_key), 50_000_000)
            if answer.status != 200:
                raise _cdx_error(answer, url)
            page, key = _parse_cdx_answer(answer, url)
            captures.extend(page)
            if key is None:
                break
            resume_key = normalize_resume_key(key)
            if resume_key in seen_keys:
                break  # the server repeats itself: stop rather than loop forever
            seen_keys.add(resume_key)
        return captures

    async def list_captures(self, url: str, from_: date | None = None, to: date | None = None,
                            every: Period = "day") -> list[Capture]:
        """Captures worth fetching: one per ``every`` period, best status, sorted by time.

        ``from_``/``to`` are inclusive (a date covers its whole UTC day). ``every="all"``
        keeps every capture whose digest differs from the previous one.
        """
        if every not in PERIODS:
            raise ValueError(f"unknown period {every!r}: use {', '.join(PERIODS)}")
        return select_captures(await self.search(url, from_, to), every)

    # -- mementos ---------------------------------------------------------------------------

    async def fetch_memento(self, capture: Capture | str, url: str | None = None) -> Memento:
        """The bytes of one capture: ``fetch_memento(capture)`` or ``(timestamp, url)``.

        Archived redirects are followed inside the archive; the archive's redirect to the
        closest capture is accepted only within ``closest_window`` of the requested time.
        """
        if isinstance(capture, Capture):
            timestamp, original = capture.timestamp, capture.original
        else:
            if url is None:
                raise TypeError("fetch_memento(timestamp, url) needs the url")
            timestamp, original = capture, url
        requested_at = timestamp_datetime(timestamp)
        requested_url = f"{self.base_url}/web/{timestamp}id_/{original}"
        current = requested_url
        seen = {current}
        redirects: list[Redirect] = []
        while True:
            answer = await self._request("memento", current, None, self.max_bytes)
            location = answer.headers.get("location")
            if answer.archived and not (answer.status in _REDIRECTS and location):
                return self._memento(answer, requested_url, current, redirects)
            if answer.status not in _REDIRECTS or not location:
                raise wayback_error(answer.status, dict(answer.headers), answer.body, current)
            kind = "archived" if answer.archived else "closest"
            target = parse_archive_url(location, self.base_url)
            if target is None:
                if not answer.archived:
                    raise UnexpectedResponse(
                        f"{current}: redirect out of the archive to {location}", current)
                # An archived redirect left unrewritten: the page's own target, looked up at
                # the same time (a relative target is relative to the page's original URL).
                here = parse_archive_url(current, self.base_url)
                raw = urljoin(here.original, location) if here else location
                target = parse_archive_url(f"/web/{here.timestamp}/{raw}") if here else None
                if target is None:
                    raise UnexpectedResponse(
                        f"{current}: unusable archived redirect to {location}", current)
            if kind == "closest":
                distance = abs(timestamp_datetime(target.timestamp) - requested_at)
                if distance > self.closest_window:
                    raise OutsideWindow(
                        f"{requested_url}: closest capture is {target.padded}, "
                        f"{_human(distance)} away (window {_human(self.closest_window)})",
                        requested_url)
            following = target.id_url(self.base_url)
            redirects.append(Redirect(current, answer.status, following, kind))
            if following in seen:
                raise RedirectLoop(
                    f"{requested_url}: redirect loop inside the archive at {following}",
                    requested_url)
            if len(redirects) > self.max_hops:
                raise RedirectLoop(
                    f"{requested_url}: more than {self.max_hops} redirects inside the archive",
                    requested_url)
            seen.add(following)
            current = following

    def _memento(self, answer: _Answer, requested_url: str, current: str,
                 redirects: list[Redirect]) -> Memento:
        here = parse_archive_url(current, self.base_url)
        captured_at = parse_memento_datetime(answer.headers.get("memento-datetime"))
        if captured_at is None:
            if here is None:
                raise UnexpectedResponse(f"{current}: unreadable Memento-Datetime", current)
            captured_at = timestamp_datetime(here.timestamp)
        original = link_original(answer.headers.get("link")) or (
            here.original if here else current)
        return Memento(
            requested_url=requested_url, memento_url=current, original_url=original,
            captured_at=captured_at, status=answer.status,
            headers=original_headers(answer.headers.multi_items()),
            content_type=answer.headers.get("content-type", ""), body=answer.body,
            redirects=redirects)

    async def fetch_mementos(self, captures: Sequence[Capture],
                             concurrency: int | None = None) -> AsyncIterator[MementoResult]:
        """Fetch many captures at the allowed rate; yield a :class:`MementoResult` for each.

        Results come in COMPLETION order (not input order): match them by
        ``result.capture``. ``concurrency`` requests may be in flight, so with the archive's
        latency the limiter, not the round trips, sets the pace. A :class:`WaybackError` is
        reported in its result; anything else (a bug) propagates. Stopping the iteration
        early cancels the fetches still running.
        """
        workers_count = max(1, min(concurrency or self.concurrency, len(captures) or 1))
        queue: asyncio.Queue[Capture] = asyncio.Queue()
        for capture in captures:
            queue.put_nowait(capture)
        results: asyncio.Queue[MementoResult | BaseException] = asyncio.Queue()

        async def worker() -> None:
            while True:
                try:
                    capture = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    result = MementoResult(capture, memento=await self.fetch_memento(capture))
                except WaybackError as error:
                    result = MementoResult(capture, error=error)
                except Exception as error:  # a bug: hand it to the consumer to raise
                    await results.put(error)
                    return
                await results.put(result)

        tasks = [asyncio.create_task(worker()) for _ in range(workers_count)]
        try:
            for _ in range(len(captures)):
                item = await results.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class _Transient(Exception):
    """A 5xx from the archive itself: retried like a connection error."""


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _human(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _cdx_error(answer: _Answer, url: str) -> WaybackError:
    error = wayback_error(answer.status, dict(answer.headers), answer.body, url)
    if isinstance(error, UnexpectedResponse):
        return UnexpectedResponse(f"{url}: CDX search answered HTTP {answer.status}", url)
    return error


def _parse_cdx_answer(answer: _Answer, url: str) -> tuple[list[Capture], str | None]:
    """A CDX page as JSON (what the client asks for) or, if a proxy ignored that, as text."""
    text = answer.body.decode("utf-8", "replace").strip()
    if not text:
        return [], None
    if text[0] == "[":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as error:
            raise UnexpectedResponse(f"{url}: CDX search returned broken JSON", url) from error
        return parse_cdx_json(rows, fallback_url=url)
    if text[0] == "<":
        raise UnexpectedResponse(f"{url}: CDX search returned HTML, not JSON", url)
    return parse_cdx_text(text, fallback_url=url)
