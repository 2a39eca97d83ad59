"""Versions and changes: the one place that appends to a target's history.

Live checks, Wayback backfills and re-normalization all go through :func:`record_version`, so
the rules hold everywhere: a version only when the normalized text differs from the version
just before it in capture order; a change row for each consecutive pair with its findings;
backfilled or re-derived changes never alert.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from .blobs import BlobStore
from .change_rows import (  # noqa: F401  (re-exported: history's vocabulary)
    ALERT_DIGEST,
    ALERT_NONE,
    ALERT_PENDING,
    ALERT_SUPPRESSED,
    after_settings_change,
    alert_state_for,
    change_values,
)
from .document import Document
from .models import Alert, Change, Snapshot, Version


def versions_of(session: Session, target_id: int) -> list[Version]:
    """A target's versions in capture order (ties broken by insertion order)."""
    query = select(Version).where(Version.target_id == target_id) \
        .order_by(col(Version.captured_at), col(Version.id))
    return list(session.exec(query))


def latest_version(session: Session, target_id: int,
                   before: datetime | None = None) -> Version | None:
    query = select(Version).where(Version.target_id == target_id)
    if before is not None:
        query = query.where(Version.captured_at <= before)
    query = query.order_by(col(Version.captured_at).desc(), col(Version.id).desc()).limit(1)
    return session.exec(query).first()


def next_version(session: Session, target_id: int, after: datetime) -> Version | None:
    query = select(Version).where(Version.target_id == target_id, Version.captured_at > after) \
        .order_by(col(Version.captured_at), col(Version.id)).limit(1)
    return session.exec(query).first()


def load_document(blobs: BlobStore, version: Version) -> Document:
    return Document.from_text(blobs.get_text(version.text_sha256))


def make_change(session: Session, target_id: int, old: Version, new: Version,
                comparison: dict, source: str, alert_state: str | None = None,
                alerts: bool = True) -> Change:
    """Store the change between two consecutive versions (replacing a stale one)."""
    assert old.id is not None and new.id is not None
    change = Change(**change_values(target_id, old.id, new.id, comparison, source,
                                    alert_state or alert_state_for(comparison, alerts)))
    session.add(change)
    return change


def record_version(session: Session, blobs: BlobStore, snapshot: Snapshot, text_sha: str,
                   words: int, size: int, effective_date: str | None, normalizer_version: int,
                   comparison: dict | None = None, compare=None,
                   alerts: bool = True, append: bool = False,
                   latest: Version | None = None) -> tuple[Version | None, Change | None]:
    """Insert a version for ``snapshot`` at its capture time; None when the text is a repeat.

    ``comparison`` is the precomputed comparison against the version just before (the live
    path computes it in a worker); ``compare(old_text, new_text) -> dict`` computes any other
    pair needed, e.g. when a backfilled capture lands between two existing versions.
    """
    assert snapshot.id is not None
    before = latest if append else latest_version(session, snapshot.target_id,
                                                  snapshot.captured_at)
    if before is not None and before.text_sha256 == text_sha:
        if snapshot.captured_at > before.last_seen_at:
            before.last_seen_at = snapshot.captured_at
        return None, None
    after = None if append else next_version(session, snapshot.target_id, snapshot.captured_at)
    if after is not None and after.text_sha256 == text_sha:
        # An earlier capture of the text the next version has: that version starts earlier.
        after.snapshot_id, after.captured_at, after.source = (
            snapshot.id, snapshot.captured_at, snapshot.source)
        return None, None
    version = Version(
        target_id=snapshot.target_id, snapshot_id=snapshot.id, text_sha256=text_sha,
        normalizer_version=normalizer_version, captured_at=snapshot.captured_at,
        source=snapshot.source, size=size, words=words, effective_date=effective_date,
        last_seen_at=snapshot.captured_at,
    )
    session.add(version)
    session.flush()
    if compare is None:
        from .analysis import compare_texts as compare
    change = None
    if before is not None:
        if comparison is None:
            comparison = compare(blobs.get_text(before.text_sha256), blobs.get_text(text_sha))
        change = make_change(session, snapshot.target_id, before, version, comparison,
                             snapshot.source, alerts=alerts)
        session.flush()
    if after is not None:
        _relink_after(session, blobs, version, after, compare)
    return version, change


def _relink_after(session: Session, blobs: BlobStore, version: Version, after: Version,
                  compare) -> None:
    """A version inserted before an existing one: the later change now starts here."""
    stale = session.exec(select(Change).where(Change.to_version_id == after.id)).all()
    for change in stale:
        drop_change(session, change)
    session.flush()
    comparison = compare(blobs.get_text(version.text_sha256), blobs.get_text(after.text_sha256))
    # The later change was already known (and alerted, if live): never alert it again.
    make_change(session, version.target_id, version, after, comparison, after.source,
                alert_state=ALERT_SUPPRESSED)


def drop_change(session: Session, change: Change) -> None:
    """Delete a change; alerts about it stay in the outbox's history, detached from it."""
    for alert in session.exec(select(Alert).where(Alert.change_id == change.id)):
        alert.change_id = None
    session.delete(change)
