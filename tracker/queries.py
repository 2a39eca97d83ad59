"""Read-side queries: history, status, export, version lookup, as plain JSON-able data.

The CLI renders these as tables or JSON; keeping them here means the JSON shapes scripts rely
on are defined once, next to the tables they read.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from .alerts.timeutil import as_utc
from .blobs import BlobStore
from .models import Change, CheckLog, DaemonHeartbeat, FetchState, Snapshot, Target, Version
from .targets import TargetError, get_target


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z (stored times are UTC, whether or not the driver says so)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


#: The daemon beats every few seconds; silence longer than this means it is not running.
HEARTBEAT_STALE_AFTER = timedelta(seconds=30)


def change_dict(change: Change | None) -> dict | None:
    if change is None:
        return None
    return {
        "id": change.id, "from_version": change.from_version_id,
        "to_version": change.to_version_id, "material": change.material,
        "noise_only": change.noise_only, "suspect": change.suspect,
        "severity": change.severity, "categories": json.loads(change.categories_json),
        "summary": change.summary, "alert_state": change.alert_state,
    }


def history(session: Session, name: str) -> list[dict]:
    """One entry per version, oldest first, with the change that produced it."""
    target = get_target(session, name)
    rows = session.exec(
        select(Version, Snapshot).join(Snapshot, col(Snapshot.id) == col(Version.snapshot_id))
        .where(Version.target_id == target.id)
        .order_by(col(Version.captured_at), col(Version.id))).all()
    changes = {c.to_version_id: c for c in
               session.exec(select(Change).where(Change.target_id == target.id))}
    return [{
        "id": version.id, "captured_at": iso(version.captured_at), "source": version.source,
        "sha256": snapshot.sha256, "text_sha256": version.text_sha256, "size": version.size,
        "raw_size": snapshot.size, "words": version.words,
        "effective_date": version.effective_date, "last_seen_at": iso(version.last_seen_at),
        "url": snapshot.final_url, "memento_url": snapshot.memento_url,
        "change": change_dict(changes.get(version.id)),
    } for version, snapshot in rows]


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _in_force_on(target: Target, versions: list[Version], day: str) -> Version:
    """The version a reader saw at the end of ``day`` (UTC): the last captured by then."""
    try:
        end = datetime.combine(date.fromisoformat(day), time.max, UTC)
    except ValueError:
        raise TargetError(f"version {day!r}: not a date in YYYY-MM-DD form") from None
    seen = [v for v in versions if as_utc(v.captured_at) <= end]  # type: ignore[operator]
    if not seen:
        first = versions[0].captured_at
        raise TargetError(f"target {target.name!r} has no version captured by {day} "
                          f"(the first is from {first:%Y-%m-%d}; `tracker backfill` fetches "
                          "older ones from the Wayback Machine)")
    return seen[-1]


def version_by_ref(session: Session, target: Target, ref: str | None) -> Version:
    """A version by id, ``latest``/``first``/``previous``, or the one in force on a date."""
    versions = list(session.exec(select(Version).where(Version.target_id == target.id)
                                 .order_by(col(Version.captured_at), col(Version.id))))
    if not versions:
        raise TargetError(f"target {target.name!r} has no versions yet (run tracker check)")
    if ref in (None, "latest", "last"):
        return versions[-1]
    if ref == "first":
        return versions[0]
    if ref == "previous":
        if len(versions) < 2:
            raise TargetError(f"target {target.name!r} has only one version")
        return versions[-2]
    if ref is not None and _DATE.match(ref):
        return _in_force_on(target, versions, ref)
    try:
        wanted = int(ref)
    except ValueError:
        raise TargetError(f"version {ref!r}: use a version id from `tracker history "
                          f"{target.name}`, latest/previous/first, or a date "
                          "(YYYY-MM-DD)") from None
    for version in versions:
        if version.id == wanted:
            return version
    ids = ", ".join(str(v.id) for v in versions[-8:])
    raise TargetError(f"target {target.name!r} has no version {wanted} (recent: {ids})")


def previous_of(session: Session, version: Version) -> Version | None:
    change = session.exec(select(Change).where(Change.to_version_id == version.id)).first()
    return session.get(Version, change.from_version_id) if change else None


def latest_change(session: Session, target: Target) -> Change | None:
    return session.exec(select(Change).join(Version, col(Version.id) == col(Change.to_version_id))
                        .where(Change.target_id == target.id)
                        .order_by(col(Version.captured_at).desc(), col(Change.id).desc())
                        .limit(1)).first()


def status(session: Session) -> dict:
    """Per-target health plus the daemon heartbeat."""
    targets = session.exec(select(Target).where(Target.enabled).order_by(Target.name)).all()
    states = {s.target_id: s for s in session.exec(select(FetchState))}
    counts: dict[int, int] = {}
    for target_id in session.exec(select(Version.target_id)):
        counts[target_id] = counts.get(target_id, 0) + 1
    rows = []
    for target in targets:
        state = states.get(target.id) or FetchState(target_id=target.id or 0)
        rows.append({
            "name": target.name, "url": target.url, "source": target.source,
            "versions": counts.get(target.id or 0, 0),
            "last_check": iso(state.last_check_at), "last_result": state.last_result,
            "last_error": state.last_error, "last_change": iso(state.last_change_at),
            "failing_since": iso(state.failing_since),
            "consecutive_failures": state.consecutive_failures,
            "next_run": iso(state.next_run_at),
        })
    beat = session.get(DaemonHeartbeat, 1)
    daemon = None
    if beat is not None:
        beat_at = beat.beat_at if beat.beat_at.tzinfo else beat.beat_at.replace(tzinfo=UTC)
        stopped = beat.pid == 0  # signed off cleanly at beat_at
        daemon = {"pid": None if stopped else beat.pid, "host": beat.host,
                  "started_at": iso(beat.started_at), "heartbeat_at": iso(beat.beat_at),
                  "stopped_at": iso(beat.beat_at) if stopped else None,
                  "alive": not stopped and datetime.now(UTC) - beat_at < HEARTBEAT_STALE_AFTER}
    return {"targets": rows, "daemon": daemon}


def export(session: Session, blobs: BlobStore, name: str) -> dict:
    """Everything known about a target: versions with text and provenance, changes, failures."""
    target = get_target(session, name)
    versions = []
    for entry in history(session, name):
        version = session.get(Version, entry["id"])
        assert version is not None
        snapshot = session.get(Snapshot, version.snapshot_id)
        assert snapshot is not None
        entry["provenance"] = {
            "source": snapshot.source, "requested_url": snapshot.url,
            "final_url": snapshot.final_url, "status": snapshot.status,
            "content_type": snapshot.content_type, "fetched_at": iso(snapshot.fetched_at),
            "captured_at": iso(snapshot.captured_at), "memento_url": snapshot.memento_url,
            "raw_sha256": snapshot.sha256, "normalizer_version": version.normalizer_version,
        }
        entry["text"] = blobs.get_text(version.text_sha256)
        change = session.exec(select(Change).where(Change.to_version_id == version.id)).first()
        if change is not None:
            entry["change"]["comparison"] = json.loads(change.comparison_json)
        versions.append(entry)
    problems = [{"checked_at": iso(row.checked_at), "result": row.result, "detail": row.detail,
                 "capture": row.snapshot_id}  # a quarantined capture: `tracker show --capture`
                for row in session.exec(select(CheckLog).where(
                    CheckLog.target_id == target.id,
                    col(CheckLog.result).in_(["failed", "quarantined"]))
                    .order_by(col(CheckLog.checked_at)))]
    return {"target": {"name": target.name, "url": target.url, "source": target.source,
                       "select": json.loads(target.select_json),
                       "remove": json.loads(target.remove_json)},
            "versions": versions, "failures": problems}
