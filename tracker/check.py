"""Check targets: fetch, analyze, record. The unit of work of the CLI and the daemon alike.

A check is idempotent and keeps all its state in the database: fetch (conditional when the
last response had validators), analyze (quality gate, normalize, compare; possibly in worker
processes), then one short write transaction that re-reads the latest version, so two
processes checking the same target at once never record the same version twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from .analysis import PageAnalysis, PageJob, analyze_page
from .config import Config
from .fetch import Fetcher, FetchResult, FetchSettings
from .history import latest_version, record_version
from .models import Change, CheckLog, FetchState, Snapshot
from .normalize import NORMALIZER_VERSION
from .store import Store
from .targets import TargetSpec, fetch_state

log = logging.getLogger("tracker.check")

NEW_VERSION = "new_version"
FIRST_VERSION = "first_version"
UNCHANGED = "unchanged"
NOT_MODIFIED = "not_modified"
QUARANTINED = "quarantined"
FAILED = "failed"


@dataclass(frozen=True)
class CheckOutcome:
    """What one check did, for the progress display, the daemon's log and the alerts."""

    target: str
    target_id: int
    result: str
    detail: str | None = None
    version_id: int | None = None
    change_id: int | None = None
    material: bool = False
    summary: str | None = None
    consecutive_failures: int = 0

    @property
    def failed(self) -> bool:
        return self.result in (FAILED, QUARANTINED)


def fetch_settings(config: Config) -> FetchSettings:
    f = config.fetch
    return FetchSettings(timeout=f.timeout, concurrency=f.concurrency,
                         per_host_concurrency=f.per_host_concurrency,
                         per_host_delay=f.per_host_delay, max_bytes=f.max_bytes,
                         user_agent=f.user_agent, retries=f.retries, backoff=f.backoff,
                         max_retry_after=f.max_retry_after)


@dataclass(frozen=True)
class _Previous:
    etag: str | None
    last_modified: str | None
    fingerprint: str | None
    text_sha: str | None
    words: int | None


class Checker:
    """Checks targets against one store with one fetcher (and optionally a process pool)."""

    def __init__(self, config: Config, store: Store, executor: Executor | None = None) -> None:
        self.config = config
        self.store = store
        self.executor = executor
        self._wayback = None  # created on first use by a source = "wayback" target

    async def check_many(self, targets: Iterable[TargetSpec],
                         on_done: Callable[[CheckOutcome], None] | None = None,
                         fetcher: Fetcher | None = None) -> list[CheckOutcome]:
        """Check targets concurrently; politeness is the fetcher's job, memory is bounded here."""
        targets = list(targets)
        own_fetcher = fetcher is None
        if fetcher is None:
            fetcher = Fetcher(fetch_settings(self.config))
            await fetcher.__aenter__()
        outcomes: list[CheckOutcome] = []
        # Bounded in-flight work: pages are analyzed and dropped, never all held at once.
        gate = asyncio.Semaphore(max(2, self.config.fetch.concurrency * 2))

        async def run(spec: TargetSpec) -> None:
            async with gate:
                outcome = await self.check_one(spec, fetcher)
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

        try:
            await asyncio.gather(*(run(spec) for spec in targets))
        finally:
            if own_fetcher:
                await fetcher.__aexit__(None, None, None)
                await self.aclose()
        return outcomes

    async def check_one(self, spec: TargetSpec, fetcher: Fetcher) -> CheckOutcome:
        if spec.source == "wayback":
            return await self._check_archive(spec)
        previous = self._previous(spec)
        result = await fetcher.fetch(spec.url, previous.etag, previous.last_modified)
        if result.not_modified:
            return self._record(spec, result, None)
        job = PageJob(result, spec.select, spec.remove, str(self.store.blobs.root),
                      previous.fingerprint, previous.text_sha, previous.words)
        if self.executor is None:
            analysis = analyze_page(job)
        else:
            loop = asyncio.get_running_loop()
            analysis = await loop.run_in_executor(self.executor, analyze_page, job)
        return self._record(spec, result, analysis)

    async def _check_archive(self, spec: TargetSpec) -> CheckOutcome:
        """A target tracked through the Wayback Machine: record its newest capture if new."""
        from .backfill import newest_capture, wayback_client
        from .wayback import WaybackError

        if self._wayback is None:
            self._wayback = wayback_client(self.config)
        now = datetime.now(UTC)
        try:
            kind, _ = await newest_capture(self.config, self.store, spec, self._wayback)
        except WaybackError as exc:
            kind, detail = FAILED, f"Wayback Machine: {exc}"
        else:
            detail = None
        with self.store.session() as session:
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
                _queue_alerts(session, self.config, spec, state, outcome, 0)
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
            _queue_alerts(session, self.config, spec, state, outcome, recovered_from)
            return outcome

    async def aclose(self) -> None:
        if self._wayback is not None:
            await self._wayback.aclose()
            self._wayback = None

    def _previous(self, spec: TargetSpec) -> _Previous:
        with Session(self.store.engine) as session:
            state = session.get(FetchState, spec.id)
            latest = latest_version(session, spec.id)
            return _Previous(
                etag=state.etag if state and latest else None,
                last_modified=state.last_modified if state and latest else None,
                fingerprint=state.last_fingerprint if state else None,
                text_sha=latest.text_sha256 if latest else None,
                words=latest.words if latest else None,
            )

    def _record(self, spec: TargetSpec, result: FetchResult,
                analysis: PageAnalysis | None) -> CheckOutcome:
        now = datetime.now(UTC)
        with self.store.session() as session:
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
            snapshot = _snapshot(spec, result, analysis.raw_sha, quality="suspect",
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
        snapshot = _snapshot(spec, result, analysis.raw_sha)
        session.add(snapshot)
        session.flush()
        version = record_version(session, self.store.blobs, snapshot, analysis.text_sha,
                                 analysis.words, analysis.size, analysis.effective_date,
                                 NORMALIZER_VERSION, comparison)
        state.last_fingerprint = analysis.fingerprint
        if version is None:  # cannot happen for a live capture newer than all versions
            return self._success(session, spec, state, result, UNCHANGED, now)
        change = _change_into(session, version.id)
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


def _snapshot(spec: TargetSpec, result: FetchResult, raw_sha: str, quality: str = "ok",
              reason: str | None = None) -> Snapshot:
    return Snapshot(
        target_id=spec.id, source="live", url=result.url, final_url=result.final_url,
        status=result.status, headers_json=json.dumps(result.headers),
        content_type=result.content_type, charset=result.charset, sha256=raw_sha,
        size=len(result.body), fetched_at=result.fetched_at, captured_at=result.fetched_at,
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


def make_executor(config: Config) -> Executor | None:
    workers = config.fetch.workers
    return ProcessPoolExecutor(max_workers=workers) if workers > 0 else None


def run_checks(config: Config, store: Store, targets: list[TargetSpec],
               on_done: Callable[[CheckOutcome], None] | None = None) -> list[CheckOutcome]:
    """Synchronous entry point for the CLI."""
    executor = make_executor(config)
    try:
        return asyncio.run(Checker(config, store, executor).check_many(targets, on_done))
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
