"""Reading one memento response: archived or not, where it redirects, what the bytes are.

The rule that decides everything (the archive's Memento API): a response carrying
``Memento-Datetime`` is an archived capture whatever its status — an archived 404 is the page's
404 in the past, not an error of the archive. Without that header the status is the Wayback's
own: a redirect to the closest capture, "not archived", "excluded", "blocked". These helpers
are pure (headers and bytes in, values or exceptions out) so each of those cases is testable on
its own.
"""

from __future__ import annotations

import email.utils
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit

from tracker.wayback_cdx import pad_timestamp, parse_timestamp
from tracker.wayback_errors import (
    Blocked,
    Excluded,
    NotArchived,
    TooLarge,
    UnexpectedResponse,
    WaybackError,
)

_ORIG_PREFIX = "x-archive-orig-"
_WEB_PATH = re.compile(r"^/web/(\d{1,14})([a-z]{2}_|\*)?/(.+)$", re.DOTALL)
_LINK_ORIGINAL = re.compile(r'<([^>]*)>\s*;[^,]*?rel="?[^",]*\boriginal\b', re.IGNORECASE)
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DECODE_LAYERS = 3


@dataclass(frozen=True)
class Redirect:
    """One hop followed inside the archive before the final memento."""

    url: str  # the id_ URL that answered with a redirect
    status: int
    location: str  # the id_ URL followed next
    kind: Literal["archived", "closest"]  # the page's own redirect, or the archive's nearest


@dataclass
class Memento:
    """One capture's bytes and metadata, as the archive served them through ``id_``."""

    requested_url: str  # the first id_ URL asked for
    memento_url: str  # the id_ URL that finally answered (after in-archive redirects)
    original_url: str  # the page's own URL at capture time
    captured_at: datetime  # aware UTC, from Memento-Datetime
    status: int  # the ARCHIVED status (a captured 404 stays 404)
    headers: dict[str, str]  # original headers (X-Archive-Orig-*, lowercase) + content-type
    content_type: str  # the Content-Type served (the original's), "" when absent
    body: bytes  # Content-Encoding removed, at most max_bytes
    redirects: list[Redirect] = field(default_factory=list)

    @property
    def timestamp(self) -> str:
        return self.captured_at.strftime("%Y%m%d%H%M%S")


@dataclass(frozen=True)
class ArchiveTarget:
    """A ``/web/<ts><flag>/<url>`` address taken apart."""

    timestamp: str  # as written (1-14 digits)
    original: str

    @property
    def padded(self) -> str:
        return pad_timestamp(self.timestamp)

    def id_url(self, base: str) -> str:
        return f"{base.rstrip('/')}/web/{self.timestamp}id_/{self.original}"


def parse_archive_url(url: str, base: str | None = None) -> ArchiveTarget | None:
    """Split an archive URL (absolute or ``/web/...``) into timestamp and original URL.

    Any flag (``id_``, ``if_``, none) is dropped, because callers rebuild an ``id_`` URL:
    following a link that lost the flag must not bring the toolbar back.
    """
    absolute = urljoin(base + "/" if base else "http://archive.invalid/", url)
    parts = urlsplit(absolute)
    path = parts.path + ("?" + parts.query if parts.query else "")
    match = _WEB_PATH.match(path)
    if match is None:
        return None
    original = match.group(3)
    # "https:/example.com" (a proxy collapsed the double slash) -> "https://example.com"
    original = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*):/(?!/)", r"\1://", original)
    return ArchiveTarget(match.group(1), original)


def parse_memento_datetime(value: str | None) -> datetime | None:
    """The ``Memento-Datetime`` header (an HTTP date) as an aware UTC datetime."""
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def timestamp_datetime(timestamp: str) -> datetime:
    """A 1-14 digit Wayback timestamp as an aware UTC datetime (missing digits as zero)."""
    padded = pad_timestamp(timestamp)
    moment = parse_timestamp(padded)
    if moment is None:  # e.g. "2019" pads to month 00: clamp to the first valid instant
        digits = padded[:4] + (padded[4:6] if padded[4:6] != "00" else "01") + (
            padded[6:8] if padded[6:8] != "00" else "01") + padded[8:]
        moment = parse_timestamp(digits)
    if moment is None:
        raise ValueError(f"not a Wayback timestamp: {timestamp!r}")
    return moment


