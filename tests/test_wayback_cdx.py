"""CDX parsing, repair and capture selection: pure functions, no server."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus, unquote_plus

import pytest

from tracker.wayback_cdx import (
    FIELDS,
    Capture,
    capture_from_fields,
    normalize_resume_key,
    parse_cdx_json,
    parse_cdx_text,
    repair_original,
    select_captures,
)
from tracker.wayback_errors import TooLarge
from tracker.wayback_memento import (
    content_codings,
    decode_body,
    link_original,
    parse_archive_url,
    parse_memento_datetime,
)

URL = "https://www.comm100.com/privacy"
ROW = ["20190317011821", URL, "text/html", "200", "Q4YULN754FHV2U6Q5JUT6Q2P57WEWNNY", "41500"]


def cap(timestamp: str, status: int | None = 200, digest: str = "D1",
        mimetype: str = "text/html") -> Capture:
    capture = capture_from_fields({"timestamp": timestamp, "original": URL, "mimetype": mimetype,
                                   "statuscode": str(status) if status else "-",
                                   "digest": digest, "length": "10"})
    assert capture is not None
    return capture


def test_json_rows_become_captures_with_resume_key() -> None:
    rows = [list(FIELDS), ROW, [], ["com%2Ccomm100%29%2Fprivacy+20190317011821%21"]]
    captures, key = parse_cdx_json(rows)
    assert key == "com%2Ccomm100%29%2Fprivacy+20190317011821%21"
    (capture,) = captures
    assert capture.timestamp == "20190317011821"
    assert capture.captured_at == datetime(2019, 3, 17, 1, 18, 21, tzinfo=UTC)
    assert (capture.original, capture.mimetype, capture.statuscode, capture.length) == (
        URL, "text/html", 200, 41500)
    assert capture.memento_url("https://web.archive.org/") == (
        f"https://web.archive.org/web/20190317011821id_/{URL}")


def test_empty_and_junk_json_is_no_captures() -> None:
    assert parse_cdx_json([]) == ([], None)
    assert parse_cdx_json({"error": "x"}) == ([], None)
    assert parse_cdx_json([["not", "a"], "row", 3]) == ([], None)


def test_quirky_json_rows_are_repaired_or_skipped() -> None:
    rows = [
        list(FIELDS),
        ROW, ROW,  # repeated identical line
        ["20190318000000", URL, "warc/revisit", "-", ROW[4], "-"],  # revisit
        ["20190319000000", "http://www.comm100.com:80/privacy", "text/html", "200", "D2", "1"],
        ["20190320000000", "ht!tp://bad url", "text/html", "200", "D3", "1"],  # malformed
        ["20190321000000", URL],  # short row
        ["2019032", URL, "text/html", "200", "D4", "1"],  # bad timestamp
        ["20191341000000", URL, "text/html", "200", "D5", "1"],  # impossible date
        ["20190322000000", URL, "text/html", "200", "-", "1"],  # no digest
        ["20190323000000", URL, "text/html", 200, "D6", "1"],  # not a string
    ]
    captures, key = parse_cdx_json(rows, fallback_url=URL)
    assert key is None
    assert [c.timestamp for c in captures] == [
        "20190317011821", "20190317011821", "20190318000000", "20190319000000",
        "20190320000000"]
    revisit = captures[2]
    assert (revisit.statuscode, revisit.length, revisit.is_revisit) == (None, None, True)
    assert captures[3].original == "http://www.comm100.com/privacy"
    assert captures[4].original == URL  # malformed original replaced by the searched URL


def test_repair_original() -> None:
    assert repair_original("http://example.com:80/a") == "http://example.com/a"
    assert repair_original("https://example.com:443/a?b=1") == "https://example.com/a?b=1"
    assert repair_original("http://example.com:8080/a") == "http://example.com:8080/a"
    assert repair_original("example.com/privacy") == "http://example.com/privacy"
    assert repair_original("http://http://example.com/a") == "http://example.com/a"
    assert repair_original("http://privacy/") is None
    assert repair_original("-", "http://fallback/") == "http://fallback/"
    assert repair_original("http://exa mple.com/") is None


def test_plain_text_output_full_and_fl_columns() -> None:
    text = (f"com,comm100)/privacy 20190317011821 {URL} text/html 200 DIGEST1 41500\n"
            f"com,comm100)/privacy 20190317011821 {URL} text/html 200 DIGEST1 41500\n"
            f"com,comm100)/privacy 20190401000000 {URL} warc/revisit - DIGEST1 -\n"
            "com,comm100)/privacy 2019\n"
            "\n"
            "com%2Ccomm100%29%2Fprivacy+20190401000000%21\n")
    captures, key = parse_cdx_text(text)
    assert key == "com%2Ccomm100%29%2Fprivacy+20190401000000%21"
    assert [(c.timestamp, c.statuscode) for c in captures] == [
        ("20190317011821", 200), ("20190317011821", 200), ("20190401000000", None)]
    six = f"20190317011821 {URL} text/html 301 DIGEST2 12\n"
    (capture,), key = parse_cdx_text(six)
    assert (capture.statuscode, capture.digest, key) == (301, "DIGEST2", None)


def test_plain_text_original_with_spaces_falls_back() -> None:
    line = "com,x)/ 20190317011821 http://x.com/a b text/html 200 D 5\n"
    (capture,), _ = parse_cdx_text(line, fallback_url="http://x.com/a%20b")
    assert capture.original == "http://x.com/a%20b"
    assert capture.digest == "D"


@pytest.mark.parametrize("raw", [
    "com,example)/privacy 20190101000000!",
    "com,example)/privacy%20policy 20190101000000!40",  # a urlkey with its own escape
])
def test_resume_keys_single_or_double_encoded_come_back_single(raw: str) -> None:
    single = quote_plus(raw)
    double = quote(single, safe="")
    assert normalize_resume_key(single) == single
    assert normalize_resume_key(double) == single
    assert unquote_plus(normalize_resume_key(double)) == raw
    assert normalize_resume_key("opaque-token") == "opaque-token"


def test_select_one_per_day_best_status_first() -> None:
    captures = [
        cap("20190101080000", 404, "E"), cap("20190101090000", 301, "R"),
        cap("20190101100000", 200, "A"), cap("20190101110000", 200, "B"),
        cap("20190102080000", 503, "X"), cap("20190102090000", 302, "R2"),
    ]
    chosen = select_captures(reversed(captures), "day")
    assert [(c.timestamp, c.statuscode) for c in chosen] == [
        ("20190101100000", 200), ("20190102090000", 302)]


def test_select_week_month_all() -> None:
    captures = [cap(f"201901{day:02d}000000", 200, f"D{day}") for day in range(1, 32)]
    assert len(select_captures(captures, "all")) == 31
    assert len(select_captures(captures, "month")) == 1
    weeks = select_captures(captures, "week")  # Jan 2019: ISO weeks 1..5
    assert [c.timestamp[:8] for c in weeks] == [
        "20190101", "20190107", "20190114", "20190121", "20190128"]
    with pytest.raises(ValueError):
        select_captures(captures, "hour")  # type: ignore[arg-type]


def test_digest_dedup_keeps_changes_back_and_forth() -> None:
    captures = [cap("20190101000000", digest="A"), cap("20190102000000", digest="A"),
                cap("20190103000000", digest="B"), cap("20190104000000", digest="A"),
                cap("20190104000000", digest="A")]  # the last is a repeated line
    chosen = select_captures(captures, "all")
    assert [(c.timestamp[:8], c.digest) for c in chosen] == [
        ("20190101", "A"), ("20190103", "B"), ("20190104", "A")]


def test_revisits_take_the_status_of_the_capture_they_repeat() -> None:
    captures = [
        cap("20190101000000", 200, "A"),
        cap("20190102000000", 301, "R"), cap("20190102120000", None, "A", "warc/revisit"),
        cap("20190103000000", 302, "R2"), cap("20190103120000", None, "Z", "warc/revisit"),
    ]
    chosen = select_captures(captures, "day")
    # Day 2: the revisit of A is a 200 and beats the 301, but repeats day 1 so it is dropped.
    # Day 3: an unresolved revisit ranks below a redirect.
    assert [(c.timestamp, c.statuscode, c.mimetype) for c in chosen] == [
        ("20190101000000", 200, "text/html"), ("20190103000000", 302, "text/html")]


def test_content_codings_and_body_decoding() -> None:
    html = b"<html>" + b"x" * 1000 + b"</html>"
    assert content_codings(["gzip", "gzip"]) == ["gzip"]
    assert content_codings(["", " , identity"]) == []
    assert content_codings(["gzip, br"]) == ["gzip", "br"]
    assert decode_body(gzip.compress(html), ["gzip"], 10_000, "u") == html
    assert decode_body(gzip.compress(gzip.compress(html)), ["gzip"], 10_000, "u") == html
    assert decode_body(html, ["gzip"], 10_000, "u") == html  # header lies: keep the bytes
    assert decode_body(b"\x1f\x8bjunk", ["gzip"], 10_000, "u") == b"\x1f\x8bjunk"
    with pytest.raises(TooLarge):
        decode_body(gzip.compress(b"0" * 100_000), ["gzip"], 10_000, "u")
    assert len(decode_body(gzip.compress(b"0" * 100_000), ["gzip"], 10, "u", truncate=True)) \
        == 10


def test_archive_urls_links_and_dates() -> None:
    target = parse_archive_url("/web/20190101000000/https:/example.com/p?a=1",
                               "https://web.archive.org")
    assert target is not None
    assert (target.timestamp, target.original) == ("20190101000000", "https://example.com/p?a=1")
    assert target.id_url("https://web.archive.org") == (
        "https://web.archive.org/web/20190101000000id_/https://example.com/p?a=1")
    assert parse_archive_url("https://example.com/elsewhere") is None
    link = ('<https://web.archive.org/web/timemap/link/x>; rel="timemap", '
            '<https://example.com/a,b>; rel="original", <u>; rel="first memento"')
    assert link_original(link) == "https://example.com/a,b"
    assert parse_memento_datetime("Sun, 17 Mar 2019 01:18:21 GMT") == datetime(
        2019, 3, 17, 1, 18, 21, tzinfo=UTC)
    assert parse_memento_datetime("garbage") is None
