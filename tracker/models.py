"""Database tables (SQLModel). Raw bytes and texts live in the blob store, not here.

Two layers, as Open Terms Archive does it: an immutable :class:`Snapshot` (what was fetched,
when, from where) and a derived :class:`Version` (normalized text of a snapshot). A
:class:`Change` links two consecutive versions of a target and carries the semantic findings.
Failures are per-target state (:class:`FetchState`) plus a log of checks, so `tracker status`
can say since when a target has been failing without mailing on every failed run.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Target(SQLModel, table=True):
    __tablename__ = "targets"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    url: str
    select_json: str = "[]"
    remove_json: str = "[]"
    schedule: str | None = None
    tags_json: str = "[]"
    recipients_json: str = "[]"
    source: str = "live"  # live | wayback
    enabled: bool = True
    origin: str = "cli"  # config | cli: config targets are managed by config.toml
    created_at: datetime = Field(default_factory=utcnow)


class Snapshot(SQLModel, table=True):
    """One fetched capture, kept when it made a version or was quarantined (the evidence)."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_target_captured", "target_id", "captured_at"),)
    id: int | None = Field(default=None, primary_key=True)
    target_id: int = Field(foreign_key="targets.id")
    source: str = "live"  # live | wayback
    url: str
    final_url: str
    status: int | None = None
    headers_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    content_type: str = ""
    charset: str | None = None
    sha256: str = Field(index=True)  # of the raw body; the blob's key
    size: int = 0
    fetched_at: datetime = Field(default_factory=utcnow)
    captured_at: datetime = Field(default_factory=utcnow)  # = fetched_at for live pages
    memento_url: str | None = None
    digest: str | None = None  # Wayback CDX digest, for skipping known captures
    quality: str = "ok"  # ok | suspect
    quality_reason: str | None = None


class Version(SQLModel, table=True):
    """A distinct normalized text of a target, derived from a snapshot."""

    __tablename__ = "versions"
    __table_args__ = (
        Index("ix_versions_target_captured", "target_id", "captured_at"),
        UniqueConstraint("snapshot_id", name="uq_versions_snapshot"),
    )
    id: int | None = Field(default=None, primary_key=True)
    target_id: int = Field(foreign_key="targets.id")
    snapshot_id: int = Field(foreign_key="snapshots.id")
    text_sha256: str
    normalizer_version: int
    captured_at: datetime
    source: str = "live"
    size: int = 0  # bytes of normalized text
    words: int = 0
    effective_date: str | None = None
    last_seen_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)


class Change(SQLModel, table=True):
    """Two consecutive versions of a target and what changed between them."""

    __tablename__ = "changes"
    __table_args__ = (UniqueConstraint("from_version_id", "to_version_id", name="uq_change"),)
    id: int | None = Field(default=None, primary_key=True)
    target_id: int = Field(foreign_key="targets.id", index=True)
    from_version_id: int = Field(foreign_key="versions.id")
    to_version_id: int = Field(foreign_key="versions.id", index=True)
    material: bool = False
    noise_only: bool = False
    suspect: bool = False
    severity: str = "info"
    categories_json: str = "[]"
    summary: str = ""
    comparison_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    source: str = "live"  # the newer version's source; backfilled changes never alert
    alert_state: str = "none"  # none | pending | queued | digest | suppressed
    created_at: datetime = Field(default_factory=utcnow)


class FetchState(SQLModel, table=True):
    """Per-target tracking state: conditional-request validators and the failure streak."""

    __tablename__ = "fetch_state"
    target_id: int = Field(primary_key=True, foreign_key="targets.id")
    etag: str | None = None
    last_modified: str | None = None
    #: tracker.fingerprint of the last page that normalized OK: equal next time = unchanged.
    last_fingerprint: str | None = None
    last_check_at: datetime | None = None
    last_result: str | None = None  # new_version | unchanged | not_modified | quarantined | failed
    last_error: str | None = None
    last_success_at: datetime | None = None
    last_change_at: datetime | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    broken_alerted: bool = False  # a "tracking broken" alert went out for this streak
    next_run_at: datetime | None = None


class CheckLog(SQLModel, table=True):
    """One line per check that did not end "unchanged": failures, quarantines, new versions."""

    __tablename__ = "check_log"
    __table_args__ = (Index("ix_check_log_target_time", "target_id", "checked_at"),)
    id: int | None = Field(default=None, primary_key=True)
    target_id: int = Field(foreign_key="targets.id")
    checked_at: datetime = Field(default_factory=utcnow)
    result: str
    detail: str | None = None
    snapshot_id: int | None = Field(default=None, foreign_key="snapshots.id")


class Alert(SQLModel, table=True):
    """The email outbox: written before sending, marked sent only once the server accepted it."""

    __tablename__ = "alerts"
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # change | digest | broken | recovered | suspect
    dedup_key: str = Field(unique=True)  # one alert per event, even across restarts
    target_id: int | None = Field(default=None, foreign_key="targets.id")
    change_id: int | None = Field(default=None, foreign_key="changes.id")
    subject: str
    recipients_json: str = "[]"
    body_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    body_html: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = "pending"  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class DaemonHeartbeat(SQLModel, table=True):
    """Written by the daemon every few seconds so `tracker status` can tell it is alive."""

    __tablename__ = "daemon_heartbeat"
    id: int = Field(default=1, primary_key=True)
    pid: int  # 0 once the daemon stopped cleanly (beat_at is then when it stopped)
    host: str
    started_at: datetime
    beat_at: datetime
