"""Recording check outcomes through the ORM: first versions after failures, recoveries,
failures and quarantines, races with another process, Wayback targets, and new texts in bulk.

Imported only when a batch holds something other than unchanged pages: a cycle in which
nothing changed never loads SQLAlchemy (see :mod:`tracker.direct`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from .analysis import PageAnalysis
from .check import (
    FAILED,
    FIRST_VERSION,
    NEW_VERSION,
    NOT_MODIFIED,
    QUARANTINED,
    UNCHANGED,
    CheckOutcome,
)
from .fetch import FetchResult
from .fingerprint import SETTINGS_CHANGED
from .history import after_settings_change, latest_version, record_version
from .models import Change, CheckLog, FetchState, Snapshot
from .normalize import NORMALIZER_VERSION
from .store import Store
from .target_spec import TargetSpec
from .targets import fetch_state

if TYPE_CHECKING:
    from .check import _Pending
    from .config import Config


def record_one_by_one(config: Config, store: Store,
                      batch: list[_Pending]) -> list[CheckOutcome]:
    """Record ``batch`` in one transaction, one target at a time."""
    with store.session() as session:
        recorder = _Recorder(config, store)
        return [recorder.record(session, p.spec, p.result, p.analysis) for p in batch]


def record_archive_outcome(config: Config, store: Store, spec: TargetSpec, kind: str,
                           detail: str | None, now: datetime) -> CheckOutcome:
    """The fetch state, log line and alerts of a Wayback target's check."""
    with store.session() as session:
        state = fetch_state(session, spec.id)
        state.last_check_at = now
        if kind in (FAILED, QUARANTINED):
            state.last_result, state.last_error = kind, detail or "archived capture unusable"
            state.consecutive_failures += 1
            state.failing_since = state.failing_since or now
            session.add(CheckLog(target_id=spec.id, checked_at=now, result=kind,
                                 detail=state.last_error))
            outcome = CheckOutcome(spec.name, spec.id, kind, detail=state.last_error,
                                   consecutive_failures=state.consecutive_failures)
            _queue_alerts(session, config, spec, state, outcome, 0)
            return outcome
        latest = latest_version(session, spec.id)
        change = _change_into(session, latest.id) if latest and kind == NEW_VERSION else None
        recovered_from = state.consecutive_failures
        state.last_result, state.last_error = kind, None
        state.last_success_at, state.consecutive_failures, state.failing_since = now, 0, None
        if change is not None:
            state.last_change_at = now
        outcome = CheckOutcome(spec.name, spec.id, kind,
                               version_id=latest.id if change and latest else None,
                               change_id=change.id if change else None,
                               material=bool(change and change.material),
                               summary=change.summary if change else None)
        _queue_alerts(session, config, spec, state, outcome, recovered_from)
        return outcome


