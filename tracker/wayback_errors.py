"""Why a Wayback Machine request produced no capture, as exceptions a user can read.

Each subclass maps one documented answer of the archive (modelled in tests/fake_wayback.py) to
a one-line message naming the URL, so the CLI can print ``str(error)`` and a backfill can
record it against the capture that failed without a traceback.
"""

from __future__ import annotations


class WaybackError(Exception):
    """Base class: the archive gave no usable capture for ``url``."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class NotArchived(WaybackError):
    """404 without Memento-Datetime: the archive holds no capture of that URL."""


class Excluded(WaybackError):
    """200 "This URL has been excluded" without Memento-Datetime: the owner opted out."""


class Blocked(WaybackError):
    """403 with an AdministrativeAccessControlException: the archive refuses to serve the site."""


class RedirectLoop(WaybackError):
    """In-archive redirects came back to a URL already visited, or went on for too many hops."""


class OutsideWindow(WaybackError):
    """The closest capture is further from the requested time than the accepted window."""


class TooLarge(WaybackError):
    """The capture's body (declared or decoded) is larger than the client's ``max_bytes``."""


class UnexpectedResponse(WaybackError):
    """An answer the documented API never gives (e.g. HTML where CDX JSON was expected)."""


class WaybackUnavailable(WaybackError):
    """Retries exhausted on 5xx or connection errors: the archive is down or unreachable."""


class RateLimited(WaybackUnavailable):
    """The archive kept answering 429 even after the process-wide pauses."""
