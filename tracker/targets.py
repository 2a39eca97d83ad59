"""Targets: the pages being watched, from config.toml and from `tracker add`.

config.toml is the source of truth for the targets it lists (they are synced into the database
on every run, origin ``config``); `tracker add` stores others in the database (origin ``cli``).
Either way the rest of the program sees one table.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Row, insert, update
from sqlmodel import Session, col, select

from .config import Config, TargetConfig
from .fingerprint import SETTINGS_CHANGED
from .models import FetchState, Target, utcnow


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
        parts = urlsplit(self.url)
        try:
            port = parts.port
        except ValueError:  # an impossible port: the fetch reports the URL, any key will do
            port = None
        return politeness_key(parts.scheme, parts.hostname or "", port)

    @classmethod
    def of(cls, row: Target) -> TargetSpec:
        assert row.id is not None
        return cls(row.id, row.name, row.url, _strings(row.select_json),
                   _strings(row.remove_json), row.source, row.schedule,
                   _strings(row.tags_json), _strings(row.recipients_json), row.enabled)


DEFAULT_PORTS = {"http": 80, "https": 443}


def politeness_key(scheme: str, host: str, port: int | None) -> str:
    """The name per-host limits go by: the host, lower-cased, with its port unless default.

    One function for the fetcher's gates and for the cycle's planning (hosts in turns, hosts
    kept whole in one shard), so "Example.com:443" and "user@example.com" are one host to both.
    """
    host = host.lower()
    return host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


def _strings(stored: str) -> tuple[str, ...]:
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


def _columns(spec: TargetConfig) -> dict[str, object]:
    """The Target columns config.toml decides, as stored."""
    return dict(zip(_SYNCED, _synced_values(spec), strict=True))


def _synced_values(spec: TargetConfig) -> tuple[object, ...]:
    """:data:`_SYNCED`'s values for ``spec``, in that order: every run compares them all."""
    return (spec.url, _json_list(spec.select), _json_list(spec.remove), spec.schedule,
            _json_list(spec.tags), _json_list(spec.recipients), spec.source, spec.enabled)


def _json_list(values: list[str]) -> str:
    return json.dumps(values) if values else "[]"  # most are empty: skip the encoder


#: The columns a TargetSpec is made of.
_SPEC_COLUMNS = ("id", "name", "url", "select_json", "remove_json", "source", "schedule",
                 "tags_json", "recipients_json", "enabled")
_SYNCED = ("url", "select_json", "remove_json", "schedule", "tags_json", "recipients_json",
           "source", "enabled")


def _apply(row: Target, spec: TargetConfig) -> None:
    for name, value in _columns(spec).items():
        setattr(row, name, value)


#: Config targets compared and written per step of :func:`sync_config_targets` (and the IN
#: list of each query: SQLite caps the parameters of one statement).
_SYNC_CHUNK = 500


def sync_config_targets(session: Session, config: Config) -> None:
    """Make the database agree with config.toml's [[targets]] (history is never deleted).

    A target that disappears from config.toml is disabled, not dropped: its versions stay
    browsable and it comes back with its history if it is listed again. Rows are compared as
    plain tuples first and loaded as ORM objects only when they need a write: a daemon or cron
    job starts with this on every run, and usually nothing changed. The list is compared a
    chunk at a time, so a config of 100,000 targets never holds a second copy of itself.
    """
    listed: set[str] = set()
    targets = config.targets
    for start in range(0, len(targets), _SYNC_CHUNK):
        chunk = targets[start:start + _SYNC_CHUNK]
        names = [spec.name for spec in chunk]
        listed.update(names)
        stored = {row.name: row for row in session.execute(
            select(Target.name, Target.origin, *(getattr(Target, c) for c in _SYNCED))
            .where(col(Target.name).in_(names)))}
        stale = [spec for spec in chunk if _differs(stored.get(spec.name), spec)]
        if stale:
            _write_stale(session, stale)
    dropped = [name for name in session.execute(
        select(Target.name).where(Target.origin == "config", col(Target.enabled))).scalars()
        if name not in listed]
    for start in range(0, len(dropped), _SYNC_CHUNK):
        for row in session.exec(select(Target).where(
                col(Target.name).in_(dropped[start:start + _SYNC_CHUNK]))):
            row.enabled = False
    session.flush()


