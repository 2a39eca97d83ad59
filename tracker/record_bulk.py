"""Record a batch of new page texts with a handful of multi-row statements.

The ORM path (:meth:`tracker.check.Checker._record`) costs ~4 ms of SQLAlchemy per new version
(unit-of-work flushes of a snapshot, a version, a change, a log line, the fetch state and an
alert, one at a time). A first check of a thousand targets, or a cycle in which every page
changed, spent a third of its CPU there. This module writes the same rows with one executemany
per table and the same rules: it re-reads the latest versions inside the write transaction,
so a text another process recorded meanwhile is not recorded twice, and it hands back any page
it cannot settle the simple way, for the ORM path to handle.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from .analysis import PageAnalysis
from .config import Config
from .fetch import FetchResult
from .history import (
    after_settings_change,
    alert_state_for,
    change_values,
    latest_versions_query,
)
from .models import Alert, Change, CheckLog, FetchState, Snapshot, Version
from .normalize import NORMALIZER_VERSION
from .targets import TargetSpec

_SNAPSHOTS = Snapshot.__table__  # type: ignore[attr-defined]
_VERSIONS = Version.__table__  # type: ignore[attr-defined]
_CHANGES = Change.__table__  # type: ignore[attr-defined]
_LOG = CheckLog.__table__  # type: ignore[attr-defined]
_STATE = FetchState.__table__  # type: ignore[attr-defined]
_ALERTS = Alert.__table__  # type: ignore[attr-defined]

FIRST_VERSION = "first_version"
NEW_VERSION = "new_version"


@dataclass(frozen=True)
class NewText:
    """A fetched page whose normalized text differs from the latest version we read."""

    spec: TargetSpec
    result: FetchResult
    analysis: PageAnalysis
    #: False when the target's URL or selectors changed since its last version: the change
    #: may be the edit's doing, so it is recorded (and summarized as such) but not alerted.
    alerts: bool = True


@dataclass(frozen=True)
class Recorded:
    """What was written for one page (the caller turns it into a CheckOutcome)."""

    kind: str
    version_id: int
    change_id: int | None
    material: bool
    summary: str | None


@functools.cache
def _latest_query() -> Select:
    """Built once: building it costs more than running it (~5 ms), once per batch."""
    return latest_versions_query(bindparam("ids", expanding=True)).with_only_columns(
        Version.target_id, Version.id, Version.text_sha256)


def record_new_texts(connection: Connection, config: Config, pages: Sequence[NewText],
                     now: datetime) -> list[Recorded | None]:
    """Insert snapshots, versions, changes, log lines and alerts for ``pages`` in bulk.

    Returns one entry per page: None for a page left to the caller, because its text is
    already the latest version, or because its precomputed comparison was made against a
    version that is no longer the latest.
    """
    latest = {row.target_id: row for row in connection.execute(
        _latest_query(), {"ids": [p.spec.id for p in pages]})}
    fits: list[tuple[int, NewText]] = []
    for index, page in enumerate(pages):
        row = latest.get(page.spec.id)
        if row is None if page.analysis.comparison is None else (
                row is not None and row.text_sha256 == page.analysis.compared_to):
            fits.append((index, page))
    if not fits:
        return [None] * len(pages)

    snapshot_ids = _insert(connection, _SNAPSHOTS, [_snapshot_row(page) for _, page in fits],
                           "target_id")
    version_ids = _insert(connection, _VERSIONS, [
        _version_row(page, snapshot_id, now)
        for (_, page), snapshot_id in zip(fits, snapshot_ids, strict=True)], "snapshot_id")

    change_of = _insert_changes(connection, config, fits, version_ids,
                                {target_id: row.id for target_id, row in latest.items()}, now)

    recorded: list[Recorded | None] = [None] * len(pages)
    log_rows, state_rows = [], []
    for position, ((index, page), snapshot_id, version_id) in enumerate(
            zip(fits, snapshot_ids, version_ids, strict=True)):
        change_id, change = change_of.get(position, (None, None))
        kind = NEW_VERSION if page.analysis.comparison is not None else FIRST_VERSION
        summary = change["summary"] if change else None
        recorded[index] = Recorded(kind, version_id, change_id,
                                   bool(change and change["material"]), summary)
        log_rows.append({"target_id": page.spec.id, "checked_at": now, "result": kind,
                         "detail": summary or "first version", "snapshot_id": snapshot_id})
        state_rows.append({"tid": page.spec.id, "now": now, "kind": kind,
                           "fingerprint": page.analysis.fingerprint,
                           "etag": page.result.etag, "last_modified": page.result.last_modified})
    connection.execute(insert(_LOG), log_rows)
    _ensure_states(connection, [row["tid"] for row in state_rows])
    connection.execute(_UPDATE_STATE, state_rows)
    return recorded


def _insert_changes(connection: Connection, config: Config, fits: list[tuple[int, NewText]],
                    version_ids: list[int], latest_version_of: dict[int, int],
                    now: datetime) -> dict[int, tuple[int, dict]]:
    """Change rows (and queued alerts) of the pages compared with their latest version:
    ``{position in fits: (change id, change row)}``."""
    compared = [(position, page, version_id) for position, ((_, page), version_id)
                in enumerate(zip(fits, version_ids, strict=True))
                if page.analysis.comparison is not None]
    if not compared:
        return {}  # first versions: no alerts, so their rules (and email rendering) never load
    from .alerts.rules import change_alert_values, settled_alert_state

    changes = []
    for position, page, version_id in compared:
        comparison = page.analysis.comparison or {}
        alert_state = settled_alert_state(config, alert_state_for(comparison, page.alerts))
        row = change_values(page.spec.id, latest_version_of[page.spec.id], version_id,
                            comparison, "live", alert_state, created_at=now)
        if not page.alerts:
            row["summary"] = after_settings_change(row["summary"])
        changes.append((position, row))
    change_ids = _insert(connection, _CHANGES, [row for _, row in changes], "to_version_id")
    change_of = {position: (change_id, row) for (position, row), change_id
                 in zip(changes, change_ids, strict=True)}
    alerts = [change_alert_values(config, fits[position][1].spec, change_id,
                                  fits[position][1].analysis.comparison or {}, now)
              for position, (change_id, row) in change_of.items()
              if row["alert_state"] == "queued"]
    if alerts:
        connection.execute(insert(_ALERTS), alerts)
    return change_of


def _insert(connection: Connection, table, rows: list[dict], key: str) -> list[int]:  # type: ignore[no-untyped-def]
    """Multi-row INSERT returning the new ids in the order of ``rows``.

    SQLite returns RETURNING rows in no promised order, so SQLAlchemy's ordered variant
    sends one INSERT per row; here each row is told apart by its ``key`` column instead (a
    target, snapshot or version id, unique within a batch), and the rows go in one statement.
    """
    if not rows:
        return []
    keys = [row[key] for row in rows]
    if len(set(keys)) < len(keys):  # not told apart by the key: one row at a time
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return [row.id for row in connection.execute(statement, rows)]
    ids = {row_key: row_id for row_id, row_key in connection.execute(
        insert(table).returning(table.c.id, table.c[key]), rows)}
    return [ids[k] for k in keys]


def _ensure_states(connection: Connection, target_ids: list[int]) -> None:
    """Create the fetch-state rows of targets checked for the first time."""
    have = set(connection.execute(select(_STATE.c.target_id).where(
        _STATE.c.target_id.in_(target_ids))).scalars())
    missing = [{"target_id": tid, "consecutive_failures": 0, "broken_alerted": False}
               for tid in target_ids if tid not in have]
    if missing:
        connection.execute(insert(_STATE), missing)


def _snapshot_row(page: NewText) -> dict:
    result = page.result
    return {"target_id": page.spec.id, "source": "live", "url": result.url,
            "final_url": result.final_url, "status": result.status,
            "headers_json": json.dumps(result.headers), "content_type": result.content_type,
            "charset": result.charset, "sha256": page.analysis.raw_sha,
            "size": page.analysis.raw_size, "fetched_at": result.fetched_at,
            "captured_at": result.fetched_at, "memento_url": None, "digest": None,
            "quality": "ok", "quality_reason": None}


def _version_row(page: NewText, snapshot_id: int, now: datetime) -> dict:
    analysis = page.analysis
    return {"target_id": page.spec.id, "snapshot_id": snapshot_id,
            "text_sha256": analysis.text_sha, "normalizer_version": NORMALIZER_VERSION,
            "captured_at": page.result.fetched_at, "source": "live", "size": analysis.size,
            "words": analysis.words, "effective_date": analysis.effective_date,
            "last_seen_at": page.result.fetched_at, "created_at": now}


# A successful check that recorded a new version (the failure streak is known to be zero).
_UPDATE_STATE = update(_STATE).where(_STATE.c.target_id == bindparam("tid")).values(
    last_check_at=bindparam("now"), last_result=bindparam("kind"), last_error=None,
    last_success_at=bindparam("now"), last_change_at=bindparam("now"),
    consecutive_failures=0, failing_since=None,
    last_fingerprint=bindparam("fingerprint"), etag=bindparam("etag"),
    last_modified=bindparam("last_modified"),
)