class _Recorder:
    """One outcome at a time, through ORM objects and the alert rules."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store

    def record(self, session: Session, spec: TargetSpec, result: FetchResult,
                analysis: PageAnalysis | None) -> CheckOutcome:
        now = datetime.now(UTC)
        state = fetch_state(session, spec.id)
        state.last_check_at = now
        if analysis is None or analysis.unchanged:
            return self._unchanged(session, spec, state, result, analysis, now)
        if not analysis.ok:
            return self._failure(session, spec, state, result, analysis, now)
        return self._new_text(session, spec, state, result, analysis, now)

    def _unchanged(self, session: Session, spec: TargetSpec, state: FetchState,
                   result: FetchResult, analysis: PageAnalysis | None,
                   now: datetime) -> CheckOutcome:
        latest = latest_version(session, spec.id)
        if latest is not None:
            latest.last_seen_at = now
        if analysis is not None and analysis.fingerprint:
            state.last_fingerprint = analysis.fingerprint
        kind = NOT_MODIFIED if analysis is None else UNCHANGED
        return self._success(session, spec, state, result, kind, now)

    def _success(self, session: Session, spec: TargetSpec, state: FetchState,
                 result: FetchResult, kind: str, now: datetime, **extra) -> CheckOutcome:
        recovered_from = state.consecutive_failures
        state.last_result = kind
        state.last_error = None
        state.last_success_at = now
        state.consecutive_failures = 0
        state.failing_since = None
        if not result.not_modified:
            state.etag, state.last_modified = result.etag, result.last_modified
        outcome = CheckOutcome(spec.name, spec.id, kind, **extra)
        _queue_alerts(session, self.config, spec, state, outcome, recovered_from)
        return outcome

    def _failure(self, session: Session, spec: TargetSpec, state: FetchState,
                 result: FetchResult, analysis: PageAnalysis, now: datetime) -> CheckOutcome:
        reason = analysis.reason or result.error or "check failed"
        kind = FAILED
        snapshot_id = None
        if analysis.raw_sha is not None and result.status is not None:
            kind = QUARANTINED  # stored as evidence, never diffed
            snapshot = _snapshot(spec, result, analysis, quality="suspect",
                                 reason=reason)
            session.add(snapshot)
            session.flush()
            snapshot_id = snapshot.id
        state.last_result = kind
        state.last_error = reason
        state.consecutive_failures += 1
        state.failing_since = state.failing_since or now
        session.add(CheckLog(target_id=spec.id, checked_at=now, result=kind, detail=reason,
                             snapshot_id=snapshot_id))
        outcome = CheckOutcome(spec.name, spec.id, kind, detail=reason,
                               consecutive_failures=state.consecutive_failures)
        _queue_alerts(session, self.config, spec, state, outcome, 0)
        return outcome

    def _new_text(self, session: Session, spec: TargetSpec, state: FetchState,
                  result: FetchResult, analysis: PageAnalysis, now: datetime) -> CheckOutcome:
        assert analysis.text_sha is not None and analysis.raw_sha is not None
        latest = latest_version(session, spec.id)
        if latest is not None and latest.text_sha256 == analysis.text_sha:
            # Another process recorded this very text since we looked: nothing new.
            state.last_fingerprint = analysis.fingerprint
            return self._unchanged(session, spec, state, result, analysis, now)
        comparison = analysis.comparison
        if latest is None or latest.text_sha256 != analysis.compared_to:
            comparison = None  # computed against a version that is no longer the latest
        snapshot = _snapshot(spec, result, analysis)
        session.add(snapshot)
        session.flush()
        alerts = state.last_fingerprint != SETTINGS_CHANGED
        version, change = record_version(
            session, self.store.blobs, snapshot, analysis.text_sha, analysis.words,
            analysis.size, analysis.effective_date, NORMALIZER_VERSION, comparison,
            alerts=alerts, append=True, latest=latest)
        if change is not None and not alerts:
            change.summary = after_settings_change(change.summary)
        state.last_fingerprint = analysis.fingerprint
        if version is None:  # cannot happen for a live capture newer than all versions
            return self._success(session, spec, state, result, UNCHANGED, now)
        state.last_change_at = now
        kind = FIRST_VERSION if latest is None else NEW_VERSION
        session.add(CheckLog(target_id=spec.id, checked_at=now, result=kind,
                             snapshot_id=snapshot.id,
                             detail=change.summary if change else "first version"))
        return self._success(session, spec, state, result, kind, now,
                             version_id=version.id,
                             change_id=change.id if change else None,
                             material=bool(change and change.material),
                             summary=change.summary if change else None)


def _change_into(session: Session, version_id: int | None) -> Change | None:
    return session.exec(select(Change).where(Change.to_version_id == version_id)).first()


def _snapshot(spec: TargetSpec, result: FetchResult, analysis: PageAnalysis,
              quality: str = "ok", reason: str | None = None) -> Snapshot:
    assert analysis.raw_sha is not None
    return Snapshot(
        target_id=spec.id, source="live", url=result.url, final_url=result.final_url,
        status=result.status, headers_json=json.dumps(result.headers),
        content_type=result.content_type, charset=result.charset, sha256=analysis.raw_sha,
        size=analysis.raw_size, fetched_at=result.fetched_at, captured_at=result.fetched_at,
        quality=quality, quality_reason=reason,
    )


def _queue_alerts(session: Session, config: Config, spec: TargetSpec, state: FetchState,
                  outcome: CheckOutcome, recovered_from: int) -> None:
    """Hand the outcome to the alert rules (failure/recovery state machine, change alerts)."""
    try:
        from .alerts.rules import on_check_outcome
    except ImportError:
        return
    on_check_outcome(session, config, spec, state, outcome, recovered_from)


