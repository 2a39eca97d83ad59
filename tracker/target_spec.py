"""What the check pipeline needs to know of targets, importable without the ORM.

`tracker check` on a database whose targets agree with config.toml runs without importing
SQLAlchemy (a third of a second, most of a cycle of unchanged pages); these plain helpers
are shared by that path and by :mod:`tracker.targets`.
"""

from __future__ import annotations

import functools
import json
import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .config import TargetConfig


class TargetError(Exception):
    """A user-facing problem with a target name (unknown, duplicate, managed by config)."""


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A target as the pipeline needs it (plain data, safe to pass to worker processes)."""

    id: int
    name: str
    url: str
    select: tuple[str, ...]
    remove: tuple[str, ...]
    source: str
    schedule: str | None
    tags: tuple[str, ...]
    recipients: tuple[str, ...]
    enabled: bool

    @property
    def host(self) -> str:
        """The :func:`politeness_key` of the target's URL: the fetcher's name for its host."""
        origin = _ORIGIN.match(self.url)
        return _host_key(origin.group() if origin else self.url)

    @classmethod
    def of(cls, row: Any) -> TargetSpec:
        """From a Target row, or any row with its columns (see :data:`SPEC_COLUMNS`)."""
        assert row.id is not None
        return cls(row.id, row.name, row.url, stored_strings(row.select_json),
                   stored_strings(row.remove_json), row.source, row.schedule,
                   stored_strings(row.tags_json), stored_strings(row.recipients_json), row.enabled)


DEFAULT_PORTS = {"http": 80, "https": 443}
#: Scheme and authority: all :func:`_host_key` reads, and what a site's pages share.
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\\s]*(?=[/?#]|$)")


@functools.lru_cache(maxsize=1024)
def _host_key(origin: str) -> str:
    """The politeness key of a URL's origin, parsed once per site: a cycle plans a thousand
    pages of a few sites, and urlsplit per page was a tenth of its start."""
    parts = urlsplit(origin)
    try:
        port = parts.port
    except ValueError:  # an impossible port: the fetch reports the URL, any key will do
        port = None
    return politeness_key(parts.scheme, parts.hostname or "", port)


def politeness_key(scheme: str, host: str, port: int | None) -> str:
    """The name per-host limits go by: the host, lower-cased, with its port unless default.

    One function for the fetcher's gates and for the cycle's planning (hosts in turns, hosts
    kept whole in one shard), so "Example.com:443" and "user@example.com" are one host to both.
    """
    host = host.lower()
    return host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


def stored_strings(stored: str) -> tuple[str, ...]:
    """A stored JSON list as a tuple; most are empty, and every cycle reads four per target."""
    return () if stored == "[]" else tuple(json.loads(stored))


def interleave_hosts(targets: list[TargetSpec]) -> list[TargetSpec]:
    """Targets in turns across hosts (a1, b1, a2, b2, ...), each host's own order kept.

    A cycle's workers take targets in order and wait for the host's politeness limits; fifty
    pages of one site listed together would hold every worker on that site's delays while
    other sites sat idle. Taken in turns, the hosts' delays run side by side.
    """
    by_host: dict[str, list[TargetSpec]] = {}
    for target in targets:
        by_host.setdefault(target.host, []).append(target)
    if len(by_host) <= 1:
        return list(targets)
    turns = deque(iter(queue) for queue in by_host.values())
    ordered: list[TargetSpec] = []
    while turns:
        queue = turns.popleft()
        target = next(queue, None)
        if target is not None:
            ordered.append(target)
            turns.append(queue)
    return ordered


def synced_values(spec: TargetConfig) -> tuple[object, ...]:
    """:data:`SYNCED`'s values for ``spec``, in that order: every run compares them all."""
    return (spec.url, json_list(spec.select), json_list(spec.remove), spec.schedule,
            json_list(spec.tags), json_list(spec.recipients), spec.source, spec.enabled)


def json_list(values: list[str]) -> str:
    return json.dumps(values) if values else "[]"  # most are empty: skip the encoder


#: The columns a TargetSpec is made of.
SPEC_COLUMNS = ("id", "name", "url", "select_json", "remove_json", "source", "schedule",
                "tags_json", "recipients_json", "enabled")
#: The Target columns config.toml decides.
SYNCED = ("url", "select_json", "remove_json", "schedule", "tags_json", "recipients_json",
          "source", "enabled")
