"""Hostile servers and broken networks: every case ends as a recorded error or a quality
verdict with a clear reason, never an exception out of :meth:`Fetcher.fetch`."""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.hostile_server import (
    HostileServer,
    RawRequest,
    Route,
    drip,
    endless,
    gzip_bomb,
    gzip_bomb_bytes,
    html,
    redirect,
    redirect_forever,
    reset_mid_body,
    respond,
    sequence,
    silent,
    truncated,
    truncated_chunked,
)
from tests.hostile_server import hostile_server as start_hostile_server
from tracker.charset import decode_html
from tracker.fetch import Fetcher, FetchResult, FetchSettings
from tracker.normalize import normalize_html
from tracker.quality import Verdict, assess

FAST = FetchSettings(timeout=1.0, per_host_delay=0.0, retries=0, backoff=0.01,
                     max_bytes=1_000_000)
POLICY = "<html><body><main><h1>Privacy</h1>" + "<p>We keep your data for twelve months.</p>" * 40
HTML_TYPES = ("text/html", "application/xhtml+xml", "")


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with start_hostile_server() as server:
        yield server


async def fetch(url: str, settings: FetchSettings = FAST) -> FetchResult:
    async with Fetcher(settings) as fetcher:
        return await fetcher.fetch(url)


async def capture(url: str, settings: FetchSettings = FAST,
                  previous_words: int | None = None) -> tuple[FetchResult, Verdict]:
    """Fetch, normalize (as the pipeline does) and assess."""
    result = await fetch(url, settings)
    document = None
    if result.ok and result.content_type in HTML_TYPES and result.body:
        document = normalize_html(decode_html(result.body, result.charset))
    return result, assess(result, document, previous_words)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the network -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_connection_refused() -> None:
    port = free_port()
    result, verdict = await capture(f"http://127.0.0.1:{port}/", replace(FAST, retries=2))
    assert result.error == f"connection refused by 127.0.0.1:{port}"
    assert result.status is None and result.attempts == 3  # refused is retried
    assert verdict == Verdict(False, f"fetch failed: connection refused by 127.0.0.1:{port}")


@pytest.mark.anyio
async def test_dns_failure() -> None:
    result, verdict = await capture("http://no-such-host.invalid/privacy",
                                    replace(FAST, retries=2))
    assert result.error is not None
    assert result.error.startswith("DNS lookup failed for no-such-host.invalid")
    assert result.status is None and result.body == b""
    assert verdict.reason == f"fetch failed: {result.error}"


@pytest.mark.anyio
async def test_tls_error_https_to_plain_port(hostile: HostileServer) -> None:
    result, verdict = await capture(f"https://127.0.0.1:{hostile.port}/tls",
                                    replace(FAST, retries=2))
    assert result.error is not None and result.error.startswith("TLS error from 127.0.0.1:")
    assert result.attempts == 1 and not verdict.ok


def closes_after(delay: float) -> Route:
    """A complete keep-alive response, then the server drops the connection after ``delay``."""

    async def route(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        await respond(200, {"Content-Type": "text/html"}, POLICY.encode())(request, writer)
        await asyncio.sleep(delay)
        return False

    return route


@pytest.mark.anyio
@pytest.mark.parametrize("delay", [0.0, 0.3])
async def test_dropped_keepalive_connection_is_replaced(hostile: HostileServer,
                                                        delay: float) -> None:
    # 0.0: dropped while idle; 0.3: dropped while our next request is already on the wire.
    path = f"/drops-after-{delay}"
    hostile.routes[path] = closes_after(delay)
    before = hostile.connections
    async with Fetcher(FAST) as fetcher:  # retries=0: a lost reused connection must not count
        results = [await fetcher.fetch(hostile.url(path)) for _ in range(3)]
    assert [(r.ok, r.error, r.attempts) for r in results] == [(True, None, 1)] * 3
    assert hostile.connections - before == 3


@pytest.mark.anyio
async def test_unsupported_content_encoding_is_an_error(hostile: HostileServer) -> None:
    hostile.routes["/brotli"] = respond(200, {"Content-Type": "text/html",
                                              "Content-Encoding": "br"}, b"\x1b\x00\x00")
    result, verdict = await capture(hostile.url("/brotli"))
    assert result.error == "undecodable body: unsupported Content-Encoding 'br'"
    assert result.status == 200 and result.body == b"" and not verdict.ok


@pytest.mark.anyio
async def test_unsupported_scheme_and_bad_url() -> None:
    for url in ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "http://[::1"]:
        result = await fetch(url)
        assert result.error is not None and not result.ok, url
        assert result.status is None


