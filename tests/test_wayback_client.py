"""WaybackClient against the local fake archive (tests/fake_wayback.py); no internet.

Rates are checked on the times the *server* recorded, with raised limits to stay fast; the
checks only bound the rate from above (spacing over several requests, count per window), so a
slow machine cannot make them fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.fake_wayback import BLOCKED_ERROR, FakeWayback, RecordedRequest, url_key
from tracker.wayback import (
    Blocked,
    Capture,
    Excluded,
    Memento,
    NotArchived,
    OutsideWindow,
    RateLimited,
    RedirectLoop,
    TooLarge,
    WaybackClient,
    WaybackUnavailable,
    parse_cdx_text,
)
from tracker.wayback_cdx import FIELDS, parse_timestamp
from tracker.wayback_limits import ArchiveLimiter, reset_shared_limiters, shared_limiter

pytestmark = pytest.mark.anyio
URL = "https://example.com/privacy"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> Iterator[FakeWayback]:
    with FakeWayback() as server:
        yield server
    reset_shared_limiters()


def client(fake: FakeWayback, **options: Any) -> WaybackClient:
    settings: dict[str, Any] = {"cdx_rate": 100.0, "memento_rate": 500.0, "pause_on_429": 0.2,
                                "retries": 2, "backoff": 0.01}
    settings.update(options)
    return WaybackClient(base_url=fake.base_url, **settings)


def times(requests: list[RecordedRequest]) -> list[float]:
    return sorted(request.at for request in requests)


def assert_rate_at_most(moments: list[float], rate: float, span: int,
                        jitter: float = 0.15) -> None:
    """No more than ``rate``/s: any ``span`` consecutive requests are spread over
    ``span - 1`` intervals, and no 1 s window holds more than ``rate`` requests (+1 at the
    boundary); both less ``jitter``, the delay between a request leaving the client and the
    server thread recording it, which can bunch arrivals on a loaded machine (the server
    shares the test's process and GIL). A client at twice the rate still fails both."""
    for first, last in zip(moments, moments[span - 1:], strict=False):
        assert last - first >= (span - 1) / rate - jitter, (last - first, rate)
    for index, start in enumerate(moments):
        in_window = sum(1 for moment in moments[index:] if moment < start + 1.0)
        assert in_window <= rate * (1 + jitter) + 1, (in_window, rate)


# -- CDX ------------------------------------------------------------------------------------


@pytest.mark.parametrize("double", [False, True])
async def test_list_captures_follows_resume_keys(fake: FakeWayback, double: bool) -> None:
    fake.max_page, fake.double_encode_keys = 10, double
    fake.add_history(URL, 25)
    async with client(fake) as wayback:
        captures = await wayback.list_captures(URL, every="all")
    assert len(captures) == 25
    assert [c.timestamp for c in captures] == sorted(c.timestamp for c in captures)
    cdx = fake.of_kind("cdx")
    assert [r.status for r in cdx] == [200, 200, 200]
    first = cdx[0].query
    assert first["output"] == ["json"] and first["collapse"] == ["digest"]
    assert first["fl"] == [",".join(FIELDS)] and first["showResumeKey"] == ["true"]
    assert first["filter"] and first["limit"] and first["url"] == [URL]
    for later in cdx[1:]:  # the other parameters are unchanged
        assert {k: v for k, v in later.query.items() if k != "resumeKey"} == first
    assert "resumeKey" in cdx[1].query


async def test_from_to_are_inclusive_days(fake: FakeWayback) -> None:
    fake.add_history(URL, 10, start="20190101235959")
    async with client(fake) as wayback:
        captures = await wayback.list_captures(URL, date(2019, 1, 3), date(2019, 1, 5))
    assert [c.timestamp for c in captures] == [
        "20190103235959", "20190104235959", "20190105235959"]
    assert fake.of_kind("cdx")[0].query["from"] == ["20190103"]


async def test_empty_history_is_an_empty_list(fake: FakeWayback) -> None:
    async with client(fake) as wayback:
        assert await wayback.list_captures(URL) == []


async def test_quirky_cdx_rows_do_not_break_the_listing(fake: FakeWayback) -> None:
    fake.duplicate_rows = True
    first = fake.add_capture(URL, "20190101000000", body=b"<html>A</html>")
    fake.add_capture(URL, "20190102000000", body=b"<html>A</html>", revisit=True)
    fake.add_capture(URL, "20190103000000", body=b"<html>B</html>",
                     cdx_original="http://example.com:80/privacy")
    fake.add_capture(URL, "20190104000000", body=b"<html>C</html>", cdx_original="%%junk")
    fake.extra_rows = [["20190105000000", URL], ["bad", URL, "text/html", "200", "D", "1"]]
    async with client(fake) as wayback:
        captures = await wayback.list_captures(URL, every="all")
        mementos = [await wayback.fetch_memento(c) for c in captures]
    assert [c.timestamp[:8] for c in captures] == ["20190101", "20190103", "20190104"]
    assert captures[0].digest == first.cdx_digest
    assert captures[1].original == "http://example.com/privacy"
    assert captures[2].original == URL
    assert [m.body for m in mementos] == [b"<html>A</html>", b"<html>B</html>",
                                          b"<html>C</html>"]


async def test_fake_plain_text_output_parses(fake: FakeWayback) -> None:
    fake.max_page = 2
    fake.add_history(URL, 3)
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        response = await http.get("/cdx/search/cdx", params={"url": URL, "showResumeKey": "true"})
    captures, key = parse_cdx_text(response.text)
    assert len(captures) == 2 and key is not None
    assert response.text.split()[0] == url_key(URL)


async def test_blocked_site_in_cdx(fake: FakeWayback) -> None:
    fake.block(URL)
    async with client(fake) as wayback:
        with pytest.raises(Blocked, match="blocks this site"):
            await wayback.list_captures(URL)


# -- mementos --------------------------------------------------------------------------------


async def test_memento_200_with_original_headers(fake: FakeWayback) -> None:
    fake.add_capture(URL, "20190317011821", body=b"<html><p>policy</p></html>",
                     headers={"Content-Type": "text/html; charset=utf-8", "ETag": '"abc"',
                              "Set-Cookie": "a=1"})
    fake.add_capture(URL, "20190318000000", body=b"<html>next</html>")
    async with client(fake) as wayback:
        (capture, _) = await wayback.list_captures(URL)
        memento = await wayback.fetch_memento(capture)
        again = await wayback.fetch_memento("20190317011821", URL)
    assert isinstance(memento, Memento)
    assert memento.body == b"<html><p>policy</p></html>" == again.body
    assert memento.status == 200 and memento.redirects == []
    assert memento.captured_at.isoformat() == "2019-03-17T01:18:21+00:00"
    assert memento.timestamp == "20190317011821"
    assert memento.original_url == URL
    assert memento.content_type == "text/html; charset=utf-8"
    assert memento.headers == {"content-type": "text/html; charset=utf-8", "etag": '"abc"',
                               "set-cookie": "a=1"}
    assert memento.memento_url == memento.requested_url == capture.memento_url(fake.base_url)
    assert all("id_/" in r.target for r in fake.of_kind("memento"))


async def test_archived_redirect_is_followed_inside_the_archive(fake: FakeWayback) -> None:
    target = "https://example.com/legal/privacy"
    fake.add_capture(URL, "20190101000000", status=301, redirect_to=target)
    fake.add_capture(target, "20190101000003", body=b"<html>moved</html>")
    async with client(fake) as wayback:
        memento = await wayback.fetch_memento("20190101000000", URL)
    assert memento.body == b"<html>moved</html>" and memento.status == 200
    assert memento.original_url == target
    assert [(r.status, r.kind) for r in memento.redirects] == [(301, "archived"), (302, "closest")]
    assert memento.memento_url.endswith(f"/web/20190101000003id_/{target}")


async def test_archived_redirects_without_archive_locations(fake: FakeWayback) -> None:
    fake.add_capture(URL, "20190101000000", status=301, location="/new")  # not rewritten
    fake.add_capture("https://example.com/new", "20190101000000", body=b"<html>new</html>")
    fake.add_capture(URL, "20190102000000", status=302,  # Location only as X-Archive-Orig-
                     headers={"Content-Type": "text/html", "Location": "/gone"})
    async with client(fake) as wayback:
        moved = await wayback.fetch_memento("20190101000000", URL)
        bare = await wayback.fetch_memento("20190102000000", URL)
    assert moved.body == b"<html>new</html>"
    assert moved.memento_url.endswith("/web/20190101000000id_/https://example.com/new")
    assert (bare.status, bare.headers["location"]) == (302, "/gone")  # returned as captured


async def test_closest_capture_only_within_the_window(fake: FakeWayback) -> None:
    fake.add_capture(URL, "20190101060000", body=b"<html>near</html>")
    async with client(fake, closest_window=timedelta(hours=24)) as wayback:
        near = await wayback.fetch_memento("20190101000000", URL)
        assert near.body == b"<html>near</html>"
        assert near.captured_at.hour == 6
        with pytest.raises(OutsideWindow, match="closest capture is 20190101060000"):
            await wayback.fetch_memento("20190105000000", URL)


async def test_archived_error_statuses_are_mementos(fake: FakeWayback) -> None:
    fake.add_capture(URL, "20190101000000", status=404, body=b"<html>gone</html>")
    fake.add_capture(URL, "20190102000000", status=429, body=b"<html>slow down</html>")
    async with client(fake) as wayback:
        gone = await wayback.fetch_memento("20190101000000", URL)
        throttled = await wayback.fetch_memento("20190102000000", URL)
    assert (gone.status, gone.body) == (404, b"<html>gone</html>")
    assert throttled.status == 429  # the page's own 429 in 2019, not the archive's
    assert wayback.limiter.pauses == 0


async def test_not_archived_excluded_blocked(fake: FakeWayback) -> None:
    fake.exclude("https://excluded.example/")
    fake.block("https://blocked.example/")
    async with client(fake) as wayback:
        with pytest.raises(NotArchived, match="has not archived that URL"):
            await wayback.fetch_memento("20190101000000", URL)
        with pytest.raises(Excluded, match="excluded"):
            await wayback.fetch_memento("20190101000000", "https://excluded.example/")
        with pytest.raises(Blocked) as blocked:
            await wayback.fetch_memento("20190101000000", "https://blocked.example/")
    assert BLOCKED_ERROR in str(blocked.value)


async def test_circular_redirects_are_detected(fake: FakeWayback) -> None:
    other = "https://example.com/privacy-policy"
    fake.add_capture(URL, "20190101000000", status=301, redirect_to=other)
    fake.add_capture(other, "20190101000100", status=302, redirect_to=URL)
    async with client(fake) as wayback:
        with pytest.raises(RedirectLoop, match="redirect loop"):
            await wayback.fetch_memento("20190101000000", URL)
    assert len(fake.of_kind("memento")) <= 5


@pytest.mark.parametrize("encodings", [["gzip", "gzip"], ["gzip", ""], ["", "gzip"]])
async def test_duplicated_or_empty_content_encoding(fake: FakeWayback,
                                                    encodings: list[str]) -> None:
    fake.add_capture(URL, "20190101000000", body=b"<html>zipped</html>", gzip_body=True,
                     content_encoding=encodings)
    fake.add_capture(URL, "20190102000000", body=b"<html>plain</html>", content_encoding=[""])
    async with client(fake) as wayback:
        zipped = await wayback.fetch_memento("20190101000000", URL)
        plain = await wayback.fetch_memento("20190102000000", URL)
    assert (zipped.body, plain.body) == (b"<html>zipped</html>", b"<html>plain</html>")


async def test_size_cap(fake: FakeWayback) -> None:
    fake.add_capture(URL, "20190101000000", body=b"x" * 5000)
    fake.add_capture(URL, "20190102000000", body=b"y" * 50_000, gzip_body=True)
    async with client(fake, max_bytes=4000) as wayback:
        with pytest.raises(TooLarge):
            await wayback.fetch_memento("20190101000000", URL)
        with pytest.raises(TooLarge):  # small on the wire, too big once decoded
            await wayback.fetch_memento("20190102000000", URL)


# -- retries ---------------------------------------------------------------------------------


async def test_503_then_200_and_dropped_connections_are_retried(fake: FakeWayback) -> None:
    fake.add_capture(URL, "20190101000000", body=b"<html>ok</html>")
    fake.inject(503, "memento")
    fake.inject(0, "memento", skip=1)
    fake.inject(502, "cdx")
    async with client(fake) as wayback:
        captures = await wayback.list_captures(URL)
        memento = await wayback.fetch_memento(captures[0])
    assert memento.body == b"<html>ok</html>"
    assert [r.status for r in fake.of_kind("memento")] == [503, 0, 200]
    assert [r.status for r in fake.of_kind("cdx")] == [502, 200]


async def test_persistent_5xx_is_unavailable(fake: FakeWayback) -> None:
    fake.add_capture(URL, "20190101000000", body=b"<html>ok</html>")
    fake.inject(504, "memento", times=100)
    async with client(fake, retries=3) as wayback:
        with pytest.raises(WaybackUnavailable, match="after 4 attempts"):
            await wayback.fetch_memento("20190101000000", URL)
    assert len(fake.of_kind("memento")) == 4


async def test_persistent_429_gives_up_as_rate_limited(fake: FakeWayback) -> None:
    fake.inject(429, "cdx", times=100)
    async with client(fake, retries=1, pause_on_429=0.05) as wayback:
        with pytest.raises(RateLimited):
            await wayback.list_captures(URL)
    assert len(fake.of_kind("cdx")) == 2


# -- many mementos, rates, the 429 pause -----------------------------------------------------


async def test_fetch_mementos_yields_every_result(fake: FakeWayback) -> None:
    fake.add_history(URL, 12)
    async with client(fake) as wayback:
        captures = await wayback.list_captures(URL)
        missing = Capture("20190101000000", captures[0].captured_at, "https://nope.example/",
                          "text/html", 200, "X", None)
        results = [r async for r in wayback.fetch_mementos([*captures, missing], concurrency=4)]
        assert len(results) == 13
        assert sum(r.ok for r in results) == 12
        (failed,) = [r for r in results if not r.ok]
        assert failed.capture is missing and isinstance(failed.error, NotArchived)
        assert {r.capture.timestamp: r.memento.body for r in results if r.memento} == {
            c.timestamp: f"<html><p>version {i}</p></html>".encode()
            for i, c in enumerate(captures)}
        async for _ in wayback.fetch_mementos(captures, concurrency=4):
            break  # stopping early cancels the rest
    assert len(fake.of_kind("memento")) < 13 + 12


async def test_request_rates_stay_under_the_limits(fake: FakeWayback) -> None:
    fake.max_page = 10
    fake.add_history(URL, 40)  # 4 CDX pages
    other = "https://example.org/terms"
    fake.add_history(other, 30)
    first = client(fake, cdx_rate=5.0, memento_rate=40.0)
    second = client(fake, cdx_rate=5.0, memento_rate=40.0)
    assert first.limiter is second.limiter is shared_limiter(fake.base_url)
    assert first.limiter.rates == {"cdx": 5.0, "memento": 40.0}

    async def backfill(wayback: WaybackClient, url: str) -> int:
        captures = await wayback.list_captures(url, every="all")
        return sum([r.ok async for r in wayback.fetch_mementos(captures, concurrency=8)])

    async with first, second:
        counts = await asyncio.gather(backfill(first, URL), backfill(second, other))
    assert counts == [40, 30]
    cdx, mementos = times(fake.of_kind("cdx")), times(fake.of_kind("memento"))
    assert len(cdx) == 7 and len(mementos) == 70
    assert_rate_at_most(cdx, 5.0, span=7)
    assert_rate_at_most(mementos, 40.0, span=20)
    # ...and at the limit rather than far below it: 70 mementos at 40/s take ~1.75 s.
    assert mementos[-1] - mementos[0] < 70 / 40 * 2


async def test_429_pauses_every_request_then_resumes_slowly(fake: FakeWayback) -> None:
    pause = 0.6
    fake.max_page = 2
    fake.add_history(URL, 16)  # 8 CDX pages, one every 0.1 s
    history = fake.add_history(URL + "2", 25)
    captures = [Capture(c.timestamp, parse_timestamp(c.timestamp), c.url,  # type: ignore[arg-type]
                        "text/html", 200, c.cdx_digest, None) for c in history]
    fake.inject(429, "memento", skip=5)  # the archive throttles the 6th memento request
    async with client(fake, cdx_rate=10.0, memento_rate=40.0, pause_on_429=pause) as wayback:
        listing = asyncio.create_task(wayback.list_captures(URL))
        results = [r async for r in wayback.fetch_mementos(captures, concurrency=4)]
        assert len(await listing) == 16
    assert all(r.ok for r in results) and len(results) == 25
    requests = sorted(fake.requests, key=lambda r: r.at)
    (throttled,) = [r for r in requests if r.status == 429]
    after = [r for r in requests if r.at > throttled.at]
    # Requests the client sent before it read the 429 may still arrive just after it (0.25 s
    # allows for a loaded machine); after that, nothing of either kind until the pause ends.
    assert not [r for r in after if throttled.at + 0.25 <= r.at < throttled.at + pause]
    assert any(r.kind == "cdx" and r.at < throttled.at for r in requests)
    assert {r.kind for r in after if r.at >= throttled.at + pause} == {"cdx", "memento"}
    resumed = times([r for r in after
                     if r.kind == "memento" and r.at >= throttled.at + pause])[:10]
    assert len(resumed) == 10
    assert_rate_at_most(resumed, 20.0, span=10)  # half the memento rate after the pause
    assert wayback.limiter.pauses == 1


async def test_limiter_escalates_on_repeated_429() -> None:
    now = [100.0]
    limiter = ArchiveLimiter(cdx_rate=1.0, memento_rate=10.0, pause_on_429=60.0,
                             clock=lambda: now[0])
    stale = await limiter.acquire("memento")
    assert limiter.report_429(stale) == 60.0
    assert limiter.report_429(stale) == 60.0  # same episode: no escalation
    assert limiter.paused_for() == 60.0
    now[0] += 70.0  # resumed, still in the slow period
    fresh = await limiter.acquire("memento")
    assert limiter.report_429(fresh) == 120.0  # repeated 429: pause doubles
    limiter.tighten(cdx_rate=0.2, memento_rate=20.0, pause_on_429=30.0)
    assert limiter.rates == {"cdx": 0.2, "memento": 10.0} and limiter.pause_on_429 == 60.0


async def test_a_longer_retry_after_than_the_configured_pause_is_waited_out() -> None:
    now = [100.0]
    limiter = ArchiveLimiter(cdx_rate=1.0, memento_rate=10.0, pause_on_429=2.0,
                             clock=lambda: now[0])
    ticket = await limiter.acquire("cdx")
    assert limiter.report_429(ticket, retry_after=30.0) == 30.0
    now[0] += 40.0
    assert limiter.report_429(await limiter.acquire("cdx"), retry_after=None) == 4.0
    now[0] += 10.0
    assert limiter.report_429(await limiter.acquire("cdx"), retry_after=99999.0) == 3600.0
