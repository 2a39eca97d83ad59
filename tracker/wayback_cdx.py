"""CDX search results: parse both output formats, repair quirky rows, pick captures to fetch.

Real CDX data is messy (tests/fake_wayback.py serves it all): repeated identical lines, ``-``
for the status and length of ``warc/revisit`` rows, ``:80`` in old originals, malformed
originals, short rows, and ``collapse=digest`` that only drops *adjacent* duplicates.
Everything here is a pure function so those quirks are tested without a server; a row that
cannot be repaired is skipped, never raised on, because one bad line must not stop a backfill
of thousands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Literal
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

Period = Literal["day", "week", "month", "all"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "all")

# The fields the client asks for (``fl=``) and their order in JSON / text output.
FIELDS: tuple[str, ...] = ("timestamp", "original", "mimetype", "statuscode", "digest", "length")
# Columns of plain-text output without ``fl=``.
TEXT_FIELDS_FULL: tuple[str, ...] = ("urlkey", *FIELDS)

REVISIT_MIMETYPE = "warc/revisit"
_TIMESTAMP = re.compile(r"\d{14}")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# A decoded resume key is "<urlkey> <14-digit timestamp>..." (the urlkey never holds a space).
_DECODED_KEY = re.compile(r"\S+ \d{14}\S*")


@dataclass(frozen=True, slots=True)
class Capture:
    """One CDX row, repaired: what the archive holds for a URL at one second."""

    timestamp: str  # 14 digits, UTC
    captured_at: datetime  # aware UTC, same instant as ``timestamp``
    original: str
    mimetype: str
    statuscode: int | None  # None for an unresolved revisit ("-")
    digest: str  # base32 SHA-1 of the payload: for dedup, not for verifying bytes
    length: int | None

    @property
    def is_revisit(self) -> bool:
        return self.mimetype == REVISIT_MIMETYPE

    def memento_url(self, base: str) -> str:
        """The ``id_`` URL of this capture: original bytes, no toolbar, no link rewriting."""
        return f"{base.rstrip('/')}/web/{self.timestamp}id_/{self.original}"


def parse_timestamp(value: str) -> datetime | None:
    """A 14-digit CDX timestamp as an aware UTC datetime; None when it is not one."""
    if not _TIMESTAMP.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def format_timestamp(moment: date) -> str:
    """``from``/``to`` value: 8 digits for a date (CDX treats it as the whole day), else 14."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return moment.strftime("%Y%m%d%H%M%S")
    return moment.strftime("%Y%m%d")


def pad_timestamp(value: str, fill: str = "0") -> str:
    """Complete a 1-14 digit timestamp (CDX and Wayback URLs accept prefixes)."""
    return (value + fill * 14)[:14]


