"""Record a batch of new page texts with a handful of multi-row statements, in plain SQL.

The ORM path (:class:`tracker.check_orm._Recorder`) costs ~4 ms of SQLAlchemy per new version
(unit-of-work flushes of a snapshot, a version, a change, a log line, the fetch state and an
alert, one at a time). A first check of a thousand targets, or a cycle in which every page
changed, spent a third of its CPU there. This module writes the same rows with one statement
per table and the same rules: it re-reads the latest versions inside the write transaction,
so a text another process recorded meanwhile is not recorded twice, and it hands back any page
it cannot settle the simple way, for the ORM path to handle. It runs on a plain connection
(:mod:`tracker.direct`), so a cycle of new texts needs no SQLAlchemy at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .analysis import PageAnalysis
from .change_rows import (
    ALERT_QUEUED,
    after_settings_change,
    alert_state_for,
    change_alert_values,
    change_values,
    settled_alert_state,
)
from .direct import LATEST_VERSIONS, Direct, insert_rows, marks
from .fetch import FetchResult
from .normalize import NORMALIZER_VERSION
from .target_spec import TargetSpec

if TYPE_CHECKING:
    from .config import Config

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


def record_new_texts(db: Direct, config: Config, pages: Sequence[NewText],
                     now: datetime) -> list[Recorded | None]:
    """Insert snapshots, versions, changes, log lines and alerts for ``pages`` in bulk.

    Call inside a write transaction. Returns one entry per page: None for a page left to the
    caller, because its text is already the latest version, or because its precomputed
    comparison was made against a version that is no longer the latest.
    """
    ids = [p.spec.id for p in pages]
    latest = {row[0]: row for row in db.rows(LATEST_VERSIONS.format(ids=marks(len(ids))), ids)}
    fits: list[tuple[int, NewText]] = []
    for index, page in enumerate(pages):
        row = latest.get(page.spec.id)
        if row is None if page.analysis.comparison is None else (
                row is not None and row[2] == page.analysis.compared_to):
            fits.append((index, page))
    if not fits:
        return [None] * len(pages)

    snapshot_ids = insert_rows(db, "snapshots", [_snapshot_row(page) for _, page in fits],
                               "target_id")
    version_ids = insert_rows(db, "versions", [
        _version_row(page, snapshot_id, now)
        for (_, page), snapshot_id in zip(fits, snapshot_ids, strict=True)], "snapshot_id")

    change_of = _insert_changes(db, config, fits, version_ids,
                                {target_id: row[1] for target_id, row in latest.items()}, now)

    recorded: list[Recorded | None] = [None] * len(pages)
    log_rows, state_rows = [], []
    stamp = db.stamp(now)
    for position, ((index, page), snapshot_id, version_id) in enumerate(
            zip(fits, snapshot_ids, version_ids, strict=True)):
        change_id, change = change_of.get(position, (None, None))
        kind = NEW_VERSION if page.analysis.comparison is not None else FIRST_VERSION
        summary = change["summary"] if change else None
        recorded[index] = Recorded(kind, version_id, change_id,
                                   bool(change and change["material"]), summary)
        log_rows.append({"target_id": page.spec.id, "checked_at": now, "result": kind,
                         "detail": summary or "first version", "snapshot_id": snapshot_id})
        state_rows.append((stamp, kind, stamp, stamp, page.analysis.fingerprint,
                           page.result.etag, page.result.last_modified, page.spec.id))
    insert_rows(db, "check_log", log_rows)
    _ensure_states(db, [page.spec.id for _, page in fits])
    db.execute_many(
        "UPDATE fetch_state SET last_check_at = ?, last_result = ?, last_error = NULL, "
        "last_success_at = ?, last_change_at = ?, consecutive_failures = 0, "
        "failing_since = NULL, last_fingerprint = ?, etag = ?, last_modified = ? "
        "WHERE target_id = ?", state_rows)
    return recorded


def _insert_changes(db: Direct, config: Config, fits: list[tuple[int, NewText]],
                    version_ids: list[int], latest_version_of: dict[int, int],
                    now: datetime) -> dict[int, tuple[int, dict]]:
    """Change rows (and queued alerts) of the pages compared with their latest version:
    ``{position in fits: (change id, change row)}``."""
    compared = [(position, page, version_id) for position, ((_, page), version_id)
                in enumerate(zip(fits, version_ids, strict=True))
                if page.analysis.comparison is not None]
    if not compared:
        return {}  # first versions: no alerts
    changes = []
    for position, page, version_id in compared:
        comparison = page.analysis.comparison or {}
        alert_state = settled_alert_state(config, alert_state_for(comparison, page.alerts))
        row = change_values(page.spec.id, latest_version_of[page.spec.id], version_id,
                            comparison, "live", alert_state, created_at=now)
        if not page.alerts:
            row["summary"] = after_settings_change(row["summary"])
        changes.append((position, row))
    change_ids = insert_rows(db, "changes", [row for _, row in changes], "to_version_id")
    change_of = {position: (change_id, row) for (position, row), change_id
                 in zip(changes, change_ids, strict=True)}
    alerts = [change_alert_values(config, fits[position][1].spec, change_id,
                                  fits[position][1].analysis.comparison or {}, now)
              for position, (change_id, row) in change_of.items()
              if row["alert_state"] == ALERT_QUEUED]
    insert_rows(db, "alerts", alerts)
    return change_of


def _ensure_states(db: Direct, target_ids: list[int]) -> None:
    """Create the fetch-state rows of targets checked for the first time."""
    have = {row[0] for row in db.rows(
        f"SELECT target_id FROM fetch_state WHERE target_id IN ({marks(len(target_ids))})",
        target_ids)}
    insert_rows(db, "fetch_state", [
        {"target_id": tid, "consecutive_failures": 0, "broken_alerted": False}
        for tid in target_ids if tid not in have])


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