def _differs(row: Row | None, spec: TargetConfig) -> bool:
    """Whether the stored ``row`` (name, origin, then :data:`_SYNCED`) needs ``spec`` written."""
    return row is None or row[1] != "config" or tuple(row[2:]) != _synced_values(spec)


def _write_stale(session: Session, stale: list[TargetConfig]) -> None:
    """Update the stored rows of ``stale`` targets and insert the new ones in bulk."""
    rows = {row.name: row for row in session.exec(
        select(Target).where(col(Target.name).in_([spec.name for spec in stale])))}
    new: list[dict[str, object]] = []
    reread: list[int] = []
    for spec in stale:
        row = rows.get(spec.name)
        if row is None:  # a first run of a big config.toml adds many at once
            new.append({"name": spec.name, "origin": "config", "created_at": utcnow(),
                        **_columns(spec)})
            continue
        if _reads_differently(row, spec) and row.id is not None:
            reread.append(row.id)
        _apply(row, spec)
        row.origin = "config"
    if new:
        session.execute(insert(Target), new)
    if reread:
        forget_validators(session, reread)
    session.flush()  # edited rows leave the session's keeping: a chunk's worth at a time


def _reads_differently(row: Target, spec: TargetConfig) -> bool:
    """Whether ``spec`` fetches another URL or picks other parts of the page than ``row``."""
    return (row.url != spec.url or row.select_json != _json_list(spec.select)
            or row.remove_json != _json_list(spec.remove))


def forget_validators(session: Session, target_ids: list[int]) -> None:
    """Make the next check of these targets fetch and read their page in full.

    After a target's URL or selectors change, its stored ETag would have the server answer
    "304 Not Modified" and the new selectors would not apply until the page itself changed.
    The fingerprint is replaced by :data:`SETTINGS_CHANGED`, so that check also knows a new
    text may come from the edit: it records it without alerting anyone.
    """
    session.execute(update(FetchState).where(col(FetchState.target_id).in_(target_ids))
                    .values(etag=None, last_modified=None, last_fingerprint=SETTINGS_CHANGED))


def add_target(session: Session, spec: TargetConfig) -> Target:
    existing = session.exec(select(Target).where(Target.name == spec.name)).first()
    if existing is not None:
        raise TargetError(f"target {spec.name!r} already exists ({existing.url})")
    row = Target(name=spec.name, url=spec.url, origin="cli")
    _apply(row, spec)
    session.add(row)
    session.flush()
    return row


def remove_target(session: Session, name: str) -> None:
    row = get_target(session, name)
    if row.origin == "config":
        raise TargetError(f"target {name!r} is defined in config.toml; remove it there")
    row.enabled = False
    row.name = f"{row.name}~removed~{row.id}"  # frees the name; history stays for export


def get_target(session: Session, name: str) -> Target:
    row = session.exec(select(Target).where(Target.name == name)).first()
    if row is None:
        known = [t.name for t in session.exec(select(Target).where(Target.enabled))]
        hint = f"; known targets: {', '.join(sorted(known)[:10])}" if known else \
            "; no targets yet (tracker add NAME URL)"
        raise TargetError(f"unknown target {name!r}{hint}")
    return row


def enabled_targets(session: Session) -> list[TargetSpec]:
    """Every enabled target by name (read as plain rows: this starts every check cycle)."""
    rows = session.execute(select(*(getattr(Target, c) for c in _SPEC_COLUMNS))
                           .where(Target.enabled).order_by(Target.name))
    return [TargetSpec.of(row) for row in rows]  # type: ignore[arg-type]


def fetch_state(session: Session, target_id: int) -> FetchState:
    state = session.get(FetchState, target_id)
    if state is None:
        state = FetchState(target_id=target_id)
        session.add(state)
    return state
