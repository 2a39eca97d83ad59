"""URLs for the fetcher: the common case read by one pattern, everything else by httpx.

httpx's URL parser (IDNA, percent-encoding, dot segments, validation) is the reference, but
importing httpx costs ~40 ms and parsing ~20 us a URL: a tenth of the start of a cycle of
unchanged pages that sends every request over :mod:`tracker.http11` and needs httpx only for
proxies and redirects. A URL already in the form httpx would give it (lowercase ASCII host,
an allowed port, a path and query of characters that need no encoding, no dot segments, no
fragment) is taken apart here; for it, every field is what httpx gives
(``tests/test_urls.py`` checks them side by side). Any other URL goes to httpx.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters a path or query may hold as they are: RFC 3986's unreserved and sub-delims, ":"
# and "@" ("/" and "?" where they belong). No "%": escapes are httpx's to check.
_PATH_CHARS = r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]"
_PLAIN = re.compile(
    r"(https?)://([a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)(?::([1-9][0-9]{0,4}))?"
    rf"(/{_PATH_CHARS}*(?:\?(?:{_PATH_CHARS}|\?)*)?)?", re.ASCII)
_NUMERIC_HOST = re.compile(r"[0-9.]+", re.ASCII)


class InvalidURL(ValueError):
    """Not a URL httpx can read."""


@dataclass(frozen=True, slots=True)
class WebURL:
    """The parts of a URL a request needs, as httpx reads them."""

    scheme: str
    host: str  # lowercase; an IPv6 address without its brackets
    raw_host: str  # the host as sent (IDNA's ASCII form)
    port: int | None  # None for the scheme's default port
    raw_path: bytes  # path and query, percent-encoded, as the request line carries them
    text: str  # the whole URL, normalized as httpx does

    def __str__(self) -> str:
        return self.text


def parse_url(text: str) -> WebURL:
    """``text`` as a :class:`WebURL`; raises :class:`InvalidURL` for what httpx refuses."""
    plain = _PLAIN.fullmatch(text)
    if plain is not None:
        url = _from_plain(text, plain)
        if url is not None:
            return url
    return _from_httpx(text)


def _from_plain(text: str, match: re.Match[str]) -> WebURL | None:
    scheme, host, port_text, path = match.groups()
    if ".." in host or "xn--" in host or "/." in (path or ""):
        return None  # empty labels, IDNA labels, dot segments: httpx's business
    if _NUMERIC_HOST.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return None
    port = int(port_text) if port_text else None
    if port is not None and port > 65535:
        return None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
        text = f"{scheme}://{host}{path or ''}"  # httpx leaves a default port out
    raw_path = (path or "/").encode("ascii")
    return WebURL(scheme, host, host, port, raw_path, text)


def _from_httpx(text: str) -> WebURL:
    import httpx

    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise InvalidURL(str(exc)) from None
    return WebURL(url.scheme, url.host, url.raw_host.decode("ascii"), url.port, url.raw_path,
                  str(url))

