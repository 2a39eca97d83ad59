"""Import a target's past from the Wayback Machine, and track sites through the archive.

Captures are listed (one per period, best status first), those already stored (same CDX
digest) are skipped, the rest are downloaded at the archive's allowed rate and recorded *in
capture-time order*, each in its own transaction: a backfill interrupted by Ctrl-C, a crash or
a 429 pause resumes where it stopped and neither loses nor duplicates anything. Archived
versions slot in before or between live ones (:func:`tracker.history.record_version`), and
backfilled changes never send "new change" alerts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import select

from .analysis import PageJob, analyze_page
from .fetch import FetchResult, parse_content_type
from .history import latest_version, record_version
from .models import CheckLog, Snapshot
from .normalize import NORMALIZER_VERSION
from .store import Store
from .targets import TargetSpec
from .wayback import Capture, Memento, WaybackClient, WaybackError

if TYPE_CHECKING:
    from .config import Config

EVERY = ("day", "week", "month", "all")


@dataclass
class BackfillProgress:
    """Counters shown by the progress bar and returned at the end."""

    found: int = 0
    skipped: int = 0
    fetched: int = 0
    new_versions: int = 0
    quarantined: int = 0
    errors: list[str] = field(default_factory=list)


def wayback_client(config: Config) -> WaybackClient:
    w = config.wayback
    return WaybackClient(base_url=w.base_url, cdx_rate=w.cdx_rate, memento_rate=w.memento_rate,
                         timeout=config.fetch.timeout, user_agent=config.fetch.user_agent,
                         max_bytes=config.fetch.max_bytes, pause_on_429=w.pause_on_429,
                         closest_window=timedelta(hours=w.closest_window_hours))


async def backfill(config: Config, store: Store, spec: TargetSpec, from_: date | None = None,
                   to: date | None = None, every: str = "day",
                   on_progress: Callable[[BackfillProgress], None] | None = None,
                   client: WaybackClient | None = None) -> BackfillProgress:
    """Backfill one target; returns what was found, fetched and recorded."""
    progress = BackfillProgress()
    own_client = client is None
    client = client or wayback_client(config)
    try:
        captures = await client.list_captures(spec.url, from_, to, every)  # type: ignore[arg-type]
        progress.found = len(captures)
        known = _known_digests(store, spec.id)
        pending = [c for c in captures if c.digest not in known]
        progress.skipped = len(captures) - len(pending)
        _report(on_progress, progress)
        # Results arrive in completion order; they are recorded strictly in capture order.
        order = {c.timestamp + c.digest: i for i, c in enumerate(pending)}
        ready: dict[int, tuple[Capture, Memento | None, WaybackError | None]] = {}
        next_index = 0
        async for result in client.fetch_mementos(pending):
            ready[order[result.capture.timestamp + result.capture.digest]] = (
                result.capture, result.memento, result.error)
            while next_index in ready:
                capture, memento, error = ready.pop(next_index)
                next_index += 1
                progress.fetched += 1
                if error is not None:
                    _record_error(store, spec, capture, error, progress)
                else:
                    assert memento is not None
                    record_capture(store, spec, capture, memento, progress)
                _report(on_progress, progress)
    finally:
        if own_client:
            await client.aclose()
    return progress


def _report(callback: Callable[[BackfillProgress], None] | None,
            progress: BackfillProgress) -> None:
    if callback is not None:
        callback(progress)


def _known_digests(store: Store, target_id: int) -> set[str]:
    with store.session() as session:
        rows = session.exec(select(Snapshot.digest).where(Snapshot.target_id == target_id,
                                                          Snapshot.source == "wayback"))
        return {digest for digest in rows if digest}


def memento_fetch_result(memento: Memento) -> FetchResult:
    """A memento in the shape the quality gate and analyzer take for live pages."""
    mime, charset = parse_content_type(memento.content_type or "")
    return FetchResult(
        url=memento.original_url, final_url=memento.memento_url, status=memento.status,
        headers=dict(memento.headers), content_type=mime, charset=charset, body=memento.body,
        fetched_at=datetime.now(UTC), elapsed=0.0,
        redirects=[r.url for r in memento.redirects],
    )


def record_capture(store: Store, spec: TargetSpec, capture: Capture, memento: Memento,
                   progress: BackfillProgress | None = None, alerts: bool = False) -> str:
    """Analyze and store one capture in its own transaction; returns what happened.

    ``alerts`` is False for backfills (old history is not news) and True when a
    ``source = "wayback"`` target is tracked through the archive.
    """
    result = memento_fetch_result(memento)
    with store.session() as session:
        before = latest_version(session, spec.id, memento.captured_at)
        previous_sha = before.text_sha256 if before else None
        previous_words = before.words if before else None
        before_snapshot = session.get(Snapshot, before.snapshot_id) if before else None
        previous_raw = before_snapshot.sha256 if before_snapshot else None
    analysis = analyze_page(PageJob(result, spec.select, spec.remove, str(store.blobs.root),
                                    None, previous_sha, previous_words, previous_raw))
    raw_sha = analysis.raw_sha or store.blobs.put(memento.body, sync=False, like=previous_raw)
    store.blobs.sync()  # the capture's blobs are on disk before its rows are committed
    with store.session() as session:
        snapshot = Snapshot(
            target_id=spec.id, source="wayback", url=memento.original_url,
            final_url=memento.memento_url, status=memento.status,
            headers_json=json.dumps(memento.headers), content_type=result.content_type,
            charset=result.charset, sha256=raw_sha, size=len(memento.body),
            fetched_at=result.fetched_at, captured_at=memento.captured_at,
            memento_url=memento.memento_url, digest=capture.digest,
            quality="ok" if analysis.ok else "suspect", quality_reason=analysis.reason,
        )
        session.add(snapshot)
        session.flush()
        if not analysis.ok:
            session.add(CheckLog(target_id=spec.id, result="quarantined", snapshot_id=snapshot.id,
                                 detail=f"archived capture {capture.timestamp}: "
                                        f"{analysis.reason}"))
            if progress is not None:
                progress.quarantined += 1
            return "quarantined"
        if analysis.unchanged:
            version = None
            before = latest_version(session, spec.id, memento.captured_at)
            if before is not None and memento.captured_at > before.last_seen_at:
                before.last_seen_at = memento.captured_at
        else:
            assert analysis.text_sha is not None
            comparison = analysis.comparison
            current = latest_version(session, spec.id, memento.captured_at)
            if current is None or current.text_sha256 != analysis.compared_to:
                comparison = None  # another writer moved history; recompute inside
            version, _ = record_version(session, store.blobs, snapshot, analysis.text_sha,
                                     analysis.words, analysis.size, analysis.effective_date,
                                     NORMALIZER_VERSION, comparison, alerts=alerts)
        if version is not None and progress is not None:
            progress.new_versions += 1
        return "new_version" if version is not None else "unchanged"


def _record_error(store: Store, spec: TargetSpec, capture: Capture, error: WaybackError,
                  progress: BackfillProgress) -> None:
    message = f"archived capture {capture.timestamp}: {error}"
    progress.errors.append(message)
    with store.session() as session:
        session.add(CheckLog(target_id=spec.id, result="failed", detail=message))


async def newest_capture(config: Config, store: Store, spec: TargetSpec,
                         client: WaybackClient) -> tuple[str, str | None]:
    """For ``source = "wayback"`` targets: record the newest capture if it is new."""
    with store.session() as session:
        latest = latest_version(session, spec.id)
    since = latest.captured_at.date() if latest else None
    captures = await client.list_captures(spec.url, since, None, "all")
    if not captures:
        return "unchanged", None
    newest = captures[-1]
    if newest.digest in _known_digests(store, spec.id):
        return "unchanged", None
    memento = await client.fetch_memento(newest)
    result = record_capture(store, spec, newest, memento, alerts=True)
    if result == "new_version" and latest is None:
        result = "first_version"
    return result, newest.timestamp