# --- broken bodies ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_reset_mid_body(hostile: HostileServer) -> None:
    hostile.routes["/reset"] = reset_mid_body()
    result, verdict = await capture(hostile.url("/reset"), replace(FAST, retries=1))
    assert result.error is not None
    assert result.error.startswith(("connection reset mid-body", "truncated body"))
    assert result.status == 200 and result.body == b"" and not result.ok
    assert result.attempts == 2  # a reset is worth one more try
    assert not verdict.ok


@pytest.mark.anyio
async def test_lying_content_length_is_truncated(hostile: HostileServer) -> None:
    hostile.routes["/short"] = truncated(declared=10_000, sent=4_000)
    result, verdict = await capture(hostile.url("/short"))
    assert result.error is not None and result.error.startswith("truncated body")
    assert result.body == b"" and not result.ok
    assert verdict.reason == result.error


@pytest.mark.anyio
async def test_unterminated_chunked_body_is_truncated(hostile: HostileServer) -> None:
    hostile.routes["/chunked"] = truncated_chunked()
    result = await fetch(hostile.url("/chunked"))
    assert result.error is not None and result.error.startswith("truncated body")
    assert result.body == b""


@pytest.mark.anyio
async def test_truncated_gzip_stream(hostile: HostileServer) -> None:
    whole = gzip.compress(POLICY.encode() * 20)
    cut = whole[: len(whole) // 2]
    hostile.routes["/gz-cut"] = respond(200, {"Content-Type": "text/html",
                                              "Content-Encoding": "gzip"}, cut)
    result = await fetch(hostile.url("/gz-cut"))
    assert result.error is not None and result.error.startswith("truncated body")
    hostile.routes["/gz-ok"] = respond(200, {"Content-Type": "text/html",
                                             "Content-Encoding": "gzip"}, whole)
    good = await fetch(hostile.url("/gz-ok"))
    assert good.ok and good.body == POLICY.encode() * 20


@pytest.mark.anyio
async def test_slow_drip_hits_the_deadline(hostile: HostileServer) -> None:
    hostile.routes["/drip"] = drip(interval=0.05)
    started = time.monotonic()
    result, verdict = await capture(hostile.url("/drip"), replace(FAST, timeout=0.8, retries=2))
    assert result.error == "timed out after 0.8 s while reading the body"
    assert time.monotonic() - started < 2.0  # a deadline, not a per-read timeout
    assert result.attempts == 1 and result.body == b""
    assert verdict.reason == "fetch failed: timed out after 0.8 s while reading the body"


@pytest.mark.anyio
async def test_server_that_never_answers(hostile: HostileServer) -> None:
    hostile.routes["/silent"] = silent()
    result = await fetch(hostile.url("/silent"), replace(FAST, timeout=0.5))
    assert result.error == "timed out after 0.5 s waiting for a response"
    assert result.status is None


@pytest.mark.anyio
async def test_50_mb_body_with_content_length(hostile: HostileServer) -> None:
    hostile.routes["/huge"] = endless(50_000_000)
    result, verdict = await capture(hostile.url("/huge"))
    assert result.error == "body exceeds 1000000 bytes (Content-Length 50000000)"
    assert result.body == b"" and not verdict.ok


@pytest.mark.anyio
async def test_50_mb_body_without_content_length(hostile: HostileServer) -> None:
    hostile.routes["/huge-stream"] = endless(50_000_000, declare_length=False)
    result = await fetch(hostile.url("/huge-stream"))
    assert result.error == "body exceeds 1000000 bytes"
    assert result.body == b""


@pytest.mark.anyio
async def test_gzip_bomb_stops_at_the_decoded_cap(hostile: HostileServer) -> None:
    hostile.routes["/bomb"] = gzip_bomb(200_000_000)
    assert len(gzip_bomb_bytes(200_000_000)) < 1_000_000  # it is under the cap compressed
    result, verdict = await capture(hostile.url("/bomb"))
    assert result.error == "body exceeds 1000000 bytes (decompressed gzip)"
    assert result.body == b"" and not verdict.ok


# --- redirects -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_infinite_redirect_chain(hostile: HostileServer) -> None:
    hostile.routes["/hop/*"] = redirect_forever("/hop/")
    result, verdict = await capture(hostile.url("/hop/0"), replace(FAST, max_redirects=5))
    assert result.error == "too many redirects (more than 5)"
    assert len(result.redirects) == 6 and result.redirects[0] == hostile.url("/hop/0")
    assert verdict.reason == "fetch failed: too many redirects (more than 5)"


@pytest.mark.anyio
async def test_redirect_loop(hostile: HostileServer) -> None:
    hostile.routes["/loop-a"] = redirect("/loop-b")
    hostile.routes["/loop-b"] = redirect(hostile.url("/loop-a"))
    result = await fetch(hostile.url("/loop-a"))
    assert result.error == f"redirect loop: back to {hostile.url('/loop-a')}"
    assert result.redirects == [hostile.url("/loop-a"), hostile.url("/loop-b")]


@pytest.mark.anyio
@pytest.mark.parametrize("location", ["ftp://example.com/policy.txt", "javascript:alert(1)",
                                      "file:///etc/passwd", "data:text/html,hi"])
async def test_redirect_to_non_http_scheme(hostile: HostileServer, location: str) -> None:
    hostile.routes["/to-elsewhere"] = redirect(location)
    result, verdict = await capture(hostile.url("/to-elsewhere"))
    assert result.error == f"redirect to a non-HTTP URL: {location!r}"
    assert result.status == 302 and result.redirects == [hostile.url("/to-elsewhere")]
    assert not verdict.ok


# --- status storms and rate limits -----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 503])
async def test_error_storm_gives_up_after_retries(hostile: HostileServer, status: int) -> None:
    path = f"/storm-{status}"
    hostile.routes[path] = respond(status, {"Content-Type": "text/html"}, b"<p>down</p>")
    before = len(hostile.requests)
    result, verdict = await capture(hostile.url(path), replace(FAST, retries=3))
    assert result.status == status and result.error is None and result.attempts == 4
    assert len(hostile.requests) - before == 4
    assert verdict == Verdict(False, f"HTTP {status}")


@pytest.mark.anyio
async def test_429_without_retry_after_backs_off(hostile: HostileServer) -> None:
    hostile.routes["/busy"] = sequence([respond(429), respond(429), html(POLICY)])
    result, verdict = await capture(hostile.url("/busy"), replace(FAST, retries=3))
    assert result.ok and result.attempts == 3 and verdict.ok
    assert result.retry_after is None


@pytest.mark.anyio
async def test_429_with_http_date_retry_after(hostile: HostileServer) -> None:
    # HTTP dates have whole seconds: +2 s means a wait of between 1 and 2 s.
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    hostile.routes["/busy-date"] = sequence([respond(429, {"Retry-After": when}), html(POLICY)])
    started = time.monotonic()
    result = await fetch(hostile.url("/busy-date"), replace(FAST, retries=1, backoff=0.0))
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started >= 0.9  # waited for the date, not the zero backoff


@pytest.mark.anyio
async def test_429_with_retry_after_too_long_gives_up_now(hostile: HostileServer) -> None:
    hostile.routes["/go-away"] = respond(429, {"Retry-After": "3600"}, b"later")
    before = len(hostile.requests)
    result, verdict = await capture(hostile.url("/go-away"), replace(FAST, retries=3))
    assert result.status == 429 and result.attempts == 1 and result.retry_after == 3600
    assert len(hostile.requests) - before == 1
    assert verdict == Verdict(False, "HTTP 429 (server asks to wait 3600 s)")


@pytest.mark.anyio
async def test_a_long_hold_on_a_host_is_said_once(hostile: HostileServer, caplog) -> None:
    # The other pages of that host wait for max_retry_after: say so, or the cycle seems hung.
    hostile.routes["/go-away"] = respond(429, {"Retry-After": "3600"}, b"later")
    with caplog.at_level("WARNING", logger="tracker.fetch"):
        async with Fetcher(replace(FAST, retries=0, max_retry_after=12)) as fetcher:
            await fetcher.fetch(hostile.url("/go-away"))
    (record,) = [r for r in caplog.records if "Retry-After" in r.getMessage()]
    assert record.getMessage() == ("127.0.0.1 asked us to wait 3600 s (Retry-After): "
                                   "its pages wait 12 s")


@pytest.mark.anyio
async def test_retry_after_holds_back_the_whole_host(hostile: HostileServer) -> None:
    hostile.routes["/limited"] = respond(503, {"Retry-After": "1"})
    hostile.routes["/other"] = html(POLICY)
    async with Fetcher(replace(FAST, retries=0)) as fetcher:
        first = await fetcher.fetch(hostile.url("/limited"))
        started = time.monotonic()
        second = await fetcher.fetch(hostile.url("/other"))
    assert first.status == 503 and first.retry_after == 1 and second.ok
    assert time.monotonic() - started >= 0.9


# --- payloads the quality gate must refuse ---------------------------------------------------


@pytest.mark.anyio
async def test_random_bytes_labelled_html(hostile: HostileServer) -> None:
    hostile.routes["/noise"] = respond(200, {"Content-Type": "text/html; charset=utf-8"},
                                       os.urandom(50_000))
    result, verdict = await capture(hostile.url("/noise"))
    assert result.ok and len(result.body) == 50_000
    assert verdict == Verdict(False, "binary or undecodable body")


@pytest.mark.anyio
async def test_pdf(hostile: HostileServer) -> None:
    hostile.routes["/policy.pdf"] = respond(200, {"Content-Type": "application/pdf"},
                                            b"%PDF-1.7\n" + os.urandom(5_000))
    result, verdict = await capture(hostile.url("/policy.pdf"))
    assert result.ok and result.content_type == "application/pdf"
    assert verdict == Verdict(False, "not HTML: application/pdf")


@pytest.mark.anyio
async def test_empty_200(hostile: HostileServer) -> None:
    hostile.routes["/empty"] = respond(200, {"Content-Type": "text/html"}, b"")
    result, verdict = await capture(hostile.url("/empty"))
    assert result.ok and result.body == b""
    assert verdict == Verdict(False, "empty page (0 words)")


@pytest.mark.anyio
async def test_invalid_utf8_and_lying_charset(hostile: HostileServer) -> None:
    latin1 = (POLICY + "<p>Vos données personnelles sont protégées.</p>").encode("latin-1")
    hostile.routes["/latin1"] = respond(200, {"Content-Type": "text/html; charset=utf-8"},
                                        latin1)
    result, verdict = await capture(hostile.url("/latin1"))
    assert result.ok and result.charset == "utf-8" and result.body == latin1
    assert verdict.ok
    text = normalize_html(decode_html(result.body, result.charset)).to_text()
    assert "données personnelles sont protégées" in text

    broken = POLICY.encode() + b"<p>bad \xc3\x28 bytes \xff here</p>"
    hostile.routes["/bad-utf8"] = respond(200, {"Content-Type": "text/html; charset=utf-8"},
                                          broken)
    result, verdict = await capture(hostile.url("/bad-utf8"))
    assert result.ok and verdict.ok and result.body == broken


@pytest.mark.anyio
async def test_one_megabyte_single_line(hostile: HostileServer) -> None:
    line = "<html><body><p>" + "privacy " * 120_000 + "</p></body></html>"
    assert "\n" not in line and len(line) > 950_000
    hostile.routes["/line"] = html(line)
    result, verdict = await capture(hostile.url("/line"))
    assert result.ok and len(result.body) == len(line)
    assert verdict.ok


DEPTH = 100_000


def nested_page(depth: int) -> str:
    return "<html><body>" + "<div>" * depth + POLICY + "</div>" * depth + "</body></html>"


@pytest.mark.anyio
async def test_deeply_nested_html(hostile: HostileServer) -> None:
    """100k nested divs: fetched whole, normalized without crashing, and given a verdict.

    libxml2 (as normalize_html configures it) stops nesting at 256 levels and drops what lies
    deeper, so the policy text may be lost; the gate must then say the page is empty rather
    than let an empty version through.
    """
    hostile.routes["/nested"] = html(nested_page(DEPTH))
    result = await fetch(hostile.url("/nested"), replace(FAST, max_bytes=2_000_000))
    assert result.ok and len(result.body) == len(nested_page(DEPTH))
    limit = sys.getrecursionlimit()
    document = normalize_html(decode_html(result.body, result.charset))
    assert sys.getrecursionlimit() == limit
    verdict = assess(result, document, None)
    if document.word_count():
        assert "twelve months" in document.to_text() and verdict.ok
    else:
        assert verdict == Verdict(False, "empty page (0 words)")
    # With the previous version known, the loss is reported whatever the nesting does.
    if not document.word_count():
        assert not assess(result, document, 4200).ok


def test_moderately_nested_html_keeps_its_text() -> None:
    document = normalize_html(nested_page(200))
    assert "twelve months" in document.to_text()


@pytest.mark.anyio
async def test_proxy_from_the_environment_is_used(hostile: HostileServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The lean HTTP/1.1 path has no proxy support; proxied URLs go through httpx instead.
    for name in ("HTTP_PROXY", "http_proxy"):  # lowercase wins when both are set
        monkeypatch.setenv(name, hostile.base_url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "skip.invalid")
    hostile.routes["http://policy.invalid/privacy"] = html(POLICY)
    result, verdict = await capture("http://policy.invalid/privacy")
    assert result.ok and verdict.ok and result.body == POLICY.encode()
    assert hostile.requests[-1].path == "http://policy.invalid/privacy"  # absolute form
    bypassed = await fetch("http://skip.invalid/privacy")  # NO_PROXY: a direct DNS lookup
    assert bypassed.error is not None and bypassed.error.startswith("DNS lookup failed")