def repair_original(original: str, fallback: str | None = None) -> str | None:
    """A fetchable original URL: drop default ports, add a missing scheme, else ``fallback``.

    The archive resolves ``/web/<ts>id_/<url>`` by canonical URL key, so when a row's original
    is garbage the URL that was searched for (``fallback``) reaches the same capture.
    """
    candidate = re.sub(r"^(?:https?://)+(https?://)", r"\1", original.strip(), flags=re.I)
    if candidate and "://" not in candidate and not any(ch.isspace() for ch in candidate):
        if candidate.startswith("//"):
            candidate = "http:" + candidate
        elif re.match(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::\d+)?(?:[/?#]|$)", candidate):
            candidate = "http://" + candidate
    try:
        parts = urlsplit(candidate)
        port = parts.port  # raises ValueError on a non-numeric port
    except ValueError:
        return fallback
    host = parts.hostname or ""
    if (parts.scheme not in _DEFAULT_PORTS or not ("." in host or ":" in host
                                                   or host == "localhost")
            or any(ch.isspace() for ch in candidate)):
        return fallback
    netloc = parts.netloc
    if port is not None and str(port) == _DEFAULT_PORTS[parts.scheme]:
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _optional_int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def capture_from_fields(fields: Mapping[str, str], fallback_url: str | None = None) \
        -> Capture | None:
    """Build a :class:`Capture` from one row's named fields; None if it cannot be repaired."""
    timestamp = (fields.get("timestamp") or "").strip()
    captured_at = parse_timestamp(timestamp)
    digest = (fields.get("digest") or "").strip()
    if captured_at is None or not digest or digest == "-":
        return None
    original = repair_original(fields.get("original") or "", fallback_url)
    if original is None:
        return None
    mimetype = (fields.get("mimetype") or "").strip() or "unknown"
    return Capture(
        timestamp=timestamp, captured_at=captured_at, original=original,
        mimetype="unknown" if mimetype == "-" else mimetype,
        statuscode=_optional_int(fields.get("statuscode")), digest=digest,
        length=_optional_int(fields.get("length")),
    )


def parse_cdx_json(rows: object, fallback_url: str | None = None) \
        -> tuple[list[Capture], str | None]:
    """Captures and resume key (or None) from decoded ``output=json`` CDX data.

    The first row names the fields; an empty row then a one-item row carries the resume key.
    Rows whose length does not match the header, or that fail :func:`capture_from_fields`,
    are skipped.
    """
    if not isinstance(rows, list) or not rows:
        return [], None
    header, *body = rows
    if not isinstance(header, list) or not all(isinstance(name, str) for name in header):
        return [], None
    resume_key: str | None = None
    captures: list[Capture] = []
    for index, row in enumerate(body):
        if not isinstance(row, list):
            continue
        if not row:
            tail = body[index + 1] if index + 1 < len(body) else None
            if isinstance(tail, list) and len(tail) == 1 and isinstance(tail[0], str):
                resume_key = tail[0]
            break
        if len(row) != len(header) or not all(isinstance(value, str) for value in row):
            continue
        capture = capture_from_fields(dict(zip(header, row, strict=True)), fallback_url)
        if capture is not None:
            captures.append(capture)
    return captures, resume_key


def parse_cdx_text(text: str, fields: Sequence[str] | None = None,
                   fallback_url: str | None = None) -> tuple[list[Capture], str | None]:
    """Captures and resume key from plain-text CDX output (space-separated columns).

    ``fields`` names the columns (the ``fl=`` list); by default 7 columns mean the full
    ``urlkey timestamp original mimetype statuscode digest length`` and 6 mean :data:`FIELDS`.
    A line with extra columns is read as an original containing spaces (then repaired).
    A blank line followed by one more line is the resume key.
    """
    lines = text.splitlines()
    resume_key: str | None = None
    captures: list[Capture] = []
    for index, line in enumerate(lines):
        if not line.strip():
            rest = [item.strip() for item in lines[index + 1:] if item.strip()]
            if len(rest) == 1 and " " not in rest[0]:
                resume_key = rest[0]
                break
            continue
        columns = line.split()
        names = tuple(fields) if fields else (
            TEXT_FIELDS_FULL if len(columns) >= len(TEXT_FIELDS_FULL) else FIELDS)
        if len(columns) > len(names) and "original" in names:
            at = names.index("original")
            extra = len(columns) - len(names)
            columns[at:at + extra + 1] = [" ".join(columns[at:at + extra + 1])]
        if len(columns) != len(names):
            continue
        capture = capture_from_fields(dict(zip(names, columns, strict=True)), fallback_url)
        if capture is not None:
            captures.append(capture)
    return captures, resume_key


def normalize_resume_key(key: str) -> str:
    """The key as the CDX server wants it back in ``resumeKey=`` (before query encoding).

    The server prints the key URL-encoded once (``com%2Cexample%29%2F+20190317011821%21``) and
    decodes it once when it comes back, but some answers arrive encoded twice. The decoded key
    has a recognizable shape (``<urlkey> <timestamp>...``), so layers are peeled off until one
    more decoding yields that shape. A key of unknown shape is passed back verbatim.
    """
    candidate = key.strip()
    for _ in range(3):
        if _DECODED_KEY.fullmatch(unquote_plus(candidate)):
            return candidate
        peeled = unquote(candidate)
        if peeled == candidate:
            break
        candidate = peeled
    return key.strip()


def _status_rank(status: int | None) -> int:
    if status == 200:
        return 0
    if status is not None and 300 <= status < 400:
        return 1
    if status is None:
        return 2  # an unresolved revisit: a copy of something, status unknown
    if 200 <= status < 300:
        return 3
    return 4


def _period_key(capture: Capture, every: Period) -> object:
    moment = capture.captured_at
    if every == "day":
        return moment.date()
    if every == "week":
        return moment.isocalendar()[:2]
    if every == "month":
        return (moment.year, moment.month)
    return capture.timestamp + capture.digest


def resolve_revisits(captures: Iterable[Capture]) -> list[Capture]:
    """Give revisit rows the status and mimetype of the capture they duplicate (same digest).

    A ``warc/revisit`` row means "same payload as an earlier record with this digest"; its
    own status and length are ``-``. The earliest non-revisit row with that digest is the
    best evidence of what a fetch will return; without one, the row keeps ``None``.
    """
    ordered = sorted(captures, key=lambda capture: capture.timestamp)
    originals: dict[str, Capture] = {}
    for capture in ordered:
        if not capture.is_revisit and capture.statuscode is not None:
            originals.setdefault(capture.digest, capture)
    resolved: list[Capture] = []
    for capture in ordered:
        source = originals.get(capture.digest)
        if (capture.is_revisit or capture.statuscode is None) and source is not None:
            capture = replace(capture, mimetype=source.mimetype, statuscode=source.statuscode,
                              length=capture.length if capture.length is not None
                              else source.length)
        resolved.append(capture)
    return resolved


def drop_repeated_digests(captures: Iterable[Capture]) -> list[Capture]:
    """Keep the first capture of each run of equal digests (in time order).

    This finishes what ``collapse=digest`` starts: the server only collapses adjacent rows
    within a page, and repeated identical lines slip through. Only *consecutive* repeats are
    dropped: a page that changes A -> B -> A is three versions, and the return to A is a
    change the tracker must see. Captures are assumed sorted by timestamp.
    """
    kept: list[Capture] = []
    for capture in captures:
        if kept and kept[-1].digest == capture.digest:
            continue
        kept.append(capture)
    return kept


def select_captures(captures: Iterable[Capture], every: Period = "day") -> list[Capture]:
    """At most one capture per ``every`` period, best status first, sorted by time.

    Best is 200, then 3xx, then unresolved revisits, then anything else; among equals the
    earliest wins. ``all`` keeps every capture. Finally consecutive captures with the same
    digest collapse to the first (see :func:`drop_repeated_digests`), so nothing already
    fetched is downloaded twice in a row.
    """
    if every not in PERIODS:
        raise ValueError(f"unknown period {every!r}: use {', '.join(PERIODS)}")
    unique = {(c.timestamp, c.digest, c.original): c for c in captures}  # exact repeats
    best: dict[object, Capture] = {}
    for capture in resolve_revisits(unique.values()):
        key = _period_key(capture, every)
        current = best.get(key)
        if current is None or (_status_rank(capture.statuscode), capture.timestamp) < (
                _status_rank(current.statuscode), current.timestamp):
            best[key] = capture
    chosen = sorted(best.values(), key=lambda capture: (capture.timestamp, capture.digest))
    return drop_repeated_digests(chosen)
