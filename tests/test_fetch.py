"""The fetcher against a well-behaved local server: headers, validators, redirects, retries,
timeouts, charsets, politeness (per-host delay, concurrency caps) and connection reuse."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from tests.pageserver import PageServer, Request, Response
from tracker.fetch import Fetcher, FetchResult, FetchSettings

FAST = FetchSettings(timeout=2.0, per_host_delay=0.0, retries=2, backoff=0.01)
PAGE = "<html><head><title>Privacy</title></head><body><p>We keep data.</p></body></html>"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def fetch(url: str, settings: FetchSettings = FAST, **kwargs: str) -> FetchResult:
    async with Fetcher(settings) as fetcher:
        return await fetcher.fetch(url, **kwargs)


async def fetch_all(urls: list[str], settings: FetchSettings) -> list[FetchResult]:
    results: list[FetchResult] = []
    async with Fetcher(settings) as fetcher, anyio.create_task_group() as group:
        for url in urls:
            async def one(url: str = url) -> None:
                results.append(await fetcher.fetch(url))
            group.start_soon(one)
    return results


def sequence(*responses: Response) -> Callable[[Request], Response]:
    """A route answering with each response in turn; the last repeats."""
    calls = iter(range(10_000))

    def route(_request: Request) -> Response:
        return responses[min(next(calls), len(responses) - 1)]

    return route


@pytest.mark.anyio
async def test_200_records_response(page_server: PageServer) -> None:
    page_server.html("/p", PAGE, headers={"ETag": '"v1"', "X-Policy": "yes",
                                          "Last-Modified": "Wed, 01 May 2024 10:00:00 GMT"})
    before = datetime.now(UTC)
    result = await fetch(page_server.url("/p"))
    assert result.ok and result.error is None
    assert result.status == 200
    assert result.body == PAGE.encode()
    assert result.headers["x-policy"] == "yes"
    assert result.content_type == "text/html" and result.charset == "utf-8"
    assert result.etag == '"v1"' and result.last_modified == "Wed, 01 May 2024 10:00:00 GMT"
    assert result.url == result.final_url == page_server.url("/p")
    assert result.redirects == [] and result.attempts == 1 and not result.not_modified
    assert result.fetched_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= result.fetched_at <= datetime.now(UTC)
    assert 0 < result.elapsed < 2
    assert page_server.requests[0].headers["user-agent"] == FAST.user_agent


@pytest.mark.anyio
async def test_etag_304(page_server: PageServer) -> None:
    def route(request: Request) -> Response:
        if request.headers.get("if-none-match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"Content-Type": "text/html", "ETag": '"v1"'}, PAGE.encode()

    page_server.routes["/p"] = route
    fresh = await fetch(page_server.url("/p"))
    assert fresh.status == 200 and not fresh.not_modified and fresh.etag == '"v1"'
    again = await fetch(page_server.url("/p"), etag=fresh.etag)
    assert again.status == 304 and again.not_modified and again.body == b""
    assert again.etag == '"v1"' and again.error is None
    assert page_server.requests[-1].headers["if-none-match"] == '"v1"'


@pytest.mark.anyio
async def test_last_modified_304(page_server: PageServer) -> None:
    stamp = "Wed, 01 May 2024 10:00:00 GMT"

    def route(request: Request) -> Response:
        if request.headers.get("if-modified-since") == stamp:
            return 304, {}, b""  # no validators repeated: the ones we sent still hold
        return 200, {"Content-Type": "text/html", "Last-Modified": stamp}, PAGE.encode()

    page_server.routes["/p"] = route
    fresh = await fetch(page_server.url("/p"))
    assert fresh.status == 200 and fresh.last_modified == stamp
    again = await fetch(page_server.url("/p"), last_modified=stamp)
    assert again.not_modified and again.last_modified == stamp
    assert "if-none-match" not in page_server.requests[-1].headers


@pytest.mark.anyio
async def test_unconditional_304_is_not_not_modified(page_server: PageServer) -> None:
    page_server.routes["/p"] = lambda _r: (304, {}, b"")
    result = await fetch(page_server.url("/p"))
    assert result.status == 304 and not result.not_modified and not result.ok


@pytest.mark.anyio
async def test_redirect_chain_recorded(page_server: PageServer) -> None:
    page_server.routes["/a"] = lambda _r: (301, {"Location": page_server.url("/b")}, b"moved")
    page_server.routes["/b"] = lambda _r: (302, {"Location": "/c?x=1"}, b"")
    page_server.routes["/c"] = lambda _r: (307, {"Location": "final"}, b"")
    page_server.html("/final", PAGE)
    result = await fetch(page_server.url("/a"))
    assert result.ok and result.body == PAGE.encode()
    assert result.redirects == [page_server.url("/a"), page_server.url("/b"),
                                page_server.url("/c?x=1")]
    assert result.final_url == page_server.url("/final")
    assert result.url == page_server.url("/a")


@pytest.mark.anyio
@pytest.mark.parametrize("status", [404, 500])
async def test_error_statuses_are_kept(page_server: PageServer, status: int) -> None:
    page_server.routes["/p"] = lambda _r: (status, {"Content-Type": "text/html"}, b"<p>oops</p>")
    result = await fetch(page_server.url("/p"), replace(FAST, retries=0))
    assert result.status == status and result.error is None and not result.ok
    assert result.body == b"<p>oops</p>"


@pytest.mark.anyio
async def test_429_with_retry_after_then_200(page_server: PageServer) -> None:
    page_server.routes["/p"] = sequence(
        (429, {"Retry-After": "1", "Content-Type": "text/plain"}, b"slow down"),
        (200, {"Content-Type": "text/html"}, PAGE.encode()),
    )
    result = await fetch(page_server.url("/p"), replace(FAST, backoff=0.0))
    assert result.ok and result.attempts == 2 and result.body == PAGE.encode()
    first, second = page_server.requests
    assert second.path == first.path
    assert result.elapsed >= 0.9  # the second request waited for Retry-After, not the backoff


@pytest.mark.anyio
async def test_503_then_200(page_server: PageServer) -> None:
    page_server.routes["/p"] = sequence((503, {}, b"busy"), (503, {}, b"busy"),
                                        (200, {"Content-Type": "text/html"}, PAGE.encode()))
    result = await fetch(page_server.url("/p"))
    assert result.ok and result.attempts == 3 and len(page_server.requests) == 3


@pytest.mark.anyio
async def test_retries_exhausted_keep_last_status(page_server: PageServer) -> None:
    page_server.routes["/p"] = lambda _r: (502, {}, b"bad gateway")
    result = await fetch(page_server.url("/p"), replace(FAST, retries=1))
    assert result.status == 502 and result.attempts == 2 and result.body == b"bad gateway"
    assert len(page_server.requests) == 2


@pytest.mark.anyio
async def test_slow_response_times_out(page_server: PageServer) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(1.5)
        return 200, {"Content-Type": "text/html"}, PAGE.encode()

    page_server.routes["/slow"] = slow
    result = await fetch(page_server.url("/slow"), replace(FAST, timeout=0.4))
    assert result.error is not None and "timed out after 0.4 s" in result.error
    assert result.status is None and result.body == b"" and not result.ok
    assert result.elapsed < 1.4 and result.attempts == 1


@pytest.mark.anyio
@pytest.mark.parametrize("content_type", ["text/html; charset=utf-9", "text/html",
                                          "text/html; charset=", "TEXT/HTML; Charset=\"x\""])
async def test_wrong_or_missing_charset(page_server: PageServer, content_type: str) -> None:
    body = "<p>Données</p>".encode("latin-1")
    page_server.routes["/p"] = lambda _r: (200, {"Content-Type": content_type}, body)
    result = await fetch(page_server.url("/p"))
    assert result.ok and result.body == body
    assert result.charset is None and result.content_type == "text/html"


@pytest.mark.anyio
async def test_declared_charset_is_normalized(page_server: PageServer) -> None:
    page_server.routes["/p"] = lambda _r: (200, {"Content-Type": 'text/HTML; Charset="ISO-8859-1"'},
                                           b"<p>x</p>")
    result = await fetch(page_server.url("/p"))
    assert result.content_type == "text/html" and result.charset == "iso-8859-1"


@pytest.mark.anyio
async def test_non_html_body_is_fetched_as_is(page_server: PageServer) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 10
    page_server.routes["/p.pdf"] = lambda _r: (200, {"Content-Type": "application/pdf"}, pdf)
    result = await fetch(page_server.url("/p.pdf"))
    assert result.ok and result.body == pdf
    assert result.content_type == "application/pdf" and result.charset is None


@pytest.mark.anyio
async def test_per_host_delay_spaces_request_starts(page_server: PageServer) -> None:
    starts: list[float] = []

    def route(_request: Request) -> Response:
        starts.append(time.monotonic())
        return 200, {"Content-Type": "text/html"}, PAGE.encode()

    page_server.routes["/p"] = route
    settings = replace(FAST, per_host_delay=0.3, concurrency=8)
    results = await fetch_all([page_server.url("/p")] * 4, settings)
    assert all(r.ok for r in results) and len(starts) == 4
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.2, gaps  # 0.3 s apart at the client; the server adds some noise
    assert starts[-1] - starts[0] >= 0.85


def in_flight_counter(page_server: PageServer, path: str, hold: float) -> list[int]:
    """Serve ``path`` slowly and record the peak number of requests being served at once."""
    lock = threading.Lock()
    state = [0, 0]  # current, peak

    def route(_request: Request) -> Response:
        with lock:
            state[0] += 1
            state[1] = max(state[1], state[0])
        time.sleep(hold)
        with lock:
            state[0] -= 1
        return 200, {"Content-Type": "text/html"}, PAGE.encode()

    page_server.routes[path] = route
    return state


@pytest.mark.anyio
async def test_global_concurrency_cap(page_server: PageServer) -> None:
    state = in_flight_counter(page_server, "/p", hold=0.15)
    settings = replace(FAST, concurrency=3, per_host_concurrency=10)
    results = await fetch_all([page_server.url("/p")] * 9, settings)
    assert all(r.ok for r in results)
    assert state[1] == 3  # reached, never exceeded


@pytest.mark.anyio
async def test_per_host_concurrency_cap(page_server: PageServer) -> None:
    state = in_flight_counter(page_server, "/p", hold=0.15)
    settings = replace(FAST, concurrency=10, per_host_concurrency=2)
    results = await fetch_all([page_server.url("/p")] * 6, settings)
    assert all(r.ok for r in results)
    assert state[1] == 2


@pytest.mark.anyio
async def test_a_busy_hosts_gate_outlives_the_clean_up_of_idle_gates(
        page_server: PageServer) -> None:
    """A daemon that met thousands of hosts forgets idle gates, never one still in use:
    a request waiting for the host's slot would otherwise run beside the next one."""
    state = in_flight_counter(page_server, "/p", hold=0.3)
    settings = replace(FAST, concurrency=8, per_host_concurrency=1)
    async with Fetcher(settings) as fetcher, anyio.create_task_group() as group:
        for _ in range(2):  # one holds the host's only slot, the other waits for it
            group.start_soon(fetcher.fetch, page_server.url("/p"))
        await anyio.sleep(0.1)
        (gate,) = fetcher._gates.values()
        assert gate.users == 2
        fetcher._forget_idle_gates()
        assert list(fetcher._gates.values()) == [gate]
    assert gate.users == 0 and state[1] == 1
    fetcher._forget_idle_gates()
    assert not fetcher._gates


@pytest.mark.anyio
async def test_zero_delay_lets_requests_to_one_host_overlap(page_server: PageServer) -> None:
    state = in_flight_counter(page_server, "/p", hold=0.3)
    settings = replace(FAST, per_host_delay=0.0, per_host_concurrency=8, concurrency=8)
    results = await fetch_all([page_server.url("/p")] * 16, settings)
    assert all(r.ok for r in results)
    assert state[1] >= 6  # with any per-host spacing it would be 1


@pytest.mark.anyio
async def test_connection_reuse(page_server: PageServer) -> None:
    accepted: list[int] = []
    server = page_server._server
    original = server.get_request

    def counting_get_request():  # type: ignore[no-untyped-def]
        accepted.append(1)
        return original()

    server.get_request = counting_get_request  # type: ignore[method-assign]
    page_server.html("/p", PAGE)
    page_server.routes["/r"] = lambda _r: (302, {"Location": "/p"}, b"redirect body")
    async with Fetcher(FAST) as fetcher:
        for path in ["/p", "/r", "/p", "/missing", "/p"]:
            result = await fetcher.fetch(page_server.url(path))
            assert result.status in (200, 404)
    assert len(page_server.requests) == 6
    assert len(accepted) == 1  # one TCP connection carried all six requests
