"""A fake Wayback Machine on 127.0.0.1 that behaves as WAYBACK.md documents, quirks included.

Tests program it with captures (``add_capture``) and failure modes (``inject``, ``block``,
``exclude``, the CDX quirk switches) and then read :attr:`FakeWayback.requests`: every
request with its arrival time (``time.monotonic()``) and the status it got, so a test can
measure the rate the *server* saw instead of trusting the client's own timings.

It serves:

- ``/cdx/search/cdx``: JSON (``output=json``) or plain text; ``url``, ``from``/``to``
  (prefixes, inclusive), repeatable ``filter=[!]field:regex`` (whole-field match), ``fl``,
  ``collapse=digest`` (adjacent rows only, and only within one page, like the real thing),
  ``limit`` (capped by ``max_page``), ``showResumeKey``/``resumeKey`` paging. Resume keys
  are printed URL-encoded once, or twice with ``double_encode_keys``; a key the server did
  not print is refused with 400, so a client that mangles keys fails loudly.
- ``/web/<ts><flag>/<url>``: the capture at that exact second with Memento headers
  (``Memento-Datetime``, ``X-Archive-Orig-*``, ``Link``), an archived redirect
  (``Location: /web/<ts>id_/<target>``), or else a 302 to the closest capture (no
  Memento-Datetime); 404 "not archived", 200 "excluded", 403 "blocked" as the archive says
  them. Without ``id_`` the HTML gets a toolbar, so a test can tell if a client forgot it.

Usage::

    with FakeWayback() as fake:
        fake.add_capture("https://example.com/privacy", "20190317011821", body=b"<p>v1</p>")
        fake.inject(429, kind="memento", skip=2)  # the 3rd memento request is throttled
        ... WaybackClient(base_url=fake.base_url) ...
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Literal
from urllib.parse import parse_qs, quote, quote_plus, unquote_plus, urlsplit

from tests.pageserver import LocalHTTPServer

RequestKind = Literal["cdx", "memento", "other"]

ALL_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
BLOCKED_ERROR = ("org.archive.wayback.exception.AdministrativeAccessControlException: "
                 "Blocked Site Error")
NOT_ARCHIVED_HTML = (b"<html><body><h2>Hrm.</h2><p>The Wayback Machine has not archived that "
                     b"URL.</p></body></html>")
EXCLUDED_HTML = (b"<html><body><p>Sorry.</p><p>This URL has been excluded from the Wayback "
                 b"Machine.</p></body></html>")
TOOLBAR = (b"<!-- BEGIN WAYBACK TOOLBAR INSERT --><div id=\"wm-ipp\">toolbar</div>"
           b"<!-- END WAYBACK TOOLBAR INSERT -->")
_WEB_PATH = re.compile(r"^/web/(\d{1,14})([a-z]{2}_)?/(.*)$", re.DOTALL)


def payload_digest(body: bytes) -> str:
    """What the CDX ``digest`` field holds: base32 of the payload's SHA-1."""
    return base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def url_key(url: str) -> str:
    """A simplified SURT (``com,example)/privacy``): how the archive files a URL."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    host = host.removeprefix("www.")
    path = parts.path or "/"
    key = ",".join(reversed(host.split("."))) + ")" + path
    if parts.query:
        key += "?" + parts.query
    return key.lower()


def http_date(timestamp: str) -> str:
    moment = datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return email.utils.format_datetime(moment, usegmt=True)


def _ts_datetime(timestamp: str) -> datetime:
    padded = (timestamp + "00000000000000")[:14]
    try:
        return datetime.strptime(padded, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return datetime.strptime(padded[:4] + "0101000000", "%Y%m%d%H%M%S").replace(tzinfo=UTC)


@dataclass
class FakeCapture:
    """One archived response of ``url`` and how its CDX row looks."""

    url: str
    timestamp: str  # 14 digits
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(
        default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    redirect_to: str | None = None  # archived 3xx: Location /web/<ts>id_/<redirect_to>
    location: str | None = None  # a Location sent verbatim (an archived redirect not rewritten)
    revisit: bool = False  # CDX row: mimetype warc/revisit, statuscode and length "-"
    cdx_original: str | None = None  # the original as the CDX row prints it (":80", junk)
    digest: str | None = None  # default: payload_digest(body)
    content_encoding: list[str] | None = None  # Content-Encoding headers sent, as given
    gzip_body: bool = False  # send the body gzipped (with content_encoding, default "gzip")

    @property
    def cdx_digest(self) -> str:
        return self.digest or payload_digest(self.body)

    @property
    def mimetype(self) -> str:
        content_type = next((v for k, v in self.headers.items()
                             if k.lower() == "content-type"), "unknown")
        return content_type.split(";")[0].strip() or "unknown"

    def cdx_row(self) -> dict[str, str]:
        return {
            "urlkey": url_key(self.url), "timestamp": self.timestamp,
            "original": self.cdx_original if self.cdx_original is not None else self.url,
            "mimetype": "warc/revisit" if self.revisit else self.mimetype,
            "statuscode": "-" if self.revisit else str(self.status),
            "digest": self.cdx_digest,
            "length": "-" if self.revisit else str(len(self.body) + 300),
        }


@dataclass
class Rule:
    """An injected answer for some requests: ``status`` (0 = drop the connection)."""

    status: int
    kind: RequestKind | Literal["any"] = "any"
    times: int = 1
    skip: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seen: int = 0

    def fires(self, kind: RequestKind) -> bool:
        if self.kind not in ("any", kind):
            return False
        self.seen += 1
        return self.skip < self.seen <= self.skip + self.times


@dataclass
class RecordedRequest:
    """A request as the server saw it: what, when (monotonic seconds), and the answer."""

    kind: RequestKind
    path: str
    query: dict[str, list[str]]
    target: str  # raw request target (path + query as sent)
    at: float
    status: int | None = None


@dataclass
class FakeWayback:
    """The fake archive; ``start()`` it (or use ``with``), then point a client at base_url."""

    captures: dict[str, list[FakeCapture]] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)  # url keys
    excluded: set[str] = field(default_factory=set)
    rules: list[Rule] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    duplicate_rows: bool = False  # print every CDX row twice (survives collapse)
    double_encode_keys: bool = False
    max_page: int | None = None  # server-side cap on rows per CDX page
    extra_rows: list[list[str]] = field(default_factory=list)  # raw rows for the first page
    latency: float = 0.0  # seconds each answer takes (the real archive: 0.2-3 s)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # -- programming the archive ------------------------------------------------------------

    def add_capture(self, url: str, timestamp: str, status: int = 200, body: bytes = b"",
                    **options: object) -> FakeCapture:
        capture = FakeCapture(url, timestamp, status, body, **options)  # type: ignore[arg-type]
        with self._lock:
            items = self.captures.setdefault(url_key(url), [])
            items.append(capture)
            items.sort(key=lambda item: item.timestamp)
        return capture

    def add_history(self, url: str, count: int, start: str = "20180101120000",
                    step: timedelta = timedelta(days=1)) -> list[FakeCapture]:
        """``count`` daily captures of ``url``, each with a distinct body."""
        moment = datetime.strptime(start, "%Y%m%d%H%M%S")
        return [self.add_capture(url, (moment + step * index).strftime("%Y%m%d%H%M%S"),
                                 body=f"<html><p>version {index}</p></html>".encode())
                for index in range(count)]

    def block(self, url: str) -> None:
        self.blocked.add(url_key(url))

    def exclude(self, url: str) -> None:
        self.excluded.add(url_key(url))

    def inject(self, status: int, kind: RequestKind | Literal["any"] = "any", times: int = 1,
               skip: int = 0, headers: dict[str, str] | None = None, body: bytes = b"") -> Rule:
        """Answer the next ``times`` matching requests (after ``skip``) with ``status``.

        ``inject(503, "memento")`` then 200 is "503 then 200"; ``inject(429, skip=4)``
        throttles the 5th request; status 0 closes the connection without an answer.
        """
        rule = Rule(status, kind, times, skip, headers or {}, body)
        with self._lock:
            self.rules.append(rule)
        return rule

    def of_kind(self, kind: RequestKind) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.kind == kind]

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeWayback:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                fake._handle(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = LocalHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeWayback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- serving ----------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        target = handler.path
        path, _, query = target.partition("?")
        kind: RequestKind = ("cdx" if path == "/cdx/search/cdx"
                             else "memento" if path.startswith("/web/") else "other")
        record = RecordedRequest(kind, path, parse_qs(query, keep_blank_values=True), target,
                                 time.monotonic())
        with self._lock:
            self.requests.append(record)
            fired = [rule for rule in self.rules if rule.fires(kind)]  # every rule counts
            rule = fired[0] if fired else None
        if self.latency:
            time.sleep(self.latency)
        if rule is not None and rule.status == 0:
            record.status = 0
            handler.close_connection = True
            return
        if rule is not None:
            status, headers, body = rule.status, list(rule.headers.items()), rule.body
        elif kind == "cdx":
            status, headers, body = self._cdx(record.query)
        elif kind == "memento":
            status, headers, body = self._memento(target)
        else:
            status, headers, body = 404, [("Content-Type", "text/plain")], b"not found"
        record.status = status
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _blocked(self) -> tuple[int, list[tuple[str, str]], bytes]:
        return 403, [("Content-Type", "text/html"),
                     ("X-Archive-Wayback-Runtime-Error", BLOCKED_ERROR)], \
            b"<html><body>Blocked Site Error</body></html>"

    def _cdx(self, query: dict[str, list[str]]) -> tuple[int, list[tuple[str, str]], bytes]:
        def one(name: str, default: str = "") -> str:
            return query.get(name, [default])[0]

        key = url_key(one("url"))
        if not one("url"):
            return 400, [("Content-Type", "text/plain")], b"url param is required"
        if key in self.blocked:
            return self._blocked()
        with self._lock:
            rows = [capture.cdx_row() for capture in self.captures.get(key, [])]
        low = (one("from") + "0" * 14)[:14] if one("from") else None
        high = (one("to") + "9" * 14)[:14] if one("to") else None
        rows = [row for row in rows if (low is None or row["timestamp"] >= low)
                and (high is None or row["timestamp"] <= high)]
        for spec in query.get("filter", []):
            negate = spec.startswith("!")
            name, _, pattern = spec.lstrip("!").partition(":")
            regex = re.compile(pattern)
            rows = [row for row in rows
                    if bool(regex.fullmatch(row.get(name, ""))) != negate]
        offset = 0
        if one("resumeKey"):
            decoded = unquote_plus(one("resumeKey"))
            match = re.fullmatch(r"(\S+) (\d{14})!(\d+)", decoded)
            if match is None or match.group(1) != key:
                return 400, [("Content-Type", "text/plain")], b"invalid resumeKey"
            offset = int(match.group(3))
        limit = int(one("limit")) if one("limit").isdigit() else len(rows)
        if self.max_page is not None:
            limit = min(limit, self.max_page)
        page = rows[offset:offset + limit]
        more = offset + limit < len(rows)
        if one("collapse") == "digest":
            page = [row for index, row in enumerate(page)
                    if index == 0 or page[index - 1]["digest"] != row["digest"]]
        if self.duplicate_rows:
            page = [row for row in page for _ in range(2)]
        fields = one("fl").split(",") if one("fl") else list(ALL_FIELDS)
        values: list[list[str]] = [[row.get(name, "-") for name in fields] for row in page]
        if offset == 0:
            values.extend(self.extra_rows)
        resume: str | None = None
        if more and one("showResumeKey") == "true":
            last = page[-1]["timestamp"] if page else "0" * 14
            resume = quote_plus(f"{key} {last}!{offset + limit}")
            if self.double_encode_keys:
                resume = quote(resume, safe="")
        if one("output") == "json":
            document: list[list[str]] = []
            if values or resume:
                document = [fields, *values]
                if resume:
                    document += [[], [resume]]
            return 200, [("Content-Type", "application/json")], json.dumps(document).encode()
        text = "".join(" ".join(row) + "\n" for row in values)
        if resume:
            text += "\n" + resume + "\n"
        return 200, [("Content-Type", "text/plain")], text.encode()

    def _memento(self, target: str) -> tuple[int, list[tuple[str, str]], bytes]:
        match = _WEB_PATH.match(target)
        if match is None:
            return 404, [("Content-Type", "text/html")], NOT_ARCHIVED_HTML
        timestamp, flag, url = match.group(1), match.group(2) or "", match.group(3)
        url = re.sub(r"^([A-Za-z]+):/(?!/)", r"\1://", url)
        key = url_key(url)
        if key in self.blocked:
            return self._blocked()
        if key in self.excluded:
            return 200, [("Content-Type", "text/html")], EXCLUDED_HTML
        with self._lock:
            captures = list(self.captures.get(key, []))
        if not captures:
            return 404, [("Content-Type", "text/html; charset=utf-8")], NOT_ARCHIVED_HTML
        exact = next((c for c in captures if c.timestamp == timestamp), None)
        if exact is None:
            wanted = _ts_datetime(timestamp)
            closest = min(captures, key=lambda c: abs(_ts_datetime(c.timestamp) - wanted))
            location = f"{self.base_url}/web/{closest.timestamp}{flag}/{closest.url}"
            return 302, [("Location", location), ("Content-Type", "text/plain"),
                         ("X-Archive-Redirect-Reason",
                          f"found capture at {closest.timestamp}")], b""
        return self._serve(exact, captures, flag)

    def _serve(self, capture: FakeCapture, history: list[FakeCapture], flag: str) \
            -> tuple[int, list[tuple[str, str]], bytes]:
        headers: list[tuple[str, str]] = [("Memento-Datetime", http_date(capture.timestamp))]
        for name, value in capture.headers.items():
            if name.lower() == "content-type":
                headers.append(("Content-Type", value))
            headers.append((f"X-Archive-Orig-{name}", value))
        headers.append(("Link", self._link(capture, history)))
        if capture.redirect_to:
            headers.append(("Location", f"/web/{capture.timestamp}{flag}/{capture.redirect_to}"))
        elif capture.location:
            headers.append(("Location", capture.location))
        body = capture.body
        if flag != "id_" and b"<html" in body:
            body = body.replace(b"<html>", b"<html>" + TOOLBAR, 1)
        if capture.gzip_body:
            body = gzip.compress(body)
        encodings = capture.content_encoding
        if encodings is None and capture.gzip_body:
            encodings = ["gzip"]
        for value in encodings or []:
            headers.append(("Content-Encoding", value))
        return capture.status, headers, body

    def _link(self, capture: FakeCapture, history: list[FakeCapture]) -> str:
        def memento(item: FakeCapture, rel: str) -> str:
            return (f'<{self.base_url}/web/{item.timestamp}/{item.url}>; rel="{rel}"; '
                    f'datetime="{http_date(item.timestamp)}"')

        index = history.index(capture)
        links = [f'<{capture.url}>; rel="original"',
                 f'<{self.base_url}/web/timemap/link/{capture.url}>; rel="timemap"; '
                 f'type="application/link-format"',
                 f'<{self.base_url}/web/{capture.url}>; rel="timegate"',
                 memento(history[0], "first memento")]
        if index > 0:
            links.append(memento(history[index - 1], "prev memento"))
        if index + 1 < len(history):
            links.append(memento(history[index + 1], "next memento"))
        links.append(memento(history[-1], "last memento"))
        return ", ".join(links)
