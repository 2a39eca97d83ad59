"""tracker.urls reads the common URL itself: it must read it exactly as httpx does."""

from __future__ import annotations

import itertools

import httpx
import pytest

from tracker import urls
from tracker.urls import InvalidURL, parse_url

HOSTS = ["example.com", "www.example.co.uk", "a-b.example", "127.0.0.1", "10.0.0.255",
         "999.1.1.1", "1.2.3", "EXAMPLE.com", "xn--bcher-kva.example", "a..b", "bücher.example",
         "[::1]", "localhost", "-bad.example", "x" * 64 + ".example"]
PORTS = ["", ":80", ":443", ":8080", ":65535", ":65536", ":0", ":080"]
PATHS = ["", "/", "/privacy", "/legal/privacy-policy.html", "/a/./b", "/a/../b", "/.well-known/x",
         "/~user/(x)", "/a;b=c,d", "/a%20b", "/a%zz", "/a b", "/caf\u00e9", "/a//b", "/p@x:y",
         "/a!$&'*+=b"]
QUERIES = ["", "?", "?lang=en", "?a=1&b=2", "?q=a b", "?q=%41", "?next=/x?y", "?a='b'(c)"]
SCHEMES = ["http", "https", "HTTP", "ftp"]


def reference(text: str) -> tuple | str:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "invalid"
    return (url.scheme, url.host, url.raw_host.decode("ascii"), url.port, url.raw_path, str(url))


def ours(text: str) -> tuple | str:
    try:
        url = parse_url(text)
    except InvalidURL:
        return "invalid"
    return (url.scheme, url.host, url.raw_host, url.port, url.raw_path, url.text)


def test_every_url_reads_as_httpx_reads_it() -> None:
    plain = 0
    for scheme, host, port, path, query in itertools.product(SCHEMES, HOSTS, PORTS, PATHS,
                                                             QUERIES):
        if query and not path:
            path = "/"
        text = f"{scheme}://{host}{port}{path}{query}"
        assert ours(text) == reference(text), text
        match = urls._PLAIN.fullmatch(text)
        plain += match is not None and urls._from_plain(text, match) is not None
    assert plain > 3000  # the pattern read thousands of them itself, not httpx


@pytest.mark.parametrize("text", ["http://example.com/x#part", "http://user:pw@example.com/",
                                  "http://example.com:99999/", "not a url", "http://",
                                  "https://example.com/" + "a" * 5000])
def test_the_rest_goes_to_httpx(text: str) -> None:
    assert ours(text) == reference(text)