def original_headers(multi_items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The capture's own headers (``X-Archive-Orig-*``, lowercase, repeats joined) + type."""
    headers: dict[str, str] = {}
    content_type: str | None = None
    for name, value in multi_items:
        lower = name.lower()
        if lower.startswith(_ORIG_PREFIX):
            key = lower[len(_ORIG_PREFIX):]
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        elif lower == "content-type" and content_type is None:
            content_type = value
    if content_type is not None:
        headers["content-type"] = content_type
    return headers


def link_original(link_header: str | None) -> str | None:
    """The ``rel="original"`` target of a Memento ``Link`` header."""
    if not link_header:
        return None
    match = _LINK_ORIGINAL.search(link_header)
    return match.group(1) if match else None


def content_codings(values: Iterable[str]) -> list[str]:
    """Content-Encoding values, with empty items and repeated codings removed.

    Captures of gzipped pages may carry the header twice (``gzip`` and ``gzip``) or empty,
    while the body is compressed once or not at all; :func:`decode_body` checks the bytes.
    """
    codings: list[str] = []
    for value in values:
        for item in value.split(","):
            coding = item.strip().lower()
            if coding and coding != "identity" and coding not in codings:
                codings.append(coding)
    return codings


def _inflate(data: bytes, wbits: int, max_bytes: int, url: str, truncate: bool) -> bytes:
    decoder = zlib.decompressobj(wbits)
    out = decoder.decompress(data, max_bytes + 1)
    if len(out) > max_bytes or decoder.unconsumed_tail:
        if truncate:
            return out[:max_bytes]
        raise TooLarge(f"{url}: decoded body is larger than {max_bytes} bytes", url)
    return out + decoder.flush()


def decode_body(raw: bytes, codings: list[str], max_bytes: int, url: str,
                truncate: bool = False) -> bytes:
    """Undo the declared content codings, trusting the bytes over a confused header.

    A body is gunzipped only while it starts with the gzip magic, and inflated only when
    deflate is declared and the data inflates; anything else (an unknown coding, a header
    that lies) leaves the bytes as they are rather than failing the whole capture. Output
    over ``max_bytes`` raises :class:`TooLarge` (a gzip bomb), or is cut if ``truncate``.
    """
    data = raw
    if not codings:
        return data
    for _ in range(_MAX_DECODE_LAYERS):
        if data.startswith(_GZIP_MAGIC) and ("gzip" in codings or "x-gzip" in codings):
            try:
                data = _inflate(data, 16 + zlib.MAX_WBITS, max_bytes, url, truncate)
                continue
            except zlib.error:
                break
        if "deflate" in codings:
            for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
                try:
                    data = _inflate(data, wbits, max_bytes, url, truncate)
                    return data
                except zlib.error:
                    continue
        break
    return data


def wayback_error(status: int, headers: dict[str, str], body: bytes, url: str) \
        -> WaybackError:
    """The error for a final answer WITHOUT Memento-Datetime (the archive's own status)."""
    text = body[:65_536].decode("utf-8", "replace")
    runtime_error = headers.get("x-archive-wayback-runtime-error", "")
    if status == 403 and ("AdministrativeAccessControlException" in runtime_error
                          or "Blocked Site Error" in runtime_error):
        return Blocked(f"{url}: the Wayback Machine blocks this site ({runtime_error})", url)
    if status == 404:
        detail = "has not archived that URL" if "has not archived that URL" in text \
            else "answered 404 without a capture"
        return NotArchived(f"{url}: the Wayback Machine {detail}", url)
    if status == 200 and "has been excluded" in text:
        return Excluded(f"{url}: this URL has been excluded from the Wayback Machine", url)
    return UnexpectedResponse(
        f"{url}: unexpected answer {status} without Memento-Datetime", url)
